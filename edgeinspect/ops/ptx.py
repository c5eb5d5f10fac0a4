"""PTX for the custom ops' CUDA kernels: NVRTC compile, PTX ISA vs driver check, build-time use.

NVRTC (``cuda-bindings`` + ``nvidia-cuda-nvrtc``, extra ``tensorrt``) runs without a GPU, so the
kernels compile here and in CI. ``cuda_fp16.h`` comes from the ``nvidia-cuda-runtime`` wheel
(``nvidia/cu13/include``; ``nvidia/cuda_runtime/include`` for the CUDA 12 wheels) or from
``$CUDA_HOME``/``$CUDA_PATH``/``/usr/local/cuda`` ``include``.

PTX ISA and driver rule: NVRTC stamps its own PTX ISA version (``.version``) into the PTX and there
is no option to lower it: NVRTC 13.5 writes ISA 9.5, NVRTC 12.6 writes ISA 8.5. A CUDA driver
JIT-loads PTX only up to the ISA of its own CUDA version (ISA 9.5 needs a driver for CUDA >= 13.5;
8.5 needs >= 12.5; table in ``cuda.bindings.utils``). TensorRT AOT plugins carry PTX, so both the
machine that builds the engine and the one that runs it need such a driver. Decision: the NVRTC used
at build time must be no newer than the target's driver, i.e. pin the NVRTC wheel to the device's
CUDA version (``cudaDriverGetVersion()``), e.g. on a CUDA 12.6 driver
``pip install "nvidia-cuda-nvrtc-cu12==12.6.*" "nvidia-cuda-runtime-cu12==12.6.*" "cuda-bindings==12.6.*"``
(PTX ISA 8.5), on a CUDA 13.0 driver ``nvidia-cuda-nvrtc==13.0.*``. :func:`build_time_ptx` (called
by the plugins' ``aot_impl``) and :func:`preflight` refuse a mismatch with a message naming both
versions; :func:`check_driver_for_ptx` is the pure rule. JetPack 6 (CUDA 12.2/12.6 driver,
TensorRT 10.3) has no ``tensorrt.plugin`` at all, so engines there are built from the standard-op
ONNX form; the PTX written by ``edgeinspect plugins compile`` with a 12.x NVRTC remains usable for
a C++ plugin.

Example:
    >>> from edgeinspect.ops import ptx
    >>> meta = ptx.compile_kernels(Path("engines/ptx"), ["sm_87"])   # DIR/<op>.<dtype>.sm_87.ptx + ptx.json
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import importlib.util
import json
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from edgeinspect.errors import EdgeInspectError
from edgeinspect.outputs import make_folder

OPS = ("strip_projection", "pixel_confidence")
DTYPES = ("fp32", "fp16")
DEFAULT_ARCHS = ("sm_75", "sm_80", "sm_86", "sm_87", "sm_89", "sm_90")
ARCH_ENV = "EDGEINSPECT_PLUGIN_ARCH"
# Options of every compile: PTX only (compute_XX), C++17, no mul+add contraction (the kernels write
# every FMA explicitly, so the host form of the same source reproduces the device's FP32 results).
BASE_OPTIONS = ("--std=c++17", "--fmad=false")
_INSTALL_HINT = "pip install 'edgeinspect[tensorrt]' (cuda-bindings, nvidia-cuda-nvrtc, nvidia-cuda-runtime)"
# PTX ISA -> minimal CUDA version, for cuda-bindings without cuda.bindings.utils (12.x before 12.9).
_PTX_TO_CUDA = {"8.0": (12, 0), "8.1": (12, 1), "8.2": (12, 2), "8.3": (12, 3), "8.4": (12, 4), "8.5": (12, 5),
                "8.6": (12, 7), "8.7": (12, 8), "8.8": (12, 9)}


@dataclass(frozen=True, slots=True)
class KernelVariant:
    """One compilable kernel: op, I/O dtype, PTX entry name, source file, -D defines."""

    op: str
    dtype: str
    entry: str
    source: Path
    defines: tuple[tuple[str, str], ...] = ()


# ------------------------------------------------------------------------------------- NVRTC
def _nvrtc():
    try:
        from cuda.bindings import nvrtc
    except ImportError as error:
        raise EdgeInspectError(f"NVRTC is not available ({error}): {_INSTALL_HINT}") from None
    return nvrtc


def _check(result: tuple, call: str):
    """Unpack a cuda-bindings NVRTC result tuple; raise on a non-success code."""
    nvrtc = _nvrtc()
    err, *values = result
    if err != nvrtc.nvrtcResult.NVRTC_SUCCESS:
        raise EdgeInspectError(f"NVRTC {call} failed: {err.name}: {_INSTALL_HINT} or check the NVRTC install")
    return values[0] if len(values) == 1 else tuple(values)


@functools.cache
def nvrtc_version() -> tuple[int, int]:
    """``(major, minor)`` of the NVRTC library cuda-bindings loads, e.g. ``(13, 5)``."""
    nvrtc = _nvrtc()
    try:
        return _check(nvrtc.nvrtcVersion(), "nvrtcVersion")
    except RuntimeError as error:  # libnvrtc.so not found by cuda-pathfinder
        raise EdgeInspectError(f"NVRTC library not found ({error}): {_INSTALL_HINT}") from None


@functools.cache
def supported_archs() -> tuple[int, ...]:
    """Compute capabilities this NVRTC can target, e.g. ``(75, 80, 86, 87, ...)``."""
    return tuple(int(a) for a in _check(_nvrtc().nvrtcGetSupportedArchs(), "nvrtcGetSupportedArchs"))


def parse_arch(arch: str | int) -> int:
    """``"sm_87"``, ``"compute_87"``, ``"87"`` or ``87`` -> ``87``; anything else raises."""
    match = re.fullmatch(r"(?:sm_|compute_)?(\d{2,3})", str(arch).strip())
    if match is None:
        raise EdgeInspectError(f"--arch {arch!r}: expected sm_XX (e.g. sm_87 for Jetson Orin)")
    return int(match.group(1))


def check_arch(arch: int) -> None:
    """Raise unless this NVRTC can target ``sm_<arch>``."""
    archs = supported_archs()
    if arch not in archs:
        major, minor = nvrtc_version()
        hint = ""
        if arch < min(archs):
            hint = f" (sm_{arch}{', Jetson Xavier,' if arch == 72 else ''} needs an NVRTC <= 12.x)"
        raise EdgeInspectError(
            f"sm_{arch} is not supported by NVRTC {major}.{minor}: it targets "
            f"{', '.join(f'sm_{a}' for a in archs)}{hint}"
        )


def cuda_include_dirs() -> list[Path]:
    """Directories holding ``cuda_fp16.h``: $CUDA_HOME, $CUDA_PATH, the pip CUDA runtime wheel, /usr/local/cuda.

    The wheel directory matching the NVRTC major version comes first (``cu13`` for 13, ``cuda_runtime``
    for the 12.x wheels).
    """
    candidates = [Path(os.environ[k]) / "include" for k in ("CUDA_HOME", "CUDA_PATH") if os.environ.get(k)]
    spec = importlib.util.find_spec("nvidia")
    if spec is not None and spec.submodule_search_locations:
        try:
            major = nvrtc_version()[0]
        except EdgeInspectError:
            major = 13
        wheel_dirs = ["cu13/include", "cuda_runtime/include", "cu12/include"]
        wheel_dirs.sort(key=lambda d: 0 if (major >= 13) == d.startswith("cu13") else 1)
        for location in spec.submodule_search_locations:
            candidates += [Path(location) / d for d in wheel_dirs]
    candidates.append(Path("/usr/local/cuda/include"))
    found: list[Path] = []
    for directory in candidates:
        if (directory / "cuda_fp16.h").is_file() and directory not in found:
            found.append(directory)
    return found


def _log(nvrtc, prog) -> str:
    size = _check(nvrtc.nvrtcGetProgramLogSize(prog), "nvrtcGetProgramLogSize")
    # A writable buffer: NVRTC writes into it. (`b" " * size` would hand NVRTC an immutable bytes
    # object, for size 1 the interpreter's shared b" ", and corrupt every b" " in the process.)
    buf = bytearray(size)
    _check(nvrtc.nvrtcGetProgramLog(prog, buf), "nvrtcGetProgramLog")
    return bytes(buf).rstrip(b"\0").decode(errors="replace").strip()


@functools.lru_cache(maxsize=64)
def _compile(source: str, name: str, arch: int, defines: tuple[tuple[str, str], ...],
             include_dirs: tuple[str, ...]) -> bytes:
    nvrtc = _nvrtc()
    check_arch(arch)
    options = [f"--gpu-architecture=compute_{arch}", *BASE_OPTIONS]
    options += [f"--include-path={d}" for d in include_dirs]
    options += [f"-D{key}={value}" for key, value in defines]
    prog = _check(nvrtc.nvrtcCreateProgram(source.encode(), name.encode(), 0, [], []), "nvrtcCreateProgram")
    try:
        encoded = [o.encode() for o in options]
        (err,) = nvrtc.nvrtcCompileProgram(prog, len(encoded), encoded)
        log = _log(nvrtc, prog)
        major, minor = nvrtc_version()
        if err != nvrtc.nvrtcResult.NVRTC_SUCCESS or log:
            kind = "failed" if err != nvrtc.nvrtcResult.NVRTC_SUCCESS else "warned"
            flat = " | ".join(line.strip() for line in log.splitlines() if line.strip()) or err.name
            hint = "" if include_dirs else f"; no cuda_fp16.h found: {_INSTALL_HINT} or set CUDA_HOME"
            raise EdgeInspectError(f"NVRTC {major}.{minor} {kind} on {name} for sm_{arch}: {flat}{hint}")
        size = _check(nvrtc.nvrtcGetPTXSize(prog), "nvrtcGetPTXSize")
        buf = bytearray(size)  # writable, see _log
        _check(nvrtc.nvrtcGetPTX(prog, buf), "nvrtcGetPTX")
    finally:
        nvrtc.nvrtcDestroyProgram(prog)
    return bytes(buf).rstrip(b"\0")  # the form Triton hands TensorRT (no trailing NUL)


def compile_ptx(source: str, *, arch: int | str, defines: Mapping[str, str] | None = None,
                name: str = "kernel.cu", include_dirs: Sequence[Path] | None = None) -> bytes:
    """Compile CUDA C++ ``source`` to PTX for ``compute_<arch>`` with NVRTC.

    Args:
        source: CUDA C++ text; kernels are ``extern "C"`` so their PTX ``.entry`` names are plain.
        arch: target, ``87`` or ``"sm_87"``; PTX ``.target sm_87``.
        defines: ``-D`` macros (name -> value text).
        name: file name NVRTC reports in messages.
        include_dirs: default the first of :func:`cuda_include_dirs` (headers of one CUDA version only).

    Returns:
        PTX text as bytes, without the trailing NUL NVRTC counts in its size.

    Raises:
        EdgeInspectError: NVRTC missing, arch unsupported, or any NVRTC error *or warning* (its log,
            one line).
    """
    dirs = cuda_include_dirs()[:1] if include_dirs is None else list(include_dirs)
    return _compile(source, name, parse_arch(arch), tuple(sorted((defines or {}).items())),
                    tuple(str(d) for d in dirs))


# ------------------------------------------------------------------------ PTX ISA vs driver
def ptx_isa_version(ptx: bytes | str) -> str:
    """The PTX ``.version`` directive, e.g. ``"9.5"``."""
    text = ptx.decode(errors="replace") if isinstance(ptx, bytes) else ptx
    match = re.search(r"^\s*\.version\s+(\d+\.\d+)", text, re.MULTILINE)
    if match is None:
        raise EdgeInspectError("PTX has no .version directive: not NVRTC output?")
    return match.group(1)


def ptx_target(ptx: bytes | str) -> str:
    """The PTX ``.target``, e.g. ``"sm_87"``."""
    text = ptx.decode(errors="replace") if isinstance(ptx, bytes) else ptx
    match = re.search(r"^\s*\.target\s+(\w+)", text, re.MULTILINE)
    if match is None:
        raise EdgeInspectError("PTX has no .target directive: not NVRTC output?")
    return match.group(1)


def required_cuda_version(isa: str) -> int:
    """Minimal CUDA driver version (1000*major + 10*minor) that loads PTX ISA ``isa``: ``"9.5"`` -> 13050."""
    try:
        from cuda.bindings.utils import get_minimal_required_cuda_ver_from_ptx_ver

        return int(get_minimal_required_cuda_ver_from_ptx_ver(isa))
    except (ImportError, ValueError):
        pass
    if isa in _PTX_TO_CUDA:
        major, minor = _PTX_TO_CUDA[isa]
        return 1000 * major + 10 * minor
    major, minor = (int(p) for p in isa.split("."))
    if major >= 9:  # ISA 9.x shipped with CUDA 13.x
        return 1000 * (major + 4) + 10 * minor
    raise EdgeInspectError(f"unknown PTX ISA {isa}: cannot tell which driver loads it")


def format_cuda_version(version: int) -> str:
    """``13050`` -> ``"13.5"`` (the encoding of cudaDriverGetVersion)."""
    return f"{version // 1000}.{version % 1000 // 10}"


def nvrtc_pip_pin(driver_version: int) -> str:
    """pip requirements for an NVRTC whose PTX a driver of ``driver_version`` loads."""
    major, minor = driver_version // 1000, driver_version % 1000 // 10
    if major >= 13:
        return f"'nvidia-cuda-nvrtc=={major}.{minor}.*' 'nvidia-cuda-runtime=={major}.{minor}.*' 'cuda-bindings=={major}.{minor}.*'"
    return (f"'nvidia-cuda-nvrtc-cu{major}=={major}.{minor}.*' 'nvidia-cuda-runtime-cu{major}=={major}.{minor}.*' "
            f"'cuda-bindings=={major}.{minor}.*'")


def check_driver_for_ptx(isa: str, driver_version: int) -> None:
    """Raise unless a driver of CUDA version ``driver_version`` JIT-loads PTX ISA ``isa`` (pure, no CUDA call).

    Args:
        isa: PTX ``.version``, e.g. ``"9.5"``.
        driver_version: ``cudaDriverGetVersion()`` value, e.g. 12060 for CUDA 12.6.

    Raises:
        EdgeInspectError: naming the PTX ISA, the CUDA version it needs, the driver's and the pip pin
            that fixes it.
    """
    needed = required_cuda_version(isa)
    if driver_version < needed:
        raise EdgeInspectError(
            f"PTX ISA {isa} needs a driver for CUDA >= {format_cuda_version(needed)}, but this driver supports "
            f"CUDA {format_cuda_version(driver_version)}: pip install {nvrtc_pip_pin(driver_version)} "
            f"(an NVRTC no newer than the driver) or update the driver"
        )


def driver_version() -> int | None:
    """``cudaDriverGetVersion()`` (e.g. 12060), or None when there is no driver or no cuda-bindings."""
    try:
        from cuda.bindings import runtime as cudart
    except ImportError:
        return None
    err, version = cudart.cudaDriverGetVersion()
    if err != cudart.cudaError_t.cudaSuccess or not version:
        return None
    return int(version)


@functools.cache
def nvrtc_ptx_isa() -> str:
    """PTX ISA this NVRTC writes (compiles an empty kernel once)."""
    ptx = compile_ptx('extern "C" __global__ void edgeinspect_probe() {}', arch=min(supported_archs()),
                      name="probe.cu", include_dirs=[])
    return ptx_isa_version(ptx)


def preflight() -> None:
    """Before a TensorRT plugin build: NVRTC present and its PTX ISA loadable by this machine's driver."""
    version = driver_version()
    if version is None:
        raise EdgeInspectError("no CUDA driver found (cudaDriverGetVersion failed): TensorRT plugins need a GPU")
    check_driver_for_ptx(nvrtc_ptx_isa(), version)


# ------------------------------------------------------------------------ build-time (aot_impl)
def device_arch() -> int | None:
    """Compute capability of the current CUDA device (87 on Orin), or None without a device."""
    try:
        from cuda.bindings import runtime as cudart
    except ImportError:
        return None
    err, device = cudart.cudaGetDevice()
    if err != cudart.cudaError_t.cudaSuccess:
        return None
    attr = cudart.cudaDeviceAttr
    err1, major = cudart.cudaDeviceGetAttribute(attr.cudaDevAttrComputeCapabilityMajor, device)
    err2, minor = cudart.cudaDeviceGetAttribute(attr.cudaDevAttrComputeCapabilityMinor, device)
    if err1 != cudart.cudaError_t.cudaSuccess or err2 != cudart.cudaError_t.cudaSuccess:
        return None
    return 10 * int(major) + int(minor)


def build_arch() -> int:
    """Arch the plugins compile for at engine build: $EDGEINSPECT_PLUGIN_ARCH, else the build GPU's,
    clamped to the newest this NVRTC supports (PTX JIT-compiles forward to newer GPUs).

    Set ``EDGEINSPECT_PLUGIN_ARCH=sm_80`` for engines built with hardware compatibility AMPERE_PLUS.
    """
    if os.environ.get(ARCH_ENV):
        arch = parse_arch(os.environ[ARCH_ENV])
        check_arch(arch)
        return arch
    device = device_arch()
    if device is None:
        raise EdgeInspectError(f"no CUDA device to build the plugin for: set {ARCH_ENV}=sm_XX")
    usable = [a for a in supported_archs() if a <= device]
    if not usable:
        check_arch(device)  # raises with the supported list
    return max(usable)


def build_time_ptx(source: Path, *, defines: Mapping[str, str] | None = None) -> bytes:
    """PTX of ``source`` for the engine being built (``aot_impl``): :func:`build_arch`, then the driver check.

    Raises:
        EdgeInspectError: NVRTC problem, or PTX ISA newer than this machine's driver loads.
    """
    ptx = compile_ptx(source.read_text(), arch=build_arch(), defines=defines, name=f"{source.parent.name}/{source.name}")
    version = driver_version()
    if version is not None:
        check_driver_for_ptx(ptx_isa_version(ptx), version)
    return ptx


def require_tensorrt_plugin():
    """``(tensorrt, tensorrt.plugin)`` when TensorRT has AOT QDPs (>= 10.9), else a one-line EdgeInspectError."""
    try:
        import tensorrt as trt
    except ImportError:
        raise EdgeInspectError(
            "TensorRT is not installed: plugin-form engines need tensorrt >= 10.9; "
            "build from the standard-op ONNX form instead"
        ) from None
    if not hasattr(trt, "QuickPluginCreationRequest"):
        raise EdgeInspectError(
            f"TensorRT {getattr(trt, '__version__', '?')} has no AOT Python plugins (needs >= 10.9; JetPack 6 ships "
            "10.3): build from the standard-op ONNX form instead"
        )
    import tensorrt.plugin as trtp

    return trt, trtp


# --------------------------------------------------------------------- catalogue + CLI compile
def kernel_variants(op: str) -> list[KernelVariant]:
    """Every (dtype) variant of ``op``'s kernel, with the defines of its default attributes."""
    if op not in OPS:
        raise EdgeInspectError(f"unknown op {op!r}: choose from {', '.join(OPS)}")
    plugin = importlib.import_module(f"edgeinspect.ops.{op}.plugin")
    defines = tuple(sorted(plugin.default_defines().items()))
    return [KernelVariant(op, dtype, plugin.entry_name(dtype), plugin.KERNEL_SOURCE, defines) for dtype in DTYPES]


def compile_kernels(out_dir: Path, archs: Iterable[str | int], *, ops: Sequence[str] = OPS,
                    progress: Callable[[str], None] | None = None) -> Path:
    """Compile every kernel variant for every arch: ``out_dir/<op>.<dtype>.sm_XX.ptx`` and ``out_dir/ptx.json``.

    Args:
        out_dir: created if missing.
        archs: e.g. ``["sm_87"]``; each is checked against this NVRTC first (sm_72 is rejected).
        ops: subset of :data:`OPS`.
        progress: called with a label after each file.

    Returns:
        Path of ``ptx.json``: NVRTC version, PTX ISA, minimal driver CUDA version, archs, options, files.

    Raises:
        EdgeInspectError: bad arch, NVRTC missing, or any NVRTC warning/error.
    """
    arch_ids = sorted({parse_arch(a) for a in archs})
    if not arch_ids:
        raise EdgeInspectError("no --arch given: e.g. --arch sm_87")
    for arch in arch_ids:
        check_arch(arch)
    include_dirs = cuda_include_dirs()[:1]
    if not include_dirs:
        raise EdgeInspectError(f"cuda_fp16.h not found: {_INSTALL_HINT} or set CUDA_HOME")
    make_folder(out_dir)
    files, isas = [], set()
    for op in ops:
        for variant in kernel_variants(op):
            source = variant.source.read_text()
            for arch in arch_ids:
                ptx = compile_ptx(source, arch=arch, defines=dict(variant.defines), include_dirs=include_dirs,
                                  name=f"{op}/{variant.source.name}")
                path = out_dir / f"{op}.{variant.dtype}.sm_{arch}.ptx"
                path.write_bytes(ptx)
                isas.add(ptx_isa_version(ptx))
                files.append({
                    "op": op, "dtype": variant.dtype, "arch": f"sm_{arch}", "file": path.name,
                    "entry": variant.entry, "target": ptx_target(ptx), "bytes": len(ptx),
                    "sha256": hashlib.sha256(ptx).hexdigest(), "defines": dict(variant.defines),
                })
                if progress is not None:
                    progress(path.name)
    (isa,) = isas
    needed = required_cuda_version(isa)
    major, minor = nvrtc_version()
    meta = {
        "nvrtc_version": f"{major}.{minor}",
        "ptx_isa": isa,
        "min_driver_cuda": format_cuda_version(needed),
        "min_driver_version": needed,
        "archs": [f"sm_{a}" for a in arch_ids],
        "options": [*BASE_OPTIONS, "--gpu-architecture=compute_XX"],
        "include_dir": str(include_dirs[0]),
        "files": files,
    }
    path = out_dir / "ptx.json"
    path.write_text(json.dumps(meta, indent=2) + "\n")
    return path


def check_qdp_signatures(functions: Mapping[str, Callable], inputs: Sequence[str],
                         attributes: Sequence[tuple[str, object]]) -> None:
    """Check a plugin's QDP functions against its description before they reach ``tensorrt.plugin``.

    ``tensorrt.plugin`` matches parameters by name and order and passes *every* attribute to
    ``aot_impl`` positionally in registration order, so each function must list the tensor inputs
    (``inputs``), then all ``attributes`` (name, annotation) in order, then its tail: nothing for
    ``register``, ``outputs`` for ``autotune``, ``outputs, tactic`` for ``aot_impl`` (which also needs
    a return annotation). Annotations must be objects, not strings.

    Raises:
        TypeError: a function deviates (a programming error in a plugin module).
    """
    import inspect

    names = [*inputs, *(name for name, _ in attributes)]
    tails = {"register": [], "autotune": ["outputs"], "aot_impl": ["outputs", "tactic"]}
    for role, tail in tails.items():
        signature = inspect.signature(functions[role])
        params = list(signature.parameters.values())
        if [p.name for p in params] != names + tail:
            raise TypeError(f"{role} parameters {[p.name for p in params]} != {names + tail}")
        for param in params:
            if isinstance(param.annotation, str):
                raise TypeError(f"{role}: string annotation on {param.name!r} (no 'from __future__ import annotations')")
        for name, annotation in attributes:
            if signature.parameters[name].annotation != annotation:
                raise TypeError(f"{role}: attribute {name!r} annotated {signature.parameters[name].annotation}, "
                                f"declared {annotation}")
    if inspect.signature(functions["aot_impl"]).return_annotation is inspect.Signature.empty:
        raise TypeError("aot_impl needs a return annotation")


def spec_kind(annotation: object) -> str:
    """ONNX attribute kind (as written in ``spec.ATTRIBUTES``) of a QDP attribute annotation.

    ``int``/``bool`` -> ``"int"`` (ONNX INT), ``float`` -> ``"float"``, ``str`` -> ``"string"``,
    ``NDArray[np.float32]`` -> ``"floats"``, ``NDArray[np.int32]`` -> ``"ints"``.
    """
    import typing

    import numpy as np

    simple = {int: "int", bool: "int", float: "float", str: "string"}
    if annotation in simple:
        return simple[annotation]
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) is np.ndarray and len(args) == 2:
        dtype = np.dtype(typing.get_args(args[1])[0])
        if dtype == np.float32:
            return "floats"
        if dtype == np.int32:
            return "ints"
    raise TypeError(f"no ONNX attribute kind for annotation {annotation!r}")
