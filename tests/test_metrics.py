"""Metrics against hand-computed confusion matrices, the empty-class convention and defect matching."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edgeinspect.metrics import (
    DefectSummary,
    MaskEvaluator,
    average_precision,
    confusion_matrix,
    evaluate_masks,
    match_defects,
    roc_auc,
    scores_from_confusion,
    segmentation_scores,
)


def mask(rows: list[str]) -> np.ndarray:
    """Mask from strings: '#' = defect, '.' = background."""
    return np.array([[c == "#" for c in row] for row in rows], dtype=bool)


def box(shape: tuple[int, int], *boxes: tuple[int, int, int, int]) -> np.ndarray:
    """bool mask with filled (x0, y0, x1, y1) boxes, x1/y1 exclusive."""
    out = np.zeros(shape, bool)
    for x0, y0, x1, y1 in boxes:
        out[y0:y1, x0:x1] = True
    return out


# --- pixel metrics -------------------------------------------------------------------------------

TRUTH = mask(["..##", "..##", "...."])
PRED = mask(["...#", "..##", "#..."])
# by hand: TP = 3 (0,3)(1,2)(1,3); FN = 1 (0,2); FP = 1 (2,0); TN = 12 - 5 = 7


def test_confusion_matrix_by_hand() -> None:
    assert confusion_matrix(PRED, TRUTH).tolist() == [[7, 1], [1, 3]]
    assert confusion_matrix(PRED, TRUTH).dtype == np.int64
    assert confusion_matrix(PRED.astype(np.uint8) * 255, TRUTH).tolist() == [[7, 1], [1, 3]]
    assert confusion_matrix(PRED.astype(np.float32) * 0.7, TRUTH).tolist() == [[7, 1], [1, 3]]


def test_scores_by_hand() -> None:
    s = scores_from_confusion(np.array([[7, 1], [1, 3]]))
    assert s["pa_background"] == pytest.approx(7 / 8)
    assert s["pa_defect"] == pytest.approx(3 / 4)
    assert s["mPA"] == pytest.approx((7 / 8 + 3 / 4) / 2)
    assert s["iou_background"] == pytest.approx(7 / 9)  # 7 / (8 + 8 - 7)
    assert s["iou"] == pytest.approx(3 / 5)  # 3 / (4 + 4 - 3)
    assert s["mIoU"] == pytest.approx((7 / 9 + 3 / 5) / 2)
    assert s["dice"] == pytest.approx(6 / 8)
    assert s["pixel_acc"] == pytest.approx(10 / 12)


def test_empty_prediction_on_defect_free_image_is_perfect() -> None:
    empty = np.zeros((3, 4), bool)
    s = scores_from_confusion(confusion_matrix(empty, empty))
    assert s == {"mPA": 1.0, "mIoU": 1.0, "dice": 1.0, "iou": 1.0, "pixel_acc": 1.0,
                 "pa_background": 1.0, "pa_defect": 1.0, "iou_background": 1.0}


def test_false_alarm_on_defect_free_image_scores_zero_for_defect() -> None:
    truth = np.zeros((3, 4), bool)
    pred = mask(["#...", "....", "...."])
    s = scores_from_confusion(confusion_matrix(pred, truth))  # [[11, 1], [0, 0]]
    assert s["pa_defect"] == 0.0 and s["iou"] == 0.0 and s["dice"] == 0.0
    assert s["pa_background"] == pytest.approx(11 / 12)
    assert s["mPA"] == pytest.approx(11 / 24)
    assert s["mIoU"] == pytest.approx(11 / 24)


def test_missed_defect_scores_zero_for_defect() -> None:
    truth = mask(["#...", "....", "...."])
    s = scores_from_confusion(confusion_matrix(np.zeros((3, 4), bool), truth))  # [[11, 0], [1, 0]]
    assert s["pa_defect"] == 0.0 and s["iou"] == 0.0 and s["dice"] == 0.0
    assert s["pa_background"] == 1.0
    assert s["mIoU"] == pytest.approx((11 / 12 + 0) / 2)


def test_all_defect_image_has_no_background_and_scores_one_for_it() -> None:
    full = np.ones((2, 2), bool)
    s = scores_from_confusion(confusion_matrix(full, full))
    assert s["pa_background"] == 1.0 and s["iou_background"] == 1.0 and s["mIoU"] == 1.0


def test_set_scores_accumulate_one_confusion_matrix_and_count_miou80() -> None:
    empty = np.zeros((3, 4), bool)
    pairs = [
        (PRED, TRUTH),  # [[7,1],[1,3]], per-image mIoU (7/9 + 3/5)/2 = 0.6889
        (empty, empty),  # [[12,0],[0,0]], per-image mIoU 1.0
        (TRUTH, TRUTH),  # [[8,0],[0,4]], per-image mIoU 1.0
    ]
    s = segmentation_scores(pairs)
    # summed: TN 27, FP 1, FN 1, TP 7
    assert s["images"] == 3
    assert s["mPA"] == pytest.approx((27 / 28 + 7 / 8) / 2)
    assert s["mIoU"] == pytest.approx((27 / 29 + 7 / 9) / 2)
    assert s["dice"] == pytest.approx(14 / 16)
    assert s["iou"] == pytest.approx(7 / 9)
    assert s["pixel_acc"] == pytest.approx(34 / 36)
    assert s["mIoU80"] == pytest.approx(2 / 3)


def test_defect_free_set_with_clean_prediction_scores_one() -> None:
    empty = np.zeros((3, 4), bool)
    report = evaluate_masks([(empty, empty)] * 3)
    assert (report.mPA, report.mIoU, report.mIoU80, report.dice, report.iou) == (1.0, 1.0, 1.0, 1.0, 1.0)
    assert report.defects == DefectSummary(truth=0, found=0, predicted=0, false=0, within_tol=0, relative_errors=())
    assert report.defects.area_within_tol == 1.0 and report.defects.recall == 1.0
    assert math.isnan(report.image_ap) and math.isnan(report.image_auc)


def test_probability_predictions_threshold_at_half() -> None:
    prob = np.where(TRUTH, 0.5, 0.49).astype(np.float32)
    assert evaluate_masks([(prob, TRUTH)]).mIoU == 1.0
    assert evaluate_masks([(prob, TRUTH)], threshold=0.6).iou == 0.0


def test_shape_mismatch_and_empty_input_raise() -> None:
    with pytest.raises(ValueError, match="shape"):
        confusion_matrix(np.zeros((2, 2), bool), np.zeros((2, 3), bool))
    with pytest.raises(ValueError, match="no images"):
        evaluate_masks([])


# --- defect matching -----------------------------------------------------------------------------

SHAPE = (40, 60)


def test_exact_defect_found_with_zero_area_error() -> None:
    truth = box(SHAPE, (10, 10, 20, 20))
    m = match_defects(truth, truth)
    assert m.truth == 1 and m.found.tolist() == [True] and m.within_tolerance.tolist() == [True]
    assert m.truth_areas_px.tolist() == [100] and m.estimated_areas_px.tolist() == [100.0]
    assert (m.predicted, m.false) == (1, 0)


def test_split_defect_pieces_add_up() -> None:
    truth = box(SHAPE, (10, 10, 20, 20))  # 100 px
    pred = box(SHAPE, (10, 10, 20, 14), (10, 16, 20, 20))  # two pieces of 40 px, 80 % covered
    m = match_defects(pred, truth)
    assert m.cover.tolist() == [0.8] and m.found.tolist() == [True]
    assert m.estimated_areas_px.tolist() == [80.0]
    assert m.relative_errors.tolist() == pytest.approx([-0.2])
    assert m.within_tolerance.tolist() == [True]  # |−20 %| <= 20 % (inclusive)
    assert (m.predicted, m.false) == (2, 0)


def test_merged_defect_shares_the_blob_by_overlap() -> None:
    truth = box(SHAPE, (10, 10, 20, 20), (22, 10, 27, 20))  # 100 px and 50 px, 2 px apart
    pred = box(SHAPE, (10, 10, 27, 20))  # one blob of 170 px: 100 + 50 overlap + 20 px bridge
    m = match_defects(pred, truth)
    assert m.truth_areas_px.tolist() == [100, 50]
    # shares: 170 * 100/150 and 170 * 50/150
    assert m.estimated_areas_px.tolist() == pytest.approx([170 * 2 / 3, 170 / 3])
    assert m.relative_errors.tolist() == pytest.approx([0.1333333, 0.1333333])
    assert m.found.tolist() == [True, True] and m.within_tolerance.tolist() == [True, True]
    assert (m.predicted, m.false) == (1, 0)


def test_false_positive_counts_and_does_not_touch_areas() -> None:
    truth = box(SHAPE, (10, 10, 20, 20))
    pred = box(SHAPE, (10, 10, 20, 20), (40, 30, 45, 35))
    m = match_defects(pred, truth)
    assert (m.predicted, m.false) == (2, 1)
    assert m.estimated_areas_px.tolist() == [100.0]


def test_area_off_by_ten_percent_is_within_and_thirty_percent_is_not() -> None:
    truth = box(SHAPE, (10, 10, 20, 20))  # 100 px
    plus10 = box(SHAPE, (10, 10, 20, 21))  # 110 px
    plus30 = box(SHAPE, (10, 10, 20, 23))  # 130 px
    minus30 = box(SHAPE, (10, 10, 17, 20))  # 70 px, 70 % covered: found, area out
    assert match_defects(plus10, truth).within_tolerance.tolist() == [True]
    assert match_defects(plus10, truth).relative_errors.tolist() == pytest.approx([0.1])
    m30 = match_defects(plus30, truth)
    assert m30.found.tolist() == [True] and m30.within_tolerance.tolist() == [False]
    assert m30.relative_errors.tolist() == pytest.approx([0.3])
    m_30 = match_defects(minus30, truth)
    assert m_30.found.tolist() == [True] and m_30.within_tolerance.tolist() == [False]
    assert m_30.relative_errors.tolist() == pytest.approx([-0.3])
    assert match_defects(plus30, truth, tolerance=0.3).within_tolerance.tolist() == [True]


def test_missed_and_barely_touched_defects_are_not_found() -> None:
    truth = box(SHAPE, (10, 10, 20, 20), (40, 10, 50, 20))
    pred = box(SHAPE, (10, 10, 20, 14))  # 40 % of the first, nothing of the second
    m = match_defects(pred, truth)
    assert m.cover.tolist() == [0.4, 0.0]
    assert m.found.tolist() == [False, False]
    assert m.relative_errors.tolist() == pytest.approx([-0.6, -1.0])
    assert match_defects(pred, truth, min_cover=0.4).found.tolist() == [True, False]


def test_eight_connectivity_joins_diagonal_pixels() -> None:
    truth = mask(["#...", ".#..", "..#.", "...."])
    m = match_defects(truth, truth)
    assert m.truth == 1 and m.truth_areas_px.tolist() == [3]


def test_min_area_ignores_tiny_truth_and_tiny_false_components() -> None:
    truth = box(SHAPE, (10, 10, 20, 20), (40, 30, 42, 32))  # 100 px and a 4 px speck
    pred = box(SHAPE, (10, 10, 20, 20), (40, 30, 42, 32), (50, 5, 52, 7), (30, 30, 35, 35))
    m = match_defects(pred, truth, min_area_px=10)
    assert m.truth_areas_px.tolist() == [100]
    # counted: the 100 px match and the 25 px false blob; the speck match and the 4 px false speck are ignored
    assert (m.predicted, m.false) == (2, 1)
    m0 = match_defects(pred, truth)
    assert m0.truth == 2 and (m0.predicted, m0.false) == (4, 2)


def test_set_report_sums_defects_and_json_has_the_keys() -> None:
    truth = box(SHAPE, (10, 10, 20, 20))
    pairs = [
        (box(SHAPE, (10, 10, 20, 21)), truth),  # found, +10 %
        (box(SHAPE, (10, 10, 20, 23), (40, 30, 45, 35)), truth),  # found, +30 %, one false
        (np.zeros(SHAPE, bool), truth),  # missed
        (np.zeros(SHAPE, bool), np.zeros(SHAPE, bool)),  # clean
    ]
    report = evaluate_masks(pairs)
    d = report.defects
    assert (d.truth, d.found, d.predicted, d.false, d.within_tol) == (3, 2, 3, 1, 1)
    assert d.recall == pytest.approx(2 / 3) and d.precision == pytest.approx(2 / 3)
    assert d.area_within_tol == pytest.approx(1 / 3)
    assert list(d.relative_errors) == pytest.approx([0.1, 0.3, -1.0])
    j = report.to_json()
    for key in ("mPA", "mIoU", "mIoU80", "dice", "iou", "pixel_acc"):
        assert isinstance(j[key], float) and 0.0 <= j[key] <= 1.0
    assert {"truth", "found", "false", "area_within_tol"} <= set(j["defects"])
    assert all(isinstance(j["defects"][k], int) for k in ("truth", "found", "false"))
    assert j["defects"]["area_error"]["abs_p50"] == pytest.approx(0.3)
    assert j["defects"]["area_error"]["abs_max"] == pytest.approx(1.0)
    assert j["images"] == 4
    # image level: scores 1, 1, 0, 0 for labels T, T, T, F
    assert j["image_ap"] == pytest.approx(2 / 3 * 1 + 1 / 3 * 3 / 4) and j["image_auc"] == pytest.approx(5 / 6)
    assert "relative_errors" not in j["defects"] and "per_image_miou" in report.to_json(lists=True)


def test_evaluator_matches_one_shot_evaluation() -> None:
    truth = box(SHAPE, (10, 10, 20, 20))
    pairs = [(box(SHAPE, (10, 10, 20, 21)), truth), (np.zeros(SHAPE, bool), truth)]
    evaluator = MaskEvaluator()
    for pred, t in pairs:
        evaluator.update(pred, t)
    a, b = evaluator.report().to_json(lists=True), evaluate_masks(pairs).to_json(lists=True)
    assert a == b


# --- image level ---------------------------------------------------------------------------------


def test_average_precision_and_auc_by_hand() -> None:
    scores, labels = [0.9, 0.8, 0.7, 0.6], [True, False, True, False]
    assert average_precision(scores, labels) == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)
    assert roc_auc(scores, labels) == pytest.approx(3 / 4)
    assert average_precision([0.5, 0.5], [True, False]) == pytest.approx(0.5)  # tie: one threshold
    assert roc_auc([0.5, 0.5], [True, False]) == pytest.approx(0.5)
    assert math.isnan(average_precision([0.1, 0.2], [False, False]))
    assert math.isnan(roc_auc([0.1, 0.2], [True, True]))


def test_average_precision_and_auc_match_scikit_learn() -> None:
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 6, 80) / 5  # many ties
    labels = rng.random(80) < 0.35
    assert average_precision(scores, labels) == pytest.approx(sklearn_metrics.average_precision_score(labels, scores))
    assert roc_auc(scores, labels) == pytest.approx(sklearn_metrics.roc_auc_score(labels, scores))
