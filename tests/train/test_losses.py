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
    area_loss,
    image_loss,
    loc_loss,
    loss_weights,
    pcm_loss,
    segmentation_loss,
    truth_components,
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


# ------------------------------------------------------------------------------------- L_area


def test_area_loss_is_the_relative_error_of_each_defects_halo_mass():
    mask = torch.zeros(1, 1, 32, 32)
    mask[0, 0, 8:12, 8:12] = 1                       # defect A: 16 px
    mask[0, 0, 20:22, 24:30] = 1                     # defect B: 12 px
    prob = torch.zeros(1, 1, 32, 32)
    prob[0, 0, 8:12, 8:12] = 0.5                     # A: half sure ...
    prob[0, 0, 13, 9] = 0.25                         # ... plus a background pixel 2 px below it (in the halo)
    prob[0, 0, 0, 31] = 1.0                          # far from both: not in any halo
    prob[0, 0, 20:22, 24:30] = 1.0                   # B: exact
    expected = (abs(16 * 0.5 + 0.25 - 16) / (16 + 8) + 0.0) / 2
    assert area_loss(prob, mask, halo_px=4, smooth_px=8).item() == pytest.approx(expected)
    # without a halo the background pixel no longer counts
    assert area_loss(prob, mask, halo_px=0, smooth_px=8).item() == pytest.approx((8 / 24) / 2)


def test_area_loss_pushes_a_short_defects_probabilities_up_and_an_overlong_ones_down():
    mask = torch.zeros(2, 1, 16, 16)
    mask[:, :, 4:8, 4:8] = 1
    prob = torch.zeros(2, 1, 16, 16)
    prob[0, 0, 4:8, 4:8] = 0.4                       # image 0: too little mass
    prob[1, 0, 2:10, 2:10] = 0.9                     # image 1: far too much (halo full)
    prob.requires_grad_(True)
    area_loss(prob, mask).backward()
    assert (prob.grad[0, 0, 4:8, 4:8] < 0).all()     # descending raises them
    assert (prob.grad[1, 0, 2:10, 2:10] > 0).all()   # descending lowers them
    assert (prob.grad[:, :, 12:, 12:] == 0).all()    # outside every halo: no say


def test_truth_components_number_the_defects_of_the_whole_batch():
    mask = torch.zeros(2, 1, 8, 8)
    mask[0, 0, 1, 1] = mask[0, 0, 5, 5] = 1          # image 0: two components
    mask[1, 0, 2:4, 2:4] = 1                         # image 1: one
    labels = truth_components(mask)
    assert labels.dtype == torch.int64 and labels.shape == mask.shape
    assert (labels[0, 0, 1, 1], labels[0, 0, 5, 5], labels[1, 0, 2, 2]) == (1, 2, 3)
    assert int((labels > 0).sum()) == int(mask.sum())


def test_area_loss_of_a_batch_without_defects_is_zero_and_keeps_the_graph():
    prob = torch.rand(2, 1, 8, 8, requires_grad=True)
    loss = area_loss(prob, torch.zeros(2, 1, 8, 8))
    assert loss.item() == 0.0
    loss.backward()
    assert prob.grad is not None and (prob.grad == 0).all()


def test_area_loss_mass_is_the_halo_mass_the_tracker_measures():
    """The training term and ``edgeinspect run`` measure the same mass: where the prediction's
    thresholded component is the true defect, 1 - L_area·(area + smooth)/area is the tracker's mass/area."""
    from edgeinspect.stream.records import ProbStrip
    from edgeinspect.stream.tracker import DefectTracker

    rng = np.random.default_rng(0)
    prob = np.zeros((64, 64), np.float32)
    prob[20:30, 15:40] = rng.uniform(0.6, 1.0, (10, 25))
    prob[16:34, 11:44] += np.where(prob[16:34, 11:44] == 0, rng.uniform(0.0, 0.3, (18, 33)), 0).astype(np.float32)
    tracker = DefectTracker(threshold=0.5, halo_px=4, context_px=16)
    [blob] = tracker.push(ProbStrip(first_line=0, prob=prob)) + tracker.flush()
    mask = torch.from_numpy(prob >= 0.5).float()[None, None]
    area = float(mask.sum())
    loss = area_loss(torch.from_numpy(prob)[None, None], mask, halo_px=4, smooth_px=0.0).item()
    assert loss > 0.02   # the prediction carries mass beyond the truth: a case where the term has a say
    assert abs(float(blob.halo_prob.sum()) - area) / area == pytest.approx(loss, abs=1e-5)  # float32 sums


def test_segmentation_loss_adds_the_weighted_area_term_when_asked():
    torch.manual_seed(1)
    logits = torch.randn(2, 1, 16, 16)
    mask = torch.zeros(2, 1, 16, 16)
    mask[:, :, 3:9, 5:11] = 1
    prob = torch.sigmoid(logits)
    plain, _ = segmentation_loss(logits, mask, None, LossWeights(1.0, 0.0, False))
    total, parts = segmentation_loss(logits, mask, None, LossWeights(1.0, 0.0, False, area=0.5), prob=prob)
    assert total.item() == pytest.approx(plain.item() + 0.5 * area_loss(prob, mask).item(), rel=1e-6)
    assert parts["area"] == pytest.approx(area_loss(prob, mask).item())
    with pytest.raises(ValueError, match="inference-form"):
        segmentation_loss(logits, mask, None, LossWeights(1.0, 0.0, False, area=0.5))
