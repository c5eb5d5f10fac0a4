"""``--vs``: every figure of one engine divided by the same figure of the other.

A ratio above 1 means ENGINE has more of it than ENGINE2: faster for ``tiles_per_s`` and
``mpx_per_s``, slower for the latencies (``latency_p50_ms`` ...).

Example:
    >>> ratios(a, b)
    {'tiles_per_s': 1.82, 'mpx_per_s': 1.82, 'latency_p50_ms': 0.55, ...}
"""

from __future__ import annotations

import math

from edgeinspect.bench.engine import EngineFigures

#: The figures compared, in print order.
FIGURES = ("tiles_per_s", "mpx_per_s", "latency_p50_ms", "latency_p90_ms", "latency_p99_ms", "latency_max_ms")


def flat_figures(figures: EngineFigures) -> dict[str, float]:
    """``{figure: value}`` for :data:`FIGURES` (latencies in ms)."""
    flat = {"tiles_per_s": figures.tiles_per_s, "mpx_per_s": figures.mpx_per_s}
    flat.update({f"latency_{k}_ms": v for k, v in figures.latency_ms.items()})
    return {name: flat[name] for name in FIGURES}


def ratio(a: float, b: float) -> float | None:
    """``a / b``; None when ``b`` is 0 or either is not finite."""
    if b == 0 or not math.isfinite(a) or not math.isfinite(b):
        return None
    return a / b


def ratios(a: EngineFigures, b: EngineFigures) -> dict[str, float | None]:
    """``{figure: a / b}`` for every figure of :data:`FIGURES`."""
    fa, fb = flat_figures(a), flat_figures(b)
    return {name: ratio(fa[name], fb[name]) for name in FIGURES}
