"""The seed networks side by side: same data, same CPU time budget, same test split → README model table.

For each network (``--models``; default lpcnet, psicnet, lsanet, anomalyseg) this script

1. trains its bundled recipe (``edgeinspect/train/recipes/<model>.yaml``: the paper's schedule, loss and
   optimizer) with ``data.input_hw = --size`` and ``data.max_images = --max-images`` for at most
   ``--budget-min`` minutes of wall-clock time (``train(..., max_minutes=...)``: the budget is shared
   by the network's stages in proportion to their epochs, each stage stops after the batch that
   spends its share, and the cosine/warm-up curves follow the time fraction);
2. scores ``best.pt`` on the test split (stratified 3:1:1, seed 0: the same images for every network)
   at native resolution: mPA, mIoU, mIoU80, share of defects whose area is within 20 % (``test.json``;
   PSIC-Net also image AP / accuracy from its ``score`` output);
3. builds an INT8 engine (``--backend``, onnxruntime by default; calibrated on ``--calib-count``
   train/val tiles of the same dataset; the FP32→INT8 mIoU drop is reported, never refused) and times
   it for ``--bench-s`` seconds on batches of ``--bench-batch`` random tiles: INT8 tiles/s (single
   process, ``--threads`` engine threads; the other networks are not running meanwhile).

Output: a markdown table on stdout and in ``OUT/zoo.md``, everything in ``OUT/zoo.json``; run folders
and engines under ``OUT/<model>/`` (``OUT`` defaults to ``runs/zoo``, which git ignores: never commit
the data or these models).

    # the README table (22 min):
    python benchmarks/zoo.py --budget-min 3 --max-images 60 --size 128 --models lpcnet,psicnet,lsanet,anomalyseg,lpcnet-lite --backend openvino --calib-count 32 --bench-s 3
    python benchmarks/zoo.py --budget-min 30                  # a real comparison (~3 h)
    python benchmarks/zoo.py --data /tmp/synth --budget-min 0.5 --max-images 40 --size 128 --out /tmp/zoo
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "datasets" / "magnetic_tile"
DEFAULT_MODELS = ("lpcnet", "psicnet", "lsanet", "anomalyseg")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help=f"dataset folder (default {DEFAULT_DATA})")
    parser.add_argument("--models", default=",".join(DEFAULT_MODELS),
                        help="comma-separated registered names (lpcnet-lite too)")
    parser.add_argument("--budget-min", type=float, default=30.0, help="training wall-clock minutes per network")
    parser.add_argument("--max-images", type=int, default=None, help="cap per split (train/val/test), seeded")
    parser.add_argument("--size", type=int, default=256, help="square network input in px (multiple of 16, >= 80)")
    parser.add_argument("--batch", type=int, default=None, help="training batch (default: each recipe's)")
    parser.add_argument("--backend", default="onnxruntime", choices=("onnxruntime", "openvino"))
    parser.add_argument("--calib-count", type=int, default=64, help="INT8 calibration tiles")
    parser.add_argument("--bench-s", type=float, default=5.0, help="seconds of timed INT8 inference per network")
    parser.add_argument("--bench-batch", type=int, default=8, help="tiles per engine call when timing")
    parser.add_argument("--threads", type=int, default=None, help="engine threads (default: the runtime's)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "zoo", help="output folder (default runs/zoo)")
    parser.add_argument("--force", action="store_true", help="delete OUT/<model> folders that already exist")
    return parser.parse_args(argv)


def train_one(name: str, args: argparse.Namespace, folder: Path) -> dict:
    """Train ``name`` for the budget; return the run facts and test.json."""
    from edgeinspect.train.curves import read_metrics
    from edgeinspect.train.loop import train
    from edgeinspect.train.recipe import apply_overrides, load_recipe

    overrides = {"data.input_hw": [args.size, args.size], "data.max_images": args.max_images, "seed": args.seed}
    if args.batch is not None:
        overrides["optim.batch"] = args.batch
    recipe = apply_overrides(load_recipe(name), overrides, source="benchmarks/zoo.py")
    started = time.perf_counter()
    train(recipe, args.data, folder / "run", max_minutes=args.budget_min)
    seconds = time.perf_counter() - started
    rows = read_metrics(folder / "run" / "metrics.csv")
    stages: dict[str, int] = {}
    for row in rows:
        stages[row["stage"]] = stages.get(row["stage"], 0) + 1
    return {
        "recipe_epochs": recipe.total_epochs,
        "epochs_run": len(rows),
        "epochs_per_stage": stages,
        "train_seconds": round(sum(float(r["seconds"]) for r in rows), 1),
        "wall_seconds": round(seconds, 1),
        "test": json.loads((folder / "run" / "test.json").read_text()),
    }


def int8_rate(name: str, args: argparse.Namespace, folder: Path) -> dict:
    """Build the INT8 engine of ``best.pt`` and time it; return tiles/s and the gate figures."""
    from edgeinspect import backends
    from edgeinspect.backends.build import build_engine

    engine_dir = folder / f"{args.backend}-int8"
    build_engine(folder / "run" / "best.pt", out=engine_dir, backend=args.backend, precision="int8",
                 calib=args.data, max_drop=100.0, threads=args.threads, calib_count=args.calib_count, force=True)
    manifest = json.loads((engine_dir / "manifest.json").read_text())
    tiles = np.random.default_rng(0).integers(0, 256, (args.bench_batch, 1, args.size, args.size)).astype(np.uint8)
    with backends.load(engine_dir, threads=args.threads) as engine:
        for _ in range(2):
            engine.infer(tiles)   # warm-up
        count, started = 0, time.perf_counter()
        while time.perf_counter() - started < args.bench_s:
            engine.infer(tiles)
            count += tiles.shape[0]
        elapsed = time.perf_counter() - started
    metrics = manifest.get("metrics") or {}
    return {
        "int8_tiles_per_s": round(count / elapsed, 2),
        "int8_engine": str(engine_dir),
        "int8_outputs": manifest["output_names"],
        "int8_gate_miou_drop_points": metrics.get("miou_drop"),
    }


def table(results: list[dict], args: argparse.Namespace) -> str:
    def pct(value) -> str:
        return "–" if value is None else f"{100 * value:.1f}"

    lines = [
        f"Trained {args.budget_min:g} min of CPU wall-clock each ({os.cpu_count()} cores, {platform.processor() or platform.machine()}), "
        f"{args.size}×{args.size} input, on `{args.data.name}` (test split 3:1:1 seed {args.seed}"
        + (f", ≤ {args.max_images} images per split" if args.max_images else "") + "); "
        f"INT8 = {args.backend} engine, batch {args.bench_batch}.",
        "",
        "| network | params (M) | epochs run / recipe | mPA % | mIoU % | mIoU80 % | area within 20 % | INT8 tiles/s | INT8 ΔmIoU (pts) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        if "error" in r:
            lines.append(f"| {r['model']} | | | | | | | | error: {r['error']} |")
            continue
        t = r["test"]
        drop = r.get("int8_gate_miou_drop_points")
        lines.append(
            f"| {r['model']} | {r['params_m']:.2f} | {r['epochs_run']} / {r['recipe_epochs']} | {pct(t['mPA'])} | "
            f"{pct(t['mIoU'])} | {pct(t['mIoU80'])} | {pct(t['defects']['area_within_tol'])} | "
            f"{r.get('int8_tiles_per_s', '–')} | {'–' if drop is None else f'{drop:.2f}'} |"
        )
    psic = [r for r in results if r.get("test", {}).get("image_score") == "score"]
    for r in psic:
        t = r["test"]
        lines.append("")
        lines.append(f"{r['model']} image level (its `score` output): AP {pct(t['image_ap'])} %, "
                     f"AUC {pct(t['image_auc'])} %, accuracy {pct(t['image_acc'])} %.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import torch

    from edgeinspect.errors import EdgeInspectError
    from edgeinspect.models import create_model

    if not args.data.is_dir():
        print(f"error: {args.data}: dataset folder not found (--data)", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    results = []
    for name in [m.strip() for m in args.models.split(",") if m.strip()]:
        folder = args.out / name
        if folder.exists():
            if not args.force:
                print(f"error: {folder} exists: pass --force or choose another --out", file=sys.stderr)
                return 2
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        print(f"== {name}: training for {args.budget_min:g} min", file=sys.stderr, flush=True)
        record: dict = {"model": name}
        try:
            with torch.device("meta"):
                record["params_m"] = sum(p.numel() for p in create_model(name).parameters()) / 1e6
            record.update(train_one(name, args, folder))
            print(f"== {name}: INT8 engine and {args.bench_s:g} s timing", file=sys.stderr, flush=True)
            record.update(int8_rate(name, args, folder))
        except EdgeInspectError as error:
            record["error"] = str(error)
            print(f"error: {name}: {error}", file=sys.stderr)
        results.append(record)
        (args.out / "zoo.json").write_text(json.dumps({"settings": _settings(args), "results": results}, indent=2) + "\n")
    text = table(results, args)
    (args.out / "zoo.md").write_text(text + "\n")
    print(text)
    return 0 if all("error" not in r for r in results) else 1


def _settings(args: argparse.Namespace) -> dict:
    import torch

    from edgeinspect import __version__

    return {
        "data": str(args.data), "models": args.models, "budget_min": args.budget_min, "max_images": args.max_images,
        "size": args.size, "batch": args.batch, "backend": args.backend, "calib_count": args.calib_count,
        "bench_s": args.bench_s, "bench_batch": args.bench_batch, "threads": args.threads, "seed": args.seed,
        "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(), "machine": platform.machine(),
        "edgeinspect": __version__, "torch": torch.__version__,
    }


if __name__ == "__main__":
    sys.exit(main())
