"""PSIC-Net: Pixel-wise Segmentation and Image-wise Classification network for surface defects.

Paper: Lei, Sun, Zhang, Liu, Xu, "PSIC-Net: Pixel-Wise Segmentation and Image-Wise Classification
Network for Surface Defects", Machines 2021, 9(10), 221. Code: written here from the paper (no code
was published with it); BSD-style as the rest of edgeinspect. Its feature extractor and classifier
follow Tabernik et al., "Segmentation-based deep-learning approach for surface-defect detection",
J. Intell. Manuf. 2020.

Three sub-networks, two trainable stages (``STAGES = ("seg", "cls")``):

- Feature extraction (``model.features``, stage ``"seg"``): conv 5×5-32 ×2 → max-pool → conv 5×5-64
  ×3 → max-pool → conv 5×5-128 ×4 → max-pool → conv 15×15-1024, BatchNorm + ReLU after every conv:
  ``F (N,1024,H/8,W/8)``; the pooled maps ``P1 (N,32,H/2,W/2)`` and ``P2 (N,64,H/4,W/4)`` feed the decoder.
- Inverse-convolution (decoder, ``model.decoder``, stage ``"seg"``): 1×1 conv → one-channel heatmap at
  1/8; six 5×5 transposed convs (three of them ×2 upsampling): ``up→64, 64, 64`` then ``+ P2``;
  ``up→32, 32`` then ``+ P1``; ``up→32`` at full size; 1×1 conv → segmentation logits ``(N,1,H,W)``.
- Classification (``model.classifier``, stage ``"cls"``): on ``concat(F, maxpool8(seg_logits))``
  (1025 channels at 1/8): three × (max-pool 2 + conv 5×5 to 8/16/32 channels, BN + ReLU), global
  max and average pooling (32 + 32), plus global max and average of the segmentation logits (1 + 1)
  → one fully connected layer → image-level defect logit; ``score = sigmoid(logit)``.

Training (two steps, :mod:`edgeinspect.train.losses_zoo`): step 1 trains ``"seg"`` with the per-pixel
class-balanced cross-entropy (``α = |X−|/|X|`` over the batch, :func:`psicnet_seg_loss`); step 2 freezes
it (:meth:`PSICNet.freeze_stage`) and trains ``"cls"`` with BCE on the image label
(:func:`psicnet_cls_loss`). The classifier's inputs are detached, so it never changes the segmentation
even when both are trained together.

Size (``edgeinspect models``, 256×256, one input channel): ``seg`` 31.52 M parameters, 42.00 GMACs
counted by ``complexity.py`` (its hooks skip the six transposed convs: 1.89 GMACs more, 43.89 in all;
30.2 of them in the 15×15-1024 conv); ``cls`` 0.22 M, 0.05 GMACs. Total 31.74 M. The paper gives no
parameter or FLOP count for this layout; 31.7 M is what the listed layers imply.

Choices where the paper is silent (documented deviations):

- One input channel; normalisation inside: ``x`` in [0, 255] → ``(x/255 - 0.449)/0.226``.
- Decoder skip maps are the max-pool outputs (their channel counts, 32 and 64, are the decoder's
  at 1/2 and 1/4). Every transposed conv is ``k=5``, padding 2 (``output_padding=1`` when it
  upsamples) followed by BN + ReLU; the skip is added after the ReLU. The heatmap 1×1 conv and the
  final 1×1 conv are plain convs (signed outputs; the last one gives the logits).
- The classifier sees the segmentation *logits* (not probabilities): max-pooled 8×8 for the concat,
  global max/avg at full size. Its pools floor odd sizes; any H, W that are multiples of 8 and at
  least 64 work (``size_multiple = 8``; the network is fully convolutional, so ``input_size`` only
  sets the cfg).
- ``model(x)`` returns ``SegClsOutput(prob, None, score)``; the ONNX export has the outputs ``prob``
  ``(N,1,H,W)`` and ``score`` ``(N,)``, and engines return both (``eval`` scores image AP/AUC/accuracy
  on ``score``).
- Training (not specified beyond "two steps"): step 2 starts from the *best* step-1 checkpoint (val
  mIoU) and keeps the epoch with the lowest val classifier loss; epochs 100 + 50, Adam lr 1e-3,
  batch 8 are our choices (``train/recipes/psicnet.yaml``).
- Heads' biases start at the prior ``log(p/(1-p))``, ``p = 0.01``.

Example:
    >>> from edgeinspect.models import create_model
    >>> model = create_model("psicnet").eval()
    >>> out = model(torch.full((1, 1, 256, 256), 128.0))       # SegClsOutput(prob (1,1,256,256), None, score (1,))
    >>> prob, score = model.predict(torch.full((1, 1, 256, 256), 128.0))   # score (1,) in [0, 1]
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from edgeinspect.errors import EdgeInspectError
from edgeinspect.models.base import InputNorm, SegClsOutput, StageFreezing, check_input, create_variant, make_cfg
from edgeinspect.models.layers import ConvNormAct
from edgeinspect.models.registry import register_model

__all__ = ["PSICNet", "PSICFeatures", "PSICDecoder", "PSICClassifier", "default_cfgs"]

STAGES = ("seg", "cls")
SIZE_MULTIPLE = 8
MIN_SIZE = 64  # the classifier's three max-pools after the 1/8 features need an 8×8 map


# ---------------------------------------------------------------------------------------------- blocks


class DeconvNormAct(nn.Module):
    """5×5 transposed conv (×2 upsampling or same size) → BatchNorm → ReLU.

    Shapes: ``(N, in, H, W)`` → ``(N, out, 2H, 2W)`` when ``upsample`` else ``(N, out, H, W)``.
    """

    def __init__(self, in_channels: int, out_channels: int, *, upsample: bool, kernel_size: int = 5) -> None:
        super().__init__()
        stride = 2 if upsample else 1
        self.conv = nn.ConvTranspose2d(
            in_channels, out_channels, kernel_size, stride=stride, padding=kernel_size // 2,
            output_padding=stride - 1, bias=False,
        )
        self.bn = nn.BatchNorm2d(out_channels)
        self.act = nn.ReLU()

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.bn(self.conv(x)))


class PSICFeatures(nn.Module):
    """Feature extractor: three 5×5 conv groups with max-pools, then a 15×15 conv.

    Args:
        widths: channels of the three 5×5 groups (paper: 32, 64, 128).
        depths: convs per group (paper: 2, 3, 4).
        out_channels: channels of the 15×15 conv (paper: 1024).
        big_kernel: kernel of the last conv (paper: 15).

    Shapes: normalised ``(N,1,H,W)`` → ``F (N,out,H/8,W/8)``, ``P1 (N,w0,H/2,W/2)``, ``P2 (N,w1,H/4,W/4)``.
    """

    def __init__(
        self,
        widths: Sequence[int] = (32, 64, 128),
        depths: Sequence[int] = (2, 3, 4),
        out_channels: int = 1024,
        big_kernel: int = 15,
    ) -> None:
        super().__init__()
        groups = []
        in_ch = 1
        for width, depth in zip(widths, depths):
            layers = []
            for _ in range(depth):
                layers.append(ConvNormAct(in_ch, width, 5))
                in_ch = width
            groups.append(nn.Sequential(*layers))
        self.group1, self.group2, self.group3 = groups
        self.pool = nn.MaxPool2d(2)
        self.conv_big = ConvNormAct(in_ch, out_channels, big_kernel)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        p1 = self.pool(self.group1(x))   # (N,32,H/2,W/2)
        p2 = self.pool(self.group2(p1))  # (N,64,H/4,W/4)
        p3 = self.pool(self.group3(p2))  # (N,128,H/8,W/8)
        return self.conv_big(p3), p1, p2


class PSICDecoder(nn.Module):
    """Inverse-convolution network: heatmap → six 5×5 transposed convs (3 upsampling), two skip additions.

    Args:
        in_channels: channels of ``F`` (1024).
        skip_channels: channels of ``P1`` and ``P2`` (32, 64); the decoder widths at 1/2 and 1/4.
        head_prior: initial foreground probability of the logits.

    Shapes: ``F (N,C,H/8,W/8)``, ``P1``, ``P2`` → logits ``(N,1,H,W)``.
    """

    def __init__(self, in_channels: int = 1024, skip_channels: Sequence[int] = (32, 64), head_prior: float = 0.01):
        super().__init__()
        c1, c2 = skip_channels
        self.heatmap = nn.Conv2d(in_channels, 1, 1)
        self.up1 = nn.Sequential(
            DeconvNormAct(1, c2, upsample=True), DeconvNormAct(c2, c2, upsample=False),
            DeconvNormAct(c2, c2, upsample=False),
        )
        self.up2 = nn.Sequential(DeconvNormAct(c2, c1, upsample=True), DeconvNormAct(c1, c1, upsample=False))
        self.up3 = DeconvNormAct(c1, c1, upsample=True)
        self.head = nn.Conv2d(c1, 1, 1)
        nn.init.constant_(self.head.bias, math.log(head_prior / (1.0 - head_prior)))

    def forward(self, features: Tensor, p1: Tensor, p2: Tensor) -> Tensor:
        y = self.up1(self.heatmap(features)) + p2   # (N,64,H/4,W/4)
        y = self.up2(y) + p1                        # (N,32,H/2,W/2)
        return self.head(self.up3(y))               # (N,1,H,W)


class PSICClassifier(nn.Module):
    """Image-level classifier on the features and the segmentation logits.

    Args:
        in_channels: channels of ``F`` (the logits add one).
        widths: channels of the three max-pool + 5×5 conv steps (paper: 8, 16, 32).
        head_prior: initial defect probability of the image-level logit.

    Shapes: ``F (N,C,h,w)``, ``seg_logits (N,1,H,W)`` with ``H = 8h`` → defect logit ``(N,)``.
    """

    def __init__(self, in_channels: int = 1024, widths: Sequence[int] = (8, 16, 32), head_prior: float = 0.01):
        super().__init__()
        steps = []
        in_ch = in_channels + 1
        for width in widths:
            steps.append(nn.Sequential(nn.MaxPool2d(2), ConvNormAct(in_ch, width, 5)))
            in_ch = width
        self.steps = nn.Sequential(*steps)
        self.down = nn.MaxPool2d(SIZE_MULTIPLE)
        self.fc = nn.Linear(2 * in_ch + 2, 1)
        nn.init.constant_(self.fc.bias, math.log(head_prior / (1.0 - head_prior)))

    def forward(self, features: Tensor, seg_logits: Tensor) -> Tensor:
        x = self.steps(torch.cat([features, self.down(seg_logits)], dim=1))   # (N,32,H/64,W/64)
        pooled = [
            x.amax(dim=(2, 3)), x.mean(dim=(2, 3)),
            seg_logits.amax(dim=(2, 3)), seg_logits.mean(dim=(2, 3)),
        ]
        return self.fc(torch.cat(pooled, dim=1)).squeeze(1)


def _init_convs(module: nn.Module) -> None:
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


# ----------------------------------------------------------------------------------------------- model


class PSICNet(StageFreezing, nn.Module):
    """PSIC-Net: segmentation (features + decoder, stage ``"seg"``) and image classifier (stage ``"cls"``).

    Build it with :func:`edgeinspect.models.create_model` (``"psicnet"``).

    Args:
        input_size: ``(H, W)`` recorded in ``default_cfg`` (the net is fully convolutional; any
            multiple of 8 works). Default ``(256, 256)``.
        mean: mean of the [0, 1]-scaled grayscale input.
        std: standard deviation of the [0, 1]-scaled input.
        widths, depths, feature_channels, big_kernel: feature extractor (see :class:`PSICFeatures`).
        cls_widths: classifier widths (see :class:`PSICClassifier`).
        head_prior: initial foreground probability of both heads.

    Attributes:
        features, decoder, classifier: the three sub-networks.
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
        widths: Sequence[int] = (32, 64, 128),
        depths: Sequence[int] = (2, 3, 4),
        feature_channels: int = 1024,
        big_kernel: int = 15,
        cls_widths: Sequence[int] = (8, 16, 32),
        head_prior: float = 0.01,
    ) -> None:
        super().__init__()
        height, width = (int(v) for v in input_size)
        if height < MIN_SIZE or width < MIN_SIZE or height % SIZE_MULTIPLE or width % SIZE_MULTIPLE:
            raise EdgeInspectError(
                f"input_size must be multiples of {SIZE_MULTIPLE}, at least {MIN_SIZE}, got {tuple(input_size)}"
            )
        if len(widths) != 3 or len(depths) != 3:
            raise EdgeInspectError(f"widths and depths need 3 values each, got {tuple(widths)}, {tuple(depths)}")
        self.input_size = (height, width)
        self.normalize = InputNorm(mean, std)
        self.features = PSICFeatures(widths, depths, feature_channels, big_kernel)
        self.decoder = PSICDecoder(feature_channels, (widths[0], widths[1]), head_prior)
        self.classifier = PSICClassifier(feature_channels, cls_widths, head_prior)
        _init_convs(self)
        self._frozen: set[str] = set()
        self.arch = "psicnet"
        self.init_kwargs: dict[str, Any] = {}
        self.default_cfg = _make_cfg("psicnet", self.input_size, mean, std)

    def _check(self, x: Tensor) -> None:
        check_input(x, self.arch, None, SIZE_MULTIPLE)
        if min(x.shape[-2:]) < MIN_SIZE:
            raise EdgeInspectError(
                f"model {self.arch} needs tiles of at least {MIN_SIZE}x{MIN_SIZE} (its classifier pools to 1/64), "
                f"got {x.shape[-2]}x{x.shape[-1]}"
            )

    def _segment(self, x: Tensor) -> tuple[Tensor, Tensor]:
        features, p1, p2 = self.features(self.normalize(x))
        return features, self.decoder(features, p1, p2)

    # -- inference ---------------------------------------------------------------------------------

    def forward(self, x: Tensor) -> SegClsOutput:
        """Inference form.

        Args:
            x: ``(N,1,H,W)`` float32 pixel values in [0, 255]; H, W multiples of 8, at least 64.

        Returns:
            ``SegClsOutput(prob, loc=None, score)``: ``prob (N,1,H,W)`` and the image-level defect
            probability ``score (N,)``, both float32 in [0, 1].
        """
        self._check(x)
        features, seg_logits = self._segment(x)
        score = torch.sigmoid(self.classifier(features, seg_logits))
        return SegClsOutput(torch.sigmoid(seg_logits), None, score)

    def predict(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Pixel probabilities and the image-level defect probability.

        Args:
            x: ``(N,1,H,W)`` float32 pixel values in [0, 255]; H, W multiples of 8, at least 64.

        Returns:
            ``(prob (N,1,H,W), score (N,))``, both float32 in [0, 1].
        """
        self._check(x)
        features, seg_logits = self._segment(x)
        return torch.sigmoid(seg_logits), torch.sigmoid(self.classifier(features, seg_logits))

    # -- training ----------------------------------------------------------------------------------

    def forward_train(self, x: Tensor, *, pcm: bool = False, stages: Sequence[str] = STAGES) -> dict[str, Tensor]:
        """Everything the PSIC-Net losses need.

        Args:
            x: ``(N,1,H,W)`` float32 pixel values in [0, 255]; H, W multiples of 8, at least 64.
            pcm: ignored (PSIC-Net has no PCM; accepted for the common training interface).
            stages: ``("seg",)`` skips the classifier (step 1); the segmentation always runs.

        Returns:
            dict with

            - ``"seg_logits"``: ``(N,1,H,W)`` float32 segmentation logits (:func:`psicnet_seg_loss`).
            - ``"prob"``: ``sigmoid(seg_logits)`` in [0, 1].
            - ``"score_logits"`` (when ``"cls"`` in ``stages``): ``(N,)`` image-level logits
              (:func:`psicnet_cls_loss`); computed from detached features and logits.
            - ``"score"``: ``sigmoid(score_logits)`` in [0, 1].
        """
        del pcm
        unknown = set(stages) - set(STAGES)
        if unknown:
            raise ValueError(f"unknown stage(s) {sorted(unknown)}; choose from {STAGES}")
        self._check(x)
        features, seg_logits = self._segment(x)
        out = {"seg_logits": seg_logits, "prob": torch.sigmoid(seg_logits)}
        if "cls" in stages:
            out["score_logits"] = self.classifier(features.detach(), seg_logits.detach())
            out["score"] = torch.sigmoid(out["score_logits"])
        return out

    def stage_module(self, stage: str) -> nn.Module:
        """``"seg"`` → features + decoder, ``"cls"`` → classifier."""
        if stage == "seg":
            return nn.ModuleList([self.features, self.decoder])
        if stage == "cls":
            return self.classifier
        raise ValueError(f"unknown stage {stage!r}; choose from {STAGES}")

    def stage_parameters(self, stage: str) -> Iterator[nn.Parameter]:
        """Parameters of one training step: ``"seg"`` (step 1) or ``"cls"`` (step 2)."""
        return self.stage_module(stage).parameters()


# ------------------------------------------------------------------------------------------- factories


def _make_cfg(name: str, input_size: tuple[int, int], mean: float, std: float) -> dict[str, Any]:
    return make_cfg(name, input_size, mean, std, size_multiple=SIZE_MULTIPLE, fixed_input_size=False,
                    outputs=("prob", "score"))


def _create_psicnet(variant: str, **kwargs: Any) -> PSICNet:
    """Build ``variant`` from its ``model_args`` overridden by the caller's ``kwargs``."""
    return create_variant(PSICNet, variant, _MODEL_ARGS, default_cfgs, **kwargs)


default_cfgs: dict[str, dict[str, Any]] = {
    "psicnet": {
        **_make_cfg("psicnet", (256, 256), 0.449, 0.226),
        "paper": "Lei et al., Machines 2021, 9(10), 221",
    },
}

_MODEL_ARGS: dict[str, dict[str, Any]] = {"psicnet": {}}


# ---------------------------------------------------------------------------------------- entry points


@register_model
def psicnet(**kwargs: Any) -> PSICNet:
    """PSIC-Net as in the paper: 5×5 conv extractor + 15×15-1024 conv, 6-deconv decoder, image classifier."""
    return _create_psicnet("psicnet", **kwargs)
