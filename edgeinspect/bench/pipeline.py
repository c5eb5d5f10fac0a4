"""Pipeline mode: the whole ``edgeinspect run`` path at full speed, with its per-stage time shares.

:func:`time_pipeline` calls :func:`edgeinspect.stream.runner.run_inspection` (the very code
``edgeinspect run`` runs) on the synthetic web (``sim`` source at the given width, no pacing: the
source waits for room in the queue, so nothing is dropped and the pipeline runs as fast as it can),
with the run's defaults for everything bench does not set (overlays on, the synthetic web's calibration), into a
temporary folder deleted afterwards. Overlays the writer thread is behind on are skipped (and counted), as
on a camera (``overlay_policy: skip``): an unpaced ``run`` would wait for them instead.

The web's frames are **pre-rendered** before the clock starts (``SimSource(prerender_lines=...)``,
up to :data:`MAX_PRERENDER_BYTES`): a real camera's frames arrive by DMA and cost the host one
buffer copy each, while rendering the synthetic web costs about as much CPU as a sixth of the
inference and would compete with it for the cores. The timed ``acquire`` stage is then that copy,
as on a camera. Frames, truth and results are the same web as ``run --camera sim``.

The run stops after ``duration_s`` seconds or after the lines the bare engine would inspect in
that time, whichever comes first (so a slow engine does not add the drain of a full queue).

Throughput is the pipeline's **steady-state tile throughput**, comparable with the bare engine's
tiles/s (timed batches after a warm-up, every stream busy): the tiles of the engine calls that end
between the first and the last :data:`STEADY_TRIM` of the run's calls ÷ the time between them
(:func:`steady_tiles_per_s`). It leaves out the run's start (the tiler waits for a first tile row
while the streams idle) and its end (the last batches, the tracker's flush and the overlay
backlog drain on fewer cores than the run used), which a camera running for hours does not see;
the sustained line rate is that ÷ tiles per line. ``run_tiles_per_s`` is the whole run's tiles ÷
wall time, and ``run_lines_per_s`` its ``lines ÷ wall``, lower again: the run's last tile row,
aligned to its last line, re-infers up to a row of lines (one row in ~7 for a 4 s bench at 4096 px).

Stage shares are seconds per stage divided by the wall time. Three threads run in parallel:
acquisition (``acquire``), the main thread (``tile``, ``infer``) and the post-processing thread
(``stitch``, ``track``, ``sinks``); ``other`` is the main thread's remainder (waiting for frames or
for room in the post-processing FIFO, loop overhead).

Example:
    >>> with backends.load("engines/lite") as engine:
    ...     figures = time_pipeline(engine, width_px=4096, duration_s=5.0)
    >>> figures.lines_per_s, figures.stages["infer"]
"""

from __future__ import annotations

import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeinspect.bench.engine import Tick, make_batches, synthetic_tiles, warm_up
from edgeinspect.bench.rates import tiles_per_line
from edgeinspect.errors import EdgeInspectError

#: Main-thread stages of the runner (``acquire`` is the acquisition thread's; ``stitch``, ``track``
#: and ``sinks`` the post-processing thread's, :mod:`edgeinspect.stream.postprocess`).
MAIN_STAGES = ("tile", "infer")
#: Width of the sim web when none is given, px (the sim source's default).
DEFAULT_WIDTH_PX = 2048
#: Most memory the pre-rendered frames may take (image + truth mask), bytes; later lines render live.
MAX_PRERENDER_BYTES = 512 * 2**20
#: Share of the engine calls left out at each end of a run for its steady-state tile throughput.
STEADY_TRIM = 0.1
#: Fewest engine calls a steady-state throughput is taken from; a shorter run gives its whole-run figure.
STEADY_MIN_CALLS = 20


@dataclass(frozen=True, slots=True)
class PipelineFigures:
    """One full-speed run of the pipeline.

    Attributes:
        width_px: web width, px.
        lines: web lines inspected.
        wall_s: wall time of the run, s.
        lines_per_s: sustained line rate, ``tiles_per_s / tiles_per_line`` (= the highest line rate
            the pipeline keeps up with in steady state), lines/s.
        mpx_per_s: web pixels per second at ``lines_per_s`` (overlap not counted), Mpx/s.
        tiles: engine tiles inferred (the end of the run adds one row aligned to the last line).
        tiles_per_s: pipeline tile throughput in steady state (:func:`steady_tiles_per_s`;
            comparable with the bare engine's tiles/s), or ``run_tiles_per_s`` when the run made
            fewer than :data:`STEADY_MIN_CALLS` engine calls, tiles/s.
        inferred_tiles_per_s: the same as ``tiles_per_s`` (kept for the JSON schema), tiles/s.
        run_lines_per_s: ``lines / wall_s`` of this run (its start and last row included), lines/s.
        run_tiles_per_s: ``tiles / wall_s`` of this run (its start and end included), tiles/s.
        steady_s: seconds of the run ``tiles_per_s`` was measured over (0.0: the whole run, too few calls).
        prerendered_lines: web lines rendered before the clock started (0: rendered live).
        stage_s: seconds per stage (``acquire``, ``tile``, ``infer``, ``stitch``, ``track``, ``sinks``).
        stages: share of wall time per stage, plus ``other`` (main thread not in a stage), in [0, 1].
        frames_dropped: frames the bounded queue dropped (0 unpaced).
        defects: defect records written.
    """

    width_px: int
    lines: int
    wall_s: float
    lines_per_s: float
    mpx_per_s: float
    tiles: int
    tiles_per_s: float
    inferred_tiles_per_s: float
    stage_s: dict[str, float]
    stages: dict[str, float]
    frames_dropped: int
    defects: int
    run_lines_per_s: float = 0.0
    prerendered_lines: int = 0
    run_tiles_per_s: float = 0.0
    steady_s: float = 0.0


def steady_tiles_per_s(calls: list[tuple[float, int]], trim: float = STEADY_TRIM) -> tuple[float, float] | None:
    """Tile throughput of a run away from its start and end.

    Args:
        calls: ``(end time s, tiles)`` of every engine call, any order.
        trim: share of the calls left out at each end.

    Returns:
        ``(tiles/s, seconds)``: the tiles of the calls ending after the call at the ``trim``
        quantile, up to the one at ``1 - trim``, ÷ the time between those two ends; None with fewer
        than :data:`STEADY_MIN_CALLS` calls (or no time between them).
    """
    if len(calls) < STEADY_MIN_CALLS:
        return None
    ends = sorted(calls)
    first = int(len(ends) * trim)
    last = len(ends) - 1 - first
    seconds = ends[last][0] - ends[first][0]
    if seconds <= 0:
        return None
    return sum(tiles for _, tiles in ends[first + 1:last + 1]) / seconds, seconds


class _CountingEngine:
    """Forwards to an open engine, counts tiles and notes when each call ends; entering/leaving it
    leaves the engine open (its owner closes it)."""

    def __init__(self, engine: Any) -> None:
        self._engine = engine
        self.tiles = 0
        self.calls: list[tuple[float, int]] = []  # (end time s, tiles) per engine call
        self._lock = threading.Lock()  # infer runs in several threads with streams

    def __enter__(self) -> _CountingEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def infer(self, batch):
        out = self._engine.infer(batch)
        with self._lock:
            self.tiles += int(batch.shape[0])
            self.calls.append((time.perf_counter(), int(batch.shape[0])))
        return out

    def __getattr__(self, name: str) -> Any:  # tile_hw, manifest, backend, path, ...
        return getattr(self._engine, name)


def stage_shares(stage_s: dict[str, float], wall_s: float) -> dict[str, float]:
    """Seconds per stage as shares of wall time, plus ``other`` = 1 - the main thread's stages (>= 0)."""
    if wall_s <= 0:
        return {**{k: 0.0 for k in stage_s}, "other": 0.0}
    shares = {k: v / wall_s for k, v in stage_s.items()}
    busy = sum(shares.get(k, 0.0) for k in MAIN_STAGES)
    shares["other"] = max(0.0, 1.0 - busy)
    return shares


def time_pipeline(engine: Any, *, width_px: int = DEFAULT_WIDTH_PX, duration_s: float = 3.0, lines: int | None = None,
                  warmup_s: float = 0.0, batch_size: int = 4, overlap_px: int = 32, scale: float = 1.0,
                  texture: str = "carbon", seed: int = 0, prerender: bool = True, post_thread: bool = True,
                  defects_per_mpx: float | None = None, overlays: bool = True,
                  tick: Tick | None = None) -> PipelineFigures:
    """Run the ``run`` pipeline on the synthetic web at full speed for ``duration_s`` seconds.

    Args:
        engine: an open engine (kept open: the caller closes it).
        width_px: web width, px.
        duration_s: acquisition stops after this many seconds (queued frames are still inspected).
        lines: acquisition also stops after this many web lines (whichever comes first); with the
            line rate the bare engine sustains times ``duration_s``, the run lasts about
            ``duration_s`` instead of that plus the time to drain the queue.
        warmup_s: engine warm-up before the run, s (0 when the engine is warm already).
        batch_size, overlap_px, scale: as ``edgeinspect run``.
        texture, seed: the synthetic web.
        prerender: render the web's frames before the clock starts (``lines`` of them, within
            :data:`MAX_PRERENDER_BYTES`), so the timed acquisition is a buffer copy per frame as
            on a camera; False: render them live in the acquisition thread.
        post_thread: stitch/track/sinks in their own thread (as ``run`` by default) or in the main thread.
        overlays: write overlay PNGs (as ``run`` by default); False: ``overlays: false``.
        defects_per_mpx: defect density of the synthetic web (None: the sim default, 20 candidates per
            Mpx: far denser than a production web, so per-defect work weighs more than it will live).
        tick: called with the share of the run done.

    Returns:
        :class:`PipelineFigures`.

    Raises:
        EdgeInspectError: bad settings (tiling, width) or the run failed.
    """
    from edgeinspect.acquire.synthetic import SimSource
    from edgeinspect.config import RunConfig
    from edgeinspect.stream.runner import run_inspection

    if width_px < 1:
        raise EdgeInspectError(f"--width-px must be >= 1, got {width_px}")
    if duration_s <= 0:
        raise EdgeInspectError(f"--duration-s must be > 0, got {duration_s:g}")
    if warmup_s > 0:
        warm_up(engine, make_batches(synthetic_tiles(tuple(engine.tile_hw)), batch_size), warmup_s)
    counted = _CountingEngine(engine)
    prerender_lines = 0
    if prerender and lines is not None:
        prerender_lines = min(max(1, int(lines)), MAX_PRERENDER_BYTES // (2 * int(width_px)))
    web_options = {} if defects_per_mpx is None else {"defects_per_mpx": float(defects_per_mpx)}
    source = SimSource(width=int(width_px), texture=texture, seed=seed, prerender_lines=prerender_lines,
                       **web_options)

    def progress(p) -> None:
        if tick:
            tick(min(1.0, max(p.wall_time_s / duration_s, p.lines / lines if lines else 0.0)))

    with tempfile.TemporaryDirectory(prefix="edgeinspect-bench-") as tmp:
        config = RunConfig(
            camera=f"sim:{texture}", out=Path(tmp) / "run", duration_s=float(duration_s),
            lines=None if lines is None else max(1, int(lines)), overlap_px=int(overlap_px),
            scale=float(scale), batch_size=int(batch_size), source_options={"width": int(width_px), "seed": seed},
            post_thread=bool(post_thread), overlay_policy="skip",  # as on a camera: inspection first
            overlays=bool(overlays),
        )
        summary = run_inspection(config, engine=counted, source=source, progress=progress, handle_signals=False)
    wall = float(summary.wall_time_s)
    run_tiles_per_s = counted.tiles / wall if wall > 0 else 0.0
    steady = steady_tiles_per_s(counted.calls)
    tiles_per_s, steady_s = steady if steady is not None else (run_tiles_per_s, 0.0)
    lines_per_s = tiles_per_s / tiles_per_line(int(summary.width_px), tuple(engine.tile_hw), overlap_px, scale)
    return PipelineFigures(
        width_px=int(summary.width_px),
        lines=int(summary.lines_inspected),
        wall_s=wall,
        lines_per_s=lines_per_s,
        mpx_per_s=lines_per_s * summary.width_px / 1e6,
        tiles=counted.tiles,
        tiles_per_s=tiles_per_s,
        inferred_tiles_per_s=tiles_per_s,
        stage_s=dict(summary.stage_s),
        stages=stage_shares(dict(summary.stage_s), wall),
        frames_dropped=int(summary.frames_dropped),
        defects=int(summary.defects),
        run_lines_per_s=summary.lines_inspected / wall if wall > 0 else 0.0,
        prerendered_lines=prerender_lines,
        run_tiles_per_s=run_tiles_per_s,
        steady_s=steady_s,
    )
