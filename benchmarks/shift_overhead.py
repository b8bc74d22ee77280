"""What does the temporal shift cost at run time? TSM-R50 against TSN-R50, interleaved pairs.

Both models run in one process on the same input (8 x 224², batch 1, CPU, eager, inference
mode). Each pair times TSM and TSN back to back, alternating which goes first, so drift in
clocks or load hits both alike; the figure is the median of the per-pair ratios. The
reference implementation's shift (zeros tensor + slice assignment) is timed the same way
for comparison.

    python benchmarks/shift_overhead.py            # target: median ratio <= 1.02
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

import tsmbench
from tsmbench.models.shift import TemporalShift
from tsmbench.results.schema import environment


def reference_style_shift(x: torch.Tensor, n_segment: int, fold_div: int = 8) -> torch.Tensor:
    nt, c, h, w = x.size()
    x = x.view(nt // n_segment, n_segment, c, h, w)
    fold = c // fold_div
    out = torch.zeros_like(x)
    out[:, :-1, :fold] = x[:, 1:, :fold]
    out[:, 1:, fold : 2 * fold] = x[:, :-1, fold : 2 * fold]
    out[:, :, 2 * fold :] = x[:, :, 2 * fold :]
    return out.view(nt, c, h, w)


class _ReferenceShift(TemporalShift):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return reference_style_shift(x, self.num_segments, self.shift_div)


def _time(model: torch.nn.Module, x: torch.Tensor) -> float:
    t0 = time.perf_counter()
    model(x)
    return time.perf_counter() - t0


def measure(a: torch.nn.Module, b: torch.nn.Module, x: torch.Tensor, pairs: int, warmup: int) -> dict:
    for _ in range(warmup):
        a(x), b(x)
    ratios, ta, tb = [], [], []
    for i in range(pairs):
        if i % 2:
            t_b, t_a = _time(b, x), _time(a, x)
        else:
            t_a, t_b = _time(a, x), _time(b, x)
        ta.append(t_a)
        tb.append(t_b)
        ratios.append(t_a / t_b)
    q = statistics.quantiles(ratios, n=4)
    return {
        "median_ratio": statistics.median(ratios),
        "ratio_iqr": [q[0], q[2]],
        "tsm_median_ms": 1e3 * statistics.median(ta),
        "tsn_median_ms": 1e3 * statistics.median(tb),
        "pairs": pairs,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pairs", type=int, default=40)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--segments", type=int, default=8)
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    p.add_argument("--arch", default="r50", help="backbone suffix: r50, mobilenetv2, resnet_tiny")
    p.add_argument("--no-reference", action="store_true", help="skip the reference-style shift comparison")
    p.add_argument("--out", type=Path, default=Path(__file__).with_name("results.jsonl"))
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    tsm = tsmbench.create_model(f"tsm_{args.arch}", num_segments=args.segments)
    tsn = tsmbench.create_model(f"tsn_{args.arch}", num_segments=args.segments)
    tsn.load_state_dict(tsm.state_dict())
    x = torch.randn(1, args.segments, 3, args.size, args.size)
    rows = {}
    with torch.inference_mode():
        rows["tsmbench shift"] = measure(tsm, tsn, x, args.pairs, args.warmup)
        if not args.no_reference:
            for m in tsm.modules():
                if type(m) is TemporalShift:
                    m.__class__ = _ReferenceShift
            rows["reference-style shift (zeros + slice assignment)"] = measure(tsm, tsn, x, args.pairs, args.warmup)
    env = environment()
    print(f"TSM-{args.arch} vs TSN-{args.arch}: {args.segments} x {args.size}², batch 1, CPU eager, "
          f"{args.threads} thread(s), {args.pairs} interleaved pairs, median of per-pair time ratios")
    print(f"cpu: {env['cpu']}; torch {env['torch']}")
    print(f"{'shift implementation':<50} {'TSM/TSN':>8} {'IQR':>15} {'TSM ms':>8} {'TSN ms':>8}")
    for name, r in rows.items():
        iqr = f"{r['ratio_iqr'][0]:.3f}-{r['ratio_iqr'][1]:.3f}"
        print(f"{name:<50} {r['median_ratio']:>8.3f} {iqr:>15} {r['tsm_median_ms']:>8.1f} {r['tsn_median_ms']:>8.1f}")
    with open(args.out, "a", encoding="utf-8") as f:
        f.write(json.dumps({"benchmark": "shift_overhead", "argv": sys.argv[1:], "arch": args.arch,
                            "segments": args.segments, "size": args.size, "threads": args.threads,
                            "rows": rows, "environment": env}) + "\n")


if __name__ == "__main__":
    main()
