"""``edgeinspect build``: checkpoint/ONNX → ``engines/NAME`` for OpenVINO or ONNX Runtime (FP32 or INT8 QDQ)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from edgeinspect.cli.app import app
from edgeinspect.config import MAX_BATCH_SIZE, MAX_ENGINE_THREADS


@app.command()
def build(
    source: Annotated[str, typer.Argument(
        help="Checkpoint (.pt), exported standard-op .onnx, or 'default' (the bundled model).")],
    out: Annotated[Path, typer.Option("--out", help="Engine folder to create, e.g. engines/lite-int8.")],
    backend: Annotated[str, typer.Option("--backend", help="openvino (default CPU engine), onnxruntime, or tensorrt "
                                         "(build on the GPU device that runs it).")] = "openvino",
    precision: Annotated[str, typer.Option("--precision", help="fp32 or int8 (static QDQ, calibrated); "
                                           "tensorrt also fp16.")] = "fp32",
    calib: Annotated[Path | None, typer.Option(
        "--calib", help="INT8 calibration images: a folder of images, an image/mask dataset or a calib list YAML. "
        "(default: tiles cut from the synthetic webs)")] = None,
    gate_data: Annotated[Path | None, typer.Option(
        "--gate-data", help="Images with masks for the INT8 accuracy gate (dataset folder or YAML). "
        "(default: held-aside --calib images with masks, else synthetic webs)")] = None,
    max_drop: Annotated[float, typer.Option(
        "--max-drop", min=0.0, help="Refuse INT8 when its mIoU is more than this many points below FP32.")] = 1.0,
    threads: Annotated[int | None, typer.Option("--threads", min=1, max=MAX_ENGINE_THREADS, help="CPU threads for the build's inference.")] = None,
    calib_count: Annotated[int | None, typer.Option("--calib-count", min=1, help="At most this many calibration tiles (default 256).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace --out if it exists (after the new build succeeded).")] = False,
    plugins: Annotated[str, typer.Option("--plugins", help="tensorrt: auto (custom ops as AOT plugins when TensorRT "
                                         ">= 10.9), on, or off (standard ops).")] = "auto",
    max_batch: Annotated[int, typer.Option("--max-batch", min=1, max=MAX_BATCH_SIZE, help="tensorrt: largest batch (profile 1..N).")] = 8,
    dla_core: Annotated[int | None, typer.Option("--dla-core", min=0, help="tensorrt on Jetson Orin: run supported "
                                                 "layers on this DLA core (GPU fallback).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print manifest.json on stdout.")] = False,
) -> None:
    """Build an engine folder: ONNX file(s), INT8 QDQ + accuracy gate, manifest.json with sha256 of every file
    (TensorRT: a plan for this GPU, see docs/tensorrt.md)."""
    from rich.console import Console

    from edgeinspect.errors import EdgeInspectError

    if backend == "tensorrt":
        from edgeinspect.backends.tensorrt_build import build_tensorrt_engine as build_engine

        extra = {"plugins": plugins, "max_batch": max_batch, "dla_core": dla_core}
    else:
        from edgeinspect.backends.build import build_engine

        extra = {"backend": backend}
        if plugins != "auto" or max_batch != 8 or dla_core is not None:
            raise EdgeInspectError("--plugins, --max-batch and --dla-core apply to --backend tensorrt only")
    console = Console(stderr=True)
    with console.status("building") as status:
        result = build_engine(
            source, out=out, precision=precision, calib=calib, gate_data=gate_data,
            max_drop=max_drop, threads=threads, calib_count=calib_count, force=force,
            progress=lambda message: status.update(message), **extra,
        )
    manifest = result.manifest
    if as_json:
        print(json.dumps(manifest.to_json(), indent=2))
        return
    height, width = manifest.tile_hw
    line = (f"built [bold]{result.path}[/]: {manifest.network['arch']} {manifest.backend} {manifest.precision}"
            f"{' (' + manifest.encoding + ')' if manifest.encoding else ''}, tile {height}x{width}, "
            f"runs {manifest.model_file}")
    Console(soft_wrap=True).print(line)
    record = manifest.options.get("tensorrt")
    if record:
        Console(soft_wrap=True, highlight=False).print(
            f"TensorRT {record['tensorrt_version']} on {record['gpu_name']} (compute {record['compute_capability']}), "
            f"batch 1..{manifest.options['max_batch']}, plugin mode {record['plugin_mode']}: {record['plugin_reason']}"
        )
    if manifest.metrics:
        m = manifest.metrics
        Console(soft_wrap=True).print(
            f"accuracy gate on {m['gate']['tiles']} held-aside tiles: mIoU FP32 {100 * m['fp32']['mIoU']:.2f} → "
            f"{manifest.precision.upper()} {100 * m[manifest.precision]['mIoU']:.2f} (drop {m['miou_drop']:.2f} points, max {m['max_drop']:g})"
        )
