"""``edgeinspect plugins compile``: the custom ops' CUDA kernels to PTX with NVRTC (no GPU needed)."""

from pathlib import Path
from typing import Annotated

import typer

from edgeinspect.cli.app import app

plugins_app = typer.Typer(help="TensorRT plugins of the custom ops: compile their CUDA kernels to PTX.",
                          no_args_is_help=True)
app.add_typer(plugins_app, name="plugins")


@plugins_app.command("compile")
def compile_(
    arch: Annotated[list[str] | None, typer.Option(
        "--arch", help="Target GPU, repeatable: sm_75 (T4), sm_86, sm_87 (Jetson Orin), sm_89, sm_90. "
        "Default: sm_75 sm_80 sm_86 sm_87 sm_89 sm_90.")] = None,
    out: Annotated[Path, typer.Option("--out", help="Output directory for <op>.<dtype>.<arch>.ptx and ptx.json.")]
    = Path("engines/ptx"),
) -> None:
    """Compile every op kernel (FP32 and FP16) for each arch; fails on any NVRTC warning or error.

    The PTX ISA is that of the installed NVRTC (ptx.json: ptx_isa, min_driver_cuda): a device loads it
    only with a driver for at least that CUDA version, so pin the NVRTC wheel to the device's CUDA.
    The pixel_confidence PTX uses its default attributes (3x3 mean, epsilon 0.2); engine builds
    recompile it with the model's attributes.
    """
    from rich.console import Console
    from rich.progress import Progress

    from edgeinspect.ops import ptx

    archs = arch or list(ptx.DEFAULT_ARCHS)
    total = len(ptx.OPS) * len(ptx.DTYPES) * len({ptx.parse_arch(a) for a in archs})
    console = Console(stderr=True)
    with Progress(transient=True, console=console, disable=not console.is_terminal) as progress:
        task = progress.add_task("NVRTC", total=total)
        meta_path = ptx.compile_kernels(out, archs, progress=lambda label: progress.update(task, advance=1,
                                                                                           description=label))
    import json

    meta = json.loads(meta_path.read_text())
    Console(highlight=False).print(
        f"{len(meta['files'])} PTX files in {out} (NVRTC {meta['nvrtc_version']}, PTX ISA {meta['ptx_isa']}, "
        f"needs a driver for CUDA >= {meta['min_driver_cuda']}; {', '.join(meta['archs'])}) -> {meta_path}"
    )
