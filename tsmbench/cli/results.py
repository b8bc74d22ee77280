"""`tsmbench results list|show|export|import`: the stored runs, built on pandas."""
from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from tsmbench.cli.common import JsonFlag, emit_json, err_console, out_console, to_json
from tsmbench.errors import UsageError

results_app = typer.Typer(help="List, show, export and import stored result runs.", no_args_is_help=True)

RunsOpt = Annotated[
    Optional[list[str]], typer.Option("--runs", help="Run id or unique prefix; repeat or separate with commas.")
]


def _write_text(text: str, output: Optional[Path]) -> None:
    """Write to a file atomically (temp file + rename), or to stdout without -o."""
    if output is None or str(output) == "-":
        typer.echo(text, nl=not text.endswith("\n"))
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(f".{output.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(output)
    err_console.print(f"wrote {output}")


def _counts(results: list[dict[str, Any]]) -> str:
    kinds: dict[str, int] = {}
    for r in results:
        kinds[r["kind"]] = kinds.get(r["kind"], 0) + 1
    return ", ".join(f"{n} {k}" for k, n in kinds.items()) or "none"


def _print_table(title: str, header: list[str], rows: list[list[str]], *, console=None) -> None:
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for h in header:
        table.add_column(h, overflow="fold")
    for row in rows:
        table.add_row(*[str(c) for c in row])
    (console or out_console).print(table)


def export_document(docs: list[dict[str, Any]], labels: list[str]) -> dict[str, Any]:
    """Several stored runs as one results document, each record tagged with its run id."""
    from tsmbench import __version__
    from tsmbench.report.sources import all_records
    from tsmbench.results.schema import SCHEMA_VERSION

    runs = [
        {k: d.get(k) for k in ("run_id", "created", "command", "tsmbench_version", "git_commit")}
        for d in docs
    ]
    created = [str(d.get("created")) for d in docs if d.get("created")]
    return {
        "schema_version": SCHEMA_VERSION,
        "tsmbench_version": __version__,
        "created": max(created) if created else _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "runs": runs,
        "results": all_records(docs, labels),
    }


@results_app.command("list")
def list_cmd(
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="Show at most this many runs.")] = 20,
    json_: JsonFlag = False,
) -> None:
    """The stored runs, newest first."""
    from tsmbench.results import store

    runs = store.list_runs(limit=limit)
    if json_:
        emit_json({"database": str(store.db_path()), "runs": [
            {**{k: v for k, v in r.to_dict().items() if k != "results"}, "num_results": len(r.results)} for r in runs
        ]})
        return
    if not runs:
        err_console.print(f"no runs stored in {store.db_path()} yet")
        return
    rows = [
        [r.run_id, r.created[:19].replace("T", " "), r.command_line() or "-", _counts(r.results),
         ", ".join(dict.fromkeys(x["model"] for x in r.results))]
        for r in runs
    ]
    _print_table(f"runs in {store.db_path()}", ["run", "created (UTC)", "command", "results", "models"], rows)


@results_app.command("show")
def show_cmd(
    run: Annotated[str, typer.Argument(help="Run id or unique prefix.")],
    json_: JsonFlag = False,
) -> None:
    """One run: its command, provenance and results."""
    from tsmbench.report.csv import records_frame
    from tsmbench.results import store

    r = store.get_run(run)
    if json_:
        emit_json(store.run_document(r) | {"environment": r.environment, "git_dirty": r.git_dirty})
        return
    out_console.print(f"[bold]run[/] {r.run_id}  created {r.created}")
    out_console.print(f"command: {r.command_line() or '(not recorded)'}", markup=False)
    out_console.print(
        f"tsmbench {r.tsmbench_version or '?'}; commit {r.git_commit or '-'}"
        + (" (dirty)" if r.git_dirty else ""), markup=False
    )
    frame = records_frame(r.results)
    keep = [c for c in frame.columns if not c.startswith("environment.") and not c.startswith("published.")]
    frame = frame[keep].dropna(axis=1, how="all")
    _print_table("results", list(frame.columns), frame.astype(object).where(frame.notna(), "-").astype(str).values.tolist())


@results_app.command("export")
def export_cmd(
    runs: RunsOpt = None,
    latest: Annotated[bool, typer.Option("--latest", help="Only the most recent run.")] = False,
    fmt: Annotated[str, typer.Option("--format", "-f", help="json (a results document) or csv (one row per result).")] = "json",
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="File to write; stdout without it.")] = None,
    json_: Annotated[bool, typer.Option("--json", help="The same as --format json.")] = False,
) -> None:
    """Export stored runs (all of them unless --runs or --latest) as JSON or CSV."""
    from tsmbench.report.sources import all_records, load_sources

    fmt = "json" if json_ else fmt.lower()
    if fmt not in ("json", "csv"):
        raise UsageError(f"--format must be json or csv, got {fmt!r}")
    docs, labels = load_sources((), runs or (), latest=1 if latest else 0, all_runs=True)
    if fmt == "json":
        _write_text(to_json(export_document(docs, labels)) + "\n", output)
    else:
        from tsmbench.report.csv import render_csv

        _write_text(render_csv(all_records(docs, labels)), output)


@results_app.command("import")
def import_cmd(
    files: Annotated[list[Path], typer.Argument(help="Results documents written with --json.")],
    json_: JsonFlag = False,
) -> None:
    """Store results documents made elsewhere (another machine, a CI artifact) as runs."""
    from tsmbench.results import store
    from tsmbench.results.schema import load_document

    ids = []
    for f in files:
        doc = load_document(f)
        cmd = doc.get("command") if isinstance(doc.get("command"), list) else []
        ids.append(store.record_run(doc, command=cmd))
        err_console.print(f"{f}: stored as run {ids[-1]}", markup=False)
    if json_:
        emit_json({"runs": ids})


def register(app: typer.Typer) -> None:
    app.add_typer(results_app, name="results")
