"""Magnetic Tile defect dataset (Huang et al., "Surface defect saliency of magnetic tile", 2018/2020).

Layout: ``MT_<Class>/Imgs/<name>.jpg`` with the mask ``<name>.png`` in the same ``Imgs`` folder
(grayscale, anti-aliased edges: defect where > 127). ``MT_Free`` holds defect-free tiles
(label ``"free"``); the other labels are the class names: Blowhole, Break, Crack, Fray, Uneven.
"""

from __future__ import annotations

from pathlib import Path

from edgeinspect.data.formats._common import BadInputs, SampleMeta, image_files, unique_names

NAME = "mt"
LAYOUT = "mt: MT_<Class>/Imgs/<name>.jpg + <name>.png"


def _class_dirs(root: Path) -> list[Path]:
    return sorted(path for path in root.glob("MT_*") if (path / "Imgs").is_dir())


def looks_like(root: Path) -> bool:
    """True when ``root`` holds at least one ``MT_<Class>/Imgs`` folder."""
    return bool(_class_dirs(root))


def index(root: Path, bad: BadInputs) -> list[SampleMeta]:
    """Every image of every ``MT_<Class>/Imgs`` folder with its ``.png`` mask, in path order."""
    entries = []
    for class_dir in _class_dirs(root):
        class_name = class_dir.name[len("MT_"):]
        label = "free" if class_name.lower() == "free" else class_name
        for image_path in image_files(class_dir / "Imgs", exclude_suffixes=(".png",)):
            mask_path = image_path.with_suffix(".png")
            if not mask_path.is_file():
                bad(image_path, f"no mask {mask_path.name} beside it")
                continue
            entries.append(SampleMeta(image_path.stem, image_path, mask_path, label, NAME))
    return unique_names(entries, root)
