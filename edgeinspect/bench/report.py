"""The bench result as one record, and its JSON form (what ``edgeinspect bench --json`` prints).

JSON keys (always): ``engine`` (path), ``backend``, ``precision``, ``tile_hw`` [h, w], ``threads``
(null: runtime default), ``batch``, ``duration_s`` (timed seconds), ``batches``, ``tiles_per_s``,
``mpx_per_s`` (tile pixels), ``latency_ms`` {p50, p90, p99, max} per batch.

With ``--width-px`` (or ``--pipeline``): ``width_px``, ``overlap_px``, ``scale``, ``tiles_per_line``,
``max_line_rate_hz``; with ``--line-rate-hz`` also ``line_rate_hz``, ``required_tiles_per_s``,
``headroom``, ``keeps_up``. These verdict keys come from the pipeline when ``--pipeline`` ran
(``verdict_from: "pipeline"``; the engine-only figures are then in ``engine_limit``), else from the
engine's tile throughput (``verdict_from: "engine"``).

With ``--pipeline``: ``stages`` {acquire, tile, infer, stitch, track, sinks, other: share of the
whole run's wall time} and ``pipeline`` {lines_per_s (sustained: tiles_per_s ÷ tiles/line), mpx_per_s (web pixels at
that rate), tiles_per_s (steady state: the engine calls between the first and last 10 % of the run's
calls), inferred_tiles_per_s (the same), run_tiles_per_s (tiles ÷ wall time of the whole run),
steady_s (seconds tiles_per_s was measured over; 0: too few calls, the whole run's figure),
efficiency (pipeline tiles/s ÷ engine tiles/s = pipeline max line rate ÷ engine max line rate),
run_lines_per_s (lines ÷ wall time of this short run: its last, aligned tile row included),
prerendered_lines (sim web rendered before the clock: timed acquisition is a buffer copy per frame,
as a camera's), lines, tiles, wall_s, frames_dropped, defects, stage_s}.

With ``--vs``: ``vs`` {tiles_per_s, mpx_per_s, latency_p50_ms, latency_p90_ms, latency_p99_ms,
latency_max_ms: ENGINE / ENGINE2} and ``vs_engine`` (the same engine keys for ENGINE2).

With ``--plot``: ``plot`` (path) and ``batch_sweep`` {"1": {tiles_per_s, mpx_per_s, latency_p50_ms}, ...}.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeinspect.backends.base import concurrent_calls_of
from edgeinspect.bench.engine import EngineFigures, EngineTiming
from edgeinspect.bench.pipeline import PipelineFigures
from edgeinspect.bench.rates import LineBudget


@dataclass(frozen=True, slots=True)
class EngineInfo:
    """Which engine was measured.

    Attributes:
        path: what ENGINE named (engine folder, .onnx or .pt), resolved for the bundled model.
        backend: ``"openvino"``, ``"onnxruntime"``, ``"torch"`` ...
        precision: ``"fp32"`` or ``"int8"`` (``"fp32"`` for a raw .onnx or a .pt).
        tile_hw: engine input ``(h, w)``, px.
        threads: CPU threads asked for (None: the runtime's default).
        streams: ``infer`` calls run at once (the engine's ``concurrent_calls``: the run's
            ``engine_streams`` for ONNX Runtime, 1 for the others).
    """

    path: str
    backend: str
    precision: str
    tile_hw: tuple[int, int]
    threads: int | None
    streams: int = 1

    @classmethod
    def of(cls, engine: Any, path: str | Path, threads: int | None) -> EngineInfo:
        """Describe an open engine."""
        manifest = getattr(engine, "manifest", None)
        return cls(str(path), str(getattr(engine, "backend", type(engine).__name__)),
                   str(getattr(manifest, "precision", None) or "fp32"),
                   tuple(int(v) for v in engine.tile_hw), threads, concurrent_calls_of(engine))


@dataclass(frozen=True, slots=True)
class BenchReport:
    """Everything one ``edgeinspect bench`` measured.

    Attributes:
        engine: the engine measured.
        timing, figures: engine mode (raw latencies; throughput and percentiles).
        overlap_px, scale: the tiling the camera arithmetic used (the run's).
        engine_budget: line rate from the engine's tile throughput (None without a width).
        pipeline: the full-speed pipeline run (None without ``--pipeline``).
        pipeline_budget: line rate from the pipeline's lines/s (None without ``--pipeline``).
        vs_engine, vs_timing, vs_figures, vs_ratios: ``--vs`` (None otherwise).
        sweep, vs_sweep: ``{batch: figures}`` for ``--plot`` (None otherwise).
        plot: the PNG written, or None.
    """

    engine: EngineInfo
    timing: EngineTiming
    figures: EngineFigures
    overlap_px: int
    scale: float
    engine_budget: LineBudget | None = None
    pipeline: PipelineFigures | None = None
    pipeline_budget: LineBudget | None = None
    vs_engine: EngineInfo | None = None
    vs_timing: EngineTiming | None = None
    vs_figures: EngineFigures | None = None
    vs_ratios: dict[str, float | None] | None = None
    sweep: dict[int, EngineFigures] | None = None
    vs_sweep: dict[int, EngineFigures] | None = None
    plot: Path | None = None

    @property
    def budget(self) -> LineBudget | None:
        """The verdict of the bench: the pipeline's when it ran, else the engine's."""
        return self.pipeline_budget or self.engine_budget

    @property
    def pipeline_efficiency(self) -> float | None:
        """Pipeline tiles/s ÷ bare-engine tiles/s (None without ``--pipeline``)."""
        if self.pipeline is None or not self.figures.tiles_per_s:
            return None
        return self.pipeline.tiles_per_s / self.figures.tiles_per_s

    def to_json(self) -> dict[str, Any]:
        """The JSON object ``--json`` prints (keys: module docstring)."""
        data: dict[str, Any] = _engine_json(self.engine, self.figures, self.timing.batch)
        data["duration_s"] = round(self.figures.seconds, 4)
        data["batches"] = self.figures.batches
        budget = self.budget
        if budget is not None:
            data.update(width_px=budget.width_px, overlap_px=self.overlap_px, scale=self.scale,
                        tiles_per_line=budget.tiles_per_line)
            data.update(_budget_json(budget))
            data["verdict_from"] = "pipeline" if self.pipeline_budget is not None else "engine"
            if self.pipeline_budget is not None and self.engine_budget is not None:
                data["engine_limit"] = _budget_json(self.engine_budget, rate=False)
        if self.pipeline is not None:
            p = self.pipeline
            data["stages"] = dict(p.stages)
            data["pipeline"] = {
                "lines_per_s": p.lines_per_s, "mpx_per_s": p.mpx_per_s, "tiles_per_s": p.tiles_per_s,
                "inferred_tiles_per_s": p.inferred_tiles_per_s, "efficiency": self.pipeline_efficiency,
                "run_lines_per_s": p.run_lines_per_s, "run_tiles_per_s": p.run_tiles_per_s,
                "steady_s": p.steady_s, "prerendered_lines": p.prerendered_lines,
                "lines": p.lines, "tiles": p.tiles, "wall_s": p.wall_s,
                "frames_dropped": p.frames_dropped, "defects": p.defects, "stage_s": dict(p.stage_s),
            }
        if self.vs_engine is not None and self.vs_figures is not None:
            data["vs"] = dict(self.vs_ratios or {})
            data["vs_engine"] = _engine_json(self.vs_engine, self.vs_figures, self.timing.batch)
        if self.sweep is not None:
            data["batch_sweep"] = _sweep_json(self.sweep)
            if self.vs_sweep is not None:
                data["vs_batch_sweep"] = _sweep_json(self.vs_sweep)
        if self.plot is not None:
            data["plot"] = str(self.plot)
        return data


def _engine_json(info: EngineInfo, figures: EngineFigures, batch: int) -> dict[str, Any]:
    return {
        "engine": info.path, "backend": info.backend, "precision": info.precision, "tile_hw": list(info.tile_hw),
        "threads": info.threads, "streams": info.streams, "batch": int(batch),
        "tiles_per_s": figures.tiles_per_s, "mpx_per_s": figures.mpx_per_s, "latency_ms": dict(figures.latency_ms),
    }


def _budget_json(budget: LineBudget, *, rate: bool = True) -> dict[str, Any]:
    data: dict[str, Any] = {"max_line_rate_hz": budget.max_line_rate_hz}
    if budget.line_rate_hz is not None:
        if rate:
            data["line_rate_hz"] = budget.line_rate_hz
            data["required_tiles_per_s"] = budget.required_tiles_per_s
        data["headroom"] = budget.headroom
        data["keeps_up"] = budget.keeps_up
    return data


def _sweep_json(sweep: dict[int, EngineFigures]) -> dict[str, dict[str, float]]:
    return {str(b): {"tiles_per_s": f.tiles_per_s, "mpx_per_s": f.mpx_per_s, "latency_p50_ms": f.latency_ms["p50"]}
            for b, f in sweep.items()}
