"""Latency statistics over raw per-iteration times, and the timing loop that produces them.

The statistics follow trtexec's "Performance summary": min, max, mean, median and the 90th,
95th and 99th percentiles of the per-iteration times, the standard deviation and the
coefficient of variation (std / mean), with a warning when the CV exceeds 2.5% (trtexec warns
at the same threshold for "GPU Compute Time"). Percentiles use the nearest-rank rule on the
sorted samples, as trtexec does, so a reported percentile is always a time that was measured.

Throughput is defined from the mean, not the median: `batch * 1000 / mean_ms` clips per second,
i.e. what a loop running the same iterations back to back delivers; frames/s multiplies that
by the frames per clip.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable, Sequence

from tsmbench.errors import UsageError

#: trtexec warns when the coefficient of variation of the compute time exceeds this.
CV_WARN_THRESHOLD = 0.025
#: MLPerf SingleStream needs this many queries for a meaningful p90 estimate.
MLPERF_MIN_QUERIES_P90 = 64


@dataclass(frozen=True)
class TimingStats:
    """Summary of `iterations` per-iteration latencies (milliseconds)."""

    iterations: int
    min_ms: float
    max_ms: float
    mean_ms: float
    median_ms: float
    p90_ms: float
    p95_ms: float
    p99_ms: float
    std_ms: float
    cv: float
    wall_s: float
    batch: int
    frames_per_clip: int
    throughput_clips_per_s: float
    throughput_frames_per_s: float

    @property
    def cv_warning(self) -> str | None:
        if self.cv > CV_WARN_THRESHOLD:
            return (
                f"coefficient of variation {self.cv:.1%} exceeds {CV_WARN_THRESHOLD:.1%}: the timings are "
                "unstable (other load on the machine, frequency scaling); use a quiet machine or a longer --min-s"
            )
        return None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def percentile(sorted_ms: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of already sorted samples, as trtexec reports it."""
    if not sorted_ms:
        raise UsageError("no timing samples: run at least one iteration (--min-iters >= 1)")
    if not 0.0 <= q <= 100.0:
        raise UsageError(f"percentile must be in 0..100, got {q}")
    rank = max(1, math.ceil(q / 100.0 * len(sorted_ms)))
    return float(sorted_ms[min(rank, len(sorted_ms)) - 1])


def median(sorted_ms: Sequence[float]) -> float:
    n = len(sorted_ms)
    if n == 0:
        raise UsageError("no timing samples")
    mid = n // 2
    return float(sorted_ms[mid]) if n % 2 else (sorted_ms[mid - 1] + sorted_ms[mid]) / 2.0


def summarize(
    times_ms: Sequence[float], *, batch: int = 1, frames_per_clip: int = 1, wall_s: float | None = None
) -> TimingStats:
    """Statistics of raw per-iteration times in milliseconds (one iteration = one batch)."""
    if not times_ms:
        raise UsageError("no timing samples: run at least one iteration (--min-iters >= 1)")
    if batch < 1 or frames_per_clip < 1:
        raise UsageError(f"batch and frames per clip must be >= 1, got {batch} and {frames_per_clip}")
    xs = sorted(float(t) for t in times_ms)
    n = len(xs)
    mean = math.fsum(xs) / n
    var = math.fsum((x - mean) ** 2 for x in xs) / n if n > 1 else 0.0
    std = math.sqrt(var)
    clips_per_s = batch * 1000.0 / mean if mean > 0 else math.inf
    return TimingStats(
        iterations=n,
        min_ms=xs[0],
        max_ms=xs[-1],
        mean_ms=mean,
        median_ms=median(xs),
        p90_ms=percentile(xs, 90),
        p95_ms=percentile(xs, 95),
        p99_ms=percentile(xs, 99),
        std_ms=std,
        cv=std / mean if mean > 0 else 0.0,
        wall_s=float(wall_s) if wall_s is not None else math.fsum(xs) / 1000.0,
        batch=batch,
        frames_per_clip=frames_per_clip,
        throughput_clips_per_s=clips_per_s,
        throughput_frames_per_s=clips_per_s * frames_per_clip,
    )


def time_iterations(
    step: Callable[[], Any],
    *,
    warmup_s: float = 0.2,
    min_s: float = 1.0,
    min_iters: int = 10,
    max_iters: int = 100_000,
    sync: Callable[[], None] | None = None,
    timer: Callable[[], float] = time.perf_counter,
) -> tuple[list[float], float]:
    """Run `step` repeatedly and return (per-iteration times in ms, wall seconds of the timed loop).

    Warm-up runs for `warmup_s` (at least one call) and is not recorded. The timed loop then
    runs until both `min_s` seconds and `min_iters` iterations are reached. `sync` (e.g.
    torch.cuda.synchronize) is called after each step inside the timed interval, so that an
    asynchronous launch is not mistaken for a finished computation.
    """
    if min_iters < 1:
        raise UsageError(f"--min-iters must be >= 1, got {min_iters}")
    if warmup_s < 0 or min_s < 0:
        raise UsageError("--warmup-s and --min-s must be >= 0")
    start = timer()
    while True:
        step()
        if sync is not None:
            sync()
        if timer() - start >= warmup_s:
            break
    times: list[float] = []
    loop_start = timer()
    while len(times) < max_iters:
        t0 = timer()
        step()
        if sync is not None:
            sync()
        t1 = timer()
        times.append((t1 - t0) * 1000.0)
        if len(times) >= min_iters and t1 - loop_start >= min_s:
            break
    return times, timer() - loop_start


def mlperf_summary(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """MLPerf-style figures from latency rows of one model/backend/device/precision.

    SingleStream: the 90th-percentile latency at batch 1 (MLPerf's metric, with a note when
    fewer than 64 queries were timed). Offline: the throughput in samples (clips) per second at
    the largest batch measured. Rows with status "error" are ignored.
    """
    ok = [r for r in rows if r.get("status", "ok") == "ok"]
    out: dict[str, Any] = {"single_stream_p90_ms": None, "offline_clips_per_s": None, "offline_batch": None}
    single = [r for r in ok if r.get("batch") == 1 and r.get("p90_ms") is not None]
    if single:
        r = single[0]
        out["single_stream_p90_ms"] = r["p90_ms"]
        if (r.get("iterations") or 0) < MLPERF_MIN_QUERIES_P90:
            out["single_stream_note"] = (
                f"only {r.get('iterations')} queries timed; MLPerf asks for >= {MLPERF_MIN_QUERIES_P90} for a p90"
            )
    batched = [r for r in ok if r.get("throughput_clips_per_s") is not None]
    if batched:
        r = max(batched, key=lambda r: (r.get("batch") or 0))
        out["offline_clips_per_s"] = r["throughput_clips_per_s"]
        out["offline_batch"] = r.get("batch")
    return out
