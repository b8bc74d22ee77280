"""The documented CI workflow stays in step with the commands it calls."""
from __future__ import annotations

import re
from pathlib import Path

import click
import typer
import yaml

from tsmbench.cli.app import app

DOCS = Path(__file__).resolve().parent.parent / "docs"


def _steps() -> list[dict]:
    workflow = yaml.safe_load((DOCS / "github-actions-example.yml").read_text())
    return workflow["jobs"]["benchmark"]["steps"]


def test_workflow_installs_cpu_torch_first_then_measures_gates_and_summarises() -> None:
    runs = [s.get("run", "") for s in _steps()]
    install = next(i for i, r in enumerate(runs) if "pip install -e ." in r)
    assert "pip install torch==2.13.0" in runs[install].split("pip install -e .")[0]
    joined = "\n".join(runs)
    assert "tsmbench eval --json > current-eval.json" in joined
    assert re.search(r"tsmbench latency .*--json > current-latency\.json", joined.replace("\\\n", " "))
    gate = next(r for r in runs if "tsmbench gate" in r)
    assert "--baseline reports/baseline.json" in gate and '"$GITHUB_STEP_SUMMARY"' in gate


def test_every_option_the_docs_use_exists() -> None:
    text = "\n".join(s.get("run", "") for s in _steps()).replace("\\\n", " ")
    text += (DOCS / "ci.md").read_text()
    for command in ("gate", "report", "results export", "results list"):
        used = set()
        for line in re.findall(rf"tsmbench {command}\b([^\n`]*)", text):
            used |= set(re.findall(r"(?<![\w-])(--?[a-z][a-z-]*)", line))
        assert used, command
        cmd = typer.main.get_command(app)
        ctx = click.Context(cmd)
        for part in command.split():
            cmd = cmd.get_command(ctx, part)
            ctx = click.Context(cmd)
        known = {o for p in cmd.params for o in (*p.opts, *p.secondary_opts)}
        missing = sorted(used - known)
        assert not missing, f"tsmbench {command} has no {missing}"


def test_committed_baseline_is_a_valid_document_with_every_kind() -> None:
    from tsmbench.results.schema import load_document

    doc = load_document(DOCS.parent / "reports" / "baseline.json")
    kinds = {r["kind"] for r in doc["results"]}
    assert kinds == {"eval", "flops", "latency"}
    models = {r["model"] for r in doc["results"] if r["kind"] == "eval"}
    assert models == {"tsm_resnet_tiny.synthetic", "tsn_resnet_tiny.synthetic"}
