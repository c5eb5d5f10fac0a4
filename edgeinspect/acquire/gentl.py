"""Find the GenTL producer (.cti) and pick a device from its list.

Producer search order: an explicit path (argument or camera YAML ``cti:``), else every ``*.cti`` in
the folders of ``GENICAM_GENTL64_PATH`` (the GenTL standard's variable, ``os.pathsep``-separated).
There is deliberately no fall-back to genicam's ``TLSimu.cti`` simulator: a production box must
never acquire from a simulator by accident; :func:`tlsimu_cti` finds it for tests and demos.

Device keys (``genicam:ID``): a serial number, a model, a user-defined name, a device ID or a list
index. An all-digit ID is a serial number when one matches, else an index. A key matching several
devices is an error (two identical cameras on one line are told apart by serial number).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Sequence

from edgeinspect.errors import EdgeInspectError

log = logging.getLogger(__name__)

GENTL_PATH_VAR = "GENICAM_GENTL64_PATH"
_MATCH_ORDER = ("serial_number", "model", "user_defined_name", "id_", "display_name")


def tlsimu_cti() -> Path | None:
    """Path of genicam's bundled ``TLSimu.cti`` simulator producer, None when genicam is missing."""
    try:
        import genicam
    except ImportError:
        return None
    path = Path(genicam.__file__).parent / "TLSimu.cti"
    return path if path.is_file() else None


def check_cti(path: Path | str, *, where: str = "") -> Path:
    """Check that ``path`` is a loadable GenTL producer and return it.

    Args:
        path: The ``.cti`` file.
        where: Where the path came from, for the message (e.g. ``" (camera YAML line3.yaml)"``).

    Raises:
        EdgeInspectError: The file does not exist or cannot be loaded as a shared library.
    """
    import ctypes

    # absolute: a bare file name handed to the loader would be looked up on the library path, not here
    path = Path(path).expanduser().absolute()
    if path.is_dir():
        producers = sorted(p.name for p in path.glob("*.cti"))
        raise EdgeInspectError(f"GenTL producer {path}{where} is a folder: give the .cti file itself"
                               + (f" ({', '.join(producers[:3])} there)" if producers else ""))
    if not path.is_file():
        raise EdgeInspectError(f"GenTL producer {path}{where} not found: give the camera vendor's .cti file "
                               f"(--cti, 'cti:' in the camera YAML or {GENTL_PATH_VAR})")
    try:
        ctypes.CDLL(str(path))
    except OSError as error:
        raise EdgeInspectError(f"GenTL producer {path}{where} cannot be loaded ({error}): "
                               f"give a GenTL producer built for this machine, with its libraries beside it") from None
    return path


def resolve_cti(cti: Path | str | None = None, *, config_cti: Path | None = None,
                config_path: Path | None = None) -> list[Path]:
    """The producer file(s) to load.

    Args:
        cti: Explicit path (wins).
        config_cti: ``cti:`` of the camera YAML.
        config_path: That YAML, for messages.

    Returns:
        One or more existing, loadable ``.cti`` paths.

    Raises:
        EdgeInspectError: A given path is bad, or nothing is given and ``GENICAM_GENTL64_PATH``
            names no folder with a ``.cti``.
    """
    if cti is not None:
        return [check_cti(cti)]
    if config_cti is not None:
        return [check_cti(config_cti, where=f" (key 'cti' of {config_path})" if config_path else "")]
    found: list[Path] = []
    for folder in filter(None, os.environ.get(GENTL_PATH_VAR, "").split(os.pathsep)):
        directory = Path(folder)
        if directory.is_dir():
            found.extend(sorted(p for p in directory.glob("*.cti") if p.is_file()))
        elif directory.suffix == ".cti" and directory.is_file():
            found.append(directory)
    if not found:
        simulator = tlsimu_cti()
        hint = f" (to try without a camera: --cti {simulator})" if simulator else ""
        raise EdgeInspectError(f"no GenTL producer: give the camera vendor's .cti with --cti or 'cti:' in the "
                               f"camera YAML, or set {GENTL_PATH_VAR} to its folder{hint}")
    return [check_cti(p, where=f" (from {GENTL_PATH_VAR})") for p in found]


def device_summary(info: Any) -> dict[str, str]:
    """The identifying properties of a harvesters ``DeviceInfo`` (missing ones as "")."""
    out = {}
    for key in ("serial_number", "model", "user_defined_name", "vendor", "id_", "display_name"):
        try:
            value = getattr(info, key)
        except Exception:  # producers raise NotImplemented/NotAvailable for optional info
            value = ""
        out[key] = "" if value is None else str(value)
    return out


def describe_devices(infos: Sequence[Any]) -> str:
    """``"0: TLSimuMono SN_InterfaceA_0 'Center', 1: ..."`` for error messages."""
    if not infos:
        return "none"
    parts = []
    for index, info in enumerate(infos):
        s = device_summary(info)
        name = f" '{s['user_defined_name']}'" if s["user_defined_name"] else ""
        parts.append(f"{index}: {s['model'] or s['id_']} {s['serial_number'] or '(no serial)'}{name}")
    return ", ".join(parts)


def select_device(infos: Sequence[Any], key: str | int | None, *, producers: str) -> int:
    """Index in ``infos`` of the device ``key`` names.

    Args:
        infos: ``Harvester.device_info_list``.
        key: Serial number, model, user-defined name, device ID, list index, or None (the first).
        producers: The .cti file(s), for messages.

    Raises:
        EdgeInspectError: No device at all, none matching (lists the available ones), or several
            matching.
    """
    if not infos:
        raise EdgeInspectError(f"no GenICam device found by {producers}: check the camera's power, cable "
                               f"and network/USB setup")
    if key is None:
        if len(infos) > 1:
            log.info("several GenICam devices (%s); using the first", describe_devices(infos))
        return 0
    text = str(key).strip()
    summaries = [device_summary(info) for info in infos]
    if isinstance(key, int) or text.isdigit():
        serial = [i for i, s in enumerate(summaries) if s["serial_number"] == text]
        if len(serial) == 1:
            return serial[0]
        if int(text) < len(infos):
            return int(text)
    for field in _MATCH_ORDER:
        matches = [i for i, s in enumerate(summaries) if s[field] and s[field] == text]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            listed = describe_devices([infos[i] for i in matches])
            raise EdgeInspectError(f"GenICam device '{text}' is ambiguous: {len(matches)} devices have "
                                   f"{field} '{text}' ({listed}); select one by serial number")
    raise EdgeInspectError(f"no GenICam device matches '{text}' (serial number, model, user-defined name or "
                           f"index) on {producers}; available: {describe_devices(infos)}")


def list_devices(cti: Path | str | None = None) -> list[dict[str, str]]:
    """Every device the producer(s) list, as :func:`device_summary` dicts (with ``index`` and ``cti``).

    Raises:
        EdgeInspectError: No usable producer (see :func:`resolve_cti`).
    """
    from harvesters.core import Harvester, ParameterKey, ParameterSet

    paths = resolve_cti(cti)
    harvester = Harvester(config=ParameterSet({ParameterKey.LOGGER: logging.getLogger(
        "edgeinspect.acquire.harvesters")}))
    try:
        for path in paths:
            harvester.add_file(str(path))
        harvester.update()
        return [{"index": str(i), **device_summary(info), "cti": ", ".join(map(str, paths))}
                for i, info in enumerate(harvester.device_info_list)]
    finally:
        harvester.reset()
