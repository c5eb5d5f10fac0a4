"""`edgeinspect train` and `edgeinspect eval --checkpoint` from the command line."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from edgeinspect.cli.app import app
from edgeinspect.cli.train import parse_size
from edgeinspect.errors import ConfigError

torch.set_num_threads(1)


def test_parse_size():
    assert parse_size("64x96") == [64, 96]
    assert parse_size("128") == [128, 128]
    assert parse_size(None) is None
    for bad in ("64x", "x", "0x64", "64x64x1"):
        with pytest.raises(ConfigError, match="--size"):
            parse_size(bad)


def test_train_then_eval_checkpoint_gives_the_test_json(square_pairs: Path, tmp_path: Path):
    import edgeinspect.cli  # noqa: F401  (registers every command on app)

    out = tmp_path / "run"
    runner = CliRunner()
    result = runner.invoke(app, [
        "train", "--model", "lpcnet-lite", "--data", str(square_pairs), "--out", str(out), "--size", "64x64",
        "--epochs-dlm", "1", "--epochs-seg", "1", "--batch", "4", "--seed", "3", "--set", "augment.enabled=false",
    ])
    assert result.exit_code == 0, result.output
    assert "test: mIoU" in result.stdout
    for name in ("best.pt", "last.pt", "metrics.csv", "curves.png", "recipe.yaml", "train.log", "test.json"):
        assert (out / name).is_file(), name
    recipe = (out / "recipe.yaml").read_text()
    assert "seed: 3" in recipe and "enabled: false" in recipe and "epochs_dlm: 1" in recipe
    result = runner.invoke(app, ["eval", "--checkpoint", str(out / "best.pt"), "--data", str(square_pairs), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == json.loads((out / "test.json").read_text())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--set", "optim.lr=-1"], "error: --set: key 'optim.lr' must be > 0, got -1"),
        (["--batch", "0"], "error: --batch: key 'optim.batch' must be >= 1, got 0"),
        (["--epochs", "8", "--epochs-dlm", "2"], "error: --epochs scales the whole schedule"),
        (["--model", "resnet"], "error: no bundled recipe for model 'resnet'"),
        (["--size", "64x"], "error: --size must be HxW"),
    ],
)
def test_bad_options_are_one_line_errors_with_exit_code_2(tmp_path: Path, args: list[str], message: str):
    (tmp_path / "data").mkdir()
    run = subprocess.run(
        [sys.executable, "-m", "edgeinspect", "train", "--data", str(tmp_path / "data"), "--out", str(tmp_path / "r"),
         *args],
        capture_output=True, text=True, timeout=120,
    )
    assert run.returncode == 2, run.stderr
    assert message in " ".join(run.stderr.split())
    assert len(run.stderr.strip().splitlines()) == 1 and run.stderr.startswith("error: "), run.stderr  # no blank line first
    assert "Traceback" not in run.stderr


def test_a_file_given_as_data_is_named_as_a_file(tmp_path: Path):
    (tmp_path / "defects.jsonl").write_text("{}\n")
    run = subprocess.run(
        [sys.executable, "-m", "edgeinspect", "train", "--data", str(tmp_path / "defects.jsonl"), "--out", str(tmp_path / "r")],
        capture_output=True, text=True, timeout=120,
    )
    assert run.returncode == 2
    assert run.stderr.strip() == f"error: {tmp_path / 'defects.jsonl'}: is a file, not a dataset folder (--data)"
    assert not (tmp_path / "r").exists()


def test_a_damaged_image_fails_before_the_first_epoch_and_leaves_no_checkpoint(square_pairs: Path, tmp_path: Path):
    data = tmp_path / "ds"
    shutil.copytree(square_pairs, data)
    damaged = sorted((data / "images").iterdir())[-1]  # whatever split it falls in (val/test failed after an epoch)
    damaged.write_text("not an image\n")
    out = tmp_path / "run"
    argv = [sys.executable, "-m", "edgeinspect", "train", "--data", str(data), "--out", str(out), "--size", "64x64",
            "--epochs-dlm", "1", "--epochs-seg", "1", "--batch", "4", "--workers", "0"]
    run = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert run.returncode == 2
    assert run.stderr.strip() == f"error: {damaged}: cannot decode image file (not an image, truncated or unsupported format)"
    assert not (out / "last.pt").exists() and not (out / "best.pt").exists()
    shutil.copyfile(square_pairs / "images" / damaged.name, damaged)  # repaired: the same --out trains
    run = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert (out / "best.pt").is_file()


def test_skip_bad_drops_a_damaged_image_from_its_split_and_trains(square_pairs: Path, tmp_path: Path):
    data = tmp_path / "ds"
    shutil.copytree(square_pairs, data)
    names = sorted((data / "images").iterdir())
    for damaged in names[-2:]:  # two of them, whatever splits they fall in
        damaged.write_text("not an image\n")
    out = tmp_path / "run"
    argv = [sys.executable, "-m", "edgeinspect", "train", "--data", str(data), "--out", str(out), "--size", "64x64",
            "--epochs-dlm", "1", "--epochs-seg", "1", "--batch", "4", "--workers", "0", "--skip-bad"]
    run = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert (out / "best.pt").is_file()
    log = (out / "train.log").read_text()
    assert "2 bad sample(s) skipped, first: " in log and str(names[-2]) in log
