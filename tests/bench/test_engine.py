"""Engine mode of the bench: figures from latencies, synthetic tiles, interleaving, the keeps_up logic."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest
from bench_doubles import ThrottledEngineDouble

from edgeinspect.bench import BenchOptions, run_bench
from edgeinspect.bench.compare import FIGURES, ratios
from edgeinspect.bench.engine import make_batches, summarize, synthetic_tiles, time_engine, time_interleaved
from edgeinspect.errors import EdgeInspectError


def test_summarize_hand_computed():
    figures = summarize([0.1, 0.2, 0.3, 0.4], batch=2, tile_hw=(100, 100))
    assert figures.tiles == 8 and figures.batches == 4
    assert figures.seconds == pytest.approx(1.0)
    assert figures.tiles_per_s == pytest.approx(8.0)
    assert figures.mpx_per_s == pytest.approx(8 * 100 * 100 / 1e6)
    assert figures.latency_ms["p50"] == pytest.approx(250.0)
    assert figures.latency_ms["p90"] == pytest.approx(370.0)  # numpy linear: 0.3 + 0.7 * 0.1
    assert figures.latency_ms["max"] == pytest.approx(400.0)
    with pytest.raises(EdgeInspectError):
        summarize([], batch=1, tile_hw=(8, 8))


def test_synthetic_tiles_are_web_cut_uint8_and_deterministic():
    tiles = synthetic_tiles((32, 48), count=10)
    assert tiles.shape == (10, 1, 32, 48) and tiles.dtype == np.uint8
    assert tiles.std() > 1.0  # textured web, not a constant
    assert len({t.tobytes() for t in tiles}) == 10
    np.testing.assert_array_equal(tiles, synthetic_tiles((32, 48), count=10))


def test_make_batches_cycle_the_pool():
    pool = np.arange(5, dtype=np.uint8).reshape(5, 1, 1, 1)
    batches = make_batches(pool, 2)
    assert [b[:, 0, 0, 0].tolist() for b in batches] == [[0, 1], [2, 3], [4, 0]]
    assert all(b.flags.c_contiguous for b in batches)


def test_time_engine_counts_warmup_and_timed_batches_of_a_throttled_engine_double():
    engine = ThrottledEngineDouble((16, 16), delay_s=0.005)
    timing = time_engine(engine, batch=3, duration_s=0.05, warmup_s=0.02)
    assert timing.warmup_batches >= 1
    assert timing.latencies_s.size >= 1
    assert len(engine.calls) == timing.warmup_batches + timing.latencies_s.size
    assert all(n == 3 for _, n, _ in engine.calls)
    assert timing.latencies_s.min() >= 0.005  # each call sleeps 5 ms
    assert timing.latencies_s.sum() >= 0.05


def test_interleaved_rounds_alternate_two_throttled_engine_doubles_on_the_same_tiles():
    log: list = []
    a, b = ThrottledEngineDouble((16, 16), 0.002, name="A"), ThrottledEngineDouble((16, 16), 0.002, name="B")
    a.log = b.log = log
    ta, tb = time_interleaved([a, b], batch=2, duration_s=0.06, warmup_s=0.0, round_s=0.01)
    names = [name for name, _, _ in log]
    runs = [names[0]] + [n for prev, n in zip(names, names[1:]) if n != prev]
    assert len(runs) >= 4  # A B | B A | ... not all of A then all of B
    assert runs[:3] == ["A", "B", "A"]  # round 1: A then B; round 2: B then A → runs A, B, A (B's two rounds merge)
    assert {s for _, _, s in a.calls} == {s for _, _, s in b.calls}  # same batches
    assert ta.latencies_s.sum() >= 0.06 and tb.latencies_s.sum() >= 0.06


def test_ratios_are_engine_over_engine2():
    fa = summarize([0.1, 0.1], batch=4, tile_hw=(10, 10))
    fb = summarize([0.2, 0.2], batch=4, tile_hw=(10, 10))
    r = ratios(fa, fb)
    assert list(r) == list(FIGURES)
    assert r["tiles_per_s"] == pytest.approx(2.0)
    assert r["mpx_per_s"] == pytest.approx(2.0)
    assert r["latency_p50_ms"] == pytest.approx(0.5)
    assert r["latency_max_ms"] == pytest.approx(0.5)


def test_throttled_engine_does_not_keep_up():
    """At most 4 tiles / 10 ms = 400 tiles/s; 4096 px with 64² tiles, overlap 32 needs 127/32 tiles a line."""
    double = ThrottledEngineDouble((64, 64), delay_s=0.01)
    report = run_bench(BenchOptions(batch=4, duration_s=0.1, warmup_s=0.0, width_px=4096, line_rate_hz=1000.0),
                       engine=double)
    data = report.to_json()
    assert data["tiles_per_s"] <= 400.0
    assert data["tiles_per_line"] == pytest.approx(127 / 32)
    assert data["required_tiles_per_s"] == pytest.approx(127 / 32 * 1000)  # 3968.75
    assert data["max_line_rate_hz"] == pytest.approx(data["tiles_per_s"] / (127 / 32))
    assert data["max_line_rate_hz"] <= 400 * 32 / 127
    assert data["headroom"] == pytest.approx(data["max_line_rate_hz"] / 1000.0)
    assert data["keeps_up"] is False
    assert data["verdict_from"] == "engine"
    assert data["backend"] == "throttled-double" and data["precision"] == "fp32"
    json.dumps(data)


def test_a_throttled_engine_double_keeps_up_with_a_slow_enough_camera():
    double = ThrottledEngineDouble((64, 64), delay_s=0.01)
    # one batch per 10 ms is >= 0.01 tiles/s by far: 0.001 lines/s needs 0.004 tiles/s
    report = run_bench(BenchOptions(batch=4, duration_s=0.03, warmup_s=0.0, width_px=4096, line_rate_hz=0.001),
                       engine=double)
    assert report.budget.keeps_up is True
    assert report.budget.headroom == pytest.approx(report.budget.max_line_rate_hz / 0.001)


@pytest.mark.parametrize(
    ("options", "match"),
    [
        (BenchOptions(line_rate_hz=1000.0), "needs --width-px"),
        (BenchOptions(duration_s=0.0), "--duration-s"),
        (BenchOptions(duration_s=float("inf")), "--duration-s must be a finite number > 0, got inf"),  # ran forever
        (BenchOptions(warmup_s=float("inf")), "--warmup-s must be a finite number >= 0, got inf"),
        (BenchOptions(width_px=4096, line_rate_hz=float("inf")), "--line-rate-hz must be a finite number > 0, got inf"),
        (BenchOptions(batch=0), "--batch-size"),
        (BenchOptions(width_px=4096, overlap_px=64), "overlap_px"),
        (BenchOptions(overlap_px=64), "overlap_px must be in \\[0, 64\\)"),  # no camera width given
        (BenchOptions(scale=0.0), "scale must be in \\(0, 1\\]"),
    ],
)
def test_bad_options_fail_before_timing_a_throttled_engine_double(options, match):
    double = ThrottledEngineDouble((64, 64), delay_s=0.0)
    with pytest.raises(EdgeInspectError, match=match):
        run_bench(options, engine=double)
    assert double.calls == []


def test_summarize_with_streams_divides_by_the_wall_time():
    # two calls of 0.4 s each, in flight together for 0.5 s of wall time: 2 × 3 tiles / 0.5 s
    figures = summarize([0.4, 0.4], batch=3, tile_hw=(10, 10), wall_s=0.5)
    assert figures.seconds == pytest.approx(0.5) and figures.tiles_per_s == pytest.approx(12.0)
    assert figures.latency_ms["p50"] == pytest.approx(400.0)


class ConcurrentThrottledEngineDouble(ThrottledEngineDouble):
    """The throttled double taking 2 calls at once (its sleeps overlap), like a 2-stream ORT engine.

    ``most_in_flight``: the largest number of its calls that were running at the same moment.
    """

    concurrent_calls = 2

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._lock = threading.Lock()
        self._in_flight = 0
        self.most_in_flight = 0

    def infer(self, batch):
        with self._lock:
            self._in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self._in_flight)
        try:
            return super().infer(batch)
        finally:
            with self._lock:
                self._in_flight -= 1


def test_time_engine_keeps_a_concurrent_throttled_double_two_calls_in_flight_and_times_them_as_always_in_flight():
    engine = ConcurrentThrottledEngineDouble((16, 16), delay_s=0.01)
    timing = time_engine(engine, batch=2, duration_s=0.2, warmup_s=0.0)
    figures = timing.figures()
    assert engine.most_in_flight == 2  # the bench's two callers overlapped, never more
    # counted as two calls always in flight: the wall time is the summed latencies / 2
    assert timing.streams == 2 and timing.wall_s == pytest.approx(timing.latencies_s.sum() / 2)
    assert figures.tiles_per_s == pytest.approx(2 * timing.latencies_s.size / timing.wall_s)
    assert len(engine.calls) == timing.latencies_s.size


class FailingConcurrentEngineDouble(ConcurrentThrottledEngineDouble):
    """The concurrent throttled double whose 3rd call fails on purpose (an engine error mid-bench)."""

    def infer(self, batch):
        if len(self.calls) == 2:
            raise RuntimeError("engine failed mid-bench")
        return super().infer(batch)


def test_an_error_of_a_failing_concurrent_engine_double_stops_the_bench_at_once():
    engine = FailingConcurrentEngineDouble((16, 16), delay_s=0.01)
    with pytest.raises(RuntimeError, match="engine failed mid-bench"):
        time_engine(engine, batch=1, duration_s=30.0, warmup_s=0.0)
    # the other caller stops at its next call: a handful of calls, not the ~6,000 of 30 s
    assert len(engine.calls) <= 4
