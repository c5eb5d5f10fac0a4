"""Synthetic web: deterministic by line range, exact masks and truth, dataset layout on disk."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from edgeinspect.data.synth import (
    BLOCK_LINES,
    DEFECT_KINDS,
    MAX_DEFECT_LINES,
    TEXTURES,
    SyntheticWeb,
    write_synth_dataset,
)
from edgeinspect.errors import DataError, EdgeInspectError

DENSE = 150.0  # defects per Mpx: plenty of defects on narrow test webs


def _bbox_of(mask: np.ndarray) -> tuple[int, int, int, int]:
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


@pytest.mark.parametrize("texture", TEXTURES)
def test_a_line_has_the_same_pixels_whatever_range_renders_it(texture):
    web = SyntheticWeb(80, texture=texture, seed=5, defects_per_mpx=DENSE)
    long = web.render(0, 300)
    for first, n in [(100, 200), (37, 5), (255, 2), (299, 1)]:
        part = web.render(first, n)
        assert part.first_line == first
        np.testing.assert_array_equal(part.image, long.image[first:first + n])
        np.testing.assert_array_equal(part.defect_ids, long.defect_ids[first:first + n])
        np.testing.assert_array_equal(part.mask, long.mask[first:first + n])
    assert long.mask[100:].any(), "the compared range should hold defect pixels"


def test_same_seed_same_web_and_other_seed_other_web():
    a = SyntheticWeb(64, texture="steel", seed=1).render(500, 64).image
    b = SyntheticWeb(64, texture="steel", seed=1).render(500, 64).image
    c = SyntheticWeb(64, texture="steel", seed=2).render(500, 64).image
    np.testing.assert_array_equal(a, b)
    assert np.abs(a.astype(int) - c.astype(int)).mean() > 3


def test_bit_depths_give_dtypes_ranges_and_the_same_web():
    eight = SyntheticWeb(64, texture="fabric", seed=3, bit_depth=8, defects_per_mpx=DENSE).render(0, 256)
    twelve = SyntheticWeb(64, texture="fabric", seed=3, bit_depth=12, defects_per_mpx=DENSE).render(0, 256)
    assert eight.image.dtype == np.uint8 and eight.image.shape == (256, 64)
    assert twelve.image.dtype == np.uint16 and twelve.image.shape == (256, 64)
    assert 255 < twelve.image.max() <= 4095
    # Same web: 12-bit is the 8-bit picture on a 16x finer scale (both rounded from one float).
    assert np.abs(twelve.image * (255.0 / 4095.0) - eight.image).max() <= 0.5 + 0.5 * 255.0 / 4095.0 + 1e-6
    np.testing.assert_array_equal(eight.defect_ids, twelve.defect_ids)


def test_mask_is_exactly_the_nonzero_defect_ids():
    strip = SyntheticWeb(96, texture="ceramic", seed=4, defects_per_mpx=DENSE).render(0, 700)
    assert strip.mask.dtype == bool and strip.defect_ids.dtype == np.int32
    np.testing.assert_array_equal(strip.mask, strip.defect_ids > 0)
    assert 0 < strip.mask.mean() < 0.5


def test_defect_truth_agrees_with_the_mask_pixels():
    web = SyntheticWeb(128, texture="carbon", seed=6, defects_per_mpx=DENSE)
    stop = 6 * BLOCK_LINES
    strip = web.render(0, stop)
    truths = web.defects(0, stop)
    assert {d.id for d in truths} == set(np.unique(strip.defect_ids)) - {0}
    inside = [d for d in truths if d.bbox[3] <= stop]
    assert len(inside) >= 5
    for truth in inside:
        pixels = strip.defect_ids == truth.id
        assert int(pixels.sum()) == truth.area_px, truth
        assert _bbox_of(pixels) == truth.bbox, truth
        x0, y0, x1, y1 = truth.bbox
        np.testing.assert_array_equal(truth.mask(), pixels[y0:y1, x0:x1])  # its packed pixels, exactly
        assert 0 <= x0 < x1 <= 128 and 0 <= y0 < y1 and y1 - y0 <= MAX_DEFECT_LINES
        assert truth.kind in DEFECT_KINDS


def test_defects_lists_every_defect_touching_the_range_with_its_full_extent():
    web = SyntheticWeb(96, texture="fabric", seed=7, defects_per_mpx=DENSE)
    tallest = max(web.defects(0, 3000), key=lambda d: d.bbox[3] - d.bbox[1])
    first, stop = tallest.bbox[1] + 3, tallest.bbox[3] - 3   # a range inside one defect's extent
    listed = web.defects(first, stop)
    rendered = set(np.unique(web.render(first, stop - first).defect_ids)) - {0}
    assert rendered <= {d.id for d in listed}
    assert all(d.bbox[1] < stop and d.bbox[3] > first for d in listed)
    reaching_out = [d for d in listed if d.bbox[1] < first or d.bbox[3] > stop]
    assert tallest in reaching_out
    for truth in reaching_out:  # full extent: render the whole defect and compare
        y0, y1 = truth.bbox[1], truth.bbox[3]
        pixels = web.render(y0, y1 - y0).defect_ids == truth.id
        assert int(pixels.sum()) == truth.area_px
        x0, a, x1, b = _bbox_of(pixels)
        assert (x0, a + y0, x1, b + y0) == truth.bbox


def test_truth_of_a_long_streamed_stretch_is_that_of_a_fresh_web():
    # a run asks for the truth of everything it streamed at its end, long after the defect caches
    # (48 blocks) have moved on: it must be the same truth as a web that rendered nothing
    streamed = SyntheticWeb(96, texture="steel", seed=3, defects_per_mpx=DENSE)
    stop = 60 * BLOCK_LINES
    for first in range(0, stop, 256):
        streamed.render(first, 256)
    truth = streamed.defects(0, stop)
    fresh = SyntheticWeb(96, texture="steel", seed=3, defects_per_mpx=DENSE).defects(0, stop)
    assert len(truth) > 100
    assert [(d.id, d.kind, d.bbox, d.area_px) for d in truth] == [(d.id, d.kind, d.bbox, d.area_px) for d in fresh]
    assert streamed.defects(5000, 5600) == [d for d in truth if d.bbox[1] < 5600 and d.bbox[3] > 5000]


def test_the_truth_cache_is_bounded_and_older_truth_is_drawn_again(monkeypatch):
    import edgeinspect.data.synth as synth

    monkeypatch.setattr(synth, "_TRUTH_CACHE_BLOCKS", 5)
    streamed = SyntheticWeb(96, seed=3, defects_per_mpx=DENSE)
    for first in range(0, 40 * BLOCK_LINES, 256):
        streamed.render(first, 256)
    assert len(streamed._truth_cache) == 5
    fresh = SyntheticWeb(96, seed=3, defects_per_mpx=DENSE)
    assert streamed.defects(0, 40 * BLOCK_LINES) == fresh.defects(0, 40 * BLOCK_LINES)


def test_defects_never_touch_and_each_is_one_region():
    web = SyntheticWeb(128, texture="steel", seed=8, defects_per_mpx=120.0)
    stop = 5 * BLOCK_LINES
    strip = web.render(0, stop)
    count, labels = cv2.connectedComponents(strip.mask.astype(np.uint8), connectivity=8)
    for label in range(1, count):  # no region holds two defects
        assert len(np.unique(strip.defect_ids[labels == label])) == 1
    inside = [d for d in web.defects(0, stop) if d.bbox[3] <= stop]
    assert len(inside) >= 10
    for truth in inside:  # and a whole defect is one 8-connected region
        pieces, _ = cv2.connectedComponents((strip.defect_ids == truth.id).astype(np.uint8), connectivity=8)
        assert pieces - 1 == 1, truth


@pytest.mark.parametrize("texture", TEXTURES)
def test_every_defect_kind_appears_on_a_long_enough_web(texture):
    web = SyntheticWeb(256, texture=texture, seed=9)
    kinds = {d.kind for d in web.defects(0, 60 * BLOCK_LINES)}
    assert kinds == set(DEFECT_KINDS)


def test_defects_straddle_frame_boundaries():
    height = 128
    web = SyntheticWeb(128, texture="carbon", seed=10, defects_per_mpx=DENSE)
    frames = [web.render(k * height, height) for k in range(8)]
    straddling = [d for d in web.defects(0, 8 * height)
                  if d.bbox[1] // height != (d.bbox[3] - 1) // height and d.bbox[3] <= 8 * height]
    assert straddling
    for truth in straddling:
        touched = [k for k, frame in enumerate(frames) if (frame.defect_ids == truth.id).any()]
        assert len(touched) >= 2
        assert sum(int((frames[k].defect_ids == truth.id).sum()) for k in touched) == truth.area_px


def test_sizes_range_from_a_few_px_to_hundreds():
    truths = SyntheticWeb(384, texture="ceramic", seed=11).defects(0, 30 * BLOCK_LINES)
    areas = [d.area_px for d in truths]
    extents = [max(d.bbox[2] - d.bbox[0], d.bbox[3] - d.bbox[1]) for d in truths]
    assert min(areas) < 30 and min(extents) < 8
    assert max(extents) > 200


def test_hairball_mask_is_fibres_with_gaps_inside():
    web = SyntheticWeb(256, texture="fabric", seed=12, kinds=("hairball",), defects_per_mpx=60.0)
    big = max(web.defects(0, 4 * BLOCK_LINES), key=lambda d: d.area_px)
    x0, y0, x1, y1 = big.bbox
    pixels = web.render(y0, y1 - y0).defect_ids[:, x0:x1] == big.id
    filled = np.zeros((pixels.shape[0] + 2, pixels.shape[1] + 2), np.uint8)
    filled[1:-1, 1:-1] = pixels
    holes = filled.copy()
    cv2.floodFill(holes, None, (0, 0), 1)
    gaps = holes == 0  # background pixels enclosed by fibres
    assert gaps.sum() > 0.05 * big.area_px
    count, _ = cv2.connectedComponents(gaps.astype(np.uint8), connectivity=4)
    assert count - 1 >= 10, "many small gaps between fibres"


def test_artefacts_change_pixels_not_defects():
    kwargs = dict(texture="carbon", seed=13, defects_per_mpx=DENSE)
    raw = SyntheticWeb(256, artefacts=False, **kwargs)
    scanned = SyntheticWeb(256, artefacts=True, **kwargs)
    a, b = raw.render(0, 512), scanned.render(0, 512)
    np.testing.assert_array_equal(a.defect_ids, b.defect_ids)
    assert np.all(raw.column_gain == 1.0)
    centre, edge = scanned.column_gain[120:136].mean(), scanned.column_gain[[0, 1, 254, 255]].mean()
    assert edge < 0.93 * centre                           # illumination fall-off
    gain_ripple = np.diff(scanned.column_gain).std()
    assert 0.005 < gain_ripple < 0.05                     # per-column fixed-pattern gain
    assert not np.array_equal(a.image, b.image)


def test_a_pickled_web_is_small_and_renders_the_same():
    import pickle

    web = SyntheticWeb(256, texture="fabric", seed=15, defects_per_mpx=DENSE)
    before = web.render(300, 100)
    blob = pickle.dumps(web)
    assert len(blob) < 4_000_000  # the layers, not the strided row view
    after = pickle.loads(blob).render(300, 100)
    np.testing.assert_array_equal(before.image, after.image)
    np.testing.assert_array_equal(before.defect_ids, after.defect_ids)


def test_defect_free_web():
    web = SyntheticWeb(64, texture="steel", seed=14, defects_per_mpx=0)
    assert not web.render(0, 600).mask.any()
    assert web.defects(0, 10_000) == []


@pytest.mark.parametrize("kwargs", [
    dict(width=8), dict(width=64, texture="wood"), dict(width=64, bit_depth=10),
    dict(width=64, defects_per_mpx=-1.0), dict(width=64, seed=-3), dict(width=64, kinds=("dent",)),
    dict(width=4096, defects_per_mpx=1000.0),
])
def test_bad_parameters_are_one_line_errors_naming_them(kwargs):
    width = kwargs.pop("width")
    with pytest.raises(EdgeInspectError) as error:
        SyntheticWeb(width, **kwargs)
    message = str(error.value)
    assert "\n" not in message
    assert (next(iter(kwargs), "width")) in message


def test_bad_ranges_are_errors():
    web = SyntheticWeb(64, seed=0)
    for first, n in [(-1, 10), (0, 0)]:
        with pytest.raises(EdgeInspectError):
            web.render(first, n)
    with pytest.raises(EdgeInspectError):
        web.defects(50, 50)


# ---------------------------------------------------------------------- dataset on disk
def _read(path):
    return cv2.imread(str(path), cv2.IMREAD_UNCHANGED)


def test_write_synth_dataset_layout_masks_and_records(tmp_path):
    out = tmp_path / "ds"
    height, width = 64, 96
    assert write_synth_dataset(out, count=6, size_hw=(height, width), texture="carbon", seed=3,
                               defects_per_mpx=DENSE) == out
    names = [f"{k:06d}.png" for k in range(6)]
    assert sorted(p.name for p in (out / "images").iterdir()) == names
    assert sorted(p.name for p in (out / "masks").iterdir()) == names
    records = [json.loads(line) for line in (out / "defects.jsonl").read_text().splitlines()]
    assert records and set(records[0]) >= {"image", "id", "kind", "bbox", "area_px"}
    web = SyntheticWeb(width, texture="carbon", seed=3, defects_per_mpx=DENSE)
    for k, name in enumerate(names):
        image, mask = _read(out / "images" / name), _read(out / "masks" / name)
        strip = web.render(k * height, height)
        assert image.dtype == np.uint8 and image.shape == (height, width)
        np.testing.assert_array_equal(image, strip.image)
        assert set(np.unique(mask)) <= {0, 255}
        np.testing.assert_array_equal(mask == 255, strip.mask)
        mine = [r for r in records if r["image"] == name]
        assert sum(r["area_px"] for r in mine) == int(strip.mask.sum())
        for record in mine:
            pixels = strip.defect_ids == record["id"]
            assert record["area_px"] == int(pixels.sum()) > 0
            assert record["bbox"] == list(_bbox_of(pixels))
            assert record["kind"] in DEFECT_KINDS
    ids_per_image = [{r["id"] for r in records if r["image"] == name} for name in names]
    assert any(a & b for a, b in zip(ids_per_image, ids_per_image[1:])), "a defect straddles two images"
    params = json.loads((out / "synth.json").read_text())
    assert params["size_hw"] == [height, width] and params["seed"] == 3


def test_write_synth_dataset_12_bit_and_mixed(tmp_path):
    out = write_synth_dataset(tmp_path / "mix", count=6, size_hw=(32, 48), texture="mixed", seed=1, bit_depth=12)
    image = _read(out / "images" / "000000.png")
    assert image.dtype == np.uint16 and image.shape == (32, 48) and 255 < image.max() <= 4095
    runs = json.loads((out / "synth.json").read_text())["runs"]
    assert [(r["texture"], r["images"]) for r in runs] == [("carbon", 2), ("fabric", 2), ("ceramic", 1), ("steel", 1)]
    first_fabric = SyntheticWeb(48, texture="fabric", seed=1, bit_depth=12).render(0, 32).image
    np.testing.assert_array_equal(_read(out / "images" / "000002.png"), first_fabric)


def test_write_synth_dataset_refuses_an_existing_dataset_unless_overwrite(tmp_path):
    out = tmp_path / "ds"
    write_synth_dataset(out, count=3, size_hw=(16, 32), texture="steel", seed=0)
    with pytest.raises(DataError, match="overwrite"):
        write_synth_dataset(out, count=2, size_hw=(16, 32), texture="steel", seed=0)
    write_synth_dataset(out, count=2, size_hw=(16, 32), texture="steel", seed=1, overwrite=True)
    assert sorted(p.name for p in (out / "images").iterdir()) == ["000000.png", "000001.png"]
    assert all(json.loads(line)["image"] in {"000000.png", "000001.png"}
               for line in (out / "defects.jsonl").read_text().splitlines())


def test_default_density_puts_defects_in_most_256px_images():
    web = SyntheticWeb(256, texture="carbon", seed=1)
    with_defects = sum(web.render(k * 256, 256).mask.any() for k in range(24))
    assert 14 <= with_defects <= 23
