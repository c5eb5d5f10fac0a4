"""The TensorRT plugin definition of edgeinspect::strip_projection.

CPU: the definitions, run through stand-in tensorrt/tensorrt.plugin modules (tests/ops/trtp_stub.py),
match spec.py, produce real NVRTC PTX whose .entry has TensorRT's AOT argument layout, and derive
launch parameters from the shape expressions. GPU (@pytest.mark.gpu): a tiny network through real
TensorRT against reference.py.
"""

from __future__ import annotations

import importlib.util
import inspect
import re
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # tests/ops: trtp_stub, trt_gpu

import trtp_stub  # noqa: E402

from edgeinspect.errors import EdgeInspectError  # noqa: E402
from edgeinspect.ops import ptx, qdp  # noqa: E402
from edgeinspect.ops.strip_projection import plugin, spec  # noqa: E402
from edgeinspect.ops.strip_projection.reference import strip_projection  # noqa: E402


def _entry_params(code: bytes, entry: str) -> list[str]:
    """PTX parameter types of ``.entry <entry>(...)``, e.g. ['u64', 'u32', ...]."""
    match = re.search(rf"\.entry\s+{entry}\s*\((.*?)\)", code.decode(), re.DOTALL)
    assert match, f".entry {entry} missing"
    return re.findall(r"\.param\s+\.(\w+)", match.group(1))


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
    assert list(inspect.signature(functions["aot_impl"]).parameters)[-2:] == ["outputs", "tactic"]
    assert spec.PLUGIN_ID == f"{spec.PLUGIN_NAMESPACE}::{spec.PLUGIN_NAME}"


def test_autotune_offers_all_fp32_or_all_fp16_linear_on_the_trtp_stub(defined):
    pdef, _ = defined
    descs = [trtp_stub.TensorDesc(s, trtp_stub.DataType.FLOAT) for s in ((1, 2, 4, 4), (2, 4), (2,), (2, 4), (2,))]
    (combination,) = pdef.autotune(*descs, (descs[0].like(),))
    assert combination.io_types == ["FP32|FP16"] * 6
    assert combination.layouts == ["LINEAR"]


@pytest.mark.parametrize("dtype,name", [(trtp_stub.DataType.FLOAT, "fp32"), (trtp_stub.DataType.HALF, "fp16")])
def test_aot_impl_returns_ptx_with_tensorrt_argument_layout_on_the_trtp_stub(defined, dtype, name):
    pdef, _ = defined
    n, c, h, w = 2, 3, 40, 24
    inputs = [trtp_stub.TensorDesc(s, dtype) for s in ((n, c, h, w), (c, h), (c,), (c, w), (c,))]
    kernel_name, code, launch, extra = trtp_stub.call_aot_impl(pdef, inputs, {})
    assert kernel_name == f"strip_projection_{name}"
    assert ptx.ptx_target(code) == "sm_87" and not code.endswith(b"\0")
    # inputs (5 pointers), extra args (C, H, W as int32), output (1 pointer): TensorRT's AOT order
    assert _entry_params(code, kernel_name) == ["u64"] * 5 + ["u32"] * 3 + ["u64"]
    assert [e.value for e in extra] == [c, h, w]
    assert launch.values() == {"grid_x": n * c, "grid_y": 1, "grid_z": 1, "block_x": plugin.THREADS,
                               "block_y": 1, "block_z": 1, "shared_mem": (h + w) * 4}


def test_aot_impl_follows_a_dynamic_batch_on_the_trtp_stub(defined):
    pdef, _ = defined
    x = trtp_stub.TensorDesc((5, 2, 8, 8), trtp_stub.DataType.FLOAT, dynamic=(0,))
    inputs = [x] + [trtp_stub.TensorDesc(s, trtp_stub.DataType.FLOAT) for s in ((2, 8), (2,), (2, 8), (2,))]
    _, _, launch, _ = trtp_stub.call_aot_impl(pdef, inputs, {})
    assert launch.grid_x.value == 10 and not launch.grid_x.expr.is_constant


def test_aot_impl_refuses_planes_beyond_shared_memory_on_the_trtp_stub(defined):
    pdef, _ = defined
    h, w = 8000, plugin.MAX_H_PLUS_W - 8000 + 1
    inputs = [trtp_stub.TensorDesc(s, trtp_stub.DataType.FLOAT) for s in ((1, 1, h, w), (1, h), (1,), (1, w), (1,))]
    with pytest.raises(EdgeInspectError, match="12032"):
        trtp_stub.call_aot_impl(pdef, inputs, {})


def test_aot_impl_refuses_ptx_newer_than_the_driver_on_the_trtp_stub(defined, monkeypatch):
    pdef, _ = defined
    monkeypatch.setattr(ptx, "driver_version", lambda: 12060)
    inputs = [trtp_stub.TensorDesc(s, trtp_stub.DataType.FLOAT) for s in ((1, 1, 4, 4), (1, 4), (1,), (1, 4), (1,))]
    isa = ptx.nvrtc_ptx_isa()
    if ptx.required_cuda_version(isa) <= 12060:
        pytest.skip(f"this NVRTC writes PTX ISA {isa}, which a CUDA 12.6 driver loads")
    with pytest.raises(EdgeInspectError, match=rf"PTX ISA {re.escape(isa)}.*CUDA 12\.6.*nvidia-cuda-nvrtc-cu12==12\.6"):
        trtp_stub.call_aot_impl(pdef, inputs, {})


def test_register_without_tensorrt_is_a_one_line_error(monkeypatch):
    if importlib.util.find_spec("tensorrt") is not None:
        pytest.skip("tensorrt is installed here")
    monkeypatch.setattr(qdp, "_registered", set())
    with pytest.raises(EdgeInspectError, match="TensorRT is not installed"):
        plugin.register()


def test_register_with_a_fake_tensorrt_10_3_names_the_standard_op_form(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorrt", SimpleNamespace(__version__="10.3.0"))
    monkeypatch.setattr(qdp, "_registered", set())
    with pytest.raises(EdgeInspectError, match=r"10\.3\.0.*>= 10\.9.*standard-op"):
        plugin.register()


def _fake_tensorrt(monkeypatch):
    """tensorrt >= 10.9 stand-in in sys.modules; returns its tensorrt.plugin stub."""
    trtp = trtp_stub.make_trtp()
    trt = SimpleNamespace(**vars(trtp_stub.trt), __version__="10.13.0", plugin=trtp)
    monkeypatch.setitem(sys.modules, "tensorrt", trt)
    monkeypatch.setitem(sys.modules, "tensorrt.plugin", trtp)
    monkeypatch.setattr(qdp, "_registered", set())
    return trtp


def test_register_defines_the_plugin_once_on_a_fake_tensorrt(monkeypatch):
    trtp = _fake_tensorrt(monkeypatch)
    monkeypatch.setattr(ptx, "driver_version", lambda: None)
    plugin.register()
    plugin.register()   # idempotent: a second definition would raise in tensorrt.plugin
    monkeypatch.setattr(qdp, "_registered", set())
    plugin.register()   # also when another import already defined trtp.op.edgeinspect.strip_projection
    assert list(trtp.registry) == [spec.PLUGIN_ID] and trtp.registry[spec.PLUGIN_ID].aot_impl is not None


def test_register_refuses_a_driver_older_than_the_ptx_isa_before_defining_on_a_fake_tensorrt(monkeypatch):
    trtp = _fake_tensorrt(monkeypatch)
    monkeypatch.setattr(ptx, "driver_version", lambda: 11080)
    with pytest.raises(EdgeInspectError, match=r"CUDA 11\.8"):
        plugin.register()
    assert not trtp.registry


# ------------------------------------------------------------------------------------------ GPU
def _gpu_case(dtype, n=2, c=3, h=37, w=45):
    rng = np.random.default_rng(11)
    x = rng.random((n, c, h, w)).astype(dtype)
    weights = [(1 / h + rng.standard_normal((c, h)) / h).astype(dtype), (0.1 * rng.standard_normal(c)).astype(dtype),
               (1 / w + rng.standard_normal((c, w)) / w).astype(dtype), (0.1 * rng.standard_normal(c)).astype(dtype)]
    return x, weights


def _populate(x, weights, batch_dynamic=False):
    def populate(network):
        import tensorrt as trt
        import tensorrt.plugin as trtp

        dtype = trt.float16 if x.dtype == np.float16 else trt.float32
        shape = (-1, *x.shape[1:]) if batch_dynamic else x.shape
        tx = network.add_input("x", dtype, shape)
        consts = [network.add_constant(a.shape, trt.Weights(np.ascontiguousarray(a))).get_output(0) for a in weights]
        layer = network.add_plugin(getattr(trtp.op, spec.PLUGIN_NAMESPACE).strip_projection(tx, *consts), aot=True)
        layer.get_output(0).name = "y"
        network.mark_output(layer.get_output(0))
    return populate


@pytest.mark.gpu
@pytest.mark.parametrize("dtype,tol", [(np.float32, 1e-5), (np.float16, 1e-3)])
def test_gpu_plugin_matches_reference(dtype, tol):
    import trt_gpu

    plugin.register()
    x, weights = _gpu_case(dtype)
    plan = trt_gpu.build_plan(_populate(x, weights))
    y = trt_gpu.run_plan(plan, {"x": x})["y"]
    ref = strip_projection(x.astype(np.float64), *(a.astype(np.float64) for a in weights))
    assert y.dtype == dtype
    assert float(np.abs(y.astype(np.float64) - ref).max()) <= tol * max(1.0, float(np.abs(ref).max()))


@pytest.mark.gpu
def test_gpu_fp32_equals_the_host_form_bit_for_bit(tmp_path):
    import trt_gpu

    from edgeinspect.ops.host import run_strip_projection

    plugin.register()
    x, weights = _gpu_case(np.float32)
    y = trt_gpu.run_plan(trt_gpu.build_plan(_populate(x, weights)), {"x": x})["y"]
    np.testing.assert_array_equal(y, run_strip_projection(x, *weights, cache_dir=tmp_path))


@pytest.mark.gpu
def test_gpu_plugin_with_dynamic_batch():
    import trt_gpu

    plugin.register()
    x, weights = _gpu_case(np.float32, n=3)
    plan = trt_gpu.build_plan(_populate(x, weights, batch_dynamic=True),
                              {"x": ((1, *x.shape[1:]), (2, *x.shape[1:]), (4, *x.shape[1:]))})
    y = trt_gpu.run_plan(plan, {"x": x})["y"]
    ref = strip_projection(x, *weights)
    assert float(np.abs(y - ref).max()) <= 1e-5 * max(1.0, float(np.abs(ref).max()))


@pytest.mark.gpu
def test_gpu_onnx_node_from_spec_parses_to_the_aot_plugin():
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    import trt_gpu

    plugin.register()
    x, weights = _gpu_case(np.float32)
    inits = [numpy_helper.from_array(a, name) for a, name in zip(weights, spec.INPUTS[1:])]
    node = helper.make_node(spec.PLUGIN_NAME, list(spec.INPUTS), list(spec.OUTPUTS), domain=spec.ONNX_DOMAIN,
                            plugin_namespace=spec.PLUGIN_NAMESPACE, aot=spec.AOT)
    graph = helper.make_graph([node], "sp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, x.shape)],
                              [helper.make_tensor_value_info(spec.OUTPUTS[0], TensorProto.FLOAT, x.shape)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid(spec.ONNX_DOMAIN, 1)])
    y = trt_gpu.run_plan(trt_gpu.build_plan_from_onnx(model.SerializeToString()), {"x": x})[spec.OUTPUTS[0]]
    ref = strip_projection(x, *weights)
    assert float(np.abs(y - ref).max()) <= 1e-5 * max(1.0, float(np.abs(ref).max()))
    onnx.checker.check_model(model)
