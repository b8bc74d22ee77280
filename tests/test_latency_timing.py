"""Timing statistics: nearest-rank percentiles, CV warning, the timing loop and the MLPerf-style summary."""
from __future__ import annotations

import itertools

import pytest

from tsmbench.errors import UsageError
from tsmbench.measure.timing import (
    CV_WARN_THRESHOLD,
    mlperf_summary,
    percentile,
    summarize,
    time_iterations,
)


def test_percentiles_are_nearest_rank_samples():
    xs = [float(i) for i in range(1, 101)]  # 1..100
    assert percentile(xs, 90) == 90.0
    assert percentile(xs, 99) == 99.0
    assert percentile(xs, 100) == 100.0
    assert percentile([5.0], 99) == 5.0
    # Every percentile is a measured value, never an interpolation.
    assert percentile([1.0, 10.0], 50) == 1.0


def test_summarize_orders_and_throughput():
    times = [4.0, 1.0, 3.0, 2.0, 10.0]
    s = summarize(times, batch=8, frames_per_clip=8)
    assert s.min_ms == 1.0 and s.max_ms == 10.0
    assert s.median_ms == 3.0
    assert s.mean_ms == pytest.approx(4.0)
    assert s.min_ms <= s.median_ms <= s.p90_ms <= s.p95_ms <= s.p99_ms <= s.max_ms
    assert s.throughput_clips_per_s == pytest.approx(8 * 1000 / 4.0)
    assert s.throughput_frames_per_s == pytest.approx(8 * 8 * 1000 / 4.0)
    assert s.std_ms == pytest.approx(((9 + 0 + 1 + 4 + 36) / 5) ** 0.5)
    assert s.cv == pytest.approx(s.std_ms / s.mean_ms)
    assert s.iterations == 5


def test_even_count_median_and_cv_warning():
    s = summarize([1.0, 2.0, 3.0, 4.0])
    assert s.median_ms == 2.5
    assert s.cv_warning is not None and "2.5%" in s.cv_warning
    steady = summarize([10.0, 10.01, 9.99, 10.0])
    assert steady.cv < CV_WARN_THRESHOLD and steady.cv_warning is None


def test_summarize_rejects_empty_and_bad_batch():
    with pytest.raises(UsageError):
        summarize([])
    with pytest.raises(UsageError):
        summarize([1.0], batch=0)


def test_time_iterations_uses_min_iters_and_min_seconds():
    clock = itertools.count(0.0, 0.001)  # every timer read advances 1 ms
    calls = []
    times, wall = time_iterations(lambda: calls.append(1), warmup_s=0.0, min_s=0.0, min_iters=7,
                                  timer=lambda: next(clock))
    assert len(times) == 7
    assert all(t == pytest.approx(1.0) for t in times)
    assert len(calls) == 8  # one warm-up call, then the timed ones
    clock = itertools.count(0.0, 0.001)
    times, _ = time_iterations(lambda: None, warmup_s=0.0, min_s=0.05, min_iters=1, timer=lambda: next(clock))
    assert len(times) >= 20  # ran until 50 ms of (fake) time had passed


def test_time_iterations_calls_sync_inside_the_timed_interval():
    events = []
    clock = itertools.count(0.0, 1.0)

    def timer():
        events.append("t")
        return next(clock)

    time_iterations(lambda: events.append("step"), warmup_s=0.0, min_s=0.0, min_iters=1,
                    sync=lambda: events.append("sync"), timer=timer)
    timed = events[events.index("step", events.index("sync") + 1) - 1:]
    assert timed[:4] == ["t", "step", "sync", "t"]


def test_time_iterations_validates():
    with pytest.raises(UsageError):
        time_iterations(lambda: None, min_iters=0)


def test_mlperf_summary_singlestream_and_offline():
    rows = [
        {"batch": 1, "p90_ms": 5.0, "iterations": 100, "throughput_clips_per_s": 200.0, "status": "ok"},
        {"batch": 8, "p90_ms": 20.0, "iterations": 100, "throughput_clips_per_s": 400.0, "status": "ok"},
        {"batch": 16, "p90_ms": None, "iterations": None, "throughput_clips_per_s": None, "status": "error"},
    ]
    s = mlperf_summary(rows)
    assert s["single_stream_p90_ms"] == 5.0
    assert s["offline_clips_per_s"] == 400.0 and s["offline_batch"] == 8
    assert "single_stream_note" not in s
    few = mlperf_summary([{"batch": 1, "p90_ms": 5.0, "iterations": 10, "throughput_clips_per_s": 1.0}])
    assert "64" in few["single_stream_note"]
