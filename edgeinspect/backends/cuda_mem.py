"""CUDA memory, streams and copies through ``cuda-bindings`` (``cuda.bindings.runtime``), for the TensorRT backend.

Every cudart call returns a tuple whose first element is a ``cudaError_t``; :func:`cuda_call` unpacks it
and raises :class:`CudaError` (an :class:`~edgeinspect.errors.EdgeInspectError`: one line naming the
call, the CUDA error name and what to do) on anything but ``cudaSuccess``. On a machine without an
NVIDIA driver every call fails with ``cudaErrorInsufficientDriver``.

:class:`DeviceMem`, :class:`PinnedHostMem` and :class:`Stream` each own one CUDA resource: ``close()``
releases it (idempotent, raises :class:`CudaError` when CUDA refuses), they are context managers, and
a forgotten one is released when garbage collected (a failure there is logged, never silent).

Import path: ``from cuda.bindings import runtime`` (cuda-python >= 12.6.1; the old ``from cuda import
cudart`` was removed in cuda-bindings 13). Pin cuda-bindings to the device's CUDA major version.

Example:
    >>> with Stream() as stream, DeviceMem(4096) as dev, PinnedHostMem((1024,), np.float32) as host:
    ...     host.array[:] = 1.0
    ...     copy_htod_async(dev.ptr, host.ptr, host.nbytes, stream)
    ...     stream.synchronize()
"""

from __future__ import annotations

import ctypes
import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgeinspect.errors import EdgeInspectError

log = logging.getLogger(__name__)

_INSTALL_HINT = "pip install cuda-bindings (the version matching the device's CUDA major version)"

#: What to do for the CUDA errors a user can meet, by error name.
ERROR_HINTS = {
    "cudaErrorInsufficientDriver": (
        "no NVIDIA driver on this machine, or one older than the CUDA runtime cuda-bindings loads: install or update "
        "the NVIDIA driver, or pin cuda-bindings to the driver's CUDA version"
    ),
    "cudaErrorNoDevice": "no CUDA device is visible: check the GPU, its driver and CUDA_VISIBLE_DEVICES",
    "cudaErrorInvalidDevice": "no CUDA device with that index: check CUDA_VISIBLE_DEVICES",
    "cudaErrorMemoryAllocation": "out of memory: lower --max-batch, or free the GPU (nvidia-smi / tegrastats)",
    "cudaErrorUnsupportedPtxVersion": (
        "the plugin PTX is newer than this driver: rebuild the engine on this device with an NVRTC no newer than the "
        "driver (see docs/tensorrt.md)"
    ),
    "cudaErrorDevicesUnavailable": "the GPU is busy or in exclusive mode: stop the process that holds it",
}


class CudaError(EdgeInspectError):
    """A CUDA runtime call failed.

    Attributes:
        call: the call and its arguments, e.g. ``"cudaMalloc(4096 B)"``.
        error_name: the CUDA error name, e.g. ``"cudaErrorInsufficientDriver"``.
    """

    def __init__(self, call: str, error_name: str, description: str = "") -> None:
        self.call = call
        self.error_name = error_name
        hint = ERROR_HINTS.get(error_name)
        text = f"CUDA {call} failed: {error_name}"
        if description:
            text += f" ({description})"
        if hint:
            text += f"; {hint}"
        super().__init__(text)


def cudart():
    """The ``cuda.bindings.runtime`` module, or :class:`EdgeInspectError` naming the package to install."""
    try:
        from cuda.bindings import runtime
    except ImportError as error:
        raise EdgeInspectError(f"cuda-bindings is not installed ({error}): {_INSTALL_HINT}") from None
    return runtime


def error_name(err: Any) -> tuple[str, str]:
    """``(name, description)`` of a ``cudaError_t`` (or a driver ``CUresult``), e.g.
    ``("cudaErrorInsufficientDriver", "CUDA driver version is insufficient for CUDA runtime version")``."""
    rt = cudart()
    if isinstance(err, rt.cudaError_t):
        name_err, name = rt.cudaGetErrorName(err)
        text_err, text = rt.cudaGetErrorString(err)
        name = name.decode() if isinstance(name, bytes) and name_err == rt.cudaError_t.cudaSuccess else err.name
        text = text.decode() if isinstance(text, bytes) and text_err == rt.cudaError_t.cudaSuccess else ""
        return name, text
    return str(getattr(err, "name", err)), ""


def _is_success(err: Any) -> bool:
    value = getattr(err, "value", err)
    return int(value) == 0


def cuda_call(result: tuple, call: str) -> Any:
    """Unpack a cuda-bindings result tuple ``(err, *values)``; raise on an error.

    Args:
        result: what a ``cudart``/``driver`` function returned.
        call: the call for the message, e.g. ``"cudaMalloc(4096 B)"``.

    Returns:
        ``None`` for ``(err,)``, the value for ``(err, value)``, else the tuple of values.

    Raises:
        CudaError: ``err`` is not success; the message names ``call`` and the CUDA error name.
    """
    if not isinstance(result, tuple) or not result:
        raise TypeError(f"{call}: expected a cuda-bindings result tuple, got {type(result).__name__}")
    err, *values = result
    if not _is_success(err):
        name, text = error_name(err)
        raise CudaError(call, name, text)
    if not values:
        return None
    return values[0] if len(values) == 1 else tuple(values)


def native_handle(obj: Any) -> int:
    """The integer address of a cuda-bindings handle (stream, pointer) or an int, for TensorRT's size_t parameters."""
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    try:
        from cuda.bindings.utils import get_cuda_native_handle

        return int(get_cuda_native_handle(obj))
    except (ImportError, TypeError):
        return int(obj)


class _Owned:
    """Base of the owning wrappers: context manager, idempotent close, GC fallback that logs."""

    _what = "CUDA resource"

    def _release(self) -> None:
        raise NotImplementedError

    @property
    def closed(self) -> bool:
        raise NotImplementedError

    def close(self) -> None:
        """Release the resource (idempotent).

        Raises:
            CudaError: CUDA refused to release it (the handle is forgotten either way).
        """
        if not self.closed:
            self._release()

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            if not self.closed:
                log.warning("%s was not closed; releasing it on garbage collection", self._what)
                self.close()
        except Exception:  # noqa: BLE001 - __del__ must not raise; the error is logged, not swallowed
            log.exception("releasing %s on garbage collection failed", self._what)


class _Allocation(_Owned):
    """An owned allocation at one address (``_ptr``; None once released)."""

    _ptr: int | None

    @property
    def closed(self) -> bool:
        return getattr(self, "_ptr", None) is None

    @property
    def ptr(self) -> int:
        """Address (int) of the first byte: on the device (``set_tensor_address``, copies) or pinned host."""
        if self._ptr is None:
            raise EdgeInspectError(f"{self._what} used after close()")
        return self._ptr


class DeviceMem(_Allocation):
    """``nbytes`` of device memory (``cudaMalloc``).

    Attributes:
        nbytes: size in bytes (at least 1 is allocated).
    """

    _what = "device memory"

    def __init__(self, nbytes: int) -> None:
        self._ptr: int | None = None
        self.nbytes = int(nbytes)
        ptr = cuda_call(cudart().cudaMalloc(max(self.nbytes, 1)), f"cudaMalloc({self.nbytes} B)")
        self._ptr = native_handle(ptr)

    def _release(self) -> None:
        ptr, self._ptr = self._ptr, None
        cuda_call(cudart().cudaFree(ptr), "cudaFree")


class PinnedHostMem(_Allocation):
    """Page-locked host memory (``cudaMallocHost``) seen as a numpy array, for async copies.

    Args:
        shape: array shape, e.g. ``(max_batch, 1, H, W)``.
        dtype: numpy dtype (``float32``, ``float16`` ...).

    Attributes:
        nbytes: size in bytes.
    """

    _what = "pinned host memory"

    def __init__(self, shape: tuple[int, ...], dtype: Any) -> None:
        self._ptr: int | None = None
        self._array: np.ndarray | None = None
        self.dtype = np.dtype(dtype)
        self.shape = tuple(int(s) for s in shape)
        self.nbytes = int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize
        ptr = cuda_call(cudart().cudaMallocHost(max(self.nbytes, 1)), f"cudaMallocHost({self.nbytes} B)")
        self._ptr = native_handle(ptr)
        raw = np.ctypeslib.as_array(ctypes.cast(self._ptr, ctypes.POINTER(ctypes.c_ubyte)), (max(self.nbytes, 1),))
        self._array = raw[: self.nbytes].view(self.dtype).reshape(self.shape)

    @property
    def array(self) -> np.ndarray:
        """The memory as a ``shape`` array of ``dtype`` (do not keep it past :meth:`close`)."""
        if self._array is None:
            raise EdgeInspectError("pinned host memory used after close()")
        return self._array

    def _release(self) -> None:
        ptr, self._ptr, self._array = self._ptr, None, None
        cuda_call(cudart().cudaFreeHost(ptr), "cudaFreeHost")


class Stream(_Owned):
    """A non-blocking CUDA stream (no implicit synchronisation with the legacy default stream)."""

    _what = "CUDA stream"

    def __init__(self) -> None:
        self._stream = None
        rt = cudart()
        self._stream = cuda_call(rt.cudaStreamCreateWithFlags(rt.cudaStreamNonBlocking), "cudaStreamCreateWithFlags")

    @property
    def closed(self) -> bool:
        return getattr(self, "_stream", None) is None

    @property
    def raw(self):
        """The ``cudaStream_t`` for cudart calls."""
        if self._stream is None:
            raise EdgeInspectError("CUDA stream used after close()")
        return self._stream

    @property
    def handle(self) -> int:
        """The stream address as an int, for ``execute_async_v3``."""
        return native_handle(self.raw)

    def synchronize(self) -> None:
        """Wait until everything queued on the stream has finished."""
        cuda_call(cudart().cudaStreamSynchronize(self.raw), "cudaStreamSynchronize")

    def _release(self) -> None:
        stream, self._stream = self._stream, None
        rt = cudart()
        try:
            cuda_call(rt.cudaStreamSynchronize(stream), "cudaStreamSynchronize")
        finally:
            cuda_call(rt.cudaStreamDestroy(stream), "cudaStreamDestroy")


def copy_htod_async(dst_ptr: int, src_ptr: int, nbytes: int, stream: Stream) -> None:
    """Queue a host → device copy of ``nbytes`` on ``stream`` (host memory must be pinned and stay alive)."""
    rt = cudart()
    cuda_call(rt.cudaMemcpyAsync(dst_ptr, src_ptr, nbytes, rt.cudaMemcpyKind.cudaMemcpyHostToDevice, stream.raw),
              f"cudaMemcpyAsync(host→device, {nbytes} B)")


def copy_dtoh_async(dst_ptr: int, src_ptr: int, nbytes: int, stream: Stream) -> None:
    """Queue a device → host copy of ``nbytes`` on ``stream`` (read the host side after ``synchronize``)."""
    rt = cudart()
    cuda_call(rt.cudaMemcpyAsync(dst_ptr, src_ptr, nbytes, rt.cudaMemcpyKind.cudaMemcpyDeviceToHost, stream.raw),
              f"cudaMemcpyAsync(device→host, {nbytes} B)")


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """The current CUDA device and the driver.

    Attributes:
        index: device ordinal (after CUDA_VISIBLE_DEVICES).
        name: e.g. ``"Orin"`` or ``"NVIDIA GeForce RTX 4090"``.
        compute_capability: ``(major, minor)``, e.g. ``(8, 7)``.
        integrated: True on Jetson (memory shared with the CPU).
        total_memory_bytes: device memory, bytes.
        driver_version: ``cudaDriverGetVersion()``, e.g. 12060 for CUDA 12.6.
        runtime_version: ``cudaRuntimeGetVersion()`` of the cudart cuda-bindings loads.
    """

    index: int
    name: str
    compute_capability: tuple[int, int]
    integrated: bool
    total_memory_bytes: int
    driver_version: int
    runtime_version: int


def driver_version() -> int:
    """``cudaDriverGetVersion()`` (e.g. 12060); raises :class:`CudaError` (cudaErrorInsufficientDriver) when no driver."""
    version = cuda_call(cudart().cudaDriverGetVersion(), "cudaDriverGetVersion")
    if not version:  # cudart reports success and 0 when no driver is installed
        name, text = error_name(cudart().cudaError_t.cudaErrorInsufficientDriver)
        raise CudaError("cudaDriverGetVersion", name, text)
    return int(version)


def device_info() -> DeviceInfo:
    """Describe the current CUDA device.

    Raises:
        CudaError: no driver (``cudaErrorInsufficientDriver``) or no device (``cudaErrorNoDevice``).
    """
    rt = cudart()
    count = cuda_call(rt.cudaGetDeviceCount(), "cudaGetDeviceCount")
    if not count:
        name, text = error_name(rt.cudaError_t.cudaErrorNoDevice)
        raise CudaError("cudaGetDeviceCount", name, text)
    index = int(cuda_call(rt.cudaGetDevice(), "cudaGetDevice"))
    props = cuda_call(rt.cudaGetDeviceProperties(index), f"cudaGetDeviceProperties({index})")
    raw_name = props.name
    name = raw_name.split(b"\0", 1)[0].decode(errors="replace") if isinstance(raw_name, bytes) else str(raw_name)
    return DeviceInfo(
        index=index,
        name=name.strip(),
        compute_capability=(int(props.major), int(props.minor)),
        integrated=bool(props.integrated),
        total_memory_bytes=int(props.totalGlobalMem),
        driver_version=driver_version(),
        runtime_version=int(cuda_call(rt.cudaRuntimeGetVersion(), "cudaRuntimeGetVersion")),
    )
