"""Annotation files users already have: MIT TSM lists, MMAction2 lists, Something-V2 JSON, Kinetics CSV."""
from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from tsmbench.errors import DatasetError

FORMATS = ("mit_list", "video_list", "sthv2_json", "kinetics_csv")


@dataclass(frozen=True)
class VideoSample:
    """One test video: where it is, its label, and (for frame folders) how many frames it has."""

    video_id: str
    path: str  # relative to the dataset root unless absolute
    label: int
    num_frames: int | None = None  # known for frame folders (MIT lists); read from the container otherwise

    @property
    def is_frame_folder(self) -> bool:
        return self.num_frames is not None


def _lines(path: Path) -> list[tuple[int, str]]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise DatasetError(f"cannot read annotation file {path}: {exc.strerror or exc}") from None
    return [(n, ln.strip()) for n, ln in enumerate(text.splitlines(), 1) if ln.strip() and not ln.startswith("#")]


def parse_mit_list(path: str | Path) -> list[VideoSample]:
    """MIT TSM / MMAction2 rawframe list: `<relative_dir> <num_frames> <label>` per line."""
    out = []
    for n, line in _lines(Path(path)):
        parts = line.rsplit(maxsplit=2)
        if len(parts) != 3 or not parts[1].isdigit() or not parts[2].lstrip("-").isdigit():
            raise DatasetError(f"{path}:{n}: expected '<dir> <num_frames> <label>', got {line!r}")
        out.append(VideoSample(video_id=parts[0], path=parts[0], label=int(parts[2]), num_frames=int(parts[1])))
    return out


def parse_video_list(path: str | Path) -> list[VideoSample]:
    """MMAction2 video list: `<path> <label>` per line."""
    out = []
    for n, line in _lines(Path(path)):
        parts = line.rsplit(maxsplit=1)
        if len(parts) != 2 or not parts[1].lstrip("-").isdigit():
            raise DatasetError(f"{path}:{n}: expected '<video path> <label>', got {line!r}")
        out.append(VideoSample(video_id=parts[0], path=parts[0], label=int(parts[1])))
    return out


def _sthv2_name(text: str) -> str:
    # Something-V2 templates mark placeholders with brackets: "Putting [something] on [something]".
    return re.sub(r"[\[\]]", "", text).strip()


def parse_sthv2_json(path: str | Path, labels: str | Path | dict[str, str], *, video_ext: str = ".webm") -> list[VideoSample]:
    """Something-Something V2 `validation.json` with its `labels.json` (class name -> id string).

    Each entry's `template` (brackets removed) names the class; the video is `<id><video_ext>`.
    """
    if not isinstance(labels, dict):
        try:
            labels = json.loads(Path(labels).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise DatasetError(f"cannot read Something-V2 labels file {labels}: {exc}") from None
    name_to_id = {_sthv2_name(k): int(v) for k, v in labels.items()}
    try:
        entries = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DatasetError(f"cannot read Something-V2 annotation file {path}: {exc}") from None
    out = []
    for e in entries:
        name = _sthv2_name(e.get("template", e.get("label", "")))
        if name not in name_to_id:
            raise DatasetError(f"{path}: video {e.get('id')} has class {name!r} that is not in the labels file")
        vid = str(e["id"])
        out.append(VideoSample(video_id=vid, path=vid + video_ext, label=name_to_id[name]))
    return out


def kinetics_file_name(youtube_id: str, time_start: int, time_end: int, ext: str = ".mp4") -> str:
    """The clip name the ActivityNet/Kinetics downloader writes: `<id>_<start:06d>_<end:06d>.mp4`."""
    return f"{youtube_id}_{int(time_start):06d}_{int(time_end):06d}{ext}"


def parse_kinetics_csv(path: str | Path, classes: Sequence[str], *, video_ext: str = ".mp4") -> list[VideoSample]:
    """Kinetics CSV (`label,youtube_id,time_start,time_end,split`), labels mapped through `classes`.

    Videos are looked up as `<label>/<clip>` or `<clip>` under the root (both layouts are common);
    the sample keeps `<label>/<clip>` and the loader falls back to the flat name.
    """
    index = {c: i for i, c in enumerate(classes)}
    index.update({c.replace(" ", "_"): i for i, c in enumerate(classes)})
    out = []
    try:
        with open(path, newline="", encoding="utf-8") as f:
            for n, row in enumerate(csv.DictReader(f), 2):
                try:
                    label = row["label"]
                    name = kinetics_file_name(row["youtube_id"], int(row["time_start"]), int(row["time_end"]), video_ext)
                except (KeyError, ValueError, TypeError):
                    raise DatasetError(
                        f"{path}:{n}: expected columns label,youtube_id,time_start,time_end[,split]"
                    ) from None
                if label not in index:
                    raise DatasetError(f"{path}:{n}: class {label!r} is not in the dataset's class list")
                clip_id = name[: -len(video_ext)] if video_ext else name  # a YouTube id can hold several clips
                out.append(VideoSample(video_id=clip_id, path=f"{label}/{name}", label=index[label]))
    except OSError as exc:
        raise DatasetError(f"cannot read Kinetics CSV {path}: {exc.strerror or exc}") from None
    return out


def detect_format(path: str | Path) -> str:
    """Guess an annotation file's format from its extension and first line."""
    p = Path(path)
    if p.suffix.lower() == ".csv":
        return "kinetics_csv"
    if p.suffix.lower() == ".json":
        return "sthv2_json"
    lines = _lines(p)
    if not lines:
        raise DatasetError(f"annotation file {p} is empty")
    parts = lines[0][1].rsplit(maxsplit=2)
    if len(parts) == 3 and parts[1].isdigit() and parts[2].lstrip("-").isdigit():
        return "mit_list"
    return "video_list"


def read_annotations(
    path: str | Path,
    *,
    format: str = "auto",
    classes: Sequence[str] | None = None,
    labels_file: str | Path | None = None,
    video_ext: str | None = None,
) -> list[VideoSample]:
    """Read any supported annotation file into samples."""
    fmt = detect_format(path) if format == "auto" else format
    if fmt == "mit_list":
        return parse_mit_list(path)
    if fmt == "video_list":
        return parse_video_list(path)
    if fmt == "sthv2_json":
        if labels_file is None:
            cand = Path(path).with_name("labels.json")
            if not cand.exists():
                raise DatasetError(f"Something-V2 annotations need the labels file: put labels.json beside {path}")
            labels_file = cand
        return parse_sthv2_json(path, labels_file, video_ext=video_ext or ".webm")
    if fmt == "kinetics_csv":
        if not classes:
            raise DatasetError("a Kinetics CSV needs the class list: use a dataset card with `classes`")
        return parse_kinetics_csv(path, classes, video_ext=video_ext or ".mp4")
    raise DatasetError(f"unknown annotation format {fmt!r}: use one of {', '.join(FORMATS)}")
