"""Score a finished run folder against its truth (``edgeinspect eval --run DIR``).

Inputs (written by :func:`edgeinspect.stream.runner.run_inspection`): ``defects.jsonl`` (found),
``truth.jsonl`` (sources that know their truth: sim, replay with a mask per image), ``summary.json`` (the calibration's
area thresholds) and, when the run saved them, ``masks/pred/*.png`` + ``masks/truth/*.png``.

Defect matching works on the records (boxes and calibrated areas), so it needs no mask files:

- a true defect is **found** when the box of a found defect overlaps its box;
- a found defect is **false** when its box overlaps no true defect's box;
- **records per found defect**: the mean, over the true defects found, of the records whose box
  overlaps theirs (1.0: one record per physical defect; a crack reported in three pieces counts 3);
- the **estimated area** of a true defect: each found defect's ``area_mm2`` is shared among the
  true defects its pixels lie on, in proportion to the pixels it shares with each (the rule of
  :func:`edgeinspect.metrics.match_defects`), when both files carry their pixels (``mask_b64``: a
  run's records always, the sim's truth): a record of a small hole inside the box of a large stain,
  or a scratch's record crossing a blob's box, keeps its area for the defect it lies on. A record
  that shares no pixel with a true defect (it lies beside one), and every record of files without
  pixels (runs written before they were kept), share in proportion to the overlapping box area;
- **area within tolerance**: of the true defects with ``area_mm2 >= significant_area_mm2`` lying
  wholly in inspected lines, the share whose estimated area is within ±20 % of the true area
  (a missed one counts as outside).

Pixel scores (mIoU, mPA, Dice ...) over the web come from :func:`edgeinspect.metrics.segmentation_scores`
on the saved mask PNGs; without them the ``mask`` key is left out.

Example:
    >>> score = score_run(Path("runs/demo"))
    >>> score["recall"], score["precision"], score["area"]["share_within_tol"], score.get("mask", {}).get("mIoU")
"""

from __future__ import annotations

import json
import math
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

from edgeinspect.data.packed_mask import unpack_mask
from edgeinspect.errors import DataError
from edgeinspect.stream.area import AREA_TOLERANCE


def _read_jsonl(path: Path) -> list[dict]:
    """The records of a run's JSONL file, each checked to carry a box and an area.

    Raises:
        DataError: missing file, or a line that is not a JSON object with ``bbox_px`` (4 numbers)
            and ``area_mm2`` (a number), naming the file and line.
    """
    if not path.is_file():
        raise DataError(f"{path}: not found; is this a run folder written by `edgeinspect run`?")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise DataError(f"{path}: byte {error.start} is not UTF-8 text; the file is damaged") from None
    except OSError as error:
        raise DataError(f"{path}: cannot read ({error.strerror or error})") from None
    records = []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            try:
                record = json.loads(line)
            except (json.JSONDecodeError, RecursionError):  # RecursionError: brackets nested too deep
                raise DataError(f"{path}: line {number} is not JSON; the file is damaged") from None
            problem = _record_problem(record)
            if problem:
                raise DataError(f"{path}: line {number} {problem}; the file is damaged")
            records.append(record)
    return records


def _is_number(value: object) -> bool:
    """A finite JSON number (Python's json reads ``NaN``/``Infinity``, which no run writes)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


#: Largest pixel coordinate in a record's box: beyond it a coordinate is no longer exact as a float64.
MAX_COORD = 2**53

#: Largest box a record's ``mask_b64`` may cover, px (64 MB of decoded mask): a 4096-px web's record
#: 16,384 lines long; the tracker's band limit (8,192 lines) keeps a run's records within it up to
#: 8,192 px wide webs.
MAX_MASK_PX = 2**26


def _record_problem(record: object) -> str | None:
    """Why a JSONL record cannot be scored (None: it can)."""
    if not isinstance(record, dict):
        return f"is a JSON {type(record).__name__}, not an object"
    box = record.get("bbox_px")
    if not (isinstance(box, list) and len(box) == 4 and all(_is_number(v) and abs(v) <= MAX_COORD for v in box)):
        return f"has no 'bbox_px' of 4 numbers (got {box!r})"
    if not _is_number(record.get("area_mm2")):
        return f"has no numeric 'area_mm2' (got {record.get('area_mm2')!r})"
    if not isinstance(record.get("inside", True), bool):
        return f"has an 'inside' that is not true or false (got {record['inside']!r})"
    if not isinstance(record.get("kind"), (str, type(None))):
        return f"has a 'kind' that is not text (got {record['kind']!r})"
    if "mask_b64" in record:
        x0, y0, x1, y1 = (int(v) for v in box)
        if not isinstance(record["mask_b64"], str) or x1 <= x0 or y1 <= y0:
            return "has a 'mask_b64' that is not text over a non-empty 'bbox_px'"
        if (x1 - x0) * (y1 - y0) > MAX_MASK_PX:
            return (f"has a 'mask_b64' over a box of {(x1 - x0) * (y1 - y0):,} px, more than the "
                    f"{MAX_MASK_PX:,} px scored by pixels")
        try:
            unpack_mask(record["mask_b64"], (y1 - y0, x1 - x0))  # checked, not kept: decoded again to score
        except ValueError as error:
            return f"has a 'mask_b64' that is not its box's packed mask: {error}"
    return None


def overlapping_pairs(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The pairs of boxes that overlap, without a ``len(a) × len(b)`` matrix of every pair.

    Boxes ``(x0, y0, x1, y1)``, exclusive ends, coordinates within :data:`MAX_COORD`. The boxes of
    ``a`` are grouped by height (powers of two) and each group sorted along the web; each box of
    ``b`` looks in a group only from that group's tallest height above it, so one tall box does not
    make every box a candidate for every other. Candidates are made for a slice of ``b`` at a time
    (at most :data:`_PAIR_CHUNK` of them), so memory stays bounded whatever the files hold. On
    records along a web the work grows with the run's length, not its square (scoring 20,000
    records against 20,000 true defects took 15 GB and 53 s with the matrix, 0.03 s this way).

    Returns:
        ``(ia, ib, area)``: indices into ``a`` and ``b`` (int64) and the overlapping area (float64,
        exact below 2**53 px, > 0), sorted by ``ib`` then ``ia``.
    """
    found: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    if len(a) and len(b):
        heights = np.maximum(a[:, 3] - a[:, 1], 0)
        groups = np.frexp(heights.astype(np.float64))[1]  # 2**(g-1) <= height < 2**g
        for group in np.unique(groups):
            members = np.flatnonzero(groups == group)
            found += _pairs_in_group(a, members, int(heights[members].max()), b)
    if not found:
        empty = np.zeros(0, np.int64)
        return empty, empty, np.zeros(0, np.float64)
    ia, ib, area = (np.concatenate(parts) for parts in zip(*found))
    order = np.lexsort((ia, ib))
    return ia[order], ib[order], area[order]


#: Candidate pairs :func:`overlapping_pairs` makes at a time (about 100 MB of temporaries).
_PAIR_CHUNK = 1 << 22


def _pairs_in_group(a: np.ndarray, members: np.ndarray, tallest: int,
                    b: np.ndarray) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Overlapping pairs of the boxes ``a[members]`` (none taller than ``tallest``) with every box of ``b``."""
    order = members[np.argsort(a[members, 1], kind="stable")]
    tops = a[order, 1]
    lo = np.searchsorted(tops, b[:, 1] - tallest, side="right")  # an a-box must reach below b.y0 ...
    hi = np.searchsorted(tops, b[:, 3], side="left")  # ... and start above b.y1
    counts = np.maximum(hi - lo, 0)
    ends = np.cumsum(counts)
    found = []
    start = 0
    while start < len(b):
        # the next slice of b whose candidates fit in one chunk (at least one box of b)
        stop = max(start + 1, int(np.searchsorted(ends, (ends[start - 1] if start else 0) + _PAIR_CHUNK, side="right")))
        n = counts[start:stop]
        ib = np.repeat(np.arange(start, stop), n)
        first = np.repeat(lo[start:stop] - np.r_[0, np.cumsum(n)[:-1]], n)
        ia = order[first + np.arange(ib.size)]
        w = np.minimum(a[ia, 2], b[ib, 2]) - np.maximum(a[ia, 0], b[ib, 0])
        h = np.minimum(a[ia, 3], b[ib, 3]) - np.maximum(a[ia, 1], b[ib, 1])
        area = np.clip(w, 0, None).astype(np.float64) * np.clip(h, 0, None)
        keep = area > 0
        found.append((ia[keep], ib[keep], area[keep]))
        start = stop
    return found


#: True defects' decoded pixels :func:`shared_pixels` keeps at a time (~3.5 kB each on the sim's web).
_TRUTH_MASKS_KEPT = 4096


def shared_pixels(truth: list[dict], found: list[dict], t_of: np.ndarray, p_of: np.ndarray) -> np.ndarray:
    """Pixels record ``found[p_of[k]]`` shares with true defect ``truth[t_of[k]]``, for each pair k.

    Args:
        truth: ``truth.jsonl`` records, each with ``bbox_px`` and ``mask_b64`` (its pixels).
        found: ``defects.jsonl`` records, each with ``bbox_px`` and ``mask_b64``.
        t_of, p_of: pairs whose boxes overlap (:func:`overlapping_pairs`): only they can share a pixel.

    Returns:
        ``(len(t_of),)`` int64 pixel counts.
    """
    counts = np.zeros(len(t_of), np.int64)
    # true defects' pixels by index, the most recently used kept: records come in web order, so the
    # true defects they touch are near each other (a run's worth of masks would not fit)
    truth_masks: OrderedDict[int, np.ndarray] = OrderedDict()
    found_index, found_mask = -1, None

    def pixels(records: list[dict], index: int) -> np.ndarray:
        x0, y0, x1, y1 = (int(v) for v in records[index]["bbox_px"])
        return unpack_mask(records[index]["mask_b64"], (y1 - y0, x1 - x0))

    for k, (t, p) in enumerate(zip(t_of.tolist(), p_of.tolist())):
        if t in truth_masks:
            truth_masks.move_to_end(t)
        else:
            truth_masks[t] = pixels(truth, t)
            if len(truth_masks) > _TRUTH_MASKS_KEPT:
                truth_masks.popitem(last=False)
        if p != found_index:  # pairs come sorted by record
            found_index, found_mask = p, pixels(found, p)
        true_mask = truth_masks[t]
        tx0, ty0 = (int(v) for v in truth[t]["bbox_px"][:2])
        px0, py0 = (int(v) for v in found[p]["bbox_px"][:2])
        x0, y0 = max(tx0, px0), max(ty0, py0)
        x1 = min(tx0 + true_mask.shape[1], px0 + found_mask.shape[1])
        y1 = min(ty0 + true_mask.shape[0], py0 + found_mask.shape[0])
        counts[k] = np.count_nonzero(true_mask[y0 - ty0:y1 - ty0, x0 - tx0:x1 - tx0]
                                     & found_mask[y0 - py0:y1 - py0, x0 - px0:x1 - px0])
    return counts


def score_records(found: list[dict], truth: list[dict], *, significant_area_mm2: float,
                  tolerance: float = AREA_TOLERANCE) -> dict[str, Any]:
    """Recall, precision and area accuracy of defect records against true defects.

    Args:
        found: ``defects.jsonl`` records (``bbox_px``, ``area_mm2``; ``mask_b64``: their pixels).
        truth: ``truth.jsonl`` records (``bbox_px``, ``area_mm2``, ``inside``; ``mask_b64``: their pixels,
            which then share the records' areas, :func:`shared_pixels`, when every record of both has them).
        significant_area_mm2: true defects this large (mm²) count in the area score.
        tolerance: allowed relative area error.

    Returns:
        ``truth``, ``found``, ``recall``, ``predicted``, ``false``, ``precision``,
        ``truth_significant``, ``recall_significant``, ``records_per_found`` (None when nothing was
        found) and ``area`` → ``shared_by`` (``"pixels"`` or ``"boxes"``: how records' areas were
        shared, see the module docstring), ``scored``, ``within_tol``, ``share_within_tol``, ``short`` and
        ``long`` (scored defects measured below / above the band, a missed one counts as short),
        ``abs_error_p50``, ``abs_error_max`` (relative). Ratios with an empty denominator are 1.0 (nothing to find /
        nothing found wrongly), as in :mod:`edgeinspect.metrics`.
        When the truth names defect kinds, ``by_kind`` → ``{kind: {truth, found, recall,
        records_per_found, scored, share_within_tol, error_p50}}`` (``error_p50``: median signed
        relative area error of the found defects, e.g. -0.3 = measured 30 % too small; None when
        none was found).
        ``area.by_size``: the scored defects in size classes of ×4 from the significant area
        (``[s, 4s)``, ``[4s, 16s)``, ``[16s, 64s)``, ``[64s, ∞)`` mm²), each ``{min_mm2, max_mm2
        (None: open), scored, share_within_tol, error_p50}``: a ±½-pixel outline alone spends
        ``2h/r`` of the tolerance, so small defects are where the 20 % band is hardest to hold
        (``edgeinspect calib check``). Without a significant area (0) there are no classes.
    """
    pred_boxes = np.array([r["bbox_px"] for r in found], np.int64).reshape(-1, 4)
    true_boxes = np.array([r["bbox_px"] for r in truth], np.int64).reshape(-1, 4)
    pred_area = np.array([r["area_mm2"] for r in found], np.float64)
    true_area = np.array([r["area_mm2"] for r in truth], np.float64)
    inside = np.array([r.get("inside", True) for r in truth], bool)
    t_of, p_of, overlap = overlapping_pairs(true_boxes, pred_boxes)  # the pairs whose boxes overlap
    records_of = np.bincount(t_of, minlength=len(truth))  # records touching each true defect
    is_found = records_of > 0
    is_false = np.bincount(p_of, minlength=len(found)) == 0
    weight = overlap.astype(np.float64)
    by_pixels = all("mask_b64" in r for r in truth) and all("mask_b64" in r for r in found)
    if by_pixels:
        pixels = shared_pixels(truth, found, t_of, p_of).astype(np.float64)
        covers_none = np.bincount(p_of, weights=pixels, minlength=len(found)) == 0  # beside a defect: by box
        weight = np.where(covers_none[p_of], weight, pixels)
    per_pred = np.bincount(p_of, weights=weight, minlength=len(found))
    share = np.divide(weight, per_pred[p_of], out=np.zeros(weight.shape), where=per_pred[p_of] > 0)
    estimated = np.bincount(t_of, weights=share * pred_area[p_of], minlength=len(truth))
    significant = true_area >= significant_area_mm2
    scored = significant & inside
    rel_error = np.divide(estimated - true_area, true_area, out=np.full(len(truth), -1.0), where=true_area > 0)
    within = is_found & (np.abs(rel_error) <= tolerance * (1 + 1e-12))

    def ratio(num: int, den: int) -> float:
        return float(num / den) if den else 1.0

    def records_per_found(of: np.ndarray) -> float | None:
        hits = records_of[of & is_found]
        return float(hits.mean()) if hits.size else None

    abs_errors = np.abs(rel_error[scored])
    kinds = np.array([str(r.get("kind")) if r.get("kind") is not None else "" for r in truth], dtype=object)
    by_kind = {}
    for kind in sorted(set(kinds) - {""}):
        of_kind = kinds == kind
        found_errors = rel_error[of_kind & is_found]
        by_kind[kind] = {
            "truth": int(of_kind.sum()),
            "found": int((of_kind & is_found).sum()),
            "recall": ratio(int((of_kind & is_found).sum()), int(of_kind.sum())),
            "records_per_found": records_per_found(of_kind),
            "scored": int((of_kind & scored).sum()),
            "share_within_tol": ratio(int((of_kind & scored & within).sum()), int((of_kind & scored).sum())),
            "error_p50": float(np.median(found_errors)) if found_errors.size else None,
        }
    return {
        "truth": int(len(truth)),
        "found": int(is_found.sum()),
        "recall": ratio(int(is_found.sum()), len(truth)),
        "truth_significant": int(significant.sum()),
        "recall_significant": ratio(int((is_found & significant).sum()), int(significant.sum())),
        "records_per_found": records_per_found(np.ones(len(truth), bool)),
        "predicted": int(len(found)),
        "false": int(is_false.sum()),
        "precision": ratio(int((~is_false).sum()), len(found)),
        "area": {
            "significant_area_mm2": significant_area_mm2,
            "tolerance": tolerance,
            "shared_by": "pixels" if by_pixels else "boxes",
            "scored": int(scored.sum()),
            "within_tol": int((within & scored).sum()),
            "share_within_tol": ratio(int((within & scored).sum()), int(scored.sum())),
            "short": int((scored & ~within & (rel_error < 0)).sum()),
            "long": int((scored & ~within & (rel_error > 0)).sum()),
            "abs_error_p50": float(np.median(abs_errors)) if abs_errors.size else None,
            "abs_error_max": float(abs_errors.max()) if abs_errors.size else None,
            **({"by_size": _by_size(true_area, rel_error, scored, within, is_found, significant_area_mm2)}
               if significant_area_mm2 > 0 else {}),
        },
        **({"by_kind": by_kind} if by_kind else {}),
    }


#: Size classes of ``area.by_size``: ``[s·4^k, s·4^(k+1))`` for k = 0..SIZE_CLASSES-2, then ``[s·4^k, ∞)``.
SIZE_CLASSES = 4


def _by_size(true_area: np.ndarray, rel_error: np.ndarray, scored: np.ndarray, within: np.ndarray,
             is_found: np.ndarray, significant_area_mm2: float) -> list[dict[str, Any]]:
    classes = []
    for k in range(SIZE_CLASSES):
        low = significant_area_mm2 * 4**k
        high = significant_area_mm2 * 4 ** (k + 1) if k < SIZE_CLASSES - 1 else None
        members = scored & (true_area >= low) & (true_area < high if high is not None else True)
        errors = rel_error[members & is_found]
        classes.append({
            "min_mm2": low, "max_mm2": high, "scored": int(members.sum()),
            "share_within_tol": float((members & within).sum() / members.sum()) if members.any() else 1.0,
            "error_p50": float(np.median(errors)) if errors.size else None,
        })
    return classes


def mask_pairs(run_dir: Path) -> list[tuple[Path, Path]]:
    """``(pred, truth)`` PNG pairs of a run's saved masks (same name = same web lines)."""
    pred_dir, truth_dir = run_dir / "masks" / "pred", run_dir / "masks" / "truth"
    if not pred_dir.is_dir() or not truth_dir.is_dir():
        return []
    return [(p, truth_dir / p.name) for p in sorted(pred_dir.glob("*.png")) if (truth_dir / p.name).is_file()]


def score_masks(pairs: list[tuple[Path, Path]]) -> dict[str, float]:
    """Pixel scores over the saved web masks (mPA, mIoU, mIoU80 per file, Dice, IoU, pixel accuracy)."""
    from edgeinspect.data.imageio import read_mask
    from edgeinspect.metrics import segmentation_scores

    def arrays():
        for pred_path, truth_path in pairs:
            pred, truth = read_mask(pred_path), read_mask(truth_path)
            if pred.shape != truth.shape:
                raise DataError(f"{pred_path}: shape {pred.shape} differs from {truth_path} {truth.shape}")
            yield pred, truth

    scores = segmentation_scores(arrays())
    scores["files"] = scores.pop("images")
    return scores


def score_run(run_dir: Path, *, tolerance: float = AREA_TOLERANCE) -> dict[str, Any]:
    """Score a run folder against its ``truth.jsonl`` (see the module docstring).

    Args:
        run_dir: folder written by ``edgeinspect run``.
        tolerance: allowed relative area error (0.2 = 20 %).

    Returns:
        :func:`score_records` keys, plus ``run``, ``lines_inspected``, ``frames_dropped`` and
        ``mask`` (pixel scores) when the run saved masks. When ``truth.jsonl`` holds no defect (a
        clean web), ``recall``, ``recall_significant`` and the area ``share_within_tol`` values are
        None (not measured, rather than :func:`score_records`' 1.0 of nothing) and ``note`` says so.

    Raises:
        DataError: not a run folder, no ``truth.jsonl`` (the source did not know its truth), or a
            damaged file (:func:`read_summary`, a JSONL line), naming the file and the key or line.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise DataError(f"{run_dir}: " + (f"is a file; --run takes the run folder ({run_dir.parent})"
                                          if run_dir.exists() else "run folder not found"))
    summary = read_summary(run_dir / "summary.json")
    if not (run_dir / "truth.jsonl").is_file():
        raise DataError(f"{run_dir / 'truth.jsonl'}: not found; only runs of sources that know their truth "
                        f"(sim, or replay with a mask for every image) can be scored")
    truth = _read_jsonl(run_dir / "truth.jsonl")
    found = _read_jsonl(run_dir / "defects.jsonl")
    result: dict[str, Any] = {
        "run": str(run_dir),
        "lines_inspected": summary["lines_inspected"],
        "frames_dropped": summary["frames_dropped"],
    }
    result |= score_records(found, truth, significant_area_mm2=summary["significant_area_mm2"], tolerance=tolerance)
    if not truth:  # a clean web (sim with defects_per_mpx 0) still measures false alarms, nothing else
        result["recall"] = result["recall_significant"] = result["area"]["share_within_tol"] = None
        for size in result["area"].get("by_size", []):
            size["share_within_tol"] = None
        result["note"] = NO_TRUTH_NOTE.format(truth=run_dir / "truth.jsonl")
    pairs = mask_pairs(run_dir)
    if pairs:
        result["mask"] = score_masks(pairs)
    return result


#: ``note`` of a run whose ``truth.jsonl`` holds no defect (recall and area shares are then None).
NO_TRUTH_NOTE = ("{truth} holds no true defects: recall and area accuracy cannot be scored (n/a); "
                 "every record counts as a false detection")

#: ``summary.json`` keys :func:`score_run` and ``eval --run``'s table read: key → (integer, what).
SUMMARY_NUMBERS = {
    "lines_inspected": (True, "an integer >= 0"),
    "frames_dropped": (True, "an integer >= 0"),
    "significant_area_mm2": (False, "a number >= 0"),
}


def read_summary(path: Path) -> dict[str, Any]:
    """A run's ``summary.json`` with the keys scoring reads checked (:data:`SUMMARY_NUMBERS`).

    Returns:
        The whole mapping; ``lines_inspected``/``frames_dropped`` are ints, ``significant_area_mm2`` a float.

    Raises:
        DataError: missing, unreadable, not JSON, not a JSON object, or one of those keys missing or
            not a finite number >= 0 (an integer for the counts), naming the file and the key.
    """
    if not path.is_file():
        raise DataError(f"{path}: not found; the run did not finish (or this is not a run folder)")
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as error:
        raise DataError(f"{path}: byte {error.start} is not UTF-8 text; the file is damaged") from None
    except OSError as error:
        raise DataError(f"{path}: cannot read ({error.strerror or error})") from None
    except (json.JSONDecodeError, RecursionError):
        raise DataError(f"{path}: not JSON; the file is damaged") from None
    if not isinstance(summary, dict):
        raise DataError(f"{path}: not a JSON object; the file is damaged")
    for key, (integer, what) in SUMMARY_NUMBERS.items():
        if key not in summary:
            raise DataError(f"{path}: missing key '{key}'; the file is damaged")
        value = summary[key]
        if not (_is_number(value) and value >= 0 and (isinstance(value, int) or not integer)):
            raise DataError(f"{path}: key '{key}' must be {what}, got {value!r}; the file is damaged")
    summary["significant_area_mm2"] = float(summary["significant_area_mm2"])
    return summary
