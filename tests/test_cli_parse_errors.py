"""A command line the parser refuses is one line, ``error: <command>: <what>``, naming the option, exit 2.

Through ``edgeinspect.cli.main`` in-process and through ``python -m edgeinspect`` (the same ``main``
the console script calls) in a process of its own, so the rich box click/typer would draw in
standalone mode cannot come back unseen.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from edgeinspect.cli import main


@pytest.mark.parametrize("argv, named", [
    (["run", "--bogus"], "edgeinspect run: No such option: --bogus"),
    (["bench", "--batch", "x"], "edgeinspect bench: Invalid value for '--batch-size'"),
    (["synth"], "edgeinspect synth: Missing argument 'out'"),
    (["eval", "--run"], "edgeinspect eval: Option '--run' requires an argument"),
    (["calib", "check", "--defect-mm2"], "edgeinspect calib check: Option '--defect-mm2' requires an argument"),
    (["nosuchcommand"], "edgeinspect: No such command 'nosuchcommand'"),
    (["run", "--threads", "100000"], "edgeinspect run: Invalid value for '--threads': Input should be less than or equal to 256"),
    (["bench", "--threads", "99999999999999999999"], "edgeinspect bench: Invalid value for '--threads'"),
    (["bench", "--batch", "100000"], "edgeinspect bench: Invalid value for '--batch-size' / '--batch': Input should be less than or equal to 256"),
    (["build", "default", "--threads", "1000"], "edgeinspect build: Invalid value for '--threads'"),
    (["eval", "--threads", "1000"], "edgeinspect eval: Invalid value for '--threads'"),
])
def test_parser_errors_are_one_line_naming_the_option(capsys, argv, named):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {named}"), err
    assert err.rstrip().endswith("--help')"), err
    assert len(err.strip().splitlines()) == 1 and "╭" not in err and "Traceback" not in err


def test_help_still_prints_and_exits_0(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["run", "--help"])
    assert exit_info.value.code == 0
    assert "--camera" in capsys.readouterr().out


def test_no_command_prints_the_help_as_before(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([])
    assert exit_info.value.code == 2  # click's code for "no command given", with the help shown
    assert "Usage: edgeinspect" in capsys.readouterr().out.replace("\n", " ")


def test_console_script_prints_one_line_and_exits_2():
    result = subprocess.run([sys.executable, "-m", "edgeinspect", "run", "--line-rate", "fast"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert result.stderr.startswith("error: edgeinspect run: Invalid value for '--line-rate-hz' / '--line-rate'"), result.stderr
