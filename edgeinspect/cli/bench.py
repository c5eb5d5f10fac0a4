"""``edgeinspect bench``: throughput, latency, the highest sustainable line rate and a keep-up verdict.

Progress goes to stderr (a rich progress bar), results to stdout: a table, or with ``--json`` one
JSON object (keys: :mod:`edgeinspect.bench.report`).

Example::

    edgeinspect bench engines/lite --width-px 4096 --line-rate-hz 10000 --pipeline
    edgeinspect bench engines/lite-int8 --vs engines/lite --json
    edgeinspect bench best.pt --plot bench.png          # torch eager (needs the train extra)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from edgeinspect.cli.app import app
from edgeinspect.config import MAX_BATCH_SIZE, MAX_ENGINE_STREAMS, MAX_ENGINE_THREADS, RunConfig

#: The run's defaults: bench tiles and batches as ``edgeinspect run`` does.
_RUN = RunConfig()


@app.command()
def bench(
    engine: Annotated[str | None, typer.Argument(
        help="Engine folder (edgeinspect build), .onnx, or .pt checkpoint (torch eager, needs the train extra). "
             "(default: the bundled model, as edgeinspect run)", show_default=False)] = None,
    batch_size: Annotated[int, typer.Option(
        "--batch-size", "--batch", min=1, max=MAX_BATCH_SIZE, help="Tiles per engine call (as run).")] = _RUN.batch_size,
    threads: Annotated[int | None, typer.Option(
        "--threads", min=1, max=MAX_ENGINE_THREADS, help="Engine CPU threads (default: the runtime's).")] = None,
    streams: Annotated[int | None, typer.Option(
        "--streams", min=1, max=MAX_ENGINE_STREAMS, help="Engine batches in flight at once, as run's engine_streams "
                                 "(ONNX Runtime; default: 2 on >= 2 cores).")] = None,
    duration_s: Annotated[float, typer.Option(
        "--duration-s", "--duration", min=0.0, help="Timed seconds, > 0 (engine mode; also the pipeline run).")] = 3.0,
    warmup_s: Annotated[float, typer.Option(
        "--warmup-s", "--warmup", min=0.0, help="Untimed warm-up seconds.")] = 1.0,
    width_px: Annotated[int | None, typer.Option(
        "--width-px", "--width", min=1,
        help="Pixels per camera line, for the line-rate figures (--pipeline default: 2048).")] = None,
    line_rate_hz: Annotated[float | None, typer.Option(
        "--line-rate-hz", "--line-rate", min=0.0,
        help="Camera line rate, lines/s, > 0: gives headroom and keeps_up.")] = None,
    overlap_px: Annotated[int, typer.Option(
        "--overlap-px", "--overlap", min=0, help="Tile overlap, px (as run).")] = _RUN.overlap_px,
    scale: Annotated[float, typer.Option("--scale", min=0.0, max=1.0, help="Inference scale (as run).")] = _RUN.scale,
    pipeline: Annotated[bool, typer.Option(
        "--pipeline", help="Also run the whole run path (sim web, unpaced) with per-stage shares.")] = False,
    vs: Annotated[str | None, typer.Option(
        "--vs", help="A second engine measured interleaved with ENGINE; prints ENGINE/ENGINE2 ratios.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")] = False,
    plot: Annotated[Path | None, typer.Option(
        "--plot", help="Write a PNG: latency histogram and throughput vs batch size (1, 2, 4, 8).")] = None,
) -> None:
    """Can this engine keep up with this camera? Throughput, latency, max line rate, keeps_up."""
    from edgeinspect.bench import BenchOptions, run_bench

    options = BenchOptions(
        engine=engine, batch=batch_size, threads=threads, streams=streams, duration_s=duration_s, warmup_s=warmup_s,
        width_px=width_px, line_rate_hz=line_rate_hz, overlap_px=overlap_px, scale=scale, pipeline=pipeline,
        vs=vs, plot=plot,
    )
    report = _with_progress(options, run_bench)
    if as_json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        _print_report(report)


def _with_progress(options, run_bench):
    """Run the bench with a rich progress bar on stderr (one line per phase; none when stderr is not a terminal)."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(stderr=True, highlight=False)
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f} %"),
                  TimeElapsedColumn(), console=console, transient=True, disable=not console.is_terminal) as bar:
        tasks: dict[str, int] = {}

        def show(phase: str, fraction: float) -> None:
            if phase not in tasks:
                for other in tasks.values():
                    bar.update(other, completed=1.0)
                tasks[phase] = bar.add_task(phase, total=1.0)
            bar.update(tasks[phase], completed=fraction)

        return run_bench(options, progress=show)


def _fmt(value: float | None, digits: int = 3) -> str:
    if value is None:
        return "n/a"
    return f"{value:,.{digits}g}" if abs(value) < 10 ** digits else f"{value:,.0f}"


def _print_report(report) -> None:
    from rich.console import Console
    from rich.table import Table

    from edgeinspect.bench.compare import FIGURES

    info, fig = report.engine, report.figures
    table = Table(title=f"edgeinspect bench: {info.path}", show_header=False)
    lat = fig.latency_ms
    rows = [
        ("engine", f"{info.backend}/{info.precision}, {info.tile_hw[0]}×{info.tile_hw[1]} tiles, "
                   f"batch {report.timing.batch}, threads {info.threads or 'default'}, streams {info.streams}"),
        ("throughput", f"{_fmt(fig.tiles_per_s)} tiles/s, {_fmt(fig.mpx_per_s)} Mpx/s of tiles "
                       f"({fig.batches} batches in {fig.seconds:.2f} s)"),
        ("latency / batch", f"p50 {_fmt(lat['p50'])} ms, p90 {_fmt(lat['p90'])} ms, p99 {_fmt(lat['p99'])} ms, "
                            f"max {_fmt(lat['max'])} ms"),
    ]
    if report.pipeline is not None:
        p = report.pipeline
        rows.append(("pipeline", f"{_fmt(p.lines_per_s)} lines/s, {_fmt(p.mpx_per_s)} Mpx/s of web, "
                                 f"{_fmt(p.tiles_per_s)} tiles/s = {100 * (report.pipeline_efficiency or 0):.0f} % "
                                 f"of the bare engine{' in steady state' if p.steady_s else ''} ({p.lines:,} lines × "
                                 f"{p.width_px} px in {p.wall_s:.2f} s; {_fmt(p.run_tiles_per_s)} tiles/s over the whole run)"))
        rows.append(("time share", ", ".join(f"{k} {100 * v:.0f} %" for k, v in p.stages.items())
                     + "  (acquire: own thread)"))
    budget = report.budget
    if budget is not None:
        source = "pipeline" if report.pipeline_budget is not None else "engine"
        rows.append(("camera tiling", f"{budget.width_px} px wide, overlap {report.overlap_px} px, scale "
                                      f"{report.scale:g}: {budget.tiles_per_line:.4g} tiles/line"))
        rows.append(("max line rate", f"{_fmt(budget.max_line_rate_hz)} lines/s ({source})"))
        if report.pipeline_budget is not None and report.engine_budget is not None:
            rows.append(("  engine alone", f"{_fmt(report.engine_budget.max_line_rate_hz)} lines/s"))
        if budget.line_rate_hz is not None:
            rows.append(("camera needs", f"{_fmt(budget.required_tiles_per_s)} tiles/s at "
                                         f"{_fmt(budget.line_rate_hz)} lines/s"))
            colour = "green" if budget.keeps_up else "red"
            rows.append(("keeps up", f"[bold {colour}]{'yes' if budget.keeps_up else 'no'}[/] "
                                     f"(headroom ×{budget.headroom:.2f})"))
    if report.vs_engine is not None and report.vs_figures is not None:
        other, vf = report.vs_engine, report.vs_figures
        rows.append(("vs", f"{other.path} ({other.backend}/{other.precision}): {_fmt(vf.tiles_per_s)} tiles/s, "
                           f"p50 {_fmt(vf.latency_ms['p50'])} ms"))
        ratios = report.vs_ratios or {}
        rows.append(("ENGINE / ENGINE2", ", ".join(f"{name} ×{_fmt(ratios.get(name))}" for name in FIGURES)))
    if report.plot is not None:
        rows.append(("plot", str(report.plot)))
    for key, value in rows:
        table.add_row(key, value)
    Console(highlight=False).print(table)
