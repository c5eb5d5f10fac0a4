"""Fixtures of the stream tests: tiny real ONNX engines (built with onnx.helper, run by ONNX Runtime)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fixtures_stream import write_onnx


@pytest.fixture(scope="session")
def onnx_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("onnx")


@pytest.fixture(scope="session")
def identity_onnx(onnx_dir) -> Path:
    """prob = pixel / 255, 64×64 tiles."""
    return write_onnx(onnx_dir / "identity64.onnx", (64, 64), kind="identity")


@pytest.fixture(scope="session")
def dark_onnx(onnx_dir) -> Path:
    """prob = sigmoid((60 - pixel) / 4), 64×64 tiles."""
    return write_onnx(onnx_dir / "dark64.onnx", (64, 64), kind="dark")


@pytest.fixture()
def identity_engine(identity_onnx):
    from edgeinspect import backends

    with backends.load(identity_onnx, threads=1) as engine:
        yield engine
