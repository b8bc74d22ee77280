"""`tsmbench latency` end to end on CPU with tiny models: JSON contract, consistent statistics, sweeps with error rows."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from tsmbench.cli.app import app
from tsmbench.results.schema import validate_document

TINY = ["tsm_resnet_tiny", "--segments", "4", "--size", "32", "--num-classes", "10", "--threads", "1",
        "--warmup-s", "0", "--min-s", "0", "--min-iters", "8"]


def _run(args):
    result = CliRunner().invoke(app, args)
    return result


def _doc(result):
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _check_consistent(row, min_iters=8):
    assert row["status"] == "ok" and row["error"] is None
    assert row["min_ms"] <= row["median_ms"] <= row["p90_ms"] <= row["p95_ms"] <= row["p99_ms"] <= row["max_ms"]
    assert row["min_ms"] <= row["mean_ms"] <= row["max_ms"]
    # Documented definition: throughput = batch * 1000 / mean_ms; frames/s multiplies by frames per clip.
    assert row["throughput_clips_per_s"] == pytest.approx(row["batch"] * 1000.0 / row["mean_ms"])
    assert row["throughput_frames_per_s"] == pytest.approx(row["throughput_clips_per_s"] * row["frames_per_clip"])
    assert row["iterations"] >= min_iters
    assert row["cv"] == pytest.approx(row["std_ms"] / row["mean_ms"])
    assert row["environment"]["cpu_count"] >= 1


@pytest.mark.parametrize("backend", ["torch", "onnxruntime"])
def test_latency_json_is_consistent(backend):
    doc = _doc(_run(["latency", *TINY, "--backend", backend, "--device", "cpu", "--batch", "1", "--json"]))
    validate_document(doc)
    (row,) = doc["results"]
    assert row["kind"] == "latency" and row["model"] == "tsm_resnet_tiny"
    assert (row["backend"], row["device"], row["precision"], row["batch"], row["mode"]) == (backend, "cpu", "fp32", 1, "clip")
    assert row["frames_per_clip"] == 4
    _check_consistent(row)
    assert doc["summary"][0]["single_stream_p90_ms"] == row["p90_ms"]
    if backend == "onnxruntime":
        assert row["parity"]["ok"] and row["parity"]["max_rel_diff"] < 1e-3
        assert row["environment"]["onnxruntime"]


def test_sweep_keeps_failures_as_rows():
    """Two batches on torch, and TensorRT (impossible on a CPU) as error rows: the sweep goes on."""
    doc = _doc(_run(["latency", *TINY, "--backend", "tensorrt,torch", "--batch", "1,2", "--json"]))
    rows = doc["results"]
    assert [(r["backend"], r["batch"], r["status"]) for r in rows] == [
        ("tensorrt", 1, "error"), ("tensorrt", 2, "error"), ("torch", 1, "ok"), ("torch", 2, "ok")]
    assert "cuda" in rows[0]["error"] and rows[0]["median_ms"] is None
    for r in rows[2:]:
        _check_consistent(r)
    summary = {s["backend"]: s for s in doc["summary"]}
    assert summary["torch"]["offline_batch"] == 2
    assert summary["tensorrt"]["single_stream_p90_ms"] is None


def test_every_row_failing_exits_1_after_printing():
    result = _run(["latency", *TINY, "--backend", "torch", "--precision", "int8", "--json"])
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert doc["results"][0]["status"] == "error"
    assert "onnxruntime" in doc["results"][0]["error"]


def test_usage_errors_exit_2():
    assert _run(["latency", *TINY, "--backend", "nope"]).exit_code == 2
    assert _run(["latency", *TINY, "--batch", "1,x"]).exit_code == 2
    assert _run(["latency", *TINY, "--host", "me@board"]).exit_code == 2  # --host needs --device jetson


def test_int8_onnxruntime_reports_parity_and_calibration():
    doc = _doc(_run(["latency", *TINY, "--backend", "onnxruntime", "--precision", "int8", "--calibration", "synthetic", "--json"]))
    (row,) = doc["results"]
    _check_consistent(row)
    assert row["calibration"] == "synthetic"
    assert row["parity"]["precision"] == "int8" and row["parity"]["ok"]
    assert row["onnx_parity"]["precision"] == "fp32"


@pytest.mark.parametrize("backend", ["torch", "onnxruntime"])
def test_stream_mode_carries_buffers_per_frame(backend):
    args = ["latency", "tsm_mobilenetv2_online", "--mode", "stream", "--size", "32", "--num-classes", "5", "--threads", "1",
            "--warmup-s", "0", "--min-s", "0", "--min-iters", "5", "--backend", backend, "--json"]
    doc = _doc(_run(args))
    (row,) = doc["results"]
    assert row["mode"] == "stream" and row["num_segments"] == 1 and row["frames_per_clip"] == 1
    _check_consistent(row, min_iters=5)
    assert row["per_frame_ms"] == row["median_ms"]
    assert row["fps"] == pytest.approx(1000.0 / row["mean_ms"])


def test_stream_runner_feeds_new_buffers_back():
    """The ORT stream runner replaces each buffer input by the matching output of the previous frame."""
    import numpy as np

    from tsmbench.backends.export import example_inputs, export_onnx, load_model_for
    from tsmbench.backends.onnxruntime_backend import OrtRunner
    from tsmbench.paths import home

    m = load_model_for("tsm_mobilenetv2_online", segments=1, num_classes=5, weights=None, online=True)
    path = export_onnx(m, home() / "online.onnx", batch=1, segments=1, size=32)
    inputs = example_inputs(m, batch=1, segments=1, size=32)
    runner = OrtRunner(path, inputs, stream=True)
    assert not np.any(runner.feeds["buffer_in_0"])  # zeros before the first frame
    expected = runner.session.run(None, dict(runner.feeds))
    runner.step()
    for i in range(10):
        assert np.array_equal(runner.feeds[f"buffer_in_{i}"], expected[1 + i])
    assert np.any(runner.feeds["buffer_in_0"])
    second = runner.session.run(None, dict(runner.feeds))
    runner.step()
    assert np.array_equal(runner.feeds["buffer_in_9"], second[10])


def test_end_to_end_subprocess_json_on_stdout_logs_on_stderr():
    proc = subprocess.run(
        [sys.executable, "-m", "tsmbench", "latency", *TINY, "--backend", "onnxruntime", "--batch", "2", "--json"],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)  # stdout is exactly one JSON document
    validate_document(doc)
    assert doc["command"][:2] == ["tsmbench", "latency"]
    (row,) = doc["results"]
    _check_consistent(row)
    assert row["batch"] == 2
    assert "exporting tsm_resnet_tiny to ONNX" in proc.stderr
