"""Rectangular boundary labels for the DLM on hand-made masks (NumPy + OpenCV only)."""

from __future__ import annotations

import numpy as np
import pytest

from edgeinspect.models.labels import rectangle_labels


def _bbox(label: np.ndarray) -> tuple[int, int, int, int]:
    rows, cols = np.nonzero(label)
    return int(cols.min()), int(rows.min()), int(cols.max()) + 1, int(rows.max()) + 1


def test_one_blob_gives_one_rectangle_around_it() -> None:
    mask = np.zeros((64, 64), bool)
    mask[20:30, 10:40] = True            # 10 rows × 30 columns
    mask[24, 40:44] = True               # a thin 1-px spur: smoothed density < 0.2, dropped
    label = rectangle_labels(mask)
    assert label.dtype == bool and label.shape == mask.shape
    x0, y0, x1, y1 = _bbox(label)
    assert label[y0:y1, x0:x1].all()     # a filled rectangle
    assert label.sum() == (x1 - x0) * (y1 - y0)
    # the rectangle covers the blob, grown by at most the filter radius (threshold 0.2 of a 10×10 mean)
    assert label[mask & (np.arange(64)[None, :] < 40)].all()
    assert 5 <= x0 <= 10 and 40 <= x1 <= 45 and 15 <= y0 <= 20 and 30 <= y1 <= 35


def test_two_separated_blobs_give_the_cross_product_of_their_extents() -> None:
    mask = np.zeros((80, 80), bool)
    mask[5:15, 5:15] = True
    mask[55:65, 50:70] = True
    label = rectangle_labels(mask)
    rows = np.flatnonzero(label.any(axis=1))
    cols = np.flatnonzero(label.any(axis=0))
    # two row bands × two column bands = four rectangles, including the two "ghost" corners
    assert label[10, 10] and label[60, 60]      # the two blobs
    assert label[10, 60] and label[60, 10]      # the cross-product rectangles
    assert not label[35, 35]                    # nothing between the bands
    assert rows.min() < 15 and rows.max() >= 55 and not label[35].any() and not label[:, 35].any()
    assert (label == np.outer(label.any(axis=1), label.any(axis=0))).all()


def test_thin_line_and_empty_mask_give_no_rectangle() -> None:
    mask = np.zeros((40, 40), bool)
    assert not rectangle_labels(mask).any()
    mask[20, 5:35] = True                        # 1 px wide: 10×10 mean ≤ 0.1 < 0.2
    assert not rectangle_labels(mask).any()
    mask[21, 5:35] = True                        # 2 px wide: mean reaches 0.2, kept
    assert rectangle_labels(mask).any()


def test_batched_masks_are_labelled_independently() -> None:
    masks = np.zeros((2, 1, 32, 32), np.float32)
    masks[0, 0, 4:12, 4:12] = 1.0
    masks[1, 0, 20:30, 18:28] = 1.0
    labels = rectangle_labels(masks)
    assert labels.shape == masks.shape
    np.testing.assert_array_equal(labels[0, 0], rectangle_labels(masks[0, 0] > 0))
    np.testing.assert_array_equal(labels[1, 0], rectangle_labels(masks[1, 0] > 0))
    assert not (labels[0, 0] & labels[1, 0]).any()


def test_rejects_a_1d_mask() -> None:
    with pytest.raises(ValueError, match="H, W"):
        rectangle_labels(np.zeros(10, bool))
