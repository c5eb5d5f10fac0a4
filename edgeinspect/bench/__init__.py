"""``edgeinspect bench``: can this engine keep up with this camera?

One library call, :func:`run_bench`, measures what the options ask for:

- engine mode (always): warm-up, then timed batches of synthetic tiles: tiles/s, Mpx/s, latency
  per batch p50/p90/p99/max (:mod:`~edgeinspect.bench.engine`);
- with a web width (and line rate): the tiles per second the camera needs with the run's tiling,
  the highest sustainable line rate, headroom and the ``keeps_up`` verdict
  (:mod:`~edgeinspect.bench.rates`, the formula is there);
- ``pipeline``: the whole ``run`` path at full speed on the synthetic web, per-stage shares
  (:mod:`~edgeinspect.bench.pipeline`); the verdict then comes from the pipeline;
- ``vs``: a second engine measured interleaved with the first, ratios per figure
  (:mod:`~edgeinspect.bench.compare`);
- ``plot``: latency histogram and a throughput-vs-batch sweep in one PNG (:mod:`~edgeinspect.bench.plot`).

No torch is imported here; a ``.pt`` ENGINE goes through the torch backend (``train`` extra).

Example:
    >>> report = run_bench(BenchOptions(engine="engines/lite", width_px=4096, line_rate_hz=10_000))
    >>> report.budget.keeps_up, report.to_json()["max_line_rate_hz"]
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeinspect.bench.compare import ratios
from edgeinspect.bench.engine import EngineFigures, EngineTiming, sweep_batches, time_engine, time_interleaved
from edgeinspect.bench.pipeline import DEFAULT_WIDTH_PX, PipelineFigures, time_pipeline
from edgeinspect.bench.rates import LineBudget, budget_at, line_budget, tiles_per_line
from edgeinspect.bench.report import BenchReport, EngineInfo
from edgeinspect.config import MAX_ENGINE_STREAMS, RunConfig, resolve_streams
from edgeinspect.errors import EdgeInspectError

__all__ = [
    "BenchOptions", "BenchReport", "EngineFigures", "EngineTiming", "LineBudget", "PipelineFigures",
    "SWEEP_BATCHES", "line_budget", "resolve_engine", "run_bench", "tiles_per_line",
]

#: ``progress(phase, fraction)``: the phase now running and the share of it done, in [0, 1].
Progress = Callable[[str, float], None]

#: Batch sizes of the ``--plot`` throughput sweep.
SWEEP_BATCHES = (1, 2, 4, 8)

_RUN = RunConfig()


@dataclass(frozen=True, slots=True)
class BenchOptions:
    """What to measure (defaults: the run's tiling and batch).

    Attributes:
        engine: engine folder, ``.onnx`` or ``.pt``; None: the bundled model (as ``edgeinspect run``).
        batch: tiles per ``infer`` call.
        threads: engine CPU threads (None: the runtime's default).
        streams: engine batches in flight at once, as ``run``'s ``engine_streams`` (None: the run's
            default, :func:`edgeinspect.config.resolve_streams`).
        duration_s: timed seconds of engine mode, and the length of the pipeline run.
        warmup_s: untimed seconds before timing.
        width_px: web width for the camera arithmetic, px (pipeline default: 2048).
        line_rate_hz: the camera's line rate, lines/s (needs a width).
        overlap_px, scale: the run's tiling.
        pipeline: also run the whole ``run`` path at full speed.
        vs: a second engine to compare with, interleaved (engine mode and sweep; the pipeline runs ENGINE only).
        plot: write the latency histogram and batch sweep PNG here.
    """

    engine: str | Path | None = None
    batch: int = _RUN.batch_size
    threads: int | None = None
    streams: int | None = None
    duration_s: float = 3.0
    warmup_s: float = 1.0
    width_px: int | None = None
    line_rate_hz: float | None = None
    overlap_px: int = _RUN.overlap_px
    scale: float = _RUN.scale
    pipeline: bool = False
    vs: str | Path | None = None
    plot: Path | None = None

    def check(self) -> None:
        """Raise EdgeInspectError (one line, naming the option) for values that cannot work."""
        if self.batch < 1:
            raise EdgeInspectError(f"--batch-size must be >= 1, got {self.batch}")
        if self.threads is not None and self.threads < 1:
            raise EdgeInspectError(f"--threads must be >= 1, got {self.threads}")
        if self.streams is not None and not 1 <= self.streams <= MAX_ENGINE_STREAMS:
            raise EdgeInspectError(f"--streams must be in [1, {MAX_ENGINE_STREAMS}], got {self.streams}")
        if not 0 < self.duration_s < math.inf:
            raise EdgeInspectError(f"--duration-s must be a finite number > 0, got {self.duration_s:g}")
        if not 0 <= self.warmup_s < math.inf:
            raise EdgeInspectError(f"--warmup-s must be a finite number >= 0, got {self.warmup_s:g}")
        if self.width_px is not None and self.width_px < 1:
            raise EdgeInspectError(f"--width-px must be >= 1, got {self.width_px}")
        if self.line_rate_hz is not None:
            if not 0 < self.line_rate_hz < math.inf:
                raise EdgeInspectError(f"--line-rate-hz must be a finite number > 0, got {self.line_rate_hz:g}")
            if self.width_px is None and not self.pipeline:
                raise EdgeInspectError("--line-rate-hz needs --width-px (pixels per line) to count the tiles per line")
        if self.plot is not None and Path(self.plot).suffix.lower() != ".png":
            raise EdgeInspectError(f"--plot {self.plot}: give a .png file name")
        if self.plot is not None and not Path(self.plot).parent.is_dir():
            raise EdgeInspectError(f"--plot {self.plot}: folder {Path(self.plot).parent} does not exist")


def resolve_engine(engine: str | Path | None) -> Path:
    """The path ENGINE names; None (or ``"default"``) → the bundled engine ``edgeinspect run`` uses.

    Raises:
        EdgeInspectError: no bundled engine in this install (says how to build one).
    """
    if engine is None or str(engine) == "default":
        from edgeinspect.stream.runner import bundled_engine_dir

        return Path(bundled_engine_dir())
    return Path(engine)


def run_bench(options: BenchOptions, *, progress: Progress | None = None, engine: Any = None,
              vs_engine: Any = None) -> BenchReport:
    """Measure an engine (and optionally the pipeline, a second engine, a batch sweep).

    Args:
        options: what to measure.
        progress: called with ``(phase, fraction)`` as the work advances (for a progress bar).
        engine: an engine object to measure instead of ``options.engine`` (opened and closed
            here when it has ``open``/``close``), e.g. a test double.
        vs_engine: likewise for ``options.vs``.

    Returns:
        :class:`BenchReport` (``to_json()`` is what ``--json`` prints).

    Raises:
        EdgeInspectError: bad option, missing/unreadable engine, torch missing for a ``.pt``,
            bad tiling for the width.
    """
    options.check()
    say = progress or (lambda phase, fraction: None)
    with contextlib.ExitStack() as stack:
        main, main_path = _open(stack, engine, options.engine, options.threads, options.streams, say)
        second = second_path = None
        if options.vs is not None or vs_engine is not None:
            second, second_path = _open(stack, vs_engine, options.vs, options.threads, options.streams, say)
        info = EngineInfo.of(main, main_path, options.threads)
        vs_info = EngineInfo.of(second, second_path, options.threads) if second is not None else None
        width = options.width_px if options.width_px is not None else (DEFAULT_WIDTH_PX if options.pipeline else None)
        # A bad tiling fails before anything is timed. Without a camera width the figures do not use
        # it, so only a tiling other than the run's default is checked (`--overlap 256` is refused;
        # an engine of tiles smaller than the default overlap still benches).
        tiling_given = (options.overlap_px, options.scale) != (_RUN.overlap_px, _RUN.scale)
        if width is not None or tiling_given:
            tiles_per_line(width or DEFAULT_WIDTH_PX, info.tile_hw, options.overlap_px, options.scale)

        timing, vs_timing = _measure(main, second, info, vs_info, options, say)
        figures = timing.figures()
        vs_figures = vs_timing.figures() if vs_timing is not None else None
        engine_budget = None
        if width is not None:
            engine_budget = line_budget(figures.tiles_per_s, width_px=width, tile_hw=info.tile_hw,
                                        overlap_px=options.overlap_px, scale=options.scale,
                                        line_rate_hz=options.line_rate_hz)
        sweep = vs_sweep = None
        if options.plot is not None:
            sweeps = _sweep([main] if second is None else [main, second], options, say)
            sweep, vs_sweep = sweeps[0], (sweeps[1] if second is not None else None)
        pipeline = pipeline_budget = None
        if options.pipeline:
            rate = engine_budget.max_line_rate_hz  # stop after ~duration_s of work, not duration_s + the queue's drain
            expected_lines = math.ceil(rate * options.duration_s) if math.isfinite(rate) else None
            pipeline = time_pipeline(main, width_px=width, duration_s=options.duration_s, lines=expected_lines,
                                     batch_size=options.batch, overlap_px=options.overlap_px, scale=options.scale,
                                     tick=_ticker(say, f"pipeline (run path, sim web {width} px, unpaced)"))
            pipeline_budget = budget_at(pipeline.lines_per_s, width_px=width, tile_hw=info.tile_hw,
                                        overlap_px=options.overlap_px, scale=options.scale,
                                        line_rate_hz=options.line_rate_hz)

    plot_path = None
    if options.plot is not None:
        from edgeinspect.bench.plot import write_plot

        tick = _ticker(say, "plot")
        timings = [(_label(info), timing)] + ([(_label(vs_info), vs_timing)] if vs_info is not None else [])
        sweeps = [(_label(info), sweep)] + ([(_label(vs_info), vs_sweep)] if vs_info is not None else [])
        plot_path = write_plot(Path(options.plot), timings, sweeps,
                               title=f"edgeinspect bench: {info.path} ({info.tile_hw[0]}×{info.tile_hw[1]} tiles)")
        tick(1.0)
    return BenchReport(
        engine=info, timing=timing, figures=figures, overlap_px=options.overlap_px, scale=options.scale,
        engine_budget=engine_budget, pipeline=pipeline, pipeline_budget=pipeline_budget, vs_engine=vs_info,
        vs_timing=vs_timing, vs_figures=vs_figures,
        vs_ratios=ratios(figures, vs_figures) if vs_figures is not None else None,
        sweep=sweep, vs_sweep=vs_sweep, plot=plot_path,
    )


def _ticker(say: Progress, phase: str) -> Callable[[float], None]:
    """Announce ``phase`` and return its ``tick(fraction)``."""
    say(phase, 0.0)
    return lambda fraction: say(phase, fraction)


def _measure(main: Any, second: Any, info: EngineInfo, vs_info: EngineInfo | None, options: BenchOptions,
             say: Progress) -> tuple[EngineTiming, EngineTiming | None]:
    """Engine mode: one engine alone, or two interleaved."""
    if second is None:
        return time_engine(main, batch=options.batch, duration_s=options.duration_s, warmup_s=options.warmup_s,
                           tick=_ticker(say, f"{info.backend}/{info.precision}, batch {options.batch}")), None
    timing, vs_timing = time_interleaved(
        [main, second], batch=options.batch, duration_s=options.duration_s, warmup_s=options.warmup_s,
        tick=_ticker(say, f"{info.backend} vs {vs_info.backend}, batch {options.batch}, interleaved"))
    return timing, vs_timing


def _sweep(engines: list, options: BenchOptions, say: Progress) -> list[dict[int, EngineFigures]]:
    """The ``--plot`` sweep: a short (interleaved) timing per batch size of :data:`SWEEP_BATCHES`."""
    return sweep_batches(engines, SWEEP_BATCHES, duration_s=max(0.1, options.duration_s / 4),
                         warmup_s=min(options.warmup_s, 0.25),
                         tick=_ticker(say, f"batch sweep {','.join(map(str, SWEEP_BATCHES))}"))


def _label(info: EngineInfo) -> str:
    return f"{Path(info.path).name} ({info.backend}/{info.precision})"


def _open(stack: contextlib.ExitStack, engine: Any, path: str | Path | None, threads: int | None,
          streams: int | None, progress: Progress) -> tuple[Any, str]:
    """Open the engine object given, else load ``path`` (bundled when None); closed by ``stack``."""
    if engine is None:
        from edgeinspect import backends

        resolved = resolve_engine(path)
        progress(f"opening {resolved}", 0.0)

        engine = backends.load(resolved, threads=threads, concurrent_calls=resolve_streams(streams, threads))
        label = str(resolved)
    else:
        label = str(getattr(engine, "path", type(engine).__name__))
    if hasattr(engine, "open"):
        engine.open()
        if hasattr(engine, "close"):
            stack.callback(engine.close)
    return engine, label
