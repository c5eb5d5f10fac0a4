"""``calib camera``: the written YAML loads in ``run``, and areas from it match the synthetic truth within 0.5 %."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from calib_targets import SQUARE_MM, TRUE_MM_PER_LINE, Camera, checkerboard, disk_masks, render
from typer.testing import CliRunner

from edgeinspect.calibration import calibrate_camera, from_encoder, read_meta
from edgeinspect.calibration.writer import render_calibration
from edgeinspect.cli import main
from edgeinspect.cli.app import app
from edgeinspect.errors import EdgeInspectError
from edgeinspect.stream.area import AreaEstimator, Calibration, load_calibration

BUDGET = 0.005


def true_calibration(camera: Camera) -> Calibration:
    return Calibration(path=None, mm_per_px_poly=camera.column_poly(), mm_per_line=camera.mm_per_line,
                       reject_area_mm2=1.0, significant_area_mm2=0.25, width_px=camera.width)


def test_true_polynomial_is_the_rendered_column_widths(barrel_camera):
    assert np.allclose(true_calibration(barrel_camera).column_mm(barrel_camera.width), barrel_camera.column_mm(),
                       rtol=1e-12)


@pytest.fixture(scope="module")
def written(tmp_path_factory, board_png):
    out = tmp_path_factory.mktemp("calib") / "line3.yaml"
    along = from_encoder(TRUE_MM_PER_LINE / 2, 2)  # the true encoder setup: 2 pulses per line
    return calibrate_camera([board_png], target="checkerboard", pitch_mm=SQUARE_MM, out=out, along=along)


def test_written_yaml_loads_with_run_s_loader(written, barrel_camera):
    calibration = load_calibration(written.path)
    assert calibration.width_px == barrel_camera.width
    assert len(calibration.mm_per_px_poly) == written.across.degree + 1 >= 3
    assert calibration.mm_per_line == pytest.approx(TRUE_MM_PER_LINE, rel=1e-12)
    assert calibration.reject_area_mm2 == 1.0 and calibration.significant_area_mm2 == 0.25
    text = written.path.read_text()
    assert "encoder_pitch_mm:" in text and "pulses_per_line: 2" in text


def test_metadata_records_images_date_figures_and_residuals(written, board_png):
    meta = read_meta(written.path)
    assert meta["images"] == [str(board_png)]
    assert meta["date"][:4].isdigit() and meta["written_by"].startswith("edgeinspect calib camera")
    assert meta["target"] == {"kind": "checkerboard", "pitch_mm": SQUARE_MM}
    across = meta["across"]
    assert across["degree"] == written.across.degree and across["width_px"] == 1024
    assert 0 < across["residual_pct"] < 0.5 and across["residual_rms_mm"] > 0
    assert meta["along"]["method"] == "encoder"
    # a checkerboard also measured mm/line: the uncertainty is the measured difference, small here
    assert abs(meta["along"]["target_vs_setup_pct"]) < 0.5
    assert meta["along"]["rel_err_pct"] == pytest.approx(max(abs(meta["along"]["target_vs_setup_pct"]),
                                                             meta["along"]["target_fit_uncertainty_pct"]))
    assert meta["aspect_ratio"] == pytest.approx(1.0, abs=0.01) and meta["warnings"] == []


def test_areas_from_the_recovered_calibration_match_the_truth(written, barrel_camera):
    recovered = AreaEstimator(load_calibration(written.path), barrel_camera.width)
    truth = AreaEstimator(true_calibration(barrel_camera), barrel_camera.width)
    for x0, mask in disk_masks(barrel_camera.width, radius_px=12.0, count=8):
        assert recovered.area_mm2(mask, x0) == pytest.approx(truth.area_mm2(mask, x0), rel=BUDGET)
    whole = np.ones((10, barrel_camera.width), bool)
    assert recovered.area_mm2(whole) == pytest.approx(truth.area_mm2(whole), rel=BUDGET)


def test_a_run_with_the_calibration_reports_true_areas(written, barrel_camera, tmp_path):
    """`run --calib` path: sim web, a tiny real ONNX engine; truth areas computed with the written file."""
    from fixtures_stream import write_onnx

    from edgeinspect import backends
    from edgeinspect.config import RunConfig
    from edgeinspect.stream.runner import run_inspection

    engine = backends.load(write_onnx(tmp_path / "identity.onnx", (64, 64), kind="identity"), threads=1)
    config = RunConfig(camera="sim", calib=written.path, lines=1024, out=tmp_path / "run", overlays=False,
                       source_options={"width": barrel_camera.width, "lines_per_frame": 256, "seed": 3})
    summary = run_inspection(config, engine=engine, handle_signals=False)
    assert summary.calibration == str(written.path) and summary.width_px == barrel_camera.width
    truths = [json.loads(line) for line in (tmp_path / "run" / "truth.jsonl").read_text().splitlines()]
    assert truths, "the synthetic web should hold defects in 1024 lines"
    exact = AreaEstimator(true_calibration(barrel_camera), barrel_camera.width)
    for truth in truths:
        x0, _, x1, _ = truth["bbox_px"]
        true_area = truth["area_px"] * float(exact.column_mm[x0:x1].mean()) * exact.mm_per_line
        assert truth["area_mm2"] == pytest.approx(true_area, rel=BUDGET)


def test_checkerboard_alone_gives_mm_per_line_with_a_warning(tmp_path):
    camera = Camera(width=512, mm_per_px=0.1234, mm_per_line=0.1411)
    image = tmp_path / "board.png"
    cv2.imwrite(str(image), render(checkerboard(SQUARE_MM), camera, lines=300, seed=6))
    result = calibrate_camera([image], target="checkerboard", pitch_mm=SQUARE_MM, out=tmp_path / "c.yaml")
    calibration = load_calibration(result.path)
    assert calibration.mm_per_line == pytest.approx(0.1411, rel=BUDGET)
    assert result.along.method == "target"
    assert any("production line trigger" in w for w in result.warnings)
    assert any("aspect ratio" in w for w in result.warnings)      # 0.1411 / 0.1234 = 1.143


def test_wrong_encoder_is_flagged_against_the_checkerboard(tmp_path, board_png):
    result = calibrate_camera([board_png], target="checkerboard", pitch_mm=SQUARE_MM, out=tmp_path / "w.yaml",
                              along=from_encoder(TRUE_MM_PER_LINE * 1.05, 1))
    assert result.along_mismatch_pct == pytest.approx(100 * (1 / 1.05 - 1), abs=0.5)
    assert any("check roller diameter" in w for w in result.warnings)


def test_lines_target_without_along_setup_is_an_error(tmp_path, board_png):
    with pytest.raises(EdgeInspectError, match="no along-web line pitch"):
        calibrate_camera([board_png], target="lines", pitch_mm=2 * SQUARE_MM, out=tmp_path / "x.yaml")
    assert not (tmp_path / "x.yaml").exists()


def test_existing_file_needs_force(written, board_png):
    with pytest.raises(EdgeInspectError, match="--force"):
        calibrate_camera([board_png], target="checkerboard", pitch_mm=SQUARE_MM, out=written.path,
                         along=from_encoder(0.1, 1))


def test_meta_is_written_as_a_key_that_run_loads_and_read_meta_returns(tmp_path):
    keys = {"mm_per_px": 0.1, "mm_per_line": 0.1, "reject_area_mm2": 1.0, "significant_area_mm2": 0.25}
    meta = {"across": {"residual_pct": 0.12}, "images": ["a.png"]}
    path = tmp_path / "keyed.yaml"
    path.write_text(render_calibration(keys, meta))
    assert "\nmeta:\n" in path.read_text()
    assert load_calibration(path).mm_per_line == 0.1                # the meta key does not disturb run
    assert read_meta(path) == meta


def test_cli_camera_writes_the_file_and_prints_the_figures(tmp_path, board_png):
    out = tmp_path / "cli.yaml"
    result = CliRunner().invoke(app, ["calib", "camera", str(board_png), "--square-mm", str(SQUARE_MM),
                                      "--roller-diameter-mm", "80", "--pulses-per-rev", "2500",
                                      "--edges-per-pulse", "4", "--divider", "5", "--out", str(out)],
                                env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "polynomial degree" in result.output and "mm/line" in result.output
    calibration = load_calibration(out)
    assert calibration.mm_per_line == pytest.approx(np.pi * 80 / 10_000 * 5)


@pytest.mark.parametrize("argv, named", [
    (["--target", "lines", "--pitch-mm", "2"], "no along-web line pitch"),
    (["--square-mm", "5", "--pitch-mm", "2", "--encoder-pitch-mm", "0.1"], "--square-mm"),
    (["--square-mm", "5", "--encoder-pitch-mm", "0.1", "--web-speed-mm-s", "10", "--line-rate-hz", "100"],
     "one way"),
    (["--square-mm", "5", "--roller-diameter-mm", "80"], "--pulses-per-rev"),
    (["--square-mm", "inf", "--encoder-pitch-mm", "0.25"], "must be in (0, 1000] mm, got inf"),
    (["--square-mm", "1e308", "--encoder-pitch-mm", "0.25"], "must be in (0, 1000] mm, got 1e+308"),
])
def test_cli_bad_options_are_one_line_errors(tmp_path, capsys, board_png, argv, named):
    with pytest.raises(SystemExit) as exit_info:
        main(["calib", "camera", str(board_png), "--out", str(tmp_path / "x.yaml"), *argv])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and named in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "x.yaml").exists()


def test_cli_names_the_file_that_shows_no_target_and_the_one_too_small(tmp_path, capsys, board_png):
    flat = tmp_path / "flat.png"
    cv2.imwrite(str(flat), np.full(cv2.imread(str(board_png), cv2.IMREAD_GRAYSCALE).shape, 128, np.uint8))
    with pytest.raises(SystemExit) as exit_info:
        main(["calib", "camera", str(board_png), str(flat), "--out", str(tmp_path / "two.yaml"),
              "--square-mm", str(SQUARE_MM), "--encoder-pitch-mm", "0.25"])
    assert exit_info.value.code == 0
    assert f"{flat} shows no edge of the target: it adds nothing to the fit" in " ".join(capsys.readouterr().out.split())
    tiny = tmp_path / "tiny.png"
    cv2.imwrite(str(tiny), np.zeros((2, 2), np.uint8))
    with pytest.raises(SystemExit) as exit_info:
        main(["calib", "camera", str(tiny), "--out", str(tmp_path / "t.yaml"), "--square-mm", "5",
              "--encoder-pitch-mm", "0.25"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.strip() == f"error: {tiny}: image 2×2 px is too small for a calibration"
