"""A bounded frame queue that never blocks the producer: when full, the frame is dropped and counted.

The acquisition thread ``offer``s frames; the inference side ``get``s them. (``put`` waits for
room instead: only for sources with no real-time clock, e.g. an unpaced sim or replay.) A drop is never silent:
it is counted (frames and lines) and logged as a warning, at most once per ``warn_every_s``
seconds (the warning says how many frames were dropped since the last one).

Example:
    >>> q = DropQueue(8)
    >>> q.offer(frame, lines=frame.lines.shape[0])   # False (and counted) when the queue is full
    >>> q.get(timeout_s=0.1)                         # raises queue.Empty after the timeout
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Any

log = logging.getLogger("edgeinspect.stream")


class DropQueue:
    """Bounded FIFO between two threads; a full queue drops the new item and counts it.

    Args:
        maxsize: items it holds (>= 1).
        warn_every_s: at most one drop warning per this many seconds.
        logger: where drop warnings go.
    """

    def __init__(self, maxsize: int, *, warn_every_s: float = 5.0, logger: logging.Logger = log) -> None:
        if maxsize < 1:
            raise ValueError(f"queue size must be >= 1, got {maxsize}")
        self.maxsize = int(maxsize)
        self._queue: queue.Queue = queue.Queue(maxsize=self.maxsize)
        self._lock = threading.Lock()
        self._warn_every_s = warn_every_s
        self._log = logger
        self._last_warn = -float("inf")
        self._unreported = 0
        self.offered = 0
        self.frames_dropped = 0
        self.lines_dropped = 0

    def offer(self, item: Any, *, lines: int = 0) -> bool:
        """Put ``item`` without waiting.

        Args:
            item: what to queue.
            lines: web lines it holds (counted in ``lines_dropped`` if dropped).

        Returns:
            True if queued, False if the queue was full and the item was dropped (and counted).
        """
        with self._lock:
            self.offered += 1
        try:
            self._queue.put_nowait(item)
            return True
        except queue.Full:
            pass
        with self._lock:
            self.frames_dropped += 1
            self.lines_dropped += lines
            self._unreported += 1
            now = time.monotonic()
            if now - self._last_warn >= self._warn_every_s:
                self._log.warning(
                    "inference cannot keep up: dropped %d frame(s) since the last warning "
                    "(%d frames, %d lines dropped in total; queue size %d)",
                    self._unreported, self.frames_dropped, self.lines_dropped, self.maxsize,
                )
                self._last_warn = now
                self._unreported = 0
        return False

    def put(self, item: Any, *, timeout_s: float) -> bool:
        """Put ``item``, waiting up to ``timeout_s`` for room (sources without a real-time clock).

        Returns:
            True if queued, False on timeout (nothing is counted: the caller tries again or stops).
        """
        try:
            self._queue.put(item, timeout=timeout_s)
        except queue.Full:
            return False
        with self._lock:
            self.offered += 1
        return True

    def get(self, *, timeout_s: float | None = None) -> Any:
        """Take the oldest item; raise ``queue.Empty`` if none arrives within ``timeout_s``."""
        return self._queue.get(timeout=timeout_s)

    def empty(self) -> bool:
        """True when nothing is queued (a snapshot)."""
        return self._queue.empty()

    def qsize(self) -> int:
        """Items queued now (a snapshot)."""
        return self._queue.qsize()
