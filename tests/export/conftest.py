"""Export fixtures: a tiny network built from the real custom-op modules, exported once per session."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from edgeinspect.models.base import InputNorm, SegOutput
from edgeinspect.ops.pixel_confidence.torch import PixelConfidence
from edgeinspect.ops.strip_projection.torch import StripProjection

TILE_HW = (32, 48)


class TinySeg(nn.Module):
    """conv → StripProjection (+ skip) → prob head → sigmoid → PixelConfidence; loc head on the projection.

    Non-square tile so row/column mix-ups show; random (seeded) weights everywhere, 5×5 PCM kernel.
    """

    def __init__(self, tile_hw: tuple[int, int] = TILE_HW) -> None:
        super().__init__()
        torch.manual_seed(0)
        height, width = tile_hw
        self.normalize = InputNorm(0.449, 0.226)
        self.conv = nn.Conv2d(1, 6, 3, padding=1)
        self.strip = StripProjection(6, height, width)
        with torch.no_grad():
            for p in (self.strip.w_row, self.strip.b_row, self.strip.w_col, self.strip.b_col):
                p.normal_(0.0, 0.3)
        self.head = nn.Conv2d(6, 1, 1)
        self.loc_head = nn.Conv2d(6, 1, 1)
        kernel = torch.rand(5, 5).tolist()
        self.pcm = PixelConfidence(kernel=kernel, epsilon=0.3)
        self.arch = "tiny-seg"
        self.init_kwargs = {"tile_hw": list(tile_hw)}
        self.default_cfg = {"input_size": (1, height, width)}

    def forward(self, x: torch.Tensor) -> SegOutput:
        features = F.relu(self.conv(self.normalize(x)))
        projected = self.strip(features)
        prob = self.pcm(torch.sigmoid(self.head(features + projected)))
        return SegOutput(prob, torch.sigmoid(self.loc_head(projected)))


@pytest.fixture(scope="session")
def tiny_model() -> TinySeg:
    return TinySeg().eval()


@pytest.fixture(scope="session")
def tiny_standard(tmp_path_factory: pytest.TempPathFactory, tiny_model: TinySeg) -> Path:
    from edgeinspect.export.onnx import export_onnx

    return export_onnx(tiny_model, tmp_path_factory.mktemp("onnx") / "tiny.onnx", op_form="standard")


@pytest.fixture(scope="session")
def tiny_plugin(tmp_path_factory: pytest.TempPathFactory, tiny_model: TinySeg) -> Path:
    from edgeinspect.export.onnx import export_onnx

    return export_onnx(tiny_model, tmp_path_factory.mktemp("onnx") / "tiny.plugin.onnx", op_form="plugin")
