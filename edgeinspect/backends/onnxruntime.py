"""ONNX Runtime CPU engine (graph optimisations ALL, offline-optimised model kept in the engine folder).

An engine folder built for ONNX Runtime runs ``manifest.model_file`` (FP32 ONNX, or for INT8 the
uint8-asymmetric QDQ re-encoding that ORT's CPU kernels run fast). The first ``open()`` (done by
``edgeinspect build``) optimises the graph with ``ORT_ENABLE_ALL`` and saves the result as
:data:`OPTIMIZED_NAME`; later opens load that file with optimisations off, which is quicker. A raw
``.onnx`` path (no manifest) is also accepted, for comparisons. No torch here.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from edgeinspect.backends.base import Engine, check_model_io
from edgeinspect import sysinfo
from edgeinspect.errors import EdgeInspectError

log = logging.getLogger(__name__)

#: File name of the offline-optimised graph in an engine folder (hardware specific: build on the box).
OPTIMIZED_NAME = "model.ort-optimized.onnx"


def session_options(*, threads: int | None, optimize: bool = True, optimized_path: Path | None = None):
    """ORT session options: optimisation level, intra-op threads, where to save the optimised graph.

    Args:
        threads: intra-op threads (``None``: ORT's default, one per physical core).
        optimize: ``ORT_ENABLE_ALL`` when True, ``ORT_DISABLE_ALL`` (graph already optimised) when False.
        optimized_path: save the optimised graph here (only with ``optimize``).
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = (
        ort.GraphOptimizationLevel.ORT_ENABLE_ALL if optimize else ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    )
    options.intra_op_num_threads = int(threads or 0)
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    # Subnormal floats (weights driven towards 0 by weight decay, tiny activations) cost x86 cores up
    # to 100x per operation: a model with 10k subnormal weights ran 10x slower. Flushed to zero (no
    # probability changes: they are < 1.2e-38) in the session's pool threads, and in the calling thread
    # when this is the process's first session (ORT sets that once per process), as in `run`/`bench`.
    # The exporter writes subnormal weights as 0 as well (export/onnx.py).
    options.add_session_config_entry("session.set_denormal_as_zero", "1")
    if optimize and optimized_path is not None:
        options.optimized_model_filepath = str(optimized_path)
    return options


def create_session(model_path: Path, options):
    """An ORT CPU InferenceSession, or EdgeInspectError naming the file and the fix."""
    import onnxruntime as ort

    try:
        return ort.InferenceSession(str(model_path), sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as error:  # ORT raises its own Fail/InvalidGraph/NoSuchFile types
        text = str(error).splitlines()[0] if str(error) else type(error).__name__
        if "trt.plugins" in str(error):
            raise EdgeInspectError(
                f"{model_path}: plugin-form ONNX (TensorRT plugin nodes) cannot run on ONNX Runtime; "
                "export with `--ops standard`"
            ) from None
        raise EdgeInspectError(f"{model_path}: ONNX Runtime cannot load the model ({text}); rebuild or re-export it") from None


class OnnxRuntimeEngine(Engine):
    """ONNX Runtime CPU execution provider.

    ``threads`` is the CPU threads of the engine; ``hint`` is accepted for symmetry. With
    ``concurrent_calls`` S > 1, ``infer`` may be called from S threads at once
    (``InferenceSession.Run`` is thread-safe). Concurrent calls share the session's one intra-op
    pool, and each calling thread works in its own call's operators, so the session gets
    ``intra_op_num_threads = threads - S + 1`` (its pool: ``threads - S`` workers; ``threads``
    default: the usable logical cores): S callers plus the pool are ``threads`` threads. On 2 cores
    that is two single-thread calls, independent batches that share the cores without the barrier of
    one call's parallel operators (measured there only; README, "bench").
    """

    backend = "onnxruntime"
    _fresh_outputs = True
    _concurrent = True

    def _session_threads(self) -> int | None:
        """``intra_op_num_threads`` of the session: ``threads`` over the concurrent callers and the shared pool."""
        if self.concurrent_calls == 1:
            return self.threads
        return max(1, (self.threads or sysinfo.usable_cores()) - self.concurrent_calls + 1)

    def _model_paths(self) -> tuple[Path, Path | None]:
        """(source model, optimised-graph path or None) for this engine."""
        if self.manifest is None:
            return self.path, None
        return self.path / self.manifest.model_file, self.path / OPTIMIZED_NAME

    def _open(self) -> None:
        source, optimized = self._model_paths()
        if not source.is_file():
            raise EdgeInspectError(f"{source}: ONNX model not found")
        session = None
        if optimized is not None and optimized.is_file():
            try:
                session = create_session(optimized, session_options(threads=self._session_threads(), optimize=False))
            except EdgeInspectError as error:  # e.g. folder moved to another CPU: re-optimise from source
                log.warning("%s; optimising %s again", error, source.name)
        if session is None:
            session = create_session(source, session_options(threads=self._session_threads(), optimized_path=optimized))
        self._session = session
        inputs = session.get_inputs()
        self._input_name = inputs[0].name if inputs else ""
        shape = inputs[0].shape if inputs else []
        available = [o.name for o in session.get_outputs()]
        engine_outputs = check_model_io(source, shape, available, required=() if self._outputs_named else ("prob",),
                                        input_type=inputs[0].type if inputs else None, inputs=len(inputs),
                                        output_shapes={o.name: o.shape for o in session.get_outputs()})
        if self._tile_hw is None and all(isinstance(d, int) for d in shape[2:]):
            self._tile_hw = (int(shape[2]), int(shape[3]))
        if not self._outputs_named:
            self._outputs = engine_outputs
        missing = [n for n in self._outputs if n not in available]
        if missing:
            raise EdgeInspectError(f"{source}: outputs {missing} missing (model has {available}); rebuild the engine")

    def _infer(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        values = self._session.run(list(self._outputs), {self._input_name: batch})
        return dict(zip(self._outputs, values))

    def _close(self) -> None:
        del self._session
