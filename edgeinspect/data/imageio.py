"""Read images, masks and predicted masks from disk as the shapes edgeinspect uses everywhere.

Every reader returns one grayscale plane and raises :class:`~edgeinspect.errors.DataError`
naming the file when it cannot:

- image: ``(H, W)`` uint8 (8-bit files) or uint16 (12/16-bit files), bit depth kept
  (``cv2.IMREAD_UNCHANGED``); colour is converted to gray, gray+alpha (PNG "LA") keeps the gray
  plane, an alpha channel is dropped.
- mask: ``(H, W)`` bool, see :func:`binarize_mask` for the threshold.
- prediction: ``(H, W)`` bool (a 0/1 mask) or float32 probabilities in [0, 1].

Files are decoded from bytes (``np.fromfile`` + ``cv2.imdecode``) so paths with any characters work;
:func:`write_png` encodes in memory and writes the bytes the same way, for the same reason and so a
full disk is named as such.

Example:
    >>> image = read_image(Path("MT_Crack/Imgs/exp1_num_3191.jpg"))   # (H, W) uint8
    >>> mask = read_mask(Path("MT_Crack/Imgs/exp1_num_3191.png"))     # (H, W) bool
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from edgeinspect.errors import DataError, cannot_write

#: Suffixes (lower case) the dataset readers accept for images and masks.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"  # the IEND chunk: length 0, type, CRC


def _truncated_png(raw: np.ndarray) -> bool:
    """True for PNG bytes that end before a whole IEND chunk (cut short); False for other formats and whole PNGs.

    Walks the chunk headers (4-byte length, 4-byte type, data, 4-byte CRC) from the signature, so
    bytes ``IEND`` inside compressed data do not count; data after IEND is allowed.
    """
    if raw[:8].tobytes() != _PNG_SIGNATURE:
        return False
    if raw[-12:].tobytes() == _PNG_END:
        return False  # the common case: no walk
    data = memoryview(raw)
    offset, size = 8, raw.size
    while offset + 8 <= size:
        length = int.from_bytes(data[offset:offset + 4], "big")
        end = offset + 12 + length
        if end > size:
            return True  # a chunk cut short
        if data[offset + 4:offset + 8] == b"IEND":
            return False
        offset = end
    return True


def _decode(path: Path, what: str) -> np.ndarray:
    """Decode any image file unchanged (bit depth and channels kept), or raise DataError."""
    try:
        raw = np.fromfile(path, dtype=np.uint8)
    except FileNotFoundError:
        raise DataError(f"{path}: {what} file not found") from None
    except OSError as error:
        raise DataError(f"{path}: cannot read {what} file ({error.strerror or error})") from None
    if raw.size == 0:
        raise DataError(f"{path}: {what} file is empty")
    if _truncated_png(raw):  # before libpng sees it: it prints its own line to stderr before failing
        raise DataError(f"{path}: cannot decode {what} file (a truncated PNG: it has no IEND chunk)")
    array = cv2.imdecode(raw, cv2.IMREAD_UNCHANGED)
    if array is None:
        raise DataError(f"{path}: cannot decode {what} file (not an image, truncated or unsupported format)")
    return array


def _to_gray(array: np.ndarray, path: Path, what: str) -> np.ndarray:
    """One gray plane from a decoded array: (H,W) as is; 2 channels → first; 3/4 channels → gray."""
    if array.ndim == 2:
        return array
    if array.ndim == 3:
        channels = array.shape[2]
        if channels == 1:
            return array[:, :, 0]
        if channels == 2:  # gray + alpha, where a decoder keeps it as two planes
            return np.ascontiguousarray(array[:, :, 0])
        if channels == 3:
            if _same_planes(array):
                return np.ascontiguousarray(array[:, :, 0])
            return cv2.cvtColor(array, cv2.COLOR_BGR2GRAY)
        if channels == 4:  # BGRA; OpenCV also decodes PNG "LA" into BGRA with B = G = R = gray
            if _same_planes(array[:, :, :3]):
                return np.ascontiguousarray(array[:, :, 0])
            return cv2.cvtColor(array, cv2.COLOR_BGRA2GRAY)
    raise DataError(f"{path}: {what} has unsupported shape {array.shape}; expected one gray or colour image")


def _same_planes(array: np.ndarray) -> bool:
    """True when every colour plane equals the first (a gray image stored as colour)."""
    first = array[:, :, 0]
    return all(np.array_equal(first, array[:, :, c]) for c in range(1, array.shape[2]))


def read_image(path: Path) -> np.ndarray:
    """Read one image as a gray plane, keeping its bit depth.

    Args:
        path: Any of :data:`IMAGE_SUFFIXES`; 8- or 16-bit, gray, gray+alpha, colour or colour+alpha.

    Returns:
        ``(H, W)`` uint8 for 8-bit files, uint16 for 16-bit files (12-bit camera data stays in 0..4095).

    Raises:
        DataError: The file is missing, unreadable, not an image, or not 8/16-bit integer.
    """
    path = Path(path)
    array = _to_gray(_decode(path, "image"), path, "image")
    if array.dtype not in (np.uint8, np.uint16):
        raise DataError(f"{path}: image pixels are {array.dtype}; expected 8-bit or 16-bit unsigned integers")
    return array


def binarize_mask(array: np.ndarray) -> np.ndarray:
    """Turn a decoded mask plane into a defect mask.

    Rule: bool stays as is; uint8 masks are defect where > 127 (anti-aliased edges split at half
    level; a 0..255 probability map is thresholded at 128), except masks holding only 0 and 1,
    which are defect where nonzero; other integer masks (16-bit) are defect where nonzero; float
    masks where >= 0.5.

    Args:
        array: ``(H, W)`` bool, uint8, uint16 or float.

    Returns:
        ``(H, W)`` bool, True = defect.
    """
    if array.dtype == np.bool_:
        return array.copy()
    if array.dtype == np.uint8:
        return array > (0 if array.size and array.max() <= 1 else 127)
    if np.issubdtype(array.dtype, np.floating):
        return array >= 0.5
    return array > 0


def read_mask(path: Path) -> np.ndarray:
    """Read one truth mask as bool (threshold per :func:`binarize_mask`; colour → gray first).

    Args:
        path: Any of :data:`IMAGE_SUFFIXES`.

    Returns:
        ``(H, W)`` bool, True = defect.

    Raises:
        DataError: The file is missing, unreadable or not an image.
    """
    path = Path(path)
    return binarize_mask(_to_gray(_decode(path, "mask"), path, "mask"))


def read_prediction(path: Path) -> np.ndarray:
    """Read one predicted mask or probability map.

    A file holding only 0 and 1 is a binary mask (nonzero = defect). Any other 8-bit file is a
    probability map 0..255 (value / 255; defect where >= 128, i.e. prob >= 0.5), 16-bit ones are
    value / 65535.

    Args:
        path: A png (or any of :data:`IMAGE_SUFFIXES`).

    Returns:
        ``(H, W)`` bool (binary file) or ``(H, W)`` float32 in [0, 1] (probability file).

    Raises:
        DataError: The file is missing, unreadable or not an 8/16-bit image.
    """
    path = Path(path)
    array = _to_gray(_decode(path, "prediction"), path, "prediction")
    if array.dtype == np.uint8 or array.dtype == np.uint16:
        if array.size == 0 or array.max() <= 1:
            return array > 0
        return array.astype(np.float32) / np.float32(np.iinfo(array.dtype).max)
    if np.issubdtype(array.dtype, np.floating):
        return np.clip(array, 0.0, 1.0).astype(np.float32)
    raise DataError(f"{path}: prediction pixels are {array.dtype}; expected 8/16-bit or float")


def write_png(path: Path, image: np.ndarray, *, compression: int = 3, row_filter: int | None = None) -> None:
    """Write a PNG (any path characters), or DataError naming the file and why (a full disk, say).

    Args:
        path: the file.
        image: ``(H, W)`` or ``(H, W, 3)`` uint8 (or uint16).
        compression: zlib level 0..9 (0 stores the rows as they are, 1 is fast; OpenCV's default is 3).
        row_filter: one PNG row filter for every row (``cv2.IMWRITE_PNG_FILTER_*``); None: libpng's
            adaptive choice per row.
    """
    params = [cv2.IMWRITE_PNG_COMPRESSION, compression]
    if row_filter is not None:
        params += [cv2.IMWRITE_PNG_FILTER, row_filter]
    ok, data = cv2.imencode(".png", image, params)
    if not ok:
        raise DataError(f"{path}: cannot encode PNG")
    try:
        with open(path, "wb") as handle:
            handle.write(data.tobytes())
    except OSError as error:
        raise cannot_write(path, error, DataError) from None
