"""Test kit for the eval tests: tiny videos and frame folders written on the spot, and a model
whose prediction is known in advance (the class is the palette colour nearest the clip's mean)."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import pytest
import torch
from torch import nn

#: Six well-separated colours (0-1 RGB), away from 0 and 1 so H.264 never clips them.
PALETTE = np.array(
    [[0.8, 0.2, 0.2], [0.2, 0.8, 0.2], [0.2, 0.2, 0.8], [0.8, 0.8, 0.2], [0.2, 0.8, 0.8], [0.8, 0.2, 0.8]],
    dtype=np.float32,
)
MEAN = (0.5, 0.5, 0.5)
STD = (0.25, 0.25, 0.25)
INPUT = {"size": 32, "resize": 36, "mean": list(MEAN), "std": list(STD), "scale": 1.0}


class ColourModel(nn.Module):
    """(N, T, 3, H, W) normalised clips -> (N, K) logits: minus the distance of the clip's mean colour
    to each palette colour. `num_segments` is what the evaluator samples per view."""

    def __init__(self, num_segments: int = 4, palette: np.ndarray = PALETTE) -> None:
        super().__init__()
        self.num_segments = num_segments
        self.num_classes = len(palette)
        self.register_buffer("palette", torch.tensor(palette))
        self.register_buffer("mean", torch.tensor(MEAN).view(1, 1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(STD).view(1, 1, 3, 1, 1))
        self.seen_shapes: list[tuple[int, ...]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen_shapes.append(tuple(x.shape))
        px = x * self.std + self.mean
        c = px.mean(dim=(1, 3, 4))
        return -((c[:, None, :] - self.palette[None]) ** 2).sum(-1) * 100.0


def solid_frames(colour: Sequence[float], num_frames: int, size: int = 48, width: int | None = None) -> np.ndarray:
    rgb = (np.asarray(colour) * 255).round().astype(np.uint8)
    return np.broadcast_to(rgb, (num_frames, size, width or size, 3)).copy()


def write_mp4(path: Path, frames: np.ndarray, fps: int = 8) -> Path:
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=fps)
        s.height, s.width = frames.shape[1:3]
        s.pix_fmt = "yuv420p"
        s.options = {"crf": "10", "preset": "ultrafast", "g": "16"}
        s.thread_count = 1
        for f in frames:
            for pkt in s.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24")):
                out.mux(pkt)
        for pkt in s.encode():
            out.mux(pkt)
    return path


def write_frame_folder(folder: Path, frames: np.ndarray, template: str = "img_{:05d}.jpg") -> Path:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for i, f in enumerate(frames):
        Image.fromarray(f).save(folder / template.format(i + 1), quality=95)  # MIT frame files are 1-based
    return folder


#: (true colour index, label in the list). Three right, one wrong-but-close, one wrong-and-far.
PLAN = [(0, 0), (1, 1), (2, 2), (3, 0), (4, 0)]


def expected_top(plan=PLAN, k: int = 1) -> float:
    """Independent of tsmbench: rank the palette by distance to the true colour."""
    hits = 0
    for true, label in plan:
        order = np.argsort(((PALETTE - PALETTE[true]) ** 2).sum(-1), kind="stable")
        hits += label in order[:k].tolist()
    return 100.0 * hits / len(plan)


def make_video_dataset(root: Path, plan=PLAN, lengths=(12, 30, 5, 70, 9)) -> Path:
    """MP4s + an MMAction2 video list; returns the list file."""
    lines = []
    for i, ((true, label), n) in enumerate(zip(plan, lengths)):
        write_mp4(root / "videos" / f"v{i}.mp4", solid_frames(PALETTE[true], n))
        lines.append(f"videos/v{i}.mp4 {label}")
    lst = root / "list_videos.txt"
    lst.write_text("\n".join(lines) + "\n")
    return lst


def make_frame_dataset(root: Path, plan=PLAN, lengths=(12, 3, 40, 8, 70), template: str = "img_{:05d}.jpg") -> Path:
    """Frame folders + an MIT list `<dir> <num_frames> <label>`; returns the list file."""
    lines = []
    for i, ((true, label), n) in enumerate(zip(plan, lengths)):
        write_frame_folder(root / "frames" / f"clip{i}", solid_frames(PALETTE[true], n, size=40, width=56), template)
        lines.append(f"frames/clip{i} {n} {label}")
    lst = root / "list_frames.txt"
    lst.write_text("\n".join(lines) + "\n")
    return lst


def test_colour_model_knows_its_palette():
    m = ColourModel(num_segments=2)
    clips = torch.stack([(torch.tensor(solid_frames(c, 2), dtype=torch.float32) / 255).permute(0, 3, 1, 2) for c in PALETTE])
    x = (clips - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)
    assert m(x).argmax(1).tolist() == list(range(len(PALETTE)))


def test_expected_accuracy_of_the_plan():
    assert expected_top(k=1) == pytest.approx(60.0)
    assert 60.0 < expected_top(k=5) < 100.0  # the far-wrong label is outside the top 5


def colour_checkpoint(path: Path, *, arch: str = "tsn_resnet_tiny", num_segments: int = 4) -> Path:
    """A real tsmbench model whose weights compute ColourModel's rule: the stem and the downsample
    convs pass RGB through on channels 0-2, residual branches are zero, and the classifier scores
    2 c.p - |p|^2 (= -|c - p|^2 up to a constant). Needs inputs normalised with mean 0, std 1."""
    import tsmbench
    from tsmbench.models.checkpoints import model_metadata, save_safetensors

    m = tsmbench.create_model(arch, num_classes=len(PALETTE), num_segments=num_segments)
    sd = {k: torch.zeros_like(v) for k, v in m.state_dict().items()}
    for k, v in sd.items():
        if k.endswith("running_var"):
            v.fill_(1.0)
        elif k.endswith(".weight") and v.dim() == 1 and "fc" not in k:  # BN scale
            v.fill_(1.0)
    for c in range(3):
        stem = sd["backbone.conv1.weight"]
        stem[c, c, stem.shape[2] // 2, stem.shape[3] // 2] = 1.0
        for k, v in sd.items():
            if k.endswith("downsample.0.weight"):
                v[c, c, 0, 0] = 1.0
    for k in [k for k in sd if k.endswith("bn2.weight")]:
        sd[k].zero_()  # residual branch: exactly zero
    p = torch.tensor(PALETTE)
    sd["fc.weight"][:, :3] = 2 * p
    sd["fc.bias"][:] = -(p**2).sum(-1)
    m.load_state_dict(sd)
    return save_safetensors(m.state_dict(), path, metadata=model_metadata(m))


def write_card(path: Path, **extra) -> Path:
    import yaml

    doc = {"name": "colours", "num_classes": len(PALETTE), "annotation": "auto",
           "classes": ["red", "green", "blue", "yellow", "cyan", "magenta"],
           "input": {"size": 32, "resize": 36, "mean": [0, 0, 0], "std": [1, 1, 1], "scale": 1.0}}
    doc.update(extra)
    path.write_text(yaml.safe_dump(doc))
    return path


def test_colour_checkpoint_predicts_the_nearest_colour(tmp_path):
    import tsmbench

    ck = colour_checkpoint(tmp_path / "colours.safetensors")
    m = tsmbench.create_model("tsn_resnet_tiny", weights=ck, num_segments=4)
    clips = torch.stack([(torch.tensor(solid_frames(c, 4, size=32), dtype=torch.float32) / 255).permute(0, 3, 1, 2) for c in PALETTE])
    assert m(clips).argmax(1).tolist() == list(range(len(PALETTE)))
