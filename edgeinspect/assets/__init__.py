"""Files shipped inside the package: the bundled default checkpoint (``lpcnet-lite.pt``).

Example:
    >>> default_checkpoint()
    PosixPath('.../edgeinspect/assets/lpcnet-lite.pt')
"""

from __future__ import annotations

from pathlib import Path

from edgeinspect.errors import EdgeInspectError

ASSETS_DIR = Path(__file__).resolve().parent
DEFAULT_CHECKPOINT_NAME = "lpcnet-lite.pt"


def default_checkpoint() -> Path:
    """Path of the bundled default checkpoint (lpcnet-lite trained on the synthetic webs).

    Raises:
        EdgeInspectError: the file is missing from this install.
    """
    path = ASSETS_DIR / DEFAULT_CHECKPOINT_NAME
    if not path.is_file():
        raise EdgeInspectError(
            f"{path}: the bundled default checkpoint is missing from this install; "
            "reinstall edgeinspect or pass a checkpoint (.pt) or ONNX file instead of 'default'"
        )
    return path
