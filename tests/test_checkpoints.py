"""Checkpoints in the layouts users hold load with create_model(weights=...) and give the same logits."""
from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest
import torch

import tsmbench
from tsmbench.errors import CheckpointError, UnsafeCheckpointError
from tsmbench.models.checkpoints import model_metadata, read_checkpoint, save_safetensors, sha256_file

from tests.helpers.reference_tsm import (
    make_reference,
    randomise_bn,
    save_mit,
    save_mmaction2_resnet,
    save_online_demo,
)


def _rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-12))


@pytest.mark.parametrize(
    "arch,classes,segments",
    [("tsm_r50", 400, 8), ("tsn_r50", 400, 8), ("tsm_r101", 174, 8), ("tsm_mobilenetv2", 400, 8), ("tsm_resnet_tiny", 10, 4)],
)
def test_original_tsm_checkpoint_reproduces_reference_logits(tmp_path: Path, arch: str, classes: int, segments: int) -> None:
    ref = make_reference(arch, classes, segments)
    path = save_mit(ref, tmp_path / f"TSM_kinetics_RGB_{arch}_shift8_blockres_avg_segment{segments}_e50.pth")
    x = torch.randn(1, segments, 3, 64, 64)
    with torch.inference_mode():
        expected = ref(x)
        model = tsmbench.create_model(arch, weights=path, num_segments=segments)
        assert model.num_classes == classes  # taken from the checkpoint
        got = model(x)
    assert _rel_err(got, expected) < 1e-3


def test_mit_keys_are_the_documented_ones(tmp_path: Path) -> None:
    sd = torch.load(save_mit(make_reference("tsm_r50", 400, 8), tmp_path / "a.pth"), weights_only=True)["state_dict"]
    for key in ("module.base_model.conv1.weight", "module.base_model.layer1.0.conv1.net.weight",
                "module.base_model.layer1.0.downsample.0.weight", "module.new_fc.weight", "module.new_fc.bias"):
        assert key in sd
    sd = torch.load(save_mit(make_reference("tsm_mobilenetv2", 400, 8), tmp_path / "b.pth"), weights_only=True)["state_dict"]
    assert "module.base_model.features.3.conv.0.net.weight" in sd


def test_online_demo_checkpoint_streams_like_the_demo(tmp_path: Path) -> None:
    ref = make_reference("tsm_mobilenetv2", 27, 8)
    path = save_online_demo(ref, tmp_path / "mobilenetv2_jester_online.pth.tar")
    assert read_checkpoint(path).format == "mit_online"
    online = tsmbench.create_model("tsm_mobilenetv2_online", weights=path)
    assert online.num_classes == 27
    # The demo's block: x + conv(cat(previous frame's first C/8 channels, current rest)).
    frames = torch.randn(3, 1, 3, 64, 64)
    feats = ref.base_model.features
    shift_idx = [3, 5, 6, 8, 9, 10, 12, 13, 15, 16]
    buffers = online.init_buffers(1, 64, 64)
    demo_buffers = [b.clone() for b in buffers]
    with torch.inference_mode():
        for f in frames:
            x, k = f, 0
            for i, m in enumerate(feats):
                if i in shift_idx:
                    c = x.size(1)
                    conv = torch.nn.Sequential(m.conv[0].net, *list(m.conv)[1:])
                    x1, x2 = x[:, : c // 8], x[:, c // 8 :]
                    x = x + conv(torch.cat((demo_buffers[k], x2), dim=1))
                    demo_buffers[k] = x1
                    k += 1
                else:
                    x = m(x)
            expected = ref.new_fc(x.mean((2, 3)))
            logits, *buffers = online(f, *buffers)
            assert _rel_err(logits, expected) < 1e-3


def test_mmaction2_resnet_checkpoint(tmp_path: Path) -> None:
    ref = make_reference("tsm_r50", 174, 8)
    path = save_mmaction2_resnet(ref, tmp_path / "tsm_imagenet-pretrained-r50_8xb16-1x1x8-50e_sthv2-rgb_20230317-be0fc26e.pth")
    ckpt = read_checkpoint(path)
    assert ckpt.format == "mmaction2" and ckpt.shifted is True and ckpt.num_classes == 174
    x = torch.randn(1, 8, 3, 64, 64)
    with torch.inference_mode():
        assert _rel_err(tsmbench.create_model("tsm_r50", weights=path)(x), ref(x)) < 1e-3


def test_mmaction2_mobilenetv2_checkpoint(tmp_path: Path) -> None:
    ref = make_reference("tsm_mobilenetv2", 400, 8)
    # MMAction2's MobileNetV2: conv1 / layer1..7 / conv2 of ConvModules (conv, bn); shifted conv[0] wrapped.
    sizes, flat = (1, 2, 3, 4, 3, 3, 1), []
    for layer, n in enumerate(sizes, start=1):
        flat += [(layer, b) for b in range(n)]
    sd = {}
    for k, v in ref.state_dict().items():
        if k.startswith("new_fc."):
            sd["cls_head.fc_cls." + k.split(".", 1)[1]] = v
            continue
        parts = k.split(".")  # base_model.features.I.(...)
        i = int(parts[2])
        if i in (0, 18):
            name = "conv1" if i == 0 else "conv2"
            sd[f"backbone.{name}.{'conv' if parts[3] == '0' else 'bn'}.{parts[-1]}"] = v
            continue
        layer, b = flat[i - 1]
        slot = int(parts[4])
        net = parts[5] == "net"
        expands = i > 1
        part, kind = {True: {0: (0, "conv"), 1: (0, "bn"), 3: (1, "conv"), 4: (1, "bn"), 6: (2, "conv"), 7: (2, "bn")},
                      False: {0: (0, "conv"), 1: (0, "bn"), 3: (1, "conv"), 4: (1, "bn")}}[expands][slot]
        mid = f"net.{kind}" if net else kind
        sd[f"backbone.layer{layer}.{b}.conv.{part}.{mid}.{parts[-1]}"] = v
    path = tmp_path / "tsm_mobilenetv2_mmaction2.pth"
    torch.save({"state_dict": sd, "meta": {}}, path)
    x = torch.randn(1, 8, 3, 64, 64)
    with torch.inference_mode():
        assert _rel_err(tsmbench.create_model("tsm_mobilenetv2", weights=path)(x), ref(x)) < 1e-3


def test_pytorchvideo_i3d_checkpoint(tmp_path: Path) -> None:
    torch.manual_seed(0)
    src = tsmbench.create_model("i3d_r50", num_classes=400)
    randomise_bn(src)
    path = tmp_path / "I3D_8x8_R50.pyth"
    torch.save({"model_state": src.state_dict(), "epoch": 196}, path)
    ckpt = read_checkpoint(path)
    assert ckpt.format == "pytorchvideo" and ckpt.num_classes == 400
    model = tsmbench.create_model("i3d_r50", weights=path)
    x = torch.randn(1, 8, 3, 224, 224)
    with torch.inference_mode():
        assert _rel_err(model(x), src.eval()(x)) < 1e-3


def test_mmaction2_i3d_is_refused_with_reason(tmp_path: Path) -> None:
    path = tmp_path / "i3d_mma.pth"
    torch.save({"state_dict": {"backbone.conv1.conv.weight": torch.zeros(64, 3, 5, 7, 7),
                               "cls_head.fc_cls.weight": torch.zeros(400, 2048)}}, path)
    with pytest.raises(CheckpointError, match="PyTorchVideo"):
        read_checkpoint(path)


def test_safetensors_roundtrip_with_metadata(tmp_path: Path) -> None:
    m = tsmbench.create_model("tsm_resnet_tiny", num_classes=5, num_segments=4)
    randomise_bn(m)
    out = save_safetensors(m.state_dict(), tmp_path / "w.safetensors", metadata=model_metadata(m))
    ckpt = read_checkpoint(out)
    assert ckpt.format == "tsmbench" and ckpt.metadata["arch"] == "tsm_resnet_tiny" and ckpt.shifted is True
    m2 = tsmbench.create_model("tsm_resnet_tiny", num_segments=4, weights=out)
    x = torch.randn(1, 4, 3, 32, 32)
    with torch.inference_mode():
        assert torch.equal(m.eval()(x), m2(x))
    assert len(sha256_file(out)) == 64
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_wrong_class_count_names_keys_and_shapes(tmp_path: Path) -> None:
    path = save_mit(make_reference("tsm_resnet_tiny", 10, 4), tmp_path / "a.pth")
    with pytest.raises(CheckpointError, match=r"num_classes=10.*fc\.weight: checkpoint \(10, 128\) vs model \(400, 128\)"):
        tsmbench.create_model("tsm_resnet_tiny", num_segments=4, num_classes=400, weights=path)


def test_checkpoint_of_another_architecture(tmp_path: Path) -> None:
    path = save_mit(make_reference("tsm_resnet_tiny", 10, 4), tmp_path / "a.pth")
    with pytest.raises(CheckpointError, match="missing keys: .*unexpected keys"):
        tsmbench.create_model("tsm_mobilenetv2", weights=path)
    with pytest.raises(CheckpointError, match="TSM .*shifted.* checkpoint but tsn_resnet_tiny is TSN"):
        tsmbench.create_model("tsn_resnet_tiny", num_segments=4, weights=path)


def test_truncated_checkpoint_is_a_clean_error(tmp_path: Path) -> None:
    good = save_mit(make_reference("tsm_resnet_tiny", 10, 4), tmp_path / "a.pth")
    bad = tmp_path / "bad.pth"
    bad.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        read_checkpoint(bad)
    m = tsmbench.create_model("tsm_resnet_tiny", num_segments=4)
    st = save_safetensors(m.state_dict(), tmp_path / "w.safetensors", metadata={})
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(st.read_bytes()[:-100])
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        read_checkpoint(cut)


class _Evil:
    def __init__(self, target: str) -> None:
        self.target = target

    def __reduce__(self):
        return (os.system, (f"touch {self.target}",))


def test_hostile_pickle_is_refused_and_never_run(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    torch.save({"state_dict": {"fc.weight": torch.zeros(2, 2)}, "payload": _Evil(str(marker))}, path)
    with pytest.raises(UnsafeCheckpointError, match="could run code"):
        tsmbench.create_model("tsm_resnet_tiny", weights=path)
    raw = tmp_path / "evil.pkl"
    raw.write_bytes(pickle.dumps(_Evil(str(marker))))
    with pytest.raises(CheckpointError):
        read_checkpoint(raw)
    assert not marker.exists()


def test_missing_file_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="does not exist"):
        tsmbench.create_model("tsm_r50", weights=tmp_path / "nope.pth")


def test_safetensors_bytes_are_deterministic(tmp_path: Path) -> None:
    m = tsmbench.create_model("tsm_resnet_tiny", num_classes=5, num_segments=4)
    meta = {**model_metadata(m), "classes": ["a", "b"], "source_sha256": "0" * 64, "card": "x.y"}
    a = save_safetensors(m.state_dict(), tmp_path / "a.safetensors", metadata=meta)
    b = save_safetensors(m.state_dict(), tmp_path / "b.safetensors", metadata=dict(reversed(list(meta.items()))))
    assert sha256_file(a) == sha256_file(b)
    assert read_checkpoint(a).metadata["card"] == "x.y"
