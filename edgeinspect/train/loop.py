"""LPC-Net two-stage training loop (Wang et al., Sensors 2025): DLM, then segmentation (+ PCM from p_set).

:func:`train` runs a :class:`~edgeinspect.train.recipe.Recipe` on a dataset folder and writes a run folder:

- ``best.pt``: the weights of the stage-2 epoch with the best val mIoU (``extra``: epoch, stage, val
  metrics, the recipe, the dataset format). With no stage-2 epochs, the last stage-1 epoch.
- ``last.pt``: the latest epoch with the optimizer state, for ``resume=True``.
- ``metrics.csv`` (one row per epoch, flushed at once; columns in :data:`edgeinspect.train.curves.COLUMNS`),
  ``curves.png`` (redrawn each epoch), ``recipe.yaml`` (the effective recipe), ``train.log``.
- ``test.json``: ``EvalReport.to_json()`` of ``best.pt`` on the test split at native resolution.

Stages (``recipe.schedule``): epochs ``1..epochs_dlm`` train ``model.dlm`` on ``L_loc``
(``model.seg`` frozen); epochs after that train ``model.seg`` on ``L_img`` with ``M_comp`` from the
frozen DLM, and from stage-2 epoch ``p_set`` on with the PCM and ``λ1·L_img + λ2·L_pcm``. Each stage
has its own Adam optimizer. Validation every epoch on the val split at the network input size:
stage 1 reports ``val_loss`` (``L_loc``) and ``val_loc_iou``, stage 2 the loss and the pixel metrics of
the inference output (``model(x).prob``, PCM on).

Determinism: torch/numpy seeded from ``recipe.seed`` before the model is built and again at every
epoch from ``(seed, epoch)``; batch order and augmentation depend only on ``(seed, epoch, index)``.
So a resumed run continues exactly as an uninterrupted one would (same thread count).

Example:
    >>> best = train(load_recipe("lpcnet-lite"), Path("data/synth"), Path("runs/synth"))
"""

from __future__ import annotations

import logging
import math
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from edgeinspect.errors import ConfigError, DataError, EdgeInspectError
from edgeinspect.train.curves import MetricsLog, plot_curves
from edgeinspect.train.data import SegmentationSet, make_loader, subset_indices
from edgeinspect.train.evaluate import _SPLIT_OFFSET, evaluate_model, model_input_hw
from edgeinspect.train.losses import LossWeights, loc_loss, loss_weights, segmentation_loss
from edgeinspect.train.recipe import Recipe, recipe_from_dict, recipe_to_dict, save_recipe

__all__ = ["RunFiles", "TrainEvents", "build_model", "stage_loss", "stage_of", "train"]

LOGGER_NAME = "edgeinspect.train"


@dataclass(frozen=True, slots=True)
class RunFiles:
    """Paths of a run folder."""

    root: Path

    @property
    def best(self) -> Path:
        return self.root / "best.pt"

    @property
    def last(self) -> Path:
        return self.root / "last.pt"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.csv"

    @property
    def curves(self) -> Path:
        return self.root / "curves.png"

    @property
    def recipe(self) -> Path:
        return self.root / "recipe.yaml"

    @property
    def log(self) -> Path:
        return self.root / "train.log"

    @property
    def test(self) -> Path:
        return self.root / "test.json"


class TrainEvents:
    """Progress callbacks of :func:`train`; every method is a no-op here (the CLI draws rich bars).

    Order: ``message``* → ``task("loading ...", n)``/``advance()``… → per epoch ``epoch_start`` →
    ``advance(loss=...)`` per batch → ``task("validating", n)``/``advance()``… → ``epoch_end`` → … →
    ``task("testing", n)``/``advance()``… .
    """

    def message(self, text: str) -> None:
        """A one-line note (also written to train.log)."""

    def run_start(self, *, total_epochs: int, done_epochs: int) -> None:
        """Before the first epoch (``done_epochs`` > 0 when resuming)."""

    def epoch_start(self, *, epoch: int, stage: str, batches: int) -> None:
        """Epoch ``epoch`` (1-based) of stage ``stage`` ("dlm", "seg", "seg+pcm") starts."""

    def task(self, name: str, total: int) -> None:
        """A secondary task (loading, validating, testing) of ``total`` steps starts."""

    def advance(self, **fields: float) -> None:
        """One step (a training batch with ``loss``, or one image of a task)."""

    def epoch_end(self, row: dict[str, Any], *, improved: bool) -> None:
        """The epoch's metrics.csv row; ``improved`` when best.pt was written."""


def stage_of(epoch: int, recipe: Recipe) -> tuple[str, LossWeights | None]:
    """Stage label and stage-2 loss weights of a 0-based global epoch.

    Returns:
        ``("dlm", None)``, ``("seg", weights)`` or ``("seg+pcm", weights)`` (PCM on from ``p_set``).
    """
    if epoch < recipe.schedule.epochs_dlm:
        return "dlm", None
    weights = loss_weights(epoch - recipe.schedule.epochs_dlm, recipe.schedule, recipe.loss)
    return ("seg+pcm" if weights.pcm_on else "seg"), weights


def build_model(recipe: Recipe) -> torch.nn.Module:
    """``create_model(recipe.model, input_size=recipe.data.input_hw, **recipe.model_kwargs)``.

    Raises:
        ConfigError: unknown model, ``input_size`` given twice, or a model without the two-stage API.
    """
    from edgeinspect.models import create_model

    kwargs = dict(recipe.model_kwargs)
    if recipe.data.input_hw is not None:
        if "input_size" in kwargs:
            raise ConfigError("recipe sets both data.input_hw and model_kwargs.input_size: keep only data.input_hw")
        kwargs["input_size"] = tuple(recipe.data.input_hw)
    try:
        model = create_model(recipe.model, **kwargs)
    except EdgeInspectError as error:
        if recipe.data.input_hw is not None and "input_size" in str(error):
            height, width = recipe.data.input_hw
            raise ConfigError(f"recipe key 'data.input_hw' (--size) {height}x{width}: {error}") from None
        raise ConfigError(f"recipe key 'model'/'model_kwargs': {error}") from None
    for attribute in ("forward_train", "stage_parameters", "freeze_stage", "pcm", "dlm"):
        if not hasattr(model, attribute):
            raise ConfigError(
                f"model {recipe.model} has no {attribute!r}: the LPC-Net two-stage loop trains lpcnet and lpcnet-lite"
            )
    return model


def _seed_all(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _epoch_seed(seed: int, epoch: int) -> int:
    return int(np.random.default_rng((seed, epoch, 0xE90C)).integers(2**62))


def _atomic_save(path: Path, model: torch.nn.Module, extra: dict[str, Any]) -> None:
    from edgeinspect.models import save_checkpoint

    tmp = path.with_name(path.name + ".tmp")
    save_checkpoint(tmp, model, extra=extra)
    os.replace(tmp, path)


def _optimizer_state(saved: dict[str, Any]) -> dict[str, Any]:
    """An optimizer ``state_dict`` read back from a checkpoint's ``extra``, with integer parameter ids
    (``save_checkpoint`` may store dict keys as strings; ``Optimizer.load_state_dict`` needs the ints)."""
    return {**saved, "state": {int(k): v for k, v in saved["state"].items()}}


def _logger(path: Path, append: bool) -> tuple[logging.Logger, logging.Handler]:
    logger = logging.getLogger(LOGGER_NAME)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    handler = logging.FileHandler(path, mode="a" if append else "w", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%Y-%m-%d %H:%M:%S"))
    logger.addHandler(handler)
    return logger, handler


def _check_resumable(saved: dict[str, Any], recipe: Recipe, path: Path) -> None:
    """The recipe may change the schedule, optimizer, loss or augmentation, not what defines the data/model."""
    try:
        old = recipe_from_dict(saved, source=str(path))
    except ConfigError:
        return
    fixed = {
        "model": (old.model, recipe.model),
        "model_kwargs": (old.model_kwargs, recipe.model_kwargs),
        "seed": (old.seed, recipe.seed),
        "data.input_hw": (old.data.input_hw, recipe.data.input_hw),
        "data.split": (old.data.split, recipe.data.split),
        "data.max_images": (old.data.max_images, recipe.data.max_images),
    }
    for key, (was, now) in fixed.items():
        if was != now:
            raise ConfigError(
                f"{path}: cannot resume with '{key}' = {now!r}, the run used {was!r}: "
                "repeat the original options or start a new --out"
            )


def stage_loss(
    model: torch.nn.Module,
    batch: dict[str, torch.Tensor],
    stage: str,
    weights: LossWeights | None,
    *,
    omega: float,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The loss of one batch in one stage.

    Args:
        model: an LPC-Net (``forward_train``, ``pcm``).
        batch: ``image`` ``(N,1,H,W)`` in [0, 255], ``mask`` and ``loc`` ``(N,1,H,W)`` in {0, 1}
            (a :class:`~edgeinspect.train.data.SegmentationSet` batch).
        stage: ``"dlm"`` → ``L_loc``; ``"seg"`` / ``"seg+pcm"`` → ``weights.img·L_img [+ weights.pcm·L_pcm]``
            with ``M_comp`` from the DLM run without gradients.
        weights: stage-2 loss weights (:func:`~edgeinspect.train.losses.loss_weights`); None for ``"dlm"``.
        omega: ω of ``M_comp``.

    Returns:
        ``(loss, outputs)``: the scalar loss and the ``forward_train`` outputs (stage 2: plus ``"loc"``).
    """
    from edgeinspect.models.lpcnet import compensation_weights

    x = batch["image"]
    if stage == "dlm":
        out = model.forward_train(x, pcm=False, stages=("dlm",))
        return loc_loss(out["loc_logits"], batch["loc"]), out
    if weights is None:
        raise ValueError(f"stage {stage!r} needs the stage-2 loss weights")
    with torch.no_grad():
        loc = model.forward_train(x, pcm=False, stages=("dlm",))["loc"]
    m_comp = compensation_weights(loc, omega)
    out = model.forward_train(x, pcm=weights.pcm_on, stages=("seg",))
    truth = model.pcm.m_ipc(batch["mask"]) if weights.pcm_on else None
    total, _ = segmentation_loss(out["seg_logits"], batch["mask"], m_comp, weights, m_ipc=out["m_ipc"], m_ipc_truth=truth)
    out["loc"] = loc
    return total, out


class _Run:
    """State of one training run (kept out of :func:`train` to keep it readable)."""

    def __init__(self, recipe: Recipe, files: RunFiles, events: TrainEvents, logger: logging.Logger) -> None:
        self.recipe = recipe
        self.files = files
        self.events = events
        self.logger = logger

    def note(self, text: str) -> None:
        self.logger.info(text)
        self.events.message(text)

    # -- one epoch --------------------------------------------------------------------------------

    def train_epoch(self, model, optimizer, data: SegmentationSet, epoch: int, stage: str, weights) -> float:
        r = self.recipe
        loader = make_loader(data, batch=r.optim.batch, shuffle=True, seed=r.seed, epoch=epoch, workers=r.data.workers)
        self.events.epoch_start(epoch=epoch + 1, stage=stage, batches=len(loader))
        model.train()
        total, count = 0.0, 0
        for batch in loader:
            loss = stage_loss(model, batch, stage, weights, omega=self.recipe.loss.omega)[0]
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            value = float(loss.detach())
            if not math.isfinite(value):
                raise EdgeInspectError(
                    f"training diverged at epoch {epoch + 1} (loss {value}): lower the learning rate (--lr)"
                )
            total += value * len(batch["image"])
            count += len(batch["image"])
            self.events.advance(loss=value)
        return total / max(count, 1)

    def validate(self, model, data: SegmentationSet, epoch: int, stage: str, weights) -> dict[str, float]:
        from edgeinspect.metrics import MaskEvaluator, confusion_matrix, scores_from_confusion

        r = self.recipe
        loader = make_loader(data, batch=r.eval.batch, shuffle=False, seed=r.seed, epoch=epoch, workers=r.data.workers)
        self.events.task("validating", len(data))
        evaluator = MaskEvaluator(threshold=r.eval.threshold, defects=False) if stage != "dlm" else None
        loc_cm = np.zeros((2, 2), dtype=np.int64)
        total, count = 0.0, 0
        model.eval()
        with torch.no_grad():
            for batch in loader:
                loss, out = stage_loss(model, batch, stage, weights, omega=self.recipe.loss.omega)
                total += float(loss) * len(batch["image"])
                count += len(batch["image"])
                if evaluator is not None:
                    prob = model.pcm(out["prob_isr"])  # inference form: PCM always on, = model(x).prob
                    for p, m in zip(prob[:, 0].numpy(), batch["mask"][:, 0].numpy()):
                        evaluator.update(p, m > 0.5)
                loc = out["loc"][:, 0].numpy() >= 0.5
                for p, m in zip(loc, batch["loc"][:, 0].numpy() > 0.5):
                    loc_cm += confusion_matrix(p, m)
                for _ in range(len(batch["image"])):
                    self.events.advance()
        row: dict[str, float] = {"val_loss": total / max(count, 1), "val_loc_iou": scores_from_confusion(loc_cm)["iou"]}
        if evaluator is not None:
            report = evaluator.report()
            row.update(val_mIoU=report.mIoU, val_mPA=report.mPA, val_mIoU80=report.mIoU80, val_dice=report.dice,
                       val_iou=report.iou, val_pixel_acc=report.pixel_acc)
        return row


def _split_sets(recipe: Recipe, data_root: Path, format: str, skip_bad: bool):
    from edgeinspect.data.datasets import open_dataset

    dataset = open_dataset(Path(data_root), format, skip_bad=skip_bad)
    ratios = tuple(float(v) for v in recipe.data.split)
    parts = {}
    for name in ("train", "val", "test"):
        split = dataset.split(name, ratios=ratios, seed=recipe.seed)
        parts[name] = (split, subset_indices(len(split), recipe.data.max_images, recipe.seed + _SPLIT_OFFSET[name]))
    for name in ("train", "val"):
        if not parts[name][1]:
            raise DataError(
                f"{data_root}: {len(dataset)} samples give an empty {name} split at ratios "
                f"{':'.join(str(v) for v in recipe.data.split)}: add samples or change data.split"
            )
    return dataset, parts


def train(
    recipe: Recipe,
    data_root: Path,
    out_dir: Path,
    *,
    format: str = "auto",
    resume: bool = False,
    skip_bad: bool = False,
    events: TrainEvents | None = None,
) -> Path:
    """Train an LPC-Net on a dataset folder; write the run folder (module docstring); return ``best.pt``.

    Args:
        recipe: the effective recipe (already scaled/overridden).
        data_root: dataset folder (``open_dataset`` layouts: mt, kolektor, aitex, pairs).
        out_dir: the run folder; created. Must not hold a run unless ``resume``.
        format: dataset layout or ``"auto"``.
        resume: continue from ``out_dir/last.pt`` (same data, model, seed, split; the schedule may grow).
        skip_bad: skip unreadable samples instead of failing.
        events: progress callbacks (default: none).

    Returns:
        path of ``best.pt``.

    Raises:
        ConfigError: bad recipe for this model, resume mismatch, or an existing run without ``resume``.
        DataError: unreadable dataset or empty train/val split.
    """
    events = events or TrainEvents()
    files = RunFiles(Path(out_dir))
    if resume and not files.last.is_file():
        raise ConfigError(f"{files.last}: nothing to resume (no last.pt): drop --resume to start this run")
    if not Path(data_root).is_dir():
        raise DataError(f"{data_root}: dataset folder not found (--data)")
    if not resume and files.last.exists():
        raise ConfigError(f"{files.root}: already holds a run (last.pt): pass --resume to continue it or choose a new --out")
    files.root.mkdir(parents=True, exist_ok=True)
    logger, handler = _logger(files.log, append=resume)
    try:
        return _train(recipe, Path(data_root), files, format, resume, skip_bad, events, logger)
    except EdgeInspectError as error:
        logger.info("error: %s", error)
        raise
    finally:
        logger.removeHandler(handler)
        handler.close()


def _train(recipe, data_root, files, format, resume, skip_bad, events, logger) -> Path:
    from edgeinspect.models.checkpoint import read_checkpoint

    run = _Run(recipe, files, events, logger)
    sched = recipe.schedule
    total_epochs = recipe.total_epochs
    if total_epochs == 0:
        raise ConfigError("the schedule has 0 epochs: set --epochs or --epochs-dlm/--epochs-seg")

    state: dict[str, Any] = {}
    if resume:
        checkpoint = read_checkpoint(files.last)
        state = dict(checkpoint.get("extra") or {})
        _check_resumable(state.get("recipe") or {}, recipe, files.last)
    done = int(state.get("completed_epochs", 0))

    _seed_all(recipe.seed)
    model = build_model(recipe)
    if resume:
        model.load_state_dict(checkpoint["state_dict"])
    input_hw = model_input_hw(model)
    save_recipe(recipe, files.recipe)

    dataset, parts = _split_sets(recipe, data_root, format, skip_bad)
    counts = {name: len(idx) for name, (_, idx) in parts.items()}
    run.note(
        f"{'resume' if resume else 'train'} {recipe.model} {input_hw[0]}x{input_hw[1]} on {data_root} "
        f"({dataset.format}, train {counts['train']} / val {counts['val']} / test {counts['test']} images); "
        f"schedule dlm {sched.epochs_dlm} + seg {sched.epochs_seg} epochs, PCM from seg epoch {sched.p_set}; "
        f"seed {recipe.seed}" + (f"; continuing after epoch {done}" if resume else "")
    )
    common = dict(input_hw=input_hw, seed=recipe.seed, cache=recipe.data.cache, bit_depth=recipe.data.bit_depth)
    train_set = SegmentationSet(parts["train"][0], indices=parts["train"][1], augment=recipe.augment, **common)
    val_set = SegmentationSet(parts["val"][0], indices=parts["val"][1], augment=None, **common)
    if recipe.data.cache and done < total_epochs:
        events.task("loading", len(train_set) + len(val_set))
        train_set.preload(events.advance)
        val_set.preload(events.advance)

    log = MetricsLog(files.metrics, keep_epochs=done if resume else None)
    best_miou = float(state.get("best_miou", -math.inf))
    best_epoch = int(state.get("best_epoch", 0))
    p_set_epoch = sched.epochs_dlm + sched.p_set + 1 if sched.p_set < sched.epochs_seg else None
    events.run_start(total_epochs=total_epochs, done_epochs=done)

    optimizer, optimizer_stage = None, None
    for epoch in range(done, total_epochs):
        stage, weights = stage_of(epoch, recipe)
        trainable = "dlm" if stage == "dlm" else "seg"
        if optimizer_stage != trainable:
            model.freeze_stage("seg" if trainable == "dlm" else "dlm")
            model.freeze_stage(trainable, False)
            optimizer = torch.optim.Adam(
                model.stage_parameters(trainable), lr=recipe.optim.lr, betas=tuple(recipe.optim.betas),
                weight_decay=recipe.optim.weight_decay,
            )
            if state.get("optimizer") is not None and state.get("optimizer_stage") == trainable and epoch == done:
                optimizer.load_state_dict(_optimizer_state(state["optimizer"]))
            optimizer_stage = trainable
            if epoch == sched.epochs_dlm:
                run.note(f"stage 2: segmentation from epoch {epoch + 1} (DLM frozen)")
        if weights is not None and weights.pcm_on and epoch - sched.epochs_dlm == sched.p_set:
            run.note(f"PCM on from epoch {epoch + 1}: loss = {weights.img:g}·L_img + {weights.pcm:g}·L_pcm")
        torch.manual_seed(_epoch_seed(recipe.seed, epoch))
        started = time.perf_counter()
        train_loss = run.train_epoch(model, optimizer, train_set, epoch, stage, weights)
        row = {"epoch": epoch + 1, "stage": stage, "train_loss": train_loss}
        row.update(run.validate(model, val_set, epoch, stage, weights))
        row["lr"] = optimizer.param_groups[0]["lr"]
        row["seconds"] = time.perf_counter() - started

        miou = row.get("val_mIoU", math.nan)
        last_of_run = epoch == total_epochs - 1
        improved = (stage != "dlm" and miou > best_miou) or (sched.epochs_seg == 0 and last_of_run)
        meta = {
            "epoch": epoch + 1,
            "stage": stage,
            "val": {k: float(v) for k, v in row.items() if k.startswith("val_")},
            "recipe": recipe_to_dict(recipe),
            "data": {"root": str(data_root), "format": dataset.format},
        }
        if improved:
            best_miou = miou if not math.isnan(miou) else best_miou
            best_epoch = epoch + 1
            _atomic_save(files.best, model, meta)
        _atomic_save(files.last, model, {
            **meta, "completed_epochs": epoch + 1, "optimizer": optimizer.state_dict(),
            "optimizer_stage": trainable, "best_miou": best_miou, "best_epoch": best_epoch,
        })
        log.append(row)
        plot_curves(log.rows, files.curves, epochs_dlm=sched.epochs_dlm, p_set_epoch=p_set_epoch,
                    title=f"{recipe.model} on {Path(data_root).name}")
        logger.info(
            "epoch %d/%d %s train_loss %.4f val_loss %.4f val_mIoU %s val_loc_iou %.3f %.1fs%s",
            epoch + 1, total_epochs, stage, train_loss, row["val_loss"],
            "-" if math.isnan(miou) else f"{miou:.4f}", row["val_loc_iou"], row["seconds"],
            " (best)" if improved else "",
        )
        events.epoch_end(row, improved=improved)

    if not files.best.is_file():
        raise EdgeInspectError(f"{files.best}: no best checkpoint was written (no stage-2 epoch ran)")
    run.note(f"best checkpoint: epoch {best_epoch} (val mIoU {best_miou:.4f})" if best_miou > -math.inf
             else f"best checkpoint: epoch {best_epoch}")
    _test(run, parts, recipe)
    return files.best


def _test(run: _Run, parts: dict[str, Any], recipe: Recipe) -> None:
    """Score best.pt on the test split at native resolution → test.json."""
    import json

    from edgeinspect.models import load_checkpoint

    split, indices = parts["test"]
    if not indices:
        run.note("test split is empty: no test.json written")
        return
    model, _ = load_checkpoint(run.files.best)
    run.events.task("testing", len(indices))
    report = evaluate_model(model, split, indices=indices, threshold=recipe.eval.threshold, batch=recipe.eval.batch,
                            bit_depth=recipe.data.bit_depth, on_image=run.events.advance)
    result = report.to_json() | {"split": "test", "skipped": len(split.skipped)}  # the keys of `eval --json`
    run.files.test.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    run.note(
        f"test ({report.images} images): mIoU {result['mIoU']:.4f} mPA {result['mPA']:.4f} dice {result['dice']:.4f} "
        f"defects found {result['defects']['found']}/{result['defects']['truth']} → {run.files.test}"
    )
