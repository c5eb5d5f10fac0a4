"""Session-wide test setup: GPU tests skip cleanly with the reason where TensorRT or a driver is missing."""

from __future__ import annotations

import importlib.util

import pytest


def _gpu_missing_reason() -> str | None:
    """Why GPU tests cannot run here, or None when TensorRT and a CUDA device are both present."""
    if importlib.util.find_spec("tensorrt") is None:
        return "TensorRT is not installed (import tensorrt failed)"
    try:
        from cuda.bindings import runtime as cudart
    except ImportError:
        return "cuda-bindings is not installed (extra 'tensorrt')"
    err, count = cudart.cudaGetDeviceCount()
    if err != cudart.cudaError_t.cudaSuccess or count == 0:
        return f"no CUDA device ({err})"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    gpu_items = [item for item in items if "gpu" in item.keywords]
    if not gpu_items:
        return
    reason = _gpu_missing_reason()
    if reason is None:
        return
    for item in gpu_items:
        item.add_marker(pytest.mark.skip(reason=f"gpu test: {reason}"))


@pytest.fixture
def torch_one_thread():
    """One torch intra-op thread for the test: two shared cores, OpenMP oversubscription made the
    zoo tests 10× slower under load. Restores the previous count."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
