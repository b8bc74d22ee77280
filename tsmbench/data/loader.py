"""A torch Dataset over test videos: sample, decode, transform; failures become data, not crashes."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import torch
from torch.utils.data import Dataset

from tsmbench.data.annotations import VideoSample
from tsmbench.data.decode import VideoReader, read_frame_folder
from tsmbench.data.sampling import sample_clips, sample_frames
from tsmbench.data.transforms import InputConfig, frames_to_tensor
from tsmbench.errors import DatasetError


@dataclass(frozen=True)
class SamplingConfig:
    """How views are drawn: a 2D protocol over `num_segments`, or 3D clips."""

    protocol: str = "uniform"  # uniform | twice | dense | 3d
    num_segments: int = 8
    clip_len: int = 8
    frame_interval: int = 8
    num_clips: int = 10

    def views(self, num_frames: int) -> list[list[int]]:
        if self.protocol == "3d":
            return sample_clips(num_frames, clip_len=self.clip_len, frame_interval=self.frame_interval, num_clips=self.num_clips)
        return sample_frames(num_frames, num_segments=self.num_segments, protocol=self.protocol)


def resolve_path(root: str | Path | None, rel: str) -> Path:
    """The file or folder of a sample: absolute paths as given, else under root; Kinetics' flat layout too."""
    p = Path(rel)
    if not p.is_absolute() and root is not None:
        p = Path(root) / rel
    if not p.exists() and root is not None and "/" in rel:
        head, name = rel.rsplit("/", 1)
        # Kinetics <label>/<clip>: class folders are often written with underscores, or not at all.
        for alt in (Path(root) / head.replace(" ", "_") / name, Path(root) / name):
            if alt.exists():
                return alt
    return p


class EvalDataset(Dataset):
    """Item i -> {"index", "video_id", "label", "clips": (V*crops, T, 3, H, W) or None, "error": str | None}."""

    def __init__(
        self,
        samples: Sequence[VideoSample],
        *,
        root: str | Path | None,
        sampling: SamplingConfig,
        crops: int,
        input_cfg: InputConfig,
        frame_template: str = "img_{:05d}.jpg",
    ) -> None:
        self.samples = list(samples)
        self.root = root
        self.sampling = sampling
        self.crops = crops
        self.input_cfg = input_cfg
        self.frame_template = frame_template

    def __len__(self) -> int:
        return len(self.samples)

    def load(self, s: VideoSample) -> torch.Tensor:
        path = resolve_path(self.root, s.path)
        if s.num_frames is not None:
            if not path.is_dir():
                raise DatasetError(f"frame folder not found: {path}")
            if s.num_frames < 1:
                raise DatasetError(f"{path}: the list says it has {s.num_frames} frames")
            views = self.sampling.views(s.num_frames)
            flat = sorted({i for v in views for i in v})
            imgs = dict(zip(flat, read_frame_folder(path, flat, template=self.frame_template)))
        else:
            with VideoReader(path) as reader:
                views = self.sampling.views(reader.num_frames)
                flat = sorted({i for v in views for i in v})
                imgs = dict(zip(flat, reader.frames(flat)))
        return frames_to_tensor([[imgs[i] for i in v] for v in views], crops=self.crops, cfg=self.input_cfg)

    def __getitem__(self, i: int) -> dict[str, Any]:
        s = self.samples[i]
        item: dict[str, Any] = {"index": i, "video_id": s.video_id, "label": s.label, "clips": None, "error": None}
        try:
            item["clips"] = self.load(s)
        except DatasetError as exc:
            item["error"] = str(exc)
        except (OSError, ValueError, RuntimeError) as exc:  # a broken file must not end a 20,000-video run
            item["error"] = f"{type(exc).__name__}: {exc}"
        return item


def collate_items(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Keep items as a list: views differ in count across protocols and failed items carry no tensor."""
    return items


def default_workers() -> int:
    """One worker per core, at most 8: decoding, not the model, limits small models on CPU
    (benchmarks/eval_throughput.py), and the main process mostly waits on the model."""
    return max(1, min(8, os.cpu_count() or 1))
