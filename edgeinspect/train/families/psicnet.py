"""PSIC-Net family (Lei et al., Machines 2021): step 1 segmentation, step 2 image classifier, seg frozen.

- ``"seg"`` (``schedule.epochs_seg``): features + decoder on :func:`~edgeinspect.train.losses_zoo.psicnet_seg_loss`,
  the class-balanced cross-entropy with ``α = |X−|/|X|`` computed over each *batch* (per image a
  defect-free image would weigh nothing). ``best.pt`` = best val mIoU.
- ``"cls"`` (``schedule.epochs_cls``): ``best.pt`` of step 1 is loaded first (the paper freezes "the
  trained" segmentation; we take the best one, not the last), the segmentation is frozen (BatchNorm in
  eval mode) and the classifier trains on :func:`~edgeinspect.train.losses_zoo.psicnet_cls_loss` (BCE
  of "the image has a defect"). ``best.pt`` = lowest val classifier loss (val mIoU cannot change).

Validation reports the image-level AP, ROC AUC and accuracy (``score >= eval.threshold``) in step 2.
"""

from __future__ import annotations

from typing import Any

from edgeinspect.train.families.base import FamilyTrainer, StepContext
from edgeinspect.train.losses_zoo import psicnet_cls_loss, psicnet_seg_loss

__all__ = ["PSICNetTrainer", "TRAINER"]


class PSICNetTrainer(FamilyTrainer):
    """PSIC-Net's two steps."""

    name = "psicnet"
    required = ("forward_train", "stage_parameters", "freeze_stage", "classifier")

    def monitor(self, stage: str) -> tuple[str, str] | None:
        return ("val_mIoU", "max") if stage == "seg" else ("val_loss", "min")

    def restore_best(self, stage: str) -> bool:
        return stage == "cls"

    def notes(self, recipe: Any, stage: str, stage_epoch: int, epoch: int) -> list[str]:
        if stage == "cls" and stage_epoch == 0:
            return [f"step 2: image classifier from epoch {epoch + 1} (segmentation of best.pt, frozen)"]
        return []

    def batch_loss(self, model, batch, ctx: StepContext):
        if ctx.stage == "seg":
            out = model.forward_train(batch["image"], stages=("seg",))
            loss, _ = psicnet_seg_loss(out["seg_logits"], batch["mask"])
        else:
            out = model.forward_train(batch["image"], stages=("seg", "cls"))
            loss, _ = psicnet_cls_loss(out["score_logits"], batch["mask"])
        return loss, out   # out["prob"] is the inference probability; out["score"] (step 2) the image score


TRAINER = PSICNetTrainer()
