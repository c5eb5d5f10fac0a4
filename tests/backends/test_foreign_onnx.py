"""An ONNX file that is not an edgeinspect model is refused by name when loaded or built, not at the first batch."""

from __future__ import annotations

import pytest
from fixtures_onnx import write_relu_onnx

from edgeinspect import backends
from edgeinspect.backends.base import check_model_io
from edgeinspect.backends.build import build_engine
from edgeinspect.errors import EdgeInspectError


@pytest.mark.parametrize("dims, outputs, message", [
    (["N", 3, 64, 64], ["prob"], r"input shape \['N', 3, 64, 64\] is not an \(N,1,H,W\) gray image"),
    ([1, 64, 64], ["prob"], r"input shape \[1, 64, 64\] is not an \(N,1,H,W\) gray image"),
    ([1, 1, 8, 8], ["y"], r"no output 'prob' \(outputs: y\)"),
])
def test_check_model_io_refuses_what_is_not_an_edgeinspect_model(dims, outputs, message):
    with pytest.raises(EdgeInspectError, match=f"^m.onnx: {message}: not an edgeinspect model"):
        check_model_io("m.onnx", dims, outputs)


def test_check_model_io_gives_the_engine_outputs_in_their_order():
    assert check_model_io("m.onnx", ["N", 1, 256, 256], ["loc", "prob", "extra"]) == ("prob", "loc")
    assert check_model_io("m.onnx", ["N", None, "h", "w"], ["prob"]) == ("prob",)  # symbolic dims pass


def test_loading_a_three_channel_onnx_names_the_file(tmp_path):
    path = write_relu_onnx(tmp_path / "rgb.onnx", ["N", 3, 64, 64])
    with pytest.raises(EdgeInspectError, match=f"^{path}: input shape .* not an edgeinspect model"):
        backends.load(path).open()


def test_loading_an_onnx_without_prob_names_its_outputs(tmp_path):
    path = write_relu_onnx(tmp_path / "y.onnx", [1, 1, 8, 8], input_name="x", output_name="y")
    with pytest.raises(EdgeInspectError, match=r"no output 'prob' \(outputs: y\)"):
        backends.load(path).open()


def test_building_a_three_channel_onnx_is_refused_and_writes_nothing(tmp_path):
    path = write_relu_onnx(tmp_path / "rgb.onnx", ["N", 3, 64, 64])
    with pytest.raises(EdgeInspectError, match="not an .N,1,H,W. gray image"):
        build_engine(path, backend="onnxruntime", precision="fp32", out=tmp_path / "engine")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rgb.onnx"]
