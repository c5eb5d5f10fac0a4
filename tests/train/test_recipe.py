"""Recipes: bundled YAMLs load with the paper values; every error names the key and the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgeinspect.errors import ConfigError
from edgeinspect.train.recipe import (
    apply_overrides,
    bundled_recipes,
    load_recipe,
    parse_overrides,
    recipe_to_dict,
    save_recipe,
    scale_schedule,
)


def test_bundled_recipes_hold_the_paper_schedule_and_optimiser():
    assert {"lpcnet", "lpcnet-lite"} <= set(bundled_recipes())
    for name in ("lpcnet", "lpcnet-lite"):
        recipe = load_recipe(name)
        assert recipe.model == name
        assert (recipe.schedule.epochs_dlm, recipe.schedule.epochs_seg, recipe.schedule.p_set) == (100, 300, 250)
        assert (recipe.optim.lr, recipe.optim.betas, recipe.optim.weight_decay, recipe.optim.batch) == (
            1e-3, (0.5, 0.999), 1e-4, 16)
        assert (recipe.loss.omega, recipe.loss.lambda_img, recipe.loss.lambda_pcm) == (0.2, 0.8, 0.2)
        assert recipe.loss.lambda_area == 0.0  # the paper's loss: L_area is an opt-in
        assert recipe.data.split == (3, 1, 1)
        assert recipe.data.input_hw == (256, 256)


def test_saved_recipe_loads_back_identical(tmp_path: Path):
    recipe = apply_overrides(load_recipe("lpcnet-lite"), {"optim.lr": "5e-4", "data.input_hw": "[64, 96]"})
    path = save_recipe(recipe, tmp_path / "recipe.yaml")
    again = load_recipe(path)
    assert again == recipe
    assert again.optim.lr == 5e-4 and again.data.input_hw == (64, 96)


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("optim:\n  lr: -1\n", "optim.lr"),
        ("optim:\n  betas: [0.5]\n", "optim.betas"),
        ("optim:\n  batch: 2.5\n", "optim.batch"),
        ("schedule:\n  epochs_seg: 10\n  p_set: 11\n", "schedule.p_set"),
        ("loss:\n  omega: 1.5\n", "loss.omega"),
        ("loss:\n  lambda_area: -0.1\n", "loss.lambda_area"),
        ("data:\n  input_hw: [64, 64, 1]\n", "data.input_hw"),
        ("augment:\n  flip_h: maybe\n", "augment.flip_h"),
        ("optim:\n  lrate: 0.1\n", "optim.lrate"),
        ("schedule: 3\n", "schedule"),
        ("modle: lpcnet\n", "modle"),
    ],
)
def test_recipe_errors_name_the_key_and_the_file(tmp_path: Path, text: str, key: str):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_recipe(path)
    message = str(info.value)
    assert str(path) in message
    assert f"'{key}'" in message
    assert "\n" not in message


def test_unknown_key_suggests_the_right_one(tmp_path: Path):
    path = tmp_path / "typo.yaml"
    path.write_text("optim:\n  weight_decy: 0.1\n")
    with pytest.raises(ConfigError, match="did you mean 'optim.weight_decay'"):
        load_recipe(path)


def test_invalid_yaml_and_missing_file_are_config_errors(tmp_path: Path):
    bad = tmp_path / "broken.yaml"
    bad.write_text("optim: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_recipe(bad)
    with pytest.raises(ConfigError, match="not found"):
        load_recipe(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="no bundled recipe for model 'resnet'"):
        load_recipe("resnet")


def test_overrides_parse_yaml_values_and_reject_unknown_keys():
    recipe = load_recipe("lpcnet-lite")
    changed = apply_overrides(recipe, parse_overrides(["optim.lr=1e-4", "augment.enabled=false",
                                                       "data.max_images=null", "model_kwargs.width=8"]))
    assert changed.optim.lr == 1e-4
    assert changed.augment.enabled is False
    assert changed.model_kwargs == {"width": 8}
    assert recipe.optim.lr == 1e-3  # the original is untouched (frozen)
    with pytest.raises(ConfigError, match=r"--set: unknown key 'lr' \(did you mean 'optim.lr'\?\)"):
        apply_overrides(recipe, {"lr": "1"})
    with pytest.raises(ConfigError, match="--set: key 'optim.batch' must be >= 1, got 0"):
        apply_overrides(recipe, {"optim.batch": "0"})
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        parse_overrides(["optim.lr"])


def test_an_override_that_puts_a_key_left_alone_out_of_range_names_both():
    recipe = load_recipe("lpcnet-lite")
    with pytest.raises(ConfigError) as error:
        apply_overrides(recipe, {"schedule.epochs_seg": "0"})
    assert str(error.value) == (f"--set: key 'schedule.p_set' must be <= schedule.epochs_seg (0), got {recipe.schedule.p_set}; "
                                "--set changed schedule.epochs_seg: set schedule.p_set too")
    assert apply_overrides(recipe, {"schedule.epochs_seg": "0", "schedule.p_set": "0"}).schedule.epochs_seg == 0
    with pytest.raises(ConfigError, match=r"^--set: key 'schedule.p_set' must be <= schedule.epochs_seg \(0\), got 1$"):
        apply_overrides(recipe, {"schedule.epochs_seg": "0", "schedule.p_set": "1"})  # named itself: no hint


@pytest.mark.parametrize(
    ("epochs", "expected"),
    [(8, (2, 6, 5)), (40, (10, 30, 25)), (400, (100, 300, 250)), (2, (1, 1, 1)), (3, (1, 2, 1))],
)
def test_epochs_scale_the_paper_schedule_proportionally(epochs: int, expected: tuple[int, int, int]):
    s = scale_schedule(load_recipe("lpcnet"), epochs=epochs).schedule
    assert (s.epochs_dlm, s.epochs_seg, s.p_set) == expected
    assert s.epochs_dlm + s.epochs_seg == epochs


def test_explicit_epoch_counts_and_p_set():
    recipe = load_recipe("lpcnet")
    s = scale_schedule(recipe, epochs_dlm=1, epochs_seg=6).schedule
    assert (s.epochs_dlm, s.epochs_seg, s.p_set) == (1, 6, 5)  # p_set scaled 250/300 with the stage
    s = scale_schedule(recipe, epochs_dlm=1, epochs_seg=6, p_set=0).schedule
    assert s.p_set == 0
    with pytest.raises(ConfigError, match="--epochs scales the whole schedule"):
        scale_schedule(recipe, epochs=10, epochs_dlm=2)
    with pytest.raises(ConfigError, match="'schedule.p_set' must be <= schedule.epochs_seg"):
        scale_schedule(recipe, epochs_dlm=1, epochs_seg=2, p_set=3)


def test_recipe_dict_is_plain_yaml_types():
    data = recipe_to_dict(load_recipe("lpcnet"))
    assert data["optim"]["betas"] == [0.5, 0.999]
    assert data["schedule"] == {"epochs_dlm": 100, "epochs_seg": 300, "p_set": 250}


def test_resolve_recipe_layers_base_set_options_and_schedule(tmp_path: Path):
    from edgeinspect.train.recipe import resolve_recipe

    recipe = resolve_recipe(
        model="lpcnet-lite",
        set_items=["optim.lr=5e-4", "augment.flip_v=false"],
        options={"--batch": ("optim.batch", 4), "--seed": ("seed", None), "--size": ("data.input_hw", [128, 128])},
        epochs=8,
    )
    assert recipe.model == "lpcnet-lite" and recipe.optim.lr == 5e-4 and recipe.optim.batch == 4
    assert recipe.seed == 0 and recipe.data.input_hw == (128, 128) and recipe.augment.flip_v is False
    assert (recipe.schedule.epochs_dlm, recipe.schedule.epochs_seg, recipe.schedule.p_set) == (2, 6, 5)
    with pytest.raises(ConfigError, match="^--batch: key 'optim.batch' must be >= 1, got 0$"):
        resolve_recipe(model="lpcnet-lite", options={"--batch": ("optim.batch", 0)})


def test_resume_takes_the_run_recipe_unless_a_model_or_recipe_is_given(tmp_path: Path):
    from edgeinspect.train.recipe import resolve_recipe

    run_recipe = save_recipe(scale_schedule(load_recipe("lpcnet-lite"), epochs=8), tmp_path / "recipe.yaml")
    resumed = resolve_recipe(run_recipe=run_recipe, epochs_seg=12)  # extend stage 2 of the saved run
    assert (resumed.schedule.epochs_dlm, resumed.schedule.epochs_seg, resumed.schedule.p_set) == (2, 12, 10)
    assert resolve_recipe(model="lpcnet", run_recipe=run_recipe).schedule.epochs_seg == 300
    assert resolve_recipe(run_recipe=tmp_path / "missing.yaml").model == "lpcnet-lite"
    other = tmp_path / "other.yaml"
    other.write_text("model: lpcnet\noptim:\n  lr: 2.0e-4\n")
    mixed = resolve_recipe(model="lpcnet-lite", recipe_path=other)
    assert mixed.model == "lpcnet-lite" and mixed.optim.lr == 2e-4
