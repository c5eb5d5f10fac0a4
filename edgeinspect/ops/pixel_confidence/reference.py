"""NumPy oracle of the Pixel Confidence Module (PCM): the one definition of its math.

For first-stage defect probabilities ``y_isr`` of shape ``(N, 1, H, W)`` in [0, 1] and a fixed,
never-trained ``k×k`` kernel ``K`` with non-negative weights (default: 3×3 mean):

    m_ipc = (K * y_isr) / sum(K)            # zero-padded 'same' correlation; in [0, 1]
    m_pcm = (1 - eps) + 2 * eps * m_ipc     # linear map of [0, 1] onto [1 - eps, 1 + eps]
    y_fsr = min(y_isr * m_pcm, 1)           # final probabilities, in [0, 1]

A pixel surrounded by confident defect pixels is raised by up to ``1 + eps`` (fills fine gaps in
hairballs/fuzz); an isolated pixel is lowered by down to ``1 - eps``. The map is fixed (not a
per-image min-max) so it is local: a tile gives the same answer as the whole web.
"""

from __future__ import annotations

import numpy as np

DEFAULT_KERNEL_SIZE = 3
DEFAULT_EPSILON = 0.2


def mean_kernel(size: int = DEFAULT_KERNEL_SIZE) -> np.ndarray:
    """The default fixed kernel: a normalised ``size×size`` mean, float32, sum 1."""
    if size < 1 or size % 2 == 0:
        raise ValueError(f"kernel size must be odd and >= 1, got {size}")
    return np.full((size, size), 1.0 / (size * size), dtype=np.float32)


def confidence_map(y_isr: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """``m_ipc``: the normalised fixed-kernel neighbourhood sum, ``(N,1,H,W)`` float64 in [0, 1]."""
    y = np.asarray(y_isr, dtype=np.float64)
    k = np.asarray(kernel, dtype=np.float64)
    if y.ndim != 4 or y.shape[1] != 1:
        raise ValueError(f"y_isr must be (N,1,H,W), got shape {y.shape}")
    if k.ndim != 2 or k.shape[0] != k.shape[1] or k.shape[0] % 2 == 0:
        raise ValueError(f"kernel must be square with an odd size, got shape {k.shape}")
    if (k < 0).any() or k.sum() <= 0:
        raise ValueError("kernel weights must be >= 0 with a positive sum")
    radius = k.shape[0] // 2
    height, width = y.shape[2:]
    padded = np.pad(y, ((0, 0), (0, 0), (radius, radius), (radius, radius)))
    acc = np.zeros_like(y)
    for dy in range(k.shape[0]):
        for dx in range(k.shape[1]):
            acc += k[dy, dx] * padded[:, :, dy : dy + height, dx : dx + width]
    return acc / k.sum()


def pixel_confidence(y_isr: np.ndarray, kernel: np.ndarray | None = None, epsilon: float = DEFAULT_EPSILON) -> np.ndarray:
    """Apply the PCM to first-stage probabilities.

    Args:
        y_isr: ``(N, 1, H, W)`` probabilities in [0, 1].
        kernel: ``(k, k)`` fixed non-negative weights, ``k`` odd; default the 3×3 mean.
        epsilon: half-width of the confidence band, ``0 <= epsilon < 1``.

    Returns:
        ``y_fsr``: ``(N, 1, H, W)`` float64 in [0, 1].
    """
    if not 0.0 <= epsilon < 1.0:
        raise ValueError(f"epsilon must be in [0, 1), got {epsilon}")
    kernel = mean_kernel() if kernel is None else kernel
    m_ipc = confidence_map(y_isr, kernel)
    m_pcm = (1.0 - epsilon) + 2.0 * epsilon * m_ipc
    return np.minimum(np.asarray(y_isr, dtype=np.float64) * m_pcm, 1.0)
