"""A defect's mask as JSON text: exact round trip, damaged text refused without inflating it."""

from __future__ import annotations

import base64
import zlib

import numpy as np
import pytest

from edgeinspect.data.packed_mask import pack_mask, unpack_mask


@pytest.mark.parametrize("shape", [(1, 1), (3, 5), (7, 8), (64, 65), (300, 2)])
def test_any_mask_comes_back_exactly(shape):
    mask = np.random.default_rng(sum(shape)).random(shape) < 0.3
    text = pack_mask(mask)
    assert isinstance(text, str) and text.isascii()
    back = unpack_mask(text, shape)
    assert back.dtype == bool and back.shape == shape and np.array_equal(back, mask)


def test_a_thin_diagonal_scratch_box_packs_far_below_one_bit_per_pixel():
    mask = np.zeros((300, 400), bool)
    rows = np.arange(300)
    for width in range(2):
        mask[rows, (rows * 4 // 3 + width).clip(0, 399)] = True
    assert len(pack_mask(mask)) < mask.size / 8 / 4  # a quarter of its packed bits, as text


def test_text_of_another_shape_is_refused():
    text = pack_mask(np.ones((4, 4), bool))
    with pytest.raises(ValueError, match=r"not a 4 × 3 mask \(its last byte has bits beyond 12\)"):
        unpack_mask(text, (4, 3))  # 12 bits also take 2 bytes, but packbits leaves the last 4 bits 0
    with pytest.raises(ValueError, match=r"8 bytes of a 8 × 8 mask"):
        unpack_mask(text, (8, 8))


def test_text_that_is_not_base64_zlib_is_refused():
    with pytest.raises(ValueError, match="not base64 zlib data"):
        unpack_mask("not base64!", (2, 2))
    with pytest.raises(ValueError, match="not base64 zlib data"):
        unpack_mask(base64.b64encode(b"plain bytes").decode(), (2, 2))
    with pytest.raises(ValueError, match="not base64 zlib data"):
        unpack_mask("mäsk", (2, 2))


def test_a_compressed_bomb_is_refused_without_inflating_it():
    bomb = base64.b64encode(zlib.compress(bytes(200_000_000), 9)).decode()  # 200 MB of zeros, ~200 kB
    with pytest.raises(ValueError, match="does not hold the 1 bytes of a 2 × 2 mask"):
        unpack_mask(bomb, (2, 2))
