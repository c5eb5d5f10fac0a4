"""An ONNX file that is not an edgeinspect model is refused by name when loaded or built, not at the first batch."""

from __future__ import annotations

import pytest
from fixtures_onnx import write_relu_onnx
from onnx import TensorProto

from edgeinspect import backends
from edgeinspect.backends.base import check_model_io
from edgeinspect.backends.build import build_engine
from edgeinspect.errors import EdgeInspectError


@pytest.mark.parametrize("dims, outputs, message", [
    (["N", 3, 64, 64], ["prob"], r"input shape \['N', 3, 64, 64\] is not an \(N,1,H,W\) gray image"),
    ([1, 64, 64], ["prob"], r"input shape \[1, 64, 64\] is not an \(N,1,H,W\) gray image"),
    (["N", 1, 8, 8], ["y"], r"no output 'prob' \(outputs: y\)"),
    ([1, 1, 64, 64], ["prob"], r"input shape \[1, 1, 64, 64\] fixes the batch at 1 \(a run sends 1..batch_size tiles per call\)"),
])
def test_check_model_io_refuses_what_is_not_an_edgeinspect_model(dims, outputs, message):
    with pytest.raises(EdgeInspectError, match=f"^m.onnx: {message}: not an edgeinspect model"):
        check_model_io("m.onnx", dims, outputs)


def test_check_model_io_refuses_a_non_float_input_two_inputs_and_a_two_channel_prob():
    with pytest.raises(EdgeInspectError, match="^m.onnx: input type uint8, not float32: not an edgeinspect model"):
        check_model_io("m.onnx", ["N", 1, 64, 64], ["prob"], input_type="tensor(uint8)")
    with pytest.raises(EdgeInspectError, match=r"^m.onnx: 2 inputs, not one \(N,1,H,W\) gray image"):
        check_model_io("m.onnx", ["N", 1, 64, 64], ["prob"], inputs=2)
    with pytest.raises(EdgeInspectError, match=r"^m.onnx: output 'prob' shape \['N', 2, 64, 64\] has 2 channels"):
        check_model_io("m.onnx", ["N", 1, 64, 64], ["prob"], output_shapes={"prob": ["N", 2, 64, 64]})
    assert check_model_io("m.onnx", ["N", 1, 64, 64], ["prob"], input_type="float",
                          output_shapes={"prob": ["N", 1, 64, 64]}) == ("prob",)


@pytest.mark.parametrize("name, dims, elem_type, message", [
    ("static1.onnx", [1, 1, 64, 64], TensorProto.FLOAT, r"input shape \[1, 1, 64, 64\] fixes the batch at 1"),
    ("u8.onnx", ["N", 1, 64, 64], TensorProto.UINT8, "input type uint8, not float32"),
])
def test_a_fixed_batch_or_uint8_onnx_is_refused_by_load_build_and_run(tmp_path, name, dims, elem_type, message):
    from edgeinspect.cli import main

    path = write_relu_onnx(tmp_path / name, dims, elem_type=elem_type)
    with pytest.raises(EdgeInspectError, match=f"^{path}: {message}"):
        backends.load(path).open()
    with pytest.raises(EdgeInspectError, match=f"^{path}: {message}"):
        build_engine(path, backend="onnxruntime", precision="fp32", out=tmp_path / "engine")
    assert not (tmp_path / "engine").exists()
    with pytest.raises(SystemExit) as exit_info:
        main(["run", "--engine", str(path), "--lines", "256", "--out", str(tmp_path / "run")])
    assert exit_info.value.code == 2


def test_check_model_io_gives_the_engine_outputs_in_their_order():
    assert check_model_io("m.onnx", ["N", 1, 256, 256], ["loc", "prob", "extra"]) == ("prob", "loc")
    assert check_model_io("m.onnx", ["N", None, "h", "w"], ["prob"]) == ("prob",)  # symbolic dims pass


def test_loading_a_three_channel_onnx_names_the_file(tmp_path):
    path = write_relu_onnx(tmp_path / "rgb.onnx", ["N", 3, 64, 64])
    with pytest.raises(EdgeInspectError, match=f"^{path}: input shape .* not an edgeinspect model"):
        backends.load(path).open()


def test_loading_an_onnx_without_prob_names_its_outputs(tmp_path):
    path = write_relu_onnx(tmp_path / "y.onnx", ["N", 1, 8, 8], input_name="x", output_name="y")
    with pytest.raises(EdgeInspectError, match=r"no output 'prob' \(outputs: y\)"):
        backends.load(path).open()


def test_building_a_three_channel_onnx_is_refused_and_writes_nothing(tmp_path):
    path = write_relu_onnx(tmp_path / "rgb.onnx", ["N", 3, 64, 64])
    with pytest.raises(EdgeInspectError, match="not an .N,1,H,W. gray image"):
        build_engine(path, backend="onnxruntime", precision="fp32", out=tmp_path / "engine")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rgb.onnx"]


def test_an_onnx_without_inputs_is_one_line(tmp_path):
    import numpy as np
    import onnx
    from onnx import helper

    prob = helper.make_tensor_value_info("prob", TensorProto.FLOAT, ["N", 1, 8, 8])
    constant = helper.make_node("Constant", [], ["prob"],
                                value=helper.make_tensor("v", TensorProto.FLOAT, [1, 1, 8, 8], np.zeros(64, np.float32)))
    model = helper.make_model(helper.make_graph([constant], "zero", [], [prob]), opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = tmp_path / "zero.onnx"
    onnx.save(model, str(path))
    with pytest.raises(EdgeInspectError, match=rf"^{path}: 0 inputs, not one \(N,1,H,W\) gray image"):
        backends.load(path).open()


def test_the_tensorrt_build_stage_refuses_a_foreign_onnx_before_tensorrt_sees_it(tmp_path):
    from edgeinspect.backends.tensorrt_build import PluginDecision, _stage

    path = write_relu_onnx(tmp_path / "static1.onnx", [1, 1, 64, 64])
    work = tmp_path / "work"
    work.mkdir()
    with pytest.raises(EdgeInspectError, match=f"^{path}: input shape .* fixes the batch at 1"):
        _stage(path, "standard", PluginDecision("standard-ops", "test"), work, progress=lambda *a, **k: None)
