"""Inline SVG charts drawn in Python, so a report needs no script or network to show them.

Every piece of text that reaches the SVG (model names, class labels, axis titles) goes through
`esc`, because model names and class labels come from files a user may not control.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

from tsmbench.report.collect import AccuracyChart, LatencySeries, PerClass

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22")
FRONT_COLOR = "#d62728"
WIDTH, HEIGHT = 680, 380
MARGIN_L, MARGIN_R, MARGIN_T, MARGIN_B = 64, 24, 20, 52


def esc(text: object) -> str:
    return escape(str(text), quote=True)


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """Round tick values covering [lo, hi]."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return [0.0]
    if hi <= lo:
        hi = lo + (abs(lo) or 1.0)
    raw = (hi - lo) / max(n, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.floor(lo / step) * step
    # From the last tick at or below lo to the first tick at or above hi, so the data fits inside.
    count = max(1, math.ceil((hi - start) / step - 1e-9))
    return [round(start + i * step, 10) for i in range(count + 1)]


def _tick_label(v: float) -> str:
    return f"{v:g}" if abs(v) < 1e5 else f"{v:.3g}"


class _Axes:
    """Linear or log2 mapping from data to pixel coordinates inside the plot area."""

    def __init__(self, xs: Sequence[float], ys: Sequence[float], *, logx: bool = False, y_from_zero: bool = False):
        self.logx = logx
        tx = [self._fx(x) for x in xs]
        lo, hi = min(tx), max(tx)
        pad = (hi - lo) * 0.08 or 0.5
        self.xticks = [v for v in nice_ticks(lo - pad, hi + pad)] if not logx else list(
            range(math.floor(lo), math.ceil(hi) + 1)
        )
        self.x0, self.x1 = (min(self.xticks[0], lo - pad), max(self.xticks[-1], hi + pad)) if not logx else (lo - 0.5, hi + 0.5)
        ylo, yhi = min(ys), max(ys)
        if y_from_zero:
            ylo = min(0.0, ylo)
        ypad = (yhi - ylo) * 0.08 or max(abs(yhi) * 0.1, 1.0)
        self.yticks = nice_ticks(ylo - (0 if y_from_zero else ypad), yhi + ypad)
        self.y0, self.y1 = self.yticks[0], self.yticks[-1]

    def _fx(self, x: float) -> float:
        return math.log2(x) if self.logx else x

    def px(self, x: float) -> float:
        t = (self._fx(x) - self.x0) / ((self.x1 - self.x0) or 1.0)
        return MARGIN_L + t * (WIDTH - MARGIN_L - MARGIN_R)

    def py(self, y: float) -> float:
        t = (y - self.y0) / ((self.y1 - self.y0) or 1.0)
        return HEIGHT - MARGIN_B - t * (HEIGHT - MARGIN_T - MARGIN_B)

    def frame(self, xlabel: str, ylabel: str) -> list[str]:
        out = [
            f'<rect x="{MARGIN_L}" y="{MARGIN_T}" width="{WIDTH - MARGIN_L - MARGIN_R}" '
            f'height="{HEIGHT - MARGIN_T - MARGIN_B}" class="plot-area"/>'
        ]
        for v in self.yticks:
            y = self.py(v)
            out.append(f'<line x1="{MARGIN_L}" x2="{WIDTH - MARGIN_R}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>')
            out.append(f'<text x="{MARGIN_L - 6}" y="{y + 4:.1f}" text-anchor="end" class="tick">{esc(_tick_label(v))}</text>')
        for v in self.xticks:
            x = self.px(2**v if self.logx else v)
            if not (MARGIN_L - 0.5 <= x <= WIDTH - MARGIN_R + 0.5):
                continue
            label = _tick_label(2**v) if self.logx else _tick_label(v)
            out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{MARGIN_T}" y2="{HEIGHT - MARGIN_B}" class="grid"/>')
            out.append(f'<text x="{x:.1f}" y="{HEIGHT - MARGIN_B + 16}" text-anchor="middle" class="tick">{esc(label)}</text>')
        out.append(
            f'<text x="{(MARGIN_L + WIDTH - MARGIN_R) / 2:.0f}" y="{HEIGHT - 12}" text-anchor="middle" class="axis-title">{esc(xlabel)}</text>'
        )
        out.append(
            f'<text transform="translate(16 {(MARGIN_T + HEIGHT - MARGIN_B) / 2:.0f}) rotate(-90)" text-anchor="middle" class="axis-title">{esc(ylabel)}</text>'
        )
        return out


def _svg(body: list[str], *, title: str, kind: str, height: int = HEIGHT, width: int = WIDTH) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart chart-{esc(kind)}" role="img" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}">'
        f"<title>{esc(title)}</title>" + "".join(body) + "</svg>"
    )


def accuracy_flops_svg(chart: AccuracyChart) -> str:
    """Top-1 against GFLOPs, with the Pareto front drawn as a stepped red line."""
    pts = chart.points
    axes = _Axes([p.gflops for p in pts], [p.top1 for p in pts])
    body = axes.frame("GFLOPs per clip", "top-1 accuracy (%)")
    front = sorted(chart.front, key=lambda p: p.gflops)
    if len(front) > 1:
        coords = []
        for a, b in zip(front, front[1:]):
            coords += [(axes.px(a.gflops), axes.py(a.top1)), (axes.px(b.gflops), axes.py(a.top1))]
        coords.append((axes.px(front[-1].gflops), axes.py(front[-1].top1)))
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
        body.append(f'<polyline points="{path}" class="pareto" stroke="{FRONT_COLOR}"/>')
    for p in pts:
        x, y = axes.px(p.gflops), axes.py(p.top1)
        color = FRONT_COLOR if p.on_front else PALETTE[0]
        tip = f"{p.model}: {p.top1:.2f}% top-1 at {p.gflops:.2f} GFLOPs" + (" (Pareto front)" if p.on_front else "")
        body.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="6" fill="{color}" class="chart-point{" on-front" if p.on_front else ""}">'
            f"<title>{esc(tip)}</title></circle>"
        )
        # Labels of points near the right edge go to the left of the point so they stay visible.
        if x > WIDTH * 0.65:
            body.append(f'<text x="{x - 9:.1f}" y="{y - 7:.1f}" text-anchor="end" class="point-label">{esc(p.model)}</text>')
        else:
            body.append(f'<text x="{x + 9:.1f}" y="{y - 7:.1f}" class="point-label">{esc(p.model)}</text>')
    return _svg(body, title=f"Accuracy against FLOPs on {chart.dataset}", kind="accuracy")


def latency_batch_svg(series: Sequence[LatencySeries]) -> str:
    """Median latency against batch size (log2 axis), one line per model/backend/device."""
    xs = [b for s in series for b in s.batches]
    ys = [v for s in series for v in s.median_ms] + [v for s in series for v in s.p90_ms if v is not None]
    logx = all(b > 0 for b in xs) and len(set(xs)) > 1
    axes = _Axes(xs, ys, logx=logx, y_from_zero=True)
    body = axes.frame("batch size (clips)", "median latency (ms)")
    for i, s in enumerate(series):
        color = PALETTE[i % len(PALETTE)]
        coords = [(axes.px(b), axes.py(m)) for b, m in zip(s.batches, s.median_ms)]
        if len(coords) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
            body.append(f'<polyline points="{path}" class="series-line" stroke="{color}"/>')
        for (x, y), b, m, p90 in zip(coords, s.batches, s.median_ms, s.p90_ms):
            if p90 is not None:
                body.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{y:.1f}" y2="{axes.py(p90):.1f}" class="whisker" stroke="{color}"/>')
            tip = f"{s.label}: batch {b:g}, median {m:.3f} ms" + (f", p90 {p90:.3f} ms" if p90 is not None else "")
            body.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="5" fill="{color}" class="chart-point"><title>{esc(tip)}</title></circle>')
    legend_y = MARGIN_T + 14
    for i, s in enumerate(series[:8]):
        color = PALETTE[i % len(PALETTE)]
        y = legend_y + i * 16
        body.append(f'<rect x="{MARGIN_L + 10}" y="{y - 9}" width="10" height="10" fill="{color}"/>')
        body.append(f'<text x="{MARGIN_L + 26}" y="{y}" class="legend">{esc(_clip(s.label, 70))}</text>')
    if len(series) > 8:
        body.append(f'<text x="{MARGIN_L + 10}" y="{legend_y + 8 * 16}" class="legend">and {len(series) - 8} more series</text>')
    return _svg(body, title="Latency against batch size", kind="latency")


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "\u2026"


def per_class_svg(pc: PerClass, *, limit: int = 40) -> tuple[str, bool]:
    """Horizontal bars of per-class top-1 (worst first); with many classes only the ends are drawn.

    Returns the SVG and whether classes were left out.
    """
    rows = sorted(pc.rows, key=lambda r: (r[1], r[0]))
    clipped = len(rows) > limit
    if clipped:
        rows = rows[: limit // 2] + rows[-(limit // 2):]
    bar_h, gap, label_w, width = 16, 4, 220, WIDTH
    height = MARGIN_T + len(rows) * (bar_h + gap) + 30
    plot_w = width - label_w - 70
    body = [f'<rect x="{label_w}" y="{MARGIN_T - 4}" width="{plot_w}" height="{len(rows) * (bar_h + gap) + 4}" class="plot-area"/>']
    for v in (0, 25, 50, 75, 100):
        x = label_w + plot_w * v / 100
        body.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{MARGIN_T - 4}" y2="{height - 26}" class="grid"/>')
        body.append(f'<text x="{x:.1f}" y="{height - 12}" text-anchor="middle" class="tick">{v}%</text>')
    for i, (name, top1, count) in enumerate(rows):
        y = MARGIN_T + i * (bar_h + gap)
        w = plot_w * max(0.0, min(top1, 100.0)) / 100
        color = PALETTE[0] if top1 >= 50 else PALETTE[1]
        tip = f"{name}: {top1:.1f}% top-1" + (f" over {count} videos" if count is not None else "")
        body.append(f'<text x="{label_w - 6}" y="{y + bar_h - 4}" text-anchor="end" class="tick">{esc(_clip(name, 32))}</text>')
        body.append(f'<rect x="{label_w}" y="{y}" width="{max(w, 1.0):.1f}" height="{bar_h}" fill="{color}" class="bar"><title>{esc(tip)}</title></rect>')
        body.append(f'<text x="{label_w + w + 4:.1f}" y="{y + bar_h - 4}" class="tick">{top1:.1f}</text>')
    title = f"Per-class top-1 of {pc.model}" + (f" on {pc.dataset}" if pc.dataset else "")
    return _svg(body, title=title, kind="per-class", height=height, width=width), clipped
