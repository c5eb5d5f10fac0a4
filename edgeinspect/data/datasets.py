"""Surface-defect datasets on disk, read through one interface (no torch).

:func:`open_dataset` detects the layout (:func:`detect_format`), indexes file names (cheap checks:
every image has its mask) and returns a lazy :class:`Dataset` of :class:`Sample` records
(image ``(H, W)`` uint8/uint16, mask ``(H, W)`` bool). Layouts: Magnetic Tile (``"mt"``),
KolektorSDD (``"kolektor"``), AITEX fabric (``"aitex"``) and generic image/mask pairs (``"pairs"``);
see :mod:`edgeinspect.data.formats`.

Bad input (missing mask, unreadable file, image/mask size mismatch) raises one
:class:`~edgeinspect.errors.DataError` naming the file(s); with ``skip_bad=True`` index-time
problems become counted skips in :attr:`Dataset.skipped` (``"path: reason"``), and
:meth:`Dataset.verify` does the same for load-time problems before any training starts.

Splits are stratified by label and deterministic: :meth:`Dataset.split` orders each label's
samples by a hash of (seed, label, name), so a split does not depend on file-system order and
adding one sample moves no other sample between splits.

Example:
    >>> ds = open_dataset(Path("/data/magnetic_tile"))          # format auto-detected: "mt"
    >>> test = ds.split("test")                                   # 3:1:1, seed 0
    >>> sample = test[0]; sample.image.shape, sample.mask.dtype   # ((H, W), dtype('bool'))
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import overload

import numpy as np

from edgeinspect.data.formats import FORMATS, BadInputs, SampleMeta
from edgeinspect.data.imageio import read_image, read_mask, read_prediction
from edgeinspect.errors import DataError, EdgeInspectError

__all__ = [
    "FORMAT_NAMES",
    "SPLITS",
    "Dataset",
    "Sample",
    "SampleMeta",
    "detect_format",
    "load_sample",
    "open_dataset",
    "prediction_pairs",
    "prediction_path",
]

#: Layout names :func:`detect_format` can return, in detection order.
FORMAT_NAMES: tuple[str, ...] = tuple(FORMATS)
#: Split names :meth:`Dataset.split` accepts.
SPLITS = ("train", "val", "test", "all")
#: Suffixes a predicted mask may have in a ``--pred`` folder, in lookup order.
PREDICTION_SUFFIXES = (".png", ".bmp", ".tif", ".tiff")


@dataclass(frozen=True, slots=True)
class Sample:
    """One loaded sample.

    Attributes:
        image: ``(H, W)`` uint8, or uint16 for 12/16-bit files (values as stored).
        mask: ``(H, W)`` bool, True = defect pixel.
        meta: Where it came from and its label.
    """

    image: np.ndarray
    mask: np.ndarray
    meta: SampleMeta


def load_sample(meta: SampleMeta) -> Sample:
    """Read one sample's image and mask(s) and check they match.

    Args:
        meta: From a :class:`Dataset`'s ``entries``.

    Returns:
        The sample; the mask is all False when ``meta.mask_path`` is None; several mask files are united.

    Raises:
        DataError: A file is unreadable (names it and the sample's image), or a mask's size differs
            from the image's (names both files).
    """
    image = read_image(meta.image_path)
    if meta.mask_path is None:
        return Sample(image, np.zeros(image.shape, dtype=bool), meta)
    mask = None
    for mask_path in (meta.mask_path, *meta.extra_mask_paths):
        try:
            part = read_mask(mask_path)
        except DataError as error:
            raise DataError(f"{error} (mask of image {meta.image_path})") from None
        if part.shape != image.shape:
            raise DataError(
                f"{mask_path}: mask is {part.shape[1]}×{part.shape[0]} px but its image {meta.image_path} "
                f"is {image.shape[1]}×{image.shape[0]} px (width×height); fix or remove the pair"
            )
        mask = part if mask is None else (mask | part)
    return Sample(image, mask, meta)


class Dataset(Sequence[Sample]):
    """A lazy, indexable list of samples: ``dataset[i]`` reads sample ``i`` from disk.

    Attributes:
        root: The dataset folder.
        format: Layout name (one of :data:`FORMAT_NAMES`).
        entries: One :class:`SampleMeta` per sample, in index order.
        skipped: ``"path: reason"`` for every bad input skipped (``skip_bad=True``).
    """

    def __init__(self, root: Path, format: str, entries: list[SampleMeta], skipped: list[str] | None = None) -> None:
        self.root = Path(root)
        self.format = format
        self.entries = list(entries)
        self.skipped = list(skipped or [])

    def __len__(self) -> int:
        return len(self.entries)

    @overload
    def __getitem__(self, index: int) -> Sample: ...

    @overload
    def __getitem__(self, index: slice) -> Dataset: ...

    def __getitem__(self, index: int | slice) -> Sample | Dataset:
        if isinstance(index, slice):
            return self._subset(self.entries[index])
        return load_sample(self.entries[index])

    def __iter__(self) -> Iterator[Sample]:
        for meta in self.entries:
            yield load_sample(meta)

    def __repr__(self) -> str:
        return f"Dataset({str(self.root)!r}, format={self.format!r}, samples={len(self)}, skipped={len(self.skipped)})"

    def _subset(self, entries: list[SampleMeta]) -> Dataset:
        return Dataset(self.root, self.format, entries, self.skipped)

    def labels(self) -> list[str]:
        """Distinct labels, sorted (defect classes and ``"free"``)."""
        return sorted({meta.label for meta in self.entries})

    def label_counts(self) -> dict[str, int]:
        """Samples per label, labels sorted."""
        counts = Counter(meta.label for meta in self.entries)
        return {label: counts[label] for label in sorted(counts)}

    def split(self, name: str, *, ratios: tuple[float, float, float] = (3, 1, 1), seed: int = 0) -> Dataset:
        """One part of a deterministic split stratified by label.

        Each label's samples are ordered by a hash of (seed, label, name) and cut by ``ratios``
        (largest-remainder rounding). A label with at least as many samples as there are non-zero
        ratios has at least one sample in every such split; smaller labels fill train, then val,
        then test. Samples keep the dataset's order inside a split.

        Args:
            name: ``"train"``, ``"val"``, ``"test"`` or ``"all"`` (the whole dataset).
            ratios: Relative sizes of train, val, test; non-negative, not all zero.
            seed: Changes the assignment; the same seed always gives the same split.

        Returns:
            A new :class:`Dataset` over the chosen entries (same root, format and skipped list).

        Raises:
            EdgeInspectError: Unknown split name or invalid ratios.
        """
        if name not in SPLITS:
            raise EdgeInspectError(f"split {name!r} is unknown; use one of {', '.join(SPLITS)}")
        if name == "all":
            return self._subset(self.entries)
        if len(ratios) != 3 or any(r < 0 for r in ratios) or sum(ratios) <= 0:
            raise EdgeInspectError(f"split ratios {tuple(ratios)} invalid; give three non-negative numbers, not all 0")
        part = SPLITS.index(name)
        chosen: set[int] = set()
        by_label: dict[str, list[int]] = {}
        for position, meta in enumerate(self.entries):
            by_label.setdefault(meta.label, []).append(position)
        for label, positions in by_label.items():
            ordered = sorted(positions, key=lambda p: _split_key(seed, label, self.entries[p].name))
            counts = _split_counts(len(ordered), ratios)
            start = sum(counts[:part])
            chosen.update(ordered[start : start + counts[part]])
        return self._subset([meta for position, meta in enumerate(self.entries) if position in chosen])

    def verify(
        self, *, skip_bad: bool = False, progress: Callable[[Iterable[SampleMeta]], Iterable[SampleMeta]] | None = None
    ) -> Dataset:
        """Load every sample once so unreadable files and size mismatches surface now, not mid-training.

        Args:
            skip_bad: Drop bad samples and record them in ``skipped`` instead of raising.
            progress: Optional wrapper for the entry iterator (e.g. ``rich.progress.track``).

        Returns:
            A dataset of the samples that load (``self``'s entries when all do).

        Raises:
            DataError: The first bad sample, naming its file(s), unless ``skip_bad``.
        """
        bad = BadInputs(skip=skip_bad)
        good = []
        for meta in progress(self.entries) if progress else self.entries:
            try:
                load_sample(meta)
            except DataError as error:
                if not skip_bad:
                    raise
                bad.skipped.append(str(error))
                continue
            good.append(meta)
        return Dataset(self.root, self.format, good, self.skipped + bad.skipped)


def _split_key(seed: int, label: str, name: str) -> bytes:
    return hashlib.blake2b(f"{seed}\0{label}\0{name}".encode(), digest_size=16).digest()


def _split_counts(n: int, ratios: tuple[float, float, float]) -> list[int]:
    """Sizes of train/val/test for ``n`` samples: largest remainder, >= 1 per non-zero ratio when n allows."""
    total = float(sum(ratios))
    exact = [n * r / total for r in ratios]
    counts = [int(np.floor(x)) for x in exact]
    order = sorted(range(3), key=lambda i: (-(exact[i] - counts[i]), i))
    for i in order[: n - sum(counts)]:
        counts[i] += 1
    active = [i for i in range(3) if ratios[i] > 0]
    if n >= len(active):
        for i in active:
            if counts[i] == 0:
                donor = max(active, key=lambda j: (counts[j], -j))
                counts[donor] -= 1
                counts[i] += 1
    return counts


def detect_format(root: Path) -> str:
    """Name the layout of a dataset folder.

    Args:
        root: The dataset folder.

    Returns:
        ``"mt"``, ``"kolektor"``, ``"aitex"`` or ``"pairs"`` (first match in that order).

    Raises:
        DataError: ``root`` is not a folder, or matches none of the layouts (lists them).
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: dataset folder not found")
    for name, module in FORMATS.items():
        if module.looks_like(root):
            return name
    looked = "; ".join(module.LAYOUT for module in FORMATS.values())
    raise DataError(f"{root}: unknown dataset layout; looked for {looked}")


def open_dataset(root: Path, format: str = "auto", *, skip_bad: bool = False, verify: bool = False) -> Dataset:
    """Index a dataset folder.

    Args:
        root: The dataset folder.
        format: ``"auto"`` (see :func:`detect_format`) or one of :data:`FORMAT_NAMES`.
        skip_bad: Skip and count bad samples (``Dataset.skipped``) instead of raising.
        verify: Also load every sample now (see :meth:`Dataset.verify`); slower, catches size
            mismatches and undecodable files up front.

    Returns:
        The dataset, entries in path order.

    Raises:
        DataError: Unknown layout or format name, a bad sample (unless ``skip_bad``), or no samples.
    """
    root = Path(root)
    if format == "auto":
        format = detect_format(root)
    elif format not in FORMATS:
        raise DataError(f"{root}: dataset format {format!r} unknown; use auto or one of {', '.join(FORMATS)}")
    elif not root.is_dir():
        raise DataError(f"{root}: dataset folder not found")
    bad = BadInputs(skip=skip_bad)
    entries = FORMATS[format].index(root, bad)
    if not entries:
        detail = f" ({len(bad.skipped)} skipped, first: {bad.skipped[0]})" if bad.skipped else ""
        raise DataError(f"{root}: no samples found in {format} layout ({FORMATS[format].LAYOUT}){detail}")
    dataset = Dataset(root, format, entries, bad.skipped)
    return dataset.verify(skip_bad=skip_bad) if verify else dataset


def prediction_path(pred_dir: Path, meta: SampleMeta) -> Path | None:
    """The predicted-mask file for one sample: ``pred_dir/<name>.png`` (or .bmp/.tif/.tiff); None if absent."""
    for suffix in PREDICTION_SUFFIXES:
        candidate = Path(pred_dir) / f"{meta.name}{suffix}"
        if candidate.is_file():
            return candidate
    return None


def prediction_pairs(dataset: Dataset, pred_dir: Path) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Pair a folder of predicted masks with a dataset's truth masks, sample by sample.

    Every sample must have ``pred_dir/<name>.png`` (see :func:`prediction_path`); this is checked
    for all samples before the first pair is produced. Pred file values: see
    :func:`edgeinspect.data.imageio.read_prediction`.

    Args:
        dataset: The samples to score (e.g. ``open_dataset(root).split("test")``).
        pred_dir: Folder of predictions named like the samples.

    Returns:
        An iterator of ``(pred, truth)``: pred ``(H, W)`` bool or float32 in [0, 1], truth ``(H, W)`` bool.

    Raises:
        DataError: ``pred_dir`` is not a folder, a sample has no prediction (names the first and the
            count), or a prediction's size differs from its sample's (names both files).
    """
    pred_dir = Path(pred_dir)
    if not pred_dir.is_dir():
        raise DataError(f"{pred_dir}: prediction folder not found")
    paths = [prediction_path(pred_dir, meta) for meta in dataset.entries]
    missing = [meta for meta, path in zip(dataset.entries, paths) if path is None]
    if missing:
        raise DataError(
            f"{pred_dir / missing[0].name}.png: no prediction for sample {missing[0].name} "
            f"(image {missing[0].image_path}); {len(missing)} of {len(paths)} samples have none"
        )
    return _prediction_pairs(dataset.entries, paths)


def _prediction_pairs(entries: list[SampleMeta], paths: list[Path]) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    for meta, path in zip(entries, paths):
        truth = load_sample(meta).mask
        pred = read_prediction(path)
        if pred.shape != truth.shape:
            raise DataError(
                f"{path}: prediction is {pred.shape[1]}×{pred.shape[0]} px but sample {meta.name} "
                f"({meta.image_path}) is {truth.shape[1]}×{truth.shape[0]} px (width×height)"
            )
        yield pred, truth
