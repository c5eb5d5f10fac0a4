"""Camera arithmetic: tiles a line-scan camera makes per second, and the line rate an engine sustains.

The tiling is the one ``edgeinspect run`` uses (:mod:`edgeinspect.stream.tiler`), so bench and run
agree. For a web ``W`` px wide at scale ``s``, tiles ``(tile_h, tile_w)``, overlap ``o`` px::

    W'              = round(W * s)                                  inference-grid width, px
    tiles_across    = 1                         if W' <= tile_w
                    = ceil((W' - o) / (tile_w - o))  otherwise      (= ceil((W' - tile_w) / (tile_w - o)) + 1)
    tiles_per_line  = tiles_across * s / (tile_h - o)               tiles per source line (rows are tile_h - o apart)
    required_tiles_per_s = tiles_per_line * line_rate_hz
    max_line_rate_hz     = tiles_per_s / tiles_per_line
    headroom             = max_line_rate_hz / line_rate_hz
    keeps_up             = max_line_rate_hz >= line_rate_hz           (⇔ headroom >= 1)

Example: ``W = 4096``, tiles 256², ``o = 32``: ``ceil(4064 / 224) = 19`` tiles across, one row every
224 lines, so ``19 / 224 = 0.0848`` tiles per line; a 10 kHz camera needs 848.2 tiles/s, and an
engine doing 500 tiles/s sustains ``500 * 224 / 19 = 5894.7`` lines/s (headroom 0.59: it does not
keep up).

Example:
    >>> budget = line_budget(500.0, width_px=4096, tile_hw=(256, 256), overlap_px=32, line_rate_hz=10_000)
    >>> round(budget.required_tiles_per_s, 1), round(budget.max_line_rate_hz, 1), budget.keeps_up
    (848.2, 5894.7, False)
"""

from __future__ import annotations

from dataclasses import dataclass

from edgeinspect.errors import EdgeInspectError
from edgeinspect.stream.tiler import required_tiles_per_s, tiles_per_frame


@dataclass(frozen=True, slots=True)
class LineBudget:
    """What a camera asks of an engine, and whether the engine delivers it.

    Attributes:
        width_px: web width, source px.
        tiles_per_line: engine tiles per source line (steady state, fractional), tiles/line.
        max_line_rate_hz: the line rate the measured throughput sustains at this width, lines/s.
        line_rate_hz: the camera's line rate, lines/s (None when not given).
        required_tiles_per_s: tiles/s the camera needs (None without a line rate).
        headroom: ``max_line_rate_hz / line_rate_hz`` (None without a line rate).
        keeps_up: ``max_line_rate_hz >= line_rate_hz`` (None without a line rate).
    """

    width_px: int
    tiles_per_line: float
    max_line_rate_hz: float
    line_rate_hz: float | None = None
    required_tiles_per_s: float | None = None
    headroom: float | None = None
    keeps_up: bool | None = None


def tiles_per_line(width_px: int, tile_hw: tuple[int, int], overlap_px: int, scale: float = 1.0) -> float:
    """Engine tiles per source line for a web ``width_px`` wide (the run's tiling, steady state).

    Raises:
        EdgeInspectError: bad width or tiling (overlap not below the tile size, scale out of (0, 1]).
    """
    if width_px < 1:
        raise EdgeInspectError(f"--width-px must be >= 1, got {width_px}")
    return tiles_per_frame(int(width_px), 1, tuple(tile_hw), int(overlap_px), float(scale))


def verdict(max_line_rate_hz: float, line_rate_hz: float) -> tuple[float, bool]:
    """``(headroom, keeps_up)`` for a sustainable line rate against the camera's line rate (both lines/s)."""
    if line_rate_hz <= 0:
        raise EdgeInspectError(f"--line-rate-hz must be > 0, got {line_rate_hz:g}")
    return max_line_rate_hz / line_rate_hz, bool(max_line_rate_hz >= line_rate_hz)


def line_budget(tiles_per_s: float, *, width_px: int, tile_hw: tuple[int, int], overlap_px: int,
                scale: float = 1.0, line_rate_hz: float | None = None) -> LineBudget:
    """The line rate an engine throughput of ``tiles_per_s`` sustains at ``width_px``, and the verdict.

    Args:
        tiles_per_s: measured engine throughput, tiles/s.
        width_px: web width, source px.
        tile_hw: engine input ``(tile_h, tile_w)``, px.
        overlap_px: tile overlap, px of the inference grid (the run's ``--overlap-px``).
        scale: inference grid / source (the run's ``--scale``).
        line_rate_hz: the camera's line rate, lines/s; None: no verdict.

    Returns:
        A :class:`LineBudget`.

    Raises:
        EdgeInspectError: bad width, tiling or line rate.
    """
    per_line = tiles_per_line(width_px, tile_hw, overlap_px, scale)
    return budget_at(tiles_per_s / per_line, width_px=width_px, tile_hw=tile_hw, overlap_px=overlap_px,
                     scale=scale, line_rate_hz=line_rate_hz)


def budget_at(max_line_rate_hz: float, *, width_px: int, tile_hw: tuple[int, int], overlap_px: int,
              scale: float = 1.0, line_rate_hz: float | None = None) -> LineBudget:
    """The verdict for a line rate measured directly (the pipeline's lines/s at full speed).

    Same arguments as :func:`line_budget`, with the highest sustainable line rate (lines/s) in place
    of the tile throughput.
    """
    per_line = tiles_per_line(width_px, tile_hw, overlap_px, scale)
    if line_rate_hz is None:
        return LineBudget(int(width_px), per_line, float(max_line_rate_hz))
    headroom, keeps_up = verdict(max_line_rate_hz, line_rate_hz)
    required = required_tiles_per_s(int(width_px), float(line_rate_hz), tuple(tile_hw), int(overlap_px), float(scale))
    return LineBudget(int(width_px), per_line, float(max_line_rate_hz), float(line_rate_hz), required, headroom,
                      keeps_up)
