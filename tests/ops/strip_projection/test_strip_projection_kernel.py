"""kernel.cu's real kernels compiled with g++ and run under the CUDA emulation (edgeinspect/ops/host.py),
with the plugin's launch geometry, against reference.py: FP32 and FP16, odd shapes, partial warps."""

from __future__ import annotations

import numpy as np
import pytest

from edgeinspect.errors import EdgeInspectError
from edgeinspect.ops.host import run_strip_projection
from edgeinspect.ops.strip_projection.reference import strip_projection

SHAPES = [
    (1, 1, 1, 1),      # single pixel
    (2, 3, 5, 7),      # odd, W < 32 (one partial lane chunk)
    (1, 2, 64, 64),    # the DLM plane at 256^2 tiles
    (1, 1, 33, 1),     # a column: 31 idle lanes
    (1, 1, 1, 65),     # a row: three chunks, the last with one lane
    (2, 1, 17, 100),   # rows not a multiple of the 8 warps
    (1, 3, 130, 9),    # H > 128 (many rows per warp)
]


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("host-kernels")


def _case(shape, seed):
    """DLM-like data: features in [0, 1], weights around the strip-pooling 1/H, 1/W, small biases."""
    rng = np.random.default_rng(seed)
    n, c, h, w = shape
    x = rng.random(shape, dtype=np.float32)
    w_row = (1.0 / h + 0.5 * rng.standard_normal((c, h)) / h).astype(np.float32)
    w_col = (1.0 / w + 0.5 * rng.standard_normal((c, w)) / w).astype(np.float32)
    b_row = (0.1 * rng.standard_normal(c)).astype(np.float32)
    b_col = (0.1 * rng.standard_normal(c)).astype(np.float32)
    return x, w_row, b_row, w_col, b_col


@pytest.mark.parametrize("shape", SHAPES)
def test_fp32_host_kernel_matches_reference(shape, cache_dir):
    args = _case(shape, seed=sum(shape))
    y = run_strip_projection(*args, cache_dir=cache_dir)
    ref = strip_projection(*args)
    assert y.dtype == np.float32 and y.shape == shape
    scale = max(1.0, float(np.abs(ref).max()))
    assert float(np.abs(y - ref).max()) <= 1e-5 * scale


@pytest.mark.parametrize("shape", SHAPES)
def test_fp16_host_kernel_matches_reference_on_fp16_inputs(shape, cache_dir):
    args16 = [a.astype(np.float16) for a in _case(shape, seed=7 + sum(shape))]
    y = run_strip_projection(*args16, cache_dir=cache_dir)
    ref = strip_projection(*(a.astype(np.float64) for a in args16))   # fp16-rounded inputs, exact math
    assert y.dtype == np.float16 and y.shape == shape
    scale = max(1.0, float(np.abs(ref).max()))
    assert float(np.abs(y.astype(np.float64) - ref).max()) <= 1e-3 * scale


def test_fp32_large_values_keep_relative_accuracy(cache_dir):
    rng = np.random.default_rng(3)
    args = [rng.standard_normal(s).astype(np.float32) * 10 for s in ((2, 2, 40, 50), (2, 40), (2,), (2, 50), (2,))]
    y = run_strip_projection(*args, cache_dir=cache_dir)
    ref = strip_projection(*args)
    assert float(np.abs(y - ref).max()) <= 1e-5 * float(np.abs(ref).max())


def test_strip_pooling_weights_give_outer_product_of_means(cache_dir):
    x = np.random.default_rng(5).random((1, 2, 12, 20), dtype=np.float32)
    w_row, w_col = np.full((2, 12), 1 / 12, np.float32), np.full((2, 20), 1 / 20, np.float32)
    zeros = np.zeros(2, np.float32)
    y = run_strip_projection(x, w_row, zeros, w_col, zeros, cache_dir=cache_dir)
    expected = x.mean(axis=3, keepdims=True) * x.mean(axis=2, keepdims=True)
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-6)


def test_host_kernel_rejects_mismatched_weights(cache_dir):
    x, w_row, b_row, w_col, b_col = _case((1, 2, 4, 6), seed=0)
    with pytest.raises(EdgeInspectError, match="w_col must have shape"):
        run_strip_projection(x, w_row, b_row, w_col[:, :5], b_col, cache_dir=cache_dir)
