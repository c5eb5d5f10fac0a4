"""LPC-Net: Localization and Pixel-Confidence Network for surface defect segmentation.

Paper: Wang et al., "Localization and Pixel-Confidence Network for Surface Defect Segmentation",
Sensors 2025, 25(15), 4548. Code: written here from the paper; the backbones (ResNet-50, PP-LCNet)
are :mod:`edgeinspect.models.backbones` (timm's layouts written out, one input channel, no pretrained
weights).

Two stages and one fixed module:

- Stage 1, Defect Localization Module (DLM, ``model.dlm``): conv 7×7/2 + max-pool stem, three
  bottleneck blocks, a skip connection that fuses the shallow (stem) and deep features into
  ``X̄ (N,C,H/4,W/4)`` (concat + 1×1), a row convolution ``X̄w (N,C,1,W/4)`` (learned full-height
  depthwise projection) and a column convolution ``X̄h (N,C,H/4,1)`` (full-width), fused by their
  outer product ``X̃ (N,C,H/4,W/4)`` (:class:`~edgeinspect.ops.strip_projection.torch.StripProjection`),
  a 1×1 conv to one channel and ×4 bilinear upsampling: ``Y_loc`` logits ``(N,1,H,W)``.
  Trained alone on rectangular boundary labels ``Ŷ_loc`` (:func:`edgeinspect.models.labels.rectangle_labels`).
- Stage 2, segmentation (``model.seg``): DeepLabV3+ (encoder = ResNet-50 at output stride 16,
  ASPP, decoder with a low-level projection at 1/4 scale, head, ×4 upsampling): ``Y_isr`` logits.
  Its BCE loss is weighted by the compensation map of the frozen DLM,
  ``M_comp = 1 + ω·Norm[-1,1](Y_loc)`` (:func:`compensation_weights`, ω = 0.2).
- Pixel Confidence Module (``model.pcm``, fixed, never trained):
  ``Y_fsr = min(Y_isr ⊙ M_pcm, 1)`` with ``M_pcm = 1 - ε + 2ε·M_ipc`` and ``M_ipc = K * Y_isr``
  (3×3 mean, ε = 0.2; :class:`~edgeinspect.ops.pixel_confidence.torch.PixelConfidence`).
  Its loss ``L_pcm`` is the BCE between ``M_ipc`` of the prediction and the same kernel on the truth.

Paper table (256×256 input) and this implementation (``edgeinspect models``):

    ====================  ===========  ===========  ==================================
    part                  paper        here         notes
    ====================  ===========  ===========  ==================================
    DeepLabV3+ R50 (seg)  39.75 M      39.75 M      14.84 "GFLOPs" / 14.77 GMACs here
    DLM (dlm)             0.16 M       0.16 M       0.65 G / 0.61 GMACs here
    ====================  ===========  ===========  ==================================

How the stages connect: stage 2 does NOT take ``Y_loc`` as an input. The paper uses the DLM only to
build ``M_comp``, which weights the stage-2 loss; at inference both run side by side on the same
normalised image and ``loc`` is returned as an extra output (``SegOutput.loc``).

Deviations / choices (the paper leaves them open):

- One input channel (grayscale); input normalisation inside the network: ``x (N,1,H,W)`` in
  [0, 255] → ``(x/255 - mean)/std`` (default mean 0.449, std 0.226, ImageNet gray).
- Decoder: ONE 3×3 256-channel conv after the concatenation (the original DeepLabV3+ has two); this
  is what reproduces the paper's 39.75 M. ASPP convs are plain (not separable), no dropout.
- DLM widths (stem 64, C = 168, bottleneck width 42) were chosen to match the paper's 0.16 M; the
  strip-projection weights are ``(C, H/4)`` and ``(C, W/4)``, so the network serves exactly one tile
  size: ``input_size`` is a constructor option recorded in the checkpoint (``default_cfg
  ["fixed_input_size"]``). The projections start as strip pooling (weights 1/H, 1/W).
- Heads' biases start at the prior ``log(p/(1-p))``, ``p = 0.01`` (defects are sparse).
- ``lpcnet-lite`` (the bundled CPU model) is not in the paper: a PP-LCNet-1.0 encoder cut at
  stride 16 (timm's ``lcnet_100`` layout, no dilation; blocks past stride 16 not built), a 64-channel
  depthwise-separable ASPP at rates 2/4/6 (the 1/16 map of a 256² tile is 16×16: rates ≥ 16 would
  only see padding), a 24-channel low-level projection, one separable 64-channel decoder conv and a
  32-channel DLM: seg 0.55 M / 0.23 GMACs, DLM 0.011 M / 0.034 GMACs at 256². FP32 at 256², batch 1,
  2 threads: ONNX Runtime ≈ 5 ms, OpenVINO ≈ 7 ms (torch eager ≈ 22 ms).

Example:
    >>> from edgeinspect.models import create_model
    >>> model = create_model("lpcnet-lite").eval()
    >>> out = model(torch.full((1, 1, 256, 256), 128.0))     # SegOutput(prob, loc), (1,1,256,256) in [0,1]
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from edgeinspect.errors import EdgeInspectError
from edgeinspect.models.backbones import create_encoder
from edgeinspect.models.base import InputNorm, SegOutput, StageFreezing, check_input, create_variant, make_cfg
from edgeinspect.models.layers import ASPP, Bottleneck, ConvNormAct, conv3x3_block
from edgeinspect.models.registry import register_model
from edgeinspect.ops.pixel_confidence.torch import PixelConfidence
from edgeinspect.ops.strip_projection.torch import StripProjection

__all__ = ["LPCNet", "DefectLocalizationModule", "DeepLabV3Plus", "compensation_weights", "default_cfgs"]

STAGES = ("dlm", "seg")
SIZE_MULTIPLE = 16  # output stride of the encoder


# ---------------------------------------------------------------------------------------------- blocks


def compensation_weights(loc: Tensor, omega: float = 0.2) -> Tensor:
    """LPC-Net compensation map ``M_comp = 1 + ω·Norm[-1,1](Y_loc)`` for the stage-2 BCE.

    ``Norm[-1,1]`` is a per-image min-max normalisation onto [-1, 1]; an image whose map is constant
    gets 0 (weights all 1). The result carries no gradient.

    Args:
        loc: ``(N,1,H,W)`` DLM localisation probabilities (``forward_train(...)["loc"]``), any range.
        omega: compensation strength ω, ``0 <= ω < 1`` (paper: 0.2).

    Returns:
        ``(N,1,H,W)`` weights in ``[1-ω, 1+ω]``, same dtype as ``loc``.
    """
    if not 0.0 <= omega < 1.0:
        raise ValueError(f"omega must be in [0, 1), got {omega}")
    loc = loc.detach()
    flat = loc.flatten(1)
    low = flat.min(dim=1).values.view(-1, 1, 1, 1)
    high = flat.max(dim=1).values.view(-1, 1, 1, 1)
    span = high - low
    norm = torch.where(span > 0, 2.0 * (loc - low) / span.clamp_min(torch.finfo(loc.dtype).tiny) - 1.0, 0.0)
    return 1.0 + omega * norm.clamp(-1.0, 1.0)


def _prior_bias(conv: nn.Conv2d, prior: float) -> None:
    nn.init.constant_(conv.bias, math.log(prior / (1.0 - prior)))


def _init_convs(module: nn.Module) -> None:
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


class DefectLocalizationModule(nn.Module):
    """Stage 1 of LPC-Net: rectangle-shaped defect localisation logits.

    Args:
        input_size: ``(H, W)`` of the network input; multiples of 4. The strip projection is sized
            ``(H/4, W/4)``.
        stem_channels: channels of the 7×7/2 conv stem (the shallow features of the skip).
        channels: ``C`` of the bottleneck blocks, of ``X̄`` and of the strip projection.
        mid_channels: bottleneck width (default ``channels // 4``).
        num_blocks: bottleneck blocks (paper: 3).
        head_prior: initial foreground probability of the head.

    Shapes: normalised ``(N,1,H,W)`` → logits ``(N,1,H,W)``.
    """

    def __init__(
        self,
        input_size: tuple[int, int],
        *,
        stem_channels: int = 64,
        channels: int = 168,
        mid_channels: int | None = None,
        num_blocks: int = 3,
        head_prior: float = 0.01,
    ) -> None:
        super().__init__()
        height, width = input_size
        self.stem = ConvNormAct(1, stem_channels, 7, stride=2)
        self.pool = nn.MaxPool2d(3, stride=2, padding=1)
        blocks = [Bottleneck(stem_channels if i == 0 else channels, channels, mid_channels) for i in range(num_blocks)]
        self.blocks = nn.Sequential(*blocks)
        self.fuse = ConvNormAct(stem_channels + channels, channels, 1)
        self.strip = StripProjection(channels, height // 4, width // 4)
        self.head = nn.Conv2d(channels, 1, 1)
        _init_convs(self)
        nn.init.normal_(self.head.weight, std=0.01)
        _prior_bias(self.head, head_prior)

    def forward(self, x: Tensor) -> Tensor:
        """Normalised image ``(N,1,H,W)`` → ``Y_loc`` logits ``(N,1,H,W)``."""
        shallow = self.pool(self.stem(x))                       # (N,S,H/4,W/4)
        fused = self.fuse(torch.cat([shallow, self.blocks(shallow)], dim=1))   # X̄ (N,C,H/4,W/4)
        logits = self.head(self.strip(fused))                  # X̃ → (N,1,H/4,W/4)
        return F.interpolate(logits, size=x.shape[-2:], mode="bilinear", align_corners=False)


class DeepLabV3PlusDecoder(nn.Module):
    """DeepLabV3+ decoder: ASPP on the 1/16 features, ×4 up, concat with the projected 1/4 features, 3×3.

    Args:
        low_channels: channels of the 1/4-scale encoder features.
        high_channels: channels of the 1/16-scale encoder features.
        aspp_channels: ASPP width (paper: 256).
        aspp_rates: ASPP dilation rates (paper: 6, 12, 18).
        aspp_separable: depthwise-separable ASPP 3×3 branches.
        low_level_channels: width of the low-level 1×1 projection (paper: 48).
        decoder_channels: width of the 3×3 conv after the concatenation (paper: 256).
        decoder_separable: depthwise-separable 3×3 decoder conv.

    Shapes: ``(N,low,H/4,W/4)``, ``(N,high,H/16,W/16)`` → ``(N,decoder_channels,H/4,W/4)``.
    """

    def __init__(
        self,
        low_channels: int,
        high_channels: int,
        *,
        aspp_channels: int = 256,
        aspp_rates: Sequence[int] = (6, 12, 18),
        aspp_separable: bool = False,
        low_level_channels: int = 48,
        decoder_channels: int = 256,
        decoder_separable: bool = False,
    ) -> None:
        super().__init__()
        self.aspp = ASPP(high_channels, aspp_channels, aspp_rates, separable=aspp_separable)
        self.low_project = ConvNormAct(low_channels, low_level_channels, 1)
        self.fuse = conv3x3_block(aspp_channels + low_level_channels, decoder_channels, separable=decoder_separable)

    def forward(self, low: Tensor, high: Tensor) -> Tensor:
        up = F.interpolate(self.aspp(high), size=low.shape[-2:], mode="bilinear", align_corners=False)
        return self.fuse(torch.cat([up, self.low_project(low)], dim=1))


class DeepLabV3Plus(nn.Module):
    """Stage 2 of LPC-Net: DeepLabV3+ (encoder → decoder → head, smp style).

    Args:
        backbone: encoder, ``"resnet50"`` (output stride 16) or ``"lcnet_100"``
            (:mod:`edgeinspect.models.backbones`); it returns the 1/4- and 1/16-scale features.
        head_prior: initial foreground probability of the head.
        **decoder_kwargs: :class:`DeepLabV3PlusDecoder` options.

    Shapes: normalised ``(N,1,H,W)`` → ``Y_isr`` logits ``(N,1,H,W)``; H, W multiples of 16.
    """

    def __init__(
        self,
        backbone: str = "resnet50",
        *,
        head_prior: float = 0.01,
        **decoder_kwargs: Any,
    ) -> None:
        super().__init__()
        self.encoder = create_encoder(backbone, in_chans=1)
        low_channels, high_channels = self.encoder.out_channels
        self.decoder = DeepLabV3PlusDecoder(low_channels, high_channels, **decoder_kwargs)
        self.head = nn.Conv2d(self.decoder.fuse.bn.num_features, 1, 1)
        _init_convs(self.decoder)
        nn.init.normal_(self.head.weight, std=0.01)
        _prior_bias(self.head, head_prior)

    def forward(self, x: Tensor) -> Tensor:
        """Normalised image ``(N,1,H,W)`` → ``Y_isr`` logits ``(N,1,H,W)``."""
        low, high = self.encoder(x)
        logits = self.head(self.decoder(low, high))
        return F.interpolate(logits, size=x.shape[-2:], mode="bilinear", align_corners=False)


# ----------------------------------------------------------------------------------------------- model


class LPCNet(StageFreezing, nn.Module):
    """LPC-Net: DLM (stage 1) + DeepLabV3+ (stage 2) + fixed PCM.

    Build it with :func:`edgeinspect.models.create_model` (``"lpcnet"``, ``"lpcnet-lite"``).

    Args:
        input_size: ``(H, W)`` tile the network serves, multiples of 16 (the DLM's strip projection
            is sized from it). Default ``(256, 256)``.
        mean: mean of the [0, 1]-scaled grayscale input.
        std: standard deviation of the [0, 1]-scaled input.
        backbone: stage-2 encoder, ``"resnet50"`` | ``"lcnet_100"`` (see :class:`DeepLabV3Plus`).
        aspp_channels, aspp_rates, aspp_separable, low_level_channels, decoder_channels,
        decoder_separable: stage-2 decoder (see :class:`DeepLabV3PlusDecoder`).
        dlm_stem_channels, dlm_channels, dlm_mid_channels, dlm_blocks: stage 1
            (see :class:`DefectLocalizationModule`).
        pcm_kernel_size, pcm_kernel, pcm_epsilon: the fixed PCM (see ``PixelConfidence``).
        head_prior: initial foreground probability of both heads.

    Attributes:
        dlm, seg, pcm: the three parts; ``STAGES = ("dlm", "seg")`` names the trainable ones.
        default_cfg: ``name, input_size (1,H,W), size_multiple, fixed_input_size, mean, std,
            input_range, outputs``.
        arch, init_kwargs: set by ``create_model`` (registered name, constructor options).
    """

    STAGES = STAGES

    def __init__(
        self,
        *,
        input_size: Sequence[int] = (256, 256),
        mean: float = 0.449,
        std: float = 0.226,
        backbone: str = "resnet50",
        aspp_channels: int = 256,
        aspp_rates: Sequence[int] = (6, 12, 18),
        aspp_separable: bool = False,
        low_level_channels: int = 48,
        decoder_channels: int = 256,
        decoder_separable: bool = False,
        dlm_stem_channels: int = 64,
        dlm_channels: int = 168,
        dlm_mid_channels: int | None = None,
        dlm_blocks: int = 3,
        pcm_kernel_size: int = 3,
        pcm_kernel: Sequence[Sequence[float]] | None = None,
        pcm_epsilon: float = 0.2,
        head_prior: float = 0.01,
    ) -> None:
        super().__init__()
        height, width = (int(v) for v in input_size)
        if height <= 0 or width <= 0 or height % SIZE_MULTIPLE or width % SIZE_MULTIPLE:
            raise EdgeInspectError(f"input_size must be positive multiples of {SIZE_MULTIPLE}, got {tuple(input_size)}")
        self.input_size = (height, width)
        self.normalize = InputNorm(mean, std)
        self.dlm = DefectLocalizationModule(
            self.input_size, stem_channels=dlm_stem_channels, channels=dlm_channels, mid_channels=dlm_mid_channels,
            num_blocks=dlm_blocks, head_prior=head_prior,
        )
        self.seg = DeepLabV3Plus(
            backbone, head_prior=head_prior,
            aspp_channels=aspp_channels, aspp_rates=tuple(aspp_rates), aspp_separable=aspp_separable,
            low_level_channels=low_level_channels, decoder_channels=decoder_channels,
            decoder_separable=decoder_separable,
        )
        self.pcm = PixelConfidence(pcm_kernel_size, kernel=pcm_kernel, epsilon=pcm_epsilon)
        self._frozen: set[str] = set()
        self.arch = "lpcnet"
        self.init_kwargs: dict[str, Any] = {}
        self.default_cfg = _make_cfg("lpcnet", self.input_size, mean, std)

    # -- inference ---------------------------------------------------------------------------------

    def forward(self, x: Tensor) -> SegOutput:
        """Inference form (PCM always on).

        Args:
            x: ``(N,1,H,W)`` float32 pixel values in [0, 255], ``(H, W) == input_size``.

        Returns:
            ``SegOutput(prob, loc)``: ``prob`` = PCM output ``Y_fsr`` and ``loc`` = ``sigmoid(Y_loc)``,
            both ``(N,1,H,W)`` in [0, 1].
        """
        check_input(x, self.arch, self.input_size, SIZE_MULTIPLE)
        xn = self.normalize(x)
        loc = torch.sigmoid(self.dlm(xn))
        prob = self.pcm(torch.sigmoid(self.seg(xn)))
        return SegOutput(prob, loc)

    # -- training ----------------------------------------------------------------------------------

    def forward_train(self, x: Tensor, *, pcm: bool, stages: Sequence[str] = STAGES) -> dict[str, Tensor]:
        """Everything the LPC-Net losses need.

        Args:
            x: ``(N,1,H,W)`` float32 pixel values in [0, 255], ``(H, W) == input_size``.
            pcm: apply the PCM to ``prob`` (stage 2 from epoch ``p_set`` on).
            stages: stages to run; ``("dlm",)`` skips the segmentation network (stage-1 training),
                ``("seg",)`` skips the DLM.

        Returns:
            dict of ``(N,1,H,W)`` tensors (keys of the stages that ran):

            - ``"loc_logits"``: DLM logits ``Y_loc`` (stage 1 loss: BCE vs ``rectangle_labels``).
            - ``"loc"``: ``sigmoid(loc_logits)`` in [0, 1] (→ :func:`compensation_weights`).
            - ``"seg_logits"``: stage-2 logits before any sigmoid (``L_img``, weighted by ``M_comp``).
            - ``"prob_isr"``: ``sigmoid(seg_logits)``, ``Y_isr`` in [0, 1].
            - ``"prob"``: ``Y_fsr = pcm(prob_isr)`` if ``pcm`` else ``prob_isr``, in [0, 1].
            - ``"m_ipc"``: ``model.pcm.m_ipc(prob_isr)`` in [0, 1]; ``L_pcm`` = BCE(m_ipc,
              ``model.pcm.m_ipc(mask)``). Always computed (cheap), used when ``pcm``.
        """
        unknown = set(stages) - set(STAGES)
        if unknown:
            raise ValueError(f"unknown stage(s) {sorted(unknown)}; choose from {STAGES}")
        check_input(x, self.arch, self.input_size, SIZE_MULTIPLE)
        xn = self.normalize(x)
        out: dict[str, Tensor] = {}
        if "dlm" in stages:
            out["loc_logits"] = self.dlm(xn)
            out["loc"] = torch.sigmoid(out["loc_logits"])
        if "seg" in stages:
            out["seg_logits"] = self.seg(xn)
            out["prob_isr"] = torch.sigmoid(out["seg_logits"])
            out["m_ipc"] = self.pcm.m_ipc(out["prob_isr"])
            out["prob"] = self.pcm(out["prob_isr"]) if pcm else out["prob_isr"]
        return out

    def stage_module(self, stage: str) -> nn.Module:
        """``"dlm"`` → ``self.dlm``, ``"seg"`` → ``self.seg``."""
        if stage not in STAGES:
            raise ValueError(f"unknown stage {stage!r}; choose from {STAGES}")
        return getattr(self, stage)

    def stage_parameters(self, stage: str) -> Iterator[nn.Parameter]:
        """Parameters of one stage (``"dlm"`` or ``"seg"``), e.g. for that stage's optimizer."""
        return self.stage_module(stage).parameters()


# ------------------------------------------------------------------------------------------- factories


def _make_cfg(name: str, input_size: tuple[int, int], mean: float, std: float) -> dict[str, Any]:
    return make_cfg(name, input_size, mean, std, size_multiple=SIZE_MULTIPLE, fixed_input_size=True,
                    outputs=("prob", "loc"))


def _create_lpcnet(variant: str, **kwargs: Any) -> LPCNet:
    """Build ``variant`` from its ``model_args`` overridden by the caller's ``kwargs``."""
    return create_variant(LPCNet, variant, _MODEL_ARGS, default_cfgs, **kwargs)


default_cfgs: dict[str, dict[str, Any]] = {
    "lpcnet": {
        **_make_cfg("lpcnet", (256, 256), 0.449, 0.226),
        "paper": "Wang et al., Sensors 2025, 25(15), 4548",
    },
    "lpcnet-lite": {
        **_make_cfg("lpcnet-lite", (256, 256), 0.449, 0.226),
        "paper": "Wang et al., Sensors 2025 (LPC-Net), with a PP-LCNet-1.0 encoder (edgeinspect)",
    },
}

_MODEL_ARGS: dict[str, dict[str, Any]] = {
    "lpcnet": dict(backbone="resnet50"),
    "lpcnet-lite": dict(
        backbone="lcnet_100",
        aspp_channels=64,
        aspp_rates=(2, 4, 6),
        aspp_separable=True,
        low_level_channels=24,
        decoder_channels=64,
        decoder_separable=True,
        dlm_stem_channels=16,
        dlm_channels=32,
    ),
}


# ---------------------------------------------------------------------------------------- entry points


@register_model
def lpcnet(**kwargs: Any) -> LPCNet:
    """LPC-Net as in the paper: DeepLabV3+ ResNet-50 (39.75 M) + DLM (0.16 M) + PCM."""
    return _create_lpcnet("lpcnet", **kwargs)


@register_model
def lpcnet_lite(**kwargs: Any) -> LPCNet:
    """``lpcnet-lite``: LPC-Net with a PP-LCNet-1.0 encoder and narrow decoder/DLM for CPUs (bundled default)."""
    return _create_lpcnet("lpcnet-lite", **kwargs)
