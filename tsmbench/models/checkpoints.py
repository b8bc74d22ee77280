"""Read the checkpoints users already hold and map them onto tsmbench's modules.

Supported layouts, detected from the content (REFERENCE §4):

- ``mit_tsm``: the original TSM repo (``{'state_dict': {'module.base_model.layer1.0.conv1.net.weight', ...,
  'module.new_fc.weight'}}``);
- ``mit_online``: the online demo's plain state dict (``features.N.conv.M.*``, ``classifier.*``);
- ``mmaction2``: ``{'state_dict': {'backbone.layer1.0.conv1.conv.net.weight', ..., 'cls_head.fc_cls.weight'}}``;
- ``pytorchvideo``: ``{'model_state': {'blocks.0.conv.weight', ..., 'blocks.6.proj.weight'}}``;
- ``tsmbench``: safetensors in tsmbench's own layout (``backbone.*``, ``fc.*``; I3D uses PyTorchVideo's names).

Pickled files are read only with ``torch.load(weights_only=True)``: a file that needs arbitrary
code to unpickle is refused, never executed.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import Tensor, nn

from tsmbench.errors import CheckpointError, UnsafeCheckpointError

FORMATS = ("mit_tsm", "mit_online", "mmaction2", "pytorchvideo", "tsmbench")
_SAFETENSORS_MAGIC_MAX_HEADER = 100 * 1024 * 1024


@dataclass(frozen=True)
class Checkpoint:
    """A checkpoint converted to tsmbench's key layout, with where it came from."""

    state_dict: dict[str, Tensor]
    format: str
    metadata: dict[str, str] = field(default_factory=dict)
    num_classes: int | None = None
    shifted: bool | None = None  # True/False when the layout tells (the reference wraps shifted convs in `.net`)
    source: str = ""


def sha256_file(path: str | Path, *, chunk_size: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(chunk_size):
            h.update(chunk)
    return h.hexdigest()


def _is_safetensors(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            head = f.read(9)
    except OSError as exc:
        raise CheckpointError(f"cannot read checkpoint {path}: {exc.strerror or exc}") from None
    if len(head) < 9:
        return False
    n = int.from_bytes(head[:8], "little")
    return 0 < n < _SAFETENSORS_MAGIC_MAX_HEADER and head[8:9] == b"{"


# Harmless types that released checkpoints carry in their metadata (numpy scalars in MMAction2's 'meta').
def _allowed_globals() -> list[Any]:
    allowed: list[Any] = []
    try:
        import numpy as np

        allowed += [np.dtype, np.ndarray, type(np.dtype("float32")), type(np.dtype("int64")), type(np.dtype("float64"))]
        try:
            from numpy.core.multiarray import _reconstruct, scalar  # type: ignore[attr-defined]
        except ImportError:  # numpy >= 2 moved it
            from numpy._core.multiarray import _reconstruct, scalar  # type: ignore[no-redef]
        allowed += [scalar, _reconstruct]
    except ImportError:
        pass
    return allowed


def _torch_load(path: Path) -> Any:
    import pickle

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        first_error = exc
    except (RuntimeError, EOFError, ValueError, OSError) as exc:
        raise CheckpointError(
            f"{path} is not a readable checkpoint (truncated or corrupt?): {str(exc).splitlines()[0][:200]}; "
            "download it again or check its sha256"
        ) from None
    # weights_only refused a global: allow only a short list of plain-data types, never code.
    try:
        unsafe = set(torch.serialization.get_unsafe_globals_in_checkpoint(path))
    except Exception:  # noqa: BLE001 - any failure here means we cannot prove the file harmless
        unsafe = {"<unknown>"}
    allowed = _allowed_globals()
    allowed_names = {f"{getattr(g, '__module__', '')}.{getattr(g, '__name__', '')}" for g in allowed}
    if unsafe and unsafe <= allowed_names:
        with torch.serialization.safe_globals(allowed):
            try:
                return torch.load(path, map_location="cpu", weights_only=True)
            except Exception:  # noqa: BLE001
                pass
    names = ", ".join(sorted(unsafe)) or str(first_error).splitlines()[0][:200]
    raise UnsafeCheckpointError(
        f"refusing to load {path}: unpickling it would import or call {names}, which could run code; "
        "convert it to safetensors on a machine where you trust the file (`tsmbench zoo convert`)"
    ) from None


def _unwrap(obj: Any) -> tuple[dict[str, Any], dict[str, str]]:
    """Find the state dict inside a loaded checkpoint object; return it and plain metadata."""
    meta: dict[str, str] = {}
    if isinstance(obj, Mapping):
        for k in ("arch", "epoch", "best_prec1"):
            if k in obj and not isinstance(obj[k], (Mapping, Tensor)):
                meta[k] = str(obj[k])
        for k in ("state_dict", "model_state", "model", "module"):
            inner = obj.get(k)
            if isinstance(inner, Mapping) and inner and all(isinstance(v, Tensor) for v in inner.values()):
                return dict(inner), meta
        if obj and all(isinstance(v, Tensor) for v in obj.values()):
            return dict(obj), meta
    raise CheckpointError(
        "no state dict found in the checkpoint (expected a dict of tensors, or one under 'state_dict' or "
        "'model_state'); is this a model checkpoint?"
    )


def detect_format(state: Mapping[str, Any]) -> str:
    keys = [k[len("module.") :] if k.startswith("module.") else k for k in state]
    if any(k.startswith("base_model.") for k in keys):
        return "mit_tsm"
    if any(k.startswith("cls_head.") for k in keys) or any(k.startswith("backbone.") and ".conv." in k for k in keys):
        return "mmaction2"
    if any(k.startswith("blocks.") for k in keys):
        return "pytorchvideo"
    if any(k.startswith("features.") for k in keys) and any(k.startswith("classifier.") for k in keys):
        return "mit_online"
    if any(k.startswith("backbone.") for k in keys) and any(k.startswith("fc.") for k in keys):
        return "tsmbench"
    sample = ", ".join(list(state)[:3])
    raise CheckpointError(
        f"unrecognised checkpoint layout (first keys: {sample}); supported: original TSM, TSM online demo, "
        "MMAction2, PyTorchVideo, tsmbench safetensors"
    )


def _drop_net(key: str) -> str:
    # The reference wraps shifted modules as `<module>.net`; tsmbench's shift has no parameters.
    return ".".join(p for p in key.split(".") if p != "net")


def _from_mit(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    out = {}
    has_new_fc = any("new_fc." in k for k in state)
    for k, v in state.items():
        k = k[len("module.") :] if k.startswith("module.") else k
        k = _drop_net(k)
        if k.startswith("new_fc."):
            k = "fc." + k[len("new_fc.") :]
        elif k.startswith("base_model."):
            rest = k[len("base_model.") :]
            # With dropout 0 the reference replaces the trunk's own classifier instead of adding new_fc.
            if not has_new_fc and (rest.startswith("fc.") or rest.startswith("classifier.")):
                k = "fc." + rest.split(".", 1)[1]
            else:
                k = "backbone." + rest
        out[k] = v
    return out


def _from_online(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    out = {}
    for k, v in state.items():
        if k.startswith("classifier."):
            out["fc." + k[len("classifier.") :]] = v
        else:
            out["backbone." + k] = v
    return out


# MMAction2's MobileNetV2: conv1, layer1..layer7 (block counts below), conv2; ConvModules hold conv/bn.
_MMA_MBV2_LAYERS = (1, 2, 3, 4, 3, 3, 1)
_MIT_MBV2_SLOTS = {True: {0: (0, 1), 1: (3, 4), 2: (6, 7)}, False: {0: (0, 1), 1: (3, 4)}}


def _from_mmaction2(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    stem = state.get("backbone.conv1.conv.weight")
    if stem is not None and stem.dim() == 5:
        raise CheckpointError(
            "this is an MMAction2 3D ResNet (I3D/SlowOnly) checkpoint: its network differs from tsmbench's i3d_r50 "
            "(PyTorchVideo 8x8: conv1 and pool1 have no temporal stride), so it cannot be loaded faithfully; "
            "use the PyTorchVideo I3D-R50 weights (zoo id i3d_r50.k400_8x8_pytorchvideo)"
        )
    is_mbv2 = any(k.startswith("backbone.layer7.") for k in state)
    starts = [1]
    for n in _MMA_MBV2_LAYERS[:-1]:
        starts.append(starts[-1] + n)
    out = {}
    for k, v in state.items():
        k = _drop_net(k)
        if k.startswith("cls_head.fc_cls."):
            out["fc." + k[len("cls_head.fc_cls.") :]] = v
            continue
        if not k.startswith("backbone."):
            raise CheckpointError(f"unexpected key {k!r} in an MMAction2 checkpoint (expected backbone.* or cls_head.*)")
        if is_mbv2:
            k = _mma_mbv2_key(k, starts, state)
        else:
            k = re.sub(r"^backbone\.conv1\.conv\.", "backbone.conv1.", k)
            k = re.sub(r"^backbone\.conv1\.bn\.", "backbone.bn1.", k)
            k = re.sub(r"\.conv(\d)\.conv\.", r".conv\1.", k)
            k = re.sub(r"\.conv(\d)\.bn\.", r".bn\1.", k)
            k = k.replace(".downsample.conv.", ".downsample.0.").replace(".downsample.bn.", ".downsample.1.")
        out[k] = v
    return out


def _mma_mbv2_key(k: str, starts: list[int], state: Mapping[str, Tensor]) -> str:
    m = re.match(r"^backbone\.conv1\.(conv|bn)\.(.+)$", k)
    if m:
        return f"backbone.features.0.{0 if m.group(1) == 'conv' else 1}.{m.group(2)}"
    m = re.match(r"^backbone\.conv2\.(conv|bn)\.(.+)$", k)
    if m:
        return f"backbone.features.18.{0 if m.group(1) == 'conv' else 1}.{m.group(2)}"
    m = re.match(r"^backbone\.layer(\d)\.(\d+)\.conv\.(\d)\.(conv|bn)\.(.+)$", k)
    if not m:
        raise CheckpointError(f"unexpected MMAction2 MobileNetV2 key {k!r}")
    layer, block, part, kind, rest = int(m.group(1)), int(m.group(2)), int(m.group(3)), m.group(4), m.group(5)
    expands = f"backbone.layer{layer}.{block}.conv.2.conv.weight" in state
    slot = _MIT_MBV2_SLOTS[expands][part][0 if kind == "conv" else 1]
    return f"backbone.features.{starts[layer - 1] + block}.conv.{slot}.{rest}"


def _shifted_from_keys(state: Mapping[str, Any], fmt: str) -> bool | None:
    if fmt in ("mit_tsm", "mmaction2"):
        return any(".net." in k for k in state)
    if fmt == "mit_online":
        return True
    return None


def _num_classes(state: Mapping[str, Tensor]) -> int | None:
    for k in ("fc.weight", "blocks.6.proj.weight"):
        if k in state and state[k].dim() == 2:
            return int(state[k].shape[0])
    return None


def read_checkpoint(path: str | Path | Checkpoint, *, format: str = "auto") -> Checkpoint:
    """Load a checkpoint file in any supported layout and convert it to tsmbench's keys."""
    if isinstance(path, Checkpoint):
        return path
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist (check the path, or `tsmbench zoo pull` the weights)")
    if format != "auto" and format not in FORMATS:
        raise CheckpointError(f"unknown checkpoint format {format!r}; use one of: auto, {', '.join(FORMATS)}")
    metadata: dict[str, str] = {}
    if _is_safetensors(path):
        from safetensors import SafetensorError, safe_open

        try:
            with safe_open(str(path), framework="pt") as f:
                metadata = dict(f.metadata() or {})
                raw = {k: f.get_tensor(k) for k in f.keys()}
        except (SafetensorError, OSError, ValueError) as exc:
            raise CheckpointError(f"{path} is a corrupt or truncated safetensors file ({exc}); download it again") from None
    else:
        raw, metadata = _unwrap(_torch_load(path))
    fmt = detect_format(raw) if format == "auto" else format
    converters = {
        "mit_tsm": _from_mit,
        "mit_online": _from_online,
        "mmaction2": _from_mmaction2,
        "pytorchvideo": dict,
        "tsmbench": dict,
    }
    state = converters[fmt](raw)
    shifted = _shifted_from_keys(raw, fmt)
    if fmt == "tsmbench" and metadata.get("shifted") in ("true", "false"):
        shifted = metadata["shifted"] == "true"
    return Checkpoint(
        state_dict=state,
        format=fmt,
        metadata=metadata,
        num_classes=_num_classes(state),
        shifted=shifted,
        source=str(path),
    )


def _fmt_keys(keys: list[str], limit: int = 6) -> str:
    shown = ", ".join(keys[:limit])
    return shown + (f" (+{len(keys) - limit} more)" if len(keys) > limit else "")


def load_weights(model: nn.Module, checkpoint: str | Path | Checkpoint, *, format: str = "auto") -> None:
    """Load a checkpoint into `model` strictly: every parameter and buffer must match by name and shape."""
    ckpt = read_checkpoint(checkpoint, format=format)
    arch = getattr(model, "arch", type(model).__name__)
    ck_arch = ckpt.metadata.get("arch")
    if ck_arch and ck_arch.split("_online")[0] != str(arch).split("_online")[0] and ckpt.format == "tsmbench":
        raise CheckpointError(f"{ckpt.source} holds weights for {ck_arch}, not {arch}: create_model({ck_arch!r}, weights=...)")
    model_shifted = getattr(model, "shifted", None)
    if arch.endswith("_online"):
        model_shifted = True
    if ckpt.shifted is not None and model_shifted is not None and ckpt.shifted != model_shifted:
        want = "a TSM (shifted)" if ckpt.shifted else "a TSN (unshifted)"
        raise CheckpointError(
            f"{ckpt.source} is {want} checkpoint but {arch} is {'TSM' if model_shifted else 'TSN'}; "
            f"use {'tsm' if ckpt.shifted else 'tsn'}_{arch.split('_', 1)[1]}"
        )
    own = model.state_dict()
    state = dict(ckpt.state_dict)
    # Checkpoints from torch < 0.4.1 have no BatchNorm step counters; they do not affect inference.
    for k in own:
        if k.endswith("num_batches_tracked") and k not in state:
            state[k] = own[k]
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    mismatched = [
        f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
        for k in own
        if k in state and tuple(state[k].shape) != tuple(own[k].shape)
    ]
    if missing or unexpected or mismatched:
        parts = []
        if mismatched:
            parts.append(f"shape mismatches: {_fmt_keys(mismatched, 4)}")
        if missing:
            parts.append(f"missing keys: {_fmt_keys(missing)}")
        if unexpected:
            parts.append(f"unexpected keys: {_fmt_keys(unexpected)}")
        hint = ""
        if mismatched and any(k.startswith(("fc.", "blocks.6.proj.")) for k in (m.split(":")[0] for m in mismatched)):
            hint = f" (the checkpoint has {ckpt.num_classes} classes: pass num_classes={ckpt.num_classes})"
        raise CheckpointError(
            f"{ckpt.source} ({ckpt.format} layout) does not fit {arch}{hint}: " + "; ".join(parts)
        )
    model.load_state_dict(state, strict=True)


def _deterministic_safetensors(tensors: dict[str, Tensor], metadata: dict[str, str]) -> bytes:
    """safetensors bytes with the header's keys sorted, so equal tensors give equal sha256.

    (safetensors writes its metadata map in hash order, which changes from run to run.)
    """
    from safetensors.torch import save

    blob = save(tensors, metadata=metadata)
    n = int.from_bytes(blob[:8], "little")
    header = json.loads(blob[8 : 8 + n])
    text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # keep the data section 8-byte aligned, as safetensors does
    return len(text).to_bytes(8, "little") + text + blob[8 + n :]


def save_safetensors(
    state_dict: Mapping[str, Tensor], path: str | Path, *, metadata: Mapping[str, Any] | None = None
) -> Path:
    """Write tensors (contiguous, unshared) and string metadata atomically: a temp file then rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().contiguous().clone() for k, v in state_dict.items()}
    meta = {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in (metadata or {}).items()}
    data = _deterministic_safetensors(tensors, meta)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def model_metadata(model: nn.Module) -> dict[str, str]:
    """The metadata tsmbench writes beside a model's tensors."""
    return {
        "tsmbench_format": "1",
        "arch": str(getattr(model, "arch", type(model).__name__)),
        "num_classes": str(getattr(model, "num_classes", "")),
        "num_segments": str(getattr(model, "num_segments", "")),
        "shifted": "true" if getattr(model, "shifted", str(getattr(model, "arch", "")).startswith("tsm")) else "false",
    }
