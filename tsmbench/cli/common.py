"""What every command shares: --json output on stdout, logs on stderr, one-line errors."""
from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
import sys
import traceback
from pathlib import Path
from typing import Annotated, Any, Callable, TypeVar

import typer
from rich.console import Console

from tsmbench.errors import EXIT_FAILURE, TsmbenchError

#: Progress, tables and logs go to stderr so that stdout stays one clean JSON document with --json.
err_console = Console(stderr=True, highlight=False)
#: Human-readable tables when --json is not given.
out_console = Console(highlight=False)

JsonFlag = Annotated[
    bool, typer.Option("--json", help="Print exactly one JSON document on stdout; logs go to stderr.")
]

F = TypeVar("F", bound=Callable[..., Any])


def debug_enabled() -> bool:
    return os.environ.get("TSMBENCH_DEBUG", "") not in ("", "0", "false", "no")


def _json_default(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "item"):  # numpy / torch scalars
        return obj.item()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def _finite(obj: Any) -> Any:
    # JSON has no NaN/Infinity: write null so that strict parsers (jq, browsers) accept the file.
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def to_json(doc: Any) -> str:
    plain = json.loads(json.dumps(doc, default=_json_default))
    return json.dumps(_finite(plain), indent=2, allow_nan=False)


def emit_json(doc: Any) -> None:
    """Write `doc` as the single JSON document on stdout."""
    sys.stdout.write(to_json(doc) + "\n")
    sys.stdout.flush()


def report_error(exc: BaseException) -> int:
    """Print a one-line error (traceback only with TSMBENCH_DEBUG=1) and return the exit code."""
    if debug_enabled():
        traceback.print_exception(exc, file=sys.stderr)
    code = getattr(exc, "exit_code", EXIT_FAILURE)
    if isinstance(exc, TsmbenchError):
        msg = str(exc)
    else:
        msg = f"unexpected {type(exc).__name__}: {exc} (set TSMBENCH_DEBUG=1 for the traceback)"
    from rich.markup import escape

    # Messages quote user input and install hints like 'tsmbench[tensorrt]': never read them as markup.
    err_console.print(f"[bold red]error:[/] {escape(msg)}", markup=True, highlight=False, soft_wrap=True)
    return code


def cli_errors(fn: F) -> F:
    """Turn tsmbench errors raised by a command into a one-line message and an exit code.

    The CLI app applies this to every registered command, so commands just raise.
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (typer.Exit, typer.Abort, SystemExit, KeyboardInterrupt):
            raise
        except Exception as exc:  # noqa: BLE001 - this is the CLI's single error boundary
            # Usage errors raised through click (typer.BadParameter, ...) keep click's own message and exit 2.
            if any(c.__name__ == "ClickException" for c in type(exc).__mro__):
                raise
            raise typer.Exit(report_error(exc)) from None

    return wrapper  # type: ignore[return-value]
