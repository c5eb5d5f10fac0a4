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

import dataclasses
import hashlib
import logging
import math
import os
import random
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch

from edgeinspect.errors import ConfigError, DataError, EdgeInspectError
from edgeinspect.outputs import make_folder
from edgeinspect.train.curves import MetricsLog, plot_curves
from edgeinspect.train.data import SegmentationSet, make_loader, subset_indices
from edgeinspect.train.evaluate import _SPLIT_OFFSET, evaluate_model, model_input_hw
from edgeinspect.train.families import LPCNetSchedule, trainer_of
from edgeinspect.train.families.base import StepContext
from edgeinspect.train.families.lpcnet import stage_loss
from edgeinspect.train.losses import LossWeights, loss_weights
from edgeinspect.train.recipe import OptimCfg, Recipe, recipe_from_dict, recipe_to_dict, save_recipe, source_of

__all__ = ["RunFiles", "TrainEvents", "build_model", "learning_rate", "make_optimizer", "stage_loss", "stage_of", "train"]

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
    """LPC-Net: stage label and stage-2 loss weights of a 0-based global epoch.

    Returns:
        ``("dlm", None)``, ``("seg", weights)`` or ``("seg+pcm", weights)`` (PCM on from ``p_set``).
    """
    if epoch < recipe.schedule.epochs_dlm:
        return "dlm", None
    weights = loss_weights(epoch - recipe.schedule.epochs_dlm, recipe.schedule, recipe.loss)
    return ("seg+pcm" if weights.pcm_on else "seg"), weights


def build_model(recipe: Recipe, *, sources: Mapping[str, str] | None = None) -> torch.nn.Module:
    """``create_model(recipe.model, input_size=recipe.data.input_hw, **recipe.model_kwargs)``.

    Args:
        recipe: the effective recipe.
        sources: where the recipe's keys came from (:func:`~edgeinspect.train.recipe.key_sources`),
            named in the errors; None = "recipe".

    Raises:
        ConfigError: unknown model, ``input_size`` given twice, a ``model_kwargs`` value the model cannot
            be built with (names the key, its source and the constructor's reason), or a model without
            its family's training API.
    """
    from edgeinspect.models import create_model
    from edgeinspect.models.registry import ModelOptionError

    kwargs = dict(recipe.model_kwargs)
    if recipe.data.input_hw is not None:
        if "input_size" in kwargs:
            raise ConfigError("recipe sets both data.input_hw and model_kwargs.input_size: keep only data.input_hw")
        kwargs["input_size"] = tuple(recipe.data.input_hw)
    try:
        model = create_model(recipe.model, **kwargs)
    except ModelOptionError as error:
        if recipe.data.input_hw is not None and error.option == "input_size":
            height, width = recipe.data.input_hw
            raise ConfigError(f"recipe key 'data.input_hw' (--size) {height}x{width}: {error}") from None
        raise _model_kwargs_error(recipe, sources, error.option, error.reason, "cannot be built") from None
    except EdgeInspectError as error:
        if recipe.data.input_hw is not None and "input_size" in str(error):
            height, width = recipe.data.input_hw
            raise ConfigError(f"recipe key 'data.input_hw' (--size) {height}x{width}: {error}") from None
        raise ConfigError(f"recipe key 'model'/'model_kwargs': {error}") from None
    trainer_of(recipe.model).check_model(model, recipe)
    return model


def _model_kwargs_error(recipe: Recipe, sources: Mapping[str, str] | None, option: str | None, reason: str,
                        what: str) -> ConfigError:
    """``"<source>: key 'model_kwargs.<option>' = <value>: <model> <what> with it (<reason>)"`` (all of
    ``model_kwargs`` when ``option`` is None or not one of its keys)."""
    if option in recipe.model_kwargs:
        key = f"model_kwargs.{option}"
        return ConfigError(f"{source_of(sources, key)}: key '{key}' = {recipe.model_kwargs[option]!r}: "
                           f"{recipe.model} {what} with it ({reason}): fix or drop the key")
    return ConfigError(f"{source_of(sources, 'model_kwargs')}: key 'model_kwargs' = {recipe.model_kwargs!r}: "
                       f"{recipe.model} {what} with these options ({reason}): fix or drop them")


def _single_value_norms(model: torch.nn.Module, recipe: Recipe, input_hw: tuple[int, int],
                        stages: list[str]) -> list[tuple[str, str]]:
    """``(stage, module name)`` of each BatchNorm trained in one of ``stages`` that normalises a single
    value per channel of an image (a 1×1 map, e.g. after a global pooling): training it needs batches of
    >= 2 images (torch refuses a batch of 1).

    Runs the family's batch loss once per stage on a blank ``(1,1,H,W)`` batch (``input_hw`` in px), in
    eval mode without gradients: weights, BatchNorm statistics and the random state are untouched. In a
    multi-stage schedule the other stages are frozen (BatchNorm in eval mode) and do not count.

    Raises:
        ValueError, TypeError, RuntimeError: the forward pass fails (e.g. a bad ``model_kwargs`` value).
    """
    trainer = trainer_of(recipe.model)
    all_stages = [stage for stage, _ in recipe.schedule.stages()]
    names = {m: n for n, m in model.named_modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)}
    seen: set[torch.nn.Module] = set()

    def hook(module: torch.nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
        if math.prod(inputs[0].shape[2:]) == 1:  # N·H·W values per channel at N = 1
            seen.add(module)

    handles = [m.register_forward_pre_hook(hook) for m in names]
    blank = torch.zeros(1, 1, *input_hw)
    batch = {"image": blank, "mask": blank, "loc": blank, "index": torch.zeros(1, dtype=torch.int64)}
    found: list[tuple[str, str]] = []
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            for stage in stages:
                seen.clear()
                trainer.batch_loss(model, batch, StepContext(recipe, stage, 0, 0, 1))
                frozen = {m for other in all_stages if other != stage and len(all_stages) > 1
                          for m in model.stage_module(other).modules()}
                found += [(stage, name) for m, name in names.items() if m in seen and m not in frozen]
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    return found


def _min_batch(model: torch.nn.Module, recipe: Recipe, input_hw: tuple[int, int], stages: list[str],
               sources: Mapping[str, str] | None) -> tuple[int, str]:
    """Smallest training batch the model takes, and why: ``(2, "<model> at HxW trains on ...")`` or ``(1, "")``.

    Raises:
        ConfigError: the model fails on a blank batch and ``model_kwargs`` are set (names the key).
    """
    try:
        single = _single_value_norms(model, recipe, input_hw, stages)
    except (ValueError, TypeError, RuntimeError) as error:
        if not recipe.model_kwargs:
            raise  # the defaults fail: a bug of the network
        from edgeinspect.models.registry import first_line

        reason = first_line(error)
        height, width = input_hw
        raise _model_kwargs_error(recipe, sources, _failing_kwarg(recipe, input_hw, stages, reason), reason,
                                  f"fails on a {height}x{width} image") from None
    if not single:
        return 1, ""
    stage, name = single[0]
    height, width = input_hw
    return 2, (f"{recipe.model} at {height}x{width} trains on batches of >= 2 images (BatchNorm '{name}' of "
               f"stage {stage} normalises one value per channel of an image)")


def _failing_kwarg(recipe: Recipe, input_hw: tuple[int, int], stages: list[str], reason: str) -> str | None:
    """The ``model_kwargs`` key that alone makes the blank-batch forward fail with ``reason``, or None."""
    from edgeinspect.models.registry import culprit_option

    def error_of(alone_kwargs: dict[str, Any]) -> BaseException | None:
        alone = dataclasses.replace(recipe, model_kwargs=alone_kwargs)
        try:
            _single_value_norms(build_model(alone), alone, input_hw, stages)
        except (ValueError, TypeError, RuntimeError) as error:
            return error
        except EdgeInspectError:
            return None  # fails to build alone: not the forward failure looked for
        return None

    return culprit_option(dict(recipe.model_kwargs), reason, error_of, fallback=False)


def _check_batch(recipe: Recipe, min_batch: int, why: str) -> None:
    """Refuse ``optim.batch`` below what the model trains on (``why`` says which BatchNorm needs it)."""
    if recipe.optim.batch < min_batch:
        raise ConfigError(f"recipe key 'optim.batch' (--batch) {recipe.optim.batch}: {why}: "
                          f"set --batch {min_batch} or more")


def _check_train_split(recipe: Recipe, data_root: Path, dataset, parts: dict[str, Any], min_batch: int,
                       why: str) -> None:
    """Refuse a train split smaller than one batch the model can train on (``_split_sets`` refused empty ones).

    Raises:
        ConfigError: ``data.max_images`` caps the split below ``min_batch`` images.
        DataError: the folder's samples give a smaller train split (names the folder).
    """
    split, indices = parts["train"]
    if len(indices) >= min_batch:
        return
    if len(split) >= min_batch:
        raise ConfigError(f"recipe key 'data.max_images' (--max-images) {recipe.data.max_images}: {why}: "
                          f"set it to {min_batch} or more")
    images = f"{len(indices)} image" + ("s" if len(indices) != 1 else "")
    dropped = len(split.skipped) - len(dataset.skipped)  # undecodable ones --skip-bad took out of this split
    after = f" after skipping {dropped} undecodable" if dropped else ""
    raise DataError(
        f"{data_root}: {len(dataset)} samples give a train split of {images}{after} at ratios "
        f"{':'.join(str(v) for v in recipe.data.split)}, but {why}: add samples or change data.split"
    )


def make_optimizer(parameters, optim: OptimCfg) -> torch.optim.Optimizer:
    """``torch.optim.Adam`` (``betas``) or ``SGD`` (``momentum``) with ``optim.lr`` and ``weight_decay``."""
    if optim.name == "sgd":
        return torch.optim.SGD(parameters, lr=optim.lr, momentum=optim.momentum, weight_decay=optim.weight_decay)
    return torch.optim.Adam(parameters, lr=optim.lr, betas=tuple(optim.betas), weight_decay=optim.weight_decay)


def learning_rate(optim: OptimCfg, progress: float, *, warmup: float = 0.0, step: float = 0.0) -> float:
    """Learning rate at ``progress`` through a stage.

    Args:
        optim: ``lr``, ``lr_schedule`` ("none" | "cosine"), ``lr_min``.
        progress: fraction of the stage done before this batch, in [0, 1].
        warmup: fraction of the stage spent warming up linearly (0 = none), in [0, 1).
        step: one batch as a fraction of the stage (the first warm-up batch runs at ``lr·step/warmup``).

    Returns:
        the learning rate: ``lr·(progress + step)/warmup`` during the warm-up; then ``lr`` ("none") or
        ``lr_min + (lr − lr_min)·(1 + cos(π·q))/2`` with ``q`` the post-warm-up progress ("cosine").
    """
    progress = min(max(progress, 0.0), 1.0)
    if warmup > 0 and progress < warmup:
        return optim.lr * min(1.0, (progress + step) / warmup)
    if optim.lr_schedule == "cosine":
        q = (progress - warmup) / (1.0 - warmup) if warmup < 1 else 1.0
        return optim.lr_min + (optim.lr - optim.lr_min) * 0.5 * (1.0 + math.cos(math.pi * min(q, 1.0)))
    return optim.lr


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


def data_fingerprint(dataset) -> str:
    """Hex digest of a dataset's sample labels and names (not their pixels, not the folder's path).

    Two folders with the same samples (a copied or moved dataset) give the same fingerprint; a
    sample added, removed or renamed changes it, and with it every split.
    """
    digest = hashlib.blake2b(digest_size=16)
    for label, name in sorted((entry.label, entry.name) for entry in dataset.entries):
        digest.update(f"{label}\0{name}\n".encode())
    return digest.hexdigest()


def _check_same_data(saved: dict, dataset, data_root: Path, path: Path) -> None:
    """A resumed run trains on the samples it started on (its splits and best epoch depend on them)."""
    fingerprint = saved.get("fingerprint")
    if fingerprint is None or fingerprint == data_fingerprint(dataset):
        return  # same samples (or a run saved before fingerprints were kept)
    raise ConfigError(
        f"{path}: cannot resume on --data {data_root} ({len(dataset)} samples): the run trained on "
        f"{saved.get('root')} ({saved.get('samples')} samples, other names); pass that --data or start a new --out"
    )


@dataclass(slots=True)
class _StageClock:
    """Batches and (with a time budget) the deadline of the stage being trained."""

    stage_epochs: int
    batches_per_epoch: int
    warmup: float
    started: float
    deadline: float | None

    def progress(self, stage_epoch: int, batch: int) -> float:
        total = max(self.stage_epochs * self.batches_per_epoch, 1)
        done = (stage_epoch * self.batches_per_epoch + batch) / total
        if self.deadline is not None and self.deadline > self.started:
            done = max(done, (time.perf_counter() - self.started) / (self.deadline - self.started))
        return min(done, 1.0)

    def step(self) -> float:
        return 1.0 / max(self.stage_epochs * self.batches_per_epoch, 1)

    def expired(self) -> bool:
        return self.deadline is not None and time.perf_counter() >= self.deadline


class _Run:
    """State of one training run (kept out of :func:`train` to keep it readable)."""

    def __init__(self, recipe: Recipe, files: RunFiles, events: TrainEvents, logger: logging.Logger) -> None:
        self.recipe = recipe
        self.files = files
        self.events = events
        self.logger = logger
        self.trainer = trainer_of(recipe.model)

    def note(self, text: str) -> None:
        self.logger.info(text)
        self.events.message(text)

    # -- one epoch --------------------------------------------------------------------------------

    def train_epoch(self, model, optimizer, data: SegmentationSet, ctx: StepContext, label: str,
                    clock: _StageClock) -> tuple[float, bool]:
        """One epoch (or fewer batches when the time budget runs out). Returns (mean loss, stopped early)."""
        r = self.recipe
        loader = make_loader(data, batch=r.optim.batch, shuffle=True, seed=r.seed, epoch=ctx.epoch, workers=r.data.workers)
        self.events.epoch_start(epoch=ctx.epoch + 1, stage=label, batches=len(loader))
        model.train()
        total, count = 0.0, 0
        stopped = False
        scheduled = r.optim.lr_schedule != "none" or clock.warmup > 0
        for index, batch in enumerate(loader):
            if scheduled:
                lr = learning_rate(r.optim, clock.progress(ctx.stage_epoch, index), warmup=clock.warmup,
                                   step=clock.step())
                for group in optimizer.param_groups:
                    group["lr"] = lr
            loss = self.trainer.batch_loss(model, batch, ctx)[0]
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            value = float(loss.detach())
            if not math.isfinite(value):
                raise EdgeInspectError(
                    f"training diverged at epoch {ctx.epoch + 1} (loss {value}): lower the learning rate (--lr)"
                )
            total += value * len(batch["image"])
            count += len(batch["image"])
            self.events.advance(loss=value)
            if clock.expired() and index + 1 < len(loader):
                stopped = True
                break
        return total / max(count, 1), stopped

    def validate(self, model, data: SegmentationSet, ctx: StepContext) -> dict[str, float]:
        from edgeinspect.metrics import (
            MaskEvaluator,
            average_precision,
            confusion_matrix,
            roc_auc,
            scores_from_confusion,
        )

        r = self.recipe
        loader = make_loader(data, batch=r.eval.batch, shuffle=False, seed=r.seed, epoch=ctx.epoch, workers=r.data.workers)
        self.events.task("validating", len(data))
        evaluator = MaskEvaluator(threshold=r.eval.threshold, defects=False) if self.trainer.pixel_metrics(ctx.stage) else None
        loc_cm = np.zeros((2, 2), dtype=np.int64)
        has_loc = False
        scores: list[float] = []
        labels: list[bool] = []
        total, count = 0.0, 0
        model.eval()
        with torch.no_grad():
            for batch in loader:
                loss, out = self.trainer.batch_loss(model, batch, ctx)
                total += float(loss) * len(batch["image"])
                count += len(batch["image"])
                if evaluator is not None:
                    for p, m in zip(out["prob"][:, 0].numpy(), batch["mask"][:, 0].numpy()):
                        evaluator.update(p, m > 0.5)
                if out.get("loc") is not None:
                    has_loc = True
                    loc = out["loc"][:, 0].numpy() >= 0.5
                    for p, m in zip(loc, batch["loc"][:, 0].numpy() > 0.5):
                        loc_cm += confusion_matrix(p, m)
                if out.get("score") is not None:
                    scores += out["score"].reshape(-1).tolist()
                    labels += (batch["mask"].flatten(1).amax(dim=1) > 0.5).tolist()
                for _ in range(len(batch["image"])):
                    self.events.advance()
        row: dict[str, float] = {"val_loss": total / max(count, 1)}
        if has_loc:
            row["val_loc_iou"] = scores_from_confusion(loc_cm)["iou"]
        if evaluator is not None:
            report = evaluator.report()
            row.update(val_mIoU=report.mIoU, val_mPA=report.mPA, val_mIoU80=report.mIoU80, val_dice=report.dice,
                       val_iou=report.iou, val_pixel_acc=report.pixel_acc)
        if scores:
            hits = [(s >= r.eval.threshold) == y for s, y in zip(scores, labels)]
            row.update(val_image_ap=average_precision(scores, labels), val_image_auc=roc_auc(scores, labels),
                       val_image_acc=float(np.mean(hits)))
        return row


def _split_sets(recipe: Recipe, data_root: Path, format: str, skip_bad: bool, check_index=None):
    from edgeinspect.data.datasets import open_dataset

    # every sample decoded once now: a damaged file fails (or, with skip_bad, is dropped) before the
    # first epoch, not in the validation after it with a run half written. With skip_bad each split
    # drops its own bad samples after splitting: dropping them before would give other splits than
    # `eval --checkpoint` makes of the same folder. `check_index(dataset)` looks at the index first
    # (a resume on other samples is refused before every image is read).
    dataset = open_dataset(Path(data_root), format, skip_bad=skip_bad)
    if check_index is not None:
        check_index(dataset)
    if not skip_bad:
        dataset = dataset.verify()
    ratios = tuple(float(v) for v in recipe.data.split)
    parts = {}
    for name in ("train", "val", "test"):
        split = dataset.split(name, ratios=ratios, seed=recipe.seed)
        if skip_bad:
            split = split.verify(skip_bad=True)
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
    max_minutes: float | None = None,
    events: TrainEvents | None = None,
    sources: Mapping[str, str] | None = None,
) -> Path:
    """Train a network of any training family on a dataset folder; write the run folder; return ``best.pt``.

    Args:
        recipe: the effective recipe (already scaled/overridden).
        data_root: dataset folder (``open_dataset`` layouts: mt, kolektor, aitex, pairs).
        out_dir: the run folder; created. Must not hold a run unless ``resume``.
        format: dataset layout or ``"auto"``.
        resume: continue from ``out_dir/last.pt`` (same data, model, seed, split; the schedule may grow).
        skip_bad: skip unreadable samples instead of failing.
        max_minutes: wall-clock budget in minutes for the epochs (data loading and the final test
            excluded); None = none. It is shared among the stages in proportion to their epochs (time
            a stage leaves unused passes on); a stage whose share is spent stops after the current
            batch (every stage runs at least one batch), is validated and checkpointed, and the next
            stage starts. Learning-rate curves and λ decays then follow the time fraction.
        events: progress callbacks (default: none).
        sources: where the recipe's keys came from (:func:`~edgeinspect.train.recipe.key_sources`), named
            in errors about ``model_kwargs``; None = "recipe".

    Returns:
        path of ``best.pt``.

    Raises:
        ConfigError: bad recipe for this model (a ``model_kwargs`` value it cannot be built or run with;
            ``optim.batch`` 1 for a model with a BatchNorm on a 1×1 map, which trains on batches of >= 2
            images), resume mismatch, or an existing run without ``resume``.
        DataError: unreadable dataset, empty train/val split, or a train split smaller than the model's
            smallest batch.
    """
    events = events or TrainEvents()
    files = RunFiles(Path(out_dir))
    if max_minutes is not None and not max_minutes > 0:
        raise ConfigError(f"--max-minutes must be > 0, got {max_minutes}")
    if resume and not files.last.is_file():
        raise ConfigError(f"{files.last}: nothing to resume (no last.pt): drop --resume to start this run")
    if not Path(data_root).is_dir():
        what = "is a file, not a dataset folder" if Path(data_root).exists() else "dataset folder not found"
        raise DataError(f"{data_root}: {what} (--data)")
    if not resume and files.last.exists():
        raise ConfigError(f"{files.root}: already holds a run (last.pt): pass --resume to continue it or choose a new --out")
    make_folder(files.root)
    logger, handler = _logger(files.log, append=resume)
    try:
        return _train(recipe, Path(data_root), files, format, resume, skip_bad, events, logger, max_minutes, sources)
    except EdgeInspectError as error:
        logger.info("error: %s", error)
        raise
    finally:
        logger.removeHandler(handler)
        handler.close()


def _epoch_plan(recipe: Recipe) -> list[tuple[int, str, int, int]]:
    """``(global epoch, stage, stage epoch, stage epochs)`` for every epoch of the schedule, in order."""
    plan, epoch = [], 0
    for stage, epochs in recipe.schedule.stages():
        for stage_epoch in range(epochs):
            plan.append((epoch, stage, stage_epoch, epochs))
            epoch += 1
    return plan


def _schedule_text(recipe: Recipe) -> str:
    sched = recipe.schedule
    if isinstance(sched, LPCNetSchedule):
        return (f"schedule dlm {sched.epochs_dlm} + seg {sched.epochs_seg} epochs, "
                f"PCM from seg epoch {sched.p_set}")
    stages = " + ".join(f"{stage} {epochs}" for stage, epochs in sched.stages())
    o = recipe.optim
    curve = f"{o.lr_schedule} lr {o.lr:g}" + (f"→{o.lr_min:g}" if o.lr_schedule == "cosine" else "")
    warm = f", warm-up {o.warmup_epochs} epoch(s)" if o.warmup_epochs else ""
    return f"schedule {stages} epochs, {o.name} {curve}{warm}"


def _train(recipe, data_root, files, format, resume, skip_bad, events, logger, max_minutes, sources) -> Path:
    from edgeinspect.models.checkpoint import read_checkpoint

    run = _Run(recipe, files, events, logger)
    trainer = run.trainer
    stages = recipe.schedule.stages()
    total_epochs = recipe.total_epochs
    if total_epochs == 0:
        raise ConfigError("the schedule has 0 epochs: set --epochs (or the recipe's schedule section)")

    state: dict[str, Any] = {}
    if resume:
        checkpoint = read_checkpoint(files.last)
        state = dict(checkpoint.get("extra") or {})
        _check_resumable(state.get("recipe") or {}, recipe, files.last)
    done = int(state.get("completed_epochs", 0))

    _seed_all(recipe.seed)
    model = build_model(recipe, sources=sources)
    input_hw = model_input_hw(model)
    plan = _epoch_plan(recipe)
    to_train = list(dict.fromkeys(stage for epoch, stage, _, _ in plan if epoch >= done))
    min_batch, why = _min_batch(model, recipe, input_hw, to_train, sources)
    _check_batch(recipe, min_batch, why)
    if resume:
        model.load_state_dict(checkpoint["state_dict"])

    def same_data(index) -> None:
        _check_same_data(state.get("data") or {}, index, data_root, files.last)

    dataset, parts = _split_sets(recipe, data_root, format, skip_bad, check_index=same_data if resume else None)
    save_recipe(recipe, files.recipe)
    _check_train_split(recipe, data_root, dataset, parts, min_batch, why)
    counts = {name: len(idx) for name, (_, idx) in parts.items()}
    skipped = sorted(set().union(*(split.skipped for split, _ in parts.values())))
    run.note(
        f"{'resume' if resume else 'train'} {recipe.model} {input_hw[0]}x{input_hw[1]} on {data_root} "
        f"({dataset.format}, train {counts['train']} / val {counts['val']} / test {counts['test']} images); "
        f"{_schedule_text(recipe)}; seed {recipe.seed}"
        + (f"; {len(skipped)} bad sample(s) skipped, first: {skipped[0]}" if skipped else "")
        + (f"; time budget {max_minutes:g} min" if max_minutes else "")
        + (f"; continuing after epoch {done}" if resume else "")
    )
    common = dict(input_hw=input_hw, seed=recipe.seed, cache=recipe.data.cache, bit_depth=recipe.data.bit_depth)
    train_set = SegmentationSet(parts["train"][0], indices=parts["train"][1], augment=recipe.augment, **common)
    val_set = SegmentationSet(parts["val"][0], indices=parts["val"][1], augment=None, **common)
    if recipe.data.cache and done < total_epochs:
        events.task("loading", len(train_set) + len(val_set))
        train_set.preload(events.advance)
        val_set.preload(events.advance)

    log = MetricsLog(files.metrics, keep_epochs=done if resume else None)
    best_value = float(state.get("best_value", state.get("best_miou", -math.inf)))
    best_metric = state.get("best_metric", "val_mIoU")
    best_epoch = int(state.get("best_epoch", 0))
    monitored_any = any(trainer.monitor(stage) is not None and epochs > 0 for stage, epochs in stages)
    marks = _curve_marks(recipe, trainer)
    events.run_start(total_epochs=total_epochs, done_epochs=done)

    # time budget: stage k must end by start + budget · (epochs up to the end of k) / (epochs to run)
    started = time.perf_counter()
    ends = {}
    cumulative = 0
    for stage, epochs in stages:
        cumulative += epochs
        ends[stage] = cumulative
    budget_s = 60.0 * max_minutes if max_minutes else None

    def deadline(stage: str) -> float | None:
        if budget_s is None:
            return None
        return started + budget_s * max(ends[stage] - done, 0) / max(total_epochs - done, 1)

    optimizer, optimizer_stage, clock = None, None, None
    skip_stage: str | None = None
    last_epoch = plan[-1][0]
    for epoch, stage, stage_epoch, stage_epochs in plan:
        if epoch < done or stage == skip_stage:
            continue
        if optimizer_stage != stage:
            if trainer.restore_best(stage) and stage_epoch == 0 and files.best.is_file():
                model.load_state_dict(read_checkpoint(files.best)["state_dict"])
            if len(stages) > 1:
                for other, _ in stages:
                    if other != stage:
                        model.freeze_stage(other)
                model.freeze_stage(stage, False)
            optimizer = make_optimizer(model.stage_parameters(stage), recipe.optim)
            if state.get("optimizer") is not None and state.get("optimizer_stage") == stage and epoch == done:
                optimizer.load_state_dict(_optimizer_state(state["optimizer"]))
            optimizer_stage = stage
            warmup = min(recipe.optim.warmup_epochs / stage_epochs, 0.5) if recipe.optim.warmup_epochs else 0.0
            batches = max(len(make_loader(train_set, batch=recipe.optim.batch, shuffle=True, seed=recipe.seed,
                                          epoch=epoch, workers=0)), 1)
            clock = _StageClock(stage_epochs, batches, warmup, time.perf_counter(), deadline(stage))
            monitor = trainer.monitor(stage)
            if monitor is not None and monitor[0] != best_metric:  # a new selection metric: a new best
                best_metric, best_value = monitor[0], -math.inf
        for line in trainer.notes(recipe, stage, stage_epoch, epoch):
            run.note(line)
        label = trainer.label(recipe, stage, stage_epoch)
        ctx = StepContext(recipe, stage, epoch, stage_epoch, stage_epochs, progress=clock.progress(stage_epoch, 0))
        torch.manual_seed(_epoch_seed(recipe.seed, epoch))
        t0 = time.perf_counter()
        train_loss, stopped = run.train_epoch(model, optimizer, train_set, ctx, label, clock)
        row = {"epoch": epoch + 1, "stage": label, "train_loss": train_loss}
        row.update(run.validate(model, val_set, dataclasses.replace(ctx, validating=True)))
        row["lr"] = optimizer.param_groups[0]["lr"]
        row["seconds"] = time.perf_counter() - t0

        out_of_time = stopped or clock.expired()
        last_of_run = epoch == last_epoch or (out_of_time and ends[stage] == total_epochs)
        monitor = trainer.monitor(stage)
        improved = False
        if monitor is not None:
            value = row.get(monitor[0], math.nan)
            score = value if monitor[1] == "max" else -value
            improved = not math.isnan(score) and score > best_value
            if improved:
                best_value = score
        elif not monitored_any and last_of_run:
            improved = True
        meta = {
            "epoch": epoch + 1,
            "stage": label,
            "val": {k: float(v) for k, v in row.items() if k.startswith("val_")},
            "recipe": recipe_to_dict(recipe),
            "data": {"root": str(data_root), "format": dataset.format, "samples": len(dataset),
                     "fingerprint": data_fingerprint(dataset)},
        }
        if improved:
            best_epoch = epoch + 1
            _atomic_save(files.best, model, meta)
        _atomic_save(files.last, model, {
            **meta, "completed_epochs": epoch + 1, "optimizer": optimizer.state_dict(),
            "optimizer_stage": stage, "best_miou": best_value if best_metric == "val_mIoU" else -math.inf,
            "best_value": best_value, "best_metric": best_metric, "best_epoch": best_epoch,
        })
        log.append(row)
        plot_curves(log.rows, files.curves, marks=marks, title=f"{recipe.model} on {Path(data_root).name}")
        miou = row.get("val_mIoU", math.nan)
        loc_iou = row.get("val_loc_iou", math.nan)
        logger.info(
            "epoch %d/%d %s train_loss %.4f val_loss %.4f val_mIoU %s val_loc_iou %s%s %.1fs%s",
            epoch + 1, total_epochs, label, train_loss, row["val_loss"],
            "-" if math.isnan(miou) else f"{miou:.4f}", "-" if math.isnan(loc_iou) else f"{loc_iou:.3f}",
            f" val_image_ap {row['val_image_ap']:.4f}" if not math.isnan(row.get("val_image_ap", math.nan)) else "",
            row["seconds"], " (best)" if improved else "",
        )
        events.epoch_end(row, improved=improved)
        if out_of_time and stage_epoch + 1 < stage_epochs:
            run.note(f"time budget: stage {stage} stops after epoch {epoch + 1} "
                     f"({stage_epoch + 1} of {stage_epochs} epochs{', the last one partly' if stopped else ''})")
            skip_stage = stage

    if not files.best.is_file():
        if budget_s is None:
            raise EdgeInspectError(f"{files.best}: no best checkpoint was written (no stage-2 epoch ran)")
        shutil.copyfile(files.last, files.best)  # the budget ran out before a candidate epoch: keep the last one
    if best_metric == "val_mIoU" and best_value > -math.inf:
        run.note(f"best checkpoint: epoch {best_epoch} (val mIoU {best_value:.4f})")
    elif best_value > -math.inf:
        shown = -best_value if best_metric == "val_loss" else best_value
        run.note(f"best checkpoint: epoch {best_epoch} ({best_metric.replace('_', ' ')} {shown:.4f})")
    else:
        run.note(f"best checkpoint: epoch {best_epoch}")
    _test(run, parts, recipe)
    return files.best


def _curve_marks(recipe: Recipe, trainer) -> list[tuple[float, str, str]]:
    """Vertical lines of curves.png: stage boundaries and LPC-Net's PCM switch ``(x, label, style)``."""
    marks: list[tuple[float, str, str]] = []
    stages = recipe.schedule.stages()
    epoch = 0
    for (stage, epochs), (nxt, _) in zip(stages, stages[1:]):
        epoch += epochs
        if epochs > 0:
            marks.append((epoch + 0.5, f"{stage} | {nxt}", "stage"))
    sched = recipe.schedule
    if isinstance(sched, LPCNetSchedule):
        marks = [(sched.epochs_dlm + 0.5, "stage 1 | stage 2", "stage")] if sched.epochs_dlm > 0 else []
        if sched.p_set < sched.epochs_seg:
            marks.append((sched.epochs_dlm + sched.p_set + 1 - 0.5, "p_set (PCM on)", "switch"))
    return marks


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
    image = ""
    if report.image_score == "score":
        image = f" image AP {result['image_ap'] or float('nan'):.4f} acc {result['image_acc']:.4f}"
    run.note(
        f"test ({report.images} images): mIoU {result['mIoU']:.4f} mPA {result['mPA']:.4f} dice {result['dice']:.4f}"
        f"{image} defects found {result['defects']['found']}/{result['defects']['truth']} → {run.files.test}"
    )
