"""AITEX fabric defect database (Silvestre-Blanes et al., "A public fabric database for defect detection methods and results", 2019).

Layout: ``Defect_images/nnnn_ddd_ff.png`` (image number, defect code, fabric code) with the mask
``Mask_images/nnnn_ddd_ff_mask.png`` (a few images have several, ``_mask1.png``, ``_mask2.png``:
united); ``NODefect_images/`` (possibly in subfolders) holds defect-free strips with no mask.
Strips are 4096×256; some PNGs are gray+alpha (the gray plane is used). Label ``"defect_<ddd>"``
for a defect image (``"defect"`` when the name does not follow the pattern), ``"free"`` otherwise.
Some original defect images have no mask file: a bad input (DataError, or a counted skip).
"""

from __future__ import annotations

import re
from pathlib import Path

from edgeinspect.data.formats._common import BadInputs, SampleMeta, image_files, unique_names

NAME = "aitex"
LAYOUT = "aitex: Defect_images/*.png + Mask_images/<stem>_mask.png, NODefect_images/**"
_NAME_PATTERN = re.compile(r"\d+_(\d{3})_\d+")


def looks_like(root: Path) -> bool:
    """True when ``root`` holds ``Defect_images/`` or ``NODefect_images/``."""
    return (root / "Defect_images").is_dir() or (root / "NODefect_images").is_dir()


def index(root: Path, bad: BadInputs) -> list[SampleMeta]:
    """Defect images with their mask(s), then defect-free images (no mask file)."""
    entries = []
    defect_dir, mask_dir, free_dir = root / "Defect_images", root / "Mask_images", root / "NODefect_images"
    if defect_dir.is_dir():
        for image_path in image_files(defect_dir, recursive=True):
            masks = _masks_for(mask_dir, image_path.stem)
            if not masks:
                bad(image_path, f"no mask {image_path.stem}_mask.png in {mask_dir}")
                continue
            match = _NAME_PATTERN.fullmatch(image_path.stem)
            label = f"defect_{match.group(1)}" if match else "defect"
            entries.append(SampleMeta(image_path.stem, image_path, masks[0], label, NAME, tuple(masks[1:])))
    if free_dir.is_dir():
        for image_path in image_files(free_dir, recursive=True):
            entries.append(SampleMeta(image_path.stem, image_path, None, "free", NAME))
    return unique_names(entries, root)


def _masks_for(mask_dir: Path, stem: str) -> list[Path]:
    """``<stem>_mask.png`` or the ``<stem>_mask<N>.png`` family, sorted; empty when none exists."""
    if not mask_dir.is_dir():
        return []
    pattern = re.compile(re.escape(stem) + r"_mask\d*", re.IGNORECASE)
    return sorted(path for path in image_files(mask_dir) if pattern.fullmatch(path.stem))
