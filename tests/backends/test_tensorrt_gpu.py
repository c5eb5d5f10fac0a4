"""TensorRT on a real GPU: build FP16/INT8 engines with plugins on and off from an lpcnet-lite export, compare
with ONNX Runtime FP32, reload in a fresh process without the plugin modules, double buffering, timing cache,
and the compatibility record (speed: ``edgeinspect bench`` on a built engine folder, not a test).

Every test carries ``@pytest.mark.gpu``: tests/conftest.py skips them (with the reason) where ``import tensorrt``
or a CUDA device is missing. Run them on the device with ``pytest -m gpu tests/backends/test_tensorrt_gpu.py -s``.
They need torch (extra ``train``) for the export.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edgeinspect.errors import EdgeInspectError

pytestmark = pytest.mark.gpu

MAX_BATCH = 4
PLUGIN_MODULES = ("edgeinspect.ops.strip_projection.plugin", "edgeinspect.ops.pixel_confidence.plugin")


@pytest.fixture(scope="session")
def caps():
    import tensorrt as trt

    from edgeinspect.backends.tensorrt import trt_logger
    from edgeinspect.backends.tensorrt_build import TrtCapabilities

    return TrtCapabilities.probe(trt, trt.Builder(trt_logger(trt)))


@pytest.fixture(scope="session")
def lite_onnx(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``{"standard": path, "plugin": path}``: the bundled lpcnet-lite checkpoint in both op forms."""
    pytest.importorskip("torch", reason="the export needs torch (extra 'train')")
    from edgeinspect.assets import default_checkpoint
    from edgeinspect.export.onnx import export_onnx
    from edgeinspect.models import load_checkpoint

    model, _ = load_checkpoint(default_checkpoint())  # the bundled weights: a broken checkpoint fails here
    model = model.eval()
    root = tmp_path_factory.mktemp("lite")
    return {form: export_onnx(model, root / f"lite.{form}.onnx", op_form=form) for form in ("standard", "plugin")}


@pytest.fixture(scope="session")
def tile_hw(lite_onnx: dict[str, Path]) -> tuple[int, int]:
    from edgeinspect.export.metadata import read_metadata

    return tuple(read_metadata(lite_onnx["standard"])["tile_hw"])


@pytest.fixture(scope="session")
def gate(tile_hw) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic tiles with exact masks (never the calibration webs)."""
    from edgeinspect.export.calibration import synthetic_gate_set

    return synthetic_gate_set(tile_hw, 16)


@pytest.fixture(scope="session")
def reference(lite_onnx, gate) -> np.ndarray:
    """ONNX Runtime FP32 ``prob`` of the standard-op export on the gate tiles."""
    from edgeinspect import backends

    with backends.load(lite_onnx["standard"], threads=2) as engine:
        return np.concatenate([engine.infer(gate[0][i : i + 8])["prob"] for i in range(0, len(gate[0]), 8)])


@pytest.fixture(scope="session")
def build(tmp_path_factory: pytest.TempPathFactory, lite_onnx, caps):
    """``build(precision, plugins) -> engine folder``, each built once per session from the plugin-form export."""
    from edgeinspect.backends.tensorrt_build import build_tensorrt_engine

    root = tmp_path_factory.mktemp("trt")
    built: dict[tuple[str, str], Path] = {}

    def _build(precision: str, plugins: str) -> Path:
        if plugins == "on" and not caps.aot_plugins:
            pytest.skip(f"TensorRT {caps.version} has no AOT plugins (needs >= 10.9)")
        key = (precision, plugins)
        if key not in built:
            built[key] = build_tensorrt_engine(
                lite_onnx["plugin"], out=root / f"{precision}-{plugins}", precision=precision, plugins=plugins,
                max_batch=MAX_BATCH, threads=2,
            ).path
        return built[key]

    return _build


def _infer_all(engine, tiles: np.ndarray) -> np.ndarray:
    return np.concatenate([engine.infer(tiles[i : i + MAX_BATCH])["prob"] for i in range(0, len(tiles), MAX_BATCH)])


@pytest.mark.parametrize("plugins", ["on", "off"])
@pytest.mark.parametrize("precision", ["fp16", "int8"])
def test_engine_matches_onnxruntime_fp32(build, gate, reference, precision: str, plugins: str) -> None:
    from edgeinspect import backends
    from edgeinspect.metrics import segmentation_scores

    folder = build(precision, plugins)
    manifest = backends.read_manifest(folder)
    record = manifest.options["tensorrt"]
    assert record["plugin_mode"] == ("aot-qdp" if plugins == "on" else "standard-ops")
    assert manifest.op_form == ("plugin" if plugins == "on" else "standard")
    assert manifest.precision == precision and manifest.model_file == "model.plan"
    assert manifest.metrics["miou_drop"] <= 1.0 and manifest.metrics["prob_mae"] <= 1e-2
    tiles, masks = gate
    with backends.load(folder) as engine:
        assert engine.max_batch == MAX_BATCH
        prob = _infer_all(engine, tiles)
    assert prob.shape == reference.shape and prob.dtype == np.float32
    mae = float(np.abs(prob - reference).mean())
    drop = 100 * (segmentation_scores(zip(reference[:, 0], masks))["mIoU"] - segmentation_scores(zip(prob[:, 0], masks))["mIoU"])
    print(f"\n{precision}/plugins {plugins}: prob MAE {mae:.5f}, mIoU drop {drop:.3f} points")
    assert mae <= 1e-2
    assert drop <= 1.0


RELOAD = r"""
import json, sys
import numpy as np
from edgeinspect import backends
folder, tiles_path = sys.argv[1], sys.argv[2]
with backends.load(folder) as engine:
    prob = engine.infer(np.load(tiles_path))["prob"]
print("RESULT " + json.dumps({"modules": sorted(m for m in sys.modules if m.startswith("edgeinspect.ops")),
                              "prob": prob.ravel()[::97].tolist()}))
"""


def test_plugin_engine_reloads_in_a_fresh_process_without_the_plugin_modules(build, gate, tmp_path: Path) -> None:
    from edgeinspect import backends

    folder = build("fp16", "on")
    tiles = gate[0][:2]
    np.save(tmp_path / "tiles.npy", tiles)
    result = subprocess.run([sys.executable, "-c", RELOAD, str(folder), str(tmp_path / "tiles.npy")],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(next(line for line in result.stdout.splitlines() if line.startswith("RESULT "))[7:])
    for module in PLUGIN_MODULES:
        assert module not in report["modules"], f"{module} was imported to load an AOT plan"
    with backends.load(folder) as engine:
        here = engine.infer(tiles)["prob"].ravel()[::97]
    np.testing.assert_allclose(report["prob"], here, atol=1e-3)


def test_batches_are_split_at_the_profile_max_and_async_matches_sync(build, gate) -> None:
    from edgeinspect import backends

    tiles = gate[0][: 2 * MAX_BATCH + 2]
    with backends.load(build("fp16", "off")) as engine:
        whole = engine.infer(tiles)["prob"]
        parts = np.concatenate([engine.infer(tiles[i : i + MAX_BATCH])["prob"] for i in range(0, len(tiles), MAX_BATCH)])
        first = engine.infer_async(tiles[:MAX_BATCH])
        second = engine.infer_async(tiles[MAX_BATCH : 2 * MAX_BATCH])
        with pytest.raises(EdgeInspectError, match="in flight"):
            engine.infer_async(tiles[:1])
        late, early = engine.fetch(second)["prob"], engine.fetch(first)["prob"]
        with pytest.raises(EdgeInspectError, match="at most"):
            engine.infer_async(tiles[: MAX_BATCH + 1])
    assert whole.shape == (len(tiles), 1, *tiles.shape[2:])
    np.testing.assert_allclose(whole, parts, atol=1e-5)
    np.testing.assert_allclose(np.concatenate([early, late]), whole[: 2 * MAX_BATCH], atol=1e-5)


def test_manifest_records_this_device_and_the_timing_cache_is_reused(build, lite_onnx) -> None:
    from edgeinspect import backends
    from edgeinspect.backends import cuda_mem
    from edgeinspect.backends.tensorrt_build import build_tensorrt_engine

    folder = build("fp16", "off")
    record = backends.read_manifest(folder).options["tensorrt"]
    device = cuda_mem.device_info()
    assert record["gpu_name"] == device.name
    assert record["compute_capability"] == "{}.{}".format(*device.compute_capability)
    assert record["driver_version"] == device.driver_version and record["hardware_compat"] == "none"
    assert record["profile"]["max"][0] == MAX_BATCH and (folder / "timing.cache").stat().st_size > 0
    copy = folder.parent / "fp16-off-again"
    shutil.copytree(folder, copy)
    rebuilt = build_tensorrt_engine(lite_onnx["plugin"], out=copy, precision="fp16", plugins="off",
                                    max_batch=MAX_BATCH, force=True)
    assert rebuilt.manifest.options["timing_cache_reused"] is True


def test_plugin_manifest_records_ptx_arch_and_isa(build) -> None:
    from edgeinspect import backends
    from edgeinspect.ops import ptx

    record = backends.read_manifest(build("fp16", "on")).options["tensorrt"]
    assert record["ptx_isa"] == ptx.nvrtc_ptx_isa()
    assert record["ptx_archs"] == [f"sm_{ptx.build_arch()}"]


def test_engine_from_another_tensorrt_version_is_refused_with_the_rebuild_command(build, tmp_path: Path) -> None:
    from edgeinspect import backends

    folder = tmp_path / "other-version"
    shutil.copytree(build("fp16", "off"), folder)
    manifest_path = folder / "manifest.json"
    data = json.loads(manifest_path.read_text())
    data["options"]["tensorrt"]["tensorrt_version"] = "9.9.0.1"
    manifest_path.write_text(json.dumps(data))
    with pytest.raises(EdgeInspectError, match=r"built with TensorRT 9\.9\.0\.1.*edgeinspect build .* --backend tensorrt"):
        backends.load(folder).open()
