"""``edgeinspect train``: train a seed network → RUN/best.pt, last.pt, metrics.csv, curves.png, test.json.

The recipe (every number of the run) is the bundled ``edgeinspect/train/recipes/<model>.yaml`` or
``--recipe FILE``, then ``--set key=value`` overrides, then the named options below. Each model trains
the way its paper does (:mod:`edgeinspect.train.families`): LPC-Net in two stages (100 DLM + 300
segmentation epochs, PCM from segmentation epoch 250), PSIC-Net in two steps (segmentation, then the
image classifier with the segmentation frozen), LSA-Net and AnomalySeg in one stage. On a CPU shrink
the schedule with ``--epochs N`` (scaled in the recipe's proportions; LPC-Net: 1:3, PCM for the last
1/6 of stage 2: ``--epochs 8`` → 2 + 6, PCM from stage-2 epoch 5), set LPC-Net's
``--epochs-dlm/--epochs-seg/--p-set`` directly, or cap the wall-clock time with ``--max-minutes``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from edgeinspect.cli.app import app
from edgeinspect.errors import ConfigError

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress


def parse_size(text: str | None) -> list[int] | None:
    """``"256x320"`` → ``[256, 320]`` (height x width), ``"256"`` → ``[256, 256]``; None stays None."""
    if text is None:
        return None
    parts = text.lower().replace("×", "x").split("x")
    try:
        values = [int(p) for p in parts]
    except ValueError:
        values = []
    if len(values) == 1:
        values = values * 2
    if len(values) != 2 or min(values) <= 0:
        raise ConfigError(f"--size must be HxW in pixels (e.g. 256x256), got {text!r}")
    return values


@app.command("train")
def train_command(
    data: Annotated[Path, typer.Option("--data", help="Dataset folder (mt, kolektor, aitex or pairs layout).")],
    out: Annotated[Path, typer.Option("--out", help="Run folder for best.pt, last.pt, metrics.csv, curves.png, test.json.")],
    model: Annotated[
        str | None, typer.Option("--model", help="lpcnet, lpcnet-lite, psicnet, lsanet or anomalyseg; picks the bundled recipe (default lpcnet-lite).")
    ] = None,
    data_format: Annotated[str, typer.Option("--format", help="Dataset layout: auto, mt, kolektor, aitex, pairs.")] = "auto",
    recipe_file: Annotated[Path | None, typer.Option("--recipe", help="Recipe YAML instead of the bundled one.")] = None,
    set_items: Annotated[
        list[str] | None, typer.Option("--set", help="Override a recipe key, e.g. --set optim.lr=5e-4 (repeatable).")
    ] = None,
    epochs: Annotated[
        int | None, typer.Option("--epochs", help="Total epochs, split like the recipe's schedule (LPC-Net 1:3 with PCM in the last 1/6; PSIC-Net 2:1).")
    ] = None,
    epochs_dlm: Annotated[int | None, typer.Option("--epochs-dlm", help="LPC-Net stage-1 (DLM) epochs.")] = None,
    epochs_seg: Annotated[int | None, typer.Option("--epochs-seg", help="LPC-Net stage-2 (segmentation) epochs.")] = None,
    p_set: Annotated[
        int | None, typer.Option("--p-set", help="Stage-2 epoch (0-based) from which the PCM loss is on; scaled with --epochs-seg if omitted.")
    ] = None,
    batch: Annotated[int | None, typer.Option("--batch", help="Images per batch (recipe optim.batch).")] = None,
    lr: Annotated[float | None, typer.Option("--lr", help="(Peak) learning rate (recipe optim.lr).")] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Seed of weights, split, batch order, augmentation.")] = None,
    size: Annotated[str | None, typer.Option("--size", help="Network input HxW in px, multiples of 16 (recipe data.input_hw).")] = None,
    workers: Annotated[int | None, typer.Option("--workers", help="DataLoader worker processes (0 = main process).")] = None,
    max_images: Annotated[
        int | None, typer.Option("--max-images", help="Use at most N images per split (quick runs).")
    ] = None,
    max_minutes: Annotated[
        float | None,
        typer.Option("--max-minutes", help="Wall-clock budget for the epochs, shared by the stages in proportion to their epochs; a stage stops after the batch that spends its share."),
    ] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run in --out from last.pt (same --data samples, model, seed, split).")] = False,
    skip_bad: Annotated[bool, typer.Option("--skip-bad", help="Skip unreadable samples instead of stopping.")] = False,
) -> None:
    """Train a seed network (LPC-Net, PSIC-Net, LSA-Net, AnomalySeg) with validation, best checkpoint and test metrics."""
    from edgeinspect.train.recipe import key_sources, resolve_recipe

    base = dict(model=model, recipe_path=recipe_file, run_recipe=out / "recipe.yaml" if resume else None,
                set_items=tuple(set_items or ()))
    recipe = resolve_recipe(
        **base,
        options={
            "--batch": ("optim.batch", batch),
            "--lr": ("optim.lr", lr),
            "--seed": ("seed", seed),
            "--size": ("data.input_hw", parse_size(size)),
            "--workers": ("data.workers", workers),
            "--max-images": ("data.max_images", max_images),
        },
        epochs=epochs,
        epochs_dlm=epochs_dlm,
        epochs_seg=epochs_seg,
        p_set=p_set,
    )
    sources = key_sources(**base)  # where model_kwargs came from, for the errors of building the model

    from rich.console import Console

    from edgeinspect.train.loop import train

    console = Console(stderr=True, highlight=False)
    with _progress(console) as progress:
        best = train(recipe, data, out, format=data_format, resume=resume, skip_bad=skip_bad,
                     max_minutes=max_minutes, events=_RichEvents(progress, console), sources=sources)
    _print_summary(Console(highlight=False), out, best)


def _progress(console: Console) -> Progress:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    return Progress(
        TextColumn("{task.description:<18}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[info]}"),
        console=console,
        disable=not console.is_terminal,  # into a pipe or a file: the epoch lines only, no stray bar line
    )


class _RichEvents:
    """Epoch bar + one secondary bar (batches with the running loss, loading, validating, testing)."""

    def __init__(self, progress: Progress, console: Console) -> None:
        self.progress = progress
        self.console = console
        self.epochs = None
        self.step = None
        self.loss_sum = 0.0
        self.loss_count = 0

    def message(self, text: str) -> None:
        self.progress.console.print(f"[dim]{text}[/]")

    def run_start(self, *, total_epochs: int, done_epochs: int) -> None:
        self.epochs = self.progress.add_task("epochs", total=total_epochs, completed=done_epochs, info="")

    def _step_task(self, description: str, total: int) -> None:
        if self.step is None:
            self.step = self.progress.add_task(description, total=total, info="")
        else:
            self.progress.reset(self.step, total=total, description=description, info="")

    def epoch_start(self, *, epoch: int, stage: str, batches: int) -> None:
        self.loss_sum, self.loss_count = 0.0, 0
        if self.epochs is not None:
            self.progress.update(self.epochs, description=f"epoch {epoch} {stage}")
        self._step_task("train batches", batches)

    def task(self, name: str, total: int) -> None:
        self._step_task(name, total)

    def advance(self, **fields: float) -> None:
        info = ""
        if "loss" in fields:
            self.loss_sum += fields["loss"]
            self.loss_count += 1
            info = f"loss {fields['loss']:.4f} (mean {self.loss_sum / self.loss_count:.4f})"
        if self.step is not None:
            self.progress.update(self.step, advance=1, **({"info": info} if info else {}))

    def epoch_end(self, row: dict[str, Any], *, improved: bool) -> None:
        miou, loc_iou, image_ap = row.get("val_mIoU"), row.get("val_loc_iou"), row.get("val_image_ap")
        if isinstance(miou, float) and miou == miou:
            shown = f"val mIoU {miou:.4f}"
        elif isinstance(loc_iou, float) and loc_iou == loc_iou:
            shown = f"val DLM IoU {loc_iou:.3f}"
        else:
            shown = ""
        if isinstance(image_ap, float) and image_ap == image_ap:
            shown += f"  val image AP {image_ap:.4f} acc {row.get('val_image_acc', float('nan')):.4f}"
        self.progress.console.print(
            f"epoch {row['epoch']:>4} {row['stage']:<7} train loss {row['train_loss']:.4f}  val loss "
            f"{row['val_loss']:.4f}  {shown}  {row['seconds']:.1f} s" + ("  [green]best[/]" if improved else "")
        )
        if self.epochs is not None:
            self.progress.update(self.epochs, advance=1)


def _print_summary(console: Console, out: Path, best: Path) -> None:
    import json

    from rich.table import Table

    table = Table(title=f"edgeinspect train → {out}", show_header=True)
    table.add_column("file")
    table.add_column("what")
    table.add_row(str(best), "best checkpoint (val mIoU; PSIC-Net: its classifier step's val loss)")
    for name, what in (("last.pt", "last epoch + optimizer (for --resume)"), ("metrics.csv", "per-epoch loss and val metrics"),
                       ("curves.png", "loss and val mIoU curves"), ("recipe.yaml", "effective recipe"),
                       ("train.log", "log"), ("test.json", "best.pt on the test split")):
        if (out / name).exists():
            table.add_row(str(out / name), what)
    console.print(table)
    test = out / "test.json"
    if test.is_file():
        result = json.loads(test.read_text(encoding="utf-8"))
        d = result["defects"]
        console.print(
            f"test: mIoU {result['mIoU']:.4f}  mPA {result['mPA']:.4f}  mIoU80 {result['mIoU80']:.4f}  "
            f"dice {result['dice']:.4f}  defects found {d['found']}/{d['truth']}, false {d['false']}, "
            f"area within 20 % {d['area_within_tol']:.2%}"
            + (f"  image AP {result['image_ap'] if result['image_ap'] is not None else float('nan'):.4f} "
               f"AUC {result['image_auc'] if result['image_auc'] is not None else float('nan'):.4f} "
               f"accuracy {result['image_acc']:.4f}" if result.get("image_score") == "score" else "")
        )


def print_checkpoint_eval(
    checkpoint: Path,
    data: Path,
    split: str,
    *,
    data_format: str = "auto",
    skip_bad: bool = False,
    area_tolerance: float = 0.2,
    min_area_px: int = 0,
    as_json: bool = False,
) -> None:
    """``edgeinspect eval --checkpoint``: score a training checkpoint and print the table (or JSON on stdout)."""
    import json

    from rich.console import Console
    from rich.progress import Progress

    from edgeinspect.cli.eval import _print_report
    from edgeinspect.train.evaluate import evaluate_checkpoint

    skipped = [0]
    console = Console(stderr=True)
    with Progress(console=console, transient=True, disable=not console.is_terminal) as progress:
        task = progress.add_task("scoring", total=None)

        def start(images: int, n_skipped: int) -> None:
            skipped[0] = n_skipped
            progress.update(task, total=images)

        report = evaluate_checkpoint(
            checkpoint, data, split, format=data_format, skip_bad=skip_bad, area_tolerance=area_tolerance,
            min_area_px=min_area_px, on_start=start, on_image=lambda: progress.advance(task),
        )
    if as_json:
        print(json.dumps(report.to_json() | {"split": split, "skipped": skipped[0]}, indent=2))
    else:
        _print_report(report, title=f"{checkpoint} on {data} (split {split}, {report.images} images)",
                      skipped=[f"{skipped[0]} samples"] if skipped[0] else [])
