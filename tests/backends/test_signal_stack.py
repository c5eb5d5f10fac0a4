"""A signal after an in-process OpenVINO INT8 build runs its handler instead of killing the process.

OpenVINO's CPU plugin leaves the building thread with an alternate signal stack in freed memory
(see ``edgeinspect.backends.signal_stack``); before the fix the SIGALRM below ended the process with
SIGSEGV (exit -11), as a Ctrl-C or SIGTERM would have. Each case runs in a process of its own, as a
segfault would take the test session with it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from edgeinspect.backends.signal_stack import current_signal_stack, restore_signal_stack

SCRIPT = """
import ctypes, signal, sys
from pathlib import Path
sys.path.insert(0, {tests!r})
from engine_testkit import bright_net_onnx, write_squares_dataset
from edgeinspect.backends.build import build_engine

root = Path({root!r})
onnx = bright_net_onnx(root / "bright.onnx", (32, 32))
data = write_squares_dataset(root / "squares", count=12, hw=(32, 32), seed=1)
build_engine(onnx, out=root / "engine", backend="openvino", precision="int8", calib=data, threads=1)
fired = []
signal.signal(signal.SIGALRM, lambda *_: fired.append(True))
signal.setitimer(signal.ITIMER_REAL, 0.05)
ctypes.CDLL(None).usleep(300_000)  # the signal arrives while the main thread is in C, as in a camera fetch
print("handled" if fired else "not fired")
"""


def test_a_signal_after_an_openvino_int8_build_is_handled_not_a_segfault(tmp_path: Path):
    script = SCRIPT.format(tests=str(Path(__file__).parent), root=str(tmp_path))
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, (run.returncode, run.stderr[-2000:])
    assert run.stdout.strip().splitlines()[-1] == "handled"


def test_restore_gives_the_thread_a_stack_of_its_own_of_at_least_64_kib():
    assert restore_signal_stack()
    address, flags, size = current_signal_stack()
    assert address != 0 and flags == 0 and size >= 64 * 1024
    assert restore_signal_stack() and current_signal_stack() == (address, flags, size)  # the same buffer again
