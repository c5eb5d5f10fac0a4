"""OpenVINO hint per batch size, and the engines benchmark's by-hand references and paired ratios (no timing)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from engine_testkit import bright_net_numpy, squares_image

from edgeinspect import backends
from edgeinspect.backends.openvino import compile_config, hint_for_batch
from edgeinspect.errors import EdgeInspectError

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "engines.py"


def _bench_module():
    spec = importlib.util.spec_from_file_location("engines_bench", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _images(n: int) -> np.ndarray:
    rng = np.random.default_rng(11)
    return np.stack([squares_image(rng, (32, 32))[0] for _ in range(n)])[:, None]


@pytest.mark.parametrize(
    ("hint", "batch", "streams", "expected"),
    [
        ("latency", 1, 1, "latency"),
        ("latency", 8, 1, "latency"),
        ("latency", 8, 4, "latency"),  # a LATENCY engine never splits
        ("throughput", 1, 2, "latency"),  # one tile on one stream would use half the threads
        ("throughput", 2, 2, "throughput"),
        ("throughput", 8, 2, "throughput"),
        ("throughput", 3, 4, "latency"),  # fewer tiles than streams: streams would idle
        ("throughput", 4, 4, "throughput"),
        ("throughput", 8, 1, "latency"),  # one stream: the THROUGHPUT model is the single request
    ],
)
def test_hint_for_batch(hint: str, batch: int, streams: int, expected: str) -> None:
    assert hint_for_batch(hint, batch, streams) == expected


def test_compile_config_matches_the_by_hand_defaults_for_latency() -> None:
    config = compile_config(threads=2, hint="latency", cache_dir=None)
    assert config == {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "f32", "INFERENCE_NUM_THREADS": "2"}
    assert compile_config(threads=None, hint="throughput", cache_dir=Path("c")) == {
        "PERFORMANCE_HINT": "THROUGHPUT", "INFERENCE_PRECISION_HINT": "f32", "CACHE_DIR": "c"}


def test_throughput_engine_runs_small_batches_on_a_latency_model(built_engines: dict[str, Path]) -> None:
    images = _images(5)
    with backends.load(built_engines["openvino-fp32"], threads=2, hint="latency") as latency:
        assert latency.streams == 1
        expected_one, expected_five = latency.infer(images[:1]), latency.infer(images)
    with backends.load(built_engines["openvino-fp32"], threads=2, hint="throughput") as engine:
        assert engine.streams == 2  # OpenVINO's THROUGHPUT model on 2 threads: two infer requests
        assert engine._single is None  # no LATENCY model yet
        five = engine.infer(images)  # 5 tiles >= 2 streams: split over the two requests
        assert engine._single is None
        one = engine.infer(images[:1])  # fewer tiles than streams: the LATENCY model, compiled now
        request, _ = engine._single
        assert request not in engine._requests
        one_again = engine.infer(images[:1])
        assert engine._single[0] is request  # compiled once
    for name in ("prob", "loc"):
        np.testing.assert_allclose(one[name], expected_one[name], atol=1e-6)
        np.testing.assert_allclose(one_again[name], expected_one[name], atol=1e-6)
        np.testing.assert_allclose(five[name], expected_five[name], atol=1e-6)
    np.testing.assert_allclose(five["prob"], bright_net_numpy(images), atol=1e-5)


def test_bench_by_hand_variants_run_the_file_the_engine_runs(built_engines: dict[str, Path], tmp_path: Path) -> None:
    bench = _bench_module()
    work = tmp_path / "net"
    work.mkdir()
    for name, folder in built_engines.items():
        (work / name).symlink_to(folder, target_is_directory=True)
    assert bench.by_hand_model(work, "ov-default") == work / "openvino-fp32" / "model.onnx"
    assert bench.by_hand_model(work, "ov-default-int8") == work / "openvino-int8" / "model.uint8.onnx"
    assert bench.by_hand_model(work, "ort-default-int8") == work / "onnxruntime-int8" / "model.uint8.onnx"
    for kind, reference in bench.BY_HAND.items():
        engine_folder = kind.partition("@")[0]
        manifest = json.loads((work / engine_folder / "manifest.json").read_text())
        assert bench.by_hand_model(work, reference) == work / engine_folder / manifest["model_file"]


def test_bench_ratios_are_medians_of_per_round_ratios() -> None:
    bench = _bench_module()
    by_hand = [100.0, 200.0, 120.0]  # load swings between rounds hit both variants alike
    ours = [50.0, 100.0, 240.0]
    assert bench.paired_ratio(by_hand, ours) == pytest.approx(2.0)  # per round: 2.0, 2.0, 0.5
    assert bench.paired_ratio(ours, ours) == 1.0


def test_onnxruntime_concurrent_calls_give_the_outputs_of_one_call_at_a_time(built_engines: dict[str, Path]) -> None:
    # ORT InferenceSession.Run is thread-safe: 2 calls in flight (threads 2: the two callers, no pool
    # workers) return exactly what a one-thread engine returns for the same batches, whatever finishes first.
    from concurrent.futures import ThreadPoolExecutor

    batches = [_images(3) for _ in range(6)]
    with backends.load(built_engines["onnxruntime-fp32"], threads=1) as single:
        assert single.concurrent_calls == 1
        expected = [single.infer(b) for b in batches]
    with backends.load(built_engines["onnxruntime-fp32"], threads=2, concurrent_calls=2) as engine:
        assert engine.concurrent_calls == 2 and engine._session_threads() == 1
        with ThreadPoolExecutor(2) as pool:
            outputs = list(pool.map(engine.infer, batches))
        assert engine.stats.calls == 6 and engine.stats.tiles == 18
    for got, want in zip(outputs, expected):
        for name in want:
            np.testing.assert_array_equal(got[name], want[name])
    np.testing.assert_allclose(outputs[0]["prob"], bright_net_numpy(batches[0]), atol=1e-5)


@pytest.mark.parametrize("threads, calls, intra_op", [(2, 2, 1), (4, 2, 3), (8, 2, 7), (3, 3, 1), (8, 1, 8)])
def test_onnxruntime_concurrent_callers_and_the_shared_pool_are_the_engines_threads(
        built_engines: dict[str, Path], threads: int, calls: int, intra_op: int) -> None:
    # concurrent Run calls share the session's pool (intra_op - 1 workers) and each caller works too
    with backends.load(built_engines["onnxruntime-fp32"], threads=threads, concurrent_calls=calls) as engine:
        assert engine._session_threads() == intra_op  # the callers plus intra_op - 1 pool workers are `threads`


def test_backends_that_split_a_call_themselves_take_one_call_at_a_time(built_engines: dict[str, Path]) -> None:
    # OpenVINO's requests are shared by every call: asking for 2 concurrent calls keeps 1 (the run
    # then infers in its main thread), and OpenVINO's own streams are unchanged.
    with backends.load(built_engines["openvino-fp32"], threads=2, concurrent_calls=2) as engine:
        assert engine.concurrent_calls == 1 and engine.streams == 1
    with pytest.raises(EdgeInspectError, match="concurrent_calls must be >= 1"):
        backends.load(built_engines["onnxruntime-fp32"], concurrent_calls=0)


def test_torch_engines_take_one_call_at_a_time() -> None:
    from edgeinspect.assets import default_checkpoint

    assert backends.load(default_checkpoint(), concurrent_calls=2).concurrent_calls == 1
