"""Cut line-scan frames into overlapping engine tiles, keeping web coordinates.

Geometry (all in the *inference grid*, i.e. the web scaled by ``scale``):

- Across the web, tiles start every ``tile_w - overlap_px`` columns; the last tile is aligned to
  the right edge (``x0 = width - tile_w``), so no tile holds padding unless the web is narrower
  than one tile.
- Along the web a rolling band of lines gives tiles context across frame boundaries: tile row
  ``k`` covers lines ``[k * stride, k * stride + tile_h)`` with ``stride = tile_h - overlap_px``.
  When a segment ends (end of run, or a gap left by dropped frames), one last row aligned to the
  segment's last line covers what is left.
- Each tile *owns* the part of its output the stitcher keeps: overlaps are cut in their middle, so
  every pixel comes from the tile where it is farthest from a tile edge.

Pixels: 8-bit frames pass as uint8; 12/16-bit frames become float32 ``value * 255 / (2**bits - 1)``
(the network's 8-bit range). With ``scale != 1`` frames are resized (``cv2.INTER_AREA``) first.

Example:
    >>> tiler = Tiler((256, 256), overlap_px=32)
    >>> tiles = tiler.push(frame.lines, bit_depth=8)      # list[Tile], possibly empty
    >>> tiles += tiler.flush()                            # at the end of the run
    >>> tiles_per_frame(4096, 1024, (256, 256), 32)       # 19 tiles across × 1024/224 rows
    86.857...
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from edgeinspect.errors import EdgeInspectError
from edgeinspect.stream.records import Tile, TilePlacement


def check_geometry(tile_hw: tuple[int, int], overlap_px: int, scale: float) -> None:
    """Raise EdgeInspectError unless tile size, overlap and scale make a valid tiling."""
    tile_h, tile_w = tile_hw
    if tile_h <= 0 or tile_w <= 0:
        raise EdgeInspectError(f"tile size must be positive, got {tile_h}x{tile_w}")
    if not 0 <= overlap_px < min(tile_h, tile_w):
        raise EdgeInspectError(
            f"overlap_px must be in [0, {min(tile_h, tile_w)}) for {tile_h}x{tile_w} tiles, got {overlap_px}"
        )
    if not 0.0 < scale <= 1.0:
        raise EdgeInspectError(f"scale must be in (0, 1], got {scale}")


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of tiles covering ``length`` pixels, the last one aligned to the end.

    Args:
        length: pixels to cover (> 0).
        tile: tile size, px.
        overlap: overlap between neighbours, px (the last pair may overlap more).

    Returns:
        Sorted starts; ``[0]`` when ``length <= tile`` (that single tile is padded).
    """
    if length <= tile:
        return [0]
    stride = tile - overlap
    return list(range(0, length - tile, stride)) + [length - tile]


def ownership(starts: list[int], tile: int, length: int) -> list[tuple[int, int]]:
    """The ``[own0, own1)`` range each tile keeps: overlaps are cut in their middle.

    Args:
        starts: tile starts from :func:`tile_starts`.
        tile: tile size, px.
        length: pixels covered.

    Returns:
        One range per start, in absolute pixels; together they partition ``[0, length)``.
    """
    cuts = [(a + tile + b) // 2 for a, b in zip(starts, starts[1:])]
    lows = [0, *cuts]
    highs = [*cuts, length]
    return list(zip(lows, highs))


def tiles_across(width: int, tile_w: int, overlap: int) -> int:
    """Tiles per row across a web ``width`` px wide (inference grid)."""
    if width <= tile_w:
        return 1
    return math.ceil((width - tile_w) / (tile_w - overlap)) + 1


def scaled_width(width: int, scale: float) -> int:
    """Width of the inference grid for a ``width``-px web at ``scale``, px."""
    return max(1, round(width * scale))


def tiles_per_frame(width: int, lines: int, tile_hw: tuple[int, int], overlap: int, scale: float = 1.0) -> float:
    """Tiles the engine must run per frame in steady state (long runs; rows are fractional).

    Args:
        width: frame width, source px.
        lines: lines per frame (source).
        tile_hw: engine input ``(tile_h, tile_w)``, px of the inference grid.
        overlap: overlap between tiles, px of the inference grid.
        scale: inference grid / source (``0.5`` = infer at half resolution).

    Returns:
        ``tiles_across(width*scale) * lines*scale / (tile_h - overlap)``.
    """
    check_geometry(tile_hw, overlap, scale)
    tile_h, tile_w = tile_hw
    across = tiles_across(scaled_width(width, scale), tile_w, overlap)
    return across * lines * scale / (tile_h - overlap)


def required_tiles_per_s(width: int, line_rate_hz: float, tile_hw: tuple[int, int], overlap: int,
                         scale: float = 1.0) -> float:
    """Tiles per second the engine must sustain to keep up with a camera at ``line_rate_hz``.

    Same arguments as :func:`tiles_per_frame`, with the line rate (lines/s) for the lines.
    """
    return tiles_per_frame(width, 1, tile_hw, overlap, scale) * line_rate_hz


def to_network_range(lines: np.ndarray, bit_depth: int) -> np.ndarray:
    """Pixels in the network's 8-bit range: uint8 as is, else float32 ``v * 255 / (2**bits - 1)``.

    Args:
        lines: ``(H, W)`` uint8 or uint16.
        bit_depth: significant bits of the pixel values (8, 10, 12, 16).

    Returns:
        ``(H, W)`` uint8 (8-bit) or float32 in [0, 255].
    """
    if lines.dtype == np.uint8 and bit_depth == 8:
        return lines
    return lines.astype(np.float32) * np.float32(255.0 / (2**bit_depth - 1))


class Tiler:
    """Frames in, engine tiles out, one segment (a gap-free run of web lines) at a time.

    Args:
        tile_hw: engine input ``(tile_h, tile_w)``, px.
        overlap_px: overlap between neighbouring tiles across and along the web, px of the
            inference grid.
        scale: inference grid / source, in (0, 1] (``0.5`` infers at half resolution). Frames
            must have ``lines * scale`` integral.

    Raises:
        EdgeInspectError: bad geometry.
    """

    def __init__(self, tile_hw: tuple[int, int], *, overlap_px: int = 32, scale: float = 1.0) -> None:
        check_geometry(tuple(tile_hw), overlap_px, scale)
        self.tile_h, self.tile_w = (int(v) for v in tile_hw)
        self.overlap_px = int(overlap_px)
        self.scale = float(scale)
        self.stride_y = self.tile_h - self.overlap_px
        self._width: int | None = None
        self._starts_x: list[int] = []
        self._own_x: list[tuple[int, int]] = []
        self._reset()

    def _reset(self) -> None:
        self._band: np.ndarray | None = None  # inference lines from self._band_y (segment-relative)
        self._band_y = 0
        self._total = 0  # inference lines pushed in this segment
        self._row = 0
        self._next_y = 0  # start of the next regular row
        self._owned_to = 0  # lines owned by rows emitted so far

    @property
    def inference_width(self) -> int | None:
        """Width of the inference grid, px (None before the first frame)."""
        return self._width

    def inference_lines(self, source_lines: int) -> int:
        """Inference-grid lines for ``source_lines`` source lines; raise unless integral."""
        scaled = source_lines * self.scale
        if abs(scaled - round(scaled)) > 1e-6:
            raise EdgeInspectError(
                f"scale {self.scale} gives {scaled:g} inference lines for a {source_lines}-line frame: "
                f"choose a scale with lines_per_frame * scale integral"
            )
        return int(round(scaled))

    def _prepare(self, lines: np.ndarray, bit_depth: int) -> np.ndarray:
        pixels = to_network_range(lines, bit_depth)
        if self.scale != 1.0:
            size = (scaled_width(lines.shape[1], self.scale), self.inference_lines(lines.shape[0]))
            pixels = cv2.resize(pixels, size, interpolation=cv2.INTER_AREA)
        return pixels

    def push(self, lines: np.ndarray, *, bit_depth: int = 8) -> list[Tile]:
        """Add one frame's lines (the next lines of the segment); return the tiles now complete.

        Args:
            lines: ``(H, W)`` uint8 or uint16 frame lines, source resolution.
            bit_depth: significant bits of the values.

        Returns:
            Tiles in row-major order (whole rows only).

        Raises:
            EdgeInspectError: the width changed, or ``H * scale`` is not integral.
        """
        pixels = self._prepare(lines, bit_depth)
        width = pixels.shape[1]
        if self._width is None:
            self._width = width
            self._starts_x = tile_starts(width, self.tile_w, self.overlap_px)
            self._own_x = ownership(self._starts_x, self.tile_w, width)
        elif width != self._width:
            raise EdgeInspectError(f"frame width changed from {self._width} to {width} px during the run")
        if self._band is None or self._band.shape[0] == 0:
            self._band = pixels
        else:
            if pixels.dtype != self._band.dtype:
                pixels = pixels.astype(np.float32)
                self._band = self._band.astype(np.float32)
            self._band = np.concatenate([self._band, pixels], axis=0)
        self._total += pixels.shape[0]
        tiles: list[Tile] = []
        while self._next_y + self.tile_h <= self._total:
            y = self._next_y
            own_y1 = y + (self.stride_y + self.tile_h) // 2
            tiles += self._row_tiles(y, self._owned_to, own_y1)
            self._owned_to = own_y1
            self._next_y = y + self.stride_y
            # keep from the last row's start: a final aligned row may start before _next_y
            self._trim(y)
        return tiles

    def flush(self) -> list[Tile]:
        """End the segment: tiles of one last row aligned to its last line, if lines are left.

        The tiler is ready for a new segment afterwards (same width).
        """
        tiles: list[Tile] = []
        if self._total > self._owned_to and self._band is not None:
            y = max(0, self._total - self.tile_h)
            tiles = self._row_tiles(y, self._owned_to, self._total)
        self._reset()
        return tiles

    def _trim(self, keep_from: int) -> None:
        drop = keep_from - self._band_y
        if drop > 0:
            self._band = self._band[drop:]
            self._band_y = keep_from

    def _row_tiles(self, y: int, own_y0: int, own_y1: int) -> list[Tile]:
        top = y - self._band_y
        rows = self._band[top:top + self.tile_h]
        cols = len(self._starts_x)
        tiles = []
        for col, (x0, (own_x0, own_x1)) in enumerate(zip(self._starts_x, self._own_x)):
            pixels = rows[:, x0:x0 + self.tile_w]
            pad_y, pad_x = self.tile_h - pixels.shape[0], self.tile_w - pixels.shape[1]
            if pad_y or pad_x:  # only for segments/webs smaller than one tile
                pixels = cv2.copyMakeBorder(np.ascontiguousarray(pixels), 0, pad_y, 0, pad_x, cv2.BORDER_REPLICATE)
            placement = TilePlacement(
                row=self._row, col=col, cols=cols, y0=y, x0=x0,
                own_y0=own_y0, own_y1=own_y1, own_x0=own_x0, own_x1=own_x1,
            )
            tiles.append(Tile(pixels=pixels, placement=placement))
        self._row += 1
        return tiles
