"""LPC-Net losses and the stage-2 loss schedule (Wang et al., Sensors 2025).

- Stage 1, ``L_loc``: BCE between the DLM's localisation logits and the rectangular boundary labels
  ``Ŷ_loc`` (``edgeinspect.models.labels.rectangle_labels``).
- Stage 2, ``L_img``: per-pixel BCE of the segmentation logits, each pixel weighted by the compensation
  map ``M_comp = 1 + ω·Norm[-1,1](Y_loc)`` of the frozen DLM (mean over pixels).
- From stage-2 epoch ``p_set`` on, the PCM is switched on and ``L = λ1·L_img + λ2·L_pcm`` where
  ``L_pcm`` is the BCE between ``M_ipc`` (the prediction's probabilities smoothed by the PCM's fixed
  kernel) and ``M̂_pcm`` (the same kernel on the ground truth). Before ``p_set``: ``L = L_img``.

Example:
    >>> w = loss_weights(seg_epoch=260, schedule=recipe.schedule, loss=recipe.loss)   # pcm_on=True
    >>> total, parts = segmentation_loss(out["seg_logits"], mask, m_comp, w, m_ipc=out["m_ipc"],
    ...                                  m_ipc_truth=model.pcm.m_ipc(mask))
"""

from __future__ import annotations

from dataclasses import dataclass

import torch.nn.functional as F
from torch import Tensor

from edgeinspect.train.recipe import LossCfg, ScheduleCfg

__all__ = [
    "LossWeights",
    "image_loss",
    "loc_loss",
    "loss_weights",
    "pcm_loss",
    "segmentation_loss",
]

_EPS = 1e-6


@dataclass(frozen=True, slots=True)
class LossWeights:
    """Weights of the stage-2 loss terms for one epoch.

    Attributes:
        img: weight of ``L_img`` (1 before ``p_set``, λ1 after).
        pcm: weight of ``L_pcm`` (0 before ``p_set``, λ2 after).
        pcm_on: run the model with the PCM (``forward_train(x, pcm=True)``) and add ``L_pcm``.
    """

    img: float
    pcm: float
    pcm_on: bool


def loss_weights(seg_epoch: int, schedule: ScheduleCfg, loss: LossCfg) -> LossWeights:
    """The stage-2 loss schedule.

    Args:
        seg_epoch: 0-based epoch within stage 2.
        schedule: ``p_set`` is read from it.
        loss: λ1 (``lambda_img``) and λ2 (``lambda_pcm``).

    Returns:
        ``LossWeights(1, 0, False)`` for ``seg_epoch < p_set``, else ``LossWeights(λ1, λ2, True)``.
    """
    if seg_epoch < 0:
        raise ValueError(f"seg_epoch must be >= 0, got {seg_epoch}")
    if seg_epoch < schedule.p_set:
        return LossWeights(img=1.0, pcm=0.0, pcm_on=False)
    return LossWeights(img=loss.lambda_img, pcm=loss.lambda_pcm, pcm_on=True)


def loc_loss(loc_logits: Tensor, loc_labels: Tensor) -> Tensor:
    """Stage-1 ``L_loc``: mean BCE of the DLM logits against the rectangular labels.

    Args:
        loc_logits: ``(N,1,H,W)`` float32 logits of the DLM.
        loc_labels: ``(N,1,H,W)`` float32 in {0, 1} (``rectangle_labels`` of the truth mask).

    Returns:
        scalar tensor.
    """
    return F.binary_cross_entropy_with_logits(loc_logits, loc_labels.to(loc_logits.dtype))


def image_loss(logits: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
    """``L_img``: per-pixel BCE weighted by ``M_comp``, mean over all pixels.

    Args:
        logits: ``(N,1,H,W)`` float32 stage-2 logits (before the PCM).
        target: ``(N,1,H,W)`` float32 truth mask in {0, 1}.
        weight: ``(N,1,H,W)`` float32 ``M_comp`` in ``[1-ω, 1+ω]`` (no gradient), or None for plain BCE.

    Returns:
        scalar tensor.
    """
    per_pixel = F.binary_cross_entropy_with_logits(logits, target.to(logits.dtype), reduction="none")
    if weight is not None:
        per_pixel = per_pixel * weight.detach()
    return per_pixel.mean()


def pcm_loss(m_ipc: Tensor, target: Tensor) -> Tensor:
    """``L_pcm``: BCE between the prediction's confidence map and the smoothed truth.

    Args:
        m_ipc: ``(N,1,H,W)`` float32 in [0, 1], the kernel-smoothed predicted probabilities.
        target: ``(N,1,H,W)`` float32 in [0, 1], ``M̂_pcm``: the same fixed kernel on the truth mask
            (``model.pcm.m_ipc(mask)``, so the kernel has one definition).

    Returns:
        scalar tensor (mean over pixels).
    """
    return F.binary_cross_entropy(m_ipc.clamp(_EPS, 1.0 - _EPS), target.to(m_ipc.dtype))


def segmentation_loss(
    logits: Tensor,
    mask: Tensor,
    m_comp: Tensor | None,
    weights: LossWeights,
    *,
    m_ipc: Tensor | None = None,
    m_ipc_truth: Tensor | None = None,
) -> tuple[Tensor, dict[str, float]]:
    """Stage-2 loss ``weights.img·L_img [+ weights.pcm·L_pcm]``.

    Args:
        logits: ``(N,1,H,W)`` stage-2 logits.
        mask: ``(N,1,H,W)`` float32 truth in {0, 1}.
        m_comp: ``(N,1,H,W)`` compensation weights, or None (unweighted).
        weights: from :func:`loss_weights`.
        m_ipc: ``(N,1,H,W)`` in [0, 1], ``M_ipc`` of the prediction; required when ``weights.pcm_on``.
        m_ipc_truth: ``(N,1,H,W)`` in [0, 1], ``M̂_pcm`` (``model.pcm.m_ipc(mask)``); required when
            ``weights.pcm_on``.

    Returns:
        ``(total, {"img": float, "pcm": float | nan})`` where the floats are the unweighted terms.
    """
    l_img = image_loss(logits, mask, m_comp)
    parts = {"img": float(l_img.detach()), "pcm": float("nan")}
    total = weights.img * l_img
    if weights.pcm_on:
        if m_ipc is None or m_ipc_truth is None:
            raise ValueError("the PCM term needs m_ipc and m_ipc_truth (forward_train(x, pcm=True), pcm.m_ipc(mask))")
        l_pcm = pcm_loss(m_ipc, m_ipc_truth)
        parts["pcm"] = float(l_pcm.detach())
        total = total + weights.pcm * l_pcm
    return total, parts

