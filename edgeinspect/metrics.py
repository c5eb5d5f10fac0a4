"""Every segmentation and defect metric of edgeinspect, in one place (numpy + OpenCV, no torch).

Pixel metrics (LPC-Net, Wang et al., Sensors 2025, 25(15) 4548), two classes ``c`` in
{background, defect} (k = 2), from the pixel confusion matrix ``p`` (rows = truth, columns =
prediction) accumulated over the whole set:

- ``PA_c = p_cc / Σ_j p_cj`` (share of class-c truth pixels predicted c); ``mPA = (PA_bg + PA_defect) / 2``.
- ``IoU_c = p_cc / (Σ_j p_cj + Σ_j p_jc − p_cc)``; ``mIoU = (IoU_bg + IoU_defect) / 2``.
- ``mIoU80`` = share of images whose own (per-image confusion) mIoU is >= 0.8.
- ``dice`` = 2·TP / (2·TP + FP + FN) and ``iou`` = TP / (TP + FP + FN) of the defect class;
  ``pixel_acc`` = (TP + TN) / all pixels.

Empty-class convention (one rule for every ratio above, per image and over the set): a ratio whose
denominator is 0 is **1.0 when the class is absent from both truth and prediction** (nothing to
find, nothing wrongly found) **and 0.0 otherwise**. So a correctly empty prediction on a
defect-free image has IoU_defect = 1 and per-image mIoU = 1.0; over a defect-free set with a
clean prediction, IoU_defect = dice = 1. The only 0/0 that is "otherwise" is PA_c of a class with
no truth pixels but some predicted pixels: 0.0 (a predicted class that is not there is a miss).

Defect (connected-component) metrics, :func:`match_defects`: components of truth and prediction
with 8-connectivity (``cv2.connectedComponentsWithStats``).

- A truth defect is **found** when predicted pixels cover at least ``min_cover`` (default 0.5) of
  its pixels (any number of predicted components together: a defect predicted in two pieces is found).
- A predicted component is **false** when it overlaps no truth pixel at all.
- **Estimated area** of a truth defect: each predicted component's whole area (halo included) is
  shared among the truth defects it overlaps in proportion to the overlap, and a truth defect
  sums its shares. Split defect → the pieces add up; one blob over two defects → each gets the
  part proportional to its overlap; a component touching one defect gives it all its area.
- **Within tolerance**: found and ``|estimated − true| <= tolerance · true`` (default 0.2, the
  20 % area requirement). ``relative_errors`` = ``(estimated − true) / true`` per truth defect
  (missed defects included; −1.0 when nothing overlaps).
- ``min_area_px``: truth defects smaller than this are ignored (not counted, not required), and
  so are false components smaller than this; a predicted component overlapping only ignored
  truth is neither counted nor false.
- Over a set: recall = found / truth, precision = (predicted − false) / predicted,
  area_within_tol = within / truth; an empty denominator gives 1.0 (the counts are reported too).

Image-level: :func:`average_precision` and :func:`roc_auc` from one score per image (the max
defect probability) and its label (any truth defect pixel); NaN when only one label occurs.

Example:
    >>> report = evaluate_masks((pred_prob, truth) for pred_prob, truth in pairs)
    >>> report.mIoU, report.defects.area_within_tol, report.to_json()["defects"]["found"]
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

import cv2
import numpy as np

__all__ = [
    "DefectMatches",
    "DefectSummary",
    "EvalReport",
    "MaskEvaluator",
    "average_precision",
    "confusion_matrix",
    "evaluate_masks",
    "match_defects",
    "roc_auc",
    "scores_from_confusion",
    "segmentation_scores",
]

#: Quantiles of |relative area error| reported in :meth:`EvalReport.to_json`.
AREA_ERROR_QUANTILES = (0.5, 0.9, 0.95)


def _as_mask(array: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """bool as is; float → ``>= threshold``; integer → nonzero."""
    array = np.asarray(array)
    if array.dtype == np.bool_:
        return array
    if np.issubdtype(array.dtype, np.floating):
        return array >= threshold
    return array != 0


def confusion_matrix(pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Pixel confusion matrix of one defect mask against its truth.

    Args:
        pred: ``(H, W)`` bool (integer: nonzero = defect; float: >= 0.5 = defect).
        truth: ``(H, W)`` bool, same shape.

    Returns:
        ``(2, 2)`` int64 ``[[TN, FP], [FN, TP]]``: rows = truth (background, defect), columns = prediction.

    Raises:
        ValueError: Shapes differ.
    """
    pred, truth = _as_mask(pred), _as_mask(truth)
    if pred.shape != truth.shape:
        raise ValueError(f"prediction shape {pred.shape} differs from truth shape {truth.shape}")
    tp = int(np.count_nonzero(pred & truth))
    n_pred = int(np.count_nonzero(pred))
    n_truth = int(np.count_nonzero(truth))
    fp, fn = n_pred - tp, n_truth - tp
    tn = truth.size - tp - fp - fn
    return np.array([[tn, fp], [fn, tp]], dtype=np.int64)


def _ratio(numerator: float, denominator: float, *, absent: bool) -> float:
    """numerator / denominator; for a zero denominator 1.0 if the class is absent everywhere, else 0.0."""
    if denominator == 0:
        return 1.0 if absent else 0.0
    return float(numerator) / float(denominator)


def scores_from_confusion(cm: np.ndarray) -> dict[str, float]:
    """Pixel scores of one confusion matrix, with the module's empty-class convention.

    Args:
        cm: ``(2, 2)`` ``[[TN, FP], [FN, TP]]`` (rows = truth).

    Returns:
        ``mPA``, ``mIoU``, ``dice``, ``iou``, ``pixel_acc`` (all in [0, 1]) and the per-class
        ``pa_background``, ``pa_defect``, ``iou_background``.
    """
    (tn, fp), (fn, tp) = np.asarray(cm, dtype=np.int64).tolist()
    truth_bg, pred_bg = tn + fp, tn + fn
    truth_def, pred_def = fn + tp, fp + tp
    absent_bg = truth_bg == 0 and pred_bg == 0
    absent_def = truth_def == 0 and pred_def == 0
    pa_bg = _ratio(tn, truth_bg, absent=absent_bg)
    pa_def = _ratio(tp, truth_def, absent=absent_def)
    iou_bg = _ratio(tn, tn + fp + fn, absent=absent_bg)
    iou_def = _ratio(tp, tp + fp + fn, absent=absent_def)
    return {
        "mPA": (pa_bg + pa_def) / 2,
        "mIoU": (iou_bg + iou_def) / 2,
        "dice": _ratio(2 * tp, 2 * tp + fp + fn, absent=absent_def),
        "iou": iou_def,
        "pixel_acc": _ratio(tn + tp, tn + fp + fn + tp, absent=True),
        "pa_background": pa_bg,
        "pa_defect": pa_def,
        "iou_background": iou_bg,
    }


@dataclass(frozen=True, slots=True, eq=False)
class DefectMatches:
    """Connected-component matching of one predicted mask against its truth (see module docstring).

    Attributes:
        truth_areas_px: ``(T,)`` int64, area of each counted truth defect (px).
        estimated_areas_px: ``(T,)`` float64, its estimated area from the prediction (px).
        cover: ``(T,)`` float64 in [0, 1], share of its pixels that are predicted defect.
        found: ``(T,)`` bool, ``cover >= min_cover`` (and > 0).
        within_tolerance: ``(T,)`` bool, found and area within ``tolerance``.
        predicted: Predicted components counted.
        false: Predicted components overlapping no truth pixel (counted ones only).
    """

    truth_areas_px: np.ndarray
    estimated_areas_px: np.ndarray
    cover: np.ndarray
    found: np.ndarray
    within_tolerance: np.ndarray
    predicted: int
    false: int

    @property
    def truth(self) -> int:
        """Truth defects counted."""
        return int(self.truth_areas_px.size)

    @property
    def relative_errors(self) -> np.ndarray:
        """``(T,)`` float64 ``(estimated − true) / true`` per truth defect."""
        return (self.estimated_areas_px - self.truth_areas_px) / self.truth_areas_px


def _components(mask: np.ndarray) -> tuple[int, np.ndarray, np.ndarray]:
    """(count incl. background, (H, W) int32 labels, (count,) int64 areas) with 8-connectivity."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    return count, labels, stats[:, cv2.CC_STAT_AREA].astype(np.int64)


def match_defects(
    pred: np.ndarray,
    truth: np.ndarray,
    *,
    tolerance: float = 0.2,
    min_cover: float = 0.5,
    min_area_px: int = 0,
) -> DefectMatches:
    """Match predicted defect components to truth defects and estimate each truth defect's area.

    Args:
        pred: ``(H, W)`` bool predicted defect mask (float: >= 0.5).
        truth: ``(H, W)`` bool truth mask, same shape.
        tolerance: Allowed relative area error (0.2 = 20 %).
        min_cover: Share of a truth defect's pixels the prediction must cover for it to be found.
        min_area_px: Truth defects (and false components) smaller than this are ignored.

    Returns:
        The per-defect record; conventions in the module docstring.

    Raises:
        ValueError: Shapes differ.
    """
    pred, truth = _as_mask(pred), _as_mask(truth)
    if pred.shape != truth.shape:
        raise ValueError(f"prediction shape {pred.shape} differs from truth shape {truth.shape}")
    n_t, lab_t, area_t = _components(truth)
    n_p, lab_p, area_p = _components(pred)
    both = (lab_t > 0) & (lab_p > 0)
    pair_index, overlap = np.unique(lab_t[both].astype(np.int64) * n_p + lab_p[both], return_counts=True)
    t_of, p_of = pair_index // n_p, pair_index % n_p
    # Each predicted component's area, shared among the truth components it overlaps by overlap.
    overlap_of_pred = np.bincount(p_of, weights=overlap, minlength=n_p)
    share = area_p[p_of] * overlap / overlap_of_pred[p_of]
    estimated = np.bincount(t_of, weights=share, minlength=n_t)
    covered = np.bincount(t_of, weights=overlap, minlength=n_t)

    keep_t = np.arange(n_t) > 0
    keep_t &= area_t >= min_area_px
    truth_areas = area_t[keep_t]
    estimated = estimated[keep_t]
    cover = covered[keep_t] / np.maximum(truth_areas, 1)
    found = (cover >= min_cover) & (cover > 0)
    within = found & (np.abs(estimated - truth_areas) <= tolerance * truth_areas * (1 + 1e-12))

    touches_truth = overlap_of_pred > 0
    touches_kept = np.zeros(n_p, dtype=bool)
    touches_kept[p_of[keep_t[t_of]]] = True
    is_false = ~touches_truth & (area_p >= min_area_px)
    is_false[0] = False
    counted = touches_kept | is_false
    counted[0] = False
    return DefectMatches(
        truth_areas_px=truth_areas,
        estimated_areas_px=estimated,
        cover=cover,
        found=found,
        within_tolerance=within,
        predicted=int(np.count_nonzero(counted)),
        false=int(np.count_nonzero(is_false)),
    )


def average_precision(scores: Iterable[float], labels: Iterable[bool]) -> float:
    """Image-level average precision: Σ_n (R_n − R_{n−1}) · P_n over distinct score thresholds.

    Ties share a threshold (no interpolation), the same definition as scikit-learn's
    ``average_precision_score``.

    Args:
        scores: One score per image (e.g. max defect probability in [0, 1]); higher = more defective.
        labels: One bool per image, True = the image has a defect.

    Returns:
        AP in [0, 1], or NaN when no image is defective.
    """
    s, y = _sorted_scores(scores, labels)
    if y.sum() == 0:
        return math.nan
    tps, fps = _cumulative_counts(s, y)
    precision = tps / (tps + fps)
    recall = tps / tps[-1]
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def roc_auc(scores: Iterable[float], labels: Iterable[bool]) -> float:
    """Image-level area under the ROC curve (trapezoids; tied scores count one half).

    Args:
        scores: One score per image; higher = more defective.
        labels: One bool per image, True = the image has a defect.

    Returns:
        AUC in [0, 1], or NaN when all images have the same label.
    """
    s, y = _sorted_scores(scores, labels)
    positives, negatives = int(y.sum()), int(y.size - y.sum())
    if positives == 0 or negatives == 0:
        return math.nan
    tps, fps = _cumulative_counts(s, y)
    tpr = np.r_[0.0, tps / positives]
    fpr = np.r_[0.0, fps / negatives]
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))


def _sorted_scores(scores: Iterable[float], labels: Iterable[bool]) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(list(scores), dtype=np.float64)
    y = np.asarray(list(labels), dtype=bool)
    if s.shape != y.shape:
        raise ValueError(f"{s.size} scores but {y.size} labels")
    order = np.argsort(-s, kind="mergesort")
    return s[order], y[order]


def _cumulative_counts(s: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """True/false positives at each distinct threshold, scores sorted descending."""
    last_of_threshold = np.r_[np.flatnonzero(np.diff(s)), s.size - 1]
    tps = np.cumsum(y)[last_of_threshold].astype(np.float64)
    fps = (last_of_threshold + 1) - tps
    return tps, fps


@dataclass(frozen=True, slots=True)
class DefectSummary:
    """Defect counts over a set (see module docstring for the rules).

    Attributes:
        truth: Truth defects counted.
        found: Truth defects found.
        predicted: Predicted components counted.
        false: Predicted components overlapping no truth.
        within_tol: Truth defects found with area within tolerance.
        relative_errors: ``(estimated − true) / true`` per truth defect, in image order.
    """

    truth: int
    found: int
    predicted: int
    false: int
    within_tol: int
    relative_errors: tuple[float, ...] = field(default=())

    @property
    def recall(self) -> float:
        """found / truth (1.0 when there is no truth defect)."""
        return _ratio(self.found, self.truth, absent=True)

    @property
    def precision(self) -> float:
        """(predicted − false) / predicted (1.0 when nothing is predicted)."""
        return _ratio(self.predicted - self.false, self.predicted, absent=True)

    @property
    def area_within_tol(self) -> float:
        """within_tol / truth (1.0 when there is no truth defect)."""
        return _ratio(self.within_tol, self.truth, absent=True)


@dataclass(frozen=True, slots=True, eq=False)
class EvalReport:
    """Scores of a set of predicted masks against their truth.

    Attributes:
        images: Images scored.
        confusion: ``(2, 2)`` int64 ``[[TN, FP], [FN, TP]]`` summed over the set.
        mPA, mIoU, dice, iou, pixel_acc: From ``confusion`` (module docstring), in [0, 1].
        mIoU80: Share of images with per-image mIoU >= 0.8.
        per_image_miou: Per-image mIoU, in input order.
        defects: Component-level counts and area errors.
        image_ap, image_auc: Image-level AP / ROC AUC of the image scores; NaN when only one image
            label occurs.
        area_tolerance, min_area_px, min_cover: The matching settings used.
        image_acc: Share of images whose image score (``>= threshold``) matches the label (defect
            present), in [0, 1]; NaN when no image was scored.
        image_score: What the image scores are: ``"max_prob"`` (the max defect probability) or
            ``"score"`` (the network's own image-level output, PSIC-Net).
    """

    images: int
    confusion: np.ndarray
    mPA: float
    mIoU: float
    mIoU80: float
    dice: float
    iou: float
    pixel_acc: float
    per_image_miou: tuple[float, ...]
    defects: DefectSummary
    image_ap: float
    image_auc: float
    area_tolerance: float = 0.2
    min_area_px: int = 0
    min_cover: float = 0.5
    image_acc: float = math.nan
    image_score: str = "max_prob"

    def to_json(self, *, lists: bool = False) -> dict:
        """A JSON-ready dict.

        Keys: ``mPA``, ``mIoU``, ``mIoU80``, ``dice``, ``iou``, ``pixel_acc``, ``images``,
        ``image_ap``, ``image_auc``, ``image_acc`` (null when undefined), ``image_score`` (``"max_prob"``
        or ``"score"``), ``confusion`` ``[[TN, FP], [FN, TP]]``,
        ``defects`` → ``truth``, ``found``, ``false``, ``predicted``, ``within_tol`` (ints),
        ``area_within_tol``, ``recall``, ``precision`` (fractions), ``area_error`` →
        ``abs_p50``/``abs_p90``/``abs_p95``/``abs_max``/``mean`` (relative, null without defects),
        and ``settings``. With ``lists``: ``per_image_miou`` and ``defects.relative_errors`` too.
        """
        d = self.defects
        errors = np.asarray(d.relative_errors, dtype=np.float64)
        if errors.size:
            abs_errors = np.abs(errors)
            area_error = {f"abs_p{round(q * 100)}": float(np.quantile(abs_errors, q)) for q in AREA_ERROR_QUANTILES}
            area_error |= {"abs_max": float(abs_errors.max()), "mean": float(errors.mean())}
        else:
            area_error = {f"abs_p{round(q * 100)}": None for q in AREA_ERROR_QUANTILES}
            area_error |= {"abs_max": None, "mean": None}
        out = {
            "mPA": self.mPA,
            "mIoU": self.mIoU,
            "mIoU80": self.mIoU80,
            "dice": self.dice,
            "iou": self.iou,
            "pixel_acc": self.pixel_acc,
            "images": self.images,
            "image_ap": _none_if_nan(self.image_ap),
            "image_auc": _none_if_nan(self.image_auc),
            "image_acc": _none_if_nan(self.image_acc),
            "image_score": self.image_score,
            "confusion": self.confusion.tolist(),
            "defects": {
                "truth": d.truth,
                "found": d.found,
                "false": d.false,
                "predicted": d.predicted,
                "within_tol": d.within_tol,
                "area_within_tol": d.area_within_tol,
                "recall": d.recall,
                "precision": d.precision,
                "area_error": area_error,
            },
            "settings": {
                "area_tolerance": self.area_tolerance,
                "min_area_px": self.min_area_px,
                "min_cover": self.min_cover,
            },
        }
        if lists:
            out["per_image_miou"] = list(self.per_image_miou)
            out["defects"]["relative_errors"] = list(d.relative_errors)
        return out


def _none_if_nan(value: float) -> float | None:
    return None if math.isnan(value) else value


class MaskEvaluator:
    """Accumulates pixel, per-image and per-defect statistics one image at a time.

    Use it where images arrive in batches (a validation loop); :func:`evaluate_masks` wraps it.

    Args:
        threshold: Probability at or above which a float prediction is defect.
        area_tolerance, min_cover, min_area_px: Passed to :func:`match_defects`.
        defects: Set False to skip component matching (pixel metrics only; faster).
    """

    def __init__(
        self,
        *,
        threshold: float = 0.5,
        area_tolerance: float = 0.2,
        min_cover: float = 0.5,
        min_area_px: int = 0,
        defects: bool = True,
    ) -> None:
        self.threshold = threshold
        self.area_tolerance = area_tolerance
        self.min_cover = min_cover
        self.min_area_px = min_area_px
        self.defects = defects
        self.confusion = np.zeros((2, 2), dtype=np.int64)
        self.per_image_miou: list[float] = []
        self.image_scores: list[float] = []
        self.image_labels: list[bool] = []
        self._truth = self._found = self._predicted = self._false = self._within = 0
        self._own_scores = 0
        self._errors: list[float] = []

    def update(self, pred: np.ndarray, truth: np.ndarray, score: float | None = None) -> None:
        """Add one image.

        Args:
            pred: ``(H, W)`` bool mask, or float32 defect probability in [0, 1].
            truth: ``(H, W)`` bool truth mask, same shape.
            score: the image-level defect probability in [0, 1] from a network that has one
                (PSIC-Net's ``score``); None = the max of ``pred``. Give it for every image or none.
        """
        pred = np.asarray(pred)
        truth = _as_mask(truth)
        if score is not None:
            self._own_scores += 1
            score = float(score)
        elif pred.dtype == np.bool_:
            score = float(pred.any())
        elif np.issubdtype(pred.dtype, np.floating):
            score = float(pred.max()) if pred.size else 0.0
        else:
            score = float(np.any(pred))
        mask = _as_mask(pred, self.threshold)
        cm = confusion_matrix(mask, truth)
        self.confusion += cm
        self.per_image_miou.append(scores_from_confusion(cm)["mIoU"])
        self.image_scores.append(score)
        self.image_labels.append(bool(cm[1].sum() > 0))
        if self.defects:
            m = match_defects(
                mask, truth, tolerance=self.area_tolerance, min_cover=self.min_cover, min_area_px=self.min_area_px
            )
            self._truth += m.truth
            self._found += int(m.found.sum())
            self._predicted += m.predicted
            self._false += m.false
            self._within += int(m.within_tolerance.sum())
            self._errors.extend(m.relative_errors.tolist())

    def report(self) -> EvalReport:
        """Scores of everything added so far.

        Raises:
            ValueError: No image was added.
        """
        if not self.per_image_miou:
            raise ValueError("no images to score")
        if 0 < self._own_scores < len(self.image_scores):
            raise ValueError(f"image scores given for {self._own_scores} of {len(self.image_scores)} images")
        scores = scores_from_confusion(self.confusion)
        miou = np.asarray(self.per_image_miou)
        hits = (np.asarray(self.image_scores) >= self.threshold) == np.asarray(self.image_labels, dtype=bool)
        return EvalReport(
            images=len(self.per_image_miou),
            confusion=self.confusion.copy(),
            mPA=scores["mPA"],
            mIoU=scores["mIoU"],
            mIoU80=float(np.mean(miou >= 0.8)),
            dice=scores["dice"],
            iou=scores["iou"],
            pixel_acc=scores["pixel_acc"],
            per_image_miou=tuple(miou.tolist()),
            defects=DefectSummary(
                self._truth, self._found, self._predicted, self._false, self._within, tuple(self._errors)
            ),
            image_ap=average_precision(self.image_scores, self.image_labels),
            image_auc=roc_auc(self.image_scores, self.image_labels),
            area_tolerance=self.area_tolerance,
            min_area_px=self.min_area_px,
            min_cover=self.min_cover,
            image_acc=float(hits.mean()),
            image_score="score" if self._own_scores else "max_prob",
        )


def evaluate_masks(
    pairs: Iterable[tuple[np.ndarray, np.ndarray]],
    *,
    threshold: float = 0.5,
    area_tolerance: float = 0.2,
    min_cover: float = 0.5,
    min_area_px: int = 0,
) -> EvalReport:
    """Score predicted masks against truth over a set: pixel, per-image, per-defect and image-level metrics.

    Args:
        pairs: ``(pred, truth)`` per image: pred ``(H, W)`` bool or float32 probability in [0, 1],
            truth ``(H, W)`` bool; or ``(pred, truth, score)`` with the network's image-level
            defect probability (PSIC-Net), used for ``image_ap``/``image_auc``/``image_acc``.
        threshold: Probability at or above which a pixel (or an image score) is defect.
        area_tolerance: Allowed relative area error of a defect (0.2 = 20 %).
        min_cover: Share of a truth defect the prediction must cover for it to be found.
        min_area_px: Ignore truth defects (and false components) smaller than this (px).

    Returns:
        The report (conventions in the module docstring).

    Raises:
        ValueError: ``pairs`` is empty or a pair's shapes differ.
    """
    evaluator = MaskEvaluator(
        threshold=threshold, area_tolerance=area_tolerance, min_cover=min_cover, min_area_px=min_area_px
    )
    for item in pairs:
        evaluator.update(*item)
    return evaluator.report()


def segmentation_scores(pairs: Iterable[tuple[np.ndarray, np.ndarray]], *, threshold: float = 0.5) -> dict[str, float]:
    """Pixel metrics only (no component matching): ``mPA``, ``mIoU``, ``mIoU80``, ``dice``, ``iou``, ``pixel_acc``.

    Args:
        pairs: ``(pred, truth)`` per image, as for :func:`evaluate_masks`.
        threshold: Probability at or above which a pixel is defect.

    Returns:
        The six scores in [0, 1] plus ``images`` (int).
    """
    evaluator = MaskEvaluator(threshold=threshold, defects=False)
    for pred, truth in pairs:
        evaluator.update(pred, truth)
    r = evaluator.report()
    return {
        "mPA": r.mPA,
        "mIoU": r.mIoU,
        "mIoU80": r.mIoU80,
        "dice": r.dice,
        "iou": r.iou,
        "pixel_acc": r.pixel_acc,
        "images": r.images,
    }
