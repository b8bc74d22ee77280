"""The CI gate: compare current results with a baseline and say which metrics regressed.

Results are matched by kind, model, backend, device, precision, batch, dataset and protocol
(plus the latency mode and the FLOPs input shape, so that different measurements of one model
are not mixed up). For each matched pair:

* eval: top-1, top-5 and mean class accuracy may drop by at most ``max_accuracy_drop``
  percentage points; fewer videos evaluated than in the baseline also fails (decode failures).
* flops: FLOPs and parameters may change by at most ``max_flops_change`` (a fraction; 0 means
  any change fails, up to float round-off).
* latency: the median may grow by at most ``max_latency_regression`` (a fraction of the
  baseline median) **or** by at most the noise, whichever is larger. The noise of one run is
  its p90 − median gap (falling back to std_ms, then cv × mean_ms); the noise band of a
  comparison is ``noise_factor`` × the larger of the two runs' noise. A slower median that stays
  inside the band is within what the measurement itself cannot resolve and is not a
  regression. A current run that failed (status "error") where the baseline succeeded fails.

Renderers for the terminal live in the CLI; this module gives the JUnit XML and Markdown.
"""
from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any
from xml.etree import ElementTree as ET

from tsmbench.errors import UsageError
from tsmbench.report.markdown import md_cell, md_table

MATCH_FIELDS = ("kind", "model", "backend", "device", "precision", "batch", "dataset", "protocol")
#: Further fields that tell apart measurements of one kind and model when they are present.
EXTRA_MATCH_FIELDS = {"latency": ("mode", "num_segments", "input_size"), "flops": ("num_segments", "input_size"), "eval": ()}
ACCURACY_METRICS = ("top1", "top5", "mean_class_acc")
FLOPS_METRICS = ("flops", "params")
#: p90 − median of a normal distribution is 1.2816 σ; we use the gap itself, not σ, as the noise.
_REL_EPS = 1e-9

PASS, FAIL, SKIP = "pass", "fail", "skipped"


@dataclass(frozen=True)
class Thresholds:
    max_latency_regression: float = 0.05
    max_accuracy_drop: float = 0.5
    max_flops_change: float = 0.0
    noise_factor: float = 1.0
    fail_on_missing: bool = False


@dataclass(frozen=True)
class Check:
    """One metric of one matched result pair, with the verdict and why."""

    kind: str
    model: str
    setting: str
    metric: str
    baseline: float | None
    current: float | None
    status: str
    reason: str

    @property
    def change(self) -> float | None:
        if self.baseline is None or self.current is None:
            return None
        return self.current - self.baseline

    @property
    def relative(self) -> float | None:
        if self.change is None or not self.baseline:
            return None
        return self.change / abs(self.baseline)


@dataclass(frozen=True)
class GateResult:
    checks: tuple[Check, ...]
    thresholds: Thresholds
    missing_in_current: tuple[str, ...] = field(default_factory=tuple)
    new_in_current: tuple[str, ...] = field(default_factory=tuple)
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def failures(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if c.status == FAIL)

    @property
    def passed(self) -> bool:
        return not self.failures and not (self.thresholds.fail_on_missing and self.missing_in_current)

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "thresholds": asdict(self.thresholds),
            "checks": [
                {**asdict(c), "change": c.change, "relative": c.relative} for c in self.checks
            ],
            "failures": len(self.failures),
            "missing_in_current": list(self.missing_in_current),
            "new_in_current": list(self.new_in_current),
            "notes": list(self.notes),
        }


def parse_percent(text: str | float, *, option: str) -> float:
    """'5%' or '5' (percent) as the fraction 0.05; UsageError for anything else or a negative."""
    raw = str(text).strip()
    number = raw[:-1].strip() if raw.endswith("%") else raw
    try:
        value = float(number)
    except ValueError:
        raise UsageError(f"{option} must be a percentage like 5% or 2.5, got {raw!r}") from None
    if not math.isfinite(value) or value < 0:
        raise UsageError(f"{option} must be a non-negative percentage, got {raw!r}")
    return value / 100.0


def _num(v: Any) -> float | None:
    if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
        return float(v)
    return None


def _norm(v: Any) -> Any:
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if isinstance(v, list):
        return tuple(_norm(x) for x in v)
    if isinstance(v, dict):
        return tuple(sorted((k, _norm(x)) for k, x in v.items()))
    return v


def match_key(record: dict[str, Any]) -> tuple[Any, ...]:
    fields = MATCH_FIELDS + EXTRA_MATCH_FIELDS.get(record.get("kind", ""), ())
    return tuple((f, _norm(record.get(f))) for f in fields if record.get(f) is not None)


def describe(record: dict[str, Any]) -> str:
    """The setting of a result in words, without kind and model: 'torch/cpu/fp32 batch 4'."""
    parts = []
    for f in ("dataset", "protocol", "backend", "device", "precision", "mode"):
        if record.get(f) is not None:
            parts.append(str(record[f]))
    if record.get("batch") is not None:
        parts.append(f"batch {_norm(record['batch'])}")
    if record["kind"] == "flops":
        if record.get("num_segments") is not None:
            parts.append(f"{record['num_segments']} segments")
        if record.get("input_size") is not None:
            parts.append(f"input {_norm(record['input_size'])}")
    return " ".join(parts) or "-"


def _label(record: dict[str, Any]) -> str:
    return f"{record['kind']} {record['model']} [{describe(record)}]"


def _index(records: list[dict[str, Any]]) -> dict[tuple[Any, ...], dict[str, Any]]:
    # Duplicate keys (the same measurement twice in one file) pair up in order of occurrence.
    seen: dict[tuple[Any, ...], int] = defaultdict(int)
    out = {}
    for r in records:
        key = match_key(r)
        out[(key, seen[key])] = r
        seen[key] += 1
    return out


def latency_noise(record: dict[str, Any]) -> float:
    """The spread of one latency run in ms: p90 − median, else std_ms, else cv × mean_ms, else 0."""
    median, p90 = _num(record.get("median_ms")), _num(record.get("p90_ms"))
    if median is not None and p90 is not None and p90 >= median:
        return p90 - median
    std = _num(record.get("std_ms"))
    if std is not None:
        return std
    cv, mean = _num(record.get("cv")), _num(record.get("mean_ms"))
    if cv is not None and mean is not None:
        return cv * mean
    return 0.0


def _check_latency(base: dict[str, Any], cur: dict[str, Any], t: Thresholds) -> list[Check]:
    kind, model, setting = "latency", base["model"], describe(base)
    b_ok = base.get("status", "ok") == "ok"
    c_ok = cur.get("status", "ok") == "ok"
    b, c = _num(base.get("median_ms")), _num(cur.get("median_ms"))
    if not b_ok:
        return [Check(kind, model, setting, "median_ms", b, c, SKIP, "the baseline run failed; nothing to compare")]
    if not c_ok:
        err = cur.get("error") or "no error message"
        return [Check(kind, model, setting, "median_ms", b, None, FAIL, f"the current run failed: {err}")]
    if b is None or c is None:
        return [Check(kind, model, setting, "median_ms", b, c, SKIP, "median_ms missing")]
    delta = c - b
    allowed = b * t.max_latency_regression
    noise = t.noise_factor * max(latency_noise(base), latency_noise(cur))
    pct = 100.0 * delta / b if b else math.inf
    if delta > allowed * (1 + _REL_EPS) and delta > noise:
        status = FAIL
        reason = (
            f"{pct:+.1f}% ({delta:+.3f} ms) exceeds the allowed {100 * t.max_latency_regression:g}% "
            f"({allowed:.3f} ms) and the noise band {noise:.3f} ms"
        )
    elif delta > allowed * (1 + _REL_EPS):
        status = PASS
        reason = f"{pct:+.1f}% ({delta:+.3f} ms) is within the noise band {noise:.3f} ms"
    else:
        status = PASS
        reason = f"{pct:+.1f}% is within the allowed {100 * t.max_latency_regression:g}%"
    return [Check(kind, model, setting, "median_ms", b, c, status, reason)]


def _check_eval(base: dict[str, Any], cur: dict[str, Any], t: Thresholds) -> list[Check]:
    model, setting = base["model"], describe(base)
    out = []
    for metric in ACCURACY_METRICS:
        b, c = _num(base.get(metric)), _num(cur.get(metric))
        if b is None and c is None:
            continue
        if b is None or c is None:
            out.append(Check("eval", model, setting, metric, b, c, SKIP, f"{metric} missing on one side"))
            continue
        drop = b - c
        if drop > t.max_accuracy_drop + 1e-9:
            out.append(Check("eval", model, setting, metric, b, c, FAIL,
                             f"dropped {drop:.2f} points (allowed {t.max_accuracy_drop:g})"))
        else:
            out.append(Check("eval", model, setting, metric, b, c, PASS,
                             f"{c - b:+.2f} points (allowed drop {t.max_accuracy_drop:g})"))
    b, c = _num(base.get("num_videos")), _num(cur.get("num_videos"))
    if b is not None and c is not None:
        if c < b:
            out.append(Check("eval", model, setting, "num_videos", b, c, FAIL,
                             f"{int(b - c)} fewer videos were evaluated (decode failures or a changed dataset)"))
        else:
            out.append(Check("eval", model, setting, "num_videos", b, c, PASS, "same or more videos"))
    return out


def _check_flops(base: dict[str, Any], cur: dict[str, Any], t: Thresholds) -> list[Check]:
    model, setting = base["model"], describe(base)
    out = []
    for metric in FLOPS_METRICS:
        b, c = _num(base.get(metric)), _num(cur.get(metric))
        if b is None and c is None:
            continue
        if b is None or c is None:
            out.append(Check("flops", model, setting, metric, b, c, SKIP, f"{metric} missing on one side"))
            continue
        rel = abs(c - b) / abs(b) if b else (0.0 if c == b else math.inf)
        if rel > t.max_flops_change + _REL_EPS:
            out.append(Check("flops", model, setting, metric, b, c, FAIL,
                             f"changed {100 * rel:.4g}% (allowed {100 * t.max_flops_change:g}%)"))
        else:
            out.append(Check("flops", model, setting, metric, b, c, PASS,
                             f"changed {100 * rel:.4g}% (allowed {100 * t.max_flops_change:g}%)"))
    return out


_CHECKERS = {"latency": _check_latency, "eval": _check_eval, "flops": _check_flops}


def compare(baseline: dict[str, Any], current: dict[str, Any], thresholds: Thresholds | None = None) -> GateResult:
    """Compare two validated results documents.

    Raises UsageError (exit code 2) when no result of the current document matches one of the
    baseline, or no matched pair has a metric both sides measured: such a gate would prove nothing.
    """
    t = thresholds or Thresholds()
    base_idx, cur_idx = _index(baseline["results"]), _index(current["results"])
    checks: list[Check] = []
    for key, base in base_idx.items():
        cur = cur_idx.get(key)
        if cur is not None:
            checks += _CHECKERS[base["kind"]](base, cur, t)
    notes = _machine_notes(base_idx, cur_idx)
    missing = tuple(_label(r) for k, r in base_idx.items() if k not in cur_idx)
    new = tuple(_label(r) for k, r in cur_idx.items() if k not in base_idx)
    if not any(c.status in (PASS, FAIL) for c in checks):
        sample_b = "; ".join(_label(r) for r in list(base_idx.values())[:3]) or "nothing"
        sample_c = "; ".join(_label(r) for r in list(cur_idx.values())[:3]) or "nothing"
        raise UsageError(
            "nothing comparable: no current result matches a baseline result by kind, model, backend, "
            f"device, precision, batch, dataset and protocol (baseline has {sample_b}; current has {sample_c})"
        )
    return GateResult(tuple(checks), t, missing, new, notes)


def merge_documents(docs: list[dict[str, Any]]) -> dict[str, Any]:
    """Several validated documents (e.g. the eval and the latency output) as one to compare."""
    if len(docs) == 1:
        return docs[0]
    return {**docs[0], "results": [r for d in docs for r in d["results"]]}


def _machine_notes(base_idx: dict, cur_idx: dict) -> tuple[str, ...]:
    """Warn when latency was measured on different hardware: the comparison then says little."""
    notes = []
    for key, base in base_idx.items():
        cur = cur_idx.get(key)
        if cur is None or base["kind"] != "latency":
            continue
        be, ce = base.get("environment") or {}, cur.get("environment") or {}
        for fact in ("gpu", "cpu"):
            if be.get(fact) and ce.get(fact) and be[fact] != ce[fact]:
                notes.append(
                    f"latency baseline measured on {fact} {be[fact]!r}, current on {ce[fact]!r}: "
                    "compare latency on the same machine (refresh the baseline on this runner)"
                )
                break
    return tuple(dict.fromkeys(notes))


def _fmt(v: float | None) -> str:
    if v is None:
        return "-"
    if abs(v) >= 1e6:
        return f"{v:.6g}"
    return f"{v:.3f}".rstrip("0").rstrip(".") if v != int(v) else f"{int(v)}"


def render_junit(result: GateResult) -> str:
    """JUnit XML: one testcase per checked metric, failures and skips as JUnit knows them."""
    cases = list(result.checks)
    missing = list(result.missing_in_current)
    suite = ET.Element(
        "testsuite",
        name="tsmbench.gate",
        tests=str(len(cases) + len(missing)),
        failures=str(len(result.failures) + (len(missing) if result.thresholds.fail_on_missing else 0)),
        errors="0",
        skipped=str(sum(c.status == SKIP for c in cases) + (0 if result.thresholds.fail_on_missing else len(missing))),
    )
    for c in cases:
        case = ET.SubElement(suite, "testcase", classname=f"tsmbench.{c.kind}.{c.model}", name=f"{c.metric} [{c.setting}]")
        message = f"{c.metric}: baseline {_fmt(c.baseline)}, current {_fmt(c.current)}: {c.reason}"
        if c.status == FAIL:
            ET.SubElement(case, "failure", message=message, type="regression").text = message
        elif c.status == SKIP:
            ET.SubElement(case, "skipped", message=message)
        else:
            ET.SubElement(case, "system-out").text = message
    for label in missing:
        case = ET.SubElement(suite, "testcase", classname="tsmbench.missing", name=label)
        msg = "in the baseline but not in the current results"
        if result.thresholds.fail_on_missing:
            ET.SubElement(case, "failure", message=msg, type="missing").text = msg
        else:
            ET.SubElement(case, "skipped", message=msg)
    root = ET.Element("testsuites", name="tsmbench gate")
    root.append(suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _rows(checks: list[Check]) -> list[list[str]]:
    return [
        [c.kind, c.model, c.setting, c.metric, _fmt(c.baseline), _fmt(c.current),
         "-" if c.relative is None else f"{100 * c.relative:+.2f}%", c.reason]
        for c in checks
    ]


HEADER = ["kind", "model", "setting", "metric", "baseline", "current", "change", "verdict"]


def render_markdown(result: GateResult) -> str:
    """A Markdown summary for $GITHUB_STEP_SUMMARY or a pull-request comment."""
    t = result.thresholds
    verdict = "passed" if result.passed else "failed"
    icon = "\u2705" if result.passed else "\u274c"
    lines = [
        f"## {icon} tsmbench gate {verdict}",
        "",
        f"{len(result.checks)} metrics compared, {len(result.failures)} regressed. Allowed: latency "
        f"+{100 * t.max_latency_regression:g}% beyond the noise (x{t.noise_factor:g}), accuracy "
        f"-{t.max_accuracy_drop:g} points, FLOPs/params \u00b1{100 * t.max_flops_change:g}%.",
    ]
    if result.failures:
        lines += ["", "### Regressions", "", md_table(HEADER, _rows(list(result.failures)), align="llllrrrl")]
    if result.missing_in_current:
        lines += ["", f"### In the baseline but not measured now ({len(result.missing_in_current)})", ""]
        lines += [f"- {md_cell(m)}" for m in result.missing_in_current]
    if result.new_in_current:
        lines += ["", f"New results without a baseline: {len(result.new_in_current)}."]
    for note in result.notes:
        lines += ["", f"> **Note:** {md_cell(note)}"]
    others = [c for c in result.checks if c.status != FAIL]
    if others:
        lines += ["", "<details><summary>All other checks</summary>", "",
                  md_table(HEADER, _rows(others), align="llllrrrl"), "", "</details>"]
    return "\n".join(lines) + "\n"


def table_rows(result: GateResult, *, only_failures: bool = False) -> list[list[str]]:
    """Rows for a terminal table (the CLI prints them with rich)."""
    checks = list(result.failures) if only_failures else list(result.checks)
    return [[c.status, *row] for c, row in zip(checks, _rows(checks))]
