"""The ONNX export of TSM computes what torch computes (the reference's shift has diverged after export)."""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

import tsmbench

from tests.helpers.reference_tsm import randomise_bn


@pytest.mark.parametrize("dynamo", [False, True], ids=["torchscript-exporter", "dynamo-exporter"])
def test_tsm_r50_onnx_matches_torch(tmp_path: Path, dynamo: bool) -> None:
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    model = tsmbench.create_model("tsm_r50")
    randomise_bn(model)
    model.eval()
    x = torch.randn(1, 8, 3, 112, 112)
    path = tmp_path / "tsm_r50.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (x,), str(path), input_names=["video"], output_names=["logits"], dynamo=dynamo)
    ops = {n.op_type for n in onnx.load(str(path)).graph.node}
    assert "ScatterND" not in ops  # no slice assignment survived into the graph
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    fresh = torch.randn(2 if dynamo else 1, 8, 3, 112, 112)[:1]  # fresh input, not the tracing one
    got = sess.run(None, {sess.get_inputs()[0].name: fresh.numpy()})[0]
    with torch.inference_mode():
        want = model(fresh).numpy()
    assert np.abs(got - want).max() < 1e-4
    assert (got.argmax(1) == want.argmax(1)).all()
