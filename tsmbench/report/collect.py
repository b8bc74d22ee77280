"""From stored result documents to what a report shows: a pure function, no model is run.

Every renderer (HTML, Markdown, CSV) starts from `collect(documents)`, so the three faces of
a report always agree on what was measured.
"""
from __future__ import annotations

import json
import math
import shlex
from dataclasses import dataclass, field
from typing import Any

from tsmbench.results.schema import validate_document


@dataclass(frozen=True)
class Point:
    """One model on the accuracy-vs-FLOPs chart."""

    model: str
    gflops: float
    top1: float
    on_front: bool = False


@dataclass(frozen=True)
class AccuracyChart:
    dataset: str
    points: tuple[Point, ...]

    @property
    def front(self) -> tuple[Point, ...]:
        return tuple(p for p in self.points if p.on_front)


@dataclass(frozen=True)
class LatencySeries:
    """Median (and p90) latency against batch size for one model on one backend and device."""

    model: str
    backend: str
    device: str
    precision: str
    mode: str
    batches: tuple[float, ...]
    median_ms: tuple[float, ...]
    p90_ms: tuple[float | None, ...]

    @property
    def label(self) -> str:
        parts = [self.model, self.backend, self.device, self.precision]
        if self.mode:
            parts.append(self.mode)
        return " / ".join(p for p in parts if p)


@dataclass(frozen=True)
class PerClass:
    model: str
    dataset: str
    rows: tuple[tuple[str, float, int | None], ...]  # (class, top1 percent, count)


@dataclass(frozen=True)
class PublishedRow:
    kind: str
    model: str
    metric: str
    published: float
    measured: float
    source: str

    @property
    def difference(self) -> float:
        # Published figures carry two decimals; a residue below that is no difference (and never "-0.00").
        return round(self.measured - self.published, 2) + 0.0

    @property
    def relative(self) -> float | None:
        return None if self.published == 0 else 100.0 * (self.measured - self.published) / abs(self.published)


@dataclass(frozen=True)
class Provenance:
    """Where one input document came from and the command that reproduces it."""

    label: str
    command: str | None
    created: str | None
    tsmbench_version: str | None
    git_commit: str | None
    models: tuple[str, ...]


@dataclass(frozen=True)
class Environment:
    label: str
    facts: tuple[tuple[str, str], ...]
    models: tuple[str, ...]


@dataclass(frozen=True)
class ReportData:
    created: str | None
    flops: tuple[dict[str, Any], ...]
    evals: tuple[dict[str, Any], ...]
    latency: tuple[dict[str, Any], ...]
    accuracy_charts: tuple[AccuracyChart, ...]
    latency_series: tuple[LatencySeries, ...]
    per_class: tuple[PerClass, ...]
    published: tuple[PublishedRow, ...]
    environments: tuple[Environment, ...]
    provenance: tuple[Provenance, ...]
    records: tuple[dict[str, Any], ...] = field(default_factory=tuple)


def is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point beats: fewer (or equal) FLOPs and higher accuracy."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))
    front: list[int] = []
    best = -math.inf
    for i in order:
        if points[i][1] > best:
            front.append(i)
            best = points[i][1]
    return front


def _flops_for(ev: dict[str, Any], flops: list[dict[str, Any]]) -> float | None:
    """FLOPs of the model an eval record measured: its own field, else a flops record of that model."""
    if is_number(ev.get("flops")):
        return float(ev["flops"])
    model = ev["model"]
    arch = model.split(".", 1)[0]
    candidates = [f for f in flops if f["model"] == model] or [f for f in flops if f["model"].split(".", 1)[0] == arch]
    seg = ev.get("num_segments")
    if seg is not None:
        candidates = [f for f in candidates if f.get("num_segments") in (None, seg)] or candidates
    for f in reversed(candidates):  # the latest measurement wins
        if is_number(f.get("flops")):
            return float(f["flops"])
    return None


def _accuracy_charts(evals: list[dict[str, Any]], flops: list[dict[str, Any]]) -> list[AccuracyChart]:
    by_dataset: dict[str, dict[str, tuple[float, float]]] = {}
    for ev in evals:
        if not is_number(ev.get("top1")):
            continue
        fl = _flops_for(ev, flops)
        if fl is None:
            continue
        dataset = str(ev.get("dataset") or "unknown dataset")
        by_dataset.setdefault(dataset, {})[ev["model"]] = (fl / 1e9, float(ev["top1"]))
    charts = []
    for dataset, models in by_dataset.items():
        names = list(models)
        coords = [models[n] for n in names]
        front = set(pareto_front(coords))
        pts = tuple(Point(n, c[0], c[1], i in front) for i, (n, c) in enumerate(zip(names, coords)))
        charts.append(AccuracyChart(dataset, pts))
    return charts


def _latency_series(latency: list[dict[str, Any]]) -> list[LatencySeries]:
    groups: dict[tuple[str, ...], dict[float, tuple[float, float | None]]] = {}
    for r in latency:
        if r.get("status", "ok") != "ok" or not is_number(r.get("median_ms")) or not is_number(r.get("batch")):
            continue
        key = tuple(str(r.get(k) or "") for k in ("model", "backend", "device", "precision", "mode"))
        p90 = float(r["p90_ms"]) if is_number(r.get("p90_ms")) else None
        groups.setdefault(key, {})[float(r["batch"])] = (float(r["median_ms"]), p90)
    out = []
    for key, pts in groups.items():
        batches = sorted(pts)
        out.append(
            LatencySeries(
                *key,
                batches=tuple(batches),
                median_ms=tuple(pts[b][0] for b in batches),
                p90_ms=tuple(pts[b][1] for b in batches),
            )
        )
    return out


def _per_class(evals: list[dict[str, Any]]) -> list[PerClass]:
    out = []
    for ev in evals:
        rows = []
        for row in ev.get("per_class") or []:
            if isinstance(row, dict) and is_number(row.get("top1")):
                count = row.get("count")
                # "class" in the contract; the eval command writes "name" (and "index").
                name = row.get("class", row.get("name", row.get("index", "?")))
                rows.append((str(name), float(row["top1"]), int(count) if is_number(count) else None))
        if rows:
            out.append(PerClass(ev["model"], str(ev.get("dataset") or ""), tuple(rows)))
    return out


def _published(records: list[dict[str, Any]]) -> list[PublishedRow]:
    out = []
    for r in records:
        pubs = r.get("published")
        # The contract has one dict; a model card may list several published figures.
        for pub in pubs if isinstance(pubs, list) else [pubs]:
            if not isinstance(pub, dict):
                continue
            source = str(pub.get("source") or "")
            head_excluded = "head excluded" in str(pub.get("note") or "")
            for metric, value in pub.items():
                measured_key = metric
                if metric == "flops" and head_excluded and is_number(r.get("flops_without_head")):
                    measured_key = "flops_without_head"  # compare like with like (MMAction2 leaves the head out)
                if metric == "source" or not is_number(value) or not is_number(r.get(measured_key)):
                    continue
                out.append(PublishedRow(r["kind"], r["model"], metric, float(value), float(r[measured_key]), source))
    return out


def _flat_facts(env: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    facts = []
    for k, v in env.items():
        facts.append((str(k), v if isinstance(v, str) else json.dumps(v, default=str)))
    return tuple(facts)


def _environments(records: list[dict[str, Any]]) -> list[Environment]:
    seen: dict[str, tuple[dict[str, Any], list[str]]] = {}
    for r in records:
        env = r.get("environment")
        if not isinstance(env, dict):
            continue
        key = json.dumps(env, sort_keys=True, default=str)
        entry = seen.setdefault(key, (env, []))
        if r["model"] not in entry[1]:
            entry[1].append(r["model"])
    return [
        Environment(f"environment {i + 1}", _flat_facts(env), tuple(models))
        for i, (env, models) in enumerate(seen.values())
    ]


def _provenance(documents: list[dict[str, Any]], labels: list[str]) -> list[Provenance]:
    out = []
    for doc, label in zip(documents, labels):
        if isinstance(doc.get("runs"), list) and doc["runs"]:
            # An export of several stored runs: each keeps its own command and provenance.
            for run in doc["runs"]:
                if not isinstance(run, dict):
                    continue
                rid = run.get("run_id")
                models = tuple(dict.fromkeys(r["model"] for r in doc["results"] if r.get("stored_run") == rid))
                cmd = run.get("command")
                out.append(
                    Provenance(
                        label=str(rid or label),
                        command=shlex.join(str(c) for c in cmd) if isinstance(cmd, list) and cmd else None,
                        created=run.get("created"),
                        tsmbench_version=run.get("tsmbench_version"),
                        git_commit=run.get("git_commit"),
                        models=models,
                    )
                )
            continue
        cmd = doc.get("command")
        if isinstance(cmd, list) and cmd:
            command = shlex.join(str(c) for c in cmd)
        elif isinstance(cmd, str) and cmd:
            command = cmd
        else:
            command = None
        models = tuple(dict.fromkeys(r["model"] for r in doc["results"]))
        out.append(
            Provenance(
                label=str(doc.get("run_id") or label),
                command=command,
                created=doc.get("created"),
                tsmbench_version=doc.get("tsmbench_version"),
                git_commit=doc.get("git_commit"),
                models=models,
            )
        )
    return out


def collect(documents: list[dict[str, Any]], labels: list[str] | None = None) -> ReportData:
    """Everything a report shows, computed from validated result documents."""
    labels = labels or [f"input {i + 1}" for i in range(len(documents))]
    records: list[dict[str, Any]] = []
    for doc, label in zip(documents, labels):
        validate_document(doc, source=label)
        for r in doc["results"]:
            rec = dict(r)
            if doc.get("run_id"):
                rec["stored_run"] = doc["run_id"]
            rec["source"] = str(rec.get("stored_run") or label)
            records.append(rec)
    flops = [r for r in records if r["kind"] == "flops"]
    evals = [r for r in records if r["kind"] == "eval"]
    latency = [r for r in records if r["kind"] == "latency"]
    created = [str(d["created"]) for d in documents if d.get("created")]
    return ReportData(
        created=max(created) if created else None,
        flops=tuple(flops),
        evals=tuple(evals),
        latency=tuple(latency),
        accuracy_charts=tuple(_accuracy_charts(evals, flops)),
        latency_series=tuple(_latency_series(latency)),
        per_class=tuple(_per_class(evals)),
        published=tuple(_published(records)),
        environments=tuple(_environments(records)),
        provenance=tuple(_provenance(documents, labels)),
        records=tuple(records),
    )


def fmt(value: Any, digits: int = 2) -> str:
    """A number for a table cell: fixed digits, '-' for missing."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if not math.isfinite(value):
            return "-"
        return f"{value:,.{digits}f}"
    return str(value)


def fmt_count(value: Any, unit: float, digits: int = 2) -> str:
    """A large count in a unit (1e9 for GFLOPs, 1e6 for M params)."""
    return fmt(value / unit, digits) if is_number(value) else "-"


def metric_value(metric: str, value: float) -> str:
    if metric in ("flops", "flops_per_frame"):
        return f"{value / 1e9:,.3f} G"
    if metric == "params":
        return f"{value / 1e6:,.3f} M"
    return fmt(float(value), 2)
