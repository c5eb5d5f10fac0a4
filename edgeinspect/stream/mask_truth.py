"""True defects from the truth masks frames carry (``replay:PATH`` with masks), for ``truth.jsonl``.

The sim knows its defects; a replayed folder only has a mask per image. This groups the true mask
of the replayed web into defects as the frames pass: one defect per 8-connected component of the
web's mask, merged across frames and image boundaries (a defect on two consecutive AITEX strips
is one), with its exact pixels. It is the run's own :class:`~edgeinspect.stream.tracker.DefectTracker`
on the mask (threshold 0.5, no merge gap, no halo), so truth and records are grouped alike.

A true defect is ``inside`` when the inspected lines hold it whole: not cut by the end of a segment
(the run's end, a gap of dropped frames, the band limit) nor by its start after a gap. A frame
without a mask (an image of the folder has none) leaves the web's truth incomplete: then there is
no truth at all (:meth:`MaskTruth.records` is None), rather than a truth that misses defects.

Example:
    >>> truth = MaskTruth(area)
    >>> truth.add(frame.first_line, frame.truth_mask)    # each inspected frame, in order
    >>> truth.end_segment()                              # at a gap and at the end
    >>> truth.records()                                  # list[TruthDefect] | None
"""

from __future__ import annotations

import numpy as np

from edgeinspect.stream.area import AreaEstimator
from edgeinspect.stream.records import Blob, ProbStrip, TruthDefect
from edgeinspect.stream.tracker import DefectTracker


class MaskTruth:
    """Frames' true masks in, one :class:`TruthDefect` per connected true defect out.

    Args:
        area: the run's area estimator (the areas of the true defects, mm²).
        max_band_lines: a true defect longer than this is cut (and not ``inside``).
    """

    def __init__(self, area: AreaEstimator, *, max_band_lines: int = 8192) -> None:
        self.area = area
        self._tracker = DefectTracker(threshold=0.5, context_px=0, max_band_lines=max_band_lines, merge_gap_px=0)
        self._records: list[TruthDefect] = []
        self._run_first: int | None = None  # the web's first inspected line: a defect touching it is whole
        self._segment_first: int | None = None
        self._next_line: int | None = None
        self.frames_with_mask = 0
        self.frames_without_mask = 0

    def add(self, first_line: int, mask: np.ndarray | None) -> None:
        """The true mask of the frame starting at web line ``first_line``: ``(H, W)`` bool, or None.

        Frames come in web order; one that does not follow the last starts a new segment.
        """
        if mask is None:
            self.frames_without_mask += 1
            return
        self.frames_with_mask += 1
        if self.frames_without_mask:
            return  # the truth is incomplete already: records() is None
        if self._next_line is not None and first_line != self._next_line:
            self.end_segment()
        if self._segment_first is None:
            self._segment_first = first_line
            if self._run_first is None:
                self._run_first = first_line
        self._next_line = first_line + mask.shape[0]
        self._keep(self._tracker.push(ProbStrip(first_line=first_line, prob=mask.astype(np.float32))))

    def end_segment(self) -> None:
        """The inspected lines stop here (a gap or the end): the defects left are closed, cut ones not inside."""
        if self._segment_first is not None:
            self._keep(self._tracker.flush())
        self._segment_first = self._next_line = None

    def records(self) -> list[TruthDefect] | None:
        """The true defects found so far (call :meth:`end_segment` first), in order of their first
        line; None when no frame had a mask or some frame had none (the truth is not known)."""
        if not self.frames_with_mask or self.frames_without_mask:
            return None
        return sorted(self._records, key=lambda t: (t.bbox_px[1], t.bbox_px[0], t.id))

    def _keep(self, blobs: list[Blob]) -> None:
        for blob in blobs:
            y0 = blob.bbox_px[1]
            cut_at_start = y0 == self._segment_first and self._segment_first != self._run_first
            self._records.append(self.area.truth(len(self._records) + 1, None, blob.bbox_px, mask=blob.mask,
                                                 inside=not (blob.truncated or cut_at_start)))
