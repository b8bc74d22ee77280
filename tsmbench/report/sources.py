"""Where a report's or an export's documents come from: JSON files and/or stored runs."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tsmbench.errors import UsageError
from tsmbench.results.schema import load_document


def load_sources(
    inputs: Sequence[str | Path] = (),
    runs: Sequence[str] = (),
    *,
    latest: int = 0,
    all_runs: bool = False,
) -> tuple[list[dict[str, Any]], list[str]]:
    """Documents and their labels from result files, run ids (or prefixes), the latest N runs, or all runs."""
    from tsmbench.results import store

    docs: list[dict[str, Any]] = []
    labels: list[str] = []
    for path in inputs:
        docs.append(load_document(path))
        labels.append(str(path))
    ids: list[str] = []
    if runs:
        ids += store.resolve_run_ids(list(runs))
    if latest:
        ids += [i for i in store.latest_run_ids(latest) if i not in ids]
    if all_runs and not inputs and not runs and not latest:
        ids = [r.run_id for r in reversed(store.list_runs())]
    for run in store.get_runs(ids) if ids else []:
        docs.append(store.run_document(run))
        labels.append(run.run_id)
    if not docs:
        raise UsageError("no results to use: pass --input FILE, --runs ID or --latest (see `tsmbench results list`)")
    return docs, labels


def all_records(docs: Sequence[dict[str, Any]], labels: Sequence[str]) -> list[dict[str, Any]]:
    """Every record of every document, tagged with the run id (or file) it came from."""
    out = []
    for doc, label in zip(docs, labels):
        for rec in doc["results"]:
            # "stored_run" (not "run_id": eval records use that for their own resumable runs).
            row = {"stored_run": doc.get("run_id"), "source": str(doc.get("run_id") or label)}
            row.update(rec)
            out.append(row)
    return out
