"""Test-time transforms: resize the shorter side, crop (1 centre, 3 full-res, 10), normalise.

Crop positions follow the MIT TSM test code (GroupCenterCrop, GroupFullResSample,
GroupOverSample), so multi-crop accuracy is comparable with its published figures.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
import torch
from PIL import Image

from tsmbench.errors import UsageError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CROPS = (1, 3, 10)


@dataclass(frozen=True)
class InputConfig:
    """A model card's `input:` block. scale 1.0: mean/std on 0-1 pixels; 255: on 0-255 (MMAction2)."""

    size: int = 224
    resize: int = 256
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    scale: float = 1.0

    @classmethod
    def from_mapping(cls, d: Mapping[str, Any] | None) -> "InputConfig":
        if not d:
            return cls()
        base = cls()
        size = int(d.get("size", base.size))
        return cls(
            size=size,
            resize=int(d.get("resize", round(size * 256 / 224))),
            mean=tuple(float(v) for v in d.get("mean", base.mean)),  # type: ignore[arg-type]
            std=tuple(float(v) for v in d.get("std", base.std)),  # type: ignore[arg-type]
            scale=float(d.get("scale", base.scale)),
        )

    @classmethod
    def of(cls, value: Any) -> "InputConfig":
        """Accept an InputConfig, a mapping, or any object with the same attributes (a card's input)."""
        if value is None or isinstance(value, cls):
            return value or cls()
        if isinstance(value, Mapping):
            return cls.from_mapping(value)
        return cls.from_mapping({k: getattr(value, k) for k in ("size", "resize", "mean", "std", "scale") if hasattr(value, k)})


def resize_shorter(img: Image.Image, size: int) -> Image.Image:
    """Shorter side to `size`, the longer one scaled and truncated (torchvision's Resize(int))."""
    w, h = img.size
    if min(w, h) == size:
        return img
    if w <= h:
        ow, oh = size, int(size * h / w)
    else:
        ow, oh = int(size * w / h), size
    return img.resize((ow, oh), Image.BILINEAR)


def crop_boxes(width: int, height: int, *, crops: int, size: int, resize: int) -> tuple[int, list[tuple[int, int, bool]]]:
    """(crop side, [(left, top, flip), ...]) for an image of width x height after resizing."""
    if crops == 1:
        c = size
        return c, [(int(round((width - c) / 2.0)), int(round((height - c) / 2.0)), False)]
    if crops == 3:
        c = resize  # "full resolution": resize-sized squares along the longer side
        ws, hs = (width - c) // 4, (height - c) // 4
        return c, [(0, 0, False), (4 * ws, 4 * hs, False), (2 * ws, 2 * hs, False)]
    if crops == 10:
        c = size
        ws, hs = (width - c) // 4, (height - c) // 4
        corners = [(0, 0), (4 * ws, 0), (0, 4 * hs), (4 * ws, 4 * hs), (2 * ws, 2 * hs)]
        return c, [(x, y, f) for x, y in corners for f in (False, True)]
    raise UsageError(f"--crops must be one of {CROPS}, got {crops}")


def frames_to_tensor(views: Sequence[Sequence[Image.Image]], *, crops: int, cfg: InputConfig) -> torch.Tensor:
    """Views of PIL frames -> normalised float tensor (views*crops, T, 3, H, W), view-major."""
    scale_to = cfg.resize
    out = []
    mean = torch.tensor(cfg.mean, dtype=torch.float32).view(1, 3, 1, 1)
    std = torch.tensor(cfg.std, dtype=torch.float32).view(1, 3, 1, 1)
    resized_cache: dict[int, np.ndarray] = {}
    for view in views:
        arrs = []
        for img in view:
            key = id(img)  # repeated frames (short videos, overlapping views) are resized once
            if key not in resized_cache:
                resized_cache[key] = np.asarray(resize_shorter(img.convert("RGB"), scale_to))
            arrs.append(resized_cache[key])
        clip = torch.from_numpy(np.stack(arrs)).permute(0, 3, 1, 2)  # T, 3, H, W uint8
        h, w = clip.shape[-2:]
        c, boxes = crop_boxes(w, h, crops=crops, size=cfg.size, resize=cfg.resize)
        if c > min(h, w):
            raise UsageError(f"crop {c} is larger than the resized frame {w}x{h}")
        for left, top, flip in boxes:
            x = clip[:, :, top : top + c, left : left + c]
            if flip:
                x = torch.flip(x, dims=[-1])
            out.append(x)
    x = torch.stack(out).float() * (cfg.scale / 255.0)
    return (x - mean) / std
