"""Two-stage training on a tiny set: loss goes down, the run folder is complete, resume is exact."""

from __future__ import annotations

import csv
import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from edgeinspect.data.datasets import open_dataset
from edgeinspect.errors import ConfigError, DataError
from edgeinspect.train.data import SegmentationSet
from edgeinspect.train.loop import build_model, stage_loss, stage_of, train
from edgeinspect.train.losses import LossWeights
from edgeinspect.train.recipe import apply_overrides, load_recipe

torch.set_num_threads(1)

TINY = {
    "data.input_hw": "[64, 64]",
    "optim.batch": "4",
    "eval.batch": "4",
    "schedule.epochs_dlm": "1",
    "schedule.epochs_seg": "2",
    "schedule.p_set": "1",
}


def tiny_recipe(**changes: str):
    return apply_overrides(load_recipe("lpcnet-lite"), {**TINY, **changes})


@pytest.fixture(scope="module")
def full_run(square_pairs: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """1 DLM epoch + 2 segmentation epochs (PCM on in the last), 64×64 lpcnet-lite."""
    out = tmp_path_factory.mktemp("runs") / "full"
    best = train(tiny_recipe(), square_pairs, out)
    assert best == out / "best.pt"
    return out


def _losses(model, batch, stage: str, weights, steps: int) -> list[float]:
    trainable = "dlm" if stage == "dlm" else "seg"
    model.freeze_stage("seg" if trainable == "dlm" else "dlm")
    model.freeze_stage(trainable, False)
    optimizer = torch.optim.Adam(model.stage_parameters(trainable), lr=1e-3, betas=(0.5, 0.999), weight_decay=1e-4)
    model.train()
    losses = []
    for _ in range(steps):
        loss, _ = stage_loss(model, batch, stage, weights, omega=0.2)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def test_both_stages_reduce_their_loss_on_four_fixed_images(square_pairs: Path):
    torch.manual_seed(0)
    model = build_model(tiny_recipe())
    data = SegmentationSet(open_dataset(square_pairs).split("all"), input_hw=(64, 64), indices=[0, 1, 2, 3])
    batch = {k: torch.stack([data[i][k] for i in range(4)]) for k in ("image", "mask", "loc")}
    dlm = _losses(model, batch, "dlm", None, 60)
    seg = _losses(model, batch, "seg", LossWeights(1.0, 0.0, False), 25)
    assert np.mean(dlm[-5:]) < 0.5 * np.mean(dlm[:5])
    assert np.mean(seg[-5:]) < 0.6 * np.mean(seg[:5])
    # stage 2 leaves the frozen DLM untouched
    before = {k: v.clone() for k, v in model.dlm.state_dict().items()}
    _losses(model, batch, "seg+pcm", LossWeights(0.8, 0.2, True), 2)
    assert all(torch.equal(before[k], v) for k, v in model.dlm.state_dict().items())



def test_the_area_term_brings_the_halo_mass_closer_to_the_true_areas(square_pairs: Path):
    """Stage 2 with L_area (loss.lambda_area) on four fixed images: the relative area error of the
    inference-form probabilities falls further than with the paper's loss alone, same steps."""
    from edgeinspect.train.losses import area_loss

    data = SegmentationSet(open_dataset(square_pairs).split("all"), input_hw=(64, 64), indices=[0, 1, 2, 3])
    batch = {k: torch.stack([data[i][k] for i in range(4)]) for k in ("image", "mask", "loc")}

    def area_error_after(weights) -> float:
        torch.manual_seed(0)
        model = build_model(tiny_recipe())
        _losses(model, batch, "seg", weights, 60)
        model.eval()
        with torch.no_grad():
            return area_loss(model(batch["image"]).prob, batch["mask"]).item()

    plain = area_error_after(LossWeights(1.0, 0.0, False))
    with_area = area_error_after(LossWeights(1.0, 0.0, False, area=0.5))
    assert with_area < 0.85 * plain  # measured 0.53 vs 0.74

def test_m_comp_spans_exactly_one_plus_minus_omega():
    from edgeinspect.models.lpcnet import compensation_weights

    loc = torch.rand(3, 1, 16, 16)
    for omega in (0.0, 0.2, 0.5):
        m = compensation_weights(loc, omega)
        assert m.shape == loc.shape
        for image in m:
            assert image.min().item() == pytest.approx(1 - omega, abs=1e-6)
            assert image.max().item() == pytest.approx(1 + omega, abs=1e-6)
    assert torch.equal(compensation_weights(torch.full((1, 1, 4, 4), 0.3), 0.2), torch.ones(1, 1, 4, 4))


def test_stage_of_follows_the_schedule():
    recipe = tiny_recipe(**{"schedule.epochs_dlm": "2", "schedule.epochs_seg": "4", "schedule.p_set": "3"})
    stages = [stage_of(e, recipe)[0] for e in range(6)]
    assert stages == ["dlm", "dlm", "seg", "seg", "seg", "seg+pcm"]
    assert stage_of(0, recipe)[1] is None
    assert stage_of(5, recipe)[1] == LossWeights(0.8, 0.2, True)


def test_run_folder_holds_metrics_curves_recipe_log_and_test_json(full_run: Path, square_pairs: Path):
    from edgeinspect.models import load_checkpoint

    with (full_run / "metrics.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [r["epoch"] for r in rows] == ["1", "2", "3"]
    assert [r["stage"] for r in rows] == ["dlm", "seg", "seg+pcm"]
    assert rows[0]["val_mIoU"] == "" and float(rows[1]["val_mIoU"]) > 0
    assert all(float(r["train_loss"]) > 0 and float(r["lr"]) == 1e-3 for r in rows)
    assert (full_run / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert load_recipe(full_run / "recipe.yaml") == tiny_recipe()
    log = (full_run / "train.log").read_text()
    assert "PCM on from epoch 3" in log and "best checkpoint" in log
    result = json.loads((full_run / "test.json").read_text())
    assert {"mPA", "mIoU", "mIoU80", "dice", "iou", "pixel_acc"} <= set(result)
    assert {"truth", "found", "false", "area_within_tol"} <= set(result["defects"])
    model, extra = load_checkpoint(full_run / "best.pt")
    assert extra["stage"] in ("seg", "seg+pcm") and extra["epoch"] in (2, 3)
    assert extra["val"]["val_mIoU"] == pytest.approx(max(float(r["val_mIoU"]) for r in rows[1:]))
    assert model.default_cfg["input_size"] == (1, 64, 64)


def test_eval_checkpoint_reproduces_test_json(full_run: Path, square_pairs: Path):
    from edgeinspect.train.evaluate import evaluate_checkpoint

    report = evaluate_checkpoint(full_run / "best.pt", square_pairs, "test")
    saved = json.loads((full_run / "test.json").read_text())
    assert report.to_json() | {"split": "test", "skipped": 0} == saved


def test_eval_checkpoint_skip_bad_scores_the_same_split_without_an_undecodable_image(full_run: Path, square_pairs: Path,
                                                                                     tmp_path: Path):
    from edgeinspect.errors import DataError
    from edgeinspect.train.evaluate import evaluate_checkpoint

    data = tmp_path / "ds"
    shutil.copytree(square_pairs, data)
    train_names = [meta.image_path.name for meta in open_dataset(data).split("train").entries]
    assert len(train_names) >= 2
    damaged = data / "images" / train_names[0]
    damaged.write_text("not an image\n")
    with pytest.raises(DataError, match="cannot decode image file"):
        evaluate_checkpoint(full_run / "best.pt", data, "train")
    skipped = evaluate_checkpoint(full_run / "best.pt", data, "train", skip_bad=True)
    assert skipped.images == len(train_names) - 1  # the rest of the same split, not a re-split of the folder


def test_resume_continues_from_the_last_epoch_exactly(full_run: Path, square_pairs: Path, tmp_path: Path):
    from edgeinspect.models.checkpoint import read_checkpoint

    out = tmp_path / "part"
    train(tiny_recipe(**{"schedule.epochs_seg": "1"}), square_pairs, out)  # epochs 1-2, then "stopped"
    assert read_checkpoint(out / "last.pt")["extra"]["completed_epochs"] == 2
    train(tiny_recipe(), square_pairs, out, resume=True)  # epoch 3 only
    with (out / "metrics.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    with (full_run / "metrics.csv").open() as handle:
        full_rows = list(csv.DictReader(handle))
    assert [r["epoch"] for r in rows] == ["1", "2", "3"]
    for mine, theirs in zip(rows, full_rows):
        assert mine["train_loss"] == theirs["train_loss"] and mine["val_loss"] == theirs["val_loss"]
    resumed = read_checkpoint(out / "last.pt")
    straight = read_checkpoint(full_run / "last.pt")
    assert resumed["extra"]["completed_epochs"] == 3
    for key, value in straight["state_dict"].items():
        assert torch.equal(resumed["state_dict"][key], value), key
    assert "resume lpcnet-lite" in (out / "train.log").read_text()


def test_existing_run_mismatch_and_missing_last_are_config_errors(full_run: Path, square_pairs: Path, tmp_path: Path):
    with pytest.raises(ConfigError, match="already holds a run"):
        train(tiny_recipe(), square_pairs, full_run)
    with pytest.raises(ConfigError, match="nothing to resume"):
        train(tiny_recipe(), square_pairs, tmp_path / "empty", resume=True)
    copy = tmp_path / "copy"
    shutil.copytree(full_run, copy)
    with pytest.raises(ConfigError, match="cannot resume with 'seed' = 5"):
        train(tiny_recipe(seed="5"), square_pairs, copy, resume=True)


def test_resume_on_other_samples_is_refused_and_on_a_moved_copy_of_the_same_is_not(
        full_run: Path, square_pairs: Path, square_pairs_20: Path, tmp_path: Path):
    copy = tmp_path / "copy"
    shutil.copytree(full_run, copy)
    recipe_before = (copy / "recipe.yaml").read_text()
    with pytest.raises(ConfigError) as info:
        train(tiny_recipe(**{"optim.lr": "0.5"}), square_pairs_20, copy, resume=True)
    assert str(info.value) == (f"{copy / 'last.pt'}: cannot resume on --data {square_pairs_20} (20 samples): the run "
                               f"trained on {square_pairs} (10 samples, other names); pass that --data or start a new --out")
    assert (copy / "recipe.yaml").read_text() == recipe_before  # the refused resume changed nothing
    moved = tmp_path / "moved"
    shutil.copytree(square_pairs, moved)
    train(tiny_recipe(), moved, copy, resume=True)  # same samples elsewhere: resumes (all epochs done)
    renamed = tmp_path / "renamed"  # as many samples, one of them renamed: other splits
    shutil.copytree(square_pairs, renamed)
    for folder in ("images", "masks"):
        first = sorted((renamed / folder).iterdir())[0]
        first.rename(first.with_name("renamed" + first.suffix))
    sorted((renamed / "images").iterdir())[-1].write_bytes(b"not an image")  # refused before any image is read
    with pytest.raises(ConfigError, match=r"cannot resume on --data .*renamed \(10 samples\): the run trained on"):
        train(tiny_recipe(), renamed, copy, resume=True)


def test_unknown_model_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown model"):
        build_model(tiny_recipe(model="nope"))


# ----------------------------------------------------------------------- batches a BatchNorm can train on

ONE_VALUE = ("lpcnet-lite at 64x64 trains on batches of >= 2 images (BatchNorm 'seg.decoder.aspp.branches.4.conv.bn' "
             "of stage seg normalises one value per channel of an image)")


def _first_pairs(square_pairs: Path, root: Path, count: int) -> Path:
    """A copy of the first ``count`` image/mask pairs of ``square_pairs``."""
    for sub in ("images", "masks"):
        (root / sub).mkdir(parents=True)
        for path in sorted((square_pairs / sub).iterdir())[:count]:
            shutil.copyfile(path, root / sub / path.name)
    return root


def test_batch_1_is_refused_before_any_epoch_when_stage_2_has_a_batchnorm_on_a_1x1_map(square_pairs: Path,
                                                                                      tmp_path: Path):
    out = tmp_path / "run"
    with pytest.raises(ConfigError) as error:
        train(tiny_recipe(**{"optim.batch": "1"}), square_pairs, out)
    assert str(error.value) == f"recipe key 'optim.batch' (--batch) 1: {ONE_VALUE}: set --batch 2 or more"
    assert not (out / "last.pt").exists() and not (out / "metrics.csv").exists()


def test_batch_1_trains_a_dlm_only_schedule(square_pairs: Path, tmp_path: Path):
    """Stage 1 (the DLM) has no BatchNorm on a 1×1 map, so batch 1 trains it (stage 2's ASPP pooling never runs)."""
    recipe = tiny_recipe(**{"optim.batch": "1", "schedule.epochs_seg": "0", "schedule.p_set": "0",
                            "data.max_images": "2"})
    assert train(recipe, square_pairs, tmp_path / "run") == tmp_path / "run" / "best.pt"


@pytest.mark.parametrize("count", [2, 3])
def test_a_train_split_of_one_image_is_a_data_error_naming_the_folder(square_pairs: Path, tmp_path: Path, count: int):
    data = _first_pairs(square_pairs, tmp_path / "ds", count)
    out = tmp_path / "run"
    with pytest.raises(DataError) as error:
        train(tiny_recipe(**{"optim.batch": "2"}), data, out)
    assert str(error.value) == (f"{data}: {count} samples give a train split of 1 image at ratios 3:1:1, but "
                                f"{ONE_VALUE}: add samples or change data.split")
    assert not (out / "last.pt").exists()


def test_a_train_split_cut_to_one_image_by_skip_bad_says_so(square_pairs: Path, tmp_path: Path):
    from edgeinspect.data.datasets import open_dataset

    data = _first_pairs(square_pairs, tmp_path / "ds", 5)
    train_split = open_dataset(data).split("train", ratios=(3, 1, 1), seed=int(tiny_recipe().seed))
    assert len(train_split) >= 2
    for meta in train_split.entries[1:]:  # all but one train image undecodable
        meta.image_path.write_bytes(b"not an image")
    with pytest.raises(DataError) as error:
        train(tiny_recipe(**{"optim.batch": "2"}), data, tmp_path / "run", skip_bad=True)
    dropped = len(train_split) - 1
    assert str(error.value) == (f"{data}: 5 samples give a train split of 1 image after skipping {dropped} "
                                f"undecodable at ratios 3:1:1, but {ONE_VALUE}: add samples or change data.split")


def test_max_images_below_two_is_refused_naming_the_key(square_pairs: Path, tmp_path: Path):
    with pytest.raises(ConfigError) as error:
        train(tiny_recipe(**{"data.max_images": "1"}), square_pairs, tmp_path / "run")
    assert str(error.value) == f"recipe key 'data.max_images' (--max-images) 1: {ONE_VALUE}: set it to 2 or more"


def test_a_bad_model_kwarg_among_several_is_named_with_its_source(square_pairs: Path, tmp_path: Path):
    recipe = tiny_recipe(**{"model_kwargs.aspp_channels": "32", "model_kwargs.dlm_stem_channels": "0"})
    sources = {"": "my.yaml", "model_kwargs.dlm_stem_channels": "--set"}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(ConfigError) as error:
            build_model(recipe, sources=sources)
    assert str(error.value) == ("--set: key 'model_kwargs.dlm_stem_channels' = 0: lpcnet-lite cannot be built with it "
                                "(layer 'dlm.stem.conv' gets 0 channels): fix or drop the key")
    assert not [w for w in caught if "zero-element" in str(w.message)]  # torch's warning is not shown
    recipe = tiny_recipe(**{"model_kwargs.aspp_channels": "32", "model_kwargs.dlm_blocks": "0"})
    with pytest.raises(ConfigError) as error:   # built, but the first forward fails: found before any epoch
        train(recipe, square_pairs, tmp_path / "run", sources=sources)
    assert str(error.value).startswith("my.yaml: key 'model_kwargs.dlm_blocks' = 0: lpcnet-lite fails on a 64x64 "
                                       "image with it (Given groups=1, weight of size ")
    assert not (tmp_path / "run" / "last.pt").exists()
