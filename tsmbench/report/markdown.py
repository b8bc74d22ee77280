"""The Markdown report: short enough for a pull-request comment or $GITHUB_STEP_SUMMARY.

GitHub renders HTML inside Markdown, so every cell is HTML-escaped as well as pipe-escaped.
"""
from __future__ import annotations

import html
import re
from collections.abc import Sequence
from typing import Any

from tsmbench.report.collect import ReportData, fmt, fmt_count, metric_value


def md_cell(value: Any) -> str:
    """Text that stays inside one table cell and never becomes markup."""
    text = html.escape(str(value), quote=False).replace("\r", " ").replace("\n", " ")
    # Backslashes, backticks, emphasis and links would be interpreted by Markdown; escape them too.
    text = re.sub(r"([\\`*\[\]])", r"\\\1", text)
    return text.replace("|", "\\|")


def md_table(header: Sequence[str], rows: Sequence[Sequence[Any]], *, align: str | None = None) -> str:
    lines = ["| " + " | ".join(md_cell(h) for h in header) + " |"]
    spec = align or "l" * len(header)
    lines.append("|" + "|".join("---:" if a == "r" else ":---" for a in spec) + "|")
    for row in rows:
        lines.append("| " + " | ".join(md_cell(c) for c in row) + " |")
    return "\n".join(lines)


def code_block(text: str) -> str:
    """A fenced block whose fence is longer than any backtick run in the text."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}\n{text}\n{fence}"


def render_markdown(data: ReportData, *, title: str = "tsmbench report") -> str:
    out = [f"## {md_cell(title)}", ""]
    out.append(
        f"{len(data.flops)} FLOPs, {len(data.evals)} accuracy and {len(data.latency)} latency results"
        + (f"; latest measured {md_cell(data.created)}." if data.created else ".")
    )
    if data.evals:
        out += ["", "### Accuracy", ""]
        out.append(md_table(
            ["model", "dataset", "protocol", "videos", "top-1 %", "top-5 %", "mean class %"],
            [[r["model"], r.get("dataset") or "-", r.get("protocol") or "-", fmt(r.get("num_videos")),
              fmt(r.get("top1")), fmt(r.get("top5")), fmt(r.get("mean_class_acc"))] for r in data.evals],
            align="lllrrrr",
        ))
    if data.flops:
        out += ["", "### FLOPs", ""]
        out.append(md_table(
            ["model", "GFLOPs", "params (M)", "segments", "convention"],
            [[r["model"], fmt_count(r.get("flops"), 1e9, 3), fmt_count(r.get("params"), 1e6, 3),
              fmt(r.get("num_segments")), r.get("convention") or "-"] for r in data.flops],
            align="lrrrl",
        ))
    if data.latency:
        out += ["", "### Latency", ""]
        out.append(md_table(
            ["model", "backend", "device", "precision", "batch", "median ms", "p90 ms", "clips/s", "status"],
            [[r["model"], r.get("backend") or "-", r.get("device") or "-", r.get("precision") or "-",
              fmt(r.get("batch")), fmt(r.get("median_ms"), 3), fmt(r.get("p90_ms"), 3),
              fmt(r.get("throughput_clips_per_s")),
              "ok" if r.get("status", "ok") == "ok" else f"{r.get('status')}: {r.get('error') or ''}"]
             for r in data.latency],
            align="llllrrrrl",
        ))
    for chart in data.accuracy_charts:
        front = sorted(chart.front, key=lambda p: p.gflops)
        out += ["", f"**Pareto front on {md_cell(chart.dataset)}** (accuracy against FLOPs): "
                + ", ".join(f"{md_cell(p.model)} ({p.top1:.2f}% at {p.gflops:.2f} GFLOPs)" for p in front)]
    if data.published:
        out += ["", "### Published against measured", ""]
        out.append(md_table(
            ["model", "metric", "published", "measured", "difference", "source"],
            [[p.model, p.metric, metric_value(p.metric, p.published), metric_value(p.metric, p.measured),
              f"{p.difference:+.2f}" if p.kind == "eval" else metric_value(p.metric, p.difference),
              p.source or "-"] for p in data.published],
            align="llrrrl",
        ))
    commands = [p.command for p in data.provenance if p.command]
    if commands:
        # An HTML block with escaped text: nothing in a command can become markup, in any renderer.
        body = "\n".join(html.escape(c.replace("\r", " ").replace("\n", " "), quote=False) for c in commands)
        out += ["", "<details><summary>Commands to reproduce</summary>", f"<pre><code>{body}</code></pre>", "</details>"]
    return "\n".join(out) + "\n"
