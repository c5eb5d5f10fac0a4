"""TensorRT backend, the parts that run without a GPU: compatibility rules, build decisions per TensorRT version,
the ONNX rewrites (FP16 graph, plugin ↔ standard ops, plugin-form QDQ), CUDA error mapping with the real
no-driver cudart, and the one-line errors when TensorRT is missing."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from engine_testkit import bright_net_onnx
from onnx import TensorProto, helper, numpy_helper

from edgeinspect.backends import compat, cuda_mem
from edgeinspect.backends import tensorrt_build as tb
from edgeinspect.backends import tensorrt_onnx as tx
from edgeinspect.backends.compat import EngineTarget, MachineFacts
from edgeinspect.backends.manifest import Manifest, hash_files, write_manifest
from edgeinspect.errors import EdgeInspectError
from edgeinspect.ops.pixel_confidence.reference import pixel_confidence
from edgeinspect.ops.strip_projection.reference import strip_projection

HERE = compat.platform_tag()
HAS_TENSORRT = importlib.util.find_spec("tensorrt") is not None


def _driver_present() -> bool:
    from cuda.bindings import runtime as cudart

    err, version = cudart.cudaDriverGetVersion()
    return err == cudart.cudaError_t.cudaSuccess and version > 0


NO_DRIVER = not _driver_present()


# =================================================================================== compatibility
def target(**overrides) -> EngineTarget:
    values = dict(tensorrt_version="10.3.0.30", gpu_name="Orin", compute_capability="8.7", driver_version=12060,
                  platform=HERE, plugin_mode="standard-ops", plugin_reason="TensorRT 10.3 has no AOT plugins",
                  profile={"min": [1, 1, 64, 64], "opt": [4, 1, 64, 64], "max": [8, 1, 64, 64]})
    values.update(overrides)
    return EngineTarget(**values)


def facts(**overrides) -> MachineFacts:
    values = dict(tensorrt_version="10.3.0.30", gpu_name="Orin", compute_capability="8.7", driver_version=12060,
                  platform=HERE)
    values.update(overrides)
    return MachineFacts(**values)


def test_same_machine_is_compatible_without_warnings() -> None:
    assert compat.compat_problems(target(), facts()) == ([], [])


def test_other_tensorrt_version_fails_naming_both_versions_and_the_rebuild_command() -> None:
    with pytest.raises(EdgeInspectError) as error:
        compat.check_compat(target(), facts(tensorrt_version="10.9.0.34"), engine_dir="engines/lite",
                            rebuild="edgeinspect build lite.pt --backend tensorrt --precision fp16 --out engines/lite --force")
    message = str(error.value)
    assert "engines/lite" in message and "10.3.0.30" in message and "10.9.0.34" in message
    assert "edgeinspect build lite.pt --backend tensorrt" in message and "\n" not in message


def test_other_build_number_of_the_same_release_is_only_a_warning() -> None:
    problems, warnings = compat.compat_problems(target(), facts(tensorrt_version="10.3.0.26"))
    assert problems == [] and len(warnings) == 1 and "10.3.0.26" in warnings[0]


@pytest.mark.parametrize(("here", "ok"), [("10.3.0.30", True), ("10.9.0.34", True), ("11.1.0.106", True),
                                          ("10.2.0.19", False), ("12.0.0.1", False)])
def test_version_compatible_plans_run_forward_at_most_one_major(here: str, ok: bool) -> None:
    problems, _ = compat.compat_problems(target(version_compatible=True), facts(tensorrt_version=here))
    assert (problems == []) is ok, problems


def test_other_gpu_names_both_architectures() -> None:
    problems, _ = compat.compat_problems(target(), facts(gpu_name="NVIDIA GeForce RTX 4090", compute_capability="8.9"))
    assert len(problems) == 1 and "Orin (sm_87)" in problems[0] and "RTX 4090 (sm_89)" in problems[0]


def test_same_architecture_other_gpu_model_warns_only() -> None:
    problems, warnings = compat.compat_problems(target(gpu_name="NVIDIA A10", compute_capability="8.6"),
                                                facts(gpu_name="NVIDIA GeForce RTX 3090", compute_capability="8.6"))
    assert problems == [] and "A10" in warnings[0]


@pytest.mark.parametrize(("capability", "ok"), [("8.0", True), ("8.9", True), ("9.0", True), ("7.5", False)])
def test_ampere_plus_plans_run_on_any_ampere_or_newer_gpu(capability: str, ok: bool) -> None:
    problems, _ = compat.compat_problems(target(hardware_compat="ampere_plus", compute_capability="8.6"),
                                         facts(gpu_name="x", compute_capability=capability))
    assert (problems == []) is ok


def test_plugin_ptx_needs_a_driver_that_loads_its_isa() -> None:
    plan = target(plugin_mode="aot-qdp", tensorrt_version="10.9.0.34", ptx_archs=("sm_87",), ptx_isa="9.5")
    problems, _ = compat.compat_problems(plan, facts(tensorrt_version="10.9.0.34", driver_version=12060))
    assert len(problems) == 1 and "ISA 9.5" in problems[0] and "CUDA >= 13.5" in problems[0] and "12.6" in problems[0]
    assert compat.compat_problems(plan, facts(tensorrt_version="10.9.0.34", driver_version=13050))[0] == []


def test_plugin_ptx_newer_than_the_gpu_is_refused() -> None:
    plan = target(plugin_mode="aot-qdp", hardware_compat="ampere_plus", tensorrt_version="10.9.0.34",
                  ptx_archs=("sm_87",), ptx_isa="8.5")
    problems, _ = compat.compat_problems(plan, facts(tensorrt_version="10.9.0.34", compute_capability="8.6",
                                                     gpu_name="NVIDIA A10"))
    assert len(problems) == 1 and "sm_87" in problems[0] and "sm_86" in problems[0]


def test_missing_tensorrt_gpu_platform_and_dla_are_each_named() -> None:
    problems, _ = compat.compat_problems(
        target(dla_core=1),
        MachineFacts(None, None, None, None, "win32-amd64", dla_cores=0, gpu_problem="cudaErrorInsufficientDriver"),
    )
    text = " | ".join(problems)
    assert len(problems) == 4
    assert "TensorRT is not installed" in text and "cudaErrorInsufficientDriver" in text
    assert "win32-amd64" in text and "DLA core 1" in text


def test_engine_target_round_trips_through_json_and_names_the_file_when_broken() -> None:
    record = target(plugin_mode="aot-qdp", ptx_archs=("sm_87",), ptx_isa="8.5", builder_flags=("FP16",), dla_core=0)
    data = json.loads(json.dumps(record.to_json()))
    assert EngineTarget.from_json(data, source="m.json") == record
    del data["gpu_name"]
    with pytest.raises(EdgeInspectError, match="m.json.*gpu_name"):
        EngineTarget.from_json(data, source="m.json")
    with pytest.raises(EdgeInspectError, match="m.json.*no TensorRT build record"):
        EngineTarget.from_json(None, source="m.json")
    with pytest.raises(EdgeInspectError, match="plugin_mode"):
        EngineTarget.from_json({**record.to_json(), "plugin_mode": "jit"}, source="m.json")


@pytest.mark.skipif(not NO_DRIVER, reason="this machine has a CUDA driver")
def test_this_machine_reports_the_missing_driver_instead_of_raising() -> None:
    here = compat.this_machine()
    assert here.compute_capability is None and here.gpu_name is None and here.driver_version is None
    assert "cudaErrorInsufficientDriver" in here.gpu_problem
    assert here.platform == HERE and (here.tensorrt_version is None) is (not HAS_TENSORRT)


def _fake_tensorrt_folder(folder: Path, record: EngineTarget) -> Path:
    folder.mkdir(parents=True)
    (folder / "model.plan").write_bytes(b"not a real plan")
    manifest = Manifest(
        backend="tensorrt", precision="fp16", encoding=None, op_form="standard",
        network={"arch": "bright-test", "kwargs": {}}, tile_hw=(32, 32), input_name="image", input_dtype="float32",
        output_names=("prob",), model_file="model.plan", files=hash_files(folder, ["model.plan"]),
        versions={"tensorrt": record.tensorrt_version},
        options={"source": "lite.pt", "plugins": "auto", "max_batch": 8, compat.OPTIONS_KEY: record.to_json()},
    )
    write_manifest(folder, manifest)
    return folder


@pytest.mark.skipif(not NO_DRIVER, reason="this machine has a CUDA driver")
def test_opening_a_fake_engine_folder_here_says_what_is_missing_and_how_to_rebuild(tmp_path: Path) -> None:
    from edgeinspect import backends

    folder = _fake_tensorrt_folder(tmp_path / "lite-trt", target())
    engine = backends.load(folder)
    with pytest.raises(EdgeInspectError) as error:
        engine.open()
    message = str(error.value)
    assert str(folder) in message and "cannot run here" in message and "cudaErrorInsufficientDriver" in message
    assert f"edgeinspect build lite.pt --backend tensorrt --precision fp16 --max-batch 8 --out {folder} --force" in message
    assert not engine.is_open


# =================================================================================== build decisions
CAPS_10_3 = tb.TrtCapabilities(
    "10.3.0.30", frozenset({"FP16", "INT8", "TF32", "GPU_FALLBACK", "VERSION_COMPATIBLE"}),
    frozenset({"EXPLICIT_BATCH", "STRONGLY_TYPED"}), frozenset({"NONE", "AMPERE_PLUS"}), aot_plugins=False, dla_cores=2)
CAPS_10_8 = tb.TrtCapabilities(
    "10.8.0.43", CAPS_10_3.builder_flags, CAPS_10_3.network_flags, CAPS_10_3.hardware_levels, aot_plugins=False)
CAPS_10_9 = tb.TrtCapabilities(
    "10.9.0.34", CAPS_10_3.builder_flags, CAPS_10_3.network_flags | {"PREFER_AOT_PYTHON_PLUGINS", "PREFER_JIT_PYTHON_PLUGINS"},
    frozenset({"NONE", "AMPERE_PLUS", "SAME_COMPUTE_CAPABILITY"}), aot_plugins=True)
CAPS_11_1 = tb.TrtCapabilities(
    "11.1.0.106", frozenset({"TF32", "GPU_FALLBACK", "VERSION_COMPATIBLE"}),
    frozenset({"STRONGLY_TYPED", "PREFER_AOT_PYTHON_PLUGINS", "PREFER_JIT_PYTHON_PLUGINS"}),
    frozenset({"NONE", "AMPERE_PLUS", "SAME_COMPUTE_CAPABILITY"}), aot_plugins=True)


@pytest.mark.parametrize(("request_", "caps", "form", "mode", "decompose"), [
    ("auto", CAPS_10_3, None, "standard-ops", False),
    ("auto", CAPS_10_8, "plugin", "standard-ops", True),
    ("auto", CAPS_10_9, None, "aot-qdp", False),
    ("auto", CAPS_10_9, "standard", "standard-ops", False),
    ("auto", CAPS_11_1, "plugin", "aot-qdp", False),
    ("on", CAPS_10_9, "plugin", "aot-qdp", False),
    ("off", CAPS_11_1, None, "standard-ops", False),
    ("off", CAPS_11_1, "plugin", "standard-ops", True),
])
def test_plugin_mode_follows_the_request_the_version_and_the_source(request_, caps, form, mode, decompose) -> None:
    decision = tb.decide_plugins(request_, caps, source_form=form)
    assert (decision.mode, decision.decompose_source) == (mode, decompose) and decision.reason


def test_plugins_on_is_refused_where_it_cannot_be_honoured() -> None:
    with pytest.raises(EdgeInspectError, match=r"TensorRT 10\.3 has no AOT plugins.*10\.9"):
        tb.decide_plugins("on", CAPS_10_3, source_form=None)
    with pytest.raises(EdgeInspectError, match="plugin-form ONNX"):
        tb.decide_plugins("on", CAPS_11_1, source_form="standard")
    with pytest.raises(EdgeInspectError, match="--plugins must be one of"):
        tb.decide_plugins("maybe", CAPS_11_1, source_form=None)


@pytest.mark.parametrize(("caps", "precision", "strongly", "variant", "flags"), [
    (CAPS_10_3, "fp32", False, "fp32", ()),
    (CAPS_10_3, "fp16", False, "fp32", ("FP16",)),
    (CAPS_10_3, "int8", False, "int8-qdq", ("INT8", "FP16")),
    (CAPS_10_9, "fp16", False, "fp32", ("FP16",)),
    (CAPS_11_1, "fp32", True, "fp32", ()),
    (CAPS_11_1, "fp16", True, "fp16", ()),
    (CAPS_11_1, "int8", True, "int8-qdq", ()),
])
def test_precision_uses_flags_on_10x_and_the_onnx_itself_on_11x(caps, precision, strongly, variant, flags) -> None:
    plan = tb.plan_precision(precision, caps)
    assert (plan.strongly_typed, plan.onnx_variant, plan.builder_flags) == (strongly, variant, flags)
    assert plan.network_flags == ()
    assert tb.variant_file(variant) in ("model.onnx", "model.fp16.onnx", "model.int8.onnx")


def test_aot_plugins_dla_and_version_compatibility_add_their_flags() -> None:
    plan = tb.plan_precision("int8", CAPS_10_3, dla_core=0, version_compatible=True)
    assert plan.builder_flags == ("INT8", "FP16", "GPU_FALLBACK", "VERSION_COMPATIBLE")
    assert tb.plan_precision("fp16", CAPS_11_1, plugin_mode="aot-qdp").network_flags == ("PREFER_AOT_PYTHON_PLUGINS",)
    assert tb.plan_precision("fp16", CAPS_10_3, plugin_mode="aot-qdp").network_flags == ()
    with pytest.raises(EdgeInspectError, match="bf16"):
        tb.plan_precision("bf16", CAPS_11_1)


def test_dla_only_where_the_version_and_device_have_it() -> None:
    tb.check_dla(None, CAPS_11_1, "fp32")
    tb.check_dla(1, CAPS_10_3, "int8")
    with pytest.raises(EdgeInspectError, match="FP16 and INT8 only"):
        tb.check_dla(0, CAPS_10_3, "fp32")
    with pytest.raises(EdgeInspectError, match="0..1"):
        tb.check_dla(2, CAPS_10_3, "fp16")
    with pytest.raises(EdgeInspectError, match=r"TensorRT 10\.9 has no DLA"):
        tb.check_dla(0, CAPS_10_9, "fp16")
    with pytest.raises(EdgeInspectError, match=r"TensorRT 11\.1 has no DLA"):
        tb.check_dla(0, CAPS_11_1, "fp16")
    no_dla = tb.TrtCapabilities("10.3.0.30", CAPS_10_3.builder_flags, dla_cores=0)
    with pytest.raises(EdgeInspectError, match="no DLA"):
        tb.check_dla(0, no_dla, "fp16")


def test_profile_spans_batch_one_to_max_with_opt_at_the_typical_batch() -> None:
    shapes = tb.profile_shapes((64, 96), 8)
    assert (shapes.min, shapes.opt, shapes.max) == ((1, 1, 64, 96), (4, 1, 64, 96), (8, 1, 64, 96))
    assert tb.profile_shapes((64, 96), 2).opt == (2, 1, 64, 96)
    assert tb.profile_shapes((64, 96), 16, 16).to_json()["opt"] == [16, 1, 64, 96]
    for max_batch, opt in ((0, None), (4, 5), (4, 0)):
        with pytest.raises(EdgeInspectError, match="batch"):
            tb.profile_shapes((64, 96), max_batch, opt)


def test_hardware_levels_are_checked_against_the_version() -> None:
    assert tb.check_hardware_level("ampere_plus", CAPS_10_3) == "ampere_plus"
    assert tb.check_hardware_level("same_compute_capability", CAPS_10_9) == "same_compute_capability"
    with pytest.raises(EdgeInspectError, match="SAME_COMPUTE_CAPABILITY"):
        tb.check_hardware_level("same_compute_capability", CAPS_10_3)
    with pytest.raises(EdgeInspectError, match="one of"):
        tb.check_hardware_level("turing_plus", CAPS_10_9)


# =================================================================================== ONNX rewrites
def _run(path_or_model, image: np.ndarray) -> dict[str, np.ndarray]:
    model = path_or_model if isinstance(path_or_model, (str, Path)) else path_or_model.SerializeToString()
    session = ort.InferenceSession(str(model) if isinstance(model, Path) else model, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(None, {"image": image})))


def test_fp16_onnx_keeps_float32_io_runs_on_onnxruntime_and_matches_fp32(tmp_path: Path) -> None:
    source = bright_net_onnx(tmp_path / "bright.onnx", (32, 32))
    target_path = tx.convert_to_fp16(source, tmp_path / "bright.fp16.onnx")
    model = onnx.load(str(target_path))
    onnx.checker.check_model(model, full_check=True)
    assert [i.type.tensor_type.elem_type for i in (*model.graph.input, *model.graph.output)] == [TensorProto.FLOAT] * 3
    float_inits = [i for i in model.graph.initializer if i.data_type in (TensorProto.FLOAT, TensorProto.FLOAT16)]
    assert float_inits and all(i.data_type == TensorProto.FLOAT16 for i in float_inits)
    assert [m.key for m in model.metadata_props] == [m.key for m in onnx.load(str(source)).metadata_props]
    image = np.random.default_rng(0).uniform(0, 255, (3, 1, 32, 32)).astype(np.float32)
    image[:, :, 8:16, 8:16] = 240.0
    fp32, fp16 = _run(source, image), _run(target_path, image)
    for name in ("prob", "loc"):
        assert fp16[name].dtype == np.float32
        assert np.abs(fp16[name] - fp32[name]).max() <= 1e-2
    assert fp32["prob"].max() > 0.9  # the bright square is a defect: the comparison covers both classes


TILE = (16, 24)


def plugin_net(path: Path, *, channels: int = 4, tile: tuple[int, int] = TILE,
               shared: bool = False) -> tuple[Path, dict[str, np.ndarray]]:
    """A tiny plugin-form network written with onnx.helper (no torch): conv → strip_projection (+ skip) →
    head → sigmoid → pixel_confidence → prob; loc from the projection. Returns the file and its weights.

    ``shared``: the strip projection reads one initializer for ``w_row`` and ``w_col`` (and one bias), as the
    torch exporter writes equal weights (strip-pooling init on a square tile)."""
    from edgeinspect.ops.pixel_confidence import spec as pcm_spec
    from edgeinspect.ops.strip_projection import spec as strip_spec

    rng = np.random.default_rng(7)
    height, width = tile
    w = {
        "conv_w": rng.normal(0, 0.5, (channels, 1, 3, 3)).astype(np.float32),
        "conv_b": rng.normal(0, 0.1, channels).astype(np.float32),
        "w_row": rng.normal(0, 0.3, (channels, height)).astype(np.float32),
        "b_row": rng.normal(0, 0.3, channels).astype(np.float32),
        "w_col": rng.normal(0, 0.3, (channels, width)).astype(np.float32),
        "b_col": rng.normal(0, 0.3, channels).astype(np.float32),
        "head_w": rng.normal(0, 0.5, (1, channels, 1, 1)).astype(np.float32),
        "head_b": np.array([0.2], np.float32),
        "loc_w": rng.normal(0, 0.5, (1, channels, 1, 1)).astype(np.float32),
        "loc_b": np.array([-0.1], np.float32),
        "scale": np.array(1.0 / 255.0, np.float32),
        "pcm_kernel": rng.uniform(0.2, 1.0, 9).astype(np.float32),
    }
    if shared:
        w["w_col"], w["b_col"] = w["w_row"], w["b_row"]
    inits = [numpy_helper.from_array(v, k) for k, v in w.items() if k != "pcm_kernel" and not (shared and k in ("w_col", "b_col"))]
    strip_inputs = ["fr", "w_row", "b_row", "w_row", "b_row"] if shared else ["fr", "w_row", "b_row", "w_col", "b_col"]
    nodes = [
        helper.make_node("Mul", ["image", "scale"], ["x01"], name="normalize"),
        helper.make_node("Conv", ["x01", "conv_w", "conv_b"], ["f"], pads=[1, 1, 1, 1], name="conv"),
        helper.make_node("Relu", ["f"], ["fr"], name="relu"),
        helper.make_node(strip_spec.PLUGIN_NAME, strip_inputs, ["proj"],
                         domain=strip_spec.ONNX_DOMAIN, name="strip", plugin_namespace=strip_spec.PLUGIN_NAMESPACE,
                         aot=1),
        helper.make_node("Add", ["fr", "proj"], ["mixed"], name="skip"),
        helper.make_node("Conv", ["mixed", "head_w", "head_b"], ["logits"], name="head"),
        helper.make_node("Sigmoid", ["logits"], ["y_isr"], name="sigmoid"),
        helper.make_node(pcm_spec.PLUGIN_NAME, ["y_isr"], ["prob"], domain=pcm_spec.ONNX_DOMAIN, name="pcm",
                         plugin_namespace=pcm_spec.PLUGIN_NAMESPACE, aot=1, kernel=w["pcm_kernel"].tolist(),
                         kernel_size=3, epsilon=0.25),
        helper.make_node("Conv", ["proj", "loc_w", "loc_b"], ["loc_logits"], name="loc_head"),
        helper.make_node("Sigmoid", ["loc_logits"], ["loc"], name="loc_sigmoid"),
    ]
    shape = ["batch", 1, height, width]
    graph = helper.make_graph(
        nodes, "plugin_net", [helper.make_tensor_value_info("image", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("prob", TensorProto.FLOAT, shape),
         helper.make_tensor_value_info("loc", TensorProto.FLOAT, shape)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18), helper.make_opsetid(strip_spec.ONNX_DOMAIN, 1)])
    model.ir_version = 10
    from edgeinspect.export.metadata import write_metadata

    write_metadata(model, arch="plugin-test", kwargs={}, tile_hw=tile, op_form="plugin", outputs=("prob", "loc"))
    onnx.save_model(model, str(path))
    return path, w


def plugin_net_numpy(image: np.ndarray, w: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The plugin net in numpy, the custom ops from their reference.py."""
    x = image.astype(np.float64) * float(w["scale"])
    pad = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    height, width = x.shape[2:]
    f = np.zeros((x.shape[0], w["conv_w"].shape[0], height, width))
    for c in range(f.shape[1]):
        for dy in range(3):
            for dx in range(3):
                f[:, c] += w["conv_w"][c, 0, dy, dx] * pad[:, 0, dy : dy + height, dx : dx + width]
        f[:, c] += w["conv_b"][c]
    fr = np.maximum(f, 0)
    proj = strip_projection(fr, w["w_row"], w["b_row"], w["w_col"], w["b_col"])

    def head(t, weight, bias):
        return 1 / (1 + np.exp(-(np.einsum("nchw,c->nhw", t, weight[0, :, 0, 0]) + bias[0])))[:, None]

    y = head(fr + proj, w["head_w"], w["head_b"])
    prob = pixel_confidence(y, w["pcm_kernel"].reshape(3, 3), 0.25)
    return {"prob": prob, "loc": head(proj, w["loc_w"], w["loc_b"])}


def test_plugin_nodes_decompose_into_standard_ops_equal_to_the_references(tmp_path: Path) -> None:
    path, weights = plugin_net(tmp_path / "net.plugin.onnx")
    standard = tx.write_standard_equivalent(path, tmp_path / "net.standard.onnx")
    model = onnx.load(str(standard))
    assert not tx.has_plugin_nodes(model) and tx.has_plugin_nodes(onnx.load(str(path)))
    assert all(o.domain != tx.PLUGIN_DOMAIN for o in model.opset_import)
    assert {m.key: m.value for m in model.metadata_props}["edgeinspect.op_form"] == "standard"
    image = np.random.default_rng(3).uniform(0, 255, (2, 1, *TILE)).astype(np.float32)
    got, want = _run(standard, image), plugin_net_numpy(image, weights)
    for name in ("prob", "loc"):
        np.testing.assert_allclose(got[name], want[name], atol=2e-5)


def test_plugin_form_qdq_keeps_the_plugins_between_symmetric_qdq_pairs(tmp_path: Path) -> None:
    path, weights = plugin_net(tmp_path / "net.plugin.onnx")
    rng = np.random.default_rng(4)
    tiles = rng.uniform(0, 255, (16, 1, *TILE)).astype(np.float32)
    qdq_path, ranges = tx.quantize_plugin_form(path, tiles, out_dir=tmp_path / "out")
    assert qdq_path.name == "model.int8.onnx" and ranges.name == "calibration.json" and ranges.is_file()
    model = onnx.load(str(qdq_path))
    onnx.checker.check_model(model)
    assert not any(n.name.startswith(tx.SUB_PREFIX) for n in model.graph.node)
    plugins = {n.op_type: n for n in model.graph.node if tx.is_plugin_node(n)}
    assert set(plugins) == {"strip_projection", "pixel_confidence"}
    producers = {o: n for n in model.graph.node for o in n.output}
    strip = plugins["strip_projection"]
    assert producers[strip.input[0]].op_type == "DequantizeLinear"           # fed by the int8 path
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    for position, key in enumerate(("w_row", "b_row", "w_col", "b_col"), start=1):
        np.testing.assert_array_equal(inits[strip.input[position]], weights[key])   # float weights, untouched
    assert {c.op_type for c in model.graph.node if strip.output[0] in c.input} == {"QuantizeLinear"}
    original_pcm = next(n for n in onnx.load(str(path)).graph.node if n.op_type == "pixel_confidence")
    assert plugins["pixel_confidence"].attribute == original_pcm.attribute
    zero_points = [inits[n.input[2]] for n in model.graph.node if n.op_type == "QuantizeLinear"]
    assert zero_points and all(z.dtype == np.int8 and not z.any() for z in zero_points)
    # the QDQ plugin graph, decomposed again, is the FP32 network up to int8 rounding
    decomposed = tx.write_standard_equivalent(qdq_path, tmp_path / "qdq.standard.onnx")
    image = rng.uniform(0, 255, (4, 1, *TILE)).astype(np.float32)
    want = plugin_net_numpy(image, weights)
    got = _run(decomposed, image)
    for name in ("prob", "loc"):
        error = np.abs(got[name] - want[name])
        assert error.mean() < 0.03 and error.max() < 0.2, (name, error.mean(), error.max())


def test_plugin_form_qdq_handles_weights_shared_between_plugin_inputs(tmp_path: Path) -> None:
    path, weights = plugin_net(tmp_path / "shared.plugin.onnx", tile=(16, 16), shared=True)
    rng = np.random.default_rng(5)
    qdq_path, _ = tx.quantize_plugin_form(path, rng.uniform(0, 255, (8, 1, 16, 16)).astype(np.float32),
                                          out_dir=tmp_path / "out")
    model = onnx.load(str(qdq_path))
    onnx.checker.check_model(model)
    strip = next(n for n in model.graph.node if n.op_type == "strip_projection")
    assert strip.input[1] == strip.input[3] and strip.input[2] == strip.input[4]
    image = rng.uniform(0, 255, (2, 1, 16, 16)).astype(np.float32)
    got = _run(tx.write_standard_equivalent(qdq_path, tmp_path / "shared.standard.onnx"), image)
    assert np.abs(got["prob"] - plugin_net_numpy(image, weights)["prob"]).mean() < 0.03


def test_fp16_conversion_of_a_plugin_form_graph_gives_each_plugin_one_type(tmp_path: Path) -> None:
    path, _ = plugin_net(tmp_path / "net.plugin.onnx")
    model = onnx.load(str(tx.convert_to_fp16(path, tmp_path / "net.fp16.onnx")))
    inits = {i.name: i.data_type for i in model.graph.initializer}
    strip = next(n for n in model.graph.node if n.op_type == "strip_projection")
    assert {inits[name] for name in strip.input[1:]} == {TensorProto.FLOAT16}
    assert [o.type.tensor_type.elem_type for o in model.graph.output] == [TensorProto.FLOAT] * 2


# =================================================================================== CUDA errors
def test_cuda_call_unpacks_results() -> None:
    from cuda.bindings import runtime as cudart

    ok = cudart.cudaError_t.cudaSuccess
    assert cuda_mem.cuda_call((ok,), "x") is None
    assert cuda_mem.cuda_call((ok, 5), "x") == 5
    assert cuda_mem.cuda_call((ok, 1, 2), "x") == (1, 2)
    with pytest.raises(cuda_mem.CudaError) as error:
        cuda_mem.cuda_call((cudart.cudaError_t.cudaErrorMemoryAllocation, None), "cudaMalloc(64 B)")
    assert error.value.error_name == "cudaErrorMemoryAllocation" and "--max-batch" in str(error.value)


@pytest.mark.skipif(not NO_DRIVER, reason="this machine has a CUDA driver")
def test_real_cudart_without_a_driver_raises_edgeinspect_errors_naming_the_cuda_error() -> None:
    from cuda.bindings import runtime as cudart

    with pytest.raises(EdgeInspectError) as error:
        cuda_mem.cuda_call(cudart.cudaMalloc(16), "cudaMalloc(16 B)")
    assert isinstance(error.value, cuda_mem.CudaError)
    assert error.value.error_name == "cudaErrorInsufficientDriver"
    message = str(error.value)
    assert message.startswith("CUDA cudaMalloc(16 B) failed: cudaErrorInsufficientDriver")
    assert "NVIDIA driver" in message and "\n" not in message
    for make, call in ((lambda: cuda_mem.DeviceMem(1024), "cudaMalloc(1024 B)"),
                       (lambda: cuda_mem.PinnedHostMem((4, 4), np.float16), "cudaMallocHost(32 B)"),
                       (cuda_mem.Stream, "cudaStreamCreateWithFlags"),
                       (cuda_mem.device_info, "cudaGetDeviceCount"),
                       (cuda_mem.driver_version, "cudaDriverGetVersion")):
        with pytest.raises(cuda_mem.CudaError) as error:
            make()
        assert error.value.call == call and error.value.error_name == "cudaErrorInsufficientDriver"


# =================================================================================== without TensorRT
def test_build_with_tensorrt_hidden_is_a_one_line_error_naming_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "tensorrt", None)   # import tensorrt -> ImportError, even where it exists
    source = bright_net_onnx(tmp_path / "bright.onnx", (32, 32))
    with pytest.raises(EdgeInspectError) as error:
        tb.build_tensorrt_engine(source, out=tmp_path / "engines" / "x", precision="fp16")
    assert str(error.value).startswith("TensorRT is not installed") and "\n" not in str(error.value)
    assert not (tmp_path / "engines").exists()


def test_build_options_are_checked_before_anything_else(tmp_path: Path) -> None:
    source = tmp_path / "missing.onnx"
    for kwargs, match in (({"precision": "bf16"}, "--precision"), ({"plugins": "yes"}, "--plugins"),
                          ({"max_batch": 0}, "--max-batch"), ({"calib": tmp_path, "precision": "fp16"}, "--calib")):
        with pytest.raises(EdgeInspectError, match=match):
            tb.build_tensorrt_engine(source, out=tmp_path / "x", **kwargs)


@pytest.mark.skipif(HAS_TENSORRT, reason="TensorRT is installed here")
def test_cli_build_tensorrt_without_tensorrt_exits_2_with_one_line(tmp_path: Path) -> None:
    source = bright_net_onnx(tmp_path / "bright.onnx", (32, 32))
    result = subprocess.run(
        [sys.executable, "-m", "edgeinspect", "build", str(source), "--out", str(tmp_path / "x"), "--backend", "tensorrt",
         "--precision", "int8", "--max-batch", "4"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: TensorRT is not installed"), result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "x").exists()
