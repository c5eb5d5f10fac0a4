"""``read_image``: a PNG cut short is one error line naming it, before libpng prints its own."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgeinspect.data.imageio import read_image
from edgeinspect.errors import DataError


def _png_bytes() -> bytes:
    image = (np.random.default_rng(0).random((64, 64)) * 255).astype(np.uint8)
    ok, encoded = cv2.imencode(".png", image)
    assert ok
    return encoded.tobytes()


def test_a_truncated_png_is_named_and_libpng_prints_nothing(tmp_path: Path):
    path = tmp_path / "cut.png"
    path.write_bytes(_png_bytes()[:600])
    with pytest.raises(DataError, match=r"cut.png: cannot decode image file \(a truncated PNG: it has no IEND chunk\)"):
        read_image(path)
    code = f"from edgeinspect.data.imageio import read_image\ntry:\n    read_image({str(path)!r})\nexcept Exception:\n    pass\n"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0 and run.stderr == ""  # no "libpng error: ..." line before edgeinspect's own


@pytest.mark.parametrize("cut", ["inside IEND's CRC", "inside IDAT holding the bytes IEND"])
def test_a_png_cut_where_the_bytes_iend_remain_is_truncated_too(tmp_path: Path, cut: str):
    whole = _png_bytes()
    if cut == "inside IEND's CRC":
        data = whole[:-2]
    else:  # a compressed stream may hold any bytes: put IEND in the data of an ancillary chunk before IDAT
        import struct
        import zlib

        text = b"Comment\x00IEND"
        chunk = struct.pack(">I", len(text)) + b"tEXt" + text + struct.pack(">I", zlib.crc32(b"tEXt" + text))
        data = (whole[:33] + chunk + whole[33:])[:-40]  # after the signature and IHDR; cut inside IDAT
    path = tmp_path / "cut.png"
    path.write_bytes(data)
    with pytest.raises(DataError, match="a truncated PNG"):
        read_image(path)


def test_a_whole_png_and_one_with_bytes_after_its_end_decode(tmp_path: Path):
    whole = _png_bytes()
    (tmp_path / "whole.png").write_bytes(whole)
    (tmp_path / "trailing.png").write_bytes(whole + b"appended by a camera tool")
    np.testing.assert_array_equal(read_image(tmp_path / "whole.png"), read_image(tmp_path / "trailing.png"))
