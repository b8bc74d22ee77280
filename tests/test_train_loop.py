"""`tsmbench train`: a tiny real run on synthetic videos, checkpoints, exact resume, partial BN."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from tsmbench.data import synthetic as syn
from tsmbench.data.annotations import read_annotations
from tsmbench.data.transforms import InputConfig
from tsmbench.training.data import sample_train_frames
from tsmbench.training.loop import TrainConfig, freeze_partial_bn, lr_at, train

TINY = syn.SyntheticConfig(seed=5, size=32, min_frames=4, max_frames=6, train_per_class=2, val_per_class=1)
INPUT = InputConfig(size=32, resize=32, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))


@pytest.fixture(scope="module")
def tiny_set(tmp_path_factory) -> Path:
    return syn.generate(tmp_path_factory.mktemp("train") / "tiny", TINY)


def _samples(root: Path, split: str):
    return read_annotations(root / syn.list_file_name(split), format="video_list")


def _config(**kw) -> TrainConfig:
    base = dict(model="tsm_resnet_tiny", num_segments=4, epochs=2, batch_size=8, lr=0.05, dropout=0.2,
                warmup_epochs=0.5, seed=1)
    return TrainConfig(**(base | kw))


class _Stop(Exception):
    pass


def test_interrupted_run_resumes_to_exactly_the_uninterrupted_weights(tiny_set, tmp_path):
    from safetensors.torch import load_file

    common = dict(train_samples=_samples(tiny_set, "train"), val_samples=_samples(tiny_set, "val"),
                  root=tiny_set, num_classes=syn.NUM_CLASSES, input_cfg=INPUT)
    full = train(_config(), out_dir=tmp_path / "full", **common)
    assert [m.epoch for m in full.epochs] == [1, 2]
    assert all(np.isfinite(m.train_loss) for m in full.epochs)
    assert full.final_val_top1 is not None and 0 <= full.final_val_top1 <= 100

    def stop_after_first(m):
        if m.epoch == 1:
            raise _Stop

    with pytest.raises(_Stop):
        train(_config(), out_dir=tmp_path / "cut", on_epoch=stop_after_first, **common)
    assert (tmp_path / "cut" / "last.pt").is_file() and not (tmp_path / "cut" / "tsm_resnet_tiny.safetensors").exists()
    resumed = train(_config(), out_dir=tmp_path / "cut", resume=True, **common)
    assert [m.epoch for m in resumed.epochs] == [1, 2]

    a, b = load_file(full.weights), load_file(resumed.weights)
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    # The weights moved away from the initialisation (the run really trained).
    torch.manual_seed(1)
    from tsmbench import create_model

    init = create_model("tsm_resnet_tiny", num_classes=12, num_segments=4, dropout=0.2).state_dict()
    assert not torch.equal(init["fc.weight"], a["fc.weight"])


def test_resume_with_other_settings_is_refused(tiny_set, tmp_path):
    from tsmbench.errors import UsageError

    common = dict(train_samples=_samples(tiny_set, "train"), val_samples=None, root=tiny_set,
                  num_classes=syn.NUM_CLASSES, input_cfg=INPUT)
    train(_config(epochs=1), out_dir=tmp_path / "r", **common)
    with pytest.raises(UsageError, match="different settings"):
        train(_config(epochs=1, lr=0.1), out_dir=tmp_path / "r", resume=True, **common)
    with pytest.raises(UsageError, match="nothing to resume"):
        train(_config(epochs=1), out_dir=tmp_path / "empty", resume=True, **common)


def test_partial_bn_freezes_every_batchnorm_but_the_first():
    from tsmbench import create_model

    model = create_model("tsn_resnet_tiny", num_classes=12, num_segments=4)
    model.train()
    frozen = freeze_partial_bn(model)
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert frozen == len(bns) - 1 > 0
    assert bns[0].training and bns[0].weight.requires_grad
    assert all(not m.training and not m.weight.requires_grad for m in bns[1:])
    before = bns[1].running_mean.clone()
    model(torch.randn(2, 4, 3, 32, 32))
    assert torch.equal(before, bns[1].running_mean)  # eval-mode BN keeps its statistics


def test_train_sampling_covers_the_clip_one_frame_per_segment():
    rng = np.random.default_rng(0)
    for n in (1, 3, 8, 11, 16, 100):
        for _ in range(20):
            idx = sample_train_frames(n, 8, rng)
            assert len(idx) == 8 and idx == sorted(idx) and 0 <= idx[0] and idx[-1] < n
            if n >= 8:
                edges = np.linspace(0, n, 9)
                assert all(np.floor(edges[i]) <= idx[i] < edges[i + 1] for i in range(8))


def test_cosine_schedule_with_warmup():
    assert lr_at(0, total=100, warmup=10, base=1.0) == pytest.approx(0.1)
    assert lr_at(10, total=100, warmup=10, base=1.0) == pytest.approx(1.0)
    assert lr_at(55, total=100, warmup=10, base=1.0) == pytest.approx(0.5)
    assert lr_at(100, total=100, warmup=10, base=1.0) == pytest.approx(0.0, abs=1e-12)


def test_cli_train_json_and_weights(tiny_set, tmp_path):
    from typer.testing import CliRunner

    from tsmbench.cli.app import app
    from tsmbench.models.checkpoints import read_checkpoint, sha256_file

    out = tmp_path / "run"
    export = tmp_path / "exported" / "w.safetensors"
    args = ["train", "--model", "tsn_resnet_tiny", "--dataset", "synthetic", "--root", str(tiny_set),
            "--epochs", "1", "--segments", "4", "--size", "32", "--batch-size", "8", "--dropout", "0.2",
            "--cache-frames", "--out", str(out), "--export", str(export), "--json"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["model"] == "tsn_resnet_tiny" and doc["dataset"] == "synthetic"
    assert len(doc["epochs"]) == 1 and doc["val_top1"] is not None
    assert Path(doc["weights"]).is_file() and export.is_file()
    assert doc["sha256"] == sha256_file(export)
    ckpt = read_checkpoint(export)
    assert ckpt.num_classes == 12 and ckpt.metadata["arch"] == "tsn_resnet_tiny"
    assert ckpt.metadata["dataset"] == "synthetic"
    assert json.loads(ckpt.metadata["train_config"])["epochs"] == 1

    # A second plain run into the same folder is refused instead of overwriting it.
    again = CliRunner().invoke(app, args[:-1])
    assert again.exit_code == 2 and "--resume" in again.output

    # End to end in a subprocess: resuming with other settings exits 2 with a one-line error.
    proc = subprocess.run(
        [sys.executable, "-m", "tsmbench", *args[:-5], "--lr", "0.5", "--out", str(out), "--resume"],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 2, proc.stderr
    assert "different settings" in proc.stderr and "Traceback" not in proc.stderr


def test_train_on_a_frame_folder_dataset_described_by_its_own_card(tmp_path):
    """A real-dataset layout: MIT list `<dir> <num_frames> <label>`, 1-based JPEG frame files."""
    from PIL import Image
    from typer.testing import CliRunner

    from tsmbench.cli.app import app

    root = tmp_path / "frames"
    lines = {"train": [], "val": []}
    for split, per_class in (("train", 2), ("val", 1)):
        for k in range(per_class * 3):
            label = k % 3
            clip = syn.render_clip(label, np.random.default_rng([7, k, len(split)]), num_frames=5, size=40)
            folder = root / split / f"clip{k:03d}"
            folder.mkdir(parents=True)
            for i, frame in enumerate(clip):
                Image.fromarray(frame).save(folder / f"img_{i + 1:05d}.jpg", quality=95)
            lines[split].append(f"{split}/clip{k:03d} {len(clip)} {label}\n")
    for split, ls in lines.items():
        (root / f"{split}.txt").write_text("".join(ls))
    card = tmp_path / "tinyframes.yaml"
    card.write_text(
        "name: tinyframes\nnum_classes: 3\nannotation: mit_list\nframe_template: 'img_{:05d}.jpg'\n"
        "classes: [moving left, moving right, moving up]\nlists: {train: train.txt, val: val.txt}\n"
    )
    res = CliRunner().invoke(app, [
        "train", "--model", "tsm_resnet_tiny", "--dataset", str(card), "--root", str(root), "--epochs", "1",
        "--segments", "4", "--size", "32", "--resize", "36", "--batch-size", "3", "--partial-bn",
        "--out", str(tmp_path / "run"), "--json",
    ])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["dataset"] == "tinyframes" and doc["config"]["partial_bn"] is True
    assert doc["val_top1"] is not None and len(doc["epochs"]) == 1

    # A root without the listed frames is a clear dataset error, not a traceback.
    bad = CliRunner().invoke(app, [
        "train", "--dataset", str(card), "--root", str(tmp_path), "--out", str(tmp_path / "bad"),
        "--train-list", str(root / "train.txt"), "--no-val", "--epochs", "1", "--size", "32", "--segments", "4",
    ])
    assert bad.exit_code == 2 and "frame folder not found" in bad.output
