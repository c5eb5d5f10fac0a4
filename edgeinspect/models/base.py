"""What every edgeinspect network returns and how it checks its input.

Every registered model takes ``x (N,1,H,W)`` float32 pixel values in [0, 255] (8-bit scale) and
returns :class:`SegOutput` (:class:`SegClsOutput` with an image-level ``score`` too). Input normalisation and the final sigmoid are inside the network.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from torch import Tensor, nn

from edgeinspect.errors import EdgeInspectError

__all__ = ["SegClsOutput", "SegOutput", "InputNorm", "StageFreezing", "check_input", "create_variant", "make_cfg"]


class SegOutput(NamedTuple):
    """Inference outputs of a segmentation network.

    Attributes:
        prob: ``(N,1,H,W)`` float32 defect probability in [0, 1].
        loc: ``(N,1,H,W)`` float32 localisation map in [0, 1] for nets with a DLM (or LSA-Net's
            location attention), else None.

    Two fields, so ``prob, loc = model(x)`` works; nets with an image classifier return
    :class:`SegClsOutput`.
    """

    prob: Tensor
    loc: Tensor | None


class SegClsOutput(NamedTuple):
    """Inference outputs of a network that also classifies the whole image (PSIC-Net).

    Attributes:
        prob: ``(N,1,H,W)`` float32 defect probability in [0, 1].
        loc: as in :class:`SegOutput` (None for PSIC-Net).
        score: ``(N,)`` float32 image-level defect probability in [0, 1]; exported as the ONNX
            output ``score`` and returned by every engine as ``"score"``.
    """

    prob: Tensor
    loc: Tensor | None
    score: Tensor


class InputNorm(nn.Module):
    """``x (N,1,H,W)`` in [0, 255] → ``(x / 255 - mean) / std`` (mean/std of the [0,1]-scaled image).

    Args:
        mean: mean of the [0, 1]-scaled grayscale input (timm convention).
        std: standard deviation of the [0, 1]-scaled grayscale input, > 0.
    """

    def __init__(self, mean: float, std: float) -> None:
        super().__init__()
        if std <= 0:
            raise ValueError(f"std must be > 0, got {std}")
        self.mean, self.std = float(mean), float(std)
        self.scale = 1.0 / (255.0 * self.std)
        self.shift = -self.mean / self.std

    def forward(self, x: Tensor) -> Tensor:
        return x * self.scale + self.shift

    def extra_repr(self) -> str:
        return f"mean={self.mean}, std={self.std}"


def check_input(x: Tensor, arch: str, input_size: tuple[int, int] | None, size_multiple: int) -> None:
    """Raise :class:`EdgeInspectError` unless ``x`` is ``(N,1,H,W)`` of a size the network serves.

    Args:
        x: network input.
        arch: registered model name (for the message).
        input_size: ``(H, W)`` the network was built for when it only serves one size, else None.
        size_multiple: H and W must be multiples of this.

    Skipped while ``torch.jit`` traces (ONNX export): the exporter fixes the tile size itself.
    """
    import torch

    if torch.jit.is_tracing():
        return
    if x.ndim != 4 or x.shape[1] != 1:
        raise EdgeInspectError(f"model {arch}: input must be (N,1,H,W) grayscale, got shape {tuple(x.shape)}")
    height, width = int(x.shape[2]), int(x.shape[3])
    if input_size is not None and (height, width) != tuple(input_size):
        raise EdgeInspectError(
            f"model {arch} was built for {input_size[0]}x{input_size[1]} tiles, got {height}x{width}: "
            f"tile to {input_size[0]}x{input_size[1]} or create the model with input_size=({height}, {width})"
        )
    if height % size_multiple or width % size_multiple:
        near = tuple(max(size_multiple, round(v / size_multiple) * size_multiple) for v in (height, width))
        raise EdgeInspectError(
            f"model {arch}: tile {height}x{width} is not a multiple of {size_multiple}; use {near[0]}x{near[1]}"
        )


def make_cfg(name: str, input_size: tuple[int, int], mean: float, std: float, *, size_multiple: int,
             fixed_input_size: bool, outputs: tuple[str, ...]) -> dict[str, Any]:
    """A model's ``default_cfg``: input ``(1, H, W)`` in [0, 255], its size rule, normalisation, output names."""
    return {
        "name": name,
        "input_size": (1, int(input_size[0]), int(input_size[1])),
        "size_multiple": int(size_multiple),
        "fixed_input_size": bool(fixed_input_size),
        "mean": (float(mean),),
        "std": (float(std),),
        "input_range": (0.0, 255.0),
        "outputs": tuple(outputs),
    }


class StageFreezing:
    """Mixin for networks trained stage by stage (``STAGES``, ``stage_module(stage)``, ``self._frozen: set``).

    A frozen stage gets no gradients and keeps its BatchNorm in eval mode, also after ``train()``.
    Put it before ``nn.Module`` in the bases: ``class LPCNet(StageFreezing, nn.Module)``.
    """

    def freeze_stage(self, stage: str, frozen: bool = True) -> None:
        """Freeze (or unfreeze) ``stage``: no gradients, BatchNorm in eval mode even after ``train()``."""
        module = self.stage_module(stage)
        module.requires_grad_(not frozen)
        if frozen:
            self._frozen.add(stage)
            module.eval()
        else:
            self._frozen.discard(stage)
            module.train(self.training)

    def train(self, mode: bool = True):
        super().train(mode)
        for stage in self._frozen:
            self.stage_module(stage).eval()
        return self


def create_variant(model_cls: type[nn.Module], variant: str, model_args: dict[str, dict[str, Any]],
                   default_cfgs: dict[str, dict[str, Any]], **kwargs: Any) -> nn.Module:
    """timm's ``_create_<net>``: build ``variant`` from ``model_args[variant]`` overridden by ``kwargs``.

    The model's ``default_cfg`` is the variant's registered cfg (paper, ...) updated with what the
    built model reports for itself (its actual input size, normalisation, outputs), named ``variant``.
    """
    model = model_cls(**{**model_args[variant], **kwargs})
    model.default_cfg = {**default_cfgs[variant], **model.default_cfg, "name": variant}
    model.arch = variant
    return model
