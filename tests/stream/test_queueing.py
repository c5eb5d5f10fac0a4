"""DropQueue: a full queue drops the new item, counts frames and lines, and says so."""

from __future__ import annotations

import logging
import queue

import pytest

from edgeinspect.stream.queueing import DropQueue


def test_full_queue_drops_counts_and_warns_rate_limited(caplog):
    q = DropQueue(2, warn_every_s=3600)
    with caplog.at_level(logging.WARNING, logger="edgeinspect.stream"):
        results = [q.offer(f"frame{i}", lines=100) for i in range(5)]
    assert results == [True, True, False, False, False]
    assert (q.offered, q.frames_dropped, q.lines_dropped) == (5, 3, 300)
    warnings = [r for r in caplog.records if "dropped" in r.getMessage()]
    assert len(warnings) == 1  # rate-limited: one warning for three drops within the hour
    assert q.get(timeout_s=0) == "frame0" and q.get(timeout_s=0) == "frame1"
    with pytest.raises(queue.Empty):
        q.get(timeout_s=0.01)
    assert q.offer("again", lines=7)  # room again: not dropped
    assert q.frames_dropped == 3


def test_every_drop_warns_when_not_rate_limited(caplog):
    q = DropQueue(1, warn_every_s=0)
    with caplog.at_level(logging.WARNING, logger="edgeinspect.stream"):
        for i in range(3):
            q.offer(i, lines=1)
    assert sum("dropped" in r.getMessage() for r in caplog.records) == 2


def test_queue_size_must_be_positive():
    with pytest.raises(ValueError):
        DropQueue(0)
