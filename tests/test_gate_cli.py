"""`tsmbench gate`: exit 0 when all hold, 1 on a regression, 2 on unusable input."""
from __future__ import annotations

import copy
import json
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest
from typer.testing import CliRunner

from test_report_samples import benchmark_document, document, flops_record, latency_record, write
from tsmbench.cli.app import app
from tsmbench.errors import UsageError
from tsmbench.report import gate

runner = CliRunner()


def _find(doc, **match):
    for r in doc["results"]:
        if all(r.get(k) == v for k, v in match.items()):
            return r
    raise LookupError(match)


def _gate(tmp_path, baseline, current, *extra: str):
    b = write(tmp_path / "baseline.json", baseline)
    c = write(tmp_path / "current.json", current)
    return runner.invoke(app, ["gate", "--baseline", str(b), "--current", str(c), *extra], terminal_width=240)


def test_unchanged_results_pass(tmp_path) -> None:
    doc = benchmark_document()
    res = _gate(tmp_path, doc, copy.deepcopy(doc))
    assert res.exit_code == 0, res.output
    assert "gate passed" in res.stdout


def test_five_point_top1_drop_fails_with_a_table(tmp_path) -> None:
    base = benchmark_document()
    cur = copy.deepcopy(base)
    _find(cur, kind="eval", model="tsm_resnet_tiny")["top1"] -= 5.0
    junit = tmp_path / "gate.xml"
    md = tmp_path / "gate.md"
    res = _gate(tmp_path, base, cur, "--junit", str(junit), "--markdown", str(md))
    assert res.exit_code == 1, res.output
    assert "regressions" in res.stdout and "top1" in res.stdout and "tsm_resnet_tiny" in res.stdout
    assert "dropped 5.00 points" in res.stdout
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite.get("failures") == "1"
    failed = [c for c in suite.iter("testcase") if c.find("failure") is not None]
    assert [c.get("name").split()[0] for c in failed] == ["top1"]
    assert failed[0].get("classname") == "tsmbench.eval.tsm_resnet_tiny"
    text = md.read_text()
    assert text.startswith("## \u274c tsmbench gate failed") and "| eval | tsm_resnet_tiny |" in text


def test_small_accuracy_drop_within_the_limit_passes(tmp_path) -> None:
    base = benchmark_document()
    cur = copy.deepcopy(base)
    _find(cur, kind="eval", model="tsm_resnet_tiny")["top1"] -= 0.4
    assert _gate(tmp_path, base, cur).exit_code == 0
    assert _gate(tmp_path, base, cur, "--max-accuracy-drop", "0.3").exit_code == 1


def _latency_pair(base_median: float, base_p90: float, cur_median: float, cur_p90: float):
    base = document([latency_record("tsm_resnet_tiny", 1, base_median, p90=base_p90)])
    cur = document([latency_record("tsm_resnet_tiny", 1, cur_median, p90=cur_p90)])
    return base, cur


def test_latency_regression_beyond_the_noise_fails(tmp_path) -> None:
    # +20% while each run's p90 - median spread is 0.2 ms: a real slowdown.
    base, cur = _latency_pair(10.0, 10.2, 12.0, 12.2)
    res = _gate(tmp_path, base, cur, "--max-latency-regression", "5%", "--json")
    assert res.exit_code == 1, res.output
    out = json.loads(res.stdout)
    assert out["passed"] is False
    (check,) = out["checks"]
    assert check["metric"] == "median_ms" and check["status"] == "fail"
    assert check["relative"] == pytest.approx(0.2)


def test_latency_change_within_the_noise_passes(tmp_path) -> None:
    # +8% is beyond 5%, but the runs themselves spread by 1.5 ms (p90 - median): noise, not regression.
    base, cur = _latency_pair(10.0, 11.5, 10.8, 12.3)
    res = _gate(tmp_path, base, cur, "--json")
    assert res.exit_code == 0, res.output
    (check,) = json.loads(res.stdout)["checks"]
    assert check["status"] == "pass" and "noise" in check["reason"]
    # The same change with tight runs is a regression.
    base, cur = _latency_pair(10.0, 10.1, 10.8, 10.9)
    assert _gate(tmp_path, base, cur).exit_code == 1


def test_latency_run_that_failed_now_fails_the_gate(tmp_path) -> None:
    base = document([latency_record("m", 1, 10.0)])
    cur = document([latency_record("m", 1, 10.0, status="error", error="out of memory", median_ms=None)])
    res = _gate(tmp_path, base, cur)
    assert res.exit_code == 1 and "out of memory" in res.stdout


def test_flops_change_fails_by_default(tmp_path) -> None:
    base = document([flops_record("m", 1.0e9, 1.0e6)])
    cur = document([flops_record("m", 1.001e9, 1.0e6)])
    assert _gate(tmp_path, base, cur).exit_code == 1
    assert _gate(tmp_path, base, cur, "--max-flops-change", "0.5%").exit_code == 0


@pytest.mark.parametrize(
    "baseline_text, message",
    [
        ('{"schema_version": 1, "results": [', "not valid JSON"),
        ("", "empty"),
        ('{"schema_version": 99, "results": []}', "newer tsmbench"),
        ('{"schema_version": 0, "results": []}', "not supported"),
        ('{"results": []}', "no 'schema_version'"),
        ('{"schema_version": 1, "results": [{"kind": "speed", "model": "m"}]}', "kind must be one of"),
        ('[1, 2]', "expected a JSON object"),
    ],
)
def test_malformed_baseline_is_refused_with_exit_code_2(tmp_path, baseline_text, message) -> None:
    b = tmp_path / "baseline.json"
    b.write_text(baseline_text)
    c = write(tmp_path / "current.json", benchmark_document())
    res = runner.invoke(app, ["gate", "--baseline", str(b), "--current", str(c)], terminal_width=240)
    assert res.exit_code == 2, res.output
    assert "error:" in res.output and message in res.output


def test_nothing_comparable_and_bad_options_exit_2(tmp_path) -> None:
    base = document([latency_record("a", 1, 10.0)])
    cur = document([latency_record("b", 1, 10.0)])
    res = _gate(tmp_path, base, cur)
    assert res.exit_code == 2 and "nothing comparable" in res.output
    res = _gate(tmp_path, base, base, "--max-latency-regression", "fast")
    assert res.exit_code == 2 and "percentage" in res.output
    res = runner.invoke(app, ["gate", "--baseline", str(tmp_path / "absent.json"), "--current", str(tmp_path / "current.json")])
    assert res.exit_code == 2 and "no such file" in res.output


def test_matching_keeps_backends_devices_and_batches_apart() -> None:
    base = document([latency_record("m", 1, 10.0), latency_record("m", 1, 50.0, backend="onnxruntime"),
                     latency_record("m", 4, 30.0)])
    cur = copy.deepcopy(base)
    # Only the onnxruntime entry regressed; were entries mixed up, torch would look 5x slower.
    _find(cur, backend="onnxruntime")["median_ms"] = 60.0
    _find(cur, backend="onnxruntime")["p90_ms"] = 60.5
    result = gate.compare(base, cur)
    assert [(c.setting, c.status) for c in result.checks] == [
        ("torch cpu fp32 offline batch 1", "pass"),
        ("onnxruntime cpu fp32 offline batch 1", "fail"),
        ("torch cpu fp32 offline batch 4", "pass"),
    ]


def test_missing_results_are_reported_and_can_fail() -> None:
    base = document([latency_record("m", 1, 10.0), latency_record("m", 2, 18.0)])
    cur = document([latency_record("m", 1, 10.0)])
    result = gate.compare(base, cur)
    assert result.passed and result.missing_in_current == ("latency m [torch cpu fp32 offline batch 2]",)
    strict = gate.compare(base, cur, gate.Thresholds(fail_on_missing=True))
    assert not strict.passed
    assert 'failures="1"' in gate.render_junit(strict)


def test_noise_rule_fallbacks() -> None:
    assert gate.latency_noise({"median_ms": 10.0, "p90_ms": 12.0}) == pytest.approx(2.0)
    assert gate.latency_noise({"median_ms": 10.0, "std_ms": 0.7}) == pytest.approx(0.7)
    assert gate.latency_noise({"cv": 0.1, "mean_ms": 20.0}) == pytest.approx(2.0)
    assert gate.latency_noise({"median_ms": 10.0}) == 0.0
    assert gate.parse_percent("5%", option="x") == pytest.approx(0.05)
    assert gate.parse_percent("2.5", option="x") == pytest.approx(0.025)
    with pytest.raises(UsageError):
        gate.parse_percent("-1%", option="x")


def test_gate_end_to_end_in_a_subprocess(tmp_path) -> None:
    base = benchmark_document()
    cur = copy.deepcopy(base)
    _find(cur, kind="eval", model="tsn_resnet_tiny")["top1"] -= 5.0
    b = write(tmp_path / "b.json", base)
    c = write(tmp_path / "c.json", cur)
    proc = subprocess.run(
        [sys.executable, "-m", "tsmbench", "gate", "--baseline", str(b), "--current", str(c), "--json"],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 1, proc.stderr
    out = json.loads(proc.stdout)  # stdout is exactly one JSON document; the table went to stderr
    assert out["failures"] == 1 and "tsn_resnet_tiny" in proc.stderr
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    proc = subprocess.run(
        [sys.executable, "-m", "tsmbench", "gate", "--baseline", str(bad), "--current", str(c)],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2 and "not valid JSON" in proc.stderr and "Traceback" not in proc.stderr


def test_several_current_files_are_gated_together(tmp_path) -> None:
    base = benchmark_document()
    evals = document([r for r in base["results"] if r["kind"] == "eval"])
    lat = document([r for r in base["results"] if r["kind"] == "latency"])
    _find(lat, model="tsn_resnet_tiny", batch=4)["median_ms"] *= 1.5
    b = write(tmp_path / "baseline.json", base)
    e = write(tmp_path / "eval.json", evals)
    lt = write(tmp_path / "lat.json", lat)
    res = runner.invoke(app, ["gate", "-b", str(b), "-c", str(e), "-c", str(lt), "--json"])
    assert res.exit_code == 1, res.output
    out = json.loads(res.stdout)
    assert {c["kind"] for c in out["checks"]} == {"eval", "latency"}
    assert [(c["model"], c["setting"]) for c in out["checks"] if c["status"] == "fail"] == [
        ("tsn_resnet_tiny", "torch cpu fp32 offline batch 4")
    ]
    assert len(out["missing_in_current"]) == 3  # the FLOPs results were not measured now


def test_latency_on_another_machine_is_noted() -> None:
    base = document([latency_record("m", 1, 10.0)])
    cur = copy.deepcopy(base)
    cur["results"][0]["environment"] = {**cur["results"][0]["environment"], "cpu": "Other CPU"}
    result = gate.compare(base, cur)
    assert result.passed and len(result.notes) == 1 and "Other CPU" in result.notes[0]
    assert "Other CPU" in gate.render_markdown(result)
