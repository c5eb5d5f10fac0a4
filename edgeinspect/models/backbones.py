"""Encoders of LPC-Net's DeepLabV3+, written here: ResNet-50 and PP-LCNet x1.0 cut at stride 16.

- :class:`ResNetEncoder`: ResNet-50 (He et al., "Deep Residual Learning for Image Recognition",
  CVPR 2016; v1.5 layout, stride on the 3×3), output stride 16 by dilating layer4 as torchvision's
  ``replace_stride_with_dilation`` does.
- :class:`LCNetEncoder`: PP-LCNet x1.0 (Cui et al., "PP-LCNet: A Lightweight CPU Convolutional Neural
  Network", arXiv:2109.15099, 2021), the layers of timm's ``lcnet_100`` up to stride 16 (its stage 5,
  the only one with SE, is not built).

Why here: timm hard-requires torchvision, and no torchvision installs and imports beside the pinned CPU
torch. Both encoders reproduce timm's ``features_only=True, in_chans=1, pretrained=False`` models
layer for layer (same parameter counts, same state-dict keys, same weight init), so timm state dicts
load into them. Each returns ``[low, high]``: stride-4 and stride-16 features, channels in
``out_channels``, strides in ``reductions``.
"""

from __future__ import annotations

import math

from torch import Tensor, nn

from edgeinspect.errors import EdgeInspectError

__all__ = ["ResNetEncoder", "LCNetEncoder", "BACKBONES", "create_encoder"]


class ResNetBottleneck(nn.Module):
    """1×1 → 3×3 (stride, dilation) → 1×1 ×4, BN after each, ReLU after the residual sum.

    Shapes: ``(N,in_chs,H,W)`` → ``(N,4·planes,H/stride,W/stride)``.
    """

    def __init__(self, in_chs: int, planes: int, stride: int = 1, dilation: int = 1) -> None:
        super().__init__()
        out_chs = planes * 4
        self.conv1 = nn.Conv2d(in_chs, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, padding=dilation, dilation=dilation, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, out_chs, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_chs)
        self.act = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or in_chs != out_chs:
            self.downsample = nn.Sequential(nn.Conv2d(in_chs, out_chs, 1, stride, bias=False), nn.BatchNorm2d(out_chs))

    def forward(self, x: Tensor) -> Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        y = self.act(self.bn1(self.conv1(x)))
        y = self.act(self.bn2(self.conv2(y)))
        return self.act(self.bn3(self.conv3(y)) + shortcut)


class ResNetEncoder(nn.Module):
    """ResNet-50 at output stride 16: stem conv 7×7/2 + BN + ReLU + max-pool 3×3/2, layers [3, 4, 6, 3].

    layer4 keeps stride 1 and dilates its 3×3 convs by 2 from its second block on (torchvision/timm:
    the first block keeps the previous dilation 1). Init as timm: Kaiming-normal (fan-out) convs and
    zero ``bn3`` weights (each block starts as identity).

    Args:
        in_chans: input channels (1 = grayscale).
        layers: bottleneck blocks per stage (ResNet-50: ``(3, 4, 6, 3)``).

    Shapes: ``(N,in_chans,H,W)`` → ``[layer1 (N,256,H/4,W/4), layer4 (N,2048,H/16,W/16)]``;
    H, W multiples of 16.
    """

    out_channels = (256, 2048)
    reductions = (4, 16)

    def __init__(self, in_chans: int = 1, layers: tuple[int, int, int, int] = (3, 4, 6, 3)) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_chans, 64, 7, 2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.act1 = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, padding=1)
        in_chs = 64
        # (planes, stride, dilation); layer4 trades its stride 2 for dilation 2
        for index, (planes, stride, dilation) in enumerate(((64, 1, 1), (128, 2, 1), (256, 2, 1), (512, 1, 2))):
            blocks = []
            for i in range(layers[index]):
                blocks.append(ResNetBottleneck(in_chs, planes, stride if i == 0 else 1, 1 if i == 0 else dilation))
                in_chs = planes * 4
            self.add_module(f"layer{index + 1}", nn.Sequential(*blocks))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, ResNetBottleneck):
                nn.init.zeros_(m.bn3.weight)

    def forward(self, x: Tensor) -> list[Tensor]:
        """``(N,in_chans,H,W)`` → ``[(N,256,H/4,W/4), (N,2048,H/16,W/16)]``."""
        low = self.layer1(self.maxpool(self.act1(self.bn1(self.conv1(x)))))
        return [low, self.layer4(self.layer3(self.layer2(low)))]


class DepthwiseSeparable(nn.Module):
    """PP-LCNet block (timm ``dsa``): depthwise k×k/stride → BN → hardswish → 1×1 → BN → hardswish, no skip.

    Shapes: ``(N,in_chs,H,W)`` → ``(N,out_chs,H/stride,W/stride)``.
    """

    def __init__(self, in_chs: int, out_chs: int, kernel_size: int, stride: int) -> None:
        super().__init__()
        padding = kernel_size // 2
        self.conv_dw = nn.Conv2d(in_chs, in_chs, kernel_size, stride, padding=padding, groups=in_chs, bias=False)
        self.bn1 = nn.BatchNorm2d(in_chs)
        self.conv_pw = nn.Conv2d(in_chs, out_chs, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_chs)
        self.act = nn.Hardswish(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.bn2(self.conv_pw(self.act(self.bn1(self.conv_dw(x))))))


# timm ``_gen_lcnet`` arch_def, stages 0-4 as (out_chs, kernel, stride) per block; stage 5
# (``dsa_r2_k5_s2_c512_se0.25``, stride 32) is not built.
LCNET_100_STAGES = (
    ((32, 3, 1),),                                   # dsa_r1_k3_s1_c32        stride 2
    ((64, 3, 2), (64, 3, 1)),                        # dsa_r2_k3_s2_c64        stride 4  → low
    ((128, 3, 2), (128, 3, 1)),                      # dsa_r2_k3_s2_c128       stride 8
    ((256, 3, 2), (256, 5, 1)),                      # dsa_r1_k3_s2_c256, dsa_r1_k5_s1_c256  stride 16
    ((256, 5, 1),) * 4,                              # dsa_r4_k5_s1_c256       stride 16 → high
)


class LCNetEncoder(nn.Module):
    """PP-LCNet x1.0 up to stride 16: stem conv 3×3/2 (16 ch) + BN + hardswish, stages 0-4 of ``lcnet_100``.

    Init as timm's ``_init_weight_goog``: conv weights ~ N(0, 2/fan_out), fan_out = k·k·out/groups.

    Args:
        in_chans: input channels (1 = grayscale).

    Shapes: ``(N,in_chans,H,W)`` → ``[blocks.1 (N,64,H/4,W/4), blocks.4 (N,256,H/16,W/16)]``;
    H, W multiples of 16.
    """

    out_channels = (64, 256)
    reductions = (4, 16)

    def __init__(self, in_chans: int = 1) -> None:
        super().__init__()
        self.conv_stem = nn.Conv2d(in_chans, 16, 3, 2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.act1 = nn.Hardswish(inplace=True)
        in_chs, stages = 16, []
        for stage in LCNET_100_STAGES:
            blocks = []
            for out_chs, kernel_size, stride in stage:
                blocks.append(DepthwiseSeparable(in_chs, out_chs, kernel_size, stride))
                in_chs = out_chs
            stages.append(nn.Sequential(*blocks))
        self.blocks = nn.Sequential(*stages)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels // m.groups
                nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / fan_out))

    def forward(self, x: Tensor) -> list[Tensor]:
        """``(N,in_chans,H,W)`` → ``[(N,64,H/4,W/4), (N,256,H/16,W/16)]``."""
        low = self.blocks[1](self.blocks[0](self.act1(self.bn1(self.conv_stem(x)))))
        return [low, self.blocks[4](self.blocks[3](self.blocks[2](low)))]


BACKBONES: dict[str, type[nn.Module]] = {"resnet50": ResNetEncoder, "lcnet_100": LCNetEncoder}


def create_encoder(name: str, in_chans: int = 1) -> nn.Module:
    """Build backbone ``name`` (``"resnet50"`` | ``"lcnet_100"``) for ``in_chans`` input channels.

    Raises:
        EdgeInspectError: unknown name (the message lists the valid ones).
    """
    if name not in BACKBONES:
        raise EdgeInspectError(f"backbone {name!r} is not available; choose one of {', '.join(BACKBONES)}")
    return BACKBONES[name](in_chans=in_chans)
