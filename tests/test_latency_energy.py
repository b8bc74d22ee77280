"""NVML energy over a timed window, with a stand-in pynvml module (no GPU here)."""
from __future__ import annotations

import sys
import time
import types

import pytest

from tsmbench.errors import BackendUnavailableError
from tsmbench.measure.energy import NvmlMeter, energy_from_power


def _fake_pynvml(counter: bool):
    mod = types.ModuleType("pynvml")

    class NVMLError(Exception):
        pass

    state = {"mj": 1_000_000.0, "t0": time.perf_counter()}

    def energy(_h):
        if not counter:
            raise NVMLError("not supported")
        # 50 W: 50 mJ per ms of wall time since the start
        return state["mj"] + (time.perf_counter() - state["t0"]) * 50_000.0

    mod.NVMLError = NVMLError
    mod.nvmlInit = lambda: None
    mod.nvmlShutdown = lambda: None
    mod.nvmlDeviceGetHandleByIndex = lambda i: object()
    mod.nvmlDeviceGetTotalEnergyConsumption = energy
    mod.nvmlDeviceGetPowerUsage = lambda _h: 75_000  # milliwatts
    return mod


@pytest.mark.parametrize("counter,expected_w,source", [(True, 50.0, "nvml energy counter"), (False, 75.0, "nvml power samples")])
def test_nvml_meter(monkeypatch, counter, expected_w, source):
    monkeypatch.setitem(sys.modules, "pynvml", _fake_pynvml(counter))
    meter = NvmlMeter(interval_s=0.005)
    with meter:
        time.sleep(0.1)
    r = meter.result
    assert r is not None and r.source == source
    assert r.avg_power_w == pytest.approx(expected_w, rel=0.05)
    assert r.energy_j == pytest.approx(r.avg_power_w * r.window_s)
    fields = r.as_fields(clips=10)
    assert fields["energy_j_per_clip"] == pytest.approx(r.energy_j / 10)


def test_nvml_missing_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)
    with pytest.raises(BackendUnavailableError, match=r"tsmbench\[gpu\]"):
        NvmlMeter()


def test_energy_per_clip_zero_clips():
    assert energy_from_power(10.0, 2.0, source="x").per_clip(0) is None


def test_tegrastats_meter_with_stand_in(tmp_path):
    """A stand-in tegrastats (Orin Nano line format, 6 W then 8 W) sampled during the `with` block."""
    from tsmbench.measure.energy import TegrastatsMeter

    exe = tmp_path / "tegrastats"
    exe.write_text(
        "#!/bin/sh\n"
        "head='RAM 2272/7620MB (lfb 4x4MB) CPU [5%@1510] GR3D_FREQ 99% gpu@55.4C'\n"
        "while true; do echo \"$head VDD_IN 6000mW/6000mW\"; echo \"$head VDD_IN 8000mW/7000mW\"; sleep 0.02; done\n"
    )
    exe.chmod(0o755)
    meter = TegrastatsMeter(executable=str(exe), interval_ms=20)
    with meter:
        time.sleep(0.3)
    assert meter.samples >= 2
    assert meter.result.avg_power_w == pytest.approx(7.0, abs=1.0)
    assert meter.result.source == "tegrastats input rail"


def test_tegrastats_meter_missing(monkeypatch):
    from tsmbench.measure.energy import TegrastatsMeter

    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setattr("tsmbench.measure.energy._is_file", lambda p: False)
    with pytest.raises(BackendUnavailableError, match="tegrastats"):
        TegrastatsMeter()
