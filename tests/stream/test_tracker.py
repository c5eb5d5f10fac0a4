"""DefectTracker: one record per physical defect, closed only once the web has moved past it."""

from __future__ import annotations

import numpy as np
import pytest

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


def run_tracker(prob: np.ndarray, lines_per_strip: int, **options) -> list:
    tracker = DefectTracker(threshold=0.5, context_px=4, **options)
    blobs = []
    for strip in strips_of(prob, lines_per_strip):
        blobs += tracker.push(strip)
    return blobs + tracker.flush()


def test_fragments_two_px_apart_are_one_record_with_the_sum_of_their_areas():
    prob = np.zeros((60, 80), np.float32)
    prob[10:30, 20:22] = 0.9   # a thin crack segmented in two pieces: 20×2 px ...
    prob[32:50, 20:22] = 0.8   # ... then 18×2 px after a 2-line gap (lines 30, 31)
    (crack,) = run_tracker(prob, 60, merge_gap_px=2)
    assert crack.area_px == 40 + 36  # undilated pixels only
    assert crack.bbox_px == (20, 10, 22, 50)
    assert not crack.mask[20:22].any()  # the gap lines are not counted as defect
    np.testing.assert_allclose(crack.prob[crack.mask].min(), 0.8)


def test_fragments_ten_px_apart_stay_two_records():
    prob = np.zeros((60, 80), np.float32)
    prob[10:30, 20:22] = 0.9
    prob[40:50, 20:22] = 0.9   # 10 lines below the first piece
    prob[10:20, 32:34] = 0.9   # 10 columns right of it
    blobs = run_tracker(prob, 60, merge_gap_px=2)
    assert sorted(b.area_px for b in blobs) == [20, 20, 40]


@pytest.mark.parametrize("gap, merged", [(0, False), (1, False), (2, True), (3, True)])
def test_merge_gap_counts_background_pixels_along_rows_and_diagonals(gap, merged):
    prob = np.zeros((40, 40), np.float32)
    prob[10, 10] = prob[10, 13] = 0.9     # 2 background pixels between them along the row
    prob[30, 10] = prob[33, 13] = 0.9     # 2 background pixels between them along the diagonal
    blobs = run_tracker(prob, 40, merge_gap_px=gap)
    assert len(blobs) == (2 if merged else 4)
    assert sum(b.area_px for b in blobs) == 4


def test_a_defect_separated_from_a_crack_is_not_counted_in_the_crack_record():
    prob = np.zeros((60, 60), np.float32)
    prob[5:45, 5:7] = 0.9      # a long vertical crack
    prob[44:46, 7:45] = 0.9    # with a foot: its box spans columns 5..44, lines 5..45
    prob[20:24, 30:34] = 0.9   # a spot inside that box, far (> 2 px) from the crack
    crack, spot = sorted(run_tracker(prob, 60, merge_gap_px=2), key=lambda b: -b.area_px)
    assert crack.area_px == 40 * 2 + 2 * 38 and crack.bbox_px == (5, 5, 45, 46)
    assert not crack.mask[15:19, 25:29].any()  # the spot's pixels are in the crack's box, not in its mask
    assert spot.area_px == 16 and spot.bbox_px == (30, 20, 34, 24)


def test_fragments_split_by_a_strip_boundary_are_merged_and_closed_once():
    prob = np.zeros((200, 40), np.float32)
    prob[20:49, 10:12] = 0.9    # strip 0 is lines 0..49: this piece ends 1 line before its end
    prob[51:90, 11:13] = 0.9    # strip 1: the crack goes on after a 2-line gap
    prob[150:152, 30:32] = 0.9  # an unrelated spot in strip 3
    tracker = DefectTracker(threshold=0.5, merge_gap_px=2)
    emitted = []
    for strip in strips_of(prob, 50):
        emitted += [(strip.first_line, b) for b in tracker.push(strip)]
    emitted += [(None, b) for b in tracker.flush()]
    assert [(at, b.bbox_px, b.area_px) for at, b in emitted] == [
        (50, (10, 20, 13, 90), 29 * 2 + 39 * 2),   # held open over the strip boundary, closed with strip 1
        (150, (30, 150, 32, 152), 4),
    ]
    assert not any(b.truncated for _, b in emitted)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("gap", [0, 2, 3])
def test_groups_boxes_and_order_are_those_of_labelling_the_whole_band(seed, gap):
    # The tracker labels only the window holding mask pixels; the reference labels the whole band:
    # same groups, same boxes and pixel counts, emitted in the reference's label order. Specks sit at
    # odd rows and columns, on the band's edges and clustered away from its corner.
    import cv2

    rng = np.random.default_rng(seed)
    height, width = 157, 301
    mask = np.zeros((height, width), np.uint8)
    for _ in range(40):
        y, x = int(rng.integers(37, height)), int(rng.integers(51, width))
        mask[y:y + int(rng.integers(1, 4)), x:x + int(rng.integers(1, 5))] = 1
    mask[height - 1, width - 3:] = 1
    grouping = mask if gap == 0 else cv2.dilate(mask, np.ones((gap + 1, gap + 1), np.uint8), anchor=(0, 0))
    count, labels = cv2.connectedComponents(grouping, connectivity=8, ltype=cv2.CV_32S)
    expected = []
    for label in range(1, count):
        ys, xs = np.nonzero((labels == label) & (mask > 0))
        expected.append(((int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1), int(ys.size)))
    tracker = DefectTracker(threshold=0.5, context_px=4, merge_gap_px=gap)
    blobs = tracker.push(ProbStrip(first_line=0, prob=mask.astype(np.float32)))
    blobs += tracker.flush()
    assert [(b.bbox_px, b.area_px) for b in blobs] == expected


def test_merge_gap_zero_is_plain_eight_connectivity():
    prob = np.zeros((20, 20), np.float32)
    prob[5, 5] = prob[6, 6] = prob[5, 7] = 0.9  # (6, 6) touches both diagonally: one component
    prob[5, 9] = 0.9                             # one background pixel right of (5, 7): its own
    blobs = run_tracker(prob, 20, merge_gap_px=0)
    assert sorted(b.area_px for b in blobs) == [1, 3]


def test_negative_merge_gap_is_refused():
    with pytest.raises(ValueError, match="merge_gap_px"):
        DefectTracker(merge_gap_px=-1)


def blurred_line(width_px: float, sigma_px: float, shape=(120, 60), x_centre=30.0) -> np.ndarray:
    """A defect band ``width_px`` wide along the web, as a network draws it: its exact 0/1 profile
    blurred by a Gaussian of ``sigma_px`` (erf), lines 20..99."""
    from math import erf, sqrt

    x = np.arange(shape[1]) + 0.5 - x_centre
    half = width_px / 2
    profile = np.array([0.5 * (erf((v + half) / (sigma_px * sqrt(2))) - erf((v - half) / (sigma_px * sqrt(2))))
                        for v in x], np.float32)
    prob = np.zeros(shape, np.float32)
    prob[20:100] = profile
    return prob


@pytest.mark.parametrize("width_px, sigma_px, x_centre", [(1.5, 1.5, 30.5), (12.0, 2.0, 30.0)])
def test_halo_mass_measures_a_blurred_defect_where_the_threshold_does_not(width_px, sigma_px, x_centre):
    prob = blurred_line(width_px, sigma_px, x_centre=x_centre)
    true_area = width_px * 80
    tracker = DefectTracker(threshold=0.35, halo_px=4)
    [blob] = tracker.push(ProbStrip(first_line=0, prob=prob)) + tracker.flush()
    mass = float(blob.halo_prob.sum())
    assert abs(mass - true_area) / true_area < 0.05
    # the threshold cuts the outline at one level: a thin scratch comes out too small, a wide
    # blob too large (the bias a mask area carries)
    mask_error = (blob.area_px - true_area) / true_area
    assert (mask_error < -0.2) if width_px < 2 else (mask_error > 0.1)


def test_halo_is_the_same_whichever_way_the_web_is_cut_into_strips():
    prob = blurred_line(6.0, 1.5)
    prob[60:64, 10:14] = 0.9   # a second defect 14 px away: its pixels are not in the first one's halo
    whole = DefectTracker(threshold=0.35, halo_px=4)
    reference = whole.push(ProbStrip(first_line=0, prob=prob)) + whole.flush()
    pieces = DefectTracker(threshold=0.35, halo_px=4)
    cut = [b for strip in strips_of(prob, 7) for b in pieces.push(strip)] + pieces.flush()
    assert len(reference) == len(cut) == 2
    for a, b in zip(sorted(reference, key=lambda b: b.bbox_px), sorted(cut, key=lambda b: b.bbox_px)):
        assert a.bbox_px == b.bbox_px and a.halo_origin == b.halo_origin
        np.testing.assert_array_equal(a.halo_prob, b.halo_prob)
    spot = min(cut, key=lambda b: b.bbox_px[0])
    assert spot.bbox_px == (10, 60, 14, 64) and spot.halo_origin == (6, 56)
    assert float(spot.halo_prob.sum()) == pytest.approx(16 * 0.9 + float(prob[56:68, 6:18].sum() - prob[60:64, 10:14].sum()))


def test_halo_wider_than_the_context_is_refused():
    with pytest.raises(ValueError, match="halo_px"):
        DefectTracker(context_px=4, halo_px=5)


def test_two_defects_closed_together_do_not_share_halo_pixels():
    prob = np.zeros((40, 40), np.float32)
    prob[10:14, 10:14] = 0.9          # first defect (closed first: raster order)
    prob[10:14, 17:21] = 0.9          # second, 3 px to the right: halos of 4 px reach each other
    prob[10:14, 14:17] = 0.1          # the gap between them, below the threshold
    tracker = DefectTracker(threshold=0.5, merge_gap_px=0, halo_px=4)
    left, right = tracker.push(ProbStrip(first_line=0, prob=prob)) + tracker.flush()
    # neither halo counts the other's 16 pixels (0.9 each); both count the 0.1 gap between them
    assert float(left.halo_prob.sum()) == pytest.approx(16 * 0.9 + 12 * 0.1)
    assert float(right.halo_prob.sum()) == pytest.approx(16 * 0.9 + 12 * 0.1)


# ------------------------------------------------------------------------------------- hysteresis


def crack_with_a_faint_middle() -> np.ndarray:
    """A crack along the web: sure at both ends (0.9), drawn at 0.35 in the middle, plus a lone faint spot."""
    prob = np.zeros((200, 60), np.float32)
    prob[20:70, 20:22] = 0.9
    prob[70:100, 20:22] = 0.35
    prob[100:150, 20:22] = 0.9
    prob[40:46, 45:51] = 0.4   # faint texture blob: never as sure as a defect
    return prob


def test_hysteresis_keeps_a_crack_with_a_faint_middle_whole_and_drops_a_faint_blob():
    prob = crack_with_a_faint_middle()
    single = DefectTracker(threshold=0.5)
    pieces = [b for s in strips_of(prob, 40) for b in single.push(s)] + single.flush()
    assert sorted(b.bbox_px for b in pieces) == [(20, 20, 22, 70), (20, 100, 22, 150)]  # the crack in two

    low = DefectTracker(threshold=0.3)
    with_faint = [b for s in strips_of(prob, 40) for b in low.push(s)] + low.flush()
    assert len(with_faint) == 2 and low.faint_groups == 0  # whole crack, and the faint blob reported

    tracker = DefectTracker(threshold=0.3, detect_threshold=0.6)
    blobs = [b for s in strips_of(prob, 40) for b in tracker.push(s)] + tracker.flush()
    [crack] = blobs
    assert crack.bbox_px == (20, 20, 22, 150) and crack.area_px == 130 * 2
    assert tracker.faint_groups == 1 and tracker.band_lines == 0   # dropped, and erased like the rest


def test_a_detect_threshold_at_or_below_the_threshold_changes_nothing():
    prob = crack_with_a_faint_middle()
    for detect in (None, 0.3, 0.1):
        tracker = DefectTracker(threshold=0.3, detect_threshold=detect)
        blobs = [b for s in strips_of(prob, 40) for b in tracker.push(s)] + tracker.flush()
        assert tracker.detect_threshold == 0.3
        assert [b.bbox_px for b in blobs] == [(45, 40, 51, 46), (20, 20, 22, 150)]  # the spot closes first


def test_group_peak_and_mean_measured_while_grouping_are_those_of_the_blob_pixels():
    rng = np.random.default_rng(3)
    prob = np.zeros((200, 120), np.float32)
    prob[20:90, 10:14] = rng.uniform(0.3, 0.95, (70, 4))      # a crack over two strips
    prob[120:131, 60:75] = rng.uniform(0.25, 0.7, (11, 15))   # a stain
    tracker = DefectTracker(threshold=0.25, detect_threshold=0.6, halo_px=2)
    blobs = [b for s in strips_of(prob, 64) for b in tracker.push(s)] + tracker.flush()
    assert len(blobs) == 2
    for blob in blobs:
        pixels = blob.prob[blob.mask].astype(np.float64)
        assert blob.max_prob == pixels.max()
        assert blob.mean_prob == pytest.approx(pixels.mean(), rel=1e-12)


def test_a_faint_group_is_erased_once_while_the_band_stays_open():
    prob = np.zeros((100, 60), np.float32)
    prob[10:14, 40:44] = 0.4     # faint: closed by the first strip, below detect_threshold
    prob[30:100, 5:7] = 0.9      # a crack still open at the end of every strip
    tracker = DefectTracker(threshold=0.3, detect_threshold=0.6, context_px=40)
    assert tracker.push(ProbStrip(0, prob[:50])) == [] and tracker.faint_groups == 1
    assert tracker.band_first_line <= 10  # the faint group's lines are still in the band ...
    assert tracker.push(ProbStrip(50, prob[50:])) == [] and tracker.faint_groups == 1  # ... but erased: counted once
    [crack] = tracker.flush()
    assert crack.bbox_px == (5, 30, 7, 100)


def test_a_halo_leaves_out_the_pixels_of_a_faint_neighbour():
    prob = np.zeros((40, 40), np.float32)
    prob[10:20, 10:14] = 0.9     # a defect
    prob[10:20, 17:19] = 0.4     # a faint group 3 px to its right (beyond the 2-px merge gap, inside the halo)
    prob[10:20, 14:17] = 0.1     # background between them, below the threshold
    tracker = DefectTracker(threshold=0.3, detect_threshold=0.6, halo_px=4, context_px=8)
    [blob] = tracker.push(ProbStrip(0, prob)) + tracker.flush()
    assert tracker.faint_groups == 1
    assert float(blob.halo_prob.sum()) == pytest.approx(10 * 4 * 0.9 + 10 * 3 * 0.1)
def test_a_peak_exactly_at_the_detect_threshold_is_reported_as_the_mask_sees_it():
    # float32(0.7) < 0.7 as a Python float: the peak is compared in float32, as the mask's threshold is
    prob = np.zeros((40, 20), np.float32)
    prob[5:9, 5:9] = np.float32(0.7)
    prob[20:24, 5:9] = np.float32(0.69)
    single = DefectTracker(threshold=0.7)
    assert len(single.push(ProbStrip(0, prob)) + single.flush()) == 1 and single.faint_groups == 0
    hysteresis = DefectTracker(threshold=0.5, detect_threshold=0.7)
    [blob] = hysteresis.push(ProbStrip(0, prob)) + hysteresis.flush()
    assert blob.bbox_px == (5, 5, 9, 9) and hysteresis.faint_groups == 1
