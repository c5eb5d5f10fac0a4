"""Camera YAML → :class:`CameraConfig`: the SFNC nodes to set and how to acquire.

Every node key is optional: a key that is absent (or null) leaves that camera node untouched.
Errors name the file and the key (:class:`~edgeinspect.errors.ConfigError`). The file is either
these keys at the top level or under one ``camera:`` key.

Example ``line3.yaml``::

    cti: /opt/vendor/lib/gentl.cti     # GenTL producer; relative paths are relative to this file
    device: "22012345"                 # serial number, model, user-defined name or index
    width: 4096                        # Width (pixels per line)
    lines_per_frame: 512               # Height (lines per frame)
    pixel_format: Mono8                # Mono8, Mono10, Mono10p, Mono12, Mono12p, Mono14, Mono16, ...
    line_rate_hz: 20000                # AcquisitionLineRate (free run); unit converted from the node's
    exposure_time_us: 40               # ExposureTime
    reverse_x: false                   # ReverseX
    trigger:                           # TriggerSelector / TriggerMode / TriggerSource (/ TriggerActivation)
      selector: LineStart
      mode: "On"                       # quote it: YAML reads bare On/Off as booleans (both accepted)
      source: Encoder0
    encoder_chunk: true                # ChunkEncoderValue → Frame.encoder_position
    nodes:                             # vendor nodes, set in this order after the ones above
      EncoderDivider: 4
    fetch_timeout_s: 1.0               # one fetch waits this long
    max_timeouts: 5                    # this many timeouts in a row = device lost (null: never;
                                       #   use null for encoder-triggered lines that may stand still)
    reconnect_attempts: 5              # give up after this many failed reconnects without a frame
    backoff_s: [0.5, 1, 2, 4]          # wait before reconnect attempts 2, 3, ...; last value repeats
    num_buffers: 16                    # GenTL buffers, 1..256 (memory: num_buffers × payload size)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Mapping

from edgeinspect.config import number_from_text
from edgeinspect.errors import ConfigError

#: Significant bits of each monochrome PFNC pixel format edgeinspect accepts.
PIXEL_FORMAT_BITS: dict[str, int] = {
    "Mono8": 8,
    "Mono10": 10, "Mono10p": 10, "Mono10Packed": 10,
    "Mono12": 12, "Mono12p": 12, "Mono12Packed": 12,
    "Mono14": 14, "Mono14p": 14,
    "Mono16": 16,
}


def bit_depth_of(pixel_format: str) -> int | None:
    """Significant bits of a monochrome PFNC format (``"Mono12p"`` → 12); None for others."""
    return PIXEL_FORMAT_BITS.get(pixel_format)


#: Most GenTL buffers a camera config may ask for: each holds one frame (4096 px × 1024 lines of
#: Mono16 = 8 MB), all allocated at the start; 99,999,999,999 filled memory until the run was killed.
MAX_NUM_BUFFERS = 256

@dataclass(frozen=True, slots=True)
class TriggerConfig:
    """The SFNC trigger to set: ``TriggerSelector``, then ``TriggerMode``, ``TriggerSource``, ``TriggerActivation``.

    The default is one line per encoder pulse.
    """

    selector: str = "LineStart"
    mode: str = "On"
    source: str | None = "Encoder0"
    activation: str | None = None


@dataclass(frozen=True, slots=True)
class CameraConfig:
    """Camera nodes to set (None = leave as is) and acquisition options; see the module docstring."""

    cti: Path | None = None
    device: str | None = None
    width: int | None = None
    lines_per_frame: int | None = None
    pixel_format: str | None = None
    line_rate_hz: float | None = None
    exposure_time_us: float | None = None
    reverse_x: bool | None = None
    trigger: TriggerConfig | None = None
    encoder_chunk: bool = False
    nodes: tuple[tuple[str, bool | int | float | str], ...] = ()
    fetch_timeout_s: float = 1.0
    max_timeouts: int | None = 5
    reconnect_attempts: int = 5
    backoff_s: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0)
    num_buffers: int = 16
    path: Path | None = None


_KEYS = tuple(f.name for f in fields(CameraConfig) if f.name != "path")


def load_camera_config(path: Path | str) -> CameraConfig:
    """Read a camera YAML.

    Raises:
        ConfigError: The file is missing or unreadable, or a key is unknown or has a bad value.
    """
    import yaml

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: camera config not found") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: cannot read camera config ({error})") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}:{where} not valid YAML ({getattr(error, 'problem', None) or error})") from None
    if data is None:
        data = {}
    if isinstance(data, dict) and set(data) == {"camera"}:
        data = data["camera"] or {}
    return camera_config_from_mapping(data, source=path)


def camera_config_from_mapping(data: Mapping[str, Any], *, source: Path | str = "<camera config>") -> CameraConfig:
    """Validate a mapping of the YAML keys into a :class:`CameraConfig`.

    Args:
        data: Keys as in the module docstring.
        source: The file the mapping came from: named in errors; relative ``cti`` paths resolve
            against its folder.

    Raises:
        ConfigError: A key is unknown or has a bad value (the message names file and key).
    """
    where = str(source)
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: expected a mapping of camera keys, got {type(data).__name__}")
    unknown = [key for key in data if key not in _KEYS]
    if unknown:
        raise ConfigError(f"{where}: unknown key '{unknown[0]}'; valid keys: {', '.join(_KEYS)}")

    def bad(key: str, expected: str) -> ConfigError:
        return ConfigError(f"{where}: key '{key}' must be {expected}, got {data[key]!r}")

    def positive_int(key: str, minimum: int = 1, maximum: int | None = None) -> int | None:
        value = data.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise bad(key, f"an integer >= {minimum}" if maximum is None else f"an integer in {minimum}..{maximum}")
        if maximum is not None and value > maximum:
            raise bad(key, f"an integer in {minimum}..{maximum}")
        return value

    def positive_float(key: str) -> float | None:
        value = number_from_text(data.get(key))  # 2e3 as PyYAML leaves it: text
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < math.inf:
            raise bad(key, "a finite number > 0")
        return float(value)

    values: dict[str, Any] = {"path": Path(source) if not where.startswith("<") else None}
    if data.get("cti") is not None:
        cti = Path(str(data["cti"])).expanduser()
        if not cti.is_absolute() and values["path"] is not None:
            cti = values["path"].parent / cti
        values["cti"] = cti
    if data.get("device") is not None:
        if not isinstance(data["device"], (str, int)) or isinstance(data["device"], bool):
            raise bad("device", "a serial number, model, user-defined name or index")
        values["device"] = str(data["device"])
    values["width"] = positive_int("width")
    values["lines_per_frame"] = positive_int("lines_per_frame")
    if data.get("pixel_format") is not None:
        if data["pixel_format"] not in PIXEL_FORMAT_BITS:
            raise bad("pixel_format", f"one of {', '.join(PIXEL_FORMAT_BITS)}")
        values["pixel_format"] = data["pixel_format"]
    values["line_rate_hz"] = positive_float("line_rate_hz")
    values["exposure_time_us"] = positive_float("exposure_time_us")
    if data.get("reverse_x") is not None:
        if not isinstance(data["reverse_x"], bool):
            raise bad("reverse_x", "true or false")
        values["reverse_x"] = data["reverse_x"]
    if data.get("trigger") is not None:
        values["trigger"] = _trigger(data["trigger"], where)
    if data.get("encoder_chunk") is not None:
        if not isinstance(data["encoder_chunk"], bool):
            raise bad("encoder_chunk", "true or false")
        values["encoder_chunk"] = data["encoder_chunk"]
    if data.get("nodes") is not None:
        nodes = data["nodes"]
        if not isinstance(nodes, Mapping) or not all(
                isinstance(k, str) and isinstance(v, (bool, int, float, str)) for k, v in nodes.items()):
            raise bad("nodes", "a mapping of node name to a number, string or true/false")
        values["nodes"] = tuple(nodes.items())
    if "fetch_timeout_s" in data:
        values["fetch_timeout_s"] = positive_float("fetch_timeout_s") or CameraConfig.fetch_timeout_s
    if "max_timeouts" in data:
        values["max_timeouts"] = positive_int("max_timeouts")
    if data.get("reconnect_attempts") is not None:
        values["reconnect_attempts"] = positive_int("reconnect_attempts", minimum=0)
    if data.get("backoff_s") is not None:
        backoff = data["backoff_s"]
        backoff = [backoff] if isinstance(backoff, (int, float)) and not isinstance(backoff, bool) else backoff
        if (not isinstance(backoff, list) or not backoff
                or not all(isinstance(b, (int, float)) and not isinstance(b, bool) and b >= 0 for b in backoff)):
            raise bad("backoff_s", "a number >= 0 or a non-empty list of them (seconds)")
        values["backoff_s"] = tuple(float(b) for b in backoff)
    if data.get("num_buffers") is not None:
        values["num_buffers"] = positive_int("num_buffers", maximum=MAX_NUM_BUFFERS)
    return CameraConfig(**{key: value for key, value in values.items()
                           if value is not None or key in ("max_timeouts", "path")})


def _trigger(value: Any, where: str) -> TriggerConfig:
    """``trigger:`` as a mapping, or true (encoder line trigger) / false (``TriggerMode=Off``)."""
    if isinstance(value, bool):
        return TriggerConfig() if value else TriggerConfig(mode="Off", source=None)
    if isinstance(value, str) and value.lower() in ("on", "off"):
        return TriggerConfig() if value.lower() == "on" else TriggerConfig(mode="Off", source=None)
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where}: key 'trigger' must be a mapping (selector, mode, source, activation) "
                          f"or true/false, got {value!r}")
    allowed = ("selector", "mode", "source", "activation")
    for key in value:
        if key not in allowed:
            raise ConfigError(f"{where}: unknown key 'trigger.{key}'; valid keys: {', '.join(allowed)}")
    mode = value.get("mode", "On")
    if isinstance(mode, bool):  # YAML 1.1 reads bare On/Off as booleans
        mode = "On" if mode else "Off"
    if mode not in ("On", "Off"):
        raise ConfigError(f"{where}: key 'trigger.mode' must be \"On\" or \"Off\", got {mode!r}")
    for key in ("selector", "source", "activation"):
        if value.get(key) is not None and not isinstance(value[key], str):
            raise ConfigError(f"{where}: key 'trigger.{key}' must be a node value name, got {value[key]!r}")
    default = TriggerConfig()
    source = value.get("source", default.source if mode == "On" else None)
    return TriggerConfig(selector=value.get("selector") or default.selector, mode=mode,
                         source=source, activation=value.get("activation"))
