"""`tsmbench gate`: fail CI when accuracy, FLOPs or latency regressed against a baseline."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from tsmbench.cli.common import JsonFlag, emit_json, err_console, out_console


def register(app: typer.Typer) -> None:
    @app.command("gate")
    def gate_cmd(
        baseline: Annotated[
            list[Path], typer.Option("--baseline", "-b", help="Baseline results JSON (e.g. reports/baseline.json); repeatable.")
        ],
        current: Annotated[
            list[Path], typer.Option("--current", "-c", help="Current results JSON to check; repeatable (eval + latency).")
        ],
        max_latency_regression: Annotated[
            str, typer.Option(help="Allowed median latency growth beyond the noise, in percent (e.g. 5%).")
        ] = "5%",
        max_accuracy_drop: Annotated[
            float, typer.Option(min=0.0, help="Allowed top-1/top-5/mean-class accuracy drop, in percentage points.")
        ] = 0.5,
        max_flops_change: Annotated[
            str, typer.Option(help="Allowed FLOPs/params change, in percent (0: any change fails).")
        ] = "0",
        noise_factor: Annotated[
            float, typer.Option(min=0.0, help="Multiplier on the measured noise band (p90 - median) for latency.")
        ] = 1.0,
        fail_on_missing: Annotated[
            bool, typer.Option("--fail-on-missing", help="Fail when a baseline result was not measured now.")
        ] = False,
        junit: Annotated[Optional[Path], typer.Option("--junit", help="Write JUnit XML here.")] = None,
        markdown: Annotated[Optional[Path], typer.Option("--markdown", help="Write a Markdown summary here.")] = None,
        json_: JsonFlag = False,
    ) -> None:
        """Compare --current with --baseline: exit 0 if all hold, 1 on a regression, 2 on unusable input."""
        from tsmbench.report import gate
        from tsmbench.results.schema import load_document

        thresholds = gate.Thresholds(
            max_latency_regression=gate.parse_percent(max_latency_regression, option="--max-latency-regression"),
            max_accuracy_drop=max_accuracy_drop,
            max_flops_change=gate.parse_percent(max_flops_change, option="--max-flops-change"),
            noise_factor=noise_factor,
            fail_on_missing=fail_on_missing,
        )
        base_doc = gate.merge_documents([load_document(p) for p in baseline])
        cur_doc = gate.merge_documents([load_document(p) for p in current])
        result = gate.compare(base_doc, cur_doc, thresholds)
        for path, text in ((junit, gate.render_junit(result) if junit else None),
                           (markdown, gate.render_markdown(result) if markdown else None)):
            if path is not None and text is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text, encoding="utf-8")
        console = err_console if json_ else out_console
        _print(result, console)
        if json_:
            emit_json(result.to_dict())
        if not result.passed:
            raise typer.Exit(1)


def _print(result, console) -> None:
    from rich.table import Table

    from tsmbench.report import gate

    rows = gate.table_rows(result, only_failures=not result.passed)
    if rows:
        table = Table(title="regressions" if not result.passed else "checks", title_justify="left")
        for h in ["status", *gate.HEADER]:
            table.add_column(h, overflow="fold")
        for row in rows:
            style = "red" if row[0] == gate.FAIL else ("dim" if row[0] == gate.SKIP else None)
            table.add_row(*row, style=style)
        # CI logs are not terminals (rich would assume 80 columns); give the table room.
        from rich.console import Console

        wide = Console(stderr=console.stderr, width=max(console.width, 160), highlight=False)
        wide.print(table)
    for c in result.failures:
        console.print(
            f"FAIL {c.kind} {c.model} [{c.setting}] {c.metric}: {c.baseline} -> {c.current}: {c.reason}",
            markup=False, soft_wrap=True,
        )
    for note in result.notes:
        console.print(f"note: {note}", markup=False, soft_wrap=True)
    for label in result.missing_in_current:
        console.print(f"not measured now: {label}", markup=False)
    n_fail = len(result.failures)
    if result.passed:
        console.print(f"gate passed: {len(result.checks)} metrics within limits", markup=False)
    else:
        missing = len(result.missing_in_current) if result.thresholds.fail_on_missing else 0
        console.print(f"gate failed: {n_fail} regressed metric(s)" + (f", {missing} missing result(s)" if missing else ""),
                      markup=False)
