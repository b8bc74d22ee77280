"""The bundled model cards: they parse, cover the releases users hold, and never invent a checksum."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from tsmbench.cli.app import app
from tsmbench.errors import ModelNotFoundError
from tsmbench.hub import list_cards, load_card
from tsmbench.hub.cards import CHECKPOINT_FORMATS, CardError, read_card_file
from tsmbench.paths import datasets_dir, zoo_dir

runner = CliRunner()


def _sources(card_id: str) -> list[str]:
    return [s.describe() for s in load_card(card_id).sources]


def test_bundled_cards_parse_and_cover_the_releases() -> None:
    cards = list_cards()
    assert len(cards) >= 15
    ids = [c.id for c in cards]
    assert len(set(ids)) == len(ids)
    import tsmbench

    known = set(tsmbench.list_models())
    for c in cards:
        assert c.arch in known, c.id
        assert c.checkpoint_format in CHECKPOINT_FORMATS
        assert (datasets_dir() / f"{c.dataset}.yaml").is_file(), f"{c.id}: no dataset card {c.dataset}"
        if isinstance(c.classes, str):  # a class list file, or a dataset card that lists them
            assert any((datasets_dir() / f"{c.classes}{ext}").is_file() for ext in (".classes.txt", ".yaml")), c.id
        assert c.sources
    required = {
        "tsn_r50.k400_8f_mit", "tsm_r50.k400_8f_mit", "tsm_r50.k400_16f_mit", "tsm_r50.k400_8f_dense_mit",
        "tsm_mobilenetv2.k400_8f_dense_mit", "tsm_r50.sthv1_8f_mit", "tsm_r50.sthv2_8f_mit", "tsm_r101.sthv2_8f_mit",
        "tsm_mobilenetv2_online.jester_mit", "tsm_r50.k400_8f_mmaction2", "tsn_r50.k400_8f_mmaction2",
        "tsm_r50.sthv2_8f_mmaction2", "i3d_r50.k400_32x2_mmaction2", "i3d_r50.k400_8x8_pytorchvideo",
    }
    assert required <= set(ids)


def test_sources_name_the_real_files() -> None:
    assert _sources("tsm_r50.k400_8f_mit") == [
        "https://file.lzhu.me/projects/tsm/models/TSM_kinetics_RGB_resnet50_shift8_blockres_avg_segment8_e50.pth"
    ]
    i3d = _sources("i3d_r50.k400_8x8_pytorchvideo")
    assert i3d[0].startswith("hf://jinmang2/test_video_fe/I3D_8x8_R50.pyth")
    assert i3d[1] == "https://dl.fbaipublicfiles.com/pytorchvideo/model_zoo/kinetics/I3D_8x8_R50.pyth"
    tsn = _sources("tsn_r50.k400_8f_mmaction2")
    assert tsn[0].startswith(
        "hf://RaphaelLiu/EvalCrafter-Models/"
        "tsn_imagenet-pretrained-r50_8xb32-1x1x8-100e_kinetics400-rgb_20220906-2692d16c.pth"
    )
    assert tsn[1].startswith("https://download.openmmlab.com/mmaction/v1.0/recognition/tsn/")
    online = load_card("tsm_mobilenetv2_online.jester_mit")
    assert online.num_classes == 27 and online.checkpoint_format == "mit_online"
    assert all(s.url and s.url.endswith("/mobilenetv2_jester_online.pth.tar") for s in online.sources)
    assert load_card("tsm_r101.sthv2_8f_mmaction2").num_classes == 174


def test_no_invented_checksums_or_revisions() -> None:
    lock = json.loads((zoo_dir() / "zoo.lock").read_text())
    for c in list_cards():
        # a sha256 must come from somewhere: no publisher gives one for these files (bundled files excepted)
        bundled = all(s.kind == "path" for s in c.sources)
        assert c.sha256 is None or bundled or c.id in lock["models"], c.id
        for s in c.sources:
            if s.kind == "hf":
                assert s.revision is None, f"{c.id}: pinned revision must come from a real download"
    assert not load_card("i3d_r50.k400_32x2_mmaction2").supported
    assert "reference" in load_card("i3d_r50.k400_32x2_mmaction2").notes


def _write_card(folder: Path, doc: dict) -> Path:
    p = folder / f"{doc['id']}.yaml"
    p.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return p


def _good_doc() -> dict:
    return yaml.safe_load((zoo_dir() / "tsm_r50.k400_8f_mit.yaml").read_text())


@pytest.mark.parametrize(
    "change,field",
    [
        (lambda d: d.pop("arch"), "arch"),
        (lambda d: d.update(num_classes=-3), "num_classes"),
        (lambda d: d.update(score_average="mean"), "score_average"),
        (lambda d: d.update(checkpoint_format="caffe"), "checkpoint_format"),
        (lambda d: d.update(sources=[{"ftp": "x"}]), "sources[0]"),
        (lambda d: d.update(sources=[{"hf": {"repo": "noslash", "filename": "a.pth"}}]), "sources[0].hf.repo"),
        (lambda d: d.update(sha256="abc"), "sha256"),
        (lambda d: d["input"].update(mean=[0.5, 0.5]), "input.mean"),
        (lambda d: d.update(published=[{"top1": "high", "source": "x"}]), "published[0].top1"),
        (lambda d: d.update(arch="tsn_r50"), "arch"),
    ],
)
def test_bad_card_names_file_and_field(tmp_path: Path, change, field: str) -> None:
    doc = _good_doc()
    change(doc)
    path = _write_card(tmp_path, doc)
    with pytest.raises(CardError) as info:
        read_card_file(path)
    msg = str(info.value)
    assert str(path) in msg and f"'{field}'" in msg and "\n" not in msg


def test_card_id_must_match_file_name(tmp_path: Path) -> None:
    doc = _good_doc()
    path = tmp_path / "other.yaml"
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(CardError, match="other.yaml"):
        read_card_file(path)


def test_unknown_id_suggests_close_matches() -> None:
    with pytest.raises(ModelNotFoundError, match="did you mean tsm_r50.k400_8f_mit"):
        load_card("tsm_r50.k400_8f_mitt")
    result = runner.invoke(app, ["zoo", "show", "tsm_r50.k40_8f_mit"])
    assert result.exit_code == 2
    assert "did you mean" in result.output and "Traceback" not in result.output


def test_zoo_list_json_and_filters() -> None:
    result = runner.invoke(app, ["zoo", "list", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    rows = doc["models"]
    assert len(rows) >= 15
    assert all(r["cached"] is False for r in rows)  # a fresh TSMBENCH_HOME
    by_id = {r["id"]: r for r in rows}
    assert by_id["tsm_r50.k400_8f_dense_mit"]["top1"] == 74.1
    result = runner.invoke(app, ["zoo", "list", "--arch", "i3d_r50", "--json"])
    assert {r["id"] for r in json.loads(result.stdout)["models"]} == {
        "i3d_r50.k400_32x2_mmaction2", "i3d_r50.k400_8x8_pytorchvideo"
    }
    result = runner.invoke(app, ["zoo", "list", "--dataset", "jester"])
    assert result.exit_code == 0 and "tsm_mobilenetv2_online" in result.stdout


def test_zoo_show_says_what_is_unknown_and_how_to_reproduce() -> None:
    result = runner.invoke(app, ["zoo", "show", "tsm_r50.k400_8f_dense_mit", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)["model"]
    assert doc["checksum"]["sha256"] is None and "trust-on-first-use" in doc["checksum"]["from"]
    assert doc["cache"]["cached"] is False
    assert doc["reproduce"] == [
        "tsmbench eval --model tsm_r50.k400_8f_dense_mit --dataset kinetics400 --root PATH/TO/KINETICS400 "
        "--protocol dense --crops 3 --score-average logits"
    ]
    human = runner.invoke(app, ["zoo", "show", "tsn_r50.k400_8f_mmaction2"])
    assert "revision not pinned: unknown" in human.stdout
    assert "sha256        unknown" in human.stdout
    assert "--num-segments 25" in human.stdout


def test_zoo_list_json_end_to_end() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "tsmbench", "zoo", "list", "--json"], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert len(doc["models"]) >= 15
    assert any("jinmang2/test_video_fe" in s for r in doc["models"] for s in r["sources"])


def test_every_card_builds_its_architecture_with_its_options() -> None:
    from tsmbench.hub import create_from_card

    seen: set[tuple] = set()
    for c in list_cards():
        key = (c.arch, tuple(sorted(c.options.items())), c.num_classes)
        if key in seen:
            continue
        seen.add(key)
        model = create_from_card(c.id)  # no weights: architecture and options only
        assert model.card is c or model.card.id == c.id
        assert (model.arch, model.num_classes, model.num_segments) == (c.arch, c.num_classes, c.num_segments)


def test_create_model_with_a_zoo_id_keeps_the_cards_frame_count() -> None:
    assert tsmbench_create("tsm_r50.k400_16f_mit").num_segments == 16


def tsmbench_create(name: str):
    import tsmbench

    return tsmbench.create_model(name)
