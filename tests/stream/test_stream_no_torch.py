"""The run path (stream, config, run/eval --run CLI) imports no torch: an edge box runs without it."""

from __future__ import annotations

import subprocess
import sys

CODE = """
import sys
sys.modules["torch"] = None  # any `import torch` now raises ImportError
import edgeinspect.stream.runner, edgeinspect.stream.score, edgeinspect.config, edgeinspect.cli.run
import edgeinspect.cli
print("ok")
"""


def test_run_path_imports_without_torch():
    result = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
