"""OpenVINO CPU engine: the default CPU backend (compiles the ONNX, caches the compiled blob).

``open()`` compiles ``manifest.model_file`` with ``core.compile_model`` on the CPU plugin, with
``CACHE_DIR`` = ``<engine folder>/cache`` (a restart loads the compiled blob instead of compiling),
``PERFORMANCE_HINT`` LATENCY or THROUGHPUT, ``INFERENCE_NUM_THREADS`` and
``INFERENCE_PRECISION_HINT`` f32 (so FP32 engines stay FP32 on CPUs with bf16/AMX; INT8 QDQ layers
still run in int8). In THROUGHPUT mode a batch of at least as many tiles as the plugin has streams is
split across one infer request per stream; a smaller batch (e.g. one tile) runs on a LATENCY-compiled
model instead, compiled on first use (:func:`hint_for_batch`): a stream has only
``threads / streams`` threads, so one tile on one stream was 1.6× slower than LATENCY (lpcnet-lite,
2 cores). LATENCY (the default) is exactly what ``compile_model(path, "CPU")`` does by hand on the
same file (same hint, streams, threads, precision); measured on the same tiles both run at the same
speed (benchmarks/engines.py). No torch here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgeinspect.backends.base import OUTPUT_NAMES, Engine
from edgeinspect.backends.signal_stack import restore_signal_stack
from edgeinspect.errors import EdgeInspectError

CACHE_DIRNAME = "cache"


def compile_config(*, threads: int | None, hint: str, cache_dir: Path | None) -> dict[str, str]:
    """OpenVINO CPU properties for an engine (strings, as ``compile_model`` takes them)."""
    config = {"PERFORMANCE_HINT": hint.upper(), "INFERENCE_PRECISION_HINT": "f32"}
    if threads:
        config["INFERENCE_NUM_THREADS"] = str(int(threads))
    if cache_dir is not None:
        config["CACHE_DIR"] = str(cache_dir)
    return config


def hint_for_batch(hint: str, batch: int, streams: int) -> str:
    """The compiled model a call of ``batch`` tiles runs on: ``"latency"`` or ``"throughput"``.

    THROUGHPUT splits a batch over ``streams`` infer requests, each with ``threads / streams``
    threads; a batch smaller than ``streams`` would leave streams (cores) idle, so it runs on the
    LATENCY model (all threads on one request). A LATENCY engine always runs LATENCY.

    Args:
        hint: the engine's hint, ``"latency"`` or ``"throughput"``.
        batch: tiles in the call (N of ``(N,1,H,W)``).
        streams: infer requests (streams) of the THROUGHPUT model, >= 1.
    """
    return "throughput" if hint == "throughput" and streams > 1 and batch >= streams else "latency"


class OpenVINOEngine(Engine):
    """OpenVINO CPU plugin."""

    backend = "openvino"

    def _open(self) -> None:
        try:
            import openvino as ov
        except ImportError:
            raise EdgeInspectError("openvino is not installed: `pip install openvino` or build with --backend onnxruntime") from None
        if self.manifest is None:
            model_path, cache_dir = self.path, None
        else:
            model_path, cache_dir = self.path / self.manifest.model_file, self.path / CACHE_DIRNAME
        if not model_path.is_file():
            raise EdgeInspectError(f"{model_path}: model file not found; rebuild the engine")
        if cache_dir is not None:
            cache_dir.mkdir(exist_ok=True)
        self._core, self._model_path, self._cache_dir = ov.Core(), model_path, cache_dir
        compiled = self._compile(self.hint)
        self._compiled = compiled
        names = [sorted(o.get_names())[0] if o.get_names() else "" for o in compiled.outputs]
        self._port_by_name = {}
        for port in compiled.outputs:
            for name in port.get_names():
                self._port_by_name[name] = port
        if self.manifest is None:
            self._outputs = tuple(n for n in OUTPUT_NAMES if n in self._port_by_name) or (names[0],)
        missing = [n for n in self._outputs if n not in self._port_by_name]
        if missing:
            raise EdgeInspectError(f"{model_path}: outputs {missing} missing (model has {names}); rebuild the engine")
        if self._tile_hw is None:
            shape = compiled.inputs[0].get_partial_shape()
            if shape.rank.get_length() == 4 and shape[2].is_static and shape[3].is_static:
                self._tile_hw = (shape[2].get_length(), shape[3].get_length())
        self._requests = [compiled.create_infer_request()]
        if self.hint == "throughput":
            count = int(compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))
            self._requests += [compiled.create_infer_request() for _ in range(max(count, 1) - 1)]
        # (request, {output name: port}) running a whole batch at once; with several THROUGHPUT streams,
        # a LATENCY model compiled on first use (see hint_for_batch)
        self._single = (self._requests[0], self._port_by_name) if len(self._requests) == 1 else None

    def _compile(self, hint: str):
        """``compile_model`` of the engine's model with :func:`compile_config` for ``hint``."""
        try:
            return self._core.compile_model(
                str(self._model_path), "CPU", compile_config(threads=self.threads, hint=hint, cache_dir=self._cache_dir)
            )
        except RuntimeError as error:
            first = str(error).strip().splitlines()[0] if str(error).strip() else "RuntimeError"
            raise EdgeInspectError(f"{self._model_path}: OpenVINO cannot compile the model ({first}); rebuild the engine") from None
        finally:
            restore_signal_stack()  # the CPU plugin changed this thread's alternate signal stack

    @property
    def streams(self) -> int:
        """Infer requests a THROUGHPUT batch is split over (1 for LATENCY)."""
        return len(self._requests)

    def _latency_request(self):
        """(request, ports) of the LATENCY model; compiled on the first small batch of a THROUGHPUT engine."""
        if self._single is None:
            compiled = self._compile("latency")
            ports = {name: port for port in compiled.outputs for name in port.get_names()}
            self._single = (compiled.create_infer_request(), ports)
        return self._single

    def _infer(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        if hint_for_batch(self.hint, batch.shape[0], len(self._requests)) == "latency":
            request, ports = self._latency_request()
            request.infer({0: batch}, share_inputs=True)
            return {name: request.get_tensor(ports[name]).data for name in self._outputs}
        return self._infer_split(batch)

    def _infer_split(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        """THROUGHPUT: one chunk of the batch per infer request, run concurrently."""
        chunks = np.array_split(batch, len(self._requests))
        used = self._requests[: len(chunks)]
        for request, chunk in zip(used, chunks):
            request.start_async({0: np.ascontiguousarray(chunk)}, share_inputs=False)
        for request in used:
            request.wait()
        return {
            name: np.concatenate([r.get_tensor(self._port_by_name[name]).data for r in used], axis=0)
            for name in self._outputs
        }

    def _close(self) -> None:
        self._requests.clear()
        self._single = None
        del self._compiled
        restore_signal_stack()  # destroying a compiled model may leave the thread's alternate stack freed
