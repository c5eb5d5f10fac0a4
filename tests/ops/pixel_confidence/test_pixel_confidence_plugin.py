"""The TensorRT plugin definition of edgeinspect::pixel_confidence.

CPU: the definitions, run through stand-in tensorrt/tensorrt.plugin modules (tests/ops/trtp_stub.py),
match spec.py (attribute names, order, kinds), bake the attributes into real NVRTC PTX whose .entry
has TensorRT's AOT argument layout, and derive launch parameters from the shape expressions.
GPU (@pytest.mark.gpu): a tiny network and an ONNX node through real TensorRT against reference.py.
"""

from __future__ import annotations

import importlib.util
import inspect
import re
import struct
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # tests/ops: trtp_stub, trt_gpu

import trtp_stub  # noqa: E402

from edgeinspect.errors import EdgeInspectError  # noqa: E402
from edgeinspect.ops import ptx, qdp  # noqa: E402
from edgeinspect.ops.pixel_confidence import plugin, spec  # noqa: E402
from edgeinspect.ops.pixel_confidence.reference import mean_kernel, pixel_confidence  # noqa: E402

MEAN3 = {"kernel": mean_kernel(3).reshape(-1), "kernel_size": 3, "epsilon": 0.2}


def _entry_params(code: bytes, entry: str) -> list[str]:
    match = re.search(rf"\.entry\s+{entry}\s*\((.*?)\)", code.decode(), re.DOTALL)
    assert match, f".entry {entry} missing"
    return re.findall(r"\.param\s+\.(\w+)", match.group(1))


def _ptx_float(value: float) -> str:
    """How PTX writes a float32 immediate: 0f + 8 hex digits."""
    return "0f" + struct.pack(">f", value).hex().upper()


@pytest.fixture
def defined(monkeypatch):
    monkeypatch.setenv(ptx.ARCH_ENV, "sm_87")
    monkeypatch.setattr(ptx, "driver_version", lambda: None)   # no driver on CPU machines
    trtp = trtp_stub.make_trtp()
    functions = plugin.define(trtp_stub.trt, trtp)
    return trtp.registry[spec.PLUGIN_ID], functions


def test_declared_attributes_equal_spec():
    assert plugin.attribute_kinds() == spec.ATTRIBUTES


def test_definition_signatures_follow_spec(defined):
    pdef, functions = defined
    assert pdef.tensors == list(spec.INPUTS)
    assert [(name, ptx.spec_kind(a)) for name, a in pdef.attrs.items()] == list(spec.ATTRIBUTES)
    # aot_impl receives every attribute positionally in registration order
    params = list(inspect.signature(functions["aot_impl"]).parameters)
    assert params == [*spec.INPUTS, *(name for name, _ in spec.ATTRIBUTES), "outputs", "tactic"]


def test_a_signature_out_of_spec_order_is_refused_on_the_trtp_stub():
    def reg(y_isr: trtp_stub.TensorDesc, kernel_size: int, kernel: plugin.FloatArray, epsilon: float) -> trtp_stub.TensorDesc:
        return y_isr

    functions = {"register": reg, "autotune": reg, "aot_impl": reg}
    with pytest.raises(TypeError, match="parameters"):
        ptx.check_qdp_signatures(functions, spec.INPUTS, plugin.ATTRIBUTES)


def test_autotune_offers_fp32_or_fp16_linear_on_the_trtp_stub(defined):
    pdef, _ = defined
    y = trtp_stub.TensorDesc((1, 1, 8, 8), trtp_stub.DataType.HALF)
    (combination,) = pdef.autotune(y, *MEAN3.values(), (y.like(),))
    assert combination.io_types == ["FP32|FP16", "FP32|FP16"] and combination.layouts == ["LINEAR"]


@pytest.mark.parametrize("dtype,name", [(trtp_stub.DataType.FLOAT, "fp32"), (trtp_stub.DataType.HALF, "fp16")])
def test_aot_impl_returns_ptx_with_tensorrt_argument_layout_on_the_trtp_stub(defined, dtype, name):
    pdef, _ = defined
    n, c, h, w = 2, 1, 70, 33
    kernel_name, code, launch, extra = trtp_stub.call_aot_impl(pdef, [trtp_stub.TensorDesc((n, c, h, w), dtype)], MEAN3)
    assert kernel_name == f"pixel_confidence_{name}"
    assert ptx.ptx_target(code) == "sm_87"
    assert _entry_params(code, kernel_name) == ["u64", "u32", "u32", "u64"]   # y, H, W, out
    assert [e.value for e in extra] == [h, w]
    assert launch.values() == {"grid_x": 2, "grid_y": 3, "grid_z": n * c, "block_x": plugin.TILE,
                               "block_y": plugin.ROWS, "block_z": 1, "shared_mem": 0}


def test_aot_impl_bakes_the_attributes_into_the_ptx_on_the_trtp_stub(defined):
    pdef, _ = defined
    y = trtp_stub.TensorDesc((1, 1, 16, 16), trtp_stub.DataType.FLOAT)
    weights = np.array([1, 2, 3, 4, 5, 6, 7, 8, 9], np.float32)
    _, code, _, _ = trtp_stub.call_aot_impl(pdef, [y], {"kernel": weights, "kernel_size": 3, "epsilon": 0.3})
    _, code_mean, _, _ = trtp_stub.call_aot_impl(pdef, [y], MEAN3)
    text = code.decode()
    assert _ptx_float(0.7) in text and _ptx_float(0.6 / 45) in text   # 1 - eps and 2 eps / sum(K)
    assert _ptx_float(9.0) in text                                    # a weight as an immediate
    assert code != code_mean


def test_aot_impl_names_a_bad_attribute_on_the_trtp_stub(defined):
    pdef, _ = defined
    y = trtp_stub.TensorDesc((1, 1, 16, 16), trtp_stub.DataType.FLOAT)
    with pytest.raises(EdgeInspectError, match="'epsilon'"):
        trtp_stub.call_aot_impl(pdef, [y], {**MEAN3, "epsilon": 1.5})


def test_aot_impl_refuses_more_planes_than_grid_z_on_the_trtp_stub(defined):
    pdef, _ = defined
    y = trtp_stub.TensorDesc((plugin.MAX_PLANES + 1, 1, 4, 4), trtp_stub.DataType.FLOAT)
    with pytest.raises(EdgeInspectError, match="grid z"):
        trtp_stub.call_aot_impl(pdef, [y], MEAN3)


def test_register_without_tensorrt_is_a_one_line_error(monkeypatch):
    if importlib.util.find_spec("tensorrt") is not None:
        pytest.skip("tensorrt is installed here")
    monkeypatch.setattr(qdp, "_registered", set())
    with pytest.raises(EdgeInspectError, match="TensorRT is not installed"):
        plugin.register()


# ------------------------------------------------------------------------------------------ GPU
def _gpu_input(dtype, shape=(2, 1, 45, 70)):
    rng = np.random.default_rng(5)
    y = rng.random(shape)
    y[rng.random(shape) < 0.2] = 1.0
    return y.astype(dtype)


@pytest.mark.gpu
@pytest.mark.parametrize("dtype,tol", [(np.float32, 1e-5), (np.float16, 1e-3)])
def test_gpu_plugin_matches_reference(dtype, tol):
    import tensorrt as trt
    import tensorrt.plugin as trtp

    import trt_gpu

    plugin.register()
    y = _gpu_input(dtype)
    kernel = np.random.default_rng(1).random((5, 5)).astype(np.float32)

    def populate(network):
        ty = network.add_input(spec.INPUTS[0], trt.float16 if dtype == np.float16 else trt.float32, y.shape)
        op = getattr(trtp.op, spec.PLUGIN_NAMESPACE).pixel_confidence
        layer = network.add_plugin(op(ty, kernel=kernel.reshape(-1), kernel_size=5, epsilon=0.3), aot=True)
        layer.get_output(0).name = spec.OUTPUTS[0]
        network.mark_output(layer.get_output(0))

    out = trt_gpu.run_plan(trt_gpu.build_plan(populate), {spec.INPUTS[0]: y})[spec.OUTPUTS[0]]
    assert out.dtype == dtype
    assert float(np.abs(out.astype(np.float64) - pixel_confidence(y.astype(np.float64), kernel, 0.3)).max()) <= tol


@pytest.mark.gpu
def test_gpu_onnx_node_from_spec_parses_to_the_aot_plugin(tmp_path):
    from onnx import TensorProto, helper

    import trt_gpu

    from edgeinspect.ops.host import run_pixel_confidence

    plugin.register()
    y = _gpu_input(np.float32)
    node = helper.make_node(spec.PLUGIN_NAME, list(spec.INPUTS), list(spec.OUTPUTS), domain=spec.ONNX_DOMAIN,
                            kernel=mean_kernel(3).reshape(-1).tolist(), kernel_size=3, epsilon=0.2,
                            plugin_namespace=spec.PLUGIN_NAMESPACE, aot=spec.AOT)
    graph = helper.make_graph([node], "pcm", [helper.make_tensor_value_info(spec.INPUTS[0], TensorProto.FLOAT, y.shape)],
                              [helper.make_tensor_value_info(spec.OUTPUTS[0], TensorProto.FLOAT, y.shape)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid(spec.ONNX_DOMAIN, 1)])
    out = trt_gpu.run_plan(trt_gpu.build_plan_from_onnx(model.SerializeToString()), {spec.INPUTS[0]: y})[spec.OUTPUTS[0]]
    assert float(np.abs(out - pixel_confidence(y)).max()) <= 1e-5
    np.testing.assert_array_equal(out, run_pixel_confidence(y, cache_dir=tmp_path))   # host form = device, bit for bit
