"""TensorRT through its Python API: build (cached) engines from ONNX and run them with execute_async_v3.

Version handling (tensorrt.__version__):
- TensorRT 8.x: explicit-batch network flag; precision via builder flags (FP16, INT8).
- TensorRT 10.x: create_network(0); precision via builder flags (FP16, BF16, INT8); an int8
  ONNX with Q/DQ nodes plus the INT8 flag is explicit quantisation, no calibrator needed.
- TensorRT 11.x: every network is strongly typed (STRONGLY_TYPED is passed, and is the only
  mode); the precision flags are gone, so fp16 / int8 come from the ONNX model itself
  (tsmbench.backends.quantize.convert_fp16 / quantize_int8).

Execution: tensors are torch CUDA tensors whose addresses are bound with set_tensor_address;
set_input_shape fixes dynamic dimensions; execute_async_v3 runs on a non-default stream and is
timed with CUDA events recorded on that stream. Engines are cached under
home()/engines/ keyed by model, weights checksum, ONNX checksum, precision, shapes, TensorRT
version and GPU name, since an engine is only valid for the GPU model and TensorRT it was built by.
"""
from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

from tsmbench.errors import BackendUnavailableError, TsmbenchError, UsageError


def _trt() -> Any:
    try:
        import tensorrt
    except ImportError:
        raise BackendUnavailableError(
            "TensorRT is not installed: pip install 'tsmbench[tensorrt]' (needs an NVIDIA GPU), or use --backend trtexec"
        ) from None
    return tensorrt


def trt_version() -> tuple[int, int, int]:
    parts = (_trt().__version__.split(".") + ["0", "0"])[:3]
    return tuple(int("".join(ch for ch in p if ch.isdigit()) or 0) for p in parts)  # type: ignore[return-value]


def onnx_for_precision(fp32_onnx: Path, precision: str, *, major: int, batch: int, calibration: Any = None) -> Path:
    """The ONNX file TensorRT should parse: fp32 for builder-flag precision (TRT < 11), else the typed model."""
    from tsmbench.backends import quantize

    if precision == "int8":  # Q/DQ model for every generation (explicit quantisation)
        out = fp32_onnx.with_name(fp32_onnx.stem + "-int8qdq.onnx")
        if not out.exists():
            quantize.quantize_int8(fp32_onnx, out, calibration=calibration, batch=batch)
        return out
    if major >= 11 and precision == "fp16":
        out = fp32_onnx.with_name(fp32_onnx.stem + "-fp16.onnx")
        if not out.exists():
            quantize.convert_fp16(fp32_onnx, out)
        return out
    if major >= 11 and precision == "bf16":
        raise UsageError(
            "bf16 on TensorRT 11 needs a bf16-typed ONNX model (ModelOpt AutoCast, low_precision_type='bf16'); use fp16"
        )
    return fp32_onnx


def gpu_name() -> str:
    import torch

    if not torch.cuda.is_available():
        raise BackendUnavailableError("TensorRT needs an NVIDIA GPU and a CUDA build of torch; none is visible here")
    return torch.cuda.get_device_name(0)


def engine_cache_path(*, model: str, weights_sha: str | None, onnx_sha: str, precision: str,
                      shapes: dict[str, tuple[int, ...]], version: tuple[int, ...], gpu: str) -> Path:
    from tsmbench.paths import home

    key = {"model": model, "weights": weights_sha, "onnx": onnx_sha, "precision": precision,
           "shapes": {k: list(v) for k, v in sorted(shapes.items())}, "tensorrt": list(version), "gpu": gpu}
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]
    return home() / "engines" / f"{model.replace('/', '_')}-{precision}-{digest}.engine"


def build_engine(
    onnx_path: str | Path,
    *,
    precision: str,
    shapes: dict[str, tuple[int, ...]],
    workspace_mib: int = 2048,
    timing_cache: Path | None = None,
) -> bytes:
    """Serialised engine for `onnx_path` (see the module docstring for the per-version path)."""
    trt = _trt()
    major = trt_version()[0]
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    if major >= 11:
        flags = 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    elif major >= 10:
        flags = 0
    else:
        flags = 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise TsmbenchError(f"TensorRT could not parse {onnx_path}: {errors[:500]}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_mib) << 20)
    if major < 11:
        flag = {"fp16": "FP16", "bf16": "BF16", "int8": "INT8"}.get(precision)
        if flag is not None:
            if not hasattr(trt.BuilderFlag, flag):
                raise UsageError(f"TensorRT {trt.__version__} has no {flag} builder flag: choose another --precision")
            config.set_flag(getattr(trt.BuilderFlag, flag))
            if precision == "int8" and hasattr(trt.BuilderFlag, "FP16"):
                config.set_flag(trt.BuilderFlag.FP16)  # layers left unquantised may run in fp16
    dynamic = False
    profile = builder.create_optimization_profile()
    for i in range(network.num_inputs):
        tensor = network.get_input(i)
        if any(d < 0 for d in tensor.shape):
            dynamic = True
            shape = shapes.get(tensor.name)
            if shape is None:
                raise UsageError(f"input {tensor.name} has a dynamic shape {tuple(tensor.shape)}: give its shape")
            profile.set_shape(tensor.name, shape, shape, shape)
    if dynamic:
        config.add_optimization_profile(profile)
    cache = None
    if timing_cache is not None:
        blob = timing_cache.read_bytes() if timing_cache.exists() else b""
        cache = config.create_timing_cache(blob)
        config.set_timing_cache(cache, ignore_mismatch=True)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise TsmbenchError(f"TensorRT failed to build an engine from {onnx_path} at {precision} (see the log above)")
    if cache is not None and timing_cache is not None:
        timing_cache.parent.mkdir(parents=True, exist_ok=True)
        timing_cache.write_bytes(bytes(cache.serialize()))
    return bytes(serialized)


def cached_engine(
    fp32_onnx: Path, *, model: str, weights_sha: str | None, precision: str, shapes: dict[str, tuple[int, ...]],
    batch: int, calibration: Any = None, log: Any = None,
) -> tuple[Path, Path]:
    """(engine path, ONNX actually built) — built now or reused from home()/engines/."""
    from tsmbench.models.checkpoints import sha256_file
    from tsmbench.paths import home

    version = trt_version()
    onnx = onnx_for_precision(fp32_onnx, precision, major=version[0], batch=batch, calibration=calibration)
    path = engine_cache_path(model=model, weights_sha=weights_sha, onnx_sha=sha256_file(onnx), precision=precision,
                             shapes=shapes, version=version, gpu=gpu_name())
    if path.exists():
        return path, onnx
    if log:
        log(f"building TensorRT {'.'.join(map(str, version))} {precision} engine for {model} (cached afterwards)")
    data = build_engine(onnx, precision=precision, shapes=shapes, timing_cache=home() / "engines" / "timing.cache")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    tmp.write_bytes(data)
    tmp.replace(path)
    path.with_suffix(".json").write_text(json.dumps({"model": model, "precision": precision, "onnx": str(onnx),
                                                     "shapes": shapes, "tensorrt": list(version), "gpu": gpu_name()}))
    return path, onnx


class TensorRTRunner:
    """Deserialised engine + context with torch CUDA tensors bound to every I/O tensor."""

    def __init__(self, engine_path: Path, shapes: dict[str, tuple[int, ...]], *, stream: bool = False) -> None:
        import torch

        trt = _trt()
        self._trt = trt
        logger = trt.Logger(trt.Logger.WARNING)
        self.runtime = trt.Runtime(logger)
        self.engine = self.runtime.deserialize_cuda_engine(engine_path.read_bytes())
        if self.engine is None:
            raise TsmbenchError(f"cannot deserialise {engine_path}: built by another TensorRT or GPU? delete it to rebuild")
        self.context = self.engine.create_execution_context()
        self.stream = torch.cuda.Stream()  # never the default stream
        dtypes = {trt.float32: torch.float32, trt.float16: torch.float16, trt.int32: torch.int32, trt.int8: torch.int8}
        for trt_name, torch_dtype in (("bfloat16", torch.bfloat16), ("int64", torch.int64), ("bool", torch.bool)):
            if hasattr(trt, trt_name):
                dtypes[getattr(trt, trt_name)] = torch_dtype
        self.inputs: dict[str, Any] = {}
        self.outputs: dict[str, Any] = {}
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        for name in names:
            if self.engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT:
                shape = shapes.get(name) or tuple(self.engine.get_tensor_shape(name))
                self.context.set_input_shape(name, shape)
                t = torch.zeros(shape, dtype=dtypes[self.engine.get_tensor_dtype(name)], device="cuda")
                self.inputs[name] = t
                self.context.set_tensor_address(name, t.data_ptr())
        for name in names:
            if self.engine.get_tensor_mode(name) != trt.TensorIOMode.INPUT:
                shape = tuple(self.context.get_tensor_shape(name))
                t = torch.empty(shape, dtype=dtypes[self.engine.get_tensor_dtype(name)], device="cuda")
                self.outputs[name] = t
                self.context.set_tensor_address(name, t.data_ptr())
        self.output_name = next(iter(self.outputs))
        self.pairs = [(f"buffer_in_{i}", f"buffer_out_{i}") for i in range(len(self.inputs))
                      if f"buffer_in_{i}" in self.inputs and f"buffer_out_{i}" in self.outputs] if stream else []
        self.info = {"tensorrt": trt.__version__, "engine": str(engine_path)}

    def set_inputs(self, values: dict[str, Any]) -> None:
        for name, value in values.items():
            self.inputs[name].copy_(value.to(self.inputs[name].dtype))

    def step(self) -> Any:
        if not self.context.execute_async_v3(self.stream.cuda_stream):
            raise TsmbenchError("TensorRT execute_async_v3 failed")
        if self.pairs:
            # Ping-pong: this frame's new buffers become the next frame's inputs, without a copy.
            for bin_, bout in self.pairs:
                self.inputs[bin_], self.outputs[bout] = self.outputs[bout], self.inputs[bin_]
                self.context.set_tensor_address(bin_, self.inputs[bin_].data_ptr())
                self.context.set_tensor_address(bout, self.outputs[bout].data_ptr())
        return self.outputs[self.output_name]

    def run(self, values: dict[str, Any]) -> Any:
        """Outputs for `values` (parity checks): copy in, execute, synchronise, copy out."""
        self.set_inputs(values)
        self.step()
        self.stream.synchronize()
        return self.outputs[self.output_name].float().cpu().numpy()

    def time(self, *, warmup_s: float, min_s: float, min_iters: int, max_iters: int = 100_000) -> tuple[list[float], float]:
        import torch

        start = time.perf_counter()
        while True:
            self.step()
            self.stream.synchronize()
            if time.perf_counter() - start >= warmup_s:
                break
        begin, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        times: list[float] = []
        loop_start = time.perf_counter()
        while len(times) < max_iters:
            begin.record(self.stream)
            self.step()
            end.record(self.stream)
            end.synchronize()
            times.append(begin.elapsed_time(end))
            if len(times) >= min_iters and time.perf_counter() - loop_start >= min_s:
                break
        return times, time.perf_counter() - loop_start
