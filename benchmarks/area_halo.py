"""Area halo sweep: which probability halo measures the bundled model's defects best?

A defect's area (``area_from: probability``) is the probability mass of its pixels and of a halo of
``AREA_HALO_PX`` px around them (:mod:`edgeinspect.stream.tracker`). The best halo depends on how
wide the network draws its outlines, so it is re-checked whenever the bundled model changes: this
runs ``edgeinspect run --camera sim`` on a stretch of web (seed 1 by default: the tuning stretch, not
the README's seed-0 run) once per halo and prints ``eval --run``'s figures for each. Areas only; the
halo changes no record's pixels, so recall and precision are the same on every line. Halo 0 keeps no
halo at all: the area is then the thresholded mask's (``area_from: mask``).

    python benchmarks/area_halo.py                                 # seed 1, 12,000 lines, halos 0..8
    python benchmarks/area_halo.py --seed 0 --lines 20000 --halos 3,4,6 --engine engines/lite
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", default=None, help="engine folder / .onnx (default: the bundled model)")
    parser.add_argument("--seed", type=int, default=1, help="sim web seed (default 1, the tuning stretch)")
    parser.add_argument("--lines", type=int, default=12_000, help="web lines per run (default 12000)")
    parser.add_argument("--halos", default="0,1,2,3,4,6,8", help="halo widths to try, px (default 0,1,2,3,4,6,8)")
    args = parser.parse_args()

    import edgeinspect.stream.runner as runner
    from edgeinspect.config import RunConfig
    from edgeinspect.errors import EdgeInspectError
    from edgeinspect.stream.score import score_run

    halos = [int(h) for h in args.halos.split(",")]
    print(f"sim seed {args.seed}, {args.lines:,} lines, engine {args.engine or 'bundled'}; "
          f"shipped halo {runner.AREA_HALO_PX} px")
    print(f"{'halo px':>7} {'recall':>7} {'precision':>9} {'area ±20 %':>10} {'|err| p50':>9}  by size (x4 classes)")
    for halo in halos:
        runner.AREA_HALO_PX = halo  # read by Pipeline when the run starts
        with tempfile.TemporaryDirectory(prefix="edgeinspect-halo-") as tmp:
            out = Path(tmp) / "run"
            config = RunConfig(camera="sim", lines=args.lines, out=out, overlays=False,
                               engine=None if args.engine is None else Path(args.engine),
                               source_options={"seed": args.seed})
            try:
                runner.run_inspection(config, handle_signals=False)
            except EdgeInspectError as error:
                sys.exit(f"error: {error}")
            score = score_run(out)
        area = score["area"]
        sizes = " / ".join(f"{c['share_within_tol']:.2f}" for c in area.get("by_size", []))
        print(f"{halo:>7} {score['recall']:>7.3f} {score['precision']:>9.3f} {area['share_within_tol']:>10.3f} "
              f"{area['abs_error_p50']:>9.3f}  {sizes}", flush=True)


if __name__ == "__main__":
    main()
