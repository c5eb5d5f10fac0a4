"""CLI: edgeinspect build / export / eval --engine, end to end in a subprocess (one-line errors, exit 2)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest


def _cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edgeinspect", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=120)


def _one_line_error(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def test_build_missing_checkpoint_is_one_line(tmp_path: Path) -> None:
    line = _one_line_error(_cli("build", str(tmp_path / "missing.pt"), "--out", str(tmp_path / "e")))
    assert "missing.pt: not found" in line
    assert not (tmp_path / "e").exists()


def test_build_bad_backend_is_one_line(tmp_path: Path, bright_onnx: Path) -> None:
    line = _one_line_error(_cli("build", str(bright_onnx), "--backend", "tensorflow", "--out", str(tmp_path / "e")))
    assert "backend 'tensorflow'" in line and "openvino or onnxruntime" in line


def test_export_missing_checkpoint_is_one_line(tmp_path: Path) -> None:
    line = _one_line_error(_cli("export", str(tmp_path / "missing.pt"), "--out", str(tmp_path / "m.onnx")))
    assert "missing.pt: not found" in line


def test_build_int8_json_then_eval_engine(tmp_path: Path, bright_onnx: Path, squares_data: Path) -> None:
    out = tmp_path / "engines" / "bright-int8"
    result = _cli("build", str(bright_onnx), "--out", str(out), "--backend", "onnxruntime", "--precision", "int8",
                  "--calib", str(squares_data), "--threads", "1", "--json")
    assert result.returncode == 0, result.stderr
    manifest = json.loads(result.stdout)
    assert manifest["precision"] == "int8" and manifest["model_file"] == "model.uint8.onnx"
    assert manifest["metrics"]["miou_drop"] <= 1.0
    scored = _cli("eval", "--engine", str(out), "--data", str(squares_data), "--split", "all", "--json")
    assert scored.returncode == 0, scored.stderr
    report = json.loads(scored.stdout)
    assert report["mIoU"] > 0.95 and report["split"] == "all"


def test_eval_engine_with_a_tampered_engine_is_one_line(tmp_path: Path, built_engines: dict[str, Path],
                                                        squares_data: Path) -> None:
    import shutil

    folder = tmp_path / "engine"
    shutil.copytree(built_engines["openvino-fp32"], folder)
    (folder / "model.onnx").write_bytes(b"tampered")
    line = _one_line_error(_cli("eval", "--engine", str(folder), "--data", str(squares_data)))
    assert "model.onnx: sha256" in line and "rebuild" in line


@pytest.mark.parametrize("engine", ["openvino-fp32", "onnxruntime-int8"])
def test_eval_engine_scores_like_the_masks(engine: str, built_engines: dict[str, Path], squares_data: Path) -> None:
    from edgeinspect.backends.evaluate import engine_pairs
    from edgeinspect.data.datasets import open_dataset
    from edgeinspect.metrics import segmentation_scores

    dataset = open_dataset(squares_data)
    pairs = list(engine_pairs(built_engines[engine], dataset, batch_size=4))
    assert len(pairs) == len(dataset)
    assert all(prob.dtype == "float32" and prob.shape == mask.shape for prob, mask in pairs)
    assert segmentation_scores(pairs)["mIoU"] > 0.95
