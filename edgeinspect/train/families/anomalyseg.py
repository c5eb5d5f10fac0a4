"""AnomalySeg family (Song et al., Electronics 2024): one stage on ``Dice + λ·Focal``.

λ falls linearly from ``loss.lambda_start`` to ``loss.lambda_end`` with the stage's progress,
epoch by epoch (:func:`focal_weight`; the paper says only that λ decays from 1). The warm-up and
cosine learning rate are the recipe's ``optim`` section (``warmup_epochs``, ``lr_schedule: cosine``,
``lr_min``), applied per batch by the loop.
"""

from __future__ import annotations

from edgeinspect.train.families.base import FamilyTrainer, StepContext
from edgeinspect.train.losses_zoo import anomalyseg_loss, focal_lambda

__all__ = ["AnomalySegTrainer", "TRAINER", "focal_weight"]


def focal_weight(ctx: StepContext) -> float:
    """λ of this epoch: :func:`focal_lambda` over the stage's epochs, or from the time fraction when a
    time budget ends the stage sooner (``ctx.progress``), whichever is further along."""
    cfg = ctx.recipe.loss
    by_epoch = focal_lambda(min(ctx.stage_epoch, max(ctx.stage_epochs - 1, 0)), max(ctx.stage_epochs, 1),
                            start=cfg.lambda_start, end=cfg.lambda_end)
    by_progress = cfg.lambda_start + (cfg.lambda_end - cfg.lambda_start) * min(max(ctx.progress, 0.0), 1.0)
    if cfg.lambda_end <= cfg.lambda_start:
        return min(by_epoch, by_progress)
    return max(by_epoch, by_progress)


class AnomalySegTrainer(FamilyTrainer):
    """AnomalySeg's single stage."""

    name = "anomalyseg"

    def batch_loss(self, model, batch, ctx: StepContext):
        cfg = ctx.recipe.loss
        out = model.forward_train(batch["image"])
        loss, _ = anomalyseg_loss(out["seg_logits"], batch["mask"], lam=focal_weight(ctx), alpha=cfg.alpha,
                                  gamma=cfg.gamma)
        return loss, out


TRAINER = AnomalySegTrainer()
