"""DefectTracker: one record per physical defect, closed only once the web has moved past it."""

from __future__ import annotations

import numpy as np

from edgeinspect.stream.records import ProbStrip
from edgeinspect.stream.tracker import DefectTracker


def strips_of(prob: np.ndarray, lines_per_strip: int, first_line: int = 0):
    for start in range(0, prob.shape[0], lines_per_strip):
        yield ProbStrip(first_line=first_line + start, prob=prob[start:start + lines_per_strip])


def test_defect_straddling_strips_is_emitted_once_with_its_full_extent():
    prob = np.zeros((300, 80), np.float32)
    prob[90:170, 30:35] = 0.9   # a crack along the web over strips 1..3 (strip = 50 lines)
    prob[120, 35:60] = 0.8      # a branch joined to it
    prob[10:14, 70:74] = 0.7    # a small spot in strip 0
    tracker = DefectTracker(threshold=0.5, context_px=4)
    emitted_at = []
    blobs = []
    for strip in strips_of(prob, 50, first_line=5000):
        new = tracker.push(strip)
        emitted_at += [strip.first_line] * len(new)
        blobs += new
    blobs += tracker.flush()
    assert len(blobs) == 2
    spot, crack = blobs
    assert spot.bbox_px == (70, 5010, 74, 5014) and spot.area_px == 16
    assert crack.bbox_px == (30, 5090, 60, 5170)
    assert crack.area_px == 80 * 5 + 25
    assert not crack.truncated
    # the crack ends at line 5169 (strip 3, lines 5150..5199): closed when strip 3 arrives, not before
    assert emitted_at == [5000, 5150]
    np.testing.assert_allclose(crack.prob[crack.mask].max(), 0.9)


def test_defect_touching_the_last_line_waits_for_the_next_strip():
    tracker = DefectTracker()
    prob = np.zeros((20, 10), np.float32)
    prob[15:20, 2:4] = 1.0
    assert tracker.push(ProbStrip(0, prob)) == []  # touches the band's last line: still open
    nxt = np.zeros((20, 10), np.float32)
    nxt[0:3, 3:5] = 1.0  # continues diagonally-adjacent
    blobs = tracker.push(ProbStrip(20, nxt))
    assert len(blobs) == 1 and blobs[0].bbox_px == (2, 15, 5, 23) and blobs[0].area_px == 10 + 6


def test_flush_marks_a_defect_cut_by_the_segment_end_as_truncated():
    tracker = DefectTracker()
    prob = np.zeros((30, 10), np.float32)
    prob[25:30, 0:2] = 1.0
    prob[5:8, 5:8] = 1.0
    blobs = tracker.push(ProbStrip(0, prob))
    assert [b.truncated for b in blobs] == [False]
    cut = tracker.flush()
    assert len(cut) == 1 and cut[0].truncated and cut[0].bbox_px == (0, 25, 2, 30)
    assert tracker.band_lines == 0


def test_band_stays_short_without_open_defects_and_is_bounded_with_them():
    tracker = DefectTracker(context_px=8, max_band_lines=128)
    for k in range(10):
        tracker.push(ProbStrip(k * 50, np.zeros((50, 16), np.float32)))
    assert tracker.band_lines == 8  # only the context margin is kept
    long_scratch = np.zeros((50, 16), np.float32)
    long_scratch[:, 3] = 1.0
    parts = []
    for k in range(10, 20):
        parts += tracker.push(ProbStrip(k * 50, long_scratch))
        assert tracker.band_lines < 128 + 50
    parts += tracker.flush()
    assert len(parts) >= 2 and all(p.truncated for p in parts)
    assert sum(p.area_px for p in parts) == 500  # every pixel in exactly one part


def test_overlay_crop_has_context_around_the_defect():
    tracker = DefectTracker(context_px=5)
    prob = np.zeros((40, 40), np.float32)
    prob[20:24, 10:14] = 1.0
    image = np.arange(40 * 40, dtype=np.uint32).reshape(40, 40).astype(np.uint8)
    (blob,) = tracker.push(ProbStrip(100, prob), image)
    assert blob.image_origin == (5, 115)
    assert blob.image.shape == (4 + 10, 4 + 10)
    np.testing.assert_array_equal(blob.image, image[15:29, 5:19])
