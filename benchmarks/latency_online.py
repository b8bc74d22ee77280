"""Online TSM-MobileNetV2 per-frame latency (the paper's streaming scenario) vs plain MobileNetV2.

What it measures and how: `tsm_mobilenetv2_online` runs frame by frame (batch 1, 224x224) with its
10 shift buffers carried from one frame to the next (`tsmbench latency --mode stream`), on every
CPU backend (torch eager fp32, ONNX Runtime fp32, ONNX Runtime int8); the baseline is the same
MobileNetV2 without shifts (`tsn_mobilenetv2` with T=1, one frame per call). It prints
  - the per-frame median latency and fps of each, and the best backend (target <= 4 ms; the paper
    reports 13.4 ms on a Jetson Nano GPU and 47.8 ms on its CPU),
  - the online-TSM overhead over plain MobileNetV2 per backend (target <= 3%),
  - three repeated invocations of the best backend as separate processes
    (`python -m tsmbench latency ... --json`), their medians and spread (target within +-3%).
Appends one line to benchmarks/results.jsonl.

    python benchmarks/latency_online.py             # ~3-5 min on 2 cores
    python benchmarks/latency_online.py --quick     # 64 px, short timing: checks the script runs
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from latency_common import RESULTS, append_result, find, print_rows, slim  # noqa: E402

ONLINE, PLAIN = "tsm_mobilenetv2_online", "tsn_mobilenetv2"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--min-s", type=float, default=5.0)
    ap.add_argument("--min-iters", type=int, default=200)
    ap.add_argument("--warmup-s", type=float, default=2.0)
    ap.add_argument("--num-classes", type=int, default=27, help="27: Jester, as the paper's online demo")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--results", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    if args.quick:
        args.size, args.min_s, args.min_iters, args.warmup_s = 64, 0.3, 10, 0.1

    from tsmbench.backends.latency import LatencySpec, sweep

    configs = [("torch", "fp32"), ("onnxruntime", "fp32"), ("onnxruntime", "int8")]
    specs = [
        LatencySpec(model=m, backend=b, precision=p, device="cpu", batch=1, mode="stream", size=args.size,
                    num_classes=args.num_classes, threads=args.threads, warmup_s=args.warmup_s, min_s=args.min_s,
                    min_iters=args.min_iters, calibration="random")
        for m in (ONLINE, PLAIN) for b, p in configs
    ]
    print(f"per-frame latency, batch 1, {args.size}x{args.size}, {args.threads} threads, >= {args.min_s} s and "
          f">= {args.min_iters} frames per configuration after {args.warmup_s} s warm-up; shift buffers carried between frames")
    rows = sweep(specs, log=lambda s: print("  " + s, file=sys.stderr))
    print_rows(rows)

    figures: dict[str, object] = {}
    online_ok = [r for r in rows if r["model"] == ONLINE and r["status"] == "ok"]
    best = min(online_ok, key=lambda r: r["median_ms"]) if online_ok else None
    if best:
        figures.update({"best_backend": best["backend"], "best_precision": best["precision"],
                        "best_per_frame_ms": best["median_ms"], "best_fps": 1000.0 / best["median_ms"]})
        print(f"best: {best['backend']} {best['precision']}: {best['median_ms']:.2f} ms per frame "
              f"({1000.0 / best['median_ms']:.0f} fps; target <= 4 ms; paper: 13.4 ms Jetson Nano GPU, 47.8 ms Nano CPU)")
    for b, p in configs:
        a, c = find(rows, model=ONLINE, backend=b, precision=p), find(rows, model=PLAIN, backend=b, precision=p)
        if a and c:
            over = a["median_ms"] / c["median_ms"] - 1.0
            figures[f"online_overhead_{b}_{p}"] = over
            print(f"online TSM over plain MobileNetV2, {b} {p}: {over:+.1%} (target <= +3%)")

    if best:
        medians = []
        cmd = [sys.executable, "-m", "tsmbench", "latency", ONLINE, "--mode", "stream", "--backend", best["backend"],
               "--precision", best["precision"], "--size", str(args.size), "--num-classes", str(args.num_classes),
               "--threads", str(args.threads), "--warmup-s", str(args.warmup_s), "--min-s", str(args.min_s),
               "--min-iters", str(args.min_iters), "--json"]
        for i in range(args.repeats):
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                print(f"repeat {i + 1} failed: {proc.stderr.strip()[-300:]}")
                continue
            medians.append(json.loads(proc.stdout)["results"][0]["median_ms"])
        if medians:
            mid = statistics.median(medians)
            spread = max(abs(m / mid - 1.0) for m in medians)
            figures.update({"repeat_medians_ms": medians, "repeat_max_deviation": spread})
            print(f"{len(medians)} separate invocations of `tsmbench latency {ONLINE} --mode stream --backend "
                  f"{best['backend']}`: medians {', '.join(f'{m:.3f}' for m in medians)} ms; max deviation from their "
                  f"median {spread:.1%} (target within 3%)")
    append_result({"benchmark": "latency_online", "quick": args.quick, "rows": [slim(r) for r in rows],
                   "figures": figures, "environment": rows[0].get("environment") if rows else None}, args.results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
