"""YAML values: exponent floats without a dot (``1e-1``) are numbers in every edgeinspect YAML file."""

from __future__ import annotations

import math

import pytest
import yaml

from edgeinspect.acquire.camera_config import load_camera_config
from edgeinspect.config import load_run_config
from edgeinspect.errors import ConfigError
from edgeinspect.stream.area import load_calibration
from edgeinspect.yamlio import load_yaml


@pytest.mark.parametrize("text, value", [
    ("1e-4", 1e-4), ("5E3", 5000.0), ("1.0e5", 1e5), ("-2.5e+3", -2500.0), (".5e2", 50.0),
    ("1_000e3", 1e6), ("1.5", 1.5), ("12", 12), ("0x1F", 31),
])
def test_numbers_including_yaml_1_2_exponent_floats(text, value):
    loaded = load_yaml(text)
    assert loaded == value and type(loaded) is type(value)


@pytest.mark.parametrize("text", ["1e", "e5", "1e4x", "1.2.3e4", "e"])
def test_things_that_are_not_numbers_stay_strings(text):
    assert load_yaml(text) == text


def test_pyyaml_itself_is_left_alone():
    load_yaml("a: 1e-4")
    assert yaml.safe_load("a: 1e-4") == {"a": "1e-4"}  # the rule lives in our loader, not PyYAML's


def test_a_calibration_written_with_exponents_loads(tmp_path):
    path = tmp_path / "cam.yaml"
    path.write_text("mm_per_px: 1e-1\nmm_per_line: 5E-2\nreject_area_mm2: 1e0\nsignificant_area_mm2: 2.5e-1\n", encoding="utf-8")
    calibration = load_calibration(path)
    assert calibration.mm_per_line == pytest.approx(0.05)
    assert calibration.mm_per_px_poly == pytest.approx((0.1,))
    assert calibration.significant_area_mm2 == pytest.approx(0.25)


def test_a_run_config_with_an_exponent_threshold_loads_and_an_overflow_is_named(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("threshold: 2e-1\n", encoding="utf-8")
    assert load_run_config(path).threshold == pytest.approx(0.2)
    path.write_text("threshold: 1e309\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"run\.yaml: key 'threshold' must be finite, got inf"):
        load_run_config(path)


def test_a_camera_config_with_an_exponent_exposure_loads(tmp_path):
    path = tmp_path / "camera.yaml"
    path.write_text("exposure_time_us: 2.5e1\nline_rate_hz: 2e3\n", encoding="utf-8")
    config = load_camera_config(path)
    assert math.isclose(config.line_rate_hz, 2000.0) and math.isclose(config.exposure_time_us, 25.0)
