"""Small building blocks of the seed networks, one idea each, ``norm_layer``/``act_layer`` as arguments.

- :class:`ConvNormAct`: conv → norm → act (timm ``conv_bn_act``; submodules ``conv``, ``bn``, ``act``).
- :class:`SeparableConvNormAct`: depthwise k×k → pointwise 1×1 → norm → act (Chollet, "Xception",
  CVPR 2017; the separable ASPP/decoder of DeepLabV3+).
- :class:`Bottleneck`: ResNet bottleneck 1×1 → 3×3 → 1×1 with identity or 1×1 projection shortcut
  (He et al., "Deep Residual Learning", CVPR 2016).
- :class:`ASPP`: atrous spatial pyramid pooling (Chen et al., "Encoder-Decoder with Atrous Separable
  Convolution", ECCV 2018 = DeepLabV3+): 1×1 + three dilated 3×3 + image pooling, concat, 1×1 projection.

The strip projection and the PCM live with their op definitions: ``edgeinspect.ops.strip_projection.torch``
and ``edgeinspect.ops.pixel_confidence.torch``. Submodule names are part of the checkpoint format.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

__all__ = ["ConvNormAct", "SeparableConvNormAct", "Bottleneck", "ASPPPooling", "ASPP"]

LayerType = type[nn.Module]


class ConvNormAct(nn.Module):
    """``Conv2d(bias=False)`` → norm → act; 'same' padding for odd kernels.

    Args:
        in_channels: input channels.
        out_channels: output channels.
        kernel_size: odd kernel size.
        stride: stride.
        dilation: dilation (padding grows with it).
        groups: conv groups.
        norm_layer: normalisation type called with ``out_channels``.
        act_layer: activation type, or None for none.

    Shapes: ``(N, in, H, W)`` → ``(N, out, H/stride, W/stride)``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 1,
        *,
        stride: int = 1,
        dilation: int = 1,
        groups: int = 1,
        norm_layer: LayerType = nn.BatchNorm2d,
        act_layer: LayerType | None = nn.ReLU,
    ) -> None:
        super().__init__()
        padding = dilation * (kernel_size - 1) // 2
        self.conv = nn.Conv2d(
            in_channels, out_channels, kernel_size, stride=stride, padding=padding, dilation=dilation,
            groups=groups, bias=False,
        )
        self.bn = norm_layer(out_channels)
        self.act = act_layer() if act_layer is not None else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.bn(self.conv(x)))


class SeparableConvNormAct(nn.Module):
    """Depthwise ``k×k`` (dilated) conv → pointwise 1×1 conv → norm → act.

    Args:
        in_channels: input channels.
        out_channels: output channels.
        kernel_size: odd kernel size of the depthwise conv.
        dilation: dilation of the depthwise conv.
        norm_layer: normalisation type called with ``out_channels``.
        act_layer: activation type, or None for none.

    Shapes: ``(N, in, H, W)`` → ``(N, out, H, W)``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        *,
        dilation: int = 1,
        norm_layer: LayerType = nn.BatchNorm2d,
        act_layer: LayerType | None = nn.ReLU,
    ) -> None:
        super().__init__()
        padding = dilation * (kernel_size - 1) // 2
        self.conv_dw = nn.Conv2d(
            in_channels, in_channels, kernel_size, padding=padding, dilation=dilation, groups=in_channels, bias=False
        )
        self.conv_pw = nn.Conv2d(in_channels, out_channels, 1, bias=False)
        self.bn = norm_layer(out_channels)
        self.act = act_layer() if act_layer is not None else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.bn(self.conv_pw(self.conv_dw(x))))


def conv3x3_block(
    in_channels: int,
    out_channels: int,
    *,
    dilation: int = 1,
    separable: bool = False,
    norm_layer: LayerType = nn.BatchNorm2d,
    act_layer: LayerType | None = nn.ReLU,
) -> nn.Module:
    """A 3×3 conv-norm-act, plain (:class:`ConvNormAct`) or separable (:class:`SeparableConvNormAct`)."""
    if separable:
        return SeparableConvNormAct(
            in_channels, out_channels, 3, dilation=dilation, norm_layer=norm_layer, act_layer=act_layer
        )
    return ConvNormAct(in_channels, out_channels, 3, dilation=dilation, norm_layer=norm_layer, act_layer=act_layer)


class Bottleneck(nn.Module):
    """ResNet bottleneck: 1×1 reduce → 3×3 → 1×1 expand (no act), + shortcut, → act.

    Args:
        in_channels: input channels.
        out_channels: output channels.
        mid_channels: bottleneck width (default ``out_channels // 4``).
        norm_layer: normalisation type.
        act_layer: activation type.

    Shapes: ``(N, in, H, W)`` → ``(N, out, H, W)``. The shortcut is the identity when
    ``in == out``, else a 1×1 conv + norm.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        mid_channels: int | None = None,
        *,
        norm_layer: LayerType = nn.BatchNorm2d,
        act_layer: LayerType = nn.ReLU,
    ) -> None:
        super().__init__()
        mid = mid_channels or max(1, out_channels // 4)
        self.conv1 = ConvNormAct(in_channels, mid, 1, norm_layer=norm_layer, act_layer=act_layer)
        self.conv2 = ConvNormAct(mid, mid, 3, norm_layer=norm_layer, act_layer=act_layer)
        self.conv3 = ConvNormAct(mid, out_channels, 1, norm_layer=norm_layer, act_layer=None)
        self.shortcut = (
            nn.Identity()
            if in_channels == out_channels
            else ConvNormAct(in_channels, out_channels, 1, norm_layer=norm_layer, act_layer=None)
        )
        self.act = act_layer()

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.conv3(self.conv2(self.conv1(x))) + self.shortcut(x))


class ASPPPooling(nn.Module):
    """Image-level branch of ASPP: global average → 1×1 conv-norm-act → broadcast to ``(H, W)``.

    Shapes: ``(N, in, H, W)`` → ``(N, out, H, W)``. Training needs batch > 1 (BatchNorm on 1×1).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        norm_layer: LayerType = nn.BatchNorm2d,
        act_layer: LayerType = nn.ReLU,
    ) -> None:
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.conv = ConvNormAct(in_channels, out_channels, 1, norm_layer=norm_layer, act_layer=act_layer)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(self.pool(x)).expand(-1, -1, x.shape[2], x.shape[3])


class ASPP(nn.Module):
    """Atrous spatial pyramid pooling (DeepLabV3/V3+).

    Branches: 1×1 conv; one 3×3 conv per rate (dilated; plain or depthwise-separable); image
    pooling. Each has ``out_channels`` with norm + act; the concatenation is projected by a 1×1
    conv-norm-act (no dropout: it is identity at inference and the training recipe regularises).

    Args:
        in_channels: channels of the deepest features.
        out_channels: channels of every branch and of the output (DeepLabV3+: 256).
        rates: dilation rates of the 3×3 branches (DeepLabV3+ at output stride 16: 6, 12, 18).
        separable: depthwise-separable 3×3 branches (lighter) instead of plain convs.
        norm_layer: normalisation type.
        act_layer: activation type.

    Shapes: ``(N, in, H, W)`` → ``(N, out, H, W)``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int = 256,
        rates: Sequence[int] = (6, 12, 18),
        *,
        separable: bool = False,
        norm_layer: LayerType = nn.BatchNorm2d,
        act_layer: LayerType = nn.ReLU,
    ) -> None:
        super().__init__()
        branches: list[nn.Module] = [
            ConvNormAct(in_channels, out_channels, 1, norm_layer=norm_layer, act_layer=act_layer)
        ]
        for rate in rates:
            branches.append(
                conv3x3_block(
                    in_channels, out_channels, dilation=rate, separable=separable, norm_layer=norm_layer,
                    act_layer=act_layer,
                )
            )
        branches.append(ASPPPooling(in_channels, out_channels, norm_layer=norm_layer, act_layer=act_layer))
        self.branches = nn.ModuleList(branches)
        self.project = ConvNormAct(
            out_channels * len(branches), out_channels, 1, norm_layer=norm_layer, act_layer=act_layer
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.project(torch.cat([branch(x) for branch in self.branches], dim=1))
