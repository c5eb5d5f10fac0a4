"""Training families: which stages a network trains, in which order, with which loss (no torch here).

A *family* groups the registered models trained the same way. Each has

- a ``schedule`` dataclass (the recipe's ``schedule`` section): the epochs of its stages,
  :meth:`stages` (``((stage, epochs), ...)``, in training order; ``stage`` is the name the model's
  ``stage_parameters``/``freeze_stage`` take) and :meth:`scaled` (``--epochs N``);
- a ``loss`` dataclass (the recipe's ``loss`` section): the keyword arguments of its loss;
- a trainer module ``edgeinspect.train.families.<name>`` (torch) with ``TRAINER``, an object with the
  per-batch loss and the few stage rules (:class:`edgeinspect.train.families.base.FamilyTrainer`).

The recipe reads the ``schedule`` and ``loss`` sections with the classes of the family of its
``model`` key, so every bundled recipe keeps the paper's own vocabulary:

================  ====================  ===================================  ==========================================
family            models                schedule                             loss keys
================  ====================  ===================================  ==========================================
``lpcnet``        lpcnet, lpcnet-lite   epochs_dlm, epochs_seg, p_set        omega, lambda_img, lambda_pcm, lambda_area
``psicnet``       psicnet               epochs_seg, epochs_cls               (none)
``lsanet``        lsanet                epochs                               lambda_seg, lambda_loc, ...
``anomalyseg``    anomalyseg            epochs                               alpha, gamma, lambda_start/end
================  ====================  ===================================  ==========================================

Example:
    >>> family_of("lpcnet-lite").name
    'lpcnet'
    >>> PSICSchedule(epochs_seg=100, epochs_cls=50).scaled(6)
    PSICSchedule(epochs_seg=4, epochs_cls=2)
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

__all__ = [
    "AnomalySegLoss",
    "AnomalySegSchedule",
    "FAMILIES",
    "Family",
    "LPCNetLoss",
    "LPCNetSchedule",
    "LSALoss",
    "LSASchedule",
    "PSICLoss",
    "PSICSchedule",
    "family_of",
    "trainer_of",
]


def _split(total: int, weights: tuple[int, ...]) -> tuple[int, ...]:
    """``total`` epochs split in proportion to ``weights``; every stage with a weight > 0 keeps >= 1
    epoch when ``total`` allows it, and the counts sum to ``total``."""
    whole = sum(weights)
    counts = [round(total * w / whole) if whole else 0 for w in weights]
    live = [i for i, w in enumerate(weights) if w > 0]
    if total >= len(live):
        for i in live:
            counts[i] = max(counts[i], 1)
    while sum(counts) > total:  # trim the largest stage (ties: the last one)
        i = max(range(len(counts)), key=lambda k: (counts[k], k))
        counts[i] -= 1
    while sum(counts) < total:
        i = max(live or range(len(counts)), key=lambda k: (weights[k], k))
        counts[i] += 1
    return tuple(counts)


# ------------------------------------------------------------------------------------------- LPC-Net


@dataclass(frozen=True, slots=True)
class LPCNetSchedule:
    """LPC-Net's two-stage schedule, in epochs (Wang et al., Sensors 2025: 100 + 300, p_set 250).

    Attributes:
        epochs_dlm: stage 1 (DLM on ``L_loc``), epochs, >= 0.
        epochs_seg: stage 2 (segmentation on ``L_img`` [+ ``L_pcm``]), epochs, >= 0.
        p_set: stage-2 epoch (0-based) from which the PCM and ``λ2·L_pcm`` are on, ``0..epochs_seg``.
    """

    epochs_dlm: int = 100
    epochs_seg: int = 300
    p_set: int = 250

    def stages(self) -> tuple[tuple[str, int], ...]:
        """``(("dlm", epochs_dlm), ("seg", epochs_seg))``."""
        return (("dlm", self.epochs_dlm), ("seg", self.epochs_seg))

    def check(self) -> tuple[str, str] | None:
        """``(key, what it must be)`` for a cross-key error, else None."""
        if self.p_set > self.epochs_seg:
            return "schedule.p_set", f"<= schedule.epochs_seg ({self.epochs_seg}), got {self.p_set}"
        return None


@dataclass(frozen=True, slots=True)
class LPCNetLoss:
    """LPC-Net loss weights.

    Attributes:
        omega: ω of the compensation map ``M_comp = 1 + ω·Norm[-1,1](Y_loc)``, in [0, 1).
        lambda_img: λ1, weight of ``L_img`` once the PCM is on (before: 1), >= 0.
        lambda_pcm: λ2, weight of ``L_pcm`` once the PCM is on (before: 0), >= 0.
        lambda_area: weight of ``L_area`` in every stage-2 epoch, >= 0; 0 (default) = the paper's
            loss. Not in the paper: the relative error of each true defect's halo probability mass
            against its area (:func:`edgeinspect.train.losses.area_loss`), the area ``run`` reports.
    """

    omega: float = 0.2
    lambda_img: float = 0.8
    lambda_pcm: float = 0.2
    lambda_area: float = 0.0


# ------------------------------------------------------------------------------------------ PSIC-Net


@dataclass(frozen=True, slots=True)
class PSICSchedule:
    """PSIC-Net's two training steps, in epochs (the paper gives no counts: 100 + 50 chosen).

    Attributes:
        epochs_seg: step 1, features + decoder on the class-balanced cross-entropy, >= 0.
        epochs_cls: step 2, the classifier on BCE of the image label, segmentation frozen, >= 0.
    """

    epochs_seg: int = 100
    epochs_cls: int = 50

    def stages(self) -> tuple[tuple[str, int], ...]:
        """``(("seg", epochs_seg), ("cls", epochs_cls))``."""
        return (("seg", self.epochs_seg), ("cls", self.epochs_cls))

    def scaled(self, epochs: int) -> PSICSchedule:
        """``epochs`` split in the recipe's seg:cls proportion, each step >= 1 epoch when ``epochs >= 2``."""
        seg, cls = _split(epochs, (self.epochs_seg, self.epochs_cls))
        return PSICSchedule(seg, cls)

    def check(self) -> tuple[str, str] | None:
        return None


@dataclass(frozen=True, slots=True)
class PSICLoss:
    """PSIC-Net's losses take no hyper-parameters (α = |X−|/|X| is computed per batch)."""


# ------------------------------------------------------------------------------------------- LSA-Net


@dataclass(frozen=True, slots=True)
class SingleStageSchedule:
    """A network trained in one stage, ``"net"`` (LSA-Net, AnomalySeg).

    Attributes:
        epochs: epochs, >= 0.
    """

    epochs: int = 100

    def stages(self) -> tuple[tuple[str, int], ...]:
        """``(("net", epochs),)``."""
        return (("net", self.epochs),)

    def scaled(self, epochs: int) -> SingleStageSchedule:
        return type(self)(epochs)

    def check(self) -> tuple[str, str] | None:
        return None


@dataclass(frozen=True)
class LSASchedule(SingleStageSchedule):
    """LSA-Net trains in one stage (the paper gives no epoch count: 200 chosen)."""

    epochs: int = 200


@dataclass(frozen=True, slots=True)
class LSALoss:
    """LSA-Net loss ``λ_seg·(w·BCE + Dice) + λ_loc·L_loc + λ_diff·L_diff`` (paper: 1.4, 0.4, 0.2, w 0.5).

    Attributes:
        lambda_seg, lambda_loc, lambda_diff: term weights, >= 0.
        bce_weight: ``w``, weight of BCE inside ``L_seg``, >= 0.
        diff_eps: ε in ``L_diff = mean 1/((V1−V2)² + ε)``, > 0 (not in the paper: 1 chosen).
    """

    lambda_seg: float = 1.4
    lambda_loc: float = 0.4
    lambda_diff: float = 0.2
    bce_weight: float = 0.5
    diff_eps: float = 1.0


# ---------------------------------------------------------------------------------------- AnomalySeg


@dataclass(frozen=True)
class AnomalySegSchedule(SingleStageSchedule):
    """AnomalySeg trains in one stage (the paper's epoch count is not given: 100 chosen)."""

    epochs: int = 100


@dataclass(frozen=True, slots=True)
class AnomalySegLoss:
    """AnomalySeg loss ``Dice + λ·Focal``; λ falls linearly from ``lambda_start`` to ``lambda_end`` over the run.

    Attributes:
        alpha: focal α (defect class weight), in [0, 1] (paper: 0.1).
        gamma: focal γ, >= 0 (paper: 2).
        lambda_start: λ at the start, >= 0 (paper: 1).
        lambda_end: λ at the end, >= 0 (the paper says "decays" only: 0 chosen).
    """

    alpha: float = 0.1
    gamma: float = 2.0
    lambda_start: float = 1.0
    lambda_end: float = 0.0


# ------------------------------------------------------------------------------------------ registry


@dataclass(frozen=True, slots=True)
class Family:
    """One way of training: its models, recipe section classes and trainer module.

    Attributes:
        name: family name (also the trainer module ``edgeinspect.train.families.<name>``).
        models: registered model names trained this way.
        schedule: the ``schedule`` section dataclass.
        loss: the ``loss`` section dataclass.
    """

    name: str
    models: tuple[str, ...]
    schedule: type
    loss: type


FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (
        Family("lpcnet", ("lpcnet", "lpcnet-lite"), LPCNetSchedule, LPCNetLoss),
        Family("psicnet", ("psicnet",), PSICSchedule, PSICLoss),
        Family("lsanet", ("lsanet",), LSASchedule, LSALoss),
        Family("anomalyseg", ("anomalyseg",), AnomalySegSchedule, AnomalySegLoss),
    )
}


def trainable_models() -> list[str]:
    """Every model name some family trains, sorted."""
    return sorted(m for f in FAMILIES.values() for m in f.models)


def family_of(model: str) -> Family | None:
    """The family training ``model`` (``_`` or ``-`` spelling), or None."""
    key = model.strip().lower().replace("_", "-")
    for family in FAMILIES.values():
        if key in family.models:
            return family
    return None


def trainer_of(model: str) -> Any:
    """The ``TRAINER`` of ``model``'s family (imports torch).

    Raises:
        KeyError: no family trains ``model``.
    """
    family = family_of(model)
    if family is None:
        raise KeyError(model)
    return importlib.import_module(f"edgeinspect.train.families.{family.name}").TRAINER
