"""KolektorSDD (Tabernik et al., "Segmentation-based deep-learning approach for surface-defect detection", 2019).

Layout: ``kosNN/PartK.jpg`` with the mask ``kosNN/PartK_label.bmp``. Label ``"defect"`` when the
mask has any defect pixel, else ``"free"`` (masks are read at index time for that). Sample names
are ``kosNN/PartK`` (part names repeat across folders).
"""

from __future__ import annotations

import re
from pathlib import Path

from edgeinspect.data.formats._common import BadInputs, SampleMeta, image_files
from edgeinspect.data.imageio import read_mask
from edgeinspect.errors import DataError

NAME = "kolektor"
LAYOUT = "kolektor: kosNN/PartK.jpg + kosNN/PartK_label.bmp"
_FOLDER = re.compile(r"kos\d+", re.IGNORECASE)
_LABEL_SUFFIX = "_label"


def _part_dirs(root: Path) -> list[Path]:
    return sorted(path for path in root.iterdir() if path.is_dir() and _FOLDER.fullmatch(path.name))


def looks_like(root: Path) -> bool:
    """True when ``root`` holds at least one ``kosNN`` folder."""
    return bool(_part_dirs(root))


def index(root: Path, bad: BadInputs) -> list[SampleMeta]:
    """Every ``PartK`` image of every ``kosNN`` folder with its ``_label`` mask."""
    entries = []
    for part_dir in _part_dirs(root):
        for image_path in image_files(part_dir):
            if image_path.stem.endswith(_LABEL_SUFFIX):
                continue
            mask_path = _find_label(image_path)
            if mask_path is None:
                bad(image_path, f"no mask {image_path.stem}{_LABEL_SUFFIX}.bmp beside it")
                continue
            try:
                label = "defect" if read_mask(mask_path).any() else "free"
            except DataError as error:
                bad(mask_path, f"{str(error).split(': ', 1)[-1]} (mask of {image_path.name})")
                continue
            name = f"{part_dir.name}/{image_path.stem}"
            entries.append(SampleMeta(name, image_path, mask_path, label, NAME))
    return entries


def _find_label(image_path: Path) -> Path | None:
    stem = image_path.stem + _LABEL_SUFFIX
    for suffix in (".bmp", ".png", ".BMP", ".PNG"):
        candidate = image_path.with_name(stem + suffix)
        if candidate.is_file():
            return candidate
    return None
