"""Every command takes --json (the brief's contract), checked against the registered commands."""
from __future__ import annotations

import typer

from tsmbench.cli.app import app


def _leaves(cmd, path: tuple[str, ...] = ()):
    if hasattr(cmd, "commands"):  # a group (typer vendors its own click)
        for name, sub in cmd.commands.items():
            yield from _leaves(sub, (*path, name))
    else:
        yield path, cmd


def test_every_command_takes_json() -> None:
    missing = [" ".join(p) for p, cmd in _leaves(typer.main.get_command(app))
               if not any("--json" in getattr(o, "opts", []) for o in cmd.params)]
    assert missing == []
