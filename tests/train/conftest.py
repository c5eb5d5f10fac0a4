"""Tiny on-disk datasets for the training tests (pairs layout: images/*.png + masks/*.png)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest


def write_square_pairs(root: Path, *, count: int, size: int, seed: int, bit_depth: int = 8) -> Path:
    """``count`` noisy gray images of ``size``² with one bright square each (its mask), every 5th defect-free."""
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    top = 255 if bit_depth == 8 else 2**bit_depth - 1
    dtype = np.uint8 if bit_depth == 8 else np.uint16
    for i in range(count):
        image = rng.normal(0.3 * top, 0.04 * top, (size, size))
        mask = np.zeros((size, size), np.uint8)
        if i % 5 != 4:
            side = int(rng.integers(size // 6, size // 3))
            y, x = (int(v) for v in rng.integers(2, size - side - 2, 2))
            image[y : y + side, x : x + side] += 0.45 * top
            mask[y : y + side, x : x + side] = 255
        cv2.imwrite(str(root / "images" / f"s{i:02d}.png"), np.clip(image, 0, top).astype(dtype))
        cv2.imwrite(str(root / "masks" / f"s{i:02d}.png"), mask)
    return root


@pytest.fixture(scope="session")
def square_pairs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """10 pairs, 64×64, 8-bit (2 of them defect-free)."""
    return write_square_pairs(tmp_path_factory.mktemp("pairs") / "ds", count=10, size=64, seed=0)


@pytest.fixture(scope="session")
def square_pairs_20(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """20 pairs, 64×64, 8-bit (4 of them defect-free): train 12 / val 4 / test 4 at 3:1:1."""
    return write_square_pairs(tmp_path_factory.mktemp("pairs20") / "ds", count=20, size=64, seed=1)
