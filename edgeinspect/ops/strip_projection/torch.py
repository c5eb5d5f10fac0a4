"""PyTorch form of the strip projection (LPC-Net DLM row/column convolutions + outer product).

The math is defined once in :mod:`edgeinspect.ops.strip_projection.reference`; this module computes
the same thing with plain torch ops (two depthwise convolutions and a broadcast product), which is
the training path and the standard-op ONNX form::

    row = depthwise_conv(x, w_row as (C,1,H,1)) + b_row      # (N,C,1,W): full-height projection
    col = depthwise_conv(x, w_col as (C,1,1,W)) + b_col      # (N,C,H,1): full-width projection
    y   = col * row                                          # (N,C,H,W): outer product

The weights' sizes are the feature map's height and width, so a module serves exactly one
``(H, W)``: LPC-Net records its tile size in the checkpoint.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["StripProjection"]


class StripProjection(nn.Module):
    """Learned full-height and full-width depthwise projections and their outer product.

    Args:
        channels: ``C``, channels of the input features.
        height: ``H`` of the input features (size of ``w_row``'s second axis).
        width: ``W`` of the input features (size of ``w_col``'s second axis).

    Attributes:
        w_row: ``(C, H)`` weights of the full-height projection; initialised to ``1/H`` (mean).
        b_row: ``(C,)`` bias of the row vector; initialised to 0.
        w_col: ``(C, W)`` weights of the full-width projection; initialised to ``1/W``.
        b_col: ``(C,)`` bias of the column vector; initialised to 0.

    With the initial weights the module is strip *pooling* (row mean ⊗ column mean).

    Example:
        >>> sp = StripProjection(8, 64, 64)
        >>> sp(torch.rand(2, 8, 64, 64)).shape
        torch.Size([2, 8, 64, 64])
    """

    def __init__(self, channels: int, height: int, width: int) -> None:
        super().__init__()
        self.channels, self.height, self.width = int(channels), int(height), int(width)
        self.w_row = nn.Parameter(torch.full((channels, height), 1.0 / height))
        self.b_row = nn.Parameter(torch.zeros(channels))
        self.w_col = nn.Parameter(torch.full((channels, width), 1.0 / width))
        self.b_col = nn.Parameter(torch.zeros(channels))

    def forward(self, x: Tensor) -> Tensor:
        """``x (N,C,H,W)`` float → ``(N,C,H,W)`` outer product of the row and column projections."""
        c, h, w = self.channels, self.height, self.width
        row = F.conv2d(x, self.w_row.reshape(c, 1, h, 1), self.b_row, groups=c)  # (N,C,1,W)
        col = F.conv2d(x, self.w_col.reshape(c, 1, 1, w), self.b_col, groups=c)  # (N,C,H,1)
        return col * row

    def extra_repr(self) -> str:
        return f"channels={self.channels}, height={self.height}, width={self.width}"
