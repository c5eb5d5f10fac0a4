"""ONNX rewrites the TensorRT build needs (no torch, no TensorRT): FP16 graph, plugin ↔ standard ops, plugin-form QDQ.

- :func:`convert_to_fp16`: FP32 ONNX → FP16 ONNX with float32 graph inputs/outputs (``Cast`` at the
  edges), for TensorRT 11, whose networks are always strongly typed (FP16 must be in the graph: there
  is no FP16 builder flag). Uses ONNX Runtime's float16 converter
  (``onnxruntime.transformers.float16``, the onnxconverter-common code ORT ships), then sorts the
  graph topologically (the converter appends the edge casts at the end).
- :func:`substitute_plugins`: a plugin-form graph with each TensorRT plugin node replaced by its
  standard-op decomposition (the math of ``ops/*/reference.py``), keeping every other tensor name.
  ONNX Runtime runs the result: it is the FP32 reference of a plugin-form model, the graph INT8
  calibration runs on, and what ``--plugins off`` builds from a plugin-form ONNX.
- :func:`quantize_plugin_form`: symmetric INT8 QDQ of a plugin-form graph. ONNX Runtime cannot run
  plugin nodes, so the calibration and QDQ insertion run on :func:`substitute_plugins`'s graph
  (:func:`edgeinspect.export.quantize.quantize_qdq`, the same settings as the standard form), then
  each decomposition is swapped back for its plugin node, fed by the dequantized input; the plugin
  runs in float between Q/DQ pairs, as TensorRT's explicit quantization expects.

Example:
    >>> convert_to_fp16(Path("engines/x/model.onnx"), Path("engines/x/model.fp16.onnx"))
    >>> quantize_plugin_form(Path("model.plugin.onnx"), calib.tiles, out_dir=Path("engines/x"))
"""

from __future__ import annotations

import copy
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgeinspect.errors import EdgeInspectError
from edgeinspect.ops.pixel_confidence import spec as pcm_spec
from edgeinspect.ops.strip_projection import spec as strip_spec

#: Plugin op types (ONNX ``op_type``) this module knows, all in the same custom domain.
PLUGIN_DOMAIN = strip_spec.ONNX_DOMAIN
PLUGIN_OPS = (strip_spec.PLUGIN_NAME, pcm_spec.PLUGIN_NAME)
#: Name prefix of the nodes/tensors of a decomposition: ``edgeinspect_sub<k>_``.
SUB_PREFIX = "edgeinspect_sub"
FP16_NAME = "model.fp16.onnx"
INT8_NAME = "model.int8.onnx"


@dataclass(frozen=True, slots=True)
class PluginGroup:
    """One plugin node replaced by its decomposition.

    Attributes:
        prefix: name prefix of the decomposition's nodes and internal tensors.
        node: the original plugin node (``onnx.NodeProto``).
        data_uses: per plugin input position that is not an initializer: ``(position, ((node name,
            input index), ...))`` where the decomposition reads it.
    """

    prefix: str
    node: object
    data_uses: tuple[tuple[int, tuple[tuple[str, int], ...]], ...]


def is_plugin_node(node) -> bool:
    """True for a TensorRT plugin node of this project (domain ``trt.plugins``, known op type)."""
    return node.domain == PLUGIN_DOMAIN and node.op_type in PLUGIN_OPS


def has_plugin_nodes(model) -> bool:
    """True when the ``onnx.ModelProto`` holds at least one plugin node."""
    return any(is_plugin_node(n) for n in model.graph.node)


def topological_sort(graph) -> None:
    """Reorder ``graph.node`` so every input is produced before it is used (stable; in place).

    Raises:
        EdgeInspectError: a node reads a tensor nothing produces (or the graph has a cycle).
    """
    available = {i.name for i in graph.input} | {i.name for i in graph.initializer} | {""}
    pending = list(graph.node)
    ordered = []
    while pending:
        remaining = []
        for node in pending:
            if all(name in available for name in node.input):
                ordered.append(node)
                available.update(node.output)
            else:
                remaining.append(node)
        if len(remaining) == len(pending):
            missing = sorted({n for node in remaining for n in node.input if n not in available})
            raise EdgeInspectError(f"ONNX graph {graph.name!r}: inputs {missing[:5]} are never produced; re-export the model")
        pending = remaining
    del graph.node[:]
    graph.node.extend(ordered)


def prune(graph) -> None:
    """Drop nodes whose outputs nobody reads, then unused initializers and value_info (in place)."""
    topological_sort(graph)
    needed = {o.name for o in graph.output}
    keep = []
    for node in reversed(list(graph.node)):
        if any(o in needed for o in node.output):
            keep.append(node)
            needed.update(node.input)
    del graph.node[:]
    graph.node.extend(reversed(keep))
    inits = [i for i in graph.initializer if i.name in needed]
    del graph.initializer[:]
    graph.initializer.extend(inits)
    produced = {o for node in graph.node for o in node.output}
    infos = [v for v in graph.value_info if v.name in produced]
    del graph.value_info[:]
    graph.value_info.extend(infos)


# ------------------------------------------------------------------------------ FP16 graph
def convert_to_fp16(source: Path, target: Path) -> Path:
    """Write an FP16 copy of an FP32 ONNX whose graph inputs and outputs stay float32.

    Plugin nodes are converted like any node: their inputs (tensors and weights) become float16 and
    the plugins' FP16 kernels run (their autotune offers FP32 or FP16 for all I/O together).

    Args:
        source: FP32 ONNX (standard or plugin form).
        target: the file to write.

    Returns:
        ``target``.

    Raises:
        EdgeInspectError: the source cannot be read, or the converted graph fails ``onnx.checker``.
    """
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    try:
        model = onnx.load_model(str(source))
    except Exception as error:  # noqa: BLE001 - onnx raises DecodeError/ValueError on garbage
        raise EdgeInspectError(f"{source}: not a readable ONNX model ({type(error).__name__})") from None
    try:
        converted = convert_float_to_float16(model, keep_io_types=True)
    except Exception as error:  # noqa: BLE001 - the converter asserts/raises on odd graphs
        raise EdgeInspectError(f"{source}: FP16 conversion failed ({type(error).__name__}: {error})") from None
    topological_sort(converted.graph)
    _check_plugin_input_types(converted, source)
    try:
        onnx.checker.check_model(converted)
    except onnx.checker.ValidationError as error:
        first = str(error).strip().splitlines()[0]
        raise EdgeInspectError(f"{source}: FP16 graph is not valid ONNX ({first})") from None
    onnx.save_model(converted, str(target))
    return Path(target)


def _check_plugin_input_types(model, source: Path) -> None:
    """Every plugin node must get one float type on all inputs (its kernels are all-FP32 or all-FP16)."""
    types = {i.name: i.data_type for i in model.graph.initializer}
    types.update({v.name: v.type.tensor_type.elem_type for v in (*model.graph.input, *model.graph.value_info)})
    for node in model.graph.node:
        if node.op_type == "Cast":
            to = next((a.i for a in node.attribute if a.name == "to"), None)
            if to is not None:
                types[node.output[0]] = to
    for node in model.graph.node:
        if is_plugin_node(node):
            known = {types[i] for i in node.input if i in types}
            if len(known) > 1:
                raise EdgeInspectError(
                    f"{source}: FP16 conversion left plugin node {node.name!r} with mixed input types; "
                    "build with --precision fp32 or int8, or --plugins off"
                )


# ------------------------------------------------------------------------------ plugin ↔ standard ops
def _initializer(model, name: str, node) -> np.ndarray:
    from onnx import numpy_helper

    for init in model.graph.initializer:
        if init.name == name:
            return numpy_helper.to_array(init)
    raise EdgeInspectError(
        f"plugin node {node.name!r}: input {name!r} must be an initializer (the op's weights); re-export the model"
    )


def _attribute(node, name: str):
    from onnx import helper

    for attribute in node.attribute:
        if attribute.name == name:
            return helper.get_attribute_value(attribute)
    raise EdgeInspectError(f"plugin node {node.name!r}: attribute {name!r} missing; re-export with `edgeinspect export --ops plugin`")


def _strip_projection_nodes(model, node, prefix: str):
    """``row = Conv_dw(x, w_row as (C,1,H,1)) + b_row``; ``col = Conv_dw(x, w_col as (C,1,1,W)) + b_col``; ``y = col * row``."""
    from onnx import helper, numpy_helper

    x, w_row, b_row, w_col, b_col = node.input
    channels, height = _initializer(model, w_row, node).shape
    width = _initializer(model, w_col, node).shape[1]
    p = prefix
    inits = [
        numpy_helper.from_array(np.array([channels, 1, height, 1], np.int64), p + "shape_row"),
        numpy_helper.from_array(np.array([channels, 1, 1, width], np.int64), p + "shape_col"),
    ]
    nodes = [
        helper.make_node("Reshape", [w_row, p + "shape_row"], [p + "k_row"], name=p + "reshape_row"),
        helper.make_node("Conv", [x, p + "k_row", b_row], [p + "row"], name=p + "conv_row", group=int(channels),
                         kernel_shape=[int(height), 1]),
        helper.make_node("Reshape", [w_col, p + "shape_col"], [p + "k_col"], name=p + "reshape_col"),
        helper.make_node("Conv", [x, p + "k_col", b_col], [p + "col"], name=p + "conv_col", group=int(channels),
                         kernel_shape=[1, int(width)]),
        helper.make_node("Mul", [p + "col", p + "row"], [node.output[0]], name=p + "outer"),
    ]
    uses = ((0, ((p + "conv_row", 0), (p + "conv_col", 0))),)
    return nodes, inits, uses


def _pixel_confidence_nodes(model, node, prefix: str):
    """``m = Conv(y, K / sum K, same)``; ``y_fsr = min(y * ((1 - eps) + 2 eps m), 1)``."""
    from onnx import helper, numpy_helper

    (y,) = node.input
    size = int(_attribute(node, "kernel_size"))
    kernel = np.asarray(_attribute(node, "kernel"), np.float64).reshape(size, size)
    epsilon = float(_attribute(node, "epsilon"))
    p = prefix
    inits = [
        numpy_helper.from_array((kernel / kernel.sum()).astype(np.float32).reshape(1, 1, size, size), p + "kernel"),
        numpy_helper.from_array(np.array(2.0 * epsilon, np.float32), p + "two_eps"),
        numpy_helper.from_array(np.array(1.0 - epsilon, np.float32), p + "one_minus_eps"),
        numpy_helper.from_array(np.array(1.0, np.float32), p + "one"),
    ]
    radius = size // 2
    nodes = [
        helper.make_node("Conv", [y, p + "kernel"], [p + "m_ipc"], name=p + "conv", pads=[radius] * 4,
                         kernel_shape=[size, size]),
        helper.make_node("Mul", [p + "m_ipc", p + "two_eps"], [p + "m2"], name=p + "scale"),
        helper.make_node("Add", [p + "m2", p + "one_minus_eps"], [p + "m_pcm"], name=p + "shift"),
        helper.make_node("Mul", [y, p + "m_pcm"], [p + "y"], name=p + "apply"),
        helper.make_node("Min", [p + "y", p + "one"], [node.output[0]], name=p + "cap"),
    ]
    uses = ((0, ((p + "apply", 0), (p + "conv", 0))),)
    return nodes, inits, uses


_DECOMPOSITIONS = {strip_spec.PLUGIN_NAME: _strip_projection_nodes, pcm_spec.PLUGIN_NAME: _pixel_confidence_nodes}


def substitute_plugins(model):
    """Replace every plugin node by its standard-op decomposition.

    Args:
        model: ``onnx.ModelProto`` (not modified).

    Returns:
        ``(standard-op copy, [PluginGroup, ...])``; the copy keeps every tensor name of ``model``
        (the decomposition writes the plugin's output name) and drops the ``trt.plugins`` opset.

    Raises:
        EdgeInspectError: a plugin node's weights are not initializers or an attribute is missing.
    """
    out = copy.deepcopy(model)
    groups: list[PluginGroup] = []
    nodes = []
    for node in out.graph.node:
        if not is_plugin_node(node):
            nodes.append(node)
            continue
        prefix = f"{SUB_PREFIX}{len(groups)}_"
        new_nodes, inits, uses = _DECOMPOSITIONS[node.op_type](out, node, prefix)
        nodes.extend(new_nodes)
        out.graph.initializer.extend(inits)
        groups.append(PluginGroup(prefix, copy.deepcopy(node), uses))
    del out.graph.node[:]
    out.graph.node.extend(nodes)
    if groups:
        kept = [o for o in out.opset_import if o.domain != PLUGIN_DOMAIN]
        del out.opset_import[:]
        out.opset_import.extend(kept)
    return out, groups


def _dequantized_base(model, name: str) -> str:
    """The float tensor behind ``name`` when it is ``DequantizeLinear(QuantizeLinear(base))``, else ``name``."""
    producers = {o: n for n in model.graph.node for o in n.output}
    node = producers.get(name)
    if node is not None and node.op_type == "DequantizeLinear":
        q = producers.get(node.input[0])
        if q is not None and q.op_type == "QuantizeLinear":
            return q.input[0]
    return name


def restore_plugins(model, groups: list[PluginGroup], original) -> None:
    """Swap each decomposition in ``model`` back for its plugin node (in place).

    A plugin data input is read from where the (possibly quantized) decomposition read it: the
    ``DequantizeLinear`` output when the quantizer inserted one. Weights come back from ``original``.

    Raises:
        EdgeInspectError: a decomposition's input or output cannot be found any more.
    """
    nodes = {n.name: n for n in model.graph.node}
    produced = {o for n in model.graph.node for o in n.output}
    originals = {i.name: i for i in original.graph.initializer}
    plugin_nodes = []
    weights = []
    for group in groups:
        node = copy.deepcopy(group.node)
        data_positions = {position for position, _ in group.data_uses}
        for position, name in enumerate(node.input):
            if position in data_positions or name not in originals:
                continue
            weight = copy.deepcopy(originals[name])
            if name in produced:  # the quantizer turned it into a DequantizeLinear output: keep the float original
                weight.name = f"{group.prefix}{name}"
                node.input[position] = weight.name
            weights.append(weight)
        for position, uses in group.data_uses:
            names = {nodes[name].input[index] for name, index in uses if name in nodes}
            if not names:
                raise EdgeInspectError(f"plugin {node.name!r}: its input vanished from the quantized graph")
            bases = {_dequantized_base(model, n) for n in names}
            if len(bases) != 1:
                raise EdgeInspectError(f"plugin {node.name!r}: quantized graph reads different tensors {sorted(names)}")
            dequantized = sorted(n for n in names if n not in bases)
            node.input[position] = dequantized[0] if dequantized else bases.pop()
        if node.output[0] not in produced:
            raise EdgeInspectError(f"plugin {node.name!r}: output {node.output[0]!r} vanished from the quantized graph")
        plugin_nodes.append(node)
    kept = [n for n in model.graph.node if not n.name.startswith(SUB_PREFIX)]
    del model.graph.node[:]
    model.graph.node.extend(kept + plugin_nodes)
    present = {i.name for i in model.graph.initializer}
    for weight in weights:  # an exporter may share one initializer between inputs (equal weights)
        if weight.name not in present:
            model.graph.initializer.append(weight)
            present.add(weight.name)
    if not any(o.domain == PLUGIN_DOMAIN for o in model.opset_import):
        model.opset_import.extend(copy.deepcopy(o) for o in original.opset_import if o.domain == PLUGIN_DOMAIN)
    prune(model.graph)


def write_standard_equivalent(source: Path, target: Path) -> Path:
    """Write ``source`` (plugin form) with its plugin nodes decomposed into standard ops: ONNX Runtime runs it.

    Returns:
        ``target``.
    """
    import onnx

    model, _ = substitute_plugins(onnx.load_model(str(source)))
    _set_op_form(model, "standard")
    onnx.checker.check_model(model)
    onnx.save_model(model, str(target))
    return Path(target)


def _set_op_form(model, op_form: str) -> None:
    for entry in model.metadata_props:
        if entry.key == "edgeinspect.op_form":
            entry.value = op_form


def quantize_plugin_form(source: Path, tiles: np.ndarray, *, out_dir: Path) -> tuple[Path, Path]:
    """Symmetric INT8 QDQ of a plugin-form ONNX: ``out_dir/model.int8.onnx`` and ``out_dir/calibration.json``.

    Args:
        source: FP32 plugin-form ONNX.
        tiles: calibration ``(N,1,H,W)`` float32 in [0,255].
        out_dir: where the two files go.

    Returns:
        ``(qdq model path, calibration ranges path)``.

    Raises:
        EdgeInspectError: the quantizer fails, or a plugin cannot be put back.
    """
    import onnx

    from edgeinspect.export import Encoding
    from edgeinspect.export.quantize import FILE_NAMES, RANGES_NAME, quantize_qdq

    original = onnx.load_model(str(source))
    standard, groups = substitute_plugins(original)
    out_dir = Path(out_dir)
    with tempfile.TemporaryDirectory(prefix="edgeinspect-plugin-qdq-") as tmp:
        tmp_dir = Path(tmp)
        onnx.save_model(standard, str(tmp_dir / "standard.onnx"))
        result = quantize_qdq(tmp_dir / "standard.onnx", tiles, out_dir=tmp_dir, encodings=(Encoding.INT8_SYMMETRIC,))
        quantized = onnx.load_model(str(result.files[Encoding.INT8_SYMMETRIC]))
        restore_plugins(quantized, groups, original)
        _set_op_form(quantized, "plugin")
        onnx.checker.check_model(quantized)
        out_dir.mkdir(parents=True, exist_ok=True)
        target = out_dir / FILE_NAMES[Encoding.INT8_SYMMETRIC]
        onnx.save_model(quantized, str(target))
        ranges = out_dir / RANGES_NAME
        shutil.copyfile(result.ranges, ranges)
    return target, ranges
