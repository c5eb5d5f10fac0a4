"""Writers of tiny datasets in each public layout edgeinspect reads (tests never use the real datasets).

Each writer makes real files with cv2/PIL in the original layout and returns the dataset root.
Defect masks hold a filled rectangle of 255 with a one-pixel rim of 100 (an anti-aliased edge that
the 127 threshold must drop), so each defect's area is known exactly: :func:`defect_mask`.
Import with ``from fixtures_data import ...`` (``tests/`` is on sys.path through tests/conftest.py).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

SIZE_HW = (24, 32)


def defect_mask(size_hw: tuple[int, int] = SIZE_HW, *, box: tuple[int, int, int, int] = (8, 6, 14, 10)) -> np.ndarray:
    """``(H, W)`` uint8 mask: 255 inside ``box`` (x0, y0, x1, y1 exclusive), 100 on a 1-px rim around it, else 0."""
    mask = np.zeros(size_hw, np.uint8)
    x0, y0, x1, y1 = box
    mask[max(y0 - 1, 0) : y1 + 1, max(x0 - 1, 0) : x1 + 1] = 100
    mask[y0:y1, x0:x1] = 255
    return mask


def gray_image(size_hw: tuple[int, int] = SIZE_HW, *, seed: int = 0, dtype=np.uint8) -> np.ndarray:
    """Noise image; uint16 images use 12-bit values (0..4095)."""
    top = 255 if dtype == np.uint8 else 4095
    return np.random.default_rng(seed).integers(0, top + 1, size_hw).astype(dtype)


def write(path: Path, array: np.ndarray) -> Path:
    """cv2.imwrite that creates folders and fails loudly."""
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), array), path
    return path


def write_mt(root: Path, counts: dict[str, int], *, size_hw: tuple[int, int] = SIZE_HW) -> Path:
    """Magnetic Tile: ``MT_<Class>/Imgs/exp1_num_<i>.jpg`` + ``.png`` mask; ``Free`` masks are empty."""
    index = 0
    for class_name, count in counts.items():
        for _ in range(count):
            stem = f"exp1_num_{1000 + index}"
            folder = root / f"MT_{class_name}" / "Imgs"
            write(folder / f"{stem}.jpg", gray_image(size_hw, seed=index))
            mask = np.zeros(size_hw, np.uint8) if class_name == "Free" else defect_mask(size_hw)
            write(folder / f"{stem}.png", mask)
            index += 1
    return root


def write_kolektor(root: Path, *, folders: int = 2, parts: int = 3, defect_parts: tuple[int, ...] = (1,)) -> Path:
    """KolektorSDD: ``kosNN/PartK.jpg`` + ``PartK_label.bmp``; parts in ``defect_parts`` have a defect."""
    for f in range(1, folders + 1):
        for k in range(parts):
            folder = root / f"kos{f:02d}"
            write(folder / f"Part{k}.jpg", gray_image(seed=10 * f + k))
            mask = defect_mask() if k in defect_parts else np.zeros(SIZE_HW, np.uint8)
            write(folder / f"Part{k}_label.bmp", mask)
    return root


def write_aitex(root: Path, *, defects: tuple[str, ...] = ("0001_019_02", "0002_019_02", "0003_002_01"),
                free: tuple[str, ...] = ("sub_a/0010_000_02", "sub_b/0011_000_01"), size_hw=(16, 64)) -> Path:
    """AITEX: ``Defect_images/<stem>.png`` (gray+alpha "LA" PNGs via PIL), ``Mask_images/<stem>_mask.png``,
    ``NODefect_images/<sub>/<stem>.png``. The gray plane is :func:`gray_image` with seed = image number."""
    from PIL import Image

    for stem in defects:
        gray = gray_image(size_hw, seed=int(stem[:4]))
        la = np.stack([gray, np.full(size_hw, 255, np.uint8)], axis=-1)
        path = root / "Defect_images" / f"{stem}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(la, mode="LA").save(path)
        write(root / "Mask_images" / f"{stem}_mask.png", defect_mask(size_hw, box=(40, 4, 50, 8)))
    for rel in free:
        write(root / "NODefect_images" / f"{rel}.png", gray_image(size_hw, seed=int(Path(rel).name[:4])))
    return root


def write_pairs(root: Path, *, count: int = 10, free_every: int = 5, size_hw: tuple[int, int] = SIZE_HW,
                image_suffix: str = ".png", mask_suffix: str = ".png", dtype=np.uint8) -> Path:
    """Pairs: ``images/s<i>.<suffix>`` + ``masks/s<i>.<suffix>``; every ``free_every``-th sample is defect-free."""
    for i in range(count):
        write(root / "images" / f"s{i:02d}{image_suffix}", gray_image(size_hw, seed=i, dtype=dtype))
        mask = np.zeros(size_hw, np.uint8) if i % free_every == free_every - 1 else defect_mask(size_hw)
        write(root / "masks" / f"s{i:02d}{mask_suffix}", mask)
    return root
