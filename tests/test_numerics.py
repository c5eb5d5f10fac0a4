"""Subnormal float32 values are set to 0 in place; other values and dtypes are kept."""

from __future__ import annotations

import numpy as np
import torch

from edgeinspect.numerics import flush_subnormal

TINY = float(np.finfo(np.float32).tiny)


def test_float32_subnormals_become_zero_in_place_and_normals_stay() -> None:
    values = np.array([TINY / 8, -TINY / 3, TINY, -TINY, 0.0, 1e-30, 0.5], np.float32)
    assert flush_subnormal(values) == 2
    np.testing.assert_array_equal(values, np.array([0, 0, TINY, -TINY, 0, 1e-30, 0.5], np.float32))


def test_float16_values_below_its_normal_range_are_kept() -> None:
    values = np.array([1e-6, 3e-5], np.float16)  # subnormal in float16, ordinary weights there
    assert flush_subnormal(values) == 0 and values[0] != 0


def test_a_torch_tensor_is_flushed_through_its_numpy_view() -> None:
    weight = torch.tensor([[TINY / 16, 0.25]])
    assert flush_subnormal(weight.numpy()) == 1
    assert weight.tolist() == [[0.0, 0.25]]
