"""Post-processing alone: what stitching, tracking, areas and sinks cost per tile, without the engine.

Runs the ``run`` pipeline once on the synthetic web (pre-rendered, unpaced, as ``benchmarks/pipeline.py``)
and keeps every engine output; then replays the run ``--rounds`` times per setting with an engine that
hands those outputs back (a copy each, so nothing is shared), everything in the main thread
(``post_thread: false``). The run's own wall time minus the replay engine's time is the pipeline's own
cost per tile on one core, robust to a busy machine in a way the pipeline/engine ratio is not; the
records' sha256 says whether a change to the post-processing changed any record (same setting, same
sha: byte-identical ``defects.jsonl``). On 2 cores every millisecond of it is taken from an engine
that uses both, so compare it with the bare engine's ms per tile (``edgeinspect bench``).

    python benchmarks/post_replay.py                                       # bundled model, 8,000 lines × 4096 px
    python benchmarks/post_replay.py --settings 0.2:0.6,0.5:0.5            # threshold:detect_threshold pairs
    python benchmarks/post_replay.py --defects-per-mpx 1 --rounds 5
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


class RecordingEngine:
    """Forwards to an open engine and keeps a copy of every output (the owner closes the engine)."""

    concurrent_calls = 1  # outputs are kept (and handed back) in call order

    def __init__(self, engine: Any) -> None:
        self._engine = engine
        self.outputs: list[dict] = []

    def __enter__(self) -> RecordingEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def infer(self, batch):
        out = self._engine.infer(batch)
        self.outputs.append({name: array.copy() for name, array in out.items()})
        return out

    def __getattr__(self, name: str) -> Any:  # tile_hw, manifest, backend, ...
        return getattr(self._engine, name)


class ReplayEngine(RecordingEngine):
    """Hands back recorded outputs in order (a copy each); ``seconds`` is the time spent doing so."""

    def __init__(self, engine: Any, outputs: list[dict]) -> None:
        super().__init__(engine)
        self.outputs = outputs
        self._next = 0
        self.seconds = 0.0

    def infer(self, batch):
        start = time.perf_counter()
        out = self.outputs[self._next]
        self._next += 1
        copy = {name: array.copy() for name, array in out.items()}
        self.seconds += time.perf_counter() - start
        return copy


def run_once(engine: Any, args: argparse.Namespace, out: Path, **settings: Any):
    from edgeinspect.acquire.synthetic import SimSource
    from edgeinspect.config import RunConfig
    from edgeinspect.stream.runner import run_inspection

    web = {} if args.defects_per_mpx is None else {"defects_per_mpx": args.defects_per_mpx}
    source = SimSource(width=args.width_px, texture="carbon", seed=args.seed, prerender_lines=args.lines, **web)
    config = RunConfig(camera="sim:carbon", out=out, lines=args.lines, batch_size=4, post_thread=False,
                       overlay_policy="skip", source_options={"width": args.width_px, "seed": args.seed}, **settings)
    return run_inspection(config, engine=engine, source=source, handle_signals=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", default=None, help="engine folder / .onnx (default: the bundled model)")
    parser.add_argument("--lines", type=int, default=8000, help="web lines (default 8000)")
    parser.add_argument("--width-px", type=int, default=4096, help="web width, px (default 4096)")
    parser.add_argument("--seed", type=int, default=0, help="sim web seed (default 0)")
    parser.add_argument("--defects-per-mpx", type=float, default=None, help="defect density (default: the sim's)")
    parser.add_argument("--settings", default="default",
                        help="comma-separated threshold:detect_threshold pairs, or 'default' (default)")
    parser.add_argument("--rounds", type=int, default=3, help="replays per setting (default 3)")
    args = parser.parse_args()

    from edgeinspect import backends
    from edgeinspect.assets import default_engine

    settings = [{}] if args.settings == "default" else [
        {"threshold": float(t), "detect_threshold": float(d)} for t, d in (pair.split(":") for pair in args.settings.split(","))]
    engine = backends.load(args.engine or default_engine())
    with engine, tempfile.TemporaryDirectory(prefix="edgeinspect-replay-") as tmp:
        recorder = RecordingEngine(engine)
        start = time.perf_counter()
        run_once(recorder, args, Path(tmp) / "capture")
        tiles = sum(len(out["prob"]) for out in recorder.outputs)
        print(f"captured {tiles} tiles of {args.lines:,} lines × {args.width_px} px in {time.perf_counter() - start:.1f} s "
              f"({engine.backend}); replaying in the main thread, {args.rounds} round(s) per setting")
        for setting_index, setting in enumerate(settings):
            per_tile, shas, records = [], set(), 0
            for round_index in range(args.rounds):
                replay = ReplayEngine(engine, recorder.outputs)
                out = Path(tmp) / f"replay{setting_index}-{round_index}"
                summary = run_once(replay, args, out, **setting)
                per_tile.append((summary.wall_time_s - replay.seconds) / tiles * 1e3)
                shas.add(hashlib.sha256((out / "defects.jsonl").read_bytes()).hexdigest()[:12])
                records = summary.defects
            label = "defaults" if not setting else f"threshold {setting['threshold']:g} / detect {setting['detect_threshold']:g}"
            print(f"{label:32s} {statistics.median(per_tile):.3f} ms per tile (rounds: "
                  f"{', '.join(f'{v:.3f}' for v in per_tile)}), {records} records, sha {'/'.join(sorted(shas))}")


if __name__ == "__main__":
    sys.exit(main())
