"""``edgeinspect info``: what this machine offers for training, engines and cameras."""

import json
from typing import Annotated

import typer

from edgeinspect.cli.app import app


@app.command()
def info(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Print Python, numpy, ONNX Runtime, OpenVINO, torch, harvesters/genicam, TensorRT, CUDA, CPU features."""
    from rich.console import Console
    from rich.table import Table

    from edgeinspect.sysinfo import machine_info

    facts = machine_info()
    if as_json:
        print(json.dumps(facts, indent=2))
        return
    table = Table(title="edgeinspect info", show_header=False)
    for key, value in facts.items():
        if value is None:
            shown = "[dim]not installed[/]"
        elif isinstance(value, dict):
            shown = ", ".join(f"{k}={v}" for k, v in value.items())
        else:
            shown = str(value)
        table.add_row(key, shown)
    Console().print(table)
