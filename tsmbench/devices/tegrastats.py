"""Parse tegrastats lines (Jetson) into samples: RAM, per-core CPU load@MHz, GPU load, temperatures, power rails.

Formats seen across JetPack releases::

    # Orin Nano/NX (JetPack 5/6): rails "NAME current_mW/average_mW", with a timestamp
    07-29-2026 18:00:27 RAM 2272/7620MB (lfb 4x4MB) SWAP 221/3810MB (cached 0MB)
      CPU [0%@729,0%@1036,...] GR3D_FREQ 0% cpu@54.9C gpu@55.4C tj@56.6C
      VDD_IN 4673mW/4673mW VDD_CPU_GPU_CV 527mW/527mW VDD_SOC 1339mW/1339mW
    # AGX Orin: VDD_GPU_SOC, VDD_CPU_CV, VIN_SYS_5V0 rails
    # Nano / TX2 (JetPack 4): rails "POM_5V_IN 2606/2606" (mW, no unit), GR3D_FREQ 0%@76

The board's input power (VDD_IN, VIN_SYS_5V0 or POM_5V_IN) is what energy per clip is computed from.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

#: Rails that measure the whole board's input power, in order of preference.
INPUT_RAILS = ("VDD_IN", "VIN_SYS_5V0", "POM_5V_IN", "VDD_GPU_SOC")

_TIME_RE = re.compile(r"^(\d{2})-(\d{2})-(\d{4}) (\d{2}):(\d{2}):(\d{2})")
_RAM_RE = re.compile(r"\bRAM (\d+)/(\d+)MB")
_CPU_RE = re.compile(r"\bCPU \[([^\]]*)\]")
_GPU_RE = re.compile(r"\bGR3D_FREQ (\d+)%(?:@\[?(\d+)\]?)?")
_TEMP_RE = re.compile(r"\b([A-Za-z][A-Za-z0-9_]*)@(-?\d+(?:\.\d+)?)C\b")
_RAIL_RE = re.compile(r"\b((?:VDD|VIN|POM|VDDQ)_[A-Z0-9_]+) (\d+)(?:mW)?/(\d+)(?:mW)?\b")


@dataclass(frozen=True)
class TegrastatsSample:
    """One tegrastats line. Power in milliwatts (current and tegrastats' running average)."""

    timestamp: str | None = None
    ram_used_mb: int | None = None
    ram_total_mb: int | None = None
    cpu_load_percent: tuple[float | None, ...] = ()
    cpu_mhz: tuple[int | None, ...] = ()
    gpu_load_percent: float | None = None
    gpu_mhz: int | None = None
    temperatures_c: dict[str, float] = field(default_factory=dict)
    rails_mw: dict[str, float] = field(default_factory=dict)
    rails_avg_mw: dict[str, float] = field(default_factory=dict)

    def input_power_mw(self) -> float | None:
        """The board input power (first of INPUT_RAILS present), else the sum of all rails."""
        for name in INPUT_RAILS:
            if name in self.rails_mw:
                return self.rails_mw[name]
        return sum(self.rails_mw.values()) if self.rails_mw else None


def parse_line(line: str) -> TegrastatsSample | None:
    """Parse one tegrastats line; None for a line that is not a tegrastats sample."""
    if "RAM " not in line and "GR3D_FREQ" not in line:
        return None
    ts = _TIME_RE.match(line.strip())
    ram = _RAM_RE.search(line)
    loads: list[float | None] = []
    mhz: list[int | None] = []
    cpu = _CPU_RE.search(line)
    if cpu:
        for core in cpu.group(1).split(","):
            core = core.strip()
            if core == "off" or not core:
                loads.append(None)
                mhz.append(None)
                continue
            load, _, freq = core.partition("@")
            loads.append(float(load.rstrip("%")) if load.rstrip("%").replace(".", "", 1).isdigit() else None)
            mhz.append(int(freq) if freq.isdigit() else None)
    gpu = _GPU_RE.search(line)
    temps = {name: float(v) for name, v in _TEMP_RE.findall(line) if name not in ("CPU_load",)}
    rails = {}
    rails_avg = {}
    for name, cur, avg in _RAIL_RE.findall(line):
        rails[name] = float(cur)
        rails_avg[name] = float(avg)
    return TegrastatsSample(
        timestamp=ts.group(0) if ts else None,
        ram_used_mb=int(ram.group(1)) if ram else None,
        ram_total_mb=int(ram.group(2)) if ram else None,
        cpu_load_percent=tuple(loads),
        cpu_mhz=tuple(mhz),
        gpu_load_percent=float(gpu.group(1)) if gpu else None,
        gpu_mhz=int(gpu.group(2)) if gpu and gpu.group(2) else None,
        temperatures_c=temps,
        rails_mw=rails,
        rails_avg_mw=rails_avg,
    )


def parse_log(text: str) -> list[TegrastatsSample]:
    """All samples in a tegrastats log (one line per interval)."""
    return [s for s in (parse_line(l) for l in text.splitlines()) if s is not None]


def summarize(samples: list[TegrastatsSample]) -> dict[str, float | int | None]:
    """Average input power (W), peak temperature and mean GPU load over the samples."""
    powers = [p for p in (s.input_power_mw() for s in samples) if p is not None]
    gpu = [s.gpu_load_percent for s in samples if s.gpu_load_percent is not None]
    temps = [max(s.temperatures_c.values()) for s in samples if s.temperatures_c]
    return {
        "samples": len(samples),
        "avg_power_w": sum(powers) / len(powers) / 1000.0 if powers else None,
        "max_power_w": max(powers) / 1000.0 if powers else None,
        "mean_gpu_load_percent": sum(gpu) / len(gpu) if gpu else None,
        "max_temperature_c": max(temps) if temps else None,
    }
