"""Generic image/mask pairs: ``images/<name>.<ext>`` with ``masks/<name>.<ext>`` (equal stems).

Any of png/jpg/bmp/tif on either side; subfolders are mirrored (``images/a/b.png`` ↔
``masks/a/b.png``; the sample name is then ``a/b``). Mask: defect where > 127 for 8-bit 0..255
masks, nonzero for 0/1 and 16-bit masks. Label ``"defect"`` or ``"free"`` from the mask content
(masks are read at index time). ``edgeinspect synth`` writes this layout.
"""

from __future__ import annotations

from pathlib import Path

from edgeinspect.data.formats._common import BadInputs, SampleMeta, image_files
from edgeinspect.data.imageio import IMAGE_SUFFIXES, read_mask
from edgeinspect.errors import DataError

NAME = "pairs"
LAYOUT = "pairs: images/<name>.<png|jpg|bmp|tif> + masks/<name>.<png|jpg|bmp|tif>"


def looks_like(root: Path) -> bool:
    """True when ``root`` holds both ``images/`` and ``masks/``."""
    return (root / "images").is_dir() and (root / "masks").is_dir()


def index(root: Path, bad: BadInputs) -> list[SampleMeta]:
    """Every file under ``images/`` with the mask of the same relative stem under ``masks/``."""
    image_dir, mask_dir = root / "images", root / "masks"
    masks: dict[str, list[Path]] = {}
    for mask_path in image_files(mask_dir, recursive=True):
        masks.setdefault(mask_path.relative_to(mask_dir).with_suffix("").as_posix(), []).append(mask_path)
    entries = []
    for image_path in image_files(image_dir, recursive=True):
        name = image_path.relative_to(image_dir).with_suffix("").as_posix()
        candidates = masks.get(name)
        if not candidates:
            bad(image_path, f"no mask masks/{name}.<png|jpg|bmp|tif>")
            continue
        mask_path = min(candidates, key=lambda path: IMAGE_SUFFIXES.index(path.suffix.lower()))
        try:
            label = "defect" if read_mask(mask_path).any() else "free"
        except DataError as error:
            bad(mask_path, f"{str(error).split(': ', 1)[-1]} (mask of {image_path.name})")
            continue
        entries.append(SampleMeta(name, image_path, mask_path, label, NAME))
    return entries
