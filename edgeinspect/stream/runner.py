"""``edgeinspect run``: a frame source, an engine and the sinks wired into one streaming run.

Data flows one way::

    acquisition thread:  source ──frames──▶ DropQueue (bounded; full → frame dropped and counted)
    main thread:         DropQueue ──▶ Tiler ──▶ Engine ──batches──▶ PostThread FIFO (bounded; full → wait)
    post thread:         FIFO ──▶ Stitcher ──▶ DefectTracker ──▶ AreaEstimator ──▶ DefectSinks / MaskWriter

An engine taking S > 1 concurrent calls (ONNX Runtime, ``engine_streams``) runs S batches at once: the
main thread hands each batch to one of S inference threads and collects the results in tiling
order, so while the oldest batch is collected and post-processed S more are inferred; records are
the same as with one stream.

The post thread (:mod:`~edgeinspect.stream.postprocess`, ``post_thread: true``, the default) stitches,
tracks and writes one batch while the main thread tiles and infers the next: the engines release
the GIL while they compute. ``post_thread: false`` runs those stages in the main thread; the
records are the same.

Acquisition (:mod:`~edgeinspect.stream.acquisition`) is never blocked by inference: when the
queue is full the newest frame is dropped, counted (frames and lines, in ``summary.json``) and
logged (a rate-limited warning). The one exception is a source without a real-time clock (sim
or replay with no line rate: "as fast as possible"), which waits for room instead
(``queue_policy`` in ``summary.json``). Dropped frames leave a gap in the web: the pipeline ends
its segment there (tiles, stitching and tracking restart after the gap) and the truth of those
lines is not scored. Overlay PNGs follow the same rule (``overlay_policy: auto``): a live run skips
(and counts) the overlays its writer thread is behind on, an offline run waits for the writer, so
every record has its overlay (``overlay_policy`` in ``summary.json``).

One ``contextlib.ExitStack`` owns every resource; on the way out (normal end, limit reached,
SIGINT/SIGTERM or an error) it stops and joins the acquisition thread, waits for the post thread
to write what was inferred, closes the sinks, the source
and the engine, restores the signal handlers and writes ``summary.json`` last.

Signals: the first SIGINT or SIGTERM stops acquisition; the frames already queued are inspected,
every sink is closed and ``summary.json`` written (``stop_reason`` = ``"SIGINT"``/``"SIGTERM"``);
the run then counts as a clean stop (``edgeinspect run`` exits 0: a service stopped by systemd
did its job). A second signal gets the default behaviour (immediate exit).

Example:
    >>> summary = run_inspection(RunConfig(camera="sim", lines=20_000, out=Path("runs/demo")))
    >>> summary.lines_per_s, summary.defects
"""

from __future__ import annotations

import bisect
import collections
import contextlib
import datetime as _dt
import logging
import queue
import signal
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from edgeinspect.config import DEFAULT_DETECT_THRESHOLD, DEFAULT_THRESHOLD, RunConfig, resolve_streams
from edgeinspect.backends.base import concurrent_calls_of
from edgeinspect.errors import EdgeInspectError
from edgeinspect.outputs import check_folder_path
from edgeinspect.stream.acquisition import AcquisitionThread, is_live
from edgeinspect.stream.area import AREA_HALO_PX, AreaEstimator, load_calibration
from edgeinspect.stream.mask_truth import MaskTruth
from edgeinspect.stream.postprocess import PostProcessor, PostThread
from edgeinspect.stream.queueing import DropQueue
from edgeinspect.stream.records import STAGES, RunProgress, RunSummary, Tile, TilePlacement, TruthDefect
from edgeinspect.stream.sinks import DefectSinks, MaskWriter, display_lines, write_summary, write_truth
from edgeinspect.stream.stitcher import Stitcher
from edgeinspect.stream.tiler import Tiler
from edgeinspect.stream.tracker import DEFAULT_MERGE_GAP_PX, DefectTracker

log = logging.getLogger("edgeinspect.stream")

#: Seconds between two progress callbacks.
PROGRESS_EVERY_S = 0.25
#: Queue size for sources without a real-time clock (unpaced sim/replay): they wait for room.
UNPACED_QUEUE_SIZE = 2


def default_calibration_path() -> Path:
    """The synthetic web's calibration shipped in the package (``edgeinspect/assets/synthetic-web.yaml``)."""
    from edgeinspect.assets import default_calibration

    return default_calibration()


def default_out_dir() -> Path:
    """``runs/<YYYYmmdd-HHMMSS>`` in the working directory."""
    return Path("runs") / _dt.datetime.now().strftime("%Y%m%d-%H%M%S")


class StageTimer:
    """Seconds spent per pipeline stage (:data:`~edgeinspect.stream.records.STAGES`)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = dict.fromkeys(STAGES, 0.0)

    @contextlib.contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[stage] += time.perf_counter() - start


@dataclass(frozen=True, slots=True)
class PipelineSettings:
    """How frames become defects (see :class:`~edgeinspect.config.RunConfig` for the meanings)."""

    overlap_px: int = 32
    scale: float = 1.0
    batch_size: int = 4
    threshold: float = DEFAULT_THRESHOLD
    detect_threshold: float = DEFAULT_DETECT_THRESHOLD
    context_px: int = 16
    max_band_lines: int = 8192
    merge_gap_px: int = DEFAULT_MERGE_GAP_PX


class Pipeline:
    """Frames in, defect records out: tile → infer → stitch → track → area → sinks.

    The engine runs in this thread, or with an engine taking several concurrent calls in that many
    inference threads (this thread collects their results in tiling order). With ``post_thread`` the
    stages after the engine run in a :class:`PostThread` of their own (the main thread tiles and
    infers the next batch meanwhile); without, in the caller's thread.
    Either way the records, ids and files are the same. Call :meth:`close` when the last segment
    has ended (it waits for the post-processing); until then records may still be on their way.

    Args:
        engine: an open engine: ``tile_hw`` and ``infer((N,1,H,W) uint8|float32) -> {"prob": ...}``.
        area: the area estimator of the web.
        sinks: where defect records (and overlays) go.
        settings: tiling, batching, threshold, tracker settings.
        pred_masks: writer for predicted masks, or None.
        truth_masks: writer for true masks (frames that carry one), or None.
        mask_truth: groups the frames' true masks into true defects (a source that knows no
            defects of its own but has masks: replay), or None.
        timer: stage timer of this thread (``tile``, ``infer``: the engine's time, or with concurrent
            calls this thread's wait for the oldest batch; true masks count as ``sinks``).
        keep_images: keep web image lines for overlay crops.
        post_thread: run stitch/track/area/sinks in a thread of their own.
    """

    def __init__(self, engine: Any, area: AreaEstimator, sinks: DefectSinks, *,
                 settings: PipelineSettings = PipelineSettings(), pred_masks: MaskWriter | None = None,
                 truth_masks: MaskWriter | None = None, timer: StageTimer | None = None,
                 keep_images: bool = True, post_thread: bool = False, mask_truth: MaskTruth | None = None) -> None:
        self.engine = engine
        self.area = area
        self.sinks = sinks
        self.settings = settings
        self.truth_masks = truth_masks
        self.mask_truth = mask_truth
        self.timer = timer or StageTimer()
        #: stage timer of the post-processing (``stitch``, ``track``, ``sinks``).
        self.post_timer = StageTimer() if post_thread else self.timer
        self.tiler = Tiler(tuple(engine.tile_hw), overlap_px=settings.overlap_px, scale=settings.scale)
        halo_px = min(AREA_HALO_PX, settings.context_px) if area.area_from == "probability" else 0
        tracker = DefectTracker(threshold=settings.threshold, context_px=settings.context_px,
                                max_band_lines=settings.max_band_lines, merge_gap_px=settings.merge_gap_px,
                                halo_px=halo_px, detect_threshold=settings.detect_threshold)
        self.post = PostProcessor(area, sinks, stitcher=Stitcher(area.width_px, scale=settings.scale),
                                  tracker=tracker, timer=self.post_timer, threshold=settings.threshold,
                                  pred_masks=pred_masks, keep_images=keep_images)
        self._post_thread = PostThread(self.post) if post_thread else None
        self.keep_images = keep_images
        self.segments: list[tuple[int, int]] = []  # inspected [first, stop) line ranges
        self.frames = 0
        self.lines = 0
        self._pending: list[Tile] = []
        self._next_line: int | None = None
        #: engine batches inferred at once (the engine's ``concurrent_calls``; 1: inferred in this thread).
        self.streams = concurrent_calls_of(engine)
        self._infer_pool = (ThreadPoolExecutor(self.streams, thread_name_prefix="edgeinspect-infer")
                            if self.streams > 1 else None)
        #: engine batches in flight and the post-processing calls queued behind them, in tiling order:
        #: ``(future, "add_batch", (placements,))`` or ``(None, method, args)``.
        self._in_flight: collections.deque[tuple[Future | None, str, tuple]] = collections.deque()
        self._batches_in_flight = 0

    def _submit(self, method: str, *args: Any) -> None:
        """Hand ``post.<method>(*args)`` on in web order: behind the batches in flight, if any."""
        if self._in_flight:
            self._in_flight.append((None, method, args))
        else:
            self._post(method, *args)

    def _post(self, method: str, *args: Any) -> None:
        if self._post_thread is None:
            getattr(self.post, method)(*args)
        else:
            self._post_thread.submit(method, *args)

    def stage_seconds(self) -> dict[str, float]:
        """Seconds per stage over both threads (call after :meth:`close`)."""
        seconds = dict(self.timer.seconds)
        if self.post_timer is not self.timer:
            for stage, s in self.post_timer.seconds.items():
                seconds[stage] = seconds.get(stage, 0.0) + s
        return seconds

    def process(self, frame: Any) -> None:
        """Inspect one frame (``lines``, ``first_line``, ``bit_depth``, optional ``truth_mask``)."""
        lines = frame.lines
        n = int(lines.shape[0])
        if lines.shape[1] != self.area.width_px:
            raise EdgeInspectError(
                f"frame {frame.frame_id} is {lines.shape[1]} px wide, the run started at {self.area.width_px} px"
            )
        if self._next_line is not None and frame.first_line != self._next_line:
            self.end_segment()
        if self._next_line is None:
            self._submit("start", frame.first_line)
            self.segments.append((frame.first_line, frame.first_line))
        self._next_line = frame.first_line + n
        self.segments[-1] = (self.segments[-1][0], self._next_line)
        self.frames += 1
        self.lines += n
        with self.timer("tile"):
            display = display_lines(lines, frame.bit_depth) if self.keep_images else None
            tiles = self.tiler.push(lines, bit_depth=frame.bit_depth)
        if display is not None:
            self._submit("add_lines", frame.first_line, display)
        if self.truth_masks is not None and getattr(frame, "truth_mask", None) is not None:
            with self.timer("sinks"):
                self.truth_masks.add(frame.first_line, frame.truth_mask)
        if self.mask_truth is not None:
            with self.timer("sinks"):
                self.mask_truth.add(frame.first_line, getattr(frame, "truth_mask", None))
        self._pending += tiles
        while len(self._pending) >= self.settings.batch_size:
            batch, self._pending = self._pending[:self.settings.batch_size], self._pending[self.settings.batch_size:]
            self._run_batch(batch)

    def end_segment(self) -> None:
        """End the segment at a gap or the end of the run: flush the tiler into batches and queue the
        stitcher's and tracker's flush behind the batches in flight (the main thread does not wait
        for them; :meth:`poll` or the next batches hand them on)."""
        if self._next_line is None:
            return
        with self.timer("tile"):
            self._pending += self.tiler.flush()
        while self._pending:
            batch, self._pending = self._pending[:self.settings.batch_size], self._pending[self.settings.batch_size:]
            self._run_batch(batch)
        # queued behind the segment's batches still in flight: the main thread goes on taking frames
        # and tiling the next segment meanwhile (at a gap of dropped frames it does not stall the line)
        self._submit("end_segment")
        if self.mask_truth is not None:
            self.mask_truth.end_segment()
        self._next_line = None

    def poll(self) -> None:
        """Hand on, without waiting, the batches in flight the engine has finished (oldest first, up
        to the first still running) and the calls queued behind them: while no frame comes (a
        paused line, a camera reconnecting after a gap) their records still reach the sinks."""
        while self._in_flight and (self._in_flight[0][0] is None or self._in_flight[0][0].done()):
            self._collect()

    def close(self) -> None:
        """Post-process the batches still in flight (and the calls queued behind them), stop the
        inference threads, wait until every record is written and stop the post-processing thread
        (idempotent). After a failed batch the later ones are dropped: the web would have a hole
        the tracker cannot bridge."""
        try:
            while self._in_flight:
                self._collect()
        finally:
            self._in_flight.clear()
            self._batches_in_flight = 0
            if self._infer_pool is not None:
                self._infer_pool.shutdown(wait=True, cancel_futures=True)
            if self._post_thread is not None:
                self._post_thread.close()

    def _run_batch(self, tiles: list[Tile]) -> None:
        with self.timer("tile"):
            batch = np.stack([t.pixels for t in tiles])[:, None]
        placements = [t.placement for t in tiles]
        if self._infer_pool is None:
            with self.timer("infer"):
                prob = self.engine.infer(batch)["prob"]
            self._post("add_batch", placements, prob)
            return
        self._in_flight.append((self._infer_pool.submit(self.engine.infer, batch), "add_batch", (placements,)))
        self._batches_in_flight += 1
        while self._batches_in_flight > self.streams:  # every stream busy and one batch queued: collect the oldest
            self._collect()

    def _collect(self) -> None:
        """Hand the oldest entry in flight to the post-processing: a batch's output once the engine
        has it, or a call queued behind the batches before it.

        Raises:
            Exception: the engine's error for that batch, or the post-processing's; the batches
                still in flight are then dropped (cancelled or discarded).
        """
        future, method, args = self._in_flight.popleft()
        try:
            if future is None:
                self._post(method, *args)
                return
            self._batches_in_flight -= 1
            with self.timer("infer"):  # the main thread's wait for the engine
                prob = future.result()["prob"]
            self._post(method, *args, prob)
        except BaseException:
            for pending, _, _ in self._in_flight:
                if pending is not None:
                    pending.cancel()
            self._in_flight.clear()
            self._batches_in_flight = 0
            raise


def collect_truth(source: Any, segments: list[tuple[int, int]], area: AreaEstimator) -> list[TruthDefect] | None:
    """True defects touching the inspected lines, from sources with ``truth_defects(first, stop)``.

    Returns:
        One :class:`TruthDefect` per defect id (``inside`` when one segment holds it whole; with
        its pixels, ``mask_b64``, when the source's truth carries them), or None when the source
        does not know its truth.
    """
    if not hasattr(source, "truth_defects"):
        return None
    found: dict[int, Any] = {}
    for first, stop in segments:
        if stop > first:
            for truth in source.truth_defects(first, stop):
                found.setdefault(int(truth.id), truth)
    spans = sorted((first, stop) for first, stop in segments if stop > first)  # web order
    firsts = [first for first, _ in spans]
    disjoint = all(a[1] <= b[0] for a, b in zip(spans, spans[1:]))  # a run's segments are; else look at all
    records = []
    for truth in sorted(found.values(), key=lambda t: (t.bbox[1], t.bbox[0], t.id)):
        y0, y1 = truth.bbox[1], truth.bbox[3]
        if disjoint:
            holder = bisect.bisect_right(firsts, y0) - 1  # the one segment that can hold it whole
            inside = holder >= 0 and y1 <= spans[holder][1]
        else:
            inside = any(first <= y0 and y1 <= stop for first, stop in spans)
        packed = getattr(truth, "mask_packed", "") or None  # exact pixels, kept for scoring
        # unpacked only where columns differ in width (the area needs them); else area_px × the pixel is exact
        pixels = truth.mask() if packed is not None and area.pixel_mm2 is None else None
        records.append(area.truth(truth.id, truth.kind, tuple(truth.bbox), area_px=truth.area_px, inside=inside,
                                  mask=pixels, mask_b64=packed))
    return records


def _check_out_dir(out: Path) -> Path:
    check_folder_path(out)  # neither out nor a parent is a file
    if out.is_dir() and any((out / name).exists() for name in ("summary.json", "defects.jsonl")):
        raise EdgeInspectError(f"{out}: already holds a run; choose another --out")
    return out


def open_configured_source(config: RunConfig) -> Any:
    """The frame source ``config`` names, with the camera YAML and CLI options applied (not opened)."""
    from edgeinspect import acquire

    options = dict(config.source_options)
    if config.camera_config is not None:
        options["camera"] = config.camera_config
    return acquire.open_source(config.camera, **options)


def open_configured_engine(config: RunConfig) -> Any:
    """The engine ``config`` names (the bundled model when none), not opened."""
    from edgeinspect import backends

    path = config.engine
    if path is None:
        path = bundled_engine_dir()
    # the cascade infers one batch at a time
    streams = 1 if config.cascade else resolve_streams(config.engine_streams, config.engine_threads)
    engine = backends.load(path, threads=config.engine_threads, concurrent_calls=streams)
    if config.cascade:
        from edgeinspect.stream.cascade import CascadeEngine

        return CascadeEngine(engine, threshold=config.cascade_threshold)
    return engine


def _cascade_stats(engine: Any) -> dict[str, float] | None:
    """The cascade's counters for ``summary.json`` (None when the engine is no cascade)."""
    if not hasattr(engine, "skipped_share"):
        return None
    return {"threshold": engine.threshold, "tiles": engine.tiles, "skipped": engine.skipped,
            "skipped_share": round(engine.skipped_share, 4)}


def bundled_engine_dir() -> Path:
    """The model shipped with edgeinspect as ONNX (no torch needed to run it).

    Raises:
        EdgeInspectError: missing from this install; the message says what to pass instead.
    """
    from edgeinspect.assets import default_engine

    return default_engine()


def run_inspection(config: RunConfig, *, engine: Any = None, source: Any = None,
                   progress: Callable[[RunProgress], None] | None = None,
                   stop_event: threading.Event | None = None, handle_signals: bool = True) -> RunSummary:
    """Run the streaming inspection until the source ends, a limit is reached or a signal arrives.

    Args:
        config: the run settings (source, calibration, engine, out, limits, tiling ...).
        engine: an engine object to use instead of ``config.engine`` (unopened or open; it is
            opened and closed here), e.g. a test double.
        source: a frame source to use instead of ``config.camera`` (opened and closed here).
        progress: called with a :class:`RunProgress` about 4 times a second (main thread).
        stop_event: set it to stop the run as SIGINT would (``stop_reason`` ``"stopped"``).
        handle_signals: install SIGINT/SIGTERM handlers (main thread only).

    Returns:
        The :class:`RunSummary` also written to ``<out>/summary.json``.

    Raises:
        EdgeInspectError: bad calibration/engine/source/out folder, or the source failed (the
            summary is still written when the run had started).
    """
    calib_path = Path(config.calib) if config.calib is not None else default_calibration_path()
    calibration = load_calibration(calib_path)
    out = _check_out_dir(Path(config.out) if config.out is not None else default_out_dir())
    stop = stop_event or threading.Event()
    signal_state: dict[str, str | None] = {"reason": None}
    result: dict[str, RunSummary] = {}

    with contextlib.ExitStack() as stack:
        if handle_signals and threading.current_thread() is threading.main_thread():
            _install_signal_handlers(stack, stop, signal_state)  # first: a signal while opening stops cleanly too
        engine_obj = engine if engine is not None else open_configured_engine(config)
        if hasattr(engine_obj, "__enter__"):
            stack.enter_context(engine_obj)
        source_obj = source if source is not None else open_configured_source(config)
        stack.enter_context(source_obj)
        area = AreaEstimator(calibration, int(source_obj.width), area_from=config.area_from)
        settings = PipelineSettings(
            overlap_px=config.overlap_px, scale=config.scale, batch_size=config.batch_size,
            threshold=config.threshold, detect_threshold=config.detect_threshold, context_px=config.context_px,
            max_band_lines=config.max_band_lines, merge_gap_px=config.merge_gap_px,
        )
        Tiler(tuple(engine_obj.tile_hw), overlap_px=settings.overlap_px, scale=settings.scale)  # check geometry early

        block = not is_live(source_obj)
        # an unpaced sim/replay waits for room: a short queue is enough and keeps the drain at the end short
        queue_size = min(config.queue_size, UNPACED_QUEUE_SIZE) if block else config.queue_size
        acquisition = AcquisitionThread(source_obj, DropQueue(queue_size), stop=stop, lines=config.lines,
                                        duration_s=config.duration_s, block=block)
        wait_for_overlays = config.overlay_policy == "wait" or (config.overlay_policy == "auto" and block)
        sinks = DefectSinks(out, overlays=config.overlays, wait_for_overlays=wait_for_overlays)
        pred_masks = truth_masks = None
        if config.mask_png_every_lines:
            pred_masks = MaskWriter(out / "masks" / "pred", config.mask_png_every_lines)
            truth_masks = MaskWriter(out / "masks" / "truth", config.mask_png_every_lines)
        # a source without defects of its own (replay) may still carry true masks: group them
        mask_truth = None if hasattr(source_obj, "truth_defects") else MaskTruth(area, max_band_lines=config.max_band_lines)
        pipeline = Pipeline(engine_obj, area, sinks, settings=settings, keep_images=config.overlays,
                            pred_masks=pred_masks, truth_masks=truth_masks, post_thread=config.post_thread,
                            mask_truth=mask_truth)
        report = _SummaryWriter(config, calib_path, out, engine_obj, acquisition, pipeline, signal_state, result)
        stack.push(report)  # runs last: after the threads are joined and every sink is closed
        stack.enter_context(sinks)
        for writer in (pred_masks, truth_masks):
            if writer is not None:
                stack.enter_context(writer)
        stack.callback(pipeline.close)  # before the sinks close: what was inferred is written

        report.start()
        acquisition.start()
        stack.callback(acquisition.stop_and_join)
        last_progress = 0.0
        while True:
            try:
                frame = acquisition.queue.get(timeout_s=0.05)
            except queue.Empty:
                if acquisition.done.is_set() and acquisition.queue.empty():
                    break
                pipeline.poll()  # no frame for now: what the engine has finished is still written
                continue
            pipeline.process(frame)
            now = time.perf_counter()
            if progress is not None and now - last_progress >= PROGRESS_EVERY_S:
                last_progress = now
                progress(report.progress())
        pipeline.end_segment()
        pipeline.close()
        if acquisition.error is None:
            truths = collect_truth(source_obj, pipeline.segments, area)
            if truths is None and mask_truth is not None:
                truths = mask_truth.records()
                if mask_truth.frames_with_mask and mask_truth.frames_without_mask:
                    log.warning("truth.jsonl not written: %d of %d frames had no true mask (every image needs one)",
                                mask_truth.frames_without_mask,
                                mask_truth.frames_with_mask + mask_truth.frames_without_mask)
            if truths is not None:
                with pipeline.timer("sinks"):
                    write_truth(out / "truth.jsonl", truths)
        if progress is not None:
            progress(report.progress())

    error = acquisition.error
    if error is not None:
        if isinstance(error, EdgeInspectError):
            raise error
        raise EdgeInspectError(f"acquisition failed: {type(error).__name__}: {error}") from error
    return result["summary"]


class _SummaryWriter:
    """Live progress and the final ``summary.json`` of one run (an ExitStack exit callback)."""

    def __init__(self, config: RunConfig, calib_path: Path, out: Path, engine: Any,
                 acquisition: AcquisitionThread, pipeline: Pipeline, signal_state: dict, result: dict) -> None:
        self.config, self.calib_path, self.out = config, calib_path, out
        self.engine, self.acquisition, self.pipeline = engine, acquisition, pipeline
        self.signal_state, self.result = signal_state, result
        self.started_at = _dt.datetime.now().astimezone().isoformat(timespec="seconds")
        self.t0 = time.perf_counter()

    def start(self) -> None:
        """The run's clock starts now."""
        self.t0 = time.perf_counter()

    def progress(self) -> RunProgress:
        """What the live display shows now."""
        a, p, q = self.acquisition, self.pipeline, self.acquisition.queue
        wall = time.perf_counter() - self.t0
        return RunProgress(
            frames=a.frames, lines=a.lines_acquired, frames_dropped=q.frames_dropped, lines_dropped=q.lines_dropped,
            defects=p.sinks.count, rejects=p.sinks.rejects, wall_time_s=wall,
            lines_per_s=p.lines / wall if wall > 0 else 0.0,
            mpx_per_s=p.lines * p.area.width_px / wall / 1e6 if wall > 0 else 0.0,
        )

    def _stop_reason(self, failed: bool) -> str:
        a = self.acquisition
        if a.error is not None or failed:
            return "error"
        return self.signal_state["reason"] or a.reason or ("stopped" if a.stop.is_set() else "source_end")

    def __call__(self, exc_type: Any, exc: Any, tb: Any) -> bool:
        a, p, q, engine = self.acquisition, self.pipeline, self.acquisition.queue, self.engine
        stage_s = p.stage_seconds()
        stage_s["acquire"] = a.acquire_s
        total_s = sum(stage_s.values())
        wall = time.perf_counter() - self.t0
        width = p.area.width_px
        manifest = getattr(engine, "manifest", None)
        calibration = p.area.calibration
        summary = RunSummary(
            source=str(getattr(a.source, "name", self.config.camera)),
            engine_dir=str(getattr(engine, "path", type(engine).__name__)),
            backend=getattr(engine, "backend", None),
            precision=getattr(manifest, "precision", None),
            calibration=str(self.calib_path),
            reject_area_mm2=calibration.reject_area_mm2,
            significant_area_mm2=calibration.significant_area_mm2,
            out_dir=str(self.out),
            width_px=width,
            frames=a.frames,
            lines=a.lines_acquired,
            frames_inspected=p.frames,
            lines_inspected=p.lines,
            frames_dropped=q.frames_dropped,
            lines_dropped=q.lines_dropped,
            defects=p.sinks.on_disk,  # the records in defects.jsonl/.csv (all of them, unless the disk refused some)
            rejects=p.sinks.rejects,
            wall_time_s=round(wall, 4),
            lines_per_s=round(p.lines / wall, 2) if wall > 0 else 0.0,
            mpx_per_s=round(p.lines * width / wall / 1e6, 4) if wall > 0 else 0.0,
            stage_s={k: round(stage_s[k], 4) for k in STAGES},
            stage_share={k: round(stage_s[k] / total_s if total_s else 0.0, 4) for k in STAGES},
            stop_reason=self._stop_reason(exc is not None),
            tile_hw=(p.tiler.tile_h, p.tiler.tile_w),
            overlap_px=p.settings.overlap_px,
            scale=p.settings.scale,
            batch_size=p.settings.batch_size,
            engine_streams=p.streams,
            threshold=p.settings.threshold,
            detect_threshold=p.post.tracker.detect_threshold,
            faint_groups=p.post.tracker.faint_groups,
            merge_gap_px=p.settings.merge_gap_px,
            area_from=p.area.area_from,
            queue_size=q.maxsize,
            queue_policy="block" if a.block else "drop",
            overlay_policy="wait" if p.sinks.wait_for_overlays else "skip",
            started_at=self.started_at,
            source_stats=_source_stats(a.source),
            overlays_skipped=p.sinks.overlays_skipped,
            cascade=_cascade_stats(engine),
        )
        try:
            write_summary(self.out / "summary.json", summary)
        except EdgeInspectError as error:
            if isinstance(exc, EdgeInspectError):  # a full disk fails the records first: one line for both
                raise EdgeInspectError(f"{exc}; {error}") from None
            if exc is None:
                raise
            log.error("%s", error)  # an interrupt or a bug is on its way: it stays the one raised
        self.result["summary"] = summary
        return False


def _source_stats(source: Any) -> dict[str, int]:
    """The source's own loss counters (``SourceStats`` as a dict), empty for a source without them."""
    stats = getattr(source, "stats", None)
    if stats is None:
        return {}
    names = ("frames", "lines", "frames_lost", "lines_lost", "reconnects", "timeouts")
    return {name: int(getattr(stats, name)) for name in names if hasattr(stats, name)}


def _install_signal_handlers(stack: contextlib.ExitStack, stop: threading.Event, state: dict) -> None:
    """First SIGINT/SIGTERM: stop cleanly; the handlers are restored then, so a second one acts as usual."""
    signals = (signal.SIGINT, signal.SIGTERM)
    previous = {sig: signal.getsignal(sig) for sig in signals}

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    def on_signal(signum: int, _frame: Any) -> None:
        name = signal.Signals(signum).name
        state["reason"] = state["reason"] or name
        log.warning("%s received: stopping acquisition, inspecting queued frames, writing summary.json", name)
        stop.set()
        restore()

    for sig in signals:
        signal.signal(sig, on_signal)
    stack.callback(restore)
