"""ONNX Runtime backend: fp32 sessions and static int8 (QDQ) models, timed like every backend."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from tsmbench.errors import BackendUnavailableError, UsageError


def _ort() -> Any:
    try:
        import onnxruntime
    except ImportError:
        raise BackendUnavailableError("onnxruntime is not installed: pip install onnxruntime") from None
    return onnxruntime


def providers_for(device: str) -> list[str]:
    ort = _ort()
    available = ort.get_available_providers()
    if device == "cpu":
        return ["CPUExecutionProvider"]
    if device == "cuda":
        if "CUDAExecutionProvider" not in available:
            raise BackendUnavailableError(
                "ONNX Runtime here has no CUDAExecutionProvider: pip install onnxruntime-gpu, or use --device cpu"
            )
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    raise UsageError(f"--backend onnxruntime runs on cpu or cuda, not {device!r} (use trtexec on a Jetson)")


def make_session(path: str | Path, *, device: str = "cpu", threads: int | None = None) -> Any:
    """An InferenceSession with all graph optimisations and `threads` intra-op threads."""
    ort = _ort()
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    if threads:
        opts.intra_op_num_threads = int(threads)
        opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return ort.InferenceSession(str(path), sess_options=opts, providers=providers_for(device))


class OrtRunner:
    """Holds a session and its input feed; `step()` runs one iteration (clip or frame)."""

    def __init__(self, path: str | Path, inputs: tuple[Any, ...], *, device: str = "cpu", threads: int | None = None,
                 stream: bool = False) -> None:
        self.session = make_session(path, device=device, threads=threads)
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.output_names = [o.name for o in self.session.get_outputs()]
        if len(self.input_names) != len(inputs):
            raise UsageError(f"{path} takes {len(self.input_names)} inputs, {len(inputs)} were prepared")
        self.feeds = {n: t.numpy() if hasattr(t, "numpy") else t for n, t in zip(self.input_names, inputs)}
        self.stream = stream and len(self.input_names) > 1
        self.info = {"providers": self.session.get_providers(), "threads": threads}

    def step(self) -> Any:
        outs = self.session.run(self.output_names, self.feeds)
        if self.stream:  # carry the shift buffers to the next frame, as the online demo does
            for name, value in zip(self.input_names[1:], outs[1:]):
                self.feeds[name] = value
        return outs[0]
