"""The self-contained HTML report: inline CSS, inline SVG charts and one small inline script.

The page makes no network request: a Content-Security-Policy allows no source except inline
styles, data: images and our own script (by its sha256), so even a string that escaped
escaping could neither run nor fetch anything. Escaping is Jinja2's autoescape; charts escape
their text themselves (see charts.esc).
"""
from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

from tsmbench import __version__
from tsmbench.report import charts
from tsmbench.report.collect import PerClass, ReportData, collect, fmt, fmt_count, metric_value

DEFAULT_TITLE = "tsmbench report"


@dataclass(frozen=True)
class _ChartView:
    dataset: str
    svg: Any
    front: tuple[str, ...]


@dataclass(frozen=True)
class _PerClassView:
    model: str
    dataset: str
    rows: tuple[tuple[str, float, int | None], ...]
    svg: Any
    clipped: bool
    shown: int


@lru_cache(maxsize=None)
def _asset(name: str) -> str:
    return resources.files("tsmbench.report").joinpath("assets", name).read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def _environment():
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader("tsmbench.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=False,
        lstrip_blocks=False,
    )


def _csp(script: str) -> str:
    digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii")
    return (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
        f"script-src 'sha256-{digest}'; base-uri 'none'; form-action 'none'"
    )


def render_html(data: ReportData, *, title: str = DEFAULT_TITLE) -> str:
    """The report page for collected results, as one HTML string."""
    from markupsafe import Markup

    accuracy = [
        _ChartView(c.dataset, Markup(charts.accuracy_flops_svg(c)), tuple(p.model for p in c.front))
        for c in data.accuracy_charts
    ]
    latency_chart = Markup(charts.latency_batch_svg(data.latency_series)) if data.latency_series else None
    per_class = []
    for pc in data.per_class:
        svg, clipped = charts.per_class_svg(pc)
        per_class.append(_PerClassView(pc.model, pc.dataset, pc.rows, Markup(svg), clipped, 40 if clipped else len(pc.rows)))
    js = _asset("report.js")
    template = _environment().get_template("report.html.j2")
    return template.render(
        title=title,
        version=__version__,
        data=data,
        counts={"flops": len(data.flops), "eval": len(data.evals), "latency": len(data.latency)},
        accuracy_charts=accuracy,
        latency_chart=latency_chart,
        per_class=per_class,
        css=Markup(_asset("report.css")),
        js=Markup(js),
        csp=Markup(_csp(js)),
        fmt=fmt,
        fmt_count=fmt_count,
        metric_value=metric_value,
    )


def html_report(documents: list[dict[str, Any]], labels: list[str] | None = None, *, title: str = DEFAULT_TITLE) -> str:
    """Collect and render in one call."""
    return render_html(collect(documents, labels), title=title)


__all__ = ["render_html", "html_report", "PerClass"]
