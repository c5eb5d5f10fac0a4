"""Compare engines on the same inputs (Polygraphy's Comparator, reduced to what edgeinspect needs).

Example:
    >>> with backends.load("lite.onnx") as ref, backends.load("engines/lite-int8") as int8:
    ...     compare([ref, int8], tiles)
    {'onnxruntime/int8 (engines/lite-int8)': {'prob': 0.031, 'loc': 0.012}}
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from edgeinspect.backends.base import Engine
from edgeinspect.errors import EdgeInspectError


def compare(engines: Sequence[Engine], inputs: np.ndarray) -> dict[str, dict[str, float]]:
    """Max absolute difference of every output of each engine against the first one.

    Args:
        engines: two or more engines with the same tile size (opened here if needed, closed only if opened here).
        inputs: ``(N,1,H,W)`` uint8 or float32 pixel values in [0,255].

    Returns:
        ``{engine.name: {output name: max |engine - reference|}}`` for the outputs both engines have.

    Raises:
        EdgeInspectError: fewer than two engines, or tile sizes differ.
    """
    if len(engines) < 2:
        raise EdgeInspectError("compare needs a reference engine and at least one other")
    opened = [engine for engine in engines if not engine.is_open]
    try:
        for engine in opened:
            engine.open()
        if len({engine.tile_hw for engine in engines}) != 1:
            raise EdgeInspectError(f"engines have different tile sizes: {[e.tile_hw for e in engines]}")
        reference = engines[0].infer(inputs)
        report = {}
        for engine in engines[1:]:
            outputs = engine.infer(inputs)
            report[engine.name] = {name: float(np.abs(outputs[name] - reference[name]).max())
                                   for name in outputs if name in reference}
        return report
    finally:
        for engine in opened:
            engine.close()
