"""The SQLite results store and `tsmbench results list|show|export|import`."""
from __future__ import annotations

import io
import json
import multiprocessing
import sqlite3

import pandas as pd
import pytest
from typer.testing import CliRunner

from test_report_samples import benchmark_document, document, eval_record, latency_record, write
from tsmbench.cli.app import app
from tsmbench.errors import UsageError
from tsmbench.results import store
from tsmbench.results.schema import validate_document

runner = CliRunner()


def test_record_run_round_trip_keeps_records_command_and_provenance(_isolated_home) -> None:
    doc = benchmark_document()
    run_id = store.record_run(doc, command=["/usr/local/bin/tsmbench", "eval", "--bundled", "--json"])
    assert (_isolated_home / "results.sqlite").exists()
    run = store.get_run(run_id)
    assert run.results == doc["results"]
    assert run.command == ["tsmbench", "eval", "--bundled", "--json"]  # argv[0] normalised
    assert run.command_line() == "tsmbench eval --bundled --json"
    assert run.environment["hostname"] == "ci-runner"  # the records' environment, not the recorder's
    assert run.tsmbench_version == "0.1.0"
    # This checkout is a git repository, so the commit is recorded.
    assert run.git_commit is not None and len(run.git_commit) == 40
    assert run.created.endswith("+00:00")


def test_store_uses_wal_and_a_busy_timeout() -> None:
    store.record_run(benchmark_document(), command=["tsmbench", "eval"])
    with store.connect() as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA busy_timeout").fetchone()[0] >= 10_000


def test_run_ids_resolve_by_prefix_and_latest_is_newest() -> None:
    a = store.record_run(document([eval_record("a", 50.0)]), command=["tsmbench", "eval"])
    b = store.record_run(document([eval_record("b", 60.0)]), command=["tsmbench", "eval"])
    assert store.latest_run_ids(1) == [b]
    assert store.latest_run_ids(2) == [b, a]
    assert [r.run_id for r in store.list_runs()] == [b, a]
    assert store.get_run(b[:-2]).run_id == b  # a unique prefix is enough
    with pytest.raises(store.RunNotFoundError, match="no stored run matches"):
        store.get_run("19990101")


def test_invalid_document_stores_nothing() -> None:
    bad = document([eval_record("a", 50.0)])
    bad["results"].append({"kind": "latency", "model": "b", "median_ms": "fast"})
    with pytest.raises(UsageError, match="median_ms must be a number"):
        store.record_run(bad, command=["tsmbench", "latency"])
    assert store.count_results() == 0
    with pytest.raises(store.RunNotFoundError, match="no runs are stored"):
        store.latest_run_ids()


def _writer(db: str, worker: int, runs: int, queue) -> None:
    ids = []
    for i in range(runs):
        doc = document([latency_record(f"w{worker}", b, 1.0 + i) for b in (1, 2, 4)])
        ids.append(store.record_run(doc, command=["tsmbench", "latency", f"--worker={worker}", f"--i={i}"], path=db))
    queue.put(ids)


def test_two_processes_writing_at_once_lose_nothing(_isolated_home) -> None:
    db = str(_isolated_home / "results.sqlite")
    runs = 25
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_writer, args=(db, w, runs, queue)) for w in range(2)]
    for p in procs:
        p.start()
    returned = [queue.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=120)
        assert p.exitcode == 0
    all_ids = [i for ids in returned for i in ids]
    assert len(set(all_ids)) == 2 * runs
    stored = store.list_runs(path=db)
    assert {r.run_id for r in stored} == set(all_ids)
    assert all(len(r.results) == 3 for r in stored)  # one transaction per run: never half a run
    assert store.count_results(path=db) == 2 * runs * 3
    for w in range(2):
        cmds = sorted(r.command[-1] for r in stored if r.command[2] == f"--worker={w}")
        assert cmds == sorted(f"--i={i}" for i in range(runs))


def test_results_cli_list_show_export(tmp_path) -> None:
    run_id = store.record_run(benchmark_document(), command=["tsmbench", "eval", "--bundled"])

    listed = runner.invoke(app, ["results", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    runs = json.loads(listed.stdout)["runs"]
    assert [r["run_id"] for r in runs] == [run_id] and runs[0]["num_results"] == 13

    shown = runner.invoke(app, ["results", "show", run_id[:12], "--json"])
    assert shown.exit_code == 0, shown.output
    doc = json.loads(shown.stdout)
    assert doc["run_id"] == run_id and doc["command"] == ["tsmbench", "eval", "--bundled"]

    human = runner.invoke(app, ["results", "show", run_id], terminal_width=200)
    assert human.exit_code == 0 and "tsmbench eval --bundled" in human.stdout

    out = tmp_path / "export.json"
    exported = runner.invoke(app, ["results", "export", "--latest", "--format", "json", "-o", str(out)])
    assert exported.exit_code == 0, exported.output
    exp = validate_document(json.loads(out.read_text()))  # an export is a valid results document
    assert len(exp["results"]) == 13 and {r["stored_run"] for r in exp["results"]} == {run_id}
    assert exp["runs"][0]["command"] == ["tsmbench", "eval", "--bundled"]

    csv = runner.invoke(app, ["results", "export", "--runs", run_id, "--format", "csv"])
    assert csv.exit_code == 0, csv.output
    frame = pd.read_csv(io.StringIO(csv.stdout))
    assert len(frame) == 13
    assert set(frame["kind"]) == {"flops", "eval", "latency"}
    assert frame.loc[frame["kind"] == "eval", "top1"].max() == 87.5
    assert "environment.cpu" in frame.columns


def test_results_cli_errors_and_import(tmp_path) -> None:
    missing = runner.invoke(app, ["results", "show", "nope"])
    assert missing.exit_code == 2 and "no stored run matches" in missing.output
    bad_fmt = runner.invoke(app, ["results", "export", "--format", "xml"])
    assert bad_fmt.exit_code == 2
    f = write(tmp_path / "doc.json", benchmark_document())
    imported = runner.invoke(app, ["results", "import", str(f), "--json"])
    assert imported.exit_code == 0, imported.output
    (rid,) = json.loads(imported.stdout)["runs"]
    assert store.get_run(rid).command == ["tsmbench", "eval", "--bundled", "--json"]


def test_store_refuses_a_newer_database(_isolated_home) -> None:
    path = _isolated_home / "results.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(store.ResultsStoreError, match="newer tsmbench"):
        store.list_runs()


def test_try_record_run_never_fails_a_measurement(_isolated_home, monkeypatch, capsys) -> None:
    doc = benchmark_document()  # carries "command", as make_document writes it under the CLI
    run_id = store.try_record_run(doc)
    assert store.get_run(run_id).command == ["tsmbench", "eval", "--bundled", "--json"]
    monkeypatch.setenv("TSMBENCH_NO_STORE", "1")
    assert store.try_record_run(doc) is None
    monkeypatch.delenv("TSMBENCH_NO_STORE")
    blocker = _isolated_home / "not-a-dir"
    blocker.write_text("a file where the store's folder should be")
    monkeypatch.setenv("TSMBENCH_HOME", str(blocker))
    assert store.try_record_run(doc) is None
    assert "warning: the run was not stored" in capsys.readouterr().err


def test_make_document_carries_the_tsmbench_command_line() -> None:
    from tsmbench.results.schema import invoked_command

    assert invoked_command(["/venv/bin/tsmbench", "latency", "tsm_r50"]) == ["tsmbench", "latency", "tsm_r50"]
    assert invoked_command(["/src/tsmbench/__main__.py", "flops", "x"]) == ["tsmbench", "flops", "x"]
    assert invoked_command(["/usr/bin/pytest", "-q"]) is None
