"""What a training family tells the loop (needs torch): the per-batch loss and a few stage rules.

The loop (:mod:`edgeinspect.train.loop`) owns everything shared: data, optimizer (``optim.name``),
learning-rate curve, freezing of the other stages, validation, checkpoints, the time budget. A family
module ``edgeinspect.train.families.<name>`` defines ``TRAINER = <FamilyTrainer subclass>()`` with
:meth:`FamilyTrainer.batch_loss` and overrides whichever rule differs from the defaults below.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from edgeinspect.errors import ConfigError

__all__ = ["FamilyTrainer", "StepContext"]


@dataclass(frozen=True, slots=True)
class StepContext:
    """Where a batch sits in the run.

    Attributes:
        recipe: the effective :class:`~edgeinspect.train.recipe.Recipe`.
        stage: the model stage being trained (``"dlm"``, ``"seg"``, ``"cls"``, ``"net"``).
        epoch: 0-based global epoch.
        stage_epoch: 0-based epoch within ``stage``.
        stage_epochs: epochs of ``stage`` in the schedule.
        progress: fraction of ``stage`` done at the start of this epoch, in [0, 1] (with a time
            budget: the larger of the epoch and the time fraction).
        validating: True on the val split (no gradients; the family adds the inference outputs).
    """

    recipe: Any
    stage: str
    epoch: int
    stage_epoch: int
    stage_epochs: int
    progress: float = 0.0
    validating: bool = False


class FamilyTrainer:
    """Base of the per-family trainers; subclasses set :attr:`name` and write :meth:`batch_loss`."""

    #: family name (``edgeinspect.train.families.FAMILIES`` key).
    name: str = ""
    #: attributes the model must have for this family's loop.
    required: tuple[str, ...] = ("forward_train", "stage_parameters")

    def check_model(self, model: torch.nn.Module, recipe: Any) -> None:
        """Raise :class:`ConfigError` when ``model`` lacks what this family trains through."""
        stages = [s for s, _ in recipe.schedule.stages()]
        needed = self.required + (("freeze_stage",) if len(stages) > 1 else ())
        for attribute in needed:
            if not hasattr(model, attribute):
                raise ConfigError(
                    f"recipe key 'model': {recipe.model} has no {attribute!r}, which the {self.name} training loop needs"
                )

    def label(self, recipe: Any, stage: str, stage_epoch: int) -> str:
        """The ``stage`` column of metrics.csv for this epoch (default: the stage name)."""
        return stage

    def monitor(self, stage: str) -> tuple[str, str] | None:
        """``(metrics column, "max" | "min")`` that picks ``best.pt`` in ``stage``; None: not a candidate."""
        return ("val_mIoU", "max")

    def pixel_metrics(self, stage: str) -> bool:
        """Score the segmentation (``val_mIoU`` ...) on the val split in ``stage``."""
        return True

    def restore_best(self, stage: str) -> bool:
        """Load ``best.pt`` into the model before ``stage`` starts (PSIC-Net's classifier step)."""
        return False

    def notes(self, recipe: Any, stage: str, stage_epoch: int, epoch: int) -> list[str]:
        """Log lines before epoch ``epoch`` (0-based global) starts."""
        return []

    def batch_loss(
        self, model: torch.nn.Module, batch: dict[str, torch.Tensor], ctx: StepContext
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The scalar loss of one batch and the outputs the validation reads.

        Args:
            model: the network.
            batch: ``image`` ``(N,1,H,W)`` in [0, 255], ``mask`` and ``loc`` ``(N,1,H,W)`` in {0, 1}.
            ctx: where the batch sits.

        Returns:
            ``(loss, out)``; with ``ctx.validating``, ``out`` holds ``"prob"`` ``(N,1,H,W)`` (the
            inference probabilities) when :meth:`pixel_metrics`, and may hold ``"loc"`` ``(N,1,H,W)``
            and ``"score"`` ``(N,)`` in [0, 1] (scored against the rectangle and image labels).
        """
        raise NotImplementedError
