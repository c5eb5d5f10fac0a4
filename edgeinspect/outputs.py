"""Output folders and files of every command: created on demand, refused in one line when they cannot be.

A user's ``--out`` may run into a regular file (``--out results`` where ``results`` is a file, or
``--out results/run1`` below it) or name a folder where a file is expected. Python then raises
``FileExistsError``, ``NotADirectoryError`` or ``IsADirectoryError`` deep in the work; these
helpers say it first, naming the path in the way and the option to change.

Example:
    >>> make_folder(Path("runs/line3"), option="--out")      # runs/ and runs/line3/ created
    PosixPath('runs/line3')
"""

from __future__ import annotations

from pathlib import Path

from edgeinspect.errors import EdgeInspectError


def make_folder(path: Path | str, *, option: str = "--out") -> Path:
    """Create folder ``path`` and its parents (an existing folder is fine) and return it.

    Args:
        path: the folder.
        option: what the user gave it as, for the message (``--out``, ``--root``).

    Raises:
        EdgeInspectError: ``path`` or one of its parents is a file, or the folder cannot be created.
    """
    path = check_folder_path(path, option=option)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise EdgeInspectError(f"{path}: cannot create folder ({error.strerror or error}); "
                               f"choose another {option}") from None
    return path


def check_folder_path(path: Path | str, *, option: str = "--out") -> Path:
    """Check, creating nothing, that ``path`` can be a folder: neither it nor a parent is a file.

    Raises:
        EdgeInspectError: naming the file in the way.
    """
    path = Path(path)
    try:
        in_the_way = next((p for p in (path, *path.parents) if p.exists() and not p.is_dir()), None)
    except OSError as error:  # a parent folder that cannot be entered (permissions)
        raise EdgeInspectError(f"{path}: cannot create folder ({error.strerror or error}); "
                               f"choose another {option}") from None
    if in_the_way is not None:
        raise EdgeInspectError(f"{in_the_way}: exists and is not a folder; choose another {option}")
    return path


def prepare_output_file(path: Path | str, *, option: str = "--out") -> Path:
    """Check that a file can be written at ``path`` (not a folder) and create its folder.

    Raises:
        EdgeInspectError: ``path`` is a folder, or its folder cannot be created (see :func:`make_folder`).
    """
    path = Path(path)
    check_folder_path(path.parent, option=option)  # a file in the way, or a parent that cannot be entered
    if path.is_dir():
        raise EdgeInspectError(f"{path}: is a folder; give {option} a file name")
    make_folder(path.parent, option=option)
    return path
