"""A small, Something-Something-like synthetic dataset where only temporal order tells classes apart.

Every class has a partner that is the same event played backwards: moving left / moving right,
approaching / receding, rotating clockwise / anticlockwise, appearing / disappearing, ... A clip of
the second class of a pair is rendered exactly as a clip of the first class and then reversed in
time, so the *set* of frames has the same distribution for both classes. A model that averages
per-frame predictions (TSN) therefore cannot do better than chance within a pair, while a model
that mixes neighbouring frames (TSM) can. Distractors (textured backgrounds, per-frame noise, a
static second object, random speed, size, colour, position and lighting) keep any single frame
from giving the answer.

Clips are real H.264 MP4 files written with PyAV, with the splits in the MMAction2 video-list
format (`<relative path> <label>`) and a class list, so that the ordinary evaluation path reads
them. Everything is a pure function of the seed: the same seed gives byte-identical files.
"""
from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from tsmbench.errors import DatasetError, UsageError

#: Bump when the rendering changes, so cached copies under $TSMBENCH_HOME are regenerated.
SYNTHETIC_VERSION = "3"

#: Class names, in label order. Labels 2k and 2k+1 form pair k: the same event, reversed in time.
CLASSES: tuple[str, ...] = (
    "moving left",
    "moving right",
    "moving up",
    "moving down",
    "approaching",
    "receding",
    "rotating clockwise",
    "rotating anticlockwise",
    "appearing",
    "disappearing",
    "brightening",
    "darkening",
)
#: Pair names, in pair order (pair k holds labels 2k and 2k+1).
PAIRS: tuple[str, ...] = (
    "left/right",
    "up/down",
    "approaching/receding",
    "clockwise/anticlockwise",
    "appearing/disappearing",
    "brightening/darkening",
)
NUM_CLASSES = len(CLASSES)
SPLITS = ("train", "val")
_SPLIT_IDS = {"train": 0, "val": 1}
_SHAPES = ("disc", "square", "bar", "triangle", "cross", "ring", "hand")
#: Each pair's object, like the "something" of a Something-Something template: a single frame
#: tells which pair a clip belongs to, never which way it runs. The rotating object is a clock
#: hand turning about its hub, so its tip sweeps a wide arc.
PAIR_SHAPES: tuple[str, ...] = ("disc", "square", "triangle", "hand", "bar", "ring")
#: Each pair's object colour family (hue in degrees, drawn within +-20 of it).
PAIR_HUES: tuple[float, ...] = (0.0, 60.0, 120.0, 180.0, 240.0, 300.0)


@dataclass(frozen=True)
class SyntheticConfig:
    """How much of the synthetic set to write; the defaults are the bundled benchmark."""

    seed: int = 0
    size: int = 64
    min_frames: int = 8
    max_frames: int = 16
    train_per_class: int = 80
    val_per_class: int = 20
    fps: int = 8
    crf: int = 12

    def __post_init__(self) -> None:
        if self.size < 32:
            raise UsageError(f"synthetic frames must be at least 32 px, got size={self.size}")
        if not 4 <= self.min_frames <= self.max_frames:
            raise UsageError(
                f"need 4 <= min_frames <= max_frames, got {self.min_frames}..{self.max_frames}"
            )
        if self.train_per_class < 0 or self.val_per_class < 0:
            raise UsageError("clips per class cannot be negative")

    def per_class(self, split: str) -> int:
        return {"train": self.train_per_class, "val": self.val_per_class}[_check_split(split)]


def config_from_card(generator: dict | None) -> SyntheticConfig:
    """The SyntheticConfig that a dataset card's `generator:` block describes (defaults otherwise)."""
    g = dict(generator or {})
    base = SyntheticConfig()
    frames = g.get("frames") or [base.min_frames, base.max_frames]
    try:
        return SyntheticConfig(
            seed=int(g.get("seed", base.seed)),
            size=int(g.get("size", base.size)),
            min_frames=int(frames[0]),
            max_frames=int(frames[1]),
            train_per_class=int(g.get("train_per_class", base.train_per_class)),
            val_per_class=int(g.get("val_per_class", base.val_per_class)),
        )
    except (TypeError, ValueError, IndexError) as exc:
        raise DatasetError(f"the synthetic card's generator block is malformed: {exc}") from None


def pair_of(label: int) -> int:
    """The pair index of a class label (labels 2k and 2k+1 form pair k)."""
    return label // 2


def _check_split(split: str) -> str:
    if split not in SPLITS:
        raise UsageError(f"unknown split {split!r}: use one of {', '.join(SPLITS)}")
    return split


# ----------------------------------------------------------------------------- rendering


def _smooth_noise(rng: np.random.Generator, size: int, cells: int) -> np.ndarray:
    """A (size, size, 3) smooth random field in [0, 1]: bilinear upsampling of a coarse grid."""
    grid = rng.random((cells + 1, cells + 1, 3))
    pos = np.linspace(0, cells, size)
    i0 = np.minimum(pos.astype(int), cells - 1)
    f = (pos - i0)[:, None]
    rows = grid[i0] * (1 - f)[:, :, None] + grid[i0 + 1] * f[:, :, None]  # (size, cells+1, 3)
    cols = rows[:, i0] * (1 - f.T)[:, :, None] + rows[:, i0 + 1] * f.T[:, :, None]
    return cols


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    # A muted, tinted grey: varied, but never as saturated as the objects.
    base = rng.uniform(0.25, 0.75) + rng.uniform(-0.08, 0.08, 3)
    field = _smooth_noise(rng, size, int(rng.integers(2, 6))) - 0.5
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    theta = rng.uniform(0, np.pi)
    freq = rng.uniform(0.15, 0.6)
    stripes = np.sin(freq * (xx * np.cos(theta) + yy * np.sin(theta)) + rng.uniform(0, 2 * np.pi))
    bg = base + rng.uniform(0.1, 0.35) * field + rng.uniform(0.0, 0.08) * stripes[:, :, None]
    return np.clip(bg, 0, 1)


def _contrasting_colour(rng: np.random.Generator, near: np.ndarray, hue: float | None = None) -> np.ndarray:
    """A saturated colour at least ~0.45 away (Euclidean, RGB in 0-1) from `near`.

    `hue` (degrees) keeps the colour within +-20 degrees of it; None draws any hue.
    """
    import colorsys

    c = 1.0 - near
    for _ in range(64):
        h = (hue + rng.uniform(-20, 20) if hue is not None else rng.uniform(0, 360)) % 360
        c = np.array(colorsys.hsv_to_rgb(h / 360, rng.uniform(0.65, 1.0), rng.uniform(0.55, 1.0)))
        if np.linalg.norm(c - near) > 0.45:
            return c
    return c


def _shape_mask(
    shape: str, cx: float, cy: float, radius: float, angle: float, size: int
) -> np.ndarray:
    """Anti-aliased coverage in [0, 1] of a shape centred at (cx, cy), rotated by `angle`.

    Angles are in image coordinates (x right, y down), so a growing angle turns clockwise on screen.
    """
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    dx, dy = xx - cx, yy - cy
    c, s = np.cos(angle), np.sin(angle)
    u, v = c * dx + s * dy, -s * dx + c * dy  # coordinates in the shape's own frame
    if shape == "disc":
        sd = np.hypot(u, v) - radius
    elif shape == "hand":
        # A hub with one arm along +u: no symmetry, so every angle looks different.
        arm = np.maximum(np.abs(u - radius * 0.75) - radius * 0.75, np.abs(v) - radius * 0.22)
        sd = np.minimum(arm, np.hypot(u, v) - radius * 0.4)
    elif shape == "ring":
        sd = np.abs(np.hypot(u, v) - radius * 0.8) - radius * 0.3
    elif shape == "square":
        sd = np.maximum(np.abs(u), np.abs(v)) - radius * 0.8
    elif shape == "bar":
        sd = np.maximum(np.abs(u) - radius * 1.2, np.abs(v) - radius * 0.3)
    elif shape == "cross":
        # An asymmetric cross: a long arm on one side so a half turn is visible too.
        arm1 = np.maximum(np.abs(u + radius * 0.3) - radius * 1.1, np.abs(v) - radius * 0.25)
        arm2 = np.maximum(np.abs(v) - radius * 0.8, np.abs(u) - radius * 0.25)
        sd = np.minimum(arm1, arm2)
    elif shape == "triangle":
        # Intersection of three half-planes, pointing along +u.
        r = radius
        sd = np.full_like(u, -np.inf)
        for k in range(3):
            a = 2 * np.pi * k / 3
            sd = np.maximum(sd, u * np.cos(a) + v * np.sin(a) - r * 0.5)
    else:  # pragma: no cover - internal table
        raise ValueError(shape)
    return np.clip(0.5 - sd, 0.0, 1.0)


@dataclass(frozen=True)
class _Obj:
    shape: str
    colour: np.ndarray
    x: np.ndarray  # per-frame centre x
    y: np.ndarray
    radius: np.ndarray
    angle: np.ndarray
    visible: np.ndarray  # per-frame 0/1


def _motion_blurred(obj: _Obj, t: int, size: int, substeps: int = 4) -> np.ndarray:
    """Coverage of frame t averaged over the exposure (sub-steps towards the neighbours).

    The shutter is symmetric in time, so blur says how fast something moves, never which way.
    """
    n = len(obj.x)
    acc = np.zeros((size, size))
    offsets = np.linspace(-0.4, 0.4, substeps)
    for o in offsets:
        tt = float(np.clip(t + o, 0, n - 1))
        i0 = min(int(tt), n - 2) if n > 1 else 0
        f = tt - i0 if n > 1 else 0.0
        lerp = lambda a: a[i0] * (1 - f) + a[min(i0 + 1, n - 1)] * f  # noqa: E731
        acc += _shape_mask(obj.shape, lerp(obj.x), lerp(obj.y), lerp(obj.radius), lerp(obj.angle), size)
    return acc / substeps * obj.visible[t]


def render_clip(label: int, rng: np.random.Generator, *, num_frames: int, size: int = 64) -> np.ndarray:
    """Render one clip of class `label` as uint8 frames (T, size, size, 3), RGB.

    The clip is rendered as the first class of its pair and reversed in time for the second.
    """
    if not 0 <= label < NUM_CLASSES:
        raise UsageError(f"label must be in 0..{NUM_CLASSES - 1}, got {label}")
    pair, backwards = pair_of(label), label % 2 == 1
    t = np.arange(num_frames, dtype=np.float64)
    span = max(num_frames - 1, 1)
    bg = _background(rng, size)
    gain = np.full(num_frames, rng.uniform(0.65, 1.1))

    shape = PAIR_SHAPES[pair]
    colour = _contrasting_colour(rng, bg.mean((0, 1)), PAIR_HUES[pair])
    radius0 = rng.uniform(0.12, 0.2) * size
    margin = radius0 * (1.6 if pair == 3 else 1.3) + 2
    x = np.full(num_frames, rng.uniform(margin, size - margin))
    y = np.full(num_frames, rng.uniform(margin, size - margin))
    radius = np.full(num_frames, radius0)
    angle = np.full(num_frames, rng.uniform(0, 2 * np.pi))
    visible = np.ones(num_frames)

    if pair in (0, 1):  # moving left (x decreasing) / moving up (y decreasing)
        # The travel is a share of the frame over the whole clip, so long and short clips move alike.
        travel = min(rng.uniform(0.3, 0.55) * size, size - 2 * margin)
        speed = travel / span
        start = rng.uniform(margin + travel, size - margin)
        path = start - speed * t
        if pair == 0:
            x = path
        else:
            y = path
    elif pair == 2:  # approaching: growing
        r0 = rng.uniform(0.07, 0.1) * size
        r1 = r0 * rng.uniform(2.0, 2.8)
        radius = r0 + (r1 - r0) * t / span
        m = r1 * 1.3 + 1
        x = np.full(num_frames, rng.uniform(m, size - m))
        y = np.full(num_frames, rng.uniform(m, size - m))
    elif pair == 3:  # rotating clockwise on screen
        # 150-300 degrees over the clip: 20-45 degrees between 8 sampled frames, so the nearer
        # way round is always the true one.
        turn = np.deg2rad(rng.uniform(150, 300))
        angle = angle + turn * t / span
    elif pair == 4:  # appearing: pops in at a random frame
        k = int(rng.integers(max(1, num_frames // 4), max(2, (3 * num_frames) // 4) + 1))
        visible = (t >= k).astype(np.float64)
    elif pair == 5:  # brightening: the light comes up over the clip
        g0, g1 = rng.uniform(0.35, 0.6), rng.uniform(0.95, 1.3)
        gain = g0 + (g1 - g0) * t / span

    # Small random wobble on every clip, so a perfectly still object is no cue either.
    x = x + rng.normal(0, 0.3, num_frames)
    y = y + rng.normal(0, 0.3, num_frames)
    obj = _Obj(shape, colour, x, y, radius, angle, visible)

    # A static distractor object in some clips.
    distractor = None
    if rng.random() < 0.4:
        dshape = str(rng.choice(_SHAPES))
        dcol = rng.uniform(0, 1, 3)
        dmask = _shape_mask(
            dshape, rng.uniform(6, size - 6), rng.uniform(6, size - 6), rng.uniform(0.05, 0.09) * size,
            rng.uniform(0, 2 * np.pi), size,
        )
        distractor = (dmask, dcol)

    noise_sigma = rng.uniform(0.005, 0.025)
    frames = np.empty((num_frames, size, size, 3), dtype=np.float64)
    for i in range(num_frames):
        img = bg.copy()
        if distractor is not None:
            dmask, dcol = distractor
            img = img * (1 - dmask[:, :, None]) + dcol * dmask[:, :, None]
        cov = _motion_blurred(obj, i, size)[:, :, None]
        img = img * (1 - cov) + obj.colour * cov
        frames[i] = img * gain[i]
    frames += rng.normal(0, noise_sigma, frames.shape)
    out = np.clip(np.rint(frames * 255), 0, 255).astype(np.uint8)
    return out[::-1].copy() if backwards else out


# ----------------------------------------------------------------------------- files


def write_video(frames: np.ndarray, path: str | os.PathLike[str], *, fps: int = 8, crf: int = 12) -> None:
    """Write uint8 RGB frames (T, H, W, 3) as H.264 yuv420p MP4 with fixed, bit-exact settings."""
    import av

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    t, h, w, _ = frames.shape
    with av.open(str(path), "w", format="mp4", options={"fflags": "+bitexact"}) as container:
        stream = container.add_stream(
            "libx264",
            rate=fps,
            # One thread and no lookahead: libx264's output is then a pure function of the input.
            options={"crf": str(crf), "preset": "medium", "tune": "zerolatency", "threads": "1"},
        )
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def read_video(path: str | os.PathLike[str]) -> np.ndarray:
    """Decode every frame of a video as uint8 RGB (T, H, W, 3); for tests and inspection."""
    import av

    try:
        with av.open(str(path)) as container:
            frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    except (av.error.FFmpegError, OSError) as exc:
        raise DatasetError(f"cannot decode {path}: {exc}; regenerate the synthetic set") from exc
    if not frames:
        raise DatasetError(f"{path} has no video frames; regenerate the synthetic set")
    return np.stack(frames)


def clip_rng(seed: int, split: str, index: int) -> np.random.Generator:
    """The generator for one clip: independent of how many other clips are written."""
    return np.random.default_rng([seed, _SPLIT_IDS[_check_split(split)], index])


def split_plan(config: SyntheticConfig, split: str) -> list[tuple[str, int, int]]:
    """(relative path, label, num_frames) of every clip of a split, in list-file order."""
    n = config.per_class(split)
    labels = np.repeat(np.arange(NUM_CLASSES), n)
    order = np.random.default_rng([config.seed, _SPLIT_IDS[split], 1_000_003]).permutation(len(labels))
    plan = []
    for index, label in enumerate(labels[order]):
        frames = int(clip_rng(config.seed, split, index).integers(config.min_frames, config.max_frames + 1))
        plan.append((f"videos/{split}/{split}_{index:05d}.mp4", int(label), frames))
    return plan


def render_split_clip(config: SyntheticConfig, split: str, index: int, label: int, num_frames: int) -> np.ndarray:
    rng = clip_rng(config.seed, split, index)
    rng.integers(config.min_frames, config.max_frames + 1)  # the draw split_plan used for the length
    return render_clip(label, rng, num_frames=num_frames, size=config.size)


def list_file_name(split: str) -> str:
    return f"{_check_split(split)}_list_videos.txt"


def write_split(root: str | os.PathLike[str], config: SyntheticConfig, split: str) -> Path:
    """Write a split's videos under `root` and its MMAction2 list file; returns the list file."""
    root = Path(root)
    lines = []
    for index, (rel, label, num_frames) in enumerate(split_plan(config, split)):
        write_video(render_split_clip(config, split, index, label, num_frames), root / rel, fps=config.fps, crf=config.crf)
        lines.append(f"{rel} {label}\n")
    list_path = root / list_file_name(split)
    list_path.write_text("".join(lines), encoding="utf-8")
    return list_path


def write_classes(root: str | os.PathLike[str]) -> Path:
    path = Path(root) / "classes.txt"
    path.write_text("".join(f"{c}\n" for c in CLASSES), encoding="utf-8")
    return path


def generate(
    root: str | os.PathLike[str], config: SyntheticConfig = SyntheticConfig(), splits: Iterable[str] = SPLITS
) -> Path:
    """Write the dataset (videos, list files, classes.txt) under `root`, which must not exist yet.

    Generation happens in a temporary sibling folder renamed into place at the end, so an
    interrupted run never leaves a folder that looks complete.
    """
    root = Path(root)
    if root.exists():
        raise UsageError(f"{root} already exists: remove it or choose another --out")
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}.", dir=root.parent))
    try:
        for split in splits:
            write_split(tmp, config, _check_split(split))
        write_classes(tmp)
        (tmp / "config.txt").write_text(_config_text(config, splits), encoding="utf-8")
        os.replace(tmp, root)  # fails if another process renamed its copy into place first
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return root


def _config_text(config: SyntheticConfig, splits: Iterable[str]) -> str:
    fields = dataclasses.asdict(config) | {"version": SYNTHETIC_VERSION, "splits": ",".join(splits)}
    return "".join(f"{k}: {v}\n" for k, v in sorted(fields.items()))


def cache_root(config: SyntheticConfig = SyntheticConfig(), splits: Sequence[str] = ("val",)) -> Path:
    """Where `ensure_synthetic` keeps a generated copy under $TSMBENCH_HOME/datasets/."""
    from tsmbench.paths import home

    default = config == SyntheticConfig()
    name = f"synthetic-{SYNTHETIC_VERSION}"
    if not default:
        name += f"-s{config.seed}-{config.size}px-{config.min_frames}to{config.max_frames}f-" \
                f"{config.train_per_class}x{config.val_per_class}"
    if tuple(splits) != ("val",):
        name += "-" + "+".join(splits)
    return home() / "datasets" / name


def ensure_synthetic(
    config: SyntheticConfig = SyntheticConfig(), splits: Sequence[str] = ("val",)
) -> tuple[Path, bool]:
    """Generate the synthetic set into the cache unless a complete copy is there; (root, reused)."""
    root = cache_root(config, splits)
    done = root / "config.txt"
    if done.is_file() and done.read_text(encoding="utf-8") == _config_text(config, splits):
        return root, True
    if root.exists():  # an older or foreign copy: replace it
        shutil.rmtree(root)
    try:
        return generate(root, config, splits), False
    except (OSError, UsageError):
        # Another process finished the same generation first: its copy is as good as ours.
        if done.is_file() and done.read_text(encoding="utf-8") == _config_text(config, splits):
            return root, True
        raise
