"""Put tile probabilities back on the web: owned regions pasted, full-width strips out.

Each tile carries the rectangle it owns (:class:`~edgeinspect.stream.records.TilePlacement`):
overlaps are cut in their middle, so a pixel comes from exactly one tile, the one where it is
farthest from a tile edge (networks are least reliable near tile borders). Nothing is averaged
and nothing is counted twice, so stitching itself can neither split nor double a defect: cutting any
probability map into tiles and stitching them gives the map back exactly.

Rows complete in order; when the right-most tile of a row arrives, the row's owned lines are
final and leave as a :class:`~edgeinspect.stream.records.ProbStrip` at source resolution
(``cv2.INTER_LINEAR`` back from the inference grid when ``scale != 1``).

Example:
    >>> stitcher = Stitcher(width_px=4096, scale=1.0)
    >>> stitcher.start(first_line=0)
    >>> strips = stitcher.add(tile.placement, prob_tile)   # list[ProbStrip], empty until a row completes
"""

from __future__ import annotations

import cv2
import numpy as np

from edgeinspect.stream.records import ProbStrip, TilePlacement
from edgeinspect.stream.tiler import scaled_width


class Stitcher:
    """Tile outputs in, finalised web probability strips out.

    Args:
        width_px: source web width, px.
        scale: inference grid / source (as given to the tiler).
    """

    def __init__(self, width_px: int, *, scale: float = 1.0) -> None:
        self.width_px = int(width_px)
        self.scale = float(scale)
        self.inference_width = scaled_width(self.width_px, self.scale)
        self._first_line = 0
        self._row: int | None = None
        self._row_band: np.ndarray | None = None
        self._pasted_px = 0  # columns of the current row pasted so far

    def start(self, first_line: int) -> None:
        """Begin a segment whose inference line 0 is web line ``first_line``."""
        self._first_line = int(first_line)
        self._row = None
        self._row_band = None

    def _source_line(self, inference_line: int) -> int:
        return self._first_line + round(inference_line / self.scale)

    def add(self, placement: TilePlacement, prob: np.ndarray) -> list[ProbStrip]:
        """Paste the owned part of one tile's output.

        Args:
            placement: the tile's placement (tiles arrive in row-major order).
            prob: ``(tile_h, tile_w)`` float32 in [0, 1], the engine output for the tile.

        Returns:
            ``[strip]`` when this tile completes its row, else ``[]``.
        """
        p = placement
        if self._row_band is not None and self._row != p.row:
            raise ValueError(f"tile row {p.row} began before row {self._row} was complete "
                             f"(tiles must arrive as whole rows, in order)")
        if self._row_band is None:
            self._row = p.row
            # no fill: the owned ranges of a row's tiles partition the width (checked below)
            self._row_band = np.empty((p.own_y1 - p.own_y0, self.inference_width), np.float32)
            self._pasted_px = 0
        self._row_band[:, p.own_x0:p.own_x1] = prob[
            p.own_y0 - p.y0:p.own_y1 - p.y0, p.own_x0 - p.x0:p.own_x1 - p.x0
        ]
        self._pasted_px += p.own_x1 - p.own_x0
        if not p.last_in_row:
            return []
        if self._pasted_px != self.inference_width:
            raise ValueError(f"tile row {p.row} pasted {self._pasted_px} of {self.inference_width} columns "
                             f"(tiles must arrive as whole rows, in order)")
        band, self._row_band, self._row = self._row_band, None, None
        first, stop = self._source_line(p.own_y0), self._source_line(p.own_y1)
        if band.shape != (stop - first, self.width_px):
            band = cv2.resize(band, (self.width_px, stop - first), interpolation=cv2.INTER_LINEAR)
        return [ProbStrip(first_line=first, prob=band)]
