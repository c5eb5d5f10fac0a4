"""``edgeinspect models``: sizes per stage match the paper's LPC-Net."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from edgeinspect.cli import app


@pytest.fixture(scope="module")
def listing() -> list[dict]:
    result = CliRunner().invoke(app, ["models", "lpcnet*", "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_lpcnet_matches_the_paper_table(listing) -> None:
    rows = {row["name"]: row for row in listing}
    seg, dlm = rows["lpcnet"]["stages"]["seg"], rows["lpcnet"]["stages"]["dlm"]
    assert seg["params"] == pytest.approx(39.75e6, rel=0.01)
    assert seg["gmacs"] == pytest.approx(14.8, rel=0.02)
    assert 0.12e6 <= dlm["params"] <= 0.2e6
    assert dlm["gmacs"] == pytest.approx(0.65, rel=0.1)
    assert rows["lpcnet"]["default"] is False


def test_lite_is_the_small_default(listing) -> None:
    defaults = [row["name"] for row in listing if row["default"]]
    assert defaults == ["lpcnet-lite"]
    lite = next(row for row in listing if row["name"] == "lpcnet-lite")["stages"]
    assert set(lite) == {"dlm", "seg"}
    assert sum(stage["params"] for stage in lite.values()) <= 1.2e6
    assert sum(stage["gmacs"] for stage in lite.values()) < 0.5


def test_unknown_pattern_lists_the_models() -> None:
    from edgeinspect.errors import EdgeInspectError

    result = CliRunner().invoke(app, ["models", "unet*"])
    assert isinstance(result.exception, EdgeInspectError)
    assert "no model matches 'unet*'" in str(result.exception) and "lpcnet-lite" in str(result.exception)


@pytest.mark.parametrize("argv, message", [
    (["lpcnet-lite", "--tile-px", "100"], "error: --tile-px must be a multiple of 16 in [16, 4096], got 100"),
    (["lpcnet-lite", "--tile-px", "100000"], "error: --tile-px must be a multiple of 16 in [16, 4096], got 100000"),
    (["lsanet", "--tile-px", "32"], "error: --tile-px 32 for lsanet: input_size must be at least 80x80"),
])
def test_bad_tile_is_a_one_line_error_naming_the_option(argv, message) -> None:
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "edgeinspect", "models", *argv], capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.startswith(message), result.stderr  # one line: no blank line of a progress bar before it
    assert len(result.stderr.splitlines()) == 1
