"""One CSV row per result, built with pandas: scalars as columns, nested dicts as dotted columns."""
from __future__ import annotations

import json
from typing import Any

#: Columns that come first, in this order, when present.
LEADING = (
    "stored_run", "source", "kind", "model", "dataset", "protocol", "backend", "device", "precision", "batch",
    "mode", "status", "top1", "top5", "mean_class_acc", "median_ms", "p90_ms", "p99_ms", "flops", "params",
)
#: Spreadsheet programs run cells that start with these characters as formulas.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _defuse(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(_FORMULA_START) and value != "-":
        return "'" + value
    return value


def flatten_record(record: dict[str, Any]) -> dict[str, Any]:
    """A result record as flat columns: `environment.cpu`, `published.top1`, list lengths as `*_count`."""
    row: dict[str, Any] = {}
    for key, value in record.items():
        if isinstance(value, dict):
            for sub, v in value.items():
                row[f"{key}.{sub}"] = v if not isinstance(v, (dict, list)) else json.dumps(v, default=str)
        elif isinstance(value, list):
            if value and all(isinstance(v, dict) for v in value):
                row[f"{key}_count"] = len(value)  # per_class, stages: too wide for one row
            else:
                row[key] = json.dumps(value, default=str)
                if key == "skipped":
                    row["skipped_count"] = len(value)
        else:
            row[key] = value
    return row


def records_frame(records: list[dict[str, Any]]):
    """A pandas DataFrame with one row per result record."""
    import pandas as pd

    rows = [flatten_record(r) for r in records]
    frame = pd.DataFrame(rows)
    if frame.empty:
        return pd.DataFrame(columns=["stored_run", "source", "kind", "model"])
    lead = [c for c in LEADING if c in frame.columns]
    rest = [c for c in frame.columns if c not in lead]
    return frame[lead + rest]


def render_csv(records: list[dict[str, Any]]) -> str:
    """CSV text, safe to open in a spreadsheet (formula-like strings are quoted with a ')."""
    import pandas as pd

    frame = records_frame(records)
    for name in frame.columns:
        if not pd.api.types.is_numeric_dtype(frame[name]):
            frame[name] = frame[name].map(_defuse)
    # Integers stay integers (8, not 8.0) even in columns with missing values.
    for name in frame.columns:
        col = frame[name]
        if col.dtype.kind == "f" and col.notna().any() and (col.dropna() % 1 == 0).all():
            frame[name] = col.astype("Int64")
    return frame.to_csv(index=False, lineterminator="\n")
