"""The Engine API over every built CPU engine: lifecycle, input checks, outputs, timing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from engine_testkit import bright_net_numpy, squares_image

from edgeinspect import backends
from edgeinspect.backends.openvino import OpenVINOEngine
from edgeinspect.errors import EdgeInspectError

ENGINES = ("openvino-fp32", "openvino-int8", "onnxruntime-fp32", "onnxruntime-int8")


def _batch(n: int, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    pairs = [squares_image(rng, (32, 32)) for _ in range(n)]
    return np.stack([p[0] for p in pairs])[:, None], np.stack([p[1] for p in pairs])


@pytest.mark.parametrize("name", ENGINES)
def test_infer_returns_float32_prob_and_loc_for_uint8_and_float32(name: str, built_engines: dict[str, Path]) -> None:
    images, masks = _batch(3)
    with backends.load(built_engines[name], threads=1) as engine:
        assert engine.tile_hw == (32, 32) and engine.outputs == ("prob", "loc")
        out_u8 = engine.infer(images)
        out_f32 = engine.infer(images.astype(np.float32))
    assert set(out_u8) == {"prob", "loc"}
    for out in (out_u8, out_f32):
        for array in out.values():
            assert array.shape == (3, 1, 32, 32) and array.dtype == np.float32
            assert 0.0 <= array.min() and array.max() <= 1.0
    np.testing.assert_array_equal(out_u8["prob"], out_f32["prob"])
    np.testing.assert_array_equal(out_u8["prob"][:, 0] >= 0.5, masks)  # bright squares found exactly
    tolerance = 1e-5 if name.endswith("fp32") else 0.1
    np.testing.assert_allclose(out_u8["prob"], bright_net_numpy(images), atol=tolerance)


def test_batch_size_is_dynamic(built_engines: dict[str, Path]) -> None:
    images, _ = _batch(8)
    with backends.load(built_engines["openvino-fp32"]) as engine:
        one = engine.infer(images[:1])["prob"]
        eight = engine.infer(images)["prob"]
    np.testing.assert_allclose(eight[:1], one, atol=1e-6)


def test_throughput_hint_splits_a_batch_over_requests(built_engines: dict[str, Path]) -> None:
    images, _ = _batch(5)
    with backends.load(built_engines["openvino-fp32"], threads=2, hint="latency") as latency:
        expected = latency.infer(images)
    with backends.load(built_engines["openvino-fp32"], threads=2, hint="throughput") as engine:
        assert engine.streams == 2  # OpenVINO's THROUGHPUT model on 2 threads: two infer requests
        got = engine.infer(images)  # 5 tiles: 3 + 2, one chunk per request
        assert engine._single is None  # the LATENCY model was never needed
    for name in ("prob", "loc"):
        np.testing.assert_allclose(got[name], expected[name], atol=1e-6)


@pytest.mark.parametrize(
    ("batch", "message"),
    [
        (np.zeros((1, 1, 16, 32), np.uint8), r"input shape \(1, 1, 16, 32\) does not match the engine input \(N,1,32,32\)"),
        (np.zeros((1, 3, 32, 32), np.uint8), r"input shape .* does not match"),
        (np.zeros((32, 32), np.uint8), r"input shape \(32, 32\) does not match"),
        (np.zeros((1, 1, 32, 32), np.uint16), "input dtype uint16 not accepted"),
        (np.zeros((1, 1, 32, 32), np.float64), "input dtype float64 not accepted"),
        ([[0]], "input must be a numpy array"),
    ],
)
def test_bad_input_is_a_one_line_error(built_engines: dict[str, Path], batch, message: str) -> None:
    with backends.load(built_engines["onnxruntime-fp32"]) as engine:
        with pytest.raises(EdgeInspectError, match=message) as info:
            engine.infer(batch)
    assert "\n" not in str(info.value)


def test_infer_needs_an_open_engine_and_close_is_idempotent(built_engines: dict[str, Path]) -> None:
    engine = backends.load(built_engines["onnxruntime-int8"])
    with pytest.raises(EdgeInspectError, match="engine is not open"):
        engine.infer(np.zeros((1, 1, 32, 32), np.uint8))
    engine.open()
    assert engine.is_open and engine.open() is engine
    engine.close()
    engine.close()
    assert not engine.is_open


def test_stats_count_calls_and_tiles(built_engines: dict[str, Path]) -> None:
    with backends.load(built_engines["onnxruntime-fp32"]) as engine:
        engine.infer(np.zeros((2, 1, 32, 32), np.uint8))
        engine.infer(np.zeros((3, 1, 32, 32), np.uint8))
        stats = engine.stats
    assert stats.calls == 2 and stats.tiles == 5 and stats.total_s >= stats.last_s > 0 and stats.mean_ms > 0


def test_load_picks_the_class_from_the_manifest(built_engines: dict[str, Path]) -> None:
    assert isinstance(backends.load(built_engines["openvino-int8"]), OpenVINOEngine)
    engine = backends.load(built_engines["onnxruntime-int8"])
    assert engine.backend == "onnxruntime" and engine.manifest.precision == "int8"


def test_outputs_are_owned_by_the_caller(built_engines: dict[str, Path]) -> None:
    images, _ = _batch(2)
    with backends.load(built_engines["openvino-fp32"]) as engine:
        first = engine.infer(images)["prob"]
        kept = first.copy()
        engine.infer(np.zeros_like(images))
    np.testing.assert_array_equal(first, kept)  # not a view of a reused output buffer


def test_raw_onnx_loads_as_an_onnxruntime_engine_without_manifest(bright_onnx: Path) -> None:
    images, _ = _batch(2)
    with backends.load(bright_onnx) as engine:
        assert engine.manifest is None and engine.backend == "onnxruntime" and engine.tile_hw == (32, 32)
        out = engine.infer(images)
    np.testing.assert_allclose(out["prob"], bright_net_numpy(images), atol=1e-5)


def test_onnxruntime_engine_computes_subnormals_as_zero(tmp_path: Path) -> None:
    # prob = image * 1e-40 (a subnormal weight): a plain session returns the subnormal 1e-40, our engine
    # 0 (x86 runs subnormal arithmetic up to 100x slower: a model with 10k such weights ran 10x slower).
    # ORT applies the flag to the calling thread for the first session of a process only, as in
    # `edgeinspect run` (the engine is its first session): each case runs in a fresh process.
    import subprocess
    import sys

    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weight = numpy_helper.from_array(np.full((1,), 1e-40, np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("Mul", ["image", "w"], ["prob"])], "subnormal",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 1, 8, 8])],
        [helper.make_tensor_value_info("prob", TensorProto.FLOAT, ["batch", 1, 8, 8])], [weight])
    path = tmp_path / "subnormal.onnx"
    onnx.save_model(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), str(path))
    ones = "np.ones((1, 1, 8, 8), np.float32)"
    cases = {
        "plain": f"import onnxruntime as ort; s = ort.InferenceSession({str(path)!r}, providers=['CPUExecutionProvider']);"
                 f" print(s.run(['prob'], {{'image': {ones}}})[0].max())",
        "engine": f"from edgeinspect import backends; e = backends.load({str(path)!r}).open();"
                  f" print(e.infer({ones})['prob'].max()); e.close()",
    }
    out = {name: subprocess.run([sys.executable, "-c", "import numpy as np; " + code], capture_output=True,
                                text=True, check=True).stdout.split()[-1] for name, code in cases.items()}
    assert float(out["plain"]) == pytest.approx(1e-40, rel=1e-3)  # subnormal, not flushed
    assert float(out["engine"]) == 0.0


def test_restart_uses_the_saved_optimised_graph(built_engines: dict[str, Path]) -> None:
    folder = built_engines["onnxruntime-int8"]
    assert (folder / "model.ort-optimized.onnx").is_file()
    images, _ = _batch(2)
    with backends.load(folder) as engine:  # loads model.ort-optimized.onnx with optimisations off
        again = engine.infer(images)["prob"]
    from edgeinspect.backends.onnxruntime import create_session, session_options

    session = create_session(folder / "model.uint8.onnx", session_options(threads=None))
    np.testing.assert_allclose(again, session.run(["prob"], {"image": images.astype(np.float32)})[0], atol=1e-6)


def test_bad_paths_and_options(tmp_path: Path, built_engines: dict[str, Path]) -> None:
    with pytest.raises(EdgeInspectError, match="not found"):
        backends.load(tmp_path / "missing")
    (tmp_path / "weights.bin").write_bytes(b"x")
    with pytest.raises(EdgeInspectError, match="not an engine folder, .onnx or .pt"):
        backends.load(tmp_path / "weights.bin")
    with pytest.raises(EdgeInspectError, match="hint must be one of latency, throughput"):
        backends.load(built_engines["openvino-fp32"], hint="fast")
    with pytest.raises(EdgeInspectError, match="unknown backend"):
        backends.engine_class("cuda")


def test_compare_reports_max_abs_difference_per_output(built_engines: dict[str, Path], bright_onnx: Path) -> None:
    from edgeinspect.backends.compare import compare

    images, _ = _batch(4)
    engines = [backends.load(bright_onnx), backends.load(built_engines["openvino-fp32"]),
               backends.load(built_engines["onnxruntime-int8"])]
    report = compare(engines, images)
    assert list(report) == [engines[1].name, engines[2].name]
    assert report[engines[1].name]["prob"] < 1e-5 and set(report[engines[1].name]) == {"prob", "loc"}
    assert 1e-5 < report[engines[2].name]["prob"] < 0.2  # int8 differs, a little
    assert not any(engine.is_open for engine in engines)
    with pytest.raises(EdgeInspectError, match="at least one other"):
        compare(engines[:1], images)
