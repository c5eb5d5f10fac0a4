"""GenICamSource against genicam 1.5.0's real TLSimu.cti producer through real harvesters.

TLSimu facts used here (checked, see /work/shared/notes/harvesters-genicam.md §3): four devices
(TLSimuMono SN_InterfaceA_0 / SN_InterfaceB_0, TLSimuColor SN_InterfaceA_1 / SN_InterfaceB_1, all
user-defined name 'Center'); Width/Height 8..4096 step 4; pixel (x, y) of frame ID f is
``(x + y + f) mod 256``; no AcquisitionLineRate, ExposureTime, TriggerSelector or ReverseX;
TriggerSource has only 'Software'; PixelFormat accepts Mono12 but still delivers Mono8.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest

from edgeinspect.acquire import CameraConfig, GenICamSource, TriggerConfig, list_devices, open_source
from edgeinspect.errors import EdgeInspectError

pytestmark = pytest.mark.genicam
harvesters = pytest.importorskip("harvesters")

MONO = "SN_InterfaceA_0"
COLOR = "SN_InterfaceA_1"
SMALL = CameraConfig(width=256, lines_per_frame=16, pixel_format="Mono8")
#: Acquisition armed but never triggered: TLSimu then delivers nothing (a camera gone quiet).
SILENT = CameraConfig(width=64, lines_per_frame=8, pixel_format="Mono8",
                      trigger=TriggerConfig(selector="LineStart", mode="On", source="Software"))


def tlsimu_ramp(height: int, width: int, device_frame_id: int) -> np.ndarray:
    """What TLSimuMono delivers for one frame: ``(x + y + frame_id) mod 256``."""
    y, x = np.mgrid[:height, :width]
    return ((x + y + device_frame_id) % 256).astype(np.uint8)


def test_genicam_streams_4096_wide_frames_without_loss_and_keeps_copies(tlsimu):
    config = CameraConfig(width=4096, lines_per_frame=64, pixel_format="Mono8")
    with open_source(f"genicam:{MONO}", cti=tlsimu, camera=config, max_frames=40) as camera:
        assert (camera.width, camera.lines_per_frame, camera.bit_depth) == (4096, 64, 8)
        assert camera.device["serial_number"] == MONO
        frames = list(camera)  # 40 frames through 16 buffers: every buffer is refilled after requeue
        stats = camera.stats
    assert (stats.frames, stats.lines, stats.frames_lost, stats.lines_lost, stats.timeouts) == (40, 2560, 0, 0, 0)
    assert [f.first_line for f in frames] == [64 * k for k in range(40)]
    assert [f.frame_id for f in frames] == list(range(40))
    for k, frame in enumerate(frames):
        assert frame.lines.dtype == np.uint8 and frame.lines.shape == (64, 4096)
        assert frame.lines.flags.owndata and frame.bit_depth == 8 and frame.truth_mask is None
        np.testing.assert_array_equal(frame.lines, tlsimu_ramp(64, 4096, k))  # values kept after requeue
    assert frames[0].timestamp_ns <= frames[-1].timestamp_ns


def test_genicam_reports_nodes_tlsimu_lacks_or_rejects(tlsimu):
    config = CameraConfig(width=5000, lines_per_frame=32, pixel_format="Mono12p", line_rate_hz=20_000,
                          exposure_time_us=40, reverse_x=False,
                          trigger=TriggerConfig(selector="LineStart", mode="Off", source="Encoder0"),
                          nodes=(("PayloadSize", 1024), ("AcquisitionMode", "Continuous")))
    with GenICamSource(MONO, cti=tlsimu, camera=config) as camera:
        issues = {issue.node: issue.reason for issue in camera.node_issues}
        height = camera.lines_per_frame
    assert set(issues) == {"Width", "PixelFormat", "AcquisitionLineRate", "ExposureTime", "ReverseX",
                           "TriggerSelector", "TriggerSource", "PayloadSize"}
    assert issues["PayloadSize"] == "not writable (access RO)"
    assert issues["Width"] == "out of range: min 8, max 4096, inc 4"
    assert issues["PixelFormat"].startswith("no entry 'Mono12p'; choices: Mono8,")
    assert issues["TriggerSource"] == "no entry 'Encoder0'; choices: Software"
    for node in ("AcquisitionLineRate", "ExposureTime", "ReverseX", "TriggerSelector"):
        assert issues[node] == "missing on this camera"
    assert height == 32  # what exists was still set


def test_genicam_encoder_chunk_unavailable_leaves_chunk_mode_off(tlsimu):
    """TLSimu has ChunkModeActive but no ChunkSelector; turning chunk mode on would make every
    buffer chunk-only (no image), so it stays off and the frames keep coming."""
    config = CameraConfig(width=64, lines_per_frame=8, pixel_format="Mono8", encoder_chunk=True)
    with GenICamSource(MONO, cti=tlsimu, camera=config, max_frames=3) as camera:
        issues = [(i.node, i.reason) for i in camera.node_issues]
        chunk_mode = camera._ia.remote_device.node_map.ChunkModeActive.value
        frames = list(camera)
    assert issues == [("ChunkSelector", "missing on this camera"),
                      ("ChunkEnable", "skipped: ChunkSelector not set"),
                      ("ChunkModeActive", "skipped: ChunkEnable not set")]
    assert chunk_mode is False and len(frames) == 3 and all(f.encoder_position is None for f in frames)


def test_genicam_bit_depth_follows_delivered_format_not_the_node(tlsimu, caplog):
    config = CameraConfig(width=64, lines_per_frame=8, pixel_format="Mono12")
    with GenICamSource(MONO, cti=tlsimu, camera=config, max_frames=2) as camera:
        assert camera.pixel_format == "Mono12" and camera.bit_depth == 12
        frames = list(camera)
    assert [f.bit_depth for f in frames] == [8, 8] and frames[0].lines.dtype == np.uint8
    assert "delivers Mono8" in caplog.text


@pytest.mark.parametrize(("key", "serial"), [("2", "SN_InterfaceB_0"), (MONO, MONO), ("SN_InterfaceB_1", "SN_InterfaceB_1")])
def test_genicam_selects_device_by_index_or_serial(tlsimu, key, serial):
    source = GenICamSource(key, cti=tlsimu, camera=CameraConfig(pixel_format="Mono8"))
    with source:
        assert source.device["serial_number"] == serial and source.name == f"genicam:{serial}"


def test_list_devices_then_open_again(tlsimu):
    devices = list_devices(tlsimu)
    assert [(d["index"], d["serial_number"], d["model"]) for d in devices] == [
        ("0", "SN_InterfaceA_0", "TLSimuMono"), ("1", "SN_InterfaceA_1", "TLSimuColor"),
        ("2", "SN_InterfaceB_0", "TLSimuMono"), ("3", "SN_InterfaceB_1", "TLSimuColor")]
    for _ in range(2):  # the producer was released: it opens again (no GenTL ResourceInUse)
        with open_source("genicam:0", cti=tlsimu, camera=SMALL, max_frames=1) as camera:
            assert len(list(camera)) == 1


def test_genicam_unknown_device_lists_the_available_ones(tlsimu):
    with pytest.raises(EdgeInspectError) as error:
        open_source("genicam:NO_SUCH_CAMERA", cti=tlsimu)
    message = str(error.value)
    assert "'NO_SUCH_CAMERA'" in message and str(tlsimu) in message
    for serial in ("SN_InterfaceA_0", "SN_InterfaceA_1", "SN_InterfaceB_0", "SN_InterfaceB_1"):
        assert serial in message


def test_genicam_model_shared_by_two_cameras_is_ambiguous(tlsimu):
    with pytest.raises(EdgeInspectError, match=r"'TLSimuMono' is ambiguous: 2 devices .*serial number"):
        open_source("genicam:TLSimuMono", cti=tlsimu)


@pytest.mark.parametrize("given", ["TLSimu.cti", "./TLSimu.cti", "gentl-path-variable ."])
def test_genicam_cti_given_relative_to_the_working_folder_loads(tlsimu, monkeypatch, given):
    """A bare file name must not go to the dynamic loader's search path (it does not look in '.')."""
    monkeypatch.chdir(tlsimu.parent)
    if given.startswith("gentl-path-variable"):
        monkeypatch.setenv("GENICAM_GENTL64_PATH", ".")
        cti = None
    else:
        cti = given
    with open_source(f"genicam:{MONO}", cti=cti, camera=SMALL, max_frames=1) as camera:
        assert camera.cti_paths == [tlsimu] and len(list(camera)) == 1


def test_genicam_missing_cti_names_the_path(tmp_path):
    missing = tmp_path / "vendor" / "gentl.cti"
    with pytest.raises(EdgeInspectError, match=f"GenTL producer {missing} not found"):
        open_source("genicam", cti=missing)


def test_genicam_cti_folder_says_to_give_the_file_in_it(tmp_path):
    (tmp_path / "vendor").mkdir()
    (tmp_path / "vendor" / "gentl.cti").write_bytes(b"")
    with pytest.raises(EdgeInspectError, match=f"^GenTL producer {tmp_path / 'vendor'} is a folder: give the .cti "
                                               r"file itself \(gentl.cti there\)$"):
        open_source("genicam", cti=tmp_path / "vendor")


def test_genicam_cti_that_is_not_a_library_names_the_path(tmp_path):
    bogus = tmp_path / "bogus.cti"
    bogus.write_text("not a shared library")
    with pytest.raises(EdgeInspectError, match=f"GenTL producer {bogus} cannot be loaded"):
        open_source("genicam", cti=bogus)


def test_genicam_cti_from_camera_yaml_names_the_key(tmp_path):
    yaml_path = tmp_path / "line3.yaml"
    yaml_path.write_text("cti: missing/gentl.cti\nwidth: 1024\n")
    with pytest.raises(EdgeInspectError, match=r"gentl.cti \(key 'cti' of .*line3.yaml\) not found"):
        open_source("genicam", camera=yaml_path)


def test_genicam_finds_producer_through_gentl_path_variable(tlsimu, tmp_path, monkeypatch):
    monkeypatch.setenv("GENICAM_GENTL64_PATH", os.pathsep.join([str(tmp_path), str(tlsimu.parent)]))
    with open_source(f"genicam:{MONO}", camera=SMALL, max_frames=1) as camera:
        assert camera.cti_paths == [tlsimu] and len(list(camera)) == 1
    monkeypatch.setenv("GENICAM_GENTL64_PATH", str(tmp_path))
    with pytest.raises(EdgeInspectError, match="no GenTL producer.*GENICAM_GENTL64_PATH"):
        open_source("genicam")


def test_genicam_colour_camera_is_rejected_with_its_format(tlsimu):
    with pytest.raises(EdgeInspectError, match=f"{COLOR} is set to PixelFormat RGB8.*Mono"):
        open_source(f"genicam:{COLOR}", cti=tlsimu)
    # TLSimuColor accepts PixelFormat=Mono8 but keeps delivering RGB8: caught on the first frame.
    with open_source(f"genicam:{COLOR}", cti=tlsimu, camera=SMALL) as camera:
        with pytest.raises(EdgeInspectError, match="delivers RGB8 \\(3 values per pixel\\)"):
            next(camera)


def test_genicam_restores_the_sigint_handler_harvesters_replaces(tlsimu):
    before = signal.getsignal(signal.SIGINT)
    with GenICamSource(MONO, cti=tlsimu, camera=SMALL):
        assert signal.getsignal(signal.SIGINT) is before


def test_genicam_ctrl_c_inside_fetch_raises_keyboardinterrupt_not_a_crash(tlsimu):
    script = textwrap.dedent(f"""
        import os, signal, threading
        from edgeinspect.acquire import CameraConfig, GenICamSource, TriggerConfig
        # a pytest started in the background (`pytest &`) passes SIGINT on as ignored: restore Python's handler
        signal.signal(signal.SIGINT, signal.default_int_handler)
        config = CameraConfig(width=64, lines_per_frame=8, pixel_format="Mono8",
                              trigger=TriggerConfig(selector="LineStart", mode="On", source="Software"))
        source = GenICamSource("{MONO}", cti=r"{tlsimu}", camera=config, fetch_timeout_s=5, max_timeouts=None)
        try:
            with source:   # the signal comes once the device is open: inside the blocking fetch
                threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT)).start()
                for frame in source:
                    pass
        except KeyboardInterrupt:
            print("interrupted; closed:", source._ia is None)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "interrupted; closed: True" in done.stdout


def test_genicam_close_from_a_signal_handler_inside_fetch_stops_cleanly(tlsimu):
    source = GenICamSource(MONO, cti=tlsimu, camera=SILENT, fetch_timeout_s=0.3, max_timeouts=None)
    previous = signal.signal(signal.SIGALRM, lambda *_: source.close())
    try:
        with source:
            signal.setitimer(signal.ITIMER_REAL, 0.2)  # fires while the loop waits inside fetch
            frames = list(source)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert frames == [] and source._ia is None and source._harvester is None
    assert source.stats.frames == 0 and source.stats.reconnects == 0
    source.close()  # idempotent


def test_genicam_close_from_another_thread_ends_iteration(tlsimu):
    source = GenICamSource(MONO, cti=tlsimu, camera=SMALL)
    seen: list[int] = []
    with source:
        worker = threading.Thread(target=lambda: seen.extend(f.frame_id for f in source))
        worker.start()
        while len(seen) < 5 and worker.is_alive():
            threading.Event().wait(0.01)
        source.close()
        worker.join(timeout=10)
    assert not worker.is_alive() and len(seen) >= 5
    assert seen == list(range(len(seen))) and source._ia is None


def test_genicam_iteration_stays_on_one_thread(tlsimu):
    with GenICamSource(MONO, cti=tlsimu, camera=SMALL) as source:
        next(source)
        errors: list[BaseException] = []

        def other() -> None:
            try:
                next(source)
            except BaseException as error:  # noqa: BLE001 - collected for the assertion
                errors.append(error)

        thread = threading.Thread(target=other)
        thread.start()
        thread.join(timeout=10)
    assert len(errors) == 1 and "one thread only" in str(errors[0])


@pytest.mark.parametrize("misbehaviour", ["update", "reset", "destroy"])
def test_genicam_reconnects_after_device_destroyed(tlsimu, misbehaviour):
    """Deliberately misbehaving: the acquirer is destroyed under a running source (h.update() does
    that, #475), or the producer is closed (h.reset()). The source reconnects and keeps counting."""
    with GenICamSource(MONO, cti=tlsimu, camera=SMALL, backoff_s=(0.01,)) as source:
        before = [next(source) for _ in range(5)]
        if misbehaviour == "update":
            source._harvester.update()
        elif misbehaviour == "reset":
            source._harvester.reset()
        else:
            source._ia.destroy()
        after = [next(source) for _ in range(5)]
        stats = source.stats
    assert stats.reconnects == 1 and stats.frames == 10 and stats.lines == 160
    assert stats.lines_lost == stats.frames_lost * 16  # free-running TLSimu: gap from the measured frame period
    assert after[0].first_line == before[-1].stop_line + stats.lines_lost
    assert after[0].frame_id == before[-1].frame_id + 1 + stats.frames_lost
    assert [f.first_line for f in after] == [after[0].first_line + 16 * k for k in range(5)]
    np.testing.assert_array_equal(after[0].lines, tlsimu_ramp(16, 256, 0))  # a new stream: device IDs restart


def test_genicam_gives_up_when_the_producer_is_gone(tlsimu, tmp_path):
    """Deliberately misbehaving: the producer file disappears while the device is lost."""
    with GenICamSource(MONO, cti=tlsimu, camera=SMALL, reconnect_attempts=3, backoff_s=(0.01,)) as source:
        frames = [next(source) for _ in range(3)]
        source.cti_paths = [tmp_path / "uninstalled.cti"]
        source._harvester.update()  # destroys the acquirer
        with pytest.raises(EdgeInspectError) as error:
            next(source)
        stats = source.stats
    message = str(error.value)
    assert f"GenICam device TLSimuMono {MONO} lost" in message and "3 reconnect attempt(s)" in message
    assert (stats.frames, stats.lines, stats.reconnects) == (3, 48, 0) and len(frames) == 3


def test_genicam_camera_gone_quiet_counts_timeouts_reconnects_then_gives_up(tlsimu):
    """Deliberately misbehaving: armed for a trigger that never comes, so every fetch times out."""
    source = GenICamSource(MONO, cti=tlsimu, camera=SILENT, fetch_timeout_s=0.05, max_timeouts=2,
                           reconnect_attempts=2, backoff_s=(0.01,))
    with source, pytest.raises(EdgeInspectError, match=f"TLSimuMono {MONO} lost \\(2 fetch timeouts"):
        next(source)
    stats = source.stats
    # 2 timeouts → reconnect (ok) → 2 timeouts → reconnect (ok) → 2 timeouts → out of attempts.
    assert (stats.timeouts, stats.reconnects, stats.frames) == (6, 2, 0)
    assert source._ia is None
