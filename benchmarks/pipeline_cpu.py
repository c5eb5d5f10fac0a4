"""Where the CPU goes in one ``run`` pipeline at full speed: CPU time per thread, per tile (Linux).

``benchmarks/pipeline.py`` gives the pipeline/bare-engine ratio; this says what the ratio is made
of. It runs the pipeline of ``edgeinspect bench --pipeline`` (bundled model, synthetic web
pre-rendered, unpaced) once to warm up and once measured, reads every thread's CPU time from
``/proc/self/task/*/stat`` while the run goes, and prints, from the first engine call on:

- each thread group's CPU milliseconds per tile inferred (``edgeinspect-infer``: the engine streams;
  ``edgeinspect-post``: stitch/track/area/sinks; ``overlays``: the overlay PNG writer;
  ``MainThread``: tiling and batching; ``edgeinspect-acquire``: the frame source);
- how busy the cores were (process CPU time ÷ (cores × wall time)).

On 2 cores that are busy throughout, the ratio is about engine ÷ (engine + everything else) per
tile: every millisecond of the other threads is taken from the engine.

    python benchmarks/pipeline_cpu.py                         # sim default web (dense)
    python benchmarks/pipeline_cpu.py --defects-per-mpx 1     # a production-like web
    python benchmarks/pipeline_cpu.py --batch-size 1          # one tile per engine call
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import threading
import time
from typing import Any

#: Seconds between two reads of the threads' CPU times (a thread that ends loses what it used since
#: its last read: printed as "unattributed").
SAMPLE_S = 0.05


class ThreadClock:
    """Samples every thread's CPU seconds (``utime + stime``) and name until stopped."""

    def __init__(self) -> None:
        self.cpu_s: dict[int, float] = {}
        self.names: dict[int, str] = {}
        self._tick = os.sysconf("SC_CLK_TCK")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="cpu-sampler", daemon=True)

    def read(self) -> None:
        for thread in threading.enumerate():
            if thread.native_id:
                self.names[thread.native_id] = thread.name
        for tid in os.listdir("/proc/self/task"):
            try:
                with open(f"/proc/self/task/{tid}/stat") as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
            except OSError:  # the thread ended meanwhile
                continue
            self.cpu_s[int(tid)] = (int(fields[11]) + int(fields[12])) / self._tick

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.read()
            time.sleep(SAMPLE_S)

    def __enter__(self) -> ThreadClock:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.read()


class FirstCall:
    """Forwards to an engine; on its first ``infer`` notes the time, the process CPU and each thread's CPU."""

    def __init__(self, engine: Any, clock: ThreadClock) -> None:
        self._engine, self._clock = engine, clock
        self.start: tuple[float, float, dict[int, float]] | None = None

    def __enter__(self) -> FirstCall:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def infer(self, batch):
        if self.start is None:
            self._clock.read()
            self.start = (time.perf_counter(), time.process_time(), dict(self._clock.cpu_s))
        return self._engine.infer(batch)

    def __getattr__(self, name: str) -> Any:  # tile_hw, concurrent_calls, backend, ...
        return getattr(self._engine, name)


def group_of(name: str) -> str:
    """``edgeinspect-infer_0`` → ``edgeinspect-infer``; native threads (no Python name) → ``native``."""
    for prefix in ("edgeinspect-infer", "overlays"):
        if name.startswith(prefix):
            return prefix
    return name or "native"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", default=None, help="engine folder / .onnx (default: the bundled model)")
    parser.add_argument("--duration-s", type=float, default=6.0, help="measured run, s (default 6)")
    parser.add_argument("--width-px", type=int, default=4096, help="web width, px (default 4096)")
    parser.add_argument("--defects-per-mpx", type=float, default=None, help="defect density (default: the sim's)")
    parser.add_argument("--no-overlays", action="store_true", help="run without overlay PNGs")
    parser.add_argument("--batch-size", type=int, default=4, help="tiles per engine call (default 4, as run)")
    args = parser.parse_args()
    if not os.path.isdir("/proc/self/task"):
        sys.exit("error: /proc/self/task not found: per-thread CPU times need Linux")

    from edgeinspect import backends
    from edgeinspect.assets import default_engine
    from edgeinspect.bench.pipeline import time_pipeline
    from edgeinspect.config import resolve_streams
    from edgeinspect.sysinfo import usable_cores

    engine = backends.load(args.engine or default_engine(), concurrent_calls=resolve_streams(None))
    options = dict(width_px=args.width_px, batch_size=args.batch_size, defects_per_mpx=args.defects_per_mpx,
                   overlays=not args.no_overlays)
    with engine:
        time_pipeline(engine, duration_s=2.0, warmup_s=1.0, lines=5000, **options)
        clock = ThreadClock()
        counted = FirstCall(engine, clock)
        lines = int(args.duration_s * 3000)  # about duration_s of web at this machine's speed; the clock stops first
        with clock:
            figures = time_pipeline(counted, duration_s=args.duration_s, lines=lines, **options)
            end = (time.perf_counter(), time.process_time())
    t0, cpu0, thread_cpu0 = counted.start
    span_s, process_cpu_s = end[0] - t0, end[1] - cpu0
    tiles = figures.tiles
    per_group: collections.Counter[str] = collections.Counter()
    for tid, seconds in clock.cpu_s.items():
        per_group[group_of(clock.names.get(tid, ""))] += seconds - thread_cpu0.get(tid, 0.0)
    cores = usable_cores()
    print(f"{engine.backend}, {engine.concurrent_calls} stream(s), batch {args.batch_size}; {figures.run_tiles_per_s:.1f} tiles/s "
          f"through the pipeline (whole run), {tiles} tiles in {figures.wall_s:.2f} s; cores busy {process_cpu_s / (cores * span_s):.1%} "
          f"of {cores} × {span_s:.2f} s from the first engine call")
    for group, seconds in per_group.most_common():
        if group != "cpu-sampler":
            print(f"  {group:22s} {seconds:6.2f} s CPU  {seconds / tiles * 1e3:6.3f} ms per tile")
    unattributed = process_cpu_s - sum(per_group.values())
    print(f"  {'unattributed':22s} {unattributed:6.2f} s CPU  {unattributed / tiles * 1e3:6.3f} ms per tile  "
          f"(threads that ended between two {SAMPLE_S:g}-s reads; clock ticks of 1/{os.sysconf('SC_CLK_TCK')} s)")


if __name__ == "__main__":
    main()
