"""Loss accounting of GenICamSource with synthetic frame IDs (TLSimu never skips IDs: it stalls)."""

from __future__ import annotations

import numpy as np
import pytest

from edgeinspect.acquire import CameraConfig, GenICamSource, frame_id_gap


@pytest.mark.parametrize(("previous", "current", "lost"), [
    (0, 1, 0), (10, 13, 2), (41, 42, 0),
    (65535, 1, 0), (65534, 1, 1), (65533, 2, 3), (65535, 0, 0),  # 16-bit GigE Vision block IDs wrap, 0 unused
    (5, 5, None), (500, 3, None), (0, 1 << 30, None),            # restarted or nonsense: not comparable
])
def test_frame_id_gap(previous, current, lost):
    assert frame_id_gap(previous, current) == lost


def _source(lines_per_frame: int = 4, line_rate_hz: float | None = None) -> GenICamSource:
    source = GenICamSource(camera=CameraConfig())  # never opened: only the bookkeeping runs
    source.lines_per_frame, source.line_rate_hz, source.bit_depth = lines_per_frame, line_rate_hz, 8
    return source


def _deliver(source: GenICamSource, device_id: int | None, device_ts_ns: int | None, host_ns: int, height: int = 4):
    return source._account(np.zeros((height, 8), np.uint8), device_id, device_ts_ns, None, host_ns)


def test_frame_id_jumps_skip_lines_in_web_coordinates():
    source = _source()
    ids = [7, 8, 11, 12, 15]   # 2 lost after 8, 2 lost after 12
    frames = [_deliver(source, i, i * 1_000_000, i) for i in ids]
    assert [f.first_line for f in frames] == [0, 4, 16, 20, 32]
    assert [f.frame_id for f in frames] == [0, 1, 4, 5, 8]
    stats = source.stats
    assert (stats.frames_lost, stats.lines_lost) == (4, 16)


def test_short_frame_advances_the_web_by_its_delivered_lines():
    source = _source()
    first = _deliver(source, 0, None, 0, height=4)
    short = _deliver(source, 1, None, 1, height=3)  # closed early (delivered_image_height)
    after = _deliver(source, 2, None, 2)
    assert [first.first_line, short.first_line, after.first_line] == [0, 4, 7]


def test_buffer_without_image_counts_its_lines_as_lost():
    source = _source()
    _deliver(source, 0, None, 0)
    assert source._account(None, 1, None, None, 1) is None
    frame = _deliver(source, 2, None, 2)
    assert (frame.first_line, frame.frame_id) == (8, 2)
    assert (source.stats.frames_lost, source.stats.lines_lost) == (1, 4)


def test_reconnect_gap_from_line_rate():
    source = _source(lines_per_frame=100, line_rate_hz=1000.0)
    _deliver(source, 50, None, 0, height=100)
    source._gap_pending = True                      # as after a reconnect: device IDs restart
    frame = _deliver(source, 0, None, 2_000_000_000, height=100)  # 2 s later: 2000 lines scanned
    assert frame.first_line == 100 + 1900           # the 100 lines of this frame were not lost
    assert (source.stats.lines_lost, source.stats.frames_lost) == (1900, 19)


def test_reconnect_gap_from_measured_frame_period():
    source = _source(lines_per_frame=4)
    for k in range(5):                              # device timestamps: one frame per 10 ms
        _deliver(source, k, k * 10_000_000, k * 10_000_000)
    source._gap_pending = True
    frame = _deliver(source, 0, 5, 40_000_000 + 500_000_000)  # first frame 0.5 s after the last one
    assert (source.stats.frames_lost, source.stats.lines_lost) == (49, 196)
    assert frame.first_line == 20 + 196 and frame.frame_id == 5 + 49


def test_reconnect_gap_unknown_is_not_invented():
    source = _source()
    _deliver(source, 0, None, 0)
    source._gap_pending = True
    frame = _deliver(source, 0, None, 10**9)
    assert frame.first_line == 4 and source.stats.lines_lost == 0
