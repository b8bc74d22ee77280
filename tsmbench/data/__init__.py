"""Datasets: annotations, decoding, frame sampling, transforms (torch-free imports at package level)."""
from __future__ import annotations

from tsmbench.data.annotations import VideoSample, read_annotations
from tsmbench.data.cards import DatasetCard, load_dataset_card
from tsmbench.data.sampling import sample_clips, sample_frames

__all__ = ["DatasetCard", "VideoSample", "load_dataset_card", "read_annotations", "sample_clips", "sample_frames"]
