"""Model cards: one YAML file per released checkpoint in zoo/, parsed into frozen dataclasses.

A card says what a checkpoint *is* (architecture and options, classes, input normalisation,
how scores are averaged over views), where its bytes come from (ordered sources), what its
publisher reported (with provenance) and what is not known (a null checksum or revision stays
null: tsmbench never invents one).
"""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tsmbench.errors import ModelNotFoundError, UsageError
from tsmbench.paths import zoo_dir

CHECKPOINT_FORMATS = ("mit_tsm", "mit_online", "mmaction2", "pytorchvideo", "tsmbench")
SCORE_AVERAGES = ("logits", "softmax")
_ID_RE = re.compile(r"^[a-z0-9_]+\.[a-z0-9_]+$")
_ARCH_RE = re.compile(r"^[a-z0-9_]+$")
_SHA_RE = re.compile(r"^[0-9a-f]{64}$")


class CardError(UsageError):
    """A model card is malformed: the message names the file and the field."""


@dataclass(frozen=True)
class Source:
    """One place the checkpoint bytes can come from: `kind` is "hf", "url" or "path"."""

    kind: str
    repo: str | None = None
    filename: str | None = None
    revision: str | None = None
    url: str | None = None
    path: str | None = None

    def describe(self) -> str:
        if self.kind == "hf":
            rev = self.revision or "revision unknown (main)"
            return f"hf://{self.repo}/{self.filename} @ {rev}"
        if self.kind == "url":
            return str(self.url)
        return f"zoo/{self.path}"

    @property
    def basename(self) -> str:
        if self.kind == "hf":
            return Path(str(self.filename)).name
        if self.kind == "url":
            return str(self.url).rstrip("/").rsplit("/", 1)[-1].split("?", 1)[0] or "download"
        return Path(str(self.path)).name

    def to_dict(self) -> dict[str, Any]:
        if self.kind == "hf":
            return {"hf": {"repo": self.repo, "filename": self.filename, "revision": self.revision}}
        if self.kind == "url":
            return {"url": self.url}
        return {"path": self.path}


@dataclass(frozen=True)
class Published:
    """A published accuracy figure and where it comes from."""

    top1: float | None
    top5: float | None
    protocol: str | None
    clips: int | None
    crops: int | None
    num_segments: int | None
    source: str
    as_published: str | None = None


@dataclass(frozen=True)
class InputSpec:
    size: int
    resize: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    scale: float = 1.0


@dataclass(frozen=True)
class ModelCard:
    id: str
    arch: str
    num_classes: int
    options: dict[str, Any]
    dataset: str
    classes: str | tuple[str, ...]
    input: InputSpec
    score_average: str
    checkpoint_format: str
    sources: tuple[Source, ...]
    sha256: str | None
    license: str | None
    published: tuple[Published, ...] = ()
    flops: float | None = None
    flops_convention: str | None = None
    params: float | None = None
    notes: str = ""
    supported: bool = True
    file: Path | None = field(default=None, compare=False)

    @property
    def tag(self) -> str:
        return self.id.split(".", 1)[1]

    @property
    def num_segments(self) -> int:
        return int(self.options.get("num_segments", 8))

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "arch": self.arch,
            "num_classes": self.num_classes,
            "options": dict(self.options),
            "dataset": self.dataset,
            "classes": self.classes if isinstance(self.classes, str) else list(self.classes),
            "input": {
                "size": self.input.size,
                "resize": self.input.resize,
                "mean": list(self.input.mean),
                "std": list(self.input.std),
                "scale": self.input.scale,
            },
            "score_average": self.score_average,
            "checkpoint_format": self.checkpoint_format,
            "sources": [s.to_dict() for s in self.sources],
            "sha256": self.sha256,
            "license": self.license,
            "published": [p.__dict__.copy() for p in self.published],
            "flops": self.flops,
            "flops_convention": self.flops_convention,
            "params": self.params,
            "notes": self.notes,
            "supported": self.supported,
        }


# ---------------------------------------------------------------------------------------------
# parsing and validation


class _Checker:
    def __init__(self, file: Path) -> None:
        self.file = file

    def fail(self, fld: str, msg: str) -> CardError:
        return CardError(f"{self.file}: field '{fld}' {msg}; fix the card (compare with an existing card in zoo/)")

    def need(self, doc: dict[str, Any], key: str, where: str = "") -> Any:
        if key not in doc:
            raise self.fail(where + key, "is missing")
        return doc[key]

    def string(self, value: Any, fld: str, *, optional: bool = False) -> str | None:
        if value is None and optional:
            return None
        if not isinstance(value, str) or not value.strip():
            raise self.fail(fld, f"must be a non-empty string, got {value!r}")
        return value

    def integer(self, value: Any, fld: str, *, optional: bool = False, positive: bool = True) -> int | None:
        if value is None and optional:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or (positive and value <= 0):
            raise self.fail(fld, f"must be a positive integer, got {value!r}")
        return value

    def number(self, value: Any, fld: str, *, optional: bool = True) -> float | None:
        if value is None and optional:
            return None
        if isinstance(value, str):  # YAML 1.1 reads "32.88e9" as a string
            try:
                return float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(fld, f"must be a number, got {value!r}")
        return float(value)

    def triple(self, value: Any, fld: str) -> tuple[float, float, float]:
        if not isinstance(value, (list, tuple)) or len(value) != 3:
            raise self.fail(fld, f"must be a list of 3 numbers (R, G, B), got {value!r}")
        return tuple(self.number(v, f"{fld}[{i}]", optional=False) for i, v in enumerate(value))  # type: ignore[return-value]


def _parse_source(c: _Checker, raw: Any, i: int) -> Source:
    fld = f"sources[{i}]"
    if not isinstance(raw, dict) or len(raw) != 1:
        raise c.fail(fld, "must be a mapping with exactly one of 'hf', 'url', 'path'")
    kind, body = next(iter(raw.items()))
    if kind == "hf":
        if not isinstance(body, dict):
            raise c.fail(f"{fld}.hf", "must be a mapping {repo, filename, revision}")
        repo = c.string(body.get("repo"), f"{fld}.hf.repo")
        if repo is None or repo.count("/") != 1:
            raise c.fail(f"{fld}.hf.repo", f"must be 'owner/name', got {repo!r}")
        filename = c.string(body.get("filename"), f"{fld}.hf.filename")
        revision = body.get("revision")
        if revision is not None and (not isinstance(revision, str) or not revision):
            raise c.fail(f"{fld}.hf.revision", "must be null (unknown) or a commit/branch/tag string")
        return Source("hf", repo=repo, filename=filename, revision=revision)
    if kind == "url":
        url = c.string(body, f"{fld}.url")
        if not str(url).startswith(("https://", "http://")):
            raise c.fail(f"{fld}.url", f"must be an http(s) URL, got {url!r}")
        return Source("url", url=url)
    if kind == "path":
        path = c.string(body, f"{fld}.path")
        if Path(str(path)).is_absolute():
            raise c.fail(f"{fld}.path", "must be relative to the zoo/ folder")
        return Source("path", path=path)
    raise c.fail(fld, f"has unknown kind {kind!r} (expected hf, url or path)")


def _parse_published(c: _Checker, raw: Any, i: int) -> Published:
    fld = f"published[{i}]"
    if not isinstance(raw, dict):
        raise c.fail(fld, "must be a mapping {top1, top5, protocol, clips, crops, num_segments, source}")
    src = c.string(raw.get("source"), f"{fld}.source")
    return Published(
        top1=c.number(raw.get("top1"), f"{fld}.top1"),
        top5=c.number(raw.get("top5"), f"{fld}.top5"),
        protocol=c.string(raw.get("protocol"), f"{fld}.protocol", optional=True),
        clips=c.integer(raw.get("clips"), f"{fld}.clips", optional=True),
        crops=c.integer(raw.get("crops"), f"{fld}.crops", optional=True),
        num_segments=c.integer(raw.get("num_segments"), f"{fld}.num_segments", optional=True),
        source=str(src),
        as_published=c.string(raw.get("as_published"), f"{fld}.as_published", optional=True),
    )


def parse_card(doc: Any, file: Path) -> ModelCard:
    """Validate a card's YAML document; every problem names the file and the field."""
    c = _Checker(file)
    if not isinstance(doc, dict):
        raise CardError(f"{file}: a model card must be a YAML mapping")
    card_id = c.string(c.need(doc, "id"), "id")
    if not _ID_RE.match(str(card_id)):
        raise c.fail("id", f"must look like '<arch>.<tag>' in lower case, got {card_id!r}")
    if file.suffix in (".yaml", ".yml") and file.stem != card_id:
        raise c.fail("id", f"is {card_id!r} but the file is named {file.name}; they must agree")
    arch = c.string(c.need(doc, "arch"), "arch")
    if not _ARCH_RE.match(str(arch)) or not str(card_id).startswith(f"{arch}."):
        raise c.fail("arch", f"must be the create_model name the id starts with, got {arch!r}")
    num_classes = c.integer(c.need(doc, "num_classes"), "num_classes")
    options = doc.get("options") or {}
    if not isinstance(options, dict):
        raise c.fail("options", "must be a mapping of create_model options")
    if "num_segments" in options:
        c.integer(options["num_segments"], "options.num_segments")
    dataset = c.string(c.need(doc, "dataset"), "dataset")
    classes_raw = c.need(doc, "classes")
    if isinstance(classes_raw, list):
        if len(classes_raw) != num_classes or not all(isinstance(x, str) for x in classes_raw):
            raise c.fail("classes", f"as an inline list must hold {num_classes} class names")
        classes: str | tuple[str, ...] = tuple(classes_raw)
    else:
        classes = str(c.string(classes_raw, "classes"))
    inp = c.need(doc, "input")
    if not isinstance(inp, dict):
        raise c.fail("input", "must be a mapping {size, resize, mean, std, scale}")
    input_spec = InputSpec(
        size=int(c.integer(c.need(inp, "size", "input."), "input.size") or 0),
        resize=int(c.integer(inp.get("resize", inp.get("size")), "input.resize") or 0),
        mean=c.triple(c.need(inp, "mean", "input."), "input.mean"),
        std=c.triple(c.need(inp, "std", "input."), "input.std"),
        scale=float(c.number(inp.get("scale", 1.0), "input.scale", optional=False) or 1.0),
    )
    score_average = c.string(c.need(doc, "score_average"), "score_average")
    if score_average not in SCORE_AVERAGES:
        raise c.fail("score_average", f"must be one of {SCORE_AVERAGES}, got {score_average!r}")
    fmt = c.string(c.need(doc, "checkpoint_format"), "checkpoint_format")
    if fmt not in CHECKPOINT_FORMATS:
        raise c.fail("checkpoint_format", f"must be one of {CHECKPOINT_FORMATS}, got {fmt!r}")
    raw_sources = c.need(doc, "sources")
    if not isinstance(raw_sources, list) or not raw_sources:
        raise c.fail("sources", "must be a non-empty list of {hf: ...}, {url: ...} or {path: ...}")
    sources = tuple(_parse_source(c, s, i) for i, s in enumerate(raw_sources))
    sha = doc.get("sha256")
    if sha is not None:
        if not isinstance(sha, str) or not _SHA_RE.match(sha.lower()):
            raise c.fail("sha256", "must be null (unknown) or 64 hex digits")
        sha = sha.lower()
    published_raw = doc.get("published") or []
    if not isinstance(published_raw, list):
        raise c.fail("published", "must be a list")
    supported = doc.get("supported", True)
    if not isinstance(supported, bool):
        raise c.fail("supported", "must be true or false")
    notes = doc.get("notes") or ""
    if not isinstance(notes, str):
        raise c.fail("notes", "must be a string")
    return ModelCard(
        id=str(card_id),
        arch=str(arch),
        num_classes=int(num_classes or 0),
        options=dict(options),
        dataset=str(dataset),
        classes=classes,
        input=input_spec,
        score_average=str(score_average),
        checkpoint_format=str(fmt),
        sources=sources,
        sha256=sha,
        license=c.string(doc.get("license"), "license", optional=True),
        published=tuple(_parse_published(c, p, i) for i, p in enumerate(published_raw)),
        flops=c.number(doc.get("flops"), "flops"),
        flops_convention=c.string(doc.get("flops_convention"), "flops_convention", optional=True),
        params=c.number(doc.get("params"), "params"),
        notes=notes.strip(),
        supported=supported,
        file=file,
    )


def read_card_file(file: Path) -> ModelCard:
    import yaml

    try:
        doc = yaml.safe_load(file.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise CardError(f"{file}: not valid YAML ({str(exc).splitlines()[0]}); fix the card") from None
    return parse_card(doc, file)


def card_files(folder: Path | None = None) -> list[Path]:
    folder = folder or zoo_dir()
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())


def list_cards(*, arch: str | None = None, dataset: str | None = None) -> list[ModelCard]:
    """Every card in the zoo folder, sorted by id, optionally filtered by arch and dataset."""
    cards = [read_card_file(p) for p in card_files()]
    if arch:
        cards = [c for c in cards if c.arch == arch]
    if dataset:
        cards = [c for c in cards if c.dataset == dataset]
    return sorted(cards, key=lambda c: c.id)


def card_ids() -> list[str]:
    return [p.stem for p in card_files()]


def load_card(model_id: str) -> ModelCard:
    """The card for `model_id`; an unknown id suggests the closest ids."""
    for p in card_files():
        if p.stem == model_id:
            return read_card_file(p)
    ids = card_ids()
    close = difflib.get_close_matches(model_id, ids, n=3, cutoff=0.5)
    hint = f"did you mean {', '.join(close)}?" if close else "run `tsmbench zoo list` to see the ids"
    raise ModelNotFoundError(f"no model card {model_id!r} in {zoo_dir()}: {hint}")
