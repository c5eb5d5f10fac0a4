"""deploy/: the systemd unit (``systemd-analyze verify`` where available), Dockerfiles and install scripts.

Docker and a Jetson are not available here: the container files and Jetson scripts are checked for
content and shell syntax only.
"""

from __future__ import annotations

import configparser
import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy"
UNIT = DEPLOY / "systemd" / "edgeinspect@.service"


def unit_settings(text: str) -> dict[str, dict[str, list[str]]]:
    """``{section: {key: [values]}}`` of a systemd unit (comments dropped, repeated keys kept)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        key, _, value = line.partition("=")
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def run_lines(dockerfile: Path) -> str:
    """The RUN instructions of a Dockerfile (continuations joined, comments dropped)."""
    text = re.sub(r"\\\n", " ", dockerfile.read_text())
    return "\n".join(line for line in text.splitlines() if line.strip().startswith("RUN "))


@pytest.fixture(scope="module")
def unit() -> dict[str, dict[str, list[str]]]:
    return unit_settings(UNIT.read_text())


def test_unit_runs_one_instance_per_line(unit):
    service = unit["Service"]
    assert service["ExecStart"] == ["/usr/local/bin/edgeinspect run --config /etc/edgeinspect/%i.yaml"]
    assert service["Restart"] == ["on-failure"]
    assert service["User"] == ["edgeinspect"] and service["Group"] == ["edgeinspect"]
    assert service["WorkingDirectory"] == ["/var/lib/edgeinspect/%i"]
    assert service["StateDirectory"] == ["edgeinspect/%i"]
    assert unit["Install"]["WantedBy"] == ["multi-user.target"]


def test_unit_stops_with_sigterm_and_time_to_flush(unit):
    service = unit["Service"]
    assert service["KillSignal"] == ["SIGTERM"]
    assert int(service["TimeoutStopSec"][0]) >= 30
    assert service["KillMode"] == ["mixed"]


def test_unit_logs_to_journald(unit):
    service = unit["Service"]
    assert service["StandardOutput"] == service["StandardError"] == ["journal"]
    assert service["SyslogIdentifier"] == ["edgeinspect-%i"]


def test_unit_hardening_keeps_cameras_and_gpus(unit):
    service = unit["Service"]
    for key in ("NoNewPrivileges", "ProtectSystem", "ProtectHome", "PrivateTmp", "ProtectKernelModules"):
        assert key in service, key
    assert service["ProtectSystem"] == ["strict"]
    # these would hide USB3 Vision / GPU device nodes, cut GigE off, or forbid JIT code
    for breaking in ("PrivateDevices", "PrivateNetwork", "MemoryDenyWriteExecute", "DevicePolicy"):
        assert breaking not in service, breaking
    families = service["RestrictAddressFamilies"][0].split()
    assert {"AF_INET", "AF_NETLINK", "AF_PACKET", "AF_UNIX"} <= set(families)
    assert "video" in service["SupplementaryGroups"][0]


def test_systemd_analyze_verify(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed here (apt-get install systemd)")
    executable = shutil.which("edgeinspect")
    if executable is None:
        pytest.skip("the edgeinspect console script is not on PATH (pip install -e .)")
    # verify checks ExecStart exists: point it at this install's script
    unit = tmp_path / "edgeinspect@line3.service"
    unit.write_text(UNIT.read_text().replace("/usr/local/bin/edgeinspect", executable))
    run = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60)
    ours = [line for line in (run.stdout + run.stderr).splitlines() if "edgeinspect@" in line]
    assert run.returncode == 0 and not ours, run.stdout + run.stderr


def test_cpu_image_is_runtime_only():
    dockerfile = DEPLOY / "docker" / "Dockerfile.cpu"
    runs = run_lines(dockerfile)
    assert "pip install ." in runs and '".[genicam]"' in runs
    assert "torch" not in runs.lower()
    assert not re.search(r"\[[^\]]*\b(train|test|tensorrt)\b", runs)
    text = dockerfile.read_text()
    assert re.search(r"^FROM python:3\.11", text, re.M)
    assert "GENICAM_GENTL64_PATH=" in text and re.search(r"^USER edgeinspect", text, re.M)
    assert re.search(r"^STOPSIGNAL SIGTERM", text, re.M)


def test_runtime_extras_do_not_pull_torch():
    config = configparser.ConfigParser()
    config.read(REPO / "setup.cfg")
    runtime = config["options"]["install_requires"] + config["options.extras_require"]["genicam"]
    assert "torch" not in runtime and "timm" not in runtime


def test_l4t_image_uses_jetpack_tensorrt_and_cuda_12():
    dockerfile = DEPLOY / "docker" / "Dockerfile.l4t"
    text = dockerfile.read_text()
    assert "nvcr.io/nvidia/l4t-jetpack:r36" in text
    runs = run_lines(dockerfile)
    assert '"cuda-bindings>=12.6,<13"' in runs and "nvidia-cuda-nvrtc-cu12" in runs
    assert "torch" not in runs.lower()
    assert "build_tensorrt_python.sh" in runs


def test_container_docs_cover_producer_and_gige_network():
    text = (DEPLOY / "docker" / "README.md").read_text()
    for needed in ("--network host", "net.core.rmem_max", "MTU 9000", "GENICAM_GENTL64_PATH", "Not built here"):
        assert needed in text, needed


def test_jetson_docs_are_honest_and_complete():
    text = (DEPLOY / "jetson" / "README.md").read_text()
    for needed in ("Unverified on a Jetson", "nvpmodel -m 0", "jetson_clocks", "cuda-bindings>=12.6,<13",
                   "nvidia-cuda-nvrtc-cu12", "TensorRT ≥ 10.9", "never", "JetPack 7"):
        assert needed in text, needed


@pytest.mark.parametrize("script", ["jetson/install.sh", "jetson/build_tensorrt_python.sh"])
def test_shell_scripts_parse(script):
    path = DEPLOY / script
    assert path.read_text().startswith("#!/usr/bin/env bash")
    run = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True, timeout=30)
    assert run.returncode == 0, run.stderr
    assert "UNVERIFIED ON A JETSON" in path.read_text()


def test_deploy_readme_replaces_the_placeholder():
    text = (DEPLOY / "README.md").read_text()
    assert "Nothing here yet" not in text
    for path in ("systemd/edgeinspect@.service", "jetson/", "docker/Dockerfile.cpu", "docker/Dockerfile.l4t"):
        assert path in text, path
