"""TensorRT plugin ``edgeinspect::strip_projection``: a ``tensorrt.plugin`` AOT plugin (TensorRT >= 10.9).

The kernel is ``kernel.cu`` next to this file, compiled to PTX by NVRTC while TensorRT builds the
engine (``aot_impl``), so the engine is self-contained: it runs without Python (``trtexec``, C++).
Names, inputs and attributes come from :mod:`~edgeinspect.ops.strip_projection.spec`, shared with the
exporter. The op has no attributes: its weights are the inputs ``w_row, b_row, w_col, b_col``.

Importing this module needs neither TensorRT nor a GPU (the CLI and tests use :func:`entry_name`,
:func:`default_defines`, :data:`KERNEL_SOURCE`); :func:`register` needs TensorRT >= 10.9 and raises
one-line :class:`~edgeinspect.errors.EdgeInspectError` otherwise. Call it before parsing the ONNX.

PTX ISA vs driver: the PTX carries the ISA of the NVRTC installed on the build machine (13.5 -> ISA
9.5, needs a CUDA 13.5 driver); ``aot_impl`` refuses PTX the driver cannot load and names the NVRTC pin
to install (see :mod:`edgeinspect.ops.ptx`).

Example:
    >>> from edgeinspect.ops.strip_projection import plugin
    >>> plugin.register()                     # then trt.OnnxParser(...).parse(...)
"""

# No `from __future__ import annotations`: tensorrt.plugin validates the annotation objects themselves.

from pathlib import Path
from typing import List, Tuple, Union

from edgeinspect.errors import EdgeInspectError
from edgeinspect.ops import ptx, qdp
from edgeinspect.ops.strip_projection import spec

KERNEL_SOURCE = Path(__file__).with_name("kernel.cu")
PLUGIN_VERSION = spec.PLUGIN_VERSION  # tensorrt.plugin registers every QDP creator as version "1"
KERNEL_VERSION = 1
THREADS = 256                        # block size of kernel.cu (SP_THREADS)
STATIC_SMEM_BYTES = 8 * 32 * 4       # sp_part[8][32] floats
MAX_SMEM_BYTES = 48 * 1024           # per-block default without opt-in (also the AMPERE_PLUS cap)
MAX_H_PLUS_W = (MAX_SMEM_BYTES - STATIC_SMEM_BYTES) // 4   # 12032: row[W] + col[H] floats
# What register() declares after the tensor inputs: (name, Python annotation), in order. None here.
ATTRIBUTES: tuple[tuple[str, type], ...] = ()

def entry_name(dtype: str) -> str:
    """PTX ``.entry`` of the ``"fp32"`` or ``"fp16"`` kernel."""
    return qdp.entry_name(spec, dtype)


def kernel_defines() -> dict[str, str]:
    """``-D`` macros of the kernel: none (every size is a run-time argument)."""
    return {}


def default_defines() -> dict[str, str]:
    """Defines used by ``edgeinspect plugins compile``: the same as :func:`kernel_defines`."""
    return kernel_defines()


def attribute_kinds() -> tuple[tuple[str, str], ...]:
    """:data:`ATTRIBUTES` in spec form ``(name, "int"|"float"|"floats"|...)``; must equal ``spec.ATTRIBUTES``."""
    return qdp.attribute_kinds(ATTRIBUTES)


def _int_cdiv(a: int, b: int) -> int:
    return -(-a // b)


def launch_config(n, c, h, w, cdiv=_int_cdiv) -> dict:
    """Launch geometry of kernel.cu for x of shape ``(n, c, h, w)``: grid (N*C), block 256, (H+W)*4 B.

    Works on ints (host emulation) and on TensorRT shape expressions (``aot_impl``, with
    ``cdiv=trtp.cdiv``): only ``+``, ``*`` and ``cdiv`` with the shape value on the left.
    """
    return {"grid_x": n * c, "grid_y": 1, "grid_z": 1, "block_x": THREADS, "block_y": 1, "block_z": 1,
            "shared_mem": (h + w) * 4}


def extra_args(n, c, h, w) -> tuple:
    """The int32 kernel arguments between the tensor inputs and the output: ``(C, H, W)``."""
    return (c, h, w)


def check_plane(height: int, width: int) -> None:
    """Raise unless one ``(H, W)`` plane fits the kernel's shared memory (``H + W <= 12032``)."""
    if height + width > MAX_H_PLUS_W:
        raise EdgeInspectError(
            f"strip_projection plugin: H + W = {height} + {width} exceeds {MAX_H_PLUS_W} (48 KiB shared memory): "
            "export this layer in the standard-op form"
        )


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

    def strip_projection_desc(
        x: trtp.TensorDesc, w_row: trtp.TensorDesc, b_row: trtp.TensorDesc, w_col: trtp.TensorDesc,
        b_col: trtp.TensorDesc,
    ) -> trtp.TensorDesc:
        if x.ndim != 4:
            raise ValueError(f"{spec.PLUGIN_ID}: x must be (N,C,H,W), got rank {x.ndim}")
        return x.like()

    def strip_projection_autotune(
        x: trtp.TensorDesc, w_row: trtp.TensorDesc, b_row: trtp.TensorDesc, w_col: trtp.TensorDesc,
        b_col: trtp.TensorDesc, outputs: Tuple[trtp.TensorDesc],
    ) -> List[trtp.AutoTuneCombination]:
        # All six I/O FP32, or all six FP16; contiguous only (the kernel gets no strides).
        return [trtp.AutoTuneCombination(", ".join(["FP32|FP16"] * 6), "LINEAR")]

    def strip_projection_aot_impl(
        x: trtp.TensorDesc, w_row: trtp.TensorDesc, b_row: trtp.TensorDesc, w_col: trtp.TensorDesc,
        b_col: trtp.TensorDesc, outputs: Tuple[trtp.TensorDesc], tactic: int,
    ) -> Tuple[Union[str, bytes], Union[str, bytes], trtp.KernelLaunchParams, trtp.SymExprs]:
        dtype = {trt.float32: "fp32", trt.float16: "fp16"}.get(x.dtype)
        if dtype is None:
            raise ValueError(f"{spec.PLUGIN_ID}: unsupported dtype {x.dtype} (FP32 or FP16)")
        n, c, h, w = (x.shape_expr[i] for i in range(4))
        h_value, w_value = qdp.constant(h), qdp.constant(w)
        if h_value is not None and w_value is not None:
            check_plane(h_value, w_value)
        code = ptx.build_time_ptx(KERNEL_SOURCE, defines=kernel_defines())
        launch = trtp.KernelLaunchParams()
        for key, value in launch_config(n, c, h, w, cdiv=trtp.cdiv).items():
            setattr(launch, key, value)
        scalars = trtp.SymIntExprs.from_tuple([trtp.SymInt32(e) for e in extra_args(n, c, h, w)])
        return entry_name(dtype), code, launch, scalars

    functions = {"register": strip_projection_desc, "autotune": strip_projection_autotune,
                 "aot_impl": strip_projection_aot_impl}
    return qdp.install(trtp, spec, functions, ATTRIBUTES)
