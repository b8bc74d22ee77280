"""I3D-ResNet50 in the PyTorchVideo / PySlowFast 8x8 configuration.

Module names mirror PyTorchVideo's `create_resnet` (blocks.0 stem, blocks.1 stage 1, blocks.2
the temporal max-pool, blocks.3-5 stages 2-4, blocks.6 head), so a `.pyth` checkpoint's
`model_state` loads key for key. Input (N, T, 3, H, W) like the 2D models; permuted inside
to PyTorchVideo's (N, 3, T, H, W).

Note: MMAction2's I3D-R50 (32x2) is a different network (conv1 and pool1 temporal stride 2),
see REFERENCE §2; it is not this module.
"""
from __future__ import annotations

from torch import Tensor, nn

from tsmbench.errors import InputShapeError

_T3 = tuple[int, int, int]
# Temporal kernel of conv_a per stage; a list alternates over the stage's blocks.
_CONV_A = ([(3, 1, 1)], [(3, 1, 1), (1, 1, 1)], [(3, 1, 1), (1, 1, 1)], [(1, 1, 1), (3, 1, 1)])
_DEPTHS = (3, 4, 6, 3)


class _Stem(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv3d(3, 64, (5, 7, 7), (1, 2, 2), (2, 3, 3), bias=False)
        self.norm = nn.BatchNorm3d(64)
        self.activation = nn.ReLU()
        self.pool = nn.MaxPool3d((1, 3, 3), (1, 2, 2), (0, 1, 1))

    def forward(self, x: Tensor) -> Tensor:
        return self.pool(self.activation(self.norm(self.conv(x))))


class _Bottleneck(nn.Module):
    def __init__(self, dim_in: int, dim_inner: int, dim_out: int, kernel_a: _T3, stride: int) -> None:
        super().__init__()
        pad_a = tuple(k // 2 for k in kernel_a)
        self.conv_a = nn.Conv3d(dim_in, dim_inner, kernel_a, 1, pad_a, bias=False)
        self.norm_a = nn.BatchNorm3d(dim_inner)
        self.act_a = nn.ReLU()
        self.conv_b = nn.Conv3d(dim_inner, dim_inner, (1, 3, 3), (1, stride, stride), (0, 1, 1), bias=False)
        self.norm_b = nn.BatchNorm3d(dim_inner)
        self.act_b = nn.ReLU()
        self.conv_c = nn.Conv3d(dim_inner, dim_out, 1, bias=False)
        self.norm_c = nn.BatchNorm3d(dim_out)

    def forward(self, x: Tensor) -> Tensor:
        x = self.act_a(self.norm_a(self.conv_a(x)))
        x = self.act_b(self.norm_b(self.conv_b(x)))
        return self.norm_c(self.conv_c(x))


class _ResBlock(nn.Module):
    def __init__(self, dim_in: int, dim_inner: int, dim_out: int, kernel_a: _T3, stride: int) -> None:
        super().__init__()
        self.branch1_conv = self.branch1_norm = None
        if dim_in != dim_out or stride > 1:
            self.branch1_conv = nn.Conv3d(dim_in, dim_out, 1, (1, stride, stride), bias=False)
            self.branch1_norm = nn.BatchNorm3d(dim_out)
        self.branch2 = _Bottleneck(dim_in, dim_inner, dim_out, kernel_a, stride)
        self.activation = nn.ReLU()

    def forward(self, x: Tensor) -> Tensor:
        shortcut = x if self.branch1_conv is None else self.branch1_norm(self.branch1_conv(x))
        return self.activation(shortcut + self.branch2(x))


class _Stage(nn.Module):
    def __init__(self, depth: int, dim_in: int, dim_inner: int, dim_out: int, kernels: list[_T3], stride: int) -> None:
        super().__init__()
        self.res_blocks = nn.ModuleList(
            _ResBlock(dim_in if i == 0 else dim_out, dim_inner, dim_out, kernels[i % len(kernels)], stride if i == 0 else 1)
            for i in range(depth)
        )

    def forward(self, x: Tensor) -> Tensor:
        for b in self.res_blocks:
            x = b(x)
        return x


class _Head(nn.Module):
    def __init__(self, in_features: int, num_classes: int, dropout: float) -> None:
        super().__init__()
        self.pool = nn.AvgPool3d((4, 7, 7), stride=1)
        self.dropout = nn.Dropout(dropout)
        self.proj = nn.Linear(in_features, num_classes)
        self.output_pool = nn.AdaptiveAvgPool3d(1)

    def forward(self, x: Tensor) -> Tensor:
        x = self.dropout(self.pool(x))
        x = self.proj(x.permute(0, 2, 3, 4, 1)).permute(0, 4, 1, 2, 3)
        return self.output_pool(x).flatten(1)


class I3D(nn.Module):
    """I3D-R50 8x8: (N, T, 3, H, W) -> (N, num_classes) logits."""

    def __init__(self, *, num_classes: int = 400, num_segments: int = 8, dropout: float = 0.5) -> None:
        super().__init__()
        self.arch = "i3d_r50"
        self.num_classes = num_classes
        self.num_segments = num_segments
        blocks: list[nn.Module] = [_Stem()]
        dim_in, dim_out = 64, 256
        for idx, depth in enumerate(_DEPTHS):
            blocks.append(_Stage(depth, dim_in, dim_out // 4, dim_out, _CONV_A[idx], 1 if idx == 0 else 2))
            if idx == 0:
                blocks.append(nn.MaxPool3d((2, 1, 1), (2, 1, 1), (0, 0, 0)))
            dim_in, dim_out = dim_out, dim_out * 2
        blocks.append(_Head(dim_in, num_classes, dropout))
        self.blocks = nn.ModuleList(blocks)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 5 or x.shape[2] != 3:
            raise InputShapeError(
                f"i3d_r50 expects input of shape (N, T, 3, H, W) = (clips, frames, RGB, height, width), got {tuple(x.shape)}"
            )
        x = x.permute(0, 2, 1, 3, 4)  # PyTorchVideo's (N, C, T, H, W)
        for b in self.blocks:
            x = b(x)
        return x
