"""True defects from the truth masks frames carry (``replay:PATH`` with masks), for ``truth.jsonl``.

The sim knows its defects; a replayed folder only has a mask per image. This groups the true mask
of the replayed web into defects as the frames pass: one defect per 8-connected component of the
web's mask, merged across frames and image boundaries (a defect on two consecutive AITEX strips
is one), with its exact pixels. It is the run's own :class:`~edgeinspect.stream.tracker.DefectTracker`
on the mask (threshold 0.5, no merge gap, no halo), so truth and records are grouped alike.

A true defect is ``inside`` (its area scored) when the inspected lines surely hold it whole: it
touches neither the first nor the last line of a segment (a gap of dropped frames, the start and
end of the run) and was not cut by the band limit. The replayed images may be a window of a longer
surface, so a defect on their first or last line may go on beyond it: it is not scored (the sim,
which knows its web, can tell). A frame
without a mask (an image of the folder has none) leaves the web's truth incomplete: then there is
no truth at all (:meth:`MaskTruth.records` is None), rather than a truth that misses defects.

Example:
    >>> truth = MaskTruth(area)
    >>> truth.add(frame.first_line, frame.truth_mask)    # each inspected frame, in order
    >>> truth.end_segment()                              # at a gap and at the end
    >>> truth.records()                                  # list[TruthDefect] | None
"""

from __future__ import annotations

import dataclasses

import numpy as np

from edgeinspect.stream.area import AreaEstimator
from edgeinspect.stream.records import Blob, ProbStrip, TruthDefect
from edgeinspect.stream.tracker import DefectTracker


class MaskTruth:
    """Frames' true masks in, one :class:`TruthDefect` per connected true defect out.

    Args:
        area: the run's area estimator (the areas of the true defects, mm²).
        max_band_lines: a true defect longer than this is cut in pieces (none of them ``inside``).
    """

    def __init__(self, area: AreaEstimator, *, max_band_lines: int = 8192) -> None:
        self.area = area
        self._tracker = DefectTracker(threshold=0.5, context_px=0, max_band_lines=max_band_lines, merge_gap_px=0)
        self._found: list[TruthDefect] = []  # pixels packed (~190 characters each), numbered by records()
        self._segment_first: int | None = None
        self._next_line: int | None = None
        self._band_cut: int | None = None  # line where the band limit last cut a defect
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
        self._next_line = first_line + mask.shape[0]
        # the mask's bytes as 0/1 "probabilities" (threshold 0.5): no float copy of the band
        blobs = self._tracker.push(ProbStrip(first_line=first_line, prob=np.ascontiguousarray(mask).view(np.uint8)))
        self._keep(blobs)
        if any(blob.truncated for blob in blobs):  # the band limit cut a defect: its rest starts on the next line
            self._band_cut = self._tracker.band_first_line

    def end_segment(self) -> None:
        """The inspected lines stop here (a gap or the end): the defects left are closed; those on
        the last line are cut."""
        if self._segment_first is not None:
            self._keep(self._tracker.flush())
        self._segment_first = self._next_line = None

    def records(self) -> list[TruthDefect] | None:
        """The true defects found so far (call :meth:`end_segment` first), in order of their first
        line and numbered so; None when no frame had a mask or some frame had none (the truth is
        not known)."""
        if not self.frames_with_mask or self.frames_without_mask:
            return None
        found = sorted(self._found, key=lambda t: (t.bbox_px[1], t.bbox_px[0]))
        return [dataclasses.replace(truth, id=number) for number, truth in enumerate(found, start=1)]

    def _keep(self, blobs: list[Blob]) -> None:
        for blob in blobs:
            y0 = blob.bbox_px[1]
            cut_at_start = y0 in (self._segment_first, self._band_cut)
            self._found.append(self.area.truth(0, None, blob.bbox_px, mask=blob.mask,
                                               inside=not (cut_at_start or blob.truncated)))
