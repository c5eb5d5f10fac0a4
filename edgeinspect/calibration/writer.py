"""Write ``calib/<name>.yaml`` (what ``edgeinspect run --calib`` reads) and read its metadata back.

The file holds the keys :func:`edgeinspect.stream.area.load_calibration` reads, plus how they
were obtained (source images, date, target, figures, residuals, warnings) under a ``meta:`` key,
which ``load_calibration`` accepts and ignores (``"meta"`` in ``stream.area.CALIBRATION_KEYS``)
and :func:`read_meta` returns.

Every file written is loaded back with ``load_calibration`` before it replaces an existing one
(temp file + rename), so a file that ``run`` would refuse is never left behind.

Example:
    >>> write_calibration(Path("calib/line3.yaml"), keys, meta, header=["line 3, 2048 px"])
    >>> read_meta(Path("calib/line3.yaml"))["across"]["residual_pct"]
    0.06
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from edgeinspect.errors import ConfigError, EdgeInspectError, cannot_write
from edgeinspect.outputs import make_folder

META_KEY = "meta"
#: Order of the calibration keys in a written file.
KEY_ORDER = ("camera", "description", "width_px", "mm_per_px", "mm_per_px_poly", "mm_per_line",
             "encoder_pitch_mm", "pulses_per_line", "web_speed_mm_s", "line_rate_hz",
             "reject_area_mm2", "significant_area_mm2")


def _plain(value: Any) -> Any:
    """numpy scalars/tuples → YAML-safe Python values."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and callable(value.item):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    return value


def render_calibration(keys: dict[str, Any], meta: dict[str, Any] | None, *, header: list[str] = ()) -> str:
    """The YAML text of a calibration file.

    Args:
        keys: calibration keys (see ``stream/area.py``); written in :data:`KEY_ORDER`.
        meta: metadata mapping written under ``meta:``, or None.
        header: comment lines at the top (without ``#``).
    """
    import yaml

    unknown = [k for k in keys if k not in KEY_ORDER]
    if unknown:
        raise EdgeInspectError(f"calibration keys {unknown} are not calibration YAML keys ({', '.join(KEY_ORDER)})")
    ordered = {k: _plain(keys[k]) for k in KEY_ORDER if k in keys}
    lines = [f"# {line}".rstrip() for line in header]
    text = "\n".join(lines) + ("\n" if lines else "")
    for key, value in ordered.items():  # one key at a time: block style at the top, lists inline
        if isinstance(value, list):
            text += f"{key}: {yaml.safe_dump(value, default_flow_style=True, width=4096).strip()}\n"
        else:
            text += yaml.safe_dump({key: value}, default_flow_style=False, width=120, allow_unicode=True)
    if meta:
        text += yaml.safe_dump({META_KEY: _plain(meta)}, sort_keys=False, default_flow_style=None, width=120,
                               allow_unicode=True)
    return text


def write_calibration(path: Path, keys: dict[str, Any], meta: dict[str, Any] | None = None, *,
                      header: list[str] = (), force: bool = False) -> Path:
    """Write a calibration YAML that ``load_calibration`` accepts, atomically.

    Args:
        path: the file (``calib/<name>.yaml``); its folder is created.
        keys: calibration keys.
        meta: metadata (images, date, figures, residuals).
        header: comment lines at the top.
        force: replace an existing file.

    Returns:
        ``path``.

    Raises:
        EdgeInspectError: the file exists (without ``force``), cannot be written, or the result
            would not load (the message is ``load_calibration``'s).
    """
    from edgeinspect.stream.area import load_calibration

    path = Path(path)
    if path.exists() and not force:
        raise EdgeInspectError(f"{path}: exists; choose another --out or pass --force to replace it")
    if path.suffix.lower() not in (".yaml", ".yml"):
        raise EdgeInspectError(f"{path}: a calibration file must end in .yaml")
    text = render_calibration(keys, meta, header=header)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        make_folder(path.parent)
        tmp.write_text(text, encoding="utf-8")
    except OSError as error:
        raise cannot_write(path, error) from None
    try:
        load_calibration(tmp)
    except ConfigError as error:
        tmp.unlink(missing_ok=True)
        raise EdgeInspectError(f"{path}: not written, the calibration would not load: "
                               f"{str(error).replace(str(tmp), path.name)}") from None
    os.replace(tmp, path)
    return path


def read_meta(path: Path) -> dict[str, Any] | None:
    """The ``meta:`` mapping of a calibration YAML, None if it has none.

    Raises:
        ConfigError: the file cannot be read or is not YAML.
    """
    from edgeinspect.config import load_yaml_mapping

    meta = load_yaml_mapping(Path(path), "calibration").get(META_KEY)
    return meta if isinstance(meta, dict) else None
