"""``edgeinspect bench`` on the command line: the JSON object, --vs ratios, --plot, errors, no torch."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import cv2
import pytest
from typer.testing import CliRunner

from edgeinspect.bench.compare import FIGURES
from edgeinspect.cli import main
from edgeinspect.cli.app import app

SHORT = ["--duration-s", "0.3", "--warmup-s", "0.05", "--threads", "1"]


def run_cli(args: list[str]) -> dict:
    """Invoke the app in-process; return the one JSON object printed on stdout."""
    result = CliRunner().invoke(app, ["bench", *args, "--json"])
    assert result.exit_code == 0, (result.output, result.exception)
    return json.loads(result.stdout)


def test_json_schema_from_a_real_short_bench(dark_engine):
    proc = subprocess.run(
        [sys.executable, "-m", "edgeinspect", "bench", str(dark_engine), *SHORT, "--width-px", "512",
         "--line-rate-hz", "2000", "--overlap-px", "8", "--json"],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    data = json.loads(proc.stdout)  # stdout holds exactly one JSON object; progress went to stderr
    types = {
        "engine": str, "backend": str, "precision": str, "batch": int, "tiles_per_s": float, "mpx_per_s": float,
        "latency_ms": dict, "required_tiles_per_s": float, "max_line_rate_hz": float, "headroom": float,
        "keeps_up": bool, "tile_hw": list, "width_px": int, "line_rate_hz": float, "tiles_per_line": float,
    }
    for key, kind in types.items():
        assert isinstance(data[key], kind), (key, data.get(key))
    assert data["engine"] == str(dark_engine)
    assert (data["backend"], data["precision"], data["batch"], data["tile_hw"]) == ("onnxruntime", "fp32", 4, [32, 32])
    assert data["streams"] == 1  # SHORT asks for --threads 1: the default streams never exceed the threads
    assert set(data["latency_ms"]) == {"p50", "p90", "p99", "max"}
    lat = data["latency_ms"]
    assert 0 < lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["max"]
    assert data["mpx_per_s"] == pytest.approx(data["tiles_per_s"] * 32 * 32 / 1e6)
    # 512 px, 32² tiles, overlap 8: ceil(504 / 24) = 21 across, a row every 24 lines
    assert data["tiles_per_line"] == pytest.approx(21 / 24)
    assert data["required_tiles_per_s"] == pytest.approx(21 / 24 * 2000)
    assert data["max_line_rate_hz"] == pytest.approx(data["tiles_per_s"] * 24 / 21)
    assert data["keeps_up"] is (data["max_line_rate_hz"] >= 2000)
    assert "stages" not in data and "vs" not in data


def test_vs_prints_ratios_per_figure(dark_engine, dark_onnx):
    data = run_cli([str(dark_engine), "--vs", str(dark_onnx), *SHORT])
    assert list(data["vs"]) == list(FIGURES)
    other = data["vs_engine"]
    assert other["engine"] == str(dark_onnx) and other["backend"] == "onnxruntime"
    assert data["vs"]["tiles_per_s"] == pytest.approx(data["tiles_per_s"] / other["tiles_per_s"])
    assert data["vs"]["mpx_per_s"] == pytest.approx(data["mpx_per_s"] / other["mpx_per_s"])
    assert data["vs"]["latency_p50_ms"] == pytest.approx(data["latency_ms"]["p50"] / other["latency_ms"]["p50"])
    assert all(value > 0 for value in data["vs"].values())


def test_no_engine_means_the_bundled_model_run_uses():
    from edgeinspect.assets import default_engine

    data = run_cli(SHORT)
    assert data["engine"] == str(default_engine()) and data["backend"] == "onnxruntime"
    assert data["tile_hw"] == [256, 256] and data["precision"] == "fp32"  # lpcnet-lite.onnx, FP32, 256² tiles


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["/no/such/engine"], "/no/such/engine: not found"),
        (["{engine}", "--line-rate-hz", "1000"], "--line-rate-hz needs --width-px"),
        (["{engine}", "--width-px", "4096", "--overlap-px", "32"], "overlap_px must be in [0, 32)"),
        (["{engine}", "--overlap-px", "40"], "overlap_px must be in [0, 32)"),  # also without a width
        (["{engine}", "--plot", "{tmp}/no/dir/x.png"], "does not exist"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, match, dark_engine, tmp_path, capsys):
    argv = ["bench", *(a.format(engine=dark_engine, tmp=tmp_path) for a in args), *SHORT]
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "\n" not in err
    assert match in err


NO_TORCH = textwrap.dedent(
    r"""
    import importlib.abc, json, sys

    class NoTorch(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "torch" or name.startswith("torch."):
                raise ImportError(f"torch is blocked in this test ({name})")
            return None

    sys.meta_path.insert(0, NoTorch())
    from edgeinspect.cli import main
    try:
        main(sys.argv[1:])
    except SystemExit as exit_:
        code = exit_.code or 0
    else:
        code = 0
    print("TORCH_LOADED", "torch" in sys.modules, file=sys.stderr)
    sys.exit(code)
    """
)


def test_bench_path_with_pipeline_and_plot_imports_no_torch(dark_engine, tmp_path):
    """The whole bench path (engine, batch sweep, pipeline, PNG) in a process where ``import torch`` fails."""
    png = tmp_path / "p.png"
    proc = subprocess.run(
        [sys.executable, "-c", NO_TORCH, "bench", str(dark_engine), *SHORT, "--duration-s", "0.1", "--pipeline",
         "--width-px", "128", "--overlap-px", "8", "--plot", str(png), "--json"],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "TORCH_LOADED False" in proc.stderr
    data = json.loads(proc.stdout)
    assert data["verdict_from"] == "pipeline" and data["width_px"] == 128
    assert data["plot"] == str(png)
    assert list(data["batch_sweep"]) == ["1", "2", "4", "8"]
    assert all(v["tiles_per_s"] > 0 for v in data["batch_sweep"].values())
    image = cv2.imread(str(png))
    assert image is not None and image.shape[0] > 300 and image.shape[1] > 800
    assert image.std() > 10  # a drawn figure, not a blank canvas


def test_pt_checkpoint_without_torch_is_a_one_line_error(tmp_path):
    checkpoint = tmp_path / "model.pt"
    checkpoint.write_bytes(b"not really a checkpoint")
    proc = subprocess.run([sys.executable, "-c", NO_TORCH, "bench", str(checkpoint), *SHORT],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if not line.startswith("TORCH_LOADED")]
    assert len(lines) == 1 and lines[0].startswith("error:")
    assert "needs torch" in lines[0] and "pip install edgeinspect[train]" in lines[0]
