"""INT8 calibration tiles and the held-aside tiles (with masks) the accuracy gate scores. No torch.

:func:`load_calibration` reads one of:

- ``None``: the default set, cut from synthetic webs (:class:`edgeinspect.data.synth.SyntheticWeb`,
  every texture, fixed seeds, tiles at the model's input size). Held-aside tiles come from other
  seeds, so they never overlap the calibration tiles, and have exact masks.
- an image/mask dataset folder (any layout :func:`edgeinspect.data.datasets.detect_format` knows):
  calibration from its train+val split, held-aside tiles (with masks) from its test split.
- a folder of images (no masks): every image calibrates; no held-aside tiles.
- a calibration list YAML: ``samples:`` (or a top-level list) of entries, each an image path or glob,
  or ``{image: PATH, mask: PATH}``; paths relative to the YAML. Entries with masks are held aside
  (every other one, at most ``held_out``); the rest calibrate.

Every image is read as a gray plane, scaled to 8-bit values (uint16 → ``value * 255 / 65535``) and
resized to the tile size (``cv2.INTER_AREA`` when shrinking, ``INTER_LINEAR`` otherwise; masks
``INTER_NEAREST``), giving ``(N,1,H,W)`` float32 in [0,255] — the network's input.

Example:
    >>> calib = load_calibration(None, tile_hw=(256, 256))
    >>> calib.tiles.shape, calib.held_out_masks.shape
    ((32, 1, 256, 256), (16, 256, 256))
"""

from __future__ import annotations

import glob
import hashlib
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edgeinspect.backends.evaluate import image_to_tile as to_tile
from edgeinspect.errors import DataError, EdgeInspectError

#: Default number of calibration tiles and of held-aside gate tiles. 256 calibration tiles fill the
#: percentile histograms (the bundled model's INT8 drop: 0.52 → 0.30 points with ONNX Runtime from
#: 128 → 256); 128 gate tiles, as a 32-tile gate measured 0.6 points where 256 tiles measured 1.9.
DEFAULT_COUNT = 256
DEFAULT_HELD_OUT = 128
#: Seeds of the default synthetic set: calibration webs ``CALIB_SEED + i``, gate webs ``GATE_SEED + i``.
CALIB_SEED = 1000
GATE_SEED = 2000


@dataclass(frozen=True, slots=True)
class CalibrationSet:
    """Calibration tiles plus held-aside tiles with truth masks.

    Attributes:
        tiles: ``(N,1,H,W)`` float32 pixel values in [0,255]: what calibration runs.
        held_out: ``(M,1,H,W)`` float32 in [0,255], ``M`` may be 0 (source without masks).
        held_out_masks: ``(M,H,W)`` bool truth of ``held_out``.
        source: what the tiles came from (``"synthetic:carbon,fabric,..."`` or a path).
        sha256: hex sha256 of the calibration tiles (shape + float32 bytes).
    """

    tiles: np.ndarray
    held_out: np.ndarray
    held_out_masks: np.ndarray
    source: str
    sha256: str

    def describe(self) -> dict[str, object]:
        """Manifest record: source, sha256, calibration count, held-aside count."""
        return {"source": self.source, "sha256": self.sha256, "count": int(self.tiles.shape[0]),
                "held_out": int(self.held_out.shape[0])}


def tiles_sha256(tiles: np.ndarray) -> str:
    """sha256 of a tile stack: its shape then its float32 bytes."""
    digest = hashlib.sha256(repr(tuple(tiles.shape)).encode())
    digest.update(np.ascontiguousarray(tiles, dtype=np.float32).tobytes())
    return digest.hexdigest()


def to_tile_mask(mask: np.ndarray, tile_hw: tuple[int, int]) -> np.ndarray:
    """``(h, w)`` bool → ``(H, W)`` bool at the tile size (nearest neighbour)."""
    height, width = tile_hw
    mask = np.asarray(mask, dtype=bool)
    if mask.shape == (height, width):
        return mask
    return cv2.resize(mask.astype(np.uint8), (width, height), interpolation=cv2.INTER_NEAREST).astype(bool)


def _stack(tiles: list[np.ndarray], tile_hw: tuple[int, int]) -> np.ndarray:
    if not tiles:
        return np.zeros((0, 1, *tile_hw), np.float32)
    return np.stack(tiles).astype(np.float32, copy=False)


def _stack_masks(masks: list[np.ndarray], tile_hw: tuple[int, int]) -> np.ndarray:
    if not masks:
        return np.zeros((0, *tile_hw), bool)
    return np.stack(masks)


def _finish(tiles, held, masks, tile_hw, source) -> CalibrationSet:
    stacked = _stack(tiles, tile_hw)
    if stacked.shape[0] == 0:
        raise EdgeInspectError(f"{source}: no calibration images found; give a folder of images, a dataset or a calib list YAML")
    return CalibrationSet(stacked, _stack(held, tile_hw), _stack_masks(masks, tile_hw), str(source), tiles_sha256(stacked))


def _synthetic_tiles(tile_hw: tuple[int, int], count: int) -> list[np.ndarray]:
    """``count`` calibration tiles: consecutive strips of webs seeded ``CALIB_SEED + i``, textures interleaved."""
    from edgeinspect.data.synth import TEXTURES, SyntheticWeb

    height, width = tile_hw
    per_texture = -(-count // len(TEXTURES))
    tiles: list[np.ndarray] = []
    for index, texture in enumerate(TEXTURES):
        web = SyntheticWeb(width, texture=texture, seed=CALIB_SEED + index)
        tiles += [to_tile(web.render(k * height, height).image, tile_hw) for k in range(per_texture)]
    return [tiles[i] for i in _round_robin(len(TEXTURES), per_texture)][:count]


def synthetic_gate_set(tile_hw: tuple[int, int], count: int = DEFAULT_HELD_OUT) -> tuple[np.ndarray, np.ndarray]:
    """Held-aside tiles with exact masks from webs seeded ``GATE_SEED + i`` (never calibration webs).

    Per texture, tiles showing a defect are preferred for about half the tiles; the rest are clean
    tiles as the web gives them (a gate must also see that clean web stays clean).

    Returns:
        ``((M,1,H,W) float32 in [0,255], (M,H,W) bool)``.
    """
    from edgeinspect.data.synth import TEXTURES, SyntheticWeb

    height, width = tile_hw
    held: list[np.ndarray] = []
    masks: list[np.ndarray] = []
    per_texture = -(-count // len(TEXTURES))
    for index, texture in enumerate(TEXTURES):
        web = SyntheticWeb(width, texture=texture, seed=GATE_SEED + index)
        strips = [web.render(k * height, height) for k in range(4 * per_texture)]
        with_defect = [s for s in strips if s.mask.any()]
        clean = [s for s in strips if not s.mask.any()]
        wanted = min(len(with_defect), max(per_texture - per_texture // 2, 1))
        chosen = with_defect[:wanted] + clean[: per_texture - wanted]
        chosen += with_defect[wanted : wanted + per_texture - len(chosen)]
        held += [to_tile(strip.image, tile_hw) for strip in chosen]
        masks += [to_tile_mask(strip.mask, tile_hw) for strip in chosen]
    order = _round_robin(len(TEXTURES), per_texture) if len(held) == per_texture * len(TEXTURES) else range(len(held))
    held, masks = [held[i] for i in order][:count], [masks[i] for i in order][:count]
    return _stack(held, tile_hw), _stack_masks(masks, tile_hw)


def synthetic_calibration(
    tile_hw: tuple[int, int], *, count: int = DEFAULT_COUNT, held_out: int = DEFAULT_HELD_OUT
) -> CalibrationSet:
    """The default set: ``count`` tiles cut from synthetic webs of every texture plus the gate set
    (:func:`synthetic_gate_set`); deterministic."""
    from edgeinspect.data.synth import TEXTURES

    tiles = _stack(_synthetic_tiles(tile_hw, count), tile_hw)
    held, masks = synthetic_gate_set(tile_hw, held_out) if held_out > 0 else (_stack([], tile_hw), _stack_masks([], tile_hw))
    return CalibrationSet(tiles, held, masks, "synthetic:" + ",".join(TEXTURES), tiles_sha256(tiles))


def _round_robin(groups: int, per_group: int) -> list[int]:
    """Indices interleaving ``groups`` consecutive blocks of ``per_group`` (so a cut keeps every texture)."""
    return [g * per_group + k for k in range(per_group) for g in range(groups)]


def _dataset_calibration(root: Path, tile_hw, count: int, held_out: int) -> CalibrationSet:
    from edgeinspect.data.datasets import load_sample, open_dataset

    dataset = open_dataset(root)
    calib_entries = list(dataset.split("train").entries) + list(dataset.split("val").entries)
    test_entries = list(dataset.split("test").entries)
    if not test_entries:  # too small to split: hold the last sample aside
        test_entries = list(dataset.entries[-1:])
        calib_entries = [e for e in calib_entries if e not in test_entries]
    held, masks = [], []
    for meta in test_entries[:held_out]:
        sample = load_sample(meta)
        held.append(to_tile(sample.image, tile_hw))
        masks.append(to_tile_mask(sample.mask, tile_hw))
    tiles = [to_tile(load_sample(meta).image, tile_hw) for meta in _spread(calib_entries, count)]
    if not tiles:  # a one-sample dataset: calibrate on the held-aside image too
        tiles = list(held)
    return _finish(tiles, held, masks, tile_hw, root)


def _folder_calibration(root: Path, tile_hw, count: int) -> CalibrationSet:
    from edgeinspect.data.formats._common import image_files
    from edgeinspect.data.imageio import read_image

    files = image_files(root, recursive=True)
    if not files:
        raise EdgeInspectError(f"{root}: no images found (png/jpg/bmp/tif); give a folder of images, a dataset or a calib list YAML")
    tiles = [to_tile(read_image(path), tile_hw) for path in _spread(files, count)]
    return _finish(tiles, [], [], tile_hw, root)


def _spread(items: list, count: int) -> list:
    """At most ``count`` items evenly spread over the list (all of them when there are fewer)."""
    if len(items) <= count:
        return list(items)
    picks = np.linspace(0, len(items) - 1, count).round().astype(int)
    return [items[i] for i in picks]


def _yaml_calibration(path: Path, tile_hw, count: int, held_out: int, *, hold_step: int = 2) -> CalibrationSet:
    import yaml

    from edgeinspect.data.imageio import read_image, read_mask

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise EdgeInspectError(f"{path}: cannot read calibration list ({error})") from None
    entries = data.get("samples") if isinstance(data, dict) else data
    if not isinstance(entries, list) or not entries:
        raise EdgeInspectError(f"{path}: key 'samples' must be a non-empty list of image paths or {{image, mask}} entries")
    base = path.parent
    pairs: list[tuple[Path, Path | None]] = []
    for number, entry in enumerate(entries):
        if isinstance(entry, str):
            matches = sorted(glob.glob(str(base / entry))) if any(c in entry for c in "*?[") else [str(base / entry)]
            if not matches:
                raise EdgeInspectError(f"{path}: samples[{number}] {entry!r} matches no file")
            pairs += [(Path(m), None) for m in matches]
        elif isinstance(entry, dict) and "image" in entry:
            mask = entry.get("mask")
            pairs.append((base / str(entry["image"]), base / str(mask) if mask else None))
        else:
            raise EdgeInspectError(f"{path}: samples[{number}] must be a path or {{image: PATH, mask: PATH}}, got {entry!r}")
    with_mask = [p for p in pairs if p[1] is not None]
    held_pairs = with_mask[::hold_step][:held_out]
    held_set = {p[0] for p in held_pairs}
    calib_pairs = [p for p in pairs if p[0] not in held_set] or list(held_pairs)
    try:
        tiles = [to_tile(read_image(image), tile_hw) for image, _ in _spread(calib_pairs, count)]
        held = [to_tile(read_image(image), tile_hw) for image, _ in held_pairs]
        masks = [to_tile_mask(read_mask(mask), tile_hw) for _, mask in held_pairs]
    except DataError as error:
        raise EdgeInspectError(f"{error} (listed in {path})") from None
    return _finish(tiles, held, masks, tile_hw, path)


def load_calibration(
    source: Path | str | None,
    *,
    tile_hw: tuple[int, int],
    count: int = DEFAULT_COUNT,
    held_out: int = DEFAULT_HELD_OUT,
) -> CalibrationSet:
    """Calibration tiles and held-aside gate tiles from a source (see the module docstring).

    Args:
        source: ``None`` (synthetic default), a dataset folder, a folder of images or a ``.yaml`` list.
        tile_hw: the network input ``(H, W)``.
        count: at most this many calibration tiles.
        held_out: at most this many held-aside tiles (with masks).

    Returns:
        The :class:`CalibrationSet`.

    Raises:
        EdgeInspectError: the source is missing, empty or unreadable (names the file).
    """
    if count < 1:
        raise EdgeInspectError(f"calibration count must be >= 1, got {count}")
    if source is None:
        return synthetic_calibration(tile_hw, count=count, held_out=held_out)
    path = Path(source)
    if not path.exists():
        raise EdgeInspectError(f"{path}: calibration source not found; give a folder of images, a dataset or a calib list YAML")
    if path.is_file():
        if path.suffix.lower() not in (".yaml", ".yml"):
            raise EdgeInspectError(f"{path}: a calibration file must be a .yaml list; or give a folder of images")
        return _yaml_calibration(path, tile_hw, count, held_out)
    from edgeinspect.data.datasets import detect_format

    try:
        detect_format(path)
    except DataError:
        return _folder_calibration(path, tile_hw, count)
    return _dataset_calibration(path, tile_hw, count, held_out)


def load_gate_set(source: Path | str, *, tile_hw: tuple[int, int], count: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Labelled tiles for the accuracy gate from a dataset folder or a calibration list YAML.

    Every sample with a mask counts (at most ``count``, spread over the set).

    Returns:
        ``((M,1,H,W) float32 in [0,255], (M,H,W) bool)``.

    Raises:
        EdgeInspectError: missing source, or no sample with a mask.
    """
    path = Path(source)
    if not path.exists():
        raise EdgeInspectError(f"{path}: gate data not found; give an image/mask dataset folder or a calib list YAML")
    pairs: list[tuple[np.ndarray, np.ndarray]] = []
    if path.is_file():
        labelled = _yaml_calibration(path, tile_hw, 1, count, hold_step=1)
        return labelled.held_out, labelled.held_out_masks
    from edgeinspect.data.datasets import load_sample, open_dataset

    try:
        dataset = open_dataset(path)
    except DataError as error:
        raise EdgeInspectError(f"{error}; the gate needs images with masks") from None
    for meta in _spread(list(dataset.entries), count):
        sample = load_sample(meta)
        pairs.append((to_tile(sample.image, tile_hw), to_tile_mask(sample.mask, tile_hw)))
    return _stack([p[0] for p in pairs], tile_hw), _stack_masks([p[1] for p in pairs], tile_hw)
