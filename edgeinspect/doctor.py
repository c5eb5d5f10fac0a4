"""``edgeinspect doctor``: check a box before go-live, one line per check (OK / WARN / FAIL).

Checks, in order:

- ``config``: the run YAML loads (only with ``--config``);
- ``gentl``: GenTL producers (``.cti``) from the config (``source_options.cti`` or the camera YAML's
  ``cti``) or ``GENICAM_GENTL64_PATH``; genicam's bundled ``TLSimu.cti`` is named as the simulator;
- ``camera``: devices those producers list (and the configured one among them); with no vendor
  producer, the simulator's devices are listed and called what they are;
- ``calibration``: the calibration YAML loads, fits the camera width, pixel aspect ratio;
- ``gpu``: NVIDIA devices (cuda-bindings) or a Jetson (``/etc/nv_tegra_release``);
- ``engine``: the engine folder's manifest (sha256 of every file); CPU engines: their runtime is
  installed (and the version it was built with); TensorRT engines: the backend's compatibility
  rules (:func:`edgeinspect.backends.compat.check_compat`: TensorRT version, GPU compute capability,
  platform, PTX vs driver); then one inference of a blank tile (latency);
- ``output``: the output folder is writable and has room for ``--hours`` at the configured rate
  (defect records + overlays + mask PNGs; assumptions are printed);
- ``clock``: NTP synchronisation (``timedatectl show``, else systemd-timesyncd's flag file,
  else ``chronyc tracking``; unknown when none answers).

A FAIL is a blocker (exit code 1), a WARN is worth reading (exit code 0). Every check catches its
own errors and reports them in one line: the doctor never ends in a traceback.

Example:
    >>> report = run_doctor(config=Path("/etc/edgeinspect/line3.yaml"), hours=24)
    >>> [f"{c.status} {c.name}" for c in report.checks], report.exit_code
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from edgeinspect.errors import EdgeInspectError

OK, WARN, FAIL = "OK", "WARN", "FAIL"
#: Assumptions of the disk-space estimate when the config does not say.
DEFAULT_LINE_RATE_HZ = 10_000.0
DEFAULT_WIDTH_PX = 4096
DEFAULT_DEFECTS_PER_HOUR = 600.0
#: Bytes written per defect: defects.jsonl line, defects.csv row, overlay PNG (a ~100×100 px crop).
RECORD_BYTES = 600 + 250
OVERLAY_BYTES = 30_000
#: Seconds a clock/command probe may take.
PROBE_TIMEOUT_S = 5.0
#: systemd-timesyncd touches this file once the clock is synchronised.
TIMESYNC_FLAG = Path("/run/systemd/timesync/synchronized")


@dataclass(frozen=True, slots=True)
class Check:
    """One line of the doctor's report.

    Attributes:
        name: what was checked (``gentl``, ``camera``, ``engine`` ...).
        status: ``"OK"``, ``"WARN"`` or ``"FAIL"``.
        message: one line: what was found, and what to do when it is not OK.
    """

    name: str
    status: str
    message: str


@dataclass(frozen=True, slots=True)
class DoctorReport:
    """Every check of one doctor run."""

    checks: tuple[Check, ...]

    @property
    def failed(self) -> list[Check]:
        """The blockers."""
        return [c for c in self.checks if c.status == FAIL]

    @property
    def warned(self) -> list[Check]:
        """The warnings."""
        return [c for c in self.checks if c.status == WARN]

    @property
    def exit_code(self) -> int:
        """1 when any check failed, else 0."""
        return 1 if self.failed else 0

    def to_json(self) -> dict[str, Any]:
        """``{"checks": [{name, status, message}], "exit_code": int}``."""
        return {"checks": [{"name": c.name, "status": c.status, "message": c.message} for c in self.checks],
                "exit_code": self.exit_code}


@dataclass
class _Context:
    """What the checks share: the run settings and what earlier checks found."""

    config: Any
    config_given: bool
    camera_kind: str = "sim"
    camera_key: str | None = None
    camera_config: Any = None
    producers: list[Path] = field(default_factory=list)
    width_px: int | None = None
    width_source: str = ""
    engine_backend: str | None = None
    gpus: list[str] = field(default_factory=list)


def _one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return text if isinstance(error, EdgeInspectError) else f"{type(error).__name__}: {text}".rstrip(": ")


def _guard(name: str, check: Callable[[], Check | list[Check]]) -> list[Check]:
    try:
        result = check()
    except Exception as error:  # the doctor reports, it never crashes
        return [Check(name, FAIL, _one_line(error))]
    return result if isinstance(result, list) else [result]


# ----------------------------------------------------------------------------------- checks


def _check_config(ctx: _Context, path: Path) -> Check:
    from edgeinspect.acquire.factory import parse_spec

    kind, key = parse_spec(ctx.config.camera)
    ctx.camera_kind, ctx.camera_key = kind, key
    return Check("config", OK, f"{path}: camera {ctx.config.camera}, engine {ctx.config.engine or 'bundled'}, "
                               f"calib {ctx.config.calib or 'default'}, out {ctx.config.out or 'runs/<timestamp>'}")


def _load_camera_config(ctx: _Context) -> None:
    from edgeinspect.acquire import load_camera_config

    if ctx.config.camera_config is not None:
        ctx.camera_config = load_camera_config(ctx.config.camera_config)
        if ctx.camera_config.width:
            ctx.width_px, ctx.width_source = int(ctx.camera_config.width), f"camera YAML {ctx.config.camera_config}"
    width = ctx.config.source_options.get("width")
    if width:
        ctx.width_px, ctx.width_source = int(width), "source_options.width"


def _is_simulator(path: Path) -> bool:
    return path.name.lower() == "tlsimu.cti"


def _check_gentl(ctx: _Context) -> Check:
    from edgeinspect.acquire.gentl import GENTL_PATH_VAR, check_cti, tlsimu_cti

    needed = ctx.camera_kind == "genicam"
    explicit = ctx.config.source_options.get("cti") or (ctx.camera_config.cti if ctx.camera_config else None)
    if explicit is not None:
        ctx.producers = [check_cti(explicit, where=" (from the config)")]
        origin = "the config"
    else:
        found: list[Path] = []
        for folder in filter(None, os.environ.get(GENTL_PATH_VAR, "").split(os.pathsep)):
            directory = Path(folder)
            if directory.is_dir():
                found += sorted(p for p in directory.glob("*.cti") if p.is_file())
            elif directory.suffix == ".cti" and directory.is_file():
                found.append(directory)
        bad = []
        for path in found:
            try:
                ctx.producers.append(check_cti(path, where=f" (from {GENTL_PATH_VAR})"))
            except EdgeInspectError as error:
                bad.append(_one_line(error))
        if bad and not ctx.producers:
            return Check("gentl", FAIL if needed else WARN, bad[0])
        origin = GENTL_PATH_VAR
    if not ctx.producers:
        simulator = tlsimu_cti()
        sim_text = f"; only genicam's simulator is here ({simulator})" if simulator else ""
        state = "without a .cti" if os.environ.get(GENTL_PATH_VAR) else "unset"
        text = (f"no GenTL producer: {GENTL_PATH_VAR} is {state} and the config names none{sim_text}: "
                f"install the camera vendor's GenTL producer and set {GENTL_PATH_VAR}")
        return Check("gentl", FAIL if needed else WARN, text)
    names = ", ".join(f"{p}{' (TLSimu simulator)' if _is_simulator(p) else ''}" for p in ctx.producers)
    if all(_is_simulator(p) for p in ctx.producers):
        return Check("gentl", FAIL if needed else WARN, f"only the TLSimu simulator producer (from {origin}): {names}; "
                                                        f"install the camera vendor's GenTL producer")
    return Check("gentl", OK, f"{len(ctx.producers)} producer(s) from {origin}: {names}")


def _check_camera(ctx: _Context) -> Check:
    from edgeinspect.acquire.gentl import describe_devices, list_devices, select_device, tlsimu_cti

    needed = ctx.camera_kind == "genicam"
    import importlib.util

    if importlib.util.find_spec("harvesters") is None:
        return Check("camera", FAIL if needed else WARN,
                     "harvesters is not installed: pip install 'edgeinspect[genicam]' to reach GenICam cameras")
    real = [p for p in ctx.producers if not _is_simulator(p)]
    if not real:
        simulator = next((p for p in ctx.producers if _is_simulator(p)), None) or tlsimu_cti()
        lead = f"no camera: no vendor GenTL producer{'' if needed else ' (the run uses ' + ctx.config.camera + ')'}"
        if simulator is None:
            return Check("camera", FAIL if needed else WARN, f"{lead}; genicam's TLSimu simulator is not installed either")
        devices = list_devices(simulator)
        return Check("camera", FAIL if needed else WARN,
                     f"{lead}; the TLSimu simulator lists {len(devices)} simulated device(s) — the GenICam stack works, "
                     f"but this is the simulator, not a camera")
    devices = []
    for producer in real:
        devices += list_devices(producer)
    if not devices:
        return Check("camera", FAIL if needed else WARN,
                     f"no device found by {', '.join(map(str, real))}: check power, cable, IP setup (GigE: same subnet, "
                     f"jumbo frames) or USB permissions (udev rules)")
    key = ctx.camera_key or (ctx.camera_config.device if ctx.camera_config else None)

    class _Info:  # select_device reads attributes of harvesters' DeviceInfo
        def __init__(self, d: dict) -> None:
            self.__dict__.update(d)

    infos = [_Info(d) for d in devices]
    if key is not None:
        index = select_device(infos, key, producers=", ".join(map(str, real)))
        d = devices[index]
        return Check("camera", OK, f"'{key}' found: {d['model']} {d['serial_number']} ({d['vendor']}); "
                                   f"{len(devices)} device(s) in all")
    return Check("camera", OK if needed or not ctx.config_given else WARN,
                 f"{len(devices)} device(s): {describe_devices(infos)}"
                 + ("" if needed else f"; the run uses {ctx.config.camera}"))


def _check_calibration(ctx: _Context) -> Check:
    from edgeinspect.calibration.encoder import ASPECT_RANGE
    from edgeinspect.stream.area import check_columns, load_calibration
    from edgeinspect.stream.runner import default_calibration_path

    default = default_calibration_path()
    path = Path(ctx.config.calib) if ctx.config.calib is not None else default
    calibration = load_calibration(path)
    width = ctx.width_px or calibration.width_px
    if ctx.width_px is not None:
        check_columns(calibration, ctx.width_px)
    mm_per_px = float(np.mean(calibration.column_mm(width))) if width else calibration.mm_per_px_poly[0]
    aspect = calibration.mm_per_line / mm_per_px
    text = f"{path}: {mm_per_px:.5g} mm/px, {calibration.mm_per_line:.5g} mm/line (aspect {aspect:.3f})"
    if width:
        text += f", {width} px wide"
    if ctx.camera_kind == "genicam" and path.resolve() == default.resolve():
        return Check("calibration", WARN, f"{text}: this is the synthetic web's calibration; measure the camera with "
                                          f"`edgeinspect calib camera` and set 'calib:' in the config")
    if not ASPECT_RANGE[0] <= aspect <= ASPECT_RANGE[1]:
        return Check("calibration", WARN, f"{text}: pixels are far from square; check the encoder divider / line rate "
                                          f"(`edgeinspect calib check {path}`)")
    return Check("calibration", OK, text)


def _check_gpu(ctx: _Context) -> Check:
    from edgeinspect.sysinfo import _cuda_devices

    tegra = Path("/etc/nv_tegra_release")
    devices = _cuda_devices()
    if isinstance(devices, list) and devices:
        ctx.gpus = [f"{d['name']} (sm {d['compute_capability']})" for d in devices]
        return Check("gpu", OK, ", ".join(ctx.gpus) + (" on a Jetson" if tegra.exists() else ""))
    reason = devices if isinstance(devices, str) else "no CUDA device"
    if tegra.exists():
        reason += f"; {tegra} says this is a Jetson: install JetPack's CUDA and cuda-bindings"
    uses_gpu = ctx.engine_backend == "tensorrt"
    return Check("gpu", FAIL if uses_gpu else OK,
                 f"no NVIDIA GPU ({reason})" + ("; the engine needs TensorRT on a GPU" if uses_gpu
                                                else ": CPU engines (openvino, onnxruntime) need none"))


def _engine_path(ctx: _Context, engine: Path | None) -> Path:
    from edgeinspect.stream.runner import bundled_engine_dir

    if engine is not None:
        return Path(engine)
    if ctx.config.engine is not None:
        return Path(ctx.config.engine)
    return bundled_engine_dir()


def _check_engine(ctx: _Context, engine: Path | None, infer: bool) -> Check:
    import importlib.metadata as md

    from edgeinspect import backends

    path = _engine_path(ctx, engine)
    loaded = backends.load(path, threads=ctx.config.engine_threads)
    manifest = loaded.manifest
    status, notes = OK, []
    if manifest is None:
        if path.suffix.lower() == ".onnx":  # read and checked without a session, --no-infer included
            from edgeinspect.backends.base import check_onnx_metadata
            from edgeinspect.export.metadata import read_metadata

            meta = read_metadata(path)
            check_onnx_metadata(path, meta)
        status = WARN
        notes.append("no manifest (raw model file: comparisons only); build an engine folder with `edgeinspect build`")
        ctx.engine_backend = loaded.backend
    elif manifest.backend == "tensorrt":
        # the TensorRT backend's own rules: TensorRT version, GPU compute capability, platform, PTX vs driver
        from edgeinspect.backends.compat import OPTIONS_KEY, EngineTarget, check_compat, rebuild_command, this_machine

        ctx.engine_backend = "tensorrt"
        target = EngineTarget.from_json(manifest.options.get(OPTIONS_KEY), source=path / "manifest.json")
        warnings = check_compat(target, this_machine(), engine_dir=path, rebuild=rebuild_command(manifest, path))
        if warnings:
            status = WARN
            notes += warnings
        notes.append(f"built on {target.gpu_name} (sm {target.compute_capability}) with TensorRT {target.tensorrt_version}")
    else:
        ctx.engine_backend = manifest.backend
        built = manifest.versions.get(manifest.backend)
        try:
            installed = md.version(manifest.backend)
        except md.PackageNotFoundError:
            return Check("engine", FAIL, f"{path}: backend {manifest.backend} is not installed here "
                                         f"(built with {manifest.backend} {built}); install it or build for this box")
        if built and built != installed:
            status = WARN
            notes.append(f"built with {manifest.backend} {built}, running {installed}: rebuild to be sure")
    text = f"{path}: {loaded.backend}"
    if manifest is not None:
        text += f"/{manifest.precision} {manifest.network.get('arch')} tile {manifest.tile_hw[0]}×{manifest.tile_hw[1]}"
    if infer:
        with loaded:
            height, width = loaded.tile_hw
            blank = np.zeros((1, 1, height, width), np.uint8)
            loaded.infer(blank)
            start = time.perf_counter()
            out = loaded.infer(blank)
            ms = 1000 * (time.perf_counter() - start)
        prob = out.get("prob")
        if prob is None or prob.shape != (1, 1, height, width) or not np.isfinite(prob).all():
            return Check("engine", FAIL, f"{text}: a blank tile gave no finite (1,1,{height},{width}) 'prob'; rebuild")
        text += f", one tile in {ms:.1f} ms"
    return Check("engine", status, "; ".join([text, *notes]))


def _nearest_existing(path: Path) -> Path:
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _mask_png_bytes(width: int, lines: int) -> int:
    """PNG size of a mostly-empty 0/255 mask of ``lines × width`` (a few blobs), bytes."""
    import cv2

    sample_lines = min(lines, 2048)
    mask = np.zeros((sample_lines, width), np.uint8)
    rng = np.random.default_rng(0)
    for _ in range(3):
        cv2.circle(mask, (int(rng.integers(0, width)), int(rng.integers(0, sample_lines))), 12, 255, -1)
    ok, data = cv2.imencode(".png", mask, [cv2.IMWRITE_PNG_COMPRESSION, 3])
    return int(len(data) * lines / sample_lines) if ok else lines * width // 50


def _check_output(ctx: _Context, out: Path | None, hours: float, line_rate_hz: float | None,
                  defects_per_hour: float) -> Check:
    config = ctx.config
    folder = Path(out) if out is not None else (Path(config.out) if config.out is not None else Path("runs"))
    existing = _nearest_existing(folder)
    if not existing.is_dir():
        return Check("output", FAIL, f"{folder}: {existing} is not a folder; choose another output folder")
    try:
        with tempfile.NamedTemporaryFile(dir=existing, prefix=".edgeinspect-doctor-"):
            pass
    except OSError as error:
        return Check("output", FAIL, f"{folder}: cannot write in {existing} ({error.strerror or error}); "
                                     f"fix permissions for the service user or choose another output folder")
    assumed = []
    rate = line_rate_hz or config.source_options.get("line_rate_hz") or (
        ctx.camera_config.line_rate_hz if ctx.camera_config is not None else None)
    if not rate:
        rate = DEFAULT_LINE_RATE_HZ
        assumed.append(f"{rate:,.0f} lines/s")
    width = ctx.width_px
    if not width:
        width = DEFAULT_WIDTH_PX
        assumed.append(f"{width} px wide")
    if defects_per_hour == DEFAULT_DEFECTS_PER_HOUR:
        assumed.append(f"{defects_per_hour:g} defects/h")
    per_defect = RECORD_BYTES + (OVERLAY_BYTES if config.overlays else 0)
    per_hour = defects_per_hour * per_defect
    if config.mask_png_every_lines:
        files_per_hour = rate * 3600 / config.mask_png_every_lines
        writers = 2 if ctx.camera_kind in ("sim", "replay") else 1  # pred (+ truth where the source knows it)
        per_hour += files_per_hour * writers * (_mask_png_bytes(int(width), config.mask_png_every_lines) + 200)
    need = per_hour * hours
    free = shutil.disk_usage(existing).free
    hours_free = free / per_hour if per_hour > 0 else float("inf")
    text = (f"{folder}: writable; {free / 1e9:.1f} GB free, about {per_hour / 1e6:.1f} MB/h "
            f"(records{' + overlays' if config.overlays else ''}"
            f"{f' + mask PNGs every {config.mask_png_every_lines} lines' if config.mask_png_every_lines else ''}) "
            f"→ {hours_free:,.0f} h")
    if assumed:
        text += f" (assumed {', '.join(assumed)})"
    if free < need:
        return Check("output", FAIL, f"{text}: less than the {hours:g} h asked for; free space or set a retention")
    return Check("output", OK, text)


def _run(command: list[str]) -> subprocess.CompletedProcess | None:
    if shutil.which(command[0]) is None:
        return None
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=PROBE_TIMEOUT_S)
    except (OSError, subprocess.SubprocessError):
        return None


def _check_clock() -> Check:
    result = _run(["timedatectl", "show"])
    if result is not None and result.returncode == 0:
        values = dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)
        if values.get("NTPSynchronized") == "yes":
            return Check("clock", OK, f"NTP synchronised (timedatectl; timezone {values.get('Timezone', '?')})")
        if values.get("NTP") == "yes":
            return Check("clock", WARN, "NTP enabled but not synchronised yet (timedatectl): check the NTP server "
                                        "is reachable; defect timestamps depend on it")
        return Check("clock", WARN, "NTP is off (timedatectl): `timedatectl set-ntp true` so defect timestamps match "
                                    "the line's other systems")
    if TIMESYNC_FLAG.exists():
        return Check("clock", OK, "NTP synchronised (systemd-timesyncd)")
    chrony = _run(["chronyc", "tracking"])
    if chrony is not None and chrony.returncode == 0:
        leap = next((line.split(":", 1)[1].strip() for line in chrony.stdout.splitlines()
                     if line.lower().startswith("leap status")), "")
        if leap.lower() == "normal":
            return Check("clock", OK, "NTP synchronised (chrony)")
        return Check("clock", WARN, f"chrony is not synchronised (leap status {leap or 'unknown'})")
    return Check("clock", WARN, "NTP state unknown: no answer from timedatectl, systemd-timesyncd or chrony "
                                "(a container without systemd?); make sure the host clock is synchronised")


# ----------------------------------------------------------------------------------- entry point


def run_doctor(*, config: Path | None = None, engine: Path | None = None, out: Path | None = None,
               hours: float = 24.0, line_rate_hz: float | None = None,
               defects_per_hour: float = DEFAULT_DEFECTS_PER_HOUR, infer: bool = True) -> DoctorReport:
    """Run every check (see the module docstring) and return the report; never raises for a finding.

    Args:
        config: run YAML (camera, camera_config, calib, engine, out ...); None = the run defaults.
        engine: engine folder to check instead of the config's.
        out: output folder to check instead of the config's.
        hours: the output folder must hold this many hours of output.
        line_rate_hz: line rate for the disk estimate instead of the config's.
        defects_per_hour: defects per hour for the disk estimate.
        infer: run one blank tile through the engine.
    """
    from edgeinspect.config import RunConfig, load_run_config

    if not hours > 0:
        raise EdgeInspectError(f"--hours must be > 0, got {hours}")
    checks: list[Check] = []
    ctx = _Context(RunConfig(), config is not None)
    if config is not None:
        def load() -> Check:
            ctx.config = load_run_config(config)
            return _check_config(ctx, Path(config))
        checks += _guard("config", load)
    checks += _guard("camera-config", lambda: _load_camera_config(ctx) or [])
    checks += _guard("gentl", lambda: _check_gentl(ctx))
    checks += _guard("camera", lambda: _check_camera(ctx))
    checks += _guard("calibration", lambda: _check_calibration(ctx))
    try:  # the gpu line depends on whether the engine needs one
        from edgeinspect.backends.manifest import read_manifest

        ctx.engine_backend = read_manifest(_engine_path(ctx, engine), verify=False).backend
    except Exception:  # reported by the engine check
        pass
    checks += _guard("gpu", lambda: _check_gpu(ctx))
    checks += _guard("engine", lambda: _check_engine(ctx, engine, infer))
    checks += _guard("output", lambda: _check_output(ctx, out, hours, line_rate_hz, defects_per_hour))
    checks += _guard("clock", _check_clock)
    return DoctorReport(tuple(checks))
