"""Exponent numbers PyYAML leaves as text (``1e-4``) are numbers in number keys; text keys stay text."""

from __future__ import annotations

import math

import pytest

from edgeinspect.acquire.camera_config import load_camera_config
from edgeinspect.calibration.writer import write_calibration
from edgeinspect.config import load_run_config, number_from_text
from edgeinspect.errors import ConfigError
from edgeinspect.stream.area import load_calibration


@pytest.mark.parametrize("text, value", [("1e-4", 1e-4), ("5E3", 5000.0), ("1.0e5", 1e5), ("-2.5e3", -2500.0),
                                         (".5e2", 50.0)])
def test_exponent_text_becomes_a_number(text, value):
    assert number_from_text(text) == value


@pytest.mark.parametrize("value", ["1e", "e5", "1e4x", "._e5", "abc", 3, 1.5, None, True])
def test_anything_else_is_left_as_it_is(value):
    assert number_from_text(value) is value


def test_a_calibration_written_with_exponents_loads(tmp_path):
    path = tmp_path / "cam.yaml"
    path.write_text("mm_per_px: 1e-1\nmm_per_line: 5E-2\nreject_area_mm2: 1e0\nsignificant_area_mm2: 2.5e-1\n",
                    encoding="utf-8")
    calibration = load_calibration(path)
    assert calibration.mm_per_line == pytest.approx(0.05)
    assert calibration.mm_per_px_poly == pytest.approx((0.1,))
    assert calibration.significant_area_mm2 == pytest.approx(0.25)


def test_a_text_key_that_looks_like_an_exponent_stays_text_and_round_trips(tmp_path):
    path = tmp_path / "3e1.yaml"  # a camera named 3e1: written unquoted by PyYAML, read back as text
    write_calibration(path, {"camera": "3e1", "mm_per_px": 0.1, "mm_per_line": 0.1, "reject_area_mm2": 1.0,
                             "significant_area_mm2": 0.25})
    assert load_calibration(path).camera == "3e1"


def test_a_run_config_with_an_exponent_threshold_loads_and_an_overflow_is_named(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("threshold: 2e-1\n", encoding="utf-8")
    assert load_run_config(path).threshold == pytest.approx(0.2)
    path.write_text("threshold: 1e309\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"run\.yaml: key 'threshold' must be finite, got inf"):
        load_run_config(path)


def test_a_camera_config_with_exponents_loads_and_a_serial_stays_text(tmp_path):
    path = tmp_path / "camera.yaml"
    path.write_text("exposure_time_us: 2.5e1\nline_rate_hz: 2e3\ndevice: 22E00451\n", encoding="utf-8")
    config = load_camera_config(path)
    assert math.isclose(config.line_rate_hz, 2000.0) and math.isclose(config.exposure_time_us, 25.0)
    assert config.device == "22E00451"
    path.write_text("line_rate_hz: 1e999\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"key 'line_rate_hz' must be a finite number > 0"):
        load_camera_config(path)
