"""Plugin-op form: each custom op becomes ONE node TensorRT maps to its plugin (needs torch).

Everything the node carries comes from the op's ``spec.py`` (never copied strings): op_type =
``PLUGIN_NAME``, domain = ``ONNX_DOMAIN``, inputs/outputs named after ``INPUTS``/``OUTPUTS``, STRING
attribute ``plugin_namespace`` = ``PLUGIN_NAMESPACE``, INT attribute ``aot`` = 1 (TensorRT builds the
plugin from its ahead-of-time PTX, so the engine needs no Python) and the typed ``ATTRIBUTES`` in order.

How (torch 2.13 dynamo exporter, ``torch.onnx.export(..., dynamo=True)``):

1. :func:`op_library` defines a torch custom op per spec (``torch.ops.edgeinspect_plugin.<name>``),
   its schema generated from ``INPUTS`` + ``ATTRIBUTES``, with a CPU implementation (same math as the
   ``ops/*/torch.py`` modules) and a fake (shape) implementation for ``torch.export``.
2. :func:`plugin_form` deep-copies a model and swaps every ``StripProjection`` / ``PixelConfidence``
   for a module calling that custom op (module replacement: the training modules stay plain torch).
3. :func:`translation_table` maps each custom op to an onnxscript call that emits the plugin node;
   an ONNX ``OpSchema`` is registered for it (:func:`register_onnx_schemas`) so onnxscript can build
   the node and ``onnx.checker`` checks its attribute types.

ONNX Runtime and OpenVINO cannot run this form; use ``--ops standard`` for them.
"""

from __future__ import annotations

import copy
from types import ModuleType

import torch
from torch import Tensor, nn

from edgeinspect.ops.pixel_confidence import spec as pcm_spec
from edgeinspect.ops.pixel_confidence.torch import PixelConfidence
from edgeinspect.ops.strip_projection import spec as strip_spec
from edgeinspect.ops.strip_projection.torch import StripProjection

#: torch.library namespace of the export-only custom ops.
TORCH_NAMESPACE = "edgeinspect_plugin"
#: The op specs the plugin form knows, by PLUGIN_NAME.
SPECS: dict[str, ModuleType] = {strip_spec.PLUGIN_NAME: strip_spec, pcm_spec.PLUGIN_NAME: pcm_spec}
#: Attributes every plugin node carries besides the spec's own: (name, type).
COMMON_ATTRIBUTES: tuple[tuple[str, str], ...] = (("plugin_namespace", "string"), ("aot", "int"))
AOT = 1

_TORCH_TYPES = {"float": "float", "floats": "float[]", "int": "int", "ints": "int[]", "string": "str"}
_defined: dict[str, object] = {}


def _torch_schema(spec: ModuleType) -> str:
    """torch.library schema from a spec: ``(Tensor x, ..., float[] kernel, ...) -> Tensor``."""
    params = [f"Tensor {name}" for name in spec.INPUTS]
    params += [f"{_TORCH_TYPES[kind]} {name}" for name, kind in spec.ATTRIBUTES]
    return f"({', '.join(params)}) -> Tensor"


def _strip_projection_math(x: Tensor, w_row: Tensor, b_row: Tensor, w_col: Tensor, b_col: Tensor) -> Tensor:
    """Same math as ``StripProjection.forward`` (reference.py), from explicit weights."""
    channels, height = w_row.shape
    width = w_col.shape[1]
    row = torch.nn.functional.conv2d(x, w_row.reshape(channels, 1, height, 1), b_row, groups=channels)
    col = torch.nn.functional.conv2d(x, w_col.reshape(channels, 1, 1, width), b_col, groups=channels)
    return col * row


def _pixel_confidence_math(y_isr: Tensor, kernel: list[float], kernel_size: int, epsilon: float) -> Tensor:
    """Same math as ``PixelConfidence.forward`` (reference.py), from explicit attributes."""
    weight = torch.tensor(kernel, dtype=y_isr.dtype, device=y_isr.device).reshape(1, 1, kernel_size, kernel_size)
    weight = weight / weight.sum()
    m_ipc = torch.nn.functional.conv2d(y_isr, weight, padding=kernel_size // 2)
    return torch.clamp(y_isr * ((1.0 - epsilon) + 2.0 * epsilon * m_ipc), max=1.0)


_MATH = {strip_spec.PLUGIN_NAME: _strip_projection_math, pcm_spec.PLUGIN_NAME: _pixel_confidence_math}


def op_library() -> dict[str, object]:
    """Define (once per process) the export-only torch custom ops; returns ``{PLUGIN_NAME: op overload}``."""
    if not _defined:
        for name, spec in SPECS.items():
            qualname = f"{TORCH_NAMESPACE}::{name}"
            torch.library.define(qualname, _torch_schema(spec))
            torch.library.impl(qualname, "CompositeExplicitAutograd")(_MATH[name])
            torch.library.register_fake(qualname)(lambda *args, **kwargs: torch.empty_like(args[0]))
            _defined[name] = getattr(getattr(torch.ops, TORCH_NAMESPACE), name).default
    return dict(_defined)


def register_onnx_schemas() -> None:
    """Register an ONNX ``OpSchema`` per spec in its ``ONNX_DOMAIN`` (idempotent, process-wide)."""
    import onnx
    from onnx.defs import OpSchema

    kinds = {
        "float": OpSchema.AttrType.FLOAT, "floats": OpSchema.AttrType.FLOATS, "int": OpSchema.AttrType.INT,
        "ints": OpSchema.AttrType.INTS, "string": OpSchema.AttrType.STRING,
    }
    for spec in SPECS.values():
        if onnx.defs.has(spec.PLUGIN_NAME, spec.ONNX_DOMAIN):
            continue
        attributes = [
            OpSchema.Attribute(name, kinds[kind], f"{spec.PLUGIN_ID} attribute")
            for name, kind in (*COMMON_ATTRIBUTES, *spec.ATTRIBUTES)
        ]
        schema = OpSchema(
            spec.PLUGIN_NAME, spec.ONNX_DOMAIN, 1,
            doc=f"TensorRT plugin {spec.PLUGIN_ID} (edgeinspect plugin-op form)",
            inputs=[OpSchema.FormalParameter(name, "T") for name in spec.INPUTS],
            outputs=[OpSchema.FormalParameter(name, "T") for name in spec.OUTPUTS],
            type_constraints=[("T", ["tensor(float)", "tensor(float16)"], "float tensors")],
            attributes=attributes,
        )
        onnx.defs.register_schema(schema)


def _translation(spec: ModuleType):
    """onnxscript translation of one custom op: the plugin node with spec's names and attributes."""
    from onnxscript.values import Opset

    opset = Opset(spec.ONNX_DOMAIN, 1)
    n_inputs = len(spec.INPUTS)
    attribute_names = [name for name, _ in spec.ATTRIBUTES]

    def translate(*args):
        inputs, values = args[:n_inputs], args[n_inputs:]
        attributes = {"plugin_namespace": spec.PLUGIN_NAMESPACE, "aot": AOT}
        attributes.update({name: _attribute_value(v) for name, v in zip(attribute_names, values)})
        return getattr(opset, spec.PLUGIN_NAME)(*inputs, **attributes)

    translate.__name__ = f"{spec.PLUGIN_NAME}_plugin_node"
    return translate


def _attribute_value(value):
    if isinstance(value, (list, tuple)):
        return [float(v) if isinstance(v, float) else v for v in value]
    return value


def translation_table() -> dict[object, object]:
    """``custom_translation_table`` for ``torch.onnx.export(dynamo=True)``: custom op → plugin node."""
    ops = op_library()
    register_onnx_schemas()
    return {ops[name]: _translation(spec) for name, spec in SPECS.items()}


class StripProjectionPlugin(nn.Module):
    """Export stand-in for :class:`StripProjection`: one ``strip_projection`` plugin call, same weights."""

    def __init__(self, source: StripProjection) -> None:
        super().__init__()
        self.source = source
        self._op = op_library()[strip_spec.PLUGIN_NAME]

    def forward(self, x: Tensor) -> Tensor:
        s = self.source
        return self._op(x, s.w_row, s.b_row, s.w_col, s.b_col)


class PixelConfidencePlugin(nn.Module):
    """Export stand-in for :class:`PixelConfidence`: one ``pixel_confidence`` plugin call.

    Attributes passed (spec order): ``kernel`` (k*k floats, row-major, normalised to sum 1),
    ``kernel_size`` (k), ``epsilon``.
    """

    def __init__(self, source: PixelConfidence) -> None:
        super().__init__()
        values = {
            "kernel": [float(v) for v in source.kernel.detach().cpu().reshape(-1).tolist()],
            "kernel_size": int(source.kernel_size),
            "epsilon": float(source.epsilon),
        }
        self.attributes = [values[name] for name, _ in pcm_spec.ATTRIBUTES]
        self._op = op_library()[pcm_spec.PLUGIN_NAME]

    def forward(self, y_isr: Tensor) -> Tensor:
        return self._op(y_isr, *self.attributes)


_REPLACEMENTS: tuple[tuple[type[nn.Module], type[nn.Module]], ...] = (
    (StripProjection, StripProjectionPlugin),
    (PixelConfidence, PixelConfidencePlugin),
)


def plugin_form(model: nn.Module) -> tuple[nn.Module, dict[str, int]]:
    """A deep copy of ``model`` whose custom-op modules call the plugin ops.

    Returns:
        ``(model copy, {PLUGIN_NAME: number of modules replaced})``.
    """
    model = copy.deepcopy(model)
    counts = {name: 0 for name in SPECS}
    names = {StripProjection: strip_spec.PLUGIN_NAME, PixelConfidence: pcm_spec.PLUGIN_NAME}
    for parent in list(model.modules()):
        for child_name, child in list(parent.named_children()):
            for source_type, plugin_type in _REPLACEMENTS:
                if type(child) is source_type:
                    setattr(parent, child_name, plugin_type(child))
                    counts[names[source_type]] += 1
    for root_type, plugin_type in _REPLACEMENTS:  # the model itself is one op module
        if type(model) is root_type:
            model = plugin_type(model)
            counts[names[root_type]] += 1
    return model, counts
