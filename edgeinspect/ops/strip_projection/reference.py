"""NumPy oracle of the strip projection: the one definition of its math.

For a feature map ``x`` of shape ``(N, C, H, W)`` and per-channel projection weights:

    row[n, c, 0, w] = sum_h x[n, c, h, w] * w_row[c, h] + b_row[c]      # (N, C, 1, W): full-height projection
    col[n, c, h, 0] = sum_w x[n, c, h, w] * w_col[c, w] + b_col[c]      # (N, C, H, 1): full-width projection
    out[n, c, h, w] = row[n, c, 0, w] * col[n, c, h, 0]                 # (N, C, H, W): outer product

With ``w_row = 1/H``, ``w_col = 1/W`` and zero biases this is strip *pooling* (LSA-Net's location
attention); LPC-Net's DLM learns the weights (a depthwise ``(H,1)`` and ``(1,W)`` convolution).
"""

from __future__ import annotations

import numpy as np


def strip_projection(
    x: np.ndarray,
    w_row: np.ndarray,
    b_row: np.ndarray,
    w_col: np.ndarray,
    b_col: np.ndarray,
) -> np.ndarray:
    """Fused row/column projection and outer product.

    Args:
        x: ``(N, C, H, W)`` float features.
        w_row: ``(C, H)`` weights of the full-height projection (collapses H).
        b_row: ``(C,)`` bias of the row vector.
        w_col: ``(C, W)`` weights of the full-width projection (collapses W).
        b_col: ``(C,)`` bias of the column vector.

    Returns:
        ``(N, C, H, W)`` float64 outer product ``row ⊗ col`` (accumulated in float64).

    Raises:
        ValueError: when a weight shape does not match ``x``.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 4:
        raise ValueError(f"x must be (N,C,H,W), got shape {x.shape}")
    _, channels, height, width = x.shape
    expected = {"w_row": (channels, height), "b_row": (channels,), "w_col": (channels, width), "b_col": (channels,)}
    given = {"w_row": w_row, "b_row": b_row, "w_col": w_col, "b_col": b_col}
    for name, shape in expected.items():
        if np.shape(given[name]) != shape:
            raise ValueError(f"{name} must have shape {shape} for x {x.shape}, got {np.shape(given[name])}")
    row = np.einsum("nchw,ch->ncw", x, np.asarray(w_row, np.float64)) + np.asarray(b_row, np.float64)[None, :, None]
    col = np.einsum("nchw,cw->nch", x, np.asarray(w_col, np.float64)) + np.asarray(b_col, np.float64)[None, :, None]
    return col[:, :, :, None] * row[:, :, None, :]
