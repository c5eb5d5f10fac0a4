"""SimSource: the synthetic web streamed as frames, with truth aligned to the web."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from edgeinspect.acquire import SimSource, open_source
from edgeinspect.acquire.base import LinePacer
from edgeinspect.data.synth import SyntheticWeb
from edgeinspect.errors import EdgeInspectError


def test_sim_frames_are_consecutive_blocks_of_the_web():
    with SimSource(width=256, lines_per_frame=100, texture="fabric", seed=5, max_frames=4) as sim:
        frames = list(sim)
        stats = sim.stats
    web = SyntheticWeb(256, texture="fabric", seed=5)
    strip = web.render(0, 400)
    assert [f.first_line for f in frames] == [0, 100, 200, 300] and [f.frame_id for f in frames] == [0, 1, 2, 3]
    np.testing.assert_array_equal(np.concatenate([f.lines for f in frames]), strip.image)
    np.testing.assert_array_equal(np.concatenate([f.truth_mask for f in frames]), strip.mask)
    assert (stats.frames, stats.lines, stats.frames_lost, stats.lines_lost) == (4, 400, 0, 0)
    assert all(f.lines.dtype == np.uint8 and f.bit_depth == 8 and f.lines.flags.owndata for f in frames)


def test_sim_is_deterministic_by_seed_and_resumable_at_a_line():
    def take(seed: int, start_line: int = 0) -> list[np.ndarray]:
        with SimSource(width=128, lines_per_frame=64, seed=seed, start_line=start_line, max_frames=3) as sim:
            return [f.lines for f in sim]

    first, again, other = take(1), take(1), take(2)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not any(np.array_equal(a, b) for a, b in zip(first, other))
    resumed = take(1, start_line=64)
    np.testing.assert_array_equal(resumed[0], first[1])


def test_sim_truth_defects_match_the_masks_it_streams():
    with SimSource(width=512, lines_per_frame=128, texture="carbon", seed=3, max_frames=8) as sim:
        frames = list(sim)
        defects = sim.truth_defects(0, 1024)
    mask = np.concatenate([f.truth_mask for f in frames])
    assert defects and mask.any()
    covered = np.zeros_like(mask)
    for defect in defects:
        x0, y0, x1, y1 = defect.bbox
        assert 0 <= x0 < x1 <= 512 and y0 < y1 and y0 < 1024 and y1 > 0
        covered[max(y0, 0):min(y1, 1024), x0:x1] = True
        assert mask[max(y0, 0):min(y1, 1024), x0:x1].any()  # every listed defect shows in the frames
    assert not (mask & ~covered).any()                      # every defect pixel lies in a listed bbox


def test_prerendered_sim_streams_the_same_web_and_truth_without_rendering_them_again(monkeypatch):
    def stream(**options):
        with SimSource(width=256, lines_per_frame=64, texture="carbon", seed=4, max_frames=5, start_line=128,
                       **options) as sim:
            opened = len(calls)
            frames = list(sim)
            return frames, sim.truth_defects(128, 128 + 5 * 64), len(calls) - opened

    calls: list[int] = []
    real_render = SyntheticWeb.render
    monkeypatch.setattr(SyntheticWeb, "render", lambda web, first, n: calls.append(first) or real_render(web, first, n))
    live, live_truth, live_renders = stream()
    pre, pre_truth, pre_renders = stream(prerender_lines=150)  # rounded up to 3 whole frames
    assert (live_renders, pre_renders) == (5, 2)  # only the 2 frames past the pre-rendered lines render while streaming
    assert [f.first_line for f in pre] == [f.first_line for f in live] == [128, 192, 256, 320, 384]
    assert [f.frame_id for f in pre] == [0, 1, 2, 3, 4]
    for a, b in zip(live, pre):
        np.testing.assert_array_equal(a.lines, b.lines)
        np.testing.assert_array_equal(a.truth_mask, b.truth_mask)
        assert b.lines.flags.owndata and b.lines.flags.c_contiguous  # a copy, as a camera's buffer is
    assert pre_truth == live_truth
    with pytest.raises(EdgeInspectError, match="prerender_lines must be an integer >= 0, got -1"):
        SimSource(width=64, prerender_lines=-1)


def test_sim_twelve_bit_frames_are_uint16_within_range():
    with open_source("sim:steel", width=64, lines_per_frame=32, bit_depth=12, max_frames=2) as sim:
        frames = list(sim)
    assert sim.bit_depth == 12 and sim.name == "sim:steel"
    assert all(f.lines.dtype == np.uint16 and f.bit_depth == 12 and int(f.lines.max()) <= 4095 for f in frames)
    assert max(int(f.lines.max()) for f in frames) > 255


def test_sim_close_from_another_thread_interrupts_a_paced_wait():
    sim = SimSource(width=64, lines_per_frame=64, line_rate_hz=1.0)  # one frame per 64 s
    frames: list = []
    worker = threading.Thread(target=lambda: frames.extend(sim))
    with sim:
        worker.start()
        threading.Timer(0.1, sim.close).start()
        worker.join(timeout=20)
    assert not worker.is_alive() and frames == []
    sim.close()  # idempotent


def test_sim_rejects_bad_options_with_one_line_errors():
    with pytest.raises(EdgeInspectError, match="width and lines_per_frame must be > 0"):
        SimSource(width=0)
    with pytest.raises(EdgeInspectError, match="texture must be one of"):
        open_source("sim:velvet")
    with pytest.raises(EdgeInspectError, match="line rate must be > 0"):
        SimSource(width=64, line_rate_hz=0)


class _RecordingStop(threading.Event):
    """An Event whose wait() records the delay instead of sleeping."""

    def __init__(self) -> None:
        super().__init__()
        self.delays: list[float] = []

    def wait(self, timeout: float | None = None) -> bool:
        self.delays.append(timeout)
        return False


def test_line_pacer_releases_each_frame_when_its_last_line_is_due_on_a_fake_clock(monkeypatch):
    clock = [100.0]
    monkeypatch.setattr("edgeinspect.acquire.base.time.perf_counter", lambda: clock[0])
    stop = _RecordingStop()
    pacer = LinePacer(1000.0, stop)
    pacer.wait_for(100)            # t0 = 100.0; due at 100.1
    clock[0] = 100.05
    pacer.wait_for(200)            # due at 100.2
    clock[0] = 100.5               # consumer was late: no sleep, no catching up by skipping
    pacer.wait_for(300)
    assert stop.delays == pytest.approx([0.1, 0.15])
    LinePacer(None, stop).wait_for(10**9)
    assert len(stop.delays) == 2
