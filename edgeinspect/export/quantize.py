"""FP32 ONNX → static INT8 QDQ ONNX (ONNX Runtime's quantizer; no torch).

One calibration, several encodings. :func:`quantize_qdq` runs the FP32 graph once over the
calibration tiles, one batch at a time (ORT's ``CalibrationMethod.Percentile`` calibrator at
:data:`CALIB_PERCENTILE`, its histograms merged batch by batch so memory stays at one batch's
activations), writes the per-tensor ranges to ``calibration.json`` (``save_tensors_data``) and then
writes each requested encoding from those same ranges
(``quantize_static(calibration_cache_path=...)``):

- ``int8-symmetric`` (canonical): QDQ with int8 activations and int8 weights, both symmetric (zero
  point 0), weights per channel. TensorRT's explicit quantization accepts it and OpenVINO runs it fast.
- ``uint8-asymmetric``: uint8 activations with a zero point, int8 symmetric per-channel weights —
  the encoding ONNX Runtime's CPU kernels are fast with (design.md: 20 ms vs 51–74 ms for int8
  symmetric activations on an LPC-Net-sized network).

The graph is pre-processed first (``quant_pre_process``: ONNX shape inference only, no ORT graph
optimisation: ORT's optimiser rewrites ``HardSwish`` into ``HardSigmoid`` · ``Mul``, the quantizer then
puts Q/DQ pairs between the two, and OpenVINO can no longer fuse the activation into the convolution —
on lpcnet-lite, batch 8, that made the INT8 engine 2× slower than FP32 (176 vs 88 ms); keeping the
exported ops it runs at FP32 speed or better, and ResNet/ReLU networks are unchanged).
The tail after the last head logits (sigmoid, PCM) is kept in float (``keep_float_tail``): it is a
few cheap ops whose int8 version would only coarsen the probabilities around 0.5.

Example:
    >>> result = quantize_qdq(Path("model.onnx"), calib, out_dir=Path("engines/x"),
    ...                       encodings=(Encoding.INT8_SYMMETRIC, Encoding.UINT8_ASYMMETRIC))
    >>> result.files[Encoding.INT8_SYMMETRIC].name
    'model.int8.onnx'
"""

from __future__ import annotations

import contextlib
import io
import logging
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgeinspect.errors import EdgeInspectError
from edgeinspect.export import Encoding

log = logging.getLogger("edgeinspect.export")

#: Output file names per encoding, and of the calibration ranges.
FILE_NAMES = {Encoding.INT8_SYMMETRIC: "model.int8.onnx", Encoding.UINT8_ASYMMETRIC: "model.uint8.onnx"}
RANGES_NAME = "calibration.json"
#: Tiles per calibration batch (the augmented graph takes a dynamic batch).
CALIB_BATCH = 8
#: Percentile of each activation's histogram taken as its range. Measured on the bundled
#: lpcnet-lite (uint8 encoding, 256 synthetic calibration tiles, mIoU drop vs FP32 on 256 synthetic
#: gate tiles, OpenVINO / ONNX Runtime): MinMax 1.59 / 1.72 points, 99.9999 1.06 / 1.32 (128
#: calibration tiles), **99.999 0.09 / 0.30**, 99.99 4.0 / 4.5 (96 gate tiles): min/max ranges are
#: stretched by a few outlier activations and waste codes; 99.99 clips real ones.
CALIB_PERCENTILE = 99.999
#: Ops that stay float when they follow the last Sigmoid (the PCM and the probability itself).
TAIL_OP_TYPES = frozenset({"Sigmoid", "Conv", "Mul", "Add", "Clip", "Min", "Max", "Sub", "Div"})


@dataclass(frozen=True, slots=True)
class QuantizeResult:
    """What :func:`quantize_qdq` wrote.

    Attributes:
        files: ``{Encoding: path}`` of each QDQ model.
        ranges: path of the calibration ranges (JSON), shared by every encoding.
        excluded_nodes: node names kept in float.
        method: the calibration method the ranges came from (``"Percentile"``, or ``"MinMax"``
            when an activation was constant over the calibration tiles).
    """

    files: dict[Encoding, Path]
    ranges: Path
    excluded_nodes: tuple[str, ...]
    method: str = "Percentile"


class _TileReader:
    """ORT CalibrationDataReader over ``(N,1,H,W)`` float32 tiles, ``batch`` (:data:`CALIB_BATCH`) per step."""

    def __init__(self, input_name: str, tiles: np.ndarray, *, batch: int = CALIB_BATCH) -> None:
        self.input_name = input_name
        self.tiles = np.ascontiguousarray(tiles, dtype=np.float32)
        self.batch = int(batch)
        self._iter: Iterator[dict[str, np.ndarray]] | None = None

    def _batches(self) -> Iterator[dict[str, np.ndarray]]:
        for start in range(0, self.tiles.shape[0], self.batch):
            yield {self.input_name: self.tiles[start : start + self.batch]}

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self._iter is None:
            self._iter = self._batches()
        return next(self._iter, None)

    def rewind(self) -> None:
        self._iter = None

    def __len__(self) -> int:
        return -(-self.tiles.shape[0] // self.batch)


def float_tail(model) -> list[str]:
    """Names of the nodes between the head ``Sigmoid`` s and the graph outputs (sigmoids included).

    A node is in the tail when it is one of :data:`TAIL_OP_TYPES` and one of its inputs comes, through
    such nodes only, from a ``Sigmoid``; the walk starts at the graph outputs. Outputs that do not
    end in such a chain contribute nothing, and nothing before a head sigmoid is ever included.
    """
    producer = {out: node for node in model.graph.node for out in node.output}
    memo: dict[str, bool] = {}
    tail: list[str] = []

    def reaches_sigmoid(tensor: str, depth: int = 0) -> bool:
        node = producer.get(tensor)
        if node is None or node.op_type not in TAIL_OP_TYPES or depth > 64:
            return False
        if node.name in memo:
            return memo[node.name]
        memo[node.name] = False  # cycle guard
        hit = node.op_type == "Sigmoid" or any([reaches_sigmoid(i, depth + 1) for i in node.input])
        memo[node.name] = hit
        if hit and node.name not in tail:
            tail.append(node.name)
        return hit

    for output in model.graph.output:
        reaches_sigmoid(output.name)
    return tail


def _name_nodes(model) -> None:
    """Give unnamed nodes unique names (nodes_to_exclude keys on names)."""
    used = {n.name for n in model.graph.node if n.name}
    for index, node in enumerate(model.graph.node):
        if not node.name:
            name = f"{node.op_type}_{index}"
            while name in used:
                name += "_"
            node.name = name
            used.add(name)


def _calibrate(prepared: Path, input_name: str, tiles: np.ndarray, *, method, work: Path):
    """Per-tensor ranges of the FP32 graph over ``tiles``, one batch at a time.

    ORT's calibrators keep every activation of what one ``collect_data`` call reads until they
    reduce it (a histogram, a min/max): over 256 tiles of lpcnet-lite that is 13 GB. Fed one
    :data:`CALIB_BATCH` at a time they merge as they go (histograms widen their bins to a new
    maximum), so memory stays at one batch's activations.

    Returns:
        ORT ``TensorsData`` (what ``quantize_static(calibration_cache_path=...)`` reads back).
    """
    from onnxruntime.quantization import CalibrationMethod, create_calibrator

    if method is CalibrationMethod.Percentile:
        options = {"percentile": CALIB_PERCENTILE, "symmetric": True, "num_bins": 2048}
    else:
        options = {}  # min/max: each collect_data call reduces its batch and merges it into the ranges
    calibrator = create_calibrator(prepared, None, augmented_model_path=str(work / "augmented.onnx"),
                                   calibrate_method=method, extra_options=options)
    with contextlib.redirect_stdout(io.StringIO()):  # the histogram calibrator prints its progress
        for start in range(0, tiles.shape[0], CALIB_BATCH):
            calibrator.collect_data(_TileReader(input_name, tiles[start:start + CALIB_BATCH]))
        return calibrator.compute_data()


def _quantize(prepared: Path, target: Path, ranges: Path, *, method, symmetric: bool, per_channel: bool,
              excluded: list[str]) -> None:
    """One ``quantize_static`` from the saved ranges: QDQ, int8 weights per channel, int8 symmetric or uint8 activations."""
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

    quantize_static(
        str(prepared), str(target), None,
        quant_format=QuantFormat.QDQ,
        activation_type=QuantType.QInt8 if symmetric else QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        per_channel=per_channel,
        calibrate_method=method,
        nodes_to_exclude=list(excluded),
        calibration_cache_path=str(ranges),
        extra_options={"ActivationSymmetric": symmetric, "WeightSymmetric": True},
    )


def quantize_qdq(
    onnx_path: Path,
    tiles: np.ndarray,
    *,
    out_dir: Path,
    encodings: Iterable[Encoding | str] = (Encoding.INT8_SYMMETRIC,),
    keep_float_tail: bool = True,
    per_channel: bool = True,
) -> QuantizeResult:
    """Calibrate once and write one QDQ model per encoding.

    Args:
        onnx_path: FP32 standard-op ONNX with one input ``(N,1,H,W)``.
        tiles: calibration ``(N,1,H,W)`` float32 in [0,255] (e.g. ``CalibrationSet.tiles``).
        out_dir: where ``model.int8.onnx`` / ``model.uint8.onnx`` and ``calibration.json`` go.
        encodings: which encodings to write (each from the same ranges).
        keep_float_tail: keep the nodes after the last head logits (sigmoid, PCM) in float.
        per_channel: per-output-channel weight scales.

    Returns:
        :class:`QuantizeResult`.

    Raises:
        EdgeInspectError: no calibration tiles, a plugin-form model, or the quantizer fails.
    """
    import onnx
    from onnxruntime.quantization import CalibrationMethod, save_tensors_data
    from onnxruntime.quantization.shape_inference import quant_pre_process

    encodings = [Encoding(e) for e in encodings]
    onnx_path, out_dir = Path(onnx_path), Path(out_dir)
    if tiles.ndim != 4 or tiles.shape[0] == 0:
        raise EdgeInspectError(f"calibration needs (N,1,H,W) tiles with N >= 1, got shape {tiles.shape}")
    model = onnx.load_model(str(onnx_path))
    custom = sorted({n.domain for n in model.graph.node if n.domain not in ("", "ai.onnx")})
    if custom:
        raise EdgeInspectError(f"{onnx_path}: plugin-form ONNX (domains {custom}) cannot be quantized on CPU; export with --ops standard")
    out_dir.mkdir(parents=True, exist_ok=True)
    ranges = out_dir / RANGES_NAME
    ranges.unlink(missing_ok=True)
    files: dict[Encoding, Path] = {}
    quant_logger = logging.getLogger()
    level = quant_logger.level
    with tempfile.TemporaryDirectory(prefix="edgeinspect-quant-") as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        try:
            quant_pre_process(str(onnx_path), str(prepared), skip_optimization=True, skip_symbolic_shape=True)
        except Exception as error:
            raise EdgeInspectError(f"{onnx_path}: quantization pre-processing failed ({error})") from None
        prepared_model = onnx.load_model(str(prepared))
        _name_nodes(prepared_model)
        onnx.save_model(prepared_model, str(prepared))
        excluded = float_tail(prepared_model) if keep_float_tail else []
        input_name = prepared_model.graph.input[0].name
        quant_logger.setLevel(logging.ERROR)  # ORT warns about pre-processing on every call
        try:
            method = CalibrationMethod.Percentile
            try:
                tensors_range = _calibrate(prepared, input_name, tiles, method=method, work=Path(tmp))
            except ValueError as error:
                # an activation constant over every calibration tile has no histogram
                # (e.g. all-black images): take its min/max, and let the accuracy gate judge
                log.warning("%s: percentile calibration failed (%s): using min/max ranges", onnx_path, error)
                method = CalibrationMethod.MinMax
                tensors_range = _calibrate(prepared, input_name, tiles, method=method, work=Path(tmp))
            save_tensors_data(tensors_range, ranges)
            for encoding in encodings:
                target = out_dir / FILE_NAMES[encoding]
                _quantize(prepared, target, ranges, method=method, symmetric=encoding is Encoding.INT8_SYMMETRIC,
                          per_channel=per_channel, excluded=excluded)
                files[encoding] = target
        except EdgeInspectError:
            raise
        except Exception as error:
            raise EdgeInspectError(f"{onnx_path}: INT8 quantization failed: {type(error).__name__}: {error}") from None
        finally:
            quant_logger.setLevel(level)
    return QuantizeResult(files, ranges, tuple(excluded), method.name)
