"""The synthetic temporal-reasoning set: deterministic, decodable, and labelled by the motion it shows."""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from tsmbench.data import synthetic as syn
from tsmbench.errors import UsageError

TINY = syn.SyntheticConfig(seed=3, size=64, min_frames=8, max_frames=10, train_per_class=1, val_per_class=1)


def _digests(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory) -> Path:
    return syn.generate(tmp_path_factory.mktemp("syn") / "tiny", TINY)


def test_same_seed_gives_byte_identical_files(tiny_root, tmp_path):
    again = syn.generate(tmp_path / "again", TINY)
    assert _digests(tiny_root) == _digests(again)
    other = syn.generate(tmp_path / "other", syn.SyntheticConfig(**{**TINY.__dict__, "seed": 4}), splits=("val",))
    a, b = _digests(tiny_root), _digests(other)
    shared = [k for k in b if k.endswith(".mp4") and k in a]
    assert shared and all(a[k] != b[k] for k in shared)


def test_layout_and_lists_are_read_by_the_eval_parsers(tiny_root):
    from tsmbench.data.annotations import read_annotations
    from tsmbench.data.cards import load_dataset_card

    card = load_dataset_card("synthetic")
    assert card.classes == syn.CLASSES and card.num_classes == syn.NUM_CLASSES
    assert (tiny_root / "classes.txt").read_text().splitlines() == list(syn.CLASSES)
    for split in syn.SPLITS:
        samples = read_annotations(tiny_root / syn.list_file_name(split), format=card.annotation)
        assert sorted(s.label for s in samples) == list(range(syn.NUM_CLASSES))
        for s in samples:
            assert (tiny_root / s.path).is_file()
    assert card.default_list == syn.list_file_name("val")


def test_files_decode_to_the_rendered_frames(tiny_root):
    import av

    for index, (rel, label, num_frames) in enumerate(syn.split_plan(TINY, "val")):
        with av.open(str(tiny_root / rel)) as c:
            stream = c.streams.video[0]
            assert stream.codec_context.name == "h264"
            assert stream.codec_context.pix_fmt == "yuv420p"
        decoded = syn.read_video(tiny_root / rel)
        assert decoded.shape == (num_frames, 64, 64, 3)
        rendered = syn.render_split_clip(TINY, "val", index, label, num_frames)
        err = np.abs(decoded.astype(float) - rendered.astype(float)).mean()
        assert err < 8.0, f"{rel}: mean abs error {err:.1f} after H.264 (yuv420p subsamples colour)"


def _object_track(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Centroid x, y and area per frame of what differs from the clip's median frame."""
    f = frames.astype(float)
    diff = np.abs(f - np.median(f, 0)).sum(-1)
    xs, ys, areas = [], [], []
    for d in diff:
        m = d > 60
        yy, xx = np.nonzero(m)
        xs.append(xx.mean() if len(xx) else np.nan)
        ys.append(yy.mean() if len(yy) else np.nan)
        areas.append(m.sum())
    return np.array(xs), np.array(ys), np.array(areas)


def _decoded_by_label(root: Path, config: syn.SyntheticConfig, split: str) -> dict[int, list[np.ndarray]]:
    out: dict[int, list[np.ndarray]] = {}
    for rel, label, _ in syn.split_plan(config, split):
        out.setdefault(label, []).append(syn.read_video(root / rel))
    return out


@pytest.fixture(scope="module")
def motion_clips(tmp_path_factory) -> dict[int, list[np.ndarray]]:
    # Several clips per class, so the checks are not about one lucky draw.
    config = syn.SyntheticConfig(seed=11, size=64, min_frames=8, max_frames=12, train_per_class=0, val_per_class=3)
    root = syn.generate(tmp_path_factory.mktemp("motion") / "set", config, splits=("val",))
    return _decoded_by_label(root, config, "val")


@pytest.mark.parametrize("label, axis, sign", [(0, "x", -1), (1, "x", +1), (2, "y", -1), (3, "y", +1)])
def test_translation_labels_match_the_centroid_motion(motion_clips, label, axis, sign):
    for frames in motion_clips[label]:
        x, y, _ = _object_track(frames)
        track = x if axis == "x" else y
        dx, dy = np.nanmean(np.diff(x)), np.nanmean(np.diff(y))
        along, across = (dx, dy) if axis == "x" else (dy, dx)
        assert np.sign(along) == sign and abs(along) > 0.3, (syn.CLASSES[label], track)
        assert abs(across) < abs(along) / 2, (syn.CLASSES[label], x, y)


@pytest.mark.parametrize("label, growing", [(4, True), (5, False)])
def test_approaching_grows_and_receding_shrinks(motion_clips, label, growing):
    for frames in motion_clips[label]:
        _, _, area = _object_track(frames)
        # The median frame holds the mid-size object: the far end of a growth differs more from it.
        assert (area[-1] > area[0]) == growing, (syn.CLASSES[label], area)


@pytest.mark.parametrize("label, brighter", [(10, True), (11, False)])
def test_brightening_and_darkening_follow_mean_intensity(motion_clips, label, brighter):
    for frames in motion_clips[label]:
        mean = frames.reshape(len(frames), -1).mean(1)
        assert (mean[-1] > mean[0] * 1.3) if brighter else (mean[0] > mean[-1] * 1.3), mean


@pytest.mark.parametrize("label", [8, 9])
def test_appearing_and_disappearing_pop_once_inside_the_clip(motion_clips, label):
    for frames in motion_clips[label]:
        jumps = np.abs(np.diff(frames.astype(float), axis=0)).sum(-1)
        changed = (jumps > 90).sum((1, 2))
        k = int(np.argmax(changed))
        assert changed[k] > 20, changed
        others = np.delete(changed, k)
        assert others.max() < changed[k] / 4, changed
        assert 0 < k < len(frames) - 2 or len(frames) <= 4


def test_second_class_of_a_pair_is_the_first_reversed_in_time():
    for pair in range(len(syn.PAIRS)):
        forward = syn.render_clip(2 * pair, np.random.default_rng(5), num_frames=9, size=48)
        backward = syn.render_clip(2 * pair + 1, np.random.default_rng(5), num_frames=9, size=48)
        assert np.array_equal(forward[::-1], backward)
        assert not np.array_equal(forward, backward)


def test_rotation_angle_grows_clockwise_on_screen():
    # Image coordinates have y pointing down: a growing angle turns the bar clockwise as seen.
    def axis_angle(mask: np.ndarray) -> float:
        yy, xx = np.nonzero(mask > 0.5)
        x, y = xx - xx.mean(), yy - yy.mean()
        return 0.5 * np.arctan2(2 * (x * y).mean(), (x * x).mean() - (y * y).mean())

    a0 = axis_angle(syn._shape_mask("bar", 32, 32, 10, 0.0, 64))
    a1 = axis_angle(syn._shape_mask("bar", 32, 32, 10, 0.3, 64))
    assert abs(a0) < 0.05 and a1 == pytest.approx(0.3, abs=0.08)
    # The bar's right end moved down (y grows): clockwise for a viewer.
    m = syn._shape_mask("bar", 32, 32, 10, 0.3, 64)
    yy, xx = np.nonzero(m > 0.5)
    assert yy[xx > 38].mean() > 32 > yy[xx < 26].mean()


def test_single_frames_do_not_reveal_the_direction():
    # Per-frame statistics of a class and its partner come from the same distribution:
    # the multiset of frames is identical for the same draw.
    a = syn.render_clip(0, np.random.default_rng(9), num_frames=8, size=48)
    b = syn.render_clip(1, np.random.default_rng(9), num_frames=8, size=48)
    key = lambda clip: sorted(hashlib.sha256(f.tobytes()).hexdigest() for f in clip)  # noqa: E731
    assert key(a) == key(b)


def test_ensure_synthetic_reuses_a_complete_copy_only(monkeypatch, _isolated_home):
    config = syn.SyntheticConfig(seed=1, min_frames=4, max_frames=5, train_per_class=0, val_per_class=1)
    root, reused = syn.ensure_synthetic(config)
    assert not reused and root.is_relative_to(_isolated_home) and (root / "val_list_videos.txt").is_file()
    root2, reused2 = syn.ensure_synthetic(config)
    assert root2 == root and reused2

    # An interrupted generation leaves neither the final folder nor its temporary sibling.
    other = syn.SyntheticConfig(seed=2, min_frames=4, max_frames=5, train_per_class=0, val_per_class=1)

    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(syn, "write_classes", boom)
    with pytest.raises(KeyboardInterrupt):
        syn.ensure_synthetic(other)
    target = syn.cache_root(other)
    assert not target.exists()
    assert not [p for p in target.parent.iterdir() if p.name.startswith(f".{target.name}.")]


def test_bad_configs_are_usage_errors():
    with pytest.raises(UsageError):
        syn.SyntheticConfig(min_frames=10, max_frames=8)
    with pytest.raises(UsageError):
        syn.SyntheticConfig(size=16)
    with pytest.raises(UsageError):
        syn.render_clip(12, np.random.default_rng(0), num_frames=8)
