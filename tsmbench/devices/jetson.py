"""Jetson boards: detection, power mode and clocks, and trtexec benchmarks with tegrastats.

On the board itself everything runs locally; from a workstation `--host USER@BOARD` uses
tsmbench.devices.ssh (system ssh/scp): copy the ONNX file, build the engine on the board with
trtexec (engines are tied to the board's GPU and TensorRT), time it while tegrastats samples the
power rails, and bring the outputs back to parse them here. Both paths run the same shell
script, so what is measured does not depend on where tsmbench runs.
"""
from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from tsmbench.errors import TsmbenchError

NV_TEGRA_RELEASE = Path("/etc/nv_tegra_release")
DEVICE_TREE_MODEL = Path("/proc/device-tree/model")
#: Where JetPack installs trtexec (not on PATH by default).
BOARD_PATH = "$PATH:/usr/src/tensorrt/bin:/usr/bin"


def is_jetson(*, release: Path = NV_TEGRA_RELEASE, model: Path = DEVICE_TREE_MODEL) -> bool:
    """True on a Jetson: /etc/nv_tegra_release exists or the device-tree model names one."""
    if release.exists():
        return True
    try:
        text = model.read_bytes().decode("utf-8", "replace").rstrip("\x00").lower()
    except OSError:
        return False
    return "jetson" in text or "tegra" in text or "nvidia orin" in text


def parse_tegra_release(text: str) -> str | None:
    """'# R36 (release), REVISION: 4.3, ...' -> 'R36.4.3' (the L4T release)."""
    m = re.search(r"R(\d+)\s*\(release\),\s*REVISION:\s*([\d.]+)", text)
    return f"R{m.group(1)}.{m.group(2)}" if m else None


def parse_nvpmodel(text: str) -> dict[str, Any]:
    """`nvpmodel -q` -> {"power_mode": "MAXN", "power_mode_id": 0}."""
    out: dict[str, Any] = {}
    m = re.search(r"NV Power Mode:\s*(\S+)", text)
    if m:
        out["power_mode"] = m.group(1)
    for line in text.splitlines():
        if line.strip().isdigit():
            out["power_mode_id"] = int(line.strip())
    return out


def parse_jetson_clocks(text: str) -> dict[str, Any]:
    """`jetson_clocks --show` -> GPU/EMC current frequencies and whether clocks are pinned."""
    out: dict[str, Any] = {}
    gpu = re.search(r"^GPU\s+MinFreq=(\d+)\s+MaxFreq=(\d+)\s+CurrentFreq=(\d+)", text, re.M)
    if gpu:
        lo, hi, cur = (int(g) for g in gpu.groups())
        out["gpu_cur_mhz"] = cur // 1_000_000
        out["gpu_max_mhz"] = hi // 1_000_000
        out["clocks_pinned"] = lo == hi == cur
    emc = re.search(r"^EMC\s+MinFreq=(\d+)\s+MaxFreq=(\d+)\s+CurrentFreq=(\d+)", text, re.M)
    if emc:
        out["emc_cur_mhz"] = int(emc.group(3)) // 1_000_000
    cpus = re.findall(r"^cpu\d+:.*?CurrentFreq=(\d+)", text, re.M)
    if cpus:
        out["cpu_cur_mhz"] = max(int(c) for c in cpus) // 1000
    return out


class Board(Protocol):
    def run(self, command: str, *, check: bool = True, timeout: float | None = 600) -> subprocess.CompletedProcess[str]: ...
    def put(self, local: str | Path, remote: str, *, timeout: float = 600) -> None: ...
    def get(self, remote: str, local: str | Path, *, timeout: float = 600) -> None: ...


@dataclass(frozen=True)
class LocalBoard:
    """This machine, when tsmbench runs on the Jetson itself."""

    target: str = "localhost"

    def run(self, command: str, *, check: bool = True, timeout: float | None = 600) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=timeout, check=False)
        if check and proc.returncode != 0:
            raise TsmbenchError(f"`{command[:80]}` exited with {proc.returncode}: {proc.stderr.strip()[-300:]}")
        return proc

    def put(self, local: str | Path, remote: str, *, timeout: float = 600) -> None:
        dst = Path(remote).expanduser()
        if Path(local).resolve() != dst.resolve():
            shutil.copyfile(local, dst)

    def get(self, remote: str, local: str | Path, *, timeout: float = 600) -> None:
        shutil.copyfile(Path(remote).expanduser(), local)


def board_state(board: Board | None = None) -> dict[str, Any]:
    """Model, L4T release, nvpmodel power mode and jetson_clocks state (what was readable)."""
    board = board or LocalBoard()
    script = (
        f"export PATH={BOARD_PATH}; "
        "echo '--model--'; tr -d '\\0' < /proc/device-tree/model 2>/dev/null; echo; "
        "echo '--release--'; head -n1 /etc/nv_tegra_release 2>/dev/null; "
        "echo '--nvpmodel--'; nvpmodel -q 2>/dev/null; "
        "echo '--clocks--'; jetson_clocks --show 2>/dev/null; true"
    )
    text = board.run(script, check=False, timeout=60).stdout
    parts: dict[str, str] = {}
    pieces = re.split(r"^--(\w+)--$", text, flags=re.M)
    for name, body in zip(pieces[1::2], pieces[2::2]):
        parts[name] = body.strip()
    out: dict[str, Any] = {}
    if parts.get("model"):
        out["jetson_model"] = parts["model"]
    rel = parse_tegra_release(parts.get("release", ""))
    if rel:
        out["l4t_release"] = rel
    out.update(parse_nvpmodel(parts.get("nvpmodel", "")))
    out.update(parse_jetson_clocks(parts.get("clocks", "")))
    return out


def benchmark_script(
    *, workdir: str, build_cmd: list[str] | None, run_cmd: list[str], tegrastats_interval_ms: int = 100
) -> str:
    """The shell script run on the board: build (if needed), then time with tegrastats sampling."""
    q = shlex.quote
    lines = [
        "set -u",
        f"export PATH={BOARD_PATH}",
        f"cd {q(workdir)}",
    ]
    if build_cmd:
        lines.append(" ".join(q(a) for a in build_cmd) + " > build.log 2>&1 || { tail -n 20 build.log >&2; exit 3; }")
    lines += [
        "TP=''",
        f"if command -v tegrastats >/dev/null 2>&1; then tegrastats --interval {int(tegrastats_interval_ms)} > tegrastats.log 2>/dev/null & TP=$!; fi",
        " ".join(q(a) for a in run_cmd) + " > run.log 2>&1",
        "RC=$?",
        'if [ -n "$TP" ]; then kill "$TP" 2>/dev/null; wait "$TP" 2>/dev/null; fi',
        "exit $RC",
    ]
    return "\n".join(lines)


def run_trtexec_benchmark(
    board: Board,
    onnx: Path,
    *,
    precision: str,
    batch_shape: tuple[int, ...],
    input_name: str = "input",
    frames_per_clip: int = 1,
    warmup_ms: int = 200,
    duration_s: float = 3.0,
    iterations: int = 10,
    remote_dir: str = "/tmp/tsmbench",
    fp16_onnx: Path | None = None,
    parity: tuple[dict[str, Any], Any] | None = None,
    allow_mismatch: bool = False,
    cache_tag: str = "",
    dynamic_batch: bool = False,
) -> dict[str, Any]:
    """Build and time `onnx` with trtexec on `board`, with tegrastats; return latency row fields.

    Shape flags (--minShapes/--optShapes/--maxShapes, --shapes) are passed only for an ONNX file
    with a dynamic batch (`dynamic_batch`); a static one carries its shapes itself.
    Engines stay in `remote_dir` keyed by the ONNX checksum (model and weights), precision,
    input shape, TensorRT version and `cache_tag` (the GPU or board), and are reused.

    TensorRT 11 has no precision flags: for fp16 the fp16-typed `fp16_onnx` is sent instead of `onnx`.
    `parity` = ({input name: float32 array}, torch logits): before timing, the engine runs once on
    those inputs (--loadInputs / --exportOutput) and its logits are compared with torch's; beyond
    the tolerance this raises ParityError unless `allow_mismatch`.
    """
    from tsmbench.backends import trtexec as tx
    from tsmbench.measure.energy import energy_from_tegrastats
    from tsmbench.models.checkpoints import sha256_file

    digest = sha256_file(onnx)[:16]
    board.run(f"mkdir -p {shlex.quote(remote_dir)}", timeout=60)
    banner = board.run(f"export PATH={BOARD_PATH}; trtexec --help 2>&1 | head -n 5", check=False, timeout=120)
    version = tx.parse_version(banner.stdout + banner.stderr)
    if version is None:
        raise TsmbenchError(
            f"no trtexec on {board.target} (looked on PATH and /usr/src/tensorrt/bin): install TensorRT/JetPack there"
        )
    gen = version[0]
    if gen >= 11 and precision == "fp16":
        if fp16_onnx is None:
            raise TsmbenchError("TensorRT 11 builds fp16 only from an fp16-typed ONNX model; none was given")
        onnx = fp16_onnx
        digest = sha256_file(onnx)[:16]
    if gen >= 11 and precision == "bf16":
        raise TsmbenchError("TensorRT 11 builds bf16 only from a bf16-typed ONNX model (ModelOpt AutoCast); use fp16")
    shape_tag = "x".join(map(str, batch_shape))
    tag = re.sub(r"[^A-Za-z0-9_.-]+", "_", cache_tag).strip("_")
    stem = f"{onnx.stem}-{digest}-{precision}-{shape_tag}-trt{'.'.join(map(str, version))}" + (f"-{tag}" if tag else "")
    remote_onnx = f"{remote_dir}/{onnx.stem}-{digest}.onnx"
    engine = f"{remote_dir}/{stem}.engine"
    have_engine = board.run(f"test -s {shlex.quote(engine)}", check=False, timeout=60).returncode == 0
    build = None
    if not have_engine:
        board.put(onnx, remote_onnx)
        build = tx.build_command(remote_onnx, engine=engine, generation=gen, precision=precision,
                                 input_name=input_name, shape=batch_shape if dynamic_batch else None)
    times_file = f"{remote_dir}/{stem}.times.json"
    run = tx.run_command(engine, generation=gen, export_times=times_file, warmup_ms=warmup_ms,
                         duration_s=duration_s, iterations=iterations, input_name=input_name,
                         shape=batch_shape if dynamic_batch else None)
    parity_row: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="tsmbench-jetson-") as tmp:
        local = Path(tmp)
        if parity is not None:
            parity_row = _engine_parity(board, engine, build, parity, precision=precision, remote_dir=remote_dir,
                                        stem=stem, local=local, allow_mismatch=allow_mismatch)
            build = None  # built by the parity step
        script = benchmark_script(workdir=remote_dir, build_cmd=build, run_cmd=run)
        proc = board.run(f"bash -c {shlex.quote(script)}", check=False, timeout=max(600, duration_s * 10))
        board.get(f"{remote_dir}/run.log", local / "run.log")
        if proc.returncode != 0:
            raise TsmbenchError(
                f"trtexec on {board.target} failed (exit {proc.returncode}): "
                f"{(proc.stderr.strip() or (local / 'run.log').read_text(errors='replace')[-300:])[:300]}"
            )
        summary = tx.parse_summary((local / "run.log").read_text(encoding="utf-8", errors="replace"))
        times = None
        try:
            board.get(times_file, local / "times.json")
            times = tx.parse_export_times(local / "times.json")
        except (TsmbenchError, OSError):
            times = None
        tegra_text = ""
        try:
            board.get(f"{remote_dir}/tegrastats.log", local / "tegrastats.log")
            tegra_text = (local / "tegrastats.log").read_text(encoding="utf-8", errors="replace")
        except (TsmbenchError, OSError):
            pass
    row = tx.summary_to_row(summary, times, batch=batch_shape[0], frames_per_clip=frames_per_clip)
    row["engine_built"] = not have_engine
    row.update(parity_row)
    window = summary.total_host_walltime_s or row.get("wall_s")
    if tegra_text and window:
        from tsmbench.devices.tegrastats import parse_log, summarize

        energy = energy_from_tegrastats(tegra_text, float(window))
        if energy is not None:
            clips = (row.get("throughput_clips_per_s") or 0.0) * float(window)
            row.update(energy.as_fields(max(1, round(clips))))
        row["tegrastats"] = summarize(parse_log(tegra_text))
    return row


def _engine_parity(
    board: Board, engine: str, build: list[str] | None, parity: tuple[dict[str, Any], Any], *, precision: str,
    remote_dir: str, stem: str, local: Path, allow_mismatch: bool,
) -> dict[str, Any]:
    """Build if needed, run the engine once on the parity inputs on the board, compare with torch."""
    import numpy as np

    from tsmbench.backends import trtexec as tx
    from tsmbench.backends.export import compare_logits, enforce

    inputs, reference = parity
    remote_inputs = {}
    for name, value in inputs.items():
        path = local / f"{name}.bin"
        np.ascontiguousarray(value, dtype="<f4").tofile(path)
        remote_inputs[name] = f"{remote_dir}/{stem}.parity.{name}.bin"
        board.put(path, remote_inputs[name])
    out_json = f"{remote_dir}/{stem}.parity.json"
    cmd = tx.parity_command(engine, inputs=remote_inputs, export_output=out_json)
    lines = [f"export PATH={BOARD_PATH}", f"cd {shlex.quote(remote_dir)}"]
    if build:
        lines.append(" ".join(shlex.quote(a) for a in build) + " > build.log 2>&1 || { tail -n 20 build.log >&2; exit 3; }")
    lines.append(" ".join(shlex.quote(a) for a in cmd) + " > parity.log 2>&1 || { tail -n 20 parity.log >&2; exit 4; }")
    proc = board.run(f"bash -c {shlex.quote(chr(10).join(lines))}", check=False, timeout=3600)
    if proc.returncode != 0:
        what = "engine build" if proc.returncode == 3 else "parity run"
        raise TsmbenchError(f"trtexec {what} on {board.target} failed (exit {proc.returncode}): {proc.stderr.strip()[-300:]}")
    board.get(out_json, local / "parity.json")
    outputs = tx.parse_export_output(local / "parity.json")
    logits = outputs.get("logits", next(iter(outputs.values())))
    report = compare_logits(reference, np.asarray(logits).reshape(np.asarray(reference).shape), precision=precision)
    enforce(report, allow_mismatch=allow_mismatch, what=f"TensorRT {precision} engine on {board.target}")
    return {"parity": report.as_dict()}


def build_engine_on_board(
    board: Board,
    onnx: Path,
    out: Path,
    *,
    precision: str,
    batch_shape: tuple[int, ...] | None,
    input_name: str = "input",
    dynamic_batch: bool = False,
    remote_dir: str = "/tmp/tsmbench",
    fp16_onnx: Path | None = None,
    parity: tuple[dict[str, Any], Any] | None = None,
    allow_mismatch: bool = False,
) -> dict[str, Any]:
    """Build an engine with the board's trtexec, check it against torch (`parity`, as in
    run_trtexec_benchmark) and copy it back to `out`; returns what was used."""
    from tsmbench.backends import trtexec as tx

    board.run(f"mkdir -p {shlex.quote(remote_dir)}", timeout=60)
    banner = board.run(f"export PATH={BOARD_PATH}; trtexec --help 2>&1 | head -n 5", check=False, timeout=120)
    version = tx.parse_version(banner.stdout + banner.stderr)
    if version is None:
        raise TsmbenchError(f"no trtexec on {board.target}: install TensorRT/JetPack there")
    if version[0] >= 11 and precision == "fp16":
        if fp16_onnx is None:
            raise TsmbenchError("TensorRT 11 builds fp16 only from an fp16-typed ONNX model")
        onnx = fp16_onnx
    remote_onnx = f"{remote_dir}/{onnx.name}"
    engine = f"{remote_dir}/{out.name}"
    board.put(onnx, remote_onnx)
    cmd = tx.build_command(remote_onnx, engine=engine, generation=version[0], precision=precision,
                           input_name=input_name, shape=batch_shape if dynamic_batch else None)
    result: dict[str, Any] = {"tensorrt_version": ".".join(map(str, version)), "board": board.target, "command": cmd}
    if parity is not None:
        with tempfile.TemporaryDirectory(prefix="tsmbench-jetson-") as tmp:
            result.update(_engine_parity(board, engine, cmd, parity, precision=precision, remote_dir=remote_dir,
                                         stem=out.stem, local=Path(tmp), allow_mismatch=allow_mismatch))
    else:
        script = "\n".join([f"export PATH={BOARD_PATH}", f"cd {shlex.quote(remote_dir)}",
                            " ".join(shlex.quote(a) for a in cmd) + " > build.log 2>&1 || { tail -n 20 build.log >&2; exit 3; }"])
        proc = board.run(f"bash -c {shlex.quote(script)}", check=False, timeout=3600)
        if proc.returncode != 0:
            raise TsmbenchError(f"trtexec engine build on {board.target} failed: {proc.stderr.strip()[-300:]}")
    out.parent.mkdir(parents=True, exist_ok=True)
    board.get(engine, out)
    return result
