"""The bundled default model: ships inside the package, runs without torch, and its accuracy does not regress.

The model was trained with the commands in README ("The bundled model") on a synthetic dataset of
seed 7. On the test split of another one it never saw (400 images, seed 0) it scored mIoU 0.8627
(``eval --engine``; the previous bundled model 0.8652, the one before it, trained on that dataset,
0.7920): the area term of its last 27 epochs bought defect areas, not pixel IoU (README).
The test regenerates that dataset (deterministic by seed) and requires the ONNX still scores at
least that, so a changed generator, exporter, backend or model file shows up here.
"""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from edgeinspect.assets import ASSETS_DIR, default_calibration, default_checkpoint, default_engine
from edgeinspect.cli.app import app
from edgeinspect.data.synth import write_synth_dataset

#: mIoU of the bundled model on the test split of the seed-0 synthetic dataset, recorded when it was trained (README).
RECORDED_TEST_MIOU = 0.8627


def test_bundled_files_exist_and_fit_in_10_mb() -> None:
    files = [default_engine(), default_checkpoint(), default_calibration()]
    assert all(path.parent == ASSETS_DIR for path in files)
    assert sum(path.stat().st_size for path in files) <= 10 * 1024 * 1024


def test_bundled_onnx_keeps_its_recorded_synthetic_test_miou(tmp_path: Path) -> None:
    data = write_synth_dataset(tmp_path / "synth", count=400, size_hw=(256, 256), texture="mixed", seed=0,
                               defects_per_mpx=40.0)
    result = CliRunner().invoke(app, ["eval", "--engine", str(default_engine()), "--data", str(data),
                                      "--split", "test", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["images"] == 79
    assert report["mIoU"] >= RECORDED_TEST_MIOU - 1e-4
