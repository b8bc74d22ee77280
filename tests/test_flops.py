"""FLOPs and params agree with the published references (REFERENCE §3)."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

import tsmbench
from tsmbench.cli.app import app
from tsmbench.measure.flops import count_flops


def _flops(name: str, t: int = 8, k: int = 400, size: int = 224):
    return count_flops(tsmbench.create_model(name, num_classes=k, num_segments=t), num_segments=t, input_size=size)


def test_tsm_r50_8f_matches_published_and_equals_tsn() -> None:
    tsm, tsn = _flops("tsm_r50"), _flops("tsn_r50")
    assert tsm.flops == pytest.approx(32.88e9, rel=2e-3)
    assert tsm.flops_without_head == pytest.approx(32.88e9, rel=1e-3)
    assert round(tsm.params / 1e6, 2) == 24.33
    assert tsm.flops == tsn.flops and tsm.params == tsn.params  # the shift is free
    assert tsm.flops_per_frame == pytest.approx(4.11e9, rel=2e-3)
    assert tsm.published is not None and tsm.published.flops == 32.88e9


@pytest.mark.slow
def test_tsm_r50_16f_and_r101() -> None:
    assert _flops("tsm_r50", t=16).flops == pytest.approx(65.8e9, rel=2e-3)
    r101 = _flops("tsm_r101", k=174)
    assert r101.flops == pytest.approx(62.66e9, rel=1e-3)
    assert round(r101.params / 1e6, 2) == 42.86


def test_mobilenetv2_matches_mmaction2_at_256() -> None:
    r = _flops("tsm_mobilenetv2", size=256)
    assert r.flops_without_head == pytest.approx(3.269e9, rel=1e-3)
    assert r.published is not None and r.published.flops == 3.269e9


def test_stage_breakdown_sums_to_total() -> None:
    r = _flops("tsm_mobilenetv2")
    assert round(r.params / 1e6, 3) == 2.736
    assert sum(s.flops for s in r.stages) == pytest.approx(r.flops, rel=1e-6)


def test_online_model_counts_one_frame() -> None:
    online = count_flops(tsmbench.create_model("tsm_mobilenetv2_online"), num_segments=1, input_size=224)
    offline = _flops("tsm_mobilenetv2", t=1)
    assert online.num_segments == 1
    assert online.flops == pytest.approx(offline.flops, rel=1e-3)


def test_cli_flops_json_contract() -> None:
    res = CliRunner().invoke(app, ["flops", "tsm_resnet_tiny", "--segments", "4", "--size", "64", "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["schema_version"] == 1
    (r,) = doc["results"]
    assert r["kind"] == "flops" and r["model"] == "tsm_resnet_tiny"
    for key in ("params", "flops", "flops_per_frame", "num_segments", "input_size", "convention"):
        assert key in r
    assert r["num_segments"] == 4 and r["input_size"] == 64
    assert r["flops_per_frame"] * 4 == pytest.approx(r["flops"])
    assert "multiply-add" in r["convention"]


def test_cli_unknown_model_is_one_line_exit_2() -> None:
    res = subprocess.run([sys.executable, "-m", "tsmbench", "flops", "tsm_r05"], capture_output=True, text=True)
    assert res.returncode == 2
    assert "did you mean tsm_r50" in res.stderr
    assert "Traceback" not in res.stderr
    assert res.stdout == ""


def test_cli_bad_segments_exit_2() -> None:
    res = CliRunner().invoke(app, ["flops", "tsm_resnet_tiny", "--segments", "0"])
    assert res.exit_code == 2


def test_version_flag() -> None:
    res = subprocess.run([sys.executable, "-m", "tsmbench", "--version"], capture_output=True, text=True)
    assert res.returncode == 0 and res.stdout.strip() == f"tsmbench {tsmbench.__version__}"


def test_error_messages_are_not_read_as_markup(capsys) -> None:
    from tsmbench.cli.common import report_error
    from tsmbench.errors import BackendUnavailableError

    assert report_error(BackendUnavailableError("pip install 'tsmbench[tensorrt]' [bold]x")) == 1
    assert "tsmbench[tensorrt]" in capsys.readouterr().err
