"""What this machine offers: Python, runtimes, optional extras, accelerators, CPU features.

Every probe is guarded: a missing optional package is reported as ``None`` (not installed), never
an error, so ``edgeinspect info`` runs on a bare edge box.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import platform
import sys
from pathlib import Path


def _version(dist: str) -> str | None:
    """Installed version of distribution ``dist``, or None when it is not installed."""
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def usable_cores() -> int:
    """CPU cores (logical) this process may run on: its affinity mask, ``os.cpu_count()`` where unknown."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def cpu_features() -> dict[str, object]:
    """CPU model, logical core count and the SIMD flags that matter for INT8 (Linux /proc/cpuinfo)."""
    flags: set[str] = set()
    model = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            key = key.strip()
            if key == "flags" and not flags:
                flags = set(value.split())
            elif key == "model name":
                model = value.strip()
    return {
        "model": model,
        "logical_cores": os.cpu_count(),
        "avx2": "avx2" in flags,
        "avx512f": "avx512f" in flags,
        "avx512_vnni": "avx512_vnni" in flags,
        "avx_vnni": "avx_vnni" in flags,
        "amx_int8": "amx_int8" in flags,
    }


def _openvino() -> dict[str, object] | None:
    if _version("openvino") is None:
        return None
    try:
        import openvino as ov

        core = ov.Core()
        devices = {d: core.get_property(d, "FULL_DEVICE_NAME") for d in core.available_devices}
    except Exception as error:  # a broken install is reported, not raised
        return {"version": _version("openvino"), "error": f"{type(error).__name__}: {error}"}
    return {"version": _version("openvino"), "devices": devices}


def _onnxruntime() -> dict[str, object] | None:
    if _version("onnxruntime") is None and _version("onnxruntime-gpu") is None:
        return None
    import onnxruntime as ort

    return {"version": ort.__version__, "providers": ort.get_available_providers()}


def _tensorrt() -> dict[str, object] | None:
    try:
        trt = importlib.import_module("tensorrt")
    except ImportError:
        return None
    return {"version": getattr(trt, "__version__", "unknown")}


def _cuda_devices() -> list[dict[str, object]] | str:
    """CUDA devices through cuda-bindings, or a string saying why there are none."""
    try:
        from cuda.bindings import runtime as cudart
    except ImportError:
        return "cuda-bindings not installed (extra 'tensorrt')"
    err, count = cudart.cudaGetDeviceCount()
    if err != cudart.cudaError_t.cudaSuccess:
        return f"no CUDA device ({cudart.cudaGetErrorName(err)[1].decode()})"
    devices = []
    for index in range(count):
        err, prop = cudart.cudaGetDeviceProperties(index)
        if err == cudart.cudaError_t.cudaSuccess:
            devices.append({"index": index, "name": prop.name.decode(errors="replace").strip("\0"),
                            "compute_capability": f"{prop.major}.{prop.minor}"})
    return devices


def machine_info() -> dict[str, object]:
    """Everything ``edgeinspect info`` prints, as a JSON-ready dict (None = not installed)."""
    torch_info = None
    if _version("torch") is not None:
        torch_info = {"version": _version("torch")}
    return {
        "edgeinspect": importlib.import_module("edgeinspect").__version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "numpy": _version("numpy"),
        "opencv": _version("opencv-python-headless") or _version("opencv-python"),
        "onnxruntime": _onnxruntime(),
        "openvino": _openvino(),
        "torch": torch_info,
        "harvesters": _version("harvesters"),
        "genicam": _version("genicam"),
        "tensorrt": _tensorrt(),
        "cuda_nvrtc": _version("nvidia-cuda-nvrtc"),
        "cuda_devices": _cuda_devices(),
        "cpu": cpu_features(),
    }
