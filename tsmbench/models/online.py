"""Online (streaming) TSM-MobileNetV2: one frame in, logits and the next shift buffers out.

Each shifted block keeps the first C/8 channels of the current frame for the next call and
uses the previous frame's instead (uni-directional, past-only shift), exactly as the
reference online demo (mit-han-lab/temporal-shift-module online_demo). Over a clip this
computes what the offline uni-directional model computes frame by frame (a test proves it).
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from tsmbench.errors import InputShapeError
from tsmbench.models.mobilenetv2 import MobileNetV2


class OnlineTSM(nn.Module):
    """forward(frame, *buffers) -> (logits, *new_buffers); init_buffers() gives zeros."""

    def __init__(self, backbone: MobileNetV2, *, num_classes: int, shift_div: int = 8, dropout: float = 0.5) -> None:
        super().__init__()
        self.arch = "tsm_mobilenetv2_online"
        self.num_classes = num_classes
        self.num_segments = 1
        self.shift_div = shift_div
        self.backbone = backbone
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(backbone.num_features, num_classes)
        self.shift_blocks = backbone.shiftable_blocks()

    def buffer_shapes(self, batch_size: int = 1, height: int = 224, width: int = 224) -> list[tuple[int, ...]]:
        """Shapes of the shift buffers for a frame of the given size (10 for MobileNetV2)."""
        shapes = []
        h, w = height, width
        for i, m in enumerate(self.backbone.features):
            if i in self.shift_blocks:
                shapes.append((batch_size, m.in_channels // self.shift_div, h, w))
            stride = m[0].stride[0] if isinstance(m, nn.Sequential) else m.conv[3 if m.expand_ratio != 1 else 0].stride[0]
            if stride == 2:
                h, w = (h + 1) // 2, (w + 1) // 2
        return shapes

    def init_buffers(
        self, batch_size: int = 1, height: int = 224, width: int = 224, *, device=None, dtype=None
    ) -> tuple[Tensor, ...]:
        p = next(self.parameters())
        return tuple(
            torch.zeros(s, device=device or p.device, dtype=dtype or p.dtype)
            for s in self.buffer_shapes(batch_size, height, width)
        )

    def forward(self, frame: Tensor, *buffers: Tensor) -> tuple[Tensor, ...]:
        if frame.dim() != 4 or frame.shape[1] != 3:
            raise InputShapeError(f"{self.arch} takes one frame (N, 3, H, W), got {tuple(frame.shape)}")
        if len(buffers) != len(self.shift_blocks):
            raise InputShapeError(
                f"{self.arch} needs {len(self.shift_blocks)} shift buffers (from init_buffers()), got {len(buffers)}"
            )
        x = frame
        new_buffers: list[Tensor] = []
        k = 0
        for i, m in enumerate(self.backbone.features):
            if i in self.shift_blocks:
                fold = m.in_channels // self.shift_div
                new_buffers.append(x[:, :fold])
                x = x + m.conv(torch.cat((buffers[k], x[:, fold:]), dim=1))
                k += 1
            else:
                x = m(x)
        logits = self.fc(self.dropout(x.mean((2, 3))))
        return (logits, *new_buffers)
