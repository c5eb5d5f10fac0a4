"""Where an ONNX Runtime engine spends its time, by operator type (ONNX Runtime's own profiler).

Runs the model on one thread (as each of ``run``'s two engine streams does on 2 cores) with the
session options of ``edgeinspect``'s ONNX Runtime backend (subnormals flushed to zero, full graph
optimisation), ``--warmup`` calls left out and ``--runs`` counted calls on batches of synthetic tiles,
and prints each operator type's share of the kernel time and its milliseconds per call. This says, for example, why the INT8
engine of the bundled model is not faster than FP32: compare

    python benchmarks/ort_ops.py edgeinspect/assets/lpcnet-lite.onnx
    python benchmarks/ort_ops.py engines/lite-ort-int8/model.uint8.onnx
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path, help="an .onnx file (an engine folder's model file)")
    parser.add_argument("--batch-size", type=int, default=4, help="tiles per call (default 4, as run)")
    parser.add_argument("--warmup", type=int, default=3, help="calls left out of the figures (default 3)")
    parser.add_argument("--runs", type=int, default=10, help="calls counted (default 10)")
    parser.add_argument("--top", type=int, default=12, help="operator types printed (default 12)")
    args = parser.parse_args()

    import numpy as np
    import onnxruntime as ort

    from edgeinspect.backends.onnxruntime import session_options

    if not args.model.is_file():
        sys.exit(f"error: {args.model}: not found")
    with tempfile.TemporaryDirectory(prefix="edgeinspect-ort-ops-") as tmp:
        options = session_options(threads=1)
        options.enable_profiling = True
        options.profile_file_prefix = os.path.join(tmp, "profile")
        session = ort.InferenceSession(str(args.model), options, providers=["CPUExecutionProvider"])
        image = session.get_inputs()[0]
        height, width = (int(v) for v in image.shape[-2:])
        tiles = np.random.default_rng(0).integers(0, 256, (args.batch_size, 1, height, width)).astype(np.float32)
        for _ in range(args.warmup):
            session.run(None, {image.name: tiles})
        start = time.perf_counter()
        for _ in range(args.runs):
            session.run(None, {image.name: tiles})
        wall_ms = (time.perf_counter() - start) / args.runs * 1e3
        events = json.loads(Path(session.end_profiling()).read_text())

    runs = [e for e in events if e.get("cat") == "Session" and e.get("name") == "model_run"]
    if len(runs) != args.warmup + args.runs:
        sys.exit(f"error: the profile holds {len(runs)} runs, expected {args.warmup + args.runs}")
    timed_from = runs[args.warmup - 1]["ts"] + runs[args.warmup - 1]["dur"] if args.warmup else 0
    kernel_us: collections.Counter[str] = collections.Counter()
    nodes: collections.Counter[str] = collections.Counter()
    for event in events:
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time") and event["ts"] >= timed_from:
            op = event["args"].get("op_name", "?")
            kernel_us[op] += event["dur"]
            nodes[op] += 1
    calls = args.runs
    total = sum(kernel_us.values()) or 1
    print(f"{args.model}: batch {args.batch_size}, 1 thread, {wall_ms:.1f} ms per call (profiling on)")
    for op, us in kernel_us.most_common(args.top):
        print(f"  {op:24s} {100 * us / total:5.1f} %  {us / calls / 1e3:6.2f} ms per call  ({nodes[op] // calls} nodes)")


if __name__ == "__main__":
    main()
