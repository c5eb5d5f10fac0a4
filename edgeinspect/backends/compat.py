"""Can this TensorRT engine run here? Pure rules over the build record and this machine's facts.

A TensorRT plan runs only where it was built, unless built for compatibility: the same TensorRT
version (a version-compatible plan: this version or a newer one, at most one major up), the same GPU
compute capability (or any Ampere+ GPU for ``ampere_plus`` hardware compatibility), the same OS and
CPU architecture. Plans with AOT plugins carry PTX: the driver must load its PTX ISA, and the PTX
target (``sm_XX``) must not be newer than the GPU. The standard runtime has no compatibility
preflight, so ``edgeinspect build`` records :class:`EngineTarget` in the manifest
(``options["tensorrt"]``) and :func:`check_compat` compares it with :class:`MachineFacts` before
deserializing; it names every mismatch and the command that rebuilds the engine on this device.

Everything but :func:`this_machine` is pure (tests feed hand-made records and facts).

Example:
    >>> target = EngineTarget.from_json(manifest.options["tensorrt"], source=folder / "manifest.json")
    >>> warnings = check_compat(target, this_machine(), engine_dir=folder, rebuild=rebuild_command(manifest, folder))
"""

from __future__ import annotations

import dataclasses
import platform as _platform
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeinspect.errors import EdgeInspectError

PLUGIN_MODES = ("aot-qdp", "standard-ops")
#: ``trt.HardwareCompatibilityLevel`` member names, lower case.
HARDWARE_LEVELS = ("none", "ampere_plus", "same_compute_capability")
#: Key of the build record in ``Manifest.options``.
OPTIONS_KEY = "tensorrt"


@dataclass(frozen=True, slots=True)
class EngineTarget:
    """What a TensorRT plan was built with and for (``manifest.options["tensorrt"]``).

    Attributes:
        tensorrt_version: ``trt.__version__`` of the builder, e.g. ``"10.3.0.30"``.
        gpu_name: builder GPU, e.g. ``"Orin"``.
        compute_capability: ``"8.7"``.
        driver_version: ``cudaDriverGetVersion()`` of the builder, e.g. 12060 (CUDA 12.6).
        platform: ``"linux-aarch64"`` (:func:`platform_tag`).
        plugin_mode: ``"aot-qdp"`` (plugins in the plan as PTX) or ``"standard-ops"``.
        plugin_reason: why that mode (e.g. ``"TensorRT 10.3 < 10.9 has no AOT plugins"``).
        ptx_archs: PTX targets of the plugins, ``("sm_87",)``; empty for standard ops.
        ptx_isa: PTX ISA version (``".version"``) of the plugins, e.g. ``"8.5"``; None for standard ops.
        nvrtc_version: NVRTC that compiled the PTX, e.g. ``"12.6"``; None for standard ops.
        hardware_compat: one of :data:`HARDWARE_LEVELS`.
        version_compatible: built with ``BuilderFlag.VERSION_COMPATIBLE`` (needs ``engine_host_code_allowed``).
        strongly_typed: the network was strongly typed (always on TensorRT 11).
        builder_flags: ``BuilderFlag`` names set, e.g. ``("FP16",)``.
        dla_core: DLA core the plan targets, None for GPU only.
        profile: ``{"min": [N,1,H,W], "opt": [...], "max": [...]}`` of the input.
    """

    tensorrt_version: str
    gpu_name: str
    compute_capability: str
    driver_version: int
    platform: str
    plugin_mode: str
    plugin_reason: str = ""
    ptx_archs: tuple[str, ...] = ()
    ptx_isa: str | None = None
    nvrtc_version: str | None = None
    hardware_compat: str = "none"
    version_compatible: bool = False
    strongly_typed: bool = False
    builder_flags: tuple[str, ...] = ()
    dla_core: int | None = None
    profile: dict[str, list[int]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict (tuples become lists)."""
        data = dataclasses.asdict(self)
        data["ptx_archs"] = list(self.ptx_archs)
        data["builder_flags"] = list(self.builder_flags)
        return data

    @classmethod
    def from_json(cls, data: Any, *, source: Path | str) -> EngineTarget:
        """Rebuild from the manifest record; a missing key or bad value names ``source``.

        Raises:
            EdgeInspectError: the record is missing or malformed (says to rebuild).
        """
        hint = "rebuild it with `edgeinspect build ... --backend tensorrt`"
        if not isinstance(data, dict):
            raise EdgeInspectError(f"{source}: no TensorRT build record (options.{OPTIONS_KEY}); {hint}")
        known = {f.name: f for f in dataclasses.fields(cls)}
        for name, spec in known.items():
            required = spec.default is dataclasses.MISSING and spec.default_factory is dataclasses.MISSING
            if required and name not in data:
                raise EdgeInspectError(f"{source}: options.{OPTIONS_KEY} lacks '{name}'; {hint}")
        values = {name: data[name] for name in known if name in data}
        try:
            values["ptx_archs"] = tuple(str(a) for a in values.get("ptx_archs", ()))
            values["builder_flags"] = tuple(str(f) for f in values.get("builder_flags", ()))
            values["driver_version"] = int(values["driver_version"])
            if values.get("dla_core") is not None:
                values["dla_core"] = int(values["dla_core"])
            parse_version(values["tensorrt_version"])
            parse_capability(values["compute_capability"])
        except (TypeError, ValueError) as error:
            raise EdgeInspectError(f"{source}: bad options.{OPTIONS_KEY} value ({error}); {hint}") from None
        if values["plugin_mode"] not in PLUGIN_MODES:
            raise EdgeInspectError(f"{source}: unknown plugin_mode {values['plugin_mode']!r}; {hint}")
        if values.get("hardware_compat", "none") not in HARDWARE_LEVELS:
            raise EdgeInspectError(f"{source}: unknown hardware_compat {values['hardware_compat']!r}; {hint}")
        return cls(**values)


@dataclass(frozen=True, slots=True)
class MachineFacts:
    """What this machine offers a TensorRT plan.

    Attributes:
        tensorrt_version: ``trt.__version__`` here, None when TensorRT is not installed.
        gpu_name: current CUDA device name, None without a usable GPU.
        compute_capability: ``"8.7"``, None without a usable GPU.
        driver_version: ``cudaDriverGetVersion()``, None without a driver.
        platform: :func:`platform_tag`.
        dla_cores: DLA cores TensorRT reports, None when unknown.
        gpu_problem: why there is no usable GPU (a CUDA error message), None when there is one.
    """

    tensorrt_version: str | None
    gpu_name: str | None
    compute_capability: str | None
    driver_version: int | None
    platform: str
    dla_cores: int | None = None
    gpu_problem: str | None = None


# ------------------------------------------------------------------------------ parsing helpers
def parse_version(text: str) -> tuple[int, ...]:
    """``"10.3.0.30"`` -> ``(10, 3, 0, 30)``; raises ValueError on anything else."""
    if not isinstance(text, str) or not re.fullmatch(r"\d+(\.\d+){1,3}", text.strip()):
        raise ValueError(f"TensorRT version {text!r} is not like 10.3.0.30")
    return tuple(int(p) for p in text.strip().split("."))


def parse_capability(text: str) -> tuple[int, int]:
    """``"8.7"`` -> ``(8, 7)``; raises ValueError on anything else."""
    match = re.fullmatch(r"(\d+)\.(\d+)", str(text).strip())
    if match is None:
        raise ValueError(f"compute capability {text!r} is not like 8.7")
    return int(match.group(1)), int(match.group(2))


def sm(capability: str) -> str:
    """``"8.7"`` -> ``"sm_87"``."""
    major, minor = parse_capability(capability)
    return f"sm_{major}{minor}"


def _arch_number(arch: str) -> int:
    match = re.fullmatch(r"(?:sm_|compute_)?(\d{2,3})", arch.strip())
    if match is None:
        raise ValueError(f"PTX arch {arch!r} is not like sm_87")
    return int(match.group(1))


def _cuda(version: int) -> str:
    return f"{version // 1000}.{version % 1000 // 10}"


def platform_tag() -> str:
    """OS and CPU architecture of this machine, e.g. ``"linux-x86_64"``, ``"linux-aarch64"``."""
    machine = _platform.machine().lower() or "unknown"
    return f"{sys.platform}-{'aarch64' if machine == 'arm64' else machine}"


# ------------------------------------------------------------------------------ the rules
def compat_problems(target: EngineTarget, here: MachineFacts) -> tuple[list[str], list[str]]:
    """Compare a build record with this machine.

    Returns:
        ``(problems, warnings)``: each a list of short phrases. Any problem means the plan will not
        deserialize or run here; warnings mean it runs but was not tuned for this device.
    """
    problems: list[str] = []
    warnings: list[str] = []
    built_trt = target.tensorrt_version
    if here.tensorrt_version is None:
        problems.append(f"TensorRT is not installed here (the engine needs TensorRT {built_trt})")
    else:
        built, run = parse_version(built_trt), parse_version(here.tensorrt_version)
        if target.version_compatible:
            if run[:3] < built[:3]:
                problems.append(f"built with TensorRT {built_trt} (version-compatible), this machine has the older "
                                f"{here.tensorrt_version}; version-compatible plans only run on the same or newer TensorRT")
            elif run[0] - built[0] > 1:
                problems.append(f"built with TensorRT {built_trt} (version-compatible), TensorRT {here.tensorrt_version} "
                                "is more than one major version newer")
        elif run[:3] != built[:3]:
            problems.append(f"built with TensorRT {built_trt}, this machine has TensorRT {here.tensorrt_version}")
        elif run != built:
            warnings.append(f"built with TensorRT {built_trt}, this machine has build {here.tensorrt_version}")
    if target.platform != here.platform:
        problems.append(f"built on {target.platform}, this machine is {here.platform}")
    if here.compute_capability is None:
        problems.append(f"no usable CUDA GPU here ({here.gpu_problem or 'no device'})")
    else:
        built_cc, run_cc = parse_capability(target.compute_capability), parse_capability(here.compute_capability)
        built_gpu = f"{target.gpu_name} ({sm(target.compute_capability)})"
        run_gpu = f"{here.gpu_name} ({sm(here.compute_capability)})"
        if target.hardware_compat == "ampere_plus":
            if run_cc < (8, 0):
                problems.append(f"built hardware-compatible for Ampere and newer (sm_80+), this GPU is {run_gpu}")
        elif run_cc != built_cc:
            problems.append(f"built for {built_gpu}, this GPU is {run_gpu}")
        elif target.gpu_name != here.gpu_name and target.hardware_compat == "none":
            warnings.append(f"built on {built_gpu}, running on {run_gpu}: kernels were timed on the other GPU")
        if target.plugin_mode == "aot-qdp":
            for arch in target.ptx_archs:
                if _arch_number(arch) > 10 * run_cc[0] + run_cc[1]:
                    problems.append(f"its plugin PTX targets {arch}, newer than this GPU ({sm(here.compute_capability)})")
    if target.plugin_mode == "aot-qdp" and target.ptx_isa and here.driver_version:
        from edgeinspect.ops.ptx import required_cuda_version

        needed = required_cuda_version(target.ptx_isa)
        if here.driver_version < needed:
            problems.append(f"its plugin PTX (ISA {target.ptx_isa}) needs a driver for CUDA >= {_cuda(needed)}, "
                            f"this driver supports CUDA {_cuda(here.driver_version)}")
    if target.dla_core is not None and here.dla_cores is not None and target.dla_core >= here.dla_cores:
        problems.append(f"built for DLA core {target.dla_core}, this device has {here.dla_cores} DLA core(s)")
    return problems, warnings


def rebuild_command(manifest, engine_dir: Path | str) -> str:
    """The ``edgeinspect build`` command that rebuilds ``engine_dir`` on this device, from its manifest."""
    options = getattr(manifest, "options", None) or {}
    record = options.get(OPTIONS_KEY) or {}
    source = options.get("source") or "<checkpoint.pt|model.onnx>"
    parts = ["edgeinspect build", str(source), "--backend tensorrt", f"--precision {manifest.precision}"]
    if options.get("plugins") in ("on", "off"):
        parts.append(f"--plugins {options['plugins']}")
    if options.get("max_batch"):
        parts.append(f"--max-batch {options['max_batch']}")
    if record.get("dla_core") is not None:
        parts.append(f"--dla-core {record['dla_core']}")
    parts += [f"--out {engine_dir}", "--force"]
    return " ".join(parts)


def check_compat(target: EngineTarget, here: MachineFacts, *, engine_dir: Path | str, rebuild: str) -> list[str]:
    """Raise unless the plan can run here; return the warnings.

    Raises:
        EdgeInspectError: one line: the folder, every mismatch (TensorRT version, GPU, platform, PTX
            ISA vs driver, DLA) and the rebuild command.
    """
    problems, warnings = compat_problems(target, here)
    if problems:
        raise EdgeInspectError(
            f"{engine_dir}: this TensorRT engine cannot run here: {'; '.join(problems)}. "
            f"Rebuild it on this device: {rebuild}"
        )
    return warnings


# ------------------------------------------------------------------------------ this machine
def this_machine() -> MachineFacts:
    """Probe TensorRT, the CUDA driver and the current GPU (never raises: what is missing stays None)."""
    from edgeinspect.backends import cuda_mem

    try:
        import tensorrt as trt

        trt_version: str | None = str(trt.__version__)
    except ImportError:
        trt_version = None
    try:
        info = cuda_mem.device_info()
    except EdgeInspectError as error:
        driver: int | None = None
        try:
            driver = cuda_mem.driver_version()
        except EdgeInspectError:
            pass
        return MachineFacts(trt_version, None, None, driver, platform_tag(), gpu_problem=str(error))
    major, minor = info.compute_capability
    return MachineFacts(trt_version, info.name, f"{major}.{minor}", info.driver_version, platform_tag())
