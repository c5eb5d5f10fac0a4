"""What every frame source hands downstream: :class:`Frame`, :class:`SourceStats`, :class:`FrameSource`.

A frame source is a context manager and an iterator of :class:`Frame`. Each frame is a block of
consecutive web lines ``(H, W)`` with the web index of its first line, so the stream stage can stitch
masks and track defects in web coordinates. Lines a source knows it lost (a camera frame-ID jump, a
reconnect gap) are skipped in ``first_line``: web coordinates stay right across gaps.

:class:`SourceBase` holds the lifecycle every source shares: ``open()`` once (also on ``__enter__``
or the first ``next()``), ``close()`` idempotent, ``max_frames``, and the counters.

Example:
    >>> from edgeinspect.acquire import open_source
    >>> with open_source("sim", width=256, lines_per_frame=64, max_frames=2) as source:
    ...     [frame.first_line for frame in source]
    [0, 64]
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Iterator, Protocol, Self, runtime_checkable

import numpy as np

from edgeinspect.errors import EdgeInspectError


@dataclass(frozen=True, slots=True)
class Frame:
    """One block of consecutive web lines.

    Attributes:
        lines: ``(H, W)`` uint8 (bit depth 8) or uint16 (bit depth 10/12/14/16, raw values
            ``0..2**bit_depth-1``), an owned C-contiguous copy (never a view of a driver buffer).
        first_line: web line index of ``lines[0]`` (0-based; counts delivered and lost lines).
        timestamp_ns: host wall-clock time (``time.time_ns()``, UNIX epoch ns) when the source
            delivered the frame (genicam: fetched; sim/replay: due by the pacing). Device
            timestamps are not exposed (another clock); use this for latency and records.
        frame_id: source frame index (0-based); it jumps by ``1 + n`` when ``n`` frames were lost.
        bit_depth: significant bits per pixel: 8, 10, 12, 14 or 16.
        encoder_position: encoder counter at the frame (camera chunk data), None where unknown.
        truth_mask: ``(H, W)`` bool exact defect pixels where the source knows them (sim, replay
            with masks), else None.
    """

    lines: np.ndarray
    first_line: int
    timestamp_ns: int
    frame_id: int
    bit_depth: int
    encoder_position: int | None = None
    truth_mask: np.ndarray | None = None

    @property
    def stop_line(self) -> int:
        """Web line index one past the last line of this frame (exclusive)."""
        return self.first_line + int(self.lines.shape[0])


@dataclass(frozen=True, slots=True)
class SourceStats:
    """Counters of one source since it was opened (a snapshot; the source keeps counting).

    Attributes:
        frames: frames delivered.
        lines: web lines delivered.
        frames_lost: frames the source knows it missed (frame-ID jumps, reconnect gaps, buffers
            without an image).
        lines_lost: web lines missed (skipped in ``Frame.first_line``).
        reconnects: successful reconnections after a lost device.
        timeouts: fetch calls that returned no frame within the fetch timeout.
    """

    frames: int = 0
    lines: int = 0
    frames_lost: int = 0
    lines_lost: int = 0
    reconnects: int = 0
    timeouts: int = 0


@runtime_checkable
class FrameSource(Protocol):
    """A context manager and iterator of :class:`Frame`; ``close()`` is idempotent.

    Attributes (valid once open): ``name`` (e.g. ``"genicam:SN123"``), ``width`` (pixels per
    line), ``lines_per_frame`` (nominal H), ``bit_depth``, ``line_rate_hz`` (None where unknown
    or unpaced) and ``stats`` (a :class:`SourceStats` snapshot).
    """

    name: str
    width: int
    lines_per_frame: int
    bit_depth: int
    line_rate_hz: float | None

    @property
    def stats(self) -> SourceStats: ...

    def open(self) -> Self: ...

    def close(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(self, *exc_info: object) -> None: ...

    def __iter__(self) -> Iterator[Frame]: ...

    def __next__(self) -> Frame: ...


class StatsCounter:
    """The mutable counters behind :attr:`SourceBase.stats` (updated by the iterating thread only)."""

    __slots__ = ("frames", "lines", "frames_lost", "lines_lost", "reconnects", "timeouts")

    def __init__(self) -> None:
        self.frames = self.lines = self.frames_lost = self.lines_lost = 0
        self.reconnects = self.timeouts = 0

    def snapshot(self) -> SourceStats:
        """A frozen copy of the counters."""
        return SourceStats(self.frames, self.lines, self.frames_lost, self.lines_lost,
                           self.reconnects, self.timeouts)


class LinePacer:
    """Sleeps so that lines come out at ``line_rate_hz`` (``None``: no pacing).

    The clock starts at the first :meth:`wait_for` call; a frame of the ``n``-th line is released at
    ``t0 + n / line_rate_hz`` (when its last line would have been scanned). A late consumer is not
    made up for by skipping: the next frames simply come out without sleeping. Waits end early when
    ``stop`` is set.
    """

    def __init__(self, line_rate_hz: float | None, stop: threading.Event) -> None:
        if line_rate_hz is not None and not line_rate_hz > 0:
            raise EdgeInspectError(f"line rate must be > 0 Hz, got {line_rate_hz}")
        self.line_rate_hz = line_rate_hz
        self._stop = stop
        self._t0: float | None = None

    def wait_for(self, lines_done: int) -> None:
        """Block until ``lines_done`` lines (counted from the first call's start) are due."""
        if self.line_rate_hz is None:
            return
        now = time.perf_counter()
        if self._t0 is None:
            self._t0 = now
        delay = self._t0 + lines_done / self.line_rate_hz - now
        if delay > 0:
            self._stop.wait(delay)


class SourceBase:
    """Lifecycle shared by the sources: open once, iterate, close idempotently.

    Subclasses implement ``_open()`` (set ``width``, ``lines_per_frame``, ``bit_depth``),
    ``_next_frame() -> Frame | None`` (None ends the stream) and ``_close()``. The base counts
    delivered frames and lines and stops after ``max_frames``.
    """

    name: str = "source"
    width: int = 0
    lines_per_frame: int = 0
    bit_depth: int = 8
    line_rate_hz: float | None = None

    def __init__(self, *, max_frames: int | None = None) -> None:
        if max_frames is not None and max_frames < 0:
            raise EdgeInspectError(f"max_frames must be >= 0, got {max_frames}")
        self.max_frames = max_frames
        self._counter = StatsCounter()
        self._stop = threading.Event()
        self._opened = False
        self._closed = False

    @property
    def stats(self) -> SourceStats:
        """Counters so far (a frozen snapshot)."""
        return self._counter.snapshot()

    def open(self) -> Self:
        """Open the source (idempotent); raise :class:`EdgeInspectError` for a bad setup."""
        if self._closed:
            raise EdgeInspectError(f"{self.name}: the source is closed; open a new one")
        if not self._opened:
            self._open()
            self._opened = True
        return self

    def close(self) -> None:
        """Stop and release everything (idempotent; safe to call from another thread)."""
        self._stop.set()
        if self._closed:
            return
        self._closed = True
        if self._opened:
            self._close()

    def __enter__(self) -> Self:
        return self.open()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[Frame]:
        return self

    def __next__(self) -> Frame:
        if not self._opened:
            self.open()
        if self._stop.is_set() or (self.max_frames is not None and self._counter.frames >= self.max_frames):
            raise StopIteration
        frame = self._next_frame()
        if frame is None:
            raise StopIteration
        self._counter.frames += 1
        self._counter.lines += int(frame.lines.shape[0])
        return frame

    # -- subclass hooks -------------------------------------------------------------------------
    def _open(self) -> None:
        raise NotImplementedError

    def _next_frame(self) -> Frame | None:
        raise NotImplementedError

    def _close(self) -> None:
        pass
