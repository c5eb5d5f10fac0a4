"""``edgeinspect export``: a checkpoint → ONNX (standard-op form for every runtime, plugin form for TensorRT)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from edgeinspect.cli.app import app
from edgeinspect.export import ONNX_OPSET, OpForm


@app.command()
def export(
    checkpoint: Annotated[str, typer.Argument(help="Checkpoint (.pt from edgeinspect train) or 'default' (the bundled model).")],
    out: Annotated[Path, typer.Option("--out", help="ONNX file to write.")] = Path("model.onnx"),
    ops: Annotated[OpForm, typer.Option(
        "--ops", help="standard: custom ops as standard ONNX ops (ONNX Runtime, OpenVINO); "
        "plugin: one TensorRT plugin node per custom op.")] = OpForm.STANDARD,
    opset: Annotated[int, typer.Option("--opset", min=17, help="ONNX opset of the default domain.")] = ONNX_OPSET,
) -> None:
    """Export a network to ONNX: input image (N,1,H,W) float32 in [0,255], outputs prob (+ loc), dynamic batch."""
    from rich.console import Console

    from edgeinspect.backends.build import resolve_source
    from edgeinspect.errors import EdgeInspectError

    from edgeinspect.outputs import prepare_output_file

    source = resolve_source(checkpoint)
    if source.suffix.lower() == ".onnx":
        raise EdgeInspectError(f"{source}: already ONNX; export takes a checkpoint (.pt) or 'default'")
    prepare_output_file(out)
    console = Console(stderr=True)
    with console.status(f"exporting {source.name} ({ops.value} ops)"):
        from edgeinspect.export.metadata import read_metadata
        from edgeinspect.export.onnx import export_checkpoint

        path = export_checkpoint(source, out, op_form=ops, opset=opset)
    meta = read_metadata(path)
    height, width = meta["tile_hw"]
    size_mb = path.stat().st_size / 1e6
    Console(soft_wrap=True).print(
        f"wrote [bold]{path}[/] ({size_mb:.1f} MB): {meta.get('arch')} {ops.value} ops, opset {meta['opset']}, "
        f"image (N,1,{height},{width}) → {', '.join(meta['outputs'])}"
        + (f"; plugin domains {', '.join(meta['custom_domains'])}" if meta["custom_domains"] else "")
    )
