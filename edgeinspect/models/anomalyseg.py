"""AnomalySeg: fast U-Net whose encoder downsamples once, with SAFM residual blocks.

Paper: Song et al., "AnomalySeg: Deep Learning-Based Fast Anomaly Segmentation Approach for Surface
Defect Detection", Electronics 2024, 13(2), 284. Code: written here from the paper's description
(no code was published with it).

Layout (channels 24 → 48 → 96 → 192):

- Stem: conv 3×3 stride 2 + BN + ReLU, the only downsampling: everything after runs at 1/2 scale.
- Encoder: per level two SAFM residual blocks (24→48, 48→96, 96→192, no pooling: the U-Net's
  remaining downsampling layers are replaced by these blocks).
- SAFM residual block (:class:`SAFMBlock`): main path two pairs ``conv 3×1 → BN → ReLU → conv 1×3 →
  BN`` (ReLU between the pairs; ERFNet's factorised body); shortcut path ``SAFM(proj(x))`` (1×1 conv
  + BN when the width changes); ``ReLU(main + shortcut)``.
- SAFM (:class:`SAFM`), spatial attention + feed-forward:
  ``M_s = σ((f3×3 + f5×5 + f7×7)([GAP_c(F), GMP_c(F)]))`` (channel-wise mean and max maps, three
  convs 2 → 1 summed); ``G = Norm(F + M_s)``; ``F′ = Norm(FFN(G) + G)``, FFN = 1×1 (×4) → ReLU → 1×1.
- Decoder: per level concat with the encoder skip, a SAFM block at dilation 1 (192+96 → 96,
  96+48 → 48, 48+24 → 24) and one at dilation 3; bilinear ×2 upsampling + conv 3×3 (no transposed
  conv) back to full size; 1×1 conv; sigmoid.

Size (``edgeinspect models``, 256×256): 2.51 M parameters, 41.0 GMACs. Paper: 2.37 M parameters,
42.35 G (FLOPs; most likely MACs as counted by thop, which also counts BN and element-wise work that
our counter leaves out). Two blocks per encoder level, two conv pairs per block and the FFN ×4
expansion are our choices to land near the paper's figures (+6 % parameters, −3 % MACs; an FFN ×3
gives 2.26 M / 37.0 G). Nearly all work runs at 1/2 scale, hence GMACs ≈ params × (H/2·W/2) / 10⁹.

Choices where the paper is silent (documented deviations):

- One input channel; normalisation inside: ``x`` in [0, 255] → ``(x/255 - 0.449)/0.226``.
- "Norm" is BatchNorm (folds at export; LayerNorm over channels would need transposes). The FFN
  uses ReLU (int8-friendly) rather than GELU.
- ``M_s (N,1,H,W)`` is *added* to every channel of ``F`` (broadcast), as the formula says.
- The shortcut projection (1×1 conv + BN) is applied before SAFM when the width changes.
- Fully convolutional: any even H, W (``size_multiple = 2``); ``input_size`` sets the cfg only.
- Head bias starts at the prior ``log(p/(1-p))``, ``p = 0.01``.
- Training (``train/recipes/anomalyseg.yaml``, :mod:`edgeinspect.train.families.anomalyseg`): the
  paper gives Dice + λ·Focal (α 0.1, γ 2, λ "decaying" from 1), a warm-up to 0.1 and a cosine to
  1e-4, batch 8. Ours: SGD momentum 0.9 (the optimizer is not named), wd 1e-4, 100 epochs, a 1-epoch
  per-batch linear warm-up, λ falling linearly to 0 over the run.

Example:
    >>> from edgeinspect.models import create_model
    >>> model = create_model("anomalyseg").eval()
    >>> out = model(torch.full((1, 1, 256, 256), 128.0))       # SegOutput(prob (1,1,256,256), loc=None)
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

__all__ = ["AnomalySeg", "SAFM", "SAFMBlock", "default_cfgs"]

STAGES = ("net",)
SIZE_MULTIPLE = 2


# ---------------------------------------------------------------------------------------------- blocks


class SpatialAttentionMap(nn.Module):
    """``M_s = σ((f3×3 + f5×5 + f7×7)([mean_c(F), max_c(F)]))``.

    Shapes: ``(N,C,H,W)`` → ``(N,1,H,W)`` in (0, 1).
    """

    def __init__(self, kernel_sizes: Sequence[int] = (3, 5, 7)) -> None:
        super().__init__()
        self.convs = nn.ModuleList(nn.Conv2d(2, 1, k, padding=k // 2, bias=False) for k in kernel_sizes)

    def forward(self, x: Tensor) -> Tensor:
        maps = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)
        logits = self.convs[0](maps)
        for conv in self.convs[1:]:
            logits = logits + conv(maps)
        return torch.sigmoid(logits)


class SAFM(nn.Module):
    """Spatial-attention feed-forward module: ``G = Norm(F + M_s)``, ``F′ = Norm(FFN(G) + G)``.

    Args:
        channels: ``C`` (unchanged).
        expansion: FFN hidden width = ``expansion × C``.

    Shapes: ``(N,C,H,W)`` → ``(N,C,H,W)``.
    """

    def __init__(self, channels: int, expansion: int = 4) -> None:
        super().__init__()
        self.attention = SpatialAttentionMap()
        self.norm1 = nn.BatchNorm2d(channels)
        self.ffn = nn.Sequential(
            nn.Conv2d(channels, expansion * channels, 1), nn.ReLU(), nn.Conv2d(expansion * channels, channels, 1)
        )
        self.norm2 = nn.BatchNorm2d(channels)

    def forward(self, x: Tensor) -> Tensor:
        g = self.norm1(x + self.attention(x))
        return self.norm2(self.ffn(g) + g)


class SAFMBlock(nn.Module):
    """Residual block: 3×1 + 1×3 conv pairs on the main path, SAFM on the shortcut.

    ``ReLU(main(x) + SAFM(proj(x)))`` with ``main`` = for each dilation ``d``: conv 3×1 (d) → BN →
    ReLU → conv 1×3 (d) → BN, ReLU between pairs (ERFNet's factorised "non-bottleneck-1D" body);
    ``proj`` = 1×1 conv + BN when the width changes, else identity.

    Args:
        in_channels: input channels.
        out_channels: output channels.
        dilations: one 3×1 + 1×3 pair per entry, at that dilation (encoder ``(1, 1)``, decoder
            ``(1, 1)`` and ``(3, 3)``).
        expansion: SAFM FFN expansion.

    Shapes: ``(N,in,H,W)`` → ``(N,out,H,W)``.
    """

    def __init__(
        self, in_channels: int, out_channels: int, *, dilations: Sequence[int] = (1, 1), expansion: int = 4
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for i, d in enumerate(dilations):
            if i:
                layers.append(nn.ReLU())
            layers += [
                nn.Conv2d(in_channels if i == 0 else out_channels, out_channels, (3, 1), padding=(d, 0),
                          dilation=(d, 1), bias=False),
                nn.BatchNorm2d(out_channels),
                nn.ReLU(),
                nn.Conv2d(out_channels, out_channels, (1, 3), padding=(0, d), dilation=(1, d), bias=False),
                nn.BatchNorm2d(out_channels),
            ]
        self.main = nn.Sequential(*layers)
        self.proj = (
            nn.Identity()
            if in_channels == out_channels
            else ConvNormAct(in_channels, out_channels, 1, act_layer=None)
        )
        self.safm = SAFM(out_channels, expansion)
        self.act = nn.ReLU()

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.main(x) + self.safm(self.proj(x)))


def _init_convs(module: nn.Module) -> None:
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


# ----------------------------------------------------------------------------------------------- model


class AnomalySeg(nn.Module):
    """AnomalySeg: stride-2 stem, SAFM residual encoder/decoder at 1/2 scale, bilinear ×2 + conv, 1×1 head.

    Build it with :func:`edgeinspect.models.create_model` (``"anomalyseg"``).

    Args:
        input_size: ``(H, W)`` recorded in ``default_cfg`` (fully convolutional: any even size works).
        mean: mean of the [0, 1]-scaled grayscale input.
        std: standard deviation of the [0, 1]-scaled input.
        channels: widths of the stem and the encoder levels (paper: 24, 48, 96, 192).
        encoder_depth: SAFM blocks per encoder level.
        block_dilations: per-pair dilations of the encoder blocks and of each decoder level's first block.
        decoder_dilations: per-pair dilations of each decoder level's second block (paper: dilation 3
            beside 1).
        expansion: SAFM FFN expansion.
        head_prior: initial foreground probability of the head.

    Attributes:
        default_cfg, arch, init_kwargs: as every edgeinspect model.
    """

    STAGES = STAGES

    def __init__(
        self,
        *,
        input_size: Sequence[int] = (256, 256),
        mean: float = 0.449,
        std: float = 0.226,
        channels: Sequence[int] = (24, 48, 96, 192),
        encoder_depth: int = 2,
        block_dilations: Sequence[int] = (1, 1),
        decoder_dilations: Sequence[int] = (3, 3),
        expansion: int = 4,
        head_prior: float = 0.01,
    ) -> None:
        super().__init__()
        height, width = (int(v) for v in input_size)
        if height <= 0 or width <= 0 or height % SIZE_MULTIPLE or width % SIZE_MULTIPLE:
            raise EdgeInspectError(f"input_size must be positive multiples of {SIZE_MULTIPLE}, got {tuple(input_size)}")
        chans = [int(c) for c in channels]
        if len(chans) < 2 or encoder_depth < 1 or not block_dilations or not decoder_dilations:
            raise EdgeInspectError("need >= 2 channel levels, encoder_depth >= 1 and non-empty dilations")
        self.input_size = (height, width)
        self.normalize = InputNorm(mean, std)
        self.stem = ConvNormAct(1, chans[0], 3, stride=2)
        self.encoder = nn.ModuleList(
            nn.Sequential(*[
                SAFMBlock(chans[i] if j == 0 else chans[i + 1], chans[i + 1], dilations=block_dilations,
                          expansion=expansion)
                for j in range(encoder_depth)
            ])
            for i in range(len(chans) - 1)
        )
        self.decoder = nn.ModuleList(   # 192+96 → 96, 96+48 → 48, 48+24 → 24
            nn.Sequential(
                SAFMBlock(chans[i + 1] + chans[i], chans[i], dilations=block_dilations, expansion=expansion),
                SAFMBlock(chans[i], chans[i], dilations=decoder_dilations, expansion=expansion),
            )
            for i in reversed(range(len(chans) - 1))
        )
        self.up_conv = ConvNormAct(chans[0], chans[0], 3)
        self.head = nn.Conv2d(chans[0], 1, 1)
        _init_convs(self)
        nn.init.normal_(self.head.weight, std=0.01)
        nn.init.constant_(self.head.bias, math.log(head_prior / (1.0 - head_prior)))
        self.arch = "anomalyseg"
        self.init_kwargs: dict[str, Any] = {}
        self.default_cfg = _make_cfg("anomalyseg", self.input_size, mean, std)

    def _logits(self, x: Tensor) -> Tensor:
        check_input(x, self.arch, None, SIZE_MULTIPLE)
        y = self.stem(self.normalize(x))                   # (N,24,H/2,W/2)
        skips = [y]
        for block in self.encoder:
            y = block(y)
            skips.append(y)
        skips.pop()                                        # the deepest output is y itself
        for stage, skip in zip(self.decoder, reversed(skips)):
            y = stage(torch.cat([y, skip], dim=1))
        y = F.interpolate(y, size=x.shape[-2:], mode="bilinear", align_corners=False)
        return self.head(self.up_conv(y))

    def forward(self, x: Tensor) -> SegOutput:
        """Inference form.

        Args:
            x: ``(N,1,H,W)`` float32 pixel values in [0, 255]; H, W even.

        Returns:
            ``SegOutput(prob (N,1,H,W) in [0, 1], loc=None)``.
        """
        return SegOutput(torch.sigmoid(self._logits(x)), None)

    def forward_train(self, x: Tensor, *, pcm: bool = False) -> dict[str, Tensor]:
        """``{"seg_logits": (N,1,H,W) logits, "prob": sigmoid in [0, 1]}`` (``pcm`` is ignored).

        Loss: :func:`edgeinspect.train.losses_zoo.anomalyseg_loss`.
        """
        del pcm
        logits = self._logits(x)
        return {"seg_logits": logits, "prob": torch.sigmoid(logits)}

    def stage_module(self, stage: str) -> nn.Module:
        """``"net"`` → the whole network (one training stage)."""
        if stage not in STAGES:
            raise ValueError(f"unknown stage {stage!r}; choose from {STAGES}")
        return self

    def stage_parameters(self, stage: str = "net") -> Iterator[nn.Parameter]:
        """All trainable parameters."""
        return (p for p in self.stage_module(stage).parameters() if p.requires_grad)


# ------------------------------------------------------------------------------------------- factories


def _make_cfg(name: str, input_size: tuple[int, int], mean: float, std: float) -> dict[str, Any]:
    return make_cfg(name, input_size, mean, std, size_multiple=SIZE_MULTIPLE, fixed_input_size=False,
                    outputs=("prob",))


def _create_anomalyseg(variant: str, **kwargs: Any) -> AnomalySeg:
    """Build ``variant`` from its ``model_args`` overridden by the caller's ``kwargs``."""
    return create_variant(AnomalySeg, variant, _MODEL_ARGS, default_cfgs, **kwargs)


default_cfgs: dict[str, dict[str, Any]] = {
    "anomalyseg": {
        **_make_cfg("anomalyseg", (256, 256), 0.449, 0.226),
        "paper": "Song et al., Electronics 2024, 13(2), 284",
    },
}

_MODEL_ARGS: dict[str, dict[str, Any]] = {"anomalyseg": {}}


# ---------------------------------------------------------------------------------------- entry points


@register_model
def anomalyseg(**kwargs: Any) -> AnomalySeg:
    """AnomalySeg: 24-48-96-192 SAFM residual U-Net at 1/2 scale (paper: 2.37 M parameters)."""
    return _create_anomalyseg("anomalyseg", **kwargs)
