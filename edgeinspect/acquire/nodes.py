"""Set GenICam (SFNC) nodes from a :class:`~edgeinspect.acquire.camera_config.CameraConfig`; report the rest.

Cameras differ: a node may be missing, read-only, out of range or lack an enumeration entry. Each
of those becomes a :class:`NodeIssue` (node, wanted value, reason) instead of an exception, so a
run starts with what the camera can do and says what it could not. Writes that fail because of
another node (``ExposureTime`` longer than the line period, ``Width`` beyond ``WidthMax`` before
``ReverseX``…) are retried once after every other node is set.

Call :func:`apply_settings` between ``ImageAcquirer.stop()`` and ``start()``: during acquisition
``TLParamsLocked=1`` makes Width, Height and PixelFormat read-only.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from edgeinspect.acquire.camera_config import CameraConfig

log = logging.getLogger(__name__)

#: Float-node units edgeinspect converts to (factor: value in the node's unit = ours × factor).
_HZ_UNITS = {"": 1.0, "hz": 1.0, "khz": 1e-3, "mhz": 1e-6}
_US_UNITS = {"": 1.0, "us": 1.0, "µs": 1.0, "μs": 1.0, "usec": 1.0, "microseconds": 1.0,
             "ms": 1e-3, "s": 1e-6, "ns": 1e3}


@dataclass(frozen=True, slots=True)
class NodeIssue:
    """A camera node edgeinspect wanted to set but could not.

    Attributes:
        node: Node name, e.g. ``"AcquisitionLineRate"``.
        value: The value that was wanted (in edgeinspect units: Hz, µs).
        reason: Why, e.g. ``"missing on this camera"``, ``"out of range: min 8, max 4096, inc 4"``.
    """

    node: str
    value: object
    reason: str

    def __str__(self) -> str:
        return f"{self.node}={self.value!r}: {self.reason}"


@dataclass(frozen=True, slots=True)
class NodeSetting:
    """One node to write: ``unit`` is ``"Hz"`` or ``"us"`` for converted floats; ``optional`` nodes are
    set when present and never reported as missing (e.g. ``AcquisitionLineRateEnable``); a setting
    with ``depends_on`` is written last, and only when that node was set (else it is reported as
    skipped: no ``ChunkModeActive=True`` on a camera without an EncoderValue chunk)."""

    node: str
    value: Any
    unit: str | None = None
    optional: bool = False
    depends_on: str | None = None


def settings_from_config(config: CameraConfig) -> list[NodeSetting]:
    """The node writes a camera config asks for, in a safe order.

    Order: ReverseX (changes the valid Width), PixelFormat, Width, Height, ExposureTime,
    AcquisitionLineRateEnable + AcquisitionLineRate, TriggerSelector/Mode/Source/Activation,
    ChunkSelector=EncoderValue, then the config's own ``nodes`` in file order; ChunkEnable and
    ChunkModeActive are written last and only when ChunkSelector took EncoderValue.
    """
    out: list[NodeSetting] = []
    if config.reverse_x is not None:
        out.append(NodeSetting("ReverseX", config.reverse_x))
    if config.pixel_format is not None:
        out.append(NodeSetting("PixelFormat", config.pixel_format))
    if config.width is not None:
        out.append(NodeSetting("Width", config.width))
    if config.lines_per_frame is not None:
        out.append(NodeSetting("Height", config.lines_per_frame))
    if config.exposure_time_us is not None:
        out.append(NodeSetting("ExposureTime", config.exposure_time_us, unit="us"))
    if config.line_rate_hz is not None:
        out.append(NodeSetting("AcquisitionLineRateEnable", True, optional=True))
        out.append(NodeSetting("AcquisitionLineRate", config.line_rate_hz, unit="Hz"))
    if config.trigger is not None:
        trigger = config.trigger
        out.append(NodeSetting("TriggerSelector", trigger.selector))
        out.append(NodeSetting("TriggerMode", trigger.mode))
        if trigger.source is not None:
            out.append(NodeSetting("TriggerSource", trigger.source))
        if trigger.activation is not None:
            out.append(NodeSetting("TriggerActivation", trigger.activation))
    if config.encoder_chunk:
        out.append(NodeSetting("ChunkSelector", "EncoderValue"))
        out.append(NodeSetting("ChunkEnable", True, depends_on="ChunkSelector"))
        out.append(NodeSetting("ChunkModeActive", True, depends_on="ChunkEnable"))
    out.extend(NodeSetting(name, value) for name, value in config.nodes)
    return out


class _Rejected(Exception):
    """A write failed; ``retry`` when another node may be the cause."""

    def __init__(self, reason: str, *, retry: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry = retry


def apply_settings(node_map: Any, settings: list[NodeSetting]) -> list[NodeIssue]:
    """Write ``settings`` to a GenApi node map; return what could not be set (also logged).

    Args:
        node_map: ``ImageAcquirer.remote_device.node_map`` (or any GenApi node map).
        settings: From :func:`settings_from_config`.

    Returns:
        One :class:`NodeIssue` per node that is missing, read-only, out of range, lacks the
        enumeration entry or rejected the value, in settings order.
    """
    issues: dict[int, NodeIssue] = {}
    retry: list[int] = []
    for index, setting in enumerate(settings):
        if setting.depends_on is not None:
            continue
        try:
            _write(node_map, setting)
        except _Rejected as rejected:
            if rejected.retry:
                retry.append(index)
            issues[index] = NodeIssue(setting.node, setting.value, rejected.reason)
    for index in retry:  # once more, now that every other node is set
        try:
            _write(node_map, settings[index])
            del issues[index]
        except _Rejected as rejected:
            issues[index] = NodeIssue(settings[index].node, settings[index].value, rejected.reason)
    for index, setting in enumerate(settings):  # dependent writes, now that their dependencies are known
        if setting.depends_on is None:
            continue
        failed = {issue.node for issue in issues.values()}
        if setting.depends_on in failed:
            issues[index] = NodeIssue(setting.node, setting.value, f"skipped: {setting.depends_on} not set")
            continue
        try:
            _write(node_map, setting)
        except _Rejected as rejected:
            issues[index] = NodeIssue(setting.node, setting.value, rejected.reason)
    result = [issues[i] for i in sorted(issues) if not (settings[i].optional and issues[i].reason == _MISSING)]
    for issue in result:
        log.warning("camera node not set: %s", issue)
    return result


_MISSING = "missing on this camera"


def _write(node_map: Any, setting: NodeSetting) -> None:
    """Write one node or raise :class:`_Rejected` with the reason."""
    from genicam import genapi

    name, value = setting.node, setting.value
    if not node_map.has_node(name):
        raise _Rejected(_MISSING, retry=False)
    node = getattr(node_map, name)
    if not genapi.is_implemented(node.node) or not genapi.is_available(node.node):
        raise _Rejected("not available on this camera now", retry=True)
    if not genapi.is_writable(node.node):
        mode = genapi.EAccessMode(node.node.get_access_mode()).name
        raise _Rejected(f"not writable (access {mode})", retry=True)
    try:
        if isinstance(node, genapi.IEnumeration):
            choices = tuple(node.symbolics)
            if str(value) not in choices:
                raise _Rejected(f"no entry '{value}'; choices: {', '.join(choices)}", retry=False)
            node.value = str(value)
        elif isinstance(node, genapi.IBoolean):
            node.value = bool(value)
        elif isinstance(node, genapi.IInteger):
            wanted = int(value)
            low, high, inc = node.min, node.max, node.inc
            if not low <= wanted <= high or (inc and (wanted - low) % inc):
                raise _Rejected(f"out of range: min {low}, max {high}, inc {inc}", retry=True)
            node.value = wanted
        elif isinstance(node, genapi.IFloat):
            wanted = float(value) * _unit_factor(node, setting.unit)
            low, high = node.min, node.max
            if not low <= wanted <= high:
                raise _Rejected(f"out of range: {wanted:g} {node.unit} not in [{low:g}, {high:g}] {node.unit}",
                                retry=True)
            node.value = wanted
        elif isinstance(node, genapi.ICommand):
            if value:
                node.execute()
        elif isinstance(node, genapi.IString):
            node.value = str(value)
        else:
            raise _Rejected(f"unsupported node type {type(node).__name__}", retry=False)
    except _Rejected:
        raise
    except genapi.GenericException as error:
        kind = type(error).__name__
        message = str(error).split(" : ")[0].strip()
        raise _Rejected(f"{kind}: {message}", retry=kind in ("OutOfRangeException", "AccessException")) from None
    except (TypeError, ValueError) as error:
        raise _Rejected(f"bad value ({error})", retry=False) from None
    log.info("camera node %s = %r", name, read_node(node_map, name))


def _unit_factor(node: Any, unit: str | None) -> float:
    """Factor from our unit (Hz or µs) to the node's unit; unknown units are written as is (logged)."""
    if unit is None:
        return 1.0
    table = _HZ_UNITS if unit == "Hz" else _US_UNITS
    node_unit = (node.unit or "").strip()
    factor = table.get(node_unit, table.get(node_unit.lower()))
    if factor is None:
        log.warning("node %s has unit %r; writing the value in %s unconverted", node.node.name, node_unit, unit)
        return 1.0
    return factor


def read_node(node_map: Any, name: str, unit: str | None = None) -> Any:
    """A node's value (floats converted to ``unit`` = "Hz"/"us" when given), None if missing or unreadable."""
    from genicam import genapi

    try:
        if not node_map.has_node(name):
            return None
        node = getattr(node_map, name)
        if not genapi.is_readable(node.node):
            return None
        value = node.value
        if unit is not None and isinstance(node, genapi.IFloat):
            value = value / _unit_factor(node, unit)
        return value
    except (genapi.GenericException, AttributeError):
        return None
