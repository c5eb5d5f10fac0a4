"""Score an engine on images with truth masks (no torch): the build accuracy gate and ``eval --engine``.

Whole images are resized to the engine tile (``cv2.INTER_AREA`` when shrinking, ``INTER_LINEAR``
otherwise; 16-bit images scaled to 8-bit values first), inferred in batches, and each probability
map is resized back to the image size (``INTER_LINEAR``) before thresholding at 0.5 — the same
metrics (:mod:`edgeinspect.metrics`) as every other evaluation. An engine with a ``score`` output
(PSIC-Net's image classifier) has its image-level AP/AUC/accuracy scored on that output.

Example:
    >>> with backends.load("engines/lite-int8") as engine:
    ...     report = evaluate_engine(engine, open_dataset(Path("data/mt")).split("test"))
    >>> report.mIoU
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from itertools import islice

import cv2
import numpy as np

from edgeinspect.backends.base import Engine


def image_to_tile(image: np.ndarray, tile_hw: tuple[int, int]) -> np.ndarray:
    """``(h, w)`` uint8/uint16 image → ``(1, H, W)`` float32 in [0,255] at the tile size."""
    height, width = tile_hw
    array = np.asarray(image)
    if array.dtype == np.uint16:
        array = array.astype(np.float32) * np.float32(255.0 / 65535.0)
    array = array.astype(np.float32, copy=False)
    if array.shape != (height, width):
        shrink = array.shape[0] > height or array.shape[1] > width
        array = cv2.resize(array, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    return np.clip(array, 0.0, 255.0)[None]


def prob_to_image(prob: np.ndarray, image_hw: tuple[int, int]) -> np.ndarray:
    """``(H, W)`` probability map at tile size → ``(h, w)`` float32 in [0,1] at the image size."""
    height, width = image_hw
    if prob.shape == (height, width):
        return prob.astype(np.float32, copy=False)
    return np.clip(cv2.resize(prob.astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR), 0.0, 1.0)


def _batched(items: Iterable, size: int) -> Iterator[list]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def predict_images(engine: Engine, images: Iterable[np.ndarray], *, batch_size: int = 8) -> Iterator[np.ndarray]:
    """Probability map of each whole image (resized to the tile and back).

    Args:
        engine: an open engine.
        images: ``(h, w)`` uint8/uint16 images.
        batch_size: tiles per ``infer`` call.

    Yields:
        ``(h, w)`` float32 probabilities in [0,1], one per image, in order.
    """
    for prob, _ in predict_scored(engine, images, batch_size=batch_size):
        yield prob


def predict_scored(
    engine: Engine, images: Iterable[np.ndarray], *, batch_size: int = 8
) -> Iterator[tuple[np.ndarray, float | None]]:
    """Like :func:`predict_images`, with the engine's image-level ``score`` when it has one.

    Yields:
        ``((h, w) float32 probabilities in [0,1], score in [0,1] or None)``, one per image, in order.
    """
    for chunk in _batched(images, batch_size):
        batch = np.stack([image_to_tile(image, engine.tile_hw) for image in chunk])
        out = engine.infer(batch)
        scores = out["score"].reshape(-1).tolist() if "score" in out else [None] * len(chunk)
        for image, prob, score in zip(chunk, out["prob"][:, 0], scores):
            yield prob_to_image(prob, image.shape[:2]), score


def tile_scores(engine: Engine, tiles: np.ndarray, masks: np.ndarray, *, batch_size: int = 8) -> dict[str, float]:
    """Pixel scores (:func:`edgeinspect.metrics.segmentation_scores`) of an engine on ready tiles.

    Args:
        engine: an open engine.
        tiles: ``(N,1,H,W)`` float32 in [0,255] at the engine tile size.
        masks: ``(N,H,W)`` bool truth.

    Returns:
        ``mPA, mIoU, mIoU80, dice, iou, pixel_acc`` in [0,1] and ``images``.
    """
    from edgeinspect.metrics import segmentation_scores

    probs = [engine.infer(tiles[i : i + batch_size])["prob"][:, 0] for i in range(0, tiles.shape[0], batch_size)]
    prob = np.concatenate(probs, axis=0)
    return segmentation_scores(zip(prob, masks))


def evaluate_engine(
    engine: Engine,
    samples: Iterable,
    *,
    batch_size: int = 8,
    threshold: float = 0.5,
    on_sample: Callable[[], None] | None = None,
):
    """Full evaluation (pixel, defect and image-level metrics) of an engine over samples.

    Args:
        engine: an open engine.
        samples: :class:`~edgeinspect.data.datasets.Sample` records (``image``, ``mask``), e.g. a Dataset split.
        batch_size: tiles per ``infer`` call.
        threshold: probability at or above which a pixel is defect.
        on_sample: called after each sample (progress bars).

    Returns:
        :class:`edgeinspect.metrics.EvalReport`.
    """
    from edgeinspect.metrics import MaskEvaluator

    evaluator = MaskEvaluator(threshold=threshold)
    for chunk in _batched(samples, batch_size):
        results = predict_scored(engine, [s.image for s in chunk], batch_size=batch_size)
        for sample, (prob, score) in zip(chunk, results):
            evaluator.update(prob, sample.mask, score)
            if on_sample is not None:
                on_sample()
    return evaluator.report()


def engine_pairs(
    engine_path, samples, *, threads: int | None = None, batch_size: int = 8
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """``(prob, truth)`` per sample from an engine (``eval --engine``); opens and closes the engine.

    Args:
        engine_path: engine folder, ``.onnx`` or ``.pt`` (see :func:`edgeinspect.backends.load`).
        samples: :class:`~edgeinspect.data.datasets.Sample` records (a Dataset or split).
        threads: engine CPU threads.
        batch_size: tiles per ``infer`` call.

    Yields:
        ``((h, w) float32 probability in [0,1] at the image size, (h, w) bool truth)``; for an engine
        with a ``score`` output, ``(prob, truth, score)`` (what :func:`edgeinspect.metrics.evaluate_masks`
        takes for image-level metrics).
    """
    from edgeinspect.backends import load

    with load(engine_path, threads=threads) as engine:
        for chunk in _batched(samples, batch_size):
            results = predict_scored(engine, [s.image for s in chunk], batch_size=batch_size)
            for sample, (prob, score) in zip(chunk, results):
                yield (prob, sample.mask) if score is None else (prob, sample.mask, score)
