"""measure_latency: one (model, backend, device, precision, batch, mode) -> one result row; sweeps.

A row always comes back: a failure (backend missing, export refused for parity, out of memory)
becomes `status: "error"` with its reason, so one failing configuration never ends a sweep.

clip mode: one iteration = one batch of clips (N, T, 3, S, S). stream mode: one iteration = one
frame (N, 3, S, S) of the online model with its 10 shift buffers carried from the previous
frame; an offline model in stream mode runs with T=1 per frame (plain per-frame 2D CNN, the
baseline the paper compares online TSM against).
"""
from __future__ import annotations

import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Callable, Iterable

from tsmbench.errors import TsmbenchError, UsageError

Log = Callable[[str], None]


@dataclass(frozen=True)
class LatencySpec:
    model: str
    backend: str = "torch"
    device: str = "cpu"
    precision: str = "fp32"
    batch: int = 1
    mode: str = "clip"  # clip | stream
    segments: int = 8
    size: int = 224
    threads: int | None = None
    warmup_s: float = 1.0
    min_s: float = 3.0
    min_iters: int = 64
    num_classes: int | None = None
    weights: str | None = None
    host: str | None = None
    ssh_config: str | None = None
    remote_dir: str = "/tmp/tsmbench"
    torch_mode: str = "eager"
    channels_last: bool = False
    calibration: str = "random"
    allow_mismatch: bool = False
    energy: bool = True


def _frames_per_iteration(spec: LatencySpec) -> int:
    return 1 if spec.mode == "stream" else spec.segments


def _base_row(spec: LatencySpec) -> dict[str, Any]:
    return {
        "kind": "latency",
        "model": spec.model,
        "backend": spec.backend,
        "device": spec.device,
        "precision": spec.precision,
        "batch": spec.batch,
        "mode": spec.mode,
        "num_segments": 1 if spec.mode == "stream" else spec.segments,
        "input_size": spec.size,
        "torch_mode": spec.torch_mode if spec.backend == "torch" else None,
        "host": spec.host,
    }


def _prepare_model(spec: LatencySpec) -> Any:
    from tsmbench.backends.export import is_online, load_model_for

    segments = 1 if spec.mode == "stream" else spec.segments
    model = load_model_for(spec.model, segments=segments, num_classes=spec.num_classes, weights=spec.weights)
    if spec.mode == "clip" and is_online(model):
        raise UsageError(f"{spec.model} is an online (per-frame) model: use --mode stream")
    return model


def _inputs(model: Any, spec: LatencySpec, seed: int = 0) -> tuple[Any, ...]:
    from tsmbench.backends.export import example_inputs, is_online

    if spec.mode == "stream" and not is_online(model):
        import torch

        g = torch.Generator().manual_seed(seed)
        return (torch.randn(spec.batch, 1, 3, spec.size, spec.size, generator=g),)
    return example_inputs(model, batch=spec.batch, segments=spec.segments, size=spec.size, seed=seed)


def parity_inputs(model: Any, spec: LatencySpec, seed: int = 4321) -> tuple[Any, ...]:
    """Fresh inputs for a parity check. int8 engines are compared on inputs drawn like their
    calibration data (realistic random frames, or synthetic-benchmark frames), with a new seed:
    white noise far outside the calibrated ranges would measure clipping, not the engine."""
    if spec.precision != "int8":
        return _inputs(model, spec, seed=seed)
    import torch

    from tsmbench.backends.export import example_inputs
    from tsmbench.backends.quantize import calibration_feeds

    shapes = {"input": tuple(_inputs(model, spec)[0].shape)}
    source = spec.calibration if spec.calibration in ("random", "synthetic") else "random"
    clip = torch.from_numpy(calibration_feeds(source, shapes, batches=1, seed=seed)[0]["input"])
    rest = example_inputs(model, batch=spec.batch, segments=spec.segments, size=spec.size, seed=seed)[1:]
    return (clip.reshape(shapes["input"]), *rest)


def _onnx(model: Any, spec: LatencySpec, log: Log | None) -> tuple[Path, dict[str, Any]]:
    """Exported fp32 ONNX (cached) and its ONNX Runtime parity with torch."""
    from tsmbench.backends.export import ensure_onnx, enforce, onnxruntime_parity

    segments = 1 if spec.mode == "stream" else spec.segments
    path = ensure_onnx(model, spec.model, weights=spec.weights, batch=spec.batch, segments=segments, size=spec.size, log=log)
    report = onnxruntime_parity(model, path, batch=spec.batch, segments=segments, size=spec.size)
    enforce(report, allow_mismatch=spec.allow_mismatch, what=f"ONNX export of {spec.model}")
    return path, report.as_dict()


def _input_shapes(path: Path, batch: int) -> dict[str, tuple[int, ...]]:
    from tsmbench.backends.quantize import _static_shapes

    return _static_shapes(path, batch)


def _run_torch(spec: LatencySpec, log: Log | None) -> dict[str, Any]:
    from tsmbench.backends.torch_backend import TorchRunner

    model = _prepare_model(spec)
    runner = TorchRunner(model, _inputs(model, spec), device=spec.device, precision=spec.precision, threads=spec.threads,
                         channels_last=spec.channels_last, mode=spec.torch_mode, stream=spec.mode == "stream")
    extra: dict[str, Any] = dict(runner.info)
    times, wall = _timed(runner.time, spec, extra)
    return {"times": times, "wall": wall, **extra}


def _timed(time_fn: Callable[..., tuple[list[float], float]], spec: LatencySpec, extra: dict[str, Any]) -> tuple[list[float], float]:
    """Run the timing loop with an energy meter around it: NVML on desktop GPUs, tegrastats on a Jetson."""
    meter: Any = None
    if spec.energy and spec.device in ("cuda", "jetson"):
        from tsmbench.devices.jetson import is_jetson
        from tsmbench.measure.energy import NvmlMeter, TegrastatsMeter

        try:
            meter = TegrastatsMeter() if spec.device == "jetson" or is_jetson() else NvmlMeter()
        except (TsmbenchError, ImportError, OSError) as exc:
            extra["energy_note"] = str(exc)
    if meter is None:
        return time_fn(warmup_s=spec.warmup_s, min_s=spec.min_s, min_iters=spec.min_iters)
    with meter:
        times, wall = time_fn(warmup_s=spec.warmup_s, min_s=spec.min_s, min_iters=spec.min_iters)
    if meter.result is not None:
        extra["_energy"] = meter.result
    return times, wall


def _run_onnxruntime(spec: LatencySpec, log: Log | None) -> dict[str, Any]:
    from tsmbench.backends.export import compare_logits, enforce, torch_reference
    from tsmbench.backends.onnxruntime_backend import OrtRunner, make_session
    from tsmbench.backends.quantize import calibration_feeds, calibration_tag, quantize_int8

    if spec.precision not in ("fp32", "fp16", "int8"):
        raise UsageError(f"--backend onnxruntime supports fp32, fp16 and int8, not {spec.precision}")
    model = _prepare_model(spec)
    path, parity = _onnx(model, spec, log)
    extra: dict[str, Any] = {"onnx_parity": parity}
    if spec.precision == "int8":
        qpath = path.with_name(path.stem + f"-int8-u8s8-{calibration_tag(spec.calibration)}.onnx")
        if not qpath.exists():
            if log:
                log(f"quantising to int8 (static QDQ, uint8 activations, calibration: {spec.calibration})")
            feeds = calibration_feeds(spec.calibration, _input_shapes(path, spec.batch))
            quantize_int8(path, qpath, calibration=feeds, target="onnxruntime")
        path = qpath
        extra["calibration"] = spec.calibration
    elif spec.precision == "fp16":
        from tsmbench.backends.quantize import convert_fp16

        hpath = path.with_name(path.stem + "-fp16.onnx")
        if not hpath.exists():
            convert_fp16(path, hpath)
        path = hpath
    if spec.precision != "fp32":
        # Parity of the reduced-precision model itself, on fresh inputs.
        inputs = parity_inputs(model, spec)
        ref = torch_reference(model, inputs)
        sess = make_session(path, device="cpu")
        feeds = {i.name: t.numpy() for i, t in zip(sess.get_inputs(), inputs)}
        report = compare_logits(ref, sess.run([sess.get_outputs()[0].name], feeds)[0], precision=spec.precision)
        extra["parity"] = report.as_dict()
        enforce(report, allow_mismatch=spec.allow_mismatch, what=f"{spec.precision} ONNX model of {spec.model}")
    else:
        extra["parity"] = parity
    runner = OrtRunner(path, _inputs(model, spec), device=spec.device, threads=spec.threads, stream=spec.mode == "stream")
    extra.update(runner.info)
    from tsmbench.measure.timing import time_iterations

    def time_fn(**kw: Any) -> tuple[list[float], float]:
        return time_iterations(runner.step, **kw)

    times, wall = _timed(time_fn, spec, extra)
    return {"times": times, "wall": wall, **extra}


def _run_tensorrt(spec: LatencySpec, log: Log | None) -> dict[str, Any]:
    from tsmbench.backends import tensorrt_backend as trtb
    from tsmbench.backends.export import checksum_of, compare_logits, enforce, torch_reference
    from tsmbench.backends.quantize import calibration_feeds

    if spec.device == "jetson" and spec.host:
        raise UsageError("--backend tensorrt runs in this process; for a remote board use --backend trtexec --host")
    trtb.trt_version()  # BackendUnavailableError early when tensorrt is missing
    model = _prepare_model(spec)
    path, parity = _onnx(model, spec, log)
    shapes = _input_shapes(path, spec.batch)
    cal = calibration_feeds(spec.calibration, shapes) if spec.precision == "int8" else None
    engine, built_from = trtb.cached_engine(path, model=spec.model, weights_sha=checksum_of(spec.weights),
                                            precision=spec.precision, shapes=shapes, batch=spec.batch,
                                            calibration=cal, log=log)
    runner = trtb.TensorRTRunner(engine, shapes, stream=spec.mode == "stream")
    inputs = parity_inputs(model, spec)
    ref = torch_reference(model, inputs)
    names = list(shapes)
    report = compare_logits(ref, runner.run(dict(zip(names, inputs))), precision=spec.precision)
    enforce(report, allow_mismatch=spec.allow_mismatch, what=f"TensorRT {spec.precision} engine of {spec.model}")
    runner.set_inputs(dict(zip(names, _inputs(model, spec))))
    extra: dict[str, Any] = {"parity": report.as_dict(), "onnx_parity": parity, "onnx": str(built_from), **runner.info}
    times, wall = _timed(runner.time, spec, extra)
    return {"times": times, "wall": wall, **extra}


def _run_trtexec(spec: LatencySpec, log: Log | None) -> dict[str, Any]:
    from tsmbench.backends.export import torch_reference
    from tsmbench.backends.quantize import calibration_feeds, calibration_tag, convert_fp16, quantize_int8
    from tsmbench.devices.jetson import LocalBoard, run_trtexec_benchmark

    model = _prepare_model(spec)
    path, parity = _onnx(model, spec, log)
    shapes = _input_shapes(path, spec.batch)
    # The ONNX that goes to the board carries its precision when it has to (int8 Q/DQ always;
    # fp16 is chosen by trtexec --fp16 on TRT <= 10 and by the model on TRT 11: send both kinds).
    onnx = path
    if spec.precision == "int8":
        onnx = path.with_name(path.stem + f"-int8-{calibration_tag(spec.calibration)}.onnx")
        if not onnx.exists():
            quantize_int8(path, onnx, calibration=calibration_feeds(spec.calibration, shapes))
    remote_dir = spec.remote_dir
    if spec.host:
        from tsmbench.devices.ssh import SshHost

        board: Any = SshHost(spec.host, config=spec.ssh_config)
        cache_tag = spec.host
    else:
        from tsmbench.devices.local import nvidia_smi
        from tsmbench.paths import home

        if spec.device == "cuda":
            from tsmbench.backends.trtexec import find_trtexec

            find_trtexec()
        board = LocalBoard()
        cache_tag = str(nvidia_smi().get("gpu", "jetson" if spec.device == "jetson" else "gpu"))
        if remote_dir == LatencySpec.remote_dir:  # on this machine, engines live in the engine cache
            remote_dir = str(home() / "engines" / "trtexec")
    fp16_model = None
    if spec.precision == "fp16":
        fp16_model = path.with_name(path.stem + "-fp16.onnx")
        if not fp16_model.exists():
            convert_fp16(path, fp16_model)
    inputs = parity_inputs(model, spec)
    check = ({name: t.numpy() for name, t in zip(shapes, inputs)}, torch_reference(model, inputs))
    row = run_trtexec_benchmark(board, onnx, precision=spec.precision, batch_shape=shapes["input"],
                                frames_per_clip=_frames_per_iteration(spec), warmup_ms=int(spec.warmup_s * 1000),
                                duration_s=spec.min_s, iterations=spec.min_iters, fp16_onnx=fp16_model,
                                remote_dir=remote_dir, parity=check, allow_mismatch=spec.allow_mismatch,
                                cache_tag=cache_tag)
    row["onnx_parity"] = parity
    return {"row": row}


_RUNNERS = {"torch": _run_torch, "onnxruntime": _run_onnxruntime, "tensorrt": _run_tensorrt, "trtexec": _run_trtexec}


def measure_latency(spec: LatencySpec, *, log: Log | None = None, environment: dict[str, Any] | None = None) -> dict[str, Any]:
    """Time one configuration and return its result row (raises on failure; see `sweep`)."""
    from tsmbench.backends import PRECISIONS, check_target
    from tsmbench.measure.timing import summarize

    check_target(spec.backend, spec.device)
    if spec.precision not in PRECISIONS:
        raise UsageError(f"--precision must be one of {', '.join(PRECISIONS)}, got {spec.precision!r}")
    if spec.mode not in ("clip", "stream"):
        raise UsageError(f"--mode must be clip or stream, got {spec.mode!r}")
    if spec.batch < 1 or spec.segments < 1 or spec.size < 16:
        raise UsageError("--batch and --segments must be >= 1 and --size >= 16")
    if spec.host and spec.backend != "trtexec":
        raise UsageError("--host runs trtexec on the board: use --backend trtexec --device jetson")
    row = _base_row(spec)
    started = time.perf_counter()
    out = _RUNNERS[spec.backend](spec, log)
    if "row" in out:
        row.update(out["row"])
    else:
        stats = summarize(out.pop("times"), batch=spec.batch, frames_per_clip=_frames_per_iteration(spec), wall_s=out.pop("wall"))
        row.update(stats.as_dict())
        energy = out.pop("_energy", None)
        if energy is not None:
            # The meter spans warm-up and timed loop (steady state either way): the average power is
            # applied to the timed window only, so J/clip counts only the clips that were timed.
            from tsmbench.measure.energy import energy_from_power

            timed = energy_from_power(energy.avg_power_w, stats.wall_s, source=energy.source)
            row.update(timed.as_fields(stats.iterations * spec.batch))
        row.update(out)
        if stats.cv_warning:
            row["warning"] = stats.cv_warning
            if log:
                log(f"warning: {spec.backend} batch {spec.batch}: {stats.cv_warning}")
    if spec.mode == "stream":
        row["per_frame_ms"] = row.get("median_ms")
        row["fps"] = row.get("throughput_frames_per_s")
    row["status"] = "ok"
    row["error"] = None
    row["setup_s"] = time.perf_counter() - started - (row.get("wall_s") or 0.0)
    env = dict(environment if environment is not None else _environment(spec))
    if spec.backend == "torch" and "torch" in sys.modules:
        env["torch_threads"] = sys.modules["torch"].get_num_threads()  # as set for this run
    row["environment"] = env
    return row


def _environment(spec: LatencySpec) -> dict[str, Any]:
    from tsmbench.devices.local import environment

    env = environment(device=spec.device, threads=spec.threads)
    if spec.host:
        # The figures come from the board: record its power mode and clocks, not only this machine's.
        from tsmbench.devices.jetson import board_state
        from tsmbench.devices.ssh import SshHost

        env["board"] = spec.host
        try:
            env["board_state"] = board_state(SshHost(spec.host, config=spec.ssh_config))
        except TsmbenchError as exc:
            env["board_state_error"] = str(exc)
    return env


def error_row(spec: LatencySpec, exc: BaseException, environment: dict[str, Any] | None = None) -> dict[str, Any]:
    row = _base_row(spec)
    for key in ("median_ms", "p90_ms", "p95_ms", "p99_ms", "mean_ms", "min_ms", "max_ms", "std_ms", "cv",
                "throughput_clips_per_s", "throughput_frames_per_s", "iterations", "wall_s"):
        row[key] = None
    row["status"] = "error"
    reason = str(exc) if isinstance(exc, TsmbenchError) else f"{type(exc).__name__}: {exc}"
    row["error"] = reason.splitlines()[0][:500] if reason else type(exc).__name__
    row["environment"] = environment if environment is not None else _environment(spec)
    return row


def sweep(specs: Iterable[LatencySpec], *, log: Log | None = None) -> list[dict[str, Any]]:
    """Every spec -> a row; a failing spec -> a row with status "error" and its reason."""
    rows = []
    env_cache: dict[tuple[str, str | None, int | None], dict[str, Any]] = {}
    for spec in specs:
        key = (spec.device, spec.host, spec.threads)
        if key not in env_cache:
            env_cache[key] = _environment(spec)
        try:
            rows.append(measure_latency(spec, log=log, environment=env_cache[key]))
        except (TsmbenchError, RuntimeError, OSError, ValueError, ImportError, MemoryError) as exc:
            if log:
                log(f"{spec.backend} {spec.precision} batch {spec.batch}: error: {exc}")
            rows.append(error_row(spec, exc, env_cache[key]))
    return rows


def expand(base: LatencySpec, *, backends: list[str], batches: list[int], precisions: list[str]) -> list[LatencySpec]:
    return [replace(base, backend=b, batch=n, precision=p) for b in backends for p in precisions for n in batches]


def spec_dict(spec: LatencySpec) -> dict[str, Any]:
    return asdict(spec)
