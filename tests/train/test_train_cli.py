"""`edgeinspect train` and `edgeinspect eval --checkpoint` from the command line."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import warnings
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


def _one_line_exit_2(argv: list[str], capsys) -> str:
    """Run ``edgeinspect ARGV`` in this process; assert exit code 2 and one ``error:`` line; return it."""
    from edgeinspect.cli import main

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(SystemExit) as exit_info:
            main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2, err
    assert len(err.strip().splitlines()) == 1 and err.startswith("error: ") and "Traceback" not in err, err
    assert not [w for w in caught if "zero-element" in str(w.message)]  # no torch warning before the line
    return err.strip()


def test_batch_1_for_lpcnet_is_one_line_naming_the_option(square_pairs: Path, tmp_path: Path, capsys):
    err = _one_line_exit_2(["train", "--data", square_pairs, "--out", tmp_path / "run", "--size", "64x64",
                            "--epochs", "2", "--batch", "1"], capsys)
    assert err == ("error: recipe key 'optim.batch' (--batch) 1: lpcnet-lite at 64x64 trains on batches of >= 2 "
                   "images (BatchNorm 'seg.decoder.aspp.branches.4.conv.bn' of stage seg normalises one value per "
                   "channel of an image): set --batch 2 or more")
    assert not (tmp_path / "run" / "last.pt").exists()


BUILT = "lpcnet-lite cannot be built with it"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("model_kwargs={aspp_channels: 0}",
         f"--set: key 'model_kwargs.aspp_channels' = 0: {BUILT} (layer 'seg.decoder.aspp.branches.0.conv' gets 0 channels)"),
        ("model_kwargs={aspp_channels: -4}",
         f"--set: key 'model_kwargs.aspp_channels' = -4: {BUILT} (Trying to create tensor with negative dimension -4: "
         "[-4, 256, 1, 1])"),
        ("model_kwargs={std: 0}", f"--set: key 'model_kwargs.std' = 0: {BUILT} (std must be > 0, got 0)"),
        ("model_kwargs.std=0", f"--set: key 'model_kwargs.std' = 0: {BUILT} (std must be > 0, got 0)"),
        ("model_kwargs={aspp_rates: abc}",
         f"--set: key 'model_kwargs.aspp_rates' = 'abc': {BUILT} (unsupported operand type(s) for //: 'str' and 'int')"),
        ("model_kwargs={decoder_channels: 3.5}",
         f"--set: key 'model_kwargs.decoder_channels' = 3.5: {BUILT} (out_channels must be divisible by groups)"),
        ("model_kwargs={dlm_stem_channels: 0}",
         f"--set: key 'model_kwargs.dlm_stem_channels' = 0: {BUILT} (layer 'dlm.stem.conv' gets 0 channels)"),
        ("model_kwargs={aspp_rates: [0]}",
         "--set: key 'model_kwargs.aspp_rates' = [0]: lpcnet-lite fails on a 64x64 image with it "
         "(non-positive dilation is not supported)"),
    ],
    ids=lambda value: value if value.startswith("model_kwargs") else "",
)
def test_a_bad_model_kwarg_is_one_line_naming_the_key(square_pairs: Path, tmp_path: Path, capsys, override: str,
                                                      message: str):
    err = _one_line_exit_2(["train", "--data", square_pairs, "--out", tmp_path / "run", "--size", "64x64",
                            "--epochs", "2", "--batch", "2", "--set", override], capsys)
    assert err == f"error: {message}: fix or drop the key"


def test_a_bad_model_kwarg_of_a_recipe_file_names_the_file_and_unknown_ones_stay_named(square_pairs: Path,
                                                                                      tmp_path: Path, capsys):
    recipe = tmp_path / "mine.yaml"
    recipe.write_text("model: lpcnet-lite\nmodel_kwargs:\n  std: 0\n")
    argv = ["train", "--data", square_pairs, "--out", tmp_path / "run", "--size", "64x64", "--epochs", "2",
            "--recipe", recipe]
    assert _one_line_exit_2(argv, capsys) == (
        f"error: {recipe}: key 'model_kwargs.std' = 0: {BUILT} (std must be > 0, got 0): fix or drop the key")
    assert _one_line_exit_2([*argv, "--set", "model_kwargs.widthz=1"], capsys) == (
        "error: recipe key 'model'/'model_kwargs': model lpcnet-lite: LPCNet.__init__() got an unexpected keyword "
        "argument 'widthz'; see the model's docstring for its options")
