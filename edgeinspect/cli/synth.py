"""``edgeinspect synth``: write a synthetic line-scan dataset (images, exact masks, defect records)."""

from __future__ import annotations

import re
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from edgeinspect.cli.app import app
from edgeinspect.errors import EdgeInspectError

_PROGRESS_ABOVE = 20  # images; fewer are written without a progress bar


class SynthTexture(str, Enum):
    """Texture choices of ``synth`` (``mixed``: one web per texture, count split evenly)."""

    carbon = "carbon"
    fabric = "fabric"
    ceramic = "ceramic"
    steel = "steel"
    mixed = "mixed"


def parse_size_hw(text: str, option: str = "--size") -> tuple[int, int]:
    """``"256x512"`` → ``(256, 512)`` (H, W px); anything else → EdgeInspectError naming ``option``."""
    match = re.fullmatch(r"\s*(\d+)\s*[xX×]\s*(\d+)\s*", text)
    if match is None or int(match[1]) < 1 or int(match[2]) < 16:
        raise EdgeInspectError(f"{option} {text!r}: expected HxW in px with H >= 1 and W >= 16, e.g. 256x256")
    return int(match[1]), int(match[2])


@app.command()
def synth(
    out: Annotated[Path, typer.Argument(help="Output folder: images/, masks/, defects.jsonl, synth.json.")],
    count: Annotated[int, typer.Option("--count", min=1, help="Number of images.")] = 8,
    size: Annotated[str, typer.Option("--size", help="Image size HxW in px; W is the web width.")] = "256x256",
    texture: Annotated[SynthTexture, typer.Option(
        "--texture", help="Surface texture; mixed = one web per texture, count split evenly in the order "
                          "carbon, fabric, ceramic, steel.")] = SynthTexture.carbon,
    seed: Annotated[int, typer.Option("--seed", min=0, help="Web seed: same seed, same images.")] = 0,
    bit_depth: Annotated[int, typer.Option(
        "--bit-depth", help="8 (8-bit PNG) or 12 (16-bit PNG holding 0..4095).")] = 8,
    defects_per_mpx: Annotated[float, typer.Option(  # default = synth.DEFAULT_DEFECTS_PER_MPX (tested)
        "--defects-per-mpx", min=0.0,
        help="Candidate defects per megapixel of web (20 ≈ 1.3 per 256×256 image).")] = 20.0,
    no_artefacts: Annotated[bool, typer.Option(
        "--no-artefacts", help="No fall-off, column gain, line jitter or shot noise.")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace a dataset already in OUT.")] = False,
) -> None:
    """Cut COUNT consecutive HxW frames from one synthetic web W px wide; defects straddle frames.

    Writes OUT/images/000000.png ..., OUT/masks/000000.png ... (0/255, same names), OUT/synth.json
    and OUT/defects.jsonl: one record per (image, defect) with id, kind, bbox x0,y0,x1,y1 (image px,
    x1/y1 exclusive) and area_px of the part inside that image.
    """
    from rich.console import Console

    from edgeinspect.data.synth import write_synth_dataset

    size_hw = parse_size_hw(size)
    if bit_depth not in (8, 12):
        raise EdgeInspectError(f"--bit-depth {bit_depth}: must be 8 or 12")
    options = dict(count=count, size_hw=size_hw, texture=texture.value, seed=seed, bit_depth=bit_depth,
                   defects_per_mpx=defects_per_mpx, artefacts=not no_artefacts, overwrite=overwrite)
    console = Console()
    if count > _PROGRESS_ABOVE:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        with Progress(TextColumn("synth"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                      console=console, disable=not console.is_terminal) as bar:
            task = bar.add_task("synth", total=count)
            write_synth_dataset(out, progress=lambda done, total: bar.update(task, completed=done), **options)
    else:
        write_synth_dataset(out, **options)
    records, with_defects = _summary(out / "defects.jsonl")
    console.print(f"wrote {count} images {size_hw[0]}x{size_hw[1]} ({texture.value}, seed {seed}, {bit_depth}-bit) "
                  f"to {out}: {with_defects} with defects, {records} defect records in defects.jsonl",
                  highlight=False, soft_wrap=True)


def _summary(jsonl: Path) -> tuple[int, int]:
    """(records, images with at least one record) of a defects.jsonl."""
    import json

    images = set()
    records = 0
    for line in jsonl.read_text(encoding="utf-8").splitlines():
        if line.strip():
            records += 1
            images.add(json.loads(line)["image"])
    return records, len(images)
