"""TensorRT plugin ``edgeinspect::pixel_confidence`` (LPC-Net PCM): a ``tensorrt.plugin`` AOT plugin (TensorRT >= 10.9).

The kernel is ``kernel.cu`` next to this file. Its attributes (``kernel`` weights, ``kernel_size``,
``epsilon``) are baked into the PTX as compile-time constants: AOT plugins get only int32 scalars at
run time and TensorRT does not serialize their attributes, so ``aot_impl`` compiles the kernel with
NVRTC and the ``-D`` macros from :func:`kernel_defines` while the engine is built. The engine is
then self-contained (runs without Python: ``trtexec``, C++). Names, inputs and attribute order come
from :mod:`~edgeinspect.ops.pixel_confidence.spec`, shared with the exporter.

Importing this module needs neither TensorRT nor a GPU; :func:`register` needs TensorRT >= 10.9 and
raises one-line :class:`~edgeinspect.errors.EdgeInspectError` otherwise. Call it before parsing the ONNX.

PTX ISA vs driver: the PTX carries the ISA of the NVRTC on the build machine (13.5 -> ISA 9.5, needs a
CUDA 13.5 driver); ``aot_impl`` refuses PTX the driver cannot load and names the NVRTC pin to install
(see :mod:`edgeinspect.ops.ptx`).

Example:
    >>> from edgeinspect.ops.pixel_confidence import plugin
    >>> plugin.kernel_defines(np.full(9, 1 / 9, np.float32), 3, 0.2)["PCM_K"]
    '3'
"""

# No `from __future__ import annotations`: tensorrt.plugin validates the annotation objects themselves.

from pathlib import Path
from typing import List, Tuple, Union

import numpy as np
import numpy.typing as npt

from edgeinspect.errors import EdgeInspectError
from edgeinspect.ops import ptx, qdp
from edgeinspect.ops.pixel_confidence import spec
from edgeinspect.ops.pixel_confidence.reference import DEFAULT_EPSILON, DEFAULT_KERNEL_SIZE, mean_kernel

KERNEL_SOURCE = Path(__file__).with_name("kernel.cu")
PLUGIN_VERSION = spec.PLUGIN_VERSION  # tensorrt.plugin registers every QDP creator as version "1"
KERNEL_VERSION = 1
TILE = 32                         # output tile edge (PCM_TILE)
ROWS = 8                          # block is TILE x ROWS threads (PCM_ROWS)
MAX_KERNEL_SIZE = 31
MAX_PLANES = 65535                # grid z = N * C
FloatArray = npt.NDArray[np.float32]
# What register() declares after the tensor input: (name, Python annotation), in spec order.
ATTRIBUTES: tuple[tuple[str, object], ...] = (("kernel", FloatArray), ("kernel_size", int), ("epsilon", float))

def entry_name(dtype: str) -> str:
    """PTX ``.entry`` of the ``"fp32"`` or ``"fp16"`` kernel."""
    return qdp.entry_name(spec, dtype)


def _hex(value: float) -> str:
    """Exact C++17 float literal of ``value`` rounded to float32, e.g. ``0x1.99999a0000000p-3f``."""
    return float(np.float32(value)).hex() + "f"


def kernel_defines(kernel: np.ndarray, kernel_size: int, epsilon: float) -> dict[str, str]:
    """The ``-D`` macros that bake the plugin attributes into ``kernel.cu``.

    Args:
        kernel: ``k*k`` (or ``(k, k)``) fixed weights, row-major, >= 0 with a positive sum (ONNX FLOATS).
        kernel_size: odd ``k`` in 1..31.
        epsilon: half-width of the confidence band, ``0 <= epsilon < 1``.

    Returns:
        ``PCM_K``, ``PCM_WEIGHTS`` (brace list of float32 hex literals), ``PCM_SCALE`` = 2 eps / sum(K)
        and ``PCM_BASE`` = 1 - eps, the last two as float32 hex literals.

    Raises:
        EdgeInspectError: an attribute out of range, naming it.
    """
    k = int(kernel_size)
    if k < 1 or k > MAX_KERNEL_SIZE or k % 2 == 0:
        raise EdgeInspectError(f"{spec.PLUGIN_ID}: attribute 'kernel_size' must be odd in 1..{MAX_KERNEL_SIZE}, got {k}")
    weights = np.asarray(kernel, dtype=np.float32).reshape(-1)
    if weights.size != k * k:
        raise EdgeInspectError(f"{spec.PLUGIN_ID}: attribute 'kernel' needs {k * k} weights for kernel_size {k}, "
                               f"got {weights.size}")
    total = float(weights.astype(np.float64).sum())
    if not np.isfinite(weights).all() or (weights < 0).any() or total <= 0:
        raise EdgeInspectError(f"{spec.PLUGIN_ID}: attribute 'kernel' weights must be finite, >= 0, with a positive sum")
    eps = float(epsilon)
    if not 0.0 <= eps < 1.0:
        raise EdgeInspectError(f"{spec.PLUGIN_ID}: attribute 'epsilon' must be in [0, 1), got {eps}")
    return {
        "PCM_K": str(k),
        "PCM_WEIGHTS": "{" + ",".join(_hex(w) for w in weights) + "}",
        "PCM_SCALE": _hex(2.0 * eps / total),
        "PCM_BASE": _hex(1.0 - eps),
    }


def default_defines() -> dict[str, str]:
    """Defines of the default attributes (3x3 mean, epsilon 0.2): what ``edgeinspect plugins compile`` builds."""
    return kernel_defines(mean_kernel(DEFAULT_KERNEL_SIZE), DEFAULT_KERNEL_SIZE, DEFAULT_EPSILON)


def attribute_kinds() -> tuple[tuple[str, str], ...]:
    """:data:`ATTRIBUTES` in spec form ``(name, "int"|"float"|"floats"|...)``; must equal ``spec.ATTRIBUTES``."""
    return qdp.attribute_kinds(ATTRIBUTES)


def _int_cdiv(a: int, b: int) -> int:
    return -(-a // b)


def launch_config(n, c, h, w, cdiv=_int_cdiv) -> dict:
    """Launch geometry of kernel.cu for y of shape ``(n, c, h, w)``: grid (ceil(W/32), ceil(H/32), N*C),
    block (32, 8), no dynamic shared memory.

    Works on ints (host emulation) and on TensorRT shape expressions (``aot_impl``, with
    ``cdiv=trtp.cdiv``): only ``*`` and ``cdiv`` with the shape value on the left.
    """
    return {"grid_x": cdiv(w, TILE), "grid_y": cdiv(h, TILE), "grid_z": n * c, "block_x": TILE, "block_y": ROWS,
            "block_z": 1, "shared_mem": 0}


def extra_args(n, c, h, w) -> tuple:
    """The int32 kernel arguments between the tensor input and the output: ``(H, W)``."""
    return (h, w)


def register() -> None:
    """Register the plugin with TensorRT (idempotent; see :func:`edgeinspect.ops.qdp.register_once`).

    Raises:
        EdgeInspectError: TensorRT missing or older than 10.9, NVRTC missing, or a driver older than
            the PTX ISA needs.
    """
    qdp.register_once(spec, define)


def define(trt, trtp) -> dict:
    """Define the QDP with the given ``tensorrt`` and ``tensorrt.plugin`` modules; returns the functions.

    Separate from :func:`register` so the definitions can be inspected with stand-in modules on a
    machine without TensorRT (tests check them against ``spec``).
    """

    def pixel_confidence_desc(
        y_isr: trtp.TensorDesc, kernel: FloatArray, kernel_size: int, epsilon: float,
    ) -> trtp.TensorDesc:
        if y_isr.ndim != 4:
            raise ValueError(f"{spec.PLUGIN_ID}: y_isr must be (N,1,H,W), got rank {y_isr.ndim}")
        return y_isr.like()

    def pixel_confidence_autotune(
        y_isr: trtp.TensorDesc, kernel: FloatArray, kernel_size: int, epsilon: float,
        outputs: Tuple[trtp.TensorDesc],
    ) -> List[trtp.AutoTuneCombination]:
        # Input and output both FP32 or both FP16; contiguous only (the kernel gets no strides).
        return [trtp.AutoTuneCombination("FP32|FP16, FP32|FP16", "LINEAR")]

    def pixel_confidence_aot_impl(
        y_isr: trtp.TensorDesc, kernel: FloatArray, kernel_size: int, epsilon: float,
        outputs: Tuple[trtp.TensorDesc], tactic: int,
    ) -> Tuple[Union[str, bytes], Union[str, bytes], trtp.KernelLaunchParams, trtp.SymExprs]:
        dtype = {trt.float32: "fp32", trt.float16: "fp16"}.get(y_isr.dtype)
        if dtype is None:
            raise ValueError(f"{spec.PLUGIN_ID}: unsupported dtype {y_isr.dtype} (FP32 or FP16)")
        defines = kernel_defines(kernel, kernel_size, epsilon)   # attributes are consumed here, at build time
        n, c, h, w = (y_isr.shape_expr[i] for i in range(4))
        planes = [qdp.constant(n), qdp.constant(c)]
        if None not in planes and planes[0] * planes[1] > MAX_PLANES:
            raise EdgeInspectError(f"{spec.PLUGIN_ID}: N*C = {planes[0] * planes[1]} exceeds {MAX_PLANES} (grid z)")
        code = ptx.build_time_ptx(KERNEL_SOURCE, defines=defines)
        launch = trtp.KernelLaunchParams()
        for key, value in launch_config(n, c, h, w, cdiv=trtp.cdiv).items():
            setattr(launch, key, value)
        scalars = trtp.SymIntExprs.from_tuple([trtp.SymInt32(e) for e in extra_args(n, c, h, w)])
        return entry_name(dtype), code, launch, scalars

    functions = {"register": pixel_confidence_desc, "autotune": pixel_confidence_autotune,
                 "aot_impl": pixel_confidence_aot_impl}
    return qdp.install(trtp, spec, functions, ATTRIBUTES)
