"""Surface textures of the synthetic web, built once per web as periodic float32 layers.

A texture is two layers whose sum is the defect-free web in 8-bit grey levels (0..255, float32):

- ``structure`` ``(STRUCTURE_LINES, width + 2*pad_px)``: the weave or the grinding/brushing marks,
  periodic along the web with period ``STRUCTURE_LINES`` and padded by ``pad_px`` columns on both
  sides so a line can be read shifted by up to ``pad_px`` columns (line jitter).
- ``shading`` ``(SHADING_LINES, width)``, zero mean: slow mottling plus fine grain, periodic with a
  period coprime-ish to the structure's, so their sum repeats only every 44 800 lines.

Textures (``TEXTURE_BUILDERS``):

- ``carbon``: 2/2 twill carbon-fibre fabric, 16 px tows; warp floats lit brighter than weft floats
  (anisotropic sheen), dark tow gaps, fine striations along each tow. Mean about 60.
- ``fabric``: plain-woven light fabric, 8 px thread pitch, per-thread brightness irregularity,
  fuzz. Mean about 145.
- ``ceramic``: ground magnetic-tile surface: oblique grinding streaks, grain, mottling. Mean about 105.
- ``steel``: brushed steel strip, streaks along the web (down the lines) of varied length and
  width. Mean about 150.

Periodic noise is Gaussian-filtered white noise done in the Fourier domain, so every layer tiles
seamlessly along the web.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

#: Period of the structure layer along the web, lines (a multiple of every weave period).
STRUCTURE_LINES = 448
#: Period of the shading layer along the web, lines (lcm with STRUCTURE_LINES: 44 800).
SHADING_LINES = 625


@dataclass(frozen=True, slots=True)
class TextureLayers:
    """The two periodic layers of one web's texture (see the module docstring).

    Attributes:
        structure: ``(STRUCTURE_LINES, width + 2*pad_px)`` float32, grey levels 0..255.
        shading: ``(SHADING_LINES, width)`` float32, zero-mean grey-level offsets.
        mean_level: Mean grey level of the texture (0..255), what defects contrast against.
    """

    structure: np.ndarray
    shading: np.ndarray
    mean_level: float


def periodic_noise(rng: np.random.Generator, shape: tuple[int, int], sigma_along_px: float,
                   sigma_across_px: float, angle_rad: float = 0.0) -> np.ndarray:
    """Seamlessly tiling Gaussian-filtered white noise, zero mean and unit std.

    Args:
        rng: Random generator.
        shape: ``(H, W)`` of the result.
        sigma_along_px: Gaussian sigma along the streak direction, px (long → streaks).
        sigma_across_px: Gaussian sigma across it, px.
        angle_rad: Streak direction measured from the image rows (x axis) towards +y, radians;
            ``pi/2`` makes streaks run down the lines.

    Returns:
        ``(H, W)`` float64, periodic in both axes.
    """
    h, w = shape
    spectrum = np.fft.rfft2(rng.standard_normal(shape))
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    cos, sin = np.cos(angle_rad), np.sin(angle_rad)
    f_along = cos * fx + sin * fy
    f_across = -sin * fx + cos * fy
    gain = np.exp(-2.0 * np.pi**2 * ((sigma_along_px * f_along) ** 2 + (sigma_across_px * f_across) ** 2))
    noise = np.fft.irfft2(spectrum * gain, s=shape)
    noise -= noise.mean()
    std = noise.std()
    return noise / std if std > 0 else noise


def _grid(lines: int, cols: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column coordinates ``(lines, 1)`` and ``(1, cols)`` as int64."""
    return np.arange(lines)[:, None], np.arange(cols)[None, :]


def _carbon(rng: np.random.Generator, cols: int) -> np.ndarray:
    """2/2 twill: tow (i, j) shows its warp (vertical) tow when (j - i) mod 4 < 2."""
    tow = 16
    y, x = _grid(STRUCTURE_LINES, cols)
    i, j = y // tow, x // tow
    u, v = (x % tow + 0.5) / tow, (y % tow + 0.5) / tow        # position across the cell, 0..1
    warp = (j - i) % 4 < 2
    along_warp = ((i - j + 1) % 4) + v                         # 0..2 along the 2-cell float
    along_weft = ((j - i - 2) % 4) + u
    along_warp, along_weft = np.where(warp, along_warp, 1.0), np.where(warp, 1.0, along_weft)
    profile = np.where(warp,
                       np.sin(np.pi * u) ** 0.5 * np.sin(np.pi * along_warp / 2) ** 0.3,
                       np.sin(np.pi * v) ** 0.5 * np.sin(np.pi * along_weft / 2) ** 0.3)
    shape = (STRUCTURE_LINES, cols)
    fibres = np.where(warp, periodic_noise(rng, shape, 7.0, 0.6, np.pi / 2),
                      periodic_noise(rng, shape, 7.0, 0.6, 0.0))
    warp_level = rng.uniform(95, 115) * rng.normal(1.0, 0.06, cols // tow + 1)[j]             # per tow
    weft_level = rng.uniform(52, 64) * rng.normal(1.0, 0.06, STRUCTURE_LINES // tow + 1)[i]
    level = np.where(warp, warp_level, weft_level)
    gap = 16.0
    return gap + (level - gap) * profile * (1.0 + 0.14 * fibres)


def _fabric(rng: np.random.Generator, cols: int) -> np.ndarray:
    """Plain weave: cell (i, j) shows the warp thread when i + j is even; 8 px pitch."""
    pitch = 8
    y, x = _grid(STRUCTURE_LINES, cols)
    i, j = y // pitch, x // pitch
    u, v = (x % pitch + 0.5) / pitch, (y % pitch + 0.5) / pitch
    warp = (i + j) % 2 == 0
    profile = np.where(warp, np.sin(np.pi * u) ** 0.6 * np.sin(np.pi * v) ** 0.35,
                       np.sin(np.pi * v) ** 0.6 * np.sin(np.pi * u) ** 0.35)
    warp_level = rng.uniform(160, 175) + rng.normal(0, 7, cols // pitch + 1)[j]
    weft_level = rng.uniform(145, 158) + rng.normal(0, 7, STRUCTURE_LINES // pitch + 1)[i]
    level = np.where(warp, warp_level, weft_level)
    fuzz = periodic_noise(rng, (STRUCTURE_LINES, cols), 0.9, 0.9)
    gap = rng.uniform(80, 95)
    return gap + (level - gap) * profile + 5.0 * fuzz


def _ceramic(rng: np.random.Generator, cols: int) -> np.ndarray:
    """Ground surface: two families of oblique grinding streaks plus grain."""
    shape = (STRUCTURE_LINES, cols)
    angle = rng.choice([-1.0, 1.0]) * rng.uniform(0.15, 0.5)
    streaks = (9.0 * periodic_noise(rng, shape, 45.0, 0.8, angle)
               + 5.0 * periodic_noise(rng, shape, 14.0, 1.6, angle + rng.uniform(-0.2, 0.2)))
    grain = 6.0 * periodic_noise(rng, shape, 0.7, 0.7)
    return rng.uniform(98, 112) + streaks + grain


def _steel(rng: np.random.Generator, cols: int) -> np.ndarray:
    """Brushed strip: fine and broad streaks down the lines, light grain."""
    shape = (STRUCTURE_LINES, cols)
    streaks = (13.0 * periodic_noise(rng, shape, 90.0, 0.7, np.pi / 2)
               + 8.0 * periodic_noise(rng, shape, 220.0, 4.0, np.pi / 2))
    grain = 3.0 * periodic_noise(rng, shape, 0.6, 0.6)
    return rng.uniform(145, 160) + streaks + grain


TEXTURE_BUILDERS: dict[str, Callable[[np.random.Generator, int], np.ndarray]] = {
    "carbon": _carbon, "fabric": _fabric, "ceramic": _ceramic, "steel": _steel,
}

# (mottling amplitude, mottling sigma px, grain amplitude) of the shading layer per texture.
_SHADING = {"carbon": (5.0, 50.0, 3.0), "fabric": (7.0, 60.0, 3.0),
            "ceramic": (7.0, 40.0, 3.0), "steel": (6.0, 70.0, 2.0)}


def build_texture(name: str, rng: np.random.Generator, width_px: int, pad_px: int) -> TextureLayers:
    """Build the layers of texture ``name`` for a web ``width_px`` wide.

    Args:
        name: One of ``TEXTURE_BUILDERS``.
        rng: Random generator (the web's texture seed).
        width_px: Web width, px.
        pad_px: Extra columns on each side of the structure layer (max line jitter, px).

    Returns:
        The texture's :class:`TextureLayers`.
    """
    cols = width_px + 2 * pad_px
    structure = np.clip(TEXTURE_BUILDERS[name](rng, cols), 4.0, 250.0).astype(np.float32)
    mottle_amp, mottle_sigma, grain_amp = _SHADING[name]
    shape = (SHADING_LINES, width_px)
    shading = (mottle_amp * periodic_noise(rng, shape, mottle_sigma, mottle_sigma)
               + grain_amp * periodic_noise(rng, shape, 0.6, 0.6)).astype(np.float32)
    mean_level = float(structure[:, pad_px:pad_px + width_px].mean())
    return TextureLayers(np.ascontiguousarray(structure), shading, mean_level)
