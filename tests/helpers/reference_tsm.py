"""Test-only transcription of the original TSM code's structure and key layouts.

mit-han-lab/temporal-shift-module wraps a torchvision trunk: shifted convs become
`TemporalShift(net)` modules (hence `.net` in the keys), the trunk's classifier becomes a
Dropout and a `new_fc` is added, and the model is saved from a DataParallel (`module.`).
The shift here is the reference's own zeros-plus-slice-assignment, kept independent of
tsmbench's implementation on purpose. Other helpers rename those keys into the MMAction2,
online-demo and PyTorchVideo layouts, so tests can write files exactly as users hold them.
"""
from __future__ import annotations

import re
from pathlib import Path

import torch
from torch import nn


def reference_shift(x: torch.Tensor, n_segment: int, fold_div: int = 8) -> torch.Tensor:
    nt, c, h, w = x.size()
    x = x.view(nt // n_segment, n_segment, c, h, w)
    fold = c // fold_div
    out = torch.zeros_like(x)
    out[:, :-1, :fold] = x[:, 1:, :fold]  # shift left
    out[:, 1:, fold : 2 * fold] = x[:, :-1, fold : 2 * fold]  # shift right
    out[:, :, 2 * fold :] = x[:, :, 2 * fold :]
    return out.view(nt, c, h, w)


class RefTemporalShift(nn.Module):
    def __init__(self, net: nn.Module, n_segment: int, n_div: int = 8) -> None:
        super().__init__()
        self.net, self.n_segment, self.fold_div = net, n_segment, n_div

    def forward(self, x):
        return self.net(reference_shift(x, self.n_segment, self.fold_div))


class RefTSN(nn.Module):
    """The reference TSN wrapper: base_model (a trunk without classifier) + new_fc, avg consensus."""

    def __init__(self, base_model: nn.Module, num_classes: int, num_segments: int) -> None:
        super().__init__()
        self.base_model = base_model
        self.new_fc = nn.Linear(base_model.num_features, num_classes)
        self.num_segments = num_segments

    def forward(self, x):  # x: (N, T, 3, H, W)
        n, t = x.shape[:2]
        base_out = self.new_fc(self.base_model(x.reshape(n * t, *x.shape[2:])))
        return base_out.view(n, t, -1).mean(1)


def make_reference(arch: str, num_classes: int, num_segments: int, *, seed: int = 0) -> RefTSN:
    """A reference-structured model with random weights and randomised BN statistics."""
    from tsmbench.models.mobilenetv2 import MobileNetV2
    from tsmbench.models.resnet import resnet50, resnet101, resnet_tiny

    torch.manual_seed(seed)
    trunk = {"r50": resnet50, "r101": resnet101, "resnet_tiny": resnet_tiny, "mobilenetv2": MobileNetV2}[
        arch.split("_", 1)[1]
    ]()
    if arch.startswith("tsm"):
        if hasattr(trunk, "layer1"):
            n_round = 2 if len(trunk.layer3) >= 23 else 1
            for layer in (trunk.layer1, trunk.layer2, trunk.layer3, trunk.layer4):
                for i, b in enumerate(layer):
                    if i % n_round == 0:
                        b.conv1 = RefTemporalShift(b.conv1, num_segments)
        else:
            for m in trunk.features:
                if hasattr(m, "use_res_connect") and m.use_res_connect and m.expand_ratio != 1:
                    m.conv[0] = RefTemporalShift(m.conv[0], num_segments)
    model = RefTSN(trunk, num_classes, num_segments)
    randomise_bn(model)
    return model.eval()


def randomise_bn(model: nn.Module) -> None:
    g = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm2d, nn.BatchNorm3d)):
            m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)


def save_mit(model: RefTSN, path: Path) -> Path:
    """As the original training script saves: {'epoch', 'arch', 'state_dict' (DataParallel), 'best_prec1'}."""
    sd = {"module." + k: v for k, v in model.state_dict().items()}
    torch.save({"epoch": 50, "arch": "resnet50", "state_dict": sd, "best_prec1": 74.1}, path)
    return path


def mmaction2_resnet_key(k: str) -> str:
    """A MIT-layout key (without `module.`) renamed to MMAction2's TSM/TSN ResNet layout."""
    if k.startswith("new_fc."):
        return "cls_head.fc_cls." + k[len("new_fc.") :]
    k = "backbone." + k[len("base_model.") :]
    k = re.sub(r"^backbone\.conv1\.", "backbone.conv1.conv.", k)
    k = re.sub(r"^backbone\.bn1\.", "backbone.conv1.bn.", k)
    k = re.sub(r"\.conv(\d)\.net\.", r".conv\1.conv.net.", k)  # MMAction2 shifts the ConvModule's conv
    k = re.sub(r"\.conv(\d)\.(weight|bias)$", r".conv\1.conv.\2", k)
    k = re.sub(r"\.bn(\d)\.", r".conv\1.bn.", k)
    return k.replace(".downsample.0.", ".downsample.conv.").replace(".downsample.1.", ".downsample.bn.")


def save_mmaction2_resnet(model: RefTSN, path: Path) -> Path:
    sd = {mmaction2_resnet_key(k): v for k, v in model.state_dict().items()}
    torch.save({"meta": {"mmaction_version": "1.2.0"}, "state_dict": sd}, path)
    return path


def save_online_demo(model: RefTSN, path: Path) -> Path:
    """The online demo's plain state dict: features.N.conv.M.*, classifier.* (no `.net`)."""
    sd = {}
    for k, v in model.state_dict().items():
        k = k.replace(".net.", ".")
        if k.startswith("new_fc."):
            sd["classifier." + k[len("new_fc.") :]] = v
        else:
            sd[k[len("base_model.") :]] = v
    torch.save(sd, path)
    return path
