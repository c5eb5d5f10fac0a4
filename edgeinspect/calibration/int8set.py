"""Pick representative tiles for INT8 calibration and write them as ``calib/int8/<name>/``.

Sources:

- an image/mask dataset (any layout :func:`edgeinspect.data.datasets.detect_format` knows): tiles
  are labelled ``defect`` (at least :data:`MIN_DEFECT_PX` defect pixels) or ``free`` (none);
- a folder of images (recursive; ``*_mask*`` files skipped) or one image: no masks, ``unlabelled``;
- a recorded run folder (``summary.json``) of a ``replay:PATH`` source: the replayed images, with
  the run's ``masks/truth`` (else ``masks/pred``) PNGs as labels where they cover an image. A run
  keeps no raw web image otherwise (overlays carry drawn contours), so runs of other sources are
  refused with what to give instead.

Each image is cut into a grid of ``tile_hw`` tiles (an image smaller than a tile is one tile, counted
in ``calib.yaml`` → ``smaller_than_tile_hw`` and warned about; the build's reader resizes it). Selection, seeded and deterministic: half ``defect`` and half ``free``
where both exist, and inside each label round-robin over :data:`BANDS` bands across the width
(left edge … right edge: lens fall-off and edge effects differ there), preferring tiles from
images not used yet. Tiles are written in an order that takes two tiles from each stratum in
turn, so every other entry (what ``edgeinspect build`` holds aside for its accuracy gate) and
the rest are both stratified.

Layout (read by :func:`edgeinspect.export.calibration.load_calibration`, as a list YAML or as
a pairs-layout folder)::

    calib/int8/<name>/calib.yaml      samples: [{image, mask, label, band, origin}], sha256, ...
    calib/int8/<name>/images/NNN-<label>-b<band>.png   8-bit tile (12/16-bit scaled to 0..255)
    calib/int8/<name>/masks/NNN-<label>-b<band>.png    0/255, only when the source has masks

``sha256`` in ``calib.yaml`` is the sha256 of the ``sha256sum``-style listing of the files in
list order (``<file sha256>  <relative path>\\n`` for each image, then its mask): stable for the
same source, seed and options, and checkable with ``sha256sum``.

Example:
    >>> result = select_int8_set(Path("data/aitex"), name="aitex-line3", count=64)
    >>> result.labels, result.sha256[:12]
    ({'defect': 32, 'free': 32}, '3f1c...')
    $ edgeinspect build model.onnx --precision int8 --calib calib/int8/aitex-line3/calib.yaml
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgeinspect.errors import DataError, EdgeInspectError
from edgeinspect.outputs import make_folder

DEFAULT_COUNT = 64
DEFAULT_TILE_HW = (256, 256)
#: Bands across the width tiles are spread over.
BANDS = 4
#: A tile with at least this many defect pixels is a ``defect`` tile; 1..MIN-1 are skipped as ambiguous.
MIN_DEFECT_PX = 8
#: At most this many source images per requested tile are looked at (chosen with the seed).
PIECES_PER_TILE = 8
LIST_NAME = "calib.yaml"
LABEL_ORDER = ("defect", "free", "unlabelled")


@dataclass(frozen=True, slots=True)
class _Piece:
    """One source image: ``load() -> (image (H, W) uint8|uint16, mask (H, W) bool | None)``."""

    name: str
    load: Callable[[], tuple[np.ndarray, np.ndarray | None]]


@dataclass(frozen=True, slots=True)
class _Candidate:
    piece: int
    y0: int
    x0: int
    label: str
    band: int


@dataclass(frozen=True, slots=True)
class Int8Set:
    """A written INT8 calibration set.

    Attributes:
        path: the set's folder (``calib/int8/<name>``).
        list_path: its ``calib.yaml`` (give this to ``edgeinspect build --calib``).
        count: tiles written.
        labels: tiles per label (``defect``, ``free``, ``unlabelled``).
        bands: tiles per band across the width (0 = left).
        sha256: content hash (see the module docstring).
        tile_hw: tile size, px.
        source: what the tiles came from.
        candidates: tiles that could have been picked, per label.
        smaller: tiles smaller than ``tile_hw`` (cut from images smaller than a tile; the build's
            reader resizes them to the engine's input).
    """

    path: Path
    list_path: Path
    count: int
    labels: dict[str, int]
    bands: dict[int, int]
    sha256: str
    tile_hw: tuple[int, int]
    source: str
    candidates: dict[str, int] = field(default_factory=dict)
    smaller: int = 0


def listing_sha256(folder: Path, files: list[str]) -> str:
    """sha256 of ``"<sha256 of file>  <relative path>\\n"`` for each file, in order."""
    from edgeinspect.backends.manifest import sha256_file

    digest = hashlib.sha256()
    for name in files:
        digest.update(f"{sha256_file(Path(folder) / name)}  {name}\n".encode())
    return digest.hexdigest()


def set_files(samples: list[dict]) -> list[str]:
    """Files of a set in list order: each sample's image, then its mask."""
    files = []
    for sample in samples:
        files.append(str(sample["image"]))
        if sample.get("mask"):
            files.append(str(sample["mask"]))
    return files


def verify_int8_set(list_path: Path) -> str:
    """Recompute a set's hash and compare it with its ``calib.yaml``.

    Returns:
        The sha256.

    Raises:
        EdgeInspectError: unreadable list, missing file, or a hash mismatch (a file changed).
    """
    import yaml

    list_path = Path(list_path)
    try:
        data = yaml.safe_load(list_path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise EdgeInspectError(f"{list_path}: cannot read INT8 set list ({error})") from None
    files = set_files(data.get("samples") or [])
    for name in files:
        if not (list_path.parent / name).is_file():
            raise EdgeInspectError(f"{list_path.parent / name}: listed in {list_path.name} but missing; rewrite the set")
    actual = listing_sha256(list_path.parent, files)
    if actual != data.get("sha256"):
        raise EdgeInspectError(f"{list_path}: content sha256 {actual[:12]}… differs from the recorded "
                               f"{str(data.get('sha256'))[:12]}…: a tile changed; "
                               f"rewrite the set with `edgeinspect calib int8`")
    return actual


def _dataset_pieces(root: Path) -> list[_Piece]:
    from edgeinspect.data.datasets import load_sample, open_dataset

    dataset = open_dataset(root)

    def loader(meta):
        def load():
            sample = load_sample(meta)
            return sample.image, sample.mask
        return load

    return [_Piece(str(meta.image_path), loader(meta)) for meta in dataset.entries]


def _image_pieces(files: list[Path]) -> list[_Piece]:
    from edgeinspect.data.imageio import read_image

    return [_Piece(str(path), (lambda p=path: (read_image(p), None))) for path in files]


def _folder_images(root: Path) -> list[Path]:
    import re

    from edgeinspect.data.formats._common import image_files

    mask_stem = re.compile(r".*_mask\d*$", re.IGNORECASE)
    return [p for p in image_files(root, recursive=True) if not mask_stem.fullmatch(p.stem)]


def _run_pieces(run_dir: Path) -> list[_Piece]:
    """The replayed images of a run, with the run's mask PNGs (truth, else pred) as labels."""
    from edgeinspect.acquire.replay import find_replay_images
    from edgeinspect.data.imageio import read_image, read_mask

    try:
        summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise EdgeInspectError(f"{run_dir / 'summary.json'}: unreadable ({error})") from None
    source = str(summary.get("source", ""))
    if not source.startswith("replay:"):
        raise EdgeInspectError(
            f"{run_dir}: this run's source is {source!r} and a run folder keeps no raw web images (overlays carry "
            f"drawn contours): give the images or dataset it inspected, or a run of a replay:PATH source"
        )
    images = find_replay_images(Path(source[len("replay:"):]))
    mask_dir = next((d for d in (run_dir / "masks" / "truth", run_dir / "masks" / "pred")
                     if d.is_dir() and any(d.glob("*.png"))), None)
    mask_files: list[tuple[int, Path]] = []
    if mask_dir is not None:
        mask_files = sorted((int(p.stem), p) for p in mask_dir.glob("*.png") if p.stem.isdigit())
    pieces, first = [], 0
    for path in images:
        image = read_image(path)
        start, stop = first, first + image.shape[0]
        first = stop

        def load(path=path, start=start, stop=stop):
            image = read_image(path)
            mask = np.zeros(image.shape, bool)
            covered = np.zeros(image.shape[0], bool)
            for line, mask_path in mask_files:
                part = read_mask(mask_path)
                lo, hi = max(line, start), min(line + part.shape[0], stop)
                if lo < hi and part.shape[1] == image.shape[1]:
                    mask[lo - start:hi - start] = part[lo - line:hi - line]
                    covered[lo - start:hi - start] = True
            return image, (mask if mask_files and covered.all() else None)

        pieces.append(_Piece(f"{path}@line{start}", load))
    return pieces


def _pieces(source: Path) -> tuple[list[_Piece], str]:
    """Source images and a description of the source kind."""
    from edgeinspect.data.datasets import detect_format
    from edgeinspect.data.imageio import IMAGE_SUFFIXES

    if not source.exists():
        raise EdgeInspectError(f"{source}: not found; give a folder of images, a dataset or a run folder")
    if source.is_file():
        if source.suffix.lower() not in IMAGE_SUFFIXES:
            raise EdgeInspectError(f"{source}: not an image; give a folder of images, a dataset or a run folder")
        return _image_pieces([source]), "image"
    if (source / "summary.json").is_file():
        return _run_pieces(source), "run"
    try:
        kind = detect_format(source)
    except DataError:
        files = _folder_images(source)
        if not files:
            raise EdgeInspectError(f"{source}: no images found (png/jpg/bmp/tif); give a folder of images, "
                                   f"a dataset or a run folder") from None
        return _image_pieces(files), "folder"
    return _dataset_pieces(source), f"dataset:{kind}"


def _grid(length: int, tile: int) -> list[int]:
    """Tile origins along one axis: as many whole tiles as fit, spread evenly (0 if smaller)."""
    if length <= tile:
        return [0]
    n = length // tile
    return sorted(set(np.linspace(0, length - tile, n).round().astype(int).tolist()))


def _candidates(index: int, image: np.ndarray, mask: np.ndarray | None, tile_hw: tuple[int, int]) -> list[_Candidate]:
    height, width = image.shape[:2]
    th, tw = tile_hw
    out = []
    for y0 in _grid(height, th):
        for x0 in _grid(width, tw):
            if mask is None:
                label = "unlabelled"
            else:
                defect_px = int(np.count_nonzero(mask[y0:y0 + th, x0:x0 + tw]))
                if 0 < defect_px < MIN_DEFECT_PX:
                    continue
                label = "defect" if defect_px else "free"
            band = min(BANDS - 1, int((x0 + min(tw, width) / 2) / width * BANDS))
            out.append(_Candidate(index, y0, x0, label, band))
    return out


def _spread_pick(candidates: list[_Candidate], n: int, rng: np.random.Generator) -> list[_Candidate]:
    """``n`` candidates round-robin over bands, each band shuffled with unused images first."""
    bands: dict[int, list[_Candidate]] = {}
    for index in rng.permutation(len(candidates)):
        bands.setdefault(candidates[index].band, []).append(candidates[index])
    for band, items in bands.items():
        seen: dict[int, int] = {}
        keyed = []
        for order, item in enumerate(items):
            keyed.append((seen.get(item.piece, 0), order, item))
            seen[item.piece] = seen.get(item.piece, 0) + 1
        bands[band] = [item for *_, item in sorted(keyed, key=lambda k: (k[0], k[1]))]
    picked: list[_Candidate] = []
    queues = [bands[b] for b in sorted(bands)]
    while len(picked) < n and any(queues):
        for queue in queues:
            if queue and len(picked) < n:
                picked.append(queue.pop(0))
    return picked


def _stratified_order(picked: list[_Candidate]) -> list[_Candidate]:
    """Two tiles per (label, band) stratum in turn, so every other entry is stratified too."""
    strata: dict[tuple[int, int], list[_Candidate]] = {}
    for item in picked:
        strata.setdefault((LABEL_ORDER.index(item.label), item.band), []).append(item)
    queues = [strata[key] for key in sorted(strata)]
    ordered: list[_Candidate] = []
    while any(queues):
        for queue in queues:
            ordered += queue[:2]
            del queue[:2]
    return ordered


def _to_uint8(tile: np.ndarray, bit_depth: int | None) -> np.ndarray:
    """8-bit tile: uint8 as is; uint16 scaled ``value * 255 / (2**bits - 1)`` (the network's input scale)."""
    if tile.dtype == np.uint8:
        return tile
    bits = bit_depth or 16
    return np.clip(np.rint(tile.astype(np.float64) * 255.0 / (2 ** bits - 1)), 0, 255).astype(np.uint8)


def select_int8_set(source: Path, *, name: str, root: Path = Path("calib/int8"), count: int = DEFAULT_COUNT,
                    tile_hw: tuple[int, int] = DEFAULT_TILE_HW, seed: int = 0, bit_depth: int | None = None,
                    force: bool = False) -> Int8Set:
    """Pick ``count`` stratified tiles from ``source`` and write ``root/name`` (see the module docstring).

    Args:
        source: dataset folder, folder of images, one image, or a recorded run folder.
        name: set name (folder name under ``root``).
        root: where sets live.
        count: tiles to write (fewer when the source has fewer).
        tile_hw: tile height and width, px (the engine's input size).
        seed: selection seed.
        bit_depth: significant bits of 16-bit images (default 16); 8-bit images are written as is.
        force: replace an existing set of that name.

    Returns:
        The :class:`Int8Set`.

    Raises:
        EdgeInspectError: bad options, unreadable/empty source, or the set exists (without ``force``).
    """
    import yaml

    from edgeinspect.data.imageio import write_png

    if not name or any(c in name for c in "/\\") or name.startswith("."):
        raise EdgeInspectError(f"--name {name!r}: give a plain folder name (not empty, no '/', not starting with '.')")
    if count < 1:
        raise EdgeInspectError(f"--count must be >= 1, got {count}")
    if len(tile_hw) != 2 or min(tile_hw) < 8:
        raise EdgeInspectError(f"--tile must be HxW with both >= 8 px, got {tile_hw}")
    if bit_depth is not None and not 8 <= bit_depth <= 16:
        raise EdgeInspectError(f"--bit-depth must be 8..16, got {bit_depth}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:  # numpy refuses a negative seed
        raise EdgeInspectError(f"--seed must be an integer >= 0, got {seed!r}")
    source = Path(source)
    out = Path(root) / name
    if out.exists():
        if not force:
            raise EdgeInspectError(f"{out}: exists; choose another --name or pass --force to replace it")
        if not (out / LIST_NAME).is_file():
            raise EdgeInspectError(f"{out}: exists and is not an INT8 set (no {LIST_NAME}); remove it yourself")
    pieces, kind = _pieces(source)
    rng = np.random.default_rng(seed)
    limit = PIECES_PER_TILE * count
    chosen = sorted(rng.choice(len(pieces), limit, replace=False).tolist()) if len(pieces) > limit else range(len(pieces))
    candidates: list[_Candidate] = []
    for index in chosen:
        image, mask = pieces[index].load()
        candidates += _candidates(index, image, mask, tile_hw)
    by_label: dict[str, list[_Candidate]] = {}
    for item in candidates:
        by_label.setdefault(item.label, []).append(item)
    if not candidates:
        raise EdgeInspectError(f"{source}: no usable tiles (every tile has 1..{MIN_DEFECT_PX - 1} defect pixels?)")
    if "defect" in by_label and "free" in by_label:
        n_defect = min(len(by_label["defect"]), max(count - len(by_label["free"]), (count + 1) // 2))
        quotas = {"defect": n_defect, "free": min(len(by_label["free"]), count - n_defect)}
    else:
        quotas = {label: min(len(items), count) for label, items in by_label.items()}
    picked = []
    for label in LABEL_ORDER:
        if label in quotas:
            picked += _spread_pick(by_label[label], quotas[label], rng)
    ordered = _stratified_order(picked)

    make_folder(out.parent, option="--root")
    work = out.with_name(f".{name}.tmp")
    if work.exists():
        shutil.rmtree(work)
    (work / "images").mkdir(parents=True)
    samples: list[dict] = []
    cache: dict[int, tuple[np.ndarray, np.ndarray | None]] = {}
    th, tw = tile_hw
    smaller = 0
    for number, item in enumerate(ordered):
        if item.piece not in cache:
            cache.clear()
            cache[item.piece] = pieces[item.piece].load()
        image, mask = cache[item.piece]
        tile = _to_uint8(image[item.y0:item.y0 + th, item.x0:item.x0 + tw], bit_depth)
        stem = f"{number:03d}-{item.label}-b{item.band}"
        write_png(work / "images" / f"{stem}.png", np.ascontiguousarray(tile))
        sample = {"image": f"images/{stem}.png"}
        if mask is not None:
            (work / "masks").mkdir(exist_ok=True)
            tile_mask = mask[item.y0:item.y0 + th, item.x0:item.x0 + tw]
            write_png(work / "masks" / f"{stem}.png", np.ascontiguousarray(tile_mask.astype(np.uint8) * 255))
            sample["mask"] = f"masks/{stem}.png"
        sample.update(label=item.label, band=item.band,
                      origin=f"{pieces[item.piece].name}#x{item.x0},y{item.y0}")
        samples.append(sample)
        smaller += tile.shape[:2] != (th, tw)
    digest = listing_sha256(work, set_files(samples))
    labels = {label: sum(s["label"] == label for s in samples) for label in LABEL_ORDER
              if any(s["label"] == label for s in samples)}
    bands = {band: sum(s["band"] == band for s in samples) for band in range(BANDS)}
    document = {
        "name": name,
        "written_by": "edgeinspect calib int8",
        "source": str(source),
        "source_kind": kind,
        "tile_hw": [th, tw],
        "seed": int(seed),
        "count": len(samples),
        "smaller_than_tile_hw": smaller,
        "labels": labels,
        "bands": bands,
        "sha256": digest,
        "sha256_of": "sha256sum-style listing '<file sha256>  <path>\\n' of images and masks in list order",
        "samples": samples,
    }
    header = (f"# INT8 calibration set '{name}' written by `edgeinspect calib int8`.\n"
              f"# Use: edgeinspect build MODEL --precision int8 --calib {out / LIST_NAME}\n")
    (work / LIST_NAME).write_text(header + yaml.safe_dump(document, sort_keys=False, width=120), encoding="utf-8")
    if out.exists():
        shutil.rmtree(out)
    work.rename(out)
    return Int8Set(out, out / LIST_NAME, len(samples), labels, bands, digest, (th, tw), str(source),
                   {label: len(items) for label, items in by_label.items()}, smaller)
