"""LPC-Net family (lpcnet, lpcnet-lite): stage 1 DLM on ``L_loc``, stage 2 segmentation (+ PCM from p_set).

Losses in :mod:`edgeinspect.train.losses`; the DLM is frozen in stage 2 and gives ``M_comp``
(computed without gradients). Stage 1 epochs are never ``best.pt`` candidates (unless the run has
no stage 2); validation reports the DLM IoU against the rectangle labels in both stages.
"""

from __future__ import annotations

from typing import Any

import torch

from edgeinspect.train.families.base import FamilyTrainer, StepContext
from edgeinspect.train.losses import LossWeights, loc_loss, loss_weights, segmentation_loss

__all__ = ["LPCNetTrainer", "TRAINER", "stage_loss"]


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
        stage: ``"dlm"`` → ``L_loc``; ``"seg"`` / ``"seg+pcm"`` → ``weights.img·L_img [+ weights.pcm·L_pcm]
            [+ weights.area·L_area]`` with ``M_comp`` from the DLM run without gradients.
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
    prob = None
    if weights.area > 0:  # L_area is about the probabilities run measures: the PCM's output
        prob = out["prob"] if weights.pcm_on else model.pcm(out["prob_isr"])
    total, _ = segmentation_loss(out["seg_logits"], batch["mask"], m_comp, weights, m_ipc=out["m_ipc"],
                                 m_ipc_truth=truth, prob=prob)
    out["loc"] = loc
    return total, out


class LPCNetTrainer(FamilyTrainer):
    """LPC-Net's two stages (Wang et al., Sensors 2025)."""

    name = "lpcnet"
    required = ("forward_train", "stage_parameters", "freeze_stage", "pcm", "dlm")

    def weights(self, recipe: Any, stage: str, stage_epoch: int) -> LossWeights | None:
        """Stage-2 loss weights of a stage-2 epoch (None in stage 1)."""
        return None if stage == "dlm" else loss_weights(stage_epoch, recipe.schedule, recipe.loss)

    def label(self, recipe: Any, stage: str, stage_epoch: int) -> str:
        weights = self.weights(recipe, stage, stage_epoch)
        return "dlm" if weights is None else ("seg+pcm" if weights.pcm_on else "seg")

    def monitor(self, stage: str) -> tuple[str, str] | None:
        return None if stage == "dlm" else ("val_mIoU", "max")

    def pixel_metrics(self, stage: str) -> bool:
        return stage != "dlm"

    def notes(self, recipe: Any, stage: str, stage_epoch: int, epoch: int) -> list[str]:
        lines = []
        if stage == "seg" and stage_epoch == 0:
            lines.append(f"stage 2: segmentation from epoch {epoch + 1} (DLM frozen)")
        weights = self.weights(recipe, stage, stage_epoch)
        if weights is not None and weights.pcm_on and stage_epoch == recipe.schedule.p_set:
            lines.append(f"PCM on from epoch {epoch + 1}: loss = {weights.img:g}·L_img + {weights.pcm:g}·L_pcm")
        return lines

    def batch_loss(self, model, batch, ctx: StepContext):
        weights = self.weights(ctx.recipe, ctx.stage, ctx.stage_epoch)
        stage = self.label(ctx.recipe, ctx.stage, ctx.stage_epoch)
        loss, out = stage_loss(model, batch, stage, weights, omega=ctx.recipe.loss.omega)
        if ctx.validating and stage != "dlm":
            out["prob"] = model.pcm(out["prob_isr"])  # inference form: PCM always on, = model(x).prob
        return loss, out


TRAINER = LPCNetTrainer()
