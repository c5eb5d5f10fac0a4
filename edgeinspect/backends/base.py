"""The Engine base class: one lifecycle, input checks and timing for every backend (Polygraphy runner).

A backend subclass writes three template methods: ``_open()`` (import its runtime, load/compile the
model), ``_infer(batch)`` (run one ``(N,1,H,W)`` float32 batch, return ``{name: array}``) and
``_close()``. The base class owns the public ``open()/infer()/close()``, the context manager, the
input checks against the manifest (shape, dtype → :class:`EdgeInspectError`), uint8 → float32
conversion, output copies, and call timing. No torch here.

Example:
    >>> from edgeinspect import backends
    >>> with backends.load("engines/lite-int8") as engine:
    ...     out = engine.infer(tiles)            # tiles (N,1,256,256) uint8
    ...     out["prob"].shape, out["prob"].dtype
    ((8, 1, 256, 256), dtype('float32'))
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from edgeinspect.backends.manifest import Manifest
from edgeinspect.errors import EdgeInspectError

log = logging.getLogger(__name__)

#: Output names an engine may have, in graph order: ``prob`` ``(N,1,H,W)`` float32 in [0,1] (always),
#: ``loc`` ``(N,1,H,W)`` (LPC-Net's DLM, LSA-Net's location attention), ``score`` ``(N,)`` float32 in
#: [0,1] (image-level defect probability, PSIC-Net). Same as ``edgeinspect.export.onnx.OUTPUT_NAMES``.
OUTPUT_NAMES = ("prob", "loc", "score")


def check_model_io(source: Path | str, input_shape: Sequence[Any], output_names: Sequence[str], *,
                   required: Sequence[str] = ("prob",), input_type: str | None = None, inputs: int = 1,
                   output_shapes: dict[str, Sequence[Any]] | None = None) -> tuple[str, ...]:
    """The engine outputs of a model (those of :data:`OUTPUT_NAMES` it has), or a one-line error.

    An edgeinspect model takes one ``(N,1,H,W)`` float32 gray image, any batch ``N``, and gives
    ``prob`` ``(N,1,H,W)`` (and ``loc`` or ``score``); any other ONNX (a 3-channel classifier, a
    uint8 input, a graph exported for one batch size or with other output names) is refused here
    instead of failing inside the runtime at the first batch.

    Args:
        source: the model file, for the message.
        input_shape: its one input's dims (ints, or str/None for symbolic ones).
        output_names: its outputs.
        required: outputs it must have (``()`` where the caller names the outputs it wants, e.g.
            the cascade's ``loc``-only DLM graph).
        input_type: the input's element type when known: ``"float"`` (ONNX) or ``"tensor(float)"``
            (ONNX Runtime) is float32.
        inputs: how many inputs the model has.
        output_shapes: output dims by name when known (``prob`` must have one channel).

    Raises:
        EdgeInspectError: not one 4-d float32 input with 1 channel and a free batch, a ``prob``
            with more than one channel, or a required output missing.
    """
    def refuse(what: str) -> EdgeInspectError:
        return EdgeInspectError(f"{source}: {what}: not an edgeinspect model (export one with `edgeinspect export`)")

    if inputs != 1:
        raise refuse(f"{inputs} inputs, not one (N,1,H,W) gray image")
    dims = list(input_shape)
    channels = dims[1] if len(dims) == 4 else None
    if len(dims) != 4 or (isinstance(channels, int) and channels != 1):
        raise refuse(f"input shape {dims} is not an (N,1,H,W) gray image")
    if isinstance(dims[0], int) and dims[0] > 0:
        raise refuse(f"input shape {dims} fixes the batch at {dims[0]} (a run sends 1..batch_size tiles per call)")
    kind = None if input_type is None else input_type.lower().removeprefix("tensor(").removesuffix(")")
    if kind is not None and kind != "float":
        raise refuse(f"input type {kind}, not float32")
    missing = [name for name in required if name not in output_names]
    if missing:
        raise refuse(f"no output '{missing[0]}' (outputs: {', '.join(output_names)})")
    prob_dims = list((output_shapes or {}).get("prob") or [])
    if len(prob_dims) == 4 and isinstance(prob_dims[1], int) and prob_dims[1] != 1:
        raise refuse(f"output 'prob' shape {prob_dims} has {prob_dims[1]} channels, not (N,1,H,W)")
    return tuple(n for n in OUTPUT_NAMES if n in output_names)


def check_onnx_metadata(source: Path | str, meta: dict[str, Any]) -> tuple[str, ...]:
    """:func:`check_model_io` on what :func:`edgeinspect.export.metadata.read_metadata` read of an ONNX file."""
    return check_model_io(source, meta["input_shape"], meta["outputs"], input_type=meta.get("input_type"),
                          inputs=meta["inputs"], output_shapes=meta["output_shapes"])


#: ``hint`` values: ``"latency"`` (one request as fast as possible) or ``"throughput"`` (OpenVINO: a batch
#: of at least one tile per stream is split over the streams, a smaller one runs on a latency model).
HINTS = ("latency", "throughput")


@dataclass(frozen=True, slots=True)
class InferenceStats:
    """Call timing of one engine since ``open()``.

    Attributes:
        calls: number of ``infer`` calls.
        tiles: tiles inferred (sum of batch sizes).
        total_s: time spent in the backend (without input checks), summed over calls, seconds (more
            than the wall time when calls ran concurrently).
        last_s: wall time of the last call, seconds.
    """

    calls: int
    tiles: int
    total_s: float
    last_s: float

    @property
    def mean_ms(self) -> float:
        """Mean milliseconds per call (0 before the first call)."""
        return 1e3 * self.total_s / self.calls if self.calls else 0.0


class Engine:
    """A loaded network that maps ``(N,1,H,W)`` tiles to defect probabilities.

    Use as a context manager or call :meth:`open` / :meth:`close`; :meth:`close` is idempotent and
    also runs when the engine is garbage collected.

    Args:
        path: the engine folder (or model file for manifest-less engines).
        manifest: the checked manifest; ``None`` only for comparison engines (raw ONNX, ``.pt``).
        threads: CPU threads for inference (``None``: the runtime's default).
        hint: ``"latency"`` or ``"throughput"``.
        concurrent_calls: ``infer`` calls the caller will make at once, from as many threads (see
            :attr:`concurrent_calls`); a backend that cannot run calls concurrently keeps 1.

    Attributes:
        backend: class-level backend name (``"openvino"``, ``"onnxruntime"``, ``"torch"`` ...).
    """

    backend: ClassVar[str] = "base"
    #: True when ``_infer`` returns fresh arrays the caller may keep (no copy needed).
    _fresh_outputs: ClassVar[bool] = False
    #: True when ``infer`` may be called from several threads at once (each call its own stream).
    _concurrent: ClassVar[bool] = False

    def __init__(
        self,
        path: Path,
        manifest: Manifest | None,
        *,
        threads: int | None = None,
        hint: str = "latency",
        tile_hw: tuple[int, int] | None = None,
        output_names: tuple[str, ...] | None = None,
        concurrent_calls: int = 1,
    ) -> None:
        if hint not in HINTS:
            raise EdgeInspectError(f"hint must be one of {', '.join(HINTS)}, got {hint!r}")
        if threads is not None and threads < 1:
            raise EdgeInspectError(f"threads must be >= 1, got {threads}")
        if concurrent_calls < 1:
            raise EdgeInspectError(f"concurrent_calls must be >= 1, got {concurrent_calls}")
        self.path = Path(path)
        self.manifest = manifest
        self.threads = threads
        self.hint = hint
        self._concurrent_calls = int(concurrent_calls) if self._concurrent else 1
        self._stats_lock = threading.Lock()
        if manifest is not None:
            tile_hw = manifest.tile_hw
            output_names = manifest.output_names
        self._tile_hw: tuple[int, int] | None = tuple(tile_hw) if tile_hw is not None else None  # type: ignore[assignment]
        self._outputs: tuple[str, ...] = tuple(output_names or ("prob",))
        self._outputs_named = output_names is not None  # by the manifest or the caller (else: the model's own)
        self._is_open = False
        self._calls = 0
        self._tiles = 0
        self._total_s = 0.0
        self._last_s = 0.0
        self._finalizer: weakref.finalize | None = None

    # -- properties -----------------------------------------------------------------------------
    @property
    def tile_hw(self) -> tuple[int, int]:
        """Input tile ``(height, width)`` in pixels."""
        if self._tile_hw is None:
            raise EdgeInspectError(f"{self.path}: tile size unknown before open()")
        return self._tile_hw

    @property
    def concurrent_calls(self) -> int:
        """How many ``infer`` calls may run at once, each from its own thread (1: one at a time).

        With ``concurrent_calls`` C > 1 the C calls together use the engine's ``threads``;
        independent calls in flight together keep every core busy without waiting for each other
        (the run keeps C engine batches in flight: its ``engine_streams``). Not OpenVINO's
        ``streams``, which split one call's batch.
        """
        return self._concurrent_calls

    @property
    def outputs(self) -> tuple[str, ...]:
        """Output names: ``("prob",)``, ``("prob", "loc")`` or ``("prob", "score")`` (see :data:`OUTPUT_NAMES`)."""
        return self._outputs

    @property
    def is_open(self) -> bool:
        """True between :meth:`open` and :meth:`close`."""
        return self._is_open

    @property
    def stats(self) -> InferenceStats:
        """Timing of the ``infer`` calls since :meth:`open`."""
        return InferenceStats(self._calls, self._tiles, self._total_s, self._last_s)

    @property
    def name(self) -> str:
        """Short description: ``backend/precision (folder)``."""
        precision = self.manifest.precision if self.manifest else "fp32"
        return f"{self.backend}/{precision} ({self.path})"

    # -- lifecycle ------------------------------------------------------------------------------
    def open(self) -> Engine:
        """Load the model in the backend runtime (idempotent). Returns ``self``.

        Raises:
            EdgeInspectError: the runtime is not installed or cannot load the model.
        """
        if self._is_open:
            return self
        self._open()
        if self._tile_hw is None:
            raise EdgeInspectError(f"{self.path}: cannot tell the input tile size; give a fixed (N,1,H,W) input")
        self._is_open = True
        self._calls = self._tiles = 0
        self._total_s = self._last_s = 0.0
        self._finalizer = weakref.finalize(self, _warn_unclosed, type(self).__name__, str(self.path))
        return self

    def close(self) -> None:
        """Release the runtime objects (idempotent)."""
        if not self._is_open:
            return
        self._is_open = False
        if self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None
        try:
            self._close()
        except Exception:  # close must not mask the error that made us close
            log.exception("closing %s failed", self.name)

    def __enter__(self) -> Engine:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "open" if self._is_open else "closed"
        return f"<{type(self).__name__} {self.path} {state}>"

    # -- inference ------------------------------------------------------------------------------
    def check_input(self, batch: np.ndarray) -> np.ndarray:
        """Validate a batch and return it as C-contiguous float32.

        Args:
            batch: ``(N,1,H,W)`` uint8 or float32 pixel values in [0,255], ``(H,W) == tile_hw``.

        Returns:
            ``(N,1,H,W)`` float32, C-contiguous (a view when it already was).

        Raises:
            EdgeInspectError: wrong type, rank, channel count, tile size or dtype.
        """
        if not isinstance(batch, np.ndarray):
            raise EdgeInspectError(f"{self.name}: input must be a numpy array (N,1,H,W), got {type(batch).__name__}")
        height, width = self.tile_hw
        if batch.ndim != 4 or batch.shape[1] != 1 or tuple(batch.shape[2:]) != (height, width) or batch.shape[0] < 1:
            raise EdgeInspectError(
                f"{self.name}: input shape {tuple(batch.shape)} does not match the engine input (N,1,{height},{width}); "
                "tile or resize the image to the engine tile size"
            )
        if batch.dtype == np.uint8:
            return batch.astype(np.float32)
        if batch.dtype != np.float32:
            raise EdgeInspectError(
                f"{self.name}: input dtype {batch.dtype} not accepted; pass uint8 or float32 pixel values in [0,255] "
                "(scale 12/16-bit images by 255/(2**bits-1) first)"
            )
        return np.ascontiguousarray(batch)

    def infer(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        """Run the network on one batch of tiles.

        Args:
            batch: ``(N,1,H,W)`` uint8 or float32 pixel values in [0,255].

        Returns:
            ``{"prob": (N,1,H,W) float32 in [0,1]}`` plus ``"loc"`` (same shape) for nets with a DLM
            or location attention and ``"score"`` ``(N,)`` float32 in [0,1] for nets with an
            image classifier (PSIC-Net). Arrays are owned by the caller.

        Raises:
            EdgeInspectError: the engine is not open, or the input does not match the engine.
        """
        if not self._is_open:
            raise EdgeInspectError(f"{self.name}: engine is not open; use `with engine:` or call engine.open() first")
        array = self.check_input(batch)
        start = time.perf_counter()
        outputs = self._infer(array)
        elapsed = time.perf_counter() - start
        with self._stats_lock:  # calls may come from several threads (streams)
            self._calls += 1
            self._tiles += array.shape[0]
            self._total_s += elapsed
            self._last_s = elapsed
        copy = None if self._fresh_outputs else True
        return {name: np.array(outputs[name], dtype=np.float32, copy=copy) for name in self._outputs}

    # -- template methods -----------------------------------------------------------------------
    def _open(self) -> None:
        raise NotImplementedError

    def _infer(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def _close(self) -> None:
        raise NotImplementedError


def concurrent_calls_of(engine: object) -> int:
    """``infer`` calls ``engine`` runs at once: its ``concurrent_calls``, 1 for objects without (doubles, wrappers)."""
    return max(1, int(getattr(engine, "concurrent_calls", 1)))


def _warn_unclosed(cls_name: str, path: str) -> None:
    log.warning("%s(%s) was never closed; use it as a context manager", cls_name, path)
