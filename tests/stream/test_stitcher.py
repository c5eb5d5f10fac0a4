"""Stitcher: a map cut into overlapping tiles and stitched back is the map, exactly (no seams)."""

from __future__ import annotations

import numpy as np
import pytest

from edgeinspect.stream.stitcher import Stitcher
from edgeinspect.stream.tiler import Tiler


def stitch_through_engine(web: np.ndarray, engine, *, frame_lines: int, overlap: int, scale: float = 1.0,
                          first_line: int = 0):
    """Cut ``web`` into frames → tiles → engine → stitcher; return the strips."""
    tiler = Tiler(engine.tile_hw, overlap_px=overlap, scale=scale)
    stitcher = Stitcher(web.shape[1], scale=scale)
    stitcher.start(first_line)
    tiles = []
    for start in range(0, web.shape[0], frame_lines):
        tiles += tiler.push(web[start:start + frame_lines])
    tiles += tiler.flush()
    batch = np.stack([t.pixels for t in tiles])[:, None]
    prob = engine.infer(batch)["prob"][:, 0]
    strips = []
    for tile, p in zip(tiles, prob):
        strips += stitcher.add(tile.placement, p)
    return strips


@pytest.mark.parametrize("shape, frame_lines, overlap", [
    ((333, 200), 50, 16),   # frames shorter than a tile, last row and column aligned to the edges
    ((256, 130), 128, 0),   # no overlap
    ((97, 64), 97, 31),     # one tile across, odd overlap
    ((40, 50), 40, 8),      # segment and web smaller than one tile: padded, cropped back
])
def test_stitched_tiles_equal_the_original_map(identity_engine, shape, frame_lines, overlap):
    web = np.random.default_rng(1).integers(0, 256, shape, dtype=np.uint8)
    strips = stitch_through_engine(web, identity_engine, frame_lines=frame_lines, overlap=overlap,
                                   first_line=1000)
    assert strips[0].first_line == 1000
    for a, b in zip(strips, strips[1:]):
        assert b.first_line == a.stop_line  # consecutive, no gap, no line twice
    stitched = np.concatenate([s.prob for s in strips])
    assert stitched.shape == shape
    np.testing.assert_array_equal(stitched, web.astype(np.float32) / np.float32(255))


def test_half_scale_stitches_back_to_source_resolution(identity_engine):
    web = np.zeros((256, 256), np.uint8)
    web[100:140, 60:200] = 255
    strips = stitch_through_engine(web, identity_engine, frame_lines=128, overlap=16, scale=0.5)
    stitched = np.concatenate([s.prob for s in strips])
    assert stitched.shape == (256, 256)
    mask = stitched >= 0.5
    ys, xs = np.nonzero(mask)
    assert (ys.min(), ys.max() + 1, xs.min(), xs.max() + 1) == (100, 140, 60, 200)


def box_mean_3x3(web: np.ndarray) -> np.ndarray:
    """What the blur network gives for the whole web in one piece (zero padding at the web's border only)."""
    padded = np.pad(web.astype(np.float32) / 255, 1)
    h, w = web.shape
    return sum(padded[dy:dy + h, dx:dx + w] for dy in range(3) for dx in range(3)) / 9


def test_thin_crack_on_a_tile_seam_keeps_its_width_with_a_network_weak_at_tile_borders(blur_engine):
    # 64-px tiles, overlap 16: columns start at 0, 48, 96, 144, 192 and are cut at x = 56, 104, 152, 200;
    # rows start every 48 lines and are cut at y = 56, 104, 152, 200
    web = np.zeros((256, 256), np.uint8)
    web[20:236, 55:57] = 255     # 2-px crack straddling the column seam at x = 56 (crossing every row seam)
    web[20:236, 30:32] = 255     # the same crack inside one tile column
    web[103:105, 60:236] = 255   # 2-px crack straddling the row seam at y = 104 (crossing column seams)
    web[80:82, 60:236] = 255     # the same crack inside one tile row
    strips = stitch_through_engine(web, blur_engine, frame_lines=64, overlap=16)
    mask = np.concatenate([s.prob for s in strips]) >= 0.5

    # the network is weak at tile borders: a tile whose edge falls on a crack loses it there (4/9 < 0.5) ...
    tile = np.zeros((1, 1, 64, 64), np.uint8)
    tile[0, 0, :, 62:64] = 255
    edge = blur_engine.infer(tile)["prob"][0, 0]
    assert edge[0, 62] < 0.5 <= edge[10, 62]
    # ... the stitcher keeps each pixel from the tile where it is >= 8 px from a border: no seam shows
    np.testing.assert_array_equal(mask, box_mean_3x3(web) >= 0.5)
    # same area on a seam as off it (2 px wide; the blur takes one line off each end: 4/9 < 0.5 there)
    assert mask[:, 52:60].sum() == mask[:, 27:35].sum() == 214 * 2
    assert mask[100:108, 58:].sum() == mask[77:85, 58:].sum() == 174 * 2

    from edgeinspect.stream.tracker import DefectTracker

    tracker = DefectTracker(threshold=0.5, merge_gap_px=2)
    blobs = [b for s in strips for b in tracker.push(s)] + tracker.flush()
    assert sorted(b.area_px for b in blobs) == [174 * 2, 174 * 2, 214 * 2, 214 * 2]  # one record per crack


def test_a_row_missing_a_tile_is_refused_not_stitched_from_unset_memory():
    tiler = Tiler((64, 64), overlap_px=16)
    tiles = tiler.push(np.zeros((64, 200), np.uint8))
    assert len(tiles) == 4  # one row of four tiles
    stitcher = Stitcher(200)
    stitcher.start(0)
    for tile in tiles[:1] + tiles[2:]:  # the second tile never arrives
        if tile.placement.last_in_row:
            with pytest.raises(ValueError, match="tile row 0 pasted .* of 200 columns"):
                stitcher.add(tile.placement, np.zeros((64, 64), np.float32))
        else:
            assert stitcher.add(tile.placement, np.zeros((64, 64), np.float32)) == []


def test_a_row_whose_last_tile_never_arrives_is_refused_when_the_next_row_begins():
    tiler = Tiler((64, 64), overlap_px=16)
    tiles = tiler.push(np.zeros((112, 200), np.uint8))
    rows = sorted({t.placement.row for t in tiles})
    assert rows == [0, 1] and len(tiles) == 8
    stitcher = Stitcher(200)
    stitcher.start(0)
    for tile in tiles[:3]:  # row 0 without its last tile
        assert stitcher.add(tile.placement, np.zeros((64, 64), np.float32)) == []
    with pytest.raises(ValueError, match="tile row 1 began before row 0 was complete"):
        stitcher.add(tiles[4].placement, np.zeros((64, 64), np.float32))
