"""MAC and parameter counting by forward hooks, on toy networks whose numbers are known by hand."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from edgeinspect.models.complexity import StageComplexity, count_complexity
from edgeinspect.ops.strip_projection.torch import StripProjection


class _TwoStage(nn.Module):
    STAGES = ("a", "b")

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), StripProjection(4, 8, 8))
        self.b = nn.Sequential(nn.Conv2d(1, 6, 3, stride=2, padding=1, groups=1, bias=False), nn.Flatten(),
                               nn.Linear(6 * 4 * 4, 10))

    def stage_module(self, stage: str) -> nn.Module:
        return getattr(self, stage)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.a(x), self.b(x)


def test_counts_convs_linears_and_strip_projections_per_stage() -> None:
    counts = count_complexity(_TwoStage(), (8, 8))
    a_macs = 8 * 8 * 4 * 9 + 2 * 4 * 8 * 8                # conv 3×3 + two projections
    b_macs = 4 * 4 * 6 * 9 + 10 * 96                     # strided conv + linear
    assert counts["a"] == StageComplexity(params=(4 * 9 + 4) + 8 + (4 * 8 + 4) * 2, gmacs=pytest.approx(a_macs / 1e9))
    assert counts["b"].params == 6 * 9 + 96 * 10 + 10
    assert counts["b"].gmacs == pytest.approx(b_macs / 1e9)


def test_grouped_conv_and_model_without_stages() -> None:
    model = nn.Sequential(nn.Conv2d(1, 8, 1), nn.Conv2d(8, 8, 3, padding=1, groups=8))
    counts = count_complexity(model, (4, 4))
    assert list(counts) == ["net"]
    assert counts["net"].gmacs == pytest.approx((16 * 8 + 16 * 8 * 9) / 1e9)
    assert model.training                                # mode restored
