"""Commissioning runs on the edge box: calibration, doctor and their CLI modules import no torch."""

from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    r"""
    import importlib, importlib.abc, sys

    refused = []

    class NoTorch(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "torch" or name.startswith("torch."):
                refused.append(name)
                raise ImportError(f"torch is blocked in this test ({name})")
            return None

    sys.meta_path.insert(0, NoTorch())
    for name in ("edgeinspect.calibration", "edgeinspect.calibration.camera", "edgeinspect.calibration.encoder",
                 "edgeinspect.calibration.budget", "edgeinspect.calibration.int8set", "edgeinspect.calibration.writer",
                 "edgeinspect.doctor", "edgeinspect.cli.calib", "edgeinspect.cli.doctor"):
        importlib.import_module(name)
    import numpy as np
    from edgeinspect.calibration import measure_across
    x = np.arange(512)
    image = np.where((x // 20) % 2 == 0, 40, 200).astype(np.uint8)[None, :].repeat(32, axis=0)
    fit = measure_across([image], target="lines", pitch_mm=4.0)
    print(round(fit.mm_per_px_mean, 6), refused)
    """
)


def test_calibration_and_doctor_import_without_torch():
    run = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["0.1", "[]"]      # 4 mm every 40 px
