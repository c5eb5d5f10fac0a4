"""Engine-test fixtures: the hand-built bright-spot ONNX, its datasets, and engines built once per session."""

from __future__ import annotations

from pathlib import Path

import pytest
from engine_testkit import bright_net_onnx, write_black_images, write_squares_dataset

TILE_HW = (32, 32)


@pytest.fixture(scope="session")
def bright_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Standard-op ONNX of the bright-spot network, 32×32 tiles, outputs prob + loc."""
    return bright_net_onnx(tmp_path_factory.mktemp("onnx") / "bright.onnx", TILE_HW)


@pytest.fixture(scope="session")
def squares_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A pairs-layout dataset (12 images 32×32 with masks) the bright-spot network segments exactly."""
    return write_squares_dataset(tmp_path_factory.mktemp("squares"), count=12, hw=TILE_HW, seed=1)


@pytest.fixture(scope="session")
def black_calib(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of all-black images (no masks)."""
    return write_black_images(tmp_path_factory.mktemp("black"), count=6, hw=TILE_HW)


@pytest.fixture(scope="session")
def built_engines(tmp_path_factory: pytest.TempPathFactory, bright_onnx: Path, squares_data: Path) -> dict[str, Path]:
    """``{"openvino-fp32", "openvino-int8", "onnxruntime-fp32", "onnxruntime-int8"}`` engine folders."""
    from edgeinspect.backends.build import build_engine

    root = tmp_path_factory.mktemp("engines")
    engines = {}
    for backend in ("openvino", "onnxruntime"):
        for precision in ("fp32", "int8"):
            calib = squares_data if precision == "int8" else None
            result = build_engine(bright_onnx, out=root / f"{backend}-{precision}", backend=backend,
                                  precision=precision, calib=calib, threads=1)
            engines[f"{backend}-{precision}"] = result.path
    return engines
