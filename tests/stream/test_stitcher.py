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
