"""Along-web line pitch (mm per line) from the line trigger, and the pixel aspect-ratio check.

Three ways to know how far the web moves between two lines, each giving the calibration-YAML
keys ``stream/area.py`` reads:

- encoder pitch: ``encoder_pitch_mm`` (travel per counted pulse) × ``pulses_per_line``;
- encoder hardware: a measuring roller of diameter ``D`` mm with an encoder of ``N`` pulses per
  revolution, counted on ``edges`` edges per pulse (1, 2 or 4 for quadrature), the camera
  triggering one line every ``divider`` counts: ``encoder_pitch_mm = π D / (N × edges)``,
  ``pulses_per_line = divider``;
- free run: ``web_speed_mm_s / line_rate_hz`` (only as steady as the drive's speed).

Pixel aspect ratio = mm per line / mm per pixel. Far from 1 (outside [0.9, 1.1]) is a common
commissioning mistake (wrong divider, wrong roller diameter, line rate left at a default): the
image is stretched and, worse, areas come out wrong when the calibration does not say so. A
stretched image also reaches a network trained on square pixels. :func:`check_aspect` warns and
says which divider or line rate gives square pixels.

Example:
    >>> setup = from_roller(roller_diameter_mm=63.66, pulses_per_rev=1000, divider=2)
    >>> round(setup.keys["encoder_pitch_mm"], 4), setup.keys["pulses_per_line"], round(setup.mm_per_line, 4)
    (0.2, 2, 0.4)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from edgeinspect.errors import EdgeInspectError

#: Pixel aspect ratios (mm/line ÷ mm/px) accepted without a warning.
ASPECT_RANGE = (0.9, 1.1)
#: Assumed relative uncertainty of mm/line when nothing measures it, % (stated in the YAML).
ASSUMED_ERR_PCT = {"encoder": 0.5, "roller": 0.5, "speed": 1.0, "target": None}


@dataclass(frozen=True, slots=True)
class AlongSetup:
    """How the along-web line pitch is known.

    Attributes:
        mm_per_line: line pitch along the web, mm.
        method: ``"encoder"``, ``"roller"``, ``"speed"`` or ``"target"`` (measured on the checkerboard).
        keys: the calibration-YAML keys that give it (``encoder_pitch_mm`` + ``pulses_per_line``,
            ``web_speed_mm_s`` + ``line_rate_hz``, or ``mm_per_line``).
        inputs: what it was computed from (for the YAML's metadata).
        rel_err_pct: relative uncertainty of ``mm_per_line``, % (measured or assumed).
        rel_err_basis: where ``rel_err_pct`` comes from, one line.
    """

    mm_per_line: float
    method: str
    keys: dict[str, Any]
    inputs: dict[str, Any] = field(default_factory=dict)
    rel_err_pct: float = 0.5
    rel_err_basis: str = "assumed"

    def with_error(self, rel_err_pct: float, basis: str) -> AlongSetup:
        """A copy with another uncertainty."""
        return AlongSetup(self.mm_per_line, self.method, dict(self.keys), dict(self.inputs), float(rel_err_pct), basis)


def _positive(name: str, value: float) -> float:
    if value is None or not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
        raise EdgeInspectError(f"--{name.replace('_', '-')} must be a number > 0, got {value!r}")
    return float(value)


def _assumed(method: str, rel_err_pct: float | None) -> tuple[float, str]:
    if rel_err_pct is not None:
        return float(rel_err_pct), "given (--along-err-pct)"
    value = ASSUMED_ERR_PCT[method]
    why = {"encoder": "encoder pitch tolerance", "roller": "roller diameter tolerance and wear",
           "speed": "drive speed regulation"}[method]
    return float(value), f"assumed {value:g} % ({why}); measure it with a checkerboard or set --along-err-pct"


def from_encoder(encoder_pitch_mm: float, pulses_per_line: int = 1, *, rel_err_pct: float | None = None) -> AlongSetup:
    """Line pitch from the encoder's travel per pulse and the pulses per line.

    Args:
        encoder_pitch_mm: web travel per counted encoder pulse, mm.
        pulses_per_line: counted pulses per camera line (the divider), integer >= 1.
        rel_err_pct: uncertainty to state, % (default: :data:`ASSUMED_ERR_PCT`).
    """
    pitch = _positive("encoder_pitch_mm", encoder_pitch_mm)
    if isinstance(pulses_per_line, bool) or not isinstance(pulses_per_line, int) or pulses_per_line < 1:
        raise EdgeInspectError(f"--pulses-per-line must be an integer >= 1, got {pulses_per_line!r}")
    err, basis = _assumed("encoder", rel_err_pct)
    return AlongSetup(pitch * pulses_per_line, "encoder",
                      {"encoder_pitch_mm": pitch, "pulses_per_line": int(pulses_per_line)},
                      {"encoder_pitch_mm": pitch, "pulses_per_line": int(pulses_per_line)}, err, basis)


def from_roller(roller_diameter_mm: float, pulses_per_rev: int, *, divider: int = 1, edges_per_pulse: int = 1,
                rel_err_pct: float | None = None) -> AlongSetup:
    """Line pitch from the measuring roller and its encoder.

    Args:
        roller_diameter_mm: measuring-roller diameter (where the web touches it), mm.
        pulses_per_rev: encoder pulses per revolution (its data sheet's PPR).
        divider: counts per camera line (the camera's or the interface's trigger divider).
        edges_per_pulse: counts per encoder pulse: 1 (A rising), 2 (A both edges), 4 (quadrature A/B).
        rel_err_pct: uncertainty to state, % (default: :data:`ASSUMED_ERR_PCT`).

    Returns:
        ``encoder_pitch_mm = π D / (PPR × edges)``, ``pulses_per_line = divider``.
    """
    diameter = _positive("roller_diameter_mm", roller_diameter_mm)
    for name, value in (("pulses_per_rev", pulses_per_rev), ("divider", divider), ("edges_per_pulse", edges_per_pulse)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise EdgeInspectError(f"--{name.replace('_', '-')} must be an integer >= 1, got {value!r}")
    if edges_per_pulse not in (1, 2, 4):
        raise EdgeInspectError(f"--edges-per-pulse must be 1, 2 or 4 (quadrature), got {edges_per_pulse}")
    pitch = math.pi * diameter / (pulses_per_rev * edges_per_pulse)
    err, basis = _assumed("roller", rel_err_pct)
    return AlongSetup(pitch * divider, "roller", {"encoder_pitch_mm": pitch, "pulses_per_line": int(divider)},
                      {"roller_diameter_mm": diameter, "pulses_per_rev": int(pulses_per_rev),
                       "edges_per_pulse": int(edges_per_pulse), "divider": int(divider)}, err, basis)


def from_speed(web_speed_mm_s: float, line_rate_hz: float, *, rel_err_pct: float | None = None) -> AlongSetup:
    """Line pitch of a free-running camera: web speed / line rate."""
    speed = _positive("web_speed_mm_s", web_speed_mm_s)
    rate = _positive("line_rate_hz", line_rate_hz)
    err, basis = _assumed("speed", rel_err_pct)
    return AlongSetup(speed / rate, "speed", {"web_speed_mm_s": speed, "line_rate_hz": rate},
                      {"web_speed_mm_s": speed, "line_rate_hz": rate}, err, basis)


def from_target(mm_per_line: float, *, rel_err_pct: float, basis: str) -> AlongSetup:
    """Line pitch measured on the checkerboard (written as ``mm_per_line``)."""
    return AlongSetup(_positive("mm_per_line", mm_per_line), "target", {"mm_per_line": float(mm_per_line)},
                      {"measured": "checkerboard along-web square length"}, float(rel_err_pct), basis)


@dataclass(frozen=True, slots=True)
class AspectCheck:
    """Pixel aspect ratio verdict.

    Attributes:
        ratio: mm per line / mm per pixel (1 = square pixels; > 1: lines are longer than pixels are
            wide, the image looks squeezed along the web).
        ok: ``ratio`` within :data:`ASPECT_RANGE`.
        message: one line (with the setting that gives square pixels when not ok).
    """

    ratio: float
    ok: bool
    message: str


def check_aspect(setup: AlongSetup, mm_per_px: float, *, limits: tuple[float, float] = ASPECT_RANGE) -> AspectCheck:
    """Compare the line pitch with the pixel pitch and say how to get square pixels.

    Args:
        setup: the along-web line pitch.
        mm_per_px: mean pixel pitch across the web, mm.
        limits: accepted ratio range.
    """
    ratio = setup.mm_per_line / mm_per_px
    ok = limits[0] - 1e-9 <= ratio <= limits[1] + 1e-9  # inclusive, float-safe
    text = f"pixel aspect ratio {ratio:.3f} (mm/line {setup.mm_per_line:.5g} ÷ mm/px {mm_per_px:.5g})"
    if ok:
        return AspectCheck(ratio, True, text)
    hint = ""
    if setup.method in ("encoder", "roller"):
        pitch = setup.keys["encoder_pitch_mm"]
        divider = max(1, round(mm_per_px / pitch))
        hint = (f"; for square pixels count {divider} pulse(s) per line (pulses_per_line/divider, now "
                f"{setup.keys['pulses_per_line']}) → ratio {divider * pitch / mm_per_px:.3f}, or check the roller "
                f"diameter and encoder PPR")
    elif setup.method == "speed":
        rate = setup.keys["web_speed_mm_s"] / mm_per_px
        hint = f"; for square pixels at {setup.keys['web_speed_mm_s']:g} mm/s set the line rate to {rate:,.0f} Hz"
    return AspectCheck(ratio, False, f"{text} is outside [{limits[0]:g}, {limits[1]:g}]: the image is stretched "
                                     f"along the web{hint}")
