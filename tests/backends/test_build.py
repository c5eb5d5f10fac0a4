"""edgeinspect build for CPU engines: files, INT8 encodings, accuracy gate, atomic output."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from engine_testkit import bright_net_onnx

from edgeinspect.backends.build import build_engine
from edgeinspect.backends.manifest import read_manifest
from edgeinspect.errors import EdgeInspectError


def _activation_zero_point_types(path: Path) -> set[int]:
    """ONNX element types of the zero points of the QuantizeLinear nodes (activations)."""
    model = onnx.load(str(path))
    inits = {i.name: i for i in model.graph.initializer}
    types = set()
    for node in model.graph.node:
        if node.op_type == "QuantizeLinear" and len(node.input) > 2:
            types.add(inits[node.input[2]].data_type)
    return types


def _zero_points(path: Path) -> np.ndarray:
    model = onnx.load(str(path))
    inits = {i.name: onnx.numpy_helper.to_array(i) for i in model.graph.initializer}
    values = [inits[n.input[2]].astype(np.int32).ravel() for n in model.graph.node
              if n.op_type in ("QuantizeLinear", "DequantizeLinear") and len(n.input) > 2 and n.input[2] in inits]
    return np.concatenate(values)


def test_fp32_builds_list_every_file_with_its_sha256(built_engines: dict[str, Path]) -> None:
    ov = read_manifest(built_engines["openvino-fp32"])
    ort = read_manifest(built_engines["onnxruntime-fp32"])
    assert ov.model_file == "model.onnx" and set(ov.files) == {"model.onnx"}
    assert set(ort.files) == {"model.onnx", "model.ort-optimized.onnx"}
    assert ov.precision == "fp32" and ov.encoding is None and ov.metrics is None and ov.calibration is None
    assert (built_engines["openvino-fp32"] / "cache").is_dir() and any((built_engines["openvino-fp32"] / "cache").iterdir())
    assert ov.tile_hw == (32, 32) and ov.output_names == ("prob", "loc") and ov.input_name == "image"
    assert ov.network == {"arch": "bright-test", "kwargs": {"threshold": 178}}
    assert ov.versions["onnx_opset"] == 18 and ov.versions["openvino"] and ort.versions["onnxruntime"]


def test_int8_openvino_runs_uint8_and_keeps_the_symmetric_int8_file(built_engines: dict[str, Path]) -> None:
    folder = built_engines["openvino-int8"]
    manifest = read_manifest(folder)
    assert manifest.model_file == "model.uint8.onnx" and manifest.encoding == "uint8-asymmetric"
    assert set(manifest.files) == {"model.onnx", "model.int8.onnx", "model.uint8.onnx", "calibration.json"}
    assert _activation_zero_point_types(folder / "model.int8.onnx") == {onnx.TensorProto.INT8}
    assert not _zero_points(folder / "model.int8.onnx").any()  # symmetric: every zero point is 0


def test_int8_onnxruntime_adds_a_uint8_reencoding_of_the_same_calibration(built_engines: dict[str, Path]) -> None:
    folder = built_engines["onnxruntime-int8"]
    manifest = read_manifest(folder)
    assert manifest.model_file == "model.uint8.onnx" and manifest.encoding == "uint8-asymmetric"
    assert {"model.int8.onnx", "model.uint8.onnx", "calibration.json", "model.ort-optimized.onnx"} <= set(manifest.files)
    assert _activation_zero_point_types(folder / "model.uint8.onnx") == {onnx.TensorProto.UINT8}
    assert _activation_zero_point_types(folder / "model.int8.onnx") == {onnx.TensorProto.INT8}
    # the canonical int8 file is byte-identical to the OpenVINO build's: same calibration ranges
    ov_manifest = read_manifest(built_engines["openvino-int8"])
    assert manifest.files["model.int8.onnx"] == ov_manifest.files["model.int8.onnx"]
    assert manifest.files["calibration.json"] == ov_manifest.files["calibration.json"]


def test_int8_gate_measures_fp32_and_int8_on_held_aside_masks(built_engines: dict[str, Path]) -> None:
    for name in ("openvino-int8", "onnxruntime-int8"):
        manifest = read_manifest(built_engines[name])
        metrics = manifest.metrics
        assert metrics["fp32"]["mIoU"] > 0.95  # the bright-spot net is exact on the squares
        assert metrics["miou_drop"] == pytest.approx(100 * (metrics["fp32"]["mIoU"] - metrics["int8"]["mIoU"]), abs=1e-3)
        assert metrics["miou_drop"] <= 1.0 and metrics["max_drop"] == 1.0
        assert manifest.calibration["count"] >= 1 and manifest.calibration["held_out"] == metrics["gate"]["tiles"] >= 1
        assert len(manifest.calibration["sha256"]) == 64 and manifest.calibration["method"] == "Percentile"


def test_all_black_calibration_makes_the_gate_refuse_and_leaves_nothing(
    tmp_path: Path, bright_onnx: Path, black_calib: Path, squares_data: Path
) -> None:
    out = tmp_path / "engines" / "black"
    with pytest.raises(EdgeInspectError, match=r"INT8 accuracy gate: mIoU .* points below FP32 .*nothing written to") as info:
        build_engine(bright_onnx, out=out, backend="onnxruntime", precision="int8", calib=black_calib,
                     gate_data=squares_data, threads=1)
    assert "\n" not in str(info.value)
    assert not out.exists()
    assert list((tmp_path / "engines").iterdir()) == []  # no half-written build folder either


def test_gate_refusal_keeps_an_existing_engine_untouched(
    tmp_path: Path, bright_onnx: Path, black_calib: Path, squares_data: Path
) -> None:
    out = build_engine(bright_onnx, out=tmp_path / "e", backend="onnxruntime", precision="fp32").path
    before = (out / "manifest.json").read_bytes()
    with pytest.raises(EdgeInspectError, match="accuracy gate"):
        build_engine(bright_onnx, out=out, backend="openvino", precision="int8", calib=black_calib,
                     gate_data=squares_data, force=True, threads=1)
    assert (out / "manifest.json").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e"]


def test_existing_out_needs_force(tmp_path: Path, bright_onnx: Path) -> None:
    out = build_engine(bright_onnx, out=tmp_path / "e", backend="onnxruntime").path
    with pytest.raises(EdgeInspectError, match="already exists; pass --force"):
        build_engine(bright_onnx, out=out, backend="onnxruntime")
    replaced = build_engine(bright_onnx, out=out, backend="openvino", force=True)
    assert read_manifest(out).backend == "openvino" == replaced.manifest.backend


def test_default_calibration_is_cut_from_the_synthetic_webs(tmp_path: Path, bright_onnx: Path) -> None:
    result = build_engine(bright_onnx, out=tmp_path / "e", backend="openvino", precision="int8", max_drop=100.0,
                          calib_count=8, gate_count=4, threads=1)
    calibration = result.manifest.calibration
    assert calibration["source"].startswith("synthetic:") and calibration["count"] == 8 and calibration["held_out"] == 4
    again = build_engine(bright_onnx, out=tmp_path / "f", backend="openvino", precision="int8", max_drop=100.0,
                         calib_count=8, gate_count=4, threads=1)
    assert again.manifest.calibration["sha256"] == calibration["sha256"]  # fixed seeds: same tiles


def test_plugin_form_onnx_is_refused_for_cpu_backends(tmp_path: Path) -> None:
    path = bright_net_onnx(tmp_path / "plugin.onnx")
    model = onnx.load(str(path))
    for prop in model.metadata_props:
        if prop.key == "edgeinspect.op_form":
            prop.value = "plugin"
    onnx.save(model, str(path))
    with pytest.raises(EdgeInspectError, match="plugin-form ONNX .* --ops standard"):
        build_engine(path, out=tmp_path / "e", backend="openvino")
    assert not (tmp_path / "e").exists()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"backend": "tensorflow"}, "not a CPU backend this build supports; choose openvino or onnxruntime"),
        ({"precision": "int4"}, "precision must be fp32 or int8"),
        ({"max_drop": -1.0}, "--max-drop must be >= 0"),
        ({"calib": "x"}, "only apply to --precision int8"),
    ],
)
def test_bad_options_are_one_line_errors(tmp_path: Path, bright_onnx: Path, kwargs: dict, message: str) -> None:
    with pytest.raises(EdgeInspectError, match=message):
        build_engine(bright_onnx, out=tmp_path / "e", **kwargs)
    assert not (tmp_path / "e").exists()


def test_missing_source_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(EdgeInspectError, match=r"nope\.pt: not found"):
        build_engine(tmp_path / "nope.pt", out=tmp_path / "e")


def test_manifest_json_is_plain_json(built_engines: dict[str, Path]) -> None:
    data = json.loads((built_engines["onnxruntime-int8"] / "manifest.json").read_text())
    assert data["thresholds"] == {"prob": 0.5} and data["created"].endswith("Z")
    assert data["backend"] == "onnxruntime" and data["tile_hw"] == [32, 32]


def test_default_resolves_to_the_bundled_checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import edgeinspect.assets as assets
    from edgeinspect.backends.build import resolve_source

    monkeypatch.setattr(assets, "ASSETS_DIR", tmp_path)
    with pytest.raises(EdgeInspectError, match=r"lpcnet-lite\.pt: the bundled default checkpoint is missing"):
        resolve_source("default")
    (tmp_path / "lpcnet-lite.pt").write_bytes(b"weights")
    assert resolve_source("default") == tmp_path / "lpcnet-lite.pt"


def test_calibration_without_a_histogram_falls_back_to_min_max_ranges(tmp_path: Path, bright_onnx: Path) -> None:
    """All-black tiles leave the bright-spot net's activations (near) constant: ORT's percentile
    calibrator cannot bin them; the ranges then come from min/max and the gate judges the result."""
    from edgeinspect.export import Encoding
    from edgeinspect.export.quantize import quantize_qdq

    black = np.zeros((8, 1, 32, 32), np.float32)
    result = quantize_qdq(bright_onnx, black, out_dir=tmp_path, encodings=(Encoding.UINT8_ASYMMETRIC,))
    assert result.method == "MinMax" and result.files[Encoding.UINT8_ASYMMETRIC].is_file()
