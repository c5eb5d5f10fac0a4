"""manifest.json: written from the dataclass, read back equal, refused when incomplete or tampered."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from edgeinspect import backends
from edgeinspect.backends.manifest import MANIFEST_NAME, Manifest, read_manifest, sha256_file, write_manifest
from edgeinspect.errors import EdgeInspectError


def _manifest(folder: Path) -> Manifest:
    (folder / "model.onnx").write_bytes(b"not really onnx")
    return Manifest(
        backend="onnxruntime", precision="int8", encoding="uint8-asymmetric", op_form="standard",
        network={"arch": "lpcnet-lite", "kwargs": {"input_size": [64, 64]}}, tile_hw=(64, 64),
        input_name="image", input_dtype="float32", output_names=("prob", "loc"), model_file="model.onnx",
        files={"model.onnx": sha256_file(folder / "model.onnx")}, versions={"edgeinspect": "0.1.0", "onnx_opset": 18},
        calibration={"source": "synthetic", "sha256": "ab" * 32, "count": 32, "held_out": 16},
        metrics={"fp32": {"mIoU": 0.8}, "int8": {"mIoU": 0.795}, "miou_drop": 0.5, "max_drop": 1.0},
        created="2026-01-01T00:00:00Z", options={"threads": 2},
    )


def test_round_trip_gives_the_same_dataclass(tmp_path: Path) -> None:
    manifest = _manifest(tmp_path)
    write_manifest(tmp_path, manifest)
    assert read_manifest(tmp_path) == manifest
    assert json.loads((tmp_path / MANIFEST_NAME).read_text())["tile_hw"] == [64, 64]


def test_missing_key_names_the_key_and_says_rebuild(tmp_path: Path) -> None:
    write_manifest(tmp_path, _manifest(tmp_path))
    data = json.loads((tmp_path / MANIFEST_NAME).read_text())
    del data["precision"]
    (tmp_path / MANIFEST_NAME).write_text(json.dumps(data))
    with pytest.raises(EdgeInspectError, match=r"manifest\.json: missing key 'precision'; rebuild it"):
        read_manifest(tmp_path)


def test_missing_manifest_says_not_an_engine_folder(tmp_path: Path) -> None:
    with pytest.raises(EdgeInspectError, match=r"manifest\.json: manifest missing, not an engine folder; rebuild"):
        backends.load(tmp_path)


def test_unreadable_manifest_is_a_one_line_error(tmp_path: Path) -> None:
    (tmp_path / MANIFEST_NAME).write_text("{not json")
    with pytest.raises(EdgeInspectError, match="unreadable manifest") as info:
        read_manifest(tmp_path)
    assert "\n" not in str(info.value)


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    write_manifest(tmp_path, _manifest(tmp_path))
    data = json.loads((tmp_path / MANIFEST_NAME).read_text())
    data["schema_version"] = 99
    (tmp_path / MANIFEST_NAME).write_text(json.dumps(data))
    with pytest.raises(EdgeInspectError, match="schema_version 99 is newer"):
        read_manifest(tmp_path)


def test_tampered_engine_file_is_refused_naming_the_file(tmp_path: Path, built_engines: dict[str, Path]) -> None:
    folder = tmp_path / "engine"
    shutil.copytree(built_engines["onnxruntime-int8"], folder)
    target = folder / "model.uint8.onnx"
    data = bytearray(target.read_bytes())
    data[-1] ^= 0xFF
    target.write_bytes(bytes(data))
    with pytest.raises(EdgeInspectError, match=r"model\.uint8\.onnx: sha256 .* does not match manifest\.json .*rebuild"):
        backends.load(folder)


def test_deleted_engine_file_is_refused_naming_the_file(tmp_path: Path, built_engines: dict[str, Path]) -> None:
    folder = tmp_path / "engine"
    shutil.copytree(built_engines["openvino-int8"], folder)
    (folder / "calibration.json").unlink()
    with pytest.raises(EdgeInspectError, match=r"calibration\.json: listed in manifest\.json but missing; rebuild"):
        backends.load(folder)


def test_model_file_must_be_listed(tmp_path: Path) -> None:
    manifest = _manifest(tmp_path)
    write_manifest(tmp_path, manifest)
    data = json.loads((tmp_path / MANIFEST_NAME).read_text())
    data["model_file"] = "other.onnx"
    (tmp_path / MANIFEST_NAME).write_text(json.dumps(data))
    with pytest.raises(EdgeInspectError, match="model_file 'other.onnx' is not listed"):
        read_manifest(tmp_path)


@pytest.mark.parametrize("key, value, message", [
    ("tile_hw", [0, 0], r"manifest\.json: bad value \(tile_hw must be two positive sizes, got \[0, 0\]\)"),
    ("backend", "foo", r"manifest\.json: unknown backend 'foo' \(known: .*onnxruntime.*\); rebuild the engine"),
    ("precision", "int4", r"manifest\.json: bad value \(precision must be one of fp32, fp16, int8, got 'int4'\)"),
    ("thresholds", {"prob": 5}, r"manifest\.json: bad value \(thresholds must map names to probabilities in \[0, 1\]"),
    ("network", {"arch": 3}, r"manifest\.json: bad value \(network must be \{'arch': \.\.\., 'kwargs': \.\.\.\}\)"),
])
def test_a_bad_tile_size_or_backend_names_the_manifest(tmp_path: Path, key: str, value: object, message: str) -> None:
    write_manifest(tmp_path, _manifest(tmp_path))
    data = json.loads((tmp_path / MANIFEST_NAME).read_text())
    data[key] = value
    (tmp_path / MANIFEST_NAME).write_text(json.dumps(data))
    with pytest.raises(EdgeInspectError, match=message) as info:
        backends.load(tmp_path)
    assert "\n" not in str(info.value)
