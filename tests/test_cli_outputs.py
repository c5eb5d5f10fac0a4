"""An output path that runs into a regular file (or a folder given as a file) is one line, exit 2.

Every command that writes: the message names the file in the way and the option to change;
nothing is written. And ``build --force`` replaces engine folders only, never a dataset.
"""

from __future__ import annotations

import pytest

from edgeinspect.cli import main
from edgeinspect.outputs import check_folder_path, make_folder, prepare_output_file
from edgeinspect.errors import EdgeInspectError


@pytest.fixture()
def blocker(tmp_path):
    """A regular file where a folder is expected."""
    path = tmp_path / "results"
    path.write_text("not a folder\n")
    return path


def test_make_folder_names_the_file_in_the_way(blocker):
    for target in (blocker, blocker / "run1", blocker / "a" / "b"):
        with pytest.raises(EdgeInspectError, match=f"^{blocker}: exists and is not a folder; choose another --root$"):
            make_folder(target, option="--root")
    assert blocker.read_text() == "not a folder\n"


def test_make_folder_creates_parents_and_accepts_an_existing_folder(tmp_path):
    target = tmp_path / "a" / "b"
    assert make_folder(target) == target and target.is_dir()
    assert make_folder(target) == target  # again: fine
    assert check_folder_path(tmp_path / "x" / "y") == tmp_path / "x" / "y" and not (tmp_path / "x").exists()


def test_prepare_output_file_refuses_a_folder_and_creates_the_parent(tmp_path):
    with pytest.raises(EdgeInspectError, match=f"^{tmp_path}: is a folder; give --out a file name$"):
        prepare_output_file(tmp_path)
    target = prepare_output_file(str(tmp_path / "new" / "model.onnx"))  # a str path too
    assert target.parent.is_dir() and not target.exists()


def _one_line_exit_2(argv, capsys) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2, err
    assert len(err.strip().splitlines()) == 1 and err.startswith("error: ") and "Traceback" not in err, err
    return err.strip()


@pytest.mark.parametrize("command", [
    lambda b, d: ["train", "--data", d, "--out", b],
    lambda b, d: ["train", "--data", d, "--out", b / "run1"],
    lambda b, d: ["export", "default", "--out", b / "model.onnx"],
    lambda b, d: ["build", "default", "--backend", "onnxruntime", "--out", b / "engine"],
    lambda b, d: ["synth", b / "web", "--count", "1", "--size", "32x32"],
    lambda b, d: ["calib", "int8", d, "--name", "set1", "--root", b, "--count", "2", "--tile", "32x32"],
    lambda b, d: ["run", "--camera", "sim", "--lines", "256", "--out", b],
    lambda b, d: ["run", "--camera", "sim", "--lines", "256", "--out", b / "run1"],
], ids=["train", "train-below", "export", "build", "synth", "calib-int8", "run", "run-below"])
def test_an_output_below_a_regular_file_is_one_line_naming_it(command, blocker, tmp_path, capsys):
    data = tmp_path / "data"
    main_args = ["synth", data, "--count", "2", "--size", "32x32", "--defects-per-mpx", "2000"]
    with pytest.raises(SystemExit) as made:
        main([str(a) for a in main_args])
    assert made.value.code == 0
    capsys.readouterr()
    err = _one_line_exit_2(command(blocker, data), capsys)
    assert f"{blocker}: exists and is not a folder; choose another " in err
    assert blocker.read_text() == "not a folder\n"


def test_export_onto_a_folder_is_one_line(tmp_path, capsys):
    err = _one_line_exit_2(["export", "default", "--out", tmp_path], capsys)
    assert err == f"error: {tmp_path}: is a folder; give --out a file name"


def test_build_force_does_not_replace_a_folder_that_is_not_an_engine(tmp_path, capsys):
    dataset = tmp_path / "dataset"
    (dataset / "images").mkdir(parents=True)
    (dataset / "images" / "000000.png").write_bytes(b"keep me")
    for force in (["--force"], []):  # without --force too: no hint to pass it
        err = _one_line_exit_2(["build", "default", "--backend", "onnxruntime", "--out", dataset, *force], capsys)
        assert err == (f"error: {dataset}: not an engine folder (no manifest.json): --force replaces only engine "
                       "folders; choose another --out")
    assert (dataset / "images" / "000000.png").read_bytes() == b"keep me"


def test_a_parent_that_cannot_be_entered_is_one_line(tmp_path, monkeypatch):
    """As a user without permission on a parent folder sees it (faked: these tests run as root)."""
    import pathlib

    def refuse(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(pathlib.Path, "exists", refuse)
    with pytest.raises(EdgeInspectError, match=r"out: cannot create folder \(Permission denied\); choose another --out$"):
        make_folder(tmp_path / "locked" / "out")
