"""``calib check``: area-uncertainty arithmetic (hand-computed) and the command's output."""

from __future__ import annotations

import json
import math

import pytest

from edgeinspect.calibration.budget import area_budget, calibration_errors, check_calibration, smallest_area_within
from edgeinspect.calibration.writer import render_calibration
from edgeinspect.cli import main
from edgeinspect.errors import EdgeInspectError

KEYS = {"width_px": 1000, "mm_per_px": 0.1, "mm_per_line": 0.1, "reject_area_mm2": 1.0, "significant_area_mm2": 0.25}


@pytest.fixture()
def calib(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(render_calibration(KEYS, {"across": {"residual_pct": 0.4},
                                              "along": {"rel_err_pct": 0.6, "rel_err_basis": "encoder vs board"}}))
    return path


def test_budget_of_a_one_mm2_defect_by_hand(calib):
    errors = calibration_errors(calib)
    assert (errors.rel_err_x, errors.rel_err_y) == pytest.approx((0.004, 0.006))
    budget = area_budget(1.0, errors)
    # disk of 1 mm²: r = 0.5642 mm, perimeter 3.5449 mm; half a pixel 0.05 mm → 0.17725 mm² → 17.72 %
    assert budget.diameter_mm == pytest.approx(2 * math.sqrt(1 / math.pi))
    assert budget.boundary == pytest.approx(2 * math.pi * math.sqrt(1 / math.pi) * 0.05, rel=1e-12)
    assert budget.boundary == pytest.approx(0.177245, rel=1e-5)
    assert budget.total == pytest.approx(0.004 + 0.006 + 0.177245, rel=1e-5)
    assert budget.remaining == pytest.approx(0.2 - 0.187245, rel=1e-4) and budget.within
    assert budget.size_px == pytest.approx(11.28, abs=0.01)


def test_small_defects_exceed_the_budget_and_the_threshold_size_is_exact(calib):
    errors = calibration_errors(calib)
    assert not area_budget(0.25, errors).within                 # boundary alone 35 %
    smallest = smallest_area_within(errors)
    # 2 h / r = 0.2 - 0.01 → r = 0.1 / 0.19 mm
    assert smallest == pytest.approx(math.pi * (0.1 / 0.19) ** 2)
    assert area_budget(smallest, errors).remaining == pytest.approx(0.0, abs=1e-12)


def test_non_square_pixels_use_the_geometric_mean_half_pixel(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(render_calibration({**KEYS, "mm_per_line": 0.4}, None))
    budget = area_budget(4.0, calibration_errors(path))
    assert budget.boundary == pytest.approx(2 * 0.5 * math.sqrt(0.1 * 0.4) / math.sqrt(4 / math.pi))


def test_file_without_metadata_counts_zero_and_says_so(tmp_path):
    path = tmp_path / "plain.yaml"
    path.write_text(render_calibration(KEYS, None))
    errors = calibration_errors(path)
    assert errors.rel_err_x == errors.rel_err_y == 0.0 and "unknown" in errors.basis_x
    given = calibration_errors(path, rel_err_x_pct=1.0, rel_err_y_pct=2.0)
    assert (given.rel_err_x, given.rel_err_y) == pytest.approx((0.01, 0.02))


def test_default_sizes_are_the_files_thresholds(calib):
    check = check_calibration(calib)
    assert [b.area_mm2 for b in check.budgets] == [0.25, 1.0, 10.0]
    assert check.aspect_ratio == pytest.approx(1.0)


def test_calibration_eating_the_budget_has_no_smallest_size(calib):
    assert check_calibration(calib, [1.0], rel_err_x_pct=15, rel_err_y_pct=6).smallest_mm2 is None


def test_bad_area_is_an_error(calib):
    with pytest.raises(EdgeInspectError, match="--defect-mm2 must be > 0"):
        check_calibration(calib, [0.0])


def test_cli_check_json_and_table(calib, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["calib", "check", str(calib), "--defect-mm2", "1", "--defect-mm2", "4", "--json"])
    assert exit_info.value.code == 0
    data = json.loads(capsys.readouterr().out)
    assert [d["area_mm2"] for d in data["defects"]] == [1.0, 4.0]
    assert data["defects"][0]["total"] == pytest.approx(0.187245, rel=1e-5)
    with pytest.raises(SystemExit):
        main(["calib", "check", str(calib)])
    out = capsys.readouterr().out
    assert "area budget ±20 %" in out and "smallest defect inside the budget" in out


def test_cli_check_missing_file_is_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["calib", "check", str(tmp_path / "nope.yaml")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "nope.yaml" in err and "Traceback" not in err


def test_cli_check_refuses_a_polynomial_reaching_zero_inside_the_metadata_width(tmp_path, capsys):
    """As `run` refuses it: the width comes from the `calib camera` metadata, not a `width_px` key."""
    path = tmp_path / "poly.yaml"
    path.write_text("mm_per_px_poly: [0.1, -0.0001]\nmm_per_line: 0.1\nreject_area_mm2: 1\n"
                    "significant_area_mm2: 0.25\nmeta:\n  across:\n    width_px: 2048\n", encoding="utf-8")
    with pytest.raises(SystemExit) as exit_info:
        main(["calib", "check", str(path)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"error: {path}: key 'mm_per_px_poly' gives a width <= 0 at column 1000 (0 mm): "
                   "fix the coefficients")
