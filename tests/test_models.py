"""The networks are the reference networks: shift semantics, structure, streaming equivalence."""
from __future__ import annotations

import pytest
import torch

import tsmbench
from tsmbench.errors import InputShapeError, ModelNotFoundError, UsageError
from tsmbench.models.shift import temporal_shift

from tests.helpers.reference_tsm import randomise_bn, reference_shift


@pytest.mark.parametrize("t", [1, 2, 3, 8])
@pytest.mark.parametrize("c", [8, 16, 24, 50])
def test_bidirectional_shift_matches_reference(t: int, c: int) -> None:
    x = torch.randn(2 * t, c, 3, 4)
    assert torch.equal(temporal_shift(x, t), reference_shift(x, t))


def test_shift_moves_the_documented_channels() -> None:
    t, c = 4, 16
    x = torch.arange(t, dtype=torch.float32).view(t, 1, 1, 1).expand(t, c, 2, 2).contiguous()
    out = temporal_shift(x, t).view(t, c, 2, 2)[:, :, 0, 0]
    fold = c // 8
    assert out[:, :fold].tolist() == [[1.0] * fold, [2.0] * fold, [3.0] * fold, [0.0] * fold]  # from t+1
    assert out[:, fold : 2 * fold].tolist() == [[0.0] * fold, [0.0] * fold, [1.0] * fold, [2.0] * fold]  # from t-1
    assert torch.equal(out[:, 2 * fold :], x[:, 2 * fold :, 0, 0])
    past = temporal_shift(x, t, direction="unidirectional").view(t, c, 2, 2)[:, :fold, 0, 0]
    assert past.tolist() == [[0.0] * fold, [0.0] * fold, [1.0] * fold, [2.0] * fold]


def test_shift_rejects_batch_not_multiple_of_segments() -> None:
    with pytest.raises(InputShapeError, match="multiple of num_segments"):
        temporal_shift(torch.randn(7, 8, 2, 2), 4)


def _count_shifts(model: torch.nn.Module) -> int:
    return sum(1 for m in model.modules() if type(m).__name__ == "TemporalShift")


def test_shift_placement_rules() -> None:
    assert _count_shifts(tsmbench.create_model("tsm_r50")) == 16  # every bottleneck
    assert _count_shifts(tsmbench.create_model("tsn_r50")) == 0
    r101 = tsmbench.create_model("tsm_r101", num_classes=174)
    shifted = [(i, j) for i, layer in enumerate(
        (r101.backbone.layer1, r101.backbone.layer2, r101.backbone.layer3, r101.backbone.layer4)
    ) for j, b in enumerate(layer) if b.shift is not None]
    assert all(j % 2 == 0 for _, j in shifted) and len(shifted) == 2 + 2 + 12 + 2
    mbv2 = tsmbench.create_model("tsm_mobilenetv2")
    assert mbv2.backbone.shiftable_blocks() == [3, 5, 6, 8, 9, 10, 12, 13, 15, 16]
    assert _count_shifts(mbv2) == 10


def test_param_counts_match_published() -> None:
    def n(m):
        return sum(p.numel() for p in m.parameters())

    assert round(n(tsmbench.create_model("tsm_r50")) / 1e6, 2) == 24.33
    assert n(tsmbench.create_model("tsm_r50")) == n(tsmbench.create_model("tsn_r50"))  # zero extra params
    assert round(n(tsmbench.create_model("tsm_r101", num_classes=174)) / 1e6, 2) == 42.86
    assert round(n(tsmbench.create_model("tsm_mobilenetv2")) / 1e6, 3) == 2.736
    assert round(n(tsmbench.create_model("i3d_r50")) / 1e6, 2) == 28.04


def test_i3d_has_pytorchvideo_structure() -> None:
    sd = tsmbench.create_model("i3d_r50").state_dict()
    # Names and shapes as in PyTorchVideo's i3d_r50 (create_resnet, 8x8 config).
    expected = {
        "blocks.0.conv.weight": (64, 3, 5, 7, 7),
        "blocks.1.res_blocks.0.branch1_conv.weight": (256, 64, 1, 1, 1),
        "blocks.1.res_blocks.2.branch2.conv_a.weight": (64, 256, 3, 1, 1),
        "blocks.3.res_blocks.0.branch2.conv_a.weight": (128, 256, 3, 1, 1),
        "blocks.3.res_blocks.1.branch2.conv_a.weight": (128, 512, 1, 1, 1),
        "blocks.4.res_blocks.4.branch2.conv_a.weight": (256, 1024, 3, 1, 1),
        "blocks.5.res_blocks.0.branch2.conv_a.weight": (512, 1024, 1, 1, 1),
        "blocks.5.res_blocks.1.branch2.conv_a.weight": (512, 2048, 3, 1, 1),
        "blocks.5.res_blocks.0.branch2.conv_b.weight": (512, 512, 1, 3, 3),
        "blocks.6.proj.weight": (400, 2048),
    }
    for k, shape in expected.items():
        assert tuple(sd[k].shape) == shape, k
    assert not any(k.startswith("blocks.2.") for k in sd)  # the temporal max-pool has no parameters


def test_i3d_forward_shape() -> None:
    m = tsmbench.create_model("i3d_r50", num_classes=5)
    with torch.inference_mode():
        out = m(torch.randn(1, 8, 3, 224, 224))
    assert out.shape == (1, 5)


def test_tsm_forward_is_mean_of_per_frame_logits() -> None:
    m = tsmbench.create_model("tsm_resnet_tiny", num_classes=7, num_segments=4)
    x = torch.randn(2, 4, 3, 64, 64)
    with torch.inference_mode():
        frames = m.forward_frames(x)
        assert frames.shape == (2, 4, 7)
        assert torch.allclose(m(x), frames.mean(1))


def test_temporal_pool_halves_time() -> None:
    m = tsmbench.create_model("tsm_resnet_tiny", num_classes=3, num_segments=8, temporal_pool=True)
    with torch.inference_mode():
        assert m.forward_frames(torch.randn(1, 8, 3, 64, 64)).shape == (1, 4, 3)
    with pytest.raises(UsageError, match="even"):
        tsmbench.create_model("tsm_resnet_tiny", num_segments=5, temporal_pool=True)


def test_online_streaming_equals_offline_unidirectional() -> None:
    torch.manual_seed(0)
    offline = tsmbench.create_model("tsm_mobilenetv2", num_classes=11, num_segments=6, shift_direction="unidirectional")
    randomise_bn(offline)
    online = tsmbench.create_model("tsm_mobilenetv2_online", num_classes=11)
    online.load_state_dict(offline.state_dict())
    x = torch.randn(1, 6, 3, 64, 64)
    with torch.inference_mode():
        expected = offline.forward_frames(x)[0]
        buffers = online.init_buffers(1, 64, 64)
        got = []
        for t in range(6):
            logits, *buffers = online(x[:, t], *buffers)
            got.append(logits[0])
    assert torch.allclose(torch.stack(got), expected, atol=1e-5, rtol=1e-4)


def test_online_buffer_shapes_match_reference_demo() -> None:
    online = tsmbench.create_model("tsm_mobilenetv2_online", num_classes=27)
    shapes = [tuple(b.shape) for b in online.init_buffers(1, 224, 224)]
    assert shapes == [(1, 3, 56, 56), (1, 4, 28, 28), (1, 4, 28, 28), (1, 8, 14, 14), (1, 8, 14, 14),
                      (1, 8, 14, 14), (1, 12, 14, 14), (1, 12, 14, 14), (1, 20, 7, 7), (1, 20, 7, 7)]


def test_unknown_model_suggests_close_names() -> None:
    with pytest.raises(ModelNotFoundError, match="did you mean tsm_r50"):
        tsmbench.create_model("tsm_r05")


def test_wrong_input_shape_says_expected_layout() -> None:
    m = tsmbench.create_model("tsm_resnet_tiny", num_segments=4)
    with pytest.raises(InputShapeError, match=r"\(N, T, 3, H, W\)"):
        m(torch.randn(4, 3, 64, 64))
    with pytest.raises(InputShapeError, match="T=4"):
        m(torch.randn(1, 8, 3, 64, 64))


def test_unknown_option_is_rejected() -> None:
    with pytest.raises(UsageError, match="shift_dvi"):
        tsmbench.create_model("tsm_r50", shift_dvi=4)
