"""Render speed of the synthetic web, one core: Mpx/s per texture and width vs the 20 Mpx/s target.

Streams consecutive frames (``--lines`` lines each, default 1024) of a web 4096 and 2048 px wide,
as a camera simulator does, after one warm-up frame. Runs on one core: the process pins itself to
one CPU (like ``taskset -c 0``; ``--cpu``) and OpenCV to one thread. Speeds are given from the
process CPU time (robust on a shared machine) and from wall time.

    python benchmarks/synth.py                       # all textures, widths 4096 and 2048, 8-bit
    python benchmarks/synth.py --frames 16 --bit-depth 12 --defects-per-mpx 2
"""

from __future__ import annotations

import argparse
import os
import time

TARGET_MPX_S = 20.0


def _pin(cpu: int | None) -> str:
    """Pin this process to one CPU (default: the first allowed) and every library to one thread."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    if not hasattr(os, "sched_setaffinity"):
        return "not pinned (no sched_setaffinity)"
    allowed = sorted(os.sched_getaffinity(0))
    chosen = allowed[0] if cpu is None else cpu
    os.sched_setaffinity(0, {chosen})
    return f"pinned to CPU {chosen}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=8, help="timed frames per case (default 8)")
    parser.add_argument("--lines", type=int, default=1024, help="lines per frame (default 1024)")
    parser.add_argument("--widths", type=int, nargs="+", default=[4096, 2048], help="web widths, px")
    parser.add_argument("--bit-depth", type=int, default=8, choices=(8, 12))
    parser.add_argument("--defects-per-mpx", type=float, default=None, help="default: the web's default (20)")
    parser.add_argument("--no-artefacts", action="store_true")
    parser.add_argument("--cpu", type=int, default=None, help="CPU to pin to (default: first allowed)")
    args = parser.parse_args()
    pinned = _pin(args.cpu)

    import cv2

    from edgeinspect.data.synth import DEFAULT_DEFECTS_PER_MPX, TEXTURES, SyntheticWeb

    cv2.setNumThreads(1)
    density = DEFAULT_DEFECTS_PER_MPX if args.defects_per_mpx is None else args.defects_per_mpx
    print(f"synthetic web render, {pinned}, cv2 threads {cv2.getNumThreads()}, {args.frames} frames × "
          f"{args.lines} lines, {args.bit_depth}-bit, {density:g} defects/Mpx, artefacts {not args.no_artefacts}")
    header = f"{'texture':8s} {'width':>6s} {'init s':>7s} {'Mpx/s cpu':>10s} {'Mpx/s wall':>11s} " \
             f"{'x target':>9s} {'defects/frame':>14s}"
    print(header)
    print("-" * len(header))
    worst = float("inf")
    for width in args.widths:
        for texture in TEXTURES:
            t0 = time.process_time()
            web = SyntheticWeb(width, texture=texture, seed=0, bit_depth=args.bit_depth,
                               defects_per_mpx=density, artefacts=not args.no_artefacts)
            init_s = time.process_time() - t0
            web.render(0, args.lines)                                   # warm-up
            cpu0, wall0 = time.process_time(), time.perf_counter()
            for k in range(1, args.frames + 1):
                web.render(k * args.lines, args.lines)
            cpu_s, wall_s = time.process_time() - cpu0, time.perf_counter() - wall0
            mpx = args.frames * args.lines * width / 1e6
            per_frame = len(web.defects(args.lines, (args.frames + 1) * args.lines)) / args.frames
            cpu_rate, wall_rate = mpx / cpu_s, mpx / wall_s
            worst = min(worst, cpu_rate)
            print(f"{texture:8s} {width:6d} {init_s:7.2f} {cpu_rate:10.1f} {wall_rate:11.1f} "
                  f"{cpu_rate / TARGET_MPX_S:8.2f}x {per_frame:14.1f}")
    print(f"slowest case: {worst:.1f} Mpx/s = {worst / TARGET_MPX_S:.2f}x the {TARGET_MPX_S:g} Mpx/s target "
          f"({'meets' if worst >= TARGET_MPX_S else 'MISSES'} it)")


if __name__ == "__main__":
    main()
