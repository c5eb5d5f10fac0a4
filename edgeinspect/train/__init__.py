"""Training (needs the ``train`` extra: torch): LPC-Net's two-stage recipe, data, losses, loop, evaluation.

- :mod:`~edgeinspect.train.recipe`: YAML recipes → frozen :class:`Recipe` (no torch; the CLI resolves
  options with it before importing torch).
- :mod:`~edgeinspect.train.data`: torch Dataset over a dataset split (resize, 8-bit scaling, DLM labels, augmentation).
- :mod:`~edgeinspect.train.losses`: ``L_loc``, ``L_img`` (``M_comp``-weighted), ``L_pcm`` and the p_set schedule.
- :mod:`~edgeinspect.train.loop`: :func:`train` → ``RUN/best.pt`` (+ last.pt, metrics.csv, curves.png, test.json).
- :mod:`~edgeinspect.train.evaluate`: :func:`evaluate_checkpoint` (``edgeinspect eval --checkpoint``).
- :mod:`~edgeinspect.train.curves`: metrics.csv writer and curves.png.

Names are imported lazily, so ``import edgeinspect.train`` does not import torch.

Example:
    >>> from edgeinspect.train import load_recipe, scale_schedule, train
    >>> recipe = scale_schedule(load_recipe("lpcnet-lite"), epochs=40)
    >>> best = train(recipe, Path("data/synth"), Path("runs/synth"))
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Recipe": "recipe",
    "load_recipe": "recipe",
    "resolve_recipe": "recipe",
    "scale_schedule": "recipe",
    "apply_overrides": "recipe",
    "train": "loop",
    "TrainEvents": "loop",
    "evaluate_checkpoint": "evaluate",
    "evaluate_model": "evaluate",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'edgeinspect.train' has no attribute {name!r}")
    return getattr(importlib.import_module(f"edgeinspect.train.{module}"), name)
