"""Defect shapes of the synthetic web: exact masks and how each pixel is altered.

Every builder draws one defect on its own canvas and returns a :class:`DefectPatch`: the exact
mask plus, per mask pixel, a blend weight ``alpha`` and a ``target`` grey level, applied to the
texture as ``out = texture * (1 - alpha) + alpha * target`` (8-bit grey levels). Pixels outside
the mask are never touched, so the mask is exact by construction.

Kinds (sizes are the defect's extent in px; "few px to hundreds"):

- ``hairball``: fuzz ball of thin curly 1-px fibres around a small core, 16..140 px across; the
  mask is the fibre pixels, with the 1-px gaps between fibres left out (what a pixel-confidence
  module has to fill). Fibres contrast with the surface (bright on dark textures, dark on light).
- ``crack``: jagged 1..2 px random walk with 0..4 branches, 20..420 px long, dark (bright in
  resin-rich dark carbon).
- ``blowhole``: round pit 3..45 px, dark centre, bright rim on pits >= 7 px.
- ``scratch``: gently curved 1..3 px line, 30..480 px long, bright (dark on very light surfaces),
  fading towards its ends.
- ``stain``: irregular blob 15..260 px, darker (lighter on dark textures), strongest in the middle.
- ``hole``: irregular through-hole 4..90 px: near black (backlit-bright on dark textures).

Thin structures are drawn 4-connected (``cv2.LINE_4``) so every defect is one connected region.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

#: Largest canvas side of any defect, px (bounds how far a defect reaches down the web).
MAX_DEFECT_PX = 500

#: Grey level (8-bit scale) below which a texture counts as dark: defects are then drawn light.
DARK_TEXTURE_LEVEL = 90.0


@dataclass(frozen=True, slots=True, eq=False)
class DefectPatch:
    """One defect drawn on its canvas.

    Attributes:
        mask: ``(h, w)`` bool, exact defect pixels; ``h, w <= MAX_DEFECT_PX``.
        alpha: ``(h, w)`` float32 in [0, 1], blend weight (used where ``mask``).
        target: ``(h, w)`` float32 grey level 0..255 (8-bit scale) blended towards.
    """

    mask: np.ndarray
    alpha: np.ndarray
    target: np.ndarray


def _loguniform(rng: np.random.Generator, low: float, high: float) -> float:
    return float(np.exp(rng.uniform(np.log(low), np.log(high))))


def _away(ref: float, rng: np.random.Generator, low: float, high: float) -> float:
    """A grey level ``low..high`` away from ``ref``: above it on dark textures, below on light."""
    step = rng.uniform(low, high)
    level = ref + step if ref < 128.0 else ref - step
    return float(np.clip(level, 6.0, 248.0))


def _canvas_for(points: list[np.ndarray], margin: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """A zero uint8 canvas holding every polyline (shifted to it, int32 for cv2).

    The canvas is at most MAX_DEFECT_PX on a side; what lies beyond is cut off (callers keep the
    largest connected piece via :func:`_one_piece`).
    """
    allp = np.concatenate(points)
    low = np.floor(allp.min(axis=0)) - margin
    high = np.ceil(allp.max(axis=0)) + margin
    size = np.minimum(high - low + 1, MAX_DEFECT_PX).astype(int)
    shifted = [np.round(p - low).astype(np.int32).reshape(-1, 1, 2) for p in points]
    return np.zeros((size[1], size[0]), np.uint8), shifted


def _polyline(start: np.ndarray, angles: np.ndarray, step_px: float) -> np.ndarray:
    """Points ``(n+1, 2)`` (x, y) float of a path taking ``step_px`` steps in directions ``angles``."""
    steps = step_px * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    return np.concatenate([start[None, :], start[None, :] + np.cumsum(steps, axis=0)])


def hairball(rng: np.random.Generator, ref: float) -> DefectPatch:
    """Thin curly fibres from a small core; mask = fibre pixels with 1-px gaps between them."""
    radius = _loguniform(rng, 8.0, 70.0)
    side = int(2 * radius + 7)
    centre = np.array([side / 2.0, side / 2.0])
    canvas = np.zeros((side, side), np.uint8)
    core = max(1, int(round(radius * 0.1)))
    cv2.circle(canvas, (int(centre[0]), int(centre[1])), core, 255, -1, cv2.LINE_4)
    n_fibres = int(np.clip(radius * 0.9, 6, 60))
    n_steps = (radius * rng.uniform(1.0, 2.6, n_fibres)).astype(int) + 2
    curl = rng.normal(0.0, 0.12, (n_fibres, 1))
    angles = rng.uniform(0, 2 * np.pi, (n_fibres, 1)) + np.cumsum(
        curl + rng.normal(0.0, 0.2, (n_fibres, int(n_steps.max()))), axis=1)
    start = np.floor(centre) + rng.uniform(-0.4, 0.4, (n_fibres, 1, 2)) * core
    steps = 1.2 * np.stack([np.cos(angles), np.sin(angles)], axis=2)          # (fibres, steps, xy)
    points = np.concatenate([start, start + np.cumsum(steps, axis=1)], axis=1) - centre
    r = np.hypot(points[..., 0], points[..., 1])[..., None]
    points = points * (radius * np.tanh(r / radius) / np.maximum(r, 1e-6)) + centre   # keep inside the ball
    points = np.round(points).astype(np.int32)
    shade = rng.integers(0, 4, n_fibres)                                    # 4 fibre brightnesses
    for level in range(4):
        fibres = [points[f, :n_steps[f]].reshape(-1, 1, 2) for f in np.flatnonzero(shade == level)]
        if fibres:
            cv2.polylines(canvas, fibres, False, 150 + 35 * level, 1, cv2.LINE_4)
    mask = canvas > 0
    alpha = (0.45 + 0.5 * canvas.astype(np.float32) / 255.0).astype(np.float32)
    target = np.full(mask.shape, _away(ref, rng, 70.0, 110.0), np.float32)
    return DefectPatch(mask, alpha, target)


def crack(rng: np.random.Generator, ref: float) -> DefectPatch:
    """Jagged random-walk crack with a few branches."""
    length = _loguniform(rng, 20.0, 420.0)
    step = 3.0
    n_steps = max(3, int(length / step))
    heading = rng.uniform(0, np.pi)
    drift = np.cumsum(rng.normal(0.0, 0.05, n_steps))
    angles = heading + drift + rng.normal(0.0, 0.45, n_steps)
    trunk = _polyline(np.zeros(2), angles, step)
    paths = [trunk]
    for _ in range(int(rng.integers(0, min(4, 1 + int(length / 80)) + 1))):
        at = int(rng.integers(1, len(trunk) - 1))
        b_steps = max(2, int(rng.uniform(0.15, 0.45) * n_steps))
        b_heading = angles[min(at, n_steps - 1)] + rng.choice([-1, 1]) * rng.uniform(0.5, 1.2)
        b_angles = b_heading + np.cumsum(rng.normal(0.0, 0.05, b_steps)) + rng.normal(0.0, 0.45, b_steps)
        paths.append(_polyline(trunk[at], b_angles, step))
    canvas, shifted = _canvas_for(paths, 3)
    trunk_px = 2 if length > 150 and rng.random() < 0.5 else 1
    cv2.polylines(canvas, shifted[:1], False, 255, trunk_px, cv2.LINE_4 if trunk_px == 1 else cv2.LINE_8)
    cv2.polylines(canvas, shifted[1:], False, 200, 1, cv2.LINE_4)
    mask = _one_piece(canvas > 0)
    alpha = (rng.uniform(0.6, 0.8) + 0.15 * canvas.astype(np.float32) / 255.0).astype(np.float32)
    if ref < DARK_TEXTURE_LEVEL:
        level = ref + rng.uniform(70.0, 110.0)
    else:
        level = ref * rng.uniform(0.15, 0.35)
    return DefectPatch(mask, alpha, np.full(mask.shape, level, np.float32))


def _blob_polygon(rng: np.random.Generator, radius: float, roughness: float) -> np.ndarray:
    """Closed irregular polygon (n, 2) float around (0, 0) of mean radius ``radius`` px."""
    n = int(np.clip(radius * 1.5, 12, 48))
    theta = np.linspace(0, 2 * np.pi, n, endpoint=False)
    aspect = rng.uniform(0.75, 1.25)
    tilt = rng.uniform(0, np.pi)
    wobble = np.real(np.fft.ifft(np.fft.fft(rng.normal(0, 1, n)) * (np.arange(n) < 4)))
    wobble = wobble / max(np.abs(wobble).max(), 1e-6)
    r = radius * (1.0 + roughness * wobble)
    x, y = r * np.cos(theta) * aspect, r * np.sin(theta) / aspect
    return np.stack([x * np.cos(tilt) - y * np.sin(tilt), x * np.sin(tilt) + y * np.cos(tilt)], axis=1)


def _filled(polygon: np.ndarray) -> np.ndarray:
    """Filled polygon mask on the smallest canvas (1 px margin) as uint8 0/255."""
    canvas, (shifted,) = _canvas_for([polygon], 1)
    cv2.fillPoly(canvas, [shifted], 255, cv2.LINE_8)
    return canvas


def blowhole(rng: np.random.Generator, ref: float) -> DefectPatch:
    """Round pit: dark, darkest in the middle, with a bright rim when >= 7 px across."""
    radius = _loguniform(rng, 1.5, 22.5)
    canvas = _filled(_blob_polygon(rng, radius, 0.08))
    mask = canvas > 0
    depth = cv2.distanceTransform(canvas, cv2.DIST_L2, 3)
    depth = depth / max(float(depth.max()), 1.0)
    pit = rng.uniform(4.0, 14.0) if ref < DARK_TEXTURE_LEVEL else ref * rng.uniform(0.15, 0.3)
    target = np.full(mask.shape, pit, np.float32)
    alpha = (0.7 + 0.25 * depth).astype(np.float32)
    if radius >= 3.5:
        rim = mask & (cv2.distanceTransform(canvas, cv2.DIST_L2, 3) <= 1.5)
        target[rim] = min(ref + rng.uniform(60.0, 100.0), 245.0)
        alpha[rim] = 0.6
    return DefectPatch(mask, alpha, target)


def scratch(rng: np.random.Generator, ref: float) -> DefectPatch:
    """Gently curved thin line, fading towards its ends."""
    length = _loguniform(rng, 30.0, 480.0)
    heading = rng.uniform(0, np.pi)
    t = np.linspace(0.0, 1.0, max(4, int(length / 2)))[:, None]
    start = np.zeros(2)
    end = length * np.array([np.cos(heading), np.sin(heading)])
    bend = (start + end) / 2 + rng.normal(0.0, 0.08 * length) * np.array([-np.sin(heading), np.cos(heading)])
    points = (1 - t) ** 2 * start + 2 * (1 - t) * t * bend + t**2 * end
    width_px = int(rng.choice([1, 1, 2, 3]))
    canvas, (shifted,) = _canvas_for([points], width_px + 2)
    chunks = 8
    bounds = np.linspace(0, len(shifted), chunks + 1).astype(int)
    for k in range(chunks):  # brightest mid-length, ~half strength at the ends
        value = int(255 * (0.55 + 0.45 * np.sin(np.pi * (k + 0.5) / chunks)))
        part = shifted[max(bounds[k] - 1, 0):bounds[k + 1]]
        cv2.polylines(canvas, [part], False, value, width_px, cv2.LINE_4 if width_px == 1 else cv2.LINE_8)
    mask = _one_piece(canvas > 0)
    alpha = (rng.uniform(0.55, 0.85) * canvas.astype(np.float32) / 255.0).astype(np.float32)
    level = ref + rng.uniform(60.0, 100.0) if ref < 175.0 else ref - rng.uniform(70.0, 100.0)
    return DefectPatch(mask, alpha, np.full(mask.shape, min(level, 250.0), np.float32))


def stain(rng: np.random.Generator, ref: float) -> DefectPatch:
    """Irregular blob, strongest in the middle; darker (lighter on dark textures)."""
    diameter = _loguniform(rng, 15.0, 260.0)
    side = int(diameter * 1.15) + 4
    yy, xx = np.mgrid[0:side, 0:side].astype(np.float32)
    c = (side - 1) / 2.0
    ax, ay = diameter / 2 * rng.uniform(0.6, 1.0), diameter / 2 * rng.uniform(0.6, 1.0)
    envelope = 1.0 - ((xx - c) / ax) ** 2 - ((yy - c) / ay) ** 2
    lumps = cv2.resize(rng.normal(0, 1, (6, 6)).astype(np.float32), (side, side),
                       interpolation=cv2.INTER_CUBIC)
    canvas = ((envelope + 0.3 * lumps) > 0.15).astype(np.uint8) * 255
    mask = largest_component(canvas > 0)
    if not mask.any():  # tiny stain whose lumps ate it: fall back to the plain ellipse
        mask = envelope > 0
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    canvas = np.zeros_like(canvas)
    cv2.drawContours(canvas, contours, -1, 255, -1)  # fill holes: a stain is solid
    mask = canvas > 0
    depth = cv2.distanceTransform(canvas, cv2.DIST_L2, 3)
    depth = depth / max(float(depth.max()), 1.0)
    strength = rng.uniform(0.5, 0.8)
    alpha = (strength * (0.55 + 0.45 * depth)).astype(np.float32)
    level = ref + rng.uniform(50.0, 80.0) if ref < DARK_TEXTURE_LEVEL else ref * rng.uniform(0.35, 0.6)
    return DefectPatch(mask, alpha, np.full(mask.shape, level, np.float32))


def hole(rng: np.random.Generator, ref: float) -> DefectPatch:
    """Irregular through-hole: near black, or backlit near white on dark textures."""
    radius = _loguniform(rng, 2.0, 45.0)
    canvas = _filled(_blob_polygon(rng, radius, 0.2))
    mask = canvas > 0
    level = rng.uniform(225.0, 250.0) if ref < DARK_TEXTURE_LEVEL else rng.uniform(6.0, 20.0)
    alpha = np.full(mask.shape, rng.uniform(0.92, 0.98), np.float32)
    return DefectPatch(mask, alpha, np.full(mask.shape, level, np.float32))


def _one_piece(mask: np.ndarray) -> np.ndarray:
    """``mask`` itself when it cannot have been cut by the canvas edge, else its largest component."""
    if max(mask.shape) < MAX_DEFECT_PX:
        return mask
    return largest_component(mask)


def largest_component(mask: np.ndarray) -> np.ndarray:
    """The largest 8-connected component of a bool mask (all False when empty)."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if count <= 1:
        return np.zeros_like(mask)
    best = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    return labels == best


DEFECT_BUILDERS: dict[str, Callable[[np.random.Generator, float], DefectPatch]] = {
    "hairball": hairball, "crack": crack, "blowhole": blowhole,
    "scratch": scratch, "stain": stain, "hole": hole,
}
