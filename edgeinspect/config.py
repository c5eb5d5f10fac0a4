"""YAML files → validated dataclasses; every error names the file and the key.

One YAML per concern, combined by the run config:

- **run** (:func:`load_run_config`): what to inspect and how; refers to a camera YAML and a
  calibration YAML by path (relative paths, a ``replay:PATH`` camera's included, are relative
  to the run YAML's folder).
- **camera** (:func:`edgeinspect.acquire.load_camera_config`, the acquisition package's own
  loader): GenICam nodes, CTI, line rate, fetch timeouts.
- **calibration** (:func:`edgeinspect.stream.area.load_calibration`): mm per pixel / per line.

Run YAML keys (all optional)::

    camera: sim                     # sim[:TEXTURE] | genicam[:ID] | replay:PATH
    camera_config: line3-cam.yaml   # camera YAML (genicam: nodes, CTI ...; acquire/camera_config.py)
    calib: ../calib/line3.yaml      # camera calibration YAML (stream/area.py); default: the synthetic web's
    engine: ../engines/lpcnet-lite  # engine directory (default: the bundled model)
    out: ../runs/line3              # output directory (default: runs/<timestamp>)
    lines: 20000                    # stop after this many web lines ...
    duration_s: 5                   # ... or after this many seconds (sim default: 5)
    overlap_px: 32                  # tile overlap (inference grid px)
    scale: 1.0                      # inference grid / source, (0, 1]
    batch_size: 4                   # tiles per engine call
    threshold: 0.2                  # defect pixel: prob >= threshold ...
    detect_threshold: 0.6           # ... of a defect whose highest prob reaches this (hysteresis)
    queue_size: 8                   # frames between acquisition and inference
    mask_png_every_lines: 0         # write mask PNGs every N lines (0 = off)
    overlays: true                  # one overlay PNG per defect
    overlay_policy: auto            # writer behind: auto | wait (offline: every overlay) | skip (live: counted)
    context_px: 16                  # overlay margin around a defect, px
    max_band_lines: 8192            # longest defect tracked in one piece, lines
    merge_gap_px: 2                 # mask pixels this many background px apart (or closer) are one defect
    area_from: probability          # area = probability mass of the defect's halo | mask = pixels >= threshold
    engine_threads: 2               # CPU threads of the engine
    engine_streams: 2               # engine batches in flight at once (ONNX Runtime; default: 2 on >= 2 cores)
    post_thread: true               # stitch/track/sinks in a thread of their own, beside inference
    cascade: false                  # LPC-Net: DLM on every tile, segmentation only where loc flags
    cascade_threshold: 0.3          #   a tile is segmented when max(loc) >= this
    source_options:                 # open_source keyword options: width, lines_per_frame,
      width: 2048                   #   line_rate_hz, cti, seed, texture, bit_depth, loops, ...
      line_rate_hz: 20000

Every error is a :class:`~edgeinspect.errors.ConfigError` of one line:
``"run.yaml: key 'batch_size' must be >= 1, got 0"``.

Example:
    >>> config = load_run_config(Path("configs/line3.yaml"))
    >>> config.replace(lines=5000, out=None).lines      # None = keep the YAML's value
    5000
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeinspect.errors import ConfigError

# ---------------------------------------------------------------------------------------------
# Generic YAML helpers (used by every config loader)


def load_yaml_mapping(path: Path, what: str) -> dict[str, Any]:
    """Read a YAML file holding one mapping.

    Args:
        path: the file.
        what: what it is, for messages (``"calibration"``, ``"run config"``).

    Returns:
        The mapping (empty for an empty file).

    Raises:
        ConfigError: missing, unreadable, not YAML, or not a mapping.
    """
    import yaml

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: {what} file not found") from None
    except OSError as error:
        raise ConfigError(f"{path}: cannot read {what} file ({error.strerror or error})") from None
    except UnicodeDecodeError as error:
        raise ConfigError(f"{path}: not a text (UTF-8) file, byte {error.start} cannot be decoded: "
                          f"is this the {what} file?") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}: not valid YAML{where}: fix the {what} file") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a {what} file must be a mapping of keys to values, got {type(data).__name__}")
    return data


# A decimal with an exponent that YAML 1.1 (PyYAML) leaves as text: no dot (1e-4) or no exponent sign (1.0e5).
_EXPONENT_FLOAT = re.compile(r"[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)[eE][-+]?[0-9]+")


def number_from_text(value: Any) -> Any:
    """``value`` as a float when it is text PyYAML left unparsed but YAML 1.2 reads as a number
    (``"1e-4"``, ``"5E3"``, ``"1.0e5"``); anything else unchanged.

    Only number keys go through here: text keys (a camera serial ``1E5``, a name ``3e1``) stay text.
    """
    if isinstance(value, str) and _EXPONENT_FLOAT.fullmatch(value.strip()):
        return float(value)
    return value


def check_keys(data: dict[str, Any], path: Path, *, known: tuple[str, ...] | list[str],
               required: tuple[str, ...] | list[str] = ()) -> None:
    """Raise ConfigError naming the first unknown key, else the first missing required key."""
    for key in data:
        if key not in known:
            raise ConfigError(f"{path}: unknown key '{key}' (known keys: {', '.join(known)})")
    for key in required:
        if key not in data:
            raise ConfigError(f"{path}: missing key '{key}'")


def _short(value: object, limit: int = 40) -> str:
    """``repr(value)``, cut to ``limit`` characters (a 400-digit number in a message stays one short line)."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} characters)"


def get_number(data: dict[str, Any], key: str, path: Path, *, minimum: float | None = None,
               exclusive: bool = False, maximum: float | None = None, integer: bool = False,
               default: Any = None) -> Any:
    """A number from ``data[key]`` (``default`` when absent), range-checked.

    Args:
        data: the mapping.
        key: the key.
        path: file, for messages.
        minimum: lower bound (inclusive, or exclusive with ``exclusive=True``).
        maximum: upper bound (inclusive).
        integer: require an int (bools are refused).
        default: returned when the key is absent or null.

    Raises:
        ConfigError: wrong type or out of range.
    """
    if key not in data or data[key] is None:
        return default
    value = number_from_text(data[key])
    kind = "an integer" if integer else "a number"
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not isinstance(value, int)):
        raise ConfigError(f"{path}: key '{key}' must be {kind}, got {value!r}")
    if (not math.isfinite(value)) if isinstance(value, float) else abs(value) > sys.float_info.max:
        # an int past the largest float: callers convert to float (an OverflowError), and no key means it
        raise ConfigError(f"{path}: key '{key}' must be finite, got {_short(value)}")
    if minimum is not None and (value <= minimum if exclusive else value < minimum):
        raise ConfigError(f"{path}: key '{key}' must be {'>' if exclusive else '>='} {minimum:g}, got {value!r}")
    if maximum is not None and value > maximum:
        raise ConfigError(f"{path}: key '{key}' must be <= {maximum:g}, got {value!r}")
    return value


def get_str(data: dict[str, Any], key: str, path: Path, *, default: str | None = None) -> str | None:
    """A string from ``data[key]`` (``default`` when absent); ConfigError for another type."""
    if key not in data or data[key] is None:
        return default
    value = data[key]
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{path}: key '{key}' must be a non-empty string, got {value!r}")
    return value


def get_choice(data: dict[str, Any], key: str, path: Path, *, choices: tuple[str, ...], default: str) -> str:
    """One of ``choices`` from ``data[key]`` (``default`` when absent); ConfigError naming the choices."""
    value = get_str(data, key, path, default=default)
    if value not in choices:
        raise ConfigError(f"{path}: key '{key}' must be one of {', '.join(choices)}, got {value!r}")
    return value


def get_bool(data: dict[str, Any], key: str, path: Path, *, default: bool) -> bool:
    """A bool from ``data[key]`` (``default`` when absent); ConfigError for another type."""
    if key not in data or data[key] is None:
        return default
    value = data[key]
    if not isinstance(value, bool):
        raise ConfigError(f"{path}: key '{key}' must be true or false, got {value!r}")
    return value


def get_path(data: dict[str, Any], key: str, path: Path) -> Path | None:
    """A path from ``data[key]``, relative paths resolved against the YAML file's folder."""
    value = get_str(data, key, path)
    if value is None:
        return None
    candidate = Path(value).expanduser()
    return candidate if candidate.is_absolute() else (Path(path).parent / candidate)


# ---------------------------------------------------------------------------------------------
# Run config


#: Default ``threshold`` and ``detect_threshold`` of a run, chosen with the bundled model
#: (``area_from: probability``) on a stretch of the synthetic web the README's figures do not come from
#: (seed 1, 12,000 lines, README "Live inspection"): of the pairs whose precision stays >= 0.95, one
#: with the best area score. 0.2 / 0.6: recall 0.924, precision 0.956, area within ±20 % 0.712 (eval's
#: pixel-shared scoring), 585 records for 416 defects found; one threshold of 0.5: 0.933 / 0.965 / 0.698
#: but 1,582 records, thin cracks and scratches cut in pieces (0.3 / 0.5: precision 0.936; 0.2 / 0.7:
#: recall 0.896; 0.15 / 0.6 scores 4 of the 427 scored defects more, within what one stretch to the next changes).
DEFAULT_THRESHOLD = 0.2
DEFAULT_DETECT_THRESHOLD = 0.6


@dataclass(frozen=True, slots=True)
class RunConfig:
    """Settings of ``edgeinspect run`` (defaults = the built-in demo; see the module docstring).

    Attributes:
        camera: frame source spec: ``"sim"``, ``"sim:TEXTURE"``, ``"genicam"``, ``"genicam:ID"``
            or ``"replay:PATH"``.
        camera_config: camera YAML (GenICam nodes, CTI, ...; see
            :mod:`edgeinspect.acquire.camera_config`), or None.
        calib: calibration YAML path, or None for the synthetic web's (``edgeinspect/assets/synthetic-web.yaml``).
        engine: engine directory (or ``.onnx``), or None for the bundled model.
        out: output directory, or None for ``runs/<timestamp>``.
        lines: stop after this many web lines (acquired, dropped ones included), or None.
        duration_s: stop after this many seconds, or None.
        overlap_px: tile overlap, px of the inference grid.
        scale: inference grid / source, in (0, 1].
        batch_size: tiles per engine call.
        threshold: defect pixel when prob >= threshold, in (0, 1]: with ``detect_threshold`` it
            decides what is found (and with ``area_from: mask``, the area). Default
            :data:`DEFAULT_THRESHOLD`.
        detect_threshold: a group of defect pixels is a defect only when its highest probability
            reaches ``max(threshold, detect_threshold)`` (hysteresis, :mod:`edgeinspect.stream.tracker`),
            in (0, 1]. Default :data:`DEFAULT_DETECT_THRESHOLD`.
        queue_size: frames the acquisition→inference queue holds.
        mask_png_every_lines: write mask PNGs every this many lines; 0 = off.
        overlays: write one overlay PNG per defect.
        overlay_policy: what happens when the overlay writer falls behind: ``"wait"`` for it (every
            overlay is written), ``"skip"`` the overlay and count it (``overlays_skipped``; the record is
            always written), or ``"auto"``: wait on a source without a real-time clock (unpaced sim
            or replay: an offline run), skip on a live one (a camera, or sim/replay at a line rate).
        context_px: margin around a defect in its overlay, px.
        max_band_lines: longest defect tracked in one piece, lines.
        merge_gap_px: widest gap of background pixels (px, along a row, column or diagonal) still
            bridged inside one defect record, in [0, MAX_MERGE_GAP_PX]; 0 = 8-connected components
            only (:mod:`edgeinspect.stream.tracker`).
        area_from: ``"probability"`` (area = probability mass of the defect and its 4-px halo) or
            ``"mask"`` (area = pixels at or above ``threshold``); :mod:`edgeinspect.stream.area`.
        engine_threads: CPU threads of the engine (None: the runtime's default).
        engine_streams: engine batches inferred at once, together on ``engine_threads`` threads
            (ONNX Runtime; other backends run one); None:
            :data:`AUTO_ENGINE_STREAMS`, capped at the usable (logical) cores and at ``engine_threads``.
        post_thread: run stitching, tracking, areas and sinks in a thread of their own while the
            main thread tiles and infers the next batch (:mod:`edgeinspect.stream.postprocess`);
            False: all in the main thread. Same records either way.
        cascade: run the DLM first and the full network only on tiles it flags
            (:mod:`edgeinspect.stream.cascade`; LPC-Net engines).
        cascade_threshold: ``max(loc)`` from which a tile is segmented, in (0, 1).
        source_options: more ``open_source`` keyword arguments (``width``, ``line_rate_hz``,
            ``lines_per_frame``, ``cti``, ``seed``, ``texture``, ``bit_depth`` ...).
        config_path: the run YAML this came from, or None.
    """

    camera: str = "sim"
    camera_config: Path | None = None
    calib: Path | None = None
    engine: Path | None = None
    out: Path | None = None
    lines: int | None = None
    duration_s: float | None = None
    overlap_px: int = 32
    scale: float = 1.0
    batch_size: int = 4
    threshold: float = DEFAULT_THRESHOLD
    detect_threshold: float = DEFAULT_DETECT_THRESHOLD
    queue_size: int = 8
    mask_png_every_lines: int = 0
    overlays: bool = True
    overlay_policy: str = "auto"
    context_px: int = 16
    max_band_lines: int = 8192
    merge_gap_px: int = 2
    area_from: str = "probability"
    engine_threads: int | None = None
    engine_streams: int | None = None
    post_thread: bool = True
    cascade: bool = False
    cascade_threshold: float = 0.3
    source_options: dict[str, Any] = dataclasses.field(default_factory=dict)
    config_path: Path | None = None

    def replace(self, **changes: Any) -> "RunConfig":
        """A copy with ``changes`` applied; None values are ignored ('not given on the CLI')."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})


#: Engine streams of a run that names none (capped at the usable cores): on 2 cores, 2 single-thread
#: ONNX Runtime calls made the pipeline on the dense synthetic web and the bare INT8 engine faster than
#: one two-thread call (README, "bench", for the figures).
AUTO_ENGINE_STREAMS = 2
#: Most engine streams a run or bench accepts.
MAX_ENGINE_STREAMS = 64
#: Most engine CPU threads accepted (``--threads``, ``engine_threads``): more than any industrial PC
#: has; ONNX Runtime would otherwise start every one of them (100,000 took 17 GB before it failed).
MAX_ENGINE_THREADS = 256
#: Most tiles per engine call accepted (``--batch-size``, ``batch_size``): 256 tiles of 256² px are
#: 64 MB of input alone, and TensorRT profiles stop at ``build --max-batch``.
MAX_BATCH_SIZE = 256


def resolve_streams(engine_streams: int | None, engine_threads: int | None = None) -> int:
    """Engine streams of a run: ``engine_streams``, or when None :data:`AUTO_ENGINE_STREAMS`
    capped at the usable cores and at ``engine_threads`` (1 on a single core or with one thread), so
    the default never runs more engine threads than asked for."""
    if engine_streams is not None:
        return int(engine_streams)
    from edgeinspect.sysinfo import usable_cores

    return max(1, min(AUTO_ENGINE_STREAMS, usable_cores(), engine_threads or AUTO_ENGINE_STREAMS))

#: Values of ``overlay_policy``.
OVERLAY_POLICIES = ("auto", "wait", "skip")

#: Largest ``merge_gap_px`` accepted, px: wider gaps join distinct defects (and dilate the band a lot).
MAX_MERGE_GAP_PX = 64

RUN_KEYS = (
    "camera", "camera_config", "calib", "engine", "out", "lines", "duration_s", "overlap_px", "scale",
    "batch_size", "threshold", "detect_threshold", "queue_size", "mask_png_every_lines", "overlays", "overlay_policy", "context_px",
    "max_band_lines", "merge_gap_px", "area_from", "engine_threads", "engine_streams", "post_thread", "cascade", "cascade_threshold", "source_options",
)


def load_run_config(path: Path) -> RunConfig:
    """Read and check a run YAML (see the module docstring for the keys).

    Raises:
        ConfigError: unreadable file, unknown key, wrong type or out-of-range value.
    """
    path = Path(path)
    data = load_yaml_mapping(path, "run config")
    check_keys(data, path, known=RUN_KEYS)
    base = RunConfig()
    lines = get_number(data, "lines", path, minimum=1, integer=True)
    duration_s = get_number(data, "duration_s", path, minimum=0, exclusive=True)
    if lines is not None and duration_s is not None:
        raise ConfigError(f"{path}: keys 'lines' and 'duration_s' exclude each other: keep one")
    camera = get_str(data, "camera", path, default=base.camera)
    check_source_spec(camera, f"{path}: key 'camera'")
    if camera.startswith("replay:"):  # relative to the file, as its other paths; ~ expanded as theirs
        replay = Path(camera.removeprefix("replay:")).expanduser()
        camera = f"replay:{replay if replay.is_absolute() else path.parent / replay}"
    return RunConfig(
        camera=camera,
        camera_config=get_path(data, "camera_config", path),
        calib=get_path(data, "calib", path),
        engine=get_path(data, "engine", path),
        out=get_path(data, "out", path),
        lines=lines,
        duration_s=None if duration_s is None else float(duration_s),
        overlap_px=get_number(data, "overlap_px", path, minimum=0, integer=True, default=base.overlap_px),
        scale=float(get_number(data, "scale", path, minimum=0, exclusive=True, maximum=1, default=base.scale)),
        batch_size=get_number(data, "batch_size", path, minimum=1, maximum=MAX_BATCH_SIZE, integer=True,
                              default=base.batch_size),
        threshold=float(get_number(data, "threshold", path, minimum=0, exclusive=True, maximum=1,
                                   default=base.threshold)),
        detect_threshold=float(get_number(data, "detect_threshold", path, minimum=0, exclusive=True, maximum=1,
                                          default=base.detect_threshold)),
        queue_size=get_number(data, "queue_size", path, minimum=1, integer=True, default=base.queue_size),
        mask_png_every_lines=get_number(data, "mask_png_every_lines", path, minimum=0, integer=True,
                                        default=base.mask_png_every_lines),
        overlays=get_bool(data, "overlays", path, default=base.overlays),
        overlay_policy=get_choice(data, "overlay_policy", path, choices=OVERLAY_POLICIES, default=base.overlay_policy),
        context_px=get_number(data, "context_px", path, minimum=0, integer=True, default=base.context_px),
        max_band_lines=get_number(data, "max_band_lines", path, minimum=64, integer=True,
                                  default=base.max_band_lines),
        merge_gap_px=get_number(data, "merge_gap_px", path, minimum=0, maximum=MAX_MERGE_GAP_PX, integer=True,
                                default=base.merge_gap_px),
        area_from=get_choice(data, "area_from", path, choices=("probability", "mask"), default=base.area_from),
        engine_threads=get_number(data, "engine_threads", path, minimum=1, maximum=MAX_ENGINE_THREADS, integer=True),
        engine_streams=get_number(data, "engine_streams", path, minimum=1, maximum=MAX_ENGINE_STREAMS, integer=True),
        post_thread=get_bool(data, "post_thread", path, default=base.post_thread),
        cascade=get_bool(data, "cascade", path, default=base.cascade),
        cascade_threshold=float(get_number(data, "cascade_threshold", path, minimum=0, exclusive=True, maximum=1,
                                           default=base.cascade_threshold)),
        source_options=load_source_options(data.get("source_options"), path),
        config_path=path,
    )


def check_source_spec(spec: str, where: str) -> None:
    """Raise ConfigError unless ``spec`` is ``sim[:TEXTURE]``, ``genicam[:ID]`` or ``replay:PATH``."""
    from edgeinspect.acquire.factory import parse_spec
    from edgeinspect.errors import EdgeInspectError

    try:
        parse_spec(spec)
    except EdgeInspectError as error:
        raise ConfigError(f"{where}: {error}") from None


def source_option_names() -> tuple[str, ...]:
    """Keyword options of :func:`edgeinspect.acquire.open_source` a run config may set."""
    from edgeinspect.acquire.factory import open_source

    parameters = list(inspect.signature(open_source).parameters.values())[1:]
    return tuple(p.name for p in parameters if p.kind is inspect.Parameter.KEYWORD_ONLY
                 and p.name not in ("camera", "max_frames"))


#: Widest line a source may be asked for, px (``source_options.width``): twice the widest line-scan sensors (32k);
#: a calibration's ``width_px`` has its own, looser bound (``edgeinspect.stream.area.MAX_WIDTH_PX``).
MAX_SOURCE_WIDTH_PX = 65536
#: Numeric ``source_options``: key → (minimum, exclusive, integer, maximum or None), checked before the source opens.
SOURCE_OPTION_NUMBERS: dict[str, tuple[float, bool, bool, float | None]] = {
    "width": (0, True, True, MAX_SOURCE_WIDTH_PX), "lines_per_frame": (0, True, True, None), "seed": (0, False, True, None),
    "bit_depth": (1, False, True, None), "loops": (1, False, True, None), "line_rate_hz": (0, True, False, None),
    "fetch_timeout_s": (0, True, False, None), "defects_per_mpx": (0, False, False, None),
}


def load_source_options(value: Any, path: Path) -> dict[str, Any]:
    """Check the run YAML's ``source_options`` mapping: keys must be ``open_source`` options."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{path}: key 'source_options' must be a mapping of open_source options, got {value!r}")
    known = source_option_names()
    for key, item in value.items():
        if key not in known:
            raise ConfigError(f"{path}: unknown key 'source_options.{key}' (known: {', '.join(known)})")
        if isinstance(item, float) and not math.isfinite(item):
            raise ConfigError(f"{path}: key 'source_options.{key}' must be finite, got {item!r}")
        if key in SOURCE_OPTION_NUMBERS:
            minimum, exclusive, integer, maximum = SOURCE_OPTION_NUMBERS[key]
            get_number({f"source_options.{key}": item}, f"source_options.{key}", path, minimum=minimum,
                       exclusive=exclusive, integer=integer, maximum=maximum)
        elif key == "texture":
            get_str({"source_options.texture": item}, "source_options.texture", path)
    options = dict(value)
    if isinstance(options.get("cti"), str):
        options["cti"] = get_path(options, "cti", path)
    return options
