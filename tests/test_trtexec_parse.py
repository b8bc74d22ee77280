"""trtexec output parsers on TensorRT 8, 10 and 11 format samples (tests/data/trtexec), and command lines."""
from __future__ import annotations

from pathlib import Path

import pytest

from tsmbench.backends import trtexec as tx
from tsmbench.errors import TsmbenchError, UsageError

DATA = Path(__file__).parent / "data" / "trtexec"


def test_trt8_summary_only_p99():
    s = tx.parse_summary((DATA / "trt8_summary.txt").read_text())
    assert s.tensorrt_version == (8, 2, 1)
    assert s.throughput_qps == pytest.approx(476.66)
    lat = s.metrics["latency"]
    assert lat["min_ms"] == pytest.approx(2.05615)
    assert lat["median_ms"] == pytest.approx(2.08276)
    assert lat["p99_ms"] == pytest.approx(2.58971)
    assert "p90_ms" not in lat
    assert set(s.metrics) >= {"latency", "end_to_end", "enqueue", "h2d", "gpu_compute", "d2h"}
    assert s.total_host_walltime_s == pytest.approx(3.00424)
    assert s.total_gpu_compute_s == pytest.approx(2.99956)
    assert s.cv_percent is None


def test_trt10_summary_percentiles_and_cv_warning():
    s = tx.parse_summary((DATA / "trt10_summary.txt").read_text())
    assert s.tensorrt_version == (10, 3, 0) and s.generation == 10
    gpu = s.metrics["gpu_compute"]
    assert gpu["p90_ms"] == pytest.approx(10.9072)
    assert gpu["p95_ms"] == pytest.approx(10.9863)
    assert gpu["p99_ms"] == pytest.approx(11.3643)
    assert s.metrics["latency"]["mean_ms"] == pytest.approx(10.9992)
    assert s.cv_percent == pytest.approx(2.61883)
    assert any("unstable" in w for w in s.warnings)


def test_trt11_summary_without_transfers():
    s = tx.parse_summary((DATA / "trt11_summary.txt").read_text())
    assert s.tensorrt_version == (11, 0, 0)
    assert "h2d" not in s.metrics and "d2h" not in s.metrics
    assert s.metrics["latency"]["p90_ms"] == pytest.approx(4.94434)
    row = tx.summary_to_row(s, None, batch=4, frames_per_clip=8)
    # qps counts inferences: clips/s is qps x batch.
    assert row["throughput_clips_per_s"] == pytest.approx(203.55 * 4)
    assert row["throughput_frames_per_s"] == pytest.approx(203.55 * 4 * 8)
    assert row["median_ms"] == pytest.approx(4.90015)
    assert row["timing_source"] == "trtexec performance summary"


def test_summary_without_figures_is_an_error():
    with pytest.raises(TsmbenchError, match="no performance summary"):
        tx.parse_summary("&&&& FAILED TensorRT.trtexec [TensorRT v100300]\n[E] Error parsing ONNX\n")


def test_version_codes():
    assert tx.parse_version("[TensorRT v8601]") == (8, 6, 1)
    assert tx.parse_version("&&&& RUNNING TensorRT.trtexec [TensorRT v100300] [b17]") == (10, 3, 0)
    assert tx.parse_version("[TensorRT v110200]") == (11, 2, 0)
    assert tx.parse_version("no banner") is None


def test_export_times_both_key_sets():
    old = tx.parse_export_times(DATA / "trt8_times.json")
    assert old["compute"] == pytest.approx([2.1, 2.0, 2.3, 2.2, 2.05])
    assert old["h2d"] == pytest.approx([0.1] * 5)
    assert old["latency"][0] == pytest.approx(2.25)
    new = tx.parse_export_times(DATA / "trt10_times.json")
    assert len(new["latency"]) == 6
    assert new["enqueue"] == pytest.approx([1.2] * 6)
    assert new["latency"][4] == pytest.approx(11.697)
    # derived from timestamps when the interval keys are missing
    derived = tx.parse_export_times([{"startComputeMs": 1.0, "endComputeMs": 3.5}])
    assert derived["compute"] == [2.5] and derived["latency"] == [2.5]
    with pytest.raises(TsmbenchError):
        tx.parse_export_times([{"foo": 1}])


def test_row_from_export_times_uses_raw_iterations():
    s = tx.parse_summary((DATA / "trt10_summary.txt").read_text())
    times = tx.parse_export_times(DATA / "trt10_times.json")
    row = tx.summary_to_row(s, times, batch=1, frames_per_clip=8)
    assert row["iterations"] == 6
    assert row["min_ms"] <= row["median_ms"] <= row["p90_ms"] <= row["p99_ms"] <= row["max_ms"]
    assert row["throughput_clips_per_s"] == pytest.approx(1000.0 / row["mean_ms"])
    assert row["tensorrt_version"] == "10.3.0"
    assert row["gpu_compute_median_ms"] == pytest.approx(10.7773)


def test_build_command_per_generation():
    trt8 = tx.build_command("m.onnx", engine="m.engine", generation=8, precision="fp16", shape=(1, 8, 3, 224, 224))
    assert "--workspace=1024" in trt8 and "--fp16" in trt8
    assert "--optShapes=input:1x8x3x224x224" in trt8
    trt10 = tx.build_command("m.onnx", engine="m.engine", generation=10, precision="int8")
    assert "--memPoolSize=workspace:1024M" in trt10 and "--int8" in trt10
    assert not any(a.startswith("--workspace") for a in trt10)
    trt11 = tx.build_command("m.onnx", engine="m.engine", generation=11, precision="fp16")
    # TensorRT 11 removed every precision flag: the precision lives in the ONNX model.
    assert not {"--fp16", "--int8", "--bf16", "--best"} & set(trt11)
    with pytest.raises(UsageError):
        tx.build_command("m.onnx", engine="e", generation=8, precision="bf16")


def test_run_command_per_generation():
    r10 = tx.run_command("m.engine", generation=10, export_times="t.json", duration_s=3, cuda_graph=True)
    assert "--exportTimes=t.json" in r10 and "--useSpinWait" in r10 and "--useCudaGraph" in r10
    assert "--percentile=90,95,99" in r10 and "--duration=3" in r10
    r11 = tx.run_command("m.engine", generation=11, cuda_graph=True)
    assert "--useSpinWait" not in r11 and "--useCudaGraph" not in r11  # on by default in TRT 11


def test_export_output_and_parity_command(tmp_path):
    (tmp_path / "out.json").write_text(
        '[{"name": "logits", "dimensions": "2x3", "values": [1, 2, 3, 4, 5, 6]},'
        ' {"name": "buffer_out_0", "dimensions": "1x2", "values": [0.5, 0.25]}]'
    )
    out = tx.parse_export_output(tmp_path / "out.json")
    assert out["logits"].shape == (2, 3) and out["logits"][1, 2] == 6
    assert out["buffer_out_0"].tolist() == [[0.5, 0.25]]
    with pytest.raises(TsmbenchError):
        tx.parse_export_output([])
    cmd = tx.parity_command("e.engine", inputs={"input": "/b/in.bin", "buffer_in_0": "/b/b0.bin"}, export_output="/b/o.json")
    assert "--loadInputs=input:/b/in.bin,buffer_in_0:/b/b0.bin" in cmd
    assert "--exportOutput=/b/o.json" in cmd and "--iterations=1" in cmd
