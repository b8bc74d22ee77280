"""The local machine: what a latency figure depends on (CPU, threads, clocks, GPU, driver, libraries)."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

_CPUFREQ = Path("/sys/devices/system/cpu/cpu0/cpufreq")


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError:
        return None


def cpu_clocks() -> dict[str, Any]:
    """CPU frequency governor and current/max MHz of core 0, where the kernel exposes them."""
    out: dict[str, Any] = {}
    gov = _read(_CPUFREQ / "scaling_governor")
    if gov:
        out["cpu_governor"] = gov
    for key, name in (("scaling_cur_freq", "cpu_cur_mhz"), ("cpuinfo_max_freq", "cpu_max_mhz")):
        v = _read(_CPUFREQ / key)
        if v and v.isdigit():
            out[name] = int(v) // 1000
    return out


def nvidia_smi() -> dict[str, Any]:
    """GPU name, driver, clocks, power limit from nvidia-smi (empty when absent)."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return {}
    fields = "name,driver_version,clocks.sm,clocks.mem,clocks.max.sm,power.limit,pstate"
    try:
        proc = subprocess.run(
            [exe, f"--query-gpu={fields}", "--format=csv,noheader,nounits"],
            capture_output=True, text=True, timeout=20, check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return {}
    if proc.returncode != 0 or not proc.stdout.strip():
        return {}
    values = [v.strip() for v in proc.stdout.strip().splitlines()[0].split(",")]
    keys = ["gpu", "gpu_driver", "gpu_sm_clock_mhz", "gpu_mem_clock_mhz", "gpu_max_sm_clock_mhz", "gpu_power_limit_w", "gpu_pstate"]
    return {k: v for k, v in zip(keys, values) if v and v != "[N/A]"}


def library_versions() -> dict[str, str]:
    """Installed versions of the inference libraries (from package metadata: nothing is imported)."""
    from importlib import metadata

    out: dict[str, str] = {}
    for dist, key in (("onnxruntime", "onnxruntime"), ("onnxruntime-gpu", "onnxruntime"), ("onnx", "onnx"),
                      ("tensorrt", "tensorrt"), ("nvidia-ml-py", "nvidia_ml_py")):
        try:
            out.setdefault(key, metadata.version(dist))
        except metadata.PackageNotFoundError:
            continue
    return out


def environment(*, device: str = "cpu", threads: int | None = None) -> dict[str, Any]:
    """schema.environment() plus what matters for latency on this machine."""
    from tsmbench.results.schema import environment as base_environment

    env = base_environment()
    env.update(cpu_clocks())
    env.update(library_versions())
    if threads is not None:
        env["threads"] = threads
    env["omp_num_threads"] = os.environ.get("OMP_NUM_THREADS")
    if device == "cuda":
        env.update(nvidia_smi())
        try:
            import torch

            if torch.cuda.is_available():
                env["gpu"] = torch.cuda.get_device_name(0)
                env["cudnn"] = torch.backends.cudnn.version()
        except ImportError:  # pragma: no cover
            pass
    if device == "jetson" or Path("/etc/nv_tegra_release").exists():
        from tsmbench.devices import jetson

        if jetson.is_jetson():
            env.update(jetson.board_state())
    return env
