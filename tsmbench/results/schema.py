"""The JSON contract shared by every measuring command.

    {"schema_version": 1, "tsmbench_version": "...", "created": "...",
     "results": [{"kind": "flops"|"eval"|"latency", "model": ..., ...,
                  "environment": {...}}]}
"""
from __future__ import annotations

import datetime as _dt
import json
import math
import os
import platform
import sys
from pathlib import Path
from typing import Any

from tsmbench import __version__
from tsmbench.errors import UsageError

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


def invoked_command(argv: list[str] | None = None) -> list[str] | None:
    """The tsmbench command line of this process, or None when tsmbench is not the program.

    `python -m tsmbench ...` and the `tsmbench` console script both come back as
    ["tsmbench", ...], so that a report can print a command the reader can paste.
    """
    argv = list(sys.argv if argv is None else argv)
    if not argv:
        return None
    prog = argv[0].replace("\\", "/")
    if prog.rsplit("/", 1)[-1] in ("tsmbench", "tsmbench.exe") or prog.endswith("tsmbench/__main__.py"):
        return ["tsmbench", *argv[1:]]
    return None


def make_document(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Wrap result records into the versioned document every --json output prints.

    When the process is the tsmbench CLI, the document also carries its "command" so that
    reports built from the file alone can say how to reproduce it.
    """
    for r in results:
        if r.get("kind") not in KINDS:
            raise ValueError(f"result kind must be one of {KINDS}, got {r.get('kind')!r}")
        if "model" not in r:
            raise ValueError("every result needs a 'model'")
    doc: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "tsmbench_version": __version__,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "results": results,
    }
    command = invoked_command()
    if command is not None:
        doc["command"] = command
    return doc


#: Fields that, when present and not null, must be numbers (bool excluded) for the record to be usable.
NUMERIC_FIELDS: dict[str, tuple[str, ...]] = {
    "flops": ("params", "flops", "flops_per_frame", "num_segments"),
    "eval": ("top1", "top5", "mean_class_acc", "num_videos", "views", "throughput_clips_per_s"),
    "latency": (
        "batch", "median_ms", "p90_ms", "p95_ms", "p99_ms", "mean_ms", "min_ms", "max_ms",
        "std_ms", "cv", "throughput_clips_per_s", "iterations",
    ),
}


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def validate_document(doc: Any, *, source: str = "document") -> dict[str, Any]:
    """Check that `doc` is a results document this tsmbench can read, and return it.

    Raises UsageError (exit code 2) with a one-line message naming `source` and the first
    problem found: not an object, a missing or different schema_version, results that are not
    records of a known kind with a model, or a metric that is not a number.
    """
    hint = "pass a file written by a tsmbench measuring command with --json"
    if not isinstance(doc, dict):
        raise UsageError(f"{source}: expected a JSON object with 'schema_version' and 'results'; {hint}")
    version = doc.get("schema_version")
    if version is None:
        raise UsageError(f"{source}: no 'schema_version'; {hint}")
    if not isinstance(version, int) or isinstance(version, bool):
        raise UsageError(f"{source}: schema_version must be an integer, got {version!r}")
    if version > SCHEMA_VERSION:
        raise UsageError(
            f"{source}: schema_version {version} was written by a newer tsmbench "
            f"(this one reads {SCHEMA_VERSION}); upgrade tsmbench"
        )
    if version != SCHEMA_VERSION:
        raise UsageError(
            f"{source}: schema_version {version} is not supported (this tsmbench reads {SCHEMA_VERSION}); "
            "re-run the measurement with this tsmbench"
        )
    results = doc.get("results")
    if not isinstance(results, list):
        raise UsageError(f"{source}: 'results' must be a list of result records; {hint}")
    for i, rec in enumerate(results):
        where = f"{source}: results[{i}]"
        if not isinstance(rec, dict):
            raise UsageError(f"{where} is not an object")
        kind = rec.get("kind")
        if kind not in KINDS:
            raise UsageError(f"{where}: kind must be one of {', '.join(KINDS)}, got {kind!r}")
        model = rec.get("model")
        if not isinstance(model, str) or not model:
            raise UsageError(f"{where}: 'model' must be a non-empty string")
        for name in NUMERIC_FIELDS[kind]:
            value = rec.get(name)
            if value is not None and not _is_number(value):
                raise UsageError(f"{where} ({model}): {name} must be a number or null, got {value!r}")
    return doc


def load_document(path: str | Path) -> dict[str, Any]:
    """Read and validate one results document from a JSON file ("-" reads stdin)."""
    source = str(path)
    try:
        if source == "-":
            text = sys.stdin.read()
        else:
            text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"{source}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{source}: cannot be read ({exc})") from None
    if not text.strip():
        raise UsageError(f"{source}: the file is empty; did the measuring command fail before writing JSON?")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"{source}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); "
            "was something other than the --json document written to it?"
        ) from None
    return validate_document(doc, source=source)
