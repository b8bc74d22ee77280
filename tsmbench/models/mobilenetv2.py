"""MobileNetV2 in the original TSM repo's layout (features.N.conv.M), with optional shift.

The layout is that of mit-han-lab's archs/mobilenet_v2.py and online_demo/mobilenet_v2_tsm.py
(flat Sequential per block), so both the offline TSM checkpoints and the online demo's plain
state dict map onto it directly.
"""
from __future__ import annotations

from torch import Tensor, nn

from tsmbench.models.shift import ShiftDirection, TemporalShift

# (expansion t, output channels c, repeats n, first stride s), as in the paper / reference.
_SETTINGS = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]


def _conv_bn(inp: int, oup: int, kernel: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(inp, oup, kernel, stride, kernel // 2, bias=False), nn.BatchNorm2d(oup), nn.ReLU6(inplace=True)
    )


class InvertedResidual(nn.Module):
    def __init__(self, inp: int, oup: int, stride: int, expand_ratio: int) -> None:
        super().__init__()
        hidden = round(inp * expand_ratio)
        self.use_res_connect = stride == 1 and inp == oup
        self.expand_ratio = expand_ratio
        self.in_channels = inp
        if expand_ratio == 1:
            self.conv = nn.Sequential(
                nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False),
                nn.BatchNorm2d(hidden),
                nn.ReLU6(inplace=True),
                nn.Conv2d(hidden, oup, 1, 1, 0, bias=False),
                nn.BatchNorm2d(oup),
            )
        else:
            self.conv = nn.Sequential(
                nn.Conv2d(inp, hidden, 1, 1, 0, bias=False),
                nn.BatchNorm2d(hidden),
                nn.ReLU6(inplace=True),
                nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False),
                nn.BatchNorm2d(hidden),
                nn.ReLU6(inplace=True),
                nn.Conv2d(hidden, oup, 1, 1, 0, bias=False),
                nn.BatchNorm2d(oup),
            )
        self.shift: TemporalShift | None = None

    @property
    def shiftable(self) -> bool:
        """The reference shifts blocks that expand and have a residual connection."""
        return self.use_res_connect and self.expand_ratio != 1

    def forward(self, x: Tensor) -> Tensor:
        branch_in = self.shift(x) if self.shift is not None else x
        out = self.conv(branch_in)
        return x + out if self.use_res_connect else out


class MobileNetV2(nn.Module):
    """MobileNetV2 trunk without classifier: (B, 3, H, W) -> (B, 1280)."""

    def __init__(self, width_mult: float = 1.0) -> None:
        super().__init__()
        input_channel = 32
        self.num_features = int(1280 * width_mult) if width_mult > 1.0 else 1280
        features: list[nn.Module] = [_conv_bn(3, int(input_channel * width_mult), 3, 2)]
        input_channel = int(input_channel * width_mult)
        for t, c, n, s in _SETTINGS:
            out = int(c * width_mult)
            for i in range(n):
                features.append(InvertedResidual(input_channel, out, s if i == 0 else 1, t))
                input_channel = out
        features.append(_conv_bn(input_channel, self.num_features, 1, 1))
        self.features = nn.Sequential(*features)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def shiftable_blocks(self) -> list[int]:
        return [i for i, m in enumerate(self.features) if isinstance(m, InvertedResidual) and m.shiftable]

    def add_temporal_shift(
        self, num_segments: int, *, shift_div: int = 8, direction: ShiftDirection = "bidirectional"
    ) -> None:
        for i in self.shiftable_blocks():
            self.features[i].shift = TemporalShift(num_segments, shift_div=shift_div, direction=direction)

    def forward(self, x: Tensor) -> Tensor:
        return self.features(x).mean((2, 3))


def mobilenetv2() -> MobileNetV2:
    return MobileNetV2()
