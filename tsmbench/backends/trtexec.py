"""trtexec: command lines per TensorRT generation, and parsers for what it prints and exports.

trtexec prints, at the end of a run, a block like (TensorRT 8.4 and later)::

    [I] === Performance summary ===
    [I] Throughput: 476.66 qps
    [I] Latency: min = 2.05 ms, max = 2.59 ms, mean = 2.09 ms, median = 2.08 ms,
        percentile(90%) = 2.1 ms, percentile(95%) = 2.2 ms, percentile(99%) = 2.58 ms
    [I] Enqueue Time: ...   [I] H2D Latency: ...   [I] GPU Compute Time: ...   [I] D2H Latency: ...
    [I] Total Host Walltime: 3.00 s
    [I] Total GPU Compute Time: 2.99 s
    [W] * GPU compute time is unstable, with coefficient of variance = 2.97%.

TensorRT 8.0-8.2 print only percentile(99%) (and an "End-to-End Host Latency" line); TensorRT 11
no longer copies inputs/outputs by default, so H2D/D2H lines may be absent or zero. Lines may or
may not carry a "[date time]" prefix. "qps" counts inferences (enqueues), not samples: clips/s is
qps times the batch size.

`--exportTimes=FILE` writes one JSON record per iteration: TensorRT 8.x/10.x/11.x use
startEnqMs/endEnqMs, startH2dMs/.../endD2hMs, h2dMs, computeMs, d2hMs, latencyMs; TensorRT 7 and
early 8 used startInMs/inMs/outMs/endToEndMs. Both are read.

Command lines: TensorRT 8 used --workspace=MiB; 10 uses --memPoolSize=workspace:MiB; 11 removed
the precision flags (--fp16, --int8, --best, ...) because every network is strongly typed, so
the precision must already be in the ONNX file (casts, Q/DQ), see tsmbench.backends.quantize.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from tsmbench.errors import BackendUnavailableError, TsmbenchError, UsageError

_STAT_KEYS = {
    "min": "min_ms",
    "max": "max_ms",
    "mean": "mean_ms",
    "median": "median_ms",
    "percentile(90%)": "p90_ms",
    "percentile(95%)": "p95_ms",
    "percentile(99%)": "p99_ms",
}
_METRIC_NAMES = {
    "Latency": "latency",
    "End-to-End Host Latency": "end_to_end",
    "Enqueue Time": "enqueue",
    "H2D Latency": "h2d",
    "GPU Compute Time": "gpu_compute",
    "D2H Latency": "d2h",
}
_PREFIX = r"^(?:\[[^\]]*\]\s*)*"  # "[05/09/2022-06:27:25] [I] " or "[I] " or nothing
_METRIC_RE = re.compile(_PREFIX + r"(?P<name>[A-Za-z0-9\- ]+?):\s*(?P<body>(?:min|mean)\s*=.*)$")
_PAIR_RE = re.compile(r"(min|max|mean|median|percentile\(\d+(?:\.\d+)?%\))\s*=\s*([-+0-9.eE]+)\s*ms")
_THROUGHPUT_RE = re.compile(_PREFIX + r"Throughput:\s*([-+0-9.eE]+)\s*qps")
_WALL_RE = re.compile(_PREFIX + r"Total Host Walltime:\s*([-+0-9.eE]+)\s*s")
_GPU_TOTAL_RE = re.compile(_PREFIX + r"Total GPU Compute Time:\s*([-+0-9.eE]+)\s*s")
_CV_RE = re.compile(r"coefficient of varian(?:ce|tion)\s*=\s*([-+0-9.eE]+)\s*%")
_VERSION_RE = re.compile(r"\[TensorRT v(\d+)\]")
_VERSION_TEXT_RE = re.compile(r"TensorRT version:\s*(\d+)\.(\d+)\.(\d+)")


@dataclass(frozen=True)
class TrtexecSummary:
    """What trtexec's "Performance summary" says. Times in ms; `metrics[name]` maps stat -> ms."""

    throughput_qps: float | None
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    total_host_walltime_s: float | None = None
    total_gpu_compute_s: float | None = None
    cv_percent: float | None = None
    tensorrt_version: tuple[int, int, int] | None = None
    warnings: tuple[str, ...] = ()

    @property
    def generation(self) -> int | None:
        return self.tensorrt_version[0] if self.tensorrt_version else None


def parse_version(text: str) -> tuple[int, int, int] | None:
    """TensorRT version from trtexec's banner ("[TensorRT v100300]" -> (10, 3, 0))."""
    m = _VERSION_RE.search(text)
    if m:
        code = int(m.group(1))
        # 8.6.1 -> 8601 ; 10.3.0 -> 100300 ; 11.0.0 -> 110000 (major * 10000 for >= 10, * 1000 before)
        if code >= 100000:
            return code // 10000, (code // 100) % 100, code % 100
        return code // 1000, (code // 100) % 10, code % 100
    m = _VERSION_TEXT_RE.search(text)
    if m:
        return int(m.group(1)), int(m.group(2)), int(m.group(3))
    return None


def parse_summary(text: str) -> TrtexecSummary:
    """Parse trtexec's stdout (any TensorRT 8/10/11 format) into a TrtexecSummary.

    Only the part after "=== Performance summary ===" is read when the marker is present, so that
    the per-inference lines of --dumpProfile or earlier blocks do not leak in. Raises
    TsmbenchError when no performance figures are found (a failed build, say).
    """
    version = parse_version(text)
    marker = text.rfind("=== Performance summary ===")
    body = text[marker:] if marker >= 0 else text
    throughput = wall = gpu_total = cv = None
    metrics: dict[str, dict[str, float]] = {}
    warnings: list[str] = []
    for raw in body.splitlines():
        line = raw.strip()
        if not line:
            continue
        m = _THROUGHPUT_RE.match(line)
        if m:
            throughput = float(m.group(1))
            continue
        m = _WALL_RE.match(line)
        if m:
            wall = float(m.group(1))
            continue
        m = _GPU_TOTAL_RE.match(line)
        if m:
            gpu_total = float(m.group(1))
            continue
        m = _CV_RE.search(line)
        if m:
            cv = float(m.group(1))
        if "[W]" in line:
            warnings.append(re.sub(_PREFIX, "", line).strip(" *"))
        m = _METRIC_RE.match(line)
        if m:
            name = _METRIC_NAMES.get(m.group("name").strip())
            if name is None:
                continue
            stats = {_STAT_KEYS[k]: float(v) for k, v in _PAIR_RE.findall(m.group("body")) if k in _STAT_KEYS}
            if stats:
                metrics[name] = stats
    if throughput is None and not metrics:
        tail = " | ".join(l.strip() for l in text.strip().splitlines()[-3:])
        raise TsmbenchError(f"trtexec printed no performance summary (did the build or run fail?): {tail[:300]}")
    return TrtexecSummary(
        throughput_qps=throughput,
        metrics=metrics,
        total_host_walltime_s=wall,
        total_gpu_compute_s=gpu_total,
        cv_percent=cv,
        tensorrt_version=version,
        warnings=tuple(warnings),
    )


def parse_export_times(source: str | Path | Sequence[dict[str, Any]]) -> dict[str, list[float]]:
    """Per-iteration times (ms) from a --exportTimes file: {"latency", "compute", "h2d", "d2h", "enqueue"}.

    Accepts the TensorRT 8.x/10.x/11.x keys (h2dMs, computeMs, d2hMs, latencyMs, start/endEnqMs)
    and the older ones (inMs, outMs, endToEndMs). Missing intervals are derived from start/end
    timestamps where both are present.
    """
    if isinstance(source, (str, Path)):
        try:
            records = json.loads(Path(source).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise TsmbenchError(f"cannot read trtexec --exportTimes file {source}: {exc}") from None
    else:
        records = list(source)
    if not isinstance(records, list):
        raise TsmbenchError("trtexec --exportTimes file is not a JSON list of iterations")
    out: dict[str, list[float]] = {"latency": [], "compute": [], "h2d": [], "d2h": [], "enqueue": []}

    def pick(rec: dict[str, Any], *names: str) -> float | None:
        for n in names:
            if rec.get(n) is not None:
                return float(rec[n])
        return None

    def span(rec: dict[str, Any], start: str, end: str) -> float | None:
        if rec.get(start) is not None and rec.get(end) is not None:
            return float(rec[end]) - float(rec[start])
        return None

    for rec in records:
        if not isinstance(rec, dict):
            continue
        compute = pick(rec, "computeMs")
        if compute is None:
            compute = span(rec, "startComputeMs", "endComputeMs")
        h2d = pick(rec, "h2dMs", "inMs")
        if h2d is None:
            h2d = span(rec, "startH2dMs", "endH2dMs") or span(rec, "startInMs", "endInMs")
        d2h = pick(rec, "d2hMs", "outMs")
        if d2h is None:
            d2h = span(rec, "startD2hMs", "endD2hMs") or span(rec, "startOutMs", "endOutMs")
        latency = pick(rec, "latencyMs")
        if latency is None and compute is not None:
            latency = compute + (h2d or 0.0) + (d2h or 0.0)
        enqueue = span(rec, "startEnqMs", "endEnqMs")
        for key, value in (("latency", latency), ("compute", compute), ("h2d", h2d), ("d2h", d2h), ("enqueue", enqueue)):
            if value is not None:
                out[key].append(value)
    if not out["latency"] and not out["compute"]:
        raise TsmbenchError("trtexec --exportTimes file has no per-iteration latency or compute times")
    return out


def build_command(
    onnx: str | Path,
    *,
    engine: str | Path,
    generation: int,
    precision: str = "fp32",
    input_name: str = "input",
    shape: Sequence[int] | None = None,
    workspace_mib: int = 1024,
    timing_cache: str | Path | None = None,
    trtexec: str = "trtexec",
) -> list[str]:
    """The trtexec command line that builds an engine from ONNX, for TensorRT `generation` 8, 10 or 11.

    TRT 8/10: precision through --fp16 / --int8 (with an int8 ONNX holding Q/DQ nodes, --int8 makes
    TRT honour them). TRT 11: no precision flags exist; the ONNX must already be fp16 or Q/DQ,
    and fp32 otherwise. `shape` fixes a dynamic input ("input:1x8x3x224x224").
    """
    if precision not in ("fp32", "fp16", "int8", "bf16"):
        raise UsageError(f"trtexec precision must be fp32, fp16, bf16 or int8, got {precision!r}")
    cmd = [trtexec, f"--onnx={onnx}", f"--saveEngine={engine}", "--skipInference"]
    if generation >= 10:
        cmd.append(f"--memPoolSize=workspace:{int(workspace_mib)}M")
    else:
        cmd.append(f"--workspace={int(workspace_mib)}")
    if generation < 11:
        if precision == "fp16":
            cmd.append("--fp16")
        elif precision == "bf16":
            if generation < 10:
                raise UsageError("bf16 needs TensorRT 9 or later; use fp16 on this TensorRT")
            cmd.append("--bf16")
        elif precision == "int8":
            cmd.append("--int8")
    if shape is not None:
        dims = "x".join(str(int(d)) for d in shape)
        cmd += [f"--minShapes={input_name}:{dims}", f"--optShapes={input_name}:{dims}", f"--maxShapes={input_name}:{dims}"]
    if timing_cache is not None:
        cmd.append(f"--timingCacheFile={timing_cache}")
    return cmd


def run_command(
    engine: str | Path,
    *,
    generation: int,
    export_times: str | Path | None = None,
    warmup_ms: int = 200,
    duration_s: float = 3.0,
    iterations: int = 10,
    input_name: str = "input",
    shape: Sequence[int] | None = None,
    cuda_graph: bool = False,
    trtexec: str = "trtexec",
) -> list[str]:
    """The trtexec command line that times a built engine, with per-iteration times exported.

    --useSpinWait makes the host wait on events by spinning (more stable timing); TRT 11 turns
    it and CUDA graphs on by default, so the flags are only passed before 11 (CUDA graphs on request).
    """
    duration = max(1, round(duration_s)) if duration_s > 0 else 0
    cmd = [
        trtexec,
        f"--loadEngine={engine}",
        f"--warmUp={int(warmup_ms)}",
        f"--duration={duration}",
        f"--iterations={int(iterations)}",
        "--percentile=90,95,99" if generation >= 8 else "--percentile=99",
    ]
    if generation < 11:
        cmd.append("--useSpinWait")
        if cuda_graph:
            cmd.append("--useCudaGraph")
    if shape is not None:
        cmd.append(f"--shapes={input_name}:" + "x".join(str(int(d)) for d in shape))
    if export_times is not None:
        cmd.append(f"--exportTimes={export_times}")
    return cmd


def parity_command(
    engine: str | Path,
    *,
    inputs: dict[str, str | Path],
    export_output: str | Path,
    trtexec: str = "trtexec",
) -> list[str]:
    """One inference on given inputs (raw little-endian binaries, C order), outputs exported as JSON."""
    load = ",".join(f"{name}:{path}" for name, path in inputs.items())
    return [trtexec, f"--loadEngine={engine}", f"--loadInputs={load}", "--iterations=1", "--warmUp=0",
            "--duration=0", f"--exportOutput={export_output}"]


def parse_export_output(source: str | Path | Sequence[dict[str, Any]]) -> dict[str, Any]:
    """--exportOutput JSON ([{"name", "dimensions": "1x10", "values": [...]}, ...]) -> {name: ndarray}."""
    import numpy as np

    if isinstance(source, (str, Path)):
        try:
            records = json.loads(Path(source).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise TsmbenchError(f"cannot read trtexec --exportOutput file {source}: {exc}") from None
    else:
        records = list(source)
    out: dict[str, Any] = {}
    for rec in records if isinstance(records, list) else []:
        if not isinstance(rec, dict) or "name" not in rec:
            continue
        dims = [int(d) for d in str(rec.get("dimensions", "")).split("x") if d.strip().lstrip("-").isdigit()]
        values = np.asarray(rec.get("values", []), dtype=np.float64)
        if dims and values.size == int(np.prod(dims)):
            values = values.reshape(dims)
        out[str(rec["name"])] = values
    if not out:
        raise TsmbenchError("trtexec --exportOutput file holds no output tensors")
    return out


def find_trtexec() -> str:
    """Path of a local trtexec (PATH, then the usual TensorRT/JetPack locations)."""
    import shutil

    found = shutil.which("trtexec")
    if found:
        return found
    for cand in ("/usr/src/tensorrt/bin/trtexec", "/opt/tensorrt/bin/trtexec", "/usr/local/tensorrt/bin/trtexec"):
        if Path(cand).is_file():
            return cand
    raise BackendUnavailableError(
        "trtexec not found on PATH nor in /usr/src/tensorrt/bin: install TensorRT (JetPack ships it) "
        "or use --backend tensorrt with the `tensorrt` extra"
    )


def summary_to_row(
    summary: TrtexecSummary, times: dict[str, list[float]] | None, *, batch: int, frames_per_clip: int
) -> dict[str, Any]:
    """Latency fields of a result row from a trtexec run.

    With exported per-iteration times the statistics are recomputed from the raw host latencies
    (tsmbench.measure.timing, identical rules to the torch/ORT rows); otherwise the printed
    "Latency" line (TRT 8/10) or "GPU Compute Time" (TRT 11 without transfers) is used.
    """
    from tsmbench.measure.timing import summarize

    row: dict[str, Any] = {"tensorrt_version": ".".join(map(str, summary.tensorrt_version)) if summary.tensorrt_version else None}
    gpu = summary.metrics.get("gpu_compute")
    if gpu:
        row["gpu_compute_median_ms"] = gpu.get("median_ms")
        row["gpu_compute_mean_ms"] = gpu.get("mean_ms")
    if summary.cv_percent is not None:
        row["trtexec_cv_warning_percent"] = summary.cv_percent
    raw = (times or {}).get("latency") or (times or {}).get("compute")
    if raw:
        stats = summarize(raw, batch=batch, frames_per_clip=frames_per_clip, wall_s=summary.total_host_walltime_s)
        row.update(stats.as_dict())
        row["timing_source"] = "trtexec --exportTimes (host latency per iteration)"
        return row
    printed = summary.metrics.get("latency") or summary.metrics.get("gpu_compute")
    if not printed or "mean_ms" not in printed:
        raise TsmbenchError("trtexec summary has no Latency or GPU Compute Time line to report")
    mean = printed["mean_ms"]
    qps = summary.throughput_qps
    row.update(
        {
            "min_ms": printed.get("min_ms"),
            "max_ms": printed.get("max_ms"),
            "mean_ms": mean,
            "median_ms": printed.get("median_ms"),
            "p90_ms": printed.get("p90_ms"),
            "p95_ms": printed.get("p95_ms"),
            "p99_ms": printed.get("p99_ms"),
            "std_ms": None,
            "cv": summary.cv_percent / 100.0 if summary.cv_percent is not None else None,
            "iterations": None,
            "wall_s": summary.total_host_walltime_s,
            "batch": batch,
            "frames_per_clip": frames_per_clip,
            "throughput_clips_per_s": qps * batch if qps is not None else batch * 1000.0 / mean,
            "throughput_frames_per_s": (qps * batch if qps is not None else batch * 1000.0 / mean) * frames_per_clip,
            "timing_source": "trtexec performance summary",
        }
    )
    return row
