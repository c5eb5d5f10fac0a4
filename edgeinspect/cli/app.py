"""The typer application every command module registers on.

Command modules (``edgeinspect/cli/<command>.py``) do ``from edgeinspect.cli.app import app`` and
decorate a function with ``@app.command()``. They parse, call one library function, print.
Heavy imports (torch, openvino, harvesters) go inside the command body.
"""

import typer

app = typer.Typer(
    name="edgeinspect",
    help="Surface-defect segmentation for line-scan cameras: synth, train, export, build, run, bench, eval.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """edgeinspect: surface-defect segmentation for line-scan cameras."""
