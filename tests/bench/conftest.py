"""Bench-test fixtures: a tiny real ONNX network and an engine folder built from it (doubles: bench_doubles.py).

The network (one Sub/Mul/Sigmoid chain, 32×32 tiles) maps pixels to ``prob = sigmoid((60 - x) / 4)``
(dark pixels are defects), so the pipeline runs end to end on the synthetic web with few records.
"""

from __future__ import annotations

from pathlib import Path

import pytest

TILE_HW = (32, 32)


def write_dark_onnx(path: Path, tile_hw: tuple[int, int] = TILE_HW) -> Path:
    """Write ``(N,1,H,W) float32 [0,255] → prob = sigmoid((60 - x) / 4)`` as ONNX (opset 17)."""
    import onnx
    from onnx import TensorProto, helper

    h, w = tile_hw
    x = helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 1, h, w])
    y = helper.make_tensor_value_info("prob", TensorProto.FLOAT, ["N", 1, h, w])
    inits = [helper.make_tensor("t", TensorProto.FLOAT, [], [60.0]),
             helper.make_tensor("s", TensorProto.FLOAT, [], [0.25])]
    nodes = [helper.make_node("Sub", ["t", "image"], ["d"]),
             helper.make_node("Mul", ["d", "s"], ["z"]),
             helper.make_node("Sigmoid", ["z"], ["prob"])]
    model = helper.make_model(helper.make_graph(nodes, "dark", [x], [y], initializer=inits),
                              opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


@pytest.fixture(scope="session")
def dark_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Raw ONNX file (runs on ONNX Runtime through backends.load's .onnx path)."""
    return write_dark_onnx(tmp_path_factory.mktemp("onnx") / "dark32.onnx")


@pytest.fixture(scope="session")
def dark_engine(tmp_path_factory: pytest.TempPathFactory, dark_onnx: Path) -> Path:
    """An engine folder (manifest.json) built from ``dark_onnx`` with backends' build API (ONNX Runtime FP32)."""
    from edgeinspect.backends.build import build_engine

    return build_engine(dark_onnx, out=tmp_path_factory.mktemp("engines") / "dark-ort", backend="onnxruntime",
                        threads=1).path
