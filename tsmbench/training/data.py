"""Training clips: TSN segment sampling with random offsets, decoding through tsmbench.data.

Decoding, frame files and annotation parsing are the evaluation path's own (`tsmbench.data`),
so a dataset that `tsmbench eval` reads is one that `tsmbench train` reads. Every random draw
comes from a generator seeded by (seed, epoch, video index), so a run is a pure function of its
seed whatever the number of workers, and a resumed run draws exactly what it would have.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from tsmbench.data.annotations import VideoSample
from tsmbench.data.loader import resolve_path
from tsmbench.data.sampling import sample_frames
from tsmbench.data.transforms import InputConfig, resize_shorter
from tsmbench.errors import DatasetError


def sample_train_frames(num_frames: int, num_segments: int, rng: np.random.Generator) -> list[int]:
    """One random frame in each of `num_segments` equal spans of the video (TSN training sampling).

    The spans are real-valued, so an 11-frame clip is covered end to end for T=8 (the MIT code's
    integer spans would only ever use its first 8 frames). Short videos repeat frames.
    """
    if num_frames < 1:
        raise DatasetError("a video needs at least one frame")
    edges = np.linspace(0.0, float(num_frames), num_segments + 1)
    picks = [int(rng.uniform(edges[i], edges[i + 1])) for i in range(num_segments)]
    return [min(p, num_frames - 1) for p in picks]


@dataclass(frozen=True)
class Augment:
    """Training augmentation. No flips by default: a flip turns "moving left" into "moving right"."""

    random_crop: bool = True
    flip: bool = False


class TrainClips(Dataset):
    """Item i -> (clip (T, 3, size, size) float, label); `set_epoch` changes the random draws."""

    def __init__(
        self,
        samples: Sequence[VideoSample],
        *,
        root: str | Path | None,
        num_segments: int,
        input_cfg: InputConfig,
        train: bool,
        seed: int = 0,
        augment: Augment = Augment(),
        frame_template: str = "img_{:05d}.jpg",
        cache_frames: bool = False,
    ) -> None:
        if not samples:
            raise DatasetError("the annotation list is empty: nothing to train on")
        self.samples = list(samples)
        self.root = root
        self.num_segments = num_segments
        self.cfg = input_cfg
        self.train = train
        self.seed = seed
        self.augment = augment
        self.frame_template = frame_template
        self.cache_frames = cache_frames
        self._cache: dict[int, np.ndarray] = {}
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.samples)

    def _decode(self, i: int, indices: Sequence[int] | None) -> tuple[np.ndarray, list[int]]:
        """Frames as uint8 (T', H, W, 3) after resizing, and the positions of `indices` in it."""
        from tsmbench.data.decode import VideoReader, read_frame_folder

        s = self.samples[i]
        path = resolve_path(self.root, s.path)
        if i in self._cache:
            arr = self._cache[i]
            return arr, list(indices) if indices is not None else list(range(len(arr)))
        if s.num_frames is not None:
            if not path.is_dir():
                raise DatasetError(f"frame folder not found: {path}; check --root and the list file")
            n = s.num_frames
            want = list(range(n)) if self.cache_frames else list(indices if indices is not None else range(n))
            imgs = read_frame_folder(path, sorted(set(want)), template=self.frame_template)
            table = dict(zip(sorted(set(want)), imgs))
        else:
            with VideoReader(path) as reader:
                n = reader.num_frames
                want = list(range(n)) if self.cache_frames or indices is None else list(indices)
                uniq = sorted(set(want))
                table = dict(zip(uniq, reader.frames(uniq)))
        uniq = sorted(table)
        arr = np.stack([np.asarray(resize_shorter(table[k].convert("RGB"), self.cfg.resize)) for k in uniq])
        pos = {k: j for j, k in enumerate(uniq)}
        if self.cache_frames:
            self._cache[i] = arr
        return arr, [pos[k] for k in (indices if indices is not None else uniq)]

    def num_frames(self, i: int) -> int:
        s = self.samples[i]
        if s.num_frames is not None:
            return s.num_frames
        if i in self._cache:
            return len(self._cache[i])
        if self.cache_frames:
            return len(self._decode(i, None)[0])
        from tsmbench.data.decode import VideoReader

        with VideoReader(resolve_path(self.root, s.path)) as reader:
            return reader.num_frames

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        rng = np.random.default_rng([self.seed, self.epoch, i])
        n = self.num_frames(i)
        if self.train:
            indices = sample_train_frames(n, self.num_segments, rng)
        else:
            indices = sample_frames(n, num_segments=self.num_segments, protocol="uniform")[0]
        arr, pos = self._decode(i, indices)
        clip = torch.from_numpy(arr[pos]).permute(0, 3, 1, 2)  # T, 3, H, W uint8
        clip = self._crop(clip, rng)
        x = clip.float() * (self.cfg.scale / 255.0)
        mean = torch.tensor(self.cfg.mean, dtype=torch.float32).view(1, 3, 1, 1)
        std = torch.tensor(self.cfg.std, dtype=torch.float32).view(1, 3, 1, 1)
        return (x - mean) / std, self.samples[i].label

    def _crop(self, clip: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        c = self.cfg.size
        h, w = clip.shape[-2:]
        if c > min(h, w):
            raise DatasetError(f"crop {c} is larger than the resized frame {w}x{h}: raise `resize` in the input config")
        if self.train and self.augment.random_crop:
            top, left = int(rng.integers(0, h - c + 1)), int(rng.integers(0, w - c + 1))
        else:
            top, left = int(round((h - c) / 2.0)), int(round((w - c) / 2.0))
        clip = clip[:, :, top : top + c, left : left + c]
        if self.train and self.augment.flip and rng.random() < 0.5:
            clip = torch.flip(clip, dims=[-1])
        return clip


def collate(items: list[tuple[torch.Tensor, int]]) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.stack([x for x, _ in items]), torch.tensor([y for _, y in items], dtype=torch.long)


def dataset_input(extra: dict[str, Any] | None) -> InputConfig | None:
    """The `input:` block of a dataset card, if it has one (the synthetic card does)."""
    if extra and isinstance(extra.get("input"), dict):
        return InputConfig.from_mapping(extra["input"])
    return None
