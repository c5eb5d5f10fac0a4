"""Calibration YAML and AreaEstimator: hand-computed areas (scalar and per-column polynomial), errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgeinspect.errors import ConfigError
from edgeinspect.stream.area import AreaEstimator, load_calibration
from edgeinspect.stream.records import Blob

REPO = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str, name: str = "cam.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_default_calibration_is_the_synthetic_web(tmp_path):
    calib = load_calibration(REPO / "edgeinspect" / "assets" / "synthetic-web.yaml")
    assert calib.mm_per_px_poly == (0.1,) and calib.mm_per_line == 0.1
    area = AreaEstimator(calib, width_px=64)
    assert area.area_mm2(np.ones((3, 2), bool), x0=10) == pytest.approx(6 * 0.1 * 0.1)


def test_polynomial_columns_and_encoder_pitch_hand_computed(tmp_path):
    path = write(tmp_path, """
mm_per_px_poly: [0.1, 0.001]     # column c is 0.1 + 0.001 c mm wide
encoder_pitch_mm: 0.05
pulses_per_line: 4               # 0.2 mm per line
reject_area_mm2: 0.1
significant_area_mm2: 0.01
""")
    calib = load_calibration(path)
    assert calib.mm_per_line == pytest.approx(0.2)
    area = AreaEstimator(calib, width_px=100)
    # a 2-line × 3-column block at columns 10..12: 2 × 0.2 × (0.110 + 0.111 + 0.112)
    assert area.area_mm2(np.ones((2, 3), bool), x0=10) == pytest.approx(0.1332)
    # an L: column 10 has 2 pixels, 11 and 12 one each: 0.2 × (2×0.110 + 0.111 + 0.112)
    ell = np.array([[1, 1, 1], [1, 0, 0]], bool)
    assert area.area_mm2(ell, x0=10) == pytest.approx(0.0886)

    blob = Blob(bbox_px=(10, 50, 13, 52), mask=ell, prob=np.array([[0.9, 0.7, 0.6], [0.8, 0.1, 0.2]], np.float32))
    defect = area.defect(blob, 7)
    # column edges: x mm = 0.1 x + 0.001 x (x - 1) / 2 → 1.045 at 10, 1.378 at 13
    assert defect.bbox_mm == pytest.approx((1.045, 10.0, 1.378, 10.4))
    assert defect.width_mm == pytest.approx(0.333) and defect.length_mm == pytest.approx(0.4)
    assert defect.area_px == 4 and defect.area_mm2 == pytest.approx(0.0886) == defect.mask_area_mm2
    assert defect.area_mm2_min == pytest.approx(0.0886 * 0.8) and defect.area_mm2_max == pytest.approx(0.0886 * 1.2)
    assert defect.max_prob == pytest.approx(0.9) and defect.mean_prob == pytest.approx((0.9 + 0.7 + 0.6 + 0.8) / 4)
    assert defect.verdict == "accept" and defect.first_line == 50 and defect.last_line == 51
    assert defect.kind is None and defect.id == 7


def test_web_speed_over_line_rate_and_verdict(tmp_path):
    path = write(tmp_path, """
mm_per_px: 0.05
web_speed_mm_s: 2000
line_rate_hz: 20000
reject_area_mm2: 0.5
significant_area_mm2: 0.1
""")
    area = AreaEstimator(load_calibration(path), width_px=10)
    assert area.mm_per_line == pytest.approx(0.1)
    assert area.verdict(0.5) == "reject" and area.verdict(0.49) == "accept"
    # truth without a mask: area_px × mean column width × pitch
    truth = area.truth(3, "crack", (0, 0, 4, 10), area_px=20)
    assert truth.area_mm2 == pytest.approx(20 * 0.05 * 0.1)


BAD = [
    ("mm_per_line: 0.1\nreject_area_mm2: 1\nsignificant_area_mm2: 0.2\n", "missing key 'mm_per_px'"),
    ("mm_per_px: -0.1\nmm_per_line: 0.1\nreject_area_mm2: 1\nsignificant_area_mm2: 0.2\n", "key 'mm_per_px' must be > 0"),
    ("mm_per_px: 0.1\nmm_per_line: 0.1\nreject_area_mm2: 1\nsignificant_area_mm2: 0.2\nmm_per_pixel: 3\n",
     "unknown key 'mm_per_pixel'"),
    ("mm_per_px: 0.1\nmm_per_line: 0.1\nsignificant_area_mm2: 0.2\n", "missing key 'reject_area_mm2'"),
    ("mm_per_px: 0.1\nmm_per_line: 0.1\nweb_speed_mm_s: 5\nreject_area_mm2: 1\nsignificant_area_mm2: 0.2\n",
     "exclude each other"),
    ("mm_per_px: 0.1\nmm_per_line: x\nreject_area_mm2: 1\nsignificant_area_mm2: 0.2\n", "key 'mm_per_line' must be a number"),
    ("mm_per_px_poly: [0.1, -0.01]\nwidth_px: 100\nmm_per_line: 0.1\nreject_area_mm2: 1\nsignificant_area_mm2: 0.2\n",
     "key 'mm_per_px_poly' gives a width <= 0 at column 10"),
    ("- a\n- b\n", "must be a mapping"),
]


@pytest.mark.parametrize("text, message", BAD)
def test_bad_calibration_is_one_line_naming_file_and_key(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_calibration(path)
    text = str(info.value)
    assert message in text and str(path) in text and "\n" not in text


def test_calibration_for_another_width_is_refused(tmp_path):
    path = write(tmp_path, "mm_per_px: 0.1\nwidth_px: 4096\nmm_per_line: 0.1\nreject_area_mm2: 1\nsignificant_area_mm2: 0\n")
    with pytest.raises(ConfigError, match="key 'width_px' is 4096 but the camera delivers 2048 px"):
        AreaEstimator(load_calibration(path), width_px=2048)


def test_probability_area_weights_each_halo_pixel_by_its_probability_and_column_width(tmp_path):
    path = write(tmp_path, "mm_per_px_poly: [0.1, 0.001]\nmm_per_line: 0.2\nreject_area_mm2: 1\nsignificant_area_mm2: 0\n")
    calib = load_calibration(path)
    ell = np.array([[1, 1, 1], [1, 0, 0]], bool)
    prob = np.array([[0.9, 0.7, 0.6], [0.8, 0.1, 0.2]], np.float32)
    halo = np.array([[0.0, 0.25, 0.5, 0.5],      # columns 9..12, lines 49..51: the ell's pixels and
                     [0.0, 0.9, 0.7, 0.6],       # a halo of probabilities below the threshold
                     [0.5, 0.8, 0.1, 0.2]], np.float32)
    blob = Blob(bbox_px=(10, 50, 13, 52), mask=ell, prob=prob, halo_prob=halo, halo_origin=(9, 49))
    by_mass = AreaEstimator(calib, width_px=100).defect(blob, 1)
    by_mask = AreaEstimator(calib, width_px=100, area_from="mask").defect(blob, 1)
    # per column: 9: 0.5 × 0.109, 10: 1.95 × 0.110, 11: 1.3 × 0.111, 12: 1.3 × 0.112; × 0.2 mm per line
    expected = 0.2 * (0.5 * 0.109 + 1.95 * 0.110 + 1.3 * 0.111 + 1.3 * 0.112)
    assert by_mass.area_mm2 == pytest.approx(expected) and by_mass.mask_area_mm2 == pytest.approx(0.0886)
    assert by_mass.area_mm2_max == pytest.approx(expected * 1.2) and by_mass.area_px == 4
    assert by_mask.area_mm2 == pytest.approx(0.0886) == by_mask.mask_area_mm2
    # a blob without a halo (a tracker with halo_px 0) is measured by its mask either way
    plain = Blob(bbox_px=(10, 50, 13, 52), mask=ell, prob=prob)
    assert AreaEstimator(calib, width_px=100).defect(plain, 2).area_mm2 == pytest.approx(0.0886)
    with pytest.raises(ValueError, match="area_from"):
        AreaEstimator(calib, width_px=100, area_from="pixels")


def test_equal_columns_are_measured_as_the_per_column_sum(tmp_path):
    calib = load_calibration(write(tmp_path, "mm_per_px: 0.1\nmm_per_line: 0.2\nreject_area_mm2: 1\nsignificant_area_mm2: 0\n"))
    equal = AreaEstimator(calib, width_px=100)
    per_column = AreaEstimator(calib, width_px=100)
    per_column.pixel_mm2 = None  # the general path: Σ column width × pixels per column
    assert equal.pixel_mm2 == pytest.approx(0.02)
    rng = np.random.default_rng(0)
    mask = rng.random((30, 40)) < 0.3
    weights = rng.random((30, 40)).astype(np.float32)
    assert equal.area_mm2(mask, 7) == pytest.approx(per_column.area_mm2(mask, 7), rel=1e-12)
    assert equal.mass_mm2(weights, 7) == pytest.approx(per_column.mass_mm2(weights, 7), rel=1e-12)
    assert type(equal.area_mm2(mask, 7)) is float
    poly = write(tmp_path, "mm_per_px_poly: [0.1, 0.001]\nmm_per_line: 0.2\nreject_area_mm2: 1\nsignificant_area_mm2: 0\n",
                 "poly.yaml")
    assert AreaEstimator(load_calibration(poly), width_px=100).pixel_mm2 is None


def test_a_blob_with_the_trackers_peak_and_mean_is_recorded_with_them(tmp_path):
    area = AreaEstimator(load_calibration(REPO / "edgeinspect" / "assets" / "synthetic-web.yaml"), width_px=100)
    ell = np.array([[1, 1, 1], [1, 0, 0]], bool)
    prob = np.array([[0.9, 0.7, 0.6], [0.8, 0.1, 0.2]], np.float32)
    plain = area.defect(Blob(bbox_px=(10, 50, 13, 52), mask=ell, prob=prob), 1)
    given = area.defect(Blob(bbox_px=(10, 50, 13, 52), mask=ell, prob=prob, max_prob=0.95, mean_prob=0.5), 1)
    assert plain.max_prob == pytest.approx(0.9) and plain.mean_prob == pytest.approx(0.75)
    assert (given.max_prob, given.mean_prob) == (0.95, 0.5) and given.area_px == plain.area_px == 4


AREAS = "reject_area_mm2: 1\nsignificant_area_mm2: 0.25\n"
PITCH_RANGE = "[1e-06, 1000] mm"


@pytest.mark.parametrize("text, message", [
    ("mm_per_px: 1e308\nmm_per_line: 0.1\n",
     f"key 'mm_per_px' must be in {PITCH_RANGE} per pixel (outside that it is a typo), got 1e+308"),
    ("mm_per_px: 1000.5\nmm_per_line: 0.1\n",
     f"key 'mm_per_px' must be in {PITCH_RANGE} per pixel (outside that it is a typo), got 1000.5"),
    # a normal float under the bound: a denormal (1e-320) reads as 0.0 once ONNX Runtime has set
    # denormals-are-zero in the thread (an engine session opened earlier in the process)
    ("mm_per_px: 1e-9\nmm_per_line: 0.1\n",
     f"key 'mm_per_px' must be in {PITCH_RANGE} per pixel (outside that it is a typo), got 1e-09"),
    ("mm_per_px: 0.1\nmm_per_line: 1e308\n",
     f"key 'mm_per_line' must be in {PITCH_RANGE} per line (outside that it is a typo), got 1e+308"),
    ("mm_per_px_poly: [2000, 0.1]\nmm_per_line: 0.1\n",
     f"key 'mm_per_px_poly' must have a0 (width of column 0) in {PITCH_RANGE} per pixel (outside that it is a typo), "
     f"got 2000.0"),
    ("mm_per_px_poly: [0.1, 1]\nwidth_px: 2048\nmm_per_line: 0.1\n",  # 0.1 + c mm: over 1000 mm from column 1000
     f"key 'mm_per_px_poly' gives a width of 1000.1 mm at column 1000, outside {PITCH_RANGE} per pixel: "
     f"fix the coefficients"),
    ("mm_per_px_poly: [0.1, 1e300, 1e300]\nwidth_px: 100\nmm_per_line: 0.1\n",  # overflows to inf in float64
     f"key 'mm_per_px_poly' gives a width of 2e+300 mm at column 1, outside {PITCH_RANGE} per pixel: "
     f"fix the coefficients"),
    ("mm_per_px: 0.1\nencoder_pitch_mm: 5000\n",
     f"key 'encoder_pitch_mm' must be in {PITCH_RANGE} per pulse (outside that it is a typo), got 5000.0"),
    ("mm_per_px: 0.1\nencoder_pitch_mm: 500\npulses_per_line: 3\n",
     f"keys 'encoder_pitch_mm' × 'pulses_per_line' must give a line pitch in {PITCH_RANGE} per line "
     f"(outside that it is a typo), got 500.0 × 3"),
    ("mm_per_px: 0.1\nweb_speed_mm_s: 1e308\nline_rate_hz: 1e-300\n",  # the quotient overflows to inf
     f"keys 'web_speed_mm_s' / 'line_rate_hz' must give a line pitch in {PITCH_RANGE} per line "
     f"(outside that it is a typo), got 1e+308 / 1e-300"),
    ("mm_per_px: 0.1\nweb_speed_mm_s: 1e-300\nline_rate_hz: 1e300\n",  # ... or underflows to 0
     f"keys 'web_speed_mm_s' / 'line_rate_hz' must give a line pitch in {PITCH_RANGE} per line "
     f"(outside that it is a typo), got 1e-300 / 1e+300"),
    ("mm_per_px: 0.1\nmm_per_line: 0.1\nwidth_px: 1000000000000\n",  # would allocate 8 TB of column widths
     "key 'width_px' must be <= 1000000 px, got 1000000000000"),
    ("mm_per_px: 0.1\nmm_per_line: 1" + "0" * 400 + "\n",  # an int no float holds: float() raised OverflowError
     "key 'mm_per_line' must be finite, got 1" + "0" * 39 + "… (401 characters)"),
])
def test_pitches_outside_a_physical_range_are_refused_naming_the_key(tmp_path, text, message):
    path = write(tmp_path, text + AREAS)
    with pytest.raises(ConfigError) as info:
        load_calibration(path)
    assert str(info.value) == f"{path}: {message}"


def test_pitches_at_the_bounds_load_and_give_finite_areas(tmp_path):
    calib = load_calibration(write(tmp_path, "mm_per_px: 1000\nmm_per_line: 1000\n" + AREAS))
    area = AreaEstimator(calib, width_px=4096)
    assert area.area_mm2(np.ones((4, 4096), bool)) == pytest.approx(4 * 4096 * 1e6)
    assert load_calibration(write(tmp_path, "mm_per_px: 1e-6\nmm_per_line: 1e-6\n" + AREAS, "small.yaml"))


def test_a_polynomial_over_the_bound_within_the_run_width_is_refused_by_the_estimator(tmp_path):
    """Without width_px the polynomial is checked against the width the camera delivers."""
    calib = load_calibration(write(tmp_path, "mm_per_px_poly: [0.1, 1]\nmm_per_line: 0.1\n" + AREAS))
    assert AreaEstimator(calib, width_px=1000).column_mm[-1] == pytest.approx(999.1)
    with pytest.raises(ConfigError) as info:
        AreaEstimator(calib, width_px=2048)
    assert str(info.value) == (f"{calib.path}: key 'mm_per_px_poly' gives a width of 1000.1 mm at column 1000, "
                               f"outside {PITCH_RANGE} per pixel: fix the coefficients")


def test_run_refuses_an_overflowing_calibration_before_writing_defects(tmp_path, capsys):
    """mm_per_px = mm_per_line = 1e308 used to write Infinity/NaN (not JSON) into defects.jsonl."""
    from edgeinspect.cli import main

    path = write(tmp_path, "mm_per_px: 1e308\nmm_per_line: 1e308\n" + AREAS)
    out = tmp_path / "run"
    with pytest.raises(SystemExit) as exit_info:
        main(["run", "--camera", "sim", "--lines", "256", "--calib", str(path), "--out", str(out)])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == (f"error: {path}: key 'mm_per_px' must be in {PITCH_RANGE} per pixel "
                                       f"(outside that it is a typo), got 1e+308\n")
    assert not (out / "defects.jsonl").exists()
