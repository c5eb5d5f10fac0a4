"""``edgeinspect models``: the registered networks with parameters and GMACs per stage at 256²."""

import json
from typing import Annotated

import typer

from edgeinspect.cli.app import app

#: Largest tile counted: 4096² is a whole line-scan frame width, and its activations already take GBs.
MAX_TILE_PX = 4096


@app.command()
def models(
    pattern: Annotated[str, typer.Argument(help="Shell-style name filter, e.g. 'lpcnet*'.")] = "*",
    as_json: Annotated[
        bool, typer.Option("--json", help="Print a JSON list of {name, stages: {stage: {params, gmacs}}, default}.")
    ] = False,
    tile_px: Annotated[int, typer.Option("--tile-px", help="Square input size in pixels (multiple of 16).")] = 256,
) -> None:
    """List the networks (torch needed): parameters and GMACs of each stage for one tile."""
    from rich.console import Console
    from rich.progress import Progress
    from rich.table import Table

    from edgeinspect.models import DEFAULT_MODEL, list_models
    from edgeinspect.models.complexity import model_complexity

    from edgeinspect.errors import EdgeInspectError

    names = list_models(pattern)
    if not names:
        raise EdgeInspectError(f"no model matches {pattern!r}: choose from {', '.join(list_models())}")
    if not (16 <= tile_px <= MAX_TILE_PX and tile_px % 16 == 0):
        raise EdgeInspectError(f"--tile-px must be a multiple of 16 in [16, {MAX_TILE_PX}], got {tile_px}")
    rows = []
    console = Console(stderr=True)
    with Progress(transient=True, console=console, disable=not console.is_terminal) as progress:
        task = progress.add_task("counting", total=len(names))
        for name in names:
            progress.update(task, description=f"counting {name}")
            try:
                stages = model_complexity(name, (tile_px, tile_px))
            except EdgeInspectError as error:  # the network's own size rule, e.g. a minimum
                raise EdgeInspectError(f"--tile-px {tile_px} for {name}: {error}") from None
            rows.append(
                {
                    "name": name,
                    "stages": {s: {"params": c.params, "gmacs": round(c.gmacs, 4)} for s, c in stages.items()},
                    "default": name == DEFAULT_MODEL,
                }
            )
            progress.advance(task)
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    table = Table(title=f"edgeinspect models (input 1×{tile_px}×{tile_px})")
    for column in ("model", "stage", "params (M)", "GMACs", "default"):
        table.add_column(column, justify="right" if column in ("params (M)", "GMACs") else "left")
    for row in rows:
        for i, (stage, c) in enumerate(row["stages"].items()):
            table.add_row(
                row["name"] if i == 0 else "", stage, f"{c['params'] / 1e6:.3f}", f"{c['gmacs']:.3f}",
                "yes" if row["default"] and i == 0 else "",
            )
    Console().print(table)
