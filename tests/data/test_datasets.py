"""Dataset readers: layout detection, reading, bit depth, stratified splits, bad input (tiny fixtures in tmp_path)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from fixtures_data import defect_mask, gray_image, write, write_aitex, write_kolektor, write_mt, write_pairs

from edgeinspect.data.datasets import (
    FORMAT_NAMES,
    Dataset,
    _split_counts,
    detect_format,
    load_sample,
    open_dataset,
    prediction_pairs,
)
from edgeinspect.data.imageio import read_image, read_mask, read_prediction
from edgeinspect.errors import DataError, EdgeInspectError

DEFECT_AREA = 6 * 4  # defect_mask(): 255 box 6×4 px; the 100-valued rim is below the 127 threshold


# --- detection -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("writer", "expected"),
    [
        (lambda root: write_mt(root, {"Crack": 1, "Free": 1}), "mt"),
        (lambda root: write_kolektor(root, folders=1, parts=1), "kolektor"),
        (lambda root: write_aitex(root), "aitex"),
        (lambda root: write_pairs(root, count=2), "pairs"),
    ],
)
def test_detect_format_names_each_layout(tmp_path: Path, writer, expected: str) -> None:
    writer(tmp_path / "ds")
    assert detect_format(tmp_path / "ds") == expected
    assert open_dataset(tmp_path / "ds").format == expected


def test_unknown_layout_error_lists_every_layout_looked_for(tmp_path: Path) -> None:
    write(tmp_path / "ds" / "pictures" / "a.png", gray_image())
    with pytest.raises(DataError) as error:
        open_dataset(tmp_path / "ds")
    message = str(error.value)
    assert str(tmp_path / "ds") in message and "unknown dataset layout" in message
    for name in FORMAT_NAMES:
        assert f"{name}: " in message
    assert "\n" not in message


def test_missing_root_and_unknown_format_name_are_data_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="dataset folder not found"):
        open_dataset(tmp_path / "nope")
    write_pairs(tmp_path / "ds", count=2)
    with pytest.raises(DataError, match="format 'voc' unknown"):
        open_dataset(tmp_path / "ds", "voc")


def test_forced_format_that_does_not_fit_says_no_samples(tmp_path: Path) -> None:
    write_pairs(tmp_path / "ds", count=2)
    with pytest.raises(DataError, match=r"no samples found in kolektor layout"):
        open_dataset(tmp_path / "ds", "kolektor")


# --- reading each layout -------------------------------------------------------------------------


def test_magnetic_tile_labels_names_and_mask_threshold(tmp_path: Path) -> None:
    root = write_mt(tmp_path / "mt", {"Blowhole": 2, "Crack": 1, "Free": 2})
    ds = open_dataset(root)
    assert len(ds) == 5
    assert ds.label_counts() == {"Blowhole": 2, "Crack": 1, "free": 2}
    assert [m.name for m in ds.entries] == [f"exp1_num_{1000 + i}" for i in range(5)]
    crack = next(m for m in ds.entries if m.label == "Crack")
    assert crack.image_path == root / "MT_Crack" / "Imgs" / "exp1_num_1002.jpg"
    assert crack.mask_path == root / "MT_Crack" / "Imgs" / "exp1_num_1002.png"
    sample = ds[ds.entries.index(crack)]
    assert sample.image.shape == (24, 32) and sample.image.dtype == np.uint8
    assert sample.mask.dtype == np.bool_
    np.testing.assert_array_equal(sample.mask, defect_mask() > 127)  # the rim of 100 is background
    assert sample.mask.sum() == DEFECT_AREA
    free = ds[[m.label for m in ds.entries].index("free")]
    assert not free.mask.any()


def test_magnetic_tile_repeated_stems_fall_back_to_relative_paths(tmp_path: Path) -> None:
    root = tmp_path / "mt"
    for cls in ("Crack", "Free"):
        write(root / f"MT_{cls}" / "Imgs" / "same.jpg", gray_image())
        write(root / f"MT_{cls}" / "Imgs" / "same.png", np.zeros((24, 32), np.uint8))
    names = [m.name for m in open_dataset(root).entries]
    assert names == ["MT_Crack/Imgs/same", "MT_Free/Imgs/same"]


def test_kolektor_labels_from_mask_content_and_unique_names(tmp_path: Path) -> None:
    root = write_kolektor(tmp_path / "kol", folders=2, parts=3, defect_parts=(1,))
    ds = open_dataset(root)
    assert [m.name for m in ds.entries] == [f"kos{f:02d}/Part{k}" for f in (1, 2) for k in range(3)]
    assert [m.label for m in ds.entries] == ["free", "defect", "free"] * 2
    assert ds.entries[1].mask_path == root / "kos01" / "Part1_label.bmp"
    assert ds[1].mask.sum() == DEFECT_AREA
    assert not ds[0].mask.any()


def test_aitex_reads_la_png_gray_plane_nested_free_and_code_labels(tmp_path: Path) -> None:
    root = write_aitex(tmp_path / "aitex")
    ds = open_dataset(root)
    assert ds.label_counts() == {"defect_002": 1, "defect_019": 2, "free": 2}
    by_name = {m.name: i for i, m in enumerate(ds.entries)}
    assert set(by_name) == {"0001_019_02", "0002_019_02", "0003_002_01", "0010_000_02", "0011_000_01"}
    sample = ds[by_name["0001_019_02"]]
    assert sample.image.shape == (16, 64) and sample.image.dtype == np.uint8
    np.testing.assert_array_equal(sample.image, gray_image((16, 64), seed=1))  # gray plane, alpha dropped
    assert sample.mask.sum() == 10 * 4
    free = ds[by_name["0011_000_01"]]
    assert free.meta.mask_path is None and free.meta.image_path.parent.name == "sub_b"
    assert free.mask.shape == (16, 64) and not free.mask.any()


def test_aitex_unites_numbered_masks(tmp_path: Path) -> None:
    root = write_aitex(tmp_path / "aitex", defects=("0044_019_04",), free=())
    (root / "Mask_images" / "0044_019_04_mask.png").rename(root / "Mask_images" / "0044_019_04_mask1.png")
    write(root / "Mask_images" / "0044_019_04_mask2.png", defect_mask((16, 64), box=(2, 2, 5, 4)))
    sample = open_dataset(root)[0]
    assert len(sample.meta.extra_mask_paths) == 1
    assert sample.mask.sum() == 10 * 4 + 3 * 2


def test_pairs_keeps_16_bit_and_matches_other_mask_suffix(tmp_path: Path) -> None:
    root = write_pairs(tmp_path / "p", count=5, image_suffix=".tif", mask_suffix=".bmp", dtype=np.uint16)
    ds = open_dataset(root)
    assert ds.label_counts() == {"defect": 4, "free": 1}
    sample = ds[0]
    assert sample.image.dtype == np.uint16
    np.testing.assert_array_equal(sample.image, gray_image(seed=0, dtype=np.uint16))
    assert sample.image.max() > 255
    assert sample.mask.sum() == DEFECT_AREA


def test_pairs_zero_one_masks_and_nested_names(tmp_path: Path) -> None:
    root = tmp_path / "p"
    write(root / "images" / "line3" / "a.png", gray_image())
    write(root / "masks" / "line3" / "a.png", (defect_mask() > 127).astype(np.uint8))  # values 0/1
    ds = open_dataset(root)
    assert ds.entries[0].name == "line3/a" and ds.entries[0].label == "defect"
    assert ds[0].mask.sum() == DEFECT_AREA


def test_colour_image_becomes_gray(tmp_path: Path) -> None:
    bgr = np.zeros((4, 5, 3), np.uint8)
    bgr[..., 2] = 200  # pure red
    image = read_image(write(tmp_path / "c.png", bgr))
    assert image.shape == (4, 5) and image.dtype == np.uint8
    assert int(image[0, 0]) == round(0.299 * 200)


def test_dataset_is_a_lazy_sequence(tmp_path: Path) -> None:
    ds = open_dataset(write_pairs(tmp_path / "p", count=4))
    assert isinstance(ds[1:3], Dataset) and len(ds[1:3]) == 2
    assert [s.meta.name for s in ds] == ["s00", "s01", "s02", "s03"]
    assert ds[-1].meta.name == "s03"


# --- splits --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "expected"),
    [(10, [6, 2, 2]), (5, [3, 1, 1]), (3, [1, 1, 1]), (4, [2, 1, 1]), (2, [1, 1, 0]), (1, [1, 0, 0]), (0, [0, 0, 0])],
)
def test_split_counts(n: int, expected: list[int]) -> None:
    assert _split_counts(n, (3, 1, 1)) == expected


def test_split_counts_zero_ratio_gets_nothing() -> None:
    assert _split_counts(5, (4, 1, 0)) == [4, 1, 0]


def test_stratified_split_partitions_and_covers_every_label(tmp_path: Path) -> None:
    root = write_mt(tmp_path / "mt", {"Blowhole": 3, "Crack": 7, "Fray": 2, "Free": 13})
    ds = open_dataset(root)
    parts = {name: ds.split(name) for name in ("train", "val", "test")}
    names = {k: {m.name for m in v.entries} for k, v in parts.items()}
    assert names["train"].isdisjoint(names["val"]) and names["train"].isdisjoint(names["test"])
    assert names["val"].isdisjoint(names["test"])
    assert names["train"] | names["val"] | names["test"] == {m.name for m in ds.entries}
    for part in parts.values():
        assert {"Blowhole", "Crack", "free"} <= set(part.labels())  # labels with >= 3 items everywhere
    # largest remainder: 7 → 4.2/1.4/1.4 → 4/2/1; 13 → 7.8/2.6/2.6 → 8/3/2; 2 → train, val
    assert parts["train"].label_counts() == {"Blowhole": 1, "Crack": 4, "Fray": 1, "free": 8}
    assert parts["val"].label_counts() == {"Blowhole": 1, "Crack": 2, "Fray": 1, "free": 3}
    assert parts["test"].label_counts() == {"Blowhole": 1, "Crack": 1, "free": 2}
    assert len(ds.split("all")) == len(ds)


def test_split_is_deterministic_and_seed_dependent(tmp_path: Path) -> None:
    root = write_mt(tmp_path / "mt", {"Crack": 10, "Free": 30})
    first = [m.name for m in open_dataset(root).split("test").entries]
    again = [m.name for m in open_dataset(root).split("test").entries]
    other = [m.name for m in open_dataset(root).split("test", seed=1).entries]
    assert first == again
    assert first != other
    assert first == sorted(first)  # dataset order kept inside a split


def test_split_rejects_unknown_name_and_bad_ratios(tmp_path: Path) -> None:
    ds = open_dataset(write_pairs(tmp_path / "p", count=3))
    with pytest.raises(EdgeInspectError, match="split 'dev' is unknown"):
        ds.split("dev")
    with pytest.raises(EdgeInspectError, match="ratios"):
        ds.split("train", ratios=(0, 0, 0))


# --- bad input -----------------------------------------------------------------------------------


def test_missing_mask_names_the_image_in_every_layout(tmp_path: Path) -> None:
    mt = write_mt(tmp_path / "mt", {"Crack": 2})
    (mt / "MT_Crack" / "Imgs" / "exp1_num_1001.png").unlink()
    kol = write_kolektor(tmp_path / "kol", folders=1, parts=2)
    (kol / "kos01" / "Part0_label.bmp").unlink()
    ait = write_aitex(tmp_path / "ait")
    (ait / "Mask_images" / "0002_019_02_mask.png").unlink()
    pairs = write_pairs(tmp_path / "p", count=3)
    (pairs / "masks" / "s02.png").unlink()
    cases = [
        (mt, mt / "MT_Crack" / "Imgs" / "exp1_num_1001.jpg"),
        (kol, kol / "kos01" / "Part0.jpg"),
        (ait, ait / "Defect_images" / "0002_019_02.png"),
        (pairs, pairs / "images" / "s02.png"),
    ]
    for root, image in cases:
        with pytest.raises(DataError) as error:
            open_dataset(root)
        assert str(error.value).startswith(f"{image}: no mask"), str(error.value)
        skipped = open_dataset(root, skip_bad=True)
        assert len(skipped.skipped) == 1 and skipped.skipped[0].startswith(f"{image}: no mask")
        assert image not in {m.image_path for m in skipped.entries}


def test_skip_bad_counts_every_skip(tmp_path: Path) -> None:
    root = write_pairs(tmp_path / "p", count=6)
    for i in (1, 4):
        (root / "masks" / f"s{i:02d}.png").unlink()
    ds = open_dataset(root, skip_bad=True)
    assert len(ds) == 4 and len(ds.skipped) == 2
    assert [s.split(": ")[0] for s in ds.skipped] == [str(root / "images" / f"s{i:02d}.png") for i in (1, 4)]
    assert ds.split("train").skipped == ds.skipped


def test_size_mismatch_at_load_names_both_files(tmp_path: Path) -> None:
    root = write_mt(tmp_path / "mt", {"Crack": 3})
    mask = root / "MT_Crack" / "Imgs" / "exp1_num_1001.png"
    write(mask, np.zeros((10, 10), np.uint8))
    ds = open_dataset(root)  # index time only checks existence
    with pytest.raises(DataError) as error:
        ds[1]
    message = str(error.value)
    assert message.startswith(f"{mask}: mask is 10×10 px") and str(root / "MT_Crack" / "Imgs" / "exp1_num_1001.jpg") in message
    with pytest.raises(DataError, match="mask is 10×10"):
        open_dataset(root, verify=True)
    verified = open_dataset(root, skip_bad=True, verify=True)
    assert len(verified) == 2 and len(verified.skipped) == 1 and verified.skipped[0].startswith(str(mask))


def test_unreadable_image_names_it(tmp_path: Path) -> None:
    root = write_pairs(tmp_path / "p", count=3)
    broken = root / "images" / "s00.png"
    broken.write_bytes(b"not a png at all")
    ds = open_dataset(root)
    with pytest.raises(DataError) as error:
        ds[0]
    assert str(error.value).startswith(f"{broken}: cannot decode image file")
    assert len(ds.verify(skip_bad=True)) == 2


def test_unreadable_mask_names_mask_and_image(tmp_path: Path) -> None:
    root = write_mt(tmp_path / "mt", {"Crack": 1})
    mask = root / "MT_Crack" / "Imgs" / "exp1_num_1000.png"
    mask.write_bytes(b"")
    with pytest.raises(DataError) as error:
        open_dataset(root)[0]
    assert str(error.value).startswith(f"{mask}: mask file is empty")
    assert "exp1_num_1000.jpg" in str(error.value)
    # Formats that read masks at index time (label from content) report it there.
    pairs = write_pairs(tmp_path / "p", count=2)
    (pairs / "masks" / "s01.png").write_bytes(b"garbage")
    with pytest.raises(DataError) as error:
        open_dataset(pairs)
    assert str(error.value).startswith(f"{pairs / 'masks' / 's01.png'}: ")
    assert len(open_dataset(pairs, skip_bad=True).skipped) == 1


def test_float_tiff_image_is_rejected_by_name(tmp_path: Path) -> None:
    path = write(tmp_path / "f.tif", np.zeros((4, 4), np.float32))
    with pytest.raises(DataError, match=r"f\.tif: image pixels are float32"):
        read_image(path)


# --- predictions ---------------------------------------------------------------------------------


def test_read_prediction_binary_and_probability(tmp_path: Path) -> None:
    binary = read_prediction(write(tmp_path / "b.png", np.array([[0, 1], [1, 0]], np.uint8)))
    assert binary.dtype == np.bool_ and binary.tolist() == [[False, True], [True, False]]
    prob = read_prediction(write(tmp_path / "p.png", np.array([[0, 127], [128, 255]], np.uint8)))
    assert prob.dtype == np.float32
    np.testing.assert_allclose(prob, [[0, 127 / 255], [128 / 255, 1]], rtol=1e-6)
    assert ((prob >= 0.5) == np.array([[False, False], [True, True]])).all()  # defect >= 128
    assert read_mask(tmp_path / "p.png").tolist() == [[False, False], [True, True]]


def test_prediction_pairs_missing_and_mismatched(tmp_path: Path) -> None:
    root = write_pairs(tmp_path / "p", count=3)
    ds = open_dataset(root)
    pred = tmp_path / "pred"
    write(pred / "s00.png", defect_mask())
    write(pred / "s01.png", np.zeros((5, 5), np.uint8))
    with pytest.raises(DataError) as error:
        prediction_pairs(ds, pred)
    assert str(error.value).startswith(f"{pred / 's02'}.png: no prediction for sample s02")
    assert "1 of 3" in str(error.value)
    write(pred / "s02.png", defect_mask())
    pairs = prediction_pairs(ds, pred)
    p0, t0 = next(pairs)
    assert (p0 >= 0.5).sum() == t0.sum() == DEFECT_AREA
    with pytest.raises(DataError, match=r"s01\.png: prediction is 5×5 px but sample s01"):
        next(pairs)
    with pytest.raises(DataError, match="prediction folder not found"):
        prediction_pairs(ds, tmp_path / "none")


def test_load_sample_without_mask_file_gives_empty_mask(tmp_path: Path) -> None:
    root = write_aitex(tmp_path / "a", defects=(), free=("0001_000_00",))
    sample = load_sample(open_dataset(root).entries[0])
    assert sample.mask.shape == sample.image.shape and not sample.mask.any()


def test_mask_edges_threshold_at_127(tmp_path: Path) -> None:
    values = np.array([[0, 126, 127, 128, 200, 255]], np.uint8)
    assert read_mask(write(tmp_path / "m.png", values)).tolist() == [[False, False, False, True, True, True]]
    bmp = cv2.imread(str(write(tmp_path / "m.bmp", values)), cv2.IMREAD_UNCHANGED)
    assert bmp.tolist() == values.tolist()
    sixteen = np.array([[0, 1, 255, 65535]], np.uint16)  # 16-bit masks: nonzero = defect
    assert read_mask(write(tmp_path / "m16.png", sixteen)).tolist() == [[False, True, True, True]]


def test_readers_and_metrics_import_without_torch() -> None:
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['torch'] = None\n"
        "import edgeinspect.data.datasets, edgeinspect.metrics, edgeinspect.cli.eval\n"
        "assert 'sklearn' not in sys.modules\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
