"""Camera arithmetic of ``edgeinspect bench``: hand-computed tiles/line, required tiles/s, max line rate, verdict.

Formula (edgeinspect/bench/rates.py): tiles_across = ceil((W - o) / (t - o)) (1 when W <= t),
tiles_per_line = tiles_across * scale / (t_h - o), required = tiles_per_line * line_rate,
max_line_rate = tiles_per_s / tiles_per_line, keeps_up ⇔ max_line_rate >= line_rate.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from edgeinspect.bench.rates import budget_at, line_budget, tiles_per_line
from edgeinspect.errors import EdgeInspectError
from edgeinspect.stream.tiler import Tiler, tile_starts


@pytest.mark.parametrize(
    ("width", "tile", "overlap", "scale", "across"),
    [
        (4096, 256, 32, 1.0, 19),   # ceil((4096-32)/224) = ceil(18.14) = 19
        (2048, 256, 32, 1.0, 9),    # ceil(2016/224) = 9 exactly: the last tile ends at the edge
        (480, 256, 32, 1.0, 2),     # ceil(448/224) = 2: [0, 224]
        (481, 256, 32, 1.0, 3),     # ceil(449/224) = 3: [0, 224, 225]
        (200, 256, 32, 1.0, 1),     # narrower than a tile: one (padded) tile
        (4096, 256, 32, 0.5, 9),    # 2048 px grid: ceil(2016/224) = 9
        (4096, 512, 0, 1.0, 8),     # no overlap: 4096 / 512
    ],
)
def test_tiles_per_line_hand_computed(width, tile, overlap, scale, across):
    assert tiles_per_line(width, (tile, tile), overlap, scale) == pytest.approx(across * scale / (tile - overlap))
    # ... and it is what the run's tiler lays across the grid
    grid = max(1, round(width * scale))
    assert len(tile_starts(grid, tile, overlap)) == across
    assert across == (1 if grid <= tile else math.ceil((grid - overlap) / (tile - overlap)))


def test_budget_4096_wide_10khz_camera():
    budget = line_budget(500.0, width_px=4096, tile_hw=(256, 256), overlap_px=32, line_rate_hz=10_000)
    assert budget.tiles_per_line == pytest.approx(19 / 224)
    assert budget.required_tiles_per_s == pytest.approx(19 / 224 * 10_000)          # 848.21 tiles/s
    assert budget.required_tiles_per_s == pytest.approx(848.2142857)
    assert budget.max_line_rate_hz == pytest.approx(500 * 224 / 19)                  # 5894.74 lines/s
    assert budget.headroom == pytest.approx(500 * 224 / 19 / 10_000)
    assert budget.keeps_up is False


def test_non_square_tiles_rows_use_tile_height():
    # tiles 128 high, 512 wide, overlap 32: across ceil((4096-32)/480) = 9, one row every 96 lines
    budget = line_budget(90.0, width_px=4096, tile_hw=(128, 512), overlap_px=32, line_rate_hz=1000)
    assert budget.tiles_per_line == pytest.approx(9 / 96)
    assert budget.required_tiles_per_s == pytest.approx(93.75)
    assert budget.max_line_rate_hz == pytest.approx(960.0)
    assert budget.keeps_up is False


def test_keeps_up_boundary_is_inclusive():
    # 4096 px, 256² tiles, overlap 32: 19/224 tiles per line; 19 tiles/s sustain exactly 224 lines/s
    exact = line_budget(19.0, width_px=4096, tile_hw=(256, 256), overlap_px=32, line_rate_hz=224.0)
    assert exact.max_line_rate_hz == pytest.approx(224.0)
    assert exact.headroom == pytest.approx(1.0)
    assert exact.keeps_up is True
    above = line_budget(19.0, width_px=4096, tile_hw=(256, 256), overlap_px=32, line_rate_hz=224.5)
    assert above.keeps_up is False and above.headroom < 1
    below = line_budget(19.0, width_px=4096, tile_hw=(256, 256), overlap_px=32, line_rate_hz=100.0)
    assert below.keeps_up is True and below.headroom == pytest.approx(2.24)


def test_without_line_rate_no_verdict():
    budget = line_budget(38.0, width_px=4096, tile_hw=(256, 256), overlap_px=32)
    assert budget.max_line_rate_hz == pytest.approx(448.0)
    assert (budget.line_rate_hz, budget.required_tiles_per_s, budget.headroom, budget.keeps_up) == (None,) * 4


def test_budget_from_a_measured_line_rate():
    budget = budget_at(300.0, width_px=4096, tile_hw=(256, 256), overlap_px=32, line_rate_hz=400.0)
    assert budget.max_line_rate_hz == 300.0
    assert budget.headroom == pytest.approx(0.75)
    assert budget.keeps_up is False
    assert budget.required_tiles_per_s == pytest.approx(19 / 224 * 400)


def test_steady_state_matches_the_tiles_the_run_tiler_emits():
    """tiles_per_line × lines ≈ tiles the runner's Tiler emits (within one row of tiles)."""
    width, tile_hw, overlap = 300, (64, 64), 16
    tiler = Tiler(tile_hw, overlap_px=overlap)
    frame = np.zeros((100, width), np.uint8)
    emitted = sum(len(tiler.push(frame)) for _ in range(48))
    lines = 48 * 100
    across = math.ceil((width - overlap) / (64 - overlap))  # 6
    assert across == 6
    assert emitted % across == 0
    assert abs(emitted - tiles_per_line(width, tile_hw, overlap) * lines) <= across
    assert tiles_per_line(width, tile_hw, overlap) == pytest.approx(6 / 48)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"overlap_px": 256}, "overlap_px"),
        ({"overlap_px": -1}, "overlap_px"),
        ({"scale": 1.5}, "scale"),
        ({"width_px": 0}, "width"),
        ({"line_rate_hz": 0.0}, "line-rate"),
    ],
)
def test_bad_geometry_is_a_user_error(kwargs, match):
    args = {"width_px": 4096, "tile_hw": (256, 256), "overlap_px": 32, "line_rate_hz": 1000.0} | kwargs
    with pytest.raises(EdgeInspectError, match=match):
        line_budget(100.0, **args)
