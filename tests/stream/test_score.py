"""eval --run scoring: box matching, area shared by shared pixels (else box overlap), ±20 % on significant defects only."""

from __future__ import annotations

import numpy as np
import pytest

from edgeinspect.data.packed_mask import pack_mask
from edgeinspect.stream.score import overlapping_pairs, score_records


def rec(box, area, **extra):
    return {"bbox_px": list(box), "area_mm2": area, **extra}


def test_records_scored_by_box_overlap_and_shared_area():
    truth = [
        rec((0, 0, 10, 10), 1.0),                 # found by one record of 1.1 mm²: within 20 %
        rec((20, 0, 30, 10), 1.0),                # found in two pieces 0.5 + 0.4 = 0.9: within
        rec((40, 0, 50, 10), 1.0),                # missed
        rec((60, 0, 62, 2), 0.04),                # too small to score the area (< 0.25 mm²), found
        rec((80, 0, 90, 10), 1.0, inside=False),  # cut by the run end: found but area not scored
    ]
    found = [
        rec((1, 1, 9, 9), 1.1),
        rec((20, 0, 25, 10), 0.5), rec((25, 0, 30, 10), 0.4),
        rec((60, 0, 61, 1), 0.02),
        rec((80, 5, 90, 10), 0.3),
        rec((200, 0, 210, 10), 0.7),              # false
    ]
    score = score_records(found, truth, significant_area_mm2=0.25)
    assert (score["truth"], score["found"], score["recall"]) == (5, 4, pytest.approx(0.8))
    assert (score["predicted"], score["false"], score["precision"]) == (6, 1, pytest.approx(5 / 6))
    assert score["truth_significant"] == 4 and score["recall_significant"] == pytest.approx(0.75)
    assert score["records_per_found"] == pytest.approx((1 + 2 + 1 + 1) / 4)  # the second in two pieces
    area = score["area"]
    assert (area["scored"], area["within_tol"], area["share_within_tol"]) == (3, 2, pytest.approx(2 / 3))
    assert (area["short"], area["long"]) == (1, 0)  # the missed one is short
    assert area["abs_error_max"] == pytest.approx(1.0)  # the missed one


def test_one_record_over_two_defects_shares_its_area_by_overlap():
    truth = [rec((0, 0, 10, 10), 1.0), rec((10, 0, 20, 10), 1.0)]
    found = [rec((5, 0, 20, 10), 2.1)]  # overlaps 50 px of the first, 100 px of the second
    score = score_records(found, truth, significant_area_mm2=0.0)
    # estimated: 2.1 × 50/150 = 0.7 (−30 %: outside) and 2.1 × 100/150 = 1.4 (+40 %: outside)
    assert score["found"] == 2 and score["area"]["within_tol"] == 0
    assert (score["area"]["short"], score["area"]["long"]) == (1, 1)
    assert score["area"]["abs_error_max"] == pytest.approx(0.4)


def _with_pixels(box, mask, area):
    """A record (or true defect) carrying its pixels, as runs and the sim write them."""
    assert mask.shape == (box[3] - box[1], box[2] - box[0])
    return rec(box, area, mask_b64=pack_mask(mask))


def _ring(size):
    ring = np.zeros((size, size), bool)
    ring[:2], ring[-2:], ring[:, :2], ring[:, -2:] = True, True, True, True
    return ring


def test_a_record_inside_another_defects_box_keeps_its_area_for_the_defect_it_lies_on():
    # a 40 × 40 ring-shaped stain (2 px wide) and, inside its box but off its pixels, a 6 × 6 hole
    ring, hole = _ring(40), np.ones((6, 6), bool)
    truth = [_with_pixels((0, 0, 40, 40), ring, ring.sum() * 0.01), _with_pixels((17, 17, 23, 23), hole, 0.36)]
    found = [_with_pixels((0, 0, 40, 40), ring, ring.sum() * 0.01),    # each measured exactly
             _with_pixels((17, 17, 23, 23), hole, 0.36)]
    score = score_records(found, truth, significant_area_mm2=0.25)
    assert score["area"]["within_tol"] == 2 and score["area"]["abs_error_max"] == pytest.approx(0.0)
    assert score["area"]["shared_by"] == "pixels"
    # the same records without their pixels share by box overlap: the hole's record splits 36/36 px
    # between the ring's box and its own, and the ring's record gives the hole 36/1636 of its area
    boxes_only = score_records([rec(r["bbox_px"], r["area_mm2"]) for r in found], truth, significant_area_mm2=0.25)
    hole_estimate = 0.36 / 2 + ring.sum() * 0.01 * 36 / (1600 + 36)
    assert boxes_only["area"]["shared_by"] == "boxes"
    assert boxes_only["area"]["within_tol"] == 1  # the ring: 3.04 × 1600/1636 + 0.18 = 3.15 of 3.04 mm², +4 %
    assert boxes_only["area"]["abs_error_max"] == pytest.approx(abs(hole_estimate / 0.36 - 1))


def test_a_record_over_two_defects_shares_its_area_by_the_pixels_it_covers_of_each():
    left, right = np.ones((10, 10), bool), np.ones((10, 10), bool)
    truth = [_with_pixels((0, 0, 10, 10), left, 1.0), _with_pixels((12, 0, 22, 10), right, 1.0)]
    covers = np.zeros((10, 22), bool)
    covers[:, 5:10] = True   # 50 px of the left defect
    covers[:, 12:22] = True  # 100 px of the right one
    found = [_with_pixels((0, 0, 22, 10), covers, 2.1)]
    score = score_records(found, truth, significant_area_mm2=0.0)
    # 2.1 × 50/150 = 0.7 (−30 %) and 2.1 × 100/150 = 1.4 (+40 %), as match_defects shares by pixels
    assert (score["area"]["short"], score["area"]["long"]) == (1, 1)
    assert score["area"]["abs_error_max"] == pytest.approx(0.4)


def test_a_record_beside_a_defect_sharing_no_pixel_falls_back_to_box_overlap():
    truth = [_with_pixels((0, 0, 10, 10), np.eye(10, dtype=bool), 0.1 * 10)]
    off_diagonal = np.zeros((10, 10), bool)
    off_diagonal[0, 9] = off_diagonal[9, 0] = True  # inside the box, on no true pixel
    found = [_with_pixels((0, 0, 10, 10), off_diagonal, 0.9)]
    score = score_records(found, truth, significant_area_mm2=0.0)
    assert score["found"] == 1 and score["area"]["within_tol"] == 1  # 0.9 of 1.0: the box shares it whole
    assert score["area"]["abs_error_max"] == pytest.approx(0.1)


def _every_overlap(a, b):
    w = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    h = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    return np.clip(w, 0, None).astype(float) * np.clip(h, 0, None)  # all len(a) × len(b) pairs


@pytest.mark.parametrize("chunk", [1 << 22, 7])  # 7: candidates made a few records at a time
def test_overlapping_pairs_are_every_pair_of_boxes_that_overlap(monkeypatch, chunk):
    import edgeinspect.stream.score as score

    monkeypatch.setattr(score, "_PAIR_CHUNK", chunk)
    rng = np.random.default_rng(3)

    def boxes(n, tallest):
        x0, y0 = rng.integers(-50, 300, n), rng.integers(-500, 3000, n)
        return np.stack([x0, y0, x0 + rng.integers(-2, 40, n), y0 + rng.integers(-2, tallest, n)], axis=1)

    a = np.concatenate([boxes(400, 120), [[0, -10**6, 400, 10**6]]])  # zero/inverted boxes and one very tall
    b = boxes(300, 900)  # b's tall boxes reach far
    ia, ib, area = overlapping_pairs(a, b)
    every = _every_overlap(a, b)
    assert sorted(zip(ia.tolist(), ib.tolist())) == sorted(zip(*(v.tolist() for v in np.nonzero(every))))
    np.testing.assert_array_equal(area, every[ia, ib])
    assert (every[400] > 0).sum() > 200  # the tall box reaches most of b: found through its own height group
    assert list(zip(ib.tolist(), ia.tolist())) == sorted(zip(ib.tolist(), ia.tolist()))  # by record, then truth
    assert all(len(v) == 0 for v in overlapping_pairs(a[:0], b)) and all(len(v) == 0 for v in overlapping_pairs(a, b[:0]))


def test_boxes_as_large_as_the_records_allow_still_match():
    big = rec((0, 0, 2**32, 2**32), 1.0)  # 2**64 px: an int64 product would wrap to 0
    score = score_records([big], [big], significant_area_mm2=0.0)
    assert (score["found"], score["false"], score["area"]["within_tol"]) == (1, 0, 1)
    edge = rec((2**53 - 2, 2**53 - 2, 2**53, 2**53), 1.0)
    assert score_records([edge], [edge], significant_area_mm2=0.0)["found"] == 1


def test_nothing_to_find_and_nothing_found_is_perfect():
    score = score_records([], [], significant_area_mm2=0.25)
    assert score["recall"] == score["precision"] == score["area"]["share_within_tol"] == 1.0
    assert score["records_per_found"] is None  # no defect found: no mean


def test_scores_by_defect_kind_with_signed_median_error():
    truth = [
        rec((0, 0, 10, 10), 1.0, kind="hole"),     # found 1.1: +10 %, within
        rec((20, 0, 30, 10), 1.0, kind="hole"),    # found 1.5: +50 %, outside
        rec((40, 0, 50, 10), 1.0, kind="scratch"), # found 0.3: -70 %
        rec((60, 0, 70, 10), 1.0, kind="scratch"), # missed
    ]
    found = [rec((0, 0, 10, 10), 1.1), rec((20, 0, 30, 10), 1.5), rec((40, 0, 50, 10), 0.3)]
    kinds = score_records(found, truth, significant_area_mm2=0.25)["by_kind"]
    assert kinds["hole"] == {"truth": 2, "found": 2, "recall": 1.0, "records_per_found": 1.0, "scored": 2,
                             "share_within_tol": 0.5, "error_p50": pytest.approx(0.3)}
    assert kinds["scratch"]["recall"] == 0.5 and kinds["scratch"]["share_within_tol"] == 0.0
    assert kinds["scratch"]["error_p50"] == pytest.approx(-0.7)
    assert "by_kind" not in score_records(found, [rec((0, 0, 10, 10), 1.0)], significant_area_mm2=0.25)


def test_area_accuracy_by_size_class_of_four_times_the_significant_area():
    truth = [
        rec((0, 0, 10, 10), 0.5),       # [0.25, 1): found 0.55, +10 %
        rec((20, 0, 30, 10), 0.8),      # [0.25, 1): found 0.4, -50 %
        rec((40, 0, 50, 10), 2.0),      # [1, 4): missed
        rec((60, 0, 70, 10), 20.0),     # [16, inf): found 21, +5 %
        rec((80, 0, 90, 10), 0.1),      # below significant: in no class
    ]
    found = [rec((0, 0, 10, 10), 0.55), rec((20, 0, 30, 10), 0.4), rec((60, 0, 70, 10), 21.0),
             rec((80, 0, 90, 10), 0.1)]
    classes = score_records(found, truth, significant_area_mm2=0.25)["area"]["by_size"]
    assert [(c["min_mm2"], c["max_mm2"], c["scored"]) for c in classes] == [
        (0.25, 1.0, 2), (1.0, 4.0, 1), (4.0, 16.0, 0), (16.0, None, 1)]
    assert classes[0]["share_within_tol"] == 0.5 and classes[0]["error_p50"] == pytest.approx(-0.2)
    assert classes[1]["share_within_tol"] == 0.0 and classes[1]["error_p50"] is None
    assert classes[2]["share_within_tol"] == 1.0 and classes[3]["error_p50"] == pytest.approx(0.05)
    assert "by_size" not in score_records(found, truth, significant_area_mm2=0.0)["area"]


def _run_folder(tmp_path, defects_text: bytes):
    import json

    run = tmp_path / "run"
    run.mkdir()
    (run / "summary.json").write_text(json.dumps({"significant_area_mm2": 0.25, "lines_inspected": 100, "frames_dropped": 0}))
    (run / "truth.jsonl").write_text(json.dumps(rec((0, 0, 10, 10), 1.0)) + "\n")
    (run / "defects.jsonl").write_bytes(defects_text)
    return run


@pytest.mark.parametrize("bad_line, message", [
    (b"{not json", "line 2 is not JSON"),
    (b'{"id": 4}', "line 2 has no 'bbox_px' of 4 numbers (got None)"),
    (b'{"bbox_px": [1, 2], "area_mm2": 1.0}', "line 2 has no 'bbox_px' of 4 numbers (got [1, 2])"),
    (b'{"bbox_px": [0, 0, 5, 5], "area_mm2": "big"}', "line 2 has no numeric 'area_mm2' (got 'big')"),
    (b"[1, 2]", "line 2 is a JSON list, not an object"),
    (b'{"bbox_px": [0, 0, 5, 5], "area_mm2": 1.0, "kind": "\xff"}', "byte {offset} is not UTF-8 text"),  # offset in the file
    (b'{"bbox_px": [0, 0, 5, 5], "area_mm2": 1.0, "mask_b64": 7}', "line 2 has a 'mask_b64' that is not text"),
    (b'{"bbox_px": [0, 0, 5, 5], "area_mm2": 1.0, "mask_b64": "eJwDAAAAAAE="}',  # zlib of no bytes
     "line 2 has a 'mask_b64' that is not its box's packed mask: does not hold the 4 bytes of a 5 × 5 mask"),
    (b'{"bbox_px": [0, 0, 5, 5], "area_mm2": 1.0, "mask_b64": "@@"}',
     "line 2 has a 'mask_b64' that is not its box's packed mask: not base64 zlib data"),
    (b'{"bbox_px": [0, 0, 30000, 30000], "area_mm2": 1.0, "mask_b64": "eJwDAAAAAAE="}',  # would decode to 900 Mpx
     "line 2 has a 'mask_b64' over a box of 900,000,000 px, more than the 67,108,864 px scored by pixels"),
    (b'{"bbox_px": [0, 0, 5, 5], "area_mm2": 1.0, "inside": [1, 2]}', "line 2 has an 'inside' that is not true or false"),
    (b'{"bbox_px": [0, 0, 5, 5], "area_mm2": 1.0, "inside": "no"}', "line 2 has an 'inside' that is not true or false"),
    (b'{"bbox_px": [0, 0, 5, 5], "area_mm2": 1.0, "kind": {"a": 1}}', "line 2 has a 'kind' that is not text"),
    (b"[" * 100_000 + b"]" * 100_000, "line 2 is not JSON"),
])
def test_a_damaged_run_record_is_one_line_naming_the_file_and_line(tmp_path, bad_line, message):
    from edgeinspect.errors import DataError
    from edgeinspect.stream.score import score_run

    good = b'{"bbox_px": [1, 1, 9, 9], "area_mm2": 1.1, "kind": "hole", "pad": "xxxxxxxxxxxx"}\n'
    run = _run_folder(tmp_path, good + bad_line + b"\n")
    message = message.format(offset=len(good) + bad_line.find(b"\xff"))
    with pytest.raises(DataError) as info:
        score_run(run)
    text = str(info.value)
    assert text.startswith(f"{run / 'defects.jsonl'}: ") and message in text and "\n" not in text
    (run / "defects.jsonl").write_bytes(good)
    assert score_run(run)["recall"] == 1.0  # the same folder with its good line only scores


def _scorable_run(tmp_path, summary_text: str, truth_lines: int = 1):
    import json

    run = tmp_path / "run"
    run.mkdir()
    (run / "summary.json").write_text(summary_text)
    (run / "truth.jsonl").write_text("".join(json.dumps(rec((0, 0, 10, 10), 1.0)) + "\n" for _ in range(truth_lines)))
    (run / "defects.jsonl").write_text(json.dumps(rec((1, 1, 9, 9), 1.1)) + "\n")
    return run


GOOD_SUMMARY = '{"lines_inspected": 100, "frames_dropped": 0, "significant_area_mm2": 0.25}'


@pytest.mark.parametrize("summary_text, message", [
    ("[1, 2]", "not a JSON object; the file is damaged"),
    ('"text"', "not a JSON object; the file is damaged"),
    ("{}", "missing key 'lines_inspected'; the file is damaged"),
    ('{"lines_inspected": 100, "significant_area_mm2": 0.25}', "missing key 'frames_dropped'; the file is damaged"),
    ('{"lines_inspected": 100, "frames_dropped": 0}', "missing key 'significant_area_mm2'; the file is damaged"),
    ('{"lines_inspected": 100, "frames_dropped": 0, "significant_area_mm2": "x"}',
     "key 'significant_area_mm2' must be a number >= 0, got 'x'; the file is damaged"),
    ('{"lines_inspected": 100, "frames_dropped": 0, "significant_area_mm2": -1}',
     "key 'significant_area_mm2' must be a number >= 0, got -1; the file is damaged"),
    ('{"lines_inspected": 100, "frames_dropped": 0, "significant_area_mm2": NaN}',
     "key 'significant_area_mm2' must be a number >= 0, got nan; the file is damaged"),
    ('{"lines_inspected": "x", "frames_dropped": 0, "significant_area_mm2": 0.25}',
     "key 'lines_inspected' must be an integer >= 0, got 'x'; the file is damaged"),
    ('{"lines_inspected": 1.5, "frames_dropped": 0, "significant_area_mm2": 0.25}',
     "key 'lines_inspected' must be an integer >= 0, got 1.5; the file is damaged"),
    ('{"lines_inspected": 100, "frames_dropped": true, "significant_area_mm2": 0.25}',
     "key 'frames_dropped' must be an integer >= 0, got True; the file is damaged"),
])
def test_a_damaged_summary_is_one_line_naming_the_file_and_key(tmp_path, summary_text, message):
    from edgeinspect.errors import DataError
    from edgeinspect.stream.score import score_run

    run = _scorable_run(tmp_path, summary_text)
    with pytest.raises(DataError) as info:
        score_run(run)
    assert str(info.value) == f"{run / 'summary.json'}: {message}"
    (run / "summary.json").write_text(GOOD_SUMMARY)
    assert score_run(run)["recall"] == 1.0  # the same folder with a whole summary scores


def test_a_summary_that_is_not_utf8_is_one_line(tmp_path):
    from edgeinspect.errors import DataError
    from edgeinspect.stream.score import score_run

    run = _scorable_run(tmp_path, GOOD_SUMMARY)
    (run / "summary.json").write_bytes(b'{"lines_inspected": \xff}')
    with pytest.raises(DataError) as info:
        score_run(run)
    assert str(info.value) == f"{run / 'summary.json'}: byte 20 is not UTF-8 text; the file is damaged"


@pytest.mark.parametrize("bad_line, message", [
    (b'{"bbox_px": [0, 0, 5, 5], "area_mm2": Infinity}', "line 1 has no numeric 'area_mm2' (got inf)"),
    (b'{"bbox_px": [0, 0, 5, 5], "area_mm2": NaN}', "line 1 has no numeric 'area_mm2' (got nan)"),
    (b'{"bbox_px": [NaN, 0, 5, 5], "area_mm2": 1.0}', "line 1 has no 'bbox_px' of 4 numbers (got [nan, 0, 5, 5])"),
    (b'{"bbox_px": [1e300, 0, 5, 5], "area_mm2": 1.0}', "line 1 has no 'bbox_px' of 4 numbers (got [1e+300, 0, 5, 5])"),
])
def test_non_finite_records_are_damaged_not_a_traceback(tmp_path, bad_line, message):
    """A run written with an overflowing calibration held Infinity/NaN (not JSON); huge boxes overflow int64."""
    from edgeinspect.errors import DataError
    from edgeinspect.stream.score import score_run

    run = _run_folder(tmp_path, bad_line + b"\n")
    with pytest.raises(DataError) as info:
        score_run(run)
    assert str(info.value) == f"{run / 'defects.jsonl'}: {message}; the file is damaged"


def test_a_run_without_true_defects_scores_recall_and_area_as_not_measured(tmp_path):
    from edgeinspect.stream.score import score_run

    run = _scorable_run(tmp_path, GOOD_SUMMARY, truth_lines=0)
    score = score_run(run)
    assert score["truth"] == 0 and score["recall"] is None and score["recall_significant"] is None
    assert score["area"]["share_within_tol"] is None and score["area"]["scored"] == 0
    assert all(size["share_within_tol"] is None for size in score["area"]["by_size"])
    assert (score["predicted"], score["false"], score["precision"]) == (1, 1, 0.0)  # false alarms still count
    assert score["note"] == (f"{run / 'truth.jsonl'} holds no true defects: recall and area accuracy cannot be "
                             f"scored (n/a); every record counts as a false detection")
    (run / "truth.jsonl").write_text('{"bbox_px": [0, 0, 10, 10], "area_mm2": 1.0}\n')
    score = score_run(run)
    assert score["recall"] == 1.0 and "note" not in score
