"""Checkpoints: ``{arch, kwargs, cfg, state_dict, extra}`` saved with ``torch.save``, loaded with
``torch.load(weights_only=True)`` and rebuilt through the registry (never a pickled module).

Keys:
    format: ``"edgeinspect-checkpoint/1"``.
    arch: registered model name (``"lpcnet-lite"``).
    kwargs: the constructor options (``model.init_kwargs``, e.g. ``{"input_size": (256, 256)}``).
    cfg: ``model.default_cfg`` (input size, mean/std, outputs) for readers that do not build the model.
    state_dict: the weights; floating tensors in float16 when saved with ``half=True`` (they are
        cast back to the model's float32 on load).
    weights_dtype: ``"float32"`` or ``"float16"``.
    extra: free-form dict of plain values (metrics, recipe, epoch...), returned by :func:`load_checkpoint`.

Example:
    >>> path = save_checkpoint("best.pt", model, extra={"epoch": 12, "mIoU": 0.71})
    >>> model, extra = load_checkpoint(path)          # eval mode, on CPU
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import torch
from torch import nn

from edgeinspect.errors import EdgeInspectError

__all__ = ["save_checkpoint", "load_checkpoint", "read_checkpoint", "FORMAT"]

FORMAT = "edgeinspect-checkpoint/1"
_REQUIRED = ("arch", "kwargs", "cfg", "state_dict")


def _plain(value: Any) -> Any:
    """Make ``extra`` safe for ``torch.load(weights_only=True)``: NumPy values and paths become plain."""
    import numpy as np

    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v) for v in value)
    if isinstance(value, (np.generic, np.ndarray)):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    return value


def save_checkpoint(path: str | Path, model: nn.Module, *, extra: dict | None = None, half: bool = False) -> Path:
    """Write ``model``'s architecture, options, config and weights to ``path``.

    Args:
        path: destination ``.pt`` file; parent folders are created.
        model: a network built by :func:`~edgeinspect.models.create_model` (has ``arch``,
            ``init_kwargs``, ``default_cfg``).
        extra: plain values to keep beside the weights: dict/list/tuple/str/int/float/bool/None/
            tensors (NumPy values and paths are converted to plain values).
        half: store floating-point weights as float16 (half the file size; exact for fp16 values).

    Returns:
        the written path.
    """
    for attribute in ("arch", "init_kwargs", "default_cfg"):
        if not hasattr(model, attribute):
            raise ValueError(f"model has no {attribute!r}: build it with edgeinspect.models.create_model")
    state = {
        key: (value.detach().to("cpu", torch.float16) if half and value.is_floating_point() else value.detach().cpu())
        for key, value in model.state_dict().items()
    }
    checkpoint = {
        "format": FORMAT,
        "arch": model.arch,
        "kwargs": dict(model.init_kwargs),
        "cfg": dict(model.default_cfg),
        "state_dict": state,
        "weights_dtype": "float16" if half else "float32",
        "extra": _plain(dict(extra or {})),
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(checkpoint, path)
    return path


def read_checkpoint(path: str | Path, *, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load the checkpoint dict (no model built); errors name the file.

    Raises:
        EdgeInspectError: missing file, not a torch file, or not an edgeinspect checkpoint.
    """
    path = Path(path)
    if path.is_dir():
        inside = next((name for name in ("best.pt", "last.pt") if (path / name).is_file()), None)
        raise EdgeInspectError(f"{path}: is a folder; pass the .pt file written by 'edgeinspect train'"
                               + (f" ({path / inside})" if inside else ""))
    if not path.is_file():
        raise EdgeInspectError(f"{path}: checkpoint not found: pass the .pt file written by 'edgeinspect train'")
    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    except MemoryError:
        raise
    except Exception as error:  # arbitrary bytes make the unpickler raise anything (KeyError, struct.error, ...)
        if isinstance(error, pickle.UnpicklingError) and "Weights only load failed" in str(error):
            reason = "a pickle holding more than tensors and plain values"  # torch's advice to unpickle it is not ours
        else:
            lines = str(error).strip().splitlines()
            reason = f"{type(error).__name__}: {lines[0][:200]}" if lines else type(error).__name__
        raise EdgeInspectError(f"{path}: not a readable edgeinspect checkpoint ({reason})") from None
    if not isinstance(checkpoint, dict) or any(key not in checkpoint for key in _REQUIRED):
        missing = [k for k in _REQUIRED if not isinstance(checkpoint, dict) or k not in checkpoint]
        raise EdgeInspectError(f"{path}: not an edgeinspect checkpoint (missing {', '.join(missing)})")
    return checkpoint


def load_checkpoint(path: str | Path, *, map_location: str | torch.device = "cpu") -> tuple[nn.Module, dict]:
    """Rebuild a network from a checkpoint through the registry.

    Args:
        path: a file written by :func:`save_checkpoint`.
        map_location: device for the weights.

    Returns:
        ``(model, extra)``: the network in eval mode with float32 weights, and the checkpoint's
        ``extra`` dict.

    Raises:
        EdgeInspectError: missing/unreadable file, unknown architecture, or weights that do not fit.
    """
    from edgeinspect.models.registry import create_model

    path = Path(path)
    checkpoint = read_checkpoint(path, map_location=map_location)
    try:
        model = create_model(checkpoint["arch"], **checkpoint["kwargs"])
    except EdgeInspectError as error:
        raise EdgeInspectError(f"{path}: {error}") from None
    try:
        model.load_state_dict(checkpoint["state_dict"], strict=True)
    except RuntimeError as error:
        first = str(error).strip().splitlines()[0]
        raise EdgeInspectError(
            f"{path}: weights do not fit model {checkpoint['arch']} ({first[:200]}): re-train or re-export it"
        ) from None
    return model.to(map_location).eval(), dict(checkpoint.get("extra") or {})
