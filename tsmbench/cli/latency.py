"""`tsmbench latency`: time a model on torch, ONNX Runtime, TensorRT or trtexec; sweeps keep failures as rows."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from tsmbench.cli.common import JsonFlag, emit_json, err_console, out_console
from tsmbench.errors import TsmbenchError, UsageError


def parse_list(value: str, what: str) -> list[str]:
    items = [v.strip() for v in value.split(",") if v.strip()]
    if not items:
        raise UsageError(f"{what} is empty")
    return items


def parse_batches(value: str) -> list[int]:
    out = []
    for item in parse_list(value, "--batch"):
        if not item.isdigit() or int(item) < 1:
            raise UsageError(f"--batch takes positive integers separated by commas (1,8,16), got {value!r}")
        out.append(int(item))
    return out


def _fmt(v: Any, digits: int = 2) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


def print_table(rows: list[dict[str, Any]], summaries: list[dict[str, Any]]) -> None:
    from rich.table import Table

    first = rows[0] if rows else {}
    table = Table(title=f"{first.get('model', '')} on {first.get('device', '')}, {first.get('mode', '')} mode: "
                        "ms per iteration (a batch of clips, or one frame in stream mode)")
    for col in ("backend", "prec", "batch", "median", "p90", "p99", "cv", "clips/s", "frames/s", "iters", "status"):
        table.add_column(col, justify="left" if col in ("backend", "prec", "status") else "right", no_wrap=True)
    errors = []
    for r in rows:
        if r["status"] != "ok":
            errors.append(f"{r['backend']} {r['precision']} batch {r['batch']}: {r.get('error')}")
        table.add_row(
            r["backend"], r["precision"], str(r["batch"]),
            _fmt(r.get("median_ms"), 3), _fmt(r.get("p90_ms"), 3), _fmt(r.get("p99_ms"), 3),
            "-" if r.get("cv") is None else f"{r['cv']:.1%}",
            _fmt(r.get("throughput_clips_per_s"), 1), _fmt(r.get("throughput_frames_per_s"), 1),
            "-" if r.get("iterations") is None else str(r["iterations"]), r["status"],
        )
    # Non-terminal output defaults to 80 columns, which truncates the figures; tables stay readable in logs.
    console = out_console
    if not out_console.is_terminal and out_console.width < 110:
        from rich.console import Console

        console = Console(highlight=False, width=110)
    console.print(table)
    for e in errors:
        out_console.print(f"error: {e}", markup=False)
    for s in summaries:
        p90 = s.get("single_stream_p90_ms")
        off = s.get("offline_clips_per_s")
        if p90 is None and off is None:
            continue
        out_console.print(
            f"MLPerf-style {s['backend']}/{s['precision']}: SingleStream p90 {_fmt(p90, 3)} ms (batch 1); "
            f"Offline {_fmt(off, 1)} clips/s (batch {s.get('offline_batch')})", markup=False
        )
        for r in rows:
            if r.get("energy_j_per_clip") is not None and r["backend"] == s["backend"] and r["precision"] == s["precision"]:
                out_console.print(f"  batch {r['batch']}: {r['avg_power_w']:.1f} W, {r['energy_j_per_clip']:.3f} J/clip ({r.get('energy_source')})")


def summaries_of(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    from tsmbench.measure.timing import mlperf_summary

    groups: dict[tuple[str, str, str, str, str], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["model"], r["backend"], r["device"], r["precision"], r["mode"]), []).append(r)
    out = []
    for (model, backend, device, precision, mode), group in groups.items():
        out.append({"model": model, "backend": backend, "device": device, "precision": precision, "mode": mode,
                    **mlperf_summary(group)})
    return out


def latency_command(
    model: Annotated[str, typer.Argument(help="Architecture (tsm_r50, tsm_mobilenetv2_online, ...) or zoo id (tsm_r50.k400_8f_mit).")],
    backend: Annotated[str, typer.Option("--backend", "-b", help="torch | onnxruntime | tensorrt | trtexec; several with commas.")] = "torch",
    device: Annotated[str, typer.Option("--device", help="cpu | cuda | jetson")] = "cpu",
    host: Annotated[Optional[str], typer.Option("--host", help="USER@BOARD: run trtexec on a Jetson over the system ssh/scp.")] = None,
    ssh_config: Annotated[Optional[Path], typer.Option("--ssh-config", help="ssh config file passed as `ssh -F` (default: yours).")] = None,
    remote_dir: Annotated[str, typer.Option("--remote-dir", help="Working folder on the board (ONNX, engines, logs).")] = "/tmp/tsmbench",
    precision: Annotated[str, typer.Option("--precision", "-p", help="fp32 | fp16 | bf16 | int8; several with commas.")] = "fp32",
    batch: Annotated[str, typer.Option("--batch", help="Batch sizes in clips (frames in stream mode), e.g. 1,8,16.")] = "1",
    mode: Annotated[str, typer.Option("--mode", help="clip: whole clips; stream: the online model frame by frame with its shift buffers.")] = "clip",
    segments: Annotated[int, typer.Option("--segments", "-t", help="Frames per clip (clip mode).")] = 8,
    size: Annotated[int, typer.Option("--size", help="Input height and width in pixels.")] = 224,
    threads: Annotated[Optional[int], typer.Option("--threads", help="CPU threads (torch intra-op / ORT intra-op); default: library default.")] = None,
    warmup_s: Annotated[float, typer.Option("--warmup-s", help="Seconds of untimed warm-up.")] = 1.0,
    min_s: Annotated[float, typer.Option("--min-s", help="Time at least this many seconds...")] = 3.0,
    min_iters: Annotated[int, typer.Option("--min-iters", help="...and at least this many iterations (MLPerf wants 64 for a p90).")] = 64,
    num_classes: Annotated[Optional[int], typer.Option("--num-classes", help="Classes of the head (default: the weights', else 400).")] = None,
    weights: Annotated[Optional[Path], typer.Option("--weights", help="Local checkpoint to load (latency does not depend on it; parity and the engine cache do).")] = None,
    torch_mode: Annotated[str, typer.Option("--torch-mode", help="torch backend: eager | cuda-graph | compile.")] = "eager",
    channels_last: Annotated[bool, typer.Option("--channels-last", help="torch backend: channels-last memory format.")] = False,
    calibration: Annotated[str, typer.Option("--calibration", help="int8 calibration frames: random | synthetic | a folder of videos.")] = "random",
    allow_mismatch: Annotated[bool, typer.Option("--allow-mismatch", help="Report latency even when an engine disagrees with torch beyond the tolerance.")] = False,
    energy: Annotated[bool, typer.Option("--energy/--no-energy", help="Average power and J per clip (NVML on CUDA, tegrastats on Jetson).")] = True,
    json_out: JsonFlag = False,
) -> None:
    """Measure latency and throughput the way trtexec and MLPerf report them.

    Statistics over raw per-iteration times (min, mean, median, p90/p95/p99, max, std, CV with a
    warning above 2.5%); throughput = batch x 1000 / mean_ms clips/s, times frames per clip for
    frames/s. One row per (backend, precision, batch); a failing one is a row with its error.
    """
    from tsmbench.backends import BACKENDS, PRECISIONS
    from tsmbench.backends.latency import LatencySpec, expand, sweep

    backends = parse_list(backend, "--backend")
    for b in backends:
        if b not in BACKENDS:
            raise UsageError(f"unknown backend {b!r}: choose from {', '.join(BACKENDS)}")
    precisions = parse_list(precision, "--precision")
    for p in precisions:
        if p not in PRECISIONS:
            raise UsageError(f"unknown precision {p!r}: choose from {', '.join(PRECISIONS)}")
    if device not in ("cpu", "cuda", "jetson"):
        raise UsageError(f"--device must be cpu, cuda or jetson, got {device!r}")
    if mode not in ("clip", "stream"):
        raise UsageError(f"--mode must be clip or stream, got {mode!r}")
    if min_iters < 1 or min_s < 0 or warmup_s < 0:
        raise UsageError("--min-iters must be >= 1 and --min-s, --warmup-s >= 0")
    if threads is not None and threads < 1:
        raise UsageError("--threads must be >= 1")
    if host and device != "jetson":
        raise UsageError("--host is for a Jetson board: add --device jetson")
    base = LatencySpec(
        model=model, device=device, mode=mode, segments=segments, size=size, threads=threads, warmup_s=warmup_s,
        min_s=min_s, min_iters=min_iters, num_classes=num_classes, weights=str(weights) if weights else None,
        host=host, ssh_config=str(ssh_config) if ssh_config else None, remote_dir=remote_dir, torch_mode=torch_mode,
        channels_last=channels_last, calibration=calibration, allow_mismatch=allow_mismatch, energy=energy,
    )
    specs = expand(base, backends=backends, batches=parse_batches(batch), precisions=precisions)

    def log(msg: str) -> None:
        err_console.print(msg, markup=False, highlight=False)

    rows = sweep(specs, log=log)
    summaries = summaries_of(rows)
    from tsmbench.results.schema import make_document
    from tsmbench.results.store import try_record_run

    doc = make_document(rows)
    doc["summary"] = summaries
    if json_out:
        emit_json(doc)
    else:
        print_table(rows, summaries)
    try_record_run(doc)
    if all(r["status"] == "error" for r in rows):
        reasons = sorted({r["error"] for r in rows})
        raise TsmbenchError(f"no configuration could be timed: {reasons[0]}" + (f" (and {len(reasons) - 1} other reasons)" if len(reasons) > 1 else ""))


def register(app: typer.Typer) -> None:
    app.command("latency")(latency_command)
