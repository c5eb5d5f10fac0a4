"""``engines/<name>/manifest.json``: what an engine folder holds, written from one dataclass.

The manifest names the network, the tile size, the input/output tensors, precision, backend and op
form, the versions that built it, the sha256 of every file it lists, the INT8 calibration set and the
FP32-vs-INT8 accuracy measured at build time. :func:`read_manifest` refuses a folder whose manifest
is missing, lacks a key, or whose files no longer match their sha256 (edited or truncated after the
build): the message names the file and says to rebuild.

Example:
    >>> manifest = read_manifest(Path("engines/lite-int8"))
    >>> manifest.backend, manifest.precision, manifest.tile_hw
    ('openvino', 'int8', (256, 256))
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeinspect.errors import EdgeInspectError

MANIFEST_NAME = "manifest.json"
#: Bumped when a key changes meaning; readers refuse newer schemas.
SCHEMA_VERSION = 1
#: Precisions an engine folder can hold (TensorRT builds FP16 too).
PRECISIONS = ("fp32", "fp16", "int8")
REBUILD_HINT = "rebuild it with `edgeinspect build ... --out <folder>`"


@dataclass(frozen=True, slots=True)
class Manifest:
    """Everything an engine folder promises; ``manifest.json`` is this dataclass as JSON.

    Attributes:
        backend: ``"openvino"``, ``"onnxruntime"`` or ``"tensorrt"``.
        precision: ``"fp32"``, ``"fp16"`` (TensorRT) or ``"int8"``.
        encoding: INT8 encoding of the file the backend runs: ``"int8-symmetric"`` (canonical QDQ,
            TensorRT/OpenVINO), ``"uint8-asymmetric"`` (ONNX Runtime CPU re-encoding); ``None`` for FP32.
        op_form: ``"standard"`` (standard ONNX ops) or ``"plugin"`` (TensorRT plugin nodes).
        network: ``{"arch": str, "kwargs": dict}`` as in the checkpoint (registry name + init kwargs).
        tile_hw: engine input height and width, pixels.
        input_name: the one input, ``(N,1,H,W)`` float32 pixel values in [0,255].
        input_dtype: dtype of the graph input (``"float32"``); engines also accept uint8.
        output_names: ``("prob",)`` or ``("prob", "loc")``, each ``(N,1,H,W)`` float32 in [0,1].
        model_file: the file the backend loads (relative to the folder).
        files: ``{relative name: sha256 hex}`` of every artefact (ONNX files, calibration ranges, ...).
        versions: ``{"edgeinspect", "onnx_opset", "openvino"|"onnxruntime", ...}`` that built it.
        calibration: INT8 only: ``{"source", "sha256", "count", "held_out", "truth"}``.
        metrics: INT8 only: ``{"fp32": {...}, "int8": {...}, "miou_drop": float, "max_drop": float}``,
            mIoU in percent points.
        thresholds: ``{"prob": 0.5}``: a pixel is a defect where prob >= this.
        created: ISO 8601 UTC build time.
        options: backend options used at build (e.g. threads), informative.
        schema_version: manifest format version.
    """

    backend: str
    precision: str
    encoding: str | None
    op_form: str
    network: dict[str, Any]
    tile_hw: tuple[int, int]
    input_name: str
    input_dtype: str
    output_names: tuple[str, ...]
    model_file: str
    files: dict[str, str]
    versions: dict[str, Any]
    calibration: dict[str, Any] | None = None
    metrics: dict[str, Any] | None = None
    thresholds: dict[str, float] = field(default_factory=lambda: {"prob": 0.5})
    created: str = ""
    options: dict[str, Any] = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION

    def to_json(self) -> dict[str, Any]:
        """The manifest as a JSON-ready dict (tuples become lists)."""
        data = dataclasses.asdict(self)
        data["tile_hw"] = list(self.tile_hw)
        data["output_names"] = list(self.output_names)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any], *, source: Path) -> Manifest:
        """Rebuild a manifest from its JSON dict; a missing key or bad value names ``source``.

        Raises:
            EdgeInspectError: a required key is missing, the schema is newer, or a value has the wrong type.
        """
        if not isinstance(data, dict):
            raise EdgeInspectError(f"{source}: not a JSON object; {REBUILD_HINT}")
        known = {f.name: f for f in dataclasses.fields(cls)}
        for name, spec in known.items():
            required = spec.default is dataclasses.MISSING and spec.default_factory is dataclasses.MISSING
            if required and name not in data:
                raise EdgeInspectError(f"{source}: missing key '{name}'; {REBUILD_HINT}")
        version = data.get("schema_version", SCHEMA_VERSION)
        if not isinstance(version, int) or version > SCHEMA_VERSION:
            raise EdgeInspectError(
                f"{source}: schema_version {version!r} is newer than this edgeinspect reads ({SCHEMA_VERSION}); "
                "upgrade edgeinspect or rebuild the engine"
            )
        values = {name: data[name] for name in known if name in data}
        try:
            height, width = (int(v) for v in values["tile_hw"])
            if height <= 0 or width <= 0:
                raise ValueError(f"tile_hw must be two positive sizes, got {values['tile_hw']!r}")
            values["tile_hw"] = (height, width)
            values["output_names"] = tuple(str(n) for n in values["output_names"])
            files = values["files"]
            if not isinstance(files, dict) or not all(isinstance(v, str) for v in files.values()):
                raise TypeError("files must map names to sha256 strings")
            if not isinstance(values["network"], dict) or not isinstance(values["network"].get("arch"), str):
                raise TypeError("network must be {'arch': ..., 'kwargs': ...}")
            if values["precision"] not in PRECISIONS:
                raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {values['precision']!r}")
            thresholds = values.get("thresholds", {})
            if not isinstance(thresholds, dict) or not all(
                    isinstance(v, (int, float)) and not isinstance(v, bool) and 0.0 <= v <= 1.0
                    for v in thresholds.values()):
                raise ValueError(f"thresholds must map names to probabilities in [0, 1], got {thresholds!r}")
        except (TypeError, ValueError) as error:
            raise EdgeInspectError(f"{source}: bad value ({error}); {REBUILD_HINT}") from None
        if values["model_file"] not in values["files"]:
            raise EdgeInspectError(f"{source}: model_file {values['model_file']!r} is not listed in 'files'; {REBUILD_HINT}")
        return cls(**values)


def sha256_file(path: Path, *, chunk_bytes: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as stream:
        while block := stream.read(chunk_bytes):
            digest.update(block)
    return digest.hexdigest()


def hash_files(folder: Path, names: list[str] | tuple[str, ...]) -> dict[str, str]:
    """``{name: sha256}`` for files in ``folder`` (names relative to it, sorted)."""
    return {name: sha256_file(Path(folder) / name) for name in sorted(names)}


def utc_now() -> str:
    """Current time as ISO 8601 UTC with seconds, e.g. ``2026-05-01T12:00:00Z``."""
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def write_manifest(folder: Path, manifest: Manifest) -> Path:
    """Write ``folder/manifest.json`` (indented, keys in dataclass order) and return its path."""
    path = Path(folder) / MANIFEST_NAME
    path.write_text(json.dumps(manifest.to_json(), indent=2) + "\n", encoding="utf-8")
    return path


def read_manifest(folder: Path, *, verify: bool = True) -> Manifest:
    """Read and check ``folder/manifest.json``.

    Args:
        folder: an engine folder written by ``edgeinspect build``.
        verify: also check every listed file exists and matches its sha256.

    Returns:
        The manifest.

    Raises:
        EdgeInspectError: the folder or manifest is missing or unreadable, a key is missing, or a
            listed file is missing or was changed after the build (names the file; says to rebuild).
    """
    folder = Path(folder)
    path = folder / MANIFEST_NAME
    if not folder.is_dir():
        raise EdgeInspectError(f"{folder}: engine folder not found; build one with `edgeinspect build ... --out {folder}`")
    if not path.is_file():
        raise EdgeInspectError(f"{path}: manifest missing, not an engine folder; {REBUILD_HINT}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise EdgeInspectError(f"{path}: unreadable manifest ({error}); {REBUILD_HINT}") from None
    manifest = Manifest.from_json(data, source=path)
    if verify:
        verify_files(folder, manifest)
    return manifest


def verify_files(folder: Path, manifest: Manifest) -> None:
    """Check every file the manifest lists exists and matches its sha256.

    Raises:
        EdgeInspectError: naming the first missing or changed file.
    """
    for name, expected in manifest.files.items():
        file = Path(folder) / name
        if not file.is_file():
            raise EdgeInspectError(f"{file}: listed in {MANIFEST_NAME} but missing; {REBUILD_HINT}")
        actual = sha256_file(file)
        if actual != expected:
            raise EdgeInspectError(
                f"{file}: sha256 {actual[:12]}… does not match {MANIFEST_NAME} ({expected[:12]}…), "
                f"the file changed after the build; {REBUILD_HINT}"
            )
