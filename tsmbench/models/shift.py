"""The temporal shift: move part of the channels one frame along time, at zero FLOPs.

Reference semantics (mit-han-lab/temporal-shift-module, ops/temporal_shift.py), for a feature
map of shape (N*T, C, H, W) and fold = C // shift_div:

- bi-directional (offline): channels [0, fold) take frame t+1 (zero at the last frame),
  channels [fold, 2*fold) take frame t-1 (zero at the first frame), the rest stay;
- uni-directional (online, past only): channels [0, fold) take frame t-1 (zero at the first
  frame), the rest stay. This is what the online demo's per-frame buffers compute.

The reference writes the shifted slices into a zeros tensor by slice assignment, which
exporters have been seen to translate wrongly (reference repo issues #77, #103, #181). Here
the output is built from views with `F.pad` and one `torch.cat`: pure functional ops that ONNX
and TensorRT represent exactly (Slice, Pad, Concat), and a single copy of the feature map.
"""
from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from tsmbench.errors import InputShapeError

ShiftDirection = Literal["bidirectional", "unidirectional"]


def temporal_shift(
    x: Tensor, num_segments: int, *, shift_div: int = 8, direction: ShiftDirection = "bidirectional"
) -> Tensor:
    """Shift `x` of shape (N*T, C, H, W) along T; see the module docstring for the exact rule."""
    nt, c, h, w = x.shape
    if num_segments < 1 or nt % num_segments:
        raise InputShapeError(
            f"temporal shift got a batch of {nt} frames, not a multiple of num_segments={num_segments}"
        )
    fold = c // shift_div
    if fold == 0:
        return x
    x5 = x.view(nt // num_segments, num_segments, c, h, w)
    # F.pad's pad tuple runs from the last dimension backwards: (W, W, H, H, C, C, T_before, T_after).
    if direction == "bidirectional":
        from_next = F.pad(x5[:, 1:, :fold], (0, 0, 0, 0, 0, 0, 0, 1))
        from_prev = F.pad(x5[:, :-1, fold : 2 * fold], (0, 0, 0, 0, 0, 0, 1, 0))
        out = torch.cat((from_next, from_prev, x5[:, :, 2 * fold :]), dim=2)
    elif direction == "unidirectional":
        from_prev = F.pad(x5[:, :-1, :fold], (0, 0, 0, 0, 0, 0, 1, 0))
        out = torch.cat((from_prev, x5[:, :, fold:]), dim=2)
    else:
        raise ValueError(f"direction must be 'bidirectional' or 'unidirectional', got {direction!r}")
    return out.view(nt, c, h, w)


class TemporalShift(nn.Module):
    """`temporal_shift` as a module, so a block can hold its shift configuration."""

    def __init__(
        self, num_segments: int, *, shift_div: int = 8, direction: ShiftDirection = "bidirectional"
    ) -> None:
        super().__init__()
        self.num_segments = num_segments
        self.shift_div = shift_div
        self.direction = direction

    def forward(self, x: Tensor) -> Tensor:
        return temporal_shift(x, self.num_segments, shift_div=self.shift_div, direction=self.direction)

    def extra_repr(self) -> str:
        return f"num_segments={self.num_segments}, shift_div={self.shift_div}, direction={self.direction}"


def temporal_pool(x: Tensor, num_segments: int) -> Tensor:
    """The reference's temporal pooling: max over time, kernel 3, stride 2, pad 1 (T -> T/2)."""
    nt, c, h, w = x.shape
    n = nt // num_segments
    x5 = x.view(n, num_segments, c, h, w).transpose(1, 2)
    x5 = F.max_pool3d(x5, kernel_size=(3, 1, 1), stride=(2, 1, 1), padding=(1, 0, 0))
    t = x5.shape[2]
    return x5.transpose(1, 2).reshape(n * t, c, h, w)
