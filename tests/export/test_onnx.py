"""ONNX export: interface, parity with PyTorch (standard form), plugin-form nodes exactly as the specs say."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import AttributeProto

from edgeinspect import backends
from edgeinspect.errors import EdgeInspectError
from edgeinspect.export.metadata import read_metadata
from edgeinspect.export.onnx import export_onnx
from edgeinspect.ops.pixel_confidence import plugin as pcm_plugin
from edgeinspect.ops.pixel_confidence import spec as pcm_spec
from edgeinspect.ops.strip_projection import plugin as strip_plugin
from edgeinspect.ops.strip_projection import spec as strip_spec

SPECS = {"strip": (strip_spec, strip_plugin), "pcm": (pcm_spec, pcm_plugin)}
KIND_OF_ATTRIBUTE = {
    AttributeProto.FLOAT: "float", AttributeProto.FLOATS: "floats", AttributeProto.INT: "int",
    AttributeProto.INTS: "ints", AttributeProto.STRING: "string",
}


def _pixels(n: int, hw: tuple[int, int], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 1, *hw)).astype(np.float32)


def _torch_outputs(model, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    with torch.inference_mode():
        out = model(torch.from_numpy(x))
    return out.prob.numpy(), out.loc.numpy()


def test_standard_form_matches_pytorch_within_1e_4(tiny_model, tiny_standard: Path) -> None:
    x = _pixels(3, (32, 48))
    session = ort.InferenceSession(str(tiny_standard), providers=["CPUExecutionProvider"])
    prob, loc = session.run(["prob", "loc"], {"image": x})
    ref_prob, ref_loc = _torch_outputs(tiny_model, x)
    assert np.abs(prob - ref_prob).max() <= 1e-4
    assert np.abs(loc - ref_loc).max() <= 1e-4
    assert 0.01 < ref_prob.std()  # the comparison is not of constants


def test_subnormal_weights_are_exported_as_zero_with_the_same_outputs(tiny_model, tmp_path: Path) -> None:
    # weight decay leaves weights below float32's smallest normal value: x86 computes with them up to
    # 100x slower, so the export writes them as 0; the outputs do not change
    import copy

    from onnx import numpy_helper

    model = copy.deepcopy(tiny_model)
    tiny = np.finfo(np.float32).tiny
    with torch.no_grad():
        weights = [p for p in model.parameters() if p.dim() == 4]
        for weight in weights[:3]:
            weight.view(-1)[::7] = float(tiny) / 16  # subnormal
    path = export_onnx(model, tmp_path / "subnormal.onnx", tile_hw=(32, 48))
    exported = [numpy_helper.to_array(i) for i in onnx.load(str(path)).graph.initializer]
    floats = [a for a in exported if a.dtype == np.float32]
    assert floats and not any(((a != 0) & (np.abs(a) < tiny)).any() for a in floats)
    x = _pixels(2, (32, 48))
    prob, loc = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(["prob", "loc"], {"image": x})
    ref_prob, ref_loc = _torch_outputs(model, x)
    assert np.abs(prob - ref_prob).max() <= 1e-4 and np.abs(loc - ref_loc).max() <= 1e-4


def test_graph_interface_dynamic_batch_fixed_tile(tiny_standard: Path) -> None:
    model = onnx.load(str(tiny_standard))
    onnx.checker.check_model(model, full_check=True)
    (graph_input,) = model.graph.input
    assert graph_input.name == "image" and graph_input.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    dims = graph_input.type.tensor_type.shape.dim
    assert dims[0].dim_param and [d.dim_value for d in dims[1:]] == [1, 32, 48]
    assert [o.name for o in model.graph.output] == ["prob", "loc"]
    for output in model.graph.output:
        out_dims = output.type.tensor_type.shape.dim
        assert out_dims[0].dim_param and [d.dim_value for d in out_dims[1:]] == [1, 32, 48]
    opset = {o.domain: o.version for o in model.opset_import}
    assert opset.get("", opset.get("ai.onnx", 0)) >= 17
    assert {n.domain for n in model.graph.node} <= {"", "ai.onnx"}
    session = ort.InferenceSession(str(tiny_standard), providers=["CPUExecutionProvider"])
    for batch in (1, 5):
        assert session.run(["prob"], {"image": _pixels(batch, (32, 48))})[0].shape == (batch, 1, 32, 48)


def test_metadata_names_the_network_and_tile(tiny_standard: Path) -> None:
    meta = read_metadata(tiny_standard)
    assert meta["arch"] == "tiny-seg" and meta["kwargs"] == {"tile_hw": [32, 48]}
    assert meta["tile_hw"] == (32, 48) and meta["op_form"] == "standard" and meta["outputs"] == ("prob", "loc")
    assert meta["custom_domains"] == []


def _plugin_nodes(path: Path) -> dict[str, onnx.NodeProto]:
    model = onnx.load(str(path))
    custom = [n for n in model.graph.node if n.domain not in ("", "ai.onnx")]
    return {n.op_type: n for n in custom}, custom, model


@pytest.mark.parametrize("op", ["strip", "pcm"])
def test_plugin_node_carries_exactly_the_spec_names_and_attributes(tiny_plugin: Path, op: str) -> None:
    spec, plugin = SPECS[op]
    by_type, custom, model = _plugin_nodes(tiny_plugin)
    assert [n.op_type for n in custom].count(spec.PLUGIN_NAME) == 1
    node = by_type[spec.PLUGIN_NAME]
    assert node.domain == spec.ONNX_DOMAIN
    assert len(node.input) == len(spec.INPUTS) and len(node.output) == len(spec.OUTPUTS)
    attributes = {a.name: a for a in node.attribute}
    assert set(attributes) == {"plugin_namespace", "aot"} | {name for name, _ in spec.ATTRIBUTES}
    assert attributes["plugin_namespace"].type == AttributeProto.STRING
    assert attributes["plugin_namespace"].s.decode() == spec.PLUGIN_NAMESPACE
    assert attributes["aot"].type == AttributeProto.INT and attributes["aot"].i == 1
    typed = tuple((name, KIND_OF_ATTRIBUTE[attributes[name].type]) for name, _ in spec.ATTRIBUTES)
    assert typed == tuple(spec.ATTRIBUTES) == tuple(plugin.attribute_kinds())  # the TensorRT side declares the same
    assert any(o.domain == spec.ONNX_DOMAIN for o in model.opset_import)


def test_plugin_node_attribute_and_weight_values_are_the_model_s(tiny_model, tiny_plugin: Path) -> None:
    by_type, custom, model = _plugin_nodes(tiny_plugin)
    assert len(custom) == 2
    pcm = {a.name: onnx.helper.get_attribute_value(a) for a in by_type[pcm_spec.PLUGIN_NAME].attribute}
    np.testing.assert_allclose(pcm["kernel"], tiny_model.pcm.kernel.numpy().ravel(), rtol=1e-6)
    assert pcm["kernel_size"] == 5 and pcm["epsilon"] == pytest.approx(0.3)
    inits = {i.name: onnx.numpy_helper.to_array(i) for i in model.graph.initializer}
    strip = by_type[strip_spec.PLUGIN_NAME]
    weights = dict(zip(strip_spec.INPUTS[1:], strip.input[1:]))
    for name, tensor in weights.items():
        np.testing.assert_array_equal(inits[tensor], getattr(tiny_model.strip, name).detach().numpy())
    # the decomposition is gone: no depthwise (H,1)/(1,W) convolution is left in the graph
    depthwise = [n for n in model.graph.node if n.op_type == "Conv" and any(
        a.name == "group" and a.i > 1 for a in n.attribute)]
    assert depthwise == []
    onnx.checker.check_model(model)  # schemas registered by the exporter: attribute types checked


def test_plugin_stand_ins_compute_the_same_as_the_modules(tiny_model) -> None:
    from edgeinspect.export.plugin_ops import plugin_form

    swapped, counts = plugin_form(tiny_model)
    assert counts == {strip_spec.PLUGIN_NAME: 1, pcm_spec.PLUGIN_NAME: 1}
    x = _pixels(2, (32, 48), seed=4)
    for ref, got in zip(_torch_outputs(tiny_model, x), _torch_outputs(swapped, x)):
        np.testing.assert_allclose(got, ref, atol=1e-6)
    assert type(tiny_model.strip).__name__ == "StripProjection"  # the original is untouched


def test_plugin_form_is_refused_by_onnxruntime_with_the_fix(tiny_plugin: Path) -> None:
    with pytest.raises(EdgeInspectError, match=r"plugin-form ONNX .*cannot run on ONNX Runtime; export with `--ops standard`"):
        backends.load(tiny_plugin).open()


def test_bad_options(tmp_path: Path, tiny_model) -> None:
    with pytest.raises(EdgeInspectError, match="op form must be one of standard, plugin"):
        export_onnx(tiny_model, tmp_path / "m.onnx", op_form="fused")
    with pytest.raises(EdgeInspectError, match=r"opset must be in \[17, \d+\] .*got 16"):
        export_onnx(tiny_model, tmp_path / "m.onnx", opset=16)
    with pytest.raises(EdgeInspectError, match=r"opset must be in \[17, \d+\] \(the installed onnx .*got 99"):
        export_onnx(tiny_model, tmp_path / "m.onnx", opset=99)  # the exporter would fall back to its own
    assert not (tmp_path / "m.onnx").exists()


@pytest.mark.slow
def test_lpcnet_lite_checkpoint_exports_through_the_cli_with_parity(tmp_path: Path) -> None:
    import subprocess
    import sys

    from edgeinspect.models import create_model, save_checkpoint

    model = create_model("lpcnet-lite", input_size=(64, 64)).eval()
    with torch.no_grad():  # move the heads off their 1 % prior so probabilities vary
        for module in (model.seg.head, model.dlm.head):
            module.bias.zero_()
    checkpoint = save_checkpoint(tmp_path / "lite.pt", model)
    path = tmp_path / "lite.onnx"
    result = subprocess.run([sys.executable, "-m", "edgeinspect", "export", str(checkpoint), "--out", str(path)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "standard ops" in result.stdout and "image (N,1,64,64) → prob, loc" in result.stdout
    x = _pixels(2, (64, 64), seed=7)
    prob, loc = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(["prob", "loc"], {"image": x})
    ref_prob, ref_loc = _torch_outputs(model, x)
    assert np.abs(prob - ref_prob).max() <= 1e-4 and np.abs(loc - ref_loc).max() <= 1e-4
    assert ref_prob.std() > 1e-3
    meta = read_metadata(path)
    assert meta["arch"] == "lpcnet-lite" and meta["tile_hw"] == (64, 64) and meta["kwargs"]["input_size"] == [64, 64]
