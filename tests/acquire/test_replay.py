"""ReplaySource: image files on disk played back as one continuous web, masks attached."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from edgeinspect.acquire import ReplaySource, open_source
from edgeinspect.errors import DataError, EdgeInspectError


def _write(path: Path, array: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), array)
    return path


def _image(rng: np.random.Generator, height: int, width: int, dtype=np.uint8) -> np.ndarray:
    return rng.integers(0, np.iinfo(dtype).max, (height, width), dtype=dtype, endpoint=True)


def _mask(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    return rng.random((height, width)) < 0.05


def _web(frames) -> tuple[np.ndarray, np.ndarray | None]:
    lines = np.concatenate([f.lines for f in frames])
    masks = [f.truth_mask for f in frames]
    return lines, (None if any(m is None for m in masks) else np.concatenate(masks))


def test_replay_single_strip_is_cut_into_frames_last_one_shorter(tmp_path):
    rng = np.random.default_rng(0)
    strip = _image(rng, 100, 300)
    path = _write(tmp_path / "strip.png", strip)
    with open_source(f"replay:{path}", lines_per_frame=32) as replay:
        assert (replay.width, replay.lines_per_frame, replay.bit_depth) == (300, 32, 8)
        frames = list(replay)
        stats = replay.stats
    assert [f.lines.shape[0] for f in frames] == [32, 32, 32, 4]
    assert [f.first_line for f in frames] == [0, 32, 64, 96] and [f.frame_id for f in frames] == [0, 1, 2, 3]
    np.testing.assert_array_equal(_web(frames)[0], strip)
    assert all(f.truth_mask is None and f.lines.flags.owndata for f in frames)
    assert (stats.frames, stats.lines, stats.lines_lost) == (4, 100, 0)


def test_replay_folder_plays_in_name_order_with_pairs_masks_across_image_boundaries(tmp_path):
    rng = np.random.default_rng(1)
    images = {name: _image(rng, 40, 64) for name in ("b.png", "a.png", "c.png")}
    masks = {name: _mask(rng, 40, 64) for name in images}
    for name in images:
        _write(tmp_path / "images" / name, images[name])
        _write(tmp_path / "masks" / name, masks[name].astype(np.uint8) * 255)
    with ReplaySource(tmp_path, lines_per_frame=50) as replay:  # the folder itself: uses images/
        frames = list(replay)
    lines, truth = _web(frames)
    order = ("a.png", "b.png", "c.png")
    np.testing.assert_array_equal(lines, np.concatenate([images[n] for n in order]))
    np.testing.assert_array_equal(truth, np.concatenate([masks[n] for n in order]))
    assert [f.first_line for f in frames] == [0, 50, 100]


def test_replay_aitex_layout_unites_mask_files(tmp_path):
    rng = np.random.default_rng(2)
    image = _image(rng, 256, 4096)
    mask_a, mask_b = _mask(rng, 256, 4096), _mask(rng, 256, 4096)
    _write(tmp_path / "Defect_images" / "0001_002_00.png", image)
    _write(tmp_path / "Mask_images" / "0001_002_00_mask.png", mask_a.astype(np.uint8) * 255)
    _write(tmp_path / "Mask_images" / "0001_002_00_mask1.png", mask_b.astype(np.uint8) * 255)
    with open_source(f"replay:{tmp_path / 'Defect_images'}", lines_per_frame=128) as replay:
        frames = list(replay)
    lines, truth = _web(frames)
    assert [f.lines.shape for f in frames] == [(128, 4096), (128, 4096)]
    np.testing.assert_array_equal(lines, image)
    np.testing.assert_array_equal(truth, mask_a | mask_b)


def test_replay_mask_beside_image_is_a_mask_not_a_frame(tmp_path):
    rng = np.random.default_rng(3)
    image, mask = _image(rng, 20, 32), _mask(rng, 20, 32)
    _write(tmp_path / "x.png", image)
    _write(tmp_path / "x_mask.png", mask.astype(np.uint8))  # a 0/1 mask
    with ReplaySource(tmp_path) as replay:
        frames = list(replay)
    assert len(frames) == 1 and replay.images == [tmp_path / "x.png"]
    np.testing.assert_array_equal(frames[0].truth_mask, mask)


def test_replay_frame_spanning_an_image_without_mask_has_no_truth(tmp_path):
    rng = np.random.default_rng(4)
    _write(tmp_path / "a.png", _image(rng, 30, 16))
    _write(tmp_path / "a_mask.png", np.zeros((30, 16), np.uint8))
    _write(tmp_path / "b.png", _image(rng, 30, 16))
    with ReplaySource(tmp_path, lines_per_frame=20) as replay:
        frames = list(replay)
    assert [f.truth_mask is not None for f in frames] == [True, False, False]


def test_replay_loops_keep_counting_lines(tmp_path):
    rng = np.random.default_rng(5)
    strip = _image(rng, 48, 16)
    path = _write(tmp_path / "s.png", strip)
    with ReplaySource(path, lines_per_frame=32, loops=3) as replay:
        frames = list(replay)
    assert [f.first_line for f in frames] == [0, 32, 64, 96, 128]
    np.testing.assert_array_equal(_web(frames)[0], np.concatenate([strip] * 3))
    with ReplaySource(path, lines_per_frame=48, loops=None, max_frames=7) as endless:
        assert len(list(endless)) == 7


def test_replay_sixteen_bit_files_keep_values_and_take_the_given_bit_depth(tmp_path):
    rng = np.random.default_rng(6)
    strip = rng.integers(0, 4095, (24, 40), dtype=np.uint16, endpoint=True)
    path = _write(tmp_path / "s12.png", strip)
    with open_source(f"replay:{path}", bit_depth=12) as replay:
        frames = list(replay)
    assert frames[0].lines.dtype == np.uint16 and frames[0].bit_depth == 12
    np.testing.assert_array_equal(frames[0].lines, strip)
    with ReplaySource(path) as default:
        assert default.bit_depth == 16


def test_replay_images_of_different_widths_name_the_file(tmp_path):
    rng = np.random.default_rng(7)
    _write(tmp_path / "a.png", _image(rng, 10, 64))
    odd = _write(tmp_path / "b.png", _image(rng, 10, 60))
    with pytest.raises(DataError, match=f"{odd}: width 60 differs from 64 of a.png"):
        open_source(f"replay:{tmp_path}")


def test_replay_mixed_bit_depths_name_the_file(tmp_path):
    rng = np.random.default_rng(8)
    _write(tmp_path / "a.png", _image(rng, 10, 16))
    wide = _write(tmp_path / "b.png", _image(rng, 10, 16, np.uint16))
    with ReplaySource(tmp_path) as replay, pytest.raises(DataError, match=f"{wide}: uint16"):
        list(replay)


def test_replay_mask_of_wrong_size_names_the_mask(tmp_path):
    rng = np.random.default_rng(9)
    _write(tmp_path / "a.png", _image(rng, 10, 16))
    bad = _write(tmp_path / "a_mask.png", np.zeros((10, 8), np.uint8))
    with ReplaySource(tmp_path) as replay, pytest.raises(DataError, match=f"{bad}: mask 8×10 does not match"):
        list(replay)


def test_replay_bad_paths_and_specs(tmp_path):
    with pytest.raises(DataError, match=f"replay: {tmp_path / 'nope'} does not exist"):
        open_source(f"replay:{tmp_path / 'nope'}")
    with pytest.raises(DataError, match="holds no image"):
        open_source(f"replay:{tmp_path}")
    with pytest.raises(EdgeInspectError, match="needs a path"):
        open_source("replay:")
    with pytest.raises(EdgeInspectError, match="loops must be >= 1"):
        ReplaySource(tmp_path, loops=0)


def test_replay_a_line_scan_strip_larger_than_pillows_bomb_limit(tmp_path):
    from PIL import Image

    limit = Image.MAX_IMAGE_PIXELS
    strip = np.zeros((11000, 16384), np.uint8)  # 180 Mpx: a 16k camera's 11,000 lines
    strip[5000, 7:9] = 200
    assert strip.size > 178_956_970  # Pillow's default decompression-bomb limit
    path = _write(tmp_path / "strip.png", strip)
    with open_source(f"replay:{path}", lines_per_frame=4096) as replay:
        assert (replay.width, replay.lines_per_frame) == (16384, 4096)
        frame = next(iter(replay))
        assert frame.lines.shape == (4096, 16384)
        second = next(iter(replay))
    assert second.lines[5000 - 4096, 7] == 200
    assert Image.MAX_IMAGE_PIXELS == limit  # lifted only while the header was read


def test_replay_an_image_beyond_the_decoders_limit_names_it(tmp_path, monkeypatch):
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 0, 0, 0, 0)  # 10 Gpx, 8-bit gray: a header only
    path = tmp_path / "huge.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b""))
    with pytest.raises(DataError, match=rf"^{path}: 100000×100000 px is more than the decoder reads \(1,073,741,824 px\)"):
        open_source(f"replay:{path}")
    monkeypatch.setenv("OPENCV_IO_MAX_IMAGE_PIXELS", str(100_000 * 100_000))  # a limit the user raised
    with pytest.raises(DataError, match="cannot read image file|cannot decode"):  # past the header: the decoder fails
        list(open_source(f"replay:{path}"))
