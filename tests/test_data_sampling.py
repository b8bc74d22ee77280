"""sample_frames / sample_clips against independent transcriptions of the reference code.

The reference functions below follow mit-han-lab/temporal-shift-module ops/dataset.py
(`_get_test_indices`, new_length=1, numpy as there) and MMAction2's SampleFrames test mode;
they return 1-based MIT offsets, which the tests convert, so an off-by-one shows up.
"""
from __future__ import annotations

import numpy as np
import pytest

from tsmbench.data import sample_clips, sample_frames
from tsmbench.data.sampling import num_views
from tsmbench.errors import UsageError


def mit_test_indices(num_frames: int, num_segments: int, *, dense: bool, twice: bool) -> np.ndarray:
    if dense:
        sample_pos = max(1, 1 + num_frames - 64)
        t_stride = 64 // num_segments
        start_list = np.linspace(0, sample_pos - 1, num=10, dtype=int)
        offsets = []
        for start_idx in start_list.tolist():
            offsets += [(idx * t_stride + start_idx) % num_frames for idx in range(num_segments)]
        return np.array(offsets) + 1
    tick = num_frames / float(num_segments)
    if twice:
        return np.array([int(tick / 2.0 + tick * x) for x in range(num_segments)] + [int(tick * x) for x in range(num_segments)]) + 1
    return np.array([int(tick / 2.0 + tick * x) for x in range(num_segments)]) + 1


def mmaction_test_clips(total: int, clip_len: int, interval: int, num_clips: int) -> np.ndarray:
    ori = clip_len * interval
    avg = (total - ori + 1) / float(num_clips)
    if total > ori - 1:
        base = np.arange(num_clips) * avg
        offsets = (base + avg / 2.0).astype(np.int32)
    else:
        offsets = np.zeros((num_clips,), dtype=np.int32)
    inds = offsets[:, None] + np.arange(clip_len)[None, :] * interval
    return np.mod(inds.reshape(-1), total)  # out_of_bound_opt="loop"


LENGTHS = list(range(1, 301))


@pytest.mark.parametrize("segments", [1, 3, 4, 8, 16])
@pytest.mark.parametrize("protocol", ["uniform", "twice", "dense"])
def test_sample_frames_matches_reference(protocol, segments):
    for n in LENGTHS:
        ref = mit_test_indices(n, segments, dense=protocol == "dense", twice=protocol == "twice") - 1
        got = sample_frames(n, num_segments=segments, protocol=protocol)
        assert len(got) == num_views(protocol)
        assert all(len(v) == segments for v in got)
        assert [i for v in got for i in v] == ref.tolist(), (protocol, segments, n)
        assert all(0 <= i < n for v in got for i in v)


def test_known_values_short_and_long():
    assert sample_frames(3, num_segments=8, protocol="uniform") == [[0, 0, 0, 1, 1, 2, 2, 2]]
    assert sample_frames(80, num_segments=8, protocol="uniform") == [[5, 15, 25, 35, 45, 55, 65, 75]]
    assert sample_frames(80, num_segments=8, protocol="twice")[1] == [0, 10, 20, 30, 40, 50, 60, 70]
    dense = sample_frames(10, num_segments=8, protocol="dense")
    assert dense[0] == [0, 8, 6, 4, 2, 0, 8, 6]  # stride 8 wraps around a 10-frame video
    assert all(v == dense[0] for v in dense)  # one possible start: all 10 views coincide
    long = sample_frames(100, num_segments=8, protocol="dense")
    assert [v[0] for v in long] == [0, 4, 8, 12, 16, 20, 24, 28, 32, 36]


@pytest.mark.parametrize("clip_len,interval,clips", [(8, 8, 10), (8, 8, 1), (4, 2, 3), (32, 2, 10), (16, 4, 5)])
def test_sample_clips_matches_mmaction2(clip_len, interval, clips):
    for n in LENGTHS:
        got = sample_clips(n, clip_len=clip_len, frame_interval=interval, num_clips=clips)
        assert len(got) == clips and all(len(c) == clip_len for c in got)
        assert [i for c in got for i in c] == mmaction_test_clips(n, clip_len, interval, clips).tolist(), n


def test_sample_frames_rejects_bad_input():
    with pytest.raises(UsageError):
        sample_frames(0, num_segments=8)
    with pytest.raises(UsageError):
        sample_frames(10, num_segments=0)
    with pytest.raises(UsageError, match="unknown protocol"):
        sample_frames(10, num_segments=8, protocol="random")
    with pytest.raises(UsageError):
        sample_clips(10, clip_len=8, frame_interval=0)
