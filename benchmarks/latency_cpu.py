"""TSM-R50 8-frame clip latency on this CPU: torch eager vs ONNX Runtime fp32 vs ONNX Runtime int8.

What it measures and how: for TSM-R50 and TSN-R50 (8 frames, 224x224, batch 1, 400 classes) it
times torch eager (fp32, and bf16 autocast where the CPU has native bf16), ONNX Runtime fp32 and
ONNX Runtime static int8 (QDQ, calibrated on frames of the bundled synthetic benchmark) with
`tsmbench.backends.latency` (the code behind `tsmbench latency`): warm-up, then at least --min-s
seconds and --min-iters iterations, median/p90 over raw per-iteration times. It then prints
  - int8 speed-up over ONNX Runtime fp32 (target >= 2x),
  - TSM/TSN median latency ratio per backend (target <= 1.02: the shift is zero-FLOP),
  - with --weights (a checkpoint trained on the bundled synthetic benchmark), int8 vs fp32 top-1
    on its validation clips (target: <= 1 point change).
Each run appends one line to benchmarks/results.jsonl. Run it on a quiet machine:

    python benchmarks/latency_cpu.py                       # ~5-10 min on 2 cores
    python benchmarks/latency_cpu.py --weights zoo/weights/tsm_resnet_tiny.synthetic.safetensors --arch tsm_resnet_tiny
    python benchmarks/latency_cpu.py --quick               # tiny models, seconds: checks the script runs
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from latency_common import RESULTS, append_result, find, onnx_top1, print_rows, slim, synthetic_val_clips  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny models at 64 px, 4 frames, short timing")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--min-s", type=float, default=10.0)
    ap.add_argument("--min-iters", type=int, default=20)
    ap.add_argument("--warmup-s", type=float, default=3.0)
    ap.add_argument("--calibration", default="synthetic", help="int8 calibration: random | synthetic | folder of videos")
    ap.add_argument("--weights", help="checkpoint trained on the synthetic benchmark, for the int8 top-1 change")
    ap.add_argument("--arch", default=None, help="architecture of --weights (default tsm_r50; tsm_resnet_tiny with --quick)")
    ap.add_argument("--val-clips", type=int, default=240, help="synthetic validation clips for the top-1 check")
    ap.add_argument("--eval-segments", type=int, default=8, help="frames per clip for the top-1 check (the weights' T)")
    ap.add_argument("--no-bf16", action="store_true")
    ap.add_argument("--results", type=Path, default=RESULTS, help="JSON-lines file to append to")
    args = ap.parse_args(argv)

    from tsmbench.backends.latency import LatencySpec, sweep
    from tsmbench.backends.torch_backend import cpu_supports_bf16

    if args.quick:
        tsm, tsn, segments, size, classes = "tsm_resnet_tiny", "tsn_resnet_tiny", 4, 64, 12
        args.min_s, args.min_iters, args.warmup_s, args.val_clips = 0.3, 5, 0.1, min(args.val_clips, 24)
    else:
        tsm, tsn, segments, size, classes = "tsm_r50", "tsn_r50", 8, 224, 400
    configs = [("torch", "fp32"), ("onnxruntime", "fp32"), ("onnxruntime", "int8")]
    if cpu_supports_bf16() and not args.no_bf16:
        configs.insert(1, ("torch", "bf16"))
    specs = [
        LatencySpec(model=m, backend=b, precision=p, device="cpu", batch=1, segments=segments, size=size,
                    num_classes=classes, threads=args.threads, warmup_s=args.warmup_s, min_s=args.min_s,
                    min_iters=args.min_iters, calibration=args.calibration)
        for m in (tsm, tsn) for b, p in configs
    ]
    print(f"timing {len(specs)} configurations: {tsm} and {tsn}, {segments} frames at {size}x{size}, batch 1, "
          f"{args.threads} threads, >= {args.min_s} s and >= {args.min_iters} iterations each after {args.warmup_s} s warm-up")
    rows = sweep(specs, log=lambda s: print("  " + s, file=sys.stderr))
    print_rows(rows)

    figures: dict[str, object] = {}
    for model in (tsm, tsn):
        fp32 = find(rows, model=model, backend="onnxruntime", precision="fp32")
        int8 = find(rows, model=model, backend="onnxruntime", precision="int8")
        if fp32 and int8:
            speedup = fp32["median_ms"] / int8["median_ms"]
            figures[f"{model}_ort_int8_speedup"] = speedup
            print(f"{model}: ONNX Runtime int8 is {speedup:.2f}x faster than fp32 (median; target >= 2x)")
        eager = find(rows, model=model, backend="torch", precision="fp32")
        if eager and fp32:
            figures[f"{model}_ort_fp32_vs_torch"] = eager["median_ms"] / fp32["median_ms"]
            print(f"{model}: ONNX Runtime fp32 is {eager['median_ms'] / fp32['median_ms']:.2f}x torch eager")
    for b, p in configs:
        a, c = find(rows, model=tsm, backend=b, precision=p), find(rows, model=tsn, backend=b, precision=p)
        if a and c:
            ratio = a["median_ms"] / c["median_ms"]
            figures[f"tsm_tsn_ratio_{b}_{p}"] = ratio
            print(f"TSM/TSN median latency, {b} {p}: {ratio:.3f} (target <= 1.02)")

    if args.weights or args.quick:
        figures.update(int8_accuracy(args, segments=args.eval_segments, size=64))
    append_result({"benchmark": "latency_cpu", "quick": args.quick, "rows": [slim(r) for r in rows],
                   "figures": figures, "environment": rows[0].get("environment") if rows else None}, args.results)
    return 0


def int8_accuracy(args: argparse.Namespace, *, segments: int, size: int) -> dict[str, object]:
    """fp32 vs int8 top-1 of the same ONNX model on the synthetic benchmark's validation clips."""
    from tsmbench.backends.export import ensure_onnx, load_model_for
    from tsmbench.backends.quantize import calibration_feeds, quantize_int8, _static_shapes

    arch = args.arch or ("tsm_resnet_tiny" if args.quick else "tsm_r50")
    eval_size = 64  # the synthetic benchmark's frames are 64x64
    model = load_model_for(arch, segments=segments, num_classes=None if args.weights else 12, weights=args.weights)
    batch = 4
    fp32 = ensure_onnx(model, arch, weights=args.weights, batch=batch, segments=segments, size=eval_size)
    int8 = fp32.with_name(fp32.stem + "-int8-u8s8-synthetic-acc.onnx")
    if not int8.exists():
        quantize_int8(fp32, int8, calibration=calibration_feeds("synthetic", _static_shapes(fp32, batch), batches=16, seed=7),
                      target="onnxruntime")
    clips, labels = synthetic_val_clips(args.val_clips, segments=segments, size=eval_size)
    top1_fp32 = onnx_top1(fp32, clips, labels, batch=batch, threads=args.threads)
    top1_int8 = onnx_top1(int8, clips, labels, batch=batch, threads=args.threads)
    note = "" if args.weights else " (untrained weights: these figures only show that the path runs)"
    print(f"{arch} on {len(labels)} synthetic validation clips: top-1 fp32 {top1_fp32:.1%}, int8 {top1_int8:.1%}, "
          f"change {100 * (top1_int8 - top1_fp32):+.1f} points (target within 1 point){note}")
    return {"int8_top1_arch": arch, "top1_fp32": top1_fp32, "top1_int8": top1_int8,
            "top1_change_points": 100 * (top1_int8 - top1_fp32), "trained": bool(args.weights),
            "val_clips": len(labels)}


if __name__ == "__main__":
    raise SystemExit(main())
