"""``--plot``: the PNG from given timings (a long-tailed latency set included), and its errors."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from edgeinspect.bench.engine import EngineTiming, summarize
from edgeinspect.bench.plot import write_plot
from edgeinspect.errors import EdgeInspectError


def sweep(scale: float) -> dict:
    return {b: summarize([b / (100.0 * scale)] * 3, batch=b, tile_hw=(256, 256)) for b in (1, 2, 4, 8)}


def test_plot_of_two_engines_with_a_long_tail(tmp_path):
    rng = np.random.default_rng(0)
    steady = EngineTiming(4, (256, 256), rng.normal(0.040, 0.002, 200), 3)
    tailed = EngineTiming(4, (256, 256), np.concatenate([rng.normal(0.030, 0.001, 195), [0.9, 1.2, 2.0, 3.0, 5.0]]), 3)
    path = write_plot(tmp_path / "bench.png", [("A", steady), ("B", tailed)], [("A", sweep(1.0)), ("B", sweep(1.5))],
                      title="two engines")
    image = cv2.imread(str(path))
    assert path == tmp_path / "bench.png"
    assert image is not None and image.shape[:2] == (462, 1210)  # 11 × 4.2 in at 110 dpi
    assert image.std() > 10


def test_plot_into_a_missing_folder_is_a_user_error(tmp_path):
    timing = EngineTiming(1, (8, 8), np.array([0.01, 0.02]), 0)
    with pytest.raises(EdgeInspectError, match="does not exist"):
        write_plot(tmp_path / "missing" / "x.png", [("A", timing)], [("A", sweep(1.0))])
