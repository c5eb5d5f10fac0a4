"""The edgeinspect keys an exported ONNX carries in ``metadata_props`` (no torch).

``edgeinspect.arch``, ``edgeinspect.kwargs`` (JSON), ``edgeinspect.tile_hw`` (``"H,W"``),
``edgeinspect.op_form``, ``edgeinspect.outputs`` (``"prob,loc"``), ``edgeinspect.version``: what
``edgeinspect build`` needs to build an engine from a bare ``.onnx``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from edgeinspect.errors import EdgeInspectError

META_PREFIX = "edgeinspect."


def write_metadata(proto, *, arch: str, kwargs: dict[str, Any], tile_hw: tuple[int, int], op_form: str,
                   outputs: tuple[str, ...]) -> None:
    """Replace ``proto.metadata_props`` with the edgeinspect keys (``proto``: ``onnx.ModelProto``)."""
    from edgeinspect import __version__

    meta = {
        "arch": arch,
        "kwargs": json.dumps(kwargs, sort_keys=True, default=list),
        "tile_hw": f"{int(tile_hw[0])},{int(tile_hw[1])}",
        "op_form": op_form,
        "outputs": ",".join(outputs),
        "version": __version__,
    }
    del proto.metadata_props[:]
    for key, value in meta.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = META_PREFIX + key, str(value)


def read_metadata(path: Path) -> dict[str, Any]:
    """The edgeinspect metadata of an ONNX file.

    Returns:
        ``{"arch": str, "kwargs": dict, "tile_hw": (H, W), "op_form": str, "outputs": tuple, "version": str,
        "input_shape": [int | str | None, ...], "input_type": str, "inputs": int,
        "output_shapes": {name: [dims]}}`` (a dim is an int, or its symbolic name or None;
        ``input_type`` the ONNX element type in lower case, ``"float"`` for float32; ``inputs`` the
        graph inputs that are not initializers); keys an ONNX made elsewhere lacks are absent.

    Raises:
        EdgeInspectError: the file is missing or not an ONNX model.
    """
    import onnx

    path = Path(path)
    if not path.is_file():
        raise EdgeInspectError(f"{path}: ONNX file not found")
    try:
        proto = onnx.load_model(str(path), load_external_data=False)
    except Exception as error:  # onnx raises DecodeError / ValueError on garbage
        raise EdgeInspectError(f"{path}: not a readable ONNX model ({type(error).__name__})") from None
    raw = {p.key[len(META_PREFIX):]: p.value for p in proto.metadata_props if p.key.startswith(META_PREFIX)}
    meta: dict[str, Any] = dict(raw)
    try:
        if "kwargs" in raw:
            meta["kwargs"] = json.loads(raw["kwargs"])
        if "tile_hw" in raw:
            meta["tile_hw"] = tuple(int(v) for v in raw["tile_hw"].split(","))
    except ValueError:
        raise EdgeInspectError(f"{path}: bad edgeinspect metadata; re-export it with `edgeinspect export`") from None
    if "outputs" in raw:
        meta["outputs"] = tuple(raw["outputs"].split(","))
    meta["opset"] = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), None)
    meta["custom_domains"] = sorted({n.domain for n in proto.graph.node if n.domain not in ("", "ai.onnx")})
    def dims_of(value_info) -> list[int | str | None]:
        return [d.dim_value if d.HasField("dim_value") else (d.dim_param or None)
                for d in value_info.type.tensor_type.shape.dim]

    initializers = {t.name for t in proto.graph.initializer}
    inputs = [i for i in proto.graph.input if i.name not in initializers]
    shape = inputs[0].type.tensor_type.shape.dim if inputs else []
    meta["input_shape"] = dims_of(inputs[0]) if inputs else []
    meta["inputs"] = len(inputs)
    if inputs:
        meta["input_type"] = onnx.TensorProto.DataType.Name(inputs[0].type.tensor_type.elem_type).lower()
    meta["output_shapes"] = {o.name: dims_of(o) for o in proto.graph.output}
    if "tile_hw" not in meta:
        if len(shape) == 4 and shape[2].HasField("dim_value") and shape[3].HasField("dim_value"):
            meta["tile_hw"] = (shape[2].dim_value, shape[3].dim_value)
    if "outputs" not in meta:
        meta["outputs"] = tuple(o.name for o in proto.graph.output)
    return meta
