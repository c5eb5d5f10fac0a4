"""CPU engines side by side: torch eager vs OpenVINO / ONNX Runtime, FP32 and INT8, same inputs, alternated.

For each network (``lpcnet``: random init, speed does not depend on weights; ``lpcnet-lite``: the bundled
checkpoint when present, else random init) at 256² and each batch size (1 and 8), every variant runs in
its OWN worker process (ONNX Runtime's spinning threads would otherwise slow its neighbours) and the
parent alternates rounds over the workers, so load changes on a shared machine hit every variant alike.
Only one worker computes at a time. Variants:

- ``torch eager fp32``: ``backends.load(ckpt.pt)`` (PyTorch, ``torch.inference_mode``);
- ``openvino fp32`` / ``openvino int8``: ``edgeinspect build --backend openvino`` engines (int8 = symmetric QDQ);
- ``onnxruntime fp32`` / ``onnxruntime int8``: ``--backend onnxruntime`` engines (int8 = uint8 re-encoding);
- ``... by hand``: OpenVINO / ONNX Runtime with their default settings (``ov.Core().compile_model(path,
  "CPU")``, ``ort.InferenceSession(path)``) on the very file the matching engine runs (FP32: its
  ``model.onnx``; INT8: its ``manifest.model_file``): the reference each engine must not be slower than;
- opt-in (``--variants``): ``openvino-fp32@throughput`` / ``openvino-int8@throughput``, the engines with
  ``hint="throughput"``.

Before each measurement the parent waits :data:`SETTLE_S`: an ONNX Runtime process keeps its pool
threads spinning after a call (measured ~70 ms of a core after each lpcnet-lite batch-8 call), which
otherwise lands on whichever variant runs next. ``--nice -10`` (root) gives the bench processes CPU
priority on a machine shared with other jobs (every variant alike).

Prints ms per batch (median over rounds of the per-round mean), tiles/s and the speed ratio to torch
eager, then, per network and batch, the explicit ratio of each engine to the runtime used by hand on
the same file. Ratios are medians of per-round ratios (both measured in the same round, seconds
apart), so load swings on a shared machine cancel out. Engines are built once into ``--work`` (reused
when present: delete the folder to rebuild).

    python benchmarks/engines.py                          # both nets, batch 1 and 8, 3 rounds
    python benchmarks/engines.py --models lpcnet-lite --batches 1 --rounds 1 --iters 2   # quick smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

TILE = 256
WARMUP_CALLS = 3
#: Seconds the parent waits before each measurement (ONNX Runtime's spinning pool threads wind down).
SETTLE_S = 0.3
VARIANTS = (
    ("torch", "torch eager fp32"),
    ("openvino-fp32", "openvino fp32"),
    ("openvino-int8", "openvino int8 (uint8)"),
    ("onnxruntime-fp32", "onnxruntime fp32"),
    ("onnxruntime-int8", "onnxruntime int8 (uint8)"),
    ("ov-default", "openvino by hand fp32"),
    ("ov-default-int8", "openvino by hand int8"),
    ("ort-default", "onnxruntime by hand fp32"),
    ("ort-default-int8", "onnxruntime by hand int8"),
)
#: Opt-in variants (``--variants``): the OpenVINO engines with ``hint="throughput"``.
EXTRA_VARIANTS = (
    ("openvino-fp32@throughput", "openvino fp32, throughput hint"),
    ("openvino-int8@throughput", "openvino int8, throughput hint"),
)
#: Engine variant → its by-hand reference (same runtime, same ONNX file, default settings).
BY_HAND = {
    "openvino-fp32": "ov-default",
    "openvino-int8": "ov-default-int8",
    "onnxruntime-fp32": "ort-default",
    "onnxruntime-int8": "ort-default-int8",
    "openvino-fp32@throughput": "ov-default",
    "openvino-int8@throughput": "ov-default-int8",
}
#: By-hand variant → the engine folder whose model file it runs.
BY_HAND_FOLDER = {
    "ov-default": "openvino-fp32",
    "ov-default-int8": "openvino-int8",
    "ort-default": "onnxruntime-fp32",
    "ort-default-int8": "onnxruntime-int8",
}


# ------------------------------------------------------------------------------------------- worker


def _inputs(batch: int) -> "np.ndarray":
    """The same ``(batch,1,256,256)`` uint8 tiles in every worker: synthetic web tiles, fixed seeds."""
    import numpy as np

    from edgeinspect.export.calibration import load_calibration

    tiles = load_calibration(None, tile_hw=(TILE, TILE), count=8, held_out=0).tiles
    return np.ascontiguousarray(np.resize(tiles, (batch, 1, TILE, TILE)).astype(np.uint8))


def by_hand_model(folder: Path, kind: str) -> Path:
    """The ONNX file a by-hand variant runs: the model file of the matching engine folder."""
    engine_folder = folder / BY_HAND_FOLDER[kind]
    manifest = json.loads((engine_folder / "manifest.json").read_text())
    return engine_folder / manifest["model_file"]


def _runner(kind: str, folder: Path, threads: int):
    """``(f(batch), close())`` for one variant (engines through the Engine API)."""
    import numpy as np

    if kind in ("ov-default", "ov-default-int8"):
        import openvino as ov

        compiled = ov.Core().compile_model(str(by_hand_model(folder, kind)), "CPU")
        request = compiled.create_infer_request()
        return (lambda batch: request.infer({0: batch.astype(np.float32)})), (lambda: None)
    if kind in ("ort-default", "ort-default-int8"):
        import onnxruntime as ort

        session = ort.InferenceSession(str(by_hand_model(folder, kind)), providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        return (lambda batch: session.run(None, {name: batch.astype(np.float32)})), (lambda: None)
    from edgeinspect import backends

    engine_kind, _, hint = kind.partition("@")
    path = folder / "checkpoint.pt" if kind == "torch" else folder / engine_kind
    engine = backends.load(path, threads=threads or None, hint=hint or "latency").open()
    return engine.infer, engine.close


def raise_priority(nice: int) -> None:
    """Lower this process's nice value (and its autogroup's, which decides against other sessions)."""
    if not nice:
        return
    try:
        os.nice(nice)
        Path("/proc/self/autogroup").write_text(str(nice))
    except OSError as error:  # not root, or no autogroup: measure at normal priority
        print(f"  --nice {nice} not applied fully ({error})", file=sys.stderr)


def worker(kind: str, folder: Path, threads: int) -> None:
    """Serve ``{"batch": n, "iters": k}`` lines on stdin with ``{"ms": [...]}`` lines on stdout."""
    run, close = _runner(kind, folder, threads)
    cache: dict[int, object] = {}
    print(json.dumps({"ready": kind}), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        batch = request["batch"]
        if batch not in cache:
            cache[batch] = _inputs(batch)
            for _ in range(WARMUP_CALLS):  # first calls per shape build kernels (oneDNN primitives, JIT)
                run(cache[batch])
        times = []
        for _ in range(request["iters"]):
            start = time.perf_counter()
            run(cache[batch])
            times.append(1e3 * (time.perf_counter() - start))
        print(json.dumps({"ms": times}), flush=True)
    close()


# ------------------------------------------------------------------------------------------- parent


def prepare(model: str, folder: Path, threads: int) -> None:
    """Checkpoint + the four engine folders for one network (skipped when already there)."""
    folder.mkdir(parents=True, exist_ok=True)
    checkpoint = folder / "checkpoint.pt"
    if not checkpoint.exists():
        import torch

        from edgeinspect.models import create_model, save_checkpoint

        source = None
        if model == "lpcnet-lite":
            try:
                from edgeinspect.assets import default_checkpoint

                source = default_checkpoint()
            except Exception:  # noqa: BLE001 - no bundled model yet: random weights
                source = None
        if source is not None:
            checkpoint.write_bytes(Path(source).read_bytes())
            print(f"  {model}: bundled checkpoint {source}")
        else:
            torch.manual_seed(0)
            save_checkpoint(checkpoint, create_model(model, input_size=(TILE, TILE)).eval())
            print(f"  {model}: random-init weights")
    from edgeinspect.backends.build import build_engine

    for backend in ("openvino", "onnxruntime"):
        for precision in ("fp32", "int8"):
            out = folder / f"{backend}-{precision}"
            if (out / "manifest.json").exists():
                continue
            start = time.perf_counter()
            source = folder / "openvino-fp32" / "model.onnx" if (folder / "openvino-fp32" / "model.onnx").exists() else checkpoint
            result = build_engine(source, out=out, backend=backend, precision=precision, threads=threads or None,
                                  max_drop=100.0)
            drop = result.manifest.metrics["miou_drop"] if result.manifest.metrics else None
            print(f"  built {out} in {time.perf_counter() - start:.0f} s" + (f" (INT8 mIoU drop {drop:.2f} points)" if drop is not None else ""))


class Worker:
    """One variant's process."""

    def __init__(self, kind: str, folder: Path, threads: int, nice: int = 0) -> None:
        env = dict(os.environ, OMP_NUM_THREADS=str(threads)) if threads else dict(os.environ)
        self.kind = kind
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--worker", kind, "--work", str(folder), "--threads", str(threads),
             "--nice", str(nice)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
        )
        ready = self.process.stdout.readline()
        if not ready:
            raise RuntimeError(f"worker {kind} failed to start")

    def measure(self, batch: int, iters: int) -> list[float]:
        self.process.stdin.write(json.dumps({"batch": batch, "iters": iters}) + "\n")
        self.process.stdin.flush()
        return json.loads(self.process.stdout.readline())["ms"]

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=60)


def paired_ratio(reference: list[float], other: list[float]) -> float:
    """Median over rounds of ``reference_ms / other_ms`` (speed of ``other`` relative to ``reference``)."""
    return statistics.median(r / o for r, o in zip(reference, other))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["lpcnet", "lpcnet-lite"])
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 8])
    parser.add_argument("--rounds", type=int, default=3, help="alternated rounds over the variants")
    parser.add_argument("--iters", type=int, default=5, help="timed calls per variant per round")
    parser.add_argument("--threads", type=int, default=0,
                        help="inference threads of every variant (default 0: each runtime's default, as "
                             "`edgeinspect run` without engine_threads and as the by-hand variants)")
    parser.add_argument("--work", type=Path, default=Path("engines/bench"), help="checkpoints + engines, reused")
    parser.add_argument("--variants", nargs="+", default=[k for k, _ in VARIANTS],
                        choices=[k for k, _ in VARIANTS + EXTRA_VARIANTS], metavar="VARIANT",
                        help=f"subset of the variants (default: all but {', '.join(k for k, _ in EXTRA_VARIANTS)})")
    parser.add_argument("--nice", type=int, default=0,
                        help="nice value for the bench processes, e.g. -10 on a shared machine (root; every variant alike)")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        raise_priority(args.nice)
        worker(args.worker, args.work, args.threads)
        return

    labels = dict(VARIANTS + EXTRA_VARIANTS)
    print(f"engines bench: {TILE}² tiles, {args.threads or 'default'} threads, {args.rounds} rounds × {args.iters} calls, "
          f"one process per variant, rounds alternated, {SETTLE_S:g} s settle before each measurement"
          + (f", nice {args.nice}" if args.nice else ""))
    rows, pairs = [], []
    for model in args.models:
        folder = args.work / model
        print(f"preparing {model} in {folder}")
        prepare(model, folder, args.threads)
        workers = [Worker(kind, folder, args.threads, args.nice) for kind in args.variants]
        try:
            for batch in args.batches:
                samples: dict[str, list[float]] = {w.kind: [] for w in workers}
                for round_index in range(args.rounds):
                    order = workers[round_index % len(workers):] + workers[: round_index % len(workers)]
                    for w in order:
                        time.sleep(SETTLE_S)
                        samples[w.kind].append(statistics.mean(w.measure(batch, args.iters)))
                for kind, values in samples.items():
                    ms = statistics.median(values)
                    vs_torch = paired_ratio(samples["torch"], values) if "torch" in samples else float("nan")
                    rows.append((model, batch, labels[kind], ms, batch * 1e3 / ms, vs_torch))
                for kind, reference in BY_HAND.items():
                    if kind in samples and reference in samples:
                        pairs.append((model, batch, labels[kind], labels[reference],
                                      paired_ratio(samples[reference], samples[kind])))
        finally:
            for w in workers:
                w.close()
    header = f"{'network':12s} {'batch':>5s}  {'variant':32s} {'ms/batch':>9s} {'tiles/s':>8s} {'x torch':>8s}"
    print(header)
    print("-" * len(header))
    for model, batch, label, ms, rate, ratio in rows:
        print(f"{model:12s} {batch:5d}  {label:32s} {ms:9.1f} {rate:8.1f} {ratio:7.2f}x")
    if pairs:
        print()
        print("ours / by hand: speed of each engine relative to its runtime used by hand with default settings on")
        print("the same ONNX file (median of per-round by-hand ms / engine ms; >= 1.00x: the engine is not slower)")
        header = f"{'network':12s} {'batch':>5s}  {'engine':32s} {'by hand':26s} {'ours/by hand':>12s}"
        print(header)
        print("-" * len(header))
        for model, batch, label, reference, ratio in pairs:
            print(f"{model:12s} {batch:5d}  {label:32s} {reference:26s} {ratio:11.2f}x")


if __name__ == "__main__":
    main()
