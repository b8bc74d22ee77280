"""Known-answer accuracy through every parser and protocol, the CLI, skipped videos, the JSON contract."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from test_eval_support import (
    INPUT,
    PALETTE,
    PLAN,
    ColourModel,
    colour_checkpoint,
    expected_top,
    make_frame_dataset,
    make_video_dataset,
    solid_frames,
    write_card,
    write_mp4,
)
from tsmbench.cli.app import app
from tsmbench.data.annotations import read_annotations
from tsmbench.errors import DatasetError
from tsmbench.measure.evaluate import eval_record, evaluate
from tsmbench.measure.predictions import PredictionStore

TOP1, TOP5 = expected_top(k=1), expected_top(k=5)
# Per class of the plan: class 0 has 3 videos (1 right), classes 1 and 2 one each (right).
MEAN_CLASS = (100 / 3 + 100 + 100) / 3


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    root = tmp_path_factory.mktemp("colours")
    return root, make_video_dataset(root), make_frame_dataset(root)


@pytest.mark.parametrize("protocol", ["uniform", "twice", "dense", "3d"])
@pytest.mark.parametrize("which", ["videos", "frames"])
def test_known_accuracy_every_protocol(datasets, protocol, which):
    root, videos, frames = datasets
    samples = read_annotations(videos if which == "videos" else frames)
    model = ColourModel(num_segments=4)
    r = evaluate(model, samples, protocol=protocol, crops=1, input_cfg=INPUT, root=root, clip_len=4, frame_interval=2, num_clips=3)
    assert (r.top1, r.top5) == (pytest.approx(TOP1), pytest.approx(TOP5))
    assert r.mean_class_acc == pytest.approx(MEAN_CLASS)
    assert r.num_videos == len(PLAN) and r.skipped == ()
    views = {"uniform": 1, "twice": 2, "dense": 10, "3d": 3}[protocol]
    assert r.views == views and r.clips == views * len(PLAN)
    assert all(s[1:] == (4, 3, 32, 32) for s in model.seen_shapes)


@pytest.mark.parametrize("crops", [3, 10])
@pytest.mark.parametrize("score_average", ["logits", "softmax"])
def test_multi_crop_and_score_average(datasets, crops, score_average):
    root, videos, _ = datasets
    r = evaluate(ColourModel(4), read_annotations(videos), protocol="twice", crops=crops, input_cfg=INPUT, root=root,
                 score_average=score_average, batch_size=2)
    assert r.top1 == pytest.approx(TOP1) and r.clips == 2 * crops * len(PLAN)
    top_scores = [p.top5[0][1] for p in r.predictions]
    if score_average == "softmax":
        assert all(0.0 < s <= 1.0 for s in top_scores)  # averaged probabilities
    else:
        assert all(s <= 0.0 for s in top_scores)  # ColourModel's logits are minus a distance


def test_sthv2_json_and_kinetics_csv(tmp_path):
    names = ["red thing", "green thing", "blue thing", "yellow thing", "cyan thing", "magenta thing"]
    (tmp_path / "labels.json").write_text(json.dumps({n: str(i) for i, n in enumerate(names)}))
    entries, rows = [], ["label,youtube_id,time_start,time_end,split"]
    for i, (true, label) in enumerate(PLAN):
        write_mp4(tmp_path / "sth" / f"{100 + i}.mp4", solid_frames(PALETTE[true], 10))
        entries.append({"id": str(100 + i), "template": names[label].replace("thing", "[thing]")})
        write_mp4(tmp_path / "k400" / names[label] / f"yt{i}_000010_000020.mp4", solid_frames(PALETTE[true], 10))
        rows.append(f"{names[label]},yt{i},10,20,val")
    (tmp_path / "validation.json").write_text(json.dumps(entries))
    (tmp_path / "validate.csv").write_text("\n".join(rows) + "\n")
    sth = read_annotations(tmp_path / "validation.json", video_ext=".mp4")
    r = evaluate(ColourModel(4), sth, input_cfg=INPUT, root=tmp_path / "sth")
    assert (r.top1, r.top5) == (pytest.approx(TOP1), pytest.approx(TOP5))
    k = read_annotations(tmp_path / "validate.csv", classes=names)
    r = evaluate(ColourModel(4), k, input_cfg=INPUT, root=tmp_path / "k400", protocol="dense")
    assert (r.top1, r.top5) == (pytest.approx(TOP1), pytest.approx(TOP5))


def test_missing_and_corrupt_videos_are_skipped_and_listed(datasets, tmp_path):
    root, videos, _ = datasets
    (tmp_path / "videos").mkdir()
    (tmp_path / "videos" / "corrupt.mp4").write_bytes(b"\x00garbage" * 64)
    lst = tmp_path / "list.txt"
    lst.write_text(videos.read_text().replace("videos/", f"{root}/videos/") + "videos/corrupt.mp4 1\nvideos/gone.mp4 2\n")
    samples = read_annotations(lst)
    store = PredictionStore(tmp_path / "p.sqlite")
    r = evaluate(ColourModel(4), samples, input_cfg=INPUT, root=tmp_path, store=store)
    assert r.num_videos == len(PLAN) and r.top1 == pytest.approx(TOP1)  # bad videos are not counted as wrong
    assert [v for v, _ in r.skipped] == ["videos/corrupt.mp4", "videos/gone.mp4"]
    assert "not found" in dict(r.skipped)["videos/gone.mp4"]
    assert store.skipped() == list(r.skipped)
    with pytest.raises(DatasetError, match="corrupt.mp4"):
        evaluate(ColourModel(4), samples, input_cfg=INPUT, root=tmp_path, strict=True)


def test_eval_record_contract(datasets):
    root, videos, _ = datasets
    r = evaluate(ColourModel(4), read_annotations(videos), input_cfg=INPUT, root=root)
    rec = eval_record(r, model="colour", dataset="colours", environment={"cpu": "x"})
    for key in ("kind", "model", "dataset", "protocol", "views", "crops", "score_average", "top1", "top5", "mean_class_acc",
                "num_videos", "skipped", "throughput_clips_per_s", "data_wait_share", "environment"):
        assert key in rec
    assert rec["kind"] == "eval" and rec["top1"] == pytest.approx(TOP1) and 0 <= rec["data_wait_share"] <= 1
    assert rec["throughput_clips_per_s"] > 0


# --- the CLI with a real tsmbench model whose weights encode the colour rule ------------------

@pytest.fixture(scope="module")
def cli_setup(datasets):
    root, videos, frames = datasets
    ck = colour_checkpoint(root / "colours.safetensors")
    card = write_card(root / "colours.yaml")
    return root, videos, frames, ck, card


def run_cli(*args):
    return CliRunner().invoke(app, ["eval", *map(str, args)])


@pytest.mark.parametrize("protocol,crops,which", [("uniform", 1, "frames"), ("dense", 3, "videos"), ("twice", 10, "frames")])
def test_cli_json(cli_setup, protocol, crops, which):
    root, videos, frames, ck, card = cli_setup
    res = run_cli("--model", "tsn_resnet_tiny", "--weights", ck, "--dataset", card, "--root", root,
                  "--list", frames if which == "frames" else videos, "--protocol", protocol, "--crops", crops,
                  "--workers", 0, "--json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    rec = doc["results"][0]
    assert doc["schema_version"] == 1 and rec["kind"] == "eval" and rec["model"] == "tsn_resnet_tiny"
    assert (rec["top1"], rec["top5"]) == (pytest.approx(TOP1), pytest.approx(TOP5))
    assert rec["mean_class_acc"] == pytest.approx(MEAN_CLASS)
    assert (rec["protocol"], rec["crops"], rec["num_videos"], rec["skipped"]) == (protocol, crops, len(PLAN), [])
    assert {c["name"] for c in rec["per_class"]} == {"red", "green", "blue"}


def test_cli_human_output_and_resume_checks(cli_setup, tmp_path):
    root, videos, frames, ck, card = cli_setup
    res = run_cli("--model", "tsn_resnet_tiny", "--weights", ck, "--dataset", card, "--root", root, "--list", videos,
                  "--workers", 1, "--limit", 3)
    assert res.exit_code == 0, res.output
    assert "measured" in res.stdout and "100.00" in res.stdout  # the first three videos are labelled right
    run_id = res.stderr.split("run ", 1)[1].split(":", 1)[0]
    full = run_cli("--model", "tsn_resnet_tiny", "--weights", ck, "--dataset", card, "--root", root, "--list", videos,
                   "--workers", 0, "--resume", run_id, "--json")
    assert full.exit_code == 0, full.output
    assert json.loads(full.stdout)["results"][0]["top1"] == pytest.approx(TOP1)
    other = run_cli("--model", "tsn_resnet_tiny", "--weights", ck, "--dataset", card, "--root", root, "--list", videos,
                    "--protocol", "dense", "--resume", run_id)
    assert other.exit_code == 2 and "cannot resume" in other.stderr
    gone = run_cli("--model", "tsn_resnet_tiny", "--weights", ck, "--dataset", card, "--root", root, "--list", videos,
                   "--resume", "no-such-run")
    assert gone.exit_code == 2 and "no run" in gone.stderr


def test_cli_strict_and_usage_errors(cli_setup, tmp_path):
    root, videos, frames, ck, card = cli_setup
    lst = tmp_path / "l.txt"
    lst.write_text(f"{root}/videos/v0.mp4 0\n{tmp_path}/missing.mp4 1\n")
    ok = run_cli("--model", "tsn_resnet_tiny", "--weights", ck, "--dataset", card, "--list", lst, "--workers", 0, "--json")
    assert ok.exit_code == 0, ok.output
    assert [s["video_id"] for s in json.loads(ok.stdout)["results"][0]["skipped"]] == [f"{tmp_path}/missing.mp4"]
    strict = run_cli("--model", "tsn_resnet_tiny", "--weights", ck, "--dataset", card, "--list", lst, "--workers", 0, "--strict")
    assert strict.exit_code == 2 and "missing.mp4" in strict.stderr
    half = run_cli("--model", "tsn_resnet_tiny")
    assert half.exit_code == 2 and "--dataset" in half.stderr
    wrong = run_cli("--model", "tsn_resnet_tiny", "--weights", ck, "--dataset", "kinetics400", "--list", lst)
    assert wrong.exit_code == 2 and "400" in wrong.stderr


def test_bundled_benchmark_or_clear_message(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_bundled(name, *a, **k):
        if name == "tsmbench.measure.bundled":
            raise ImportError(name)
        return real_import(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_bundled)
    res = run_cli()
    assert res.exit_code == 2 and "--model and --dataset are required" in res.stderr


def test_end_to_end_subprocess(cli_setup):
    root, videos, frames, ck, card = cli_setup
    proc = subprocess.run(
        [sys.executable, "-m", "tsmbench", "eval", "--model", "tsn_resnet_tiny", "--weights", str(ck), "--dataset", str(card),
         "--root", str(root), "--list", str(frames), "--workers", "1", "--json"],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    rec = json.loads(proc.stdout)["results"][0]
    assert rec["top1"] == pytest.approx(TOP1) and rec["num_videos"] == len(PLAN)
    assert "ETA" in proc.stderr  # the progress bar goes to stderr, never into the JSON


def test_cli_prints_the_cards_published_figures(cli_setup, monkeypatch):
    """A zoo model carries its card: the published top-1 is shown and recorded beside the measured one."""
    import dataclasses

    import tsmbench
    from tsmbench.hub.cards import InputSpec, load_card
    from test_eval_support import MEAN, STD

    root, videos, frames, ck, card = cli_setup
    zoo_card = load_card("tsm_r50.k400_8f_mit")
    asked = {}

    def fake_create_model(name, **kw):
        asked.update(name=name, **kw)
        m = ColourModel(num_segments=4)
        m.card = dataclasses.replace(zoo_card, input=InputSpec(size=32, resize=36, mean=MEAN, std=STD, scale=1.0))
        return m

    monkeypatch.setattr(tsmbench, "create_model", fake_create_model, raising=False)
    res = run_cli("--model", zoo_card.id, "--dataset", card, "--root", root, "--list", videos, "--workers", 0)
    assert res.exit_code == 0, res.output
    assert asked["name"] == zoo_card.id and asked["pretrained"] is True
    assert "published" in res.stdout and "71.20" in res.stdout and "72.80" in res.stdout and "60.00" in res.stdout
    res = run_cli("--model", zoo_card.id, "--dataset", card, "--root", root, "--list", videos, "--workers", 0, "--json")
    rec = json.loads(res.stdout)["results"][0]
    assert [p["top1"] for p in rec["published"]] == [71.2, 72.8] and rec["top1"] == pytest.approx(TOP1)
    assert rec["score_average"] == "logits"  # from the card
