"""``metrics.csv`` of a training run and its ``curves.png`` (matplotlib, Agg canvas, no display).

One row per epoch, written and flushed as soon as the epoch ends, so a run that is stopped keeps its
history and ``--resume`` continues the same file. Columns: :data:`COLUMNS`.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

__all__ = ["COLUMNS", "MetricsLog", "plot_curves", "read_metrics"]

#: metrics.csv header. epoch is 1-based over both stages; stage is "dlm" | "seg" | "seg+pcm";
#: train_loss is the epoch's batch-averaged training loss (L_loc, L_img or λ1·L_img + λ2·L_pcm);
#: val_loss the same loss on the val split (no augmentation); val_* segmentation metrics of the model's
#: final probabilities (thresholded) on the val split at the network input size; val_loc_iou the IoU of
#: the DLM map (>= 0.5) against the rectangle labels; lr the learning rate; seconds the epoch's wall time.
#: Other families: stage is their stage ("seg", "cls", "net"), train_loss their loss; val_loc_iou is
#: LSA-Net's location map against the same rectangle labels; val_image_ap/auc/acc are PSIC-Net's
#: image-level scores (classifier step). A column a run does not measure stays empty.
COLUMNS = (
    "epoch",
    "stage",
    "train_loss",
    "val_loss",
    "val_mIoU",
    "val_mPA",
    "val_mIoU80",
    "val_dice",
    "val_iou",
    "val_pixel_acc",
    "val_loc_iou",
    "val_image_ap",
    "val_image_auc",
    "val_image_acc",
    "lr",
    "seconds",
)


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """Rows of a metrics.csv, numbers as float (epoch as int); missing file → []."""
    path = Path(path)
    if not path.is_file():
        return []
    rows = []
    with path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            parsed: dict[str, Any] = {}
            for key, value in row.items():
                if key == "stage":
                    parsed[key] = value
                elif key == "epoch":
                    parsed[key] = int(value)
                else:
                    parsed[key] = float(value) if value not in ("", None) else math.nan
            rows.append(parsed)
    return rows


class MetricsLog:
    """Append-only metrics.csv writer.

    Args:
        path: the csv file.
        keep_epochs: when resuming, keep rows with ``epoch <= keep_epochs`` and drop the rest
            (epochs that ran after the last checkpoint); None starts a new file.
    """

    def __init__(self, path: Path, *, keep_epochs: int | None = None) -> None:
        self.path = Path(path)
        kept = [r for r in read_metrics(self.path) if r["epoch"] <= keep_epochs] if keep_epochs is not None else []
        with self.path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=COLUMNS)
            writer.writeheader()
            for row in kept:
                writer.writerow({k: _fmt(row.get(k)) for k in COLUMNS})
        self.rows: list[dict[str, Any]] = kept

    def append(self, row: dict[str, Any]) -> None:
        """Write one epoch's row (unknown keys are an error, missing ones are left empty) and flush."""
        unknown = set(row) - set(COLUMNS)
        if unknown:
            raise KeyError(f"not metrics.csv columns: {sorted(unknown)}")
        with self.path.open("a", newline="", encoding="utf-8") as handle:
            csv.DictWriter(handle, fieldnames=COLUMNS).writerow({k: _fmt(row.get(k)) for k in COLUMNS})
            handle.flush()
        self.rows.append(dict(row))


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def plot_curves(
    rows: list[dict[str, Any]],
    path: Path,
    *,
    epochs_dlm: int = 0,
    p_set_epoch: int | None = None,
    title: str = "",
    marks: list[tuple[float, str, str]] | None = None,
) -> Path:
    """Draw loss and val mIoU against epoch; mark the stage boundaries and the PCM switch.

    Args:
        rows: metrics rows (as written by :class:`MetricsLog` / returned by :func:`read_metrics`).
        path: output PNG.
        epochs_dlm: LPC-Net stage-1 epochs (a line at ``epochs_dlm + 0.5``); ignored with ``marks``.
        p_set_epoch: global 1-based epoch where the PCM term starts (a line at ``p_set_epoch - 0.5``),
            or None when the run never switches it on; ignored with ``marks``.
        title: figure title.
        marks: vertical lines ``(x in epochs, label, "stage" | "switch")`` instead of the two above.

    Returns:
        ``path``.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    def series(key: str) -> tuple[list[int], list[float]]:
        pts = [(r["epoch"], float(r[key])) for r in rows if r.get(key) is not None and not _isnan(r.get(key))]
        return [p[0] for p in pts], [p[1] for p in pts]

    figure = Figure(figsize=(9, 4.2), dpi=100)
    FigureCanvasAgg(figure)
    ax_loss, ax_iou = figure.subplots(1, 2)
    for key, label in (("train_loss", "train loss"), ("val_loss", "val loss")):
        xs, ys = series(key)
        if xs:
            ax_loss.plot(xs, ys, marker="." if len(xs) < 50 else None, label=label)
    if marks is None:
        marks = [(epochs_dlm + 0.5, "stage 1 | stage 2", "stage")] if epochs_dlm > 0 else []
        if p_set_epoch is not None:
            marks.append((p_set_epoch - 0.5, "p_set (PCM on)", "switch"))
    for key, label in (("val_mIoU", "val mIoU"), ("val_loc_iou", "val loc IoU (rect labels)"),
                       ("val_image_ap", "val image AP")):
        xs, ys = series(key)
        if xs:
            ax_iou.plot(xs, ys, marker="." if len(xs) < 50 else None, label=label)
    for ax in (ax_loss, ax_iou):
        for x, label, kind in marks:
            style = dict(color="grey", linestyle="--") if kind == "stage" else dict(color="tab:red", linestyle=":")
            ax.axvline(x, linewidth=1, label=label, **style)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    ax_loss.set_ylabel("loss")
    ax_loss.set_title("loss")
    ax_iou.set_ylabel("IoU")
    ax_iou.set_ylim(0.0, 1.0)
    ax_iou.set_title("validation")
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(Path(path))
    return Path(path)


def _isnan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)
