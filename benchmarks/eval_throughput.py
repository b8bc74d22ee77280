"""Eval throughput and data-wait share with 0, 1 and 2 DataLoader workers.

Writes a few hundred small H.264 clips (64x64, 16 frames, cached between runs), then runs
tsmbench.measure.evaluate with a tiny TSM over them once per worker count and prints a table.
Not a test: figures depend on the machine and on what else runs on it.

    python benchmarks/eval_throughput.py --num-videos 300
    python benchmarks/eval_throughput.py --num-videos 24 --workers 0 1   # a quick check
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def write_clips(root: Path, n: int, *, frames: int, size: int, classes: int) -> Path:
    """Moving-square clips with noise, one MMAction2 video list; reused when already there."""
    import av

    root.mkdir(parents=True, exist_ok=True)
    lst = root / f"list_{n}.txt"
    if lst.exists():
        return lst
    rng = np.random.default_rng(0)
    lines = []
    for i in range(n):
        p = root / f"clip{i:05d}.mp4"
        label = i % classes
        if not p.exists():
            with av.open(str(p), "w") as out:
                s = out.add_stream("libx264", rate=8)
                s.height = s.width = size
                s.pix_fmt = "yuv420p"
                s.options = {"crf": "18", "preset": "ultrafast"}
                s.thread_count = 1
                colour = rng.integers(40, 215, 3)
                for t in range(frames):
                    img = rng.integers(0, 40, (size, size, 3), dtype=np.uint8) + 100
                    x = (t * 3 + label * 5) % (size - 16)
                    img[20:36, x : x + 16] = colour
                    for pkt in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                        out.mux(pkt)
                for pkt in s.encode():
                    out.mux(pkt)
        lines.append(f"{p.name} {label}")
    lst.write_text("\n".join(lines) + "\n")
    return lst


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--num-videos", type=int, default=300)
    ap.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--model", default="tsm_resnet_tiny")
    ap.add_argument("--protocol", default="uniform")
    ap.add_argument("--crops", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--num-segments", type=int, default=8)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1, help="torch threads for the model (workers use their own processes)")
    ap.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "tsmbench-eval-throughput")
    ap.add_argument("--output", type=Path, default=None, help="append one JSON line per row to this file")
    args = ap.parse_args(argv)

    import torch

    import tsmbench
    from tsmbench.data.annotations import read_annotations
    from tsmbench.measure.evaluate import evaluate
    from tsmbench.results.schema import environment

    torch.set_num_threads(args.threads)
    classes = 12
    lst = write_clips(args.cache, args.num_videos, frames=16, size=args.size, classes=classes)
    samples = read_annotations(lst)
    model = tsmbench.create_model(args.model, num_classes=classes, num_segments=args.num_segments)
    cfg = {"size": args.size, "resize": args.size, "mean": [0.5] * 3, "std": [0.25] * 3, "scale": 1.0}
    rows = []
    print(f"{len(samples)} videos ({args.size}x{args.size}, 16 frames, H.264), {args.model}, {args.protocol}, "
          f"{args.crops} crop(s), batch {args.batch_size}, {os.cpu_count()} CPUs", file=sys.stderr)
    for w in args.workers:
        t = time.perf_counter()
        r = evaluate(model, samples, protocol=args.protocol, crops=args.crops, input_cfg=cfg, batch_size=args.batch_size,
                     workers=w, root=args.cache)
        rows.append({"workers": w, "videos": r.num_videos, "wall_s": time.perf_counter() - t, "clips_per_s": r.throughput,
                     "data_wait_share": r.data_wait_share, "skipped": len(r.skipped)})
    print(f"{'workers':>7} {'videos':>6} {'wall s':>8} {'clips/s':>8} {'data wait':>9}")
    for row in rows:
        print(f"{row['workers']:>7} {row['videos']:>6} {row['wall_s']:>8.2f} {row['clips_per_s']:>8.1f} {100 * row['data_wait_share']:>8.1f}%")
    if args.output:
        env = environment()
        with open(args.output, "a", encoding="utf-8") as f:
            for row in rows:
                f.write(json.dumps({**row, **vars(args), "cache": str(args.cache), "output": str(args.output), "environment": env}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
