"""CPU engines side by side: torch eager vs OpenVINO / ONNX Runtime, FP32 and INT8, same inputs, alternated.

For each network (``lpcnet``: random init, speed does not depend on weights; ``lpcnet-lite``: the bundled
checkpoint when present, else random init) at 256² and each batch size (1 and 8), every variant runs in
its OWN worker process (ONNX Runtime's spinning threads would otherwise slow its neighbours) and the
parent alternates rounds over the workers, so load changes on a shared machine hit every variant alike.
Only one worker computes at a time. Variants:

- ``torch eager fp32``: ``backends.load(ckpt.pt)`` (PyTorch, ``torch.inference_mode``);
- ``openvino fp32`` / ``openvino int8``: ``edgeinspect build --backend openvino`` engines (int8 = symmetric QDQ);
- ``onnxruntime fp32`` / ``onnxruntime int8``: ``--backend onnxruntime`` engines (int8 = uint8 re-encoding);
- ``openvino by hand`` / ``onnxruntime by hand``: the same FP32 ONNX with each runtime's default settings
  (``ov.Core().compile_model(path, "CPU")``, ``ort.InferenceSession(path)``): the reference row.

Prints ms per batch (median over rounds of the per-round mean), tiles/s and the ratio to torch eager.
Engines are built once into ``--work`` (reused when present: delete the folder to rebuild).

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
VARIANTS = (
    ("torch", "torch eager fp32"),
    ("openvino-fp32", "openvino fp32"),
    ("openvino-int8", "openvino int8 (uint8)"),
    ("onnxruntime-fp32", "onnxruntime fp32"),
    ("onnxruntime-int8", "onnxruntime int8 (uint8)"),
    ("ov-default", "openvino by hand, defaults"),
    ("ort-default", "onnxruntime by hand, defaults"),
)


# ------------------------------------------------------------------------------------------- worker


def _inputs(batch: int) -> "np.ndarray":
    """The same ``(batch,1,256,256)`` uint8 tiles in every worker: synthetic web tiles, fixed seeds."""
    import numpy as np

    from edgeinspect.export.calibration import load_calibration

    tiles = load_calibration(None, tile_hw=(TILE, TILE), count=8, held_out=0).tiles
    return np.ascontiguousarray(np.resize(tiles, (batch, 1, TILE, TILE)).astype(np.uint8))


def _runner(kind: str, folder: Path, threads: int):
    """``(f(batch), close())`` for one variant (engines through the Engine API)."""
    import numpy as np

    if kind == "ov-default":
        import openvino as ov

        compiled = ov.Core().compile_model(str(folder / "openvino-fp32" / "model.onnx"), "CPU")
        request = compiled.create_infer_request()
        return (lambda batch: request.infer({0: batch.astype(np.float32)})), (lambda: None)
    if kind == "ort-default":
        import onnxruntime as ort

        session = ort.InferenceSession(str(folder / "onnxruntime-fp32" / "model.onnx"), providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        return (lambda batch: session.run(None, {name: batch.astype(np.float32)})), (lambda: None)
    from edgeinspect import backends

    path = folder / "checkpoint.pt" if kind == "torch" else folder / kind
    engine = backends.load(path, threads=threads).open()
    return engine.infer, engine.close


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
            result = build_engine(source, out=out, backend=backend, precision=precision, threads=threads, max_drop=100.0)
            drop = result.manifest.metrics["miou_drop"] if result.manifest.metrics else None
            print(f"  built {out} in {time.perf_counter() - start:.0f} s" + (f" (INT8 mIoU drop {drop:.2f} points)" if drop is not None else ""))


class Worker:
    """One variant's process."""

    def __init__(self, kind: str, folder: Path, threads: int) -> None:
        env = dict(os.environ, OMP_NUM_THREADS=str(threads))
        self.kind = kind
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--worker", kind, "--work", str(folder), "--threads", str(threads)],
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["lpcnet", "lpcnet-lite"])
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 8])
    parser.add_argument("--rounds", type=int, default=3, help="alternated rounds over the variants")
    parser.add_argument("--iters", type=int, default=5, help="timed calls per variant per round")
    parser.add_argument("--threads", type=int, default=2, help="inference threads of every variant")
    parser.add_argument("--work", type=Path, default=Path("engines/bench"), help="checkpoints + engines, reused")
    parser.add_argument("--variants", nargs="+", default=[k for k, _ in VARIANTS], help="subset of the variants")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.work, args.threads)
        return

    labels = dict(VARIANTS)
    print(f"engines bench: {TILE}² tiles, {args.threads} threads, {args.rounds} rounds × {args.iters} calls, "
          f"one process per variant, rounds alternated")
    rows = []
    for model in args.models:
        folder = args.work / model
        print(f"preparing {model} in {folder}")
        prepare(model, folder, args.threads)
        workers = [Worker(kind, folder, args.threads) for kind in args.variants]
        try:
            for batch in args.batches:
                samples: dict[str, list[float]] = {w.kind: [] for w in workers}
                for round_index in range(args.rounds):
                    order = workers[round_index % len(workers):] + workers[: round_index % len(workers)]
                    for w in order:
                        samples[w.kind].append(statistics.mean(w.measure(batch, args.iters)))
                torch_ms = statistics.median(samples["torch"]) if "torch" in samples else None
                for kind, values in samples.items():
                    ms = statistics.median(values)
                    rows.append((model, batch, labels[kind], ms, batch * 1e3 / ms,
                                 torch_ms / ms if torch_ms else float("nan")))
        finally:
            for w in workers:
                w.close()
    header = f"{'network':12s} {'batch':>5s}  {'variant':32s} {'ms/batch':>9s} {'tiles/s':>8s} {'x torch':>8s}"
    print(header)
    print("-" * len(header))
    for model, batch, label, ms, rate, ratio in rows:
        print(f"{model:12s} {batch:5d}  {label:32s} {ms:9.1f} {rate:8.1f} {ratio:7.2f}x")


if __name__ == "__main__":
    main()
