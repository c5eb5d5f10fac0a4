"""Across-web pixel pitch (mm per pixel, per column) from line-scan images of a target of known pitch.

Targets:

- ``checkerboard``: squares of side ``S`` mm. A line-scan image of it may be stretched along the web
  (line pitch ≠ pixel pitch), so only the ACROSS-web spacing of the vertical edges is used for mm/px;
  the along-web spacing of the horizontal edges gives an mm/line estimate (:func:`measure_along`)
  that is compared with the encoder's.
- ``lines``: a ruler / line pattern with lines ``P`` mm apart, parallel to the web direction.

Method (OpenCV smooths, NumPy does the rest): each sampled row is smoothed (Gaussian, σ ≈ 1 px),
differentiated across, and every local maximum of ``|d/dx|`` above a third of the typical edge
strength is an edge, located to sub-pixel by a three-point Gaussian fit. Edges of one polarity
(dark→light, or light→dark) repeat at the target pitch (``2 S`` for a checkerboard, ``P`` for
lines); using each polarity on its own cancels print gain (black squares printed larger than
white ones) and any sub-pixel bias that differs between rising and falling edges. Consecutive
edges of one polarity in one row, ``u1 < u2`` (pixel-edge coordinates: column ``c`` spans
``[c, c + 1)``), ``k`` pitches apart give one exact constraint on the pixel-pitch density
``q(u)`` (mm per px at position ``u``)::

    ∫_{u1}^{u2} q(u) du = k · pitch          (linear in the polynomial coefficients of q)

so a least-squares fit needs no midpoint approximation. Polynomials of degree 0..4 are fitted
(after two rounds of 5-MAD outlier rejection); the degree chosen is the simplest whose mm/px
differs by less than 0.1 % anywhere over the covered columns from the BIC-best fit (degree 0
when distortion is negligible). The column-width polynomial ``w(c) = ∫_c^{c+1} q(u) du``
is what ``stream/area.py`` reads (``mm_per_px`` or ``mm_per_px_poly``).

Reported residuals: spacing residuals in mm (RMS, max) and in % of the spacing (the scatter of
the local mm/px about the fitted curve over the width — what ``calib check`` charges to a defect).

Not a target: an image where fewer than 60 % of the same-polarity edge pairs repeat at a regular
pitch (noise, a product surface), or whose spacing scatters by more than 2 % about the fit (a
woven texture, a blurred or sliding target) is refused with what to check.

Why not ``cv2.findChessboardCornersSB``: it needs the inner-corner count and near-square cells,
while a line-scan image of a checkerboard is stretched along the web by the pixel aspect ratio
and may hold hundreds of squares across 4096+ px, partly out of view. Row profiles need neither,
and each row adds independent measurements across the whole width.

Example:
    >>> fit = measure_across([image], target="checkerboard", pitch_mm=5.0)
    >>> fit.degree, fit.mm_per_px_mean, fit.residual_pct
    (2, 0.12341, 0.04)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np

from edgeinspect.errors import EdgeInspectError

#: Largest target pitch accepted, mm: a square or line pair over a metre is a typo (inf, 1e308 ...).
MAX_PITCH_MM = 1000.0

#: Highest polynomial degree tried for mm/px(column).
MAX_DEGREE = 4
#: A degree is "as good as the best" when its mm/px is within this fraction of the BIC-best fit everywhere.
DEGREE_TOLERANCE = 1e-3
#: Warn when the target covers less than this share of the width (mm/px outside is extrapolated).
MIN_COVERAGE = 0.8
#: Residuals within this many px are never outliers (quantised or very clean images have a MAD near 0).
OUTLIER_FLOOR_PX = 0.25
#: A per-pitch spacing must be within this fraction of its band's pitch to be used.
LOCAL_TOLERANCE = 0.08
#: A target keeps at least this share of its same-polarity edge pairs as regular intervals.
MIN_REGULAR_SHARE = 0.6
#: Spacing scatter about the fit above which the image is not a usable target, %.
MAX_RESIDUAL_PCT = 2.0
#: Edge pitch below which sub-pixel edges are too close to measure reliably, px.
MIN_PITCH_PX = 6.0


class Target(str, Enum):
    """Calibration target kinds."""

    checkerboard = "checkerboard"
    lines = "lines"


@dataclass(frozen=True, slots=True)
class Intervals:
    """Same-polarity edge pairs: ``(n,)`` float64 positions ``u1 < u2`` (px), ``(n,)`` int pitches apart.

    Attributes:
        u1, u2: edge positions in pixel-edge coordinates (column ``c`` spans ``[c, c+1)``).
        steps: pitches between them (1 unless an edge was missed).
        rows: how many image rows (profiles) contributed.
        per_row: median number of intervals per contributing row.
        independent: intervals between distinct physical edges (one row's worth per image): what
            the degree choice and the uncertainties count, since rows repeat the same edges.
        candidates: consecutive same-polarity edge pairs looked at (a target keeps nearly all).
    """

    u1: np.ndarray
    u2: np.ndarray
    steps: np.ndarray
    rows: int
    per_row: float
    independent: float = 0.0
    candidates: int = 0


@dataclass(frozen=True, slots=True)
class AcrossFit:
    """mm per pixel across the web, fitted over the width.

    Attributes:
        target: ``"checkerboard"`` or ``"lines"``.
        pitch_mm: square side (checkerboard) or line pitch, mm.
        width_px: image width, px.
        degree: polynomial degree chosen.
        poly: column-width polynomial ``(a0, a1, ...)``: column ``c`` is ``sum(a_i c**i)`` mm wide
            (``stream/area.py``'s ``mm_per_px_poly``; ``(mm_per_px,)`` for degree 0).
        mm_per_px_mean: mean column width over the width, mm.
        mm_per_px_min, mm_per_px_max: narrowest / widest column, mm.
        distortion_pct: ``(max - min) / mean`` of the column widths, %.
        residual_rms_mm, residual_max_mm: spacing residuals of the fit, mm.
        residual_pct: RMS of the spacing residuals relative to the spacing, %: scatter of the
            local mm/px about the fitted curve.
        fit_uncertainty_pct: largest 2-sigma standard error of mm/px over the covered columns, %
            (rows counted as fully correlated: conservative).
        intervals: edge intervals used (after outlier rejection); ``rejected``: dropped as outliers.
        rows: image rows that gave edges.
        coverage_px: ``(first, last)`` pixel-edge position measured; mm/px outside is extrapolated.
        degree_rms_mm: residual RMS per degree tried, mm (index = degree).
        images: number of images used.
    """

    target: str
    pitch_mm: float
    width_px: int
    degree: int
    poly: tuple[float, ...]
    mm_per_px_mean: float
    mm_per_px_min: float
    mm_per_px_max: float
    distortion_pct: float
    residual_rms_mm: float
    residual_max_mm: float
    residual_pct: float
    fit_uncertainty_pct: float
    intervals: int
    rejected: int
    rows: int
    coverage_px: tuple[float, float]
    degree_rms_mm: tuple[float, ...]
    images: int
    warnings: tuple[str, ...] = field(default=())

    @property
    def coverage(self) -> float:
        """Share of the width between the first and last edge measured, in [0, 1]."""
        return (self.coverage_px[1] - self.coverage_px[0]) / self.width_px

    def column_mm(self) -> np.ndarray:
        """``(width_px,)`` float64 width of each column, mm."""
        return np.polynomial.polynomial.polyval(np.arange(self.width_px, dtype=np.float64), np.asarray(self.poly))


@dataclass(frozen=True, slots=True)
class AlongFit:
    """mm per line along the web from the checkerboard's horizontal edges.

    Valid only when the target moved under the production line trigger (encoder), at any speed.

    Attributes:
        mm_per_line: mean line pitch, mm.
        residual_pct: RMS scatter of the square lengths about the mean, % (speed variation).
        fit_uncertainty_pct: 2-sigma standard error of the mean, % (columns fully correlated).
        intervals, lines: edge intervals used and the image columns that gave them.
    """

    mm_per_line: float
    residual_pct: float
    fit_uncertainty_pct: float
    intervals: int
    columns: int


def as_gray(image: np.ndarray, where: str = "image") -> np.ndarray:
    """``(H, W)`` float32 from a uint8/uint16/float gray image; DataError-style message otherwise."""
    image = np.asarray(image)
    if image.ndim != 2:
        raise EdgeInspectError(f"{where}: expected a gray (H, W) image, got shape {image.shape}")
    if image.shape[0] < 8 or image.shape[1] < 32:
        raise EdgeInspectError(f"{where}: image {image.shape[1]}×{image.shape[0]} px is too small for a calibration")
    return image.astype(np.float32, copy=False)


def find_edges(image: np.ndarray, *, max_profiles: int = 256, smooth_px: float = 1.0
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sub-pixel edges along every sampled row of ``image``.

    Args:
        image: ``(H, W)`` gray, any dtype; rows are the profiles.
        max_profiles: at most this many rows, evenly spread (the two outermost rows skipped).
        smooth_px: Gaussian σ of the smoothing, px (both directions).

    Returns:
        ``(row, u, polarity)``: ``(n,)`` int row index, float64 edge position in pixel-edge
        coordinates (``u = c + 1`` lies between columns ``c`` and ``c + 1``), int8 ``+1`` for
        dark→light, ``-1`` for light→dark.
    """
    import cv2

    gray = as_gray(image)
    smooth = cv2.GaussianBlur(gray, (0, 0), sigmaX=smooth_px, sigmaY=smooth_px, borderType=cv2.BORDER_REPLICATE)
    height = smooth.shape[0]
    margin = 2 if height > 8 else 0
    rows = np.unique(np.linspace(margin, height - 1 - margin, min(max_profiles, height - 2 * margin)).round().astype(int))
    grad = np.diff(smooth[rows].astype(np.float64), axis=1)  # grad[:, c] sits at u = c + 1
    mag = np.abs(grad)
    typical = float(np.median(mag.max(axis=1)))
    if typical <= 0:
        return np.zeros(0, int), np.zeros(0), np.zeros(0, np.int8)
    centre = mag[:, 1:-1]
    peak = (centre > mag[:, :-2]) & (centre >= mag[:, 2:]) & (centre > typical / 3)
    r, c = np.nonzero(peak)
    c = c + 1
    floor = typical * 1e-6
    left, mid, right = (np.log(np.maximum(mag[r, c + k], floor)) for k in (-1, 0, 1))
    curvature = left - 2 * mid + right
    with np.errstate(divide="ignore", invalid="ignore"):
        delta = np.where(curvature < 0, 0.5 * (left - right) / curvature, 0.0)
    delta = np.clip(delta, -0.5, 0.5)
    return rows[r], c + 1 + delta, np.sign(grad[r, c]).astype(np.int8)


def edge_intervals(rows: np.ndarray, u: np.ndarray, polarity: np.ndarray, *, length: float | None = None,
                   min_per_row: int = 3, bins: int = 8) -> Intervals:
    """Consecutive same-polarity edges in each row, with how many pitches apart they are.

    The pitch in px is found per band of columns (``bins`` bands over ``length`` px): the median
    per-pitch spacing of every row's intervals whose midpoint lies in the band or the bands either
    side (lens distortion changes the pitch slowly across the width; every row sees the same
    target, so the target's border or a stain seen in each row stays a minority there). An interval of about ``k``
    band pitches (``k`` in 1..3, an edge missed) is kept when its per-pitch spacing is within
    :data:`LOCAL_TOLERANCE` of the band's; a row keeps its intervals when at least
    ``min_per_row - 1`` of one polarity survive.

    Args:
        rows, u, polarity: from :func:`find_edges`.
        length: profile length, px (default: the last edge).
        min_per_row: edges of one polarity a row needs.
        bins: bands across the profile.
    """
    empty = Intervals(np.zeros(0), np.zeros(0), np.zeros(0, int), 0, 0.0)
    if u.size == 0:
        return empty
    order = np.lexsort((u, polarity, rows))
    rows, u, polarity = rows[order], u[order], polarity[order]
    group = rows.astype(np.int64) * 2 + (polarity > 0)
    same = group[1:] == group[:-1]
    u1, u2, g = u[:-1][same], u[1:][same], group[:-1][same]
    du = u2 - u1
    if du.size == 0:
        return empty
    candidates = int(du.size)
    # first guess of k from the global median spacing, then the pitch of each band of columns
    first = np.rint(du / np.median(du))
    plausible = (first >= 1) & (first <= 3) & (np.abs(du / np.median(du) - first) < 0.3)
    length = float(length or u.max())
    band = np.clip(((u1 + u2) / 2 / length * bins).astype(int), 0, bins - 1)
    pitch = np.full(bins, np.nan)
    for b in range(bins):
        inside = plausible & (np.abs(band - b) <= 1)  # with the bands either side: a border band may hold little
        if inside.any():
            pitch[b] = np.median(du[inside] / first[inside])
    if np.all(np.isnan(pitch)):
        return Intervals(np.zeros(0), np.zeros(0), np.zeros(0, int), 0, 0.0, 0.0, candidates)
    pitch = np.where(np.isnan(pitch), np.nanmedian(pitch), pitch)
    ratio = du / pitch[band]
    k = np.rint(ratio)
    good = (k >= 1) & (k <= 3) & (np.abs(du / np.maximum(k, 1) / pitch[band] - 1) < LOCAL_TOLERANCE)
    groups, kept = np.unique(g[good], return_counts=True)
    good &= np.isin(g, groups[kept >= min_per_row - 1])
    if not good.any():
        return Intervals(np.zeros(0), np.zeros(0), np.zeros(0, int), 0, 0.0, 0.0, candidates)
    rows_used, per_row = np.unique(g[good] // 2, return_counts=True)
    typical = float(np.median(per_row))
    return Intervals(u1[good], u2[good], k[good].astype(int), int(rows_used.size), typical, typical, candidates)


def merge_intervals(parts: list[Intervals]) -> Intervals:
    """One :class:`Intervals` from several images' (rows add up)."""
    candidates = sum(p.candidates for p in parts)
    parts = [p for p in parts if p.u1.size]
    if not parts:
        return Intervals(np.zeros(0), np.zeros(0), np.zeros(0, int), 0, 0.0, 0.0, candidates)
    return Intervals(np.concatenate([p.u1 for p in parts]), np.concatenate([p.u2 for p in parts]),
                     np.concatenate([p.steps for p in parts]), sum(p.rows for p in parts),
                     float(np.median([p.per_row for p in parts])), float(sum(p.independent for p in parts)),
                     candidates)


def _design(u1: np.ndarray, u2: np.ndarray, degree: int, half: float) -> np.ndarray:
    """Rows ``∫_{u1}^{u2} t(u)**i du`` for i = 0..degree, with ``t = (u - half) / half`` in [-1, 1]."""
    t1, t2 = (u1 - half) / half, (u2 - half) / half
    return np.stack([half * (t2 ** (i + 1) - t1 ** (i + 1)) / (i + 1) for i in range(degree + 1)], axis=1)


def _density(coef: np.ndarray, u: np.ndarray, half: float) -> np.ndarray:
    """mm per px at positions ``u`` of the scaled-basis density ``coef``."""
    return np.polynomial.polynomial.polyval((u - half) / half, coef)


def _column_poly(coef: np.ndarray, half: float) -> tuple[float, ...]:
    """Column-width polynomial in the column index: ``w(c) = ∫_c^{c+1} q(u) du`` (power basis)."""
    from numpy.polynomial import Polynomial

    q = Polynomial(coef, domain=[0.0, 2 * half], window=[-1.0, 1.0]).convert()
    antiderivative = q.integ()
    width = antiderivative(Polynomial([1.0, 1.0])) - antiderivative
    out = np.asarray(width.coef, dtype=np.float64)[: len(coef)]
    return tuple(float(v) for v in out)


@dataclass(frozen=True, slots=True)
class _Fit:
    coef: np.ndarray
    residuals: np.ndarray  # mm
    covariance: np.ndarray


def _lstsq(design: np.ndarray, target: np.ndarray) -> _Fit:
    coef, *_ = np.linalg.lstsq(design, target, rcond=None)
    residuals = design @ coef - target
    dof = max(1, target.size - coef.size)
    sigma2 = float(residuals @ residuals) / dof
    covariance = sigma2 * np.linalg.pinv(design.T @ design)
    return _Fit(coef, residuals, covariance)


def fit_pitch(intervals: Intervals, *, pitch_mm: float, width_px: int, max_degree: int = MAX_DEGREE
              ) -> tuple[int, _Fit, np.ndarray, list[float]]:
    """Fit mm/px(u) to the intervals; choose the degree (see the module docstring).

    Returns:
        ``(degree, fit, inlier mask, residual RMS per degree tried)``.
    """
    half = width_px / 2.0
    target = intervals.steps * pitch_mm
    max_degree = int(max(0, min(max_degree, intervals.u1.size // 8 - 1)))
    inliers = np.ones(target.size, bool)
    span_px = intervals.u2 - intervals.u1
    for _ in range(2):
        fit = _lstsq(_design(intervals.u1[inliers], intervals.u2[inliers], max_degree, half), target[inliers])
        residual_px = (_design(intervals.u1, intervals.u2, max_degree, half) @ fit.coef - target) / target * span_px
        centre = float(np.median(residual_px[inliers]))
        mad = float(np.median(np.abs(residual_px[inliers] - centre))) * 1.4826
        inliers = np.abs(residual_px - centre) <= max(5 * mad, OUTLIER_FLOOR_PX)
    fits = [_lstsq(_design(intervals.u1[inliers], intervals.u2[inliers], d, half), target[inliers])
            for d in range(max_degree + 1)]
    n = int(inliers.sum())
    # rows repeat the same physical edges: the information is about one row's worth of intervals per image
    n_eff = float(min(n, max(max_degree + 2, intervals.independent)))
    rss = [max(float(f.residuals @ f.residuals), 1e-300) for f in fits]
    bic = [n_eff * np.log(rss[d] / n) + (d + 1) * np.log(n_eff) for d in range(len(fits))]
    best = int(np.argmin(bic))
    lo, hi = float(intervals.u1[inliers].min()), float(intervals.u2[inliers].max())
    grid = np.linspace(lo, hi, 257)
    reference = _density(fits[best].coef, grid, half)
    degree = best
    for d in range(best + 1):
        if np.max(np.abs(_density(fits[d].coef, grid, half) / reference - 1)) < DEGREE_TOLERANCE:
            degree = d
            break
    return degree, fits[degree], inliers, [float(np.sqrt(r / n)) for r in rss]


def measure_across(images: list[np.ndarray], *, target: Target | str, pitch_mm: float,
                   max_degree: int = MAX_DEGREE, max_profiles: int = 256,
                   names: Sequence[str] | None = None) -> AcrossFit:
    """mm per pixel across the web from one or more images of a target.

    Args:
        images: ``(H, W)`` gray images (uint8/uint16), all of the same width: rows = web lines.
        target: ``"checkerboard"`` (``pitch_mm`` = square side) or ``"lines"`` (line pitch).
        pitch_mm: the target's known pitch, mm.
        max_degree: highest polynomial degree tried.
        max_profiles: rows sampled per image.
        names: the images' files, for messages (default ``image K of N``).

    Returns:
        The :class:`AcrossFit`.

    Raises:
        EdgeInspectError: bad pitch, images of different widths, too few edges, or the images do
            not show a regular target (see the module docstring).
    """
    target = Target(target)
    if not 0 < pitch_mm <= MAX_PITCH_MM:  # NaN fails too
        raise EdgeInspectError(f"target pitch (--square-mm / --pitch-mm) must be in (0, {MAX_PITCH_MM:g}] mm, "
                               f"got {pitch_mm}")
    if not images:
        raise EdgeInspectError("no calibration image given")
    width = int(np.asarray(images[0]).shape[-1])
    parts, empty = [], []
    for index, image in enumerate(images):
        if np.asarray(image).shape[-1] != width:
            raise EdgeInspectError(f"image {index + 1} is {np.asarray(image).shape[-1]} px wide, image 1 is {width} px: "
                                   f"use images of the same camera setup")
        parts.append(edge_intervals(*find_edges(image, max_profiles=max_profiles), length=width))
        if parts[-1].u1.size == 0:
            empty.append(index + 1)
    intervals = merge_intervals(parts)
    family_pitch = 2 * pitch_mm if target is Target.checkerboard else pitch_mm
    if intervals.u1.size < 8:
        raise EdgeInspectError(
            f"found {intervals.u1.size} edge intervals of the {target.value} target (need >= 8): check focus, "
            f"lighting and that the target's {'squares' if target is Target.checkerboard else 'lines'} "
            f"fill the width, crossing the image from top to bottom"
        )
    regular = intervals.u1.size / max(intervals.candidates, 1)
    if regular < MIN_REGULAR_SHARE:
        raise EdgeInspectError(
            f"only {100 * regular:.0f} % of the edges found repeat at a regular pitch (a target gives > "
            f"{100 * MIN_REGULAR_SHARE:.0f} %): is the {target.value} target in view, in focus and filling the width?"
        )
    spacing_px = float(np.median((intervals.u2 - intervals.u1) / intervals.steps))
    if spacing_px < MIN_PITCH_PX:
        raise EdgeInspectError(
            f"the target's edges repeat every {spacing_px:.1f} px (< {MIN_PITCH_PX:g}): use a coarser target"
        )
    degree, fit, inliers, degree_rms = fit_pitch(intervals, pitch_mm=family_pitch, width_px=width, max_degree=max_degree)
    warnings: list[str] = [f"{names[k - 1] if names else f'image {k} of {len(images)}'} shows no edge of the "
                           f"target: it adds nothing to the fit" for k in empty]
    half = width / 2.0
    poly = _column_poly(fit.coef, half)
    columns = np.polynomial.polynomial.polyval(np.arange(width, dtype=np.float64), poly)
    while degree > 0 and (columns.min() <= 0 or columns.max() > 1.5 * columns.mean() or columns.min() < 0.5 * columns.mean()):
        warnings.append(f"degree-{degree} fit extrapolates badly beyond the target; using degree {degree - 1}")
        degree -= 1
        fit = _lstsq(_design(intervals.u1[inliers], intervals.u2[inliers], degree, half),
                     intervals.steps[inliers] * family_pitch)
        poly = _column_poly(fit.coef, half)
        columns = np.polynomial.polynomial.polyval(np.arange(width, dtype=np.float64), poly)
    u1, u2 = intervals.u1[inliers], intervals.u2[inliers]
    spacing_mm = intervals.steps[inliers] * family_pitch
    residual_pct = float(100 * np.sqrt(np.mean((fit.residuals / spacing_mm) ** 2)))
    if residual_pct > MAX_RESIDUAL_PCT:
        raise EdgeInspectError(
            f"the edge spacing scatters by {residual_pct:.1f} % about the best fit (a sharp target gives well under "
            f"{MAX_RESIDUAL_PCT:g} %): not a regular {target.value} target, out of focus, or moving sideways; "
            f"re-image the target"
        )
    lo, hi = float(u1.min()), float(u2.max())
    grid = np.linspace(lo, hi, 257)
    basis = np.stack([((grid - half) / half) ** i for i in range(degree + 1)], axis=1)
    density = basis @ fit.coef
    inflation = max(1.0, u1.size / max(intervals.independent, 1.0))  # rows repeat the same edges: count one row's worth
    se = np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", basis, fit.covariance, basis), 0) * inflation)
    if (hi - lo) / width < MIN_COVERAGE:
        warnings.append(
            f"the target covers px {lo:.0f}..{hi:.0f} of {width} ({100 * (hi - lo) / width:.0f} %): mm/px outside "
            f"is extrapolated; use a target as wide as the web"
        )
    return AcrossFit(
        target=target.value, pitch_mm=float(pitch_mm), width_px=width, degree=degree, poly=poly,
        mm_per_px_mean=float(columns.mean()), mm_per_px_min=float(columns.min()), mm_per_px_max=float(columns.max()),
        distortion_pct=float(100 * (columns.max() - columns.min()) / columns.mean()),
        residual_rms_mm=float(np.sqrt(np.mean(fit.residuals ** 2))),
        residual_max_mm=float(np.max(np.abs(fit.residuals))),
        residual_pct=residual_pct,
        fit_uncertainty_pct=float(100 * np.max(2 * se / density)),
        intervals=int(u1.size), rejected=int((~inliers).sum()), rows=intervals.rows,
        coverage_px=(lo, hi), degree_rms_mm=tuple(degree_rms), images=len(images), warnings=tuple(warnings),
    )


def measure_along(images: list[np.ndarray], *, square_mm: float, max_profiles: int = 256) -> AlongFit | None:
    """mm per line from a checkerboard's horizontal edges (columns as profiles); None if too few.

    Args:
        images: ``(H, W)`` gray line-scan images of the checkerboard.
        square_mm: square side, mm.
        max_profiles: columns sampled per image.
    """
    parts = [edge_intervals(*find_edges(np.asarray(image).T, max_profiles=max_profiles),
                            length=np.asarray(image).shape[0]) for image in images]
    intervals = merge_intervals(parts)
    if intervals.u1.size < 8 or intervals.u1.size < MIN_REGULAR_SHARE * intervals.candidates:
        return None
    height = max(int(np.asarray(image).shape[0]) for image in images)
    _, fit, inliers, _ = fit_pitch(intervals, pitch_mm=2 * square_mm, width_px=height, max_degree=0)
    mm_per_line = float(fit.coef[0])
    spacing_mm = intervals.steps[inliers] * 2 * square_mm
    inflation = max(1.0, inliers.sum() / max(intervals.independent, 1.0))
    return AlongFit(
        mm_per_line=mm_per_line,
        residual_pct=float(100 * np.sqrt(np.mean((fit.residuals / spacing_mm) ** 2))),
        fit_uncertainty_pct=float(100 * 2 * np.sqrt(fit.covariance[0, 0] * inflation) / mm_per_line),
        intervals=int(inliers.sum()), columns=intervals.rows,
    )


#: The checkerboard's mm/line and the encoder's may differ by this much before a warning, %.
ALONG_MISMATCH_PCT = 2.0


@dataclass(frozen=True, slots=True)
class CameraCalibration:
    """What ``edgeinspect calib camera`` measured and wrote.

    Attributes:
        path: the calibration YAML written.
        across: mm/px fit across the web.
        along: the line pitch written (encoder, roller, speed or measured on the target).
        along_target: the checkerboard's own mm/line estimate, or None (lines target / too few edges).
        along_mismatch_pct: ``along_target / along - 1`` in %, when both exist.
        aspect: pixel aspect-ratio verdict.
        warnings: every warning, one line each.
        meta: the metadata written with the file.
    """

    path: Path
    across: AcrossFit
    along: Any
    along_target: AlongFit | None
    along_mismatch_pct: float | None
    aspect: Any
    warnings: tuple[str, ...]
    meta: dict


def calibrate_camera(images: list[Path], *, target: Target | str, pitch_mm: float, out: Path, along: Any = None,
                     camera: str | None = None, reject_area_mm2: float = 1.0, significant_area_mm2: float = 0.25,
                     max_degree: int = MAX_DEGREE, force: bool = False) -> CameraCalibration:
    """Measure mm/px across (and mm/line along, for a checkerboard) and write ``out`` (``calib/<name>.yaml``).

    Args:
        images: line-scan images of the target (same camera setup).
        target: ``"checkerboard"`` (``pitch_mm`` = square side) or ``"lines"`` (line pitch).
        pitch_mm: the target's pitch, mm.
        out: calibration YAML to write.
        along: an :class:`~edgeinspect.calibration.encoder.AlongSetup` (encoder, roller or
            speed), or None to use the checkerboard's along-web measurement.
        camera: camera name for the file (default: ``out``'s stem).
        reject_area_mm2, significant_area_mm2: area thresholds written to the file, mm².
        max_degree: highest polynomial degree tried across.
        force: replace an existing ``out``.

    Raises:
        EdgeInspectError: unreadable image, too few edges, no along-web pitch, or the file exists.
    """
    import datetime as _dt

    from edgeinspect import __version__
    from edgeinspect.calibration import encoder
    from edgeinspect.calibration.writer import write_calibration
    from edgeinspect.data.imageio import read_image

    target = Target(target)
    paths = [Path(p) for p in images]
    arrays = [read_image(p) for p in paths]
    for path, array in zip(paths, arrays):
        as_gray(array, where=str(path))  # a size too small is named by its file, not "image"
    across = measure_across(arrays, target=target, pitch_mm=pitch_mm, max_degree=max_degree,
                            names=[str(p) for p in paths])
    warnings = list(across.warnings)
    along_target = measure_along(arrays, square_mm=pitch_mm) if target is Target.checkerboard else None
    mismatch = None
    if along is None:
        if along_target is None:
            raise EdgeInspectError(
                "no along-web line pitch: give --encoder-pitch-mm (+ --pulses-per-line), --roller-diameter-mm + "
                "--pulses-per-rev, or --web-speed-mm-s + --line-rate-hz"
                + ("" if target is Target.checkerboard else " (a lines target measures across the web only)")
            )
        error_pct = max(along_target.fit_uncertainty_pct, along_target.residual_pct)
        along = encoder.from_target(along_target.mm_per_line, rel_err_pct=error_pct,
                                    basis="checkerboard square length along the web (2σ or scatter)")
        warnings.append("mm/line measured on the checkerboard: valid only if it passed under the production line "
                        "trigger (encoder); give the encoder setup to write it instead")
    elif along_target is not None:
        mismatch = 100 * (along_target.mm_per_line / along.mm_per_line - 1)
        along = along.with_error(max(abs(mismatch), along_target.fit_uncertainty_pct),
                                 f"{along.method} vs checkerboard difference ({mismatch:+.2f} %)")
        if abs(mismatch) > ALONG_MISMATCH_PCT:
            warnings.append(
                f"the checkerboard gives {along_target.mm_per_line:.5g} mm/line, the {along.method} setup "
                f"{along.mm_per_line:.5g} ({mismatch:+.1f} %): if the target moved with the web under the production "
                f"trigger, check roller diameter, PPR and divider"
            )
    aspect = encoder.check_aspect(along, across.mm_per_px_mean)
    if not aspect.ok:
        warnings.append(aspect.message)

    out = Path(out)
    name = camera or out.stem
    date = _dt.datetime.now().astimezone().isoformat(timespec="seconds")
    across_keys: dict[str, Any] = ({"mm_per_px": across.poly[0]} if across.degree == 0
                                   else {"mm_per_px_poly": list(across.poly)})
    keys = {
        "camera": name,
        "description": (f"{target.value} {pitch_mm:g} mm, {len(paths)} image(s), {date[:10]}: "
                        f"{across.mm_per_px_mean:.5g} mm/px (degree {across.degree}, residual "
                        f"{across.residual_pct:.2f} %), {along.mm_per_line:.5g} mm/line ({along.method}), "
                        f"aspect {aspect.ratio:.3f}"),
        "width_px": across.width_px,
        **across_keys,
        **along.keys,
        "reject_area_mm2": float(reject_area_mm2),
        "significant_area_mm2": float(significant_area_mm2),
    }
    meta = {
        "written_by": f"edgeinspect calib camera {__version__}",
        "date": date,
        "images": [str(p) for p in paths],
        "target": {"kind": target.value, "pitch_mm": float(pitch_mm)},
        "across": {
            "width_px": across.width_px, "degree": across.degree,
            "mm_per_px_mean": across.mm_per_px_mean, "mm_per_px_min": across.mm_per_px_min,
            "mm_per_px_max": across.mm_per_px_max, "distortion_pct": across.distortion_pct,
            "residual_rms_mm": across.residual_rms_mm, "residual_max_mm": across.residual_max_mm,
            "residual_pct": across.residual_pct, "fit_uncertainty_pct": across.fit_uncertainty_pct,
            "intervals": across.intervals, "rejected": across.rejected, "rows": across.rows,
            "coverage_px": list(across.coverage_px), "degree_rms_mm": list(across.degree_rms_mm),
        },
        "along": {
            "method": along.method, "mm_per_line": along.mm_per_line, "inputs": along.inputs,
            "rel_err_pct": along.rel_err_pct, "rel_err_basis": along.rel_err_basis,
            **({"target_mm_per_line": along_target.mm_per_line, "target_residual_pct": along_target.residual_pct,
                "target_fit_uncertainty_pct": along_target.fit_uncertainty_pct}
               if along_target is not None else {}),
            **({"target_vs_setup_pct": mismatch} if mismatch is not None else {}),
        },
        "aspect_ratio": aspect.ratio,
        "warnings": warnings,
    }
    header = [f"Camera calibration of '{name}' written by `edgeinspect calib camera` on {date}.",
              "Read by `edgeinspect run --calib`; keys: edgeinspect/stream/area.py; check it with "
              "`edgeinspect calib check`."]
    path = write_calibration(out, keys, meta, header=header, force=force)
    return CameraCalibration(path, across, along, along_target, mismatch, aspect, tuple(warnings), meta)
