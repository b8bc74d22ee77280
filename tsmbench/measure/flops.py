"""FLOPs and parameters with fvcore, with the published figures beside ours.

Convention (fvcore's): one multiply-add counts as one FLOP; convolutions, linear layers,
batch-norm and adaptive pooling are counted, element-wise ops (ReLU, add, the shift's pad and
concat) are not. MMAction2 publishes figures without the classifier head; `flops_without_head`
is given so that such figures compare exactly.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

CONVENTION = "fvcore: 1 multiply-add = 1 FLOP; conv, linear, batch-norm and pooling counted; head included"


@dataclass(frozen=True)
class Published:
    flops: float | None
    params: float | None
    source: str
    note: str = ""


# Published figures keyed by (arch, num_segments or frames, input size, num_classes). REFERENCE §3.
PUBLISHED: dict[tuple[str, int, int, int], Published] = {
    ("tsm_r50", 8, 224, 400): Published(32.88e9, 24.33e6, "MMAction2 model zoo (fvcore)", "head excluded; paper: 33G, 24.3M"),
    ("tsn_r50", 8, 224, 400): Published(32.88e9, 24.33e6, "MMAction2 model zoo (fvcore)", "head excluded; paper: 33G, 24.3M"),
    ("tsm_r50", 16, 224, 400): Published(65.8e9, 24.33e6, "TSM paper / MMAction2 (approx.)", "head excluded"),
    ("tsn_r50", 16, 224, 400): Published(65.8e9, 24.33e6, "TSM paper / MMAction2 (approx.)", "head excluded"),
    ("tsm_r101", 8, 224, 174): Published(62.66e9, 42.86e6, "MMAction2 model zoo (fvcore)", "head excluded"),
    ("tsm_mobilenetv2", 8, 224, 400): Published(None, 2.736e6, "MMAction2 model zoo", "their FLOPs are at 256 px"),
    ("tsm_mobilenetv2", 8, 256, 400): Published(3.269e9, 2.736e6, "MMAction2 model zoo (fvcore)", "head excluded; 256 px"),
    ("i3d_r50", 8, 256, 400): Published(37.53e9, 28.04e6, "PyTorchVideo model zoo", "their counter's convention"),
}


@dataclass(frozen=True)
class StageFlops:
    name: str
    flops: float
    share: float  # of the total


@dataclass(frozen=True)
class FlopsResult:
    model: str
    params: int
    flops: float  # per clip (or per frame for the online model)
    flops_per_frame: float
    flops_without_head: float
    num_segments: int
    input_size: int
    num_classes: int
    stages: list[StageFlops] = field(default_factory=list)
    published: Published | None = None
    convention: str = CONVENTION

    def to_record(self) -> dict[str, Any]:
        from tsmbench.results.schema import environment

        pub = None
        if self.published is not None:
            pub = {
                "flops": self.published.flops,
                "params": self.published.params,
                "source": self.published.source,
                "note": self.published.note,
                "flops_diff_pct": _pct(self.flops_without_head, self.published.flops)
                if "head excluded" in self.published.note
                else _pct(self.flops, self.published.flops),
                "params_diff_pct": _pct(self.params, self.published.params),
            }
        return {
            "kind": "flops",
            "model": self.model,
            "params": self.params,
            "flops": self.flops,
            "flops_per_frame": self.flops_per_frame,
            "flops_without_head": self.flops_without_head,
            "num_segments": self.num_segments,
            "input_size": self.input_size,
            "num_classes": self.num_classes,
            "convention": self.convention,
            "stages": [{"name": s.name, "flops": s.flops, "share": s.share} for s in self.stages],
            "published": pub,
            "environment": environment(),
        }


def _pct(ours: float, theirs: float | None) -> float | None:
    return None if not theirs else 100.0 * (ours - theirs) / theirs


def _stage_names(model: nn.Module) -> list[str]:
    if hasattr(model, "blocks"):  # I3D: PyTorchVideo block list
        return [f"blocks.{i}" for i in range(len(model.blocks))]
    bb = model.backbone
    if hasattr(bb, "layer1"):
        return [f"backbone.{n}" for n in ("conv1", "bn1", "layer1", "layer2", "layer3", "layer4")] + ["fc"]
    return [f"backbone.features.{i}" for i in range(len(bb.features))] + ["fc"]


def _head_name(model: nn.Module) -> str:
    return "blocks.6" if hasattr(model, "blocks") else "fc"


def count_flops(model: nn.Module, *, num_segments: int, input_size: int, arch: str | None = None) -> FlopsResult:
    """Count FLOPs of one clip (batch 1) of `num_segments` frames at `input_size`²."""
    from fvcore.nn import FlopCountAnalysis

    arch = arch or str(getattr(model, "arch", type(model).__name__))
    online = arch.endswith("_online")
    model = model.eval()
    if online:
        inputs: Any = (torch.zeros(1, 3, input_size, input_size), *model.init_buffers(1, input_size, input_size))
    else:
        inputs = (torch.zeros(1, num_segments, 3, input_size, input_size),)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about python ints in shapes are expected here
        analysis = FlopCountAnalysis(model, inputs)
        analysis.unsupported_ops_warnings(False)
        analysis.uncalled_modules_warnings(False)
        total = float(analysis.total())
        by_module = analysis.by_module()
    params = sum(p.numel() for p in model.parameters())
    stages = [StageFlops(n, float(by_module.get(n, 0)), float(by_module.get(n, 0)) / total if total else 0.0)
              for n in _stage_names(model)]
    head = float(by_module.get(_head_name(model), 0))
    frames = 1 if online else num_segments
    num_classes = int(getattr(model, "num_classes", 0))
    base = arch.split(".")[0]
    return FlopsResult(
        model=arch,
        params=params,
        flops=total,
        flops_per_frame=total / frames,
        flops_without_head=total - head,
        num_segments=frames,
        input_size=input_size,
        num_classes=num_classes,
        stages=stages,
        published=PUBLISHED.get((base, frames, input_size, num_classes)),
    )
