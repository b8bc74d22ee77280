"""Jetson parsing and detection: tegrastats lines of several JetPack generations, nvpmodel, jetson_clocks, L4T release."""
from __future__ import annotations

import pytest

from tsmbench.devices import jetson, tegrastats
from tsmbench.measure.energy import energy_from_tegrastats

ORIN_NANO = (
    "07-29-2026 18:00:27 RAM 2272/7620MB (lfb 4x4MB) SWAP 221/3810MB (cached 0MB) "
    "CPU [0%@729,10%@1036,off,0%@1036,0%@729,0%@729] GR3D_FREQ 37% cpu@54.937C soc2@55.562C soc0@56.156C "
    "gpu@55.468C tj@56.656C soc1@56.656C VDD_IN 4673mW/4600mW VDD_CPU_GPU_CV 527mW/527mW VDD_SOC 1339mW/1339mW"
)
AGX_ORIN = (
    "RAM 4096/30536MB (lfb 200x4MB) SWAP 0/15268MB (cached 0MB) CPU [10%@2201,5%@2201,off,off] "
    "GR3D_FREQ 0% cpu@50C soc0@49C VDD_GPU_SOC 3200mW/3210mW VDD_CPU_CV 1600mW/1610mW "
    "VIN_SYS_5V0 5000mW/5010mW VDDQ_VDD2_1V8AO 400mW/400mW"
)
NANO_JP4 = (
    "RAM 2193/3964MB (lfb 4x4MB) SWAP 0/1982MB (cached 0MB) IRAM 0/252kB(lfb 252kB) "
    "CPU [12%@1479,5%@1479,8%@1479,3%@1479] EMC_FREQ 3%@1600 GR3D_FREQ 76%@921 APE 25 "
    "PLL@30C CPU@32.5C PMIC@100C GPU@31C AO@38C thermal@31.75C POM_5V_IN 2606/2606 POM_5V_GPU 1201/1100 POM_5V_CPU 401/401"
)


def test_orin_nano_line():
    s = tegrastats.parse_line(ORIN_NANO)
    assert s.timestamp == "07-29-2026 18:00:27"
    assert s.ram_used_mb == 2272 and s.ram_total_mb == 7620
    assert s.cpu_load_percent == (0.0, 10.0, None, 0.0, 0.0, 0.0)
    assert s.cpu_mhz[1] == 1036 and s.cpu_mhz[2] is None
    assert s.gpu_load_percent == 37.0
    assert s.temperatures_c["tj"] == pytest.approx(56.656)
    assert s.rails_mw == {"VDD_IN": 4673.0, "VDD_CPU_GPU_CV": 527.0, "VDD_SOC": 1339.0}
    assert s.rails_avg_mw["VDD_IN"] == 4600.0
    assert s.input_power_mw() == 4673.0


def test_agx_orin_and_jetpack4_rails():
    agx = tegrastats.parse_line(AGX_ORIN)
    assert agx.input_power_mw() == 5000.0  # VIN_SYS_5V0 is the board input on AGX Orin
    nano = tegrastats.parse_line(NANO_JP4)
    assert nano.input_power_mw() == 2606.0  # POM_5V_IN, no unit on JetPack 4
    assert nano.gpu_load_percent == 76.0 and nano.gpu_mhz == 921
    assert tegrastats.parse_line("some other log line") is None


def test_energy_from_tegrastats_window():
    log = "\n".join([ORIN_NANO, ORIN_NANO.replace("VDD_IN 4673mW", "VDD_IN 5327mW"), "noise"])
    e = energy_from_tegrastats(log, window_s=2.0)
    assert e.avg_power_w == pytest.approx(5.0)
    assert e.energy_j == pytest.approx(10.0)
    assert e.per_clip(100) == pytest.approx(0.1)
    assert energy_from_tegrastats("nothing here", 1.0) is None


def test_nvpmodel_clocks_and_release():
    assert jetson.parse_nvpmodel("NV Power Mode: 15W\n1\n") == {"power_mode": "15W", "power_mode_id": 1}
    clocks = jetson.parse_jetson_clocks(
        "SOC family:tegra234  Machine:NVIDIA Jetson Orin Nano Developer Kit\n"
        "Online CPUs: 0-5\n"
        "cpu0: Online=1 Governor=schedutil MinFreq=729600 MaxFreq=1510400 CurrentFreq=1510400 IdleStates: WFI=0 c7=0\n"
        "GPU MinFreq=306000000 MaxFreq=624750000 CurrentFreq=624750000\n"
        "EMC MinFreq=204000000 MaxFreq=2133000000 CurrentFreq=2133000000 FreqOverride=1\n"
        "NV Power Mode: 15W\n"
    )
    assert clocks["gpu_cur_mhz"] == 624 and clocks["gpu_max_mhz"] == 624
    assert clocks["clocks_pinned"] is False
    assert clocks["emc_cur_mhz"] == 2133 and clocks["cpu_cur_mhz"] == 1510
    assert jetson.parse_tegra_release("# R36 (release), REVISION: 4.3, GCID: 38968081, BOARD: generic") == "R36.4.3"


def test_is_jetson_detection(tmp_path):
    release, model = tmp_path / "nv_tegra_release", tmp_path / "model"
    assert not jetson.is_jetson(release=release, model=model)
    model.write_bytes(b"NVIDIA Jetson Orin Nano Developer Kit\x00")
    assert jetson.is_jetson(release=release, model=model)
    model.write_bytes(b"Raspberry Pi 4 Model B\x00")
    assert not jetson.is_jetson(release=release, model=model)
    release.write_text("# R35 (release), REVISION: 4.1\n")
    assert jetson.is_jetson(release=release, model=model)


def test_benchmark_script_stops_tegrastats_and_keeps_exit_code():
    script = jetson.benchmark_script(workdir="/tmp/x y", build_cmd=["trtexec", "--onnx=a b.onnx"], run_cmd=["trtexec", "--loadEngine=e"])
    assert "'/tmp/x y'" in script and "'--onnx=a b.onnx'" in script
    assert "tegrastats --interval 100" in script and 'kill "$TP"' in script
    assert script.strip().endswith("exit $RC")
