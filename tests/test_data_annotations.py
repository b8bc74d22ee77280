"""Annotation parsers and dataset cards."""
from __future__ import annotations

import json

import pytest

from tsmbench.data.annotations import (
    detect_format,
    kinetics_file_name,
    parse_kinetics_csv,
    parse_mit_list,
    parse_sthv2_json,
    parse_video_list,
    read_annotations,
)
from tsmbench.data.cards import list_dataset_cards, load_dataset_card
from tsmbench.errors import DatasetError

CLASS_COUNTS = {"kinetics400": 400, "somethingv1": 174, "somethingv2": 174, "ucf101": 101, "hmdb51": 51, "jester": 27}


def test_mit_list(tmp_path):
    f = tmp_path / "val_videofolder.txt"
    f.write_text("abseiling/x_000001_000011 300 0\n\n12345 47 173\n")
    s = parse_mit_list(f)
    assert [(x.path, x.num_frames, x.label) for x in s] == [("abseiling/x_000001_000011", 300, 0), ("12345", 47, 173)]
    assert s[0].is_frame_folder and detect_format(f) == "mit_list"


def test_video_list_keeps_spaces_in_paths(tmp_path):
    f = tmp_path / "list.txt"
    f.write_text("val/air drumming/a.mp4 1\nb.mp4 0\n")
    s = parse_video_list(f)
    assert [(x.path, x.label, x.num_frames) for x in s] == [("val/air drumming/a.mp4", 1, None), ("b.mp4", 0, None)]
    assert detect_format(f) == "video_list"


def test_bad_lines_name_the_line(tmp_path):
    f = tmp_path / "list.txt"
    f.write_text("a 3 1\nb three 2\n")
    with pytest.raises(DatasetError, match="list.txt:2"):
        parse_mit_list(f)
    g = tmp_path / "v.txt"
    g.write_text("a.mp4 zero\n")
    with pytest.raises(DatasetError, match="v.txt:1"):
        parse_video_list(g)


def test_sthv2_json(tmp_path):
    labels = {"Approaching something with your camera": "0", "Putting something on a surface": "1"}
    (tmp_path / "labels.json").write_text(json.dumps(labels))
    val = [
        {"id": "74225", "label": "putting a cup on a table", "template": "Putting [something] on a surface", "placeholders": ["a cup"]},
        {"id": "116154", "label": "approaching a door with your camera", "template": "Approaching [something] with your camera"},
    ]
    (tmp_path / "validation.json").write_text(json.dumps(val))
    s = read_annotations(tmp_path / "validation.json")  # labels.json found beside the list
    assert [(x.video_id, x.path, x.label) for x in s] == [("74225", "74225.webm", 1), ("116154", "116154.webm", 0)]
    bad = [{"id": "1", "template": "Juggling [something]"}]
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    with pytest.raises(DatasetError, match="Juggling something"):
        parse_sthv2_json(tmp_path / "bad.json", tmp_path / "labels.json")


def test_kinetics_csv(tmp_path):
    f = tmp_path / "validate.csv"
    f.write_text("label,youtube_id,time_start,time_end,split\nair drumming,--nQbRBEz2s,104,114,val\nabseiling,0wR5jVB-WPk,417,427,val\n")
    s = parse_kinetics_csv(f, ["abseiling", "air drumming"])
    assert [(x.video_id, x.path, x.label) for x in s] == [
        ("--nQbRBEz2s_000104_000114", "air drumming/--nQbRBEz2s_000104_000114.mp4", 1),
        ("0wR5jVB-WPk_000417_000427", "abseiling/0wR5jVB-WPk_000417_000427.mp4", 0),
    ]
    assert kinetics_file_name("abc", 5, 15) == "abc_000005_000015.mp4"
    with pytest.raises(DatasetError, match="not in the dataset's class list"):
        parse_kinetics_csv(f, ["abseiling"])
    with pytest.raises(DatasetError, match="class list"):
        read_annotations(f)


def test_missing_annotation_file_is_a_dataset_error(tmp_path):
    with pytest.raises(DatasetError, match="cannot read"):
        parse_mit_list(tmp_path / "nope.txt")


@pytest.mark.parametrize("name,count", sorted(CLASS_COUNTS.items()))
def test_bundled_cards(name, count):
    card = load_dataset_card(name)
    assert card.num_classes == count
    if card.classes is not None:
        assert len(card.classes) == count and len(set(card.classes)) == count
    assert "{" in card.frame_template and card.frame_template.format(1) != card.frame_template.format(2)


def test_card_facts_from_the_reference():
    assert load_dataset_card("somethingv2").frame_template.format(1) == "000001.jpg"
    assert load_dataset_card("jester").frame_template.format(1) == "00001.jpg"
    assert load_dataset_card("kinetics400").frame_template.format(1) == "img_00001.jpg"
    k = load_dataset_card("kinetics400")
    assert k.classes[0] == "abseiling" and k.classes[-1] == "zumba"
    assert load_dataset_card("somethingv2").classes[0] == "Approaching something with your camera"
    assert load_dataset_card("ucf101").classes[0] == "ApplyEyeMakeup"
    assert set(CLASS_COUNTS) <= set(list_dataset_cards())


def test_card_by_path_and_errors(tmp_path):
    p = tmp_path / "mine.yaml"
    p.write_text("name: mine\nclasses: [a, b, c]\nframe_template: 'f{:03d}.png'\n")
    c = load_dataset_card(p)
    assert (c.name, c.num_classes, c.class_name(2), c.class_name(7)) == ("mine", 3, "c", "7")
    p.write_text("name: mine\nnum_classes: 4\nclasses: [a, b]\n")
    with pytest.raises(DatasetError, match="2 class names"):
        load_dataset_card(p)
    with pytest.raises(DatasetError, match="unknown dataset"):
        load_dataset_card("no_such_dataset")


def test_kinetics_layouts_resolve(tmp_path):
    from tsmbench.data.loader import resolve_path

    (tmp_path / "air_drumming").mkdir()
    (tmp_path / "air_drumming" / "a.mp4").write_bytes(b"x")
    (tmp_path / "b.mp4").write_bytes(b"x")
    assert resolve_path(tmp_path, "air drumming/a.mp4") == tmp_path / "air_drumming" / "a.mp4"
    assert resolve_path(tmp_path, "abseiling/b.mp4") == tmp_path / "b.mp4"
    assert resolve_path(tmp_path, "abseiling/c.mp4") == tmp_path / "abseiling" / "c.mp4"  # missing: reported as asked
