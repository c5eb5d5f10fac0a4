"""PyTorch form of the Pixel Confidence Module (LPC-Net PCM).

The math is defined once in :mod:`edgeinspect.ops.pixel_confidence.reference`; this module computes
the same thing with plain torch ops::

    m_ipc = conv2d(y_isr, K / sum(K), zero padding 'same')   # (N,1,H,W) in [0,1]
    m_pcm = (1 - eps) + 2 * eps * m_ipc                      # in [1-eps, 1+eps]
    y_fsr = min(y_isr * m_pcm, 1)                            # (N,1,H,W) in [0,1]

The kernel is a fixed buffer (never trained, not in the state dict: it is rebuilt from the
constructor arguments). For the PCM loss the training code compares :meth:`PixelConfidence.m_ipc`
of the prediction with the same map of the ground truth (both in [0, 1]) by BCE.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from edgeinspect.ops.pixel_confidence.reference import DEFAULT_EPSILON, DEFAULT_KERNEL_SIZE, mean_kernel

__all__ = ["PixelConfidence"]


class PixelConfidence(nn.Module):
    """Fixed-kernel neighbourhood confidence applied to first-stage probabilities.

    Args:
        kernel_size: odd ``k`` of the default ``k×k`` mean kernel (ignored when ``kernel`` is given).
        kernel: ``(k, k)`` non-negative weights with a positive sum (nested sequence or array), ``k``
            odd; normalised to sum 1. Default: the ``kernel_size×kernel_size`` mean.
        epsilon: half-width of the confidence band, ``0 <= epsilon < 1`` (paper: 0.2).

    Attributes:
        kernel: ``(k, k)`` float32 buffer, normalised to sum 1.
        epsilon: float.

    Example:
        >>> pcm = PixelConfidence()
        >>> y = torch.ones(1, 1, 5, 5); y[0, 0, 2, 2] = 0.45
        >>> float(pcm(y)[0, 0, 2, 2]) >= 0.5
        True
    """

    def __init__(
        self,
        kernel_size: int = DEFAULT_KERNEL_SIZE,
        *,
        kernel: Sequence[Sequence[float]] | np.ndarray | None = None,
        epsilon: float = DEFAULT_EPSILON,
    ) -> None:
        super().__init__()
        weights = mean_kernel(kernel_size) if kernel is None else np.asarray(kernel, dtype=np.float64)
        if weights.ndim != 2 or weights.shape[0] != weights.shape[1] or weights.shape[0] % 2 == 0:
            raise ValueError(f"kernel must be square with an odd size, got shape {weights.shape}")
        if (weights < 0).any() or weights.sum() <= 0:
            raise ValueError("kernel weights must be >= 0 with a positive sum")
        if not 0.0 <= epsilon < 1.0:
            raise ValueError(f"epsilon must be in [0, 1), got {epsilon}")
        self.epsilon = float(epsilon)
        self.kernel_size = int(weights.shape[0])
        kernel_t = torch.as_tensor(weights / weights.sum(), dtype=torch.float32)
        self.register_buffer("kernel", kernel_t, persistent=False)

    def m_ipc(self, y: Tensor) -> Tensor:
        """Confidence map ``(N,1,H,W)`` in [0,1]: the normalised kernel over ``y (N,1,H,W)`` in [0,1].

        Used on the prediction (``forward_train(...)["m_ipc"]``) and on the ground truth for the
        PCM loss target ``M̂_pcm``.
        """
        k = self.kernel_size
        weight = self.kernel.to(y.dtype).reshape(1, 1, k, k)
        return F.conv2d(y, weight, padding=k // 2)

    def forward(self, y_isr: Tensor) -> Tensor:
        """``y_isr (N,1,H,W)`` in [0,1] → ``y_fsr (N,1,H,W)`` in [0,1]."""
        m_pcm = (1.0 - self.epsilon) + (2.0 * self.epsilon) * self.m_ipc(y_isr)
        return torch.clamp(y_isr * m_pcm, max=1.0)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, epsilon={self.epsilon}"
