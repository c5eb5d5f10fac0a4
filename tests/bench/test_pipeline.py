"""Pipeline mode of the bench: the run path on the synthetic web, tile counts as the run's tiler, stage shares."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edgeinspect.bench import BenchOptions, run_bench
from edgeinspect.bench.pipeline import STEADY_MIN_CALLS, stage_shares, steady_tiles_per_s
from edgeinspect.stream.records import STAGES
from edgeinspect.stream.tiler import Tiler


def tiles_the_tiler_emits(lines: int, width: int, tile_hw: tuple[int, int], overlap: int, frame_lines: int) -> int:
    """Tiles the run's Tiler emits for one gap-free segment of ``lines`` lines in frames of ``frame_lines``."""
    tiler = Tiler(tile_hw, overlap_px=overlap)
    count, done = 0, 0
    while done < lines:
        n = min(frame_lines, lines - done)
        count += len(tiler.push(np.zeros((n, width), np.uint8)))
        done += n
    return count + len(tiler.flush())


def test_pipeline_runs_the_run_path_and_gives_the_verdict(dark_engine):
    options = BenchOptions(engine=dark_engine, threads=1, batch=4, duration_s=0.3, warmup_s=0.05, width_px=256,
                           line_rate_hz=50_000.0, overlap_px=8, pipeline=True)
    report = run_bench(options)
    pipeline = report.pipeline
    assert pipeline is not None and pipeline.width_px == 256
    assert pipeline.lines > 0
    assert pipeline.frames_dropped == 0  # unpaced sim: the source waits for room
    assert pipeline.tiles == tiles_the_tiler_emits(pipeline.lines, 256, (32, 32), 8, 256)
    assert pipeline.run_tiles_per_s == pytest.approx(pipeline.tiles / pipeline.wall_s)
    assert pipeline.tiles_per_s == pipeline.inferred_tiles_per_s > 0
    if pipeline.steady_s == 0.0:  # too few engine calls for a steady state: the whole run's figure
        assert pipeline.tiles_per_s == pipeline.run_tiles_per_s
    else:
        assert 0 < pipeline.steady_s < pipeline.wall_s
    assert pipeline.lines_per_s == pytest.approx(pipeline.tiles_per_s * 24 / 11)  # sustained: tiles/s ÷ tiles/line
    assert pipeline.mpx_per_s == pytest.approx(pipeline.lines_per_s * 256 / 1e6)
    assert pipeline.run_lines_per_s == pytest.approx(pipeline.lines / pipeline.wall_s)
    # the web was rendered before the clock: the lines the bare engine would do in duration_s, whole frames
    assert pipeline.prerendered_lines == math.ceil(report.engine_budget.max_line_rate_hz * 0.3)
    assert pipeline.lines <= pipeline.prerendered_lines

    data = report.to_json()
    assert data["verdict_from"] == "pipeline"
    assert data["max_line_rate_hz"] == pytest.approx(pipeline.lines_per_s)
    assert data["tiles_per_line"] == pytest.approx(11 / 24)  # ceil((256 - 8) / 24) = 11 across, a row per 24 lines
    assert data["required_tiles_per_s"] == pytest.approx(data["tiles_per_line"] * 50_000)
    assert data["headroom"] == pytest.approx(pipeline.lines_per_s / 50_000)
    assert data["keeps_up"] is (pipeline.lines_per_s >= 50_000)
    assert data["engine_limit"]["max_line_rate_hz"] == pytest.approx(data["tiles_per_s"] / data["tiles_per_line"])
    assert data["pipeline"]["efficiency"] == pytest.approx(pipeline.tiles_per_s / data["tiles_per_s"])
    assert data["pipeline"]["run_tiles_per_s"] == pipeline.run_tiles_per_s
    assert data["pipeline"]["steady_s"] == pipeline.steady_s
    assert data["pipeline"]["efficiency"] == pytest.approx(
        data["max_line_rate_hz"] / data["engine_limit"]["max_line_rate_hz"])
    assert list(data["stages"]) == [*STAGES, "other"]
    assert all(0.0 <= share <= 1.0 + 1e-6 for share in data["stages"].values())
    main_thread = sum(data["stages"][s] for s in ("tile", "infer", "other"))
    assert main_thread == pytest.approx(1.0, abs=1e-3)
    assert 0 < sum(data["stages"][s] for s in ("stitch", "track", "sinks")) <= 1.0  # the post-processing thread
    assert data["stages"]["infer"] > 0


def test_stage_shares_are_of_wall_time():
    shares = stage_shares({"acquire": 1.0, "tile": 0.5, "infer": 2.0, "stitch": 0.25, "track": 0.25, "sinks": 0.0},
                          wall_s=4.0)
    # the main thread tiles and infers (other = its remainder); stitch/track/sinks are the post thread's
    assert shares == {"acquire": 0.25, "tile": 0.125, "infer": 0.5, "stitch": 0.0625, "track": 0.0625,
                      "sinks": 0.0, "other": 0.375}


def test_steady_state_throughput_leaves_out_the_start_and_the_drain_of_a_run():
    # 4 tiles every 0.1 s for 3 s (40 tiles/s), after a start of 0.5 s for the first call and with
    # a last call 0.4 s late (the drain): 31 calls, 3 left out at each end (10 %)
    ends = [0.5 + 0.1 * k for k in range(30)] + [0.5 + 0.1 * 29 + 0.4]
    calls = [(t, 4) for t in reversed(ends)]  # any order
    rate, seconds = steady_tiles_per_s(calls)
    assert seconds == pytest.approx(ends[27] - ends[3])  # calls 3 .. 27 by end time
    assert rate == pytest.approx(24 * 4 / seconds) == pytest.approx(40.0)
    whole = 31 * 4 / ends[-1]  # tiles ÷ (start to last end) counts the start and the drain
    assert whole < 36.0 < rate


def test_steady_state_throughput_needs_enough_calls():
    assert steady_tiles_per_s([(0.1 * k, 4) for k in range(STEADY_MIN_CALLS - 1)]) is None
    assert steady_tiles_per_s([(1.0, 4)] * STEADY_MIN_CALLS) is None  # no time between the calls
    rate, _ = steady_tiles_per_s([(0.1 * k, 2) for k in range(STEADY_MIN_CALLS)])
    assert rate == pytest.approx(20.0)
