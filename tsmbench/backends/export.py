"""ONNX export of tsmbench models (offline clips and the online per-frame model) and parity checks.

Export uses torch.onnx.export. With torch 2.13 both exporters work for these models; the
TorchScript-based one (dynamo=False) takes about a second where the torch.export-based one
takes ~15 s on two cores for the same graph, so "auto" tries TorchScript first and falls back
to the dynamo exporter (which needs onnxscript) when it fails or is gone.

Parity: every export is checked against torch on fresh random inputs (a seed different from any
calibration data): max absolute logit difference, the same relative to the largest |logit|,
and top-1 agreement. The tolerance depends on the precision (PARITY_TOLERANCES) and a failure
raises ParityError unless the caller allows a mismatch.
"""
from __future__ import annotations

import hashlib
import json
import re
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from tsmbench.errors import ParityError, TsmbenchError, UsageError

#: precision -> (max relative logit difference, min top-1 agreement). The relative difference is
#: max|engine - torch| / max|torch|: untrained heads give logits of ~1e-3, so absolute
#: tolerances alone would say nothing.
PARITY_TOLERANCES: dict[str, tuple[float, float]] = {
    "fp32": (1e-3, 1.0),
    "bf16": (5e-2, 0.75),
    "fp16": (2e-2, 0.75),
    "int8": (0.25, 0.5),
}
INPUT_NAME = "input"
OUTPUT_NAME = "logits"
DEFAULT_OPSET = 17
#: Logits smaller than this everywhere carry no ranking (untrained heads at tiny inputs): the
#: relative difference is taken against this floor and top-1 agreement is not required.
LOGIT_FLOOR = 1e-6


@dataclass(frozen=True)
class ParityReport:
    """How an exported engine's logits compare to torch's on the same random inputs."""

    precision: str
    samples: int
    max_abs_diff: float
    max_rel_diff: float
    top1_agreement: float
    tolerance_rel: float
    tolerance_top1: float
    #: every |logit| below LOGIT_FLOOR (an untrained model): top-1 is then noise and not required
    degenerate: bool = False

    @property
    def ok(self) -> bool:
        top1_ok = self.degenerate or self.top1_agreement >= self.tolerance_top1
        return self.max_rel_diff <= self.tolerance_rel and top1_ok

    def describe(self) -> str:
        return (
            f"parity vs torch on {self.samples} random input(s): max |diff| {self.max_abs_diff:.3g} "
            f"({self.max_rel_diff:.2%} of max |logit|, tolerance {self.tolerance_rel:.2%}), top-1 agreement "
            f"{self.top1_agreement:.0%} (tolerance {self.tolerance_top1:.0%})"
            + (" [all logits below 1e-6: top-1 not meaningful]" if self.degenerate else "")
        )

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["ok"] = self.ok
        return d


def compare_logits(reference: Any, candidate: Any, *, precision: str = "fp32") -> ParityReport:
    """ParityReport of two (N, K) logit arrays (numpy or torch)."""
    import numpy as np

    ref = np.asarray(reference, dtype=np.float64).reshape(len(reference), -1)
    cand = np.asarray(candidate, dtype=np.float64).reshape(len(candidate), -1)
    if ref.shape != cand.shape:
        raise ParityError(f"engine output shape {cand.shape} differs from torch's {ref.shape}")
    if not np.all(np.isfinite(cand)):
        raise ParityError("engine output contains NaN or Inf (overflow in reduced precision?)")
    diff = float(np.abs(ref - cand).max()) if ref.size else 0.0
    scale = float(np.abs(ref).max()) if ref.size else 0.0
    rel = diff / max(scale, LOGIT_FLOOR)
    agree = float((ref.argmax(1) == cand.argmax(1)).mean()) if len(ref) else 1.0
    tol_rel, tol_top1 = PARITY_TOLERANCES.get(precision, PARITY_TOLERANCES["fp32"])
    return ParityReport(precision, len(ref), diff, rel, agree, tol_rel, tol_top1, degenerate=scale < LOGIT_FLOOR)


def enforce(report: ParityReport, *, allow_mismatch: bool, what: str) -> None:
    """Raise ParityError when the report is beyond tolerance and a mismatch is not allowed."""
    if not report.ok and not allow_mismatch:
        raise ParityError(f"{what} disagrees with torch: {report.describe()}; pass --allow-mismatch to report it anyway")


def is_online(model: Any) -> bool:
    return hasattr(model, "init_buffers")


def example_inputs(model: Any, *, batch: int, segments: int, size: int, seed: int = 0) -> tuple[Any, ...]:
    """Inputs of the right layout: (clip,) for offline models, (frame, *zero buffers) for online."""
    import torch

    g = torch.Generator().manual_seed(seed)
    if is_online(model):
        frame = torch.randn(batch, 3, size, size, generator=g)
        return (frame, *model.init_buffers(batch, size, size))
    return (torch.randn(batch, segments, 3, size, size, generator=g),)


def io_names(model: Any) -> tuple[list[str], list[str]]:
    if is_online(model):
        n = len(model.buffer_shapes(1, 32, 32))
        return [INPUT_NAME, *[f"buffer_in_{i}" for i in range(n)]], [OUTPUT_NAME, *[f"buffer_out_{i}" for i in range(n)]]
    return [INPUT_NAME], [OUTPUT_NAME]


def export_onnx(
    model: Any,
    path: str | Path,
    *,
    batch: int | None = 1,
    segments: int = 8,
    size: int = 224,
    opset: int = DEFAULT_OPSET,
    exporter: str = "auto",
) -> Path:
    """Export `model` to ONNX at `path`; batch=None makes the batch dimension dynamic.

    Offline models: input "input" (N, T, 3, S, S) -> "logits" (N, K). Online models: "input"
    (N, 3, S, S) plus "buffer_in_0..9" -> "logits" plus "buffer_out_0..9".
    """
    import torch

    if exporter not in ("auto", "torchscript", "dynamo"):
        raise UsageError(f"exporter must be auto, torchscript or dynamo, got {exporter!r}")
    if batch is not None and batch < 1:
        raise UsageError(f"--batch must be >= 1 or 'dynamic', got {batch}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model = model.eval()
    args = example_inputs(model, batch=batch or 2, segments=segments, size=size)
    in_names, out_names = io_names(model)
    try:  # a shape the model cannot run at is the user's to fix, not an exporter problem
        with torch.inference_mode():
            model(*args)
    except (RuntimeError, ValueError) as exc:
        raise UsageError(
            f"{getattr(model, 'arch', 'model')} cannot run on input {tuple(args[0].shape)}: "
            f"{str(exc).splitlines()[0][:200]}; choose another --size/--segments"
        ) from None
    tmp = path.with_name(path.name + ".partial")
    errors: list[str] = []
    order = ["torchscript", "dynamo"] if exporter == "auto" else [exporter]
    for kind in order:
        try:
            with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
                warnings.simplefilter("ignore")
                if kind == "torchscript":
                    dyn = None if batch is not None else {n: {0: "batch"} for n in in_names + out_names}
                    torch.onnx.export(model, args, str(tmp), dynamo=False, opset_version=opset,
                                      input_names=in_names, output_names=out_names, dynamic_axes=dyn,
                                      do_constant_folding=True)
                else:
                    dyn_shapes = None
                    if batch is None:
                        b = torch.export.Dim("batch", min=1, max=1024)
                        dyn_shapes = tuple({0: b} for _ in args)
                    torch.onnx.export(model, args, str(tmp), dynamo=True, opset_version=max(opset, 18),
                                      input_names=in_names, output_names=out_names, dynamic_shapes=dyn_shapes,
                                      external_data=False, verbose=False)
            tmp.replace(path)
            return path
        except (RuntimeError, TypeError, ValueError, ImportError, AttributeError, torch.onnx.errors.OnnxExporterError) as exc:  # type: ignore[attr-defined]
            first = re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).strip().splitlines()[0][:200] if str(exc).strip() else ""
            errors.append(f"{kind}: {type(exc).__name__}: {first}")
            tmp.unlink(missing_ok=True)
    raise TsmbenchError(f"ONNX export of {getattr(model, 'arch', 'model')} failed ({'; '.join(errors)})")


def onnx_cache_path(
    *, model: str, weights_sha: str | None, batch: int | None, segments: int, size: int, opset: int, online: bool, variant: str = "fp32"
) -> Path:
    """Where an exported ONNX file is cached: home()/onnx/<model>-<key>.onnx."""
    from tsmbench.paths import home

    key = json.dumps([model, weights_sha, batch, segments, size, opset, online, variant], sort_keys=True)
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    safe = model.replace("/", "_")
    b = "dyn" if batch is None else f"b{batch}"
    return home() / "onnx" / f"{safe}-{b}-t{segments}-s{size}-{variant}-{digest}.onnx"


def torch_reference(model: Any, inputs: Sequence[Any]) -> Any:
    """torch logits (numpy) for the parity inputs."""
    import torch

    with torch.inference_mode():
        out = model(*inputs)
    logits = out[0] if isinstance(out, (tuple, list)) else out
    return logits.float().numpy()


def onnxruntime_parity(
    model: Any, onnx_path: str | Path, *, batch: int, segments: int, size: int, precision: str = "fp32", seed: int = 1234,
    inputs: Sequence[Any] | None = None,
) -> ParityReport:
    """Run the ONNX file with ONNX Runtime (CPU) and torch on fresh random inputs (or `inputs`) and compare."""
    from tsmbench.backends.onnxruntime_backend import make_session

    if inputs is not None:
        inputs = tuple(inputs)
    else:
        inputs = example_inputs(model, batch=batch, segments=segments, size=size, seed=seed)
    if is_online(model) and len(inputs) > 1 and not any(bool(b.any()) for b in inputs[1:]):
        # non-zero buffers exercise the shift path too
        import torch

        g = torch.Generator().manual_seed(seed + 1)
        inputs = (inputs[0], *[torch.randn(b.shape, generator=g) for b in inputs[1:]])
    ref = torch_reference(model, inputs)
    session = make_session(onnx_path, device="cpu", threads=None)
    names = [i.name for i in session.get_inputs()]
    feeds = {n: t.numpy() for n, t in zip(names, inputs)}
    cand = session.run([session.get_outputs()[0].name], feeds)[0]
    return compare_logits(ref, cand, precision=precision)


def load_model_for(name: str, *, segments: int, num_classes: int | None, weights: str | None, online: bool = False) -> Any:
    """create_model for latency/export: names and zoo ids; T=1 for online models."""
    import torch

    import tsmbench

    # Without weights the model is randomly initialised: seed it so that the cached ONNX export
    # and a later torch reference are the same network.
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = tsmbench.create_model(name, num_classes=num_classes, num_segments=segments, weights=weights)
    if online and not is_online(model):
        raise UsageError(f"{name} is not an online model: use tsm_mobilenetv2_online for --online/--mode stream")
    return model.eval()


def model_fingerprint(model: Any) -> str:
    """sha256 over the architecture name, T and every state-dict tensor (names, shapes, bytes)."""
    h = hashlib.sha256(f"{getattr(model, 'arch', type(model).__name__)}|{getattr(model, 'num_segments', '')}".encode())
    for key, tensor in model.state_dict().items():
        t = tensor.detach().cpu().contiguous()
        h.update(f"{key}{tuple(t.shape)}{t.dtype}".encode())
        h.update(t.view(-1).view(__import__("torch").uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def checksum_of(weights: str | None) -> str | None:
    if not weights:
        return None
    from tsmbench.models.checkpoints import sha256_file

    return sha256_file(weights)


def ensure_onnx(
    model: Any,
    name: str,
    *,
    weights: str | None,
    batch: int | None,
    segments: int,
    size: int,
    opset: int = DEFAULT_OPSET,
    log: Callable[[str], None] | None = None,
) -> Path:
    """Export (or reuse from the cache) the fp32 ONNX file for this model and shape."""
    # Keyed by the network's own bytes (weights, class count, options all show there), not only by
    # its name: two heads of different sizes, or other weights, never share a cached file.
    path = onnx_cache_path(model=name, weights_sha=model_fingerprint(model), batch=batch, segments=segments, size=size,
                           opset=opset, online=is_online(model))
    if not path.exists():
        if log:
            log(f"exporting {name} to ONNX ({path.name})")
        export_onnx(model, path, batch=batch, segments=segments, size=size, opset=opset)
    return path
