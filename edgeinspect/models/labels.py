"""Rectangular boundary labels ``Ŷ_loc`` for LPC-Net's Defect Localization Module (NumPy + OpenCV, no torch).

Paper recipe (Wang et al., Sensors 2025, LPC-Net §DLM): smooth the ground-truth mask with a 10×10
mean filter, set values below 0.2 to 0 (drops thin or isolated specks), project the result onto the
X axis (column sums) and the Y axis (row sums), take the outer product of the two projections and
binarise it (> 0).

Because the label is ONE outer product per image, several defects give the cross product of their
row and column extents: two blobs at rows A, B and columns a, b label the four rectangles A×a, A×b,
B×a, B×b (a superset of the two boxes). Blobs that share rows or columns merge into one box.
A defect thinner than ~2 px (its smoothed density stays below 0.2) gets no rectangle.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["rectangle_labels"]


def _single(mask: np.ndarray, window: int, threshold: float) -> np.ndarray:
    smooth = cv2.blur(mask.astype(np.float32), (window, window), borderType=cv2.BORDER_REFLECT_101)
    smooth[smooth < threshold] = 0.0
    rows = smooth.sum(axis=1) > 0   # projection onto the Y axis, (H,)
    cols = smooth.sum(axis=0) > 0   # projection onto the X axis, (W,)
    return np.outer(rows, cols)


def rectangle_labels(mask, *, window: int = 10, threshold: float = 0.2) -> np.ndarray:
    """Rectangular boundary labels of a defect mask.

    Args:
        mask: ``(H, W)`` or batched ``(..., H, W)`` (e.g. ``(N,1,H,W)``) defect mask, bool or
            values in [0, 1] (NumPy array or a CPU torch tensor).
        window: side of the mean filter in pixels (paper: 10).
        threshold: smoothed values below it become 0 (paper: 0.2).

    Returns:
        bool array of the same shape as ``mask``: True inside the labelled rectangles.

    Example:
        >>> m = np.zeros((32, 32), bool); m[4:12, 6:20] = True
        >>> rectangle_labels(m).any()
        True
    """
    array = np.asarray(mask)
    if array.ndim < 2:
        raise ValueError(f"mask must be (H, W) or (..., H, W), got shape {array.shape}")
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    array = array.astype(np.float32)
    flat = array.reshape(-1, *array.shape[-2:])
    out = np.stack([_single(m, window, threshold) for m in flat]) if len(flat) else np.zeros(flat.shape, bool)
    return out.reshape(array.shape)
