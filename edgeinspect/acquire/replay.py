"""``replay:PATH``: image files played back as one continuous line-scan web.

PATH is one image (e.g. an AITEX 4096×256 strip) or a folder whose images are played in name order
(``images/`` inside the folder is used when the folder itself holds none). The images are stacked
top to bottom into one web and cut into frames of ``lines_per_frame`` lines (default: the first
image's height); a frame may span two images, and the last frame of the last loop may be shorter.
All images must have the same width and dtype (else :class:`~edgeinspect.errors.DataError` naming
the file). ``loops`` plays the folder again (the web keeps counting lines; ``None`` = endless).

Truth masks are attached when found for every image in a frame:

- pairs layout: ``<root>/images/<stem>.*`` with ``<root>/masks/<stem>.*`` (or ``<stem>_mask.*``);
- ``<stem>_mask.*`` (or ``_mask1``, ``_mask2``… united) beside the image;
- AITEX: ``<root>/Defect_images/<stem>.png`` with ``<root>/Mask_images/<stem>_mask*.png``.

Files named ``*_mask*`` are never played as images. Pacing as in ``sim`` (``line_rate_hz``; None =
as fast as the files read).

Example:
    >>> with ReplaySource(Path("AITEX/Defect_images"), lines_per_frame=128, line_rate_hz=20_000) as src:
    ...     for frame in src:
    ...         frame.lines.shape        # (128, 4096) uint8; frame.truth_mask from Mask_images/
"""

from __future__ import annotations

import os
import re
import time
from collections import deque
from pathlib import Path
from typing import Iterator

import numpy as np

from edgeinspect.acquire.base import Frame, LinePacer, SourceBase
from edgeinspect.errors import DataError, EdgeInspectError

_MASK_STEM = re.compile(r".*_mask\d*", re.IGNORECASE)


def _suffixes() -> tuple[str, ...]:
    from edgeinspect.data.imageio import IMAGE_SUFFIXES

    return IMAGE_SUFFIXES


def _images_in(folder: Path) -> list[Path]:
    """Image files directly in ``folder`` (not masks), sorted by name."""
    suffixes = _suffixes()
    return sorted((p for p in folder.iterdir()
                   if p.is_file() and p.suffix.lower() in suffixes and not _MASK_STEM.fullmatch(p.stem)),
                  key=lambda p: p.name)


def find_replay_images(path: Path) -> list[Path]:
    """The images ``replay:PATH`` plays, in order.

    Raises:
        DataError: PATH does not exist or holds no image.
    """
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise DataError(f"replay: {path} does not exist; give an image file or a folder of images")
    images = _images_in(path)
    if not images and (path / "images").is_dir():
        images = _images_in(path / "images")
    if not images:
        raise DataError(f"replay: {path} holds no image ({', '.join(_suffixes())}); give an image or a folder of images")
    return images


def find_masks(image: Path) -> list[Path]:
    """The truth mask file(s) of ``image`` (several are united), empty when there is none."""
    suffixes = _suffixes()
    stem = image.stem
    named = re.compile(re.escape(stem) + r"_mask\d*", re.IGNORECASE)
    folders: list[tuple[Path, bool]] = []  # (folder, plain stem allowed)
    if image.parent.name == "images":
        folders.append((image.parent.parent / "masks", True))
    folders.append((image.parent, False))
    folders.append((image.parent.parent / "Mask_images", False))
    for folder, plain in folders:
        if not folder.is_dir():
            continue
        found = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in suffixes
                       and (named.fullmatch(p.stem) or (plain and p.stem == stem)))
        if found:
            return found
    return []


#: OpenCV's decoder limit, px, unless ``OPENCV_IO_MAX_IMAGE_PIXELS`` sets another (:func:`max_image_px`).
DEFAULT_MAX_IMAGE_PX = 1 << 30


def max_image_px() -> int:
    """Largest image OpenCV decodes here, px: ``OPENCV_IO_MAX_IMAGE_PIXELS`` or 2**30."""
    try:
        return int(os.environ.get("OPENCV_IO_MAX_IMAGE_PIXELS", DEFAULT_MAX_IMAGE_PX))
    except ValueError:
        return DEFAULT_MAX_IMAGE_PX


def _probe_size(path: Path) -> tuple[int, int]:
    """``(width, height)`` from the file header (no full decode).

    Raises:
        DataError: unreadable header, or more pixels than OpenCV decodes (:func:`max_image_px`; a
            line-scan strip of 16k × 11k px is 180 Mpx and replays: Pillow's decompression-bomb
            limit, meant for images from the web, is lifted while the header is read).
    """
    from PIL import Image, UnidentifiedImageError

    limit = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None  # Pillow reads only the header here; OpenCV decodes (and has its limit)
    try:
        with Image.open(path) as image:
            width, height = image.size
    except (OSError, UnidentifiedImageError) as error:
        raise DataError(f"{path}: cannot read image header ({error})") from None
    finally:
        Image.MAX_IMAGE_PIXELS = limit
    decodable = max_image_px()
    if width * height > decodable:
        raise DataError(f"{path}: {width}×{height} px is more than the decoder reads ({decodable:,} px); "
                        f"split it into strips (a folder of images replays as one web)")
    return width, height


class ReplaySource(SourceBase):
    """Image files replayed as a continuous web (see the module docstring for layouts).

    Args:
        path: An image file or a folder of images.
        lines_per_frame: Lines per frame H; None = the first image's height.
        line_rate_hz: Lines per second to pace at; None = as fast as possible.
        loops: How many times to play the images (>= 1); None = endless.
        bit_depth: Significant bits of the pixels; None = 8 for uint8 files, 16 for uint16 files
            (give 12 for 12-bit camera data stored in 16-bit files).
        masks: Attach truth masks found beside the images.
        max_frames: Stop after this many frames; None = when the images (and loops) end.

    Raises:
        DataError: On ``open()``: no images, an unreadable file, or images of different widths.
    """

    def __init__(self, path: Path | str, *, lines_per_frame: int | None = None,
                 line_rate_hz: float | None = None, loops: int | None = 1, bit_depth: int | None = None,
                 masks: bool = True, max_frames: int | None = None) -> None:
        super().__init__(max_frames=max_frames)
        if loops is not None and loops < 1:
            raise EdgeInspectError(f"replay: loops must be >= 1 (or None for endless), got {loops}")
        if lines_per_frame is not None and lines_per_frame <= 0:
            raise EdgeInspectError(f"replay: lines_per_frame must be > 0, got {lines_per_frame}")
        self.path = Path(path)
        self.name = f"replay:{self.path}"
        self.line_rate_hz = line_rate_hz
        self.loops = loops
        self._requested_lines = lines_per_frame
        self._requested_bits = bit_depth
        self._use_masks = masks
        self._pacer = LinePacer(line_rate_hz, self._stop)
        self.images: list[Path] = []
        self.mask_files: dict[Path, list[Path]] = {}
        self._dtype: np.dtype | None = None
        self._strips: Iterator[tuple[np.ndarray, np.ndarray | None]] | None = None
        self._pending: deque[tuple[np.ndarray, np.ndarray | None]] = deque()
        self._next_line = 0
        self._frame_id = 0

    def _open(self) -> None:
        from edgeinspect.data.imageio import read_image

        self.images = find_replay_images(self.path)
        sizes = [_probe_size(p) for p in self.images]
        width, height = sizes[0]
        for image, (w, _) in zip(self.images, sizes):
            if w != width:
                raise DataError(f"{image}: width {w} differs from {width} of {self.images[0].name}; "
                                f"replay needs images of one width")
        self.width = width
        self.lines_per_frame = self._requested_lines or height
        if self._use_masks:
            self.mask_files = {p: find_masks(p) for p in self.images}
        first = read_image(self.images[0])
        self._dtype = first.dtype
        self.bit_depth = self._requested_bits or (8 if first.dtype == np.uint8 else 16)
        self._strips = self._read_strips(first)

    def _read_strips(self, first: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
        """Yield ``(image, mask | None)`` per image and loop, checked against the first image."""
        from edgeinspect.data.imageio import read_image, read_mask

        loop = 0
        while self.loops is None or loop < self.loops:
            for index, path in enumerate(self.images):
                image = first if (loop == 0 and index == 0) else read_image(path)
                if image.dtype != self._dtype or image.shape[1] != self.width:
                    raise DataError(f"{path}: {image.dtype} {image.shape[1]} px wide differs from "
                                    f"{self._dtype} {self.width} px of {self.images[0].name}; "
                                    f"replay needs images of one width and bit depth")
                mask = None
                for mask_path in self.mask_files.get(path, ()):
                    part = read_mask(mask_path)
                    if part.shape != image.shape:
                        raise DataError(f"{mask_path}: mask {part.shape[1]}×{part.shape[0]} does not match "
                                        f"image {path.name} {image.shape[1]}×{image.shape[0]}")
                    mask = part if mask is None else (mask | part)
                yield image, mask
            loop += 1

    def _take(self, n_lines: int) -> tuple[np.ndarray, np.ndarray | None] | None:
        """The next ``n_lines`` lines (fewer at the very end; None when nothing is left)."""
        have = sum(block.shape[0] for block, _ in self._pending)
        while have < n_lines:
            strip = next(self._strips, None)
            if strip is None:
                break
            self._pending.append(strip)
            have += strip[0].shape[0]
        if have == 0:
            return None
        images, masks, need = [], [], n_lines
        while need > 0 and self._pending:
            image, mask = self._pending.popleft()
            if image.shape[0] > need:
                self._pending.appendleft((image[need:], None if mask is None else mask[need:]))
                image, mask = image[:need], None if mask is None else mask[:need]
            images.append(image)
            masks.append(mask)
            need -= image.shape[0]
        lines = np.concatenate(images, axis=0) if len(images) > 1 else images[0].copy()
        if any(m is None for m in masks):
            truth = None
        else:
            truth = np.concatenate(masks, axis=0) if len(masks) > 1 else masks[0].copy()
        return lines, truth

    def _next_frame(self) -> Frame | None:
        taken = self._take(self.lines_per_frame)
        if taken is None:
            return None
        lines, truth = taken
        first = self._next_line
        self._next_line += lines.shape[0]
        self._pacer.wait_for(self._next_line)
        if self._stop.is_set():
            return None
        frame = Frame(lines=lines, first_line=first, timestamp_ns=time.time_ns(), frame_id=self._frame_id,
                      bit_depth=self.bit_depth, truth_mask=truth)
        self._frame_id += 1
        return frame
