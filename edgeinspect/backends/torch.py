"""PyTorch eager engine over a checkpoint (``.pt``): for comparisons only (needs the ``train`` extra).

Same contract as every engine: ``(N,1,H,W)`` uint8/float32 pixel values in, ``{"prob", "loc"}``
float32 out. The tile size comes from the checkpoint's ``cfg["input_size"]``.
"""

from __future__ import annotations

import numpy as np

from edgeinspect.backends.base import OUTPUT_NAMES, Engine
from edgeinspect.errors import EdgeInspectError


class TorchEngine(Engine):
    """``torch`` eager inference of a checkpoint on the CPU (``threads`` → ``torch.set_num_threads``)."""

    backend = "torch"
    _fresh_outputs = True

    def _open(self) -> None:
        try:
            import torch

            from edgeinspect.models.checkpoint import load_checkpoint
            from edgeinspect.numerics import flush_subnormal
        except ImportError as error:
            raise EdgeInspectError(
                f"{self.path}: a .pt checkpoint needs torch (`pip install edgeinspect[train]`): {error}"
            ) from None
        if self.threads:
            torch.set_num_threads(int(self.threads))
        model, _extra = load_checkpoint(self.path)
        for tensor in model.state_dict().values():  # subnormal weights cost x86 up to 100x per op
            flush_subnormal(tensor.numpy())  # in place: a CPU tensor's numpy view shares its memory
        self._model = model.eval()
        self._torch = torch
        cfg = getattr(model, "default_cfg", None) or {}
        size = cfg.get("input_size")
        if self._tile_hw is None and size:
            self._tile_hw = (int(size[-2]), int(size[-1]))
        names = tuple(cfg.get("outputs") or ("prob",))
        self._outputs = tuple(n for n in names if n in OUTPUT_NAMES) or ("prob",)

    def _infer(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        torch = self._torch
        with torch.inference_mode():
            out = self._model(torch.from_numpy(batch))
        result = {"prob": out.prob.float().numpy()}
        for name in self._outputs[1:]:              # loc, score: what this network returns
            value = getattr(out, name, None)
            if value is not None:
                result[name] = value.float().numpy()
        self._outputs = tuple(result)
        return result

    def _close(self) -> None:
        del self._model
