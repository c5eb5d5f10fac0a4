"""The LPC-Net cascade: DLM sub-graph cut from the real bundled ONNX, tiles skipped by ``max(loc)``."""

from __future__ import annotations

import json

import numpy as np
import pytest
from fixtures_stream import write_onnx

from edgeinspect import backends
from edgeinspect.assets import default_engine
from edgeinspect.config import ConfigError, load_run_config
from edgeinspect.data.synth import SyntheticWeb
from edgeinspect.errors import EdgeInspectError
from edgeinspect.stream.cascade import CascadeEngine, engine_onnx_file, extract_dlm, load_dlm


@pytest.fixture(scope="module")
def web_tiles() -> np.ndarray:
    """``(8,1,256,256)`` uint8 tiles of one synthetic web row (defects on some, not all)."""
    image = SyntheticWeb(2048, texture="fabric", seed=5, defects_per_mpx=6).render(0, 256).image
    return np.stack([image[:, i:i + 256] for i in range(0, 2048, 256)])[:, None].copy()


def test_dlm_subgraph_gives_the_full_networks_loc(tmp_path, web_tiles):
    dlm_file = extract_dlm(default_engine(), tmp_path / "dlm.onnx")
    with load_dlm(dlm_file, threads=1) as dlm, backends.load(default_engine(), threads=1) as full:
        assert dlm.outputs == ("loc",)
        np.testing.assert_allclose(dlm.infer(web_tiles)["loc"], full.infer(web_tiles)["loc"], atol=1e-5)


def test_tiles_below_the_threshold_skip_the_network_and_get_zero_prob(web_tiles):
    with backends.load(default_engine(), threads=1) as full:
        reference = full.infer(web_tiles)
    peaks = reference["loc"].max(axis=(1, 2, 3))
    ordered = np.sort(peaks)
    gap = int(np.argmax(np.diff(ordered)))               # split the tiles at their widest gap of max(loc)
    threshold = float(ordered[gap] + ordered[gap + 1]) / 2
    flagged = peaks >= threshold
    assert 0 < flagged.sum() < len(peaks)
    with CascadeEngine(backends.load(default_engine(), threads=1), threshold=threshold) as cascade:
        out = cascade.infer(web_tiles)
        assert cascade.tiles == len(peaks) and cascade.skipped == int((~flagged).sum())
        assert cascade.skipped_share == pytest.approx((~flagged).mean())
        assert cascade.engine.stats.tiles == int(flagged.sum())     # the full network saw only flagged tiles
    assert np.all(out["prob"][~flagged] == 0.0)
    np.testing.assert_allclose(out["prob"][flagged], reference["prob"][flagged], atol=1e-5)
    np.testing.assert_allclose(out["loc"], reference["loc"], atol=1e-5)


def test_network_without_dlm_is_refused_in_one_line_and_the_engine_closed(tmp_path):
    model = write_onnx(tmp_path / "nodlm.onnx", (32, 32))
    cascade = CascadeEngine(backends.load(model))
    with pytest.raises(EdgeInspectError, match="no 'loc'") as info:
        cascade.open()
    assert "\n" not in str(info.value)
    assert not cascade.engine.is_open  # no "was never closed" line after the error


def test_engine_onnx_file_of_a_folder_is_its_manifest_model_file(tmp_path):
    class FolderEngine:  # stands for a loaded engine folder: only .path and .manifest are read
        path = tmp_path
        manifest = type("M", (), {"model_file": "model.uint8.onnx"})()

    assert engine_onnx_file(FolderEngine()) == tmp_path / "model.uint8.onnx"
    FolderEngine.manifest.model_file = "model.plan"
    with pytest.raises(EdgeInspectError, match="needs an ONNX engine"):
        engine_onnx_file(FolderEngine())


def test_run_config_cascade_keys(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("cascade: true\ncascade_threshold: 0.4\n")
    config = load_run_config(path)
    assert config.cascade is True and config.cascade_threshold == 0.4
    path.write_text("cascade_threshold: 0\n")
    with pytest.raises(ConfigError, match="cascade_threshold"):
        load_run_config(path)


def test_run_with_cascade_reports_its_counters(tmp_path):
    from edgeinspect.cli import main

    config = tmp_path / "run.yaml"
    config.write_text("cascade: true\noverlays: false\nsource_options:\n  width: 512\n  defects_per_mpx: 4\n")
    with pytest.raises(SystemExit) as info:
        main(["run", "--camera", "sim", "--lines", "512", "--config", str(config), "--out", str(tmp_path / "out")])
    assert not info.value.code
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    cascade = summary["cascade"]
    assert summary["backend"] == "onnxruntime+cascade"
    # 512 × 512 px of web in 256-px tiles overlapping by 32 px: tiles start at 0, 224 and 256 (the last
    # one flush with the edge) across and along: 3 × 3
    assert cascade["threshold"] == 0.3 and cascade["tiles"] == 9
    assert cascade["skipped"] > 0  # a web with about one defect: most tiles have nothing for stage 2
    assert cascade["skipped_share"] == pytest.approx(cascade["skipped"] / cascade["tiles"])
