"""mm/px across the web from synthetic line-scan images of a checkerboard / line target with known truth."""

from __future__ import annotations

import numpy as np
import pytest
from calib_targets import LINE_PITCH_MM, SQUARE_MM, TRUE_MM_PER_PX, Camera, checkerboard, render

from edgeinspect.calibration.camera import find_edges, measure_across, measure_along
from edgeinspect.errors import EdgeInspectError

BUDGET = 0.005  # 0.5 %


def max_relative_error(fit, camera: Camera) -> float:
    return float(np.max(np.abs(fit.column_mm() / camera.column_mm() - 1)))


def test_checkerboard_without_distortion_is_degree_zero_within_half_a_percent(flat_board, flat_camera):
    fit = measure_across([flat_board], target="checkerboard", pitch_mm=SQUARE_MM)
    assert fit.degree == 0
    assert fit.poly[0] == pytest.approx(TRUE_MM_PER_PX, rel=BUDGET)
    assert max_relative_error(fit, flat_camera) < BUDGET
    assert fit.distortion_pct == 0.0
    assert fit.residual_rms_mm < 0.05 and 0 < fit.residual_pct < 0.5
    assert fit.coverage > 0.9 and not fit.warnings


def test_checkerboard_with_barrel_distortion_fits_a_polynomial_per_column(barrel_board, barrel_camera):
    fit = measure_across([barrel_board], target="checkerboard", pitch_mm=SQUARE_MM)
    truth = barrel_camera.column_mm()
    assert fit.degree >= 2                       # a constant cannot follow 1.8 % of distortion
    assert max_relative_error(fit, barrel_camera) < BUDGET
    assert fit.distortion_pct == pytest.approx(100 * (truth.max() - truth.min()) / truth.mean(), abs=0.3)
    # the residual is reported (mm and %), and the chosen degree fits far better than a constant
    assert fit.residual_rms_mm > 0 and fit.residual_pct > 0
    assert fit.degree_rms_mm[fit.degree] < 0.5 * fit.degree_rms_mm[0]
    assert fit.fit_uncertainty_pct > 0


def test_line_target_with_distortion_within_half_a_percent(barrel_lines, barrel_camera):
    fit = measure_across([barrel_lines], target="lines", pitch_mm=LINE_PITCH_MM)
    assert fit.degree >= 2
    assert max_relative_error(fit, barrel_camera) < BUDGET


def test_several_frames_are_pooled_and_16_bit_images_work(barrel_camera):
    frames = [render(checkerboard(SQUARE_MM), barrel_camera, lines=80, first_line=80 * i, seed=10 + i,
                     dtype=np.uint16) for i in range(3)]
    fit = measure_across(frames, target="checkerboard", pitch_mm=SQUARE_MM)
    one = measure_across(frames[:1], target="checkerboard", pitch_mm=SQUARE_MM)
    assert fit.images == 3 and fit.rows > one.rows
    assert max_relative_error(fit, barrel_camera) < BUDGET


def test_checkerboard_gives_mm_per_line_along_a_stretched_image():
    camera = Camera(width=512, mm_per_px=0.1234, mm_per_line=0.1789)  # encoder divider wrong: not square
    image = render(checkerboard(SQUARE_MM), camera, lines=320, seed=4)
    along = measure_along([image], square_mm=SQUARE_MM)
    assert along is not None
    assert along.mm_per_line == pytest.approx(0.1789, rel=BUDGET)
    across = measure_across([image], target="checkerboard", pitch_mm=SQUARE_MM)
    assert across.poly[0] == pytest.approx(0.1234, rel=BUDGET)   # across unaffected by the stretch


def test_edges_are_sub_pixel():
    camera = Camera(width=256, mm_per_px=0.1, mm_per_line=0.1)
    image = render(checkerboard(2.0, phase_mm=(0.0, 0.05)), camera, lines=16, noise=0.0, seed=0)
    rows, u, polarity = find_edges(image)
    row = rows == rows[0]
    # true edges at x = k * 2 mm from the centre: u = 128 + k * 20 px
    expected = 128 + 20 * np.round((u[row] - 128) / 20)
    assert np.max(np.abs(u[row] - expected)) < 0.05
    assert set(polarity[row].tolist()) == {-1, 1}


def test_blank_image_names_what_to_check():
    with pytest.raises(EdgeInspectError, match="edge intervals.*focus"):
        measure_across([np.full((64, 512), 128, np.uint8)], target="checkerboard", pitch_mm=5.0)


def test_noise_is_not_a_target():
    noise = np.random.default_rng(0).integers(0, 256, (96, 512), dtype=np.uint8)
    with pytest.raises(EdgeInspectError, match="regular pitch"):
        measure_across([noise], target="checkerboard", pitch_mm=5.0)
    assert measure_along([noise], square_mm=5.0) is None


def test_a_woven_texture_is_not_a_target():
    from edgeinspect.data.synth import SyntheticWeb

    fabric = SyntheticWeb(1024, texture="fabric", seed=1).render(0, 192).image
    with pytest.raises(EdgeInspectError, match="scatters by .* about the best fit"):
        measure_across([fabric], target="checkerboard", pitch_mm=5.0)


def test_images_of_different_widths_are_refused(flat_board):
    with pytest.raises(EdgeInspectError, match="same camera setup"):
        measure_across([flat_board, flat_board[:, :512]], target="checkerboard", pitch_mm=SQUARE_MM)


def test_an_image_without_the_target_is_named_in_a_warning_and_changes_nothing(flat_board):
    alone = measure_across([flat_board], target="checkerboard", pitch_mm=SQUARE_MM)
    blank = np.full_like(flat_board, 128)
    fit = measure_across([flat_board, blank], target="checkerboard", pitch_mm=SQUARE_MM)
    assert fit.warnings == ("image 2 of 2 shows no edge of the target: it adds nothing to the fit",)
    np.testing.assert_allclose(fit.poly, alone.poly)


def test_narrow_target_warns_about_extrapolation(flat_camera):
    image = render(checkerboard(SQUARE_MM), flat_camera, lines=120, seed=5)
    image[:, :400] = 128
    image[:, 700:] = 128
    fit = measure_across([image], target="checkerboard", pitch_mm=SQUARE_MM)
    assert fit.coverage < 0.5
    assert any("extrapolated" in w for w in fit.warnings)
    covered = slice(int(fit.coverage_px[0]) + 1, int(fit.coverage_px[1]))
    assert np.max(np.abs(fit.column_mm()[covered] / flat_camera.column_mm()[covered] - 1)) < BUDGET
