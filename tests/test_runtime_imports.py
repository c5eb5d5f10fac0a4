"""The runtime path imports no torch: build (from .onnx), load, infer and eval --engine in a process where
``import torch`` fails, and import every runtime package (backends, acquire, stream, data, metrics) and
the run / bench / eval CLI modules there.

A meta-path finder refuses ``torch`` and records who asked (the first edgeinspect frame on the stack):
the test fails on any refused import from edgeinspect code, even one that was caught and ignored.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

KIT = Path(__file__).parent / "backends" / "engine_testkit.py"

SCRIPT = textwrap.dedent(
    r"""
    import importlib, importlib.abc, json, pkgutil, sys, traceback
    from pathlib import Path

    attempts = []

    class NoTorch(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "torch" or name.startswith("torch."):
                frames = [f"{f.filename}:{f.lineno}" for f in traceback.extract_stack() if "/edgeinspect/" in f.filename
                          and "/tests/" not in f.filename]
                attempts.append({"module": name, "from": frames[-3:]})
                raise ImportError(f"torch is blocked in this test ({name})")
            return None

    sys.meta_path.insert(0, NoTorch())
    kit_path, work = Path(sys.argv[1]), Path(sys.argv[2])
    kit = {}
    exec(compile(kit_path.read_text(), str(kit_path), "exec"), kit)

    onnx_path = kit["bright_net_onnx"](work / "bright.onnx", (32, 32))
    data = kit["write_squares_dataset"](work / "squares", count=8, hw=(32, 32), seed=2)

    from edgeinspect.backends.build import build_engine
    from edgeinspect import backends
    import numpy as np

    report = {"engines": {}}
    for backend, precision in (("openvino", "fp32"), ("onnxruntime", "int8")):
        folder = build_engine(onnx_path, out=work / f"{backend}-{precision}", backend=backend, precision=precision,
                              calib=data if precision == "int8" else None, threads=1).path
        with backends.load(folder, threads=1) as engine:
            out = engine.infer(np.zeros((2, 1, 32, 32), np.uint8))
        report["engines"][folder.name] = {k: [list(v.shape), str(v.dtype)] for k, v in out.items()}

    imported = []
    for package in ("edgeinspect.backends", "edgeinspect.acquire", "edgeinspect.stream", "edgeinspect.data"):
        module = importlib.import_module(package)
        imported.append(package)
        for info in pkgutil.walk_packages(module.__path__, package + "."):
            importlib.import_module(info.name)
            imported.append(info.name)
    for name in ("edgeinspect.metrics", "edgeinspect.bench", "edgeinspect.cli", "edgeinspect.cli.run",
                 "edgeinspect.cli.eval", "edgeinspect.cli.bench", "edgeinspect.cli.build"):
        importlib.import_module(name)
        imported.append(name)

    import contextlib, io
    from edgeinspect.cli import main
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        try:
            main(["eval", "--engine", str(work / "onnxruntime-int8"), "--data", str(data), "--split", "all", "--json"])
        except SystemExit as exit_:
            assert exit_.code in (0, None), exit_.code
    report["eval"] = json.loads(stdout.getvalue())["mIoU"]
    report["imported"] = imported
    report["attempts"] = attempts
    report["torch_loaded"] = "torch" in sys.modules
    print("REPORT " + json.dumps(report))
    """
)


def test_runtime_path_runs_and_imports_without_torch(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-c", SCRIPT, str(KIT), str(tmp_path)], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    line = next(line for line in result.stdout.splitlines() if line.startswith("REPORT "))
    report = json.loads(line[len("REPORT "):])
    assert report["attempts"] == [], f"edgeinspect runtime code tried to import torch: {report['attempts']}"
    assert report["torch_loaded"] is False
    assert report["engines"] == {
        "openvino-fp32": {"prob": [[2, 1, 32, 32], "float32"], "loc": [[2, 1, 32, 32], "float32"]},
        "onnxruntime-int8": {"prob": [[2, 1, 32, 32], "float32"], "loc": [[2, 1, 32, 32], "float32"]},
    }
    assert report["eval"] > 0.95
    for name in ("edgeinspect.backends.openvino", "edgeinspect.backends.onnxruntime", "edgeinspect.backends.build",
                 "edgeinspect.metrics", "edgeinspect.cli.eval", "edgeinspect.cli.run"):
        assert name in report["imported"]
