"""Energy over a timed window: NVML on desktop GPUs, tegrastats power rails on Jetson.

Both give average power (W) over the window; joules per clip = average power x window seconds
/ clips processed in the window. NVML comes from the `gpu` extra (nvidia-ml-py); it prefers the
total-energy counter (Volta and later, millijoules since driver load) and falls back to sampling
the instantaneous power in a background thread.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from tsmbench.errors import BackendUnavailableError


@dataclass(frozen=True)
class EnergyResult:
    avg_power_w: float
    energy_j: float
    window_s: float
    source: str

    def per_clip(self, clips: int) -> float | None:
        return self.energy_j / clips if clips > 0 else None

    def as_fields(self, clips: int) -> dict[str, Any]:
        return {
            "avg_power_w": self.avg_power_w,
            "energy_j_per_clip": self.per_clip(clips),
            "energy_source": self.source,
        }


def energy_from_power(avg_power_w: float, window_s: float, *, source: str) -> EnergyResult:
    return EnergyResult(avg_power_w=avg_power_w, energy_j=avg_power_w * window_s, window_s=window_s, source=source)


class NvmlMeter:
    """Context manager measuring GPU `index`'s energy over the `with` block."""

    def __init__(self, index: int = 0, *, interval_s: float = 0.02) -> None:
        try:
            import pynvml  # nvidia-ml-py
        except ImportError:
            raise BackendUnavailableError(
                "energy on NVIDIA GPUs needs nvidia-ml-py: pip install 'tsmbench[gpu]'"
            ) from None
        self._nvml = pynvml
        pynvml.nvmlInit()
        self._handle = pynvml.nvmlDeviceGetHandleByIndex(index)
        self._interval = interval_s
        self._samples: list[float] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.result: EnergyResult | None = None

    def _counter_mj(self) -> float | None:
        try:
            return float(self._nvml.nvmlDeviceGetTotalEnergyConsumption(self._handle))
        except self._nvml.NVMLError:
            return None

    def _sample(self) -> None:
        while not self._stop.is_set():
            try:
                self._samples.append(self._nvml.nvmlDeviceGetPowerUsage(self._handle) / 1000.0)
            except self._nvml.NVMLError:
                return
            self._stop.wait(self._interval)

    def __enter__(self) -> "NvmlMeter":
        self._e0 = self._counter_mj()
        self._t0 = time.perf_counter()
        if self._e0 is None:
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        window = time.perf_counter() - self._t0
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            if self._samples:
                avg = sum(self._samples) / len(self._samples)
                self.result = energy_from_power(avg, window, source="nvml power samples")
        else:
            e1 = self._counter_mj()
            if e1 is not None and self._e0 is not None and window > 0:
                joules = (e1 - self._e0) / 1000.0
                self.result = EnergyResult(joules / window, joules, window, "nvml energy counter")
        try:
            self._nvml.nvmlShutdown()
        except self._nvml.NVMLError:
            pass


def energy_from_tegrastats(text: str, window_s: float) -> EnergyResult | None:
    """Average board input power from tegrastats lines captured during the timed window."""
    from tsmbench.devices.tegrastats import parse_log, summarize

    summary = summarize(parse_log(text))
    avg = summary.get("avg_power_w")
    if avg is None:
        return None
    return energy_from_power(float(avg), window_s, source="tegrastats input rail")


class TegrastatsMeter:
    """Context manager running `tegrastats --interval MS` on this Jetson during the `with` block.

    The board's input rail (VDD_IN, VIN_SYS_5V0 or POM_5V_IN) averaged over the samples gives
    the average power; `result` is None when tegrastats printed nothing usable.
    """

    def __init__(self, *, interval_ms: int = 100, executable: str | None = None) -> None:
        import shutil

        exe = executable or shutil.which("tegrastats") or ("/usr/bin/tegrastats" if _is_file("/usr/bin/tegrastats") else None)
        if exe is None:
            raise BackendUnavailableError("tegrastats not found: energy on a Jetson needs JetPack's tegrastats on PATH")
        self._cmd = [exe, "--interval", str(int(interval_ms))]
        self.result: EnergyResult | None = None
        self.samples = 0

    def __enter__(self) -> "TegrastatsMeter":
        import subprocess
        import tempfile

        self._log = tempfile.TemporaryFile(mode="w+")
        self._proc = subprocess.Popen(self._cmd, stdout=self._log, stderr=subprocess.DEVNULL, text=True)
        self._t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        import subprocess

        window = time.perf_counter() - self._t0
        self._proc.terminate()
        try:
            self._proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._log.seek(0)
        text = self._log.read()
        self._log.close()
        from tsmbench.devices.tegrastats import parse_log

        self.samples = len(parse_log(text))
        self.result = energy_from_tegrastats(text, window)


def _is_file(path: str) -> bool:
    import os

    return os.path.isfile(path)
