"""The HTML report in a real browser: headless Chromium draws it, runs its script, and shows
hostile strings as text.

Skipped only when no Chromium binary exists (install it with `apt-get install -y chromium`;
.ci/run does). Each Chromium start costs about a second on two cores, so the tests share pages.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from test_report_samples import HOSTILE_MODEL, benchmark_document, document, eval_record, flops_record, hostile_document
from tsmbench.report.charts import FRONT_COLOR, PALETTE
from tsmbench.report.collect import collect
from tsmbench.report.html import render_html

PWN_MODEL = "<script>document.documentElement.setAttribute('data-pwned','script')</script>"
PWN_CLASS = "\"><img src=x onerror=\"document.documentElement.setAttribute('data-pwned','img')\">"


def _chromium() -> str | None:
    for name in (os.environ.get("CHROME_BIN"), "chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


CHROMIUM = _chromium()
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary (apt-get install -y chromium)")


def _run(page: Path, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
    cmd = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0", "--hide-scrollbars",
        *args, page.resolve().as_uri(),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc


def _console_messages(stderr: str) -> list[str]:
    # Chromium logs every console message and uncaught exception as "...:CONSOLE:<line>] ..." lines.
    return [line for line in stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]


def _pwn_document() -> dict:
    doc = hostile_document()
    doc["results"] += [
        flops_record(PWN_MODEL, 3.0e9, 3.0e6),
        eval_record(PWN_MODEL, 60.0, classes=[PWN_CLASS, "b", "c", "d"]),
    ]
    return doc


@pytest.fixture(scope="module")
def hostile_page(tmp_path_factory) -> Path:
    page = tmp_path_factory.mktemp("report") / "hostile.html"
    page.write_text(render_html(collect([_pwn_document()])), encoding="utf-8")
    return page


def test_detection_of_console_errors_works_in_this_browser(tmp_path) -> None:
    # A control page: if this stops finding the error, the clean-console check below proves nothing.
    page = tmp_path / "control.html"
    page.write_text("<html><body><script>throw new Error('tsmbench-control')</script></body></html>")
    proc = _run(page, tmp_path, "--dump-dom")
    assert any("Uncaught Error: tsmbench-control" in m for m in _console_messages(proc.stderr))


def test_report_script_runs_without_console_errors_and_hostile_strings_stay_text(hostile_page, tmp_path) -> None:
    proc = _run(hostile_page, tmp_path, "--dump-dom")
    dom = proc.stdout
    assert _console_messages(proc.stderr) == []
    # Our own script ran (the CSP hash matches it) and made the tables sortable.
    html_tag = re.search(r"<html[^>]*>", dom).group(0)
    assert re.search(r'data-report-ready="([1-9]\d*)"', html_tag)
    # Nothing injected ran or was created: no marker attribute, a single script element, no img.
    assert "data-pwned" not in html_tag
    assert len(re.findall(r"<script\b", dom)) == 1
    assert re.search(r"<img\b", dom) is None
    # The hostile strings are there, as text.
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in dom
    assert "&lt;script&gt;document.documentElement.setAttribute('data-pwned','script')&lt;/script&gt;" in dom
    assert "\"&gt;&lt;img src=x onerror=alert(1)&gt;" in dom
    # Charts were parsed into SVG elements: one point per model on each chart.
    assert len(re.findall(r"<svg\b", dom)) >= 4
    assert len(re.findall(r"<circle\b", dom)) >= 5


def _count_near(image, rgb: tuple[int, int, int], tol: int = 10) -> int:
    import numpy as np

    pixels = np.asarray(image, dtype=np.int16)
    return int((np.abs(pixels - np.array(rgb, dtype=np.int16)) <= tol).all(axis=-1).sum())


def _hex(color: str) -> tuple[int, int, int]:
    return tuple(int(color[i:i + 2], 16) for i in (1, 3, 5))  # type: ignore[return-value]


def test_screenshot_shows_the_charts(tmp_path) -> None:
    from PIL import Image

    doc = benchmark_document()
    # A second model on the front so that the dashed Pareto line is drawn too.
    doc["results"].append(flops_record("tsm_bigger", 5.0e9, 5.0e6))
    doc["results"].append(eval_record("tsm_bigger", 95.0))
    pages = {"charts": collect([doc]), "empty": collect([document([])])}
    counts = {}
    for name, data in pages.items():
        page = tmp_path / f"{name}.html"
        page.write_text(render_html(data), encoding="utf-8")
        shot = tmp_path / f"{name}.png"
        proc = _run(page, tmp_path, f"--screenshot={shot}", "--window-size=1280,3200")
        assert _console_messages(proc.stderr) == []
        image = Image.open(shot).convert("RGB")
        assert image.size == (1280, 3200)
        counts[name] = {c: _count_near(image, _hex(c)) for c in (PALETTE[0], PALETTE[1], FRONT_COLOR)}
    drawn, blank = counts["charts"], counts["empty"]
    # Series lines, points and bars in the first two palette colours; front points and line in red.
    assert drawn[PALETTE[0]] > 1500, drawn
    assert drawn[PALETTE[1]] > 800, drawn
    assert drawn[FRONT_COLOR] > 300, drawn
    # Without results no chart colour is on the page: the counts above come from the charts.
    assert all(v < 50 for v in blank.values()), blank
    assert HOSTILE_MODEL  # the hostile sample is exercised by the DOM test above
