"""Records that flow through the streaming pipeline: flat, frozen, slotted, units in field names.

Coordinates are web coordinates: ``line`` is the 0-based line index along the web (the row of a
line-scan image), ``x``/column is the pixel across it. Boxes are ``(x0, y0, x1, y1)`` with the
ends exclusive. Probabilities are float32 in [0, 1].

Example:
    >>> defect = Defect(id=1, first_line=100, last_line=119, bbox_px=(10, 100, 30, 120), ...)
    >>> defect.to_json()["verdict"]
    'reject'
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True, slots=True)
class TilePlacement:
    """Where one tile sits on the web and which part of its output the stitcher keeps.

    All numbers are in the *inference* grid (the web scaled by ``scale``): a tile covers inference
    lines ``[y0, y0 + tile_h)`` and columns ``[x0, x0 + tile_w)``; it owns (its output is kept for)
    lines ``[own_y0, own_y1)`` and columns ``[own_x0, own_x1)``. Every inference pixel of a
    segment is owned by exactly one tile.

    Attributes:
        row: tile row index in the segment (0-based).
        col: tile column index (0-based, ``cols`` per row).
        cols: tiles per row.
        y0: first inference line covered.
        x0: first inference column covered.
        own_y0, own_y1: inference lines this tile owns (exclusive end).
        own_x0, own_x1: inference columns this tile owns (exclusive end).
    """

    row: int
    col: int
    cols: int
    y0: int
    x0: int
    own_y0: int
    own_y1: int
    own_x0: int
    own_x1: int

    @property
    def last_in_row(self) -> bool:
        """True for the right-most tile of its row (the row is complete once it is stitched)."""
        return self.col == self.cols - 1


@dataclass(frozen=True, slots=True)
class Tile:
    """One engine input tile.

    Attributes:
        pixels: ``(tile_h, tile_w)`` uint8 (8-bit frames) or float32 in [0, 255] (12/16-bit frames
            scaled by ``255 / (2**bits - 1)``, or any resized frame).
        placement: where it sits on the web (inference grid).
    """

    pixels: np.ndarray
    placement: TilePlacement


@dataclass(frozen=True, slots=True)
class ProbStrip:
    """A finalised band of stitched web probabilities at source resolution.

    Attributes:
        first_line: web line of ``prob[0]``.
        prob: ``(n_lines, width)`` float32 in [0, 1].
    """

    first_line: int
    prob: np.ndarray

    @property
    def stop_line(self) -> int:
        """One past the last web line."""
        return self.first_line + int(self.prob.shape[0])


@dataclass(frozen=True, slots=True)
class Blob:
    """One closed connected component of the thresholded web mask (before calibration).

    Attributes:
        bbox_px: ``(x0, y0, x1, y1)`` web coordinates, exclusive ends.
        mask: ``(y1-y0, x1-x0)`` bool, the component's pixels inside its box.
        prob: ``(y1-y0, x1-x0)`` float32 in [0, 1], probabilities inside its box.
        image: ``(h, w)`` uint8 crop of the web image around the box (context margin included), or
            None when the pipeline kept no image.
        image_origin: ``(x, y)`` web coordinates of ``image[0, 0]``.
        truncated: True when the component was cut (segment end or band limit) rather than closed
            because the web moved past it.
        halo_prob: ``(h, w)`` float32 in [0, 1]: the probabilities of the component's pixels and of
            the pixels within the tracker's ``halo_px`` of them that belong to no other component,
            0 elsewhere; None when the tracker keeps no halo.
        halo_origin: ``(x, y)`` web coordinates of ``halo_prob[0, 0]``.
        max_prob, mean_prob: highest and mean probability of the component's pixels, when the
            tracker measured them while grouping (None: computed from ``prob`` and ``mask``).
    """

    bbox_px: tuple[int, int, int, int]
    mask: np.ndarray
    prob: np.ndarray
    image: np.ndarray | None = None
    image_origin: tuple[int, int] = (0, 0)
    truncated: bool = False
    halo_prob: np.ndarray | None = None
    halo_origin: tuple[int, int] = (0, 0)
    max_prob: float | None = None
    mean_prob: float | None = None

    @property
    def area_px(self) -> int:
        """Number of pixels in the component."""
        return int(np.count_nonzero(self.mask))


@dataclass(frozen=True, slots=True)
class Defect:
    """One physical defect found on the web: the record written to ``defects.jsonl``/``.csv``.

    Attributes:
        id: 1-based, in order of emission.
        first_line: first web line with a pixel of the defect.
        last_line: last web line with a pixel of the defect (inclusive; ``bbox_px[3] - 1``).
        bbox_px: ``(x0, y0, x1, y1)`` web coordinates, exclusive ends.
        bbox_mm: ``(x0, y0, x1, y1)`` in mm from column 0 / line 0 of the web.
        area_px: pixels in the defect (probability at or above the threshold).
        area_mm2: the defect's area estimate, mm²: with ``area_from: probability`` (default) the
            probability mass of its halo, else ``mask_area_mm2`` (:mod:`edgeinspect.stream.area`).
        area_mm2_min, area_mm2_max: the ±20 % tolerance band of ``area_mm2`` (×0.8, ×1.2), mm².
        mask_area_mm2: sum over the ``area_px`` pixels of (column width mm × line pitch mm), mm².
        length_mm: extent along the web, mm.
        width_mm: extent across the web, mm.
        max_prob, mean_prob: over the defect's pixels, in [0, 1].
        kind: defect class where the engine knows it, else None.
        verdict: ``"reject"`` when ``area_mm2 >= reject_area_mm2`` of the calibration, else ``"accept"``.
        truncated: True when the defect was cut by a segment end (dropped frames, end of run) or
            the tracker's band limit rather than closed after the web moved past it.
        mask_b64: its ``area_px`` pixels, the ``(y1-y0, x1-x0)`` bool mask over ``bbox_px``, as
            :func:`edgeinspect.data.packed_mask.pack_mask` text (JSON only, not in the CSV; left
            out when None): the defect's exact shape, and what ``eval --run`` matches to true pixels.
    """

    id: int
    first_line: int
    last_line: int
    bbox_px: tuple[int, int, int, int]
    bbox_mm: tuple[float, float, float, float]
    area_px: int
    area_mm2: float
    area_mm2_min: float
    area_mm2_max: float
    mask_area_mm2: float
    length_mm: float
    width_mm: float
    max_prob: float
    mean_prob: float
    kind: str | None
    verdict: str
    truncated: bool = False
    mask_b64: str | None = None

    def to_json(self) -> dict:
        """A JSON-ready dict (boxes as lists; ``mask_b64`` last, left out when None)."""
        record = {name: getattr(self, name) for name in self.__slots__}
        record["bbox_px"] = list(self.bbox_px)
        record["bbox_mm"] = list(self.bbox_mm)
        if record["mask_b64"] is None:
            del record["mask_b64"]
        return record


#: Column order of ``defects.csv`` (bbox columns flattened).
DEFECT_CSV_COLUMNS = (
    "id", "first_line", "last_line", "x0_px", "y0_px", "x1_px", "y1_px",
    "x0_mm", "y0_mm", "x1_mm", "y1_mm", "area_px", "area_mm2", "area_mm2_min", "area_mm2_max",
    "mask_area_mm2", "length_mm", "width_mm", "max_prob", "mean_prob", "kind", "verdict", "truncated",
)


def defect_csv_row(defect: Defect) -> list:
    """The values of one ``defects.csv`` row in :data:`DEFECT_CSV_COLUMNS` order."""
    return [
        defect.id, defect.first_line, defect.last_line, *defect.bbox_px,
        *(round(v, 4) for v in defect.bbox_mm), defect.area_px, round(defect.area_mm2, 5),
        round(defect.area_mm2_min, 5), round(defect.area_mm2_max, 5), round(defect.mask_area_mm2, 5),
        round(defect.length_mm, 4),
        round(defect.width_mm, 4), round(defect.max_prob, 4), round(defect.mean_prob, 4),
        defect.kind or "", defect.verdict, int(defect.truncated),
    ]


@dataclass(frozen=True, slots=True)
class TruthDefect:
    """A true defect of a source that knows its truth (sim; replay with masks), one line of ``truth.jsonl``.

    Attributes:
        id: the source's defect id.
        kind: defect class (e.g. ``"crack"``), None where the source does not know it (replayed masks).
        bbox_px: ``(x0, y0, x1, y1)`` web coordinates, exclusive ends (full extent).
        area_px: pixels of the defect.
        area_mm2: its area with the run's calibration, mm².
        inside: True when the whole defect lies in lines the run inspected (a defect cut by the
            start or end of the run or by dropped frames is only partly visible: its area is not
            scored).
        mask_b64: its exact pixels where the source knows them (sim, replayed masks), for scoring: the
            ``(y1-y0, x1-x0)`` bool mask over ``bbox_px``, row-major, ``np.packbits``-ed, zlib-compressed,
            as base64 text (:func:`edgeinspect.data.packed_mask.pack_mask` / ``unpack_mask``; ~190 characters for a typical
            defect); None (left out of the JSON) otherwise.
    """

    id: int
    kind: str | None
    bbox_px: tuple[int, int, int, int]
    area_px: int
    area_mm2: float
    inside: bool = True
    mask_b64: str | None = None

    def to_json(self) -> dict:
        """A JSON-ready dict (``mask_b64`` last, left out when None)."""
        record = dataclasses.asdict(self)
        record["bbox_px"] = list(self.bbox_px)
        if record["mask_b64"] is None:
            del record["mask_b64"]
        return record


@dataclass(frozen=True, slots=True)
class RunProgress:
    """What the live display shows, handed to the runner's progress callback after each frame.

    Attributes:
        frames, lines: acquired so far (inspected + dropped).
        frames_dropped, lines_dropped: dropped because the queue was full.
        defects: records emitted so far.
        rejects: records with verdict ``"reject"``.
        wall_time_s: since the run started.
        lines_per_s: inspected lines / wall time.
        mpx_per_s: inspected pixels / wall time / 1e6.
    """

    frames: int
    lines: int
    frames_dropped: int
    lines_dropped: int
    defects: int
    rejects: int
    wall_time_s: float
    lines_per_s: float
    mpx_per_s: float


#: Pipeline stages timed by the runner, in data-flow order.
STAGES = ("acquire", "tile", "infer", "stitch", "track", "sinks")


@dataclass(frozen=True, slots=True)
class RunSummary:
    """Everything ``summary.json`` holds about one run.

    Attributes:
        source: the source spec (``"sim"``, ``"genicam:0"``, ``"replay:PATH"``).
        engine_dir: engine directory (or a description of the engine object).
        backend: engine backend (``"openvino"``, ``"onnxruntime"``, ...), None where unknown.
        precision: engine precision (``"fp32"``, ``"int8"``, ...), None where unknown.
        calibration: path of the camera calibration YAML.
        reject_area_mm2, significant_area_mm2: its area thresholds, mm².
        out_dir: the run folder.
        width_px: web width, px.
        frames, lines: delivered by the source (inspected + dropped).
        frames_inspected, lines_inspected: went through the engine.
        frames_dropped, lines_dropped: dropped because the bounded queue was full.
        defects: records written.
        rejects: records with verdict ``"reject"``.
        wall_time_s: from the first frame request to the last sink closed, s.
        lines_per_s: ``lines_inspected / wall_time_s``.
        mpx_per_s: ``lines_inspected * width_px / wall_time_s / 1e6``.
        stage_s: seconds spent per stage (``acquire`` runs in its own thread, in parallel).
        stage_share: ``stage_s`` divided by their sum (the stages run in three threads: acquisition;
            tile and infer; stitch, track and sinks, unless ``post_thread`` is off).
        stop_reason: ``"lines"``, ``"duration"``, ``"source_end"``, ``"SIGINT"``, ``"SIGTERM"``,
            ``"stopped"`` (the caller's stop event) or ``"error"``.
        tile_hw, overlap_px, scale, batch_size, threshold, merge_gap_px, queue_size: the settings used.
        engine_streams: engine batches that were in flight at once (the engine's ``concurrent_calls``).
        detect_threshold: the highest probability a group needed to become a record (hysteresis;
            ``max(threshold, detect_threshold)`` of the run config).
        faint_groups: groups of pixels >= ``threshold`` dropped because none reached ``detect_threshold``.
        area_from: how areas were estimated (``"probability"`` or ``"mask"``, :mod:`edgeinspect.stream.area`).
        queue_policy: ``"drop"`` (live source: a full queue drops frames) or ``"block"`` (unpaced
            sim/replay: acquisition waits for room).
        overlay_policy: ``"skip"`` (overlays the writer is behind on are skipped and counted) or
            ``"wait"`` (every overlay is written), as resolved from the run's ``overlay_policy``.
        started_at: ISO 8601 local time.
        source_stats: what the source itself counted (``acquire.SourceStats``): frames and lines
            lost before they reached the queue (frame-ID gaps, reconnect gaps), reconnects, timeouts.
        overlays_skipped: overlay PNGs not written because the overlay writer was behind
            (``overlay_policy`` ``"skip"``; records are never skipped).
        cascade: with the cascade on, ``threshold``, ``tiles`` (seen by the DLM), ``skipped``
            (never segmented) and ``skipped_share``; None when off.
    """

    source: str
    engine_dir: str
    backend: str | None
    precision: str | None
    calibration: str
    reject_area_mm2: float
    significant_area_mm2: float
    out_dir: str
    width_px: int
    frames: int
    lines: int
    frames_inspected: int
    lines_inspected: int
    frames_dropped: int
    lines_dropped: int
    defects: int
    rejects: int
    wall_time_s: float
    lines_per_s: float
    mpx_per_s: float
    stage_s: dict[str, float] = field(default_factory=dict)
    stage_share: dict[str, float] = field(default_factory=dict)
    stop_reason: str = "source_end"
    tile_hw: tuple[int, int] = (0, 0)
    overlap_px: int = 0
    scale: float = 1.0
    batch_size: int = 1
    engine_streams: int = 1
    threshold: float = 0.5
    detect_threshold: float = 0.5
    faint_groups: int = 0
    merge_gap_px: int = 0
    area_from: str = "mask"
    queue_size: int = 0
    queue_policy: str = "drop"
    overlay_policy: str = "skip"
    source_stats: dict[str, int] = field(default_factory=dict)
    overlays_skipped: int = 0
    cascade: dict[str, float] | None = None
    started_at: str = ""

    def to_json(self) -> dict:
        """A JSON-ready dict."""
        record = dataclasses.asdict(self)
        record["tile_hw"] = list(self.tile_hw)
        return record
