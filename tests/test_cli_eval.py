"""``edgeinspect eval --data DIR --pred DIR``: JSON numbers, the table, one-line errors with exit code 2."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from fixtures_data import write, write_pairs
from typer.testing import CliRunner

from edgeinspect.cli import main
from edgeinspect.cli.app import app
from edgeinspect.cli.eval import DatasetFormat
from edgeinspect.data.datasets import FORMAT_NAMES

runner = CliRunner()


@pytest.fixture()
def pairs(tmp_path: Path) -> Path:
    """10 pairs (2 defect-free), 24×32, masks 0/255 with a 100-valued rim."""
    return write_pairs(tmp_path / "ds", count=10)


def run_main(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Run the real entry point in-process: (exit code, stdout, stderr)."""
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    captured = capsys.readouterr()
    return exit_info.value.code, captured.out, captured.err


def test_perfect_prediction_scores_one(pairs: Path) -> None:
    result = runner.invoke(app, ["eval", "--data", str(pairs), "--pred", str(pairs / "masks"), "--split", "all", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    for key in ("mPA", "mIoU", "mIoU80", "dice", "iou", "pixel_acc"):
        assert report[key] == 1.0, key
    assert report["images"] == 10
    assert report["defects"]["truth"] == 8 and report["defects"]["found"] == 8
    assert report["defects"]["false"] == 0 and report["defects"]["area_within_tol"] == 1.0
    assert report["image_auc"] == 1.0


def test_default_split_is_all_for_pred_and_test_split_numbers(pairs: Path, tmp_path: Path) -> None:
    pred = tmp_path / "pred"
    shutil.copytree(pairs / "masks", pred)
    write(pred / "s00.png", np.zeros((24, 32), np.uint8))  # s00 missed: 24 px of defect lost if in the split
    full = json.loads(runner.invoke(app, ["eval", "--data", str(pairs), "--pred", str(pred), "--split", "all", "--json"]).stdout)
    assert (full["defects"]["truth"], full["defects"]["found"]) == (8, 7)
    # summed confusion: 10 images × 768 px, 8 × 24 defect px, 24 of them missed
    assert full["confusion"] == [[10 * 768 - 8 * 24, 0], [24, 7 * 24]]
    assert full["iou"] == pytest.approx(7 / 8)
    assert full["mIoU80"] == pytest.approx(9 / 10)
    default = json.loads(runner.invoke(app, ["eval", "--data", str(pairs), "--pred", str(pred), "--json"]).stdout)
    assert default["split"] == "all" and default["confusion"] == full["confusion"]  # a folder of predictions: all
    test = json.loads(runner.invoke(app, ["eval", "--data", str(pairs), "--pred", str(pred), "--split", "test", "--json"]).stdout)
    # 3:1:1 by label: 8 defect → 5/2/1, 2 free → 1/1/0, so the test split holds one image
    assert test["split"] == "test" and test["images"] == 1


def test_table_output(pairs: Path) -> None:
    result = runner.invoke(app, ["eval", "--data", str(pairs), "--pred", str(pairs / "masks"), "--split", "all"])
    assert result.exit_code == 0, result.output
    flat = " ".join(result.stdout.split())  # rich wraps the title
    for text in ("mIoU80", "100.00 %", "area within tolerance", "split all, 10 images"):
        assert text in flat


def test_missing_pred_folder_exits_2_with_one_line(pairs: Path, tmp_path: Path) -> None:
    missing = tmp_path / "no_such_pred"
    proc = subprocess.run(
        [sys.executable, "-m", "edgeinspect", "eval", "--data", str(pairs), "--pred", str(missing)],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [f"error: {missing}: prediction folder not found (--pred)"]
    assert proc.stdout == ""


def test_missing_prediction_for_a_sample_names_it(pairs: Path, tmp_path: Path, capsys) -> None:
    pred = tmp_path / "pred"
    shutil.copytree(pairs / "masks", pred)
    (pred / "s03.png").unlink()
    code, out, err = run_main(["eval", "--data", str(pairs), "--pred", str(pred), "--split", "all"], capsys)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1
    assert f"{pred / 's03'}.png: no prediction for sample s03" in err


def test_no_source_and_no_data_are_one_line_errors(pairs: Path, capsys) -> None:
    code, _, err = run_main(["eval", "--data", str(pairs)], capsys)
    assert code == 2 and "give exactly one source of predictions: --pred or --engine or --checkpoint (got none)" in err
    code, _, err = run_main(["eval", "--pred", str(pairs / "masks")], capsys)
    assert code == 2 and "--data DIR is required" in err


def test_bad_dataset_is_one_line_error(tmp_path: Path, capsys) -> None:
    (tmp_path / "empty").mkdir()
    code, _, err = run_main(["eval", "--data", str(tmp_path / "empty"), "--pred", str(tmp_path)], capsys)
    assert code == 2 and "unknown dataset layout" in err and len(err.strip().splitlines()) == 1


def test_format_choices_match_the_readers() -> None:
    assert [f.value for f in DatasetFormat] == ["auto", *FORMAT_NAMES]


def test_skip_bad_skips_an_undecodable_image_and_counts_it(pairs: Path, capsys) -> None:
    damaged = pairs / "images" / "s03.png"
    assert damaged.is_file()
    damaged.write_text("not an image\n")
    argv = ["eval", "--data", str(pairs), "--pred", str(pairs / "masks"), "--split", "all", "--json"]
    code, _, err = run_main(argv, capsys)
    assert code == 2 and err.strip() == f"error: {damaged}: cannot decode image file (not an image, truncated or unsupported format)"
    code, out, _ = run_main([*argv, "--skip-bad"], capsys)
    report = json.loads(out)
    assert code == 0 and report["images"] == 9 and report["skipped"] == 1
    assert report["defects"]["truth"] == 7 and report["mIoU"] == 1.0


def write_run_folder(root: Path, summary: object, *, truth: int = 1) -> Path:
    """A run folder as `edgeinspect run` writes it (summary.json, truth.jsonl, defects.jsonl), hand-made."""
    root.mkdir()
    (root / "summary.json").write_text(summary if isinstance(summary, str) else json.dumps(summary))
    record = json.dumps({"bbox_px": [0, 0, 10, 10], "area_mm2": 1.0, "kind": "hole"})
    (root / "truth.jsonl").write_text("".join(record + "\n" for _ in range(truth)))
    (root / "defects.jsonl").write_text(json.dumps({"bbox_px": [1, 1, 9, 9], "area_mm2": 1.1}) + "\n")
    return root


RUN_SUMMARY = {"lines_inspected": 2000, "frames_dropped": 0, "significant_area_mm2": 0.25}


@pytest.mark.parametrize("as_json", [False, True])
@pytest.mark.parametrize("summary, message", [
    ("[1,2]", "not a JSON object; the file is damaged"),
    ("{}", "missing key 'lines_inspected'; the file is damaged"),  # the table's first row was a TypeError
    ({**RUN_SUMMARY, "significant_area_mm2": "x"},
     "key 'significant_area_mm2' must be a number >= 0, got 'x'; the file is damaged"),
    ({**RUN_SUMMARY, "lines_inspected": "x"}, "key 'lines_inspected' must be an integer >= 0, got 'x'; the file is damaged"),
])
def test_eval_run_with_a_damaged_summary_is_one_line_exit_2(tmp_path: Path, capsys, summary, message, as_json) -> None:
    run = write_run_folder(tmp_path / "ev", summary)
    code, out, err = run_main(["eval", "--run", str(run), *(["--json"] if as_json else [])], capsys)
    assert (code, out) == (2, "")
    assert err == f"error: {run / 'summary.json'}: {message}\n"


def test_eval_run_of_a_camera_run_without_truth_names_the_file(tmp_path: Path, capsys) -> None:
    run = write_run_folder(tmp_path / "cam", RUN_SUMMARY)
    (run / "truth.jsonl").unlink()
    code, _, err = run_main(["eval", "--run", str(run)], capsys)
    assert code == 2 and err == (f"error: {run / 'truth.jsonl'}: not found; only runs of sources that know their "
                                 f"truth (sim, or replay with a mask for every image) can be scored\n")


def test_eval_run_without_true_defects_says_so_instead_of_100_percent(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # one table row per line
    run = write_run_folder(tmp_path / "clean", RUN_SUMMARY, truth=0)
    note = (f"{run / 'truth.jsonl'} holds no true defects: recall and area accuracy cannot be scored (n/a); "
            f"every record counts as a false detection")
    code, out, err = run_main(["eval", "--run", str(run)], capsys)
    assert code == 0 and err == ""
    assert out.endswith(f"\nnote: {note}\n")
    recall = next(line for line in out.splitlines() if "recall" in line)
    assert "n/a (significant: n/a)" in recall and "100" not in recall
    assert "1 false of 1" in out
    code, out, _ = run_main(["eval", "--run", str(run), "--json"], capsys)
    score = json.loads(out)
    assert code == 0 and score["note"] == note and score["recall"] is None and score["area"]["share_within_tol"] is None
    # with one true defect: scored as before, no note
    (run / "truth.jsonl").write_text(json.dumps({"bbox_px": [0, 0, 10, 10], "area_mm2": 1.0}) + "\n")
    code, out, _ = run_main(["eval", "--run", str(run)], capsys)
    assert code == 0 and "note:" not in out and "100.0 % (significant: 100.0 %)" in out


def test_a_file_given_for_a_folder_says_so(pairs: Path, tmp_path: Path, capsys) -> None:
    image = sorted((pairs / "images").iterdir())[0]
    code, _, err = run_main(["eval", "--data", str(pairs), "--pred", str(image)], capsys)
    assert code == 2 and err.strip() == f"error: {image}: is a file; --pred takes the folder of predicted masks"
    summary = tmp_path / "run1" / "summary.json"
    summary.parent.mkdir()
    summary.write_text("{}")
    code, _, err = run_main(["eval", "--run", str(summary)], capsys)
    assert code == 2 and err.strip() == f"error: {summary}: is a file; --run takes the run folder ({summary.parent})"
