"""A valid alternate signal stack for the calling thread, after OpenVINO has changed it.

OpenVINO's CPU plugin (2026.4) installs an alternate signal stack on the thread that compiles a
model and changes it again when compiled models are destroyed; after an INT8 build (two compiled
models opened and closed in turn) the main thread is left with an alternate stack in freed memory.
Python's signal handlers run on the alternate stack (``SA_ONSTACK``), so the next SIGINT, SIGTERM
or SIGALRM that reaches the thread cannot be delivered and the kernel kills the process with
SIGSEGV instead of running ``run``'s drain or raising KeyboardInterrupt
(``tests/backends/test_signal_stack.py`` reproduces it). :func:`restore_signal_stack`, called after
each OpenVINO compile and close, points the thread's alternate stack at a buffer this module owns
and never frees, so whatever OpenVINO saved and restores, it is memory that stays valid.

Linux only (``sigaltstack`` through ctypes); elsewhere it does nothing.
"""

from __future__ import annotations

import ctypes
import os
import sys
import threading

#: Size of the alternate stack, bytes: at least the kernel's minimum for this CPU's signal frame
#: (AVX-512 state makes it several kB) and 64 kB, as Python's faulthandler would want for a traceback.
_MIN_BYTES = 64 * 1024


class _StackT(ctypes.Structure):
    _fields_ = [("ss_sp", ctypes.c_void_p), ("ss_flags", ctypes.c_int), ("ss_size", ctypes.c_size_t)]


_local = threading.local()
_libc = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


def _stack_bytes() -> int:
    try:
        minimum = os.sysconf("SC_SIGSTKSZ")
    except (ValueError, OSError):
        minimum = 0
    return max(_MIN_BYTES, 4 * minimum)


def restore_signal_stack() -> bool:
    """Give the calling thread an alternate signal stack in memory this module keeps (one per thread).

    Returns:
        True when it was set, False off Linux or when the call failed (nothing changes then).
    """
    if _libc is None:
        return False
    buffer = getattr(_local, "buffer", None)
    if buffer is None:
        buffer = _local.buffer = ctypes.create_string_buffer(_stack_bytes())  # kept for the thread's life
    stack = _StackT(ctypes.cast(buffer, ctypes.c_void_p), 0, ctypes.sizeof(buffer))
    return _libc.sigaltstack(ctypes.byref(stack), None) == 0


def current_signal_stack() -> tuple[int, int, int] | None:
    """``(address, flags, size)`` of the calling thread's alternate signal stack (None off Linux)."""
    if _libc is None:
        return None
    old = _StackT()
    if _libc.sigaltstack(None, ctypes.byref(old)) != 0:
        return None
    return int(old.ss_sp or 0), int(old.ss_flags), int(old.ss_size)
