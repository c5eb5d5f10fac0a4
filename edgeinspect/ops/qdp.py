"""What both TensorRT plugins share: PTX entry names, attribute kinds, one-time registration, install.

Each op's ``plugin.py`` writes its own ``define(trt, trtp)`` (descriptor, autotune, ``aot_impl``, from
its ``spec.py``); everything around it is here so the two plugins cannot drift apart. Importing this
module needs neither TensorRT nor a GPU.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

from edgeinspect.errors import EdgeInspectError
from edgeinspect.ops import ptx

_registered: set[str] = set()   # plugin ids registered in this process


def entry_name(spec: ModuleType, dtype: str) -> str:
    """PTX ``.entry`` of the op's ``"fp32"`` or ``"fp16"`` kernel: ``<PLUGIN_NAME>_<dtype>``."""
    if dtype not in ptx.DTYPES:
        raise EdgeInspectError(f"{spec.PLUGIN_NAME}: dtype {dtype!r} not one of {ptx.DTYPES}")
    return f"{spec.PLUGIN_NAME}_{dtype}"


def attribute_kinds(attributes: Sequence[tuple[str, object]]) -> tuple[tuple[str, str], ...]:
    """A plugin's ``(name, annotation)`` attributes in spec form ``(name, "int"|"float"|"floats"|...)``."""
    return tuple((name, ptx.spec_kind(annotation)) for name, annotation in attributes)


def constant(expr: Any) -> int | None:
    """Value of a build-time constant shape expression, else None (dynamic, fake or old TensorRT)."""
    try:
        if getattr(expr, "is_fake", False) or not expr.is_constant:
            return None
        return int(expr.constant_value())
    except (AttributeError, RuntimeError, TypeError):
        return None


def register_once(spec: ModuleType, define: Callable[[Any, Any], dict]) -> None:
    """Register a plugin with TensorRT's plugin registry (idempotent within a process).

    Fails early, before TensorRT swallows errors raised inside ``aot_impl`` into its log: TensorRT
    must have AOT plugins, NVRTC must be importable, and where a driver exists it must load this
    NVRTC's PTX ISA.

    Raises:
        EdgeInspectError: TensorRT missing or older than 10.9 (no AOT Python plugins), NVRTC missing, or
            a driver older than the PTX ISA needs (the message names both versions and the NVRTC pin).
    """
    if spec.PLUGIN_ID in _registered:
        return
    trt, trtp = ptx.require_tensorrt_plugin()
    driver = ptx.driver_version()
    if driver is not None:
        ptx.check_driver_for_ptx(ptx.nvrtc_ptx_isa(), driver)
    namespace = getattr(trtp.op, spec.PLUGIN_NAMESPACE, None)
    if namespace is None or not hasattr(namespace, spec.PLUGIN_NAME):   # not yet defined in this process
        define(trt, trtp)
    _registered.add(spec.PLUGIN_ID)


def install(trtp: Any, spec: ModuleType, functions: dict[str, Callable],
            attributes: Sequence[tuple[str, object]]) -> dict[str, Callable]:
    """Check a plugin's ``register``/``autotune``/``aot_impl`` functions against its spec, then hand
    them to ``tensorrt.plugin``; returns ``functions``."""
    ptx.check_qdp_signatures(functions, spec.INPUTS, attributes)   # before anything reaches TensorRT
    trtp.register(spec.PLUGIN_ID)(functions["register"])
    trtp.autotune(spec.PLUGIN_ID)(functions["autotune"])
    trtp.aot_impl(spec.PLUGIN_ID)(functions["aot_impl"])
    return functions
