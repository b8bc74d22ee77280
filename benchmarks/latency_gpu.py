"""TSM-R50 8-frame fp16 on an NVIDIA GPU: torch eager vs CUDA graphs vs torch.compile (and TensorRT if installed).

What it measures and how: TSM-R50, 8 frames at 224x224, fp16, batch 1 (latency) and 16
(throughput), each iteration timed with CUDA events on the stream and synchronised
(`tsmbench latency --device cuda`), for --torch-mode eager, cuda-graph and compile, plus
TensorRT fp16 through the Python API when `tensorrt` is importable. It prints the table, the
speed-up of each mode over eager, and the batch-16 throughput next to the paper's 77.4 videos/s
on a Tesla P100 (17.4 ms at batch 1). Exits 0 with a message when there is no CUDA GPU.
Appends one line to benchmarks/results.jsonl.

    python benchmarks/latency_gpu.py
    python benchmarks/latency_gpu.py --quick      # tiny model, short timing
"""
from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from latency_common import RESULTS, append_result, find, print_rows, slim  # noqa: E402

PAPER_P100 = {"batch1_ms": 17.4, "videos_per_s": 77.4}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--min-s", type=float, default=5.0)
    ap.add_argument("--min-iters", type=int, default=100)
    ap.add_argument("--warmup-s", type=float, default=2.0)
    ap.add_argument("--batches", default="1,16")
    ap.add_argument("--results", type=Path, default=RESULTS)
    args = ap.parse_args(argv)

    import torch

    if not torch.cuda.is_available():
        print("no CUDA GPU visible to torch: nothing measured (run this on a machine with an NVIDIA GPU)")
        return 0
    from tsmbench.backends.latency import LatencySpec, sweep

    model, segments, size = ("tsm_resnet_tiny", 4, 64) if args.quick else ("tsm_r50", 8, 224)
    if args.quick:
        args.min_s, args.min_iters, args.warmup_s = 0.3, 10, 0.2
    batches = [int(b) for b in args.batches.split(",")]
    configs = [("torch", "eager"), ("torch", "cuda-graph"), ("torch", "compile")]
    if importlib.util.find_spec("tensorrt") is not None:
        configs.append(("tensorrt", "eager"))
    specs = [
        LatencySpec(model=model, backend=b, device="cuda", precision="fp16", batch=n, segments=segments, size=size,
                    warmup_s=args.warmup_s, min_s=args.min_s, min_iters=args.min_iters, torch_mode=mode)
        for b, mode in configs for n in batches
    ]
    print(f"{model}, {segments} frames at {size}x{size}, fp16 on {torch.cuda.get_device_name(0)}; CUDA-event timing, "
          f">= {args.min_s} s and >= {args.min_iters} iterations after {args.warmup_s} s warm-up")
    rows = sweep(specs, log=lambda s: print("  " + s, file=sys.stderr))
    for r in rows:
        if r["backend"] == "torch":
            r["backend"] = f"torch:{r['torch_mode']}"
    print_rows(rows)
    figures: dict[str, object] = {}
    for n in batches:
        eager = find(rows, backend="torch:eager", batch=n)
        for r in rows:
            if r["status"] == "ok" and r["batch"] == n and eager:
                figures[f"{r['backend']}_b{n}_speedup_vs_eager"] = eager["median_ms"] / r["median_ms"]
                print(f"batch {n}: {r['backend']} {eager['median_ms'] / r['median_ms']:.2f}x eager "
                      f"({r['median_ms']:.2f} ms, {r['throughput_clips_per_s']:.1f} videos/s)")
    big = max(batches)
    for r in rows:
        if r["status"] == "ok" and r["batch"] == big:
            print(f"{r['backend']} batch {big}: {r['throughput_clips_per_s']:.1f} videos/s vs the paper's "
                  f"{PAPER_P100['videos_per_s']} on a P100 ({r['throughput_clips_per_s'] / PAPER_P100['videos_per_s']:.1f}x)")
    append_result({"benchmark": "latency_gpu", "quick": args.quick, "rows": [slim(r) for r in rows], "figures": figures,
                   "paper_p100": PAPER_P100, "environment": rows[0].get("environment") if rows else None}, args.results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
