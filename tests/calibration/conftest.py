"""Rendered calibration-target images shared by the calibration tests (rendered once per session)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from calib_targets import (
    LINE_PITCH_MM, SQUARE_MM, TRUE_MM_PER_LINE, TRUE_MM_PER_PX, Camera, checkerboard, line_pattern, render,
)


@pytest.fixture(scope="session")
def flat_camera() -> Camera:
    """No lens distortion, square pixels."""
    return Camera(width=1024, mm_per_px=TRUE_MM_PER_PX, mm_per_line=TRUE_MM_PER_LINE)


@pytest.fixture(scope="session")
def barrel_camera() -> Camera:
    """Barrel distortion: pixel pitch grows 1.8 % from the centre to the edges."""
    return Camera(width=1024, mm_per_px=TRUE_MM_PER_PX, mm_per_line=TRUE_MM_PER_LINE, barrel=0.006)


@pytest.fixture(scope="session")
def flat_board(flat_camera) -> np.ndarray:
    return render(checkerboard(SQUARE_MM), flat_camera, lines=240, seed=1)


@pytest.fixture(scope="session")
def barrel_board(barrel_camera) -> np.ndarray:
    return render(checkerboard(SQUARE_MM), barrel_camera, lines=240, blur_px=1.0, noise=3.0, seed=2)


@pytest.fixture(scope="session")
def barrel_lines(barrel_camera) -> np.ndarray:
    return render(line_pattern(LINE_PITCH_MM, 0.4), barrel_camera, lines=64, blur_px=0.9, noise=2.0, seed=3)


@pytest.fixture(scope="session")
def board_png(tmp_path_factory, barrel_board) -> Path:
    path = tmp_path_factory.mktemp("targets") / "board.png"
    cv2.imwrite(str(path), barrel_board)
    return path
