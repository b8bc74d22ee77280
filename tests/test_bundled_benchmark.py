"""The bundled benchmark (`tsmbench eval` with no arguments): offline, through the real eval path."""
from __future__ import annotations

import json
import subprocess
import sys
from types import SimpleNamespace

import pytest

from tsmbench.data import synthetic as syn
from tsmbench.measure.bundled import BUNDLED_MODELS, pair_metrics, run_bundled

TINY = syn.SyntheticConfig(seed=2, size=64, min_frames=8, max_frames=9, train_per_class=0, val_per_class=1)


def _pred(label: int, top1: int) -> SimpleNamespace:
    return SimpleNamespace(label=label, top1=top1)


def test_pair_metrics_separate_what_from_which_way():
    preds = [_pred(0, 0), _pred(0, 1), _pred(1, 1), _pred(1, 4),  # pair 0: 2 right, 1 wrong way, 1 wrong pair
             _pred(2, 2), _pred(3, 2)]  # pair 1: always says "moving up"
    rows = pair_metrics(preds, ("left/right", "up/down", "x"))
    assert rows[0] == {"pair": "left/right", "count": 4, "top1": 50.0, "pair_acc": 75.0,
                       "order_acc": pytest.approx(200 / 3)}
    assert rows[1]["top1"] == 50.0 and rows[1]["pair_acc"] == 100.0 and rows[1]["order_acc"] == 50.0
    assert rows[2] == {"pair": "x", "count": 0, "top1": None, "pair_acc": None, "order_acc": None}


def test_bundled_cards_point_at_shipped_weights_with_their_sha256():
    from tsmbench.hub.cards import load_card
    from tsmbench.models.checkpoints import sha256_file
    from tsmbench.paths import zoo_dir

    for model_id in BUNDLED_MODELS:
        card = load_card(model_id)
        (src,) = card.sources
        path = zoo_dir() / src.path
        assert path.is_file() and path.stat().st_size < 2 * 1024 * 1024
        assert sha256_file(path) == card.sha256
        assert card.dataset == "synthetic" and card.classes == syn.CLASSES and card.num_classes == 12
    tsm, tsn = (load_card(m) for m in BUNDLED_MODELS)
    assert tsm.published[0].top1 >= tsn.published[0].top1 + 30


def test_run_bundled_end_to_end_on_a_tiny_set(tmp_path, _isolated_home, capsys):
    doc = run_bundled(json_output=True, synthetic_config=TINY, report_dir=tmp_path / "latest", batch_size=6)
    from tsmbench.cli.common import to_json

    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads(to_json(doc))  # stdout is exactly the returned document
    assert printed["schema_version"] == 1
    models = [r["model"] for r in printed["results"]]
    assert models == list(BUNDLED_MODELS)
    for r in printed["results"]:
        assert r["kind"] == "eval" and r["dataset"] == "synthetic" and r["num_videos"] == 12
        assert 0 <= r["top1"] <= 100 and r["protocol"] == "uniform"
        assert [p["pair"] for p in r["per_pair"]] == list(syn.PAIRS)
        assert all(p["count"] == 2 for p in r["per_pair"])
    # The videos were generated under $TSMBENCH_HOME and the reports written.
    assert (syn.cache_root(TINY) / syn.list_file_name("val")).is_file()
    assert syn.cache_root(TINY).is_relative_to(_isolated_home)
    saved = json.loads((tmp_path / "latest" / "results.json").read_text())
    assert [r["model"] for r in saved["results"]] == models
    html = tmp_path / "latest" / "report.html"
    if html.exists():
        assert "tsm_resnet_tiny.synthetic" in html.read_text()


def test_table_output_reuses_the_cached_set(tmp_path, capsys):
    run_bundled(json_output=False, synthetic_config=TINY, report_dir=tmp_path / "a", limit=4)
    first = capsys.readouterr()
    assert "generated the synthetic validation set" in first.err
    run_bundled(json_output=False, synthetic_config=TINY, report_dir=tmp_path / "b", limit=4)
    second = capsys.readouterr()
    assert "reusing the synthetic validation set" in second.err
    assert "TSM top-1" in second.out and "TSN order" in second.out and "left/right" in second.out


@pytest.mark.slow
def test_tsmbench_eval_no_arguments_shows_what_tsm_is_for(_isolated_home):
    """The README's first command, as a new user runs it: offline, the full validation set."""
    proc = subprocess.run([sys.executable, "-m", "tsmbench", "eval", "--json"], capture_output=True, text=True,
                          timeout=300, env={**__import__("os").environ, "HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 0, proc.stderr
    tsm, tsn = json.loads(proc.stdout)["results"]
    assert tsm["num_videos"] == tsn["num_videos"] == 240
    assert tsm["top1"] >= tsn["top1"] + 30
    # TSN recognises the pair but not the direction: near chance within pairs.
    assert 35 <= tsn["order_acc"] <= 65 and tsm["order_acc"] >= 85
    assert (_isolated_home / "reports" / "latest" / "results.json").is_file()
