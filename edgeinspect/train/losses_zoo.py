"""Losses of the other three seed networks (PSIC-Net, LSA-Net, AnomalySeg), as pure functions.

Every ``<model>_loss`` returns ``(total, parts)`` like :func:`edgeinspect.train.losses.segmentation_loss`:
a scalar tensor to back-propagate and a dict of the unweighted terms as floats (for the curves). Its
keyword arguments are the recipe's ``loss`` section (paper values as defaults).

- PSIC-Net (Lei et al., Machines 2021), two steps:
  step 1 :func:`psicnet_seg_loss`: class-balanced per-pixel cross-entropy
  ``L = mean_pixels[-α·y·log p - (1-α)·(1-y)·log(1-p)]`` with ``α = |X−|/|X|``, the share of
  defect-free pixels in the *batch* (:func:`psicnet_alpha`; per image, a defect-free image would get
  weight 0 on all its pixels). A batch without any defect pixel has ``α = 1`` and loss 0: it only
  teaches the classifier. Step 2 :func:`psicnet_cls_loss`: BCE of the image-level logit against
  ``image_labels(mask)`` (defect present), with the segmentation frozen.
- LSA-Net (Li et al., J. Manuf. Processes): :func:`lsanet_loss`
  ``= 1.4·L_seg + 0.4·L_loc + 0.2·L_diff`` with ``L_seg = 0.5·BCE + Dice``, ``L_loc`` = BCE of the
  location-attention logits against rectangle labels
  (:func:`edgeinspect.models.labels.rectangle_labels`, the same labels LPC-Net's DLM uses) and
  ``L_diff = mean 1/((V1 − V2)² + ε)`` (:func:`feature_difference_loss`, ε = 1).
- AnomalySeg (Song et al., Electronics 2024): :func:`anomalyseg_loss` ``= Dice + λ·Focal``
  (α = 0.1, γ = 2) with λ decaying from 1 over training (:func:`focal_lambda`).

Dice here is the soft Dice over the whole batch, ``1 - (2Σpy + s)/(Σp + Σy + s)`` with ``s = 1``
(:func:`dice_loss`): one score per batch, so defect-free images neither divide by zero nor dominate.

Example:
    >>> out = model.forward_train(x)                               # lsanet
    >>> total, parts = lsanet_loss(out, mask, loc_labels)          # parts: seg, bce, dice, loc, diff
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from edgeinspect.train.losses import loc_loss

__all__ = [
    "anomalyseg_loss",
    "dice_loss",
    "feature_difference_loss",
    "focal_lambda",
    "focal_loss",
    "image_labels",
    "lsanet_loss",
    "psicnet_alpha",
    "psicnet_cls_loss",
    "psicnet_seg_loss",
]


# ------------------------------------------------------------------------------------------ shared


def dice_loss(logits: Tensor, target: Tensor, *, smooth: float = 1.0) -> Tensor:
    """Soft Dice loss over the whole batch.

    Args:
        logits: ``(N,1,H,W)`` float32 segmentation logits.
        target: ``(N,1,H,W)`` float32 truth in {0, 1}.
        smooth: ``s`` added to numerator and denominator, > 0.

    Returns:
        scalar tensor in [0, 1): ``1 - (2Σ p·y + s) / (Σ p + Σ y + s)``, ``p = sigmoid(logits)``.
    """
    prob = torch.sigmoid(logits)
    target = target.to(prob.dtype)
    inter = (prob * target).sum()
    return 1.0 - (2.0 * inter + smooth) / (prob.sum() + target.sum() + smooth)


def image_labels(mask: Tensor) -> Tensor:
    """``(N,1,H,W)`` mask → ``(N,)`` float32 image labels: 1 where any pixel is a defect, else 0."""
    return (mask.flatten(1) > 0.5).any(dim=1).to(torch.float32)


# ----------------------------------------------------------------------------------------- PSIC-Net


def psicnet_alpha(mask: Tensor) -> Tensor:
    """``α = |X−| / |X|``: the fraction of defect-free pixels in the batch (no gradient).

    Args:
        mask: ``(N,1,H,W)`` truth in {0, 1}.

    Returns:
        scalar float32 tensor in [0, 1].
    """
    return (mask.detach() <= 0.5).to(torch.float32).mean()


def psicnet_seg_loss(seg_logits: Tensor, mask: Tensor) -> tuple[Tensor, dict[str, float]]:
    """PSIC-Net step 1: class-balanced per-pixel cross-entropy (α per batch).

    Defect pixels are weighted ``α``, background pixels ``1 - α``; the mean is over all pixels.

    Args:
        seg_logits: ``(N,1,H,W)`` float32 logits (``forward_train(x)["seg_logits"]``).
        mask: ``(N,1,H,W)`` float32 truth in {0, 1}.

    Returns:
        ``(total, {"seg": float, "alpha": float})``.
    """
    target = mask.to(seg_logits.dtype)
    alpha = psicnet_alpha(mask).to(seg_logits.dtype)
    weight = alpha * target + (1.0 - alpha) * (1.0 - target)
    loss = F.binary_cross_entropy_with_logits(seg_logits, target, weight=weight)
    return loss, {"seg": float(loss.detach()), "alpha": float(alpha)}


def psicnet_cls_loss(score_logits: Tensor, mask: Tensor) -> tuple[Tensor, dict[str, float]]:
    """PSIC-Net step 2: BCE of the image-level logit against "the image has a defect".

    Args:
        score_logits: ``(N,)`` float32 logits (``forward_train(x, stages=("seg", "cls"))["score_logits"]``).
        mask: ``(N,1,H,W)`` truth in {0, 1} (its image labels are :func:`image_labels`), or the
            ``(N,)`` image labels themselves.

    Returns:
        ``(total, {"cls": float})``.
    """
    labels = image_labels(mask) if mask.ndim > 1 else mask.to(torch.float32)
    loss = F.binary_cross_entropy_with_logits(score_logits, labels.to(score_logits.dtype))
    return loss, {"cls": float(loss.detach())}


# ------------------------------------------------------------------------------------------ LSA-Net


def feature_difference_loss(v1: Tensor, v2: Tensor, *, eps: float = 1.0) -> Tensor:
    """LSA-Net ``L_diff = mean 1/((V1 − V2)² + ε)``: small when the two shape branches differ.

    Args:
        v1: ``(N,C,h,w)`` SPPM features (``forward_train(x)["v1"]``).
        v2: ``(N,C,h,w)`` LSPM features (``["v2"]``).
        eps: ε > 0; bounds the loss to (0, 1/ε].

    Returns:
        scalar tensor.
    """
    if eps <= 0:
        raise ValueError(f"eps must be > 0, got {eps}")
    return (1.0 / ((v1 - v2).pow(2) + eps)).mean()


def lsanet_loss(
    out: dict[str, Tensor],
    mask: Tensor,
    loc_labels: Tensor,
    *,
    lambda_seg: float = 1.4,
    lambda_loc: float = 0.4,
    lambda_diff: float = 0.2,
    bce_weight: float = 0.5,
    diff_eps: float = 1.0,
) -> tuple[Tensor, dict[str, float]]:
    """LSA-Net loss ``λ_seg·(w·BCE + Dice) + λ_loc·L_loc + λ_diff·L_diff``.

    Args:
        out: ``model.forward_train(x)`` of ``lsanet`` (``seg_logits``, ``loc_logits``, ``v1``, ``v2``).
        mask: ``(N,1,H,W)`` float32 truth in {0, 1}.
        loc_labels: ``(N,1,H,W)`` float32 rectangle labels in {0, 1} (``rectangle_labels(mask)``).
        lambda_seg, lambda_loc, lambda_diff: term weights (paper: 1.4, 0.4, 0.2).
        bce_weight: weight of BCE inside ``L_seg`` (paper: 0.5).
        diff_eps: ε of :func:`feature_difference_loss`.

    Returns:
        ``(total, {"seg", "bce", "dice", "loc", "diff"})`` (unweighted terms as floats).
    """
    logits = out["seg_logits"]
    target = mask.to(logits.dtype)
    bce = F.binary_cross_entropy_with_logits(logits, target)
    dice = dice_loss(logits, target)
    l_seg = bce_weight * bce + dice
    l_loc = loc_loss(out["loc_logits"], loc_labels) if "loc_logits" in out else logits.new_zeros(())
    l_diff = feature_difference_loss(out["v1"], out["v2"], eps=diff_eps)
    total = lambda_seg * l_seg + lambda_loc * l_loc + lambda_diff * l_diff
    parts = {"seg": l_seg, "bce": bce, "dice": dice, "loc": l_loc, "diff": l_diff}
    return total, {k: float(v.detach()) for k, v in parts.items()}


# --------------------------------------------------------------------------------------- AnomalySeg


def focal_loss(logits: Tensor, target: Tensor, *, alpha: float = 0.1, gamma: float = 2.0) -> Tensor:
    """Binary focal loss (Lin et al., ICCV 2017), mean over pixels.

    ``FL = -α_t (1 - p_t)^γ log p_t`` with ``p_t = p`` and ``α_t = α`` on defect pixels,
    ``p_t = 1 - p`` and ``α_t = 1 - α`` on background.

    Args:
        logits: ``(N,1,H,W)`` float32 logits.
        target: ``(N,1,H,W)`` float32 truth in {0, 1}.
        alpha: weight of the defect class, in [0, 1] (AnomalySeg: 0.1).
        gamma: focusing exponent, >= 0 (AnomalySeg: 2).

    Returns:
        scalar tensor.
    """
    if not 0.0 <= alpha <= 1.0 or gamma < 0:
        raise ValueError(f"need 0 <= alpha <= 1 and gamma >= 0, got alpha={alpha}, gamma={gamma}")
    target = target.to(logits.dtype)
    ce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")   # -log p_t
    p_t = torch.exp(-ce)
    alpha_t = alpha * target + (1.0 - alpha) * (1.0 - target)
    return (alpha_t * (1.0 - p_t).pow(gamma) * ce).mean()


def focal_lambda(epoch: int, epochs: int, *, start: float = 1.0, end: float = 0.0) -> float:
    """AnomalySeg's focal weight λ, decaying linearly from ``start`` (epoch 0) to ``end`` (last epoch).

    Args:
        epoch: 0-based epoch.
        epochs: total epochs, >= 1.
        start: λ at epoch 0 (paper: 1).
        end: λ at the last epoch.

    Returns:
        λ for ``epoch`` (``start`` when ``epochs == 1``).
    """
    if epochs < 1 or not 0 <= epoch < epochs:
        raise ValueError(f"need 0 <= epoch < epochs, got epoch={epoch}, epochs={epochs}")
    if epochs == 1:
        return float(start)
    return float(start + (end - start) * epoch / (epochs - 1))


def anomalyseg_loss(
    seg_logits: Tensor,
    mask: Tensor,
    *,
    lam: float = 1.0,
    alpha: float = 0.1,
    gamma: float = 2.0,
) -> tuple[Tensor, dict[str, float]]:
    """AnomalySeg loss ``Dice + λ·Focal``.

    Args:
        seg_logits: ``(N,1,H,W)`` float32 logits (``forward_train(x)["seg_logits"]``).
        mask: ``(N,1,H,W)`` float32 truth in {0, 1}.
        lam: λ of this epoch (:func:`focal_lambda`).
        alpha, gamma: focal parameters (paper: 0.1, 2).

    Returns:
        ``(total, {"dice": float, "focal": float, "lambda": float})``.
    """
    dice = dice_loss(seg_logits, mask)
    focal = focal_loss(seg_logits, mask, alpha=alpha, gamma=gamma)
    total = dice + lam * focal
    return total, {"dice": float(dice.detach()), "focal": float(focal.detach()), "lambda": float(lam)}
