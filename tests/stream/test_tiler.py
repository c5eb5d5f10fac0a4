"""Tiler: hand-computed tile counts and rates, right-aligned last tile, rolling band, pixel scaling."""

from __future__ import annotations

import numpy as np
import pytest

from edgeinspect.errors import EdgeInspectError
from edgeinspect.stream.tiler import (
    Tiler, ownership, required_tiles_per_s, tile_starts, tiles_across, tiles_per_frame, to_network_range,
)


def test_tile_starts_last_tile_is_aligned_to_the_right_edge():
    # stride 256 - 32 = 224: 0, 224, 448, 672, then 1000 - 256 = 744 instead of 896 (past the edge)
    assert tile_starts(1000, 256, 32) == [0, 224, 448, 672, 744]
    assert tile_starts(704, 256, 32) == [0, 224, 448]  # 448 + 256 = 704: exact fit
    assert tile_starts(256, 256, 32) == [0]
    assert tile_starts(100, 256, 32) == [0]  # narrower than a tile: one padded tile


def test_ownership_cuts_overlaps_in_the_middle_and_partitions_the_width():
    starts = [0, 224, 448, 672, 744]
    own = ownership(starts, 256, 1000)
    # cuts: (0+256+224)//2=240, (224+256+448)//2=464, 688, (672+256+744)//2=836
    assert own == [(0, 240), (240, 464), (464, 688), (688, 836), (836, 1000)]
    for (a, b), x0 in zip(own, starts):
        assert x0 <= a < b <= x0 + 256  # each tile owns only pixels it covers


def test_tiles_across_and_per_frame_hand_computed():
    assert tiles_across(4096, 256, 32) == 19  # ceil((4096 - 256) / 224) + 1 = ceil(17.14) + 1
    assert tiles_across(2048, 256, 32) == 9  # ceil(1792 / 224) + 1 = 8 + 1
    assert tiles_across(200, 256, 32) == 1
    # 19 tiles across × 1024 lines / 224 lines per tile row
    assert tiles_per_frame(4096, 1024, (256, 256), 32) == pytest.approx(19 * 1024 / 224)
    assert tiles_per_frame(4096, 1024, (256, 256), 32) == pytest.approx(86.857142857)
    # half resolution: 2048 columns → 9 across; 512 inference lines per frame
    assert tiles_per_frame(4096, 1024, (256, 256), 32, 0.5) == pytest.approx(9 * 512 / 224)
    # no overlap: 16 across × 4 rows
    assert tiles_per_frame(4096, 1024, (256, 256), 0) == pytest.approx(64.0)


def test_required_tiles_per_s_hand_computed():
    assert required_tiles_per_s(4096, 20_000, (256, 256), 32) == pytest.approx(19 * 20_000 / 224)  # 1696.43
    assert required_tiles_per_s(4096, 20_000, (256, 256), 0) == pytest.approx(16 * 20_000 / 256)  # 1250
    assert required_tiles_per_s(4096, 20_000, (256, 256), 32, 0.5) == pytest.approx(9 * 10_000 / 224)


@pytest.mark.parametrize("tile_hw, overlap, scale", [((256, 256), 256, 1.0), ((256, 256), -1, 1.0),
                                                      ((256, 256), 32, 0.0), ((256, 256), 32, 1.5)])
def test_bad_geometry_is_a_user_error(tile_hw, overlap, scale):
    with pytest.raises(EdgeInspectError):
        tiles_per_frame(4096, 1024, tile_hw, overlap, scale)


def test_rows_overlap_along_the_web_across_frame_boundaries():
    web = np.random.default_rng(0).integers(0, 256, (300, 200), dtype=np.uint8)
    tiler = Tiler((64, 64), overlap_px=16)  # stride 48 both ways
    tiles = []
    for first in range(0, 300, 50):  # frames of 50 lines: tiles straddle frame boundaries
        tiles += tiler.push(web[first:first + 50])
    regular = {t.placement.y0 for t in tiles}
    # rows at 0, 48, ..., 192 (192 + 64 = 256 <= 300); 240 + 64 > 300 waits for more lines
    assert sorted(regular) == [0, 48, 96, 144, 192]
    tiles += tiler.flush()
    final = [t for t in tiles if t.placement.y0 == 300 - 64]
    assert len(final) == 4  # across: 0, 48, 96, 136
    assert [t.placement.x0 for t in final] == [0, 48, 96, 136]
    # owned line ranges partition [0, 300): regular rows own [.., y0 + (48 + 64) // 2)
    rows = sorted({(t.placement.own_y0, t.placement.own_y1) for t in tiles})
    assert rows == [(0, 56), (56, 104), (104, 152), (152, 200), (200, 248), (248, 300)]
    for tile in tiles:
        p = tile.placement
        assert tile.pixels.dtype == np.uint8
        np.testing.assert_array_equal(tile.pixels, web[p.y0:p.y0 + 64, p.x0:p.x0 + 64])


def test_twelve_bit_frames_are_scaled_to_the_8_bit_range_as_float():
    lines = np.array([[0, 4095, 2048]], np.uint16)
    scaled = to_network_range(lines, 12)
    assert scaled.dtype == np.float32
    np.testing.assert_allclose(scaled, [[0.0, 255.0, 2048 * 255 / 4095]], rtol=1e-6)
    eight = np.array([[7]], np.uint8)
    assert to_network_range(eight, 8) is eight


def test_half_scale_tiles_cover_the_resized_web():
    web = np.full((256, 512), 100, np.uint8)
    tiler = Tiler((64, 64), overlap_px=0, scale=0.5)
    tiles = tiler.push(web) + tiler.flush()
    assert tiler.inference_width == 256
    assert len(tiles) == 4 * 2  # 256/64 across × 128/64 rows; flush adds nothing
    with pytest.raises(EdgeInspectError, match="scale"):
        tiler.push(np.zeros((33, 512), np.uint8))


def test_segment_shorter_than_a_tile_is_padded_not_lost():
    tiler = Tiler((64, 64), overlap_px=16)
    assert tiler.push(np.full((20, 100), 9, np.uint8)) == []
    tiles = tiler.flush()
    assert len(tiles) == 2
    assert all(t.pixels.shape == (64, 64) for t in tiles)
    assert {(t.placement.own_y0, t.placement.own_y1) for t in tiles} == {(0, 20)}


def test_width_change_is_refused():
    tiler = Tiler((64, 64), overlap_px=16)
    tiler.push(np.zeros((64, 100), np.uint8))
    with pytest.raises(EdgeInspectError, match="width"):
        tiler.push(np.zeros((64, 120), np.uint8))
