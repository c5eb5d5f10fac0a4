"""Parameters and multiply-accumulates (MACs) per stage, counted with forward hooks (no extra package).

Counted: ``nn.Conv2d`` (``out elements × in/groups × kh × kw``), ``nn.Linear`` (``out elements ×
in_features``) and :class:`~edgeinspect.ops.strip_projection.torch.StripProjection` (two
projections, ``2 × N·C·H·W``). Not counted: norms, activations, pooling, resizing, element-wise
products (as in the paper's tables, which report conv/linear work). Biases are not MACs.

Example:
    >>> from edgeinspect.models.complexity import model_complexity
    >>> model_complexity("lpcnet")["seg"]
    StageComplexity(params=39750433, gmacs=14.77...)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from edgeinspect.ops.strip_projection.torch import StripProjection

__all__ = ["StageComplexity", "count_complexity", "model_complexity"]


@dataclass(frozen=True, slots=True)
class StageComplexity:
    """Size and work of one stage at one input size.

    Attributes:
        params: number of parameters (trainable or not; buffers excluded).
        gmacs: 10⁹ multiply-accumulates for one image (batch 1).
    """

    params: int
    gmacs: float


def _macs(module: nn.Module, inputs: tuple, output: torch.Tensor) -> int:
    if isinstance(module, nn.Conv2d):
        kh, kw = module.kernel_size
        return output.numel() * (module.in_channels // module.groups) * kh * kw
    if isinstance(module, nn.Linear):
        return output.numel() * module.in_features
    if isinstance(module, StripProjection):
        return 2 * inputs[0].numel()
    return 0


def _stage_modules(model: nn.Module) -> dict[str, nn.Module]:
    """``{stage: module}`` from ``model.STAGES``/``stage_module``; one stage ``"net"`` for a model without."""
    stages = getattr(model, "STAGES", None)
    if not stages or not hasattr(model, "stage_module"):
        return {"net": model}
    return {stage: model.stage_module(stage) for stage in stages}


def count_complexity(model: nn.Module, input_hw: tuple[int, int] = (256, 256)) -> dict[str, StageComplexity]:
    """Parameters and GMACs of each stage of ``model`` for one ``1×1×H×W`` image.

    Args:
        model: a network with ``STAGES`` and ``stage_module(stage)`` (else counted as one stage ``"net"``).
        input_hw: ``(H, W)`` of the input (must be a size the model serves).

    Returns:
        ``{stage: StageComplexity}`` in ``model.STAGES`` order.
    """
    modules = _stage_modules(model)
    totals: dict[str, int] = {}
    handles = []
    for stage, module in modules.items():
        totals[stage] = 0
        for sub in module.modules():
            if isinstance(sub, (nn.Conv2d, nn.Linear, StripProjection)):
                def hook(layer, inputs, output, _stage=stage):
                    totals[_stage] += _macs(layer, inputs, output)

                handles.append(sub.register_forward_hook(hook))
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(torch.zeros(1, 1, *input_hw))
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    return {
        stage: StageComplexity(params=sum(p.numel() for p in module.parameters()), gmacs=totals[stage] / 1e9)
        for stage, module in modules.items()
    }


def model_complexity(name: str, input_hw: tuple[int, int] = (256, 256), **kwargs) -> dict[str, StageComplexity]:
    """Build the registered network ``name`` for ``input_hw`` tiles and count it (see :func:`count_complexity`)."""
    from edgeinspect.models.registry import create_model

    model = create_model(name, input_size=tuple(input_hw), **kwargs)
    return count_complexity(model, input_hw)
