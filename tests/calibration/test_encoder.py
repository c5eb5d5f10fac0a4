"""Along-web line pitch arithmetic (hand-computed) and the pixel aspect-ratio warning."""

from __future__ import annotations

import math

import pytest

from edgeinspect.calibration.encoder import check_aspect, from_encoder, from_roller, from_speed, from_target
from edgeinspect.errors import EdgeInspectError


def test_encoder_pitch_times_pulses_per_line():
    setup = from_encoder(0.025, 4)
    assert setup.mm_per_line == pytest.approx(0.1)
    assert setup.keys == {"encoder_pitch_mm": 0.025, "pulses_per_line": 4}
    assert setup.rel_err_pct == 0.5 and "assumed" in setup.rel_err_basis


def test_roller_quadrature_and_divider_by_hand():
    # 80 mm roller: circumference 251.327 mm; 2500 PPR × 4 edges = 10000 counts/rev → 0.02513274 mm per count;
    # divider 4 → 0.10053096 mm per line
    setup = from_roller(80.0, 2500, divider=4, edges_per_pulse=4)
    assert setup.keys["encoder_pitch_mm"] == pytest.approx(math.pi * 80 / 10_000)
    assert setup.keys["encoder_pitch_mm"] == pytest.approx(0.02513274, rel=1e-6)
    assert setup.keys["pulses_per_line"] == 4
    assert setup.mm_per_line == pytest.approx(0.10053096, rel=1e-6)
    assert setup.inputs == {"roller_diameter_mm": 80.0, "pulses_per_rev": 2500, "edges_per_pulse": 4, "divider": 4}


def test_web_speed_over_line_rate():
    setup = from_speed(2000.0, 20_000.0, rel_err_pct=0.3)
    assert setup.mm_per_line == pytest.approx(0.1)
    assert setup.keys == {"web_speed_mm_s": 2000.0, "line_rate_hz": 20_000.0}
    assert setup.rel_err_pct == 0.3


def test_keys_load_as_area_py_computes_them(tmp_path):
    from edgeinspect.stream.area import load_calibration

    for setup in (from_roller(80.0, 2500, divider=4, edges_per_pulse=4), from_speed(2000.0, 20_000.0),
                  from_target(0.1234, rel_err_pct=0.1, basis="test")):
        path = tmp_path / f"{setup.method}.yaml"
        lines = [f"{k}: {v!r}" for k, v in setup.keys.items()]
        path.write_text("\n".join(["mm_per_px: 0.1", *lines, "reject_area_mm2: 1", "significant_area_mm2: 0.25"]))
        assert load_calibration(path).mm_per_line == pytest.approx(setup.mm_per_line, rel=1e-12)


def test_square_pixels_pass():
    check = check_aspect(from_encoder(0.05, 2), 0.1)
    assert check.ok and check.ratio == pytest.approx(1.0)


@pytest.mark.parametrize("pulses, ratio", [(3, 1.5), (1, 0.5)])
def test_stretched_pixels_warn_and_name_the_divider_for_square_pixels(pulses, ratio):
    check = check_aspect(from_encoder(0.05, pulses), 0.1)
    assert not check.ok
    assert check.ratio == pytest.approx(ratio)
    assert "outside [0.9, 1.1]" in check.message
    assert "count 2 pulse(s) per line" in check.message and "→ ratio 1.000" in check.message


def test_free_run_warning_names_the_line_rate():
    check = check_aspect(from_speed(2000.0, 10_000.0), 0.1)   # 0.2 mm/line vs 0.1 mm/px
    assert not check.ok and check.ratio == pytest.approx(2.0)
    assert "20,000 Hz" in check.message


def test_aspect_limits_are_inclusive():
    assert check_aspect(from_encoder(0.11, 1), 0.1).ok
    assert check_aspect(from_encoder(0.09, 1), 0.1).ok
    assert not check_aspect(from_encoder(0.1101, 1), 0.1).ok


@pytest.mark.parametrize("call, message", [
    (lambda: from_encoder(0.0, 1), "--encoder-pitch-mm must be a number > 0"),
    (lambda: from_encoder(0.1, 0), "--pulses-per-line must be an integer >= 1"),
    (lambda: from_roller(80.0, 2500, edges_per_pulse=3), "--edges-per-pulse must be 1, 2 or 4"),
    (lambda: from_speed(1000.0, -5.0), "--line-rate-hz must be a number > 0"),
])
def test_bad_setups_name_the_option(call, message):
    with pytest.raises(EdgeInspectError, match=message):
        call()
