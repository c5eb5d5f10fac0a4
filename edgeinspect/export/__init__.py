"""ONNX export (plugin-op or standard-op form) and INT8 QDQ quantization.

- :func:`edgeinspect.export.onnx.export_onnx` / :func:`export_checkpoint`: a network → ONNX with input
  ``image`` ``(N,1,H,W)`` float32 in [0,255] and outputs ``prob`` (+ ``loc``), normalisation and
  sigmoid inside the graph (needs torch).
- :func:`edgeinspect.export.quantize.quantize_qdq`: FP32 ONNX → static QDQ INT8 (no torch).
- :func:`edgeinspect.export.calibration.load_calibration`: calibration and held-aside gate tiles (no torch).

Importing this package imports no torch; the enums below are shared with the backends and the CLI.
"""

from __future__ import annotations

from enum import Enum


class OpForm(str, Enum):
    """How the custom ops (strip projection, PCM) appear in the ONNX graph."""

    STANDARD = "standard"  # decomposed into standard ONNX ops: every runtime
    PLUGIN = "plugin"      # one TensorRT plugin node each (domain trt.plugins): TensorRT only


class Precision(str, Enum):
    """Numeric precision of an engine."""

    FP32 = "fp32"
    INT8 = "int8"


class Encoding(str, Enum):
    """INT8 QDQ encodings, both from the same calibration ranges."""

    INT8_SYMMETRIC = "int8-symmetric"      # canonical: int8 weights+activations, zero point 0 (TensorRT, OpenVINO)
    UINT8_ASYMMETRIC = "uint8-asymmetric"  # uint8 activations with zero point, int8 symmetric weights (ORT CPU)


#: ONNX opset the exporter writes (>= 17; 18 is what the torch dynamo exporter emits natively).
ONNX_OPSET = 18
INPUT_NAME = "image"

__all__ = ["INPUT_NAME", "ONNX_OPSET", "Encoding", "OpForm", "Precision"]
