"""Hand-made result documents shared by the results, report and gate tests.

The measuring commands are written in parallel; these documents follow the shared JSON
contract (docs in tsmbench/results/schema.py) so that the store, the report and the gate are
tested without running a model.
"""
from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from tsmbench.results.schema import SCHEMA_VERSION, validate_document

HOSTILE_MODEL = "<script>alert(1)</script>"
HOSTILE_CLASS = '"><img src=x onerror=alert(1)>'

ENV = {"hostname": "ci-runner", "cpu": "Test CPU @ 2.0GHz", "cpu_count": 2, "torch": "2.13.0", "gpu": None}


def flops_record(model: str, flops: float, params: float, **extra: Any) -> dict[str, Any]:
    rec = {
        "kind": "flops", "model": model, "params": params, "flops": flops, "flops_per_frame": flops / 8,
        "num_segments": 8, "input_size": [224, 224], "convention": "fvcore (1 multiply-add = 1 FLOP)",
        "stages": [{"name": "layer1", "flops": flops / 4}], "published": None, "environment": ENV,
    }
    rec.update(extra)
    return rec


def eval_record(model: str, top1: float, *, classes: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    classes = classes or ["left to right", "right to left", "up", "down"]
    rec = {
        "kind": "eval", "model": model, "dataset": "synthetic-direction", "protocol": "uniform", "views": 1,
        "crops": 1, "score_average": "logits", "top1": top1, "top5": min(100.0, top1 + 20), "mean_class_acc": top1 - 1,
        "num_videos": 16, "skipped": [],
        "per_class": [{"class": c, "top1": max(0.0, top1 - 10 * i), "count": 4} for i, c in enumerate(classes)],
        "published": None, "throughput_clips_per_s": 12.5, "data_wait_share": 0.1, "environment": ENV,
    }
    rec.update(extra)
    return rec


def latency_record(model: str, batch: int, median: float, *, p90: float | None = None, **extra: Any) -> dict[str, Any]:
    p90 = median * 1.02 if p90 is None else p90
    rec = {
        "kind": "latency", "model": model, "backend": "torch", "device": "cpu", "precision": "fp32",
        "batch": batch, "mode": "offline", "median_ms": median, "p90_ms": p90, "p95_ms": p90 * 1.01,
        "p99_ms": p90 * 1.05, "mean_ms": median * 1.005, "min_ms": median * 0.97, "max_ms": p90 * 1.2,
        "std_ms": median * 0.01, "cv": 0.01, "throughput_clips_per_s": 1000.0 * batch / median,
        "iterations": 50, "status": "ok", "error": None, "environment": ENV,
    }
    rec.update(extra)
    return rec


def document(results: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    doc = {"schema_version": SCHEMA_VERSION, "tsmbench_version": "0.1.0", "created": "2026-11-23T12:00:00+00:00",
           "results": copy.deepcopy(results)}
    doc.update(extra)
    return doc


def benchmark_document() -> dict[str, Any]:
    """A bundled-benchmark-like run: FLOPs, accuracy and CPU latency for three models."""
    results = [
        flops_record("tsm_resnet_tiny", 0.9e9, 0.7e6),
        flops_record("tsn_resnet_tiny", 0.9e9, 0.7e6),
        flops_record("tsm_mobilenetv2", 2.6e9, 2.7e6, published={"params": 2.736e6, "source": "MMAction2"}),
        eval_record("tsm_resnet_tiny", 87.5, published={"top1": 90.0, "source": "tsmbench baseline"}),
        eval_record("tsn_resnet_tiny", 50.0),
        eval_record("tsm_mobilenetv2", 80.0),
    ]
    for model, base in (("tsm_resnet_tiny", 10.0), ("tsn_resnet_tiny", 9.8)):
        for batch in (1, 2, 4):
            results.append(latency_record(model, batch, base * batch ** 0.8))
    results.append(latency_record("tsm_resnet_tiny", 1, 11.0, backend="onnxruntime"))
    return document(results, command=["tsmbench", "eval", "--bundled", "--json"])


def hostile_document() -> dict[str, Any]:
    """Model names and class labels that would run script if a renderer forgot to escape them."""
    classes = [HOSTILE_CLASS, "<b>bold</b>", "normal & fine", "x"]
    return document(
        [
            flops_record(HOSTILE_MODEL, 1.0e9, 1.0e6),
            flops_record("safe_model", 2.0e9, 2.0e6),
            eval_record(HOSTILE_MODEL, 70.0, classes=classes, dataset='<img src=x onerror="alert(2)">'),
            eval_record("safe_model", 75.0),
            latency_record(HOSTILE_MODEL, 1, 5.0),
            latency_record(HOSTILE_MODEL, 4, 15.0),
        ],
        command=["tsmbench", "eval", "--model", HOSTILE_MODEL, "--json"],
    )


def write(path: Path, doc: dict[str, Any]) -> Path:
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


@pytest.mark.parametrize("make", [benchmark_document, hostile_document])
def test_samples_follow_the_schema(make) -> None:
    doc = make()
    assert validate_document(doc) is doc
    assert {r["kind"] for r in doc["results"]} == {"flops", "eval", "latency"}
