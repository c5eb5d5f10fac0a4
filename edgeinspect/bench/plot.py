"""``--plot PNG``: latency histogram and throughput vs batch size, one figure (matplotlib Agg).

Left: histogram of the per-batch latencies of the main measurement (one colour per engine, p50
and p99 marked). Right: tiles/s at batch sizes 1, 2, 4, 8 (short sweep), Mpx/s on the right axis.

Example:
    >>> write_plot(Path("bench.png"), [("lite", timing)], [("lite", sweep)])
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from edgeinspect.bench.engine import EngineFigures, EngineTiming
from edgeinspect.errors import EdgeInspectError

COLOURS = ("tab:blue", "tab:orange", "tab:green", "tab:red")


def write_plot(path: Path, timings: Sequence[tuple[str, EngineTiming]],
               sweeps: Sequence[tuple[str, dict[int, EngineFigures]]], *, title: str = "") -> Path:
    """Write the PNG and return its path.

    Args:
        path: the ``.png`` to write (its folder must exist).
        timings: ``(label, timing)`` per engine: histogram of ``timing.latencies_s``.
        sweeps: ``(label, {batch: figures})`` per engine: throughput vs batch size.
        title: figure title.

    Raises:
        EdgeInspectError: the folder is missing or the file cannot be written.
    """
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator, ScalarFormatter

    path = Path(path)
    if not path.parent.is_dir():
        raise EdgeInspectError(f"{path}: folder {path.parent} does not exist; create it or choose another --plot")
    fig, (ax_lat, ax_tp) = plt.subplots(1, 2, figsize=(11, 4.2), constrained_layout=True)
    all_ms = np.concatenate([t.latencies_s * 1e3 for _, t in timings])
    # the range stops at 1.5 × the highest p99: a few stalls (GC, a noisy neighbour) would squash the rest
    top = min(float(all_ms.max()), 1.5 * max(float(np.percentile(t.latencies_s * 1e3, 99)) for _, t in timings))
    low = float(all_ms.min())
    wide = low > 0 and top / low > 10  # long tail: log bins keep the bulk visible
    bins = (np.geomspace(low, top, 41) if wide else np.linspace(low, top, 41)) if top > low else 10
    for k, (label, timing) in enumerate(timings):
        colour = COLOURS[k % len(COLOURS)]
        ms = timing.latencies_s * 1e3
        beyond = int((ms > top).sum())
        note = f", {beyond} beyond {top:.3g} ms" if beyond else ""
        ax_lat.hist(np.minimum(ms, top), bins=bins, alpha=0.55, color=colour,
                    label=f"{label} (batch {timing.batch}, n={ms.size}{note})")
        for q, style in ((50, "-"), (99, "--")):
            ax_lat.axvline(np.percentile(ms, q), color=colour, linestyle=style, linewidth=1.2)
    if wide:
        ax_lat.set_xscale("log")
        ax_lat.xaxis.set_major_formatter(ScalarFormatter())
    ax_lat.set_xlabel("latency per batch (ms)   — p50   -- p99")
    ax_lat.set_ylabel("batches")
    ax_lat.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax_lat.set_title("latency histogram")
    ax_lat.legend(fontsize=8)

    ax_mpx = ax_tp.twinx()
    for k, (label, sweep) in enumerate(sweeps):
        colour = COLOURS[k % len(COLOURS)]
        sizes = sorted(sweep)
        tiles = [sweep[b].tiles_per_s for b in sizes]
        ax_tp.plot(sizes, tiles, "o-", color=colour, label=label)
        for b, value in zip(sizes, tiles):
            top = value >= max(other[b].tiles_per_s for _, other in sweeps if b in other)  # label above the highest
            ax_tp.annotate(_short(value), (b, value), textcoords="offset points",
                           xytext=(0, 7 if top else -13), ha="center", fontsize=8, color=colour)
    sizes = sorted({b for _, sweep in sweeps for b in sweep})
    ax_tp.set_xscale("log", base=2)
    ax_tp.set_xticks(sizes, [str(b) for b in sizes])
    ax_tp.set_xlabel("batch size (tiles)")
    ax_tp.set_ylabel("throughput (tiles/s)")
    ax_tp.set_ylim(bottom=0, top=ax_tp.get_ylim()[1] * 1.12)
    if sweeps:
        first = sweeps[0][1]
        px = next(iter(first.values()))
        px_per_tile = px.mpx_per_s / px.tiles_per_s if px.tiles_per_s else 0.0
        ax_mpx.set_ylim(0, ax_tp.get_ylim()[1] * px_per_tile)
    sizes_px = {round(f.mpx_per_s / f.tiles_per_s * 1e6)
                for _, sweep in sweeps for f in sweep.values() if f.tiles_per_s}
    ax_mpx.set_ylabel("Mpx/s of tiles" + (" (first engine's tile size)" if len(sizes_px) > 1 else ""))
    ax_tp.set_title("throughput vs batch size")
    ax_tp.grid(True, alpha=0.3)
    ax_tp.legend(fontsize=8, loc="lower right")
    if title:
        fig.suptitle(title, fontsize=10)
    try:
        fig.savefig(path, dpi=110)
    except OSError as error:
        raise EdgeInspectError(f"{path}: cannot write the plot ({error.strerror or error})") from None
    finally:
        plt.close(fig)
    return path


def _short(value: float) -> str:
    """``18940`` → ``"18.9k"``, ``7600`` → ``"7.6k"``, ``812.4`` → ``"812"``."""
    if value >= 1e6:
        return f"{value / 1e6:.3g}M"
    if value >= 1e3:
        return f"{value / 1e3:.3g}k"
    return f"{value:.3g}"
