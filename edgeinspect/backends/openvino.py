"""OpenVINO CPU engine: the default CPU backend (compiles the ONNX, caches the compiled blob).

``open()`` compiles ``manifest.model_file`` with ``core.compile_model`` on the CPU plugin, with
``CACHE_DIR`` = ``<engine folder>/cache`` (a restart loads the compiled blob instead of compiling),
``PERFORMANCE_HINT`` LATENCY or THROUGHPUT, ``INFERENCE_NUM_THREADS`` and
``INFERENCE_PRECISION_HINT`` f32 (so FP32 engines stay FP32 on CPUs with bf16/AMX; INT8 QDQ layers
still run in int8). In THROUGHPUT mode a batch is split across the plugin's optimal number of infer
requests (one per stream). No torch here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgeinspect.backends.base import Engine
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
        core = ov.Core()
        try:
            compiled = core.compile_model(
                str(model_path), "CPU", compile_config(threads=self.threads, hint=self.hint, cache_dir=cache_dir)
            )
        except RuntimeError as error:
            first = str(error).strip().splitlines()[0] if str(error).strip() else "RuntimeError"
            raise EdgeInspectError(f"{model_path}: OpenVINO cannot compile the model ({first}); rebuild the engine") from None
        self._compiled = compiled
        names = [sorted(o.get_names())[0] if o.get_names() else "" for o in compiled.outputs]
        self._port_by_name = {}
        for port in compiled.outputs:
            for name in port.get_names():
                self._port_by_name[name] = port
        if self.manifest is None:
            self._outputs = tuple(n for n in ("prob", "loc") if n in self._port_by_name) or (names[0],)
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

    def _infer(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        if len(self._requests) == 1 or batch.shape[0] == 1:
            request = self._requests[0]
            request.infer({0: batch}, share_inputs=True)
            return {name: request.get_tensor(self._port_by_name[name]).data for name in self._outputs}
        return self._infer_split(batch)

    def _infer_split(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        """THROUGHPUT: one chunk of the batch per infer request, run concurrently."""
        chunks = np.array_split(batch, min(len(self._requests), batch.shape[0]))
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
        del self._compiled
