"""The JSON contract shared by every measuring command.

    {"schema_version": 1, "tsmbench_version": "...", "created": "...",
     "results": [{"kind": "flops"|"eval"|"latency", "model": ..., ...,
                  "environment": {...}}]}
"""
from __future__ import annotations

import datetime as _dt
import os
import platform
import sys
from typing import Any

from tsmbench import __version__

SCHEMA_VERSION = 1
KINDS = ("flops", "eval", "latency")


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment(*, torch_threads: bool = True) -> dict[str, Any]:
    """The facts a reader needs to judge a figure: machine, CPU, library versions."""
    env: dict[str, Any] = {
        "hostname": platform.node(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "python": sys.version.split()[0],
        "tsmbench": __version__,
    }
    if "torch" in sys.modules or torch_threads:
        try:
            import torch

            env["torch"] = torch.__version__
            env["torch_threads"] = torch.get_num_threads()
            env["cuda"] = torch.version.cuda
            if torch.cuda.is_available():
                env["gpu"] = torch.cuda.get_device_name(0)
        except ImportError:  # pragma: no cover - torch is a dependency
            pass
    return env


def make_document(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Wrap result records into the versioned document every --json output prints."""
    for r in results:
        if r.get("kind") not in KINDS:
            raise ValueError(f"result kind must be one of {KINDS}, got {r.get('kind')!r}")
        if "model" not in r:
            raise ValueError("every result needs a 'model'")
    return {
        "schema_version": SCHEMA_VERSION,
        "tsmbench_version": __version__,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "results": results,
    }
