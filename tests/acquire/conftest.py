"""Shared fixtures for acquisition tests: genicam's real TLSimu.cti producer."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tlsimu() -> Path:
    """Path of the TLSimu.cti simulator that ships in the genicam wheel (skips when absent)."""
    pytest.importorskip("harvesters")
    from edgeinspect.acquire.gentl import tlsimu_cti

    path = tlsimu_cti()
    if path is None:
        pytest.skip("genicam's TLSimu.cti is not installed (extra 'genicam')")
    return path
