"""int8 graphs are built for their runtime: U8S8 for ONNX Runtime on CPU, symmetric S8S8 for TensorRT."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

import tsmbench
from tsmbench.backends.quantize import quantize_int8
from tsmbench.errors import UsageError


@pytest.fixture(scope="module")
def tiny_onnx(tmp_path_factory) -> Path:
    model = tsmbench.create_model("tsm_resnet_tiny", num_classes=5, num_segments=4)
    path = tmp_path_factory.mktemp("q") / "tiny.onnx"
    torch.onnx.export(model, (torch.randn(1, 4, 3, 32, 32),), str(path), input_names=["video"], dynamo=False)
    return path


def _activation_zero_point_types(path: Path) -> set[int]:
    m = onnx.load(str(path))
    inits = {i.name: i for i in m.graph.initializer}
    types = set()
    for node in m.graph.node:
        if node.op_type == "QuantizeLinear" and len(node.input) > 2 and node.input[2] in inits:
            types.add(inits[node.input[2]].data_type)
    return types


@pytest.mark.parametrize("target,dtype", [("onnxruntime", onnx.TensorProto.UINT8), ("tensorrt", onnx.TensorProto.INT8)])
def test_int8_target_sets_activation_type(tiny_onnx: Path, tmp_path: Path, target: str, dtype: int) -> None:
    feeds = [{"video": np.random.default_rng(i).standard_normal((1, 4, 3, 32, 32)).astype(np.float32)} for i in range(2)]
    out = quantize_int8(tiny_onnx, tmp_path / f"{target}.onnx", calibration=feeds, target=target)
    assert _activation_zero_point_types(out) == {dtype}


def test_unknown_int8_target(tiny_onnx: Path, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="int8 target"):
        quantize_int8(tiny_onnx, tmp_path / "x.onnx", calibration=[], target="openvino")


def test_export_onnx_int8_for_onnxruntime(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from tsmbench.cli.app import app

    out = tmp_path / "tiny-int8.onnx"
    res = CliRunner().invoke(app, ["export", "onnx", "tsm_resnet_tiny", "-o", str(out), "--segments", "4", "--size", "32",
                                   "--num-classes", "5", "--precision", "int8", "--int8-target", "onnxruntime",
                                   "--allow-mismatch", "--json"])
    assert res.exit_code == 0, res.output
    assert _activation_zero_point_types(out) == {onnx.TensorProto.UINT8}
    bad = CliRunner().invoke(app, ["export", "onnx", "tsm_resnet_tiny", "-o", str(out), "--int8-target", "tvm"])
    assert bad.exit_code == 2
