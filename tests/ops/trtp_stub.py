"""Stand-ins for ``tensorrt`` and ``tensorrt.plugin`` (10.9+ AOT QDP API) for CPU tests.

Just enough of the real modules (read from NVIDIA/TensorRT ``python/packaging/bindings_wheel/
tensorrt/plugin/{_lib,_validate,_tensor,_plugin_class,_top_level}.py``) to define the plugins with
``plugin.define(stub.trt, stub.trtp)`` and call their functions the way TensorRT does:

* decorators check what ``_validate`` checks: annotated ``register`` parameters, tensors first, no
  defaults; ``autotune``/``aot_impl`` parameter names = tensor inputs + attributes in registration
  order + tail (``outputs`` / ``outputs, tactic``); ``aot_impl`` return annotation present;
* shape expressions evaluate concrete ints but, like TensorRT's, only with the symbolic value on the
  left (no ``__radd__``/``__rmul__``), ``cdiv`` refuses two ints, and extra args must be ``SymInt32``;
* :func:`call_aot_impl` passes every attribute positionally in registration order, then
  ``outputs`` (a tuple of descs) and ``tactic``, like ``_TemplateAOTPlugin.get_launch_params``.
"""

from __future__ import annotations

import enum
import inspect
import typing
from types import SimpleNamespace


class DataType(enum.Enum):
    FLOAT = "FP32"
    HALF = "FP16"


class ShapeExpr:
    """A dimension expression over a concrete int (``constant=False`` plays a dynamic dim)."""

    def __init__(self, value: int, constant: bool = True) -> None:
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError(f"ShapeExpr needs a Python int, got {type(value).__name__}")
        self.value, self._constant = value, constant

    def _op(self, other, fn):
        if isinstance(other, ShapeExpr):
            return ShapeExpr(fn(self.value, other.value), self._constant and other._constant)
        if isinstance(other, int) and not isinstance(other, bool):
            return ShapeExpr(fn(self.value, other), self._constant)
        raise TypeError(f"unsupported operand {type(other).__name__}")

    def __add__(self, other):
        return self._op(other, lambda a, b: a + b)

    def __sub__(self, other):
        return self._op(other, lambda a, b: a - b)

    def __mul__(self, other):
        return self._op(other, lambda a, b: a * b)

    def __floordiv__(self, other):
        return self._op(other, lambda a, b: a // b)

    is_fake = False

    @property
    def is_constant(self) -> bool:
        return self._constant

    def constant_value(self) -> int:
        if not self._constant:
            raise RuntimeError("Not accessible for non-constant shape expressions")
        return self.value


class SymInt32:
    def __init__(self, value) -> None:
        self.expr = value if isinstance(value, ShapeExpr) else ShapeExpr(value)

    @property
    def value(self) -> int:
        return self.expr.value


class SymExprs:
    def __init__(self, length: int) -> None:
        self._exprs = [None] * length

    def __iter__(self):
        return iter(self._exprs)

    def __len__(self) -> int:
        return len(self._exprs)


class SymIntExprs(SymExprs):
    @classmethod
    def from_tuple(cls, exprs):
        inst = cls(len(exprs))
        inst._exprs = list(exprs)
        for e in inst._exprs:
            if not isinstance(e, SymInt32):
                raise TypeError(f"Extra args must be a 'tensorrt.plugin.SymInt32'. Got: {type(e)}.")
        return inst


class ShapeExprs(list):
    def numel(self) -> ShapeExpr:
        total = ShapeExpr(1)
        for e in self:
            total = total * e
        return total


class TensorDesc:
    def __init__(self, shape, dtype: DataType, dynamic: tuple[int, ...] = ()) -> None:
        self.shape_expr = ShapeExprs(ShapeExpr(int(d), i not in dynamic) for i, d in enumerate(shape))
        self.dtype = dtype

    @property
    def ndim(self) -> int:
        return len(self.shape_expr)

    def like(self) -> TensorDesc:
        desc = TensorDesc([e.value for e in self.shape_expr], self.dtype)
        desc.shape_expr = ShapeExprs(self.shape_expr)
        return desc


class KernelLaunchParams:
    _FIELDS = ("grid_x", "grid_y", "grid_z", "block_x", "block_y", "block_z", "shared_mem")

    def __init__(self) -> None:
        for name in self._FIELDS:
            self.__dict__[name] = SymInt32(0 if name == "shared_mem" else 1)

    def __setattr__(self, name, value) -> None:
        if name not in self._FIELDS:
            raise AttributeError(f"KernelLaunchParams object has no attribute '{name}'")
        self.__dict__[name] = SymInt32(value)

    def values(self) -> dict[str, int]:
        return {name: getattr(self, name).value for name in self._FIELDS}


class AutoTuneCombination:
    def __init__(self, io_types: str, layouts: str = "LINEAR", tactics=None) -> None:
        self.io_types = [s.strip() for s in io_types.split(",")]
        self.layouts = [s.strip() for s in layouts.split(",")]


def cdiv(first, second) -> ShapeExpr:
    if isinstance(first, int) and isinstance(second, int):
        raise ValueError("Both arguments cannot be 'int's")
    first = first if isinstance(first, ShapeExpr) else ShapeExpr(first)
    return first._op(second, lambda a, b: -(-a // b))


class PluginDef(SimpleNamespace):
    pass


class TrtpStub(SimpleNamespace):
    """The ``tensorrt.plugin`` stand-in; ``registry`` maps plugin id -> PluginDef."""


def _is_tensor(annotation) -> bool:
    return inspect.isclass(annotation) and issubclass(annotation, TensorDesc)


def make_trtp() -> TrtpStub:
    registry: dict[str, PluginDef] = {}

    def register(plugin_id: str):
        def decorator(fn):
            if plugin_id in registry:
                raise ValueError(f"already has a definition for {plugin_id}")
            tensors, attrs, seen_attr = [], {}, False
            for name, p in inspect.signature(fn).parameters.items():
                if p.annotation is inspect.Parameter.empty:
                    raise ValueError(f"Argument {name} does not have a type annotation")
                if p.default is not inspect.Parameter.empty:
                    raise ValueError(f"Argument {name} has a default value")
                if _is_tensor(p.annotation):
                    if seen_attr:
                        raise ValueError("TensorDescs args and attribute args cannot be interspersed")
                    tensors.append(name)
                else:
                    if name in ("outputs", "stream", "tactic"):
                        raise ValueError(f"'{name}' is not allowed as a plugin attribute name")
                    seen_attr = True
                    attrs[name] = p.annotation
            if inspect.signature(fn).return_annotation is inspect.Signature.empty:
                raise ValueError("No return annotation found for register function")
            registry[plugin_id] = PluginDef(register=fn, tensors=tensors, attrs=attrs, autotune=None, aot_impl=None)
            namespace, name = plugin_id.split("::")
            if not hasattr(stub.op, namespace):
                setattr(stub.op, namespace, SimpleNamespace())
            setattr(getattr(stub.op, namespace), name, registry[plugin_id])   # trtp.op.<ns>.<name>
            return fn
        return decorator

    def _later(kind: str, tail: list[str]):
        def outer(plugin_id: str):
            def decorator(fn):
                if plugin_id not in registry:
                    raise ValueError(f"Plugin {plugin_id} is not registered")
                pdef = registry[plugin_id]
                sig = inspect.signature(fn)
                expected = [*pdef.tensors, *pdef.attrs, *tail]
                if list(sig.parameters) != expected:
                    raise ValueError(f"{kind} signature {list(sig.parameters)} != {expected}")
                for name, annotation in pdef.attrs.items():
                    got = sig.parameters[name].annotation
                    if got is not inspect.Parameter.empty and got != annotation:
                        raise ValueError(f"Attribute '{name}' has a type annotation different from registration")
                if kind == "aot_impl":
                    ret = sig.return_annotation
                    if ret is inspect.Signature.empty or len(typing.get_args(ret)) != 4:
                        raise ValueError("aot_impl needs the 4-tuple return annotation")
                setattr(pdef, kind, fn)
                return fn
            return decorator
        return outer

    stub = TrtpStub(
        registry=registry, register=register, autotune=_later("autotune", ["outputs"]),
        aot_impl=_later("aot_impl", ["outputs", "tactic"]), TensorDesc=TensorDesc, KernelLaunchParams=KernelLaunchParams,
        SymExprs=SymExprs, SymIntExprs=SymIntExprs, SymInt32=SymInt32, AutoTuneCombination=AutoTuneCombination,
        cdiv=cdiv, op=SimpleNamespace(),
    )
    return stub


trt = SimpleNamespace(float32=DataType.FLOAT, float16=DataType.HALF, DataType=DataType,
                      QuickPluginCreationRequest=object())


def call_aot_impl(pdef: PluginDef, inputs: list[TensorDesc], attrs: dict, tactic: int = 0):
    """Call ``aot_impl`` as TensorRT does: inputs, all attributes positionally in registration order,
    the output descs (from ``register``), the tactic."""
    values = [attrs[name] for name in pdef.attrs]
    outputs = pdef.register(*inputs, **attrs)
    outputs = outputs if isinstance(outputs, tuple) else (outputs,)
    return pdef.aot_impl(*inputs, *values, outputs, tactic)
