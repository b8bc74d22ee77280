"""ONNX export (offline and online), parity reports, refusal beyond tolerance, fp16/int8 ONNX conversion, CLI."""
from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from tsmbench.backends import export as ex
from tsmbench.backends import quantize
from tsmbench.cli.app import app
from tsmbench.errors import ParityError


def test_compare_logits_relative_to_scale():
    ref = np.array([[1e-3, 2e-3, -1e-3], [3e-3, 0.0, 1e-3]])
    same = ex.compare_logits(ref, ref.copy())
    assert same.ok and same.max_abs_diff == 0 and same.top1_agreement == 1.0
    off = ex.compare_logits(ref, ref + np.array([[0, 0, 5e-3], [0, 0, 0]]))
    assert off.max_rel_diff == pytest.approx(5e-3 / 3e-3)
    assert off.top1_agreement == 0.5 and not off.ok
    with pytest.raises(ParityError, match="--allow-mismatch"):
        ex.enforce(off, allow_mismatch=False, what="test engine")
    ex.enforce(off, allow_mismatch=True, what="test engine")  # allowed: no exception
    with pytest.raises(ParityError, match="NaN"):
        ex.compare_logits(ref, ref * np.nan)


def test_export_onnx_dynamic_batch_runs_any_batch(tmp_path):
    import onnxruntime as ort
    import torch

    m = ex.load_model_for("tsn_resnet_tiny", segments=4, num_classes=7, weights=None)
    path = ex.export_onnx(m, tmp_path / "tsn.onnx", batch=None, segments=4, size=32)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert sess.get_inputs()[0].name == "input" and sess.get_outputs()[0].name == "logits"
    x = torch.randn(3, 4, 3, 32, 32)
    out = sess.run(None, {"input": x.numpy()})[0]
    assert out.shape == (3, 7)
    with torch.inference_mode():
        assert np.allclose(out, m(x).numpy(), atol=1e-5)


def test_load_model_is_deterministic_without_weights():
    a = ex.load_model_for("tsm_resnet_tiny", segments=4, num_classes=3, weights=None)
    b = ex.load_model_for("tsm_resnet_tiny", segments=4, num_classes=3, weights=None)
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert ka == kb and np.array_equal(va.numpy(), vb.numpy())


def test_fp16_conversion_keeps_fp32_io(tmp_path):
    import onnx

    m = ex.load_model_for("tsm_resnet_tiny", segments=4, num_classes=5, weights=None)
    fp32 = ex.export_onnx(m, tmp_path / "m.onnx", batch=1, segments=4, size=32)
    fp16 = quantize.convert_fp16(fp32, tmp_path / "m16.onnx")
    model = onnx.load(str(fp16))
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert model.graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert all(i.data_type != onnx.TensorProto.FLOAT for i in model.graph.initializer)
    report = ex.onnxruntime_parity(m, fp16, batch=1, segments=4, size=32, precision="fp16")
    assert report.ok, report.describe()


def test_export_onnx_cli_online_has_buffers(tmp_path):
    import onnx

    out = tmp_path / "online.onnx"
    result = CliRunner().invoke(app, ["export", "onnx", "tsm_mobilenetv2_online", "--online", "-o", str(out),
                                      "--size", "32", "--num-classes", "5", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["onnx_parity"]["ok"] and doc["onnx_parity"]["top1_agreement"] == 1.0
    g = onnx.load(str(out)).graph
    assert [i.name for i in g.input] == ["input", *[f"buffer_in_{i}" for i in range(10)]]
    assert [o.name for o in g.output] == ["logits", *[f"buffer_out_{i}" for i in range(10)]]
    # Buffer shapes follow the reference: C/8 channels of each shifted block's input, at its resolution.
    dims = [tuple(d.dim_value for d in i.type.tensor_type.shape.dim) for i in g.input[1:]]
    assert dims[0] == (1, 3, 8, 8) and dims[-1] == (1, 20, 1, 1)  # 224 px: (1,3,56,56) ... (1,20,7,7)


def test_export_refuses_beyond_tolerance_unless_allowed(tmp_path, monkeypatch):
    monkeypatch.setitem(ex.PARITY_TOLERANCES, "int8", (0.0, 1.0))  # int8 always differs a little
    out = tmp_path / "q.onnx"
    args = ["export", "onnx", "tsm_resnet_tiny", "-o", str(out), "--segments", "4", "--size", "32",
            "--num-classes", "5", "--precision", "int8", "--json"]
    refused = CliRunner().invoke(app, args)
    assert refused.exit_code == 1
    assert "disagrees with torch" in refused.output and "--allow-mismatch" in refused.output
    assert not out.exists()
    allowed = CliRunner().invoke(app, [*args, "--allow-mismatch"])
    assert allowed.exit_code == 0, allowed.output
    doc = json.loads(allowed.stdout)
    assert doc["parity"]["ok"] is False and doc["parity"]["max_abs_diff"] > 0
    assert out.exists()


def test_latency_refuses_mismatched_int8_as_an_error_row(monkeypatch):
    monkeypatch.setitem(ex.PARITY_TOLERANCES, "int8", (0.0, 1.0))
    args = ["latency", "tsm_resnet_tiny", "--segments", "4", "--size", "32", "--num-classes", "5", "--threads", "1",
            "--warmup-s", "0", "--min-s", "0", "--min-iters", "3", "--backend", "onnxruntime", "--precision", "fp32,int8", "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    fp32, int8 = json.loads(result.stdout)["results"]
    assert fp32["status"] == "ok"
    assert int8["status"] == "error" and "disagrees with torch" in int8["error"]


def test_calibration_sources(tmp_path):
    shapes = {"input": (2, 4, 3, 32, 32)}
    rnd = quantize.calibration_feeds("random", shapes, batches=2)
    syn = quantize.calibration_feeds("synthetic", shapes, batches=2)
    for feeds in (rnd, syn):
        assert len(feeds) == 2 and feeds[0]["input"].shape == (2, 4, 3, 32, 32)
        assert feeds[0]["input"].dtype == np.float32
        assert -3.0 < float(feeds[0]["input"].mean()) < 3.0  # normalised like real frames
    with pytest.raises(Exception, match="folder of videos|no videos"):
        quantize.calibration_feeds(str(tmp_path / "missing"), shapes)


def test_calibration_from_a_folder_of_videos(tmp_path):
    from tsmbench.data.synthetic import render_clip, write_video

    rng = np.random.default_rng(0)
    for i in range(2):
        write_video(render_clip(i, rng, num_frames=8, size=32), tmp_path / f"v{i}.mp4")
    feeds = quantize.calibration_feeds(str(tmp_path), {"input": (1, 4, 3, 48, 48)}, batches=2)
    assert feeds[1]["input"].shape == (1, 4, 3, 48, 48)


def test_degenerate_logits_do_not_require_top1():
    tiny = np.array([[1e-10, 2e-10], [3e-10, 1e-10]])
    flipped = tiny[:, ::-1].copy()
    report = ex.compare_logits(tiny, flipped, precision="int8")
    assert report.degenerate and report.top1_agreement == 0.0
    assert report.ok  # differences of 1e-10 are nothing against the 1e-6 floor
    assert "not meaningful" in report.describe()
    big = ex.compare_logits(tiny * 1e6, flipped * 1e6, precision="int8")
    assert not big.degenerate and not big.ok


def test_onnx_cache_tells_heads_apart():
    """Same architecture and shape, different heads: two cached exports, each matching its model."""
    a = ex.load_model_for("tsm_resnet_tiny", segments=4, num_classes=5, weights=None)
    b = ex.load_model_for("tsm_resnet_tiny", segments=4, num_classes=7, weights=None)
    pa = ex.ensure_onnx(a, "tsm_resnet_tiny", weights=None, batch=1, segments=4, size=32)
    pb = ex.ensure_onnx(b, "tsm_resnet_tiny", weights=None, batch=1, segments=4, size=32)
    assert pa != pb
    assert ex.ensure_onnx(a, "tsm_resnet_tiny", weights=None, batch=1, segments=4, size=32) == pa  # reused
    assert ex.onnxruntime_parity(b, pb, batch=1, segments=4, size=32).ok
