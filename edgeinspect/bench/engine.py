"""Engine mode: warm-up, then timed batches of synthetic tiles; throughput and latency per batch.

Tiles are cut from :class:`edgeinspect.data.synth.SyntheticWeb` (carbon, seed 0) at the engine's
tile size, uint8, the way the run hands them over (``(N,1,H,W)`` uint8, the engine converts).
A batch's latency is the wall time of one ``engine.infer`` call (input conversion and output copy
included: what the run pays). Throughput is tiles divided by the summed batch times. An engine with
``concurrent_calls`` S > 1 (the run's ``engine_streams``) is called from S threads at once, as the
run does (:mod:`edgeinspect.stream.runner`): throughput is then tiles divided by the wall time of
the timed calls, and each latency is still that of one call (each call runs with ``threads / S``
threads, so it is longer than a one-stream call).

Two engines compared (``--vs``) run interleaved: short rounds alternate between them (A B, then
B A, ...) on the same tiles, so a noisy neighbour on the machine slows both alike.

Example:
    >>> with backends.load("engines/lite") as engine:
    ...     timing = time_engine(engine, batch=4, duration_s=3.0, warmup_s=1.0)
    >>> timing.figures().tiles_per_s
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass

import numpy as np

from edgeinspect.backends.base import concurrent_calls_of
from edgeinspect.errors import EdgeInspectError

#: ``progress(fraction)`` with the share of the current phase done, in [0, 1].
Tick = Callable[[float], None]

#: Distinct tiles cut from the synthetic web per tile size (batches cycle over them).
POOL_TILES = 16
#: Seconds each engine runs per round when two engines are interleaved.
ROUND_S = 0.1


@dataclass(frozen=True, slots=True)
class EngineFigures:
    """Throughput and latency of one engine at one batch size.

    Attributes:
        tiles_per_s: tiles inferred per second of inference, tiles/s.
        mpx_per_s: tile pixels per second (overlap pixels counted), Mpx/s.
        latency_ms: per batch, ``{"p50", "p90", "p99", "max"}`` in ms.
        batches: timed batches.
        tiles: timed tiles.
        seconds: summed batch time, s.
    """

    tiles_per_s: float
    mpx_per_s: float
    latency_ms: dict[str, float]
    batches: int
    tiles: int
    seconds: float


@dataclass(frozen=True, slots=True)
class EngineTiming:
    """The raw measurement: one latency per timed batch.

    Attributes:
        batch: tiles per batch.
        tile_hw: engine input ``(tile_h, tile_w)``, px.
        latencies_s: ``(batches,)`` float64 wall time of each timed ``infer`` call, s.
        warmup_batches: batches run before timing.
        streams: calls in flight at once (the engine's ``concurrent_calls``).
        wall_s: wall time of the timed calls with ``streams > 1``, s (None: one stream, the
            calls' summed time is the wall time).
    """

    batch: int
    tile_hw: tuple[int, int]
    latencies_s: np.ndarray
    warmup_batches: int
    streams: int = 1
    wall_s: float | None = None

    def figures(self) -> EngineFigures:
        """Throughput and latency percentiles of this measurement."""
        return summarize(self.latencies_s, batch=self.batch, tile_hw=self.tile_hw, wall_s=self.wall_s)


def summarize(latencies_s: Sequence[float] | np.ndarray, *, batch: int, tile_hw: tuple[int, int],
              wall_s: float | None = None) -> EngineFigures:
    """Throughput and latency percentiles from per-batch wall times.

    Args:
        latencies_s: wall time of each batch, s (at least one).
        batch: tiles per batch.
        tile_hw: tile ``(h, w)``, px.
        wall_s: wall time of all the batches when several ran at once (streams), s; None: they ran
            one after the other (``sum(latencies_s)``).

    Returns:
        :class:`EngineFigures`; ``tiles_per_s = batches * batch / (wall_s or sum(latencies_s))``.
    """
    lat = np.asarray(latencies_s, dtype=np.float64)
    if lat.size == 0:
        raise EdgeInspectError("no timed batch: give a longer --duration-s")
    seconds = float(lat.sum()) if wall_s is None else float(wall_s)
    tiles = int(lat.size * batch)
    tiles_per_s = tiles / seconds if seconds > 0 else math.inf
    p50, p90, p99 = np.percentile(lat, [50, 90, 99]) * 1e3
    return EngineFigures(
        tiles_per_s=tiles_per_s,
        mpx_per_s=tiles_per_s * tile_hw[0] * tile_hw[1] / 1e6,
        latency_ms={"p50": float(p50), "p90": float(p90), "p99": float(p99), "max": float(lat.max() * 1e3)},
        batches=int(lat.size),
        tiles=tiles,
        seconds=seconds,
    )


def synthetic_tiles(tile_hw: tuple[int, int], count: int = POOL_TILES, *, seed: int = 0) -> np.ndarray:
    """Tiles cut side by side from the synthetic web (carbon texture, defects included).

    Args:
        tile_hw: ``(tile_h, tile_w)``, px.
        count: tiles wanted.
        seed: web seed.

    Returns:
        ``(count, 1, tile_h, tile_w)`` uint8.
    """
    from edgeinspect.data.synth import SyntheticWeb

    tile_h, tile_w = (int(v) for v in tile_hw)
    across = max(1, min(count, 8))
    rows = math.ceil(count / across)
    strip = SyntheticWeb(tile_w * across, seed=seed).render(0, tile_h * rows).image
    tiles = strip.reshape(rows, tile_h, across, tile_w).transpose(0, 2, 1, 3).reshape(rows * across, tile_h, tile_w)
    return np.ascontiguousarray(tiles[:count, None])


def make_batches(pool: np.ndarray, batch: int, *, limit: int = 8) -> list[np.ndarray]:
    """Distinct ``(batch, 1, H, W)`` batches cycling through ``pool`` (at most ``limit`` of them)."""
    if batch < 1:
        raise EdgeInspectError(f"--batch-size must be >= 1, got {batch}")
    n = pool.shape[0]
    count = max(1, min(limit, math.ceil(n / batch)))
    return [np.ascontiguousarray(pool[(np.arange(batch) + k * batch) % n]) for k in range(count)]


def warm_up(engine, batches: list[np.ndarray], warmup_s: float) -> int:
    """Run batches for ``warmup_s`` seconds (none when 0), as :func:`timed_calls`; returns how many ran."""
    if warmup_s <= 0:
        return 0
    return len(timed_calls(engine, batches, warmup_s)[0])


def timed_calls(engine, batches: list[np.ndarray], seconds: float, *, first: int = 0,
                tick: Callable[[float], None] | None = None) -> tuple[list[float], float]:
    """Call ``engine.infer`` on ``batches`` (cycling, from index ``first``) for about ``seconds``.

    One stream: calls one after the other until their summed time reaches ``seconds`` (at least
    one). ``streams`` S > 1: S threads call at once until ``seconds`` of wall time have passed
    (each thread at least once), as the run keeps S batches in flight.

    Args:
        tick: called with the seconds done so far (main thread).

    Returns:
        ``(latency of each call in order of completion, s; seconds spent)``: the summed
        latencies with one stream; with S, the summed latencies ÷ S, the time of S calls always in
        flight (as in the run), without the threads' start and the drain of the last calls, which
        weigh in the short rounds of ``--vs`` (a thread past the deadline idles until the others end).
    """
    streams = concurrent_calls_of(engine)
    if streams == 1:
        latencies: list[float] = []
        spent = 0.0
        while spent < seconds or not latencies:
            data = batches[(first + len(latencies)) % len(batches)]
            start = time.perf_counter()
            engine.infer(data)
            elapsed = time.perf_counter() - start
            latencies.append(elapsed)
            spent += elapsed
            if tick:
                tick(spent)
        return latencies, spent
    latencies = []
    lock = threading.Lock()
    failed = threading.Event()  # one caller's error stops the others at their next call
    begin = time.perf_counter()
    deadline = begin + seconds

    def caller(k: int) -> None:
        index = first + k
        while not failed.is_set():
            start = time.perf_counter()
            try:
                engine.infer(batches[index % len(batches)])
            except BaseException:
                failed.set()
                raise
            end = time.perf_counter()
            with lock:
                latencies.append(end - start)
            index += streams
            if end >= deadline:
                return

    with ThreadPoolExecutor(streams, thread_name_prefix="edgeinspect-bench") as pool:
        futures = [pool.submit(caller, k) for k in range(streams)]
        while True:
            done, pending = wait(futures, timeout=0.1, return_when=FIRST_EXCEPTION)
            if tick:
                tick(min(seconds, time.perf_counter() - begin))
            if not pending or any(f.exception() is not None for f in done):
                break
    for future in futures:
        future.result()  # an engine error is raised here
    return latencies, sum(latencies) / streams


def time_engine(engine, *, batch: int, duration_s: float, warmup_s: float, pool: np.ndarray | None = None,
                tick: Tick | None = None) -> EngineTiming:
    """Warm up, then time batches until ``duration_s`` seconds of inference have passed.

    Args:
        engine: an open engine (``tile_hw``, ``infer((N,1,H,W) uint8) -> dict``).
        batch: tiles per ``infer`` call.
        duration_s: timed seconds (at least one batch is timed).
        warmup_s: untimed seconds first (0: none).
        pool: ``(n,1,H,W)`` uint8 tiles to cycle over; default :func:`synthetic_tiles`.
        tick: called with the share of the run done (warm-up counts as the first part).

    Returns:
        :class:`EngineTiming`.
    """
    tile_hw = tuple(int(v) for v in engine.tile_hw)
    batches = make_batches(synthetic_tiles(tile_hw) if pool is None else pool, batch)
    total = max(warmup_s + duration_s, 1e-9)
    warm = warm_up(engine, batches, warmup_s)
    if tick:
        tick(warmup_s / total)
    latencies, spent = timed_calls(engine, batches, duration_s,
                                   tick=(lambda done: tick(min(1.0, (warmup_s + done) / total))) if tick else None)
    streams = concurrent_calls_of(engine)
    return EngineTiming(batch, tile_hw, np.asarray(latencies), warm, streams, spent if streams > 1 else None)


def time_interleaved(engines: Sequence, *, batch: int, duration_s: float, warmup_s: float,
                     round_s: float = ROUND_S, tick: Tick | None = None) -> list[EngineTiming]:
    """Time several open engines in alternating short rounds on the same tiles.

    Each engine is warmed up for ``warmup_s``; then rounds of about ``round_s`` seconds per engine
    alternate in order A B, B A, A B ... until every engine has ``duration_s`` timed seconds.
    Engines with the same tile size get the very same batches.

    Returns:
        One :class:`EngineTiming` per engine, in the order given.
    """
    pools: dict[tuple[int, int], list[np.ndarray]] = {}
    plans = []
    for engine in engines:
        tile_hw = tuple(int(v) for v in engine.tile_hw)
        if tile_hw not in pools:
            pools[tile_hw] = make_batches(synthetic_tiles(tile_hw), batch)
        plans.append((engine, tile_hw, pools[tile_hw]))
    total = max(len(plans) * (warmup_s + duration_s), 1e-9)
    round_s = max(round_s, 1e-9)
    warm = [warm_up(engine, batches, warmup_s) for engine, _, batches in plans]
    latencies: list[list[float]] = [[] for _ in plans]
    spent = [0.0 for _ in plans]
    round_index = 0
    while min(spent) < duration_s or not all(latencies):
        order = range(len(plans)) if round_index % 2 == 0 else reversed(range(len(plans)))
        for i in order:
            engine, _, batches = plans[i]
            round_latencies, round_spent = timed_calls(engine, batches, round_s, first=len(latencies[i]))
            latencies[i] += round_latencies
            spent[i] += round_spent
        round_index += 1
        if tick:
            tick(min(1.0, (len(plans) * warmup_s + sum(min(s, duration_s) for s in spent)) / total))
    timings = []
    for (engine, tile_hw, _), lat, w, seconds in zip(plans, latencies, warm, spent):
        streams = concurrent_calls_of(engine)
        timings.append(EngineTiming(batch, tile_hw, np.asarray(lat), w, streams, seconds if streams > 1 else None))
    return timings


def sweep_batches(engines: Sequence, sizes: Sequence[int], *, duration_s: float, warmup_s: float,
                  tick: Tick | None = None) -> list[dict[int, EngineFigures]]:
    """Throughput at each batch size, per engine (several engines run interleaved at each size).

    Returns:
        One ``{batch: EngineFigures}`` per engine (in the order given), keys in the order of ``sizes``.
    """
    result: list[dict[int, EngineFigures]] = [{} for _ in engines]
    for k, size in enumerate(sizes):
        def sub(fraction: float, k: int = k) -> None:
            if tick:
                tick((k + fraction) / len(sizes))

        if len(engines) == 1:
            timings = [time_engine(engines[0], batch=int(size), duration_s=duration_s, warmup_s=warmup_s, tick=sub)]
        else:
            timings = time_interleaved(engines, batch=int(size), duration_s=duration_s, warmup_s=warmup_s, tick=sub)
        for figures, timing in zip(result, timings):
            figures[int(size)] = timing.figures()
    return result
