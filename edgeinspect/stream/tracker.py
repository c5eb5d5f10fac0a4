"""Connected defects on a rolling band of the thresholded web mask, emitted once per physical defect.

Finalised probability strips arrive in web order. The tracker appends them to a band and groups the
band's mask (``prob >= threshold``) into defects: pixels separated by at most ``merge_gap_px``
background pixels (along a row, a column or a diagonal; 8-connectivity when 0) belong to one
defect, so a thin crack the network segments in pieces is one record. Grouping labels a dilated copy of the mask
(``cv2.dilate`` with a ``(gap+1)²`` box anchored at its corner, then ``cv2.connectedComponents``):
two pixels share a label exactly when a chain of defect pixels joins them with steps of at most
``gap + 1`` px in x and in y. Areas, boxes and probabilities come from the undilated pixels only.

A defect is closed when more than ``merge_gap_px`` (and ``halo_px``) lines lie between its lowest
pixel and the band's last line: the web has moved past it, no later line can join it. Closed defects leave as
:class:`~edgeinspect.stream.records.Blob` and are erased from the band; the band is then trimmed to
the first line of the defects still open (minus a context margin kept for overlay crops). Because
grouping runs on the whole band, a defect spanning frames, tile rows or tile columns is one record.

With ``halo_px > 0`` each blob also carries its **probability halo** (``Blob.halo_prob``): the
probabilities of its own pixels and of every pixel within ``halo_px`` px of them (a square
neighbourhood) that belongs to no other defect, zero elsewhere. Its sum is the defect's
probability mass, the area estimate of :class:`~edgeinspect.stream.area.AreaEstimator` with
``area_from="probability"``: a thresholded mask cuts a blurred outline at one level, so it
over-measures what the network draws wide and under-measures thin defects; the mass counts
each pixel by its probability.

**Hysteresis** (``detect_threshold`` above ``threshold``): the pixels of a defect are those at or
above ``threshold``, but a group is a defect only when its most probable pixel reaches
``detect_threshold``; groups that never do are closed and dropped like the rest, without a record.
A thin crack whose middle the network draws at 0.4 stays one record at a low ``threshold``, while
faint texture blobs that a low threshold alone would report are not (the two-level threshold of
Canny's edge linking).

A segment ends (dropped frames leave a gap, or the run stops) with :meth:`flush`: every defect
left is emitted, ``truncated=True`` when it reaches within ``merge_gap_px`` lines of the segment's
last line (it may go on past the cut). A defect open longer than ``max_band_lines`` is emitted
truncated too (and a warning logged) so the band stays bounded; the rest of it becomes a new record.

Example:
    >>> tracker = DefectTracker(threshold=0.5, merge_gap_px=2)
    >>> blobs = tracker.push(strip, image_lines)   # list[Blob] closed by this strip
    >>> blobs += tracker.flush()                   # at the end of the segment
"""

from __future__ import annotations

import logging

import cv2
import numpy as np

from edgeinspect.stream.records import Blob, ProbStrip

log = logging.getLogger("edgeinspect.stream")

#: Default widest gap of background pixels bridged inside one defect, px. Measured with the bundled
#: model on ``run --camera sim --lines 20000``: records 1629 (gap 0) → 1420 (2) → 1331 (3) → 1263 (4)
#: for the same 598 true defects found; 2 is the widest gap that joins no further pair of distinct
#: true defects and moves no area out of tolerance (3 does both once).
DEFAULT_MERGE_GAP_PX = 2


class DefectTracker:
    """Probability strips in, closed connected components out.

    Args:
        threshold: a pixel is a defect pixel when ``prob >= threshold``.
        context_px: margin of web image kept around each component for its overlay crop, px.
        max_band_lines: a component still open when the band reaches this many lines is emitted
            truncated.
        merge_gap_px: widest gap of background pixels (px, along rows, columns or diagonals)
            bridged inside one defect; 0 = plain 8-connected components.
        halo_px: reach of each blob's probability halo, px, in ``[0, context_px]`` (0: no halo).
        detect_threshold: a group is emitted only when its highest probability is at least this;
            None or at most ``threshold``: every group (no hysteresis).
    """

    def __init__(self, *, threshold: float = 0.5, context_px: int = 16, max_band_lines: int = 8192,
                 merge_gap_px: int = DEFAULT_MERGE_GAP_PX, halo_px: int = 0,
                 detect_threshold: float | None = None) -> None:
        if merge_gap_px < 0:
            raise ValueError(f"merge_gap_px must be >= 0, got {merge_gap_px}")
        if not 0 <= halo_px <= context_px:
            raise ValueError(f"halo_px must be in [0, context_px={context_px}], got {halo_px}")
        self.threshold = float(threshold)
        self.context_px = int(context_px)
        self.max_band_lines = int(max_band_lines)
        self.merge_gap_px = int(merge_gap_px)
        self.halo_px = int(halo_px)
        self.detect_threshold = max(self.threshold, float(detect_threshold or 0.0))  # at most threshold: no hysteresis
        self.faint_groups = 0  # groups closed without a record: their highest probability < detect_threshold
        self._kernel = np.ones((self.merge_gap_px + 1, self.merge_gap_px + 1), np.uint8)
        self._halo_kernel = np.ones((2 * self.halo_px + 1, 2 * self.halo_px + 1), np.uint8)
        self._reset()

    def _reset(self) -> None:
        self._first = 0  # web line of band row 0
        self._mask: np.ndarray | None = None  # (n, W) uint8 0/1
        self._prob = _Rows()  # the band's (n, W) float32 probabilities, kept as the strips came
        self._image: _Rows | None = _Rows()  # the band's (n, W) uint8 image lines, None once a strip had none

    @property
    def band_first_line(self) -> int:
        """Web line of the band's first row (lines before it are no longer needed)."""
        return self._first

    @property
    def band_lines(self) -> int:
        """Lines held in the band now."""
        return 0 if self._mask is None else int(self._mask.shape[0])

    def push(self, strip: ProbStrip, image: np.ndarray | None = None) -> list[Blob]:
        """Append the next finalised strip; return the components it closes.

        Args:
            strip: the next lines of the web (``strip.first_line`` must follow the band, or start
                a new segment after :meth:`flush`).
            image: ``(n_lines, W)`` uint8 web image of the same lines, for overlay crops, or None.

        Returns:
            Closed components in order of their first pixel (top, then left; with ``merge_gap_px``,
            of their dilated grouping's first pixel).
        """
        mask = (strip.prob >= self.threshold).view(np.uint8)
        if self._mask is None:
            self._first = strip.first_line
            self._mask = mask
        else:
            expected = self._first + self._mask.shape[0]
            if strip.first_line != expected:
                raise ValueError(f"strip starts at line {strip.first_line}, expected {expected} (flush between segments)")
            self._mask = np.concatenate([self._mask, mask])
        self._prob.append(strip.first_line, strip.prob)
        if image is not None and self._image is not None:
            self._image.append(strip.first_line, image)
        else:
            self._image = None
        force = self._mask.shape[0] >= self.max_band_lines
        blobs = self._close(final=force)
        if force and blobs:
            log.warning("a defect is longer than the tracker band (%d lines): emitted in parts", self.max_band_lines)
        return blobs

    def flush(self) -> list[Blob]:
        """End the segment: emit every component left (truncated if it touches the last line)."""
        blobs = self._close(final=True) if self._mask is not None else []
        self._reset()
        return blobs

    def _close(self, *, final: bool) -> list[Blob]:
        mask = self._mask
        n = mask.shape[0]
        points = cv2.findNonZero(mask)  # (k, 1, 2) int32 [x, y], faster than np.nonzero; None: empty
        if points is None:
            self._trim(n)
            return []
        points = points.reshape(-1, 2)
        xs, ys = points[:, 0], points[:, 1]
        gap = self.merge_gap_px
        wait = max(gap, self.halo_px)  # lines a defect's neighbourhood reaches below its last pixel
        # Group inside the window holding every mask pixel, widened by the gap towards the top and
        # left (where the corner-anchored dilation reaches): outside it the dilated mask is empty, so
        # the groups are those of the whole band, for a fraction of its area. Its corner is on even
        # coordinates: OpenCV labels 8-connected groups 2x2 pixels at a time, so the labels' order
        # (the records' emission order) is that of the whole band too.
        wy0, wx0 = (max(0, int(v.min()) - gap) & ~1 for v in (ys, xs))
        window = mask[wy0:int(ys.max()) + 1, wx0:int(xs.max()) + 1]
        grouping = window if gap == 0 else cv2.dilate(window, self._kernel, anchor=(0, 0))
        _, window_labels = cv2.connectedComponents(grouping, connectivity=8, ltype=cv2.CV_32S)
        owner = window_labels[ys - wy0, xs - wx0]
        values = self._prob.at(self._first, ys, xs)  # for the peaks (hysteresis) and means of all groups at once
        order = np.argsort(owner, kind="stable")
        owner, ys, xs, values = owner[order], ys[order], xs[order], values[order]
        starts = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])
        sizes = np.diff(np.r_[starts, owner.size])
        peaks = np.maximum.reduceat(values, starts)
        means = np.add.reduceat(values.astype(np.float64), starts) / sizes
        # compared as float32, as the mask was: without hysteresis (detect == threshold) every group is strong
        strong = peaks >= self.detect_threshold
        groups = zip(owner[starts].tolist(), np.minimum.reduceat(xs, starts).tolist(),
                     np.minimum.reduceat(ys, starts).tolist(), np.maximum.reduceat(xs, starts).tolist(),
                     np.maximum.reduceat(ys, starts).tolist(), strong.tolist(), peaks.tolist(), means.tolist())
        blobs: list[Blob] = []
        closed: list[tuple[int, int, int, int, np.ndarray]] = []
        faint = np.zeros(starts.size, bool)  # closed groups whose peak stays under detect_threshold
        open_top = n
        # label order: raster order of each group's first pixel
        for index, (label, x0, y0, x_last, y_last, is_strong, peak, mean) in enumerate(groups):
            reaches_end = y_last >= n - 1 - gap  # a pixel of the next line could join it
            if y_last >= n - 1 - wait and not final:
                open_top = min(open_top, y0)
                continue
            if not is_strong:
                faint[index] = True
                continue
            y1, x1 = y_last + 1, x_last + 1
            own = (window_labels[y0 - wy0:y1 - wy0, x0 - wx0:x1 - wx0] == label) & mask[y0:y1, x0:x1].astype(bool)
            closed.append((y0, y1, x0, x1, own))
            top = self._first + y0
            prob = self._prob.crop(top, top + y1 - y0, x0, x1)
            blobs.append(self._blob(x0, y0, x1 - x0, y1 - y0, own, prob, truncated=reaches_end,
                                    max_prob=peak, mean_prob=mean))
        # erased after all: a halo never takes a neighbour's pixels (a faint group's included)
        for y0, y1, x0, x1, own in closed:
            mask[y0:y1, x0:x1][own] = 0
        if faint.any():
            self.faint_groups += int(faint.sum())
            erase = np.repeat(faint, sizes)
            mask[ys[erase], xs[erase]] = 0
        self._trim(open_top)
        return blobs

    def _blob(self, x0: int, y0: int, w: int, h: int, own: np.ndarray, prob: np.ndarray, *, truncated: bool,
              max_prob: float, mean_prob: float) -> Blob:
        image, origin = None, (0, 0)
        if self._image is not None:
            c = self.context_px
            iy0, ix0 = max(0, y0 - c), max(0, x0 - c)
            iy1, ix1 = min(self._mask.shape[0], y0 + h + c), min(self._mask.shape[1], x0 + w + c)
            image = self._image.crop(self._first + iy0, self._first + iy1, ix0, ix1)
            origin = (ix0, self._first + iy0)
        top = self._first + y0
        halo_prob, halo_origin = self._halo(x0, y0, own)
        return Blob(
            bbox_px=(x0, top, x0 + w, top + h),
            mask=own,
            prob=prob,
            image=image,
            image_origin=origin,
            truncated=truncated,
            halo_prob=halo_prob,
            halo_origin=halo_origin,
            max_prob=max_prob,
            mean_prob=mean_prob,
        )

    def _halo(self, x0: int, y0: int, own: np.ndarray) -> tuple[np.ndarray | None, tuple[int, int]]:
        """The blob's probability halo and its web origin ``(x, y)`` (None without ``halo_px``)."""
        r = self.halo_px
        if r == 0:
            return None, (0, 0)
        n, width = self._mask.shape
        h, w = own.shape
        hx0, hy0 = max(0, x0 - r), max(0, y0 - r)
        hx1, hy1 = min(width, x0 + w + r), min(n, y0 + h + r)
        seed = np.zeros((hy1 - hy0, hx1 - hx0), np.uint8)
        seed[y0 - hy0:y0 - hy0 + h, x0 - hx0:x0 - hx0 + w] = own
        near = cv2.dilate(seed, self._halo_kernel)  # uint8 0/1
        near &= (self._mask[hy0:hy1, hx0:hx1] ^ 1) | seed  # not another defect's pixel
        prob = self._prob.crop(self._first + hy0, self._first + hy1, hx0, hx1)  # a copy: zeroed in place
        return np.multiply(prob, near, out=prob), (hx0, self._first + hy0)

    def _trim(self, open_top: int) -> None:
        """Drop band rows before ``open_top - context_px`` (all closed components are erased)."""
        drop = max(0, open_top - self.context_px)
        if drop:
            self._mask = self._mask[drop:]
            self._first += drop
            self._prob.drop_before(self._first)
            if self._image is not None:
                self._image.drop_before(self._first)


class _Rows:
    """Consecutive web lines kept as the strips that brought them (no copy of the whole band per strip)."""

    def __init__(self) -> None:
        self._parts: list[tuple[int, np.ndarray]] = []  # (first web line, (n, W) array), in order

    def append(self, first_line: int, rows: np.ndarray) -> None:
        """Add ``rows`` starting at web line ``first_line`` (right after the last part)."""
        self._parts.append((first_line, rows))

    def drop_before(self, line: int) -> None:
        """Forget the parts that end before web line ``line``."""
        while self._parts and self._parts[0][0] + self._parts[0][1].shape[0] <= line:
            self._parts.pop(0)

    def at(self, band_first_line: int, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """A copy of the values at ``(rows, cols)``, ``rows`` counted from web line ``band_first_line``.

        ``rows`` must be ascending (as ``cv2.findNonZero`` returns them) and every row held; rows stay
        band-relative (int32 from OpenCV), web lines as Python ints, so a long run cannot overflow them.
        """
        pieces = []
        for first, part in self._parts:
            offset = first - band_first_line  # band row of the part's first line (< 0: starts before the band)
            lo, hi = np.searchsorted(rows, (offset, offset + part.shape[0]))
            if hi > lo:
                pieces.append(part[rows[lo:hi] - offset, cols[lo:hi]])
        return np.concatenate(pieces) if len(pieces) > 1 else pieces[0]

    def crop(self, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
        """A copy of web lines ``[y0, y1)``, columns ``[x0, x1)`` (all held)."""
        pieces = [rows[max(0, y0 - first):y1 - first, x0:x1] for first, rows in self._parts
                  if first < y1 and first + rows.shape[0] > y0]
        return np.concatenate(pieces) if len(pieces) > 1 else pieces[0].copy()
