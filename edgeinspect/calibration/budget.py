"""How much of the ±20 % area budget a defect of a given size spends on the calibration and the pixel grid.

A defect's area is (pixels) × (column width) × (line pitch), so its relative error is about::

    rel_area ≈ rel_err_x + rel_err_y + boundary

- ``rel_err_x``: the across-web calibration residual (RMS scatter of the local mm/px about the
  fitted curve, ``meta.across.residual_pct`` of a file written by ``calib camera``);
- ``rel_err_y``: the along-web line-pitch uncertainty (``meta.along.rel_err_pct``: the encoder
  vs checkerboard difference when both were measured, else the stated assumption);
- ``boundary``: pixel quantisation of the outline, ``perimeter × half a pixel / area`` for a disk
  of that area (half a pixel = ``0.5 × sqrt(mm/px × mm/line)``): ``2 h / r``. Small defects are
  dominated by it.

The budget left is ``20 % - rel_area``; the smallest defect still inside the budget solves
``2 h / r = 20 % - rel_err_x - rel_err_y``. Segmentation errors (the network's outline) come on
top and must fit in what is left.

Example:
    >>> check = check_calibration(Path("calib/line3.yaml"), [0.25, 1.0])
    >>> [round(100 * b.total, 2) for b in check.budgets]
    [14.3, 7.2]
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgeinspect.errors import EdgeInspectError
from edgeinspect.stream.area import AREA_TOLERANCE


@dataclass(frozen=True, slots=True)
class CalibrationErrors:
    """The pitches and relative errors of one calibration file.

    Attributes:
        path: the calibration YAML.
        mm_per_px: mean column width over the width (column 0 when the width is unknown), mm.
        mm_per_line: line pitch, mm.
        rel_err_x, rel_err_y: relative errors across / along (fractions, e.g. 0.001 = 0.1 %).
        basis_x, basis_y: where each comes from, one line.
        width_px: the web width, px, or None.
    """

    path: Path
    mm_per_px: float
    mm_per_line: float
    rel_err_x: float
    rel_err_y: float
    basis_x: str
    basis_y: str
    width_px: int | None


@dataclass(frozen=True, slots=True)
class AreaBudget:
    """The area-error budget of a defect of one size (fractions of its area).

    Attributes:
        area_mm2: defect area, mm².
        diameter_mm: diameter of a disk of that area, mm.
        size_px: that diameter in pixels across.
        rel_err_x, rel_err_y: calibration shares.
        boundary: pixel-quantisation share, ``perimeter × half pixel / area``.
        total: their sum.
        remaining: ``budget - total`` (negative: over budget before any segmentation error).
    """

    area_mm2: float
    diameter_mm: float
    size_px: float
    rel_err_x: float
    rel_err_y: float
    boundary: float
    total: float
    remaining: float

    @property
    def within(self) -> bool:
        """True when the calibration and the pixel grid leave part of the budget."""
        return self.remaining > 0


@dataclass(frozen=True, slots=True)
class CalibrationCheck:
    """``calib check``: the errors of a calibration and the budget of each defect size asked for.

    Attributes:
        errors: the calibration's pitches and relative errors.
        budgets: one :class:`AreaBudget` per defect size.
        smallest_mm2: smallest defect whose calibration + boundary errors stay inside the budget,
            mm² (None: the calibration alone exceeds it).
        budget: the area tolerance (0.2).
        aspect_ratio: mm/line ÷ mm/px.
    """

    errors: CalibrationErrors
    budgets: tuple[AreaBudget, ...]
    smallest_mm2: float | None
    budget: float
    aspect_ratio: float


def half_pixel_mm(mm_per_px: float, mm_per_line: float) -> float:
    """Half the geometric-mean pixel size, mm."""
    return 0.5 * math.sqrt(mm_per_px * mm_per_line)


def area_budget(area_mm2: float, errors: CalibrationErrors, *, budget: float = AREA_TOLERANCE) -> AreaBudget:
    """Budget of a disk-shaped defect of ``area_mm2``.

    Raises:
        EdgeInspectError: ``area_mm2`` <= 0 or not finite (``--defect-mm2``).
    """
    if not math.isfinite(area_mm2):  # inf, nan: the budget would print Infinity/NaN
        raise EdgeInspectError(f"--defect-mm2 must be finite, got {area_mm2}")
    if not area_mm2 > 0:
        raise EdgeInspectError(f"--defect-mm2 must be > 0, got {area_mm2}")
    radius = math.sqrt(area_mm2 / math.pi)
    boundary = 2 * math.pi * radius * half_pixel_mm(errors.mm_per_px, errors.mm_per_line) / area_mm2
    total = errors.rel_err_x + errors.rel_err_y + boundary
    return AreaBudget(float(area_mm2), 2 * radius, 2 * radius / errors.mm_per_px, errors.rel_err_x, errors.rel_err_y,
                      boundary, total, budget - total)


def smallest_area_within(errors: CalibrationErrors, *, budget: float = AREA_TOLERANCE) -> float | None:
    """Smallest disk area whose calibration + boundary errors stay below ``budget``, mm² (None if none)."""
    left = budget - errors.rel_err_x - errors.rel_err_y
    if left <= 0:
        return None
    radius = 2 * half_pixel_mm(errors.mm_per_px, errors.mm_per_line) / left
    return math.pi * radius ** 2


#: ``meta:`` keys ``calib check`` reads: (section, key) → (minimum, integer).
META_NUMBERS = {("across", "width_px"): (1, True), ("across", "residual_pct"): (0, False),
                ("along", "rel_err_pct"): (0, False)}


def read_budget_meta(path: Path) -> dict[str, dict]:
    """The ``meta.across`` / ``meta.along`` figures ``calib check`` reads, checked.

    ``meta:`` is written by ``calib camera`` and often edited by hand; ``run`` does not read it, so
    only the keys read here are checked: ``meta``, ``meta.across`` and ``meta.along`` must be
    mappings, ``meta.across.width_px`` an integer in [1, ``MAX_WIDTH_PX``], ``meta.across.residual_pct`` and
    ``meta.along.rel_err_pct`` finite numbers >= 0 (``meta.along.rel_err_basis`` is shown as text).

    Returns:
        ``{"across": {...}, "along": {...}}`` (empty mappings where the file has no metadata).

    Raises:
        ConfigError: one line naming the file and the key (``meta.across.residual_pct``).
    """
    from edgeinspect.config import get_number, load_yaml_mapping
    from edgeinspect.errors import ConfigError
    from edgeinspect.stream.area import get_width_px

    data = load_yaml_mapping(Path(path), "calibration")
    meta = data.get("meta")
    if meta is None:
        return {"across": {}, "along": {}}
    if not isinstance(meta, dict):
        raise ConfigError(f"{path}: key 'meta' must be a mapping (as `calib camera` writes it), got {meta!r}")
    sections = {}
    for section in ("across", "along"):
        value = meta.get(section)
        if value is None:
            value = {}
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: key 'meta.{section}' must be a mapping (as `calib camera` writes it), "
                              f"got {value!r}")
        sections[section] = dict(value)
    for (section, key), (minimum, integer) in META_NUMBERS.items():
        name = f"meta.{section}.{key}"
        if key in sections[section]:
            if key == "width_px":  # as the top-level key: an integer in [1, MAX_WIDTH_PX]
                number = get_width_px({name: sections[section][key]}, name, path)
            else:
                number = get_number({name: sections[section][key]}, name, path, minimum=minimum, integer=integer)
            if number is None:
                del sections[section][key]
            else:
                sections[section][key] = number
    return sections


def _option_pct(name: str, value: float) -> float:
    """A ``--rel-err-*-pct`` value as a fraction; EdgeInspectError naming the option."""
    if not math.isfinite(value):
        raise EdgeInspectError(f"{name} must be finite, got {value:g}")
    if value < 0:
        raise EdgeInspectError(f"{name} must be >= 0, got {value:g}")
    return value / 100


def calibration_errors(path: Path, *, rel_err_x_pct: float | None = None,
                       rel_err_y_pct: float | None = None) -> CalibrationErrors:
    """Pitches and relative errors of a calibration YAML (from its metadata, or given).

    Args:
        path: calibration YAML (any file ``load_calibration`` reads).
        rel_err_x_pct, rel_err_y_pct: override the across / along errors, %.

    Raises:
        ConfigError: the file does not load, or a ``meta:`` key read here is malformed
            (:func:`read_budget_meta`), naming the file and the key.
        EdgeInspectError: a ``--rel-err-*-pct`` is negative or not finite, naming the option.
    """
    from edgeinspect.stream.area import check_columns, load_calibration

    calibration = load_calibration(path)
    meta = read_budget_meta(path)
    across, along = meta["across"], meta["along"]
    width = calibration.width_px or across.get("width_px")
    if width:  # refused as `run` refuses it: a polynomial reaching 0 mm/px inside the width
        mm_per_px = float(np.mean(check_columns(calibration, int(width))))
    else:
        mm_per_px = float(calibration.mm_per_px_poly[0])
    if rel_err_x_pct is not None:
        rel_x, basis_x = _option_pct("--rel-err-x-pct", rel_err_x_pct), "given (--rel-err-x-pct)"
    elif "residual_pct" in across:
        rel_x, basis_x = across["residual_pct"] / 100, "fit residual (RMS scatter of mm/px about the fit)"
    else:
        rel_x, basis_x = 0.0, "unknown (no calib camera metadata): counted as 0; give --rel-err-x-pct"
    if rel_err_y_pct is not None:
        rel_y, basis_y = _option_pct("--rel-err-y-pct", rel_err_y_pct), "given (--rel-err-y-pct)"
    elif "rel_err_pct" in along:
        rel_y, basis_y = along["rel_err_pct"] / 100, str(along.get("rel_err_basis", "from the metadata"))
    else:
        rel_y, basis_y = 0.0, "unknown (no calib camera metadata): counted as 0; give --rel-err-y-pct"
    return CalibrationErrors(Path(path), mm_per_px, calibration.mm_per_line, float(rel_x), float(rel_y), basis_x,
                             basis_y, int(width) if width else None)


def check_calibration(path: Path, areas_mm2: list[float] | tuple[float, ...] = (), *,
                      rel_err_x_pct: float | None = None, rel_err_y_pct: float | None = None,
                      budget: float = AREA_TOLERANCE) -> CalibrationCheck:
    """The area-error budget of each defect size under a calibration (see the module docstring).

    Args:
        path: calibration YAML.
        areas_mm2: defect areas to check, mm² (default: the file's ``significant_area_mm2``,
            ``reject_area_mm2`` and ten times that).
        rel_err_x_pct, rel_err_y_pct: override the calibration's errors, %.
        budget: the relative area tolerance.
    """
    from edgeinspect.stream.area import load_calibration

    errors = calibration_errors(path, rel_err_x_pct=rel_err_x_pct, rel_err_y_pct=rel_err_y_pct)
    if not areas_mm2:
        calibration = load_calibration(path)
        areas_mm2 = [a for a in (calibration.significant_area_mm2, calibration.reject_area_mm2,
                                 10 * calibration.reject_area_mm2) if a > 0 and math.isfinite(a)]  # 10 × 1e308: inf
    budgets = tuple(area_budget(float(a), errors, budget=budget) for a in areas_mm2)
    return CalibrationCheck(errors, budgets, smallest_area_within(errors, budget=budget), budget,
                            errors.mm_per_line / errors.mm_per_px)
