"""Backends that run a model and time it: one module each, imported only when used.

Only tensorrt_backend imports tensorrt; onnxruntime_backend imports onnxruntime inside its
functions, so `import tsmbench.backends` is cheap.
"""
from __future__ import annotations

import importlib
from types import ModuleType

from tsmbench.errors import UsageError

#: backend name -> module under tsmbench.backends, and the devices it can target.
BACKENDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "torch": ("torch_backend", ("cpu", "cuda")),
    "onnxruntime": ("onnxruntime_backend", ("cpu", "cuda")),
    "tensorrt": ("tensorrt_backend", ("cuda", "jetson")),
    "trtexec": ("trtexec", ("cuda", "jetson")),
}
PRECISIONS = ("fp32", "fp16", "bf16", "int8")
DEVICES = ("cpu", "cuda", "jetson")


def list_backends() -> list[str]:
    return list(BACKENDS)


def get_backend(name: str) -> ModuleType:
    """The module implementing backend `name` (imported now)."""
    try:
        module, _ = BACKENDS[name]
    except KeyError:
        raise UsageError(f"unknown backend {name!r}: choose one of {', '.join(BACKENDS)}") from None
    return importlib.import_module(f"tsmbench.backends.{module}")


def check_target(backend: str, device: str) -> None:
    """UsageError when `backend` cannot run on `device` at all (not: when it is missing here)."""
    if backend not in BACKENDS:
        raise UsageError(f"unknown backend {backend!r}: choose one of {', '.join(BACKENDS)}")
    if device not in DEVICES:
        raise UsageError(f"unknown device {device!r}: choose one of {', '.join(DEVICES)}")
    devices = BACKENDS[backend][1]
    if device not in devices:
        raise UsageError(f"--backend {backend} runs on {' or '.join(devices)}, not {device}")
