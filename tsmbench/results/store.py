"""The results store: every measuring run in one SQLite database.

`record_run(document, command=...)` is what a measuring command calls after it has printed
its result document. A run keeps the document's records together with the command line, the
environment and the provenance (tsmbench version, git commit of the tsmbench checkout when
there is one) so that a report can say exactly how to reproduce each figure.

The database lives at ``tsmbench.paths.home() / "results.sqlite"``. It is opened in WAL mode
with a generous busy timeout and every run is written in one ``BEGIN IMMEDIATE`` transaction,
so several processes can record at once without losing or interleaving runs.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import secrets
import sqlite3
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tsmbench import __version__
from tsmbench.errors import TsmbenchError, UsageError
from tsmbench.paths import home
from tsmbench.results.schema import SCHEMA_VERSION, environment, invoked_command, validate_document

DB_NAME = "results.sqlite"
#: Bumped when the tables change; stored in PRAGMA user_version.
STORE_VERSION = 1
#: How long a writer waits for another process's transaction before giving up (milliseconds).
BUSY_TIMEOUT_MS = 60_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id           TEXT PRIMARY KEY,
    created          TEXT NOT NULL,
    document_created TEXT,
    command          TEXT NOT NULL,
    tsmbench_version TEXT,
    git_commit       TEXT,
    git_dirty        INTEGER,
    schema_version   INTEGER NOT NULL,
    environment      TEXT NOT NULL,
    hostname         TEXT,
    pid              INTEGER
);
CREATE TABLE IF NOT EXISTS results (
    run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
    idx    INTEGER NOT NULL,
    kind   TEXT NOT NULL,
    model  TEXT NOT NULL,
    record TEXT NOT NULL,
    PRIMARY KEY (run_id, idx)
);
CREATE INDEX IF NOT EXISTS results_kind_model ON results(kind, model);
CREATE INDEX IF NOT EXISTS runs_created ON runs(created);
"""


class ResultsStoreError(TsmbenchError):
    """The results database cannot be opened or written (exit code 1)."""


class RunNotFoundError(UsageError, KeyError):
    """No stored run matches the id given."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


@dataclass(frozen=True)
class Run:
    """One stored run: its records plus how, where and by what it was measured."""

    run_id: str
    created: str
    command: list[str]
    tsmbench_version: str | None
    git_commit: str | None
    git_dirty: bool | None
    environment: dict[str, Any]
    results: list[dict[str, Any]] = field(default_factory=list)
    document_created: str | None = None

    def command_line(self) -> str:
        import shlex

        return shlex.join(self.command)

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "created": self.created,
            "document_created": self.document_created,
            "command": list(self.command),
            "tsmbench_version": self.tsmbench_version,
            "git_commit": self.git_commit,
            "git_dirty": self.git_dirty,
            "environment": self.environment,
            "results": self.results,
        }


def db_path() -> Path:
    """Where the results database lives: $TSMBENCH_HOME/results.sqlite."""
    return home() / DB_NAME


def _open(path: Path) -> sqlite3.Connection:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    except (OSError, sqlite3.Error) as exc:
        raise ResultsStoreError(f"cannot open the results database {path}: {exc}; check TSMBENCH_HOME") from None
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        (version,) = conn.execute("PRAGMA user_version").fetchone()
        if version > STORE_VERSION:
            raise ResultsStoreError(
                f"{path} was written by a newer tsmbench (store version {version}); upgrade tsmbench"
            )
        if version < STORE_VERSION:
            conn.execute("BEGIN IMMEDIATE")
            try:
                for stmt in _SCHEMA.split(";"):
                    if stmt.strip():
                        conn.execute(stmt)
                conn.execute(f"PRAGMA user_version = {STORE_VERSION}")
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
    except sqlite3.Error as exc:
        conn.close()
        raise ResultsStoreError(f"cannot use the results database {path}: {exc}") from None
    except BaseException:
        conn.close()
        raise
    return conn


@contextmanager
def connect(path: str | Path | None = None) -> Iterator[sqlite3.Connection]:
    """Open the results database (creating it and its tables if needed) and close it after."""
    conn = _open(Path(path) if path is not None else db_path())
    try:
        yield conn
    finally:
        conn.close()


def _git(args: list[str], cwd: Path) -> str | None:
    try:
        proc = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


def provenance() -> dict[str, Any]:
    """tsmbench's version and, when it runs from a git checkout, the commit and whether it is dirty."""
    src = Path(__file__).resolve().parent.parent.parent
    info: dict[str, Any] = {"tsmbench_version": __version__, "git_commit": None, "git_dirty": None}
    if not (src / ".git").exists():
        return info
    commit = _git(["rev-parse", "HEAD"], src)
    if commit:
        info["git_commit"] = commit
        status = _git(["status", "--porcelain", "--untracked-files=no"], src)
        info["git_dirty"] = None if status is None else bool(status)
    return info


def _new_run_id(now: _dt.datetime) -> str:
    return f"{now:%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


def _normalise_command(command: Sequence[str]) -> list[str]:
    cmd = [str(c) for c in command]
    if cmd:
        prog = cmd[0].replace("\\", "/")
        if prog.rsplit("/", 1)[-1] == "tsmbench" or prog.endswith("tsmbench/__main__.py"):
            cmd[0] = "tsmbench"
    return cmd


def record_run(
    document: dict[str, Any],
    *,
    command: Sequence[str],
    path: str | Path | None = None,
) -> str:
    """Store one run (a results document and the command that produced it); return its run id.

    Measuring commands call ``record_run(doc, command=["tsmbench", *sys.argv[1:]])`` after
    building ``doc = make_document(results)``. The whole run is one transaction: either every
    record is stored or none is.
    """
    validate_document(document, source="result document")
    now = _dt.datetime.now(_dt.timezone.utc)
    results = document["results"]
    env = next((r["environment"] for r in results if isinstance(r.get("environment"), dict)), None)
    if env is None:
        env = environment(torch_threads=False)
    prov = provenance()
    cmd = _normalise_command(command)
    rows = [
        (i, rec["kind"], rec["model"], json.dumps(rec, allow_nan=False, default=str))
        for i, rec in enumerate(results)
    ]
    env_json = json.dumps(env, default=str)
    with connect(path) as conn:
        for attempt in range(5):
            run_id = _new_run_id(now)
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    conn.execute(
                        "INSERT INTO runs (run_id, created, document_created, command, tsmbench_version,"
                        " git_commit, git_dirty, schema_version, environment, hostname, pid)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (
                            run_id,
                            now.isoformat(timespec="microseconds"),
                            document.get("created"),
                            json.dumps(cmd),
                            document.get("tsmbench_version") or prov["tsmbench_version"],
                            prov["git_commit"],
                            None if prov["git_dirty"] is None else int(prov["git_dirty"]),
                            int(document.get("schema_version", SCHEMA_VERSION)),
                            env_json,
                            env.get("hostname") if isinstance(env, dict) else None,
                            os.getpid(),
                        ),
                    )
                    conn.executemany(
                        "INSERT INTO results (run_id, idx, kind, model, record) VALUES (?, ?, ?, ?, ?)",
                        [(run_id, *row) for row in rows],
                    )
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                return run_id
            except sqlite3.IntegrityError:
                continue  # run-id collision (same second, same random suffix): draw another
            except sqlite3.OperationalError as exc:
                if "locked" in str(exc) or "busy" in str(exc):
                    time.sleep(0.05 * (attempt + 1))
                    continue
                raise ResultsStoreError(f"cannot record the run in {db_path() if path is None else path}: {exc}") from None
    raise ResultsStoreError("cannot record the run: the results database stayed locked; try again")


def try_record_run(document: dict[str, Any], *, command: Sequence[str] | None = None) -> str | None:
    """Store a run the way measuring commands should: never failing a measurement already printed.

    The command defaults to the document's "command" (make_document sets it when tsmbench is the
    program), else this process's tsmbench command line. Returns the run id, or None when
    $TSMBENCH_NO_STORE is set or the store cannot be written (a warning goes to stderr).
    """
    import sys

    if os.environ.get("TSMBENCH_NO_STORE", "") not in ("", "0", "false", "no"):
        return None
    if command is None:
        doc_cmd = document.get("command")
        command = doc_cmd if isinstance(doc_cmd, list) else (invoked_command() or [])
    try:
        return record_run(document, command=command)
    except (TsmbenchError, sqlite3.Error, OSError) as exc:
        sys.stderr.write(f"warning: the run was not stored in the results database: {exc}\n")
        return None


def _row_to_run(row: sqlite3.Row | tuple, results: list[dict[str, Any]]) -> Run:
    run_id, created, doc_created, command, version, commit, dirty, env = row
    return Run(
        run_id=run_id,
        created=created,
        document_created=doc_created,
        command=json.loads(command),
        tsmbench_version=version,
        git_commit=commit,
        git_dirty=None if dirty is None else bool(dirty),
        environment=json.loads(env),
        results=results,
    )


_RUN_COLUMNS = "run_id, created, document_created, command, tsmbench_version, git_commit, git_dirty, environment"


def list_runs(*, limit: int | None = None, path: str | Path | None = None) -> list[Run]:
    """Stored runs, newest first, each with its records."""
    sql = f"SELECT {_RUN_COLUMNS} FROM runs ORDER BY created DESC, run_id DESC"
    params: tuple[Any, ...] = ()
    if limit is not None:
        sql += " LIMIT ?"
        params = (int(limit),)
    with connect(path) as conn:
        rows = conn.execute(sql, params).fetchall()
        return [_row_to_run(r, _results_of(conn, r[0])) for r in rows]


def _results_of(conn: sqlite3.Connection, run_id: str) -> list[dict[str, Any]]:
    recs = conn.execute("SELECT record FROM results WHERE run_id = ? ORDER BY idx", (run_id,)).fetchall()
    return [json.loads(r[0]) for r in recs]


def resolve_run_ids(ids: Sequence[str], *, path: str | Path | None = None) -> list[str]:
    """Full run ids for ids or unique id prefixes (commas allowed); RunNotFoundError otherwise."""
    wanted = [p.strip() for item in ids for p in str(item).split(",") if p.strip()]
    out: list[str] = []
    with connect(path) as conn:
        for prefix in wanted:
            like = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            rows = conn.execute(
                "SELECT run_id FROM runs WHERE run_id LIKE ? ESCAPE '\\' ORDER BY run_id", (like,)
            ).fetchall()
            if not rows:
                raise RunNotFoundError(f"no stored run matches {prefix!r}; see `tsmbench results list`")
            if len(rows) > 1 and rows[0][0] != prefix:
                raise UsageError(f"run id prefix {prefix!r} matches {len(rows)} runs; give more characters")
            if rows[0][0] not in out:
                out.append(rows[0][0])
    return out


def latest_run_ids(n: int = 1, *, path: str | Path | None = None) -> list[str]:
    """The ids of the `n` most recent runs; RunNotFoundError when the store is empty."""
    with connect(path) as conn:
        rows = conn.execute("SELECT run_id FROM runs ORDER BY created DESC, run_id DESC LIMIT ?", (n,)).fetchall()
    if not rows:
        raise RunNotFoundError("no runs are stored yet; run a measuring command (flops, eval, latency) first")
    return [r[0] for r in rows]


def get_runs(ids: Sequence[str], *, path: str | Path | None = None) -> list[Run]:
    """The runs with these ids or unique prefixes, in the order given."""
    full = resolve_run_ids(ids, path=path)
    with connect(path) as conn:
        runs = []
        for run_id in full:
            row = conn.execute(f"SELECT {_RUN_COLUMNS} FROM runs WHERE run_id = ?", (run_id,)).fetchone()
            runs.append(_row_to_run(row, _results_of(conn, run_id)))
    return runs


def get_run(run_id: str, *, path: str | Path | None = None) -> Run:
    """One stored run by id or unique id prefix."""
    return get_runs([run_id], path=path)[0]


def run_document(run: Run) -> dict[str, Any]:
    """A stored run as a results document (the --json format), with its provenance attached."""
    return {
        "schema_version": SCHEMA_VERSION,
        "tsmbench_version": run.tsmbench_version,
        "created": run.document_created or run.created,
        "command": list(run.command),
        "run_id": run.run_id,
        "git_commit": run.git_commit,
        "results": [dict(r) for r in run.results],
    }


def count_results(*, path: str | Path | None = None) -> int:
    with connect(path) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM results").fetchone()[0])
