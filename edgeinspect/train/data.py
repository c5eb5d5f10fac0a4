"""Torch view of an edgeinspect dataset split for training: resize, scale, rectangle labels, augment.

:class:`SegmentationSet` wraps a split of ``edgeinspect.data.datasets.open_dataset(...)`` (any sequence of
``Sample``) and yields, per index, a dict of tensors at the network input size:

- ``image``: ``(1,H,W)`` float32 pixel values in [0, 255] (12/16-bit scaled by ``255 / (2**bits - 1)``);
  resized with ``cv2.INTER_AREA``.
- ``mask``: ``(1,H,W)`` float32 in {0, 1}; resized nearest.
- ``loc``: ``(1,H,W)`` float32 in {0, 1}, the DLM's rectangular boundary label
  (``edgeinspect.models.labels.rectangle_labels`` of the resized mask, computed once per sample).
- ``index``: int64 position in the set (to find the original sample for native-resolution metrics).

Augmentation (training split only) draws from ``numpy.random.default_rng((seed, epoch, index))``, so a
batch is the same whatever the number of workers and after ``--resume``; :meth:`SegmentationSet.set_epoch`
must be called before each epoch. :func:`make_loader` shuffles with a generator seeded the same way.

Example:
    >>> split = open_dataset(root).split("train", ratios=(3, 1, 1), seed=0)
    >>> train_set = SegmentationSet(split, input_hw=(256, 256), augment=recipe.augment, seed=0)
    >>> loader = make_loader(train_set, batch=16, shuffle=True, seed=0, epoch=0)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np
import torch

from edgeinspect.train.recipe import AugmentCfg

__all__ = [
    "SegmentationSet",
    "augment_sample",
    "make_loader",
    "prepare_sample",
    "subset_indices",
    "to_8bit_range",
]


def to_8bit_range(image: np.ndarray, bit_depth: int | None = None) -> np.ndarray:
    """Pixel values on the 8-bit scale, float32.

    Args:
        image: ``(H,W)`` uint8 (returned as float32 unchanged) or uint16 (12/16-bit camera values).
        bit_depth: bits of a uint16 image; None = 12 when ``image.max() < 4096`` else 16.

    Returns:
        ``(H,W)`` float32 in [0, 255].
    """
    if image.dtype == np.uint8:
        return image.astype(np.float32)
    if image.dtype != np.uint16:
        raise ValueError(f"image must be uint8 or uint16, got {image.dtype}")
    if bit_depth is None:
        bit_depth = 12 if image.size == 0 or int(image.max()) < 4096 else 16
    scale = np.float32(255.0 / (2**bit_depth - 1))
    return np.clip(image.astype(np.float32) * scale, 0.0, 255.0)


def prepare_sample(
    image: np.ndarray, mask: np.ndarray, input_hw: tuple[int, int], bit_depth: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Resize one sample to the network input.

    Args:
        image: ``(H,W)`` uint8 or uint16.
        mask: ``(H,W)`` bool.
        input_hw: target (height, width) in px.
        bit_depth: see :func:`to_8bit_range`.

    Returns:
        ``image`` ``(h,w)`` uint8 (8-bit sources, resized as uint8) or float32 in [0, 255] (16-bit sources),
        ``mask`` ``(h,w)`` bool (nearest neighbour).
    """
    height, width = input_hw
    if image.shape[:2] != mask.shape[:2]:
        raise ValueError(f"image {image.shape} and mask {mask.shape} differ in size")
    source = image if image.dtype == np.uint8 else to_8bit_range(image, bit_depth)
    if source.shape[:2] != (height, width):
        source = cv2.resize(source, (width, height), interpolation=cv2.INTER_AREA)
        mask = cv2.resize(mask.astype(np.uint8), (width, height), interpolation=cv2.INTER_NEAREST) > 0
    return source, np.asarray(mask, dtype=bool)


def augment_sample(
    image: np.ndarray, mask: np.ndarray, loc: np.ndarray, rng: np.random.Generator, cfg: AugmentCfg
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Random flips (image, mask and loc label together) and brightness/contrast (image only).

    Args:
        image: ``(H,W)`` float32 in [0, 255].
        mask: ``(H,W)`` float32 in {0, 1}.
        loc: ``(H,W)`` float32 in {0, 1}.
        rng: source of randomness (one draw sequence per call, fixed order).
        cfg: which augmentations and how strong.

    Returns:
        the three arrays, contiguous; image clipped to [0, 255].
    """
    flip_h, flip_v = rng.random() < 0.5, rng.random() < 0.5
    gain = 1.0 + rng.uniform(-cfg.contrast, cfg.contrast)
    shift = 255.0 * rng.uniform(-cfg.brightness, cfg.brightness)
    if not cfg.enabled:
        return image, mask, loc
    if cfg.flip_h and flip_h:
        image, mask, loc = image[:, ::-1], mask[:, ::-1], loc[:, ::-1]
    if cfg.flip_v and flip_v:
        image, mask, loc = image[::-1], mask[::-1], loc[::-1]
    if cfg.contrast > 0 or cfg.brightness > 0:
        mean = float(image.mean())
        image = np.clip((image - mean) * np.float32(gain) + np.float32(mean + shift), 0.0, 255.0)
    return (
        np.ascontiguousarray(image, dtype=np.float32),
        np.ascontiguousarray(mask),
        np.ascontiguousarray(loc),
    )


def subset_indices(count: int, max_images: int | None, seed: int) -> list[int]:
    """Indices of a split to use: all, or a seeded random ``max_images`` of them (sorted)."""
    if max_images is None or max_images >= count:
        return list(range(count))
    chosen = np.random.default_rng((seed, 0x5EED)).choice(count, size=max_images, replace=False)
    return sorted(int(i) for i in chosen)


class SegmentationSet(torch.utils.data.Dataset):
    """Training/evaluation samples of one split at the network input size.

    Args:
        samples: a ``Dataset`` split (sequence of ``Sample`` with ``image`` (H,W) uint8|uint16 and
            ``mask`` (H,W) bool), loaded lazily by index.
        input_hw: network input (height, width) in px.
        augment: augmentation settings, or None for none (val/test).
        seed: seeds the augmentation.
        indices: which samples of ``samples`` to use (default all).
        cache: keep the resized image, mask and loc label in memory after the first load.
        bit_depth: of uint16 images, see :func:`to_8bit_range`.
        loc_labels: compute the DLM rectangle labels (needs ``edgeinspect.models.labels``).
    """

    def __init__(
        self,
        samples: Sequence[Any],
        *,
        input_hw: tuple[int, int],
        augment: AugmentCfg | None = None,
        seed: int = 0,
        indices: Sequence[int] | None = None,
        cache: bool = True,
        bit_depth: int | None = None,
        loc_labels: bool = True,
    ) -> None:
        self.samples = samples
        self.input_hw = (int(input_hw[0]), int(input_hw[1]))
        self.augment = augment
        self.seed = int(seed)
        self.indices = list(range(len(samples))) if indices is None else [int(i) for i in indices]
        self.cache = cache
        self.bit_depth = bit_depth
        self.loc_labels = loc_labels
        self.epoch = 0
        self._cache: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def set_epoch(self, epoch: int) -> None:
        """Select the augmentation draws of ``epoch`` (call before iterating a loader)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.indices)

    def preload(self, on_item: Any = None) -> None:
        """Fill the cache now (in this process, so DataLoader workers inherit it); no-op without cache.

        Args:
            on_item: optional callable, called once per sample loaded.
        """
        if not self.cache:
            return
        for i in range(len(self)):
            self._prepared(i)
            if on_item is not None:
                on_item()

    def sample(self, i: int) -> Any:
        """The original ``Sample`` (full resolution, untouched) behind position ``i``."""
        return self.samples[self.indices[i]]

    def _prepared(self, i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        hit = self._cache.get(i)
        if hit is not None:
            return hit
        sample = self.sample(i)
        image, mask = prepare_sample(sample.image, sample.mask, self.input_hw, self.bit_depth)
        if self.loc_labels:
            from edgeinspect.models.labels import rectangle_labels

            loc = np.asarray(rectangle_labels(mask)) > 0
        else:
            loc = np.zeros_like(mask)
        item = (image, mask, loc)
        if self.cache:
            self._cache[i] = item
        return item

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        image, mask, loc = self._prepared(i)
        image_f = image.astype(np.float32)
        mask_f = mask.astype(np.float32)
        loc_f = loc.astype(np.float32)
        if self.augment is not None and self.augment.enabled:
            rng = np.random.default_rng((self.seed, self.epoch, self.indices[i]))
            image_f, mask_f, loc_f = augment_sample(image_f, mask_f, loc_f, rng, self.augment)
        return {
            "image": torch.from_numpy(np.ascontiguousarray(image_f))[None],
            "mask": torch.from_numpy(np.ascontiguousarray(mask_f))[None],
            "loc": torch.from_numpy(np.ascontiguousarray(loc_f))[None],
            "index": torch.tensor(i, dtype=torch.int64),
        }


def make_loader(
    dataset: SegmentationSet,
    *,
    batch: int,
    shuffle: bool,
    seed: int = 0,
    epoch: int = 0,
    workers: int = 0,
) -> torch.utils.data.DataLoader:
    """A DataLoader for one epoch with a reproducible order.

    The shuffle generator is seeded from ``(seed, epoch)``; ``dataset.set_epoch(epoch)`` is called. A last
    training batch of a single image is dropped (BatchNorm on a 1×1 pooled map cannot train on it).
    """
    dataset.set_epoch(epoch)
    generator = torch.Generator()
    generator.manual_seed(int(np.random.default_rng((seed, epoch, 0xB47C)).integers(2**62)))
    drop_last = shuffle and len(dataset) > 1 and len(dataset) % batch == 1
    return torch.utils.data.DataLoader(
        dataset,
        batch_size=batch,
        shuffle=shuffle,
        generator=generator if shuffle else None,
        num_workers=workers,
        drop_last=drop_last,
        persistent_workers=False,
    )
