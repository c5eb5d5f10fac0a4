"""Calibration sources: synthetic default, image folder, image/mask dataset, calib list YAML; gate sets."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from edgeinspect.errors import EdgeInspectError
from edgeinspect.export.calibration import (
    load_calibration,
    load_gate_set,
    synthetic_gate_set,
    tiles_sha256,
)


def _write(path: Path, array: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), array)
    return path


def _pairs_dataset(root: Path, count: int = 10) -> Path:
    rng = np.random.default_rng(0)
    for index in range(count):
        image = rng.integers(0, 200, (40, 60), dtype=np.uint8)
        mask = np.zeros((40, 60), np.uint8)
        if index % 2 == 0:
            mask[5:15, 10:30] = 255
        _write(root / "images" / f"s{index:02d}.png", image)
        _write(root / "masks" / f"s{index:02d}.png", mask)
    return root


def test_synthetic_default_is_deterministic_and_has_exact_masks() -> None:
    first = load_calibration(None, tile_hw=(64, 64), count=8, held_out=8)
    again = load_calibration(None, tile_hw=(64, 64), count=8, held_out=8)
    assert first.tiles.shape == (8, 1, 64, 64) and first.tiles.dtype == np.float32
    assert first.held_out.shape == (8, 1, 64, 64) and first.held_out_masks.shape == (8, 64, 64)
    assert first.held_out_masks.dtype == bool and first.held_out_masks.any()  # defects to score
    assert 0.0 <= first.tiles.min() and first.tiles.max() <= 255.0 and first.tiles.std() > 1.0
    assert first.sha256 == again.sha256 == tiles_sha256(again.tiles)
    assert first.source == "synthetic:carbon,fabric,ceramic,steel"
    for tile in first.held_out:  # gate webs are other webs than the calibration webs
        assert not any(np.array_equal(tile, calib) for calib in first.tiles)
    held, masks = synthetic_gate_set((64, 64), 4)
    np.testing.assert_array_equal(held, first.held_out[:4])


def test_image_folder_calibrates_every_size_and_depth_without_gate_tiles(tmp_path: Path) -> None:
    _write(tmp_path / "a.png", np.full((100, 80), 200, np.uint8))
    _write(tmp_path / "sub" / "b.png", np.full((10, 10), 65535, np.uint16))
    _write(tmp_path / "c.bmp", np.zeros((32, 32, 3), np.uint8))
    (tmp_path / "notes.txt").write_text("not an image")
    calib = load_calibration(tmp_path, tile_hw=(32, 32))
    assert calib.tiles.shape == (3, 1, 32, 32) and calib.held_out.shape == (0, 1, 32, 32)
    assert sorted(float(t.max()) for t in calib.tiles) == [0.0, 200.0, 255.0]  # uint16 scaled to 8-bit values
    assert calib.source == str(tmp_path)


def test_image_folder_count_is_spread_over_the_files(tmp_path: Path) -> None:
    for index in range(20):
        _write(tmp_path / f"{index:02d}.png", np.full((8, 8), index * 10, np.uint8))
    calib = load_calibration(tmp_path, tile_hw=(8, 8), count=5)
    assert [int(t.max()) for t in calib.tiles] == [0, 50, 100, 140, 190]


def test_dataset_calibrates_on_train_val_and_holds_test_aside_with_masks(tmp_path: Path) -> None:
    root = _pairs_dataset(tmp_path / "data")
    calib = load_calibration(root, tile_hw=(32, 32))
    assert calib.tiles.shape[0] + calib.held_out.shape[0] == 10
    assert calib.held_out.shape[0] >= 1 and calib.held_out_masks.shape == (calib.held_out.shape[0], 32, 32)
    for tile in calib.held_out:
        assert not any(np.array_equal(tile, c) for c in calib.tiles)


def test_calib_list_yaml_with_globs_and_masks(tmp_path: Path) -> None:
    root = _pairs_dataset(tmp_path / "data", count=6)
    listing = tmp_path / "calib.yaml"
    listing.write_text(
        "samples:\n"
        "  - data/images/s0[0-3].png\n"
        "  - {image: data/images/s04.png, mask: data/masks/s04.png}\n"
        "  - {image: data/images/s05.png, mask: data/masks/s05.png}\n"
    )
    calib = load_calibration(listing, tile_hw=(32, 32))
    assert calib.tiles.shape[0] == 5 and calib.held_out.shape[0] == 1  # every other masked entry held aside
    assert calib.held_out_masks[0].any()  # s04 has a defect
    tiles, masks = load_gate_set(listing, tile_hw=(32, 32))
    assert tiles.shape[0] == masks.shape[0] == 2
    assert root.is_dir()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p / "missing", "calibration source not found"),
        (lambda p: p, "no images found"),
        (lambda p: (p / "x.txt").write_text("x") and p / "x.txt", "must be a .yaml list"),
        (lambda p: (p / "c.yaml").write_text("samples: []\n") and p / "c.yaml", "must be a non-empty list"),
        (lambda p: (p / "c.yaml").write_text("samples: [nothing*.png]\n") and p / "c.yaml", "matches no file"),
        (lambda p: (p / "c.yaml").write_text("samples: [{mask: m.png}]\n") and p / "c.yaml", r"samples\[0\] must be"),
    ],
)
def test_bad_sources_are_one_line_errors(tmp_path: Path, make, message: str) -> None:
    with pytest.raises(EdgeInspectError, match=message) as info:
        load_calibration(make(tmp_path), tile_hw=(16, 16))
    assert "\n" not in str(info.value)


def test_gate_set_needs_masks(tmp_path: Path) -> None:
    _write(tmp_path / "a.png", np.zeros((8, 8), np.uint8))
    with pytest.raises(EdgeInspectError, match="the gate needs images with masks"):
        load_gate_set(tmp_path, tile_hw=(8, 8))
    with pytest.raises(EdgeInspectError, match="gate data not found"):
        load_gate_set(tmp_path / "nope", tile_hw=(8, 8))
