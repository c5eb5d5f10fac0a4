"""``edgeinspect doctor``: go-live checks of this box, one line each (OK / WARN / FAIL); exit 1 on a FAIL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from edgeinspect.cli.app import app


@app.command()
def doctor(
    config: Annotated[Path | None, typer.Option(
        "--config", help="Run YAML the service uses (camera, camera_config, calib, engine, out).")] = None,
    engine: Annotated[Path | None, typer.Option("--engine", help="Engine folder to check (default: the config's, else the bundled one).")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Output folder to check (default: the config's, else runs/).")] = None,
    hours: Annotated[float, typer.Option("--hours", min=0.001, help="The output folder must hold this many hours.")] = 24.0,
    line_rate_hz: Annotated[float | None, typer.Option(
        "--line-rate-hz", min=0.001, help="Line rate for the disk estimate (default: the config's, else 10000).")] = None,
    defects_per_hour: Annotated[float, typer.Option(
        "--defects-per-hour", min=0.0, help="Defects per hour for the disk estimate.")] = 600.0,
    infer: Annotated[bool, typer.Option("--infer/--no-infer", help="Run one blank tile through the engine.")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Check this box before go-live: GenTL producer, camera, calibration, GPU, engine, disk space, clock."""
    from rich.console import Console
    from rich.markup import escape

    from edgeinspect.doctor import FAIL, OK, run_doctor

    report = run_doctor(config=config, engine=engine, out=out, hours=hours, line_rate_hz=line_rate_hz,
                        defects_per_hour=defects_per_hour, infer=infer)
    if as_json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        console = Console(highlight=False, soft_wrap=True)
        colours = {OK: "green", FAIL: "bold red"}
        for check in report.checks:
            colour = colours.get(check.status, "yellow")
            console.print(f"[{colour}]{check.status:<4}[/] {check.name:<12} {escape(check.message)}")
        verdict = (f"[bold red]{len(report.failed)} blocker(s)[/]" if report.failed
                   else "[green]no blocker[/]") + f", {len(report.warned)} warning(s)"
        console.print(verdict)
    raise typer.Exit(report.exit_code)
