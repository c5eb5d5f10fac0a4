"""After the engine: stitch → track → area → sinks, in the caller's thread or in a thread of their own.

:class:`PostProcessor` holds every stage that runs on engine outputs (the
:class:`~edgeinspect.stream.stitcher.Stitcher`, the :class:`~edgeinspect.stream.tracker.DefectTracker`,
the :class:`~edgeinspect.stream.area.AreaEstimator`, the sinks and the web image lines kept for
overlay crops). It is fed in web order by four calls: :meth:`~PostProcessor.start` (a segment
begins), :meth:`~PostProcessor.add_lines` (image lines of a frame), :meth:`~PostProcessor.add_batch`
(one engine batch) and :meth:`~PostProcessor.end_segment`.

:class:`PostThread` runs one PostProcessor in a thread of its own behind a bounded FIFO, so the
main thread goes back to tiling and inference while the previous batch is stitched, tracked and
written: the engines release the GIL while they compute. Where a core is free while the engine
computes (a GPU engine, or more cores than engine threads) the post-processing runs beside it; with
a CPU engine using every core it competes with the engine instead (on 2 cores measured a wash:
README, "bench"). The calls
are executed in the order they were submitted, so records, ids and files are the same as
in-thread. A full FIFO makes the submitter wait (nothing is dropped after the engine); an
exception in the thread is raised again in the submitter by its next call or by
:meth:`~PostThread.close`.

Example:
    >>> post = PostThread(PostProcessor(area, sinks, stitcher=..., tracker=...))
    >>> post.submit("add_batch", placements, prob)
    >>> post.close()          # waits until everything submitted is written
"""

from __future__ import annotations

import queue
import threading
from typing import Any

import numpy as np

from edgeinspect.stream.area import AreaEstimator
from edgeinspect.stream.sinks import DefectSinks, MaskWriter
from edgeinspect.stream.stitcher import Stitcher
from edgeinspect.stream.tracker import DefectTracker

#: Engine batches (and frames) the post-processing thread may lag behind the main thread.
POST_QUEUE_SIZE = 8


class LineRing:
    """Recent web image lines (uint8), kept until the tracker no longer needs them."""

    def __init__(self) -> None:
        self._parts: list[tuple[int, np.ndarray]] = []

    def append(self, first_line: int, lines: np.ndarray) -> None:
        """Add ``(n, W)`` uint8 lines starting at web line ``first_line``."""
        self._parts.append((first_line, lines))

    def take(self, first_line: int, stop_line: int) -> np.ndarray | None:
        """Lines ``[first_line, stop_line)`` (None if any is missing); drops older lines."""
        drop = 0
        while drop < len(self._parts) and self._parts[drop][0] + self._parts[drop][1].shape[0] <= first_line:
            drop += 1
        del self._parts[:drop]
        pieces, line = [], first_line
        for start, lines in self._parts:
            if start > line or line >= stop_line:
                break
            end = min(stop_line, start + lines.shape[0])
            if end > line:
                pieces.append(lines[line - start:end - start])
                line = end
        if line != stop_line:
            return None
        return pieces[0] if len(pieces) == 1 else np.concatenate(pieces)

    def clear(self) -> None:
        """Forget every line."""
        self._parts.clear()


class PostProcessor:
    """Engine outputs in, defect records (and mask PNGs) out, in web order.

    Args:
        area: the area estimator of the web.
        sinks: where defect records (and overlays) go.
        stitcher: puts tile outputs back on the web.
        tracker: groups the thresholded web into defects.
        timer: a ``StageTimer`` (``stitch``, ``track``, ``sinks``) to add to.
        threshold: defect pixel when ``prob >= threshold`` (for the predicted mask PNGs).
        pred_masks: writer for predicted masks, or None.
        keep_images: keep web image lines for overlay crops.
    """

    def __init__(self, area: AreaEstimator, sinks: DefectSinks, *, stitcher: Stitcher, tracker: DefectTracker,
                 timer: Any, threshold: float, pred_masks: MaskWriter | None = None,
                 keep_images: bool = True) -> None:
        self.area = area
        self.sinks = sinks
        self.stitcher = stitcher
        self.tracker = tracker
        self.timer = timer
        self.threshold = float(threshold)
        self.pred_masks = pred_masks
        self.images = LineRing() if keep_images else None

    def start(self, first_line: int) -> None:
        """A segment of consecutive web lines begins at web line ``first_line``."""
        self.stitcher.start(first_line)

    def add_lines(self, first_line: int, lines: np.ndarray) -> None:
        """Keep ``(n, W)`` uint8 display lines from ``first_line`` for overlay crops (no-op without)."""
        if self.images is not None:
            self.images.append(first_line, lines)

    def add_batch(self, placements: list, prob: np.ndarray) -> None:
        """Stitch, track and write one engine batch.

        Args:
            placements: the tiles' :class:`~edgeinspect.stream.records.TilePlacement`, in tile order.
            prob: ``(N, 1, tile_h, tile_w)`` float32 in [0, 1], the engine's ``prob`` for them.
        """
        for placement, tile_prob in zip(placements, prob[:, 0]):
            with self.timer("stitch"):
                strips = self.stitcher.add(placement, tile_prob)
            for strip in strips:
                image = None
                if self.images is not None:
                    image = self.images.take(strip.first_line, strip.stop_line)
                with self.timer("track"):
                    blobs = self.tracker.push(strip, image)
                if self.pred_masks is not None:
                    with self.timer("sinks"):
                        self.pred_masks.add(strip.first_line, strip.prob >= self.threshold)
                self._emit(blobs)

    def end_segment(self) -> None:
        """The segment's last batch was added: emit every defect left and forget the image lines."""
        with self.timer("track"):
            blobs = self.tracker.flush()
        self._emit(blobs)
        if self.images is not None:
            self.images.clear()

    def _emit(self, blobs: list) -> None:
        for blob in blobs:
            with self.timer("track"):
                defect = self.area.defect(blob, self.sinks.count + 1)
            with self.timer("sinks"):
                self.sinks.write(defect, blob, flush=False)
        if blobs:
            with self.timer("sinks"):
                self.sinks.flush()  # the records closed together are on disk before the next strip


class PostThread:
    """One :class:`PostProcessor` run by a thread of its own, fed through a bounded FIFO.

    Args:
        post: the post-processor (used only by the thread from now on).
        maxsize: calls the FIFO holds before :meth:`submit` waits.
    """

    def __init__(self, post: PostProcessor, *, maxsize: int = POST_QUEUE_SIZE) -> None:
        self.post = post
        self.error: BaseException | None = None
        self._queue: queue.Queue = queue.Queue(maxsize=maxsize)
        self._thread = threading.Thread(target=self._loop, name="edgeinspect-post", daemon=True)
        self._closed = False
        self._thread.start()

    def submit(self, method: str, *args: Any) -> None:
        """Queue ``post.<method>(*args)``; waits while the FIFO is full.

        Raises:
            BaseException: the error that stopped the thread (raised once, here or by :meth:`close`).
        """
        self._raise_error()
        item = (method, args)
        while True:
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                self._raise_error()

    def close(self) -> None:
        """Wait until every submitted call has run, then stop the thread (idempotent).

        Raises:
            BaseException: the error that stopped the thread, if it has not been raised yet.
        """
        if not self._closed:
            self._closed = True
            while self._thread.is_alive():
                try:
                    self._queue.put(None, timeout=0.1)
                    break
                except queue.Full:
                    continue
            self._thread.join()
        self._raise_error()

    def _raise_error(self) -> None:
        error, self.error = self.error, None
        if error is not None:
            self._closed = True
            raise error

    def _loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            method, args = item
            try:
                getattr(self.post, method)(*args)
            except BaseException as error:  # handed to the submitter, which raises it
                self.error = error
                _drain(self._queue)
                return


def _drain(fifo: queue.Queue) -> None:
    """Empty ``fifo`` so a submitter waiting for room wakes up and sees the error."""
    while True:
        try:
            fifo.get_nowait()
        except queue.Empty:
            return
