"""TSN/TSM video classifiers: a 2D trunk applied per frame, a per-frame linear head, averaged.

Input (N, T, 3, H, W) of normalised floats; output (N, num_classes) pre-softmax logits, the
average of the per-frame logits ("avg consensus"), as in the reference's TSN wrapper.
"""
from __future__ import annotations

from torch import Tensor, nn

from tsmbench.errors import InputShapeError


class VideoClassifier(nn.Module):
    """A 2D backbone run on every frame, dropout, a new linear layer, average over time."""

    def __init__(
        self,
        backbone: nn.Module,
        *,
        arch: str,
        num_classes: int,
        num_segments: int,
        dropout: float = 0.5,
        shifted: bool = False,
        temporal_pool: bool = False,
    ) -> None:
        super().__init__()
        self.arch = arch
        self.num_classes = num_classes
        self.num_segments = num_segments
        self.shifted = shifted
        self.temporal_pool = temporal_pool
        self.backbone = backbone
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(backbone.num_features, num_classes)
        nn.init.normal_(self.fc.weight, 0, 0.001)
        nn.init.zeros_(self.fc.bias)

    def _check(self, x: Tensor) -> None:
        if x.dim() != 5 or x.shape[2] != 3:
            raise InputShapeError(
                f"{self.arch} expects input of shape (N, T, 3, H, W) = (clips, frames, RGB, height, width), "
                f"got {tuple(x.shape)}"
            )
        if (self.shifted or self.temporal_pool) and x.shape[1] != self.num_segments:
            raise InputShapeError(
                f"{self.arch} was built for T={self.num_segments} frames per clip (its shift mixes neighbouring "
                f"frames), got input {tuple(x.shape)}; pass num_segments={x.shape[1]} to create_model or sample "
                f"{self.num_segments} frames"
            )

    def forward_frames(self, x: Tensor) -> Tensor:
        """Per-frame logits (N, T', num_classes); T' = T, or T/2 with temporal pooling."""
        self._check(x)
        n, t, c, h, w = x.shape
        features = self.backbone(x.reshape(n * t, c, h, w))
        return self.fc(self.dropout(features)).view(n, -1, self.num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_frames(x).mean(1)
