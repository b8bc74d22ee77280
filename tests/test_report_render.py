"""`tsmbench report` renderers (HTML, Markdown, CSV) without a browser; see test_report_browser.py."""
from __future__ import annotations

import io
import re
import subprocess
import sys

import pandas as pd
import pytest
from typer.testing import CliRunner

from test_report_samples import (
    HOSTILE_CLASS,
    HOSTILE_MODEL,
    benchmark_document,
    document,
    eval_record,
    flops_record,
    hostile_document,
    write,
)
from tsmbench.cli.app import app
from tsmbench.report.collect import collect, pareto_front
from tsmbench.report.csv import render_csv
from tsmbench.report.html import render_html
from tsmbench.report.markdown import render_markdown
from tsmbench.results import store

runner = CliRunner()


def test_pareto_front_keeps_only_undominated_points() -> None:
    pts = [(1.0, 50.0), (2.0, 70.0), (3.0, 60.0), (0.5, 40.0), (4.0, 80.0), (2.0, 65.0)]
    assert sorted(pareto_front(pts)) == [0, 1, 3, 4]


def test_collect_joins_eval_and_flops_by_model_and_marks_the_front() -> None:
    data = collect([benchmark_document()])
    (chart,) = data.accuracy_charts
    assert {p.model: (p.gflops, p.top1) for p in chart.points} == {
        "tsm_resnet_tiny": (0.9, 87.5), "tsn_resnet_tiny": (0.9, 50.0), "tsm_mobilenetv2": (2.6, 80.0),
    }
    assert [p.model for p in chart.front] == ["tsm_resnet_tiny"]
    series = {(s.model, s.backend): s for s in data.latency_series}
    assert series[("tsm_resnet_tiny", "torch")].batches == (1.0, 2.0, 4.0)
    assert series[("tsm_resnet_tiny", "onnxruntime")].median_ms == (11.0,)
    pub = {(p.model, p.metric): p for p in data.published}
    assert pub[("tsm_resnet_tiny", "top1")].difference == pytest.approx(-2.5)
    assert pub[("tsm_mobilenetv2", "params")].published == pytest.approx(2.736e6)


def test_a_zoo_id_eval_joins_the_flops_of_its_architecture() -> None:
    doc = document([flops_record("tsm_r50", 32.9e9, 24.3e6), eval_record("tsm_r50.k400_8f_mit", 71.2)])
    (chart,) = collect([doc]).accuracy_charts
    assert chart.points[0].gflops == pytest.approx(32.9)


@pytest.mark.parametrize("tops", [(87.5, 50.0, 80.0, 95.0), (0.0, 100.0, 33.3, 33.3), (70.0, 70.0, 70.0, 70.0)])
def test_every_chart_point_lies_inside_the_plot_area(tops) -> None:
    from tsmbench.report.charts import HEIGHT, MARGIN_B, MARGIN_L, MARGIN_R, MARGIN_T, WIDTH, accuracy_flops_svg

    doc = document([r for i, t in enumerate(tops) for r in (flops_record(f"m{i}", (i + 0.5) * 1e9, 1e6),
                                                             eval_record(f"m{i}", t))])
    (chart,) = collect([doc]).accuracy_charts
    svg = accuracy_flops_svg(chart)
    points = [(float(x), float(y)) for x, y in re.findall(r'<circle cx="([-\d.]+)" cy="([-\d.]+)"', svg)]
    assert len(points) == len(tops)
    for x, y in points:
        assert MARGIN_L <= x <= WIDTH - MARGIN_R and MARGIN_T <= y <= HEIGHT - MARGIN_B, (x, y)


def test_html_is_self_contained_and_escapes_hostile_strings() -> None:
    page = render_html(collect([hostile_document()]))
    # One script (ours), no external resource of any kind.
    assert len(re.findall(r"<script\b", page)) == 1
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", page)
    assert "<link" not in page and "@import" not in page
    assert "Content-Security-Policy" in page and "default-src 'none'" in page
    # Hostile text appears escaped, never as markup.
    assert HOSTILE_MODEL not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<img" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    # Charts are drawn as inline SVG with one point per model.
    # accuracy on 2 datasets, latency, per-class for 2 evals
    assert page.count('<svg xmlns="http://www.w3.org/2000/svg"') == 5
    assert 'class="chart-point on-front"' in page


def test_markdown_escapes_html_and_pipes() -> None:
    doc = hostile_document()
    doc["results"][3]["model"] = "a|b"
    md = render_markdown(collect([doc]))
    assert "<script>" not in md and "&lt;script&gt;alert(1)&lt;/script&gt;" in md
    assert "a\\|b" in md
    assert "<img" not in md
    # Every table row has the same number of unescaped cell separators as its header.
    for block in re.findall(r"(?:^\|.*\|$\n?)+", md, flags=re.M):
        counts = {len(re.findall(r"(?<!\\)\|", line)) for line in block.strip().splitlines()}
        assert len(counts) == 1, block


def test_csv_has_one_row_per_result_and_defuses_formulas() -> None:
    doc = benchmark_document()
    doc["results"][0]["model"] = "=HYPERLINK(\"http://x\")"
    text = render_csv(list(doc["results"]))
    frame = pd.read_csv(io.StringIO(text))
    assert len(frame) == len(doc["results"])
    assert frame.loc[0, "model"].startswith("'=")
    assert frame["num_segments"].dropna().astype(int).tolist() == [8, 8, 8]


def test_report_cli_from_files_and_from_the_store(tmp_path) -> None:
    f = write(tmp_path / "bench.json", benchmark_document())
    out = tmp_path / "out" / "report.html"
    res = runner.invoke(app, ["report", "--input", str(f), "-o", str(out)])
    assert res.exit_code == 0, res.output
    page = out.read_text()
    assert "tsmbench eval --bundled --json" in page  # the command to reproduce

    run_id = store.record_run(benchmark_document(), command=["tsmbench", "latency", "--batch", "1,2,4"])
    md = tmp_path / "report.md"
    res = runner.invoke(app, ["report", "--latest", "-o", str(md)])
    assert res.exit_code == 0, res.output
    text = md.read_text()
    assert text.startswith("## tsmbench report") and "tsmbench latency --batch 1,2,4" in text
    res = runner.invoke(app, ["report", "--runs", run_id[:15], "-o", "-", "--format", "csv"])
    assert res.exit_code == 0 and len(pd.read_csv(io.StringIO(res.stdout))) == 13

    res = runner.invoke(app, ["report", "-o", str(tmp_path / "x.html")])
    assert res.exit_code == 2 and "--input FILE" in res.output
    res = runner.invoke(app, ["report", "--input", str(f), "-o", str(tmp_path / "x"), "--format", "pdf"])
    assert res.exit_code == 2


def test_report_end_to_end_in_a_subprocess(tmp_path) -> None:
    f = write(tmp_path / "hostile.json", hostile_document())
    out = tmp_path / "r.html"
    proc = subprocess.run(
        [sys.executable, "-m", "tsmbench", "report", "--input", str(f), "-o", str(out)],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in out.read_text()
    assert HOSTILE_CLASS not in out.read_text()


def test_eval_and_flops_variants_written_by_the_measuring_commands() -> None:
    # The eval command names classes "name" and lists published figures; flops notes a head-less count.
    ev = eval_record("tsm_r50", 70.0, published=[{"top1": 71.2, "source": "MIT"}, {"top1": 72.8, "source": "10-crop"}])
    ev["per_class"] = [{"index": 0, "name": "abseiling", "count": 2, "top1": 50.0}]
    fl = flops_record("tsm_r50", 33.0e9, 24.3e6, flops_without_head=32.9e9,
                      published={"flops": 32.88e9, "params": 24.33e6, "source": "MMAction2", "note": "head excluded"})
    data = collect([document([ev, fl])])
    assert data.per_class[0].rows == (("abseiling", 50.0, 2),)
    pub = {(p.metric, p.source): p for p in data.published}
    assert pub[("top1", "10-crop")].difference == pytest.approx(-2.8)
    assert pub[("flops", "MMAction2")].measured == pytest.approx(32.9e9)  # the head-less count
    assert pub[("params", "MMAction2")].measured == pytest.approx(24.3e6)
