"""Host (CPU) form of the ops' CUDA kernels: g++ builds ``<op>/host.cpp`` (which includes ``kernel.cu``)
into a shared library, loaded with ctypes, so CPU tests run the kernels themselves.

``kernel.cu`` keeps every per-element operation in ``__host__ __device__`` functions; its device
section (``__global__`` kernels, shared memory, ``__syncthreads``, warp shuffles) compiles for the
host under ``include/cuda_emulation.h``, which runs each CUDA thread as a fiber, one block at a time.
The launch geometry is the TensorRT plugin's own (``plugin.launch_config``), the scalar arguments are
``plugin.extra_args``. Both compilers avoid mul+add contraction (NVRTC ``--fmad=false``, g++
``-ffp-contract=off``; FMAs are explicit ``fmaf``), so FP32 host results are the device's results.
FP16 I/O uses g++'s IEEE ``_Float16`` (round to nearest even, like ``__float2half_rn``). The
emulation is for correctness, not speed: keep test tensors small.

Libraries are cached by a hash of the sources, defines and compiler in ``cache_dir`` (default
``$EDGEINSPECT_CACHE_DIR/host`` or ``~/.cache/edgeinspect/host``).

Example:
    >>> y = run_strip_projection(x, w_row, b_row, w_col, b_col)     # (N,C,H,W) like x, float32 or float16
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from edgeinspect.errors import EdgeInspectError

OPS_DIR = Path(__file__).resolve().parent
INCLUDE_DIR = OPS_DIR / "include"
# Hidden visibility + no GNU unique symbols: every library (one per PCM define set) keeps its own
# static __shared__ arrays and emulator state even when several are loaded into one process.
CXX_FLAGS = ("-O2", "-std=c++17", "-shared", "-fPIC", "-ffp-contract=off", "-fno-fast-math",
             "-fvisibility=hidden", "-fvisibility-inlines-hidden", "-fno-gnu-unique")
_DTYPES = {np.dtype(np.float32): "fp32", np.dtype(np.float16): "fp16"}


def default_cache_dir() -> Path:
    """``$EDGEINSPECT_CACHE_DIR/host``, else ``~/.cache/edgeinspect/host``."""
    root = os.environ.get("EDGEINSPECT_CACHE_DIR")
    return (Path(root) if root else Path.home() / ".cache" / "edgeinspect") / "host"


@functools.cache
def _compiler() -> tuple[str, str]:
    cxx = os.environ.get("CXX") or shutil.which("g++")
    if not cxx:
        raise EdgeInspectError("g++ not found: install a C++17 compiler (apt-get install g++) or set CXX")
    version = subprocess.run([cxx, "--version"], capture_output=True, text=True, check=False).stdout
    return cxx, version.splitlines()[0] if version else ""


def build_library(op: str, *, defines: Mapping[str, str] | None = None, cache_dir: Path | None = None) -> Path:
    """Compile ``edgeinspect/ops/<op>/host.cpp`` with ``defines`` into a cached shared library.

    Args:
        op: ``"strip_projection"`` or ``"pixel_confidence"``.
        defines: ``-D`` macros, the same the NVRTC build gets (``plugin.kernel_defines``).
        cache_dir: where libraries live; default :func:`default_cache_dir`.

    Returns:
        Path of the ``.so``.

    Raises:
        EdgeInspectError: no compiler, unknown op, or a compile error (first lines of its output).
    """
    source = OPS_DIR / op / "host.cpp"
    if not source.is_file():
        raise EdgeInspectError(f"no host form for op {op!r} ({source} missing)")
    cxx, cxx_version = _compiler()
    flags = [*CXX_FLAGS, f"-I{source.parent}", f"-I{INCLUDE_DIR}",
             *(f"-D{k}={v}" for k, v in sorted((defines or {}).items()))]
    digest = hashlib.sha256()
    for part in (source.read_bytes(), (source.parent / "kernel.cu").read_bytes(),
                 (INCLUDE_DIR / "cuda_emulation.h").read_bytes(), " ".join(flags).encode(), cxx_version.encode()):
        digest.update(part)
    cache = cache_dir or default_cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    library = cache / f"{op}-{digest.hexdigest()[:16]}.so"
    if library.is_file():
        return library
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        partial = Path(tmp) / library.name
        result = subprocess.run([cxx, *flags, str(source), "-o", str(partial)], capture_output=True, text=True,
                                check=False)
        if result.returncode != 0:
            first = " | ".join(result.stderr.strip().splitlines()[:6])
            raise EdgeInspectError(f"{cxx} failed on {source}: {first}")
        os.replace(partial, library)   # atomic: parallel builders never see half a library
    return library


@functools.lru_cache(maxsize=32)
def _load(path: Path) -> ctypes.CDLL:
    return ctypes.CDLL(str(path))


def _dtype_name(array: np.ndarray) -> str:
    name = _DTYPES.get(array.dtype)
    if name is None:
        raise EdgeInspectError(f"host kernels take float32 or float16 arrays, got {array.dtype}")
    return name


def _ptr(array: np.ndarray) -> ctypes.c_void_p:
    return ctypes.c_void_p(array.ctypes.data)


def _launch(library: Path, entry: str, inputs: list[np.ndarray], scalars: tuple, output: np.ndarray,
            config: dict) -> None:
    """Call ``<entry>_launch(inputs..., int32 scalars..., output, grid_block, shared_bytes)`` of the library."""
    fn = getattr(_load(library), f"{entry}_launch")
    fn.restype = None
    grid_block = (ctypes.c_uint * 6)(*(int(config[k]) for k in ("grid_x", "grid_y", "grid_z", "block_x", "block_y",
                                                                 "block_z")))
    fn(*(_ptr(a) for a in inputs), *(ctypes.c_int(int(v)) for v in scalars), _ptr(output), grid_block,
       ctypes.c_ulonglong(int(config["shared_mem"])))


def run_strip_projection(x: np.ndarray, w_row: np.ndarray, b_row: np.ndarray, w_col: np.ndarray,
                         b_col: np.ndarray, *, cache_dir: Path | None = None) -> np.ndarray:
    """Strip projection through ``strip_projection/kernel.cu`` run on the CPU (see module docstring).

    Args:
        x: ``(N,C,H,W)`` float32 or float16.
        w_row, b_row, w_col, b_col: ``(C,H)``, ``(C,)``, ``(C,W)``, ``(C,)``, cast to ``x``'s dtype.
        cache_dir: library cache, see :func:`build_library`.

    Returns:
        ``(N,C,H,W)`` in ``x``'s dtype (FP32 arithmetic inside).
    """
    from edgeinspect.ops.strip_projection import plugin

    x = np.ascontiguousarray(x)
    dtype = _dtype_name(x)
    if x.ndim != 4:
        raise EdgeInspectError(f"strip_projection: x must be (N,C,H,W), got shape {x.shape}")
    n, c, h, w = x.shape
    weights = [np.ascontiguousarray(a, dtype=x.dtype) for a in (w_row, b_row, w_col, b_col)]
    for name, array, shape in zip(("w_row", "b_row", "w_col", "b_col"), weights, ((c, h), (c,), (c, w), (c,))):
        if array.shape != shape:
            raise EdgeInspectError(f"strip_projection: {name} must have shape {shape} for x {x.shape}, got {array.shape}")
    y = np.empty_like(x)
    _launch(build_library("strip_projection", defines=plugin.kernel_defines(), cache_dir=cache_dir),
            plugin.entry_name(dtype), [x, *weights], plugin.extra_args(n, c, h, w), y, plugin.launch_config(n, c, h, w))
    return y


def run_pixel_confidence(y_isr: np.ndarray, kernel: np.ndarray | None = None, epsilon: float = 0.2, *,
                         cache_dir: Path | None = None) -> np.ndarray:
    """PCM through ``pixel_confidence/kernel.cu`` run on the CPU, compiled with the plugin's defines.

    Args:
        y_isr: ``(N,C,H,W)`` (C = 1 for the PCM) float32 or float16 probabilities in [0, 1].
        kernel: ``(k, k)`` fixed weights; default the 3x3 mean.
        epsilon: ``0 <= epsilon < 1``.
        cache_dir: library cache, see :func:`build_library`.

    Returns:
        ``y_fsr`` with ``y_isr``'s shape and dtype.
    """
    from edgeinspect.ops.pixel_confidence import plugin
    from edgeinspect.ops.pixel_confidence.reference import mean_kernel

    y_isr = np.ascontiguousarray(y_isr)
    dtype = _dtype_name(y_isr)
    if y_isr.ndim != 4:
        raise EdgeInspectError(f"pixel_confidence: y_isr must be (N,C,H,W), got shape {y_isr.shape}")
    kernel = mean_kernel() if kernel is None else np.asarray(kernel, dtype=np.float32)
    if kernel.ndim != 2 or kernel.shape[0] != kernel.shape[1]:
        raise EdgeInspectError(f"pixel_confidence: kernel must be square (k, k), got shape {kernel.shape}")
    defines = plugin.kernel_defines(kernel.reshape(-1), kernel.shape[0], epsilon)
    n, c, h, w = y_isr.shape
    out = np.empty_like(y_isr)
    _launch(build_library("pixel_confidence", defines=defines, cache_dir=cache_dir), plugin.entry_name(dtype),
            [y_isr], plugin.extra_args(n, c, h, w), out, plugin.launch_config(n, c, h, w))
    return out
