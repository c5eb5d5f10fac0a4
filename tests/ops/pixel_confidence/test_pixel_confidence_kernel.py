"""kernel.cu's real kernels compiled with g++ and the plugin's -D constants, run under the CUDA
emulation (edgeinspect/ops/host.py) with the plugin's launch geometry, against reference.py: FP32 and
FP16, odd sizes, tile borders, kernels wider than the image, epsilons."""

from __future__ import annotations

import numpy as np
import pytest

from edgeinspect.errors import EdgeInspectError
from edgeinspect.ops.host import run_pixel_confidence
from edgeinspect.ops.pixel_confidence import plugin
from edgeinspect.ops.pixel_confidence.reference import mean_kernel, pixel_confidence

SHAPES = [(1, 1, 1, 1), (2, 1, 5, 7), (1, 1, 33, 65), (1, 1, 2, 40), (3, 1, 31, 2)]
_RNG = np.random.default_rng(2024)
KERNELS = {
    "mean3_eps0.2": (mean_kernel(3), 0.2),
    "random5_eps0.35": (_RNG.random((5, 5)).astype(np.float32), 0.35),   # k wider than some images
    "sparse7_eps0.9": (np.where(_RNG.random((7, 7)) < 0.3, 1.0, 0.0).astype(np.float32) + np.eye(7, dtype=np.float32), 0.9),
    "identity1_eps0": (np.ones((1, 1), np.float32), 0.0),
}


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("host-kernels")


def _probabilities(shape, seed):
    """Probabilities with exact 0s, exact 1s and confident clusters (so the clamp at 1 is hit)."""
    rng = np.random.default_rng(seed)
    y = rng.random(shape, dtype=np.float32)
    y[rng.random(shape) < 0.15] = 0.0
    y[rng.random(shape) < 0.15] = 1.0
    return y


@pytest.mark.parametrize("kernel_id", list(KERNELS))
@pytest.mark.parametrize("shape", SHAPES)
def test_fp32_host_kernel_matches_reference(shape, kernel_id, cache_dir):
    kernel, eps = KERNELS[kernel_id]
    y = _probabilities(shape, seed=sum(shape))
    out = run_pixel_confidence(y, kernel, eps, cache_dir=cache_dir)
    ref = pixel_confidence(y, kernel, eps)
    assert out.dtype == np.float32 and out.shape == shape
    assert float(np.abs(out - ref).max()) <= 1e-5


@pytest.mark.parametrize("kernel_id", ["mean3_eps0.2", "random5_eps0.35"])
@pytest.mark.parametrize("shape", SHAPES)
def test_fp16_host_kernel_matches_reference_on_fp16_inputs(shape, kernel_id, cache_dir):
    kernel, eps = KERNELS[kernel_id]
    y16 = _probabilities(shape, seed=3 + sum(shape)).astype(np.float16)
    out = run_pixel_confidence(y16, kernel, eps, cache_dir=cache_dir)
    ref = pixel_confidence(y16.astype(np.float64), kernel, eps)
    assert out.dtype == np.float16
    assert float(np.abs(out.astype(np.float64) - ref).max()) <= 1e-3


def test_confident_neighbourhood_saturates_and_isolated_pixel_is_lowered(cache_dir):
    y = np.zeros((1, 1, 9, 9), np.float32)
    y[0, 0, 1:4, 1:4] = 0.95            # a confident 3x3 blob: centre gets 0.95 * 1.2 -> clamped to 1
    y[0, 0, 7, 7] = 0.5                 # isolated: M_ipc = 0.5 / 9, so 0.5 * (0.8 + 0.4 * 0.5 / 9)
    out = run_pixel_confidence(y, None, 0.2, cache_dir=cache_dir)
    assert out[0, 0, 2, 2] == 1.0
    assert out[0, 0, 7, 7] == pytest.approx(0.5 * (0.8 + 0.4 * 0.5 / 9), abs=1e-6)
    assert out[0, 0, 5, 5] == 0.0


def test_nan_propagates_like_numpy_minimum(cache_dir):
    y = np.full((1, 1, 3, 3), 0.5, np.float32)
    y[0, 0, 1, 1] = np.nan
    out = run_pixel_confidence(y, None, 0.2, cache_dir=cache_dir)
    assert np.array_equal(np.isnan(out), np.isnan(pixel_confidence(y)))


@pytest.mark.parametrize("kernel,size,eps,match", [
    (np.ones(9, np.float32), 4, 0.2, "kernel_size"),
    (np.ones(8, np.float32), 3, 0.2, "needs 9 weights"),
    (-np.ones(9, np.float32), 3, 0.2, "'kernel' weights"),
    (np.zeros(9, np.float32), 3, 0.2, "positive sum"),
    (np.ones(9, np.float32), 3, 1.0, "'epsilon'"),
    (np.ones(33 * 33, np.float32), 33, 0.2, "1..31"),
])
def test_kernel_defines_reject_bad_attributes(kernel, size, eps, match):
    with pytest.raises(EdgeInspectError, match=match):
        plugin.kernel_defines(kernel, size, eps)


def test_kernel_defines_are_exact_float32_hex_literals():
    defines = plugin.kernel_defines(mean_kernel(3).reshape(-1), 3, 0.2)
    assert defines["PCM_K"] == "3"
    weights = defines["PCM_WEIGHTS"].strip("{}").split(",")
    assert len(weights) == 9 and all(float.fromhex(w[:-1]) == float(np.float32(1 / 9)) for w in weights)
    assert float.fromhex(defines["PCM_BASE"][:-1]) == float(np.float32(0.8))
    assert float.fromhex(defines["PCM_SCALE"][:-1]) == float(np.float32(0.4 / (9 * float(np.float32(1 / 9)))))
