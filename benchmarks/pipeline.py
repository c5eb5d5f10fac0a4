"""Pipeline vs bare engine: does ``edgeinspect run`` keep ≥ 90 % of the engine's tile throughput, and reach 8 Mpx/s?

Opens one engine (default: the bundled model, as ``edgeinspect run``), warms it up, then alternates
rounds of engine mode (timed batches of synthetic tiles) and pipeline mode (the whole run path on
the synthetic web, unpaced, ``--width-px`` wide), so a noisy neighbour on a shared machine hits
both alike; medians over the rounds are compared:

- efficiency = pipeline tiles/s in steady state (the tiles of the engine calls between the first and
  last 10 % of the run's calls ÷ the time between them, ``edgeinspect.bench.pipeline.steady_tiles_per_s``)
  ÷ bare-engine tiles/s (timed batches after a warm-up: steady state too) (target ≥ 0.90); both
  sides run the same open engine (same threads), the same batch size and uint8 tiles; the whole
  run's tiles ÷ wall time (its start and drain included) is printed beside it;
- pipeline web Mpx/s (sustained: tiles/s ÷ tiles per line × width) vs the 8 Mpx/s target, and the
  run's raw lines ÷ wall (lower on a short run: its last tile row, aligned to the last line,
  re-infers up to a row of lines);
- the whole-run ratio split into the infer share of the pipeline's wall time (its own overhead:
  tiling, stitching, tracking, sinks, waiting) and the engine's speed inside the pipeline ÷ bare
  (other load on the cores: the overlay writer thread, other processes); stage shares are of the
  whole run's wall time.

The synthetic web is pre-rendered before each pipeline run's clock starts (a camera's frames arrive
by DMA; rendering the web costs CPU a camera does not): timed acquisition is one buffer copy per
frame. ``--render live`` renders in the acquisition thread as ``run --camera sim`` does;
``--render both`` alternates the two in every round. ``--post-thread off`` runs stitching, tracking
and sinks in the main thread (``run``'s ``post_thread: false``); ``both`` alternates on and off.

When the efficiency is below 0.90 (or with ``--profile``) one more pipeline run is profiled with
cProfile (main thread: tile → infer → stitch → track → sinks) and the hot stage and functions are
printed. Speed is never asserted; this prints ratios.

    python benchmarks/pipeline.py                                  # bundled model, 4096 px, 2 rounds
    python benchmarks/pipeline.py --engine engines/lite --threads 2 --rounds 3 --duration-s 5
    python benchmarks/pipeline.py --render both                    # pre-rendered vs live-rendered web
    python benchmarks/pipeline.py --post-thread both               # post-processing thread on vs off
    python benchmarks/pipeline.py --no-overlays                    # what the overlay PNGs cost
"""

from __future__ import annotations

import argparse
import cProfile
import math
import pstats
import statistics
import sys
from pathlib import Path

TARGET_EFFICIENCY = 0.90
TARGET_MPX_S = 8.0

#: Source file → pipeline stage, for grouping profile time.
STAGE_OF_FILE = {
    "stream/tiler.py": "tile", "stream/stitcher.py": "stitch", "stream/tracker.py": "track",
    "stream/area.py": "track", "stream/sinks.py": "sinks", "stream/records.py": "sinks",
    "backends/": "infer", "openvino": "infer", "onnxruntime": "infer", "stream/runner.py": "runner",
    "stream/queueing.py": "other", "queue.py": "other", "threading.py": "other",
    "data/synth": "source setup", "acquire/": "source setup",  # sim web built when the source opens (before the clock)
}


def stage_of(func: tuple) -> str | None:
    """The pipeline stage of a profiled ``(file, line, name)`` by its file (None: not attributed).

    ``runner`` is the runner's own glue (batching tiles with np.stack, the frame loop).
    """
    filename, _line, name = func
    if "bench/pipeline.py" in filename and name == "infer":
        return "infer"  # the bench's tile-counting engine proxy
    for part, stage in STAGE_OF_FILE.items():
        if part in filename:
            return stage
    return None


def attribute(stats: pstats.Stats) -> dict[tuple, str]:
    """Stage of every profiled function: its own file's, else its dominant caller's (builtins, numpy, cv2 ...)."""
    raw = stats.stats  # {func: (cc, nc, tottime, cumtime, {caller: (cc, nc, tottime, cumtime)})}
    memo: dict[tuple, str] = {}

    def find(func: tuple, seen: frozenset) -> str:
        if func in memo:
            return memo[func]
        stage = stage_of(func)
        if stage is None:
            callers = raw.get(func, (0, 0, 0, 0, {}))[4]
            ranked = sorted(callers.items(), key=lambda kv: -kv[1][3])
            stage = next((find(c, seen | {func}) for c, _ in ranked if c not in seen), None) or "unattributed"
        memo[func] = stage
        return stage

    return {func: find(func, frozenset()) for func in raw}


def profile_pipeline(engine, args, *, lines: int | None = None, prerender: bool = True) -> None:
    """Profile one pipeline run with every stage in the main thread; print the hot stage and top functions.

    cProfile sees one thread, so the profiled run has ``post_thread`` off: the cost of each stage
    is the same, only where it runs differs.
    """
    from edgeinspect.bench.pipeline import time_pipeline

    profiler = cProfile.Profile()
    profiler.enable()
    figures = time_pipeline(engine, width_px=args.width_px, duration_s=args.duration_s, batch_size=args.batch_size,
                            overlap_px=args.overlap_px, prerender=prerender, post_thread=False,
                            lines=lines)
    profiler.disable()
    stats = pstats.Stats(profiler)
    stages = attribute(stats)
    by_stage: dict[str, float] = {}
    rows = []
    for func, (_cc, _nc, tottime, cumtime, _callers) in stats.stats.items():
        filename, line, name = func
        by_stage[stages[func]] = by_stage.get(stages[func], 0.0) + tottime
        rows.append((tottime, cumtime, f"{Path(filename).name}:{line}({name})", stages[func]))
    total = sum(by_stage.values()) or 1.0
    print(f"\nprofile of one pipeline run ({figures.lines:,} lines, {figures.defects} defects, {figures.wall_s:.2f} s "
          "wall; main thread, own time by stage, library calls counted in their caller's stage):")
    for stage, seconds in sorted(by_stage.items(), key=lambda kv: -kv[1]):
        print(f"  {stage:13s} {seconds:7.3f} s  {100 * seconds / total:5.1f} %")
    skip = ("infer", "other", "unattributed", "source setup", "runner")
    hot = max((s for s in by_stage if s not in skip), key=by_stage.get, default=None)
    if hot is not None:
        print(f"hottest non-inference stage: {hot} ({100 * by_stage[hot] / total:.1f} % of main-thread time)")
    print("top functions by own time:")
    for tottime, cumtime, where, stage in sorted(rows, reverse=True)[:15]:
        print(f"  {tottime:7.3f} s own  {cumtime:7.3f} s cum  [{stage}] {where}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", default=None, help="engine folder / .onnx / .pt (default: the bundled model)")
    parser.add_argument("--width-px", type=int, default=4096, help="web width, px (default 4096)")
    parser.add_argument("--duration-s", type=float, default=4.0, help="seconds per round and mode (default 4)")
    parser.add_argument("--warmup-s", type=float, default=1.0, help="engine warm-up, s (default 1)")
    parser.add_argument("--rounds", type=int, default=2, help="alternating engine/pipeline rounds (default 2)")
    parser.add_argument("--batch-size", type=int, default=4, help="tiles per engine call (default 4, as run)")
    parser.add_argument("--overlap-px", type=int, default=32, help="tile overlap, px (default 32, as run)")
    parser.add_argument("--threads", type=int, default=None, help="engine CPU threads (default: runtime's)")
    parser.add_argument("--no-overlays", action="store_true",
                        help="run without overlay PNGs (run's overlays: false), to see what they cost")
    parser.add_argument("--streams", type=int, default=None,
                        help="engine batches in flight at once (default: run's, 2 on >= 2 cores; ONNX Runtime)")
    parser.add_argument("--profile", action="store_true", help="profile the pipeline even when it meets the target")
    parser.add_argument("--render", choices=("prerender", "live", "both"), default="prerender",
                        help="sim web frames pre-rendered before the clock (default, as a camera's DMA), rendered "
                             "live in the acquisition thread, or both alternately")
    parser.add_argument("--defects-per-mpx", type=float, default=None,
                        help="defect density of the synthetic web (default: the sim's, 20 candidates per Mpx)")
    parser.add_argument("--post-thread", choices=("on", "off", "both"), default="on",
                        help="stitch/track/sinks in their own thread (default, as run), in the main thread, or "
                             "both alternately")
    args = parser.parse_args()

    from edgeinspect import backends
    from edgeinspect.backends.base import concurrent_calls_of
    from edgeinspect.bench import resolve_engine
    from edgeinspect.bench.engine import synthetic_tiles, time_engine
    from edgeinspect.bench.pipeline import time_pipeline
    from edgeinspect.bench.rates import tiles_per_line
    from edgeinspect.errors import EdgeInspectError

    try:
        path = resolve_engine(args.engine)
        from edgeinspect.config import resolve_streams

        engine = backends.load(path, threads=args.threads, concurrent_calls=resolve_streams(args.streams, args.threads)).open()
    except EdgeInspectError as error:
        sys.exit(f"error: {error}")
    with engine:
        tile_hw = tuple(engine.tile_hw)
        print(f"engine {path} ({engine.backend}, {tile_hw[0]}×{tile_hw[1]} tiles), batch {args.batch_size}, "
              f"threads {args.threads or 'default'}, streams {concurrent_calls_of(engine)}; web {args.width_px} px, overlap {args.overlap_px} px; "
              f"{args.rounds} round(s) × {args.duration_s:g} s per mode; defects/Mpx "
              f"{'sim default' if args.defects_per_mpx is None else f'{args.defects_per_mpx:g}'}")
        pool = synthetic_tiles(tile_hw)
        renders = ("prerender", "live") if args.render == "both" else (args.render,)
        posts = {"on": ("post",), "off": ("inline",), "both": ("post", "inline")}[args.post_thread]
        modes = tuple(f"{render}+{post}" for render in renders for post in posts)
        bare = []
        piped, whole, mpx, raw_mpx, shares, inner = ({m: [] for m in modes} for _ in range(6))
        for k in range(args.rounds):
            timing = time_engine(engine, batch=args.batch_size, duration_s=args.duration_s,
                                 warmup_s=args.warmup_s if k == 0 else 0.0, pool=pool)
            bare.append(timing.figures().tiles_per_s)
            engine_lines_per_s = bare[-1] / tiles_per_line(args.width_px, tile_hw, args.overlap_px)
            for mode in (modes if k % 2 == 0 else modes[::-1]):
                figures = time_pipeline(engine, width_px=args.width_px, duration_s=args.duration_s,
                                        lines=math.ceil(engine_lines_per_s * args.duration_s),
                                        batch_size=args.batch_size, overlap_px=args.overlap_px,
                                        prerender=mode.startswith("prerender"),
                                        post_thread=mode.endswith("+post"), defects_per_mpx=args.defects_per_mpx,
                                        overlays=not args.no_overlays)
                piped[mode].append(figures.tiles_per_s)
                whole[mode].append(figures.run_tiles_per_s)
                mpx[mode].append(figures.mpx_per_s)
                raw_mpx[mode].append(figures.run_lines_per_s * figures.width_px / 1e6)
                shares[mode].append(figures.stages)
                infer_s = figures.stage_s.get("infer", 0.0)
                inner[mode].append(figures.tiles / infer_s / bare[-1] if infer_s > 0
                                   else float("nan"))
                print(f"round {k + 1}: engine {bare[-1]:8.2f} tiles/s | pipeline ({mode:16s}) {figures.tiles_per_s:8.2f} "
                      f"tiles/s = {figures.tiles_per_s / bare[-1]:.3f} (whole run {figures.run_tiles_per_s / bare[-1]:.3f}), "
                      f"{figures.mpx_per_s:6.3f} Mpx/s "
                      f"({figures.lines:,} lines, {figures.tiles} tiles in {figures.wall_s:.2f} s) | "
                      + ", ".join(f"{s} {100 * v:.0f}%" for s, v in figures.stages.items()))
        engine_tps = statistics.median(bare)
        print(f"\nmedian bare engine:  {engine_tps:.2f} tiles/s ({engine_tps * tile_hw[0] * tile_hw[1] / 1e6:.3f} "
              "Mpx/s of tiles)")
        efficiencies = {}
        for mode in modes:
            pipe_tps, pipe_mpx, run_mpx = (statistics.median(v[mode]) for v in (piped, mpx, raw_mpx))
            ratios = [p / b for p, b in zip(piped[mode], bare)]
            efficiency = efficiencies[mode] = statistics.median(ratios)
            what = ("web pre-rendered before the clock: timed acquisition = one buffer copy per frame"
                    if mode.startswith("prerender") else "web rendered live in the acquisition thread")
            what += ("; stitch/track/sinks in the post-processing thread" if mode.endswith("+post")
                     else "; every stage in the main thread")
            print(f"\n[{mode}] {what}")
            print(f"median pipeline:     {pipe_tps:.2f} tiles/s, {pipe_mpx:.3f} Mpx/s of web sustained "
                  f"({run_mpx:.3f} Mpx/s as lines ÷ wall of these short runs)")
            print(f"pipeline / engine:   {efficiency:.3f} (median of per-round ratios "
                  f"{', '.join(f'{r:.3f}' for r in ratios)}; target >= {TARGET_EFFICIENCY:.2f}: "
                  f"{'met' if efficiency >= TARGET_EFFICIENCY else 'NOT met'}); whole runs, start and drain "
                  f"included: {statistics.median(w / b for w, b in zip(whole[mode], bare)):.3f}")
            print(f"pipeline Mpx/s:      {pipe_mpx:.3f} = {pipe_mpx / TARGET_MPX_S:.3f} × the "
                  f"{TARGET_MPX_S:g} Mpx/s target")
            stages = {s: statistics.median(d[s] for d in shares[mode]) for s in shares[mode][0]}
            print("median time share:   " + ", ".join(f"{s} {100 * v:.1f} %" for s, v in stages.items())
                  + "  (acquire: own thread" + (", stitch/track/sinks: post thread" if mode.endswith("+post")
                                                   else "") + ", in parallel)")
            print(f"whole-run ratio ≈ infer share × engine speed inside the pipeline ÷ bare: {stages['infer']:.3f} × "
                  f"{statistics.median(inner[mode]):.3f}  (the first factor is the pipeline's own overhead, robust to "
                  "a busy machine; the second is the engine slowed or sped up by other load)")
        if efficiencies[modes[0]] < TARGET_EFFICIENCY or args.profile:
            lines = math.ceil(engine_tps / tiles_per_line(args.width_px, tile_hw, args.overlap_px) * args.duration_s)
            profile_pipeline(engine, args, lines=lines, prerender=modes[0].startswith("prerender"))


if __name__ == "__main__":
    main()
