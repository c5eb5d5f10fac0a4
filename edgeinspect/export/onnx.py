"""Network → ONNX: input ``image`` (N,1,H,W) float32 in [0,255], outputs ``prob`` (+ ``loc``, + ``score``). Needs torch.

The graph holds everything between pixels and probabilities (input normalisation, sigmoid, PCM), so
engines only move arrays. Batch is dynamic, the tile size fixed (LPC-Net's strip projection and
LSA-Net's strip pooling are sized from it; fully convolutional nets are exported at their
``default_cfg`` tile or ``tile_hw``). The outputs are those the network returns (:data:`OUTPUT_NAMES`
order): ``prob`` always, ``loc`` when its ``loc`` is not None (LPC-Net's DLM, LSA-Net's location
attention), ``score`` ``(N,)`` when it has an image-level output (PSIC-Net). Two op forms (:class:`~edgeinspect.export.OpForm`):

- ``standard``: strip projection and PCM decomposed into standard ONNX ops (depthwise Conv, Mul,
  Conv, Clip...): ONNX Runtime, OpenVINO, TensorRT ≤ 10.8 / JetPack 6.
- ``plugin``: each is one TensorRT plugin node (:mod:`edgeinspect.export.plugin_ops`).

Exporter: torch 2.13's default ``torch.onnx.export(..., dynamo=True)`` (torch.export + onnxscript).
The TorchScript exporter (``dynamo=False``) still runs in 2.13 but warns it "will be removed"; the
dynamo exporter exports LPC-Net in ~14 s, folds BatchNorm into Conv, and takes custom ops through a
``custom_translation_table``. Opset :data:`~edgeinspect.export.ONNX_OPSET` (18).

The ONNX carries ``metadata_props``: ``edgeinspect.arch``, ``edgeinspect.kwargs`` (JSON),
``edgeinspect.tile_hw`` (``"H,W"``), ``edgeinspect.op_form``, ``edgeinspect.outputs``,
``edgeinspect.version`` — what ``edgeinspect build`` needs to build from a bare ``.onnx``.

Subnormal weights (magnitude below 1.2e-38, left by weight decay) are written as 0
(:func:`flush_subnormal_weights`): x86 cores compute with them up to 100x slower, and no output
changes.

Example:
    >>> model, info = load_checkpoint("runs/lite/best.pt")
    >>> export_onnx(model, Path("lite.onnx"), op_form=OpForm.STANDARD, tile_hw=(256, 256))
"""

from __future__ import annotations

import contextlib
import logging
import io
import json
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from edgeinspect.errors import EdgeInspectError
from edgeinspect.export import INPUT_NAME, ONNX_OPSET, OpForm
from edgeinspect.export.metadata import write_metadata

#: Every output name the exporter writes, in graph order: ``prob`` and ``loc`` ``(N,1,H,W)``, ``score`` ``(N,)``.
OUTPUT_NAMES = ("prob", "loc", "score")


class _GraphIO(nn.Module):
    """Wraps a network so the traced graph has one input ``image`` and plain tensor outputs ``names``."""

    def __init__(self, model: nn.Module, names: tuple[str, ...]) -> None:
        super().__init__()
        self.model = model
        self.names = names

    def forward(self, image: torch.Tensor):
        out = self.model(image)
        if not hasattr(out, "prob"):
            return out
        values = tuple(getattr(out, name) for name in self.names)
        return values if len(values) > 1 else values[0]


def _tile_hw(model: nn.Module, tile_hw: tuple[int, int] | None) -> tuple[int, int]:
    if tile_hw is not None:
        return int(tile_hw[0]), int(tile_hw[1])
    size = (getattr(model, "default_cfg", None) or {}).get("input_size")
    if not size:
        raise EdgeInspectError("model has no default_cfg['input_size']; pass tile_hw=(H, W)")
    return int(size[-2]), int(size[-1])


def output_names(model: nn.Module, tile_hw: tuple[int, int]) -> tuple[str, ...]:
    """The outputs ``model`` gives on one ``tile_hw`` tile: ``prob`` plus ``loc``/``score`` when not None."""
    with torch.inference_mode():
        out = model(torch.full((1, 1, *tile_hw), 128.0))
    return ("prob",) + tuple(n for n in OUTPUT_NAMES[1:] if getattr(out, n, None) is not None)


def network_record(model: nn.Module) -> dict[str, Any]:
    """``{"arch", "kwargs"}`` of a registry-built model (JSON-safe), ``arch`` "custom" otherwise."""
    arch = getattr(model, "arch", None) or type(model).__name__
    kwargs = getattr(model, "init_kwargs", None) or {}
    return {"arch": str(arch), "kwargs": json.loads(json.dumps(kwargs, default=list))}


def export_onnx(
    model: nn.Module,
    path: Path,
    *,
    op_form: OpForm | str = OpForm.STANDARD,
    tile_hw: tuple[int, int] | None = None,
    opset: int = ONNX_OPSET,
    network: dict[str, Any] | None = None,
) -> Path:
    """Export a segmentation network to ONNX.

    Args:
        model: a network taking ``(N,1,H,W)`` float32 in [0,255] and returning ``SegOutput`` (or a tensor).
        path: the ``.onnx`` file to write (parents created).
        op_form: ``"standard"`` or ``"plugin"``.
        tile_hw: input ``(H, W)``; default the model's ``default_cfg["input_size"]``.
        opset: default-domain opset (17 to the newest the installed ``onnx`` knows).
        network: ``{"arch", "kwargs"}`` stored in the metadata; default from ``model.arch``/``init_kwargs``.

    Returns:
        ``path``. Input ``image`` ``(batch,1,H,W)`` float32; outputs ``prob`` and, for nets with a
        DLM or location attention, ``loc``, each ``(batch,1,H,W)`` float32 in [0,1]; for nets with
        an image classifier ``score`` ``(batch,)`` float32 in [0,1].

    Raises:
        EdgeInspectError: bad op form/opset, or the exporter fails (first line of its error).
    """
    import onnx

    from edgeinspect import __version__

    try:
        op_form = OpForm(op_form)
    except ValueError:
        raise EdgeInspectError(f"op form must be one of {', '.join(f.value for f in OpForm)}, got {op_form!r}") from None
    newest = onnx.defs.onnx_opset_version()
    if not 17 <= opset <= newest:  # beyond `newest` torch's exporter falls back to its own opset
        raise EdgeInspectError(f"opset must be in [17, {newest}] (the installed onnx {onnx.__version__} "
                               f"knows opsets up to {newest}), got {opset}")
    path = Path(path)
    model = model.eval()
    tile_hw = _tile_hw(model, tile_hw)
    outputs = output_names(model, tile_hw)
    translation = None
    exported: nn.Module = model
    if op_form is OpForm.PLUGIN:
        from edgeinspect.export.plugin_ops import plugin_form, translation_table

        exported, _ = plugin_form(model)
        translation = translation_table()
    wrapper = _GraphIO(exported, outputs).eval()
    example = torch.full((2, 1, *tile_hw), 128.0)
    batch = torch.export.Dim("batch", min=1, max=4096)
    captured = io.StringIO()
    # torch's ONNX registry warns once per torchvision op when torchvision is absent (it always is here)
    logging.getLogger("torch.onnx._internal.exporter._registration").setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(captured):
            warnings.simplefilter("ignore")
            program = torch.onnx.export(
                wrapper, (example,), None, dynamo=True, opset_version=opset, verbose=False,
                input_names=[INPUT_NAME], output_names=list(outputs),
                dynamic_shapes={"image": {0: batch}}, custom_translation_table=translation,
            )
    except Exception as error:  # the exporter's errors are long; keep the summary line
        lines = [line for line in str(error).splitlines() if line.strip()]
        summary = next((line for line in lines if "Error" in line or "error" in line), lines[0] if lines else "")
        raise EdgeInspectError(f"ONNX export of {type(model).__name__} failed: {summary.strip()[:300]}") from error
    proto = program.model_proto
    network = network or network_record(model)
    write_metadata(proto, arch=network["arch"], kwargs=network.get("kwargs", {}), tile_hw=tile_hw,
                   op_form=op_form.value, outputs=outputs)
    proto.producer_name = "edgeinspect"
    proto.producer_version = __version__
    proto.doc_string = f"edgeinspect {network['arch']} {op_form.value}-op form, tile {tile_hw[0]}x{tile_hw[1]}"
    flush_subnormal_weights(proto)
    onnx.checker.check_model(proto)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save_model(proto, str(path))
    return path


def flush_subnormal_weights(proto: Any) -> int:
    """Set the subnormal values of every float32 initializer of ``proto`` (an ``onnx.ModelProto``) to 0
    (:func:`edgeinspect.numerics.flush_subnormal`).

    Returns:
        How many values were flushed (0: the model is left as it was).
    """
    from onnx import TensorProto, numpy_helper

    from edgeinspect.numerics import flush_subnormal

    flushed = 0
    for index, initializer in enumerate(proto.graph.initializer):
        if initializer.data_type != TensorProto.FLOAT:
            continue
        array = numpy_helper.to_array(initializer).copy()
        count = flush_subnormal(array)
        if count:
            proto.graph.initializer[index].CopyFrom(numpy_helper.from_array(array, initializer.name))
            flushed += count
    return flushed


def export_checkpoint(
    checkpoint: Path, path: Path, *, op_form: OpForm | str = OpForm.STANDARD, opset: int = ONNX_OPSET
) -> Path:
    """Export a checkpoint (``.pt`` from ``edgeinspect train``) at its recorded tile size.

    Raises:
        EdgeInspectError: the checkpoint is missing or unreadable, or the export fails.
    """
    checkpoint = Path(checkpoint)
    if not checkpoint.is_file():
        raise EdgeInspectError(f"{checkpoint}: checkpoint not found")
    from edgeinspect.models import load_checkpoint

    model, _extra = load_checkpoint(checkpoint)
    return export_onnx(model, path, op_form=op_form, opset=opset, network=network_record(model))
