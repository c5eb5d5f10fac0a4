"""``edgeinspect run`` and ``eval --run`` from the command line: outputs, one-line errors, SIGTERM."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fixtures_os import file_size_limit
from fixtures_stream import write_onnx

from edgeinspect.cli import main
from edgeinspect.config import DEFAULT_DETECT_THRESHOLD, DEFAULT_THRESHOLD

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def dark_model(tmp_path_factory) -> Path:
    return write_onnx(tmp_path_factory.mktemp("onnx") / "dark.onnx", (64, 64), kind="dark")


def cli(argv: list[str], capsys) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(argv)
    captured = capsys.readouterr()
    return info.value.code or 0, captured.out, captured.err


def test_run_then_eval_run_json(tmp_path, dark_model, capsys):
    out = tmp_path / "run1"
    code, stdout, _ = cli(["run", "--camera", "sim:steel", "--engine", str(dark_model), "--out", str(out),
                           "--lines", "600", "--width", "256", "--overlap-px", "8", "--batch-size", "8",
                           "--mask-png-every-lines", "256", "--json"], capsys)
    assert code == 0
    summary = json.loads(stdout)
    assert summary["lines_inspected"] == 600 and summary["stop_reason"] == "lines"
    assert summary["backend"] == "onnxruntime" and summary["calibration"].endswith("synthetic-web.yaml")
    assert (summary["threshold"], summary["detect_threshold"]) == (DEFAULT_THRESHOLD, DEFAULT_DETECT_THRESHOLD)
    assert isinstance(summary["faint_groups"], int)
    for name in ("defects.jsonl", "defects.csv", "truth.jsonl", "summary.json"):
        assert (out / name).is_file()
    code, stdout, _ = cli(["eval", "--run", str(out), "--json"], capsys)
    assert code == 0
    score = json.loads(stdout)
    assert score["truth"] == len((out / "truth.jsonl").read_text().splitlines())
    assert score["predicted"] == summary["defects"]
    assert 0.0 <= score["recall"] <= 1.0 and 0.0 <= score["precision"] <= 1.0
    assert score["mask"]["files"] == 3  # lines 0..255, 256..511, 512..599
    assert 0.0 < score["mask"]["mIoU"] <= 1.0


@pytest.mark.parametrize("argv, streams", [([], 2), (["--streams", "1"], 1)])
def test_run_keeps_two_engine_batches_in_flight_unless_told(tmp_path, dark_model, capsys, argv, streams):
    # the default on a machine with >= 2 cores (CI has 2): 2 ONNX Runtime calls at once
    from edgeinspect.sysinfo import usable_cores

    if usable_cores() < 2:
        pytest.skip("one core: the default is one stream")
    out = tmp_path / f"streams-{streams}"
    code, _, _ = cli(["run", "--camera", "sim", "--engine", str(dark_model), "--out", str(out), "--lines", "300",
                           "--width", "128", "--no-overlays", *argv], capsys)
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["engine_streams"] == streams and summary["lines_inspected"] == 300


def test_bad_calibration_is_one_line_naming_the_key_and_exit_2(tmp_path, capsys):
    calib = tmp_path / "line3.yaml"
    calib.write_text("mm_per_px: -0.1\nmm_per_line: 0.1\nreject_area_mm2: 1\nsignificant_area_mm2: 0.2\n")
    code, _, err = cli(["run", "--calib", str(calib), "--out", str(tmp_path / "r"), "--lines", "10"], capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "error:" in lines[0] and "'mm_per_px'" in lines[0] and "line3.yaml" in lines[0]


def test_bad_run_config_and_conflicting_options_exit_2(tmp_path, capsys):
    config = tmp_path / "run.yaml"
    config.write_text("camera: sim\nbatch_sise: 4\n")
    code, _, err = cli(["run", "--config", str(config)], capsys)
    assert code == 2 and "unknown key 'batch_sise'" in err and "run.yaml" in err
    code, _, err = cli(["run", "--lines", "10", "--duration-s", "1"], capsys)
    assert code == 2 and "--lines or --duration-s" in err
    code, _, err = cli(["run", "--camera", "usb:0"], capsys)
    assert code == 2 and "usb:0" in err
    code, _, err = cli(["run", "--line-rate", "0", "--lines", "10"], capsys)
    assert code == 2 and err.strip() == "error: --line-rate must be > 0 Hz, got 0 (leave it out for an unpaced run)"
    config.write_bytes(b"\xff\xfe\x00bad")  # not text: a binary file given by mistake
    code, _, err = cli(["run", "--config", str(config)], capsys)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "run.yaml: not a text (UTF-8) file" in lines[0]


def test_sigterm_closes_sinks_writes_summary_and_exits_0(tmp_path, dark_model):
    out = tmp_path / "term"
    process = subprocess.Popen(
        [sys.executable, "-m", "edgeinspect", "run", "--camera", "sim:steel", "--engine", str(dark_model),
         "--out", str(out), "--width", "256", "--line-rate-hz", "5000", "--duration-s", "120", "--json"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ | {"COLUMNS": "200"},
    )
    try:
        deadline = time.monotonic() + 60
        while not (out / "defects.csv").is_file() and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.1)
        time.sleep(1.0)  # let a few frames through
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["stop_reason"] == "SIGTERM"
    assert json.loads(stdout)["stop_reason"] == "SIGTERM"
    assert summary["lines_inspected"] > 0 and summary["lines"] == summary["lines_inspected"] + summary["lines_dropped"]
    rows = list(csv.reader((out / "defects.csv").open()))
    records = (out / "defects.jsonl").read_text().splitlines()
    assert len(rows) - 1 == len(records) == summary["defects"]  # every record complete, files closed
    assert all(len(row) == len(rows[0]) for row in rows)
    assert "SIGTERM received" in stderr


@pytest.mark.genicam
def test_run_genicam_tlsimu_4096_px_loses_nothing(tmp_path, capsys):
    """The real acquisition path: harvesters + genicam's TLSimu.cti, 4096-px Mono8 strips, the bundled model."""
    pytest.importorskip("harvesters")
    from edgeinspect.acquire.gentl import tlsimu_cti

    out = tmp_path / "run2"
    code, stdout, err = cli(["run", "--camera", "genicam", "--cti", str(tlsimu_cti()), "--width", "4096",
                             "--lines", "4096", "--out", str(out), "--no-overlays", "--json"], capsys)
    assert code == 0, err
    summary = json.loads(stdout)
    assert summary["source"].startswith("genicam:") and summary["width_px"] == 4096
    assert summary["lines_inspected"] >= 4096 and summary["frames_dropped"] == 0 and summary["lines_dropped"] == 0
    assert summary["source_stats"]["frames_lost"] == 0 and summary["source_stats"]["lines_lost"] == 0
    assert json.loads((out / "summary.json").read_text()) == summary


def test_records_that_cannot_be_written_stop_the_run_with_one_line_naming_the_file(tmp_path):
    """The OS refuses the writes (a file-size limit, as a full disk would): one error line, exit 2,
    the records before it intact, summary.json saying the run failed."""
    out = tmp_path / "limited"
    process = subprocess.run(
        [sys.executable, "-m", "edgeinspect", "run", "--camera", "sim", "--out", str(out), "--lines", "4000",
         "--no-overlays", "--json"],
        cwd=REPO, capture_output=True, text=True, timeout=300, preexec_fn=file_size_limit(40_000),
        env=os.environ | {"COLUMNS": "200"},
    )
    errors = [line for line in process.stderr.splitlines() if line.startswith("error:")]
    assert process.returncode == 2, process.stderr
    assert "Traceback" not in process.stderr and len(errors) == 1, process.stderr
    written = int(errors[0].split("; the ")[1].split(" record")[0])
    assert errors[0] == (f"error: {out / 'defects.jsonl'}: cannot write (File too large); the {written} record(s) "
                         f"before it are on disk")
    text = (out / "defects.jsonl").read_text()
    assert text.endswith("\n")  # cut back to the last complete record: no half line
    records = [json.loads(line) for line in text.splitlines()]
    assert written > 10 and [r["id"] for r in records] == list(range(1, written + 1))
    rows = list(csv.reader((out / "defects.csv").open()))
    assert [int(row[0]) for row in rows[1:]] == list(range(1, written + 1))  # the same records in both files
    summary = json.loads((out / "summary.json").read_text())
    assert summary["stop_reason"] == "error" and summary["defects"] == written
    assert summary["rejects"] == sum(r["verdict"] == "reject" for r in records)
