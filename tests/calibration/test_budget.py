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


BASE = "mm_per_px: 0.1\nmm_per_line: 0.1\nreject_area_mm2: 1\nsignificant_area_mm2: 0.25\n"


def run_check(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["calib", "check", *argv])
    captured = capsys.readouterr()
    return exit_info.value.code, captured.out, captured.err


@pytest.mark.parametrize("meta, message", [
    ("meta: {across: {residual_pct: abc}}", "key 'meta.across.residual_pct' must be a number, got 'abc'"),
    ("meta: {across: {residual_pct: .nan}}", "key 'meta.across.residual_pct' must be finite, got nan"),
    ("meta: {across: {residual_pct: -1}}", "key 'meta.across.residual_pct' must be >= 0, got -1"),
    ("meta: {across: {width_px: wide}}", "key 'meta.across.width_px' must be an integer, got 'wide'"),
    ("meta: {across: {width_px: 0.5}}", "key 'meta.across.width_px' must be an integer, got 0.5"),  # was nan mm², rc 0
    ("meta: {across: {width_px: 0}}", "key 'meta.across.width_px' must be >= 1, got 0"),
    ("meta: {across: {width_px: 10000000}}", "key 'meta.across.width_px' must be <= 1000000 px, got 10000000"),
    ("meta: {along: 5}", "key 'meta.along' must be a mapping (as `calib camera` writes it), got 5"),
    ("meta: {across: [1, 2]}", "key 'meta.across' must be a mapping (as `calib camera` writes it), got [1, 2]"),
    ("meta: 5", "key 'meta' must be a mapping (as `calib camera` writes it), got 5"),
    # the value came from the file, not from --rel-err-y-pct: the file and the key are named
    ("meta: {along: {rel_err_pct: -5}}", "key 'meta.along.rel_err_pct' must be >= 0, got -5"),
])
def test_cli_check_names_the_file_and_the_meta_key(tmp_path, capsys, meta, message):
    path = tmp_path / "c.yaml"
    path.write_text(BASE + meta + "\n")
    code, out, err = run_check([str(path)], capsys)
    assert (code, out, err) == (2, "", f"error: {path}: {message}\n")


def test_meta_values_the_options_override_are_still_checked_and_empty_sections_are_fine(tmp_path, capsys):
    path = tmp_path / "c.yaml"
    path.write_text(BASE + "meta: {across: null, along: {}, images: [a.png], other: x}\n")
    errors = calibration_errors(path)
    assert errors.rel_err_x == errors.rel_err_y == 0.0 and "unknown" in errors.basis_x
    path.write_text(BASE + "meta: {across: {residual_pct: 0.4, width_px: 1000}, along: {rel_err_pct: 0.6, "
                           "rel_err_basis: 7}}\n")
    errors = calibration_errors(path)
    assert (errors.rel_err_x, errors.rel_err_y, errors.basis_y, errors.width_px) == (0.004, 0.006, "7", 1000)


@pytest.mark.parametrize("argv, message", [
    (["--rel-err-x-pct", "inf"], "--rel-err-x-pct must be finite, got inf"),
    (["--rel-err-y-pct", "inf"], "--rel-err-y-pct must be finite, got inf"),  # typer's min=0 lets inf through
    (["--defect-mm2", "inf"], "--defect-mm2 must be finite, got inf"),   # printed Infinity/NaN, rc 0
    (["--defect-mm2", "nan", "--json"], "--defect-mm2 must be finite, got nan"),
    (["--defect-mm2", "0"], "--defect-mm2 must be > 0, got 0.0"),
])
def test_cli_check_names_the_option_when_the_value_came_from_it(calib, capsys, argv, message):
    code, out, err = run_check([str(calib), *argv], capsys)
    assert (code, out, err) == (2, "", f"error: {message}\n")


def test_api_names_the_option_for_a_nan_error_pct(calib):
    with pytest.raises(EdgeInspectError) as info:
        calibration_errors(calib, rel_err_y_pct=float("nan"))
    assert str(info.value) == "--rel-err-y-pct must be finite, got nan"
    with pytest.raises(EdgeInspectError) as info:
        calibration_errors(calib, rel_err_x_pct=-1.0)
    assert str(info.value) == "--rel-err-x-pct must be >= 0, got -1"


def test_a_huge_reject_area_gives_finite_default_sizes(tmp_path, capsys):
    """The default sizes include 10 × reject_area_mm2: 10 × 1e308 is inf, left out rather than printed as NaN."""
    path = tmp_path / "c.yaml"
    path.write_text(BASE.replace("reject_area_mm2: 1\n", "reject_area_mm2: 1e308\n"))
    code, out, _ = run_check([str(path), "--json"], capsys)
    assert code == 0 and "Infinity" not in out and "NaN" not in out
    assert [d["area_mm2"] for d in json.loads(out)["defects"]] == [0.25, 1e308]


def test_cli_check_exits_1_when_the_calibration_alone_exceeds_the_budget(tmp_path, capsys):
    """A go-live check (README "Commissioning a line"): a script running it stops at a bad calibration."""
    path = tmp_path / "c.yaml"
    path.write_text(BASE + "meta: {across: {residual_pct: 15}, along: {rel_err_pct: 6, rel_err_basis: encoder}}\n")
    code, out, err = run_check([str(path), "--defect-mm2", "1"], capsys)
    assert (code, err) == (1, "") and out.rstrip().endswith("the calibration alone exceeds the budget: recalibrate")
    code, out, err = run_check([str(path), "--json"], capsys)
    assert (code, err) == (1, "") and json.loads(out)["smallest_mm2"] is None
    # inside the budget: 0, also when the rows of small defects are over it (the pixel grid alone)
    code, out, _ = run_check([str(path), "--defect-mm2", "0.25", "--rel-err-x-pct", "0", "--rel-err-y-pct", "0"], capsys)
    assert code == 0 and "smallest defect inside the budget" in out
