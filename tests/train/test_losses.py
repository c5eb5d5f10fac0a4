"""LPC-Net losses: values against hand computations, and the p_set switch of the stage-2 loss."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from edgeinspect.ops.pixel_confidence.reference import confidence_map, mean_kernel
from edgeinspect.ops.pixel_confidence.torch import PixelConfidence
from edgeinspect.train.losses import (
    LossWeights,
    image_loss,
    loc_loss,
    loss_weights,
    pcm_loss,
    segmentation_loss,
)
from edgeinspect.train.recipe import LossCfg, ScheduleCfg

torch.set_num_threads(1)


def test_schedule_switches_the_pcm_term_on_at_p_set():
    schedule, loss = ScheduleCfg(epochs_dlm=2, epochs_seg=6, p_set=4), LossCfg(lambda_img=0.8, lambda_pcm=0.2)
    weights = [loss_weights(e, schedule, loss) for e in range(6)]
    assert weights[:4] == [LossWeights(img=1.0, pcm=0.0, pcm_on=False)] * 4
    assert weights[4:] == [LossWeights(img=0.8, pcm=0.2, pcm_on=True)] * 2
    assert loss_weights(0, ScheduleCfg(epochs_seg=3, p_set=0), loss).pcm_on  # p_set 0: on from the start
    assert not any(loss_weights(e, ScheduleCfg(epochs_seg=3, p_set=3), loss).pcm_on for e in range(3))
    with pytest.raises(ValueError):
        loss_weights(-1, schedule, loss)


def test_segmentation_loss_has_no_pcm_term_before_p_set_and_the_weighted_sum_after():
    torch.manual_seed(0)
    logits = torch.randn(2, 1, 8, 8)
    mask = (torch.rand(2, 1, 8, 8) > 0.7).float()
    m_comp = 1.0 + 0.2 * (torch.rand(2, 1, 8, 8) * 2 - 1)
    m_ipc = torch.rand(2, 1, 8, 8)
    truth = PixelConfidence(3).m_ipc(mask)
    before, parts_before = segmentation_loss(logits, mask, m_comp, LossWeights(1.0, 0.0, False),
                                             m_ipc=m_ipc, m_ipc_truth=truth)
    l_img = image_loss(logits, mask, m_comp)
    assert before.item() == pytest.approx(l_img.item())
    assert math.isnan(parts_before["pcm"])
    after, parts_after = segmentation_loss(logits, mask, m_comp, LossWeights(0.8, 0.2, True),
                                           m_ipc=m_ipc, m_ipc_truth=truth)
    l_pcm = pcm_loss(m_ipc, truth)
    assert after.item() == pytest.approx(0.8 * l_img.item() + 0.2 * l_pcm.item(), rel=1e-6)
    assert parts_after["pcm"] == pytest.approx(l_pcm.item())
    with pytest.raises(ValueError, match="m_ipc"):
        segmentation_loss(logits, mask, m_comp, LossWeights(0.8, 0.2, True))


def test_image_loss_is_the_per_pixel_bce_times_m_comp():
    logits = torch.tensor([[[[2.0, -1.0], [0.0, 3.0]]]])
    target = torch.tensor([[[[1.0, 0.0], [1.0, 0.0]]]])
    weight = torch.tensor([[[[0.8, 1.2], [1.0, 1.1]]]])
    p = 1 / (1 + np.exp(-logits.numpy()))
    bce = -(target.numpy() * np.log(p) + (1 - target.numpy()) * np.log(1 - p))
    assert image_loss(logits, target, weight).item() == pytest.approx(float((bce * weight.numpy()).mean()), rel=1e-5)
    assert image_loss(logits, target).item() == pytest.approx(float(bce.mean()), rel=1e-5)


def test_m_comp_weights_do_not_receive_gradients():
    logits = torch.zeros(1, 1, 4, 4, requires_grad=True)
    weight = torch.full((1, 1, 4, 4), 1.2, requires_grad=True)
    image_loss(logits, torch.ones(1, 1, 4, 4), weight).backward()
    assert weight.grad is None and logits.grad is not None


def test_loc_loss_is_low_for_matching_logits_and_high_for_inverted():
    labels = torch.zeros(1, 1, 6, 6)
    labels[..., 1:4, 2:5] = 1
    good = loc_loss((labels * 2 - 1) * 8, labels).item()
    bad = loc_loss((1 - 2 * labels) * 8, labels).item()
    assert good < 1e-3 < 7.9 < bad


def test_pcm_loss_is_minimal_when_the_prediction_matches_the_smoothed_truth():
    mask = torch.zeros(1, 1, 8, 8)
    mask[..., 2:6, 2:6] = 1
    target = PixelConfidence(3).m_ipc(mask)
    np.testing.assert_allclose(target.numpy(), confidence_map(mask.numpy(), mean_kernel(3)), atol=1e-6)
    exact = pcm_loss(target, target).item()
    assert exact < pcm_loss(1 - target, target).item()
    assert exact < pcm_loss(torch.full_like(target, 0.5), target).item()
