"""Hardware paths: CUDA torch modes, TensorRT Python API engines, local trtexec, Jetson. They skip without the hardware."""
from __future__ import annotations

import importlib.util
import json
import shutil

import pytest
from typer.testing import CliRunner

from tsmbench.cli.app import app


def _cuda() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except ImportError:  # pragma: no cover
        return False


needs_cuda = pytest.mark.skipif(not _cuda(), reason="needs an NVIDIA GPU with a CUDA build of torch")
needs_trt = pytest.mark.skipif(importlib.util.find_spec("tensorrt") is None, reason="needs the tensorrt package (tsmbench[tensorrt])")
TINY = ["tsm_resnet_tiny", "--segments", "4", "--size", "64", "--num-classes", "10",
        "--warmup-s", "0.1", "--min-s", "0.2", "--min-iters", "10", "--json"]


def _rows(args):
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["results"]


@pytest.mark.gpu
@needs_cuda
@pytest.mark.parametrize("mode,precision", [("eager", "fp32"), ("eager", "fp16"), ("cuda-graph", "fp16"), ("eager", "bf16")])
def test_torch_cuda_modes(mode, precision):
    (row,) = _rows(["latency", *TINY, "--backend", "torch", "--device", "cuda", "--torch-mode", mode, "--precision", precision])
    assert row["status"] == "ok", row["error"]
    assert row["min_ms"] <= row["median_ms"] <= row["p99_ms"] <= row["max_ms"]
    assert row["environment"]["gpu"]


@pytest.mark.gpu
@needs_cuda
def test_torch_cuda_graph_stream_mode_carries_buffers():
    (row,) = _rows(["latency", "tsm_mobilenetv2_online", "--mode", "stream", "--size", "64", "--num-classes", "5",
                    "--backend", "torch", "--device", "cuda", "--torch-mode", "cuda-graph", "--min-s", "0.2",
                    "--min-iters", "10", "--json"])
    assert row["status"] == "ok", row["error"]


@pytest.mark.gpu
@pytest.mark.tensorrt
@needs_cuda
@needs_trt
@pytest.mark.parametrize("precision", ["fp32", "fp16", "int8"])
def test_tensorrt_engine_parity_and_latency(precision):
    (row,) = _rows(["latency", *TINY, "--backend", "tensorrt", "--device", "cuda", "--precision", precision, "--batch", "2"])
    assert row["status"] == "ok", row["error"]
    assert row["parity"]["ok"], row["parity"]
    assert row["min_ms"] <= row["median_ms"] <= row["p99_ms"] <= row["max_ms"]
    # Second run: the engine comes from the cache (same path).
    (again,) = _rows(["latency", *TINY, "--backend", "tensorrt", "--device", "cuda", "--precision", precision, "--batch", "2"])
    assert again["engine"] == row["engine"]


@pytest.mark.gpu
@pytest.mark.tensorrt
@needs_cuda
@needs_trt
def test_tensorrt_stream_mode_ping_pong_buffers():
    (row,) = _rows(["latency", "tsm_mobilenetv2_online", "--mode", "stream", "--size", "64", "--num-classes", "5",
                    "--backend", "tensorrt", "--device", "cuda", "--min-s", "0.2", "--min-iters", "10", "--json"])
    assert row["status"] == "ok", row["error"]


@pytest.mark.gpu
@pytest.mark.tensorrt
@needs_cuda
@pytest.mark.skipif(shutil.which("trtexec") is None, reason="needs trtexec on PATH")
def test_local_trtexec():
    (row,) = _rows(["latency", *TINY, "--backend", "trtexec", "--device", "cuda", "--precision", "fp16"])
    assert row["status"] == "ok", row["error"]
    assert row["iterations"] >= 1


@pytest.mark.jetson
@pytest.mark.skipif(not __import__("tsmbench.devices.jetson", fromlist=["is_jetson"]).is_jetson(), reason="needs a Jetson board")
def test_on_board_trtexec_with_tegrastats():
    (row,) = _rows(["latency", *TINY, "--backend", "trtexec", "--device", "jetson", "--precision", "fp16"])
    assert row["status"] == "ok", row["error"]
    assert row["environment"].get("power_mode")
    assert row.get("avg_power_w") is not None
