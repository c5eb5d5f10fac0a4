"""Data: the synthetic line-scan web and readers for MT, KolektorSDD, AITEX and image/mask pairs.

Importing this package is cheap (no cv2, no torch); names are loaded on first use:

- :mod:`edgeinspect.data.synth`: :class:`SyntheticWeb`, :func:`write_synth_dataset`,
  :class:`DefectTruth`, :class:`WebStrip`, :data:`TEXTURES`, :data:`DEFECT_KINDS`.
- :mod:`edgeinspect.data.datasets`: :func:`open_dataset`, :func:`detect_format`, :class:`Dataset`.
- :mod:`edgeinspect.data.packed_mask`: a defect's mask as short JSON text (``pack_mask``, ``unpack_mask``).

Example:
    >>> from edgeinspect.data import SyntheticWeb
    >>> SyntheticWeb(1024, texture="steel", seed=2).render(0, 256).image.shape
    (256, 1024)
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "SyntheticWeb": "synth", "write_synth_dataset": "synth", "DefectTruth": "synth", "WebStrip": "synth",
    "TEXTURES": "synth", "DEFECT_KINDS": "synth",
    "open_dataset": "datasets", "detect_format": "datasets", "Dataset": "datasets",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'edgeinspect.data' has no attribute {name!r}")
    return getattr(importlib.import_module(f"edgeinspect.data.{module}"), name)
