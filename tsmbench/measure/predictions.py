"""Per-video predictions in SQLite, written as they are produced so a killed run loses nothing.

$TSMBENCH_HOME/runs/<run_id>/predictions.sqlite, WAL mode, committed every batch. The video id
is the primary key: a resumed run skips what is there and can never count a video twice.
"""
from __future__ import annotations

import datetime as _dt
import json
import secrets
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

from tsmbench.errors import UsageError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS predictions (
    video_id TEXT PRIMARY KEY,
    label INTEGER NOT NULL,
    top5 TEXT NOT NULL,          -- JSON [[class, score], ...] best first
    scores TEXT                  -- JSON full score vector, when asked for
);
CREATE TABLE IF NOT EXISTS skipped (video_id TEXT PRIMARY KEY, reason TEXT NOT NULL);
"""


@dataclass(frozen=True)
class Prediction:
    video_id: str
    label: int
    top5: tuple[tuple[int, float], ...]
    scores: tuple[float, ...] | None = None

    @property
    def top1(self) -> int:
        return self.top5[0][0]


def runs_dir() -> Path:
    from tsmbench.paths import home

    return home() / "runs"


def new_run_id() -> str:
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{secrets.token_hex(3)}"


def run_dir(run_id: str) -> Path:
    if not run_id or "/" in run_id or run_id.startswith("."):
        raise UsageError(f"invalid run id {run_id!r}")
    return runs_dir() / run_id


class PredictionStore:
    """A run's SQLite prediction store (safe to open from several processes on one machine)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(self.path), timeout=120.0, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: a committed batch survives kill -9
        self._db.executescript(_SCHEMA)

    @classmethod
    def for_run(cls, run_id: str, *, must_exist: bool = False) -> "PredictionStore":
        path = run_dir(run_id) / "predictions.sqlite"
        if must_exist and not path.exists():
            raise UsageError(f"no run {run_id!r} under {runs_dir()}: check the id printed when the run started")
        return cls(path)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> "PredictionStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- run configuration: a resumed run must measure the same thing -----------------------
    def meta(self) -> dict[str, str]:
        return dict(self._db.execute("SELECT key, value FROM meta"))

    def check_or_set_meta(self, meta: dict[str, str]) -> None:
        old = self.meta()
        diff = {k: (old[k], v) for k, v in meta.items() if k in old and old[k] != v}
        if diff:
            k, (was, now) = next(iter(diff.items()))
            raise UsageError(f"cannot resume: this run was started with {k}={was}, not {now}; start a new run instead")
        self._db.execute("BEGIN IMMEDIATE")
        self._db.executemany("INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)", list(meta.items()))
        self._db.execute("COMMIT")

    # --- writing ------------------------------------------------------------------------------
    def add(self, predictions: Iterable[Prediction], skipped: Iterable[tuple[str, str]] = ()) -> None:
        """Commit one batch atomically; videos already stored are left as they are."""
        rows = [
            (p.video_id, int(p.label), json.dumps([[int(c), float(s)] for c, s in p.top5]),
             json.dumps([float(v) for v in p.scores]) if p.scores is not None else None)
            for p in predictions
        ]
        skipped = list(skipped)
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._db.executemany("INSERT OR IGNORE INTO predictions VALUES (?, ?, ?, ?)", rows)
            self._db.executemany("DELETE FROM skipped WHERE video_id = ?", [(r[0],) for r in rows])
            self._db.executemany("INSERT OR REPLACE INTO skipped VALUES (?, ?)", skipped)
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    # --- reading ------------------------------------------------------------------------------
    def done_ids(self) -> set[str]:
        return {r[0] for r in self._db.execute("SELECT video_id FROM predictions")}

    def count(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM predictions").fetchone()[0])

    def predictions(self) -> Iterator[Prediction]:
        for vid, label, top5, scores in self._db.execute("SELECT video_id, label, top5, scores FROM predictions"):
            yield Prediction(
                video_id=vid,
                label=int(label),
                top5=tuple((int(c), float(s)) for c, s in json.loads(top5)),
                scores=tuple(json.loads(scores)) if scores else None,
            )

    def skipped(self) -> list[tuple[str, str]]:
        return [(r[0], r[1]) for r in self._db.execute("SELECT video_id, reason FROM skipped ORDER BY video_id")]
