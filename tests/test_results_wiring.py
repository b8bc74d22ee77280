"""Every measuring command leaves its run in the results store, with the command that made it."""
from __future__ import annotations

import subprocess
import sys

from typer.testing import CliRunner

from tsmbench.cli.app import app
from tsmbench.results.store import list_runs


def test_flops_and_latency_runs_are_stored() -> None:
    args = ["flops", "tsm_resnet_tiny", "--segments", "4", "--size", "32", "--json"]
    done = subprocess.run([sys.executable, "-m", "tsmbench", *args], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    res = CliRunner().invoke(app, ["latency", "tsm_resnet_tiny", "--backend", "torch", "--device", "cpu", "--batch", "1",
                                   "--segments", "4", "--size", "32", "--min-iters", "3", "--min-s", "0",
                                   "--warmup-s", "0", "--json"])
    assert res.exit_code == 0, res.output
    runs = {r.results[0]["kind"]: r for r in list_runs()}
    assert sorted(runs) == ["flops", "latency"]
    assert runs["flops"].command == ["tsmbench", *args]  # a command the reader can paste
    assert runs["latency"].results[0]["backend"] == "torch"
