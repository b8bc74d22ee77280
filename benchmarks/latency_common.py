"""Shared by the latency benchmarks: result file, table printing, synthetic-benchmark accuracy of ONNX models."""
from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import sys
from pathlib import Path
from typing import Any, Sequence

RESULTS = Path(__file__).resolve().parent / "results.jsonl"


def append_result(record: dict[str, Any], path: Path = RESULTS) -> None:
    """Append one JSON line (benchmark name, when, command, machine, figures) to benchmarks/results.jsonl."""
    base = {
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "command": [Path(sys.argv[0]).name, *sys.argv[1:]],
        "machine": {"cpu": _cpu(), "cpu_count": os.cpu_count(), "platform": platform.platform()},
    }
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps({**base, **record}, default=str) + "\n")
    print(f"appended to {path}")


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def slim(row: dict[str, Any]) -> dict[str, Any]:
    """A latency row without the environment block (recorded once per benchmark)."""
    keep = ("model", "backend", "device", "precision", "batch", "mode", "num_segments", "input_size", "torch_mode",
            "median_ms", "p90_ms", "p99_ms", "mean_ms", "min_ms", "max_ms", "cv", "iterations", "wall_s",
            "throughput_clips_per_s", "throughput_frames_per_s", "status", "error", "threads", "parity")
    return {k: row.get(k) for k in keep if k in row}


def print_rows(rows: Sequence[dict[str, Any]]) -> None:
    head = f"{'model':<26} {'backend':<12} {'prec':<5} {'mode':<6} {'batch':>5} {'median ms':>10} {'p90 ms':>9} {'cv':>6} {'clips/s':>9} {'iters':>6}  status"
    print(head)
    print("-" * len(head))
    for r in rows:
        if r["status"] != "ok":
            print(f"{r['model']:<26} {r['backend']:<12} {r['precision']:<5} {r['mode']:<6} {r['batch']:>5}  error: {r['error']}")
            continue
        print(f"{r['model']:<26} {r['backend']:<12} {r['precision']:<5} {r['mode']:<6} {r['batch']:>5} {r['median_ms']:>10.3f} "
              f"{r['p90_ms']:>9.3f} {r['cv']:>6.1%} {r['throughput_clips_per_s']:>9.2f} {r['iterations']:>6}  ok")


def find(rows: Sequence[dict[str, Any]], **match: Any) -> dict[str, Any] | None:
    for r in rows:
        if r["status"] == "ok" and all(r.get(k) == v for k, v in match.items()):
            return r
    return None


def synthetic_val_clips(n: int, *, segments: int, size: int) -> tuple[Any, list[int]]:
    """The bundled benchmark's validation clips rendered in memory, uniformly sampled to `segments` frames,
    normalised with the synthetic card's mean/std: (N, T, 3, S, S) float32 and labels."""
    import numpy as np

    from tsmbench.backends.quantize import _normalise, _resize, synthetic_normalisation
    from tsmbench.data.sampling import sample_frames
    from tsmbench.data.synthetic import SyntheticConfig, render_split_clip, split_plan

    cfg = SyntheticConfig()
    mean, std = synthetic_normalisation()
    clips, labels = [], []
    for index, (_, label, frames) in enumerate(split_plan(cfg, "val")[:n]):
        video = render_split_clip(cfg, "val", index, label, frames)
        idx = sample_frames(len(video), num_segments=segments, protocol="uniform")[0]
        clips.append(_normalise(_resize(video[idx], size), mean, std))
        labels.append(label)
    return np.stack(clips).astype(np.float32), labels


def onnx_top1(path: Path, clips: Any, labels: list[int], *, batch: int, threads: int | None) -> float:
    """Top-1 of an ONNX model (fixed batch) over clips, with ONNX Runtime on CPU."""
    import numpy as np

    from tsmbench.backends.onnxruntime_backend import make_session

    sess = make_session(path, threads=threads)
    name = sess.get_inputs()[0].name
    correct = 0
    total = 0
    for i in range(0, len(clips) - len(clips) % batch, batch):
        logits = sess.run(None, {name: clips[i : i + batch]})[0]
        correct += int((logits.argmax(1) == np.asarray(labels[i : i + batch])).sum())
        total += batch
    return correct / total if total else float("nan")
