"""``edgeinspect doctor``: one line per check, exit 1 on a FAIL, no traceback — on this camera-less, GPU-less box."""

from __future__ import annotations

import importlib.metadata as md
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fixtures_stream import write_onnx

from edgeinspect import doctor
from edgeinspect.doctor import FAIL, OK, WARN, run_doctor

REPO = Path(__file__).resolve().parents[1]


def write_engine(folder: Path, *, backend: str = "onnxruntime", version: str | None = None,
                 options: dict | None = None) -> Path:
    """An engine folder: a one-node ONNX network (prob = pixel / 255) with a real manifest."""
    from edgeinspect.backends.manifest import Manifest, hash_files, write_manifest

    folder.mkdir(parents=True)
    write_onnx(folder / "model.onnx", (32, 32), kind="identity")
    manifest = Manifest(
        backend=backend, precision="fp32", encoding=None, op_form="standard",
        network={"arch": "identity", "kwargs": {}}, tile_hw=(32, 32), input_name="input", input_dtype="float32",
        output_names=("prob",), model_file="model.onnx", files=hash_files(folder, ["model.onnx"]),
        versions={"edgeinspect": "test", backend: version or md.version("onnxruntime")}, options=options or {},
    )
    write_manifest(folder, manifest)
    return folder


def write_run_yaml(path: Path, **keys) -> Path:
    import yaml

    path.write_text(yaml.safe_dump({k: str(v) if isinstance(v, Path) else v for k, v in keys.items()}))
    return path


@pytest.fixture(scope="module")
def engine_dir(tmp_path_factory) -> Path:
    return write_engine(tmp_path_factory.mktemp("engine") / "identity")


@pytest.fixture()
def no_gentl(monkeypatch):
    monkeypatch.delenv("GENICAM_GENTL64_PATH", raising=False)


def doctor_process(*args: str, env_extra: dict | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "GENICAM_GENTL64_PATH"} | {"COLUMNS": "250"} | (env_extra or {})
    return subprocess.run([sys.executable, "-m", "edgeinspect", "doctor", *args], capture_output=True, text=True,
                          cwd=REPO, env=env, timeout=120)


def status_of(report, name: str) -> str:
    return next(c.status for c in report.checks if c.name == name)


def test_process_ready_box_exits_0_and_names_what_is_missing(tmp_path, engine_dir):
    run = doctor_process("--engine", str(engine_dir), "--out", str(tmp_path / "runs"), "--hours", "1")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Traceback" not in run.stdout + run.stderr
    lines = run.stdout.strip().splitlines()
    checks = {line.split()[1]: line.split()[0] for line in lines[:-1]}
    assert set(checks.values()) <= {OK, WARN}
    assert list(checks) == ["gentl", "camera", "calibration", "gpu", "engine", "output", "clock"]
    text = run.stdout
    assert "TLSimu" in text and "simulator, not a camera" in text          # no camera, said so
    assert "no NVIDIA GPU" in text                                          # no GPU, said so
    assert "one tile in" in text and checks["engine"] == OK
    assert lines[-1].startswith("no blocker")


def test_process_without_engine_fails_with_exit_1_and_one_line(tmp_path):
    run = doctor_process("--engine", str(tmp_path / "missing"), "--out", str(tmp_path))
    assert run.returncode == 1
    assert "Traceback" not in run.stdout + run.stderr
    engine_line = next(line for line in run.stdout.splitlines() if line.split()[1] == "engine")
    assert engine_line.startswith(FAIL) and "missing" in engine_line and "edgeinspect build" in engine_line


def test_cli_json(tmp_path, engine_dir, no_gentl):
    from typer.testing import CliRunner

    from edgeinspect.cli.app import app

    result = CliRunner().invoke(app, ["doctor", "--engine", str(engine_dir), "--out", str(tmp_path), "--no-infer",
                                      "--json"])
    report = json.loads(result.stdout)
    assert result.exit_code == report["exit_code"] == 0
    assert {c["status"] for c in report["checks"]} <= {OK, WARN}
    assert next(c for c in report["checks"] if c["name"] == "engine")["message"].count("one tile") == 0


def test_genicam_config_without_a_camera_is_a_blocker(tmp_path, engine_dir, monkeypatch):
    from edgeinspect.acquire.gentl import tlsimu_cti

    if tlsimu_cti() is None:
        pytest.skip("genicam's TLSimu.cti is not installed (extra 'genicam')")
    monkeypatch.setenv("GENICAM_GENTL64_PATH", str(tlsimu_cti().parent))
    config = write_run_yaml(tmp_path / "line3.yaml", camera="genicam:SN_InterfaceA_0", engine=engine_dir)
    report = run_doctor(config=config, out=tmp_path, infer=False)
    assert status_of(report, "config") == OK
    gentl = next(c for c in report.checks if c.name == "gentl")
    assert gentl.status == FAIL and "simulator" in gentl.message
    camera = next(c for c in report.checks if c.name == "camera")
    assert camera.status == FAIL and "simulator" in camera.message
    calibration = next(c for c in report.checks if c.name == "calibration")
    assert calibration.status == WARN and "synthetic web's calibration" in calibration.message
    assert report.exit_code == 1


def test_broken_config_is_a_fail_line_and_the_rest_still_runs(tmp_path, no_gentl):
    bad = tmp_path / "bad.yaml"
    bad.write_text("batch_size: 0\n")
    report = run_doctor(config=bad, out=tmp_path, engine=tmp_path / "none", infer=False)
    assert report.checks[0].name == "config" and report.checks[0].status == FAIL
    assert "batch_size" in report.checks[0].message
    assert [c.name for c in report.checks][1:] == ["gentl", "camera", "calibration", "gpu", "engine", "output", "clock"]
    assert report.exit_code == 1


def test_calibration_for_another_width_fails(tmp_path, engine_dir, no_gentl):
    calib = tmp_path / "c.yaml"
    calib.write_text("width_px: 1024\nmm_per_px: 0.1\nmm_per_line: 0.1\nreject_area_mm2: 1\nsignificant_area_mm2: 0.25\n")
    config = write_run_yaml(tmp_path / "r.yaml", camera="sim", calib=calib, source_options={"width": 512})
    report = run_doctor(config=config, engine=engine_dir, out=tmp_path, infer=False)
    check = next(c for c in report.checks if c.name == "calibration")
    assert check.status == FAIL and "1024" in check.message and "512" in check.message


def test_changed_engine_file_fails_naming_it(tmp_path, no_gentl):
    folder = write_engine(tmp_path / "eng")
    (folder / "model.onnx").write_bytes((folder / "model.onnx").read_bytes() + b"\0")
    check = next(c for c in run_doctor(engine=folder, out=tmp_path).checks if c.name == "engine")
    assert check.status == FAIL and "model.onnx" in check.message and "rebuild" in check.message


@pytest.mark.parametrize("content, named", [
    (b"garbage\n", "not a readable ONNX model"),
    (None, "is not an (N,1,H,W) gray image"),  # a valid ONNX with a 3-channel input
])
def test_raw_onnx_that_is_no_edgeinspect_model_fails_also_without_inference(tmp_path, no_gentl, content, named):
    path = tmp_path / "model.onnx"
    if content is None:
        from fixtures_onnx import write_relu_onnx

        write_relu_onnx(path, ["N", 3, 64, 64])
    else:
        path.write_bytes(content)
    check = next(c for c in run_doctor(engine=path, out=tmp_path, infer=False).checks if c.name == "engine")
    assert check.status == FAIL and str(path) in check.message and named in check.message


def test_engine_built_with_another_runtime_version_warns(tmp_path, no_gentl):
    folder = write_engine(tmp_path / "old", version="0.0.1")
    check = next(c for c in run_doctor(engine=folder, out=tmp_path, infer=False).checks if c.name == "engine")
    assert check.status == WARN and "0.0.1" in check.message


def test_tensorrt_engine_on_a_box_without_gpu_fails(tmp_path, no_gentl):
    record = {"tensorrt_version": "10.3.0.30", "gpu_name": "Orin", "compute_capability": "8.7",
              "driver_version": 12060, "platform": "linux-aarch64", "plugin_mode": "standard-ops"}
    folder = write_engine(tmp_path / "trt", backend="tensorrt", version="10.3.0.30", options={"tensorrt": record})
    report = run_doctor(engine=folder, out=tmp_path, infer=False)
    gpu = next(c for c in report.checks if c.name == "gpu")
    engine = next(c for c in report.checks if c.name == "engine")
    if gpu.status == OK:
        pytest.skip("this box has a GPU")
    assert gpu.status == FAIL and "needs TensorRT" in gpu.message
    assert engine.status == FAIL and "cannot run here" in engine.message and "edgeinspect build" in engine.message
    assert report.exit_code == 1
    # without its build record the engine is refused too, with the rebuild hint
    bare = write_engine(tmp_path / "bare", backend="tensorrt", version="10.3.0.30")
    engine = next(c for c in run_doctor(engine=bare, out=tmp_path, infer=False).checks if c.name == "engine")
    assert engine.status == FAIL and "rebuild" in engine.message


def test_output_space_estimate_and_failures(tmp_path, engine_dir, no_gentl):
    config = write_run_yaml(tmp_path / "r.yaml", camera="sim", mask_png_every_lines=1024,
                            source_options={"width": 2048, "line_rate_hz": 20_000})
    fine = next(c for c in run_doctor(config=config, engine=engine_dir, out=tmp_path, hours=1, infer=False).checks
                if c.name == "output")
    assert fine.status == OK and "mask PNGs every 1024 lines" in fine.message and "assumed 600 defects/h" in fine.message
    assert "lines/s" not in fine.message.split("assumed")[-1]          # the config's rate is used, not assumed
    full = next(c for c in run_doctor(config=config, engine=engine_dir, out=tmp_path, hours=1e9, infer=False).checks
                if c.name == "output")
    assert full.status == FAIL and "less than the 1e+09 h" in full.message
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    blocked = next(c for c in run_doctor(engine=engine_dir, out=a_file / "runs", infer=False).checks
                   if c.name == "output")
    assert blocked.status == FAIL and "not a folder" in blocked.message


@pytest.mark.parametrize("stdout, status, words", [
    ("NTP=yes\nNTPSynchronized=yes\nTimezone=UTC\n", OK, "synchronised"),
    ("NTP=yes\nNTPSynchronized=no\n", WARN, "not synchronised"),
    ("NTP=no\nNTPSynchronized=no\n", WARN, "NTP is off"),
])
def test_clock_from_faked_timedatectl_output(monkeypatch, stdout, status, words):
    monkeypatch.setattr(doctor, "_run", lambda command: subprocess.CompletedProcess(command, 0, stdout, ""))
    check = doctor._check_clock()
    assert check.status == status and words in check.message


def test_clock_from_faked_chrony_output(monkeypatch):
    def only_chrony(command):
        if command[0] == "chronyc":
            return subprocess.CompletedProcess(command, 0, "Reference ID : 1\nLeap status     : Normal\n", "")
        return subprocess.CompletedProcess(command, 1, "", "System has not been booted with systemd")

    monkeypatch.setattr(doctor, "_run", only_chrony)
    monkeypatch.setattr(doctor, "TIMESYNC_FLAG", Path("/nonexistent/timesync/synchronized"))
    assert doctor._check_clock().status == OK
    monkeypatch.setattr(doctor, "_run", lambda command: None)
    unknown = doctor._check_clock()
    assert unknown.status == WARN and "unknown" in unknown.message


def test_overflowing_calibration_fails_naming_the_key(tmp_path, engine_dir, no_gentl):
    """The same bound as `run` (load_calibration): 1e308 mm/px would give Infinity areas."""
    calib = tmp_path / "c.yaml"
    calib.write_text("mm_per_px: 1e308\nmm_per_line: 0.1\nreject_area_mm2: 1\nsignificant_area_mm2: 0.25\n")
    config = write_run_yaml(tmp_path / "r.yaml", camera="sim", calib=calib)
    report = run_doctor(config=config, engine=engine_dir, out=tmp_path, infer=False)
    check = next(c for c in report.checks if c.name == "calibration")
    assert check.status == FAIL and report.exit_code == 1
    assert check.message == (f"{calib}: key 'mm_per_px' must be in [1e-06, 1000] mm per pixel (outside that it is "
                             f"a typo), got 1e+308")
