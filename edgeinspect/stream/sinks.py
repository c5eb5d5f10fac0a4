"""Where a run's results go: defect records, mask PNGs, overlay crops, truth and summary files.

Layout of a run folder::

    defects.jsonl           one Defect per line, flushed per defect
    defects.csv             the same, DEFECT_CSV_COLUMNS, flushed per defect
    overlays/defect_000001.png   web crop around each defect with its contour in red
    masks/pred/<first_line:09d>.png   predicted mask, 0/255, every N lines (off by default)
    masks/truth/<first_line:09d>.png  true mask of the same lines (sources that know it)
    truth.jsonl             true defects touching the inspected lines (sources that know them)
    summary.json            RunSummary, written last

Every sink is a context manager whose ``close()`` is idempotent; the runner enters them all in
one ``contextlib.ExitStack``.

Example:
    >>> with DefectSinks(Path("runs/x")) as sinks:
    ...     sinks.write(defect, blob)
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import threading
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path

import cv2
import numpy as np

from edgeinspect.data.imageio import write_png
from edgeinspect.errors import EdgeInspectError, cannot_write
from edgeinspect.outputs import make_folder
from edgeinspect.stream.records import (
    DEFECT_CSV_COLUMNS, Blob, Defect, RunSummary, TruthDefect, defect_csv_row,
)

#: Overlay contour colour (BGR): red.
CONTOUR_BGR = (0, 0, 255)


#: PNG encoding of the overlays: zlib level 1 and the row filter "up" (each row minus the one above)
#: for every row instead of libpng's adaptive choice. On the overlays of a dense synthetic web (752
#: BGR crops, 5.2 Mpx): 0.24 ms per overlay, 8 kB; level 0 (stored) takes 0.03 ms for 21 kB, but
#: on 2 saturated cores it did not raise the pipeline's throughput (the writer thread runs at nice
#: 19 either way; it only wrote more of the overlays it would otherwise skip, README "bench").
OVERLAY_PNG_COMPRESSION = 1
OVERLAY_PNG_FILTER = cv2.IMWRITE_PNG_FILTER_UP


def write_text_whole(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) whole or not at all (temp file + rename): a reader never sees half a file.

    Raises:
        EdgeInspectError: the file cannot be written (a full disk, say), naming it.
    """
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as error:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise cannot_write(path, error) from None


def write_json(path: Path, data: dict) -> None:
    """Write JSON whole or not at all (:func:`write_text_whole`)."""
    write_text_whole(path, json.dumps(data, indent=2) + "\n")


def display_lines(lines: np.ndarray, bit_depth: int) -> np.ndarray:
    """``(H, W)`` uint8 for display: 8-bit as is, else the top 8 of ``bit_depth`` bits."""
    if lines.dtype == np.uint8:
        return lines
    return (lines >> max(0, bit_depth - 8)).clip(0, 255).astype(np.uint8)


def overlay_image(blob: Blob, *, min_side_px: int = 64) -> np.ndarray:
    """``(h, w, 3)`` uint8 BGR: the web crop around a defect with its contour drawn in red.

    Small crops are enlarged (nearest neighbour, integer factor up to 8) so their short side
    reaches about ``min_side_px``.
    """
    x0, y0, x1, y1 = blob.bbox_px
    if blob.image is None:
        crop = np.where(blob.mask, 255, 0).astype(np.uint8)
        ox, oy = 0, 0
    else:
        crop = blob.image
        ox, oy = x0 - blob.image_origin[0], y0 - blob.image_origin[1]
    full = np.zeros(crop.shape, np.uint8)
    full[oy:oy + blob.mask.shape[0], ox:ox + blob.mask.shape[1]] = blob.mask
    factor = int(max(1, min(8, min_side_px // max(1, min(crop.shape)))))
    if factor > 1:
        crop = cv2.resize(crop, None, fx=factor, fy=factor, interpolation=cv2.INTER_NEAREST)
        full = cv2.resize(full, None, fx=factor, fy=factor, interpolation=cv2.INTER_NEAREST)
    colour = cv2.cvtColor(crop, cv2.COLOR_GRAY2BGR)
    contours, _ = cv2.findContours(full, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    cv2.drawContours(colour, contours, -1, CONTOUR_BGR, 1)
    return colour


#: Overlay PNGs waiting for the writer thread before new ones are skipped (and counted).
OVERLAY_BACKLOG = 64


#: Nice value of the overlay writer thread: inspection first, pictures with the CPU time left over.
OVERLAY_THREAD_NICE = 19


def _lower_thread_priority() -> None:
    """Run the calling thread at :data:`OVERLAY_THREAD_NICE` (Linux: a thread is a task with its own
    nice value); best effort, nothing happens where the OS does not allow it."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), OVERLAY_THREAD_NICE)
    except (AttributeError, OSError):
        pass


def _write_overlays(jobs: list[tuple[Path, Blob]]) -> None:
    for path, blob in jobs:
        write_png(path, overlay_image(blob), compression=OVERLAY_PNG_COMPRESSION, row_filter=OVERLAY_PNG_FILTER)


class _RecordFile:
    """One record file written a flush at a time: complete records on disk, or none of a flush.

    Lines collect in memory; :meth:`flush` writes them with one unbuffered write (no hidden buffer
    writes anything later) and :meth:`commit` marks what is written as complete. When the OS refuses
    a write (a full disk, a size limit) :meth:`undo` cuts the file back to its last commit, so the
    file never ends in half a record, and two files committed together hold the same records.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._file = open(path, "wb", buffering=0)
        except OSError as error:
            raise cannot_write(path, error) from None
        self.lines: list[str] = []  # text waiting for the next flush
        self.written_bytes = 0  # file length after the last flush
        self.complete_bytes = 0  # file length at the last commit

    def flush(self) -> None:
        """Write what is waiting (OSError as the OS raised it; the lines are dropped either way)."""
        data, self.lines = "".join(self.lines).encode("utf-8"), []
        view = memoryview(data)
        while view:
            written = self._file.write(view)
            self.written_bytes += written
            view = view[written:]

    def commit(self) -> None:
        """What is written so far is complete."""
        self.complete_bytes = self.written_bytes

    def undo(self) -> None:
        """Cut the file back to its last commit (best effort: shrinking needs no space)."""
        with contextlib.suppress(OSError):
            os.ftruncate(self._file.fileno(), self.complete_bytes)
            self.written_bytes = self.complete_bytes

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._file.close()

    @property
    def closed(self) -> bool:
        return self._file.closed


class DefectSinks:
    """``defects.jsonl`` + ``defects.csv`` (+ overlay PNGs), each record flushed as it is written.

    Records are written and flushed on the caller's thread (the runner flushes once per batch of
    records closed by the same strip: they are on disk before the next strip is inspected). Both
    files hold the same complete records: a write the OS refuses (a full disk) cuts both back to
    the last flush and raises one error naming the file and ``on_disk``. Overlay
    PNGs (about 0.3 ms each to draw, encode and write) are written by one background thread at the lowest CPU priority (nice 19) so neither a
    burst of defects nor the encoding slows inspection. When ``overlay_backlog`` overlays wait for
    that thread, the next one is skipped and counted in ``overlays_skipped`` (a live line: the record
    itself is never skipped) or, with ``wait_for_overlays``, the writer waits for the thread (an
    offline run, which has no line to keep up with: every overlay is written).

    Attributes:
        count: records written (the next record's id is ``count + 1``).
        on_disk: records of both files on disk (``count`` after a flush; the rest were refused).
        rejects: ``"reject"`` verdicts among the records on disk.

    Args:
        out_dir: the run folder (created).
        overlays: write ``overlays/defect_<id>.png`` per defect.
        overlay_backlog: overlays allowed to wait for the writer thread.
        wait_for_overlays: when the backlog is full, wait for the writer instead of skipping.
    """

    def __init__(self, out_dir: Path, *, overlays: bool = True, overlay_backlog: int = OVERLAY_BACKLOG,
                 wait_for_overlays: bool = False) -> None:
        self.out_dir = make_folder(Path(out_dir))
        self.jsonl_path = self.out_dir / "defects.jsonl"
        self.csv_path = self.out_dir / "defects.csv"
        self.overlay_dir = make_folder(self.out_dir / "overlays") if overlays else None
        self.count = 0
        self.on_disk = 0
        self.rejects = 0
        self._rejects_waiting = 0
        self._failed = False  # a flush was refused: the record files are not written again
        self._closed = False
        self._lock = threading.RLock()  # write/flush (post-processing thread) against close (main thread)
        self._jsonl = _RecordFile(self.jsonl_path)
        try:
            self._csv_file = _RecordFile(self.csv_path)
        except BaseException:
            self._jsonl.close()
            raise
        self._csv_text = io.StringIO()  # csv.writer's rows, moved to _csv_file.lines at each flush
        self._csv = csv.writer(self._csv_text)
        self._csv.writerow(DEFECT_CSV_COLUMNS)
        try:
            self._flush_records()
        except BaseException:
            self._jsonl.close()
            self._csv_file.close()
            raise
        self.overlays_skipped = 0
        self._overlay_backlog = overlay_backlog
        self.wait_for_overlays = bool(wait_for_overlays)
        self._pending: list[tuple[Future, int]] = []  # overlay jobs and their overlay counts
        self._batch: list[tuple[Path, Blob]] = []  # overlays written since the last flush
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="overlays",
                                          initializer=_lower_thread_priority) if overlays else None

    def write(self, defect: Defect, blob: Blob | None = None, *, flush: bool = True) -> None:
        """Append one defect to both files and flush them (and write its overlay).

        Args:
            defect: the record.
            blob: its component, for the overlay (None: no overlay).
            flush: flush both files now; False when more records emitted at the same moment
                follow (the caller then calls :meth:`flush` after the last one).

        Raises:
            EdgeInspectError: the files were refused before (:meth:`flush`); nothing more is written.
        """
        with self._lock:
            self._check_open()
            self._jsonl.lines.append(json.dumps(defect.to_json()) + "\n")
            self._csv.writerow(defect_csv_row(defect))
            if self._writer is not None and blob is not None:
                if self._room_for_overlay():
                    self._batch.append((self.overlay_dir / f"defect_{defect.id:06d}.png", blob))
                else:
                    self.overlays_skipped += 1
            self.count += 1
            self._rejects_waiting += defect.verdict == "reject"
            if flush:
                self.flush()

    def _check_open(self) -> None:
        if self._failed:
            raise EdgeInspectError(f"{self.jsonl_path}: not written after an earlier write error")
        if self._closed:
            raise EdgeInspectError(f"{self.jsonl_path}: already closed (the run has ended)")

    def _overlays_waiting(self) -> int:
        return sum(n for f, n in self._pending if not f.done()) + len(self._batch)

    def _room_for_overlay(self) -> bool:
        """True when one more overlay may wait for the writer (after waiting for room, with ``wait_for_overlays``)."""
        if self._overlays_waiting() < self._overlay_backlog:
            return True
        if not self.wait_for_overlays:
            return False
        self._submit_overlays()
        while self._overlays_waiting() >= self._overlay_backlog:
            running = [f for f, _ in self._pending if not f.done()]
            if not running:
                break
            wait(running, return_when=FIRST_COMPLETED)
        return True

    def _submit_overlays(self) -> None:
        """Hand the overlays written since the last call to the writer thread (one job: one wake-up)."""
        if self._batch:
            self._pending = [(f, n) for f, n in self._pending if not f.done() or f.exception() is not None]
            self._pending.append((self._writer.submit(_write_overlays, self._batch), len(self._batch)))
            self._batch = []

    def _flush_records(self) -> None:
        """Write what waits for both files; when the OS refuses, cut both back and raise one line."""
        self._csv_file.lines.append(self._csv_text.getvalue())
        self._csv_text.seek(0)
        self._csv_text.truncate()
        for record_file in (self._jsonl, self._csv_file):
            try:
                record_file.flush()
            except BaseException as error:  # an OSError, or an interrupt in the middle of a write
                self._failed = True
                self._jsonl.undo()
                self._csv_file.undo()
                if isinstance(error, OSError):
                    raise cannot_write(record_file.path, error,
                                       detail=f"; the {self.on_disk} record(s) before it are on disk") from None
                raise
        self._jsonl.commit()
        self._csv_file.commit()
        self.on_disk = self.count
        self.rejects += self._rejects_waiting
        self._rejects_waiting = 0

    def flush(self) -> None:
        """Write the records since the last flush to both files (they are on disk) and hand the
        overlays written since then to the writer thread.

        Raises:
            EdgeInspectError: the OS refused a write (a full disk), naming the file and the records
                on disk; both files are cut back to those, and nothing more is written.
        """
        with self._lock:
            self._check_open()
            self._flush_records()
            self._submit_overlays()

    def close(self) -> None:
        """Finish the overlays, close both files (idempotent); an overlay that failed is raised here.

        After a refused write the files are closed as they were cut back (the error was raised when
        it happened; raising it again would hide where), and overlay errors are not raised.
        """
        with self._lock:  # a post-processing thread still writing (a second Ctrl-C) finishes its record first
            if self._closed:
                return
            try:
                if not self._failed:
                    self.flush()
            finally:
                self._closed = True
                self._jsonl.close()
                self._csv_file.close()
                if self._writer is not None:  # the overlay thread never takes the lock
                    self._writer.shutdown(wait=True)
        if self._writer is not None and not self._failed:
            for future, _ in self._pending:
                if future.exception() is not None:
                    raise future.exception()

    def __enter__(self) -> DefectSinks:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class MaskWriter:
    """Web masks as PNG files of up to ``every_lines`` lines, cut at multiples of ``every_lines``.

    A file holds consecutive lines only: a gap (dropped frames) ends the current file early, so
    predicted and true masks of the same lines always have the same name and shape.
    ``<folder>/<first_line:09d>.png``, uint8 0/255.

    Args:
        folder: where the PNGs go (created).
        every_lines: lines per file (> 0).
    """

    def __init__(self, folder: Path, every_lines: int) -> None:
        if every_lines <= 0:
            raise ValueError(f"every_lines must be > 0, got {every_lines}")
        self.folder = make_folder(Path(folder))
        self.every_lines = int(every_lines)
        self._first: int | None = None
        self._parts: list[np.ndarray] = []
        self._lines = 0
        self.files: list[Path] = []
        self._closed = False

    def add(self, first_line: int, mask: np.ndarray) -> None:
        """Add the mask of lines ``[first_line, first_line + len(mask))``: ``(n, W)`` bool."""
        if self._first is not None and first_line != self._first + self._lines:
            self._write()
        start = 0
        while start < mask.shape[0]:
            line = first_line + start
            if self._first is None:
                self._first = line
            boundary = (line // self.every_lines + 1) * self.every_lines
            take = min(mask.shape[0] - start, boundary - line)
            self._parts.append(mask[start:start + take])
            self._lines += take
            start += take
            if line + take == boundary:
                self._write()

    def _write(self) -> None:
        if self._first is not None and self._parts:
            image = np.concatenate(self._parts).astype(np.uint8) * 255
            path = self.folder / f"{self._first:09d}.png"
            write_png(path, image)
            self.files.append(path)
        self._first, self._parts, self._lines = None, [], 0

    def close(self) -> None:
        """Write the last, partial file (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self._write()

    def __enter__(self) -> MaskWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_truth(path: Path, truths: list[TruthDefect]) -> None:
    """``truth.jsonl``: one true defect per line, written whole or not at all (:func:`write_text_whole`)."""
    write_text_whole(path, "".join(json.dumps(truth.to_json()) + "\n" for truth in truths))


def write_summary(path: Path, summary: RunSummary) -> None:
    """``summary.json`` (atomic)."""
    write_json(path, summary.to_json())
