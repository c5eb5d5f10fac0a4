"""ONNX files made here, standing in for models made elsewhere (not by `edgeinspect export`)."""

from __future__ import annotations

from pathlib import Path

import onnx
from onnx import TensorProto, helper


def write_relu_onnx(path: Path, input_dims: list, *, input_name: str = "image", output_name: str = "prob",
                    elem_type: int = TensorProto.FLOAT) -> Path:
    """A one-Relu ONNX with the given input dims, names and element type (a stand-in for a model made elsewhere)."""
    x = helper.make_tensor_value_info(input_name, elem_type, input_dims)
    y = helper.make_tensor_value_info(output_name, elem_type, input_dims)
    op = "Relu" if elem_type == TensorProto.FLOAT else "Identity"  # Relu takes no integer tensors
    graph = helper.make_graph([helper.make_node(op, [input_name], [output_name])], "relu", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path
