"""LSA-Net family (Li et al., J. Manuf. Processes): one stage on ``1.4·L_seg + 0.4·L_loc + 0.2·L_diff``.

:func:`~edgeinspect.train.losses_zoo.lsanet_loss` with the recipe's ``loss`` section; ``L_loc`` is
the BCE of the location-attention map against the rectangle labels the data set already computes
for LPC-Net's DLM (``batch["loc"]``). The paper's SGD (momentum 0.9, lr 1e-3, cosine, wd 1e-4,
batch 16) is the bundled recipe's ``optim`` section. Validation also reports the location map's IoU
against the rectangle labels (``val_loc_iou``).
"""

from __future__ import annotations

from edgeinspect.train.families.base import FamilyTrainer, StepContext
from edgeinspect.train.losses_zoo import lsanet_loss

__all__ = ["LSANetTrainer", "TRAINER"]


class LSANetTrainer(FamilyTrainer):
    """LSA-Net's single stage."""

    name = "lsanet"

    def batch_loss(self, model, batch, ctx: StepContext):
        loss_cfg = ctx.recipe.loss
        out = model.forward_train(batch["image"])
        loss, _ = lsanet_loss(
            out, batch["mask"], batch["loc"], lambda_seg=loss_cfg.lambda_seg, lambda_loc=loss_cfg.lambda_loc,
            lambda_diff=loss_cfg.lambda_diff, bce_weight=loss_cfg.bce_weight, diff_eps=loss_cfg.diff_eps,
        )
        return loss, out


TRAINER = LSANetTrainer()
