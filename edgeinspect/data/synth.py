"""Synthetic line-scan web: an endless textured surface with defects and their exact masks.

A :class:`SyntheticWeb` is a web ``width`` px wide and as long as you like, rendered line range
by line range, deterministic by seed: a line has the same pixels whatever range it is rendered
in, so a camera simulator can stream it frame by frame and ground truth can be cut anywhere.

How it is built:

- Texture (``carbon``, ``fabric``, ``ceramic``, ``steel``; see :mod:`edgeinspect.data.synth_textures`):
  two periodic layers made once in ``__init__`` (periods 448 and 625 lines, together 44 800 lines).
- Defects (see :mod:`edgeinspect.data.synth_defects`): the web is cut into blocks of
  ``BLOCK_LINES`` (256) lines; block ``b`` gets ``Poisson(defects_per_mpx · 256 · width / 10⁶)``
  candidate defects seeded by ``(seed, texture, b, k)``, each starting in its block and reaching at most
  ``MAX_DEFECT_LINES`` (500) lines down, so defects straddle blocks and frames. A candidate is kept
  unless it comes within ``DEFECT_MARGIN_PX`` of a kept defect of its block or of any candidate of
  the two blocks before it: kept defects never touch, each is one 8-connected region with its own
  id (``256·b + k + 1``: unique on the web, not consecutive), and the decision needs only blocks
  ``b-2 .. b`` (random access along the web).
- Line-scan artefacts (``artefacts=True``): illumination fall-off across the width (10..35 % at the
  edges), per-column gain (fixed-pattern noise, 1.5 % rms, fixed per web), line jitter (each line
  of the texture shifted by up to ±2 px, a slow wander plus per-line noise) and shot noise
  (σ = 0.25·√value grey levels at 8-bit scale). Defects are drawn in web coordinates (no jitter);
  gain and noise apply to them too.
- Output: 8-bit (uint8) or 12-bit (uint16, values 0..4095) images; masks and defect ids exact.

Example:
    >>> web = SyntheticWeb(2048, texture="fabric", seed=3)
    >>> strip = web.render(10_000, 1024)             # lines 10 000 .. 11 023
    >>> strip.image.shape, strip.image.dtype, strip.mask.sum() == (strip.defect_ids > 0).sum()
    ((1024, 2048), dtype('uint8'), True)
    >>> truths = web.defects(10_000, 11_024)         # full bbox/area, also beyond the range
    >>> write_synth_dataset(Path("demo"), count=8, size_hw=(256, 256), texture="carbon", seed=1)
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.lib.stride_tricks import as_strided

from edgeinspect.data.imageio import write_png
from edgeinspect.data.packed_mask import pack_mask, unpack_mask
from edgeinspect.data.synth_defects import DEFECT_BUILDERS, MAX_DEFECT_PX, DefectPatch, largest_component
from edgeinspect.data.synth_textures import SHADING_LINES, STRUCTURE_LINES, build_texture, periodic_noise
from edgeinspect.errors import DataError, EdgeInspectError, cannot_write
from edgeinspect.outputs import check_folder_path

__all__ = [
    "TEXTURES", "DEFECT_KINDS", "DEFAULT_DEFECTS_PER_MPX", "BLOCK_LINES", "MAX_DEFECT_LINES",
    "DefectTruth", "WebStrip", "SyntheticWeb", "write_synth_dataset",
]

#: Surface textures a web can have.
TEXTURES = ("carbon", "fabric", "ceramic", "steel")
#: Defect kinds, drawn with equal probability.
DEFECT_KINDS = ("hairball", "crack", "blowhole", "scratch", "stain", "hole")
#: Default candidate defects per megapixel of web (≈ 1.3 per 256×256 image; a few are dropped
#: where they would touch another defect).
DEFAULT_DEFECTS_PER_MPX = 20.0
#: Lines per defect block: the unit of defect seeding.
BLOCK_LINES = 256
#: Largest height of a defect along the web, lines.
MAX_DEFECT_LINES = MAX_DEFECT_PX
#: Smallest gap kept between two defects, px (so their masks never touch, even diagonally).
DEFECT_MARGIN_PX = 2
#: Largest line jitter, px.
JITTER_PX = 2

_MAX_DEFECTS_PER_BLOCK = 255            # ids: block * 256 + k + 1 fit int32 up to line 2**31 - 1
_REACH_BLOCKS = (BLOCK_LINES - 1 + MAX_DEFECT_LINES - 1 + DEFECT_MARGIN_PX) // BLOCK_LINES
_MAX_LINE = (np.iinfo(np.int32).max // (_MAX_DEFECTS_PER_BLOCK + 1)) * BLOCK_LINES
_JITTER_PERIOD = 4093                   # lines (prime)
_NOISE_ROWS = 257                       # rows of the shot-noise table
_SHOT_NOISE = 0.25                      # σ = _SHOT_NOISE·√value, 8-bit grey levels
_CACHE_BLOCKS = 48
_TRUTH_CACHE_BLOCKS = 65536                # truth records kept: 16.7 M lines (~360 MB at 2048 px, their packed masks included)
_CHUNK_LINES = 64                       # lines rendered at a time (cache-sized temporaries)
_TAG_TEXTURE, _TAG_ARTEFACTS, _TAG_DEFECTS, _TAG_NOISE = 0x7E47, 0xA27E, 0xDEFE, 0x5407


@dataclass(frozen=True, slots=True)
class DefectTruth:
    """One physical defect on the web, full extent.

    Attributes:
        id: Defect id (> 0), unique on the web; the value in :attr:`WebStrip.defect_ids`.
        kind: One of :data:`DEFECT_KINDS`.
        bbox: ``(x0, y0, x1, y1)`` px, x = column, y = web line, x1/y1 exclusive; tight.
        area_px: Number of defect pixels on the whole web, px.
        mask_packed: Its exact pixels, the ``(y1-y0, x1-x0)`` bool mask over ``bbox``, as
            :func:`edgeinspect.data.packed_mask.pack_mask` text (~190 characters for a typical defect;
            :meth:`mask` unpacks it); empty when not kept.
    """

    id: int
    kind: str
    bbox: tuple[int, int, int, int]
    area_px: int
    mask_packed: str = ""

    def mask(self) -> np.ndarray:
        """``(y1-y0, x1-x0)`` bool: the defect's pixels in its box."""
        x0, y0, x1, y1 = self.bbox
        return unpack_mask(self.mask_packed, (y1 - y0, x1 - x0))


@dataclass(frozen=True, slots=True, eq=False)
class WebStrip:
    """Lines ``[first_line, first_line + n_lines)`` of a web.

    Attributes:
        first_line: Web line of row 0.
        image: ``(n_lines, width)`` uint8 (bit depth 8) or uint16 (bit depth 12, values 0..4095).
        mask: ``(n_lines, width)`` bool, exact defect pixels (``defect_ids > 0``).
        defect_ids: ``(n_lines, width)`` int32, 0 = background, else :attr:`DefectTruth.id`.
    """

    first_line: int
    image: np.ndarray
    mask: np.ndarray
    defect_ids: np.ndarray


@dataclass(frozen=True, slots=True, eq=False)
class _Placed:
    """A kept defect: truth plus what render needs. mul/add are per mask pixel, row-major."""

    truth: DefectTruth
    mask: np.ndarray        # (h, w) bool over truth.bbox
    mul: np.ndarray         # (area,) float32: 1 - alpha
    add: np.ndarray         # (area,) float32: alpha * target
    row_start: np.ndarray   # (h + 1,) int64: offset of each mask row in mul/add


#: Widest synthetic web, px (as ``edgeinspect.config.MAX_SOURCE_WIDTH_PX``).
MAX_WEB_WIDTH_PX = 65536


def _check_int(name: str, value: object, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise EdgeInspectError(f"synthetic web: {name} must be an integer >= {low}, got {value!r}")
    return int(value)


class SyntheticWeb:
    """An endless synthetic web ``width`` px wide, rendered by line range (see module docstring).

    Args:
        width: Pixels per line (>= 16).
        texture: One of :data:`TEXTURES`.
        seed: Web seed (>= 0); same seed and options, same web.
        bit_depth: 8 → uint8 images; 12 → uint16 images with values 0..4095.
        defects_per_mpx: Candidate defects per megapixel of web (>= 0; 0 = defect-free web).
            At most 128 per 256-line block on average (≈ 122/Mpx at width 4096).
        artefacts: Add fall-off, column gain, line jitter and shot noise.
        kinds: Defect kinds to draw (a subset of :data:`DEFECT_KINDS`), equal probability.

    Raises:
        EdgeInspectError: A parameter is out of range (the message names it).

    Attributes:
        mean_level: Mean texture grey level, 8-bit scale (before artefacts).
        column_gain: ``(width,)`` float32, fall-off × fixed-pattern gain (all ones without artefacts).
    """

    BLOCK_LINES = BLOCK_LINES
    MAX_DEFECT_LINES = MAX_DEFECT_LINES

    def __init__(self, width: int, *, texture: str = "carbon", seed: int = 0, bit_depth: int = 8,
                 defects_per_mpx: float = DEFAULT_DEFECTS_PER_MPX, artefacts: bool = True,
                 kinds: Sequence[str] = DEFECT_KINDS) -> None:
        self.width = _check_int("width", width, 16)
        if self.width > MAX_WEB_WIDTH_PX:
            raise EdgeInspectError(f"synthetic web: width must be <= {MAX_WEB_WIDTH_PX} px, got {self.width}")
        self.seed = _check_int("seed", seed, 0)
        if texture not in TEXTURES:
            raise EdgeInspectError(f"synthetic web: texture must be one of {', '.join(TEXTURES)}, got {texture!r}")
        if bit_depth not in (8, 12):
            raise EdgeInspectError(f"synthetic web: bit_depth must be 8 or 12, got {bit_depth!r}")
        kinds = tuple(kinds)
        if not kinds or any(kind not in DEFECT_KINDS for kind in kinds):
            raise EdgeInspectError(f"synthetic web: kinds must be a non-empty subset of {', '.join(DEFECT_KINDS)}, "
                                   f"got {kinds!r}")
        per_block = float(defects_per_mpx) * BLOCK_LINES * self.width / 1e6
        if not 0.0 <= per_block <= 128.0:
            highest = 128e6 / BLOCK_LINES / self.width
            raise EdgeInspectError(f"synthetic web: defects_per_mpx must be in [0, {highest:.0f}] at width "
                                   f"{self.width} px (at most 128 defects per {BLOCK_LINES}-line block), got "
                                   f"{defects_per_mpx!r}: lower defects_per_mpx or the width")
        self.texture = texture
        self._texture_index = TEXTURES.index(texture)
        self.bit_depth = int(bit_depth)
        self.defects_per_mpx = float(defects_per_mpx)
        self.artefacts = bool(artefacts)
        self.kinds = kinds
        self._per_block = per_block

        pad = JITTER_PX if self.artefacts else 0
        layers = build_texture(texture, np.random.default_rng([self.seed, _TAG_TEXTURE, TEXTURES.index(texture)]),
                               self.width, pad)
        self.mean_level = layers.mean_level
        self._pad = pad
        self._structure = layers.structure                    # (STRUCTURE_LINES, width + 2*pad)
        self._shading = layers.shading                        # (SHADING_LINES, width)
        self._make_artefacts()
        self._init_runtime()

    def _init_runtime(self) -> None:
        """The strided row view, the lock and the defect caches (rebuilt after unpickling)."""
        flat = self._structure.reshape(-1)
        # Row r of this view is flat[r : r + width]: any line at any column shift, no copy.
        self._structure_rows = as_strided(flat, shape=(flat.size - self.width + 1, self.width),
                                          strides=(flat.strides[0], flat.strides[0]), writeable=False)
        self._lock = threading.Lock()
        self._candidates_cache: OrderedDict[int, list[_Placed]] = OrderedDict()
        self._kept_cache: OrderedDict[int, list[_Placed]] = OrderedDict()
        # The truth of the last _TRUTH_CACHE_BLOCKS blocks seen (a few records per block, no pixels):
        # ``defects`` over lines already rendered then costs no re-drawing once the pixel caches
        # above have moved on (a run's truth.jsonl at its end); older blocks are drawn again.
        self._truth_cache: OrderedDict[int, list[DefectTruth]] = OrderedDict()

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        for key in ("_structure_rows", "_lock", "_candidates_cache", "_kept_cache", "_truth_cache"):
            del state[key]
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._init_runtime()

    def __repr__(self) -> str:
        return (f"SyntheticWeb(width={self.width}, texture={self.texture!r}, seed={self.seed}, "
                f"bit_depth={self.bit_depth}, defects_per_mpx={self.defects_per_mpx}, artefacts={self.artefacts})")

    def _make_artefacts(self) -> None:
        """Column gain (fall-off × fixed pattern), jitter table and shot-noise table, fixed per web."""
        rng = np.random.default_rng([self.seed, _TAG_ARTEFACTS, self._texture_index])
        width = self.width
        if not self.artefacts:
            self.column_gain = np.ones(width, np.float32)
            return
        x = np.arange(width) / (width - 1)
        centre = 0.5 + rng.uniform(-0.08, 0.08)
        edge_drop = rng.uniform(0.10, 0.25)
        falloff = 1.0 - edge_drop * ((x - centre) / 0.5) ** 2
        fixed_pattern = 1.0 + 0.015 * rng.standard_normal(width)
        self.column_gain = (falloff * fixed_pattern).astype(np.float32)
        wander = 0.55 * periodic_noise(rng, (1, _JITTER_PERIOD), 25.0, 0.0)[0]
        self._jitter = np.clip(np.rint(wander + 0.25 * rng.standard_normal(_JITTER_PERIOD)),
                               -JITTER_PX, JITTER_PX).astype(np.int64)
        self._noise = (_SHOT_NOISE * rng.standard_normal((_NOISE_ROWS, width))).astype(np.float32)

    # ------------------------------------------------------------------ defects
    def _candidates(self, block: int) -> list[_Placed]:
        """Candidate defects of one block (cached), each cropped to the web and to its tight bbox."""
        with self._lock:
            if block in self._candidates_cache:
                self._candidates_cache.move_to_end(block)
                return self._candidates_cache[block]
        rng = np.random.default_rng([self.seed, _TAG_DEFECTS, self._texture_index, block])
        count = min(int(rng.poisson(self._per_block)), _MAX_DEFECTS_PER_BLOCK)
        placed = []
        for k in range(count):
            drng = np.random.default_rng([self.seed, _TAG_DEFECTS, self._texture_index, block, k])
            kind = self.kinds[int(drng.integers(len(self.kinds)))]
            top = block * BLOCK_LINES + int(drng.integers(BLOCK_LINES))
            centre_x = int(drng.integers(self.width))
            patch = DEFECT_BUILDERS[kind](drng, self.mean_level)
            one = self._place(patch, block * (_MAX_DEFECTS_PER_BLOCK + 1) + k + 1, kind, top, centre_x)
            if one is not None:
                placed.append(one)
        with self._lock:
            self._candidates_cache[block] = placed
            while len(self._candidates_cache) > _CACHE_BLOCKS:
                self._candidates_cache.popitem(last=False)
        return placed

    def _place(self, patch: DefectPatch, defect_id: int, kind: str, top: int, centre_x: int) -> _Placed | None:
        """Put a patch on the web (top row ``top``, centred on column ``centre_x``), clip, tighten."""
        h, w = patch.mask.shape
        left = centre_x - w // 2
        c0, c1 = max(0, -left), min(w, self.width - left)
        if c1 <= c0:
            return None
        mask = patch.mask[:, c0:c1]
        if c0 > 0 or c1 < w:  # cut by a web edge: keep one connected piece
            mask = largest_component(mask)
        rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
        if rows.size == 0:
            return None
        r0, r1, k0, k1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
        mask = np.ascontiguousarray(mask[r0:r1, k0:k1])
        alpha = patch.alpha[r0:r1, c0 + k0:c0 + k1][mask]
        target = patch.target[r0:r1, c0 + k0:c0 + k1][mask]
        x0, y0 = left + c0 + k0, top + r0
        truth = DefectTruth(int(defect_id), kind, (x0, y0, x0 + k1 - k0, y0 + r1 - r0), int(mask.sum()),
                            pack_mask(mask))
        row_start = np.concatenate([[0], np.cumsum(mask.sum(axis=1))]).astype(np.int64)
        return _Placed(truth, mask, (1.0 - alpha).astype(np.float32), (alpha * target).astype(np.float32),
                       row_start)

    def _kept(self, block: int) -> list[_Placed]:
        """Defects of one block that touch no kept defect of the block nor any earlier candidate."""
        with self._lock:
            if block in self._kept_cache:
                self._kept_cache.move_to_end(block)
                return self._kept_cache[block]
        earlier = [c for b in range(max(0, block - _REACH_BLOCKS), block) for c in self._candidates(b)]
        kept: list[_Placed] = []
        for candidate in self._candidates(block):
            others = earlier + kept
            near = _near(candidate.truth.bbox, np.array([o.truth.bbox for o in others]).reshape(-1, 4))
            if not any(_touch(candidate, others[i]) for i in np.flatnonzero(near)):
                kept.append(candidate)
        with self._lock:
            self._kept_cache[block] = kept
            while len(self._kept_cache) > _CACHE_BLOCKS:
                self._kept_cache.popitem(last=False)
            self._truth_cache[block] = [d.truth for d in kept]
            while len(self._truth_cache) > _TRUTH_CACHE_BLOCKS:
                self._truth_cache.popitem(last=False)
        return kept

    def _block_truth(self, block: int) -> list[DefectTruth]:
        """The truth of one block's kept defects (from the truth cache, else drawn once)."""
        with self._lock:
            truths = self._truth_cache.get(block)
        return truths if truths is not None else [d.truth for d in self._kept(block)]

    def _blocks_reaching(self, first_line: int, stop_line: int) -> range:
        """Blocks whose defects may touch lines ``[first_line, stop_line)`` (none on a defect-free web)."""
        if self._per_block == 0.0:
            return range(0)
        return range(max(0, first_line // BLOCK_LINES - _REACH_BLOCKS), (stop_line - 1) // BLOCK_LINES + 1)

    def _placed_in(self, first_line: int, stop_line: int) -> list[_Placed]:
        """Kept defects with at least one line in ``[first_line, stop_line)``, by id."""
        return [d for b in self._blocks_reaching(first_line, stop_line) for d in self._kept(b)
                if d.truth.bbox[1] < stop_line and d.truth.bbox[3] > first_line]

    def defects(self, first_line: int, stop_line: int) -> list[DefectTruth]:
        """Every defect with at least one line in ``[first_line, stop_line)``, full extent, by id.

        Args:
            first_line: First web line (>= 0).
            stop_line: One past the last web line (> first_line).

        Returns:
            ``DefectTruth`` records; bbox and area_px cover the whole defect, also outside the range.
        """
        first_line, stop_line = self._check_range(first_line, stop_line)
        return [t for b in self._blocks_reaching(first_line, stop_line) for t in self._block_truth(b)
                if t.bbox[1] < stop_line and t.bbox[3] > first_line]

    # ------------------------------------------------------------------ pixels
    def _check_range(self, first_line: int, stop_line: int) -> tuple[int, int]:
        first_line = _check_int("first_line", first_line, 0)
        stop_line = _check_int("stop line", stop_line, first_line + 1)
        if stop_line > _MAX_LINE:
            raise EdgeInspectError(f"synthetic web: lines end at {_MAX_LINE}, asked for up to {stop_line}")
        return first_line, stop_line

    def _noise_rows(self, first_line: int, n_lines: int) -> np.ndarray:
        """Shot-noise table row of each line, drawn per block."""
        b0, b1 = first_line // BLOCK_LINES, (first_line + n_lines - 1) // BLOCK_LINES
        rows = np.concatenate([np.random.default_rng([self.seed, _TAG_NOISE, b]).integers(0, _NOISE_ROWS, BLOCK_LINES)
                               for b in range(b0, b1 + 1)])
        start = first_line - b0 * BLOCK_LINES
        return rows[start:start + n_lines]

    def render(self, first_line: int, n_lines: int) -> WebStrip:
        """Render web lines ``[first_line, first_line + n_lines)``.

        Args:
            first_line: Web line of the first row (>= 0).
            n_lines: Number of lines (>= 1).

        Returns:
            A :class:`WebStrip`: image ``(n_lines, width)`` uint8 or uint16 (0..4095), exact mask
            and defect ids. A line's pixels do not depend on the range it is rendered in.
        """
        n_lines = _check_int("n_lines", n_lines, 1)
        first_line, stop_line = self._check_range(first_line, first_line + n_lines)
        pixels = np.empty((n_lines, self.width), np.uint8 if self.bit_depth == 8 else np.uint16)
        ids = np.zeros((n_lines, self.width), np.int32)
        placed = self._placed_in(first_line, stop_line)
        noise_rows = self._noise_rows(first_line, n_lines) if self.artefacts else None
        for a in range(0, n_lines, _CHUNK_LINES):  # chunks keep the float temporaries in cache
            b = min(a + _CHUNK_LINES, n_lines)
            self._render_chunk(first_line + a, first_line + b, placed, pixels[a:b], ids[a:b],
                               None if noise_rows is None else noise_rows[a:b])
        return WebStrip(first_line, pixels, ids > 0, ids)

    def _render_chunk(self, first_line: int, stop_line: int, placed: list[_Placed], pixels: np.ndarray,
                      ids: np.ndarray, noise_rows: np.ndarray | None) -> None:
        """Render lines ``[first_line, stop_line)`` into ``pixels`` and ``ids`` (views, in place)."""
        lines = np.arange(first_line, stop_line, dtype=np.int64)
        start = (lines % STRUCTURE_LINES) * (self.width + 2 * self._pad) + self._pad
        if self.artefacts:
            start += self._jitter[lines % _JITTER_PERIOD]
        image = self._structure_rows[start]                       # (n, W) float32, a new array
        image += self._shading[lines % SHADING_LINES]
        for defect in placed:
            if defect.truth.bbox[1] < stop_line and defect.truth.bbox[3] > first_line:
                _draw(defect, first_line, stop_line, image, ids)
        if self.artefacts:
            image *= self.column_gain
            np.maximum(image, 0.0, out=image)
            shot = np.sqrt(image)
            shot *= self._noise[noise_rows]
            image += shot
        if self.bit_depth == 12:
            image *= np.float32(4095.0 / 255.0)
        np.clip(image, 0.0, 255.0 if self.bit_depth == 8 else 4095.0, out=image)
        np.rint(image, out=image)
        np.copyto(pixels, image, casting="unsafe")


def _draw(defect: _Placed, first_line: int, stop_line: int, image: np.ndarray, ids: np.ndarray) -> None:
    """Blend one defect's rows inside ``[first_line, stop_line)`` into image and ids (in place)."""
    x0, y0, x1, y1 = defect.truth.bbox
    a, b = max(y0, first_line), min(y1, stop_line)
    sel = defect.mask[a - y0:b - y0]
    lo, hi = defect.row_start[a - y0], defect.row_start[b - y0]
    region = image[a - first_line:b - first_line, x0:x1]
    region[sel] = region[sel] * defect.mul[lo:hi] + defect.add[lo:hi]
    ids[a - first_line:b - first_line, x0:x1][sel] = defect.truth.id


def _near(bbox: tuple[int, int, int, int], others: np.ndarray) -> np.ndarray:
    """``(N,)`` bool: which of ``others`` ``(N, 4)`` bboxes come within DEFECT_MARGIN_PX of ``bbox``."""
    m = DEFECT_MARGIN_PX
    x0, y0, x1, y1 = bbox
    return ((others[:, 0] < x1 + m) & (others[:, 2] > x0 - m)
            & (others[:, 1] < y1 + m) & (others[:, 3] > y0 - m))


def _touch(a: _Placed, b: _Placed) -> bool:
    """True when defect ``a`` comes within DEFECT_MARGIN_PX of defect ``b`` (mask level)."""
    m = DEFECT_MARGIN_PX
    ax0, ay0, ax1, ay1 = a.truth.bbox
    bx0, by0, bx1, by1 = b.truth.bbox
    if ax0 - m >= bx1 or bx0 >= ax1 + m or ay0 - m >= by1 or by0 >= ay1 + m:
        return False
    import cv2

    grown = cv2.dilate(np.pad(a.mask, m).astype(np.uint8), np.ones((2 * m + 1, 2 * m + 1), np.uint8)) > 0
    wx0, wy0, wx1, wy1 = max(ax0 - m, bx0), max(ay0 - m, by0), min(ax1 + m, bx1), min(ay1 + m, by1)
    sub_a = grown[wy0 - (ay0 - m):wy1 - (ay0 - m), wx0 - (ax0 - m):wx1 - (ax0 - m)]
    sub_b = b.mask[wy0 - by0:wy1 - by0, wx0 - bx0:wx1 - bx0]
    return bool((sub_a & sub_b).any())


# ---------------------------------------------------------------------- dataset
#: Most images in one synthetic dataset (names 000000.png ... 999999.png sort in web order).
MAX_DATASET_IMAGES = 1_000_000


def _split_count(count: int, parts: int) -> list[int]:
    return [count // parts + (1 if k < count % parts else 0) for k in range(parts)]


def write_synth_dataset(out: Path, *, count: int, size_hw: tuple[int, int], texture: str, seed: int,
                        bit_depth: int = 8, defects_per_mpx: float = DEFAULT_DEFECTS_PER_MPX,
                        artefacts: bool = True, overwrite: bool = False,
                        progress: Callable[[int, int], None] | None = None) -> Path:
    """Cut ``count`` consecutive ``H×W`` frames from a web ``W`` wide and write them as a dataset.

    Layout: ``out/images/000000.png …`` (uint8, or 16-bit PNG holding 0..4095 for bit depth 12),
    ``out/masks/000000.png …`` (uint8 0/255, same names), ``out/defects.jsonl`` with one line per
    (image, defect) sharing at least one pixel::

        {"image": "000000.png", "id": 7, "kind": "crack", "bbox": [x0, y0, x1, y1], "area_px": 123,
         "texture": "carbon"}

    where bbox (image px, x1/y1 exclusive) and area_px are of the part inside that image, and
    ``out/synth.json`` with the parameters. Image ``i`` holds web lines ``[i·H, (i+1)·H)``, so
    defects straddle consecutive images. ``texture="mixed"`` makes one web per texture (same seed)
    and splits ``count`` into runs in :data:`TEXTURES` order (8 → 2 carbon, 2 fabric, 2 ceramic,
    2 steel); ids are unique per (texture, id).

    Args:
        out: Output folder (created).
        count: Number of images (>= 1).
        size_hw: ``(H, W)`` image size, px (H >= 1, W >= 16).
        texture: One of :data:`TEXTURES` or ``"mixed"``.
        seed: Web seed (>= 0).
        bit_depth: 8 or 12.
        defects_per_mpx: Candidate defects per megapixel (see :class:`SyntheticWeb`).
        artefacts: Line-scan artefacts on/off.
        overwrite: Replace an earlier dataset in ``out`` (its PNGs, defects.jsonl, synth.json).
        progress: Called as ``progress(done, count)`` after each image.

    Returns:
        ``out``.

    Raises:
        EdgeInspectError: Bad parameter. DataError: ``out`` already holds a dataset (without
            ``overwrite``) or cannot be written.
    """
    out = Path(out)
    count = _check_int("count", count, 1)
    if len(size_hw) != 2:
        raise EdgeInspectError(f"synthetic dataset: size_hw must be (H, W), got {size_hw!r}")
    height, width = _check_int("image height", size_hw[0], 1), _check_int("image width", size_hw[1], 16)
    textures = TEXTURES if texture == "mixed" else (texture,)
    if count > MAX_DATASET_IMAGES:
        raise EdgeInspectError(f"synthetic dataset: count must be <= {MAX_DATASET_IMAGES:,} (6-digit file names), "
                               f"got {count:,}")
    per_web = -(-count // len(textures))
    if per_web * height > _MAX_LINE:
        raise EdgeInspectError(f"synthetic dataset: {per_web:,} images × {height} lines of one web pass its last line "
                               f"({_MAX_LINE:,}): lower the count or the image height")
    if texture != "mixed" and texture not in TEXTURES:
        raise EdgeInspectError(f"synthetic dataset: texture must be one of {', '.join(TEXTURES)} or mixed, "
                               f"got {texture!r}")
    webs = [SyntheticWeb(width, texture=name, seed=seed, bit_depth=bit_depth, defects_per_mpx=defects_per_mpx,
                         artefacts=artefacts) for name in textures]
    _prepare_out(out, overwrite)
    plan = ((web, k) for web, n in zip(webs, _split_count(count, len(webs))) for k in range(n))
    records_path = out / "defects.jsonl"

    def refused(error: OSError) -> DataError:
        return cannot_write(records_path, error, DataError)

    try:
        records = open(records_path, "w", encoding="utf-8")
    except OSError as error:
        raise refused(error) from None
    with records:
        for index, (web, k) in enumerate(plan):
            first = k * height
            strip = web.render(first, height)
            name = f"{index:06d}.png"
            write_png(out / "images" / name, strip.image)
            write_png(out / "masks" / name, strip.mask.astype(np.uint8) * 255)
            try:
                records.writelines(json.dumps(record) + "\n" for record in _image_records(web, strip, name))
                records.flush()
            except OSError as error:
                raise refused(error) from None
            if progress is not None:
                progress(index + 1, count)
    params = {"generator": "edgeinspect.data.synth", "count": count, "size_hw": [height, width],
              "texture": texture, "seed": seed, "bit_depth": bit_depth, "defects_per_mpx": defects_per_mpx,
              "artefacts": artefacts, "lines_per_image": height,
              "runs": [{"texture": web.texture, "images": n} for web, n in zip(webs, _split_count(count, len(webs)))]}
    try:
        (out / "synth.json").write_text(json.dumps(params, indent=2) + "\n", encoding="utf-8")
    except OSError as error:
        raise cannot_write(out / "synth.json", error, DataError) from None
    return out


def _image_records(web: SyntheticWeb, strip: WebStrip, name: str) -> list[dict]:
    """defects.jsonl records of one image: each defect's part inside it (image coordinates)."""
    first, stop = strip.first_line, strip.first_line + strip.image.shape[0]
    records = []
    for truth in web.defects(first, stop):
        x0, y0, x1, y1 = truth.bbox
        a, b = max(y0, first) - first, min(y1, stop) - first
        inside = strip.defect_ids[a:b, x0:x1] == truth.id
        area = int(inside.sum())
        if area == 0:
            continue
        rows, cols = np.flatnonzero(inside.any(axis=1)), np.flatnonzero(inside.any(axis=0))
        bbox = [x0 + int(cols[0]), a + int(rows[0]), x0 + int(cols[-1]) + 1, a + int(rows[-1]) + 1]
        records.append({"image": name, "id": truth.id, "kind": truth.kind, "bbox": bbox, "area_px": area,
                        "texture": web.texture})
    return records


def _prepare_out(out: Path, overwrite: bool) -> None:
    """Create out/images and out/masks; refuse (or clear, with overwrite) an earlier dataset."""
    check_folder_path(out, option="output folder")
    ours = [out / "defects.jsonl", out / "synth.json"]
    old = [p for p in ours if p.exists()] + [p for sub in ("images", "masks") if (out / sub).is_dir()
                                             for p in (out / sub).iterdir()]
    if old and not overwrite:
        raise DataError(f"{out}: already holds a dataset ({len(old)} files in images/, masks/ or defects.jsonl): "
                        "pass --overwrite (overwrite=True) or choose an empty folder")
    for path in old:
        if path.is_file() and (path.suffix == ".png" or path in ours):
            path.unlink()
    for sub in ("images", "masks"):
        (out / sub).mkdir(parents=True, exist_ok=True)
