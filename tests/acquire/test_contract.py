"""The FrameSource contract, once for every source (sim, replay, genicam on TLSimu), and open_source specs."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import cv2
import numpy as np
import pytest

from edgeinspect.acquire import CameraConfig, Frame, FrameSource, SourceStats, open_source, parse_spec
from edgeinspect.errors import EdgeInspectError


@pytest.fixture(params=["sim", "replay", pytest.param("genicam", marks=pytest.mark.genicam)])
def source(request, tmp_path):
    """An open source of 5 frames of 32 lines × 64 px."""
    if request.param == "sim":
        return open_source("sim", width=64, lines_per_frame=32, max_frames=5)
    if request.param == "replay":
        strip = np.random.default_rng(0).integers(0, 255, (5 * 32, 64), dtype=np.uint8)
        cv2.imwrite(str(tmp_path / "strip.png"), strip)
        return open_source(f"replay:{tmp_path / 'strip.png'}", lines_per_frame=32)
    tlsimu = request.getfixturevalue("tlsimu")
    return open_source("genicam:SN_InterfaceA_0", cti=tlsimu, max_frames=5,
                       camera=CameraConfig(width=64, lines_per_frame=32, pixel_format="Mono8"))


def test_source_yields_contiguous_owned_frames_and_counts_them(source):
    assert isinstance(source, FrameSource)
    with source:
        assert (source.width, source.lines_per_frame, source.bit_depth) == (64, 32, 8)
        frames = list(source)
        stats = source.stats
    assert len(frames) == 5 and all(isinstance(f, Frame) for f in frames)
    assert [f.first_line for f in frames] == [0, 32, 64, 96, 128]
    assert [f.frame_id for f in frames] == [0, 1, 2, 3, 4]
    assert [f.stop_line for f in frames] == [32, 64, 96, 128, 160]
    for frame in frames:
        assert frame.lines.shape == (32, 64) and frame.lines.dtype == np.uint8 and frame.bit_depth == 8
        assert frame.lines.flags.owndata and frame.lines.flags.c_contiguous
        assert isinstance(frame.timestamp_ns, int) and frame.timestamp_ns > 1_600_000_000 * 10**9  # epoch ns
        assert frame.truth_mask is None or (frame.truth_mask.shape == (32, 64) and frame.truth_mask.dtype == bool)
    assert [f.timestamp_ns for f in frames] == sorted(f.timestamp_ns for f in frames)
    assert stats == SourceStats(frames=5, lines=160)


def test_source_close_is_idempotent_and_final(source):
    with source:
        next(source)
    source.close()
    source.close()
    assert list(source) == []
    with pytest.raises(EdgeInspectError, match="closed"):
        source.open()


@pytest.mark.parametrize(("spec", "parsed"), [
    ("sim", ("sim", None)), ("sim:fabric", ("sim", "fabric")), ("genicam", ("genicam", None)),
    ("genicam:22012345", ("genicam", "22012345")), (" GenICam:Line 3 ", ("genicam", "Line 3")),
    ("replay:/data/a:b.png", ("replay", "/data/a:b.png")),
])
def test_parse_spec(spec, parsed):
    assert parse_spec(spec) == parsed


def test_bad_specs_and_options_are_one_line_errors():
    with pytest.raises(EdgeInspectError, match="unknown frame source 'usb3'; use one of: sim, sim:TEXTURE, genicam"):
        open_source("usb3")
    with pytest.raises(EdgeInspectError, match="option '--camera-config / camera_config' does not apply to frame source 'sim'"):
        open_source("sim", camera=CameraConfig())
    with pytest.raises(EdgeInspectError, match="option 'texture' does not apply"):
        open_source("genicam", texture="carbon")
    with pytest.raises(EdgeInspectError, match=r"option '--width-px / source_options\.width' does not apply to "
                                               r"frame source 'replay:images'"):
        open_source("replay:images", width=128)  # a replay's width is its images'


def test_acquire_imports_and_streams_without_torch():
    script = textwrap.dedent("""
        import sys
        sys.modules["torch"] = None          # any 'import torch' now raises ImportError
        from edgeinspect.acquire import open_source
        with open_source("sim", width=32, lines_per_frame=16, max_frames=2) as source:
            assert len(list(source)) == 2
        assert not any(name == "torch" or name.startswith("torch.") for name in sys.modules if sys.modules[name])
        print("ok")
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]
