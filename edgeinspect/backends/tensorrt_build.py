"""``edgeinspect build --backend tensorrt``: checkpoint/ONNX → ``engines/NAME/model.plan`` on this GPU.

Build on the device that will run the engine (a plan is tied to the TensorRT version, the GPU and the
OS). The decisions are pure functions of the options and a :class:`TrtCapabilities` record (what the
installed TensorRT offers), so they are tested without TensorRT:

- plugins (:func:`decide_plugins`): ``auto`` = the custom ops as AOT ``tensorrt.plugin`` QDPs
  (``plugin_mode "aot-qdp"``: hand-written CUDA compiled to PTX by NVRTC while building, embedded in the
  plan) when TensorRT has AOT plugins (>= 10.9), else the standard-op decomposition
  (``"standard-ops"``; JetPack 6 ships 10.3). ``on`` insists on plugins, ``off`` never uses them.
- precision (:func:`plan_precision`): TensorRT 11 networks are strongly typed and have no precision
  flags: FP16 comes from an FP16 ONNX (:func:`~edgeinspect.backends.tensorrt_onnx.convert_to_fp16`,
  float32 I/O kept), INT8 from the symmetric int8 QDQ ONNX only (explicit quantization; there are no
  calibrators). TensorRT 10.x networks are weakly typed: FP16 sets ``BuilderFlag.FP16``; INT8 parses
  the same QDQ ONNX and sets ``INT8`` + ``FP16`` (the layers between Q/DQ pairs may then run FP16).
- optimisation profile (:func:`profile_shapes`): batch 1..``max_batch``, opt = the typical batch
  (the stream runner's default, 4, capped at ``max_batch``).
- DLA (:func:`check_dla`, Jetson Orin): ``--dla-core K`` runs supported layers on DLA core K with
  ``GPU_FALLBACK``; plugin layers are pinned to the GPU. FP16/INT8 only.

The timing cache is kept in ``engines/NAME/timing.cache`` and reused by the next build of that folder
(``--force``). INT8 and FP16 engines pass the same accuracy gate as CPU builds: the TensorRT engine and
ONNX Runtime FP32 score the held-aside tiles and the build is refused when mIoU drops by more than
``max_drop`` points; the probability MAE is recorded too. The manifest's ``options["tensorrt"]``
(:class:`~edgeinspect.backends.compat.EngineTarget`) records the TensorRT version, GPU, compute
capability, driver, plugin mode, PTX arch/ISA, hardware-compatibility level and VC flag that
``open()`` checks.

Example:
    >>> build_tensorrt_engine("lite.pt", out=Path("engines/lite-trt-int8"), precision="int8", max_batch=8)
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgeinspect.backends.compat import HARDWARE_LEVELS, OPTIONS_KEY, EngineTarget, platform_tag
from edgeinspect.backends.manifest import PRECISIONS, Manifest, hash_files, utc_now, write_manifest
from edgeinspect.errors import EdgeInspectError
from edgeinspect.outputs import make_folder

PLUGIN_CHOICES = ("auto", "on", "off")
DEFAULT_MAX_BATCH = 8
#: The typical batch (the stream runner's default batch size): the profile's opt, capped at max_batch.
DEFAULT_OPT_BATCH = 4
DEFAULT_WORKSPACE_MIB = 1024
DEFAULT_MAX_DROP = 1.0
FP32_NAME = "model.onnx"
PLAN_NAME = "model.plan"
TIMING_CACHE_NAME = "timing.cache"
#: First TensorRT with ``tensorrt.plugin`` ``aot_impl`` (self-contained plugin engines).
AOT_MIN_VERSION = (10, 9)

Progress = Callable[[str], None]


# =============================================================================== pure decisions
@dataclass(frozen=True, slots=True)
class TrtCapabilities:
    """What the installed TensorRT offers (probed once; hand-made in tests).

    Attributes:
        version: ``trt.__version__``, e.g. ``"10.3.0.30"``.
        builder_flags: ``trt.BuilderFlag`` member names.
        network_flags: ``trt.NetworkDefinitionCreationFlag`` member names.
        hardware_levels: ``trt.HardwareCompatibilityLevel`` member names.
        aot_plugins: ``tensorrt.plugin`` with ``aot_impl`` exists (``hasattr(trt, "QuickPluginCreationRequest")``).
        dla_cores: ``builder.num_DLA_cores``.
    """

    version: str
    builder_flags: frozenset[str]
    network_flags: frozenset[str] = frozenset()
    hardware_levels: frozenset[str] = frozenset({"NONE", "AMPERE_PLUS"})
    aot_plugins: bool = False
    dla_cores: int = 0

    @property
    def major(self) -> int:
        return int(self.version.split(".")[0])

    @property
    def minor(self) -> int:
        return int(self.version.split(".")[1])

    @property
    def short_version(self) -> str:
        return ".".join(self.version.split(".")[:2])

    @property
    def strongly_typed_only(self) -> bool:
        """TensorRT 11+: every network is strongly typed, the FP16/INT8 builder flags are gone."""
        return self.major >= 11 or "FP16" not in self.builder_flags

    @classmethod
    def probe(cls, trt, builder=None) -> TrtCapabilities:
        """Read the capabilities from the imported ``tensorrt`` module (and a builder for the DLA count)."""
        def members(enum_name: str) -> frozenset[str]:
            enum = getattr(trt, enum_name, None)
            return frozenset(getattr(enum, "__members__", {}) or {})

        aot = hasattr(trt, "QuickPluginCreationRequest")
        if aot:
            try:
                import tensorrt.plugin as trtp

                aot = hasattr(trtp, "aot_impl")
            except ImportError:
                aot = False
        return cls(
            version=str(trt.__version__),
            builder_flags=members("BuilderFlag"),
            network_flags=members("NetworkDefinitionCreationFlag"),
            hardware_levels=members("HardwareCompatibilityLevel"),
            aot_plugins=aot,
            dla_cores=int(getattr(builder, "num_DLA_cores", 0) or 0) if builder is not None else 0,
        )


@dataclass(frozen=True, slots=True)
class PluginDecision:
    """How the custom ops go into the engine.

    Attributes:
        mode: ``"aot-qdp"`` or ``"standard-ops"``.
        reason: one sentence for the manifest and the build output.
        decompose_source: the source ONNX is plugin-form but the build uses standard ops: its plugin
            nodes are decomposed first (:func:`~edgeinspect.backends.tensorrt_onnx.substitute_plugins`).
    """

    mode: str
    reason: str
    decompose_source: bool = False


def decide_plugins(request: str, caps: TrtCapabilities, *, source_form: str | None) -> PluginDecision:
    """Plugin mode from ``--plugins`` (auto|on|off), the TensorRT version and the source's op form.

    Args:
        request: ``"auto"``, ``"on"`` or ``"off"``.
        caps: the installed TensorRT.
        source_form: ``"plugin"`` / ``"standard"`` for an ONNX source, ``None`` for a checkpoint
            (exported in whichever form is needed).

    Raises:
        EdgeInspectError: ``on`` without AOT plugins (TensorRT < 10.9), or ``on`` with a standard-op ONNX.
    """
    if request not in PLUGIN_CHOICES:
        raise EdgeInspectError(f"--plugins must be one of {', '.join(PLUGIN_CHOICES)}, got {request!r}")
    has_aot = caps.aot_plugins
    no_aot = (f"TensorRT {caps.short_version} has no AOT plugins (tensorrt.plugin aot_impl needs >= "
              f"{AOT_MIN_VERSION[0]}.{AOT_MIN_VERSION[1]})")
    if request == "off":
        return PluginDecision("standard-ops", "--plugins off", decompose_source=source_form == "plugin")
    if request == "on":
        if not has_aot:
            raise EdgeInspectError(f"--plugins on: {no_aot}; use --plugins auto or off (standard-op form)")
        if source_form == "standard":
            raise EdgeInspectError(
                "--plugins on needs the plugin-form ONNX (`edgeinspect export CKPT --ops plugin`) or a checkpoint; "
                "the source is a standard-op ONNX"
            )
        return PluginDecision("aot-qdp", f"--plugins on (TensorRT {caps.short_version})")
    if not has_aot:
        return PluginDecision("standard-ops", no_aot, decompose_source=source_form == "plugin")
    if source_form == "standard":
        return PluginDecision("standard-ops", "the source ONNX is in the standard-op form")
    return PluginDecision("aot-qdp", f"TensorRT {caps.short_version} has AOT plugins")


@dataclass(frozen=True, slots=True)
class PrecisionPlan:
    """How a precision is built on this TensorRT.

    Attributes:
        precision: ``"fp32"``, ``"fp16"`` or ``"int8"``.
        strongly_typed: the network is strongly typed (TensorRT 11: always).
        onnx_variant: what the parser reads: ``"fp32"`` (model.onnx), ``"fp16"`` (FP16 ONNX with float32
            I/O) or ``"int8-qdq"`` (symmetric int8 QDQ ONNX).
        builder_flags: ``trt.BuilderFlag`` names to set.
        network_flags: ``trt.NetworkDefinitionCreationFlag`` names to OR into ``create_network``.
    """

    precision: str
    strongly_typed: bool
    onnx_variant: str
    builder_flags: tuple[str, ...]
    network_flags: tuple[str, ...]


def plan_precision(
    precision: str,
    caps: TrtCapabilities,
    *,
    plugin_mode: str = "standard-ops",
    dla_core: int | None = None,
    version_compatible: bool = False,
) -> PrecisionPlan:
    """Flags and ONNX variant for a precision on this TensorRT (the notes' version table).

    Raises:
        EdgeInspectError: unknown precision, or VERSION_COMPATIBLE/GPU_FALLBACK missing in this TensorRT.
    """
    if precision not in PRECISIONS:
        raise EdgeInspectError(f"--precision must be one of {', '.join(PRECISIONS)} for TensorRT, got {precision!r}")
    strongly = caps.strongly_typed_only
    flags: list[str] = []
    if strongly:
        variant = {"fp32": "fp32", "fp16": "fp16", "int8": "int8-qdq"}[precision]
    else:
        variant = "int8-qdq" if precision == "int8" else "fp32"
        flags += {"fp32": [], "fp16": ["FP16"], "int8": ["INT8", "FP16"]}[precision]
    network: list[str] = []
    if plugin_mode == "aot-qdp" and "PREFER_AOT_PYTHON_PLUGINS" in caps.network_flags:
        network.append("PREFER_AOT_PYTHON_PLUGINS")
    for wanted, name in ((dla_core is not None, "GPU_FALLBACK"), (version_compatible, "VERSION_COMPATIBLE")):
        if wanted:
            if name not in caps.builder_flags:
                raise EdgeInspectError(f"TensorRT {caps.version} has no BuilderFlag.{name}")
            flags.append(name)
    return PrecisionPlan(precision, strongly, variant, tuple(flags), tuple(network))


def check_dla(dla_core: int | None, caps: TrtCapabilities, precision: str) -> None:
    """Raise unless ``--dla-core`` can be honoured here (None: GPU only, always fine).

    Raises:
        EdgeInspectError: negative core, no DLA in this TensorRT/device, core out of range, or FP32.
    """
    if dla_core is None:
        return
    if dla_core < 0:
        raise EdgeInspectError(f"--dla-core must be >= 0, got {dla_core}")
    if (caps.major == 10 and caps.minor > 7) or (caps.major == 11 and caps.minor < 4):
        raise EdgeInspectError(
            f"--dla-core {dla_core}: TensorRT {caps.short_version} has no DLA support (10.x up to 10.7, then 11.4+ on "
            "AGX Orin with JetPack 7.2.2+); drop --dla-core to run on the GPU"
        )
    if caps.dla_cores == 0:
        raise EdgeInspectError(
            f"--dla-core {dla_core}: this device has no DLA (TensorRT reports 0 DLA cores; Jetson AGX Orin / Orin NX "
            "have two); drop --dla-core to run on the GPU"
        )
    if dla_core >= caps.dla_cores:
        raise EdgeInspectError(f"--dla-core {dla_core}: this device has DLA cores 0..{caps.dla_cores - 1}")
    if precision == "fp32":
        raise EdgeInspectError("--dla-core: DLA runs FP16 and INT8 only; use --precision fp16 or int8")


@dataclass(frozen=True, slots=True)
class ProfileShapes:
    """Optimisation profile of the ``(N,1,H,W)`` input: batch ``1 .. max``, tuned for ``opt``."""

    min: tuple[int, int, int, int]
    opt: tuple[int, int, int, int]
    max: tuple[int, int, int, int]

    def to_json(self) -> dict[str, list[int]]:
        return {"min": list(self.min), "opt": list(self.opt), "max": list(self.max)}


def profile_shapes(tile_hw: tuple[int, int], max_batch: int, opt_batch: int | None = None) -> ProfileShapes:
    """Profile for batches 1..``max_batch`` at the tile size; ``opt`` defaults to ``min(4, max_batch)``.

    Raises:
        EdgeInspectError: ``max_batch < 1`` or ``opt_batch`` outside 1..max_batch, or a bad tile size.
    """
    height, width = (int(v) for v in tile_hw)
    if height < 1 or width < 1:
        raise EdgeInspectError(f"tile size must be positive, got {tile_hw}")
    if max_batch < 1:
        raise EdgeInspectError(f"--max-batch must be >= 1, got {max_batch}")
    opt = min(DEFAULT_OPT_BATCH, max_batch) if opt_batch is None else int(opt_batch)
    if not 1 <= opt <= max_batch:
        raise EdgeInspectError(f"opt batch must be in 1..{max_batch} (--max-batch), got {opt}")
    return ProfileShapes((1, 1, height, width), (opt, 1, height, width), (int(max_batch), 1, height, width))


def check_hardware_level(level: str, caps: TrtCapabilities) -> str:
    """Validate a hardware-compatibility level name (``none``, ``ampere_plus``, ``same_compute_capability``).

    Raises:
        EdgeInspectError: unknown name, or not offered by this TensorRT.
    """
    if level not in HARDWARE_LEVELS:
        raise EdgeInspectError(f"hardware compatibility must be one of {', '.join(HARDWARE_LEVELS)}, got {level!r}")
    if level != "none" and level.upper() not in caps.hardware_levels:
        raise EdgeInspectError(f"TensorRT {caps.version} has no HardwareCompatibilityLevel.{level.upper()}")
    return level


def variant_file(variant: str) -> str:
    """File the parser reads for an ONNX variant."""
    from edgeinspect.backends.tensorrt_onnx import FP16_NAME, INT8_NAME

    return {"fp32": FP32_NAME, "fp16": FP16_NAME, "int8-qdq": INT8_NAME}[variant]


# =============================================================================== the build
def require_tensorrt_build():
    """``(tensorrt module, DeviceInfo)``, or a one-line error naming what is missing (TensorRT, cuda-bindings, driver, GPU)."""
    from edgeinspect.backends import cuda_mem
    from edgeinspect.backends.tensorrt import import_tensorrt

    trt = import_tensorrt("`--backend tensorrt` builds on the GPU device that will run the engine")
    return trt, cuda_mem.device_info()


def _source_form(path: Path) -> str | None:
    """``"plugin"``/``"standard"`` for an ONNX file, ``None`` for a checkpoint."""
    if path.suffix.lower() != ".onnx":
        return None
    from edgeinspect.backends.tensorrt_onnx import PLUGIN_DOMAIN
    from edgeinspect.export.metadata import read_metadata

    meta = read_metadata(path)
    return "plugin" if meta.get("op_form") == "plugin" or PLUGIN_DOMAIN in meta.get("custom_domains", []) else "standard"


def _stage(source: Path, source_form: str | None, decision: PluginDecision, work: Path, progress: Progress) -> dict:
    """Write ``work/model.onnx`` in the form the build uses; return its edgeinspect metadata."""
    from edgeinspect.backends.build import export_for_build, require_tile_hw
    from edgeinspect.backends.tensorrt_onnx import write_standard_equivalent
    from edgeinspect.export.metadata import read_metadata

    target = work / FP32_NAME
    if source_form is None:
        export_for_build(source, target, "plugin" if decision.mode == "aot-qdp" else "standard", progress)
    elif decision.decompose_source:
        progress(f"decomposing the plugin nodes of {source.name} into standard ops")
        write_standard_equivalent(source, target)
    else:
        shutil.copyfile(source, target)
    meta = read_metadata(target)
    if source_form is not None:  # an ONNX given: refuse one that is not an edgeinspect model before TensorRT sees it
        from edgeinspect.backends.base import check_onnx_metadata

        check_onnx_metadata(source, meta)
    return require_tile_hw(meta, source)


@contextlib.contextmanager
def _plugin_arch(hardware_compat: str) -> Iterator[None]:
    """AMPERE_PLUS engines: compile the plugin PTX for sm_80 (unless EDGEINSPECT_PLUGIN_ARCH is set)."""
    from edgeinspect.ops import ptx

    if hardware_compat != "ampere_plus" or os.environ.get(ptx.ARCH_ENV):
        yield
        return
    os.environ[ptx.ARCH_ENV] = "sm_80"
    try:
        yield
    finally:
        os.environ.pop(ptx.ARCH_ENV, None)


def _register_plugins() -> None:
    from edgeinspect.ops.pixel_confidence import plugin as pcm_plugin
    from edgeinspect.ops.strip_projection import plugin as strip_plugin

    strip_plugin.register()
    pcm_plugin.register()


def _flag_bits(enum, names: tuple[str, ...]) -> int:
    bits = 0
    for name in names:
        bits |= 1 << int(getattr(enum, name))
    return bits


def _read_timing_cache(paths: list[Path]) -> tuple[bytes, Path | None]:
    for path in paths:
        if path.is_file():
            return path.read_bytes(), path
    return b"", None


@dataclass(frozen=True, slots=True)
class _PlanInfo:
    input_name: str
    timing_cache_reused: bool
    dla_layers: tuple[int, int] | None


def _build_plan(
    trt, builder, logger, onnx_path: Path, plan_path: Path, *, precision: PrecisionPlan, profile: ProfileShapes,
    hardware_compat: str, dla_core: int | None, workspace_mib: int, timing_cache: bytes, cache_path: Path,
) -> _PlanInfo:
    """Parse ``onnx_path``, configure, build and write the plan and the timing cache."""
    network = builder.create_network(_flag_bits(trt.NetworkDefinitionCreationFlag, precision.network_flags))
    parser = trt.OnnxParser(network, logger)  # keep alive until the build is done (it owns the weights)
    if not parser.parse_from_file(str(onnx_path)):
        errors = [parser.get_error(i) for i in range(parser.num_errors)]
        first = errors[0] if errors else None
        where = f" at node {first.node_name()!r} ({first.node_operator()})" if first is not None else ""
        text = first.desc() if first is not None else "unknown error"
        raise EdgeInspectError(f"{onnx_path.name}: TensorRT {trt.__version__} cannot parse the ONNX{where}: {text}")
    if network.num_inputs != 1:
        raise EdgeInspectError(f"{onnx_path.name}: expected one input (N,1,H,W), found {network.num_inputs}")
    input_name = network.get_input(0).name
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_mib) << 20)
    for flag in precision.builder_flags:
        config.set_flag(getattr(trt.BuilderFlag, flag))
    if hardware_compat != "none":
        config.hardware_compatibility_level = getattr(trt.HardwareCompatibilityLevel, hardware_compat.upper())
    opt_profile = builder.create_optimization_profile()
    opt_profile.set_shape(input_name, profile.min, profile.opt, profile.max)
    config.add_optimization_profile(opt_profile)
    cache = None
    reused = False
    if timing_cache:
        try:
            cache = config.create_timing_cache(timing_cache)
            reused = cache is not None and bool(config.set_timing_cache(cache, False))
        except (RuntimeError, TypeError):
            reused = False
    if not reused:
        cache = config.create_timing_cache(b"")
        config.set_timing_cache(cache, False)
    dla_layers = None
    if dla_core is not None:
        config.default_device_type = trt.DeviceType.DLA
        config.DLA_core = int(dla_core)
        plugin_types = {getattr(trt.LayerType, n) for n in ("PLUGIN", "PLUGIN_V2", "PLUGIN_V3") if hasattr(trt.LayerType, n)}
        on_dla = 0
        for index in range(network.num_layers):
            layer = network.get_layer(index)
            if layer.type in plugin_types or not config.can_run_on_DLA(layer):
                config.set_device_type(layer, trt.DeviceType.GPU)   # plugins never run on DLA
            else:
                on_dla += 1
        dla_layers = (on_dla, int(network.num_layers))
    logger.take_errors()
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        errors = logger.take_errors()
        text = " | ".join(" ".join(e.split()) for e in errors[-3:])[:600] or "no error logged"
        raise EdgeInspectError(f"{onnx_path.name}: TensorRT {trt.__version__} engine build failed: {text}")
    with plan_path.open("wb") as stream:
        stream.write(serialized)
    cache_path.write_bytes(bytes(memoryview(config.get_timing_cache().serialize())))
    del parser, network, cache
    return _PlanInfo(input_name, reused, dla_layers)


def _versions(trt, device, opset, *, plugin_mode: str, uses_ort: bool) -> dict[str, Any]:
    import importlib.metadata as md

    from edgeinspect import __version__

    def dist(name: str) -> str | None:
        try:
            return md.version(name)
        except md.PackageNotFoundError:
            return None

    versions: dict[str, Any] = {
        "edgeinspect": __version__, "onnx_opset": opset, "onnx": dist("onnx"), "tensorrt": str(trt.__version__),
        "cuda_driver": f"{device.driver_version // 1000}.{device.driver_version % 1000 // 10}",
        "cuda_runtime": f"{device.runtime_version // 1000}.{device.runtime_version % 1000 // 10}",
        "cuda_bindings": dist("cuda-bindings") or dist("cuda-python"),
    }
    if plugin_mode == "aot-qdp":
        from edgeinspect.ops import ptx

        versions["nvrtc"] = "{}.{}".format(*ptx.nvrtc_version())
    if uses_ort:
        versions["onnxruntime"] = dist("onnxruntime")
    return versions


def _predict(engine, tiles: np.ndarray, batch: int = 8) -> np.ndarray:
    return np.concatenate([engine.infer(tiles[i : i + batch])["prob"] for i in range(0, tiles.shape[0], batch)])


def _gate(
    folder: Path, manifest: Manifest, reference: Path, tiles: np.ndarray, masks: np.ndarray, *, threads: int | None,
    max_drop: float, gate_source: str, out: Path,
) -> dict[str, Any]:
    """ONNX Runtime FP32 vs the TensorRT engine on the gate tiles; raise when mIoU drops > ``max_drop`` points."""
    from edgeinspect.backends import engine_class
    from edgeinspect.backends.tensorrt import TensorRTEngine
    from edgeinspect.metrics import segmentation_scores

    ort_engine = engine_class("onnxruntime")(reference, None, threads=threads, tile_hw=manifest.tile_hw,
                                             output_names=manifest.output_names)
    with ort_engine:
        ref = _predict(ort_engine, tiles)
    with TensorRTEngine(folder, manifest) as trt_engine:
        got = _predict(trt_engine, tiles)
    ref_scores = segmentation_scores(zip(ref[:, 0], masks))
    got_scores = segmentation_scores(zip(got[:, 0], masks))
    from edgeinspect.backends.build import accuracy_gate

    return accuracy_gate(
        ref_scores, got_scores, label=manifest.precision, tiles=int(tiles.shape[0]), gate_source=gate_source,
        max_drop=max_drop, out=out, engine_name="TensorRT ", reference_name="ONNX Runtime FP32",
        fallback="build another precision", prob_mae=float(np.abs(ref.astype(np.float64) - got).mean()),
        reference="onnxruntime-fp32",
    )


def build_tensorrt_engine(
    source: str | Path,
    *,
    out: Path,
    precision: str = "fp16",
    plugins: str = "auto",
    max_batch: int = DEFAULT_MAX_BATCH,
    opt_batch: int | None = None,
    dla_core: int | None = None,
    calib: Path | str | None = None,
    gate_data: Path | str | None = None,
    max_drop: float = DEFAULT_MAX_DROP,
    threads: int | None = None,
    calib_count: int | None = None,
    gate_count: int | None = None,
    hardware_compat: str = "none",
    version_compatible: bool = False,
    workspace_mib: int = DEFAULT_WORKSPACE_MIB,
    timing_cache: Path | str | None = None,
    force: bool = False,
    progress: Progress | None = None,
):
    """Build a TensorRT engine folder on this GPU.

    Args:
        source: checkpoint ``.pt``, exported ``.onnx`` (standard or plugin form) or ``"default"``.
        out: the engine folder (``engines/NAME``).
        precision: ``"fp32"``, ``"fp16"`` or ``"int8"`` (symmetric int8 QDQ, calibrated on CPU).
        plugins: ``"auto"``, ``"on"`` or ``"off"`` (see :func:`decide_plugins`).
        max_batch: largest batch the engine takes (profile max; buffers are allocated for it).
        opt_batch: batch TensorRT tunes for (default ``min(4, max_batch)``).
        dla_core: Jetson DLA core, None for GPU only.
        calib: INT8 calibration source (see :func:`edgeinspect.export.calibration.load_calibration`).
        gate_data: labelled images for the accuracy gate (FP16/INT8).
        max_drop: largest accepted mIoU drop vs ONNX Runtime FP32, percentage points.
        threads: CPU threads of ONNX Runtime in calibration and the gate.
        calib_count: at most this many calibration tiles (default ``calibration.DEFAULT_COUNT``, 256).
        gate_count: at most this many gate tiles (default ``calibration.DEFAULT_HELD_OUT``, 128).
        hardware_compat: ``"none"``, ``"ampere_plus"`` (plugin PTX then targets sm_80) or ``"same_compute_capability"``.
        version_compatible: set ``BuilderFlag.VERSION_COMPATIBLE`` (runs on newer TensorRT; larger plan).
        workspace_mib: builder workspace limit, MiB.
        timing_cache: a timing cache to start from (default ``out/timing.cache`` when it exists).
        force: replace ``out`` (only once the new build succeeded).
        progress: called with a short message before each step.

    Returns:
        :class:`edgeinspect.backends.build.BuildResult`.

    Raises:
        EdgeInspectError: TensorRT, cuda-bindings, the driver or a GPU missing (one line naming it), a bad
            option, a parse/build failure (TensorRT's message), or the accuracy gate refused the build.
    """
    from edgeinspect.backends.build import BuildResult, _place, check_engine_out, resolve_source
    from edgeinspect.backends.tensorrt import trt_logger

    progress = progress or (lambda message: None)
    if precision not in PRECISIONS:
        raise EdgeInspectError(f"--precision must be one of {', '.join(PRECISIONS)} for TensorRT, got {precision!r}")
    if plugins not in PLUGIN_CHOICES:
        raise EdgeInspectError(f"--plugins must be one of {', '.join(PLUGIN_CHOICES)}, got {plugins!r}")
    if max_drop < 0:
        raise EdgeInspectError(f"--max-drop must be >= 0 points, got {max_drop}")
    if precision != "int8" and calib is not None:
        raise EdgeInspectError("--calib only applies to --precision int8")
    if precision == "fp32" and gate_data is not None:
        raise EdgeInspectError("--gate-data applies to --precision fp16 or int8 (the gate compares them with FP32)")
    profile_shapes((1, 1), max_batch, opt_batch)   # validates the batch options before any heavy work
    out = check_engine_out(Path(out), force=force)
    trt, device = require_tensorrt_build()
    source_path = resolve_source(source)
    source_form = _source_form(source_path)
    logger = trt_logger(trt)
    builder = trt.Builder(logger)
    if builder is None:
        raise EdgeInspectError(f"TensorRT {trt.__version__} could not create a builder on {device.name}")
    caps = TrtCapabilities.probe(trt, builder)
    decision = decide_plugins(plugins, caps, source_form=source_form)
    check_dla(dla_core, caps, precision)
    check_hardware_level(hardware_compat, caps)
    plan = plan_precision(precision, caps, plugin_mode=decision.mode, dla_core=dla_core,
                          version_compatible=version_compatible)
    progress(f"TensorRT {trt.__version__} on {device.name}: {decision.mode} ({decision.reason})")

    make_folder(out.parent)
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.building-", dir=out.parent))
    umask = os.umask(0)
    os.umask(umask)
    work.chmod(0o777 & ~umask)
    scratch = Path(tempfile.mkdtemp(prefix="edgeinspect-trt-"))
    try:
        meta = _stage(source_path, source_form, decision, work, progress)
        tile_hw = tuple(int(v) for v in meta["tile_hw"])
        outputs = tuple(n for n in meta.get("outputs", ("prob",)) if n in ("prob", "loc")) or ("prob",)
        profile = profile_shapes(tile_hw, max_batch, opt_batch)
        files = [FP32_NAME]
        reference = work / FP32_NAME
        if decision.mode == "aot-qdp":
            from edgeinspect.backends.tensorrt_onnx import write_standard_equivalent

            reference = write_standard_equivalent(work / FP32_NAME, scratch / "reference.onnx")
        calibration_record = None
        gate_tiles = gate_masks = None
        gate_source = ""
        if plan.onnx_variant == "fp16":
            from edgeinspect.backends.tensorrt_onnx import FP16_NAME, convert_to_fp16

            progress("converting the ONNX to FP16 (float32 I/O) for a strongly typed network")
            convert_to_fp16(work / FP32_NAME, work / FP16_NAME)
            files.append(FP16_NAME)
        elif plan.onnx_variant == "int8-qdq":
            from edgeinspect.export import calibration as calibration_module
            from edgeinspect.export import Encoding
            from edgeinspect.export.quantize import FILE_NAMES, RANGES_NAME, quantize_qdq

            progress("reading calibration images")
            calib_set = calibration_module.load_calibration(
                calib, tile_hw=tile_hw, count=calib_count or calibration_module.DEFAULT_COUNT,
                held_out=gate_count or calibration_module.DEFAULT_HELD_OUT,
            )
            progress(f"calibrating on {calib_set.tiles.shape[0]} tiles and writing symmetric int8 QDQ")
            if decision.mode == "aot-qdp":
                from edgeinspect.backends.tensorrt_onnx import quantize_plugin_form

                quantize_plugin_form(work / FP32_NAME, calib_set.tiles, out_dir=work)
            else:
                quantize_qdq(work / FP32_NAME, calib_set.tiles, out_dir=work, encodings=[Encoding.INT8_SYMMETRIC])
            files += [FILE_NAMES[Encoding.INT8_SYMMETRIC], RANGES_NAME]
            calibration_record = calib_set.describe()
            if gate_data is None and calib_set.held_out.shape[0] > 0:
                gate_tiles, gate_masks, gate_source = calib_set.held_out, calib_set.held_out_masks, calib_set.source
        if precision != "fp32" and gate_tiles is None:
            from edgeinspect.export import calibration as calibration_module

            if gate_data is not None:
                gate_tiles, gate_masks = calibration_module.load_gate_set(gate_data, tile_hw=tile_hw, count=gate_count or calibration_module.DEFAULT_HELD_OUT)
                gate_source = str(gate_data)
            else:
                gate_tiles, gate_masks = calibration_module.synthetic_gate_set(
                    tile_hw, gate_count or calibration_module.DEFAULT_HELD_OUT)
                gate_source = "synthetic"
            if gate_tiles.shape[0] == 0:
                raise EdgeInspectError(f"{gate_data or calib}: no images with masks for the accuracy gate")

        ptx_record: dict[str, Any] = {"ptx_archs": (), "ptx_isa": None, "nvrtc_version": None}
        cache_bytes, cache_from = _read_timing_cache([Path(timing_cache)] if timing_cache else [out / TIMING_CACHE_NAME])
        progress(f"building the TensorRT {precision} engine (batch 1..{profile.max[0]}, opt {profile.opt[0]})"
                 + (" reusing the timing cache" if cache_from else ""))
        with _plugin_arch(hardware_compat):
            if decision.mode == "aot-qdp":
                from edgeinspect.ops import ptx

                _register_plugins()
                ptx_record = {"ptx_archs": (f"sm_{ptx.build_arch()}",), "ptx_isa": ptx.nvrtc_ptx_isa(),
                              "nvrtc_version": "{}.{}".format(*ptx.nvrtc_version())}
            info = _build_plan(
                trt, builder, logger, work / variant_file(plan.onnx_variant), work / PLAN_NAME, precision=plan,
                profile=profile, hardware_compat=hardware_compat, dla_core=dla_core, workspace_mib=workspace_mib,
                timing_cache=cache_bytes, cache_path=work / TIMING_CACHE_NAME,
            )
        files.append(PLAN_NAME)
        major, minor = device.compute_capability
        target = EngineTarget(
            tensorrt_version=str(trt.__version__), gpu_name=device.name, compute_capability=f"{major}.{minor}",
            driver_version=device.driver_version, platform=platform_tag(), plugin_mode=decision.mode,
            plugin_reason=decision.reason, hardware_compat=hardware_compat, version_compatible=version_compatible,
            strongly_typed=plan.strongly_typed, builder_flags=plan.builder_flags, dla_core=dla_core,
            profile=profile.to_json(), **ptx_record,
        )
        manifest = Manifest(
            backend="tensorrt",
            precision=precision,
            encoding="int8-symmetric" if precision == "int8" else None,
            op_form="plugin" if decision.mode == "aot-qdp" else "standard",
            network={"arch": meta.get("arch", "unknown"), "kwargs": meta.get("kwargs", {})},
            tile_hw=tile_hw,
            input_name=info.input_name,
            input_dtype="float32",
            output_names=outputs,
            model_file=PLAN_NAME,
            files=hash_files(work, files),
            versions=_versions(trt, device, meta.get("opset"), plugin_mode=decision.mode,
                               uses_ort=precision != "fp32"),
            calibration=calibration_record,
            created=utc_now(),
            options={
                "source": str(source), "plugins": plugins, "max_batch": int(max_batch), "opt_batch": profile.opt[0], "dla_core": dla_core,
                "dla_layers": list(info.dla_layers) if info.dla_layers else None, "workspace_mib": int(workspace_mib),
                "timing_cache_reused": info.timing_cache_reused, "threads": threads,
                OPTIONS_KEY: target.to_json(),
            },
        )
        if gate_tiles is not None:
            progress(f"accuracy gate: TensorRT {precision} vs ONNX Runtime FP32 on {gate_tiles.shape[0]} tiles")
            metrics = _gate(work, manifest, reference, gate_tiles, gate_masks, threads=threads, max_drop=max_drop,
                            gate_source=gate_source, out=out)
            manifest = dataclasses.replace(manifest, metrics=metrics)
        write_manifest(work, manifest)
        for name in [*files, TIMING_CACHE_NAME]:
            if (work / name).exists():
                (work / name).chmod(0o666 & ~umask)
        _place(work, out, force=force)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return BuildResult(out, manifest)
