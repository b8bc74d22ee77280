"""The bundled benchmark: `tsmbench eval` with no arguments.

Generates (or reuses) the synthetic validation set, evaluates the bundled TSM and TSN through
the ordinary evaluation API, prints them side by side (overall and per direction pair) and
writes the report files. Offline, CPU only, well under three minutes on two cores.

Per pair, besides top-1 it reports two shares that separate *what* from *which way*:
`pair_acc` (the prediction is one of the pair's two classes) and `order_acc` (of those, the
right one). A model that averages per-frame predictions has an order accuracy near 50%.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Sequence

#: The bundled checkpoints (zoo/<id>.yaml), TSM first.
BUNDLED_MODELS: tuple[str, ...] = ("tsm_resnet_tiny.synthetic", "tsn_resnet_tiny.synthetic")
DATASET = "synthetic"


def pair_metrics(predictions: Sequence[Any], pairs: Sequence[str]) -> list[dict[str, Any]]:
    """Per direction pair: top-1, pair accuracy and order accuracy (percent), from predictions.

    Labels 2k and 2k+1 form pair k. `order_acc` is None when no prediction fell in the pair.
    """
    rows = []
    for k, name in enumerate(pairs):
        preds = [p for p in predictions if p.label // 2 == k]
        in_pair = [p for p in preds if p.top1 // 2 == k]
        correct = sum(p.top1 == p.label for p in preds)
        rows.append({
            "pair": name,
            "count": len(preds),
            "top1": 100.0 * correct / len(preds) if preds else None,
            "pair_acc": 100.0 * len(in_pair) / len(preds) if preds else None,
            "order_acc": 100.0 * correct / len(in_pair) if in_pair else None,
        })
    return rows


def _order_overall(predictions: Sequence[Any]) -> float | None:
    in_pair = [p for p in predictions if p.top1 // 2 == p.label // 2]
    return 100.0 * sum(p.top1 == p.label for p in in_pair) / len(in_pair) if in_pair else None


def _load_model(model_id: str) -> Any:
    """The bundled model with its weights, through the zoo (path source, verified sha256)."""
    from tsmbench import create_model

    return create_model(model_id, pretrained=True)


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.1f}"


def _short(record: dict[str, Any]) -> str:
    """TSM / TSN from the architecture name, else the model id."""
    arch = str(record.get("arch") or record["model"])
    return arch.split("_")[0].upper() if "_" in arch else arch


def side_by_side_table(records: Sequence[dict[str, Any]]) -> Any:
    """A rich Table: top-1 and within-pair order accuracy per model, overall then per pair."""
    from rich.table import Table

    table = Table(
        title="Bundled benchmark: synthetic direction pairs (%, uniform 8 frames, 1 centre crop)",
        caption="order = right direction among clips whose pair was recognised (50 = chance)",
    )
    table.add_column("")
    names = [_short(r) for r in records]
    for n in names:
        table.add_column(f"{n} top-1", justify="right")
    for n in names:
        table.add_column(f"{n} order", justify="right")
    table.add_row("overall", *[_fmt(r["top1"]) for r in records], *[_fmt(r.get("order_acc")) for r in records],
                  end_section=True)
    for i, pair in enumerate(records[0]["per_pair"]):
        table.add_row(
            pair["pair"],
            *[_fmt(r["per_pair"][i]["top1"]) for r in records],
            *[_fmt(r["per_pair"][i]["order_acc"]) for r in records],
        )
    return table


def write_reports(document: dict[str, Any], folder: Path) -> list[Path]:
    """results.json always; report.html and report.md when tsmbench.report is available."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []

    def put(name: str, text: str) -> None:
        tmp = folder / f".{name}.tmp"
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, folder / name)
        written.append(folder / name)

    from tsmbench.cli.common import to_json

    put("results.json", to_json(document) + "\n")
    try:
        from tsmbench.report.html import html_report
    except ImportError:
        html_report = None  # type: ignore[assignment]
    if html_report is not None:
        put("report.html", html_report([document], title="tsmbench: bundled benchmark"))
    try:
        from tsmbench.report.collect import collect  # type: ignore[attr-defined]
        from tsmbench.report.markdown import render_markdown
    except ImportError:
        render_markdown = None  # type: ignore[assignment]
    if render_markdown is not None:
        put("report.md", render_markdown(collect([document]), title="tsmbench: bundled benchmark"))
    return written


def run_bundled(json_output: bool = False, **kwargs: Any) -> dict[str, Any]:
    """Run the bundled benchmark, print it (table, or the JSON document with `json_output`).

    Keyword options (all optional): batch_size, workers, limit (first N videos, for smoke
    tests), models (zoo ids), report_dir (default $TSMBENCH_HOME/reports/latest),
    synthetic_config (a smaller SyntheticConfig, for tests). `resume` is accepted and ignored:
    the whole benchmark takes seconds.
    Returns the results document.
    """
    import torch  # noqa: F401  (fail here, not halfway, if torch is broken)

    from tsmbench.cli.common import emit_json, err_console, out_console
    from tsmbench.data.annotations import read_annotations
    from tsmbench.data.cards import load_dataset_card
    from tsmbench.data.synthetic import config_from_card, ensure_synthetic, list_file_name
    from tsmbench.measure.evaluate import eval_record, evaluate
    from tsmbench.paths import home
    from tsmbench.results.schema import make_document

    batch_size = int(kwargs.get("batch_size") or 16)
    workers = int(kwargs.get("workers") or 0)
    limit = kwargs.get("limit")
    models = tuple(kwargs.get("models") or BUNDLED_MODELS)
    report_dir = Path(kwargs.get("report_dir") or home() / "reports" / "latest")
    log = err_console

    card = load_dataset_card(DATASET)
    t0 = time.perf_counter()
    syn_config = kwargs.get("synthetic_config") or config_from_card(card.extra.get("generator"))
    root, reused = ensure_synthetic(syn_config, splits=("val",))
    log.print(
        f"{'reusing' if reused else 'generated'} the synthetic validation set in {root}"
        + ("" if reused else f" ({time.perf_counter() - t0:.1f}s)")
    )
    samples = read_annotations(root / list_file_name("val"), format=card.annotation)
    if limit:
        samples = samples[: int(limit)]
    pairs = tuple(card.extra.get("pairs") or ())

    records = []
    for model_id in models:
        model = _load_model(model_id)
        mcard = getattr(model, "card", None)
        t1 = time.perf_counter()
        result = evaluate(
            model, samples, protocol="uniform", crops=1,
            input_cfg=getattr(mcard, "input", None) or card.extra.get("input"),
            score_average=getattr(mcard, "score_average", "logits"),
            batch_size=batch_size, workers=workers, root=root,
            num_segments=getattr(model, "num_segments", 8), classes=card.classes,
        )
        published = None
        if mcard is not None and getattr(mcard, "published", ()):
            p = mcard.published[0]
            published = {"top1": p.top1, "source": p.source}
        rec = eval_record(result, model=model_id, dataset=DATASET, published=published)
        rec["arch"] = getattr(model, "arch", model_id)
        rec["per_pair"] = pair_metrics(result.predictions, pairs)
        rec["order_acc"] = _order_overall(result.predictions)
        rec["dataset_root"] = str(root)
        records.append(rec)
        log.print(f"{model_id}: top-1 {result.top1:.1f}% on {result.num_videos} videos ({time.perf_counter() - t1:.1f}s)")

    document = make_document(records)
    written = write_reports(document, report_dir)
    if json_output:
        emit_json(document)
        for p in written:
            log.print(f"wrote {p}")
    else:
        out_console.print(side_by_side_table(records))
        if len(records) == 2 and records[0]["top1"] is not None and records[1]["top1"] is not None:
            gap = records[0]["top1"] - records[1]["top1"]
            out_console.print(
                f"{records[0]['model']} is {gap:+.1f} points top-1 over {records[1]['model']}: averaging per-frame "
                "predictions cannot tell a clip from its time reversal, shifting channels in time can."
            )
        out_console.print("reports: " + ", ".join(str(p) for p in written))
    return document


def load_latest_report() -> dict[str, Any]:
    """The last bundled run's results document (from $TSMBENCH_HOME/reports/latest/results.json)."""
    from tsmbench.paths import home

    return json.loads((home() / "reports" / "latest" / "results.json").read_text(encoding="utf-8"))
