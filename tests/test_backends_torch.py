"""torch backend on CPU: stream mode carries the shift buffers, channels-last and bf16 give the same logits."""
from __future__ import annotations

import pytest
import torch

from tsmbench.backends.export import example_inputs, load_model_for
from tsmbench.backends.torch_backend import TorchRunner
from tsmbench.errors import UsageError


def test_stream_runner_carries_buffers_frame_to_frame():
    m = load_model_for("tsm_mobilenetv2_online", segments=1, num_classes=5, weights=None, online=True)
    inputs = example_inputs(m, batch=1, segments=1, size=32)
    runner = TorchRunner(m, inputs, stream=True)
    assert all(not b.any() for b in runner.inputs[1:])
    with torch.inference_mode():
        expected = m(*inputs)
    logits = runner.step()
    assert torch.equal(logits, expected[0])
    for got, want in zip(runner.inputs[1:], expected[1:]):
        assert torch.equal(got, want)  # the next frame sees this frame's shifted channels


def test_channels_last_and_bf16_match_fp32():
    m = load_model_for("tsm_resnet_tiny", segments=4, num_classes=5, weights=None)
    (x,) = example_inputs(m, batch=2, segments=4, size=32)
    with torch.inference_mode():
        ref = m(x)
    cl = TorchRunner(load_model_for("tsm_resnet_tiny", segments=4, num_classes=5, weights=None), (x,), channels_last=True)
    assert torch.allclose(cl.step(), ref, atol=1e-5)
    bf = TorchRunner(load_model_for("tsm_resnet_tiny", segments=4, num_classes=5, weights=None), (x,), precision="bf16")
    out = bf.step().float()
    assert (out - ref).abs().max() <= 0.1 * ref.abs().max()


def test_unsupported_combinations_are_usage_errors():
    m = load_model_for("tsm_resnet_tiny", segments=4, num_classes=5, weights=None)
    x = example_inputs(m, batch=1, segments=4, size=32)
    for kwargs in ({"precision": "int8"}, {"precision": "fp16"}, {"mode": "cuda-graph"}, {"mode": "jit"}):
        with pytest.raises(UsageError):
            TorchRunner(m, x, **kwargs)
