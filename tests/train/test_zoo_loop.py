"""PSIC-Net, LSA-Net and AnomalySeg through the training loop: recipes, schedules, 2-epoch runs, budget.

Narrow widths of the real networks (same layers, fewer channels) on 20 tiny square images keep every
run to a few seconds on two shared cores.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest
import torch

from edgeinspect.errors import ConfigError
from edgeinspect.train.families import FAMILIES, PSICSchedule, family_of
from edgeinspect.train.loop import learning_rate, train
from edgeinspect.train.recipe import (
    OptimCfg,
    apply_overrides,
    bundled_recipes,
    load_recipe,
    recipe_to_dict,
    save_recipe,
    scale_schedule,
)

ZOO = ("psicnet", "lsanet", "anomalyseg")
NARROW = {
    "psicnet": {"widths": [4, 8, 16], "feature_channels": 32},
    "lsanet": {"channels": [8, 16, 32, 64, 128], "sd_channels": 32},
    "anomalyseg": {"channels": [8, 16, 32], "encoder_depth": 1},
}
HW = {"psicnet": [64, 64], "lsanet": [80, 80], "anomalyseg": [64, 64]}   # the smallest tiles each serves
TWO_EPOCHS = {
    "psicnet": {"schedule.epochs_seg": 2, "schedule.epochs_cls": 2},   # two epochs per step
    "lsanet": {"schedule.epochs": 2, "optim.lr": 0.01},
    "anomalyseg": {"schedule.epochs": 2},
}


@pytest.fixture(autouse=True)
def _one_thread(torch_one_thread):
    """Every test here with one torch thread (tests/conftest.py)."""


@pytest.fixture(scope="module")
def squares(square_pairs_20: Path) -> Path:
    """20 pairs 64×64 (train 12 / val 4 / test 4), every 5th defect-free (tests/train/conftest.py)."""
    return square_pairs_20


@pytest.fixture(scope="module")
def zoo_run(squares: Path, tmp_path_factory: pytest.TempPathFactory):
    """``zoo_run(name)`` → the run folder of :func:`narrow_recipe` (trained once per module)."""
    done: dict[str, Path] = {}

    def run(name: str) -> Path:
        if name not in done:
            out = tmp_path_factory.mktemp("runs") / name
            torch.set_num_threads(1)
            train(narrow_recipe(name), squares, out)
            done[name] = out
        return done[name]

    return run


def narrow_recipe(name: str, **changes):
    recipe = apply_overrides(load_recipe(name), {
        "data.input_hw": HW[name], "optim.batch": 4, "eval.batch": 4, "augment.enabled": False,
        **TWO_EPOCHS[name], **changes,
    })
    return apply_overrides(recipe, {f"model_kwargs.{k}": v for k, v in NARROW[name].items()})


def rows(run: Path) -> list[dict[str, str]]:
    with (run / "metrics.csv").open() as handle:
        return list(csv.DictReader(handle))


# ------------------------------------------------------------------------------------------- recipes


def test_every_bundled_recipe_loads_with_its_family_sections():
    assert set(bundled_recipes()) == {"lpcnet", "lpcnet-lite", *ZOO}
    psic, lsa, anom = (load_recipe(n) for n in ZOO)
    assert psic.schedule.stages() == (("seg", 100), ("cls", 50)) and psic.optim.name == "adam"
    assert lsa.schedule.stages() == (("net", 200),)
    assert (lsa.optim.name, lsa.optim.lr, lsa.optim.momentum, lsa.optim.weight_decay, lsa.optim.batch) == (
        "sgd", 1e-3, 0.9, 1e-4, 16)
    assert lsa.optim.lr_schedule == "cosine"
    assert (lsa.loss.lambda_seg, lsa.loss.lambda_loc, lsa.loss.lambda_diff, lsa.loss.bce_weight) == (1.4, 0.4, 0.2, 0.5)
    assert (anom.optim.lr, anom.optim.lr_min, anom.optim.warmup_epochs, anom.optim.batch) == (0.1, 1e-4, 1, 8)
    assert (anom.loss.alpha, anom.loss.gamma, anom.loss.lambda_start) == (0.1, 2.0, 1.0)
    assert {family_of(n).name for n in ("lpcnet", "lpcnet-lite")} == {"lpcnet"}
    assert sorted(FAMILIES) == ["anomalyseg", "lpcnet", "lsanet", "psicnet"]


def test_zoo_recipes_round_trip_and_lpcnet_keeps_its_schedule(tmp_path: Path):
    for name in ZOO:
        recipe = narrow_recipe(name)
        assert load_recipe(save_recipe(recipe, tmp_path / f"{name}.yaml")) == recipe
    assert recipe_to_dict(load_recipe("lpcnet"))["schedule"] == {"epochs_dlm": 100, "epochs_seg": 300, "p_set": 250}
    assert load_recipe("lpcnet").optim == OptimCfg()   # adam, no lr curve: LPC-Net's behaviour unchanged


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("model: psicnet\nschedule:\n  epochs_dlm: 3\n", "unknown key 'schedule.epochs_dlm' (did you mean 'schedule.epochs_cls'?)"),
        ("model: lsanet\noptim:\n  name: rmsprop\n", "key 'optim.name' must be adam or sgd, got 'rmsprop'"),
        ("model: lsanet\noptim:\n  lr_schedule: step\n", "key 'optim.lr_schedule' must be none or cosine"),
        ("model: anomalyseg\nloss:\n  alpha: 2\n", "key 'loss.alpha' must be in [0, 1], got 2"),
        ("model: anomalyseg\noptim:\n  lr: 0.01\n  lr_min: 0.1\n", "key 'optim.lr_min' must be <= optim.lr"),
        ("model: lsanet\nloss:\n  omega: 0.2\n", "unknown key 'loss.omega'"),
        ("model: resnet\n", "key 'model': unknown model 'resnet' for training"),
    ],
)
def test_zoo_recipe_errors_are_one_line_and_name_the_key(tmp_path: Path, text: str, message: str):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_recipe(path)
    assert message in str(info.value) and str(path) in str(info.value) and "\n" not in str(info.value)


def test_epochs_scale_each_family_schedule():
    assert scale_schedule(load_recipe("psicnet"), epochs=12).schedule == PSICSchedule(8, 4)
    assert scale_schedule(load_recipe("psicnet"), epochs=2).schedule == PSICSchedule(1, 1)
    assert scale_schedule(load_recipe("lsanet"), epochs=3).schedule.epochs == 3
    scaled = scale_schedule(load_recipe("anomalyseg"), epochs=5)
    assert scaled.total_epochs == 5 and scaled.optim.warmup_epochs == 1   # warm-up kept in epochs
    with pytest.raises(ConfigError, match="--epochs-dlm/--epochs-seg/--p-set are LPC-Net options"):
        scale_schedule(load_recipe("lsanet"), epochs_dlm=2)


def test_learning_rate_warms_up_then_follows_the_cosine():
    optim = OptimCfg(name="sgd", lr=0.1, lr_schedule="cosine", lr_min=1e-4, warmup_epochs=1)
    assert learning_rate(optim, 0.0, warmup=0.1, step=0.01) == pytest.approx(0.01)    # first batch: lr·step/warmup
    assert learning_rate(optim, 0.05, warmup=0.1, step=0.01) == pytest.approx(0.06)
    assert learning_rate(optim, 0.1, warmup=0.1) == pytest.approx(0.1)               # peak after the warm-up
    assert learning_rate(optim, 0.55, warmup=0.1) == pytest.approx(1e-4 + (0.1 - 1e-4) / 2)
    assert learning_rate(optim, 1.0, warmup=0.1) == pytest.approx(1e-4)
    assert learning_rate(OptimCfg(lr=1e-3), 0.7) == 1e-3                               # "none": constant


# ------------------------------------------------------------------------------------------- training


@pytest.mark.parametrize("name", ZOO)
def test_two_epochs_reduce_the_training_loss(zoo_run, name: str):
    run = zoo_run(name)
    assert (run / "best.pt").is_file() and (run / "test.json").is_file()
    table = rows(run)
    stages = [r["stage"] for r in table]
    if name == "psicnet":
        assert stages == ["seg", "seg", "cls", "cls"]
        pairs = [table[0:2], table[2:4]]   # each step reduces its own loss
    else:
        assert stages == ["net", "net"]
        pairs = [table]
    for first, second in pairs:
        assert float(second["train_loss"]) < float(first["train_loss"]), (name, first, second)
    assert all(0.0 <= float(r["val_mIoU"]) <= 1.0 for r in table)
    if name == "lsanet":   # its location attention is scored against the rectangle labels
        assert all(r["val_loc_iou"] != "" for r in table)
    if name == "anomalyseg":   # warm-up (1 epoch of 2) then cosine down: the last batch runs near lr_min
        assert float(table[1]["lr"]) < 0.1 * 0.5


def test_psicnet_step_two_keeps_the_best_segmentation_frozen_and_reports_image_metrics(zoo_run):
    from edgeinspect.models.checkpoint import read_checkpoint

    out = zoo_run("psicnet")
    table = rows(out)
    for row in table[2:]:
        assert 0.0 <= float(row["val_image_ap"]) <= 1.0 and 0.0 <= float(row["val_image_acc"]) <= 1.0
        assert row["val_mIoU"] == table[2]["val_mIoU"]   # the frozen segmentation scores the same
    assert all(row["val_image_ap"] == "" for row in table[:2])
    best, last = read_checkpoint(out / "best.pt"), read_checkpoint(out / "last.pt")
    assert best["extra"]["stage"] == "cls"
    seg_keys = [k for k in last["state_dict"] if k.startswith(("features.", "decoder."))]
    assert seg_keys and all(torch.equal(best["state_dict"][k], last["state_dict"][k]) for k in seg_keys)
    result = json.loads((out / "test.json").read_text())
    assert result["image_score"] == "score" and result["image_acc"] is not None
    log = (out / "train.log").read_text()
    assert "step 2: image classifier from epoch 3" in log and "best checkpoint: epoch" in log


def test_time_budget_stops_every_stage_early_and_still_writes_best_and_test(squares: Path, tmp_path: Path):
    recipe = narrow_recipe("psicnet", **{"schedule.epochs_seg": 40, "schedule.epochs_cls": 20})
    out = tmp_path / "budget"
    train(recipe, squares, out, max_minutes=0.002)   # 0.12 s for 60 epochs: each step runs >= 1 batch, then stops
    stages = [r["stage"] for r in rows(out)]
    assert stages.count("seg") >= 1 and stages.count("cls") >= 1 and len(stages) < 60
    log = (out / "train.log").read_text()
    assert "time budget 0.002 min" in log and "time budget: stage seg stops" in log
    assert (out / "best.pt").is_file() and (out / "test.json").is_file()
    with pytest.raises(ConfigError, match="--max-minutes must be > 0"):
        train(recipe, squares, tmp_path / "none", max_minutes=0)


def test_train_cli_runs_a_zoo_model_with_epochs_and_max_minutes(squares: Path, tmp_path: Path):
    import edgeinspect.cli  # noqa: F401  (registers every command)
    from typer.testing import CliRunner

    from edgeinspect.cli.app import app

    out = tmp_path / "cli"
    result = CliRunner().invoke(app, [
        "train", "--model", "anomalyseg", "--data", str(squares), "--out", str(out), "--epochs", "2", "--size", "64x64",
        "--batch", "4", "--max-minutes", "5", "--set", "model_kwargs.channels=[8,16,32]",
        "--set", "model_kwargs.encoder_depth=1",
    ])
    assert result.exit_code == 0, result.output
    assert "test: mIoU" in result.stdout
    recipe = load_recipe(out / "recipe.yaml")
    assert recipe.model == "anomalyseg" and recipe.schedule.epochs == 2 and recipe.optim.name == "sgd"
    assert [r["epoch"] for r in rows(out)] == ["1", "2"]
    assert not math.isnan(float(rows(out)[-1]["val_mIoU"]))


ONE_EPOCH = {"psicnet": {"schedule.epochs_seg": 1, "schedule.epochs_cls": 1}, "lsanet": {"schedule.epochs": 1},
             "anomalyseg": {"schedule.epochs": 1}}


@pytest.mark.parametrize(
    ("name", "hw", "refused"),
    [
        ("psicnet", [64, 64], "BatchNorm 'classifier.steps.2.1.bn' of stage cls"),   # its 1×1 map at 64×64
        ("psicnet", [128, 128], None),   # the same layer sees 2×2 values at 128×128
        ("lsanet", [80, 80], None),
        ("anomalyseg", [64, 64], None),
    ],
    ids=["psicnet-64-refused", "psicnet-128", "lsanet-80", "anomalyseg-64"],
)
def test_batch_1_is_refused_only_where_a_batchnorm_sees_one_value_per_channel(squares: Path, tmp_path: Path, name: str,
                                                                               hw: list[int], refused: str | None):
    recipe = narrow_recipe(name, **{"data.input_hw": hw, "optim.batch": 1, "data.max_images": 2, **ONE_EPOCH[name]})
    out = tmp_path / "run"
    if refused is None:
        assert train(recipe, squares, out) == out / "best.pt"
        return
    with pytest.raises(ConfigError) as error:
        train(recipe, squares, out)
    assert str(error.value) == (f"recipe key 'optim.batch' (--batch) 1: {name} at {hw[0]}x{hw[1]} trains on batches "
                                f"of >= 2 images ({refused} normalises one value per channel of an image): "
                                "set --batch 2 or more")
    assert not (out / "last.pt").exists()
