"""Decoding (PyAV, Pillow frame folders) and test-time transforms."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from test_eval_support import write_frame_folder, write_mp4
from tsmbench.data.decode import VideoReader, read_frame_folder
from tsmbench.data.transforms import InputConfig, crop_boxes, frames_to_tensor, resize_shorter
from tsmbench.errors import DatasetError, UsageError


def coded_frames(n: int, size: int = 32) -> np.ndarray:
    """Frame i is flat, with R = 8 * (i % 32) + 4 and G = 32 * (i // 32) + 16: the index can be read back."""
    f = np.zeros((n, size, size, 3), dtype=np.uint8)
    for i in range(n):
        f[i, ..., 0] = 8 * (i % 32) + 4
        f[i, ..., 1] = 32 * (i // 32) + 16
        f[i, ..., 2] = 128
    return f


def index_of(img: Image.Image) -> int:
    a = np.asarray(img).astype(float)
    r, g = a[..., 0].mean(), a[..., 1].mean()
    return int(round((g - 16) / 32)) * 32 + int(round((r - 4) / 8))


def test_video_frames_in_the_order_asked(tmp_path):
    p = write_mp4(tmp_path / "v.mp4", coded_frames(40))
    with VideoReader(p) as r:
        assert r.num_frames == 40
        want = [5, 0, 39, 5, 17]
        assert [index_of(im) for im in r.frames(want)] == want


def test_video_seek_for_late_frames(tmp_path, monkeypatch):
    p = write_mp4(tmp_path / "long.mp4", coded_frames(200))
    calls = []
    real = VideoReader._decode

    def spy(self, needed, *, seek):
        got = real(self, needed, seek=seek)
        calls.append((seek, bool(got)))
        return got

    monkeypatch.setattr(VideoReader, "_decode", spy)
    with VideoReader(p) as r:
        want = [150, 199, 120, 121]
        assert [index_of(im) for im in r.frames(want)] == want
    assert calls[0] == (True, True)  # the seek path served the request
    with VideoReader(p) as r:
        assert [index_of(im) for im in r.frames([3, 130])] == [3, 130]
    assert calls[-1] == (False, True)  # an early frame: decoded from the start


def test_container_without_frame_count(tmp_path):
    import av

    try:
        av.codec.Codec("libvpx-vp9", "w")
    except Exception:  # noqa: BLE001 - codec lookup raises different errors across PyAV builds
        pytest.skip("this PyAV has no VP9 encoder")
    p = tmp_path / "v.webm"
    frames = coded_frames(12)
    with av.open(str(p), "w") as out:
        s = out.add_stream("libvpx-vp9", rate=8)
        s.height, s.width, s.pix_fmt = 32, 32, "yuv420p"
        for f in frames:
            for pkt in s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                out.mux(pkt)
        for pkt in s.encode():
            out.mux(pkt)
    with VideoReader(p) as r:
        assert r.num_frames == 12
        assert [index_of(im) for im in r.frames([11, 2])] == [11, 2]


def test_corrupt_and_missing_videos(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"this is not a video" * 100)
    with pytest.raises(DatasetError, match="bad.mp4"):
        VideoReader(bad)
    good = write_mp4(tmp_path / "good.mp4", coded_frames(20)).read_bytes()
    cut = tmp_path / "truncated.mp4"
    cut.write_bytes(good[: len(good) // 3])
    with pytest.raises(DatasetError):
        with VideoReader(cut) as r:
            r.frames([0, 19])
    with pytest.raises(DatasetError, match="not found"):
        VideoReader(tmp_path / "missing.mp4")


@pytest.mark.parametrize("template", ["img_{:05d}.jpg", "{:05d}.jpg", "{:06d}.jpg"])
def test_frame_folder_is_one_based(tmp_path, template):
    folder = write_frame_folder(tmp_path / "clip", coded_frames(10), template)
    assert (folder / template.format(1)).exists() and not (folder / template.format(0)).exists()
    assert [index_of(im) for im in read_frame_folder(folder, [0, 9, 4, 4], template=template)] == [0, 9, 4, 4]
    with pytest.raises(DatasetError, match="not found"):
        read_frame_folder(folder, [10], template=template)


# --- transforms --------------------------------------------------------------------------

def ref_offsets(w: int, h: int, crops: int, size: int, scale: int) -> list[tuple[int, int]]:
    """Transcribed from the MIT ops/transforms.py: CenterCrop, GroupFullResSample, GroupOverSample."""
    if crops == 1:
        return [(int(round((w - size) / 2.0)), int(round((h - size) / 2.0)))]
    c = scale if crops == 3 else size
    ws, hs = (w - c) // 4, (h - c) // 4
    if crops == 3:
        return [(0, 0), (4 * ws, 4 * hs), (2 * ws, 2 * hs)]
    return [(0, 0), (4 * ws, 0), (0, 4 * hs), (4 * ws, 4 * hs), (2 * ws, 2 * hs)]


@pytest.mark.parametrize("w,h", [(341, 256), (256, 455), (256, 256), (300, 257)])
@pytest.mark.parametrize("crops", [1, 3, 10])
def test_crop_positions_match_reference(w, h, crops):
    c, boxes = crop_boxes(w, h, crops=crops, size=224, resize=256)
    assert c == (256 if crops == 3 else 224)
    ref = ref_offsets(w, h, crops, 224, 256)
    if crops == 10:
        assert [(x, y) for x, y, _ in boxes] == [o for o in ref for _ in (0, 1)]
        assert [f for *_, f in boxes] == [False, True] * 5
    else:
        assert [(x, y) for x, y, _ in boxes] == ref


def test_resize_shorter_side():
    assert resize_shorter(Image.new("RGB", (320, 240)), 256).size == (341, 256)
    assert resize_shorter(Image.new("RGB", (240, 320)), 256).size == (256, 341)


def gradient(w: int = 64, h: int = 48) -> Image.Image:
    a = np.zeros((h, w, 3), dtype=np.uint8)
    a[..., 0] = np.linspace(0, 255, w, dtype=np.uint8)[None, :]
    a[..., 1] = np.linspace(0, 255, h, dtype=np.uint8)[:, None]
    return Image.fromarray(a)


def test_tensor_layout_flip_and_normalisation():
    cfg = InputConfig(size=32, resize=48, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25), scale=1.0)
    views = [[gradient(), gradient()], [gradient(), gradient()]]
    x = frames_to_tensor(views, crops=10, cfg=cfg)
    assert x.shape == (2 * 10, 2, 3, 32, 32)
    assert torch.equal(x[1], torch.flip(x[0], dims=[-1]))  # crop 2 is crop 1 mirrored
    # The same normalisation on the 0-255 scale (MMAction2 cards) gives the same tensor.
    cfg255 = InputConfig(size=32, resize=48, mean=(127.5,) * 3, std=(63.75,) * 3, scale=255.0)
    assert torch.allclose(frames_to_tensor(views, crops=10, cfg=cfg255), x, atol=1e-5)
    raw = frames_to_tensor([[gradient()]], crops=1, cfg=InputConfig(size=32, resize=48, mean=(0, 0, 0), std=(1, 1, 1)))
    assert raw.shape == (1, 1, 3, 32, 32) and 0.0 <= raw.min() and raw.max() <= 1.0
    with pytest.raises(UsageError):
        frames_to_tensor(views, crops=5, cfg=cfg)


def test_input_config_from_card_like_objects():
    assert InputConfig.of({"size": 64}).resize == 73  # 64 * 256 / 224
    assert InputConfig.of(None) == InputConfig()
    card_input = type("I", (), {"size": 32, "resize": 40, "mean": (1, 2, 3), "std": (4, 5, 6), "scale": 255.0})()
    assert InputConfig.of(card_input) == InputConfig(32, 40, (1.0, 2.0, 3.0), (4.0, 5.0, 6.0), 255.0)
