"""LPC-Net: shapes, ranges, training outputs, stages, compensation weights, ONNX export of the lite."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch

from edgeinspect.errors import EdgeInspectError
from edgeinspect.models import SegOutput, create_model
from edgeinspect.models.lpcnet import compensation_weights

TRAIN_KEYS = {"loc_logits", "loc", "seg_logits", "prob_isr", "prob", "m_ipc"}


@pytest.fixture(scope="module")
def lite() -> torch.nn.Module:
    torch.manual_seed(0)
    return create_model("lpcnet-lite").eval()


def _image(n: int, h: int, w: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, 1, h, w, generator=torch.Generator().manual_seed(seed)) * 255


def test_lite_inference_shapes_and_ranges(lite) -> None:
    with torch.no_grad():
        out = lite(_image(2, 256, 256))
    assert isinstance(out, SegOutput)
    for t in out:
        assert t.shape == (2, 1, 256, 256) and t.dtype == torch.float32
        assert float(t.min()) >= 0.0 and float(t.max()) <= 1.0


def test_lite_serves_a_rectangular_tile_when_built_for_it() -> None:
    model = create_model("lpcnet-lite", input_size=(128, 256)).eval()
    assert model.dlm.strip.height == 32 and model.dlm.strip.width == 64
    with torch.no_grad():
        prob, loc = model(_image(1, 128, 256))
    assert prob.shape == loc.shape == (1, 1, 128, 256)
    with pytest.raises(EdgeInspectError, match="built for 128x256 tiles, got 256x256"):
        model(_image(1, 256, 256))


def test_wrong_channel_count_is_a_user_error(lite) -> None:
    with pytest.raises(EdgeInspectError, match=r"\(N,1,H,W\)"):
        lite(torch.zeros(1, 3, 256, 256))


def test_forward_train_keys_shapes_and_pcm_switch(lite) -> None:
    x = _image(2, 256, 256, seed=1)
    with torch.no_grad():
        off = lite.forward_train(x, pcm=False)
        on = lite.forward_train(x, pcm=True)
        inference = lite(x)
    assert set(off) == set(on) == TRAIN_KEYS
    for value in on.values():
        assert value.shape == (2, 1, 256, 256)
    torch.testing.assert_close(off["prob_isr"], torch.sigmoid(off["seg_logits"]))
    torch.testing.assert_close(off["prob"], off["prob_isr"])
    torch.testing.assert_close(on["prob"], lite.pcm(on["prob_isr"]))
    torch.testing.assert_close(on["m_ipc"], lite.pcm.m_ipc(on["prob_isr"]))
    torch.testing.assert_close(inference.prob, on["prob"])          # inference = PCM on
    torch.testing.assert_close(inference.loc, torch.sigmoid(on["loc_logits"]))
    assert set(lite.forward_train(x, pcm=False, stages=("dlm",))) == {"loc_logits", "loc"}


def test_stage_parameters_partition_the_trainable_weights(lite) -> None:
    dlm = {id(p) for p in lite.stage_parameters("dlm")}
    seg = {id(p) for p in lite.stage_parameters("seg")}
    assert dlm and seg and not dlm & seg
    assert dlm | seg == {id(p) for p in lite.parameters()}
    with pytest.raises(ValueError, match="dlm"):
        lite.stage_parameters("pcm")


def test_frozen_stage_gets_no_gradient_and_keeps_batchnorm_in_eval() -> None:
    model = create_model("lpcnet-lite", input_size=(64, 64))
    model.freeze_stage("dlm")
    model.train()
    assert not model.dlm.training and model.seg.training
    out = model.forward_train(_image(2, 64, 64), pcm=True)
    weights = compensation_weights(out["loc"])
    (out["seg_logits"] * weights).mean().backward()
    assert all(p.grad is None for p in model.stage_parameters("dlm"))
    used = [p for p in model.stage_parameters("seg") if p.grad is not None and p.grad.abs().sum() > 0]
    assert len(used) == len(list(model.stage_parameters("seg")))     # no dead weights (pruned encoder)
    model.freeze_stage("dlm", False)
    assert model.dlm.training and all(p.requires_grad for p in model.stage_parameters("dlm"))


def test_compensation_weights_span_one_plus_minus_omega() -> None:
    loc = torch.rand(3, 1, 16, 16)
    loc[2] = 0.3                                          # constant map → weights 1
    w = compensation_weights(loc, omega=0.2)
    assert w.shape == loc.shape and not w.requires_grad
    for i in range(2):
        assert float(w[i].min()) == pytest.approx(0.8) and float(w[i].max()) == pytest.approx(1.2)
    assert torch.equal(w[2], torch.ones_like(w[2]))
    assert torch.argmax(w[0]) == torch.argmax(loc[0])       # monotone in loc
    with pytest.raises(ValueError):
        compensation_weights(loc, omega=1.0)


def test_lpcnet_paper_size_runs_at_128() -> None:
    model = create_model("lpcnet", input_size=(128, 128)).eval()
    assert model.seg.encoder.reductions == (4, 16) and model.seg.encoder.out_channels == (256, 2048)
    with torch.no_grad():
        prob, loc = model(_image(1, 128, 128))
    assert prob.shape == loc.shape == (1, 1, 128, 128)
    assert 0.0 <= float(prob.min()) and float(prob.max()) <= 1.0


def test_lite_exports_to_standard_onnx_that_onnxruntime_runs(lite, tmp_path) -> None:
    import onnxruntime as ort

    x = _image(1, 256, 256, seed=3)
    path = tmp_path / "lite.onnx"
    torch.onnx.export(lite, (x,), str(path), input_names=["image"], output_names=["prob", "loc"],
                      opset_version=17, dynamo=False)
    graph = onnx.load(str(path))
    onnx.checker.check_model(graph)
    assert {node.domain for node in graph.graph.node} <= {"", "ai.onnx"}
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    prob, loc = session.run(["prob", "loc"], {"image": x.numpy()})
    with torch.no_grad():
        expected = lite(x)
    np.testing.assert_allclose(prob, expected.prob.numpy(), atol=1e-4)
    np.testing.assert_allclose(loc, expected.loc.numpy(), atol=1e-4)
    assert path.stat().st_size < 4e6
