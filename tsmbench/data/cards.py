"""Dataset cards: datasets/<name>.yaml says how a dataset is laid out and what its classes are."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tsmbench.errors import DatasetError


@dataclass(frozen=True)
class DatasetCard:
    name: str
    num_classes: int
    annotation: str = "auto"  # default annotation format (see tsmbench.data.annotations.FORMATS)
    frame_template: str = "img_{:05d}.jpg"  # frame-folder file names; the MIT files are 1-based
    classes: tuple[str, ...] | None = None
    default_list: str | None = None  # annotation file relative to --root when --list is not given
    labels_file: str | None = None  # Something-V2's labels.json, relative to --root
    video_ext: str | None = None
    description: str = ""
    source: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def class_name(self, index: int) -> str:
        if self.classes and 0 <= index < len(self.classes):
            return self.classes[index]
        return str(index)


def _read_yaml(path: Path) -> dict[str, Any]:
    import yaml

    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise DatasetError(f"cannot read dataset card {path}: {exc}") from None
    if not isinstance(doc, dict):
        raise DatasetError(f"dataset card {path} is not a YAML mapping")
    return doc


def read_class_list(path: str | Path) -> tuple[str, ...]:
    """One class name per line (blank lines ignored); `<index> <name>` lines are accepted too."""
    names = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line:
            continue
        head, _, rest = line.partition(" ")
        names.append(rest.strip() if head.isdigit() and rest.strip() else line)
    return tuple(names)


def list_dataset_cards() -> list[str]:
    from tsmbench.paths import datasets_dir

    d = datasets_dir()
    return sorted(p.stem for p in d.glob("*.yaml")) if d.is_dir() else []


def load_dataset_card(name_or_path: str | Path) -> DatasetCard:
    """A card by name (datasets/<name>.yaml) or by path to a YAML file."""
    from tsmbench.paths import datasets_dir

    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") and p.exists():
        path = p
    else:
        path = datasets_dir() / f"{name_or_path}.yaml"
        if not path.exists():
            known = ", ".join(list_dataset_cards()) or "none"
            raise DatasetError(f"unknown dataset {name_or_path!r}: known cards are {known}, or pass a path to a card YAML")
    doc = _read_yaml(path)
    known_keys = {f for f in DatasetCard.__dataclass_fields__ if f != "extra"}
    classes = doc.get("classes")
    if isinstance(classes, str):
        cls_path = path.parent / f"{classes}.classes.txt"
        classes = read_class_list(cls_path) if cls_path.exists() else None
    elif isinstance(classes, list):
        classes = tuple(str(c) for c in classes)
    elif classes is not None:
        raise DatasetError(f"dataset card {path}: `classes` must be a class-list name or a list")
    try:
        num_classes = int(doc.get("num_classes") or (len(classes) if classes else 0))
    except (TypeError, ValueError):
        raise DatasetError(f"dataset card {path}: num_classes must be an integer") from None
    if num_classes < 1:
        raise DatasetError(f"dataset card {path} needs num_classes (or a class list)")
    if classes is not None and len(classes) != num_classes:
        raise DatasetError(f"dataset card {path}: {len(classes)} class names but num_classes is {num_classes}")
    kwargs = {k: doc[k] for k in known_keys if k in doc and k not in ("classes", "num_classes", "name")}
    return DatasetCard(
        name=str(doc.get("name", path.stem)),
        num_classes=num_classes,
        classes=classes,
        extra={k: v for k, v in doc.items() if k not in known_keys},
        **kwargs,
    )
