"""PSIC-Net's ``score`` through ONNX and the CPU engines; LSA-Net's plugin form; the zoo CLI chain.

Narrow widths of the real networks keep export and inference to seconds.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest
import torch
from typer.testing import CliRunner

from edgeinspect import backends
from edgeinspect.export.onnx import export_onnx
from edgeinspect.models import create_model

PSIC = dict(widths=(4, 8, 16), feature_channels=32)
TILES = np.random.default_rng(1).integers(0, 256, (3, 1, 64, 64)).astype(np.uint8)


@pytest.fixture(autouse=True)
def _one_thread(torch_one_thread):
    """Every test here with one torch thread (tests/conftest.py)."""


def _squares(root: Path, *, count: int = 20, size: int = 64) -> Path:
    """Pairs layout: noisy gray images with one bright square (its mask), every 5th defect-free."""
    rng = np.random.default_rng(7)
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for i in range(count):
        image = rng.normal(80, 10, (size, size))
        mask = np.zeros((size, size), np.uint8)
        if i % 5 != 4:
            side = int(rng.integers(size // 6, size // 3))
            y, x = (int(v) for v in rng.integers(2, size - side - 2, 2))
            image[y : y + side, x : x + side] += 110
            mask[y : y + side, x : x + side] = 255
        cv2.imwrite(str(root / "images" / f"s{i:02d}.png"), np.clip(image, 0, 255).astype(np.uint8))
        cv2.imwrite(str(root / "masks" / f"s{i:02d}.png"), mask)
    return root


@pytest.fixture(scope="module")
def psic_onnx(tmp_path_factory: pytest.TempPathFactory) -> tuple[torch.nn.Module, Path]:
    torch.manual_seed(0)
    model = create_model("psicnet", input_size=(64, 64), **PSIC).eval()
    with torch.no_grad():   # rescale the classifier so its logits on TILES have mean 0 and std 2
        seen = []
        hook = model.classifier.fc.register_forward_hook(lambda m, i, o: seen.append(o))
        model(torch.from_numpy(TILES.astype(np.float32)))
        hook.remove()
        scale = 2.0 / float(seen[0].std())
        model.classifier.fc.weight.mul_(scale)
        model.classifier.fc.bias.copy_(scale * (model.classifier.fc.bias - seen[0].mean()))
    return model, export_onnx(model, tmp_path_factory.mktemp("psic") / "psic.onnx")


def test_psicnet_exports_prob_and_score_outputs(psic_onnx):
    _, path = psic_onnx
    graph = onnx.load(str(path)).graph
    assert [o.name for o in graph.output] == ["prob", "score"]
    dims = [d.dim_param or d.dim_value for d in graph.output[1].type.tensor_type.shape.dim]
    assert len(dims) == 1 and isinstance(dims[0], str)   # (batch,)
    meta = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert meta["edgeinspect.outputs"] == "prob,score"


@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
def test_psicnet_score_flows_through_cpu_engines_within_1e_4(psic_onnx, backend: str):
    model, path = psic_onnx
    x = TILES
    with torch.no_grad():
        ref = model(torch.from_numpy(x.astype(np.float32)))
    with backends.engine_class(backend)(path, None) as engine:
        assert engine.outputs == ("prob", "score")
        out = engine.infer(x)
    assert out["score"].shape == (3,) and out["score"].dtype == np.float32
    assert float(ref.score.std()) > 0.1   # not a comparison of constants
    assert np.abs(out["score"] - ref.score.numpy()).max() <= 1e-4
    assert np.abs(out["prob"] - ref.prob.numpy()).max() <= 1e-4


def test_engine_evaluation_scores_images_on_the_score_output(psic_onnx, tmp_path: Path):
    from edgeinspect.backends.evaluate import engine_pairs
    from edgeinspect.data.datasets import open_dataset
    from edgeinspect.metrics import evaluate_masks

    model, path = psic_onnx
    data = open_dataset(_squares(tmp_path / "ds", count=10))
    items = list(engine_pairs(path, data))
    assert all(len(item) == 3 and 0.0 <= item[2] <= 1.0 for item in items)
    report = evaluate_masks(items)
    assert report.image_score == "score" and 0.0 <= report.image_acc <= 1.0
    labels = [bool(s.mask.any()) for s in data]
    expected = float(np.mean([(item[2] >= 0.5) == y for item, y in zip(items, labels)]))
    assert report.image_acc == pytest.approx(expected)


def test_lsanet_plugin_form_has_one_strip_projection_node_per_location_attention(tmp_path: Path):
    from edgeinspect.ops.strip_projection import spec as strip_spec

    model = create_model("lsanet", input_size=(80, 80), channels=(8, 16, 32, 64, 128), sd_channels=32).eval()
    path = export_onnx(model, tmp_path / "lsa-plugin.onnx", op_form="plugin")
    nodes = [n for n in onnx.load(str(path)).graph.node if n.op_type == strip_spec.PLUGIN_NAME]
    assert len(nodes) == len(model.lam) == 2
    assert all(n.domain == strip_spec.ONNX_DOMAIN for n in nodes)


def test_cli_train_export_build_int8_eval_engine_for_anomalyseg(tmp_path: Path):
    import edgeinspect.cli  # noqa: F401  (registers every command)
    from edgeinspect.cli.app import app

    data = _squares(tmp_path / "ds")
    runner = CliRunner()
    run = tmp_path / "run"
    result = runner.invoke(app, [
        "train", "--model", "anomalyseg", "--data", str(data), "--out", str(run), "--epochs", "1", "--size", "64x64",
        "--batch", "4", "--set", "model_kwargs.channels=[8,16,32]", "--set", "model_kwargs.encoder_depth=1",
    ])
    assert result.exit_code == 0, result.output
    onnx_path = tmp_path / "anomalyseg.onnx"
    result = runner.invoke(app, ["export", str(run / "best.pt"), "--out", str(onnx_path)])
    assert result.exit_code == 0, result.output
    assert "anomalyseg standard ops" in " ".join(result.stdout.split()) and "→ prob" in result.stdout
    engine = tmp_path / "ort-int8"
    result = runner.invoke(app, [
        "build", str(onnx_path), "--out", str(engine), "--backend", "onnxruntime", "--precision", "int8",
        "--calib", str(data), "--max-drop", "100",
    ])
    assert result.exit_code == 0, result.output
    manifest = json.loads((engine / "manifest.json").read_text())
    assert manifest["network"]["arch"] == "anomalyseg" and manifest["precision"] == "int8"
    assert manifest["tile_hw"] == [64, 64] and manifest["output_names"] == ["prob"]
    result = runner.invoke(app, ["eval", "--engine", str(engine), "--data", str(data), "--json"])
    assert result.exit_code == 0, result.output
    scores = json.loads(result.stdout)
    assert scores["images"] == 4 and scores["split"] == "test" and 0.0 <= scores["mIoU"] <= 1.0
    fp32 = json.loads(runner.invoke(app, ["eval", "--engine", str(onnx_path), "--data", str(data), "--json"]).stdout)
    assert abs(fp32["mIoU"] - scores["mIoU"]) <= 0.05   # INT8 stays near FP32 on the same split


def test_built_psicnet_engine_folder_keeps_the_score_output(psic_onnx, tmp_path: Path):
    from edgeinspect.backends.build import build_engine

    model, path = psic_onnx
    build_engine(path, out=tmp_path / "psic-fp32", backend="onnxruntime", precision="fp32")
    with backends.load(tmp_path / "psic-fp32") as engine:
        assert engine.manifest.output_names == ("prob", "score")
        out = engine.infer(TILES)
    with torch.no_grad():
        ref = model(torch.from_numpy(TILES.astype(np.float32)))
    assert np.abs(out["score"] - ref.score.numpy()).max() <= 1e-4
