"""``calib int8``: stratified tile selection, stable content hash, readable by ``build``'s calibration reader."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from edgeinspect.calibration.int8set import MIN_DEFECT_PX, select_int8_set, verify_int8_set
from edgeinspect.cli import main
from edgeinspect.errors import EdgeInspectError

TILE = (64, 64)


def write_pairs(root: Path, *, count: int = 6, hw=(128, 512), seed: int = 0, dtype=np.uint8) -> Path:
    """pairs-layout dataset: noisy web, bright squares (defects) in a third of the 64×64 tiles, all bands."""
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    top = 255 if dtype == np.uint8 else 4095
    for i in range(count):
        image = rng.normal(0.4 * top, 0.03 * top, hw).clip(0, top).astype(dtype)
        mask = np.zeros(hw, np.uint8)
        for ty in range(hw[0] // 64):
            for tx in range(hw[1] // 64):
                if (ty * 8 + tx + i) % 3 == 0:
                    y, x = ty * 64 + 20, tx * 64 + 20
                    image[y:y + 12, x:x + 12] = top
                    mask[y:y + 12, x:x + 12] = 255
        cv2.imwrite(str(root / "images" / f"web{i:02d}.png"), image)
        cv2.imwrite(str(root / "masks" / f"web{i:02d}.png"), mask)
    return root


@pytest.fixture(scope="module")
def pairs(tmp_path_factory) -> Path:
    return write_pairs(tmp_path_factory.mktemp("pairs"))


@pytest.fixture(scope="module")
def chosen(tmp_path_factory, pairs):
    return select_int8_set(pairs, name="line3", root=tmp_path_factory.mktemp("int8"), count=16, tile_hw=TILE, seed=0)


def samples(result) -> list[dict]:
    return yaml.safe_load(result.list_path.read_text())["samples"]


def test_half_defect_half_free_spread_across_the_width(chosen):
    assert chosen.count == 16
    assert chosen.labels == {"defect": 8, "free": 8}
    assert chosen.bands == {0: 4, 1: 4, 2: 4, 3: 4}
    per_stratum = Counter((s["label"], s["band"]) for s in samples(chosen))
    assert set(per_stratum.values()) == {2}                       # 2 labels × 4 bands × 2 tiles


def test_every_other_entry_is_stratified_too(chosen):
    """build holds every other masked entry aside for its accuracy gate: both halves keep the mix."""
    entries = samples(chosen)
    for half in (entries[::2], entries[1::2]):
        assert Counter(s["label"] for s in half) == {"defect": 4, "free": 4}
        assert Counter(s["band"] for s in half) == {0: 2, 1: 2, 2: 2, 3: 2}


def test_tiles_and_masks_match_their_labels(chosen):
    for sample in samples(chosen):
        image = cv2.imread(str(chosen.path / sample["image"]), cv2.IMREAD_UNCHANGED)
        mask = cv2.imread(str(chosen.path / sample["mask"]), cv2.IMREAD_UNCHANGED) > 127
        assert image.shape == mask.shape == TILE and image.dtype == np.uint8
        assert (mask.sum() >= MIN_DEFECT_PX) == (sample["label"] == "defect")
        assert np.all(image[mask] == 255)
        assert sample["origin"].split("#")[0].endswith(".png")


def test_content_hash_is_stable_and_checkable(chosen, pairs, tmp_path):
    again = select_int8_set(pairs, name="line3", root=tmp_path, count=16, tile_hw=TILE, seed=0)
    assert again.sha256 == chosen.sha256 == yaml.safe_load(chosen.list_path.read_text())["sha256"]
    assert verify_int8_set(chosen.list_path) == chosen.sha256
    other = select_int8_set(pairs, name="seed1", root=tmp_path, count=16, tile_hw=TILE, seed=1)
    assert other.sha256 != chosen.sha256
    # a changed tile is caught
    tile = again.path / samples(again)[0]["image"]
    cv2.imwrite(str(tile), 255 - cv2.imread(str(tile), cv2.IMREAD_UNCHANGED))
    with pytest.raises(EdgeInspectError, match="a tile changed"):
        verify_int8_set(again.list_path)


def test_sha256_is_the_sha256sum_listing(chosen):
    import hashlib

    listing = ""
    for sample in samples(chosen):
        for key in ("image", "mask"):
            data = (chosen.path / sample[key]).read_bytes()
            listing += f"{hashlib.sha256(data).hexdigest()}  {sample[key]}\n"
    assert hashlib.sha256(listing.encode()).hexdigest() == chosen.sha256


def test_build_reads_the_list_and_the_folder(chosen):
    from edgeinspect.export.calibration import load_calibration

    listed = load_calibration(chosen.list_path, tile_hw=TILE, count=32, held_out=4)
    assert listed.tiles.shape == (12, 1, *TILE) and listed.tiles.dtype == np.float32
    assert listed.held_out.shape == (4, 1, *TILE) and listed.held_out_masks.any()
    assert listed.tiles.max() == 255.0
    folder = load_calibration(chosen.path, tile_hw=TILE, count=32, held_out=4)   # pairs layout
    assert folder.tiles.shape[0] + folder.held_out.shape[0] <= 16 and folder.tiles.shape[0] > 0


def test_existing_set_needs_force(chosen):
    with pytest.raises(EdgeInspectError, match="--force"):
        select_int8_set(chosen.path, name="line3", root=chosen.path.parent, count=4, tile_hw=TILE)


def test_folder_without_masks_is_unlabelled_and_spread(tmp_path, pairs):
    folder = tmp_path / "plain"
    folder.mkdir()
    for path in (pairs / "images").glob("*.png"):
        (folder / path.name).write_bytes(path.read_bytes())
    (folder / "web00_mask.png").write_bytes((pairs / "masks" / "web00.png").read_bytes())   # skipped
    result = select_int8_set(folder, name="plain", root=tmp_path / "int8", count=8, tile_hw=TILE)
    assert result.labels == {"unlabelled": 8} and result.bands == {0: 2, 1: 2, 2: 2, 3: 2}
    assert not (result.path / "masks").exists()
    assert all("mask" not in s for s in samples(result))
    assert not any("_mask" in Path(s["origin"].split("#")[0]).name for s in samples(result))


def test_12_bit_images_are_scaled_to_8_bit(tmp_path):
    root = write_pairs(tmp_path / "deep", count=2, dtype=np.uint16)
    result = select_int8_set(root, name="deep", root=tmp_path / "int8", count=4, tile_hw=TILE, bit_depth=12)
    tile = cv2.imread(str(result.path / samples(result)[0]["image"]), cv2.IMREAD_UNCHANGED)
    assert tile.dtype == np.uint8
    assert 90 < np.median(tile) < 115                   # 0.4 × 4095 → 102 on the 8-bit scale


def test_recorded_replay_run_folder_uses_its_mask_pngs(tmp_path, pairs):
    from fixtures_stream import write_onnx

    from edgeinspect import backends
    from edgeinspect.config import RunConfig
    from edgeinspect.stream.runner import run_inspection

    calib = tmp_path / "calib.yaml"
    calib.write_text("mm_per_px: 0.1\nmm_per_line: 0.1\nreject_area_mm2: 1\nsignificant_area_mm2: 0.25\n")
    engine = backends.load(write_onnx(tmp_path / "id.onnx", TILE, kind="identity"), threads=1)
    run_dir = tmp_path / "run"
    run_inspection(RunConfig(camera=f"replay:{pairs}", calib=calib, out=run_dir, overlays=False,
                             mask_png_every_lines=64), engine=engine, handle_signals=False)
    assert any((run_dir / "masks" / "truth").glob("*.png"))
    result = select_int8_set(run_dir, name="fromrun", root=tmp_path / "int8", count=8, tile_hw=TILE)
    assert result.labels == {"defect": 4, "free": 4}
    for sample in samples(result):
        mask = cv2.imread(str(result.path / sample["mask"]), cv2.IMREAD_UNCHANGED) > 127
        assert (mask.sum() >= MIN_DEFECT_PX) == (sample["label"] == "defect")


def test_run_folder_of_a_live_source_says_what_to_give(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "summary.json").write_text(json.dumps({"source": "genicam:SN1"}))
    with pytest.raises(EdgeInspectError, match="keeps no raw web images"):
        select_int8_set(run_dir, name="x", root=tmp_path / "int8")


def test_cli_int8_json(tmp_path, pairs, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["calib", "int8", str(pairs), "--name", "cli", "--count", "8", "--tile", "64x64",
              "--root", str(tmp_path), "--json"])
    assert exit_info.value.code == 0
    data = json.loads(capsys.readouterr().out)
    assert data["count"] == 8 and data["labels"] == {"defect": 4, "free": 4}
    assert Path(data["list"]).is_file()
    assert data["smaller_than_tile_hw"] == 0


def test_tiles_cut_from_images_smaller_than_the_tile_are_counted_and_said(tmp_path, capsys):
    root = write_pairs(tmp_path / "small", count=2, hw=(48, 512))       # 48 lines: every tile is 48×64
    with pytest.raises(SystemExit) as exit_info:
        main(["calib", "int8", str(root), "--name", "small", "--count", "8", "--tile", "64x64", "--root", str(tmp_path / "sets")])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "warning: 8 of the tiles are smaller than 64×64" in out
    document = yaml.safe_load((tmp_path / "sets" / "small" / "calib.yaml").read_text())
    assert document["smaller_than_tile_hw"] == 8 and document["tile_hw"] == [64, 64]
    tile = cv2.imread(str(tmp_path / "sets" / "small" / document["samples"][0]["image"]), cv2.IMREAD_UNCHANGED)
    assert tile.shape == (48, 64)


@pytest.mark.parametrize("argv, named", [(["--tile", "64xq"], "--tile"), (["--name", "a/b"], "--name")])
def test_cli_int8_bad_options(tmp_path, pairs, capsys, argv, named):
    base = {"--name": "ok", "--tile": "64x64"}
    args = ["calib", "int8", str(pairs), "--root", str(tmp_path)]
    for key, value in base.items():
        args += [key, argv[1] if argv[0] == key else value]
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and named in err


def test_cli_int8_negative_seed_is_a_one_line_error(tmp_path, pairs, capsys):
    """Like `synth` and `train`: --seed has a range (min 0); numpy raised ValueError on -1."""
    with pytest.raises(SystemExit) as exit_info:
        main(["calib", "int8", str(pairs), "--name", "a", "--count", "4", "--seed", "-1", "--root", str(tmp_path)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: edgeinspect calib int8: Invalid value for '--seed'") and err.count("\n") == 1
    assert not (tmp_path / "a").exists()
    with pytest.raises(EdgeInspectError) as info:  # the library call refuses it too
        select_int8_set(pairs, name="a", root=tmp_path, count=4, seed=-1)
    assert str(info.value) == "--seed must be an integer >= 0, got -1"
