"""`tsmbench report`: an HTML page, a Markdown summary or a CSV file from stored results."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from tsmbench.cli.common import JsonFlag, emit_json, err_console
from tsmbench.errors import UsageError

FORMATS = {".html": "html", ".htm": "html", ".md": "md", ".markdown": "md", ".csv": "csv"}


def _write(text: str, output: Path) -> None:
    if str(output) == "-":
        typer.echo(text, nl=not text.endswith("\n"))
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(f".{output.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(output)


def register(app: typer.Typer) -> None:
    @app.command("report")
    def report_cmd(
        output: Annotated[Path, typer.Option("--output", "-o", help="File to write ('-' for stdout).")],
        inputs: Annotated[
            Optional[list[Path]], typer.Option("--input", "-i", help="Results JSON file (repeatable).")
        ] = None,
        runs: Annotated[
            Optional[list[str]], typer.Option("--runs", help="Stored run id or prefix (repeatable, or commas).")
        ] = None,
        latest: Annotated[bool, typer.Option("--latest", help="Add the most recent stored run.")] = False,
        last: Annotated[int, typer.Option("--last", min=0, help="Add the N most recent stored runs.")] = 0,
        fmt: Annotated[
            Optional[str], typer.Option("--format", "-f", help="html, md or csv; default from the -o suffix, else html.")
        ] = None,
        title: Annotated[str, typer.Option("--title", help="Report heading.")] = "tsmbench report",
        json_output: JsonFlag = False,
    ) -> None:
        """Render results as a self-contained HTML page (no network), Markdown or CSV."""
        from tsmbench.report.collect import collect
        from tsmbench.report.sources import all_records, load_sources

        kind = (fmt or FORMATS.get(output.suffix.lower(), "html")).lower()
        if kind == "markdown":
            kind = "md"
        if kind not in ("html", "md", "csv"):
            raise UsageError(f"--format must be html, md or csv, got {fmt!r}")
        docs, labels = load_sources(inputs or (), runs or (), latest=max(last, 1 if latest else 0))
        if kind == "csv":
            from tsmbench.report.csv import render_csv

            text = render_csv(all_records(docs, labels))
        else:
            data = collect(docs, labels)
            if kind == "html":
                from tsmbench.report.html import render_html

                text = render_html(data, title=title)
            else:
                from tsmbench.report.markdown import render_markdown

                text = render_markdown(data, title=title)
        if json_output and str(output) == "-":
            raise UsageError("--json prints a summary on stdout: write the report to a file with -o FILE")
        _write(text, output)
        count = sum(len(d["results"]) for d in docs)
        if str(output) != "-":
            err_console.print(f"wrote {kind} report of {count} results to {output}", markup=False)
        if json_output:
            emit_json({"report": str(output), "format": kind, "results": count, "inputs": labels})
