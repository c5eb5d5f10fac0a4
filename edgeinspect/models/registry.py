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
import warnings
from collections.abc import Callable
from typing import Any

from torch import nn

from edgeinspect.errors import EdgeInspectError

__all__ = ["ModelOptionError", "register_model", "create_model", "culprit_option", "first_line", "list_models", "is_model"]

_MODELS: dict[str, Callable[..., nn.Module]] = {}


class ModelOptionError(EdgeInspectError):
    """A constructor option of a registered network has a value the network cannot be built with.

    Attributes:
        model: registered name.
        option: the keyword that alone gives the error, or None when no single one does.
        value: its value (None when ``option`` is None).
        reason: what the constructor said (first line), or which layer came out empty.
    """

    def __init__(self, model: str, option: str | None, value: Any, reason: str, options: list[str]) -> None:
        self.model, self.option, self.value, self.reason = model, option, value, reason
        where = f"option {option}={value!r}" if option is not None else f"options {', '.join(options)}"
        super().__init__(f"model {model}: {where}: {reason}")


def first_line(error: BaseException, limit: int = 200) -> str:
    """The first line of ``str(error)`` (at most ``limit`` characters), or the exception's type name."""
    text = str(error).strip()
    return text.splitlines()[0][:limit].rstrip(" :") if text else type(error).__name__


def _construct(fn: Callable[..., nn.Module], kwargs: dict[str, Any]) -> tuple[nn.Module | None, Exception | None]:
    """``fn(**kwargs)`` → ``(model, None)``, or ``(None, error)`` for a ValueError/TypeError/RuntimeError
    of the constructor or a layer with a 0-element weight (an option gave it no channels).

    The constructor's warnings are held back and re-issued only for a model that is returned (torch
    warns "Initializing zero-element tensors" for the empty layers this rejects). A TypeError for an
    unexpected keyword propagates.
    """
    with warnings.catch_warnings(record=True) as caught:
        try:
            model = fn(**kwargs)
        except TypeError as error:
            if "unexpected keyword argument" in str(error):
                raise
            return None, error
        except (ValueError, RuntimeError) as error:
            return None, error
    empty = next((name for name, p in model.named_parameters() if p.numel() == 0), None)
    if empty is not None:
        return None, ValueError(f"layer '{empty.rsplit('.', 1)[0]}' gets 0 channels")
    for w in caught:
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno, source=w.source)
    return model, None


def culprit_option(kwargs: dict[str, Any], reason: str, error_of: Callable[[dict[str, Any]], BaseException | None],
                   *, fallback: bool = True) -> str | None:
    """The keyword of ``kwargs`` that alone gives the error ``reason`` (its first line), or None.

    Args:
        kwargs: the options that, together, failed.
        reason: :func:`first_line` of that failure.
        error_of: tries one option alone: its error, or None when it works.
        fallback: without an exact match, the first option that alone fails at all.
    """
    if len(kwargs) == 1:
        return next(iter(kwargs))
    failing = []
    for name, value in kwargs.items():
        error = error_of({name: value})
        if error is not None and first_line(error) == reason:
            return name
        if error is not None:
            failing.append(name)
    return failing[0] if failing and fallback else None


def _construction_error(fn: Callable[..., nn.Module], kwargs: dict[str, Any]) -> BaseException | None:
    try:
        return _construct(fn, kwargs)[1]
    except EdgeInspectError as raised:
        return raised


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
        ModelOptionError: (an ``EdgeInspectError``) an option's value the network cannot be built with:
            the constructor raised ValueError/TypeError/RuntimeError, or a layer came out with no
            channels; names the option when one alone gives the error.
    """
    key = _canonical(name)
    if key not in _MODELS:
        raise EdgeInspectError(f"unknown model {name!r}: choose one of {', '.join(list_models())}")
    fn = _MODELS[key]
    try:
        model, error = _construct(fn, kwargs)
    except TypeError as unexpected:
        raise EdgeInspectError(f"model {key}: {unexpected}; see the model's docstring for its options") from None
    if error is not None:
        if not kwargs:
            raise error  # the defaults fail: a bug of the network, not an option
        reason = first_line(error)
        option = culprit_option(kwargs, reason, lambda alone: _construction_error(fn, alone))
        raise ModelOptionError(key, option, kwargs.get(option), reason, list(kwargs)) from None
    model.arch = key
    model.init_kwargs = dict(kwargs)
    return model
