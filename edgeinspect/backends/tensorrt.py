"""TensorRT engine (NVIDIA GPU, Jetson): a serialized plan run through ``cuda-bindings``. No torch, no pycuda.

An engine folder built by ``edgeinspect build ... --backend tensorrt`` holds ``model.plan`` and a
manifest whose ``options["tensorrt"]`` records the TensorRT version, GPU, driver, plugin mode and PTX
(:class:`~edgeinspect.backends.compat.EngineTarget`). ``open()``:

1. compares that record with this machine (:func:`~edgeinspect.backends.compat.check_compat`): another
   TensorRT version, GPU, OS or a driver too old for the plugin PTX fails with one line saying which,
   and the ``edgeinspect build`` command that rebuilds the engine here;
2. deserializes the plan (``None`` is reported as incompatible, with TensorRT's own error). Plans with
   AOT plugins (``plugin_mode == "aot-qdp"``) carry their PTX: no plugin module is imported;
3. makes two execution slots, each with its own execution context, CUDA stream, pinned host buffers
   and device buffers allocated at the optimisation profile's maximum batch, every I/O tensor bound
   with ``set_tensor_address``.

``infer(batch)`` splits a batch into chunks of at most the profile's maximum and alternates the two
slots, so the host copy and upload of one chunk overlap the GPU work of the other (double buffering).
:meth:`TensorRTEngine.infer_async` / :meth:`TensorRTEngine.fetch` expose the same slots to a caller
that wants to prepare the next batch while the GPU runs this one. Input/output dtypes follow
``engine.get_tensor_dtype`` (FP16 I/O is converted on the host); results are float32.

Example:
    >>> with backends.load("engines/lite-trt-fp16") as engine:
    ...     ticket = engine.infer_async(tiles_a)      # (N,1,H,W) uint8|float32, N <= max batch
    ...     next_tiles = prepare()                    # CPU work overlaps the GPU
    ...     prob = engine.fetch(ticket)["prob"]
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgeinspect.backends import compat, cuda_mem
from edgeinspect.backends.base import Engine
from edgeinspect.errors import EdgeInspectError

log = logging.getLogger(__name__)

#: Execution slots (contexts + streams + buffers) per engine: two = double buffering.
SLOTS = 2
_INSTALL_HINT = (
    "install TensorRT on the GPU device (JetPack ships it; x86: pip install tensorrt) together with "
    "cuda-bindings of the device's CUDA major version (pip install cuda-bindings nvidia-cuda-nvrtc nvidia-cuda-runtime)"
)
_logger = None


def import_tensorrt(purpose: str = "TensorRT engines run only where TensorRT is installed") -> Any:
    """The ``tensorrt`` module, or a one-line :class:`EdgeInspectError` saying it is missing and how to get it.

    Args:
        purpose: the start of the hint, e.g. why TensorRT is needed here.
    """
    try:
        import tensorrt as trt
    except ImportError as error:
        raise EdgeInspectError(f"TensorRT is not installed (import tensorrt failed: {error}); {purpose}: "
                               f"{_INSTALL_HINT}") from None
    return trt


def trt_logger(trt):
    """The process-wide TensorRT logger: forwards to :mod:`logging` and keeps the recent errors.

    One logger serves every builder and runtime (it must outlive them; older TensorRT treats the
    logger as a singleton).
    """
    global _logger
    if _logger is None:

        class _Logger(trt.ILogger):
            def __init__(self) -> None:
                trt.ILogger.__init__(self)
                self.errors: deque[str] = deque(maxlen=20)

            def log(self, severity, msg) -> None:  # noqa: D401 - TensorRT callback
                if severity in (trt.ILogger.Severity.INTERNAL_ERROR, trt.ILogger.Severity.ERROR):
                    self.errors.append(str(msg))
                    log.error("TensorRT: %s", msg)
                elif severity == trt.ILogger.Severity.WARNING:
                    log.warning("TensorRT: %s", msg)
                elif severity == trt.ILogger.Severity.INFO:
                    log.info("TensorRT: %s", msg)
                else:
                    log.debug("TensorRT: %s", msg)

            def take_errors(self) -> list[str]:
                errors = list(self.errors)
                self.errors.clear()
                return errors

        _logger = _Logger()
    return _logger


def _first_error(errors: list[str], default: str) -> str:
    text = errors[-1] if errors else default
    return " ".join(text.split())[:300]


def np_dtype(trt, trt_dtype) -> np.dtype:
    """numpy dtype of a TensorRT I/O dtype (float32, float16, int8, ...)."""
    try:
        return np.dtype(trt.nptype(trt_dtype))
    except TypeError:
        raise EdgeInspectError(
            f"engine I/O dtype {trt_dtype} has no numpy type (BF16/FP8/INT4 I/O); rebuild with float32 I/O"
        ) from None


@dataclass(slots=True)
class _Slot:
    """One execution slot: context, stream and buffers sized for the profile maximum."""

    context: Any
    stream: cuda_mem.Stream
    host_in: cuda_mem.PinnedHostMem
    device: dict[str, cuda_mem.DeviceMem] = field(default_factory=dict)
    host_out: dict[str, cuda_mem.PinnedHostMem] = field(default_factory=dict)
    pending: int = 0          # tiles in flight (0: free)
    ticket: int | None = None


class TensorRTEngine(Engine):
    """TensorRT plan on the current CUDA device.

    ``threads`` is accepted for symmetry and unused; ``hint`` is informative (both slots are always
    made). Batches larger than the engine's maximum batch (``max_batch``) are split.
    """

    backend = "tensorrt"
    _fresh_outputs = True

    def __init__(self, path: Path, manifest, **kwargs) -> None:
        super().__init__(path, manifest, **kwargs)
        self._slots: list[_Slot] = []
        self._tickets = 0
        self.max_batch = 0
        self.warnings: list[str] = []

    # -- open ---------------------------------------------------------------------------------------
    def _open(self) -> None:
        if self.manifest is None:
            raise EdgeInspectError(
                f"{self.path}: a TensorRT engine needs its folder with manifest.json; build one with "
                "`edgeinspect build ... --backend tensorrt --out <folder>`"
            )
        target = compat.EngineTarget.from_json(self.manifest.options.get(compat.OPTIONS_KEY),
                                               source=self.path / "manifest.json")
        rebuild = compat.rebuild_command(self.manifest, self.path)
        here = compat.this_machine()
        self.warnings = compat.check_compat(target, here, engine_dir=self.path, rebuild=rebuild)
        for warning in self.warnings:
            log.warning("%s: %s", self.path, warning)
        trt = import_tensorrt()
        logger = trt_logger(trt)
        logger.take_errors()
        self._trt = trt
        runtime = trt.Runtime(logger)
        self._runtime = runtime
        if target.dla_core is not None:
            cores = int(getattr(runtime, "num_DLA_cores", 0))
            if target.dla_core >= cores:
                raise EdgeInspectError(f"{self.path}: this TensorRT engine cannot run here: built for DLA core "
                                       f"{target.dla_core}, this device has {cores} DLA core(s). Rebuild it on this device: {rebuild}")
            runtime.DLA_core = int(target.dla_core)
        if target.version_compatible:
            runtime.engine_host_code_allowed = True
        plan = (self.path / self.manifest.model_file).read_bytes()
        engine = runtime.deserialize_cuda_engine(plan)
        if engine is None:
            error = _first_error(logger.take_errors(), "deserialize_cuda_engine returned None")
            raise EdgeInspectError(
                f"{self.path}: TensorRT {trt.__version__} cannot deserialize {self.manifest.model_file} ({error}); "
                f"the plan does not match this TensorRT/GPU. Rebuild it on this device: {rebuild}"
            )
        self._engine = engine
        try:
            self._bind(trt, engine)
        except BaseException:
            self._close()
            raise

    def _bind(self, trt, engine) -> None:
        """Check the engine's I/O against the manifest and make the execution slots."""
        names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
        inputs = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        outputs = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT]
        rebuild = compat.rebuild_command(self.manifest, self.path)
        if inputs != [self.manifest.input_name]:
            raise EdgeInspectError(f"{self.path}: plan inputs {inputs} != manifest input {self.manifest.input_name!r}; "
                                   f"rebuild: {rebuild}")
        missing = [n for n in self._outputs if n not in outputs]
        if missing:
            raise EdgeInspectError(f"{self.path}: plan lacks outputs {missing} (has {outputs}); rebuild: {rebuild}")
        self._input = inputs[0]
        low, _opt, high = (tuple(int(d) for d in s) for s in engine.get_tensor_profile_shape(self._input, 0))
        height, width = self.tile_hw
        if len(high) != 4 or high[1:] != (1, height, width) or low[0] < 1:
            raise EdgeInspectError(f"{self.path}: plan input profile {low}..{high} does not match (N,1,{height},{width}); "
                                   f"rebuild: {rebuild}")
        self.max_batch = high[0]
        self._dtypes = {n: np_dtype(trt, engine.get_tensor_dtype(n)) for n in [self._input, *self._outputs]}
        extra = [n for n in outputs if n not in self._outputs]
        for n in extra:
            self._dtypes[n] = np_dtype(trt, engine.get_tensor_dtype(n))
        self._all_outputs = [*self._outputs, *extra]
        for _ in range(SLOTS):
            self._slots.append(self._make_slot(engine))

    def _make_slot(self, engine) -> _Slot:
        context = engine.create_execution_context()
        if context is None:
            raise EdgeInspectError(f"{self.path}: TensorRT could not create an execution context (out of GPU memory?)")
        stream = cuda_mem.Stream()
        slot = _Slot(context, stream, cuda_mem.PinnedHostMem((self.max_batch, 1, *self.tile_hw), self._dtypes[self._input]))
        try:
            if not context.set_input_shape(self._input, (self.max_batch, 1, *self.tile_hw)):
                raise EdgeInspectError(f"{self.path}: set_input_shape({self.max_batch},1,{self.tile_hw}) refused")
            shapes = {self._input: (self.max_batch, 1, *self.tile_hw)}
            for name in self._all_outputs:
                shape = tuple(int(d) for d in context.get_tensor_shape(name))
                if any(d < 0 for d in shape):
                    raise EdgeInspectError(f"{self.path}: output {name!r} shape {shape} unresolved at the maximum batch")
                shapes[name] = shape
            for name, shape in shapes.items():
                nbytes = int(np.prod(shape, dtype=np.int64)) * self._dtypes[name].itemsize
                slot.device[name] = cuda_mem.DeviceMem(nbytes)
                if name != self._input:
                    slot.host_out[name] = cuda_mem.PinnedHostMem(shape, self._dtypes[name])
                if not context.set_tensor_address(name, slot.device[name].ptr):
                    raise EdgeInspectError(f"{self.path}: set_tensor_address({name!r}) refused")
        except BaseException:
            errors: list[BaseException] = []
            self._free_slot(slot, errors)
            for error in errors:
                log.error("%s: releasing a half-made execution slot: %s", self.path, error)
            raise
        return slot

    # -- run ----------------------------------------------------------------------------------------
    def _submit(self, slot: _Slot, chunk: np.ndarray) -> None:
        """Queue upload, inference and download of ``chunk`` (n <= max_batch tiles) on ``slot``'s stream."""
        n = int(chunk.shape[0])
        np.copyto(slot.host_in.array[:n], chunk, casting="same_kind")
        context = slot.context
        if not context.set_input_shape(self._input, (n, 1, *self.tile_hw)):
            raise EdgeInspectError(f"{self.name}: set_input_shape with batch {n} refused (profile 1..{self.max_batch})")
        unresolved = context.infer_shapes()
        if unresolved:
            raise EdgeInspectError(f"{self.name}: TensorRT cannot resolve the shapes of {list(unresolved)}")
        per_tile = slot.host_in.nbytes // self.max_batch
        cuda_mem.copy_htod_async(slot.device[self._input].ptr, slot.host_in.ptr, n * per_tile, slot.stream)
        if not context.execute_async_v3(slot.stream.handle):
            error = _first_error(trt_logger(self._trt).take_errors(), "execute_async_v3 returned False")
            raise EdgeInspectError(f"{self.name}: inference failed ({error})")
        for name in self._outputs:
            host = slot.host_out[name]
            cuda_mem.copy_dtoh_async(host.ptr, slot.device[name].ptr, n * (host.nbytes // self.max_batch), slot.stream)
        slot.pending = n

    def _collect(self, slot: _Slot) -> dict[str, np.ndarray]:
        """Wait for ``slot`` and return its outputs as new float32 arrays; frees the slot."""
        n = slot.pending
        slot.stream.synchronize()
        slot.pending, slot.ticket = 0, None
        return {name: slot.host_out[name].array[:n].astype(np.float32, copy=True) for name in self._outputs}

    def _infer(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        if any(slot.pending for slot in self._slots):
            raise EdgeInspectError(f"{self.name}: fetch() the pending infer_async() results before calling infer()")
        in_flight: deque[_Slot] = deque()
        parts: list[dict[str, np.ndarray]] = []
        try:
            for index, start in enumerate(range(0, batch.shape[0], self.max_batch)):
                slot = self._slots[index % len(self._slots)]
                if slot.pending:
                    parts.append(self._collect(in_flight.popleft()))
                self._submit(slot, batch[start : start + self.max_batch])
                in_flight.append(slot)
            while in_flight:
                parts.append(self._collect(in_flight.popleft()))
        except BaseException:
            self._drain()
            raise
        if len(parts) == 1:
            return parts[0]
        return {name: np.concatenate([p[name] for p in parts]) for name in self._outputs}

    def infer_async(self, batch: np.ndarray) -> int:
        """Start inference of one batch and return a ticket for :meth:`fetch` (at most two in flight).

        Args:
            batch: ``(N,1,H,W)`` uint8 or float32 in [0,255], ``N <= max_batch``.

        Returns:
            A ticket (int).

        Raises:
            EdgeInspectError: not open, bad input, ``N > max_batch``, or two batches already in flight.
        """
        if not self.is_open:
            raise EdgeInspectError(f"{self.name}: engine is not open; use `with engine:` or call engine.open() first")
        array = self.check_input(batch)
        if array.shape[0] > self.max_batch:
            raise EdgeInspectError(f"{self.name}: infer_async takes at most {self.max_batch} tiles (engine maximum batch), "
                                   f"got {array.shape[0]}; use infer() or rebuild with --max-batch {array.shape[0]}")
        slot = next((s for s in self._slots if not s.pending), None)
        if slot is None:
            raise EdgeInspectError(f"{self.name}: {len(self._slots)} batches already in flight; fetch() one first")
        self._submit(slot, array)
        self._tickets += 1
        slot.ticket = self._tickets
        return self._tickets

    def fetch(self, ticket: int) -> dict[str, np.ndarray]:
        """Wait for the batch of ``ticket`` and return ``{"prob": (N,1,H,W) float32, ...}`` (owned by the caller).

        Raises:
            EdgeInspectError: unknown or already fetched ticket.
        """
        slot = next((s for s in self._slots if s.pending and s.ticket == ticket), None)
        if slot is None:
            raise EdgeInspectError(f"{self.name}: no batch in flight with ticket {ticket}")
        return self._collect(slot)

    def _drain(self) -> None:
        """After an error: wait for every stream so no buffer is in use, and mark the slots free."""
        for slot in self._slots:
            try:
                slot.stream.synchronize()
            except EdgeInspectError:
                log.exception("%s: synchronizing a stream after an error failed", self.name)
            slot.pending, slot.ticket = 0, None

    # -- close --------------------------------------------------------------------------------------
    def _free_slot(self, slot: _Slot, errors: list[BaseException]) -> None:
        try:
            slot.stream.synchronize()
        except Exception as error:  # noqa: BLE001 - collected, logged and re-raised by _close
            errors.append(error)
        slot.context = None
        for mem in [slot.host_in, *slot.device.values(), *slot.host_out.values(), slot.stream]:
            try:
                mem.close()
            except Exception as error:  # noqa: BLE001 - collected, logged and re-raised by _close
                errors.append(error)

    def _close(self) -> None:
        errors: list[BaseException] = []
        slots, self._slots = self._slots, []
        for slot in slots:
            try:
                slot.stream.synchronize()
            except Exception as error:  # noqa: BLE001
                errors.append(error)
        for slot in slots:  # contexts before the engine, the engine before the runtime
            slot.context = None
        self._engine = None
        self._runtime = None
        for slot in slots:
            self._free_slot(slot, errors)
        for error in errors:
            log.error("%s: releasing CUDA resources: %s", self.path, error)
        if errors:
            raise errors[0]
