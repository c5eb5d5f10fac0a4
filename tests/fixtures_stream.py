"""Tiny real ONNX networks for the stream and run tests (built with onnx.helper, run by ONNX Runtime).

Import with ``from fixtures_stream import write_onnx`` (``tests/`` is on sys.path through tests/conftest.py).
They stand in for a trained model where the test is about the pipeline, not the network:
``identity`` (prob = pixel / 255) and ``dark`` (prob = sigmoid((60 - pixel) / 4)).
"""

from __future__ import annotations

from pathlib import Path


def write_onnx(path: Path, tile_hw: tuple[int, int], *, kind: str = "identity") -> Path:
    """Write a one-node ONNX network ``(N,1,H,W) float32 [0,255] → prob (N,1,H,W) [0,1]``.

    Args:
        kind: ``"identity"`` (prob = pixel / 255) or ``"dark"`` (prob = sigmoid((60 - pixel) / 4):
            dark pixels are defects).
    """
    import onnx
    from onnx import TensorProto, helper

    h, w = tile_hw
    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 1, h, w])
    y = helper.make_tensor_value_info("prob", TensorProto.FLOAT, ["N", 1, h, w])
    if kind == "identity":
        inits = [helper.make_tensor("k", TensorProto.FLOAT, [], [255.0])]
        nodes = [helper.make_node("Div", ["input", "k"], ["prob"])]
    elif kind == "dark":
        inits = [helper.make_tensor("t", TensorProto.FLOAT, [], [60.0]),
                 helper.make_tensor("s", TensorProto.FLOAT, [], [0.25])]
        nodes = [helper.make_node("Sub", ["t", "input"], ["d"]),
                 helper.make_node("Mul", ["d", "s"], ["z"]),
                 helper.make_node("Sigmoid", ["z"], ["prob"])]
    else:
        raise ValueError(kind)
    graph = helper.make_graph(nodes, f"{kind}_double", [x], [y], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path
