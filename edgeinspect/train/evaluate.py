"""Score a trained network on a dataset split with :mod:`edgeinspect.metrics`.

:func:`evaluate_model` runs the network in its inference form (``model(x).prob``, PCM on) on every
sample resized to the network input, resizes the probabilities back to the sample's own size
(bilinear) and scores them against the original mask (threshold ``>= 0.5`` by default), so the numbers
are at native resolution and comparable with ``edgeinspect eval --pred``. A network with an image-level
output (PSIC-Net's ``score``) has its image AP/AUC/accuracy scored on that output instead of the max
probability. :func:`evaluate_checkpoint`
does the same from a ``.pt`` file, taking the split seed, ratios, input size and bit depth from the
recipe stored in the checkpoint, so ``--split test`` is the test split the run held out.

Example:
    >>> report = evaluate_checkpoint(Path("runs/mt/best.pt"), Path("data/magnetic_tile"), "test")
    >>> report.to_json()["mIoU"]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from edgeinspect.errors import ConfigError, EdgeInspectError
from edgeinspect.metrics import EvalReport, MaskEvaluator
from edgeinspect.train.data import prepare_sample, subset_indices

__all__ = ["evaluate_checkpoint", "evaluate_model", "model_input_hw", "split_from_recipe"]


def model_input_hw(model: torch.nn.Module) -> tuple[int, int]:
    """``(H, W)`` the network serves, from ``model.default_cfg["input_size"]`` ``(1, H, W)``."""
    size = model.default_cfg["input_size"]
    return int(size[-2]), int(size[-1])


def evaluate_model(
    model: torch.nn.Module,
    samples: Sequence[Any],
    *,
    indices: Sequence[int] | None = None,
    threshold: float = 0.5,
    batch: int = 16,
    bit_depth: int | None = None,
    defects: bool = True,
    area_tolerance: float = 0.2,
    min_area_px: int = 0,
    on_image: Callable[[], None] | None = None,
) -> EvalReport:
    """Inference over samples, scored at each sample's own resolution.

    Args:
        model: a registered network (``model(x)`` → ``SegOutput``; ``default_cfg["input_size"]``).
        samples: sequence of ``Sample`` (image ``(H,W)`` uint8|uint16, mask ``(H,W)`` bool), e.g. a split.
        indices: which samples (default all).
        threshold: defect pixel = prob >= threshold.
        batch: images per forward pass.
        bit_depth: of uint16 images (see :func:`edgeinspect.train.data.to_8bit_range`).
        defects: also match defect components (``EvalReport.defects``); False is faster.
        area_tolerance: relative area error of a defect still counted as right (0.2 = 20 %).
        min_area_px: ignore truth defects (and false detections) smaller than this (px).
        on_image: called once per image scored (progress).

    Returns:
        the :class:`~edgeinspect.metrics.EvalReport`.

    Raises:
        EdgeInspectError: no samples to score.
    """
    order = list(range(len(samples))) if indices is None else list(indices)
    if not order:
        raise EdgeInspectError("no samples to evaluate: the split is empty (check --data, --split, --max-images)")
    input_hw = model_input_hw(model)
    evaluator = MaskEvaluator(
        threshold=threshold, defects=defects, area_tolerance=area_tolerance, min_area_px=min_area_px
    )
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for start in range(0, len(order), batch):
                loaded = [samples[i] for i in order[start : start + batch]]
                images = [prepare_sample(s.image, s.mask, input_hw, bit_depth)[0] for s in loaded]
                x = torch.from_numpy(np.stack([im.astype(np.float32) for im in images]))[:, None]
                out = model(x)
                prob = out.prob[:, 0].numpy()
                score = getattr(out, "score", None)  # image-level output (PSIC-Net), (N,)
                scores = [None] * len(loaded) if score is None else score.reshape(-1).tolist()
                for sample, p, s in zip(loaded, prob, scores):
                    height, width = sample.mask.shape
                    if p.shape != (height, width):
                        p = cv2.resize(p, (width, height), interpolation=cv2.INTER_LINEAR)
                    evaluator.update(np.clip(p, 0.0, 1.0), sample.mask, s)
                    if on_image is not None:
                        on_image()
    finally:
        model.train(was_training)
    return evaluator.report()


def split_from_recipe(extra: dict[str, Any]) -> dict[str, Any]:
    """Split/preprocessing settings stored in a checkpoint's ``extra`` (defaults where absent).

    Returns:
        ``{"ratios": (3,1,1), "seed": 0, "bit_depth": None, "format": "auto", "threshold": 0.5, "batch": 16}``
        updated from ``extra["recipe"]`` and ``extra["data"]``.
    """
    recipe = extra.get("recipe") or {}
    data = recipe.get("data") or {}
    evaluation = recipe.get("eval") or {}
    return {
        "ratios": tuple(data.get("split", (3, 1, 1))),
        "seed": int(recipe.get("seed", 0)),
        "bit_depth": data.get("bit_depth"),
        "format": (extra.get("data") or {}).get("format", "auto"),
        "threshold": float(evaluation.get("threshold", 0.5)),
        "batch": int(evaluation.get("batch", 16)),
    }


def evaluate_checkpoint(
    checkpoint: Path,
    data_root: Path,
    split: str = "test",
    *,
    format: str | None = None,
    max_images: int | None = None,
    threshold: float | None = None,
    batch: int | None = None,
    skip_bad: bool = False,
    area_tolerance: float = 0.2,
    min_area_px: int = 0,
    on_start: Callable[[int, int], None] | None = None,
    on_image: Callable[[], None] | None = None,
) -> EvalReport:
    """Score a training checkpoint on one split of a dataset.

    Args:
        checkpoint: ``.pt`` from ``edgeinspect train`` (``best.pt`` / ``last.pt``).
        data_root: dataset folder (any layout ``open_dataset`` reads).
        split: ``"train"``, ``"val"``, ``"test"`` or ``"all"``; cut with the run's seed and ratios.
        format: dataset layout; None = the one recorded at training time, else ``"auto"``.
        max_images: score a seeded random subset of at most this many images (None = all).
        threshold: defect pixel = prob >= threshold; None = the recipe's ``eval.threshold``.
        batch: images per forward pass; None = the recipe's ``eval.batch``.
        skip_bad: skip unreadable samples (missing mask, undecodable image) instead of failing.
        area_tolerance: relative area error of a defect still counted as right (0.2 = 20 %).
        min_area_px: ignore truth defects (and false detections) smaller than this (px).
        on_start: called before scoring with (images to score, samples skipped as unreadable).
        on_image: called once per image scored.

    Returns:
        the report (``to_json()`` is what ``eval --json`` and ``RUN/test.json`` print).

    Raises:
        EdgeInspectError: unreadable checkpoint or dataset, or an empty split.
    """
    from edgeinspect.data.datasets import open_dataset
    from edgeinspect.models import load_checkpoint

    model, extra = load_checkpoint(Path(checkpoint))
    settings = split_from_recipe(extra)
    threshold = settings["threshold"] if threshold is None else threshold
    if not 0.0 < threshold < 1.0:
        raise ConfigError(f"--threshold must be in (0, 1), got {threshold}")
    dataset = open_dataset(Path(data_root), format or settings["format"], skip_bad=skip_bad)
    part = dataset.split(split, ratios=settings["ratios"], seed=settings["seed"])
    if skip_bad:  # after splitting, as training does: the same splits with or without bad samples
        part = part.verify(skip_bad=True)
    indices = subset_indices(len(part), max_images, settings["seed"] + _SPLIT_OFFSET.get(split, 0))
    if on_start is not None:
        on_start(len(indices), len(part.skipped))
    return evaluate_model(
        model,
        part,
        indices=indices,
        threshold=threshold,
        batch=batch or settings["batch"],
        bit_depth=settings["bit_depth"],
        area_tolerance=area_tolerance,
        min_area_px=min_area_px,
        on_image=on_image,
    )


#: Seed offset per split for ``--max-images`` subsets (the same subset the training run used).
_SPLIT_OFFSET = {"train": 0, "val": 1, "test": 2, "all": 3}
