"""Synthetic line-scan images of calibration targets with known truth (import ``from calib_targets import ...``).

Camera model: column ``c`` spans ``[c, c + 1)`` on the sensor; position ``u`` on the sensor sees
web position ``x(u) = s * (v + k * v**3 / h**2)`` mm across (``v = u - W/2``, ``h = W/2``), so the
pixel pitch is ``s`` at the centre and ``s * (1 + 3k)`` at the edges (barrel distortion: outer
pixels see more mm). Line ``l`` sees ``y = l * mm_per_line`` along the web. Each pixel integrates
the target over its footprint (8 sub-samples across; 4 along, as a line integrates the web moving
under it), then optics blur (Gaussian), then noise.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

#: Truth of the synthetic camera of the tests: 0.1234 mm/px at the centre, square pixels.
TRUE_MM_PER_PX = 0.1234
TRUE_MM_PER_LINE = 0.1234
#: Target pitches: checkerboard square side and line pitch, mm.
SQUARE_MM = 5.0
LINE_PITCH_MM = 2.0


@dataclass(frozen=True)
class Camera:
    """Truth of a synthetic line-scan camera."""

    width: int = 1024
    mm_per_px: float = 0.1234      # at the centre
    mm_per_line: float = 0.1234
    barrel: float = 0.0            # k: pixel pitch grows by 3k towards the edges

    def x_mm(self, u: np.ndarray) -> np.ndarray:
        """Web position (mm, 0 at the image centre) seen at sensor position ``u`` (px)."""
        half = self.width / 2
        v = np.asarray(u, np.float64) - half
        return self.mm_per_px * (v + self.barrel * v ** 3 / half ** 2)

    def column_mm(self) -> np.ndarray:
        """``(width,)`` true width of each column, mm."""
        edges = self.x_mm(np.arange(self.width + 1))
        return np.diff(edges)

    def column_poly(self) -> tuple[float, ...]:
        """True column-width polynomial in the column index (area.py's ``mm_per_px_poly``)."""
        from numpy.polynomial import Polynomial

        half = self.width / 2
        s, k = self.mm_per_px, self.barrel
        # x(c) as a polynomial in c, then w(c) = x(c + 1) - x(c)
        v = Polynomial([-half, 1.0])
        x = s * (v + k * v ** 3 / half ** 2)
        w = x(Polynomial([1.0, 1.0])) - x
        coef = list(w.coef)
        while len(coef) > 1 and abs(coef[-1]) < 1e-18:
            coef.pop()
        return tuple(float(c) for c in coef)


def checkerboard(square_mm: float, *, phase_mm: tuple[float, float] = (0.37, 0.21)):
    """Target function ``T(x, y) -> 0/1`` of a checkerboard."""
    def value(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return ((np.floor((x + phase_mm[0]) / square_mm) + np.floor((y + phase_mm[1]) / square_mm)) % 2).astype(np.float32)
    return value


def line_pattern(pitch_mm: float, line_mm: float, *, phase_mm: float = 0.13):
    """Dark lines ``line_mm`` wide every ``pitch_mm``, parallel to the web direction (1 = paper, 0 = ink)."""
    def value(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return (np.mod(x + phase_mm, pitch_mm) >= line_mm).astype(np.float32)
    return value


def render(target, camera: Camera, *, lines: int = 240, blur_px: float = 0.8, noise: float = 2.0,
           dark: float = 40.0, bright: float = 210.0, seed: int = 0, subsamples: int = 8,
           first_line: int = 0, dtype=np.uint8) -> np.ndarray:
    """``(lines, width)`` line-scan image of ``target`` seen by ``camera``."""
    sub_u = (np.arange(camera.width * subsamples) + 0.5) / subsamples
    x = camera.x_mm(sub_u)
    along = 4
    sub_l = first_line + (np.arange(lines * along) + 0.5) / along
    y = sub_l * camera.mm_per_line
    values = np.broadcast_to(target(x[None, :], y[:, None]), (y.size, x.size))
    pixels = values.reshape(lines, along, camera.width, subsamples).mean(axis=(1, 3))
    image = dark + (bright - dark) * pixels
    if blur_px > 0:
        image = cv2.GaussianBlur(image.astype(np.float32), (0, 0), sigmaX=blur_px, sigmaY=blur_px * 0.5)
    rng = np.random.default_rng(seed)
    image = image + rng.normal(0.0, noise, image.shape)
    top = 255 if dtype == np.uint8 else 4095
    scale = 1 if dtype == np.uint8 else 16
    return np.clip(np.rint(image * scale), 0, top).astype(dtype)


def disk_masks(width: int, *, radius_px: float = 12.0, count: int = 6, height: int = 64) -> list[tuple[int, np.ndarray]]:
    """``[(x0, mask)]``: disks spread over the width (defect blobs of known pixels)."""
    out = []
    for i in range(count):
        cx = (i + 0.5) * width / count
        x0 = int(cx - radius_px - 2)
        w = int(2 * radius_px + 5)
        yy, xx = np.mgrid[0:height, 0:w]
        mask = (xx + x0 + 0.5 - cx) ** 2 + (yy + 0.5 - height / 2) ** 2 <= radius_px ** 2
        out.append((x0, mask))
    return out
