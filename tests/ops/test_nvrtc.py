"""NVRTC compile of every op kernel for every target arch (no GPU), the PTX ISA vs driver rule, and
``edgeinspect plugins compile``."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from edgeinspect.cli.app import app
from edgeinspect.errors import EdgeInspectError
from edgeinspect.ops import ptx

ARCHS = ["sm_75", "sm_86", "sm_87", "sm_89", "sm_90"]


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    out = tmp_path_factory.mktemp("ptx")
    return out, json.loads(ptx.compile_kernels(out, ARCHS).read_text())


def test_every_kernel_compiles_for_every_arch_without_warnings(compiled):
    out, meta = compiled
    assert meta["archs"] == ARCHS
    expected = {f"{op}.{dtype}.{arch}.ptx" for op in ptx.OPS for dtype in ptx.DTYPES for arch in ARCHS}
    assert {f["file"] for f in meta["files"]} == expected
    for entry in meta["files"]:
        code = (out / entry["file"]).read_bytes()
        assert re.search(rf"^\.target {entry['arch']}$", code.decode(), re.MULTILINE)
        assert re.search(rf"\.visible \.entry {entry['entry']}\(", code.decode())   # extern "C": unmangled
        assert entry["entry"] == f"{entry['op']}_{entry['dtype']}"
        assert not code.endswith(b"\0")


def test_ptx_json_records_toolchain_and_driver_floor(compiled):
    out, meta = compiled
    major, minor = ptx.nvrtc_version()
    assert meta["nvrtc_version"] == f"{major}.{minor}"
    assert meta["ptx_isa"] == ptx.ptx_isa_version((out / meta["files"][0]["file"]).read_bytes())
    assert meta["min_driver_version"] == ptx.required_cuda_version(meta["ptx_isa"])
    assert meta["min_driver_cuda"] == ptx.format_cuda_version(meta["min_driver_version"])
    assert "--fmad=false" in meta["options"]


def test_sm72_is_rejected_with_the_supported_list(tmp_path):
    with pytest.raises(EdgeInspectError, match=r"sm_72 is not supported by NVRTC .*sm_75.*Xavier"):
        ptx.compile_kernels(tmp_path, ["sm_87", "sm_72"])
    assert not list(tmp_path.iterdir())   # checked before anything is written


@pytest.mark.parametrize("text,arch", [("sm_87", 87), ("compute_80", 80), ("90", 90), (75, 75)])
def test_parse_arch(text, arch):
    assert ptx.parse_arch(text) == arch


@pytest.mark.parametrize("text", ["sm87x", "ampere", "sm_"])
def test_parse_arch_rejects_junk(text):
    with pytest.raises(EdgeInspectError, match="expected sm_XX"):
        ptx.parse_arch(text)


def test_an_nvrtc_warning_fails_with_the_log():
    with pytest.raises(EdgeInspectError, match=r"warned.*declared but never referenced"):
        ptx.compile_ptx('extern "C" __global__ void k(float* y) { int unused; y[0] = 1.f; }', arch=87)


def test_an_nvrtc_error_fails_with_the_log():
    with pytest.raises(EdgeInspectError, match=r"failed.*error"):
        ptx.compile_ptx('extern "C" __global__ void k(float* y) { y[0] = undefined_name; }', arch=87)


def test_cuda_fp16_header_is_found():
    dirs = ptx.cuda_include_dirs()
    assert dirs and (dirs[0] / "cuda_fp16.h").is_file()


# ----------------------------------------------------------------------------- ISA vs driver
@pytest.mark.parametrize("isa,cuda", [("9.5", 13050), ("9.0", 13000), ("8.8", 12090), ("8.6", 12070), ("8.5", 12050)])
def test_required_cuda_version_per_ptx_isa(isa, cuda):
    assert ptx.required_cuda_version(isa) == cuda


@pytest.mark.parametrize("isa,driver", [("9.5", 13050), ("9.5", 13060), ("8.5", 12060), ("8.5", 13000)])
def test_driver_new_enough_passes(isa, driver):
    ptx.check_driver_for_ptx(isa, driver)


def test_cuda13_ptx_on_a_jetpack6_driver_names_both_versions_and_the_pin():
    with pytest.raises(EdgeInspectError) as info:
        ptx.check_driver_for_ptx("9.5", 12060)
    message = str(info.value)
    assert "PTX ISA 9.5" in message and "CUDA >= 13.5" in message and "CUDA 12.6" in message
    assert "nvidia-cuda-nvrtc-cu12==12.6.*" in message and "\n" not in message


def test_newer_cuda13_ptx_on_an_older_cuda13_driver_pins_cuda13_wheels():
    with pytest.raises(EdgeInspectError, match=r"CUDA 13\.0: pip install 'nvidia-cuda-nvrtc==13\.0\.\*'"):
        ptx.check_driver_for_ptx("9.5", 13000)


def test_this_nvrtc_isa_is_what_the_kernels_carry(compiled):
    _, meta = compiled
    assert ptx.nvrtc_ptx_isa() == meta["ptx_isa"]


def test_preflight_without_a_driver_says_so(monkeypatch):
    monkeypatch.setattr(ptx, "driver_version", lambda: None)
    with pytest.raises(EdgeInspectError, match="no CUDA driver"):
        ptx.preflight()


# ------------------------------------------------------------------------------------------ CLI
def test_cli_compile_writes_ptx_and_json(tmp_path):
    result = CliRunner().invoke(app, ["plugins", "compile", "--arch", "sm_87", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "PTX ISA" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [f"{op}.{dt}.sm_87.ptx" for op in ptx.OPS for dt in ptx.DTYPES] + ["ptx.json"])


def test_cli_rejects_sm72_with_one_line_and_exit_2(tmp_path):
    result = subprocess.run([sys.executable, "-m", "edgeinspect", "plugins", "compile", "--arch", "sm_72",
                             "--out", str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.startswith("error: sm_72 is not supported") and "Traceback" not in result.stderr


def test_compiling_leaves_the_interpreter_bytes_constants_intact(tmp_path):
    """NVRTC writes its (1-byte, empty) log into our buffer: it must be a fresh writable one.

    Writing into ``b" " * 1`` (the interpreter's shared ``b" "``) once broke every later
    ``torch.load`` of this process.
    """
    ptx.compile_kernels(tmp_path, ["sm_87"])
    assert b" " == bytes([32]) and b" ".isspace()
