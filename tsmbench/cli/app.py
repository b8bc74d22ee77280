"""The Typer application: one module per command group, registered here."""
from __future__ import annotations

import importlib
import sys
from typing import Annotated, Optional

import typer

from tsmbench import __version__
from tsmbench.cli.common import cli_errors, report_error

#: Command modules under tsmbench.cli; each defines `register(app: typer.Typer) -> None`.
COMMAND_MODULES: list[str] = [
    "flops",
    "results", "report", "gate",
    "eval",
    "zoo",
    "latency", "export",
    "train",
]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"tsmbench {__version__}")
        raise typer.Exit()


def _wrap_commands(app: typer.Typer) -> None:
    for info in app.registered_commands:
        if info.callback is not None and not getattr(info.callback, "_tsmbench_wrapped", False):
            info.callback = cli_errors(info.callback)
            info.callback._tsmbench_wrapped = True  # type: ignore[attr-defined]
    for group in app.registered_groups:
        if group.typer_instance is not None:
            _wrap_commands(group.typer_instance)


def build_app() -> typer.Typer:
    app = typer.Typer(
        name="tsmbench",
        help="Decide, prove and guard how fast and how accurate an efficient video model is.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )

    @app.callback()
    def _root(
        version: Annotated[
            Optional[bool],
            typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit."),
        ] = None,
    ) -> None:
        """tsmbench: FLOPs, accuracy, latency and reports for TSM, TSN and I3D video models."""

    for name in COMMAND_MODULES:
        importlib.import_module(f"tsmbench.cli.{name}").register(app)
    _wrap_commands(app)
    return app


app = build_app()


def main(argv: list[str] | None = None) -> None:
    try:
        app(args=argv, prog_name="tsmbench")
    except SystemExit:
        raise
    except Exception as exc:  # noqa: BLE001 - last-resort boundary: one line, not a traceback
        sys.exit(report_error(exc))
