"""The registered architectures: TSM/TSN on ResNet-50/101, MobileNetV2, a tiny ResNet; I3D."""
from __future__ import annotations

from typing import Any, Callable

from torch import nn

from tsmbench.errors import UsageError
from tsmbench.models.i3d import I3D
from tsmbench.models.mobilenetv2 import mobilenetv2
from tsmbench.models.online import OnlineTSM
from tsmbench.models.registry import ModelSpec, register_model
from tsmbench.models.resnet import ResNet, resnet50, resnet101, resnet_tiny
from tsmbench.models.video import VideoClassifier


def _video(arch: str, trunk: Callable[[], nn.Module], shifted: bool) -> Callable[..., nn.Module]:
    def build(
        *,
        num_classes: int,
        num_segments: int,
        shift_div: int = 8,
        shift_place: str = "blockres",
        temporal_pool: bool = False,
        shift_direction: str = "bidirectional",
        dropout: float = 0.5,
    ) -> nn.Module:
        backbone = trunk()
        if temporal_pool and not shifted:
            raise UsageError(f"temporal_pool is a TSM option (the reference pools only shifted models); use tsm_* for {arch}")
        if temporal_pool and num_segments % 2:
            raise UsageError(f"temporal_pool halves T: num_segments must be even, got {num_segments}")
        if shifted:
            if isinstance(backbone, ResNet):
                backbone.add_temporal_shift(
                    num_segments,
                    shift_div=shift_div,
                    place=shift_place,  # type: ignore[arg-type]
                    direction=shift_direction,  # type: ignore[arg-type]
                    temporal_pool=temporal_pool,
                )
            else:
                if shift_place != "blockres" or temporal_pool:
                    raise UsageError(f"{arch} supports only the residual shift placement without temporal pooling")
                backbone.add_temporal_shift(num_segments, shift_div=shift_div, direction=shift_direction)  # type: ignore[operator]
        return VideoClassifier(
            backbone,
            arch=arch,
            num_classes=num_classes,
            num_segments=num_segments,
            dropout=dropout,
            shifted=shifted,
            temporal_pool=temporal_pool,
        )

    return build


def _online(*, num_classes: int, num_segments: int = 1, shift_div: int = 8, dropout: float = 0.5, **_: Any) -> nn.Module:
    return OnlineTSM(mobilenetv2(), num_classes=num_classes, shift_div=shift_div, dropout=dropout)


def _i3d(*, num_classes: int, num_segments: int, dropout: float = 0.5, **options: Any) -> nn.Module:
    if options:
        raise UsageError(f"i3d_r50 takes no shift options, got {', '.join(sorted(options))}")
    return I3D(num_classes=num_classes, num_segments=num_segments, dropout=dropout)


for _name, _trunk, _shift, _desc in [
    ("tsm_r50", resnet50, True, "TSM on ResNet-50 (residual shift, 1/8 each way)"),
    ("tsn_r50", resnet50, False, "TSN on ResNet-50 (no shift: the same FLOPs and params as TSM)"),
    ("tsm_r101", resnet101, True, "TSM on ResNet-101 (every second block shifted)"),
    ("tsn_r101", resnet101, False, "TSN on ResNet-101"),
    ("tsm_mobilenetv2", mobilenetv2, True, "TSM on MobileNetV2 (10 shifted inverted-residual blocks)"),
    ("tsn_mobilenetv2", mobilenetv2, False, "TSN on MobileNetV2"),
    ("tsm_resnet_tiny", resnet_tiny, True, "TSM on a narrow ResNet-10 (widths 16-128) for CPU training and tests"),
    ("tsn_resnet_tiny", resnet_tiny, False, "TSN on the same narrow ResNet-10"),
]:
    register_model(ModelSpec(_name, _video(_name, _trunk, _shift), _desc, _name[:3]))

register_model(
    ModelSpec(
        "tsm_mobilenetv2_online",
        _online,
        "Online (streaming) TSM-MobileNetV2: one frame per call, uni-directional shift buffers",
        "tsm",
    )
)
register_model(ModelSpec("i3d_r50", _i3d, "I3D-ResNet50, PyTorchVideo/PySlowFast 8x8 configuration", "i3d", 256))
