"""Area oracle: how well could *any* per-defect measurement of this network's output do?

``run`` measures a defect's area as the probability mass around the pixels it thresholds
(:mod:`edgeinspect.stream.tracker`). This script asks what that mass would score if the grouping
were perfect: it runs the engine over a stretch of the synthetic web exactly as ``run`` tiles and
stitches it (same tiles, overlap and stitching), then gives every web pixel within ``R`` px of a
true defect to the nearest one (the sim knows each defect's exact pixels) and takes each defect's
probability mass there as its area. The share of significant defects whose mass lies within ±20 %
of their true area is a ceiling for rules that measure each defect by the mass within a fixed reach
of it (thresholds, hysteresis, halo, merging, scoring). The last line lets the truth choose the
reach for each defect (any of ``--radii`` that lands within ±20 % counts): a rule that picked the
reach per defect from what the record shows could do no better than that.

    python benchmarks/area_oracle.py                                   # bundled model, seed 0, 20,000 lines (run1's web)
    python benchmarks/area_oracle.py --seed 1 --lines 12000 --radii 2,4,8 --engine engines/lite

Areas are compared in pixels: the synthetic web's calibration has equal columns, so a relative
area error is the same in px and mm²; the significant size comes from that calibration.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict

import numpy as np


def web_probabilities(engine, web, lines: int, *, overlap_px: int, batch_size: int = 4,
                      lines_per_frame: int = 256) -> np.ndarray:
    """``(lines, width)`` float32 in [0, 1]: the engine's stitched output over web lines ``[0, lines)``."""
    from edgeinspect.stream.stitcher import Stitcher
    from edgeinspect.stream.tiler import Tiler

    tiler = Tiler(tuple(engine.tile_hw), overlap_px=overlap_px)
    stitcher = Stitcher(web.width)
    stitcher.start(0)
    prob = np.zeros((lines, web.width), np.float32)

    def infer(tiles) -> None:
        for start in range(0, len(tiles), batch_size):
            batch = tiles[start:start + batch_size]
            out = engine.infer(np.stack([t.pixels for t in batch])[:, None])["prob"]
            for tile, tile_prob in zip(batch, out):
                for strip in stitcher.add(tile.placement, tile_prob[0]):
                    prob[strip.first_line:strip.first_line + strip.prob.shape[0]] = strip.prob

    for first in range(0, lines, lines_per_frame):
        frame = web.render(first, min(lines_per_frame, lines - first)).image
        infer(tiler.push(frame, bit_depth=8))
    infer(tiler.flush())
    return prob


def nearest_defect(defect_ids: np.ndarray, radius_px: float) -> np.ndarray:
    """``(H, W)`` int64: the id of the nearest true defect within ``radius_px`` (L2) of each pixel, else 0."""
    import cv2

    distance, label = cv2.distanceTransformWithLabels((defect_ids == 0).view(np.uint8), cv2.DIST_L2, 5,
                                                      labelType=cv2.DIST_LABEL_PIXEL)
    ys, xs = np.nonzero(defect_ids)
    id_of_label = np.zeros(int(label.max()) + 1, np.int64)
    id_of_label[label[ys, xs]] = defect_ids[ys, xs]
    owner = id_of_label[label]
    owner[distance > radius_px] = 0
    return owner


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", default=None, help="engine folder / .onnx (default: the bundled model)")
    parser.add_argument("--seed", type=int, default=0, help="sim web seed (default 0: the README's run1 web)")
    parser.add_argument("--lines", type=int, default=20_000, help="web lines (default 20000)")
    parser.add_argument("--width-px", type=int, default=2048, help="web width, px (default 2048, run's sim)")
    parser.add_argument("--radii", default="0,1,2,3,4,6,8,12",
                        help="reach around each true defect, px (default 0,1,2,3,4,6,8,12)")
    args = parser.parse_args()

    from edgeinspect import backends
    from edgeinspect.assets import default_calibration, default_engine
    from edgeinspect.config import RunConfig
    from edgeinspect.data.synth import SyntheticWeb
    from edgeinspect.stream.area import AREA_TOLERANCE, load_calibration

    calibration = load_calibration(default_calibration())
    if len(calibration.mm_per_px_poly) != 1:
        raise SystemExit(f"{default_calibration()}: columns of different widths; this script compares areas in px")
    pixel_mm2 = calibration.mm_per_px_poly[0] * calibration.mm_per_line
    significant_px = calibration.significant_area_mm2 / pixel_mm2
    web = SyntheticWeb(args.width_px, texture="carbon", seed=args.seed)
    with backends.load(args.engine or default_engine()) as engine:
        prob = web_probabilities(engine, web, args.lines, overlap_px=RunConfig().overlap_px)
    defect_ids = web.render(0, args.lines).defect_ids
    truths = [t for t in web.defects(0, args.lines) if t.bbox[3] <= args.lines and t.area_px >= significant_px]
    print(f"sim seed {args.seed}, {args.lines:,} lines × {args.width_px} px, engine {args.engine or 'bundled'}: "
          f"{len(truths)} significant true defects (≥ {calibration.significant_area_mm2:g} mm²)")
    radii = [float(r) for r in args.radii.split(",")]
    any_reach = None
    for radius in radii:
        owner = nearest_defect(defect_ids, radius)
        mass = np.bincount(owner.ravel(), weights=prob.ravel(), minlength=int(defect_ids.max()) + 1)
        errors = np.array([mass[t.id] / t.area_px - 1 for t in truths])
        within = np.abs(errors) <= AREA_TOLERANCE
        by_kind = defaultdict(list)
        for truth, error in zip(truths, errors):
            by_kind[truth.kind].append(error)
        kinds = ", ".join(f"{kind} {np.mean(np.abs(e) <= AREA_TOLERANCE):.2f} ({np.median(e):+.0%})"
                          for kind, e in sorted(by_kind.items()))
        print(f"R = {radius:g} px: within ±20 % {within.mean():.3f} ({within.sum()} of {len(truths)}), "
              f"median |error| {np.median(np.abs(errors)):.1%}; by kind (share, median error): {kinds}")
        any_reach = within if radius == radii[0] else any_reach | within
    print(f"best reach per defect, chosen with the truth from {args.radii} px: within ±20 % {any_reach.mean():.3f} "
          f"({any_reach.sum()} of {len(truths)})")


if __name__ == "__main__":
    sys.exit(main())
