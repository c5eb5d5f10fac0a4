"""``edgeinspect calib``: commissioning calibrations — camera geometry, its area budget, INT8 tile sets.

- ``calib camera IMAGE... --target checkerboard --square-mm S | --target lines --pitch-mm P --out calib/NAME.yaml``
  plus the along-web pitch: ``--encoder-pitch-mm E [--pulses-per-line N]``, or ``--roller-diameter-mm D
  --pulses-per-rev PPR [--divider N] [--edges-per-pulse 1|2|4]``, or ``--web-speed-mm-s V --line-rate-hz R``
  (a checkerboard also measures it; without any of these its measurement is written).
- ``calib check CALIB.yaml [--defect-mm2 A ...]``: the area uncertainty each defect size inherits; exit 1
  when the calibration alone exceeds the ±20 % budget (recalibrate before going live), 2 on bad input.
- ``calib int8 SOURCE --name NAME [--count N] [--tile HxW] [--seed S]``: ``calib/int8/NAME/``.
"""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from edgeinspect.cli.app import app

calib_app = typer.Typer(
    name="calib",
    help="Commissioning calibrations: camera mm/px + mm/line (calib/NAME.yaml), its area budget, INT8 tile sets.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(calib_app, name="calib")


class TargetKind(str, Enum):
    """Calibration target under the camera."""

    checkerboard = "checkerboard"
    lines = "lines"


def _along(encoder_pitch_mm, pulses_per_line, roller_diameter_mm, pulses_per_rev, divider, edges_per_pulse,
           web_speed_mm_s, line_rate_hz, along_err_pct):
    """The along-web setup the options give (one way at most), or None."""
    from edgeinspect.calibration import encoder
    from edgeinspect.errors import EdgeInspectError

    ways = {
        "--encoder-pitch-mm": encoder_pitch_mm is not None,
        "--roller-diameter-mm/--pulses-per-rev": roller_diameter_mm is not None or pulses_per_rev is not None,
        "--web-speed-mm-s/--line-rate-hz": web_speed_mm_s is not None or line_rate_hz is not None,
    }
    given = [name for name, used in ways.items() if used]
    if len(given) > 1:
        raise EdgeInspectError(f"give the along-web pitch one way: {' or '.join(given)}, not both")
    if pulses_per_line is not None and encoder_pitch_mm is None:
        raise EdgeInspectError("--pulses-per-line goes with --encoder-pitch-mm (with a roller, use --divider)")
    if (divider is not None or edges_per_pulse is not None) and roller_diameter_mm is None and pulses_per_rev is None:
        raise EdgeInspectError("--divider/--edges-per-pulse go with --roller-diameter-mm and --pulses-per-rev")
    if encoder_pitch_mm is not None:
        return encoder.from_encoder(encoder_pitch_mm, pulses_per_line or 1, rel_err_pct=along_err_pct)
    if roller_diameter_mm is not None or pulses_per_rev is not None:
        if roller_diameter_mm is None or pulses_per_rev is None:
            raise EdgeInspectError("give both --roller-diameter-mm and --pulses-per-rev")
        return encoder.from_roller(roller_diameter_mm, pulses_per_rev, divider=divider or 1,
                                   edges_per_pulse=edges_per_pulse or 1, rel_err_pct=along_err_pct)
    if web_speed_mm_s is not None or line_rate_hz is not None:
        if web_speed_mm_s is None or line_rate_hz is None:
            raise EdgeInspectError("give both --web-speed-mm-s and --line-rate-hz")
        return encoder.from_speed(web_speed_mm_s, line_rate_hz, rel_err_pct=along_err_pct)
    return None


@calib_app.command("camera")
def camera(
    images: Annotated[list[Path], typer.Argument(help="Line-scan image(s) of the target (same camera setup).")],
    out: Annotated[Path, typer.Option("--out", help="Calibration YAML to write, e.g. calib/line3.yaml.")],
    target: Annotated[TargetKind, typer.Option("--target", help="Target under the camera.")] = TargetKind.checkerboard,
    square_mm: Annotated[float | None, typer.Option("--square-mm", help="Checkerboard square side, mm.")] = None,
    pitch_mm: Annotated[float | None, typer.Option("--pitch-mm", help="Line target: line pitch, mm.")] = None,
    encoder_pitch_mm: Annotated[float | None, typer.Option(
        "--encoder-pitch-mm", help="Web travel per counted encoder pulse, mm.")] = None,
    pulses_per_line: Annotated[int | None, typer.Option(
        "--pulses-per-line", min=1, help="Counted pulses per camera line (with --encoder-pitch-mm), default 1.")] = None,
    roller_diameter_mm: Annotated[float | None, typer.Option(
        "--roller-diameter-mm", help="Measuring-roller diameter, mm (with --pulses-per-rev).")] = None,
    pulses_per_rev: Annotated[int | None, typer.Option(
        "--pulses-per-rev", min=1, help="Encoder pulses per revolution (PPR).")] = None,
    divider: Annotated[int | None, typer.Option(
        "--divider", min=1, help="Counts per camera line (trigger divider) with a roller, default 1.")] = None,
    edges_per_pulse: Annotated[int | None, typer.Option(
        "--edges-per-pulse", help="Counts per encoder pulse: 1, 2 or 4 (quadrature), default 1.")] = None,
    web_speed_mm_s: Annotated[float | None, typer.Option("--web-speed-mm-s", help="Web speed, mm/s (free run).")] = None,
    line_rate_hz: Annotated[float | None, typer.Option("--line-rate-hz", help="Camera line rate, Hz (free run).")] = None,
    along_err_pct: Annotated[float | None, typer.Option(
        "--along-err-pct", min=0.0, help="Uncertainty of mm/line to state, % (default: encoder/roller 0.5, "
                                         "speed 1.0; a checkerboard measures it).")] = None,
    camera_name: Annotated[str | None, typer.Option("--camera-name", help="Camera name in the file (default: the --out file name).")] = None,
    reject_area_mm2: Annotated[float, typer.Option("--reject-area-mm2", min=0.0, help="Reject at this area, mm².")] = 1.0,
    significant_area_mm2: Annotated[float, typer.Option(
        "--significant-area-mm2", min=0.0, help="Defects this large count in the area score, mm².")] = 0.25,
    max_degree: Annotated[int, typer.Option("--max-degree", min=0, max=6, help="Highest mm/px polynomial degree.")] = 4,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing --out.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the written metadata as JSON.")] = False,
) -> None:
    """Measure mm/px across the web (per column where the lens distorts) and mm/line along it; write calib/NAME.yaml."""
    from edgeinspect.calibration import calibrate_camera
    from edgeinspect.errors import EdgeInspectError

    if target is TargetKind.checkerboard:
        if square_mm is None or pitch_mm is not None:
            raise EdgeInspectError("--target checkerboard needs --square-mm (and no --pitch-mm)")
        pitch = square_mm
    else:
        if pitch_mm is None or square_mm is not None:
            raise EdgeInspectError("--target lines needs --pitch-mm (and no --square-mm)")
        pitch = pitch_mm
    along = _along(encoder_pitch_mm, pulses_per_line, roller_diameter_mm, pulses_per_rev, divider, edges_per_pulse,
                   web_speed_mm_s, line_rate_hz, along_err_pct)
    result = calibrate_camera(images, target=target.value, pitch_mm=pitch, out=out, along=along, camera=camera_name,
                              reject_area_mm2=reject_area_mm2, significant_area_mm2=significant_area_mm2,
                              max_degree=max_degree, force=force)
    if as_json:
        print(json.dumps({"path": str(result.path), **result.meta}, indent=2))
        return
    _print_camera(result)


def _print_camera(result) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    a, along = result.across, result.along
    table = Table(title=escape(f"edgeinspect calib camera → {result.path}"), show_header=False)
    table.add_row("across", f"{a.mm_per_px_mean:.6g} mm/px mean ({a.mm_per_px_min:.6g}..{a.mm_per_px_max:.6g}, "
                            f"{a.distortion_pct:.2f} % over the width), polynomial degree {a.degree}")
    table.add_row("residual", f"{a.residual_rms_mm:.4f} mm RMS, {a.residual_max_mm:.4f} mm max, {a.residual_pct:.3f} % "
                              f"of the spacing; fit ±{a.fit_uncertainty_pct:.3f} % (2σ)")
    table.add_row("edges", f"{a.intervals} intervals from {a.rows} rows of {a.images} image(s), {a.rejected} outliers; "
                           f"px {a.coverage_px[0]:.0f}..{a.coverage_px[1]:.0f} of {a.width_px}")
    table.add_row("along", f"{along.mm_per_line:.6g} mm/line ({along.method}: "
                           + ", ".join(f"{k} {v:g}" for k, v in along.keys.items()) + f"), ±{along.rel_err_pct:.2f} %")
    if result.along_target is not None:
        t = result.along_target
        versus = f", {result.along_mismatch_pct:+.2f} % vs {along.method}" if result.along_mismatch_pct is not None else ""
        table.add_row("checkerboard", f"{t.mm_per_line:.6g} mm/line along (scatter {t.residual_pct:.2f} %{versus})")
    table.add_row("aspect", f"{result.aspect.ratio:.3f} mm/line ÷ mm/px" + ("" if result.aspect.ok else "  [yellow]⚠[/]"))
    console = Console(highlight=False)
    console.print(table)
    for warning in result.warnings:
        console.print(f"[yellow]warning:[/] {escape(warning)}")


@calib_app.command("check")
def check(
    calib: Annotated[Path, typer.Argument(help="Calibration YAML (calib/NAME.yaml).")],
    defect_mm2: Annotated[list[float] | None, typer.Option(
        "--defect-mm2", help="Defect area to check, mm² (repeatable; default: the file's significant and reject areas, 10 × reject).")] = None,
    rel_err_x_pct: Annotated[float | None, typer.Option(
        "--rel-err-x-pct", min=0.0, help="Across-web calibration error, % (default: from the file's metadata).")] = None,
    rel_err_y_pct: Annotated[float | None, typer.Option(
        "--rel-err-y-pct", min=0.0, help="Along-web calibration error, % (default: from the file's metadata).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Area uncertainty a defect of each size inherits from the calibration and the pixel grid, vs the 20 % budget.

    Exit 1 when the calibration alone exceeds the budget (recalibrate), 2 on bad input, else 0.
    """  # 0 also when rows of small defects are over the budget: that is the pixel grid, not the calibration
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from edgeinspect.calibration import check_calibration

    result = check_calibration(calib, list(defect_mm2 or []), rel_err_x_pct=rel_err_x_pct, rel_err_y_pct=rel_err_y_pct)
    e = result.errors
    if as_json:
        print(json.dumps({
            "calibration": str(calib), "mm_per_px": e.mm_per_px, "mm_per_line": e.mm_per_line,
            "aspect_ratio": result.aspect_ratio, "rel_err_x": e.rel_err_x, "rel_err_y": e.rel_err_y,
            "basis_x": e.basis_x, "basis_y": e.basis_y, "budget": result.budget, "smallest_mm2": result.smallest_mm2,
            "defects": [{"area_mm2": b.area_mm2, "diameter_mm": b.diameter_mm, "size_px": b.size_px,
                         "rel_err_x": b.rel_err_x, "rel_err_y": b.rel_err_y, "boundary": b.boundary,
                         "total": b.total, "remaining": b.remaining} for b in result.budgets],
        }, indent=2))
        if result.smallest_mm2 is None:  # "smallest_mm2": null: the calibration alone exceeds the budget
            raise typer.Exit(1)
        return
    console = Console(highlight=False)
    console.print(f"[bold]{escape(str(calib))}[/]: {e.mm_per_px:.6g} mm/px, {e.mm_per_line:.6g} mm/line "
                  f"(aspect {result.aspect_ratio:.3f})")
    console.print(f"  across ±{100 * e.rel_err_x:.3f} %: {escape(e.basis_x)}")
    console.print(f"  along  ±{100 * e.rel_err_y:.3f} %: {escape(e.basis_y)}")
    table = Table(title=f"area budget ±{100 * result.budget:.0f} % (disk-shaped defect, boundary ± half a pixel)")
    for column in ("defect mm²", "Ø mm", "Ø px", "across %", "along %", "boundary %", "total %", "left %"):
        table.add_column(column, justify="right")
    for b in result.budgets:
        left = f"{100 * b.remaining:.2f}" if b.within else f"[red]{100 * b.remaining:.2f}[/]"
        table.add_row(f"{b.area_mm2:g}", f"{b.diameter_mm:.3f}", f"{b.size_px:.1f}", f"{100 * b.rel_err_x:.3f}",
                      f"{100 * b.rel_err_y:.3f}", f"{100 * b.boundary:.2f}", f"{100 * b.total:.2f}", left)
    console.print(table)
    if result.smallest_mm2 is None:
        console.print("[red]the calibration alone exceeds the budget[/]: recalibrate")
        raise typer.Exit(1)  # a go-live check (README "Commissioning a line"): a script stops here
    else:
        console.print(f"smallest defect inside the budget before segmentation errors: {result.smallest_mm2:.4g} mm² "
                      f"(Ø {2 * (result.smallest_mm2 / 3.141592653589793) ** 0.5:.3g} mm)")


def _tile_hw(text: str) -> tuple[int, int]:
    from edgeinspect.errors import EdgeInspectError

    parts = text.lower().replace("×", "x").split("x")
    try:
        if len(parts) == 1:
            return int(parts[0]), int(parts[0])
        if len(parts) == 2:
            return int(parts[0]), int(parts[1])
    except ValueError:
        pass
    raise EdgeInspectError(f"--tile {text!r}: give HxW in px, e.g. 256x256")


@calib_app.command("int8")
def int8(
    source: Annotated[Path, typer.Argument(help="Dataset folder, folder of images, one image, or a run folder.")],
    name: Annotated[str, typer.Option("--name", help="Set name: writes ROOT/NAME/.")],
    count: Annotated[int, typer.Option("--count", min=1, help="Tiles to pick.")] = 64,
    tile: Annotated[str, typer.Option("--tile", help="Tile size HxW, px (the engine's input).")] = "256x256",
    seed: Annotated[int, typer.Option("--seed", min=0, help="Selection seed.")] = 0,
    bit_depth: Annotated[int | None, typer.Option(
        "--bit-depth", min=8, max=16, help="Significant bits of 16-bit images (12 for Mono12 data), default 16.")] = None,
    root: Annotated[Path, typer.Option("--root", help="Folder of INT8 sets.")] = Path("calib/int8"),
    force: Annotated[bool, typer.Option("--force", help="Replace an existing set of that name.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Pick representative tiles (defect / defect-free, across the width) for INT8 calibration: ROOT/NAME/calib.yaml."""
    from rich.console import Console

    from edgeinspect.calibration import select_int8_set

    result = select_int8_set(source, name=name, root=root, count=count, tile_hw=_tile_hw(tile), seed=seed,
                             bit_depth=bit_depth, force=force)
    if as_json:
        print(json.dumps({"path": str(result.path), "list": str(result.list_path), "count": result.count,
                          "labels": result.labels, "bands": result.bands, "sha256": result.sha256,
                          "tile_hw": list(result.tile_hw), "smaller_than_tile_hw": result.smaller,
                          "candidates": result.candidates}, indent=2))
        return
    console = Console(highlight=False, soft_wrap=True)
    labels = ", ".join(f"{v} {k}" for k, v in result.labels.items())
    bands = " / ".join(str(result.bands[b]) for b in sorted(result.bands))
    console.print(f"wrote {result.count} tiles {result.tile_hw[0]}×{result.tile_hw[1]} ({labels}; left→right bands "
                  f"{bands}) to {result.path}")
    if result.smaller:
        console.print(f"warning: {result.smaller} of the tiles are smaller than {result.tile_hw[0]}×{result.tile_hw[1]} "
                      f"(cut from smaller images); the build resizes them to the engine's input")
    console.print(f"sha256 {result.sha256}")
    console.print(f"build with: edgeinspect build MODEL --precision int8 --calib {result.list_path}")
