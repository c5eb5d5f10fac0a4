"""Engine doubles for the bench tests (named as such): objects with ``tile_hw`` and ``infer`` only."""

from __future__ import annotations

import time

import numpy as np


class ThrottledEngineDouble:
    """A deliberately slow engine double: every ``infer`` call takes at least ``delay_s`` seconds.

    So its throughput is at most ``batch / delay_s`` tiles/s, whatever the machine: a known-slow
    engine for the keeps_up=false logic. Returns all-zero probabilities.
    """

    backend = "throttled-double"
    manifest = None

    def __init__(self, tile_hw: tuple[int, int] = (64, 64), delay_s: float = 0.01, name: str = "throttled") -> None:
        self.tile_hw = tile_hw
        self.delay_s = delay_s
        self.path = name
        self.calls: list[tuple[str, int, float]] = []
        self.log: list | None = None

    def infer(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        assert batch.ndim == 4 and batch.shape[1] == 1 and tuple(batch.shape[2:]) == self.tile_hw
        time.sleep(self.delay_s)
        record = (self.path, int(batch.shape[0]), float(batch.astype(np.float64).sum()))
        self.calls.append(record)
        if self.log is not None:
            self.log.append(record)
        return {"prob": np.zeros(batch.shape, np.float32)}
