"""Registry of the seed networks: ``register_model``, ``create_model``, ``list_models`` (timm style).

An entry point is a function ``fn(**kwargs) -> nn.Module`` decorated with :func:`register_model`;
its registered name is the function name with ``_`` written as ``-`` (``lpcnet_lite`` →
``"lpcnet-lite"``). Model files register on import (``edgeinspect/models/__init__.py`` imports each).

Example:
    >>> from edgeinspect.models import create_model, list_models
    >>> list_models("lpcnet*")
    ['lpcnet', 'lpcnet-lite']
    >>> model = create_model("lpcnet-lite", input_size=(128, 256))
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable

from torch import nn

from edgeinspect.errors import EdgeInspectError

__all__ = ["register_model", "create_model", "list_models", "is_model"]

_MODELS: dict[str, Callable[..., nn.Module]] = {}


def _canonical(name: str) -> str:
    return name.strip().lower().replace("_", "-")


def register_model(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
    """Register an entry point under its function name (``_`` → ``-``).

    Raises:
        ValueError: when the name is already registered.
    """
    name = _canonical(fn.__name__)
    if name in _MODELS:
        raise ValueError(f"model {name!r} is already registered (by {_MODELS[name].__module__})")
    _MODELS[name] = fn
    return fn


def is_model(name: str) -> bool:
    """True when ``name`` (``_`` or ``-`` spelling) is registered."""
    return _canonical(name) in _MODELS


def list_models(pattern: str = "*") -> list[str]:
    """Registered names matching the shell-style ``pattern``, sorted."""
    return sorted(n for n in _MODELS if fnmatch.fnmatchcase(n, _canonical(pattern)))


def create_model(name: str, **kwargs) -> nn.Module:
    """Build a registered network.

    Args:
        name: registered name (``"lpcnet"``, ``"lpcnet-lite"``; ``_`` is accepted for ``-``).
        **kwargs: constructor options of that network (e.g. ``input_size=(256, 256)``); they are
            recorded as ``model.init_kwargs`` and saved in checkpoints.

    Returns:
        the network in train mode, with ``arch``, ``init_kwargs`` and ``default_cfg`` attributes.

    Raises:
        EdgeInspectError: for an unknown name (the message lists the valid ones) or a bad option.
    """
    key = _canonical(name)
    if key not in _MODELS:
        raise EdgeInspectError(f"unknown model {name!r}: choose one of {', '.join(list_models())}")
    try:
        model = _MODELS[key](**kwargs)
    except TypeError as error:
        if "unexpected keyword argument" not in str(error):
            raise
        raise EdgeInspectError(f"model {key}: {error}; see the model's docstring for its options") from None
    model.arch = key
    model.init_kwargs = dict(kwargs)
    return model
