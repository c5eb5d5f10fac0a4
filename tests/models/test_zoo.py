"""PSIC-Net, LSA-Net and AnomalySeg: registry, shapes, sizes, their losses, training steps, ONNX parity.

Full-width networks are built for the registry, size and shape tests; the training-step, checkpoint
and ONNX tests use narrow widths of the same code (``TINY``: same layers and ops, fewer channels and
blocks) to stay fast on two shared cores.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from edgeinspect.errors import EdgeInspectError
from edgeinspect.models import create_model, list_models, load_checkpoint, save_checkpoint
from edgeinspect.models.complexity import count_complexity
from edgeinspect.models.labels import rectangle_labels
from edgeinspect.train import losses_zoo as lz

ZOO = ("psicnet", "lsanet", "anomalyseg")
# smallest tile each net serves: PSIC-Net's classifier pools to 1/64, LSA-Net's SPPM needs a 5×5 bottleneck
TILE = {"psicnet": (64, 64), "lsanet": (80, 80), "anomalyseg": (64, 64)}
TINY = {
    "psicnet": dict(widths=(4, 8, 16), feature_channels=32),
    "lsanet": dict(channels=(8, 16, 32, 64, 128), sd_channels=32),
    "anomalyseg": dict(channels=(8, 16, 32), encoder_depth=1),
}
# parameters at 256² (measured; the figures in each model's docstring) and the papers' figures
PARAMS_256 = {"psicnet": 31_742_397, "lsanet": 21_618_683, "anomalyseg": 2_505_337}
PAPER_PARAMS = {"psicnet": None, "lsanet": 21.6e6, "anomalyseg": 2.37e6}
DOCSTRING_MILLIONS = {"psicnet": 31.74, "lsanet": 21.62, "anomalyseg": 2.51}
# inference outputs = ONNX outputs = engine outputs
OUTPUTS = {"psicnet": ("prob", "score"), "lsanet": ("prob", "loc"), "anomalyseg": ("prob",)}


@pytest.fixture(autouse=True)
def _one_thread(torch_one_thread):
    """Every test here with one torch thread (tests/conftest.py)."""


def _batch(hw: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """4 fixed images ``(4,1,H,W)`` in [0,255]: noise with bright squares (their masks); the last is defect-free."""
    g = torch.Generator().manual_seed(0)
    x = torch.rand(4, 1, *hw, generator=g) * 40 + 60
    mask = torch.zeros(4, 1, *hw)
    for i, (y0, x0, side) in enumerate([(5, 7, 12), (30, 20, 16), (10, 40, 10)]):
        mask[i, :, y0 : y0 + side, x0 : x0 + side] = 1
    return x + 100 * mask, mask


# ------------------------------------------------------------------------------------ registry, shapes


def test_zoo_is_registered_and_listed():
    assert set(ZOO) <= set(list_models())
    assert list_models("psic*") == ["psicnet"]
    with pytest.raises(EdgeInspectError, match="model lsanet: .*unexpected keyword argument 'widthz'"):
        create_model("lsanet", widthz=3)


@pytest.mark.parametrize("name", ZOO)
def test_inference_shapes_ranges_and_cfg(name: str):
    hw = TILE[name]
    model = create_model(name, input_size=hw).eval()
    with torch.no_grad():
        out = model(torch.rand(2, 1, *hw) * 255)
    assert out.prob.shape == (2, 1, *hw) and out.prob.dtype == torch.float32
    assert 0.0 <= float(out.prob.min()) and float(out.prob.max()) <= 1.0
    if name == "lsanet":
        assert out.loc.shape == (2, 1, *hw) and 0.0 <= float(out.loc.min()) <= float(out.loc.max()) <= 1.0
    else:
        assert out.loc is None
    if name == "psicnet":  # the image-level output rides along (SegClsOutput)
        assert out.score.shape == (2,) and 0.0 <= float(out.score.min()) <= float(out.score.max()) <= 1.0
    else:
        assert getattr(out, "score", None) is None
    cfg = model.default_cfg
    assert cfg["name"] == name and cfg["input_size"] == (1, *hw) and cfg["input_range"] == (0.0, 255.0)
    assert cfg["outputs"] == OUTPUTS[name]
    assert model.arch == name and model.init_kwargs == {"input_size": hw}


@pytest.mark.parametrize(
    ("name", "hw", "match"),
    [
        ("psicnet", (32, 32), "at least 64"),
        ("psicnet", (60, 64), "multiples of 8"),
        ("lsanet", (64, 64), "at least 80x80"),
        ("lsanet", (88, 96), "multiples of 16"),
        ("anomalyseg", (63, 64), "multiples of 2"),
    ],
)
def test_bad_tile_sizes_name_the_fix(name: str, hw: tuple[int, int], match: str):
    with pytest.raises(EdgeInspectError, match=match):
        create_model(name, input_size=hw, **TINY[name])


def test_inputs_other_than_the_built_tile():
    psic = create_model("psicnet", **TINY["psicnet"]).eval()
    with pytest.raises(EdgeInspectError, match="at least 64x64"):
        psic(torch.zeros(1, 1, 32, 64))
    with torch.no_grad():  # fully convolutional: another valid size runs
        assert psic(torch.zeros(1, 1, 72, 64)).prob.shape == (1, 1, 72, 64)
    lsa = create_model("lsanet", input_size=(80, 80), **TINY["lsanet"]).eval()
    with pytest.raises(EdgeInspectError, match="built for 80x80 tiles, got 96x96"):
        lsa(torch.zeros(1, 1, 96, 96))


@pytest.mark.parametrize("name", ZOO)
def test_forward_train_outputs(name: str):
    hw = TILE[name]
    model = create_model(name, input_size=hw, **TINY[name])
    out = model.forward_train(_batch(hw)[0], pcm=False)
    assert out["seg_logits"].shape == (4, 1, *hw)
    torch.testing.assert_close(out["prob"], torch.sigmoid(out["seg_logits"]))
    expected = {"seg_logits", "prob"}
    if name == "psicnet":
        expected |= {"score_logits", "score"}
        assert out["score_logits"].shape == (4,)
    if name == "lsanet":
        expected |= {"loc_logits", "loc", "v1", "v2"}
        assert out["loc_logits"].shape == (4, 1, *hw)
        assert out["v1"].shape == out["v2"].shape == (4, 32, hw[0] // 16, hw[1] // 16)
    assert set(out) == expected


@pytest.mark.parametrize("name", ZOO)
def test_parameters_at_256_match_the_docstring(name: str):
    with torch.device("meta"):  # shapes only: no memory, no initialisation
        model = create_model(name, input_size=(256, 256))
    params = sum(p.numel() for p in model.parameters())
    assert params == pytest.approx(PARAMS_256[name], rel=0.005)   # tolerance 0.5 %
    doc = __import__(type(model).__module__, fromlist=["_"]).__doc__
    assert f"{DOCSTRING_MILLIONS[name]:.2f} M" in doc
    assert params / 1e6 == pytest.approx(DOCSTRING_MILLIONS[name], abs=0.005)
    paper = PAPER_PARAMS[name]
    if paper is not None:  # LSA-Net 21.6 M (matched), AnomalySeg 2.37 M (ours +6 %)
        assert abs(params - paper) / paper < 0.07


def test_complexity_reports_psicnet_stages():
    stats = count_complexity(create_model("psicnet", **TINY["psicnet"]), (64, 64))
    assert list(stats) == ["seg", "cls"]
    assert stats["seg"].gmacs > stats["cls"].gmacs > 0
    assert stats["cls"].params > 0


# --------------------------------------------------------------------------------------- losses


def test_psicnet_alpha_is_per_batch():
    mask = torch.zeros(2, 1, 2, 2)
    mask[0, 0, 0, 0] = 1                                     # 1 defect pixel of 8 in the batch
    assert float(lz.psicnet_alpha(mask)) == pytest.approx(7 / 8)
    # p = 0.5 everywhere: L = ln2 · mean(weight) = ln2 · (α·1 + (1-α)·7) / 8; the defect-free image counts
    logits = torch.zeros(2, 1, 2, 2, requires_grad=True)
    loss, parts = lz.psicnet_seg_loss(logits, mask)
    assert float(loss.detach()) == pytest.approx(math.log(2) * (7 / 8 + 7 / 8) / 8, rel=1e-6)
    assert parts["alpha"] == pytest.approx(7 / 8)
    loss.backward()
    assert bool((logits.grad[1] != 0).all())   # the defect-free image still has weight (α is not per image)
    # a batch without any defect pixel: α = 1, background weight 0, loss 0 (documented)
    assert float(lz.psicnet_seg_loss(torch.zeros(1, 1, 2, 2), mask[1:])[0]) == 0.0


def test_psicnet_seg_loss_balances_the_classes():
    mask = torch.zeros(1, 1, 2, 2)
    mask[0, 0, 0, 0] = 1                                     # α = 3/4
    logits = torch.tensor([[[[0.0, 2.0], [-1.0, 0.5]]]])
    p = torch.sigmoid(logits)[0, 0]
    expected = (-0.75 * torch.log(p[0, 0]) - 0.25 * (torch.log(1 - p[0, 1]) + torch.log(1 - p[1, 0])
                + torch.log(1 - p[1, 1]))) / 4
    assert float(lz.psicnet_seg_loss(logits, mask)[0]) == pytest.approx(float(expected), rel=1e-6)


def test_psicnet_cls_loss_on_image_labels():
    mask = torch.zeros(3, 1, 4, 4)
    mask[1, 0, 2, 2] = 1
    assert lz.image_labels(mask).tolist() == [0.0, 1.0, 0.0]
    loss, parts = lz.psicnet_cls_loss(torch.zeros(3), mask)
    assert float(loss) == pytest.approx(math.log(2)) and parts["cls"] == pytest.approx(math.log(2))
    confident = torch.tensor([-20.0, 20.0, -20.0])
    assert float(lz.psicnet_cls_loss(confident, mask)[0]) < 1e-8
    assert float(lz.psicnet_cls_loss(confident, torch.tensor([0.0, 1.0, 1.0]))[0]) == pytest.approx(20 / 3, rel=1e-3)


def test_feature_difference_loss_by_hand():
    v1 = torch.tensor([[[[0.0, 1.0]]]])
    v2 = torch.zeros(1, 1, 1, 2)
    assert float(lz.feature_difference_loss(v1, v2)) == pytest.approx((1 / 1 + 1 / 2) / 2)           # ε = 1
    assert float(lz.feature_difference_loss(v1, v2, eps=0.5)) == pytest.approx((1 / 0.5 + 1 / 1.5) / 2)
    with pytest.raises(ValueError, match="eps must be > 0"):
        lz.feature_difference_loss(v1, v2, eps=0.0)


def test_dice_loss_by_hand():
    target = torch.tensor([[[[1.0, 0.0], [0.0, 0.0]]]])
    # p = 0.5: 1 - (2·0.5 + 1) / (2 + 1 + 1) = 0.5
    assert float(lz.dice_loss(torch.zeros(1, 1, 2, 2), target)) == pytest.approx(0.5)
    perfect = torch.where(target > 0, 30.0, -30.0)
    assert float(lz.dice_loss(perfect, target)) == pytest.approx(0.0, abs=1e-6)
    assert float(lz.dice_loss(-perfect, target)) == pytest.approx(1 - 1 / 5, abs=1e-6)   # p = 1 - y: 1 - 1/(3+1+1)


def test_focal_loss_by_hand():
    target = torch.tensor([[[[1.0, 0.0]]]])
    # p = 0.5 on both: (0.1·0.25·ln2 + 0.9·0.25·ln2) / 2
    assert float(lz.focal_loss(torch.zeros(1, 1, 1, 2), target)) == pytest.approx(0.125 * math.log(2), rel=1e-6)
    logits = torch.tensor([[[[2.0, 1.0]]]])
    p = torch.sigmoid(logits)[0, 0, 0]
    expected = (0.1 * (1 - p[0]) ** 2 * -torch.log(p[0]) + 0.9 * p[1] ** 2 * -torch.log(1 - p[1])) / 2
    assert float(lz.focal_loss(logits, target)) == pytest.approx(float(expected), rel=1e-6)
    bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, target)
    assert float(lz.focal_loss(logits, target, alpha=0.5, gamma=0.0)) == pytest.approx(0.5 * float(bce), rel=1e-6)


def test_focal_lambda_decays_from_one():
    assert [lz.focal_lambda(e, 5) for e in range(5)] == pytest.approx([1.0, 0.75, 0.5, 0.25, 0.0])
    assert lz.focal_lambda(0, 1) == 1.0
    with pytest.raises(ValueError):
        lz.focal_lambda(5, 5)


def test_combined_losses_weight_their_parts():
    hw = TILE["lsanet"]
    x, mask = _batch(hw)
    out = create_model("lsanet", input_size=hw, **TINY["lsanet"]).forward_train(x)
    loc_labels = torch.from_numpy(rectangle_labels(mask.numpy())).float()
    total, parts = lz.lsanet_loss(out, mask, loc_labels)
    assert parts["seg"] == pytest.approx(0.5 * parts["bce"] + parts["dice"], rel=1e-5)
    weighted = 1.4 * parts["seg"] + 0.4 * parts["loc"] + 0.2 * parts["diff"]
    assert float(total.detach()) == pytest.approx(weighted, rel=1e-5)
    assert 0 < parts["diff"] <= 1.0
    logits = out["seg_logits"].detach()
    total, parts = lz.anomalyseg_loss(logits, mask, lam=0.3)
    assert float(total) == pytest.approx(parts["dice"] + 0.3 * parts["focal"], rel=1e-6)


# ------------------------------------------------------------------------------------ training steps


def _loss(name: str, model, x: torch.Tensor, mask: torch.Tensor, loc_labels: torch.Tensor) -> torch.Tensor:
    if name == "psicnet":
        return lz.psicnet_seg_loss(model.forward_train(x, stages=("seg",))["seg_logits"], mask)[0]
    if name == "lsanet":
        return lz.lsanet_loss(model.forward_train(x), mask, loc_labels)[0]
    return lz.anomalyseg_loss(model.forward_train(x)["seg_logits"], mask)[0]


@pytest.mark.parametrize("name", ZOO)
def test_a_few_steps_reduce_the_loss(name: str):
    torch.manual_seed(0)
    hw = TILE[name]
    model = create_model(name, input_size=hw, **TINY[name]).train()
    x, mask = _batch(hw)
    loc_labels = torch.from_numpy(rectangle_labels(mask.numpy())).float()
    optimizer = torch.optim.Adam(model.stage_parameters(model.STAGES[0]), lr=1e-2 if name == "anomalyseg" else 3e-3)
    losses = []
    for _ in range(6):
        loss = _loss(name, model, x, mask, loc_labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    assert all(math.isfinite(v) for v in losses)
    assert losses[-1] < losses[0] - 0.005, losses


def test_psicnet_two_steps_train_the_classifier_with_the_segmentation_frozen():
    torch.manual_seed(0)
    model = create_model("psicnet", **TINY["psicnet"]).train()
    x, mask = _batch((64, 64))
    out = model.forward_train(x)
    lz.psicnet_cls_loss(out["score_logits"], mask)[0].backward()   # classifier inputs are detached
    assert all(p.grad is None for p in model.stage_parameters("seg"))
    assert any(p.grad is not None for p in model.stage_parameters("cls"))
    model.zero_grad()

    model.freeze_stage("seg")
    model.train()
    assert not model.features.training and not model.decoder.training and model.classifier.training
    seg_before = [p.detach().clone() for p in model.stage_parameters("seg")]
    bn = model.features.group1[0].bn
    running_before = bn.running_mean.clone()
    optimizer = torch.optim.Adam(model.stage_parameters("cls"), lr=1e-2)
    losses = []
    for _ in range(6):
        loss = lz.psicnet_cls_loss(model.forward_train(x)["score_logits"], mask)[0]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < losses[0] - 0.01, losses
    assert all(torch.equal(a, b) for a, b in zip(seg_before, model.stage_parameters("seg")))
    assert torch.equal(running_before, bn.running_mean)   # frozen BN keeps its statistics
    with torch.no_grad():
        prob, score = model.eval().predict(x)
    assert prob.shape == (4, 1, 64, 64) and score.shape == (4,) and 0 <= float(score.min()) <= float(score.max()) <= 1


def test_lsanet_location_attention_is_fixed_strip_pooling():
    hw = TILE["lsanet"]
    model = create_model("lsanet", input_size=hw, **TINY["lsanet"])
    lam = model.lam[0]
    feats = torch.randn(2, 8, *hw)
    expected = feats.mean(dim=3, keepdim=True) * feats.mean(dim=2, keepdim=True)   # row mean ⊗ column mean
    torch.testing.assert_close(lam.pool(feats), expected, rtol=1e-5, atol=1e-6)
    fixed = {id(p) for m in model.lam for p in m.pool.parameters()}
    assert fixed and all(not p.requires_grad for m in model.lam for p in m.pool.parameters())
    trainable = list(model.stage_parameters("net"))
    assert not any(id(p) in fixed for p in trainable)
    assert len(trainable) + len(fixed) == len(list(model.parameters()))


@pytest.mark.parametrize("name", ZOO)
def test_checkpoint_round_trip_rebuilds_through_the_registry(tmp_path: Path, name: str):
    hw = TILE[name]
    model = create_model(name, input_size=hw, **TINY[name]).eval()
    path = save_checkpoint(tmp_path / f"{name}.pt", model, extra={"epoch": 3})
    again, extra = load_checkpoint(path)
    assert extra == {"epoch": 3} and again.arch == name and again.default_cfg == model.default_cfg
    x = _batch(hw)[0]
    with torch.no_grad():
        torch.testing.assert_close(again(x).prob, model(x).prob)


# ----------------------------------------------------------------------------------------------- ONNX


def _randomise(model: torch.nn.Module, x: torch.Tensor) -> None:
    """Non-trivial BN statistics, and heads rescaled so the logits on ``x`` have mean 0 and std 2:
    the parity check then compares probabilities spread over (0, 1), not saturated ones."""
    g = torch.Generator().manual_seed(3)
    heads = [
        m for m in model.modules() if isinstance(m, torch.nn.Conv2d) and m.out_channels == 1 and m.bias is not None
    ]
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.weight.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.num_features, generator=g) * 0.1)
        for head in heads:
            head.weight.copy_(torch.randn(head.weight.shape, generator=g))
            head.bias.zero_()
        outputs = {}
        hooks = [h.register_forward_hook(lambda m, i, o: outputs.__setitem__(m, o)) for h in heads]
        model(x)
        for hook in hooks:
            hook.remove()
        for head in heads:
            scale = 2.0 / float(outputs[head].std())
            head.weight.mul_(scale)
            head.bias.fill_(-scale * float(outputs[head].mean()))


@pytest.mark.slow
@pytest.mark.parametrize("name", ZOO)
def test_onnx_export_runs_in_onnxruntime_and_openvino_like_pytorch(tmp_path: Path, name: str):
    import onnx
    import onnxruntime as ort
    import openvino as ov

    from edgeinspect.export.onnx import export_onnx

    hw = TILE[name]
    model = create_model(name, input_size=hw, **TINY[name]).eval()   # same ops as full width, faster export
    x = np.random.default_rng(0).integers(0, 256, (2, 1, *hw)).astype(np.float32)
    _randomise(model, torch.from_numpy(x))
    path = export_onnx(model, tmp_path / f"{name}.onnx", tile_hw=hw)
    graph = onnx.load(str(path))
    assert {node.domain for node in graph.graph.node} <= {"", "ai.onnx"}   # standard ops only
    with torch.no_grad():
        ref = model(torch.from_numpy(x))
    names = list(OUTPUTS[name])
    assert [o.name for o in graph.graph.output] == names
    refs = [getattr(ref, n).numpy() for n in names]
    assert all(r.std() > 0.1 for n, r in zip(names, refs) if n != "score")   # not a comparison of constants
    got_ort = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(names, {"image": x})
    compiled = ov.Core().compile_model(str(path), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    result = compiled({"image": x})
    got_ov = [result[compiled.output(n)] for n in names]
    for got in (got_ort, got_ov):
        for g, r in zip(got, refs):
            assert g.shape == r.shape and np.abs(g - r).max() <= 1e-4
