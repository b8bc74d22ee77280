"""torch eager backend: CPU (threads, channels-last, bf16 autocast) and CUDA (fp16/bf16, CUDA graphs, torch.compile).

On CUDA each iteration is timed with CUDA events recorded on the stream around the call and
read after synchronising, so an asynchronous launch is never mistaken for a finished one.
"""
from __future__ import annotations

import contextlib
import time
from typing import Any, Callable

from tsmbench.errors import BackendUnavailableError, UsageError

TORCH_MODES = ("eager", "cuda-graph", "compile")


def cpu_supports_bf16() -> bool:
    """True when the CPU has native bf16 (AVX512-BF16 / AMX): where bf16 autocast pays off."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            flags = f.read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


class TorchRunner:
    """A model, its inputs and a `step()` that runs one iteration (clip, or frame with buffers)."""

    def __init__(
        self,
        model: Any,
        inputs: tuple[Any, ...],
        *,
        device: str = "cpu",
        precision: str = "fp32",
        threads: int | None = None,
        channels_last: bool = False,
        mode: str = "eager",
        stream: bool = False,
    ) -> None:
        import torch

        if mode not in TORCH_MODES:
            raise UsageError(f"--torch-mode must be one of {', '.join(TORCH_MODES)}, got {mode!r}")
        if device == "cuda" and not torch.cuda.is_available():
            raise BackendUnavailableError("CUDA is not available to torch here: use --device cpu or a CUDA build of torch")
        if device not in ("cpu", "cuda"):
            raise UsageError(f"--backend torch runs on cpu or cuda, not {device}")
        if device == "cpu" and mode == "cuda-graph":
            raise UsageError("--torch-mode cuda-graph needs --device cuda")
        if precision == "int8":
            raise UsageError("torch eager has no int8 path here: use --backend onnxruntime --precision int8")
        if device == "cpu" and precision == "fp16":
            raise UsageError("fp16 on CPU is not a fast path in torch: use --precision bf16 (or fp32) on CPU")
        self.info: dict[str, Any] = {"torch_mode": mode, "channels_last": channels_last}
        if threads:
            torch.set_num_threads(int(threads))
        self.info["threads"] = torch.get_num_threads()
        self.device = torch.device(device)
        self.stream_mode = stream
        dtype = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[precision]
        model = model.eval().to(self.device)
        self.autocast: Callable[[], Any] = contextlib.nullcontext
        if device == "cuda" and precision != "fp32":
            model = model.to(dtype)
            inputs = tuple(t.to(self.device, dtype) for t in inputs)
        else:
            inputs = tuple(t.to(self.device) for t in inputs)
            if precision == "bf16":
                if not cpu_supports_bf16():
                    self.info["warning"] = "this CPU has no native bf16: autocast emulates it and is slow"
                self.autocast = lambda: torch.autocast("cpu", dtype=torch.bfloat16)
        if channels_last:
            is_3d = any(isinstance(m, torch.nn.Conv3d) for m in model.modules())
            model = model.to(memory_format=torch.channels_last_3d if is_3d else torch.channels_last)
        self.model = model
        self.inputs = list(inputs)
        self._fn = model
        if mode == "compile":
            # Inductor's default mode: no CUDA graphs inside, so "compile" and "cuda-graph" stay separate figures.
            self._fn = torch.compile(model)
        self._graph = None
        if mode == "cuda-graph":
            self._capture()

    def _call(self) -> Any:
        import torch

        with torch.inference_mode(), self.autocast():
            out = self._fn(*self.inputs)
        if self.stream_mode and isinstance(out, (tuple, list)):
            self.inputs[1:] = list(out[1:])  # the next frame sees this frame's shifted channels
            return out[0]
        return out

    def _capture(self) -> None:
        import torch

        s = torch.cuda.Stream()
        s.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(s), torch.inference_mode():
            for _ in range(3):
                self._fn(*self.inputs)
        torch.cuda.current_stream().wait_stream(s)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph), torch.inference_mode():
            out = self._fn(*self.inputs)
        self._graph = graph
        self._graph_out = out
        if self.stream_mode and isinstance(out, (tuple, list)):
            # Static buffers: copy the new shift buffers into the captured inputs after each replay.
            self._graph_pairs = list(zip(self.inputs[1:], out[1:]))
        else:
            self._graph_pairs = []

    def step(self) -> Any:
        if self._graph is not None:
            self._graph.replay()
            for dst, src in self._graph_pairs:
                dst.copy_(src)
            return self._graph_out
        return self._call()

    def sync(self) -> None:
        if self.device.type == "cuda":
            import torch

            torch.cuda.synchronize()

    def time(self, *, warmup_s: float, min_s: float, min_iters: int, max_iters: int = 100_000) -> tuple[list[float], float]:
        """Per-iteration ms and wall seconds: CUDA events on GPU, perf_counter on CPU."""
        from tsmbench.measure.timing import time_iterations

        if self.device.type != "cuda":
            return time_iterations(self.step, warmup_s=warmup_s, min_s=min_s, min_iters=min_iters, max_iters=max_iters)
        import torch

        start = time.perf_counter()
        while True:
            self.step()
            torch.cuda.synchronize()
            if time.perf_counter() - start >= warmup_s:
                break
        times: list[float] = []
        loop_start = time.perf_counter()
        begin, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        while len(times) < max_iters:
            begin.record()
            self.step()
            end.record()
            end.synchronize()
            times.append(begin.elapsed_time(end))
            if len(times) >= min_iters and time.perf_counter() - loop_start >= min_s:
                break
        return times, time.perf_counter() - loop_start
