"""Files shipped inside the package: the bundled default model and the synthetic web's calibration.

- ``lpcnet-lite.pt``: the bundled checkpoint (lpcnet-lite trained on the synthetic webs; for
  fine-tuning and export, needs the ``train`` extra).
- ``lpcnet-lite.onnx``: the same network exported (standard ops, FP32): what ``run`` and ``bench``
  use when no engine is given (no torch needed).
- ``synthetic-web.yaml``: the camera calibration of the synthetic web (0.1 mm/px, 0.1 mm/line).

Example:
    >>> default_engine()
    PosixPath('.../edgeinspect/assets/lpcnet-lite.onnx')
"""

from __future__ import annotations

from pathlib import Path

from edgeinspect.errors import EdgeInspectError

ASSETS_DIR = Path(__file__).resolve().parent
DEFAULT_CHECKPOINT_NAME = "lpcnet-lite.pt"
DEFAULT_ONNX_NAME = "lpcnet-lite.onnx"
DEFAULT_CALIBRATION_NAME = "synthetic-web.yaml"


def _asset(name: str, what: str, instead: str) -> Path:
    path = ASSETS_DIR / name
    if not path.is_file():
        raise EdgeInspectError(f"{path}: the bundled {what} is missing from this install; reinstall edgeinspect or {instead}")
    return path


def default_checkpoint() -> Path:
    """Path of the bundled default checkpoint (lpcnet-lite trained on the synthetic webs).

    Raises:
        EdgeInspectError: the file is missing from this install.
    """
    return _asset(DEFAULT_CHECKPOINT_NAME, "default checkpoint", "pass a checkpoint (.pt) or ONNX file instead of 'default'")


def default_engine() -> Path:
    """Path of the bundled default model as ONNX (standard ops, FP32), loadable by ``backends.load``.

    Raises:
        EdgeInspectError: the file is missing from this install.
    """
    return _asset(DEFAULT_ONNX_NAME, "default model", "pass an engine folder with --engine")


def default_calibration() -> Path:
    """Path of the synthetic web's camera calibration YAML (``run --calib`` default).

    Raises:
        EdgeInspectError: the file is missing from this install.
    """
    return _asset(DEFAULT_CALIBRATION_NAME, "synthetic-web calibration", "pass --calib YAML")
