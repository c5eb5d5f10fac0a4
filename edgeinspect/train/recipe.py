"""Training recipes: one YAML per seed network → a frozen, validated :class:`Recipe`.

A recipe holds every number of a training run (LPC-Net paper values by default). The bundled ones live
in ``edgeinspect/train/recipes/<model>.yaml``; a user file (``--recipe``) has the same keys, and any key
can be overridden as ``section.key=value`` (``--set optim.lr=1e-4``). Every problem is a
:class:`~edgeinspect.errors.ConfigError` naming the file (or ``--set``) and the dotted key::

    recipe = load_recipe("lpcnet-lite")
    recipe = apply_overrides(recipe, {"schedule.epochs_dlm": "2"}, source="--set")

Sections ``optim``, ``data``, ``augment``, ``eval`` are the same for every network; ``schedule`` and
``loss`` are those of the model's training family (:mod:`edgeinspect.train.families`, chosen by the
``model`` key): a key of another family is an unknown key.

LPC-Net schedule: stage 1 trains the DLM for ``schedule.epochs_dlm`` epochs, stage 2 the segmentation
network for ``schedule.epochs_seg`` epochs with the PCM term switched on from stage-2 epoch
``schedule.p_set`` (0-based, so ``p_set == epochs_seg`` never switches it on). :func:`scale_schedule`
shrinks the paper schedule (100 + 300 epochs, p_set 250) for CPU runs; for the other families it
scales their stage epochs (``--epochs N``).
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml

from edgeinspect.errors import ConfigError
from edgeinspect.train.families import (
    Family,
    FAMILIES,
    LPCNetLoss,
    LPCNetSchedule,
    family_of,
    trainable_models,
)

#: LPC-Net's section classes under their historical names.
ScheduleCfg = LPCNetSchedule
LossCfg = LPCNetLoss

__all__ = [
    "AugmentCfg",
    "DataCfg",
    "EvalCfg",
    "LossCfg",
    "OptimCfg",
    "Recipe",
    "ScheduleCfg",
    "apply_overrides",
    "bundled_recipes",
    "key_sources",
    "load_recipe",
    "parse_overrides",
    "resolve_recipe",
    "recipe_from_dict",
    "recipe_to_dict",
    "save_recipe",
    "scale_schedule",
    "source_of",
]

RECIPE_DIR = Path(__file__).parent / "recipes"
PAPER_SCHEDULE = (100, 300, 250)  # epochs_dlm, epochs_seg, p_set (LPC-Net, Sensors 2025)


@dataclass(frozen=True, slots=True)
class OptimCfg:
    """Optimizer and learning-rate curve (the same for every stage; each stage gets a fresh optimizer).

    Attributes:
        name: ``"adam"`` or ``"sgd"``.
        lr: (peak) learning rate, > 0.
        betas: Adam betas, each in [0, 1) (Adam only).
        momentum: SGD momentum, in [0, 1) (SGD only).
        weight_decay: L2 weight decay, >= 0.
        batch: images per batch, >= 1.
        lr_schedule: ``"none"`` (constant ``lr``) or ``"cosine"`` (per batch from ``lr`` down to
            ``lr_min`` over each stage).
        lr_min: the cosine's end value, in [0, lr].
        warmup_epochs: per-batch linear warm-up from ~0 to ``lr`` at the start of each stage, epochs
            (not scaled by ``--epochs``; at most half of a stage), >= 0.
    """

    name: str = "adam"
    lr: float = 1e-3
    betas: tuple[float, float] = (0.5, 0.999)
    momentum: float = 0.9
    weight_decay: float = 1e-4
    batch: int = 16
    lr_schedule: str = "none"
    lr_min: float = 0.0
    warmup_epochs: int = 0


@dataclass(frozen=True, slots=True)
class DataCfg:
    """Data loading.

    Attributes:
        input_hw: network input (height, width) in px; None = the model's ``default_cfg["input_size"]``.
        split: train:val:test ratios given to ``Dataset.split``, each >= 1.
        max_images: cap per split (quick runs); None = all.
        workers: DataLoader worker processes (0 = load in the main process).
        cache: keep resized samples and their rectangle labels in memory after the first epoch.
        bit_depth: bits of uint16 images (scaled by ``255 / (2**bits - 1)``); None = 12 when the image's
            maximum is < 4096, else 16. uint8 images are never scaled.
    """

    input_hw: tuple[int, int] | None = None
    split: tuple[int, int, int] = (3, 1, 1)
    max_images: int | None = None
    workers: int = 0
    cache: bool = True
    bit_depth: int | None = None


@dataclass(frozen=True, slots=True)
class AugmentCfg:
    """Training-split augmentation (val/test are never augmented).

    Attributes:
        enabled: master switch.
        flip_h: random left-right flip, p = 0.5.
        flip_v: random up-down flip, p = 0.5.
        brightness: max additive shift as a fraction of 255, in [0, 1].
        contrast: max relative gain change about the image mean, in [0, 1).
    """

    enabled: bool = True
    flip_h: bool = True
    flip_v: bool = True
    brightness: float = 0.1
    contrast: float = 0.1


@dataclass(frozen=True, slots=True)
class EvalCfg:
    """Validation / test settings.

    Attributes:
        threshold: defect pixel = prob >= threshold, in (0, 1).
        batch: images per inference batch, >= 1.
    """

    threshold: float = 0.5
    batch: int = 16


@dataclass(frozen=True, slots=True)
class Recipe:
    """Everything a training run needs besides the data and the output folder.

    Attributes:
        model: registered model name (``edgeinspect.models.list_models()``).
        model_kwargs: extra keyword arguments for ``create_model``.
        seed: seeds torch, numpy, the split and the batch order.
    """

    model: str = "lpcnet"
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    schedule: Any = LPCNetSchedule()  # the family's schedule class (edgeinspect.train.families)
    optim: OptimCfg = OptimCfg()
    loss: Any = LPCNetLoss()          # the family's loss class
    data: DataCfg = DataCfg()
    augment: AugmentCfg = AugmentCfg()
    eval: EvalCfg = EvalCfg()

    @property
    def total_epochs(self) -> int:
        """Epochs of all stages (LPC-Net: stage 1 + stage 2)."""
        return sum(epochs for _, epochs in self.schedule.stages())

    @property
    def family(self) -> Family:
        """The training family of ``model`` (:mod:`edgeinspect.train.families`)."""
        family = family_of(self.model)
        assert family is not None  # recipe_from_dict checked it
        return family


_DEFAULT_MODEL = next(f.default for f in dataclasses.fields(Recipe) if f.name == "model")

# ----------------------------------------------------------------------------------------------- checks
# (section.key) -> (predicate, what it must be). Types are checked from the dataclass annotations.
_CHECKS: dict[str, tuple[typing.Callable[[Any], bool], str]] = {
    "model": (lambda v: bool(v.strip()), "a registered model name"),
    "seed": (lambda v: v >= 0, ">= 0"),
    "schedule.epochs_dlm": (lambda v: v >= 0, ">= 0"),
    "schedule.epochs_seg": (lambda v: v >= 0, ">= 0"),
    "schedule.p_set": (lambda v: v >= 0, ">= 0"),
    "schedule.epochs_cls": (lambda v: v >= 0, ">= 0"),
    "schedule.epochs": (lambda v: v >= 0, ">= 0"),
    "optim.name": (lambda v: v in ("adam", "sgd"), "adam or sgd"),
    "optim.lr": (lambda v: v > 0, "> 0"),
    "optim.betas": (lambda v: all(0 <= b < 1 for b in v), "two values in [0, 1)"),
    "optim.momentum": (lambda v: 0 <= v < 1, "in [0, 1)"),
    "optim.weight_decay": (lambda v: v >= 0, ">= 0"),
    "optim.batch": (lambda v: v >= 1, ">= 1"),
    "optim.lr_schedule": (lambda v: v in ("none", "cosine"), "none or cosine"),
    "optim.lr_min": (lambda v: v >= 0, ">= 0"),
    "optim.warmup_epochs": (lambda v: v >= 0, ">= 0"),
    "loss.omega": (lambda v: 0 <= v < 1, "in [0, 1)"),
    "loss.lambda_img": (lambda v: v >= 0, ">= 0"),
    "loss.lambda_pcm": (lambda v: v >= 0, ">= 0"),
    "loss.lambda_area": (lambda v: v >= 0, ">= 0"),
    "loss.lambda_seg": (lambda v: v >= 0, ">= 0"),
    "loss.lambda_loc": (lambda v: v >= 0, ">= 0"),
    "loss.lambda_diff": (lambda v: v >= 0, ">= 0"),
    "loss.bce_weight": (lambda v: v >= 0, ">= 0"),
    "loss.diff_eps": (lambda v: v > 0, "> 0"),
    "loss.alpha": (lambda v: 0 <= v <= 1, "in [0, 1]"),
    "loss.gamma": (lambda v: v >= 0, ">= 0"),
    "loss.lambda_start": (lambda v: v >= 0, ">= 0"),
    "loss.lambda_end": (lambda v: v >= 0, ">= 0"),
    "data.input_hw": (lambda v: v is None or all(s >= 8 for s in v), "null or two sizes >= 8 px"),
    "data.split": (lambda v: all(r >= 1 for r in v), "three ratios >= 1 (train, val, test)"),
    "data.max_images": (lambda v: v is None or v >= 1, "null or >= 1"),
    "data.workers": (lambda v: v >= 0, ">= 0"),
    "data.bit_depth": (lambda v: v is None or v in (8, 10, 12, 14, 16), "null or one of 8, 10, 12, 14, 16"),
    "augment.brightness": (lambda v: 0 <= v <= 1, "in [0, 1]"),
    "augment.contrast": (lambda v: 0 <= v < 1, "in [0, 1)"),
    "eval.threshold": (lambda v: 0 < v < 1, "in (0, 1)"),
    "eval.batch": (lambda v: v >= 1, ">= 1"),
}


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp))
    if origin is tuple:
        args = typing.get_args(tp)
        return f"a list of {len(args)} {_type_name(args[0])}s"
    if origin is dict:
        return "a mapping"
    return {int: "integer", float: "number", bool: "true/false", str: "string", type(None): "null"}.get(tp, str(tp))


def _convert(value: Any, tp: Any, key: str, source: str) -> Any:
    """Check ``value`` (from YAML) against the annotation ``tp``; return it in the dataclass's type."""

    def bad() -> ConfigError:
        return ConfigError(f"{source}: key '{key}' must be {_type_name(tp)}, got {value!r}")

    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(value, arg, key, source)
            except ConfigError:
                pass
        raise bad()
    if origin is tuple:
        args = typing.get_args(tp)
        if not isinstance(value, (list, tuple)) or len(value) != len(args):
            raise bad()
        return tuple(_convert(v, a, key, source) for v, a in zip(value, args))
    if origin is dict:
        if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
            raise bad()
        return dict(value)
    if tp is bool:
        if not isinstance(value, bool):
            raise bad()
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad()
        return value
    if tp is float:
        if isinstance(value, str):  # YAML 1.1 reads '1e-3' (no dot) as a string
            try:
                return float(value)
            except ValueError:
                raise bad() from None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad()
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise bad()
        return value
    raise TypeError(f"unsupported recipe field type {tp!r}")  # a bug in this module, not user input


def _unknown_key(key: str, valid: list[str], source: str) -> ConfigError:
    close = difflib.get_close_matches(key, valid, n=1, cutoff=0.6)
    if not close:  # right name, wrong section: 'lr' or 'schedule.lr' → 'optim.lr'
        tail = key.rsplit(".", 1)[-1]
        close = [v for v in valid if v.rsplit(".", 1)[-1] == tail][:1]
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return ConfigError(f"{source}: unknown key '{key}'{hint}; valid keys: {', '.join(valid)}")


def _leaf_keys(data: Mapping[str, Any], prefix: str = "") -> list[str]:
    """Dotted keys of a recipe dict (``model_kwargs`` counts as one leaf)."""
    keys: list[str] = []
    for name, value in data.items():
        if isinstance(value, dict) and name != "model_kwargs":
            keys += _leaf_keys(value, f"{prefix}{name}.")
        else:
            keys.append(f"{prefix}{name}")
    return keys


def _build(cls: type, data: Any, prefix: str, source: str, sections: Mapping[str, type] | None = None) -> Any:
    """Build dataclass ``cls`` from ``data``; ``sections`` gives the classes of fields annotated ``Any``."""
    if not isinstance(data, Mapping):
        where = f"key '{prefix.rstrip('.')}'" if prefix else "the recipe"
        raise ConfigError(f"{source}: {where} must be a mapping of keys to values, got {data!r}")
    hints = {**typing.get_type_hints(cls), **(sections or {})}
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in data:
        if key not in fields:
            raise _unknown_key(f"{prefix}{key}", [f"{prefix}{name}" for name in fields], source)
    values: dict[str, Any] = {}
    for name, tp in hints.items():
        if name not in data:
            continue
        key = f"{prefix}{name}"
        if dataclasses.is_dataclass(tp):
            values[name] = _build(tp, data[name], f"{key}.", source)
            continue
        value = _convert(data[name], tp, key, source)
        check = _CHECKS.get(key)
        if check is not None and not check[0](value):
            raise ConfigError(f"{source}: key '{key}' must be {check[1]}, got {data[name]!r}")
        values[name] = value
    return cls(**values)


def recipe_from_dict(data: Mapping[str, Any], source: str = "recipe") -> Recipe:
    """Build and validate a :class:`Recipe`; missing keys take the paper defaults.

    Args:
        data: the parsed YAML mapping (sections ``schedule``, ``optim``, ``loss``, ``data``, ``augment``,
            ``eval`` plus ``model``, ``model_kwargs``, ``seed``).
        source: the file (or ``--set``) named in error messages.

    Raises:
        ConfigError: an unknown key, a wrong type or an out-of-range value (names the key and ``source``).
    """
    if not isinstance(data, Mapping):
        raise ConfigError(f"{source}: the recipe must be a mapping of keys to values, got {data!r}")
    model = data.get("model", _DEFAULT_MODEL)
    family = family_of(model) if isinstance(model, str) else FAMILIES["lpcnet"]  # a bad type: _build names it
    if isinstance(model, str) and model.strip() and family is None:
        raise ConfigError(
            f"{source}: key 'model': unknown model {model!r} for training: choose one of {', '.join(trainable_models())}"
        )
    family = family or FAMILIES["lpcnet"]  # an empty model name: _build's check names the key
    sections = {"schedule": family.schedule, "loss": family.loss}
    try:
        recipe = _build(Recipe, data, "", source, sections)
    except ConfigError as error:
        if any(f"unknown key '{name}." in str(error) for name in sections):
            raise ConfigError(f"{error} (the schedule and loss keys of a {family.name} recipe)") from None
        raise
    defaults = {name: cls() for name, cls in sections.items() if name not in data}
    if defaults:  # sections left out take the family's defaults, not LPC-Net's
        recipe = dataclasses.replace(recipe, **defaults)
    problem = recipe.schedule.check()
    if problem is not None:
        raise ConfigError(f"{source}: key '{problem[0]}' must be {problem[1]}")
    if recipe.optim.lr_min > recipe.optim.lr:
        raise ConfigError(f"{source}: key 'optim.lr_min' must be <= optim.lr ({recipe.optim.lr:g}), got {recipe.optim.lr_min:g}")
    return recipe


def recipe_to_dict(recipe: Recipe) -> dict[str, Any]:
    """Plain YAML-able dict (tuples as lists) of a recipe."""

    def plain(value: Any) -> Any:
        if isinstance(value, tuple):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value

    return {k: plain(v) for k, v in dataclasses.asdict(recipe).items()}


def save_recipe(recipe: Recipe, path: Path) -> Path:
    """Write the effective recipe as YAML (loadable with :func:`load_recipe`)."""
    path = Path(path)
    path.write_text(yaml.safe_dump(recipe_to_dict(recipe), sort_keys=False), encoding="utf-8")
    return path


def bundled_recipes() -> list[str]:
    """Names of the recipes shipped in ``edgeinspect/train/recipes/``."""
    return sorted(p.stem for p in RECIPE_DIR.glob("*.yaml"))


def load_recipe(name_or_path: str | Path) -> Recipe:
    """Load a bundled recipe by model name (``"lpcnet-lite"``) or a YAML file by path.

    Raises:
        ConfigError: the file is missing or not YAML, or a key is wrong (names the file and key).
    """
    path = Path(name_or_path)
    if not path.suffix and not path.exists():
        bundled = RECIPE_DIR / f"{name_or_path}.yaml"
        if not bundled.is_file():
            raise ConfigError(
                f"no bundled recipe for model '{name_or_path}': choose one of {', '.join(bundled_recipes())} "
                "or pass --recipe FILE.yaml"
            )
        path = bundled
    if not path.is_file():
        raise ConfigError(f"{path}: recipe file not found: check the path given to --recipe")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ConfigError(f"{path}: not valid YAML ({first}): fix the file") from None
    if data is None:
        data = {}
    return recipe_from_dict(data, source=str(path))


def parse_overrides(items: list[str] | tuple[str, ...], source: str = "--set") -> dict[str, str]:
    """``["optim.lr=1e-4", ...]`` → ``{"optim.lr": "1e-4"}``; values stay strings for :func:`apply_overrides`."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{source}: '{item}' must be KEY=VALUE, e.g. optim.lr=1e-4")
        out[key.strip()] = value.strip()
    return out


def apply_overrides(recipe: Recipe, overrides: Mapping[str, Any], source: str = "--set") -> Recipe:
    """Return a new recipe with dotted keys replaced.

    Args:
        recipe: the base recipe.
        overrides: ``{"section.key": value}``; string values are parsed as YAML (``"1e-4"`` → 1e-4,
            ``"[128, 128]"`` → list, ``"null"`` → None).
        source: named in error messages (``--set``, ``command line``).

    Raises:
        ConfigError: unknown key or invalid value, naming the key and ``source``.
    """
    data = recipe_to_dict(recipe)
    leaves = _leaf_keys(data)
    for key, raw in overrides.items():
        value = raw
        if isinstance(raw, str):
            try:
                value = yaml.safe_load(raw) if raw != "" else ""
            except yaml.YAMLError:
                value = raw
        parts = key.split(".")
        if parts[0] == "model_kwargs" and len(parts) > 1:  # free-form: any keyword of create_model
            node = data["model_kwargs"]
            for part in parts[1:-1]:
                node = node.setdefault(part, {})
            node[parts[-1]] = value
            continue
        if key not in leaves:
            raise _unknown_key(key, leaves, source)
        node = data
        for part in parts[:-1]:
            node = node[part]
        node[parts[-1]] = value
    try:
        return recipe_from_dict(data, source=source)
    except ConfigError as error:
        # a key left as it was can be what an override put out of range (epochs_seg=0 below p_set 250)
        named = re.match(r"[^:]*: key '([^']+)'", str(error))
        changed = [key for key in overrides if named and key != named[1] and key.split(".")[0] == named[1].split(".")[0]]
        if named and named[1] not in overrides and changed:
            raise ConfigError(f"{error}; {source} changed {', '.join(changed)}: set {named[1]} too") from None
        raise


def scale_schedule(
    recipe: Recipe,
    *,
    epochs: int | None = None,
    epochs_dlm: int | None = None,
    epochs_seg: int | None = None,
    p_set: int | None = None,
) -> Recipe:
    """Shrink (or grow) the two-stage schedule for a CPU run.

    ``epochs=N`` splits N total epochs in the recipe's proportions (paper: 100:300, p_set at 250/300 of
    stage 2): ``epochs_dlm = max(1, round(N·dlm/total))``, ``epochs_seg = N - epochs_dlm`` and
    ``p_set = round(epochs_seg·p_set/epochs_seg_recipe)``, kept below ``epochs_seg`` when stage 2 has at
    least 2 epochs so the PCM phase is never scaled away. ``--epochs 8`` → 2 + 6, p_set 5.

    Explicit ``epochs_dlm`` / ``epochs_seg`` / ``p_set`` set those values; when ``epochs_seg`` is given
    without ``p_set``, ``p_set`` is scaled in the recipe's proportion the same way.

    Other families (PSIC-Net, LSA-Net, AnomalySeg) take ``epochs`` only: their schedule's
    ``scaled(epochs)`` (PSIC-Net splits it in the recipe's seg:cls proportion, one-stage nets train
    ``epochs`` epochs); their ``optim.warmup_epochs`` is kept as is.

    Raises:
        ConfigError: ``epochs`` combined with the explicit counts, LPC-Net counts for another family,
            or counts out of range.
    """
    sched = recipe.schedule
    if not isinstance(sched, LPCNetSchedule):
        if any(v is not None for v in (epochs_dlm, epochs_seg, p_set)):
            keys = ", ".join(f"schedule.{f.name}" for f in dataclasses.fields(sched))
            raise ConfigError(
                f"--epochs-dlm/--epochs-seg/--p-set are LPC-Net options: for model {recipe.model} use --epochs N "
                f"or --set ({keys})"
            )
        if epochs is None:
            return recipe
        if epochs < 1:
            raise ConfigError(f"--epochs must be >= 1, got {epochs}")
        if recipe.total_epochs == 0:
            raise ConfigError("--epochs cannot scale a recipe with 0 epochs: set the schedule with --set schedule.<key>=N")
        scaled = dataclasses.asdict(sched.scaled(epochs))
        return apply_overrides(recipe, {f"schedule.{k}": v for k, v in scaled.items()}, source="--epochs")
    if epochs is not None:
        if any(v is not None for v in (epochs_dlm, epochs_seg)):
            raise ConfigError("--epochs scales the whole schedule: use it alone, or --epochs-dlm/--epochs-seg/--p-set")
        if epochs < 1:
            raise ConfigError(f"--epochs must be >= 1, got {epochs}")
        total = sched.epochs_dlm + sched.epochs_seg
        if total == 0:
            raise ConfigError("--epochs cannot scale a recipe with 0 epochs: use --epochs-dlm/--epochs-seg")
        epochs_dlm = round(epochs * sched.epochs_dlm / total)
        if sched.epochs_dlm > 0 and epochs >= 2:
            epochs_dlm = min(max(1, epochs_dlm), epochs - 1)
        epochs_seg = epochs - epochs_dlm
    new_dlm = sched.epochs_dlm if epochs_dlm is None else epochs_dlm
    new_seg = sched.epochs_seg if epochs_seg is None else epochs_seg
    if p_set is None:
        if epochs_seg is not None and sched.epochs_seg > 0:
            p_set = round(new_seg * sched.p_set / sched.epochs_seg)
            if sched.p_set < sched.epochs_seg and new_seg >= 2:
                p_set = min(p_set, new_seg - 1)
        else:
            p_set = min(sched.p_set, new_seg)
    return apply_overrides(
        recipe,
        {"schedule.epochs_dlm": new_dlm, "schedule.epochs_seg": new_seg, "schedule.p_set": p_set},
        source="command line",
    )


def resolve_recipe(
    *,
    model: str | None = None,
    recipe_path: Path | None = None,
    run_recipe: Path | None = None,
    set_items: list[str] | tuple[str, ...] = (),
    options: Mapping[str, tuple[str, Any]] | None = None,
    epochs: int | None = None,
    epochs_dlm: int | None = None,
    epochs_seg: int | None = None,
    p_set: int | None = None,
) -> Recipe:
    """The effective recipe of ``edgeinspect train``, built in this order:

    1. the base: ``recipe_path`` (``--recipe``) if given; else ``run_recipe`` (the ``recipe.yaml`` of the
       run being resumed) when it exists and no ``model`` is given; else the bundled recipe of ``model``
       (default ``lpcnet-lite``);
    2. ``model`` replaces the base's ``model`` key (with ``--recipe``);
    3. ``set_items`` (``--set section.key=value``);
    4. ``options``: named command-line options, ``{"--batch": ("optim.batch", 8)}``; None values skipped,
       errors name the option;
    5. the schedule: :func:`scale_schedule` with ``epochs`` / ``epochs_dlm`` / ``epochs_seg`` / ``p_set``.

    Raises:
        ConfigError: from any step, naming the file, ``--set`` or the option.
    """
    recipe = load_recipe(_base_recipe(model, recipe_path, run_recipe))
    if recipe_path is not None and model is not None:
        recipe = apply_overrides(recipe, {"model": model}, source="--model")
    if set_items:
        recipe = apply_overrides(recipe, parse_overrides(list(set_items)), source="--set")
    for flag, (key, value) in (options or {}).items():
        if value is not None:
            recipe = apply_overrides(recipe, {key: value}, source=flag)
    if any(v is not None for v in (epochs, epochs_dlm, epochs_seg, p_set)):
        recipe = scale_schedule(recipe, epochs=epochs, epochs_dlm=epochs_dlm, epochs_seg=epochs_seg, p_set=p_set)
    return recipe


def _base_recipe(model: str | None, recipe_path: Path | None, run_recipe: Path | None) -> Path | str:
    """Step 1 of :func:`resolve_recipe`: the recipe file, or the bundled recipe's model name."""
    if recipe_path is not None:
        return Path(recipe_path)
    if model is None and run_recipe is not None and Path(run_recipe).is_file():
        return Path(run_recipe)
    return model or "lpcnet-lite"


def key_sources(
    *,
    model: str | None = None,
    recipe_path: Path | None = None,
    run_recipe: Path | None = None,
    set_items: list[str] | tuple[str, ...] = (),
) -> dict[str, str]:
    """Where :func:`resolve_recipe` (same arguments) took the recipe's keys from, for error messages.

    Returns:
        ``{"": base recipe file, "<dotted key>": "--set", ...}``: ``""`` is the base (the ``--recipe``
        file, the resumed run's ``recipe.yaml`` or the bundled file), each key given to ``--set`` maps
        to ``"--set"``. Look a key up with :func:`source_of`.
    """
    base = _base_recipe(model, recipe_path, run_recipe)
    if not isinstance(base, Path):
        base = RECIPE_DIR / f"{base}.yaml"
    sources = {"": str(base)}
    for item in set_items:
        key = item.partition("=")[0].strip()
        if key:
            sources[key] = "--set"
    return sources


def source_of(sources: Mapping[str, str] | None, key: str) -> str:
    """The source of dotted ``key`` in :func:`key_sources`: its own, its nearest parent's, else the base's
    (``"recipe"`` without ``sources``)."""
    sources = sources or {}
    parts = key.split(".")
    for end in range(len(parts), 0, -1):
        found = sources.get(".".join(parts[:end]))
        if found is not None:
            return found
    return sources.get("", "recipe")
