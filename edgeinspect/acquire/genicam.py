"""``genicam[:ID]``: line-scan frames from a GenICam camera through harvesters and a GenTL producer.

One :class:`GenICamSource` owns one ``Harvester`` and one ``ImageAcquirer``. ``open()`` loads the
producer (see :mod:`edgeinspect.acquire.gentl`), picks the device, and sets the SFNC nodes of the
camera config that the camera has (:mod:`edgeinspect.acquire.nodes`; what it lacks or rejects is
in :attr:`GenICamSource.node_issues` and the log). Acquisition starts at the first ``next()``; from
then on fetch, copy and requeue happen on that one thread (harvesters has no locking).

Each buffer is copied out (``data.reshape(h, -1)[:, :w].copy()``: harvesters 1.4.3 keeps row
padding, and the array is a view of a buffer the producer refills once requeued) and requeued at
once. Loss accounting, so ``Frame.first_line`` stays a true web index:

- a frame-ID jump of ``d`` = ``d - 1`` frames (× Height lines) lost; 16-bit GigE Vision block IDs
  wrap 65535 → 1;
- a lost device (a fetch error, or ``max_timeouts`` fetch timeouts in a row) is reconnected with
  back-off (destroy acquirer, reset, add producer, update, create, configure, start — never
  ``update()`` under a live acquirer, which destroys it). The gap is the host time from the last
  frame before to the first after, × the camera's AcquisitionLineRate when free running, else ÷ the
  frame period measured from device timestamps. ``reconnect_attempts`` failed attempts without a
  frame end the stream with an :class:`~edgeinspect.errors.EdgeInspectError` naming the device.

harvesters installs a SIGINT handler in ``create()`` that can segfault a process interrupted
inside ``fetch``; the previous handler is restored right after every ``create()``. ``close()`` is
idempotent and may be called from a signal handler or another thread: while the iterating thread
is inside ``fetch`` it only asks it to stop (it tears down when the fetch returns, within
``fetch_timeout_s``).

Example:
    >>> with GenICamSource("SN_InterfaceA_0", cti=tlsimu_cti(),
    ...                    camera=CameraConfig(width=4096, lines_per_frame=64, pixel_format="Mono8"),
    ...                    max_frames=10) as camera:
    ...     camera.node_issues          # [] here; e.g. AcquisitionLineRate missing on others
    ...     frames = list(camera)       # Frame.lines (64, 4096) uint8
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from edgeinspect.acquire.base import Frame, SourceBase
from edgeinspect.acquire.camera_config import CameraConfig, bit_depth_of, load_camera_config
from edgeinspect.acquire.gentl import device_summary, resolve_cti, select_device
from edgeinspect.acquire.nodes import NodeIssue, apply_settings, read_node, settings_from_config
from edgeinspect.errors import EdgeInspectError

log = logging.getLogger(__name__)
_HARVESTERS_LOG = logging.getLogger("edgeinspect.acquire.harvesters")
if _HARVESTERS_LOG.level == logging.NOTSET:  # harvesters narrates every start/stop at INFO
    _HARVESTERS_LOG.setLevel(logging.WARNING)

#: harvesters' internal wait per GenTL event poll (ms): 1 ms (its default) costs ~10 % of a core.
_EVENT_POLL_MS = 10
#: A frame-ID step larger than this is a restart of the counter, not a loss.
_MAX_ID_STEP = 1 << 24
_UNSET: Any = object()


def frame_id_gap(previous: int, current: int) -> int | None:
    """Frames missing between two consecutively delivered frame IDs.

    Args:
        previous: ID of the frame delivered before.
        current: ID of this frame.

    Returns:
        ``current - previous - 1`` (>= 0); across a 16-bit GigE Vision block-ID wrap (65535 → 1,
        ID 0 unused) the IDs skipped; None when the IDs are not comparable (the counter restarted or
        jumped by more than 2**24).
    """
    step = current - previous
    if 1 <= step <= _MAX_ID_STEP:
        return step - 1
    if 0xFF00 <= previous <= 0xFFFF and 0 <= current <= 0xFF:
        return max(0, current + 0xFFFF - previous - 1)
    return None


class GenICamSource(SourceBase):
    """Frames from a GenICam line-scan (or area-scan) camera.

    Args:
        device: Serial number, model, user-defined name, device ID or index (see
            :func:`~edgeinspect.acquire.gentl.select_device`); None = the camera config's
            ``device``, else the first device.
        camera: A :class:`CameraConfig`, a camera YAML path, or None (set no node).
        cti: GenTL producer file; None = the camera config's ``cti``, else ``GENICAM_GENTL64_PATH``.
        fetch_timeout_s: One fetch waits this long (s); None = the config's (1 s).
        max_timeouts: Fetch timeouts in a row that count as a lost device; None = never
            (encoder-triggered webs that may stop); default = the config's (5).
        reconnect_attempts: Failed reconnect attempts without a frame before giving up; None = config's.
        backoff_s: Waits before reconnect attempts 2, 3, … (s; the last repeats); None = config's.
        num_buffers: GenTL buffers to announce; None = the config's (16).
        max_frames: Stop after this many frames; None = endless.
    """

    def __init__(self, device: str | int | None = None, *, camera: CameraConfig | Path | str | None = None,
                 cti: Path | str | None = None, fetch_timeout_s: float | None = None,
                 max_timeouts: int | None = _UNSET, reconnect_attempts: int | None = None,
                 backoff_s: Sequence[float] | None = None, num_buffers: int | None = None,
                 max_frames: int | None = None) -> None:
        super().__init__(max_frames=max_frames)
        if camera is None:
            camera = CameraConfig()
        elif not isinstance(camera, CameraConfig):
            camera = load_camera_config(camera)
        self.config = camera
        self.device_key = device if device is not None else camera.device
        self.name = f"genicam:{self.device_key}" if self.device_key is not None else "genicam"
        self.fetch_timeout_s = float(fetch_timeout_s or camera.fetch_timeout_s)
        self.max_timeouts = camera.max_timeouts if max_timeouts is _UNSET else max_timeouts
        self.reconnect_attempts = camera.reconnect_attempts if reconnect_attempts is None else reconnect_attempts
        self.backoff_s = tuple(backoff_s) if backoff_s is not None else camera.backoff_s
        self.num_buffers = num_buffers or camera.num_buffers
        if not self.fetch_timeout_s > 0 or self.reconnect_attempts < 0 or not self.backoff_s:
            raise EdgeInspectError(f"{self.name}: fetch_timeout_s must be > 0, reconnect_attempts >= 0 and "
                                   f"backoff_s non-empty")
        #: Nodes the camera lacks or rejected at the last (re)connect.
        self.node_issues: list[NodeIssue] = []
        #: Identifying properties of the device in use (serial_number, model, user_defined_name, ...).
        self.device: dict[str, str] = {}
        self.pixel_format: str | None = None
        self.cti_paths: list[Path] = []
        self._cti_arg = cti
        self._harvester: Any = None
        self._ia: Any = None
        self._started = False
        self._io_lock = threading.Lock()
        self._iter_thread: int | None = None
        # Web bookkeeping.
        self._next_line = 0
        self._next_frame_id = 0
        self._prev_device_id: int | None = None
        self._prev_device_ts: int | None = None
        self._last_frame_host_ns: int | None = None
        self._frame_period_s: float | None = None
        self._gap_pending = False
        self._timeouts_in_row = 0
        self._attempts_since_frame = 0
        self._warned_format = False
        self._encoder_chunk = False

    # -- open / connect ---------------------------------------------------------------------------
    def _open(self) -> None:
        self.cti_paths = resolve_cti(self._cti_arg, config_cti=self.config.cti, config_path=self.config.path)
        try:
            self._connect(initial=True)
        except BaseException:
            self._teardown(final=True)
            raise

    @property
    def _producers(self) -> str:
        return ", ".join(str(p) for p in self.cti_paths)

    @property
    def label(self) -> str:
        """The device as messages name it: ``"TLSimuMono SN_InterfaceA_0"`` (or the key asked for)."""
        if self.device:
            return f"{self.device['model'] or self.device['id_']} {self.device['serial_number']}".strip()
        return str(self.device_key) if self.device_key is not None else "(first device)"

    def _connect(self, *, initial: bool) -> None:
        """Load producers, enumerate, create the acquirer and configure it (not started)."""
        from genicam import genapi, gentl
        from harvesters.core import Harvester, ParameterKey, ParameterSet

        if self._harvester is None:
            self._harvester = Harvester(config=ParameterSet({ParameterKey.LOGGER: _HARVESTERS_LOG}))
        harvester = self._harvester
        for path in self.cti_paths:
            harvester.add_file(str(path))
        harvester.update()
        infos = harvester.device_info_list
        serial = self.device.get("serial_number") if not initial else None
        index = select_device(infos, serial or self.device_key, producers=self._producers)
        summary = device_summary(infos[index])
        on_main = threading.current_thread() is threading.main_thread()
        previous = signal.getsignal(signal.SIGINT) if on_main else None
        try:
            ia = harvester.create(index, config=ParameterSet(
                {ParameterKey.TIMEOUT_PERIOD_ON_UPDATE_EVENT_DATA_CALL: _EVENT_POLL_MS}))
        except (ValueError, gentl.GenericException, genapi.GenericException) as error:
            raise EdgeInspectError(f"GenICam device {summary['model']} {summary['serial_number']} cannot be "
                                   f"opened ({type(error).__name__}: {error}); is another program using it?") from None
        finally:
            if on_main:  # harvesters' handler segfaults a process interrupted inside fetch
                signal.signal(signal.SIGINT, previous if previous is not None else signal.default_int_handler)
        self._ia = ia
        self.device = summary
        self.name = f"genicam:{summary['serial_number'] or self.device_key or index}"
        self._configure(ia.remote_device.node_map)

    def _configure(self, node_map: Any) -> None:
        """Set the config's nodes (acquisition stopped), read back geometry, format and line rate."""
        self.node_issues = apply_settings(node_map, settings_from_config(self.config))
        chunk_nodes = {"ChunkSelector", "ChunkEnable", "ChunkModeActive"}
        self._encoder_chunk = self.config.encoder_chunk and not any(i.node in chunk_nodes for i in self.node_issues)
        self.pixel_format = read_node(node_map, "PixelFormat")
        bits = bit_depth_of(str(self.pixel_format))
        if bits is None:
            raise EdgeInspectError(f"GenICam device {self.label} is set to PixelFormat {self.pixel_format}; "
                                   f"edgeinspect needs a Mono format: set pixel_format (Mono8, Mono10, Mono12, "
                                   f"Mono16, ...) in the camera YAML")
        self.bit_depth = bits
        self.width = int(read_node(node_map, "Width") or self.config.width or 0)
        self.lines_per_frame = int(read_node(node_map, "Height") or self.config.lines_per_frame or 0)
        triggered = self.config.trigger is not None and self.config.trigger.mode == "On"
        if not triggered and read_node(node_map, "TriggerSelector") == "LineStart":
            triggered = read_node(node_map, "TriggerMode") == "On"
        rate = None if triggered else read_node(node_map, "AcquisitionLineRate", "Hz")
        self.line_rate_hz = float(rate) if rate else None
        log.info("%s: %s, %d px × %d lines, %s, line rate %s; nodes not set: %s", self.name, self.label,
                 self.width, self.lines_per_frame, self.pixel_format,
                 f"{self.line_rate_hz:g} Hz" if self.line_rate_hz else "unknown/triggered",
                 "; ".join(map(str, self.node_issues)) or "none")

    def _start(self) -> None:
        """Announce buffers (OldestFirst where selectable) and start acquisition."""
        from genicam import genapi

        ia = self._ia
        try:
            ia.num_buffers = max(int(self.num_buffers), ia.min_num_buffers)
        except ValueError:
            pass
        try:
            stream_nodes = ia.data_streams[0].node_map
            if stream_nodes is not None and stream_nodes.has_node("StreamBufferHandlingMode"):
                mode = stream_nodes.StreamBufferHandlingMode
                if "OldestFirst" in mode.symbolics and genapi.is_writable(mode.node):
                    mode.value = "OldestFirst"
        except Exception as error:  # optional stream node; producers differ
            log.debug("StreamBufferHandlingMode not set: %s", error)
        ia.start()
        self._started = True

    # -- iteration ---------------------------------------------------------------------------------
    def _next_frame(self) -> Frame | None:
        me = threading.get_ident()
        if self._iter_thread is None:
            self._iter_thread = me
        elif self._iter_thread != me:
            raise RuntimeError(f"{self.name}: iterate from one thread only (harvesters is not thread-safe)")
        while True:
            outcome = self._fetch_once()
            if outcome is None or self._stop.is_set():
                self._shutdown_from_iterator()
                return None
            kind, value = outcome
            if kind == "frame":
                return value
            if kind == "timeout":
                self._counter.timeouts += 1
                self._timeouts_in_row += 1
                if self.max_timeouts and self._timeouts_in_row >= self.max_timeouts:
                    self._recover(f"{self._timeouts_in_row} fetch timeouts of {self.fetch_timeout_s:g} s in a row")
            elif kind == "lost":
                self._recover(value)
            # kind == "empty": a buffer without an image, already counted; fetch the next one

    def _fetch_once(self) -> tuple[str, Any] | None:
        """One fetch under the I/O lock: ("frame", Frame) | ("timeout", None) | ("lost", reason) |
        ("empty", None); None when the source is stopping."""
        from genicam.gentl import TimeoutException

        with self._io_lock:
            if self._stop.is_set() or self._ia is None:
                return None
            if not self._started:
                try:
                    self._start()
                except Exception as error:
                    return "lost", f"start failed ({type(error).__name__}: {error})"
            try:
                buffer = self._ia.fetch(timeout=self.fetch_timeout_s)
            except TimeoutException:
                return "timeout", None
            except Exception as error:  # device lost: gentl errors, or IndexError/AttributeError of a dead acquirer
                return "lost", f"fetch failed ({type(error).__name__}: {error})"
            try:
                read = self._read_buffer(buffer)
            finally:
                try:
                    buffer.queue()
                except Exception as error:
                    log.debug("requeue failed: %s", error)
        host_ns = time.monotonic_ns()
        lines, device_id, device_ts, encoder = read
        frame = self._account(lines, device_id, device_ts, encoder, host_ns)
        return ("frame", frame) if frame is not None else ("empty", None)

    def _read_buffer(self, buffer: Any) -> tuple[np.ndarray | None, int | None, int | None, int | None]:
        """Copy the image out of a fetched buffer (before it is requeued)."""
        try:
            device_id = int(buffer.module.frame_id)
        except Exception:
            device_id = None
        try:
            device_ts = int(buffer.timestamp_ns) or None
        except Exception:
            device_ts = None
        components = buffer.payload.components if buffer.payload is not None else []
        component = components[0] if components else None
        if component is None:
            log.warning("%s: buffer %s holds no image (chunk-only or unsupported format); counted as lost",
                        self.name, device_id)
            return None, device_id, device_ts, None
        data_format = str(component.data_format)
        channels = int(component.num_components_per_pixel)
        if channels != 1 or bit_depth_of(data_format) is None:
            raise EdgeInspectError(f"GenICam device {self.label} delivers {data_format} ({channels} values per "
                                   f"pixel); edgeinspect needs a Mono format: set pixel_format (Mono8, Mono12, "
                                   f"...) in the camera YAML")
        if data_format != self.pixel_format and not self._warned_format:
            self._warned_format = True
            log.warning("%s: PixelFormat node says %s but the camera delivers %s; using %s",
                        self.name, self.pixel_format, data_format, data_format)
        self.bit_depth = bit_depth_of(data_format)
        height, width = int(component.height), int(component.width)
        data = component.data
        if height <= 0 or data.size % height:
            log.warning("%s: buffer %s has %d values for %d lines; counted as lost", self.name, device_id,
                        data.size, height)
            return None, device_id, device_ts, None
        rows = data.reshape(height, -1)[:, :width]  # harvesters 1.4.3 leaves x padding in data
        delivered = int(component.delivered_image_height or 0)
        if 0 < delivered < height:
            rows = rows[:delivered]
        lines = rows.copy()  # the view dies when the buffer is requeued
        encoder = None
        if self._encoder_chunk:
            encoder = read_node(self._ia.remote_device.node_map, "ChunkEncoderValue")
            encoder = int(encoder) if encoder is not None else None
        return lines, device_id, device_ts, encoder

    def _account(self, lines: np.ndarray | None, device_id: int | None, device_ts: int | None,
                 encoder: int | None, host_ns: int) -> Frame | None:
        """Web bookkeeping for one delivered buffer; the Frame, or None for a buffer without an image."""
        nominal = self.lines_per_frame or (lines.shape[0] if lines is not None else 0)
        height = lines.shape[0] if lines is not None else nominal
        lost_frames = lost_lines = 0
        if self._gap_pending:
            lost_frames, lost_lines = self._reconnect_gap(host_ns, height, nominal)
            self._gap_pending = False
        elif self._prev_device_id is not None and device_id is not None:
            gap = frame_id_gap(self._prev_device_id, device_id)
            if gap is None:
                log.warning("%s: frame ID went from %d to %d; loss unknown", self.name, self._prev_device_id,
                            device_id)
            else:
                lost_frames, lost_lines = gap, gap * nominal
                if device_ts is not None and self._prev_device_ts is not None and device_ts > self._prev_device_ts:
                    period = (device_ts - self._prev_device_ts) / 1e9 / (gap + 1)
                    self._frame_period_s = period if self._frame_period_s is None else (
                        0.8 * self._frame_period_s + 0.2 * period)
        if lost_frames:
            log.warning("%s: %d frame(s), %d line(s) lost before frame ID %s", self.name, lost_frames,
                        lost_lines, device_id)
        self._prev_device_id, self._prev_device_ts = device_id, device_ts
        self._last_frame_host_ns = host_ns
        self._timeouts_in_row = 0
        self._attempts_since_frame = 0
        self._counter.frames_lost += lost_frames
        self._counter.lines_lost += lost_lines
        first_line = self._next_line + lost_lines
        frame_id = self._next_frame_id + lost_frames
        if lines is None:  # a buffer without an image: its lines are lost too
            self._counter.frames_lost += 1
            self._counter.lines_lost += height
            self._next_line, self._next_frame_id = first_line + height, frame_id + 1
            return None
        self._next_line, self._next_frame_id = first_line + height, frame_id + 1
        return Frame(lines=lines, first_line=first_line, timestamp_ns=time.time_ns(), frame_id=frame_id,
                     bit_depth=self.bit_depth, encoder_position=encoder)

    def _reconnect_gap(self, host_ns: int, height: int, nominal: int) -> tuple[int, int]:
        """Frames and lines a free-running camera produced between the last frame before a reconnect
        and the first after it (that frame excluded)."""
        if self._last_frame_host_ns is None:
            return 0, 0
        gap_s = (host_ns - self._last_frame_host_ns) / 1e9
        if self.line_rate_hz:
            lines = max(0, round(gap_s * self.line_rate_hz) - height)
            return (round(lines / nominal) if nominal else 0), lines
        if self._frame_period_s:
            frames = max(0, round(gap_s / self._frame_period_s) - 1)
            return frames, frames * nominal
        log.warning("%s: reconnect gap of %.2f s not counted (line rate and frame period unknown)", self.name, gap_s)
        return 0, 0

    # -- device loss -------------------------------------------------------------------------------
    def _recover(self, reason: str) -> None:
        """Reconnect with back-off until a connect + start succeeds; raise after too many attempts."""
        log.warning("%s: device %s lost: %s; reconnecting", self.name, self.label, reason)
        with self._io_lock:
            self._teardown(final=False)
        started = time.monotonic()
        last_error = reason
        while not self._stop.is_set():
            if self._attempts_since_frame >= self.reconnect_attempts:
                raise EdgeInspectError(
                    f"GenICam device {self.label} lost ({reason}) and not back after {self._attempts_since_frame} "
                    f"reconnect attempt(s) in {time.monotonic() - started:.1f} s (last: {last_error}); check its "
                    f"power, cable and producer {self._producers}, then start again")
            if self._attempts_since_frame:
                delay = self.backoff_s[min(self._attempts_since_frame - 1, len(self.backoff_s) - 1)]
                if self._stop.wait(delay):
                    return
            self._attempts_since_frame += 1
            with self._io_lock:
                if self._stop.is_set():
                    return
                try:
                    self._connect(initial=False)
                    self._start()
                except Exception as error:
                    last_error = f"{type(error).__name__}: {error}"
                    log.warning("%s: reconnect attempt %d failed: %s", self.name, self._attempts_since_frame,
                                last_error)
                    self._teardown(final=False)
                    continue
            self._counter.reconnects += 1
            self._gap_pending = True
            self._prev_device_id = self._prev_device_ts = None
            self._timeouts_in_row = 0
            log.warning("%s: reconnected to %s", self.name, self.label)
            return

    # -- close -------------------------------------------------------------------------------------
    def close(self) -> None:
        """Stop acquisition and release device and producer (idempotent; signal-handler and thread safe).

        Called from the iterating thread while it holds the device (a signal handler interrupting its
        fetch or reconnect), or when the iterating thread holds the device longer than
        ``fetch_timeout_s + 2`` s, this only asks the iterator to stop; it tears down when its fetch
        returns.
        """
        self._stop.set()
        if self._closed:
            return
        if self._iter_thread == threading.get_ident() and self._io_lock.locked():
            return  # a signal handler inside the iterating thread's own fetch/reconnect: it tears down after
        if not self._io_lock.acquire(timeout=self.fetch_timeout_s + 2.0):
            log.warning("%s: busy; the iterating thread releases the device when its fetch returns", self.name)
            return
        try:
            self._shutdown_locked()
        finally:
            self._io_lock.release()

    def _shutdown_from_iterator(self) -> None:
        with self._io_lock:
            self._shutdown_locked()

    def _shutdown_locked(self) -> None:
        if not self._closed:
            self._closed = True
            self._teardown(final=True)

    def _teardown(self, *, final: bool) -> None:
        """Stop and destroy the acquirer and reset the producers, each step on its own (errors logged).

        The Harvester is always dropped: ``Harvester.reset()`` runs a one-shot ``weakref.finalize``
        (harvesters 1.4.3), so a second ``reset()`` of the same object does nothing and producers
        opened after the first stay open (the next open of the producer then fails with GenTL
        ``ResourceInUse``). Each connect therefore uses a new Harvester.
        """
        ia, self._ia = self._ia, None
        self._started = False
        steps = [] if ia is None else [("stop", ia.stop), ("destroy", ia.destroy)]
        if self._harvester is not None:
            steps.append(("reset", self._harvester.reset))
        for name, step in steps:
            try:
                step()
            except Exception as error:
                log.debug("%s: %s failed during teardown: %s", self.name, name, error)
        self._harvester = None
        if final:
            log.debug("%s: closed", self.name)
