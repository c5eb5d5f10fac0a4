"""``edgeinspect run``: inspect a line-scan web live (GenICam camera, synthetic web or replayed files).

With no option it runs the bundled model on the synthetic web for 5 s and writes ``runs/<timestamp>/``.
A live line shows lines/s, Mpx/s, defects and dropped frames; the end prints the summary.
SIGINT/SIGTERM stop cleanly (queued frames inspected, files closed, ``summary.json`` written) and
exit 0; a second signal exits at once.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Annotated

import typer

from edgeinspect.cli.app import app
from edgeinspect.config import MAX_BATCH_SIZE, MAX_ENGINE_STREAMS, MAX_ENGINE_THREADS

#: Seconds a sim run lasts when neither --lines nor --duration-s is given.
SIM_DEFAULT_DURATION_S = 5.0


@app.command()
def run(
    camera: Annotated[str | None, typer.Option(
        "--camera", help="Frame source: sim[:TEXTURE], genicam[:ID] or replay:PATH. (default: sim)")] = None,
    engine: Annotated[Path | None, typer.Option(
        "--engine", help="Engine folder (edgeinspect build) or .onnx file. (default: the bundled model)")] = None,
    config: Annotated[Path | None, typer.Option(
        "--config", help="Run YAML (keys: edgeinspect/config.py); options given here override it.")] = None,
    calib: Annotated[Path | None, typer.Option(
        "--calib", help="Camera calibration YAML (mm/px, mm/line). (default: the synthetic web's, edgeinspect/assets/synthetic-web.yaml)")] = None,
    camera_config: Annotated[Path | None, typer.Option(
        "--camera-config", help="Camera YAML for genicam (nodes, CTI, trigger).")] = None,
    out: Annotated[Path | None, typer.Option(
        "--out", help="Output folder (must not hold a run). (default: runs/<timestamp>)")] = None,
    lines: Annotated[int | None, typer.Option("--lines", min=1, help="Stop after this many web lines.")] = None,
    duration_s: Annotated[float | None, typer.Option(
        "--duration-s", "--duration", min=0.0, help="Stop after this many seconds. [sim default: 5]")] = None,
    line_rate_hz: Annotated[float | None, typer.Option(
        "--line-rate-hz", "--line-rate", min=0.0,
        help="Line rate: sim/replay pacing (unpaced = as fast as inference goes, nothing dropped); "
             "genicam AcquisitionLineRate.")] = None,
    cti: Annotated[Path | None, typer.Option("--cti", help="GenTL producer (.cti) for genicam.")] = None,
    width_px: Annotated[int | None, typer.Option("--width-px", "--width", min=1, help="Pixels per line.")] = None,
    batch_size: Annotated[int | None, typer.Option("--batch-size", min=1, max=MAX_BATCH_SIZE, help="Tiles per engine call. [4]")] = None,
    overlap_px: Annotated[int | None, typer.Option("--overlap-px", min=0, help="Tile overlap, px. [32]")] = None,
    scale: Annotated[float | None, typer.Option(
        "--scale", min=0.0, max=1.0, help="Infer at this fraction of the resolution. [1.0]")] = None,
    queue_size: Annotated[int | None, typer.Option(
        "--queue-size", min=1, help="Frames between acquisition and inference. [8]")] = None,
    mask_png_every_lines: Annotated[int | None, typer.Option(
        "--mask-png-every-lines", min=0, help="Write mask PNGs every N lines (0 = off). [0]")] = None,
    overlays: Annotated[bool | None, typer.Option(
        "--overlays/--no-overlays", help="One overlay PNG per defect. [on]")] = None,
    threads: Annotated[int | None, typer.Option("--threads", min=1, max=MAX_ENGINE_THREADS, help="Engine CPU threads.")] = None,
    streams: Annotated[int | None, typer.Option(
        "--streams", min=1, max=MAX_ENGINE_STREAMS, help="Engine batches in flight at once (ONNX Runtime). [2 on >= 2 cores]")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print summary.json on stdout at the end.")] = False,
) -> None:
    """Inspect a web: frames → tiles → engine → stitched masks → defect records, masks, overlays, summary."""
    from edgeinspect.config import RunConfig, check_source_spec, load_run_config
    from edgeinspect.errors import EdgeInspectError
    from edgeinspect.stream.runner import run_inspection

    if lines is not None and duration_s is not None:
        raise EdgeInspectError("give --lines or --duration-s, not both")
    if line_rate_hz is not None and line_rate_hz <= 0:
        raise EdgeInspectError(f"--line-rate must be > 0 Hz, got {line_rate_hz:g} (leave it out for an unpaced run)")
    settings = load_run_config(config) if config is not None else RunConfig()
    if camera is not None:
        check_source_spec(camera, "--camera")
    settings = settings.replace(
        camera=camera, engine=engine, calib=calib, camera_config=camera_config, out=out,
        batch_size=batch_size, overlap_px=overlap_px, scale=scale, queue_size=queue_size,
        mask_png_every_lines=mask_png_every_lines, overlays=overlays, engine_threads=threads,
        engine_streams=streams,
    )
    if lines is not None or duration_s is not None:
        settings = dataclasses.replace(settings, lines=lines, duration_s=duration_s)
    elif settings.lines is None and settings.duration_s is None and settings.camera.startswith("sim"):
        settings = dataclasses.replace(settings, duration_s=SIM_DEFAULT_DURATION_S)
    source_options = dict(settings.source_options)
    for key, value in (("width", width_px), ("line_rate_hz", line_rate_hz), ("cti", cti)):
        if value is not None:
            source_options[key] = value
    settings = dataclasses.replace(settings, source_options=source_options)

    summary = _run_live(settings, run_inspection)
    if as_json:
        print(json.dumps(summary.to_json(), indent=2))
    else:
        _print_summary(summary)


def _run_live(settings, run_inspection):
    """Run with a live status line on stderr and log warnings above it."""
    import logging

    from rich.console import Console
    from rich.live import Live
    from rich.logging import RichHandler
    from rich.text import Text

    console = Console(stderr=True, highlight=False)
    handler = RichHandler(console=console, show_path=False, show_time=False, markup=False)
    logger = logging.getLogger("edgeinspect")
    logger.addHandler(handler)
    previous_level = logger.level
    if logger.level == logging.NOTSET or logger.level > logging.WARNING:
        logger.setLevel(logging.WARNING)
    status = Text("starting ...")
    try:
        with Live(status, console=console, refresh_per_second=4, transient=True):
            def show(p):
                status.plain = (
                    f"{p.wall_time_s:.1f} s  {p.lines:,} lines  {p.lines_per_s:,.0f} lines/s  "
                    f"{p.mpx_per_s:.2f} Mpx/s  {p.defects} defects  {p.frames_dropped} frames dropped"
                )
            return run_inspection(settings, progress=show)
    except KeyboardInterrupt:  # a second Ctrl-C: stop now
        console.print("[red]interrupted[/]: sinks closed, summary.json not written")
        raise typer.Exit(130) from None
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous_level)


def _print_summary(summary) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"edgeinspect run: {summary.source} → {summary.out_dir}", show_header=False)
    dropped = f"{summary.frames_dropped} frames / {summary.lines_dropped:,} lines"
    rows = [
        ("engine", f"{summary.engine_dir} ({summary.backend}, {summary.precision or 'fp32'}"
                   + (f", {summary.engine_streams} streams)" if summary.engine_streams > 1 else ")")),
        ("calibration", summary.calibration),
        ("inspected", f"{summary.lines_inspected:,} lines × {summary.width_px} px in {summary.wall_time_s:.2f} s"),
        ("throughput", f"{summary.lines_per_s:,.0f} lines/s, {summary.mpx_per_s:.2f} Mpx/s"),
        ("dropped", dropped if summary.frames_dropped else "none"),
        ("defects", f"{summary.defects} ({summary.rejects} reject)"),
        ("stop", summary.stop_reason),
        ("time share", ", ".join(f"{k} {100 * v:.0f} %" for k, v in summary.stage_share.items())),
    ]
    for key, value in rows:
        table.add_row(key, str(value))
    Console().print(table)


def print_run_score(run_dir: Path, *, area_tolerance: float, as_json: bool, other_sources: tuple = ()) -> None:
    """``edgeinspect eval --run DIR``: score a run folder against its truth and print it."""
    from rich.console import Console
    from rich.table import Table

    from edgeinspect.errors import EdgeInspectError
    from edgeinspect.stream.score import score_run

    if any(source is not None for source in other_sources):
        raise EdgeInspectError("--run scores a run folder against its own truth.jsonl: drop --data/--pred")
    score = score_run(run_dir, tolerance=area_tolerance)
    if as_json:
        print(json.dumps(score, indent=2))
        return

    def pct(value: float | None) -> str:
        return "n/a" if value is None else f"{100 * value:.1f} %"

    area = score["area"]
    table = Table(title=f"edgeinspect eval --run {run_dir}", show_header=False)
    table.add_row("lines inspected", f"{score['lines_inspected']:,} ({score['frames_dropped']} frames dropped)")
    table.add_row("true defects", f"{score['truth']} ({score['truth_significant']} >= {area['significant_area_mm2']} mm²)")
    table.add_row("recall", f"{pct(score['recall'])} (significant: {pct(score['recall_significant'])})")
    table.add_row("precision", f"{pct(score['precision'])} ({score['false']} false of {score['predicted']})")
    per = score.get("records_per_found")
    table.add_row("records per found defect", "n/a" if per is None else f"{per:.2f} (1.00: one record per physical defect)")
    table.add_row("area within ±" + f"{100 * area['tolerance']:.0f} %",
                  f"{pct(area['share_within_tol'])} ({area['within_tol']} of {area['scored']}; "
                  f"|error| p50 {pct(area['abs_error_p50'])}; areas shared by {area['shared_by']})")
    for size in area.get("by_size", []):
        upper = f"{size['max_mm2']:g}" if size["max_mm2"] is not None else "∞"
        table.add_row(f"  {size['min_mm2']:g}–{upper} mm²",
                      f"{pct(size['share_within_tol'])} of {size['scored']} (signed error p50 {pct(size['error_p50'])})")
    for kind, of_kind in score.get("by_kind", {}).items():
        table.add_row(f"  {kind}", f"recall {pct(of_kind['recall'])}, area within tolerance "
                                   f"{pct(of_kind['share_within_tol'])}, signed error p50 {pct(of_kind['error_p50'])}")
    if "mask" in score:
        mask = score["mask"]
        table.add_row("mask mIoU / mPA / Dice",
                      f"{pct(mask['mIoU'])} / {pct(mask['mPA'])} / {pct(mask['dice'])} ({mask['files']} files)")
    Console().print(table)
    if "note" in score:  # a clean web: recall and area shares are n/a
        Console(highlight=False, soft_wrap=True).print(f"note: {score['note']}", markup=False)
