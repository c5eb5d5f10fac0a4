"""``edgeinspect synth``: writes the dataset; bad options are one-line errors with exit code 2."""

from __future__ import annotations

import json
import subprocess
import sys

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from edgeinspect.cli import main
from edgeinspect.cli.app import app
from edgeinspect.cli.synth import parse_size_hw


def test_synth_writes_images_masks_and_records(tmp_path):
    out = tmp_path / "demo"
    result = CliRunner().invoke(app, ["synth", str(out), "--count", "4", "--size", "48x64", "--seed", "1",
                                      "--defects-per-mpx", "150"])
    assert result.exit_code == 0, result.output
    assert "wrote 4 images 48x64" in result.output
    images = sorted((out / "images").glob("*.png"))
    assert [p.name for p in images] == [f"{k:06d}.png" for k in range(4)]
    image = cv2.imread(str(images[0]), cv2.IMREAD_UNCHANGED)
    mask = cv2.imread(str(out / "masks" / images[0].name), cv2.IMREAD_UNCHANGED)
    assert image.shape == mask.shape == (48, 64) and image.dtype == np.uint8
    records = [json.loads(line) for line in (out / "defects.jsonl").read_text().splitlines()]
    assert records and all(r["image"] in {p.name for p in images} for r in records)
    assert json.loads((out / "synth.json").read_text())["texture"] == "carbon"


def test_synth_12_bit_mixed_with_progress_bar(tmp_path):
    out = tmp_path / "mixed"
    result = CliRunner().invoke(app, ["synth", str(out), "--count", "21", "--size", "8x16", "--texture", "mixed",
                                      "--bit-depth", "12", "--seed", "2"])
    assert result.exit_code == 0, result.output
    assert len(list((out / "images").glob("*.png"))) == 21
    assert cv2.imread(str(out / "images" / "000020.png"), cv2.IMREAD_UNCHANGED).dtype == np.uint16
    runs = json.loads((out / "synth.json").read_text())["runs"]
    assert [r["images"] for r in runs] == [6, 5, 5, 5]


@pytest.mark.parametrize("argv, named", [
    (["--size", "256"], "--size"),
    (["--size", "0x5"], "--size"),
    (["--size", "64xabc"], "--size"),
    (["--bit-depth", "10"], "--bit-depth"),
    (["--size", "64x60000"], "defects_per_mpx must be in [0, 8] at width 60000 px"),  # the default 20 does not fit
    (["--size", "64x100000"], "synthetic web: width must be <= 65536 px, got 100000"),
    (["--count", "200000000", "--size", "16x16"], "count must be <= 1,000,000 (6-digit file names)"),  # hung, filling memory
    (["--count", "999999", "--size", "4096x16"], "999,999 images × 4096 lines of one web pass its last line"),
])
def test_bad_options_are_one_line_errors_with_exit_code_2(tmp_path, capsys, argv, named):
    with pytest.raises(SystemExit) as exit_info:
        main(["synth", str(tmp_path / "x"), "--count", "1", *argv])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and named in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "x").exists()


def test_existing_dataset_needs_overwrite(tmp_path, capsys):
    out = tmp_path / "ds"
    main_args = ["synth", str(out), "--count", "2", "--size", "16x32"]
    CliRunner().invoke(app, main_args)
    with pytest.raises(SystemExit) as exit_info:
        main(main_args)
    assert exit_info.value.code == 2 and "--overwrite" in capsys.readouterr().err
    assert CliRunner().invoke(app, [*main_args, "--overwrite"]).exit_code == 0


def test_bad_size_from_a_real_process_has_no_traceback(tmp_path):
    run = subprocess.run([sys.executable, "-m", "edgeinspect", "synth", str(tmp_path / "x"), "--size", "256"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2
    assert run.stderr.strip().splitlines() == ["error: --size '256': expected HxW in px with H >= 1 and W >= 16, "
                                               "e.g. 256x256"]


def test_parse_size_hw():
    assert parse_size_hw("256x512") == (256, 512)
    assert parse_size_hw(" 1 X 16 ") == (1, 16)


def test_cli_default_density_is_the_library_default():
    import inspect

    from edgeinspect.cli.synth import synth
    from edgeinspect.data.synth import DEFAULT_DEFECTS_PER_MPX

    assert inspect.signature(synth).parameters["defects_per_mpx"].default == DEFAULT_DEFECTS_PER_MPX


def test_a_dataset_the_disk_refuses_is_one_line_naming_the_file(tmp_path):
    """Files may not grow past 20 kB (RLIMIT_FSIZE, as a full disk refuses them): one line, exit 2."""
    from fixtures_os import file_size_limit

    out = tmp_path / "big"
    process = subprocess.run([sys.executable, "-m", "edgeinspect", "synth", str(out), "--count", "3", "--size", "256x256"],
                             capture_output=True, text=True, timeout=120, preexec_fn=file_size_limit(20_000))
    assert process.returncode == 2 and "Traceback" not in process.stderr, process.stderr
    assert process.stderr.strip().splitlines() == [f"error: {out / 'images' / '000000.png'}: cannot write (File too large)"]
