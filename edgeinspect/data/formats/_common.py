"""What every dataset-format indexer shares: the sample record and the bad-input rule.

An indexer is a pure function ``index(root, bad) -> list[SampleMeta]`` that only looks at file
names (and, where the label depends on it, at mask content). It reports each bad input through
``bad(path, reason)``, which raises :class:`~edgeinspect.errors.DataError` or records a counted
skip, depending on ``skip_bad``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from edgeinspect.data.imageio import IMAGE_SUFFIXES
from edgeinspect.errors import DataError


@dataclass(frozen=True, slots=True)
class SampleMeta:
    """Where one sample lives and what it is.

    Attributes:
        name: Unique within the dataset; the file stem, or the root-relative path without suffix
            (POSIX ``/``) where stems repeat (e.g. KolektorSDD ``kos01/Part0``). Predictions for
            ``edgeinspect eval --pred DIR`` are ``DIR/<name>.png``.
        image_path: The image file.
        mask_path: The mask file, or None for a defect-free sample the format gives no mask for
            (an all-False mask of the image size).
        label: Defect class (e.g. ``"Crack"``, ``"defect"``, ``"defect_019"``) or ``"free"``.
        dataset: Format name: ``"mt"``, ``"kolektor"``, ``"aitex"`` or ``"pairs"``.
        extra_mask_paths: Further mask files united with ``mask_path`` (AITEX ``_mask1``/``_mask2``).
    """

    name: str
    image_path: Path
    mask_path: Path | None
    label: str
    dataset: str
    extra_mask_paths: tuple[Path, ...] = field(default=())


class BadInputs:
    """The bad-input rule: raise one DataError naming the file, or count a skip ("path: reason")."""

    def __init__(self, *, skip: bool) -> None:
        self.skip = skip
        self.skipped: list[str] = []

    def __call__(self, path: Path, reason: str) -> None:
        """Report one bad input file; raises DataError unless skipping."""
        message = f"{path}: {reason}"
        if not self.skip:
            raise DataError(f"{message} (or pass skip_bad / --skip-bad to skip such samples)")
        self.skipped.append(message)


def image_files(folder: Path, *, recursive: bool = False, exclude_suffixes: tuple[str, ...] = ()) -> list[Path]:
    """Image files in ``folder`` (any of IMAGE_SUFFIXES, case-insensitive), sorted by path."""
    pattern = "**/*" if recursive else "*"
    return sorted(
        path
        for path in folder.glob(pattern)
        if path.suffix.lower() in IMAGE_SUFFIXES
        and path.suffix.lower() not in exclude_suffixes
        and path.is_file()
        and not path.name.startswith(".")
    )


def unique_names(entries: list[SampleMeta], root: Path) -> list[SampleMeta]:
    """Give entries whose names repeat their root-relative path without suffix instead."""
    counts: dict[str, int] = {}
    for entry in entries:
        counts[entry.name] = counts.get(entry.name, 0) + 1
    if all(count == 1 for count in counts.values()):
        return entries
    return [
        replace(entry, name=entry.image_path.relative_to(root).with_suffix("").as_posix())
        if counts[entry.name] > 1
        else entry
        for entry in entries
    ]
