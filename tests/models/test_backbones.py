"""Hand-written encoders: timm's layouts (parameter counts per stage), feature shapes, dilation, errors."""

from __future__ import annotations

import pytest
import torch

from edgeinspect.errors import EdgeInspectError
from edgeinspect.models.backbones import LCNetEncoder, ResNetEncoder, create_encoder


def _params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_resnet50_matches_timm_parameter_counts_and_features() -> None:
    encoder = ResNetEncoder(in_chans=1).eval()
    # timm resnet50(features_only, out_indices=(1, 4), in_chans=1, output_stride=16), counted per stage
    assert [_params(getattr(encoder, f"layer{i}")) for i in range(1, 5)] == [215808, 1219584, 7098368, 14964736]
    assert _params(encoder) == 23501760
    with torch.no_grad():
        low, high = encoder(torch.rand(2, 1, 64, 96))
    assert low.shape == (2, 256, 16, 24) and high.shape == (2, 2048, 4, 6)
    assert encoder.out_channels == (256, 2048) and encoder.reductions == (4, 16)


def test_resnet50_layer4_dilates_instead_of_striding() -> None:
    layer4 = ResNetEncoder().layer4
    assert [(b.conv2.stride, b.conv2.dilation) for b in layer4] == [((1, 1), (1, 1))] + [((1, 1), (2, 2))] * 2
    assert all(float(b.bn3.weight.abs().sum()) == 0.0 for b in layer4)      # blocks start as identity (timm init)


def test_lcnet_100_matches_timm_parameter_counts_and_features() -> None:
    encoder = LCNetEncoder(in_chans=1).eval()
    # timm lcnet_100(features_only, out_indices=(1, 3), in_chans=1), blocks 0-4
    assert [_params(stage) for stage in encoder.blocks] == [752, 7456, 27200, 107648, 291840]
    assert _params(encoder) == 435072
    with torch.no_grad():
        low, high = encoder(torch.rand(2, 1, 64, 96))
    assert low.shape == (2, 64, 16, 24) and high.shape == (2, 256, 4, 6)
    assert encoder.out_channels == (64, 256) and encoder.reductions == (4, 16)


def test_unknown_backbone_is_a_user_error_listing_the_choices() -> None:
    with pytest.raises(EdgeInspectError, match="resnet50, lcnet_100"):
        create_encoder("efficientnet_b0")
