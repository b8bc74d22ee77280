"""2D ResNets (torchvision v1.5 layout: stride on the 3x3 conv) with optional temporal shift.

Parameter names follow torchvision's ResNet, which the original TSM code wraps, so the
reference checkpoints map onto these modules key for key (see checkpoints.py).
"""
from __future__ import annotations

from typing import Literal

from torch import Tensor, nn

from tsmbench.models.shift import ShiftDirection, TemporalShift, temporal_pool

ShiftPlace = Literal["blockres", "block"]


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.shift: TemporalShift | None = None
        self.shift_place: ShiftPlace = "blockres"

    def _residual(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        return self.bn2(self.conv2(out))

    def forward(self, x: Tensor) -> Tensor:
        if self.shift is not None and self.shift_place == "block":
            x = self.shift(x)  # in-place TSM: both paths see the shifted input
        branch_in = self.shift(x) if self.shift is not None and self.shift_place == "blockres" else x
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(self._residual(branch_in) + identity)


class Bottleneck(BasicBlock):
    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None) -> None:
        nn.Module.__init__(self)
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.shift = None
        self.shift_place = "blockres"

    def _residual(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        return self.bn3(self.conv3(out))


class _TemporalPoolThen(nn.Sequential):
    """layer2 with the reference's temporal max-pool in front of it (T -> T/2)."""

    def __init__(self, layer: nn.Sequential, num_segments: int) -> None:
        super().__init__(*layer)
        self.num_segments = num_segments

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(temporal_pool(x, self.num_segments))


class ResNet(nn.Module):
    """A 2D ResNet trunk without its classifier: (B, 3, H, W) -> (B, C) pooled features."""

    def __init__(self, block: type[BasicBlock], layers: list[int], *, width: int = 64) -> None:
        super().__init__()
        self.inplanes = width
        self.conv1 = nn.Conv2d(3, width, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = self._make_layer(block, width, layers[0])
        self.layer2 = self._make_layer(block, width * 2, layers[1], stride=2)
        self.layer3 = self._make_layer(block, width * 4, layers[2], stride=2)
        self.layer4 = self._make_layer(block, width * 8, layers[3], stride=2)
        self.num_features = width * 8 * block.expansion
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def _make_layer(self, block: type[BasicBlock], planes: int, blocks: int, stride: int = 1) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, planes * block.expansion, 1, stride, bias=False),
                nn.BatchNorm2d(planes * block.expansion),
            )
        layers = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block.expansion
        layers += [block(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def add_temporal_shift(
        self,
        num_segments: int,
        *,
        shift_div: int = 8,
        place: ShiftPlace = "blockres",
        direction: ShiftDirection = "bidirectional",
        temporal_pool: bool = False,
    ) -> None:
        """Insert shifts as the reference's make_temporal_shift does.

        Deep nets (layer3 with >= 23 blocks, i.e. ResNet-101) shift only every second block
        in the residual placement, as the reference does.
        """
        if place not in ("blockres", "block"):
            raise ValueError(f"shift_place must be 'blockres' or 'block', got {place!r}")
        segments = [num_segments] + [num_segments // 2 if temporal_pool else num_segments] * 3
        every = 2 if place == "blockres" and len(self.layer3) >= 23 else 1
        for layer, seg in zip((self.layer1, self.layer2, self.layer3, self.layer4), segments):
            for i, blk in enumerate(layer):
                if i % every == 0:
                    blk.shift = TemporalShift(seg, shift_div=shift_div, direction=direction)
                    blk.shift_place = place
        if temporal_pool:
            self.layer2 = _TemporalPoolThen(self.layer2, num_segments)

    def forward(self, x: Tensor) -> Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return x.mean((2, 3))


def resnet50() -> ResNet:
    return ResNet(Bottleneck, [3, 4, 6, 3])


def resnet101() -> ResNet:
    return ResNet(Bottleneck, [3, 4, 23, 3])


def resnet_tiny() -> ResNet:
    """A narrow ResNet-10 (BasicBlocks, widths 16-128) for CPU training and fast tests."""
    return ResNet(BasicBlock, [1, 1, 1, 1], width=16)
