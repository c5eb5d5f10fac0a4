"""Connected defects on a rolling band of the thresholded web mask, emitted once per physical defect.

Finalised probability strips arrive in web order. The tracker appends them to a band, labels the
band's mask (``prob >= threshold``) with ``cv2.connectedComponentsWithStats`` (8-connectivity) and
closes every component with no pixel in the band's last line: the web has moved past it, no later
line can touch it. Closed components leave as :class:`~edgeinspect.stream.records.Blob` and are
erased from the band; the band is then trimmed to the first line of the components still open
(minus a context margin kept for overlay crops). Because labelling runs on the whole band, a
defect spanning frames, tile rows or tile columns is one component and one record.

A segment ends (dropped frames leave a gap, or the run stops) with :meth:`flush`: every component
left is emitted, ``truncated=True`` when it touches the segment's last line. A component open
longer than ``max_band_lines`` is emitted truncated too (and a warning logged) so the band stays
bounded; the rest of it becomes a new record.

Example:
    >>> tracker = DefectTracker(threshold=0.5)
    >>> blobs = tracker.push(strip, image_lines)   # list[Blob] closed by this strip
    >>> blobs += tracker.flush()                   # at the end of the segment
"""

from __future__ import annotations

import logging

import cv2
import numpy as np

from edgeinspect.stream.records import Blob, ProbStrip

log = logging.getLogger("edgeinspect.stream")


class DefectTracker:
    """Probability strips in, closed connected components out.

    Args:
        threshold: a pixel is a defect pixel when ``prob >= threshold``.
        context_px: margin of web image kept around each component for its overlay crop, px.
        max_band_lines: a component still open when the band reaches this many lines is emitted
            truncated.
    """

    def __init__(self, *, threshold: float = 0.5, context_px: int = 16, max_band_lines: int = 8192) -> None:
        self.threshold = float(threshold)
        self.context_px = int(context_px)
        self.max_band_lines = int(max_band_lines)
        self._reset()

    def _reset(self) -> None:
        self._first = 0  # web line of band row 0
        self._mask: np.ndarray | None = None  # (n, W) bool
        self._prob: np.ndarray | None = None  # (n, W) float32
        self._image: np.ndarray | None = None  # (n, W) uint8 or None

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
            Closed components in order of their first pixel (top, then left).
        """
        mask = strip.prob >= self.threshold
        if self._mask is None:
            self._first = strip.first_line
            self._mask, self._prob = mask, strip.prob
            self._image = image
        else:
            expected = self._first + self._mask.shape[0]
            if strip.first_line != expected:
                raise ValueError(f"strip starts at line {strip.first_line}, expected {expected} (flush between segments)")
            self._mask = np.concatenate([self._mask, mask])
            self._prob = np.concatenate([self._prob, strip.prob])
            if image is not None and self._image is not None:
                self._image = np.concatenate([self._image, image])
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
        if not mask.any():
            self._trim(n)
            return []
        count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.view(np.uint8), connectivity=8, ltype=cv2.CV_32S)
        blobs: list[Blob] = []
        open_top = n
        for label in range(1, count):
            x0, y0, w, h = (int(v) for v in stats[label, :4])
            touches_end = y0 + h >= n
            if touches_end and not final:
                open_top = min(open_top, y0)
                continue
            own = labels[y0:y0 + h, x0:x0 + w] == label
            blobs.append(self._blob(x0, y0, w, h, own, truncated=touches_end))
            mask[y0:y0 + h, x0:x0 + w][own] = False
        self._trim(open_top)
        return blobs

    def _blob(self, x0: int, y0: int, w: int, h: int, own: np.ndarray, *, truncated: bool) -> Blob:
        image, origin = None, (0, 0)
        if self._image is not None:
            c = self.context_px
            iy0, ix0 = max(0, y0 - c), max(0, x0 - c)
            iy1, ix1 = min(self._image.shape[0], y0 + h + c), min(self._image.shape[1], x0 + w + c)
            image = self._image[iy0:iy1, ix0:ix1].copy()
            origin = (ix0, self._first + iy0)
        top = self._first + y0
        return Blob(
            bbox_px=(x0, top, x0 + w, top + h),
            mask=own,
            prob=self._prob[y0:y0 + h, x0:x0 + w].copy(),
            image=image,
            image_origin=origin,
            truncated=truncated,
        )

    def _trim(self, open_top: int) -> None:
        """Drop band rows before ``open_top - context_px`` (all closed components are erased)."""
        drop = max(0, open_top - self.context_px)
        if drop:
            self._mask = self._mask[drop:]
            self._prob = self._prob[drop:]
            if self._image is not None:
                self._image = self._image[drop:]
            self._first += drop
