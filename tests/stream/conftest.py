"""Fixtures of the stream tests: tiny real ONNX engines (built with onnx.helper, run by ONNX Runtime)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fixtures_stream import write_onnx


@pytest.fixture(scope="session")
def onnx_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("onnx")


@pytest.fixture(scope="session")
def identity_onnx(onnx_dir) -> Path:
    """prob = pixel / 255, 64×64 tiles."""
    return write_onnx(onnx_dir / "identity64.onnx", (64, 64), kind="identity")


@pytest.fixture(scope="session")
def dark_onnx(onnx_dir) -> Path:
    """prob = sigmoid((60 - pixel) / 4), 64×64 tiles."""
    return write_onnx(onnx_dir / "dark64.onnx", (64, 64), kind="dark")


@pytest.fixture()
def identity_engine(identity_onnx):
    from edgeinspect import backends

    with backends.load(identity_onnx, threads=1) as engine:
        yield engine


@pytest.fixture(scope="session")
def blur_onnx(onnx_dir) -> Path:
    """prob = 3×3 box mean of pixel / 255 with zero padding at the tile border (a network's seam weakness), 64×64 tiles."""
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 1, 64, 64])
    y = helper.make_tensor_value_info("prob", TensorProto.FLOAT, ["N", 1, 64, 64])
    weight = helper.make_tensor("w", TensorProto.FLOAT, [1, 1, 3, 3], [1.0 / (9 * 255)] * 9)
    conv = helper.make_node("Conv", ["input", "w"], ["prob"], kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    model = helper.make_model(helper.make_graph([conv], "blur_double", [x], [y], initializer=[weight]),
                              opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path = onnx_dir / "blur64.onnx"
    onnx.save(model, str(path))
    return path


@pytest.fixture()
def blur_engine(blur_onnx):
    from edgeinspect import backends

    with backends.load(blur_onnx, threads=1) as engine:
        yield engine
