"""INT8 QDQ: one calibration, two encodings (symmetric int8 canonical, uint8 re-encoding), float tail."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from edgeinspect.errors import EdgeInspectError
from edgeinspect.export import Encoding
from edgeinspect.export.quantize import FILE_NAMES, RANGES_NAME, _TileReader, float_tail, quantize_qdq


def _tiles(n: int = 12) -> np.ndarray:
    rng = np.random.default_rng(5)
    base = rng.normal(110, 25, (n, 1, 32, 48))
    base[:, :, 8:14, 10:20] = 235  # bright patches so activations span a real range
    return np.clip(base, 0, 255).astype(np.float32)


@pytest.fixture(scope="module")
def quantized(tmp_path_factory: pytest.TempPathFactory, tiny_standard: Path):
    import importlib

    ort_quantize = importlib.import_module("onnxruntime.quantization")

    calls = []
    original = ort_quantize.create_calibrator

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    ort_quantize.create_calibrator = counting
    try:
        result = quantize_qdq(tiny_standard, _tiles(), out_dir=tmp_path_factory.mktemp("q"),
                              encodings=(Encoding.INT8_SYMMETRIC, Encoding.UINT8_ASYMMETRIC))
    finally:
        ort_quantize.create_calibrator = original
    return result, len(calls)


def _initializers(model: onnx.ModelProto) -> dict[str, np.ndarray]:
    return {i.name: onnx.numpy_helper.to_array(i) for i in model.graph.initializer}


def test_both_encodings_come_from_one_calibration_pass(quantized) -> None:
    result, calibrations = quantized
    assert calibrations == 1
    assert {e: p.name for e, p in result.files.items()} == {
        Encoding.INT8_SYMMETRIC: FILE_NAMES[Encoding.INT8_SYMMETRIC], Encoding.UINT8_ASYMMETRIC: FILE_NAMES[Encoding.UINT8_ASYMMETRIC]}
    assert result.ranges.name == RANGES_NAME and result.ranges.stat().st_size > 0


def test_symmetric_file_is_int8_with_zero_points_zero_and_per_channel_weights(quantized) -> None:
    result, _ = quantized
    model = onnx.load(str(result.files[Encoding.INT8_SYMMETRIC]))
    inits = _initializers(model)
    zero_points = [inits[n.input[2]] for n in model.graph.node if n.op_type == "QuantizeLinear"]
    assert zero_points and all(zp.dtype == np.int8 and not zp.any() for zp in zero_points)
    per_channel = [n for n in model.graph.node if n.op_type == "DequantizeLinear" and inits.get(n.input[1]) is not None
                   and inits[n.input[1]].size > 1]
    assert per_channel  # conv weights carry one scale per output channel
    for node in model.graph.node:
        if node.op_type == "DequantizeLinear" and len(node.input) > 2 and node.input[2] in inits:
            assert not inits[node.input[2]].any()


def test_uint8_file_has_uint8_activations_and_int8_symmetric_weights(quantized) -> None:
    result, _ = quantized
    model = onnx.load(str(result.files[Encoding.UINT8_ASYMMETRIC]))
    inits = _initializers(model)
    activation_zps = [inits[n.input[2]] for n in model.graph.node if n.op_type == "QuantizeLinear"]
    assert activation_zps and all(zp.dtype == np.uint8 for zp in activation_zps)
    assert any(zp.any() for zp in activation_zps)  # asymmetric: some zero point is not 0
    weight_zps = [v for k, v in inits.items() if k.endswith("_zero_point") and v.dtype == np.int8]
    assert weight_zps and not any(zp.any() for zp in weight_zps)


def test_sigmoid_and_pcm_tail_stay_float(quantized) -> None:
    result, _ = quantized
    excluded = set(result.excluded_nodes)
    for path in result.files.values():
        model = onnx.load(str(path))
        producers = {o: n for n in model.graph.node for o in n.output}
        tail = [n for n in model.graph.node if n.name in excluded]
        assert {n.op_type for n in tail} >= {"Sigmoid", "Clip", "Conv", "Mul"}
        for node in tail:
            if node.op_type == "Sigmoid":  # takes the dequantized logits
                continue
            fed_by = {producers[i].op_type for i in node.input if i in producers}
            assert "DequantizeLinear" not in fed_by, node.name
        assert producers["prob"].op_type == "Clip"  # probabilities are not rounded to 8 bits


def test_quantized_outputs_stay_close_to_fp32(tiny_standard: Path, quantized) -> None:
    result, _ = quantized
    x = _tiles(4)
    reference = ort.InferenceSession(str(tiny_standard), providers=["CPUExecutionProvider"]).run(["prob"], {"image": x})[0]
    for path in result.files.values():
        got = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(["prob"], {"image": x})[0]
        assert np.abs(got - reference).mean() < 0.02 and np.abs(got - reference).max() < 0.2


def test_float_tail_stops_at_the_head_sigmoids(tiny_standard: Path) -> None:
    model = onnx.load(str(tiny_standard))
    for index, node in enumerate(model.graph.node):
        node.name = node.name or f"n{index}"
    tail = float_tail(model)
    types = [n.op_type for n in model.graph.node if n.name in tail]
    assert types.count("Sigmoid") == 2 and "Clip" in types
    assert "Relu" not in types and len(tail) <= 8


def test_plugin_form_and_empty_calibration_are_refused(tmp_path: Path, tiny_plugin: Path, tiny_standard: Path) -> None:
    with pytest.raises(EdgeInspectError, match="plugin-form ONNX .* --ops standard"):
        quantize_qdq(tiny_plugin, _tiles(2), out_dir=tmp_path)
    with pytest.raises(EdgeInspectError, match="N >= 1"):
        quantize_qdq(tiny_standard, np.zeros((0, 1, 32, 48), np.float32), out_dir=tmp_path)


def test_percentile_ranges_merged_batch_by_batch_equal_one_pass_over_all_tiles(tmp_path: Path,
                                                                               tiny_standard: Path) -> None:
    """19 tiles (batches 8, 8, 3) calibrated batch by batch give the ranges ORT's calibrator gives
    when it reads all 19 at once (the histograms merge as they go), within a few histogram bins."""
    from onnxruntime.quantization import CalibrationMethod, create_calibrator, load_tensors_data

    tiles = _tiles(19)
    result = quantize_qdq(tiny_standard, tiles, out_dir=tmp_path / "q", encodings=(Encoding.UINT8_ASYMMETRIC,))
    assert result.method == "Percentile" and result.files[Encoding.UINT8_ASYMMETRIC].is_file()
    ours = load_tensors_data(result.ranges).data

    one_pass = create_calibrator(tiny_standard, None, augmented_model_path=str(tmp_path / "aug.onnx"),
                                 calibrate_method=CalibrationMethod.Percentile,
                                 extra_options={"percentile": 99.999, "symmetric": True, "num_bins": 2048})
    name = onnx.load(str(tiny_standard)).graph.input[0].name
    one_pass.collect_data(_TileReader(name, tiles, batch=19))
    reference = one_pass.compute_data()
    checked = 0
    for tensor, rng in reference.data.items():
        low, high = (float(v) for v in rng.range_value)
        ours_low, ours_high = (float(v) for v in ours[tensor].range_value)
        bin_width = max(abs(low), abs(high)) / 2048 * 4  # merged histograms re-bin: a few bins apart
        assert ours_low == pytest.approx(low, abs=bin_width + 1e-6) and ours_high == pytest.approx(high, abs=bin_width + 1e-6)
        checked += 1
    assert checked > 3

