"""Inference engines: one small class per runtime behind one :class:`~edgeinspect.backends.base.Engine` API.

:func:`load` opens whatever a path names:

- an engine folder (``engines/NAME`` with ``manifest.json``, written by ``edgeinspect build``): the
  class the manifest's ``backend`` names (``openvino``, ``onnxruntime``, ``tensorrt``), after checking
  every file's sha256;
- a raw ``.onnx`` file: an ONNX Runtime FP32 engine without manifest (for comparisons);
- a ``.pt`` checkpoint: PyTorch eager (for comparisons; needs the ``train`` extra).

The runtime path imports no torch: runtimes are imported when an engine opens.

Example:
    >>> from edgeinspect import backends
    >>> with backends.load("engines/lite-int8", threads=2) as engine:
    ...     probs = engine.infer(tiles)["prob"]       # (N,1,H,W) float32 in [0,1]
"""

from __future__ import annotations

import importlib
from pathlib import Path

from edgeinspect.backends.base import Engine, InferenceStats
from edgeinspect.backends.manifest import MANIFEST_NAME, Manifest, read_manifest
from edgeinspect.errors import EdgeInspectError

__all__ = ["BACKENDS", "Engine", "InferenceStats", "Manifest", "engine_class", "load", "read_manifest"]

#: Backend name → "module:Class"; modules are imported only when that backend is used.
BACKENDS: dict[str, str] = {
    "openvino": "edgeinspect.backends.openvino:OpenVINOEngine",
    "onnxruntime": "edgeinspect.backends.onnxruntime:OnnxRuntimeEngine",
    "tensorrt": "edgeinspect.backends.tensorrt:TensorRTEngine",
    "torch": "edgeinspect.backends.torch:TorchEngine",
}


def engine_class(backend: str, *, manifest_path: Path | None = None) -> type[Engine]:
    """The Engine subclass for a backend name.

    Args:
        backend: the name (``BACKENDS``).
        manifest_path: the ``manifest.json`` that named it, for the message when it is unknown.

    Raises:
        EdgeInspectError: unknown backend, or its module is not available here.
    """
    if backend not in BACKENDS:
        if manifest_path is not None:
            raise EdgeInspectError(f"{manifest_path}: unknown backend {backend!r} "
                                   f"(known: {', '.join(BACKENDS)}); rebuild the engine")
        raise EdgeInspectError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    module_name, class_name = BACKENDS[backend].split(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise EdgeInspectError(f"backend {backend!r} is not available in this install ({error})") from None
    return getattr(module, class_name)


def load(path: str | Path, *, threads: int | None = None, hint: str = "latency",
         concurrent_calls: int = 1) -> Engine:
    """Make the engine a path names (not opened yet: use ``with`` or ``.open()``).

    Args:
        path: an engine folder with ``manifest.json``, a ``.onnx`` model or a ``.pt`` checkpoint.
        threads: CPU threads for inference (``None``: the runtime's default).
        hint: ``"latency"`` (default) or ``"throughput"``.
        concurrent_calls: ``infer`` calls the caller makes at once from as many threads (default
            1); the engine's ``concurrent_calls`` says how many it runs concurrently (ONNX Runtime:
            each with ``threads / concurrent_calls`` threads; other backends: 1).

    Returns:
        An unopened :class:`Engine`; its ``manifest`` is checked already (sha256 of every file).

    Raises:
        EdgeInspectError: the path is missing, the manifest is missing/incomplete, a file was
            changed after the build, the backend is not available, or ``threads`` is outside
            ``1..MAX_ENGINE_THREADS``.
    """
    from edgeinspect.config import MAX_ENGINE_THREADS

    if threads is not None and not 1 <= threads <= MAX_ENGINE_THREADS:
        raise EdgeInspectError(f"threads must be 1..{MAX_ENGINE_THREADS}, got {threads}")
    path = Path(path)
    if path.is_dir():
        manifest = read_manifest(path)
        return engine_class(manifest.backend, manifest_path=path / MANIFEST_NAME)(path, manifest, threads=threads, hint=hint, concurrent_calls=concurrent_calls)
    if not path.exists():
        raise EdgeInspectError(f"{path}: not found; give an engine folder (edgeinspect build --out ...), a .onnx or a .pt file")
    suffix = path.suffix.lower()
    if suffix == ".onnx":
        return engine_class("onnxruntime")(path, None, threads=threads, hint=hint, concurrent_calls=concurrent_calls)
    if suffix in (".pt", ".pth"):
        return engine_class("torch")(path, None, threads=threads, hint=hint, concurrent_calls=concurrent_calls)
    if path.name == MANIFEST_NAME:
        return load(path.parent, threads=threads, hint=hint, concurrent_calls=concurrent_calls)
    raise EdgeInspectError(f"{path}: not an engine folder, .onnx or .pt file")
