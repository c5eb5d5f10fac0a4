"""Camera calibration (mm per pixel across, mm per line along) and defect areas in mm².

Calibration YAML (``calib/*.yaml``)::

    camera: sim-web                 # optional, free text
    description: ...                # optional, free text
    width_px: 4096                  # optional: the web width this calibration is for (checked)
    mm_per_px: 0.1                  # across the web, mm per column ...
    # mm_per_px_poly: [0.1, 2.0e-6] # ... or per column c: a0 + a1*c + a2*c**2 ... mm (c = column index)
    mm_per_line: 0.1                # along the web, mm per line ...
    # encoder_pitch_mm: 0.05        # ... or the encoder's travel per pulse, mm,
    # pulses_per_line: 2            #     times encoder pulses per line (default 1) ...
    # web_speed_mm_s: 2000          # ... or web speed / line rate
    # line_rate_hz: 20000
    reject_area_mm2: 1.0            # verdict "reject" at or above this area
    significant_area_mm2: 0.25      # defects this large count in the area-accuracy score

A column width (``mm_per_px``, every value of ``mm_per_px_poly`` within the width) and the line
pitch (``mm_per_line``, ``encoder_pitch_mm`` × ``pulses_per_line``, ``web_speed_mm_s`` /
``line_rate_hz``) must lie in [:data:`MIN_PITCH_MM`, :data:`MAX_PITCH_MM`] mm: a pixel over a metre
or under a nanometre is a typo (``1e308``, ``1e-320``) and would overflow areas to ``Infinity``/``NaN``
(not valid JSON) in ``defects.jsonl``.

The area of a defect is the sum over its pixels of (its column's width × line pitch), so a
per-column polynomial (lens distortion, a web that is not flat) is honoured pixel by pixel. Which
pixels, and how much each counts (``area_from``):

- ``"probability"`` (default): every pixel of the defect's probability halo
  (:class:`~edgeinspect.stream.tracker.DefectTracker`, :data:`AREA_HALO_PX` around its thresholded
  pixels, none of another defect) counts with its probability: the probability mass. A network's
  outline is blurred over a few pixels; a threshold cuts it at one level and so measures blobs
  the network draws wide too large and thin scratches too small. On the synthetic web with the
  bundled model (seed 1, 12,000 lines) the share of significant defects within ±20 % went from
  0.28 (mask) to 0.375 (halo 4 px; 2, 3 and 6 px: 0.36).
- ``"mask"``: each pixel at or above the threshold counts 1.

Example:
    >>> calibration = load_calibration(Path("calib/line3.yaml"))
    >>> estimator = AreaEstimator(calibration, width_px=4096)
    >>> estimator.area_mm2(np.ones((3, 2), bool), x0=10)      # 6 px × 0.1 mm × 0.1 mm
    0.06
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgeinspect.config import check_keys, get_number, get_str, load_yaml_mapping
from edgeinspect.data.packed_mask import pack_mask
from edgeinspect.errors import ConfigError
from edgeinspect.stream.records import Blob, Defect, TruthDefect

#: Every key a calibration YAML may hold.
CALIBRATION_KEYS = (
    "camera", "description", "width_px", "mm_per_px", "mm_per_px_poly", "mm_per_line",
    "encoder_pitch_mm", "pulses_per_line", "web_speed_mm_s", "line_rate_hz",
    "reject_area_mm2", "significant_area_mm2",
    "meta",  # free-form provenance (source images, date, residuals) written by `calib camera`; not read here
)

#: Largest column width / line pitch accepted, mm (as ``calib camera`` bounds its target pitch).
MAX_PITCH_MM = 1000.0
#: Smallest column width / line pitch accepted, mm (1 nm: far below any optics).
MIN_PITCH_MM = 1e-6
#: Widest web accepted, px (line-scan sensors have up to ~32k; beyond this ``width_px`` is a typo
#: that would only allocate terabytes of column widths).
MAX_WIDTH_PX = 1_000_000

#: Relative tolerance of the area-accuracy requirement (±20 %).
AREA_TOLERANCE = 0.2
#: How a defect's area is estimated: probability mass of its halo, or its thresholded pixels.
AREA_FROM = ("probability", "mask")
#: Reach of the probability halo around a defect's thresholded pixels, px (chosen on the synthetic
#: web, seed 1: see the module docstring).
AREA_HALO_PX = 4


@dataclass(frozen=True, slots=True)
class Calibration:
    """A checked camera calibration.

    Attributes:
        path: the YAML file it came from (None when built in code).
        mm_per_px_poly: column width polynomial ``(a0, a1, ...)``, mm: column ``c`` is
            ``sum(a_i * c**i)`` mm wide (a scalar ``mm_per_px`` is ``(mm_per_px,)``).
        mm_per_line: line pitch along the web, mm.
        reject_area_mm2: area at or above which a defect is rejected, mm².
        significant_area_mm2: area at or above which a true defect counts in the area score, mm².
        width_px: web width the calibration is for, or None.
        camera: free text, or None.
    """

    path: Path | None
    mm_per_px_poly: tuple[float, ...]
    mm_per_line: float
    reject_area_mm2: float
    significant_area_mm2: float
    width_px: int | None = None
    camera: str | None = None

    def column_mm(self, width_px: int) -> np.ndarray:
        """``(width_px,)`` float64 width of each column, mm."""
        columns = np.arange(width_px, dtype=np.float64)
        return np.polynomial.polynomial.polyval(columns, np.asarray(self.mm_per_px_poly, np.float64))


def load_calibration(path: Path) -> Calibration:
    """Read and check a calibration YAML (see the module docstring).

    Raises:
        ConfigError: one line naming the file and the key: unreadable file, unknown or missing
            key, wrong type, value <= 0, a pitch outside [MIN_PITCH_MM, MAX_PITCH_MM] mm, or more
            than one way to give the same pitch.
    """
    path = Path(path)
    data = load_yaml_mapping(path, "calibration")
    check_keys(data, path, known=CALIBRATION_KEYS, required=("reject_area_mm2", "significant_area_mm2"))

    across = [key for key in ("mm_per_px", "mm_per_px_poly") if key in data]
    if not across:
        raise ConfigError(f"{path}: missing key 'mm_per_px' (or 'mm_per_px_poly'): the pixel pitch across the web")
    if len(across) > 1:
        raise ConfigError(f"{path}: keys 'mm_per_px' and 'mm_per_px_poly' exclude each other: keep one")
    if "mm_per_px" in data:
        poly: tuple[float, ...] = (float(get_number(data, "mm_per_px", path, minimum=0, exclusive=True)),)
        _check_pitch(poly[0], path, "key 'mm_per_px' must be", "per pixel")
    else:
        raw = data["mm_per_px_poly"]
        if not isinstance(raw, list) or not raw:
            raise ConfigError(f"{path}: key 'mm_per_px_poly' must be a list [a0, a1, ...] of numbers, got {raw!r}")
        for i, value in enumerate(raw):
            get_number({f"mm_per_px_poly[{i}]": value}, f"mm_per_px_poly[{i}]", path)
        poly = tuple(float(v) for v in raw)
        if poly[0] <= 0:
            raise ConfigError(f"{path}: key 'mm_per_px_poly' must have a0 > 0 (width of column 0), got {poly[0]!r}")
        _check_pitch(poly[0], path, "key 'mm_per_px_poly' must have a0 (width of column 0)", "per pixel")

    along = [
        key for key in ("mm_per_line", "encoder_pitch_mm", "web_speed_mm_s") if key in data
    ]
    if not along:
        raise ConfigError(
            f"{path}: missing key 'mm_per_line' (or 'encoder_pitch_mm', or 'web_speed_mm_s' + 'line_rate_hz')"
        )
    if len(along) > 1:
        raise ConfigError(f"{path}: keys {' and '.join(repr(k) for k in along)} exclude each other: keep one")
    for key, needs in (("pulses_per_line", "encoder_pitch_mm"), ("line_rate_hz", "web_speed_mm_s")):
        if key in data and needs not in data:
            raise ConfigError(f"{path}: key '{key}' needs key '{needs}'")
    if "mm_per_line" in data:
        mm_per_line = float(get_number(data, "mm_per_line", path, minimum=0, exclusive=True))
        _check_pitch(mm_per_line, path, "key 'mm_per_line' must be", "per line")
    elif "encoder_pitch_mm" in data:
        pitch = float(get_number(data, "encoder_pitch_mm", path, minimum=0, exclusive=True))
        _check_pitch(pitch, path, "key 'encoder_pitch_mm' must be", "per pulse")
        pulses = get_number(data, "pulses_per_line", path, minimum=1, integer=True, default=1)
        # compared before multiplying: an integer too large for a float cannot overflow the product
        mm_per_line = pitch * pulses if pulses <= MAX_PITCH_MM / pitch else math.inf
        _check_pitch(mm_per_line, path, "keys 'encoder_pitch_mm' × 'pulses_per_line' must give a line pitch", "per line",
                     got=f"{pitch!r} × {pulses!r}")
    else:
        if "line_rate_hz" not in data:
            raise ConfigError(f"{path}: missing key 'line_rate_hz' (needed with 'web_speed_mm_s')")
        speed = float(get_number(data, "web_speed_mm_s", path, minimum=0, exclusive=True))
        rate = float(get_number(data, "line_rate_hz", path, minimum=0, exclusive=True))
        mm_per_line = speed / rate  # finite numbers > 0: the quotient may still overflow to inf or underflow to 0
        _check_pitch(mm_per_line, path, "keys 'web_speed_mm_s' / 'line_rate_hz' must give a line pitch", "per line",
                     got=f"{speed!r} / {rate!r}")

    calibration = Calibration(
        path=path,
        mm_per_px_poly=poly,
        mm_per_line=mm_per_line,
        reject_area_mm2=float(get_number(data, "reject_area_mm2", path, minimum=0, exclusive=True)),
        significant_area_mm2=float(get_number(data, "significant_area_mm2", path, minimum=0)),
        width_px=get_width_px(data, "width_px", path),
        camera=get_str(data, "camera", path),
    )
    get_str(data, "description", path)
    if calibration.width_px is not None:
        check_columns(calibration, calibration.width_px)
    return calibration


def get_width_px(data: dict, key: str, path: Path) -> int | None:
    """An integer web width in [1, MAX_WIDTH_PX] px from ``data[key]`` (None when absent); ConfigError naming ``key``."""
    width = get_number(data, key, path, minimum=1, integer=True)
    if width is not None and width > MAX_WIDTH_PX:
        raise ConfigError(f"{path}: key '{key}' must be <= {MAX_WIDTH_PX} px, got {width}")
    return width


def _check_pitch(value: float, path: Path, what: str, per: str, *, got: str | None = None) -> None:
    """ConfigError unless ``MIN_PITCH_MM <= value <= MAX_PITCH_MM`` (``what``: e.g. "key 'mm_per_px' must be")."""
    if not MIN_PITCH_MM <= value <= MAX_PITCH_MM:  # NaN fails too
        raise ConfigError(f"{path}: {what} in [{MIN_PITCH_MM:g}, {MAX_PITCH_MM:g}] mm {per} "
                          f"(outside that it is a typo), got {got or repr(value)}")


def check_columns(calibration: Calibration, width_px: int) -> np.ndarray:
    """Column widths for ``width_px`` columns; ConfigError if any is <= 0, outside
    [MIN_PITCH_MM, MAX_PITCH_MM] mm (or not finite), or the width mismatches."""
    where = calibration.path or "calibration"
    if calibration.width_px is not None and width_px != calibration.width_px:
        raise ConfigError(
            f"{where}: key 'width_px' is {calibration.width_px} but the camera delivers {width_px} px: "
            f"use the calibration of this camera"
        )
    with np.errstate(over="ignore", invalid="ignore"):  # huge coefficients: inf/NaN, refused below
        column_mm = calibration.column_mm(width_px)
    bad = np.flatnonzero(column_mm <= 0)
    if bad.size:
        raise ConfigError(
            f"{where}: key 'mm_per_px_poly' gives a width <= 0 at column {int(bad[0])} "
            f"({column_mm[bad[0]]:.4g} mm): fix the coefficients"
        )
    bad = np.flatnonzero(~((column_mm >= MIN_PITCH_MM) & (column_mm <= MAX_PITCH_MM)))
    if bad.size:
        key = "mm_per_px_poly" if len(calibration.mm_per_px_poly) > 1 else "mm_per_px"
        raise ConfigError(
            f"{where}: key '{key}' gives a width of {column_mm[bad[0]]:.10g} mm at column {int(bad[0])}, outside "
            f"[{MIN_PITCH_MM:g}, {MAX_PITCH_MM:g}] mm per pixel: fix the coefficients"
        )
    return column_mm


class AreaEstimator:
    """Areas, boxes and verdicts in mm for a web of ``width_px`` columns.

    Args:
        calibration: the camera calibration.
        width_px: web width, px.
        area_from: ``"probability"`` (the probability mass of each blob's halo, when the blob has
            one) or ``"mask"`` (its thresholded pixels); see the module docstring.

    Raises:
        ConfigError: the calibration gives a column width <= 0, or is for another width.
        ValueError: ``area_from`` is neither.
    """

    def __init__(self, calibration: Calibration, width_px: int, *, area_from: str = "probability") -> None:
        if area_from not in AREA_FROM:
            raise ValueError(f"area_from must be one of {AREA_FROM}, got {area_from!r}")
        self.area_from = area_from
        self.calibration = calibration
        self.width_px = int(width_px)
        self.column_mm = check_columns(calibration, self.width_px)
        self.column_edges_mm = np.concatenate([[0.0], np.cumsum(self.column_mm)])
        self.mm_per_line = calibration.mm_per_line
        #: area of one pixel, mm², when every column has the same width: areas are then one count
        #: (or sum) × this, equal to the per-column sums up to float rounding. None: the columns differ.
        self.pixel_mm2 = (float(self.column_mm[0]) * self.mm_per_line
                          if self.width_px and bool(np.all(self.column_mm == self.column_mm[0])) else None)

    def area_mm2(self, mask: np.ndarray, x0: int = 0) -> float:
        """Area of the pixels of ``mask``, mm².

        Args:
            mask: ``(h, w)`` bool, its column 0 is web column ``x0``.
            x0: web column of the mask's first column.

        Returns:
            ``sum over set pixels of column_mm[column] * mm_per_line``.
        """
        if self.pixel_mm2 is not None:
            return float(np.count_nonzero(mask)) * self.pixel_mm2
        per_column = np.count_nonzero(mask, axis=0)
        return float(per_column @ self.column_mm[x0:x0 + mask.shape[1]] * self.mm_per_line)

    def mass_mm2(self, weights: np.ndarray, x0: int = 0) -> float:
        """Area of pixels counted with weights (probabilities), mm².

        Args:
            weights: ``(h, w)`` float in [0, 1]; its column 0 is web column ``x0``.
            x0: web column of the first column.

        Returns:
            ``sum over pixels of weight * column_mm[column] * mm_per_line``.
        """
        if self.pixel_mm2 is not None:
            return float(weights.sum(dtype=np.float64)) * self.pixel_mm2
        per_column = weights.sum(axis=0, dtype=np.float64)
        return float(per_column @ self.column_mm[x0:x0 + weights.shape[1]] * self.mm_per_line)

    def bbox_mm(self, bbox_px: tuple[int, int, int, int]) -> tuple[float, float, float, float]:
        """``(x0, y0, x1, y1)`` px → mm from column 0 / line 0."""
        x0, y0, x1, y1 = bbox_px
        return (
            float(self.column_edges_mm[x0]), y0 * self.mm_per_line,
            float(self.column_edges_mm[x1]), y1 * self.mm_per_line,
        )

    def verdict(self, area_mm2: float) -> str:
        """``"reject"`` at or above ``reject_area_mm2``, else ``"accept"``."""
        return "reject" if area_mm2 >= self.calibration.reject_area_mm2 else "accept"

    def defect(self, blob: Blob, defect_id: int, *, kind: str | None = None) -> Defect:
        """The calibrated record of one tracked component.

        Args:
            blob: the component.
            defect_id: its record id.
            kind: its class where known.
        """
        x0, y0, x1, y1 = blob.bbox_px
        mask_area_mm2 = self.area_mm2(blob.mask, x0)
        area_mm2 = mask_area_mm2
        if self.area_from == "probability" and blob.halo_prob is not None:
            area_mm2 = self.mass_mm2(blob.halo_prob, blob.halo_origin[0])
        bbox_mm = self.bbox_mm(blob.bbox_px)
        area_px = blob.area_px
        max_prob, mean_prob = blob.max_prob, blob.mean_prob
        if max_prob is None or mean_prob is None:  # a blob without the tracker's statistics
            probs = blob.prob[blob.mask]
            max_prob = float(probs.max()) if probs.size else 0.0
            mean_prob = float(np.add.reduce(probs, dtype=np.float64)) / probs.size if probs.size else 0.0
        return Defect(
            id=defect_id,
            first_line=y0,
            last_line=y1 - 1,
            bbox_px=(x0, y0, x1, y1),
            bbox_mm=tuple(_mm(v) for v in bbox_mm),
            area_px=int(area_px),
            area_mm2=_mm(area_mm2),
            area_mm2_min=_mm(area_mm2 * (1 - AREA_TOLERANCE)),
            area_mm2_max=_mm(area_mm2 * (1 + AREA_TOLERANCE)),
            mask_area_mm2=_mm(mask_area_mm2),
            length_mm=_mm(bbox_mm[3] - bbox_mm[1]),
            width_mm=_mm(bbox_mm[2] - bbox_mm[0]),
            max_prob=round(float(max_prob), 6),
            mean_prob=round(float(mean_prob), 6),
            kind=kind,
            verdict=self.verdict(area_mm2),
            truncated=blob.truncated,
            mask_b64=pack_mask(blob.mask),
        )

    def truth(self, defect_id: int, kind: str | None, bbox_px: tuple[int, int, int, int],
              mask: np.ndarray | None = None, area_px: int | None = None, inside: bool = True,
              mask_b64: str | None = None) -> TruthDefect:
        """A true defect with its calibrated area.

        Args:
            defect_id, kind, bbox_px: from the source's truth (``kind`` None: not known, e.g. a replayed mask).
            mask: ``(y1-y0, x1-x0)`` bool pixels of the defect in its box (exact area, and kept in
                the record's ``mask_b64`` for scoring), or None.
            area_px: its pixel count, used with the mean column width of the box when ``mask`` is None
                (exact for a constant ``mm_per_px``, an approximation for a polynomial).
            inside: the whole defect lies in inspected lines.
            mask_b64: ``mask`` as :func:`~edgeinspect.data.packed_mask.pack_mask` text where the
                source keeps it so (not packed again); None: packed from ``mask``.
        """
        x0, _, x1, _ = bbox_px
        if mask is not None:
            area_px_value = int(np.count_nonzero(mask))
            area = self.area_mm2(mask, x0)
        else:
            area_px_value = int(area_px or 0)
            area = area_px_value * float(self.column_mm[x0:x1].mean()) * self.mm_per_line
        return TruthDefect(id=int(defect_id), kind=None if kind is None else str(kind), bbox_px=tuple(int(v) for v in bbox_px),
                           area_px=area_px_value, area_mm2=_mm(area), inside=inside,
                           mask_b64=mask_b64 if mask_b64 is not None or mask is None else pack_mask(mask))


def _mm(value: float) -> float:
    """mm / mm² rounded to 1e-9 (drops float noise like 42.00000000000033; far below any pixel)."""
    return round(float(value), 9)
