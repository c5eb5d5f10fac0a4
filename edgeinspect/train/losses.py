"""LPC-Net losses and the stage-2 loss schedule (Wang et al., Sensors 2025).

- Stage 1, ``L_loc``: BCE between the DLM's localisation logits and the rectangular boundary labels
  ``Ŷ_loc`` (``edgeinspect.models.labels.rectangle_labels``).
- Stage 2, ``L_img``: per-pixel BCE of the segmentation logits, each pixel weighted by the compensation
  map ``M_comp = 1 + ω·Norm[-1,1](Y_loc)`` of the frozen DLM (mean over pixels).
- From stage-2 epoch ``p_set`` on, the PCM is switched on and ``L = λ1·L_img + λ2·L_pcm`` where
  ``L_pcm`` is the BCE between ``M_ipc`` (the prediction's probabilities smoothed by the PCM's fixed
  kernel) and ``M̂_pcm`` (the same kernel on the ground truth). Before ``p_set``: ``L = L_img``.
- Not in the paper, off unless ``loss.lambda_area > 0`` (:func:`area_loss`): ``L_area``, the mean
  relative error between each true defect's area and the probability mass of its halo (the
  defect's pixels and the background within the run's 4-px halo of them), on the inference-form
  probabilities ``Y_fsr``. It is the area ``edgeinspect run`` reports (``area_from: probability``,
  :mod:`edgeinspect.stream.tracker`), so the term trains the figure the 20 % tolerance is about;
  BCE alone leaves thin and low-contrast defects with interior probabilities near 0.4 and their
  areas 30-50 % short. Added to the stage-2 loss in every stage-2 epoch: ``L + λ_area·L_area``.

Example:
    >>> w = loss_weights(seg_epoch=260, schedule=recipe.schedule, loss=recipe.loss)   # pcm_on=True
    >>> total, parts = segmentation_loss(out["seg_logits"], mask, m_comp, w, m_ipc=out["m_ipc"],
    ...                                  m_ipc_truth=model.pcm.m_ipc(mask))
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from edgeinspect.stream.area import AREA_HALO_PX
from edgeinspect.train.recipe import LossCfg, ScheduleCfg

__all__ = [
    "LossWeights",
    "area_loss",
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
        area: weight of ``L_area`` (``loss.lambda_area``, every stage-2 epoch; 0 = off).
    """

    img: float
    pcm: float
    pcm_on: bool
    area: float = 0.0


def loss_weights(seg_epoch: int, schedule: ScheduleCfg, loss: LossCfg) -> LossWeights:
    """The stage-2 loss schedule.

    Args:
        seg_epoch: 0-based epoch within stage 2.
        schedule: ``p_set`` is read from it.
        loss: λ1 (``lambda_img``), λ2 (``lambda_pcm``) and ``lambda_area``.

    Returns:
        ``LossWeights(1, 0, False, λ_area)`` for ``seg_epoch < p_set``, else
        ``LossWeights(λ1, λ2, True, λ_area)``.
    """
    if seg_epoch < 0:
        raise ValueError(f"seg_epoch must be >= 0, got {seg_epoch}")
    if seg_epoch < schedule.p_set:
        return LossWeights(img=1.0, pcm=0.0, pcm_on=False, area=loss.lambda_area)
    return LossWeights(img=loss.lambda_img, pcm=loss.lambda_pcm, pcm_on=True, area=loss.lambda_area)


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


def truth_components(mask: Tensor) -> Tensor:
    """8-connected components of a batch of truth masks, numbered across the batch.

    Args:
        mask: ``(N,1,H,W)`` float in {0, 1}.

    Returns:
        ``(N,1,H,W)`` int64: 0 = background, ``1..K`` = the K components of the whole batch (image
        0's first, each image's in OpenCV's raster order).
    """
    planes = (mask.detach()[:, 0] > 0.5).to(torch.uint8).cpu().numpy()
    labels = np.zeros(planes.shape, np.int64)
    offset = 0
    for index, plane in enumerate(planes):
        count, plane_labels = cv2.connectedComponents(plane, connectivity=8, ltype=cv2.CV_32S)
        labels[index] = np.where(plane_labels > 0, plane_labels + offset, 0)
        offset += count - 1
    return torch.from_numpy(labels).to(mask.device).unsqueeze(1)


def area_loss(prob: Tensor, mask: Tensor, *, halo_px: int = AREA_HALO_PX, smooth_px: float = 8.0) -> Tensor:
    """``L_area``: mean over true defects of ``|mass_c − area_c| / (area_c + smooth_px)``.

    For each 8-connected truth component ``c`` (:func:`truth_components`): ``area_c`` = its pixels,
    ``mass_c`` = the sum of ``prob`` over its pixels and over the background pixels within
    ``halo_px`` (Chebyshev) of it, the tracker's halo. A background pixel within reach of two
    components counts for the one with the larger label only (the tracker counts it for both;
    such pixels are rare and the difference is a training detail).

    Args:
        prob: ``(N,1,H,W)`` float in [0, 1], the inference-form probabilities (PCM applied).
        mask: ``(N,1,H,W)`` float truth in {0, 1}.
        halo_px: reach of the halo, px (default: the run's, :data:`edgeinspect.stream.area.AREA_HALO_PX`).
        smooth_px: added to each area in the denominator, px: a 3-px defect weighs less than its
            relative error alone would make it.

    Returns:
        scalar tensor; 0 (with a gradient path) when the batch holds no defect.
    """
    labels = truth_components(mask)
    count = int(labels.max()) + 1  # background + the components
    if count == 1:
        return prob.sum() * 0.0
    if halo_px > 0:
        reach = F.max_pool2d(labels.to(torch.float32), 2 * halo_px + 1, stride=1, padding=halo_px).to(torch.int64)
        region = torch.where(labels > 0, labels, reach)
    else:
        region = labels
    mass = torch.zeros(count, dtype=prob.dtype, device=prob.device).index_add_(0, region.flatten(), prob.flatten())
    area = torch.bincount(labels.flatten(), minlength=count).to(prob.dtype)
    return ((mass[1:] - area[1:]).abs() / (area[1:] + smooth_px)).mean()


def segmentation_loss(
    logits: Tensor,
    mask: Tensor,
    m_comp: Tensor | None,
    weights: LossWeights,
    *,
    m_ipc: Tensor | None = None,
    m_ipc_truth: Tensor | None = None,
    prob: Tensor | None = None,
) -> tuple[Tensor, dict[str, float]]:
    """Stage-2 loss ``weights.img·L_img [+ weights.pcm·L_pcm] [+ weights.area·L_area]``.

    Args:
        logits: ``(N,1,H,W)`` stage-2 logits.
        mask: ``(N,1,H,W)`` float32 truth in {0, 1}.
        m_comp: ``(N,1,H,W)`` compensation weights, or None (unweighted).
        weights: from :func:`loss_weights`.
        m_ipc: ``(N,1,H,W)`` in [0, 1], ``M_ipc`` of the prediction; required when ``weights.pcm_on``.
        m_ipc_truth: ``(N,1,H,W)`` in [0, 1], ``M̂_pcm`` (``model.pcm.m_ipc(mask)``); required when
            ``weights.pcm_on``.
        prob: ``(N,1,H,W)`` in [0, 1], the inference-form probabilities ``Y_fsr`` (PCM applied);
            required when ``weights.area > 0``.

    Returns:
        ``(total, {"img": float, "pcm": float | nan, "area": float | nan})`` where the floats are
        the unweighted terms.
    """
    l_img = image_loss(logits, mask, m_comp)
    parts = {"img": float(l_img.detach()), "pcm": float("nan"), "area": float("nan")}
    total = weights.img * l_img
    if weights.pcm_on:
        if m_ipc is None or m_ipc_truth is None:
            raise ValueError("the PCM term needs m_ipc and m_ipc_truth (forward_train(x, pcm=True), pcm.m_ipc(mask))")
        l_pcm = pcm_loss(m_ipc, m_ipc_truth)
        parts["pcm"] = float(l_pcm.detach())
        total = total + weights.pcm * l_pcm
    if weights.area > 0:
        if prob is None:
            raise ValueError("the area term needs the inference-form probabilities (prob = Y_fsr)")
        l_area = area_loss(prob, mask)
        parts["area"] = float(l_area.detach())
        total = total + weights.area * l_area
    return total, parts

