"""Which frames a test view reads: the reference implementations' index arithmetic.

All indices are 0-based. The MIT TSM code adds 1 afterwards because its frame files start at
img_00001.jpg; the frame-folder reader applies that offset, not the sampler.
"""
from __future__ import annotations

from tsmbench.errors import UsageError

PROTOCOLS = ("uniform", "twice", "dense")
#: Frames spanned by one dense view in the MIT code (I3D-style sampling window).
DENSE_WINDOW = 64
#: Dense views per video in the MIT code.
DENSE_VIEWS = 10


def num_views(protocol: str, *, num_clips: int = 10) -> int:
    """How many views `protocol` produces per video."""
    if protocol == "uniform":
        return 1
    if protocol == "twice":
        return 2
    if protocol == "dense":
        return DENSE_VIEWS
    if protocol == "3d":
        return num_clips
    raise UsageError(f"unknown protocol {protocol!r}: use one of uniform, twice, dense, 3d")


def _check(num_frames: int, what: str, value: int) -> None:
    if num_frames < 1:
        raise UsageError(f"a video needs at least one frame, got num_frames={num_frames}")
    if value < 1:
        raise UsageError(f"{what} must be at least 1, got {value}")


def _linspace_int(stop: int, num: int) -> list[int]:
    # numpy.linspace(0, stop, num, dtype=int) as the MIT code calls it: float steps, truncated.
    if num == 1:
        return [0]
    step = stop / (num - 1)
    out = [int(i * step) for i in range(num - 1)]
    out.append(int(stop))
    return out


def sample_frames(num_frames: int, *, num_segments: int, protocol: str = "uniform") -> list[list[int]]:
    """The views of 0-based frame indices that the MIT TSM test code reads.

    uniform: one view, the centre of each of `num_segments` equal segments.
    twice:   the uniform view, then the start of each segment (Something-V2's 2-clip test).
    dense:   10 views of `num_segments` frames `64 // num_segments` apart, starts spread evenly
             over the first `num_frames - 64` frames; indices wrap around (modulo) in short videos.
    Short videos (fewer frames than segments) repeat frames, exactly as the reference does.
    """
    _check(num_frames, "num_segments", num_segments)
    if protocol in ("uniform", "twice"):
        tick = num_frames / float(num_segments)
        views = [[int(tick / 2.0 + tick * i) for i in range(num_segments)]]
        if protocol == "twice":
            views.append([int(tick * i) for i in range(num_segments)])
        return views
    if protocol == "dense":
        stride = DENSE_WINDOW // num_segments
        last_start = max(0, num_frames - DENSE_WINDOW)
        return [
            [(start + i * stride) % num_frames for i in range(num_segments)]
            for start in _linspace_int(last_start, DENSE_VIEWS)
        ]
    raise UsageError(f"unknown protocol {protocol!r}: use one of {', '.join(PROTOCOLS)} (or 3d with sample_clips)")


def sample_clips(num_frames: int, *, clip_len: int, frame_interval: int = 1, num_clips: int = 1) -> list[list[int]]:
    """3D-model test clips (MMAction2 `SampleFrames(test_mode=True)`, out-of-bound "loop").

    `num_clips` clips of `clip_len` frames `frame_interval` apart; clip starts are the centres of
    `num_clips` equal slots over the frames where a whole clip fits. Videos shorter than one clip
    start every clip at frame 0 and wrap indices around.
    """
    _check(num_frames, "clip_len", clip_len)
    if frame_interval < 1 or num_clips < 1:
        raise UsageError("frame_interval and num_clips must be at least 1")
    span = clip_len * frame_interval
    avg = (num_frames - span + 1) / float(num_clips)
    if num_frames > span - 1:
        starts = [int(i * avg + avg / 2.0) for i in range(num_clips)]
    else:
        starts = [0] * num_clips
    return [[(s + j * frame_interval) % num_frames for j in range(clip_len)] for s in starts]
