"""The acquisition thread: pulls frames from a source into a bounded queue, never waiting on inference.

A live source (camera, or sim/replay paced at a line rate) is never blocked: when the queue is
full, the frame is dropped and counted (:class:`~edgeinspect.stream.queueing.DropQueue`). An
unpaced sim or replay has no real-time clock to keep, so it waits for room instead and the web
is inspected whole. The thread also applies the run limits (``lines``: the last frame is cut to
the exact count; ``duration_s``), closes the source when it stops and hands any error to the
main thread.

Example:
    >>> acquisition = AcquisitionThread(source, DropQueue(8), lines=20_000)
    >>> acquisition.start()
    >>> frame = acquisition.queue.get(timeout_s=0.1)
    >>> acquisition.stop_and_join()
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import threading
import time
from typing import Any

from edgeinspect.stream.queueing import DropQueue

log = logging.getLogger("edgeinspect.stream")


def is_live(source: Any) -> bool:
    """True for sources with a real-time clock (a camera, or sim/replay paced at a line rate)."""
    name = str(getattr(source, "name", ""))
    unpaced = name.startswith(("sim", "replay")) and getattr(source, "line_rate_hz", None) is None
    return not unpaced


def cut_frame(frame: Any, keep: int) -> Any:
    """The first ``keep`` lines of a frame (same dataclass, truth mask cut too)."""
    changes = {"lines": frame.lines[:keep]}
    if getattr(frame, "truth_mask", None) is not None:
        changes["truth_mask"] = frame.truth_mask[:keep]
    return dataclasses.replace(frame, **changes)


class AcquisitionThread:
    """Runs ``source`` in its own thread into ``queue``.

    Args:
        source: an open frame source (iterator of frames with ``lines`` ``(H, W)``).
        queue: the bounded queue to the inference side.
        stop: set to stop acquiring (signals, the caller); a new Event when None.
        lines: stop after this many web lines (acquired, dropped ones included), or None.
        duration_s: stop after this many seconds, or None.
        block: wait for room instead of dropping; None = ``not is_live(source)``.

    Attributes:
        frames, lines_acquired: delivered by the source so far (queued or dropped).
        reason: ``"lines"``, ``"duration"``, ``"source_end"`` or None (stopped from outside).
        error: the exception that ended the thread, or None.
        acquire_s: seconds spent waiting on the source.
        done: set when the thread has finished (source closed).
    """

    def __init__(self, source: Any, queue: DropQueue, *, stop: threading.Event | None = None,
                 lines: int | None = None, duration_s: float | None = None, block: bool | None = None) -> None:
        self.source = source
        self.queue = queue
        self.stop = stop or threading.Event()
        self.max_lines = lines
        self.duration_s = duration_s
        self.block = (not is_live(source)) if block is None else block
        self.frames = 0
        self.lines_acquired = 0
        self.reason: str | None = None
        self.error: BaseException | None = None
        self.acquire_s = 0.0
        self.done = threading.Event()
        self._t0 = time.perf_counter()
        self._thread = threading.Thread(target=self._loop, name="edgeinspect-acquire", daemon=True)

    def start(self) -> None:
        """Start acquiring (the duration counts from here)."""
        self._t0 = time.perf_counter()
        self._thread.start()

    def stop_and_join(self, timeout_s: float = 10.0) -> None:
        """Ask the thread to stop and wait for it (idempotent)."""
        self.stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=timeout_s)
            if self._thread.is_alive():
                log.warning("the acquisition thread did not stop within %.0f s; closing the source anyway", timeout_s)

    def _deliver(self, frame: Any, n: int) -> bool:
        if not self.block:
            self.queue.offer(frame, lines=n)
            return True
        while not self.stop.is_set():
            if self.queue.put(frame, timeout_s=0.05):
                return True
        return False

    def _loop(self) -> None:
        try:
            iterator = iter(self.source)
            while not self.stop.is_set():
                start = time.perf_counter()
                try:
                    frame = next(iterator)
                except StopIteration:
                    self.reason = self.reason or "source_end"
                    break
                finally:
                    self.acquire_s += time.perf_counter() - start
                n, last = int(frame.lines.shape[0]), False
                if self.max_lines is not None and self.lines_acquired + n >= self.max_lines:
                    keep = self.max_lines - self.lines_acquired
                    if keep < n:
                        frame, n = cut_frame(frame, keep), keep
                    self.reason, last = "lines", True
                if self.duration_s is not None and time.perf_counter() - self._t0 >= self.duration_s:
                    self.reason, last = self.reason or "duration", True
                if not self._deliver(frame, n):
                    break
                self.frames += 1
                self.lines_acquired += n
                if last:
                    break
        except BaseException as error:  # noqa: BLE001 - handed to the main thread
            self.error = error
            self.stop.set()
        finally:
            with contextlib.suppress(Exception):
                self.source.close()
            self.done.set()
