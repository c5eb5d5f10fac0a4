"""``edgeinspect build`` for CPU engines (OpenVINO, ONNX Runtime): files, INT8, accuracy gate, manifest.

:func:`build_engine` turns a checkpoint (``.pt``, exported here in the standard-op form; needs torch),
an exported ``.onnx`` (no torch needed) or ``"default"`` (the bundled checkpoint) into an engine
folder:

- ``model.onnx``: the FP32 standard-op graph (always kept: reference and source of the INT8 files);
- INT8 only: ``model.int8.onnx`` (canonical symmetric int8 QDQ, what OpenVINO runs),
  ``model.uint8.onnx`` (ONNX Runtime only: uint8-activation re-encoding of the same calibration)
  and ``calibration.json`` (the per-tensor ranges both come from);
- ONNX Runtime: ``model.ort-optimized.onnx`` (offline-optimised graph, written by a first open);
- ``manifest.json`` listing every file with its sha256; OpenVINO's ``cache/`` is filled on first open.

INT8 accuracy gate: the FP32 and INT8 engines (same backend) score the held-aside tiles (with masks)
and the build is refused (:class:`EdgeInspectError`) when the INT8 mIoU is more than ``max_drop``
percentage points below FP32. Gate tiles: ``gate_data`` when given, else the held-aside part of the
calibration source when it has masks, else the synthetic gate set (exact masks).

Everything is built in a hidden sibling folder and renamed into place at the end, so a failed or
refused build leaves nothing half-written at ``out``.

Example:
    >>> result = build_engine("default", out=Path("engines/lite-int8"), backend="openvino", precision="int8")
    >>> result.manifest.metrics["miou_drop"]
    0.12
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeinspect.backends.base import OUTPUT_NAMES, check_onnx_metadata
from edgeinspect.backends.manifest import MANIFEST_NAME, Manifest, hash_files, utc_now, write_manifest
from edgeinspect.errors import EdgeInspectError
from edgeinspect.export import INPUT_NAME, Encoding, OpForm, Precision
from edgeinspect.outputs import check_folder_path, make_folder

#: CPU backends this module builds for (TensorRT builds live with the TensorRT backend).
CPU_BACKENDS = ("openvino", "onnxruntime")
DEFAULT_BACKEND = "openvino"
DEFAULT_MAX_DROP = 1.0
FP32_NAME = "model.onnx"

Progress = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class BuildResult:
    """A finished build.

    Attributes:
        path: the engine folder.
        manifest: what was written to ``path/manifest.json``.
    """

    path: Path
    manifest: Manifest


def resolve_source(source: str | Path) -> Path:
    """``"default"`` → the bundled checkpoint; else the path, which must exist.

    Raises:
        EdgeInspectError: missing file or unsupported suffix.
    """
    if str(source) == "default":
        from edgeinspect.assets import default_checkpoint

        return default_checkpoint()
    path = Path(source)
    if not path.is_file():
        raise EdgeInspectError(f"{path}: not found; give a checkpoint (.pt), an exported .onnx or 'default'")
    if path.suffix.lower() not in (".pt", ".pth", ".onnx"):
        raise EdgeInspectError(f"{path}: unsupported source; give a checkpoint (.pt), an exported .onnx or 'default'")
    return path


def _versions(backend: str, opset: int | None, precision: Precision) -> dict[str, Any]:
    import importlib.metadata as md

    from edgeinspect import __version__

    versions: dict[str, Any] = {"edgeinspect": __version__, "onnx_opset": opset, "onnx": md.version("onnx")}
    for dist in ("openvino", "onnxruntime") if precision is Precision.INT8 else (backend,):
        try:
            versions[dist] = md.version(dist)
        except md.PackageNotFoundError:
            versions[dist] = None
    return versions


def _stage_fp32(source: Path, work: Path, progress: Progress) -> dict[str, Any]:
    """Write ``work/model.onnx`` (standard form) and return its edgeinspect metadata."""
    from edgeinspect.export.metadata import read_metadata

    target = work / FP32_NAME
    if source.suffix.lower() == ".onnx":
        meta = read_metadata(source)
        if meta.get("op_form") == OpForm.PLUGIN.value or meta.get("custom_domains"):
            raise EdgeInspectError(
                f"{source}: plugin-form ONNX (TensorRT plugin nodes) cannot run on CPU backends; "
                "export with `edgeinspect export CKPT --ops standard`"
            )
        check_onnx_metadata(source, meta)
        shutil.copyfile(source, target)
    else:
        export_for_build(source, target, OpForm.STANDARD.value, progress)
        meta = read_metadata(target)
    return require_tile_hw(meta, source)


def export_for_build(source: Path, target: Path, op_form: str, progress: Progress) -> None:
    """Export checkpoint ``source`` to ``target`` (``"standard"`` or ``"plugin"`` ops) for a build.

    Raises:
        EdgeInspectError: torch is not installed (the ``train`` extra), naming the way round it.
    """
    progress(f"exporting {source.name} to ONNX ({op_form} ops)")
    try:
        from edgeinspect.export.onnx import export_checkpoint
    except ImportError as error:
        raise EdgeInspectError(
            f"{source}: building from a checkpoint needs torch (`pip install edgeinspect[train]`), "
            f"or build from an exported .onnx ({error})"
        ) from None
    export_checkpoint(source, target, op_form=op_form)


def require_tile_hw(meta: dict, source: Path) -> dict:
    """``meta`` (edgeinspect ONNX metadata) if it names the tile size, else a one-line error about ``source``."""
    if "tile_hw" not in meta:
        raise EdgeInspectError(f"{source}: cannot tell the tile size (no fixed (N,1,H,W) input); re-export it with `edgeinspect export`")
    return meta


def _open_engine(backend: str, model_path: Path, *, threads: int | None, tile_hw, outputs):
    from edgeinspect.backends import engine_class

    return engine_class(backend)(model_path, None, threads=threads, tile_hw=tile_hw, output_names=outputs)


def _gate(
    backend: str,
    fp32_path: Path,
    int8_path: Path,
    tiles,
    masks,
    *,
    threads: int | None,
    tile_hw,
    outputs,
    max_drop: float,
    gate_source: str,
    out: Path,
) -> dict[str, Any]:
    """Score FP32 and INT8 on the gate tiles; raise when the mIoU drop exceeds ``max_drop`` points."""
    from edgeinspect.backends.evaluate import tile_scores

    scores = {}
    for label, path in (("fp32", fp32_path), ("int8", int8_path)):
        with _open_engine(backend, path, threads=threads, tile_hw=tile_hw, outputs=outputs) as engine:
            scores[label] = tile_scores(engine, tiles, masks)
    return accuracy_gate(scores["fp32"], scores["int8"], label="int8", tiles=int(tiles.shape[0]),
                         gate_source=gate_source, max_drop=max_drop, out=out)


def accuracy_gate(reference: dict, quantized: dict, *, label: str, tiles: int, gate_source: str, max_drop: float,
                  out: Path, engine_name: str = "", reference_name: str = "FP32",
                  fallback: str = "build --precision fp32", **extra: Any) -> dict:
    """The manifest's ``metrics`` of a reduced-precision build, or a one-line refusal.

    Args:
        reference, quantized: ``segmentation_scores`` of the FP32 reference and of the engine being built.
        label: the engine's precision (``"int8"``, ``"fp16"``): its key in the metrics.
        tiles, gate_source: how many held-aside tiles, and where they came from.
        max_drop: largest accepted mIoU drop, percentage points.
        out: the engine folder (named in the refusal: nothing is written to it).
        engine_name, reference_name, fallback: wording of the refusal for this backend.
        **extra: more metrics (e.g. ``prob_mae``).

    Raises:
        EdgeInspectError: mIoU dropped more than ``max_drop`` points.
    """
    drop = 100.0 * (reference["mIoU"] - quantized["mIoU"])
    if drop > max_drop:
        raise EdgeInspectError(
            f"{label.upper()} accuracy gate: {engine_name}mIoU {100 * quantized['mIoU']:.2f} is {drop:.2f} points below "
            f"{reference_name} {100 * reference['mIoU']:.2f} on {tiles} held-aside tiles ({gate_source}), more than "
            f"--max-drop {max_drop:g}; nothing written to {out}: calibrate on images like the production ones "
            f"(--calib DIR), {fallback}, or raise --max-drop"
        )
    return {"fp32": reference, label: quantized, "miou_drop": round(drop, 4), "max_drop": float(max_drop), **extra,
            "gate": {"source": gate_source, "tiles": tiles}}


def _warm_up(backend: str, folder: Path, model_file: str, threads: int | None, *, cache: bool) -> list[str]:
    """Open the built model once: ORT writes its optimised graph, OpenVINO compiles (and fills its cache).

    OpenVINO keys its cache on the model path, so the cache is filled only once the folder has its
    final name (``cache=True``); in the build folder the compile just proves the model runs.

    Returns the extra files to list in the manifest (the ORT optimised graph; OpenVINO's cache is a
    cache: not listed, rebuilt when missing).
    """
    model_path = folder / model_file
    if backend == "onnxruntime":
        from edgeinspect.backends.onnxruntime import OPTIMIZED_NAME, create_session, session_options

        create_session(model_path, session_options(threads=threads, optimized_path=folder / OPTIMIZED_NAME))
        return [OPTIMIZED_NAME] if (folder / OPTIMIZED_NAME).is_file() else []
    import openvino as ov

    from edgeinspect.backends.openvino import CACHE_DIRNAME, compile_config

    cache_dir = folder / CACHE_DIRNAME if cache else None
    if cache_dir is not None:
        cache_dir.mkdir(exist_ok=True)
    from edgeinspect.backends.signal_stack import restore_signal_stack

    try:
        ov.Core().compile_model(str(model_path), "CPU", compile_config(threads=threads, hint="latency", cache_dir=cache_dir))
    except RuntimeError as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else "RuntimeError"
        raise EdgeInspectError(f"{model_path}: OpenVINO cannot compile the model ({first})") from None
    finally:
        restore_signal_stack()  # compiled and destroyed: see edgeinspect.backends.signal_stack
    return []


def build_engine(
    source: str | Path,
    *,
    out: Path,
    backend: str = DEFAULT_BACKEND,
    precision: Precision | str = Precision.FP32,
    calib: Path | str | None = None,
    gate_data: Path | str | None = None,
    max_drop: float = DEFAULT_MAX_DROP,
    threads: int | None = None,
    calib_count: int | None = None,
    gate_count: int | None = None,
    force: bool = False,
    progress: Progress | None = None,
) -> BuildResult:
    """Build a CPU engine folder.

    Args:
        source: checkpoint ``.pt``, exported ``.onnx`` (standard-op form) or ``"default"``.
        out: the engine folder to create (``engines/NAME``).
        backend: ``"openvino"`` (default) or ``"onnxruntime"``.
        precision: ``"fp32"`` or ``"int8"``.
        calib: INT8 calibration source (folder of images, image/mask dataset, calib list YAML);
            ``None``: tiles cut from the synthetic webs.
        gate_data: labelled images for the accuracy gate (dataset folder or YAML); see module docstring.
        max_drop: largest accepted INT8 mIoU drop, percentage points.
        threads: CPU threads used by the gate and recorded for the engine (``None``: runtime default).
        calib_count: at most this many calibration tiles (default ``calibration.DEFAULT_COUNT``, 256).
        gate_count: at most this many gate tiles (default ``calibration.DEFAULT_HELD_OUT``, 128).
        force: replace an existing ``out`` (only once the new build succeeded).
        progress: called with a short message before each step.

    Returns:
        :class:`BuildResult`.

    Raises:
        EdgeInspectError: bad option, missing source, plugin-form ONNX, ``out`` exists without
            ``force``, or the INT8 gate refused the build (``out`` is then untouched).
    """
    from edgeinspect.export import calibration as calibration_module

    progress = progress or (lambda message: None)
    if backend not in CPU_BACKENDS:
        raise EdgeInspectError(f"backend {backend!r} is not a CPU backend this build supports; choose {' or '.join(CPU_BACKENDS)}")
    try:
        precision = Precision(precision)
    except ValueError:
        raise EdgeInspectError(f"precision must be fp32 or int8, got {precision!r}") from None
    if max_drop < 0:
        raise EdgeInspectError(f"--max-drop must be >= 0 points, got {max_drop}")
    if precision is Precision.FP32 and (calib is not None or gate_data is not None):
        raise EdgeInspectError("--calib/--gate-data only apply to --precision int8")
    out = check_engine_out(Path(out), force=force)
    source_path = resolve_source(source)
    make_folder(out.parent)
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.building-", dir=out.parent))
    umask = os.umask(0)
    os.umask(umask)
    work.chmod(0o777 & ~umask)
    try:
        meta = _stage_fp32(source_path, work, progress)
        tile_hw = tuple(int(v) for v in meta["tile_hw"])
        outputs = tuple(n for n in meta.get("outputs", ("prob",)) if n in OUTPUT_NAMES) or ("prob",)
        files = [FP32_NAME]
        model_file, encoding = FP32_NAME, None
        calibration_record = metrics = None
        if precision is Precision.INT8:
            from edgeinspect.export.quantize import FILE_NAMES, RANGES_NAME, quantize_qdq

            progress("reading calibration images")
            calib_set = calibration_module.load_calibration(
                calib, tile_hw=tile_hw, count=calib_count or calibration_module.DEFAULT_COUNT,
                held_out=gate_count or calibration_module.DEFAULT_HELD_OUT,
            )
            # The symmetric int8 file is the canonical artefact (what TensorRT's explicit quantization
            # takes). The CPU engines run the uint8 re-encoding of the same ranges: on lpcnet-lite the
            # symmetric file lost ~5 mIoU points against FP32 in both OpenVINO and ONNX Runtime (half of
            # the range wasted on post-activation tensors), the asymmetric one < 1 (README, "INT8").
            encodings = [Encoding.INT8_SYMMETRIC, Encoding.UINT8_ASYMMETRIC]
            progress(f"calibrating on {calib_set.tiles.shape[0]} tiles and writing QDQ INT8")
            quantized = quantize_qdq(work / FP32_NAME, calib_set.tiles, out_dir=work, encodings=encodings)
            files += [FILE_NAMES[e] for e in encodings] + [RANGES_NAME]
            encoding = encodings[-1]
            model_file = FILE_NAMES[encoding]
            if gate_data is not None:
                gate_tiles, gate_masks = calibration_module.load_gate_set(
                    gate_data, tile_hw=tile_hw, count=gate_count or calibration_module.DEFAULT_HELD_OUT)
                gate_source = str(gate_data)
            elif calib_set.held_out.shape[0] > 0:
                gate_tiles, gate_masks, gate_source = calib_set.held_out, calib_set.held_out_masks, calib_set.source
            else:
                gate_tiles, gate_masks = calibration_module.synthetic_gate_set(
                    tile_hw, gate_count or calibration_module.DEFAULT_HELD_OUT)
                gate_source = "synthetic"
            if gate_tiles.shape[0] == 0:
                raise EdgeInspectError(f"{gate_data or calib}: no images with masks for the INT8 accuracy gate")
            progress(f"accuracy gate: FP32 vs INT8 on {gate_tiles.shape[0]} held-aside tiles")
            metrics = _gate(
                backend, work / FP32_NAME, work / model_file, gate_tiles, gate_masks, threads=threads,
                tile_hw=tile_hw, outputs=outputs, max_drop=max_drop, gate_source=gate_source, out=out,
            )
            calibration_record = {**calib_set.describe(), "method": quantized.method}
        progress(f"compiling for {backend}")
        files += _warm_up(backend, work, model_file, threads, cache=False)
        manifest = Manifest(
            backend=backend,
            precision=precision.value,
            encoding=encoding.value if encoding else None,
            op_form=OpForm.STANDARD.value,
            network={"arch": meta.get("arch", "unknown"), "kwargs": meta.get("kwargs", {})},
            tile_hw=tile_hw,
            input_name=INPUT_NAME,
            input_dtype="float32",
            output_names=outputs,
            model_file=model_file,
            files=hash_files(work, files),
            versions=_versions(backend, meta.get("opset"), precision),
            calibration=calibration_record,
            metrics=metrics,
            created=utc_now(),
            options={"threads": threads, "source": str(source)},
        )
        write_manifest(work, manifest)
        for name in files:
            (work / name).chmod(0o666 & ~umask)
        _place(work, out, force=force)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    if backend == "openvino":
        progress("filling the OpenVINO compile cache")
        _warm_up(backend, out, model_file, threads, cache=True)
    return BuildResult(out, manifest)


def check_engine_out(out: Path, *, force: bool) -> Path:
    """The ``--out`` of a build, checked before any work (nothing is created).

    ``--force`` replaces an engine folder (one holding a ``manifest.json``) or an empty folder,
    never anything else: an ``--out`` mistyped onto a dataset must not delete it.

    Raises:
        EdgeInspectError: ``out`` exists (without ``force``), is not an engine folder (with it),
            or its parent cannot be a folder.
    """
    if out.exists():
        engine_folder = out.is_dir() and ((out / MANIFEST_NAME).is_file() or not any(out.iterdir()))
        if engine_folder and not force:
            raise EdgeInspectError(f"{out}: already exists; pass --force to replace it or choose another --out")
        if not engine_folder:
            raise EdgeInspectError(f"{out}: not an engine folder (no {MANIFEST_NAME}): --force replaces only "
                                   f"engine folders; choose another --out")
    check_folder_path(out.parent)
    return out


def _place(work: Path, out: Path, *, force: bool) -> None:
    """Rename the finished build folder to ``out`` (replacing it when ``force``)."""
    if not out.exists():
        os.replace(work, out)
        return
    if not force:
        raise EdgeInspectError(f"{out}: appeared during the build; pass --force to replace it")
    backup = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
    backup.rmdir()
    os.replace(out, backup)
    try:
        os.replace(work, out)
    except OSError:
        os.replace(backup, out)
        raise
    shutil.rmtree(backup, ignore_errors=True)
