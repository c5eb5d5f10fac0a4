"""LSA-Net: U-Net with location attention, shape detection and a feature-enhancement bottleneck.

Paper: Li et al., "LSA-Net: location and shape attention network for automatic surface defect
segmentation", Journal of Manufacturing Processes. Code: written here from the paper's description
(no code was published with it); the location attention reuses edgeinspect's strip projection
(:class:`~edgeinspect.ops.strip_projection.torch.StripProjection`) in its fixed pooling form.

Layout (256×256 input, channels 32/64/128/256/512, VGG block = [conv 3×3 + BN + ReLU] × 2):

- Encoder: VGG blocks at 1/1, 1/2, 1/4, 1/8 and the bottleneck at 1/16, 2×2 max-pools between.
- Location attention (LAM, shallow: after the 1/1 and 1/2 encoder blocks): the ``C`` channels are
  split into ``n`` groups of ``C′``; each group is pooled per row (``C′×H``, mean over W) and per
  column (``C′×W``, mean over H), the two are combined by their outer product, the groups are
  concatenated, a VGG block follows and its output is added to the backbone features (which go on
  to the next encoder block and the skip). A 1×1 head on each LAM's outer product gives a
  localisation logit map; the maps, upsampled to full size, are averaged into ``loc_logits``, which
  ``L_loc`` supervises with the defect's bounding rectangles
  (:func:`edgeinspect.models.labels.rectangle_labels`).
- Feature enhancement (FEM, bottleneck): 3×3 convs at dilation 2 and 4 in parallel, concat, 1×1.
- Shape detection (SD, deep: on the FEM output at 1/16): SPPM branch ``V1`` = 1×1 conv of
  ``[x, up(avgpool5(x)), up(avgpool3(x))]``; LSPM branch ``V2`` = ``up(maxpool_(1×W/2)([1×3 conv]×2 (x)))
  + up(maxpool_(H/2×1)([3×1 conv]×2 (x)))``; ``concat(V1, V2)`` → VGG block → decoder. ``L_diff =
  mean 1/((V1−V2)² + ε)`` pushes the two branches apart.
- Decoder: 2×2 transposed conv (×2), concat with the skip, VGG block; 1×1 conv to one channel.

Size (``edgeinspect models``, 256×256): 21.62 M parameters (21.59 M trainable; the fixed strip
pooling weights are 0.03 M), 17.43 GMACs counted by ``complexity.py`` (17.97 with the four 2×2
transposed convs, which its hooks skip). Paper: 21.6 M parameters, 61.6 G "FLOPs" at 256². The
parameter count matches by construction (shape-detection width 380 was chosen for it); the
paper's FLOP figure is 3.4× our MACs and not explained by FLOPs = 2 × MACs (36 G) either: the
module placement or the counter differ, and the paper does not say which.

Choices where the paper is silent (documented deviations):

- One input channel; normalisation inside: ``x`` in [0, 255] → ``(x/255 - 0.449)/0.226``.
- LAM groups: with fixed mean pooling each channel's outer product depends on that channel only,
  so splitting into ``n`` groups and concatenating equals one strip pooling over all ``C`` channels;
  it is implemented so (``StripProjection`` with weights ``1/H``, ``1/W``, zero biases,
  ``requires_grad=False``: the pooled, non-trainable configuration of the op, which keeps the
  TensorRT plugin form available). Trainable parameters: ``[p for p in model.parameters() if
  p.requires_grad]`` (what :meth:`LSANet.stage_parameters` returns).
- LAM at the two shallowest levels (1/1 and 1/2); the loc head reads the outer product (a sum of
  rank-one maps, so rectangles come naturally), the VGG block reads it too.
- SPPM: pools with stride = kernel (5 and 3, floor), bilinear upsampling back, the input kept in the
  concat (PSPNet style); LSPM: pools with stride = kernel, nearest upsampling (each half-row and
  half-column gets its max). SD convs are ``sd_channels`` wide (380). ``V1``, ``V2`` are post-ReLU
  maps; ``ε = 1`` in ``L_diff`` (bounded in (0, 1], no blow-up where the branches agree).
- The LSPM pool kernels and the strip pooling are sized from ``input_size``: the network serves one
  tile size (``default_cfg["fixed_input_size"]``), like LPC-Net; multiples of 16, at least 80 (the
  SPPM's 5×5 pool needs a 5×5 bottleneck map). An odd bottleneck size splits into halves of
  ``⌈n/2⌉`` and ``⌊n/2⌋`` (max-pool in ceil mode, matched by the nearest upsampling).
- Heads' biases start at the prior ``log(p/(1-p))``, ``p = 0.01``.
- Training (``train/recipes/lsanet.yaml``, :mod:`edgeinspect.train.families.lsanet`): the paper's
  loss weights and SGD settings; the epoch count (200) and ``ε = 1`` of ``L_diff`` are ours, the
  cosine runs per batch down to 0, and the paper's HSV jitter becomes brightness/contrast jitter on
  grayscale. ONNX outputs ``prob`` and ``loc``; the plugin form has one ``strip_projection`` node per
  location-attention level.

Example:
    >>> from edgeinspect.models import create_model
    >>> model = create_model("lsanet", input_size=(256, 256)).eval()
    >>> out = model(torch.full((1, 1, 256, 256), 128.0))       # SegOutput(prob, loc), (1,1,256,256) in [0,1]
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from edgeinspect.errors import EdgeInspectError
from edgeinspect.models.base import InputNorm, SegOutput, check_input, create_variant, make_cfg
from edgeinspect.models.layers import ConvNormAct
from edgeinspect.models.registry import register_model
from edgeinspect.ops.strip_projection.torch import StripProjection

__all__ = [
    "LSANet",
    "VGGBlock",
    "LocationAttention",
    "FeatureEnhancement",
    "ShapeDetection",
    "default_cfgs",
]

STAGES = ("net",)
SIZE_MULTIPLE = 16  # four 2×2 max-pools


# ---------------------------------------------------------------------------------------------- blocks


class VGGBlock(nn.Sequential):
    """``[conv 3×3 + BN + ReLU] × 2`` (submodules ``0``, ``1``).

    Shapes: ``(N, in, H, W)`` → ``(N, out, H, W)``.
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(ConvNormAct(in_channels, out_channels, 3), ConvNormAct(out_channels, out_channels, 3))


class ConvBNReLU(nn.Sequential):
    """Conv with any (odd) kernel shape and dilation → BN → ReLU, 'same' padding (``kernel_size=(1, 3)`` etc.)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: tuple[int, int], dilation: int = 1) -> None:
        padding = tuple(dilation * (k - 1) // 2 for k in kernel_size)
        super().__init__(
            nn.Conv2d(in_channels, out_channels, kernel_size, padding=padding, dilation=dilation, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(),
        )


class LocationAttention(nn.Module):
    """LSA-Net location attention: strip pooling ⊗ → VGG block, added to the input; a 1×1 loc head.

    Args:
        channels: ``C`` of the input features.
        height, width: ``(H, W)`` of the input features (sizes of the fixed pooling weights).
        head_prior: initial foreground probability of the loc head.

    Shapes: ``(N,C,H,W)`` → ``(features (N,C,H,W), loc_logits (N,1,H,W))``.
    """

    def __init__(self, channels: int, height: int, width: int, head_prior: float = 0.01) -> None:
        super().__init__()
        self.pool = StripProjection(channels, height, width)  # initialised to 1/H, 1/W, zero biases
        self.pool.requires_grad_(False)
        self.block = VGGBlock(channels, channels)
        self.head = nn.Conv2d(channels, 1, 1)
        nn.init.constant_(self.head.bias, math.log(head_prior / (1.0 - head_prior)))

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        pooled = self.pool(x)   # row mean ⊗ column mean, per channel
        return x + self.block(pooled), self.head(pooled)


class FeatureEnhancement(nn.Module):
    """FEM: 3×3 convs at dilation 2 and 4 in parallel (BN + ReLU), concat, 1×1 conv-BN-ReLU.

    Shapes: ``(N,C,H,W)`` → ``(N,C,H,W)``.
    """

    def __init__(self, channels: int, rates: Sequence[int] = (2, 4)) -> None:
        super().__init__()
        self.branches = nn.ModuleList(ConvNormAct(channels, channels, 3, dilation=r) for r in rates)
        self.project = ConvNormAct(channels * len(self.branches), channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.project(torch.cat([branch(x) for branch in self.branches], dim=1))


class ShapeDetection(nn.Module):
    """Shape detection: SPPM (``V1``) and LSPM (``V2``) branches, concat, VGG block.

    Args:
        in_channels: channels of the input.
        channels: width of both branches (``V1``, ``V2``).
        out_channels: channels of the output.
        height, width: ``(H, W)`` of the input features (the LSPM pools are ``(1, ⌈W/2⌉)`` and
            ``(⌈H/2⌉, 1)``, ceil mode: always two halves).
        pool_sizes: SPPM average-pool kernels (= strides).

    Shapes: ``(N,in,H,W)`` → ``(out (N,out,H,W), V1 (N,ch,H,W), V2 (N,ch,H,W))``; H, W >= 5 (the 5×5 pool).
    """

    def __init__(
        self,
        in_channels: int,
        channels: int,
        out_channels: int,
        height: int,
        width: int,
        pool_sizes: Sequence[int] = (5, 3),
    ) -> None:
        super().__init__()
        self.size = (height, width)
        self.pools = nn.ModuleList(nn.AvgPool2d(k, stride=k) for k in pool_sizes)
        self.sppm = ConvNormAct(in_channels * (1 + len(pool_sizes)), channels, 1)
        self.row_convs = nn.Sequential(
            ConvBNReLU(in_channels, channels, (1, 3)), ConvBNReLU(channels, channels, (1, 3))
        )
        self.col_convs = nn.Sequential(
            ConvBNReLU(in_channels, channels, (3, 1)), ConvBNReLU(channels, channels, (3, 1))
        )
        # two halves per row / column; for an odd size the first half is the larger one (ceil)
        self.row_pool = nn.MaxPool2d((1, (width + 1) // 2), ceil_mode=True)    # (N,ch,H,2)
        self.col_pool = nn.MaxPool2d(((height + 1) // 2, 1), ceil_mode=True)   # (N,ch,2,W)
        self.fuse = VGGBlock(2 * channels, out_channels)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        size = self.size
        pyramid = [x] + [F.interpolate(pool(x), size=size, mode="bilinear", align_corners=False) for pool in self.pools]
        v1 = self.sppm(torch.cat(pyramid, dim=1))
        rows = F.interpolate(self.row_pool(self.row_convs(x)), size=size, mode="nearest")
        cols = F.interpolate(self.col_pool(self.col_convs(x)), size=size, mode="nearest")
        v2 = rows + cols
        return self.fuse(torch.cat([v1, v2], dim=1)), v1, v2


class DecoderStage(nn.Module):
    """2×2 transposed conv (×2), concat with the skip, VGG block.

    Shapes: ``(N,in,h,w)``, skip ``(N,skip,2h,2w)`` → ``(N,out,2h,2w)``.
    """

    def __init__(self, in_channels: int, skip_channels: int, out_channels: int) -> None:
        super().__init__()
        self.up = nn.ConvTranspose2d(in_channels, out_channels, 2, stride=2)
        self.block = VGGBlock(out_channels + skip_channels, out_channels)

    def forward(self, x: Tensor, skip: Tensor) -> Tensor:
        return self.block(torch.cat([self.up(x), skip], dim=1))


def _init_convs(module: nn.Module) -> None:
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


# ----------------------------------------------------------------------------------------------- model


class LSANet(nn.Module):
    """LSA-Net: VGG U-Net + location attention (shallow) + FEM and shape detection (deep).

    Build it with :func:`edgeinspect.models.create_model` (``"lsanet"``).

    Args:
        input_size: ``(H, W)`` tile the network serves, multiples of 16 (the strip pooling and the
            LSPM pools are sized from it). Default ``(256, 256)``.
        mean: mean of the [0, 1]-scaled grayscale input.
        std: standard deviation of the [0, 1]-scaled input.
        channels: encoder widths, shallow to bottleneck (paper: 32, 64, 128, 256, 512).
        lam_levels: number of shallow levels with location attention (1/1, 1/2, ...).
        sd_channels: width of the shape-detection branches.
        fem_rates: FEM dilation rates.
        head_prior: initial foreground probability of the heads.

    Attributes:
        default_cfg: ``name, input_size (1,H,W), size_multiple, fixed_input_size, mean, std,
            input_range, outputs``.
        arch, init_kwargs: set by ``create_model``.
    """

    STAGES = STAGES

    def __init__(
        self,
        *,
        input_size: Sequence[int] = (256, 256),
        mean: float = 0.449,
        std: float = 0.226,
        channels: Sequence[int] = (32, 64, 128, 256, 512),
        lam_levels: int = 2,
        sd_channels: int = 380,
        fem_rates: Sequence[int] = (2, 4),
        head_prior: float = 0.01,
    ) -> None:
        super().__init__()
        height, width = (int(v) for v in input_size)
        multiple = 2 ** (len(channels) - 1)
        if height <= 0 or width <= 0 or height % multiple or width % multiple:
            raise EdgeInspectError(f"input_size must be positive multiples of {multiple}, got {tuple(input_size)}")
        if len(channels) < 2 or not 0 <= lam_levels < len(channels):
            raise EdgeInspectError(f"need >= 2 channel levels and 0 <= lam_levels < {len(channels)}")
        self.input_size = (height, width)
        self.size_multiple = multiple
        self.normalize = InputNorm(mean, std)
        chans = [int(c) for c in channels]
        self.encoder = nn.ModuleList(VGGBlock(1 if i == 0 else chans[i - 1], c) for i, c in enumerate(chans))
        self.pool = nn.MaxPool2d(2)
        self.lam = nn.ModuleList(
            LocationAttention(chans[i], height >> i, width >> i, head_prior) for i in range(lam_levels)
        )
        deep_h, deep_w = height // multiple, width // multiple
        if min(deep_h, deep_w) < 5:  # the SPPM's 5×5 average pool needs a 5×5 bottleneck map
            raise EdgeInspectError(
                f"input_size must be at least {5 * multiple}x{5 * multiple} (the shape module's 5x5 pool needs a "
                f"5x5 bottleneck map), got {height}x{width}"
            )
        self.fem = FeatureEnhancement(chans[-1], fem_rates)
        self.shape = ShapeDetection(chans[-1], sd_channels, chans[-1], deep_h, deep_w)
        self.decoder = nn.ModuleList(
            DecoderStage(chans[i + 1], chans[i], chans[i]) for i in reversed(range(len(chans) - 1))
        )
        self.head = nn.Conv2d(chans[0], 1, 1)
        _init_convs(self)
        for m in [self.head, *(lam.head for lam in self.lam)]:
            nn.init.normal_(m.weight, std=0.01)
            nn.init.constant_(m.bias, math.log(head_prior / (1.0 - head_prior)))
        self.arch = "lsanet"
        self.init_kwargs: dict[str, Any] = {}
        self.default_cfg = _make_cfg("lsanet", self.input_size, mean, std, multiple)
        if not self.lam:  # no location attention: no loc output
            self.default_cfg["outputs"] = ("prob",)

    def _run(self, x: Tensor) -> dict[str, Tensor]:
        check_input(x, self.arch, self.input_size, self.size_multiple)
        y = self.normalize(x)
        skips: list[Tensor] = []
        loc_maps: list[Tensor] = []
        for level, block in enumerate(self.encoder):
            if level > 0:
                y = self.pool(y)
            y = block(y)
            if level < len(self.lam):
                y, loc = self.lam[level](y)
                loc_maps.append(loc if level == 0 else F.interpolate(loc, size=x.shape[-2:], mode="bilinear",
                                                                      align_corners=False))
            if level < len(self.encoder) - 1:
                skips.append(y)
        y, v1, v2 = self.shape(self.fem(y))
        for stage, skip in zip(self.decoder, reversed(skips)):
            y = stage(y, skip)
        out = {"seg_logits": self.head(y), "v1": v1, "v2": v2}
        if loc_maps:
            out["loc_logits"] = torch.stack(loc_maps).mean(dim=0) if len(loc_maps) > 1 else loc_maps[0]
        return out

    # -- inference ---------------------------------------------------------------------------------

    def forward(self, x: Tensor) -> SegOutput:
        """Inference form.

        Args:
            x: ``(N,1,H,W)`` float32 pixel values in [0, 255], ``(H, W) == input_size``.

        Returns:
            ``SegOutput(prob, loc)``: segmentation and location-attention maps, ``(N,1,H,W)`` in
            [0, 1] (``loc`` is None when ``lam_levels == 0``).
        """
        out = self._run(x)
        loc = torch.sigmoid(out["loc_logits"]) if "loc_logits" in out else None
        return SegOutput(torch.sigmoid(out["seg_logits"]), loc)

    # -- training ----------------------------------------------------------------------------------

    def forward_train(self, x: Tensor, *, pcm: bool = False) -> dict[str, Tensor]:
        """Everything the LSA-Net loss needs (:func:`edgeinspect.train.losses_zoo.lsanet_loss`).

        Args:
            x: ``(N,1,H,W)`` float32 pixel values in [0, 255], ``(H, W) == input_size``.
            pcm: ignored (no PCM; accepted for the common training interface).

        Returns:
            dict with ``"seg_logits"`` ``(N,1,H,W)``; ``"prob"`` = sigmoid, in [0, 1];
            ``"loc_logits"`` ``(N,1,H,W)`` (L_loc vs the rectangle labels); ``"loc"`` = sigmoid;
            ``"v1"``, ``"v2"`` ``(N,C,H/16,W/16)`` the SPPM and LSPM features (L_diff).
        """
        del pcm
        out = self._run(x)
        out["prob"] = torch.sigmoid(out["seg_logits"])
        if "loc_logits" in out:
            out["loc"] = torch.sigmoid(out["loc_logits"])
        return out

    def stage_module(self, stage: str) -> nn.Module:
        """``"net"`` → the whole network (one training stage)."""
        if stage not in STAGES:
            raise ValueError(f"unknown stage {stage!r}; choose from {STAGES}")
        return self

    def stage_parameters(self, stage: str = "net") -> Iterator[nn.Parameter]:
        """Trainable parameters (the fixed strip-pooling weights excluded)."""
        return (p for p in self.stage_module(stage).parameters() if p.requires_grad)


# ------------------------------------------------------------------------------------------- factories


def _make_cfg(name: str, input_size: tuple[int, int], mean: float, std: float, multiple: int) -> dict[str, Any]:
    return make_cfg(name, input_size, mean, std, size_multiple=multiple, fixed_input_size=True,
                    outputs=("prob", "loc"))


def _create_lsanet(variant: str, **kwargs: Any) -> LSANet:
    """Build ``variant`` from its ``model_args`` overridden by the caller's ``kwargs``."""
    return create_variant(LSANet, variant, _MODEL_ARGS, default_cfgs, **kwargs)


default_cfgs: dict[str, dict[str, Any]] = {
    "lsanet": {
        **_make_cfg("lsanet", (256, 256), 0.449, 0.226, SIZE_MULTIPLE),
        "paper": "Li et al., LSA-Net, Journal of Manufacturing Processes",
    },
}

_MODEL_ARGS: dict[str, dict[str, Any]] = {"lsanet": {}}


# ---------------------------------------------------------------------------------------- entry points


@register_model
def lsanet(**kwargs: Any) -> LSANet:
    """LSA-Net: VGG U-Net 32-512 with location attention, FEM and shape detection (21.6 M at 256²)."""
    return _create_lsanet("lsanet", **kwargs)
