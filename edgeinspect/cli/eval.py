"""``edgeinspect eval``: score predictions against a dataset's truth masks (mPA, mIoU, mIoU80, Dice, defect areas).

Exactly one source of predictions is given; each source is one branch of :func:`_prediction_pairs`
yielding ``(pred, truth)`` per sample of the chosen split (pred ``(H, W)`` bool or float32
probability in [0, 1], truth ``(H, W)`` bool). To add a source: one option in ``evaluate``, one
entry in ``sources`` and one branch in :func:`_prediction_pairs`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from edgeinspect.cli.app import app
from edgeinspect.config import MAX_ENGINE_THREADS
from edgeinspect.errors import DataError, EdgeInspectError

if TYPE_CHECKING:
    import numpy as np

    from edgeinspect.data.datasets import Dataset
    from edgeinspect.metrics import EvalReport


class Split(str, Enum):
    """Which part of the dataset's stratified 3:1:1 split (seed 0) to score."""

    all = "all"
    train = "train"
    val = "val"
    test = "test"


class DatasetFormat(str, Enum):
    """Dataset layouts (edgeinspect.data.datasets.FORMAT_NAMES) plus auto-detection."""

    auto = "auto"
    mt = "mt"
    kolektor = "kolektor"
    aitex = "aitex"
    pairs = "pairs"


@app.command("eval")
def evaluate(
    data: Annotated[
        Path | None, typer.Option("--data", help="Dataset folder holding the truth masks (mt, kolektor, aitex or pairs layout).")
    ] = None,
    pred: Annotated[
        Path | None,
        typer.Option("--pred", help="Folder of predicted masks DIR/<sample name>.png: 0/1 or 0/255 masks, or 0..255 probabilities (defect >= 128)."),
    ] = None,
    split: Annotated[
        Split | None,
        typer.Option("--split", help="Part of --data to score (stratified 3:1:1, seed 0); default: all with --pred, test otherwise."),
    ] = None,
    data_format: Annotated[DatasetFormat, typer.Option("--format", help="Dataset layout of --data.")] = DatasetFormat.auto,
    skip_bad: Annotated[bool, typer.Option("--skip-bad", help="Skip unreadable samples (a missing mask, an undecodable image) instead of stopping.")] = False,
    area_tolerance: Annotated[
        float, typer.Option("--area-tolerance", min=0.0, help="Relative defect-area error still counted as right (0.2 = 20 %).")
    ] = 0.2,
    min_area_px: Annotated[
        int, typer.Option("--min-area-px", min=0, help="Ignore truth defects (and false detections) smaller than this many pixels.")
    ] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of a table.")] = False,
    run_dir: Annotated[
        Path | None, typer.Option("--run", help="Score an `edgeinspect run` folder against its truth.jsonl (sim runs); no --data.")
    ] = None,
    engine: Annotated[
        Path | None,
        typer.Option("--engine", help="Predict with an engine folder (edgeinspect build), .onnx or .pt: each image resized to the tile and back."),
    ] = None,
    threads: Annotated[int | None, typer.Option("--threads", min=1, max=MAX_ENGINE_THREADS, help="Engine CPU threads (--engine).")] = None,
    checkpoint: Annotated[
        Path | None,
        typer.Option("--checkpoint", help="Score a training checkpoint (RUN/best.pt of `edgeinspect train`) on --split cut with the run's own seed and ratios."),
    ] = None,
) -> None:
    """Score predicted defect masks against a dataset: mPA, mIoU, mIoU80, Dice, IoU, per-defect recall and area error."""
    if run_dir is not None:  # a run folder carries its own truth: edgeinspect.stream.score
        from edgeinspect.cli.run import print_run_score

        print_run_score(run_dir, area_tolerance=area_tolerance, as_json=as_json, other_sources=(data, pred))
        return
    sources = {"--pred": pred, "--engine": engine, "--checkpoint": checkpoint}
    given = [option for option, value in sources.items() if value is not None]
    if len(given) != 1:
        which = f"got {', '.join(given)}" if given else "got none"
        raise EdgeInspectError(f"give exactly one source of predictions: {' or '.join(sources)} ({which})")
    if data is None:
        raise EdgeInspectError("--data DIR is required: the dataset whose truth masks the predictions are scored against")
    if split is None:  # a folder of predictions usually covers the whole dataset; models are scored on held-out data
        split = Split.all if pred is not None else Split.test
    if checkpoint is not None:  # the run's own split and input size: edgeinspect.train.evaluate (needs torch)
        from edgeinspect.cli.train import print_checkpoint_eval

        print_checkpoint_eval(checkpoint, data, split.value, data_format=data_format.value, skip_bad=skip_bad,
                              area_tolerance=area_tolerance, min_area_px=min_area_px, as_json=as_json)
        return

    if pred is not None and not pred.is_dir():
        raise DataError(f"{pred}: " + ("is a file; --pred takes the folder of predicted masks" if pred.exists()
                                       else "prediction folder not found (--pred)"))

    from edgeinspect.data.datasets import open_dataset
    from edgeinspect.metrics import evaluate_masks

    dataset = open_dataset(data, data_format.value, skip_bad=skip_bad).split(split.value)
    if skip_bad:  # undecodable files too, after splitting (the splits do not depend on them)
        dataset = dataset.verify(skip_bad=True)
    if len(dataset) == 0:
        raise DataError(f"{data}: split {split.value!r} is empty; use --split all")
    pairs = _prediction_pairs(dataset, pred=pred, engine=engine, threads=threads)
    report = evaluate_masks(
        _with_progress(pairs, len(dataset)), area_tolerance=area_tolerance, min_area_px=min_area_px
    )
    if as_json:
        print(json.dumps(report.to_json() | {"split": split.value, "skipped": len(dataset.skipped)}, indent=2))
    else:
        _print_report(report, title=f"{data} ({dataset.format}, split {split.value}, {len(dataset)} images)", skipped=dataset.skipped)


def _prediction_pairs(
    dataset: Dataset, *, pred: Path | None = None, engine: Path | None = None, threads: int | None = None
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """``(pred, truth)`` for every sample of ``dataset`` from the one source given."""
    if pred is not None:
        from edgeinspect.data.datasets import prediction_pairs

        return prediction_pairs(dataset, pred)
    if engine is not None:  # resize to the engine tile, infer, resize back (edgeinspect.backends.evaluate)
        from edgeinspect.backends import load
        from edgeinspect.backends.evaluate import engine_pairs

        load(engine)  # checks the path and manifest now: a bad --engine is one error line before any work
        return engine_pairs(engine, dataset, threads=threads)
    raise AssertionError("no prediction source")  # evaluate() checked exactly one is given


def _with_progress(pairs: Iterator, total: int) -> Iterator:
    """Yield from ``pairs`` with a transient progress bar on stderr (stdout stays clean for --json)."""
    from rich.console import Console
    from rich.progress import track

    console = Console(stderr=True)
    # drawn on a terminal only: into a pipe or a file rich prints the bar's final state, a stray line
    yield from track(pairs, total=total, description="scoring", console=console, transient=True,
                     disable=not console.is_terminal)


def _print_report(report: EvalReport, *, title: str, skipped: list[str]) -> None:
    from rich.console import Console
    from rich.table import Table

    def pct(value: float | None) -> str:
        return "n/a" if value is None or value != value else f"{100 * value:.2f} %"

    d = report.defects
    j = report.to_json()
    table = Table(title=title, show_header=True)
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column("meaning", style="dim")
    table.add_row("mPA", pct(report.mPA), "mean pixel accuracy over background and defect")
    table.add_row("mIoU", pct(report.mIoU), "mean IoU over background and defect")
    table.add_row("mIoU80", pct(report.mIoU80), "images with per-image mIoU >= 0.8")
    table.add_row("Dice", pct(report.dice), "defect class")
    table.add_row("IoU", pct(report.iou), "defect class")
    table.add_row("pixel accuracy", pct(report.pixel_acc), "")
    source = "from the network's image score" if report.image_score == "score" else "from max defect probability per image"
    table.add_row("image AP / AUC", f"{pct(j['image_ap'])} / {pct(j['image_auc'])}", source)
    table.add_row("image accuracy", pct(j["image_acc"]), "image defect = score >= 0.5, against 'has a defect'")
    table.add_section()
    table.add_row("truth defects", str(d.truth), f"components, 8-connected, >= {report.min_area_px} px")
    table.add_row("found", f"{d.found} ({pct(d.recall)})", f">= {report.min_cover:.0%} of the defect covered")
    table.add_row("false detections", f"{d.false} of {d.predicted}", f"precision {pct(d.precision)}")
    table.add_row("area within tolerance", f"{d.within_tol} ({pct(d.area_within_tol)})", f"|est − true| <= {report.area_tolerance:.0%} of true")
    errors = j["defects"]["area_error"]
    if errors["abs_p50"] is not None:
        table.add_row(
            "|area error| p50 / p90 / max",
            f"{pct(errors['abs_p50'])} / {pct(errors['abs_p90'])} / {pct(errors['abs_max'])}",
            f"mean signed {pct(errors['mean'])}",
        )
    console = Console()
    console.print(table)
    if skipped:
        console.print(f"[yellow]skipped {len(skipped)} bad samples[/], first: {skipped[0]}")
