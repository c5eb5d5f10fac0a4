"""LPC-Net cascade: the Defect Localization Module on every tile, segmentation only where it points.

LPC-Net's DLM (stage 1) is ~1/10 of the lite network's compute. With the cascade on, every batch
first goes through a DLM-only graph cut out of the engine's own ONNX file (``onnx.utils.Extractor``,
input → ``loc``); tiles whose ``loc`` never reaches ``threshold`` get ``prob = 0`` and skip the full
network. The speed-up is the share of defect-free tiles; the cost is every defect the DLM misses.
Measured on the synthetic web (README, "Live inspection"): it is off by default.

The DLM graph runs in ONNX Runtime (FP32 or the same QDQ graph the engine runs), with the engine's
thread count and no spinning threads, whatever the main engine's backend; a TensorRT engine has no
ONNX to cut (its plan is already one fused graph) and is refused.

Example:
    >>> with CascadeEngine(backends.load("engines/lite-int8"), threshold=0.3) as engine:
    ...     out = engine.infer(tiles)           # tiles (N,1,256,256) uint8 → {"prob", "loc"}
    ...     engine.skipped_share                # share of tiles the full network never saw
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from edgeinspect.errors import EdgeInspectError

#: ``loc`` above which a tile goes to the full network (the DLM is trained on rectangles around
#: defects with a BCE loss, so its positives sit well above 0.5; below 0.5 leaves slack).
DEFAULT_CASCADE_THRESHOLD = 0.3


def engine_onnx_file(engine: Any) -> Path:
    """The ONNX file an engine runs: a raw ``.onnx`` or its folder's ``manifest.model_file``.

    Raises:
        EdgeInspectError: the engine runs no ONNX file (TensorRT plan, torch checkpoint).
    """
    path = Path(engine.path)
    manifest = getattr(engine, "manifest", None)
    if manifest is not None:
        path = path / manifest.model_file
    if path.suffix.lower() != ".onnx":
        raise EdgeInspectError(f"{path}: the cascade needs an ONNX engine (openvino/onnxruntime), not {path.suffix or 'a folder'}")
    return path


def extract_dlm(onnx_path: Path, out_path: Path) -> Path:
    """Write the DLM-only part of an LPC-Net ONNX file: image input → ``loc`` output.

    Args:
        onnx_path: an exported LPC-Net (standard ops, FP32 or QDQ) with a ``loc`` output.
        out_path: where to write the sub-graph.

    Raises:
        EdgeInspectError: the file has no ``loc`` output (no DLM: the cascade does not apply).
    """
    import onnx
    from onnx.utils import Extractor

    model = onnx.load(str(onnx_path))
    outputs = [o.name for o in model.graph.output]
    if "loc" not in outputs:
        raise EdgeInspectError(f"{onnx_path}: no 'loc' output (outputs: {', '.join(outputs)}); the cascade needs a network with a DLM (LPC-Net)")
    initializers = {i.name for i in model.graph.initializer}
    inputs = [i.name for i in model.graph.input if i.name not in initializers]
    sub = Extractor(model).extract_model(inputs, ["loc"])
    onnx.save(sub, str(out_path))
    return out_path


def load_dlm(dlm_file: Path, *, threads: int | None = None) -> Any:
    """The DLM sub-graph as an ONNX Runtime engine (not opened) whose one output is ``loc``.

    Not :func:`edgeinspect.backends.load`: that wants a whole edgeinspect model (a ``prob`` output).
    """
    from edgeinspect import backends

    return backends.engine_class("onnxruntime")(dlm_file, None, threads=threads, output_names=("loc",))


class CascadeEngine:
    """An engine that runs the full network only on tiles the DLM flags.

    Args:
        engine: the full engine (unopened or open), outputs ``prob`` and ``loc``.
        threshold: a tile goes to the full network when ``max(loc) >= threshold``, in (0, 1].
        threads: threads of the DLM session (None: the engine's).

    Attributes:
        tiles: tiles seen; ``skipped``: tiles answered by the DLM alone (``prob`` all zero).

    It takes one call at a time (no ``concurrent_calls``), so the runner loads ``engine`` with one
    stream for a cascade: its session then keeps all of the engine's threads.
    """

    def __init__(self, engine: Any, *, threshold: float = DEFAULT_CASCADE_THRESHOLD, threads: int | None = None) -> None:
        if not 0.0 < threshold <= 1.0:
            raise EdgeInspectError(f"cascade threshold must be in (0, 1], got {threshold}")
        self.engine = engine
        self.threshold = float(threshold)
        self.threads = threads if threads is not None else getattr(engine, "threads", None)
        self.tiles = 0
        self.skipped = 0
        self._dlm: Any = None
        self._tmp: tempfile.TemporaryDirectory | None = None

    # -- what the pipeline and the summary read ----------------------------------------------------
    @property
    def tile_hw(self) -> tuple[int, int]:
        return self.engine.tile_hw

    @property
    def outputs(self) -> tuple[str, ...]:
        return self.engine.outputs

    @property
    def manifest(self) -> Any:
        return getattr(self.engine, "manifest", None)

    @property
    def path(self) -> Path:
        return self.engine.path

    @property
    def backend(self) -> str:
        return f"{self.engine.backend}+cascade"

    @property
    def stats(self) -> Any:
        return self.engine.stats

    @property
    def skipped_share(self) -> float:
        """Share of tiles the full network never saw, in [0, 1] (0 before any tile)."""
        return self.skipped / self.tiles if self.tiles else 0.0

    # -- lifecycle -----------------------------------------------------------------------------------
    def open(self) -> CascadeEngine:
        self.engine.open()
        try:
            if "loc" not in self.engine.outputs:
                raise EdgeInspectError(f"{self.engine.path}: engine outputs {', '.join(self.engine.outputs)} have no 'loc'; the cascade needs a network with a DLM (LPC-Net)")
            self._tmp = tempfile.TemporaryDirectory(prefix="edgeinspect-dlm-")
            dlm_file = extract_dlm(engine_onnx_file(self.engine), Path(self._tmp.name) / "dlm.onnx")
            self._dlm = load_dlm(dlm_file, threads=self.threads).open()
        except BaseException:
            self.close()  # the full engine (and a DLM folder) opened before the failure
            raise
        return self

    def close(self) -> None:
        if self._dlm is not None:
            self._dlm.close()
            self._dlm = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
        self.engine.close()

    def __enter__(self) -> CascadeEngine:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- inference -----------------------------------------------------------------------------------
    def infer(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        """``(N,1,H,W)`` uint8|float32 tiles → ``{"prob", "loc"}`` ``(N,1,H,W)`` float32 in [0,1].

        ``prob`` is the full network's where ``max(loc) >= threshold`` and 0 elsewhere.
        """
        if self._dlm is None:
            raise EdgeInspectError(f"{self.engine.path}: cascade engine is not open; use `with` or call open() first")
        loc = self._dlm.infer(batch)["loc"]
        flagged = loc.reshape(loc.shape[0], -1).max(axis=1) >= self.threshold
        prob = np.zeros(loc.shape, np.float32)
        if flagged.any():
            picked = batch if flagged.all() else batch[flagged]
            prob[flagged] = self.engine.infer(picked)["prob"]
        self.tiles += int(loc.shape[0])
        self.skipped += int((~flagged).sum())
        return {"prob": prob, "loc": loc}
