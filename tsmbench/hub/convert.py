"""Convert any supported checkpoint layout to tsmbench's safetensors, with provenance metadata."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tsmbench.errors import CheckpointError, UsageError

if TYPE_CHECKING:
    from tsmbench.hub.cards import ModelCard


@dataclass(frozen=True)
class Conversion:
    output: Path
    format: str
    arch: str | None
    num_classes: int | None
    source_sha256: str
    sha256: str
    num_tensors: int


def _model_options(card: ModelCard | None, num_segments: int | None) -> dict[str, Any]:
    opts: dict[str, Any] = dict(card.options) if card is not None else {}
    if num_segments is not None:
        opts["num_segments"] = num_segments
    return opts


def convert_checkpoint(
    path: str | Path,
    output: str | Path,
    *,
    format: str = "auto",
    arch: str | None = None,
    card: ModelCard | None = None,
    num_segments: int | None = None,
    source_sha256: str | None = None,
    validate: bool = True,
) -> Conversion:
    """Read `path` (any layout), check it loads strictly into `arch` when known, write `output`.

    The output is written atomically (temp file + rename): a truncated or corrupt input raises
    CheckpointError and leaves no output file.
    """
    from tsmbench.models.checkpoints import load_weights, read_checkpoint, save_safetensors, sha256_file

    path = Path(path)
    output = Path(output)
    if output.suffix != ".safetensors":
        raise UsageError(f"output {output} must end in .safetensors")
    if output.resolve() == path.resolve():
        raise UsageError(f"output {output} would overwrite the input; choose another -o path")
    if card is not None:
        arch = arch or card.arch
        if format == "auto":
            format = card.checkpoint_format
    ckpt = read_checkpoint(path, format=format)
    src_sha = source_sha256 or sha256_file(path)
    if arch is None and ckpt.format == "tsmbench":
        arch = ckpt.metadata.get("arch") or None
    num_classes = ckpt.num_classes
    if validate and arch is not None:
        from tsmbench.models import create_model

        opts = _model_options(card, num_segments)
        n_cls = card.num_classes if card is not None else (num_classes or 400)
        model = create_model(arch, num_classes=n_cls, **opts)
        load_weights(model, ckpt)  # strict: names the missing/unexpected keys and shape mismatches
        num_classes = n_cls
    meta: dict[str, str] = {
        "tsmbench_format": "1",
        "source_format": ckpt.format,
        "source_sha256": src_sha,
        "source_file": path.name,
    }
    if arch:
        meta["arch"] = arch
    if num_classes is not None:
        meta["num_classes"] = str(num_classes)
    if ckpt.shifted is not None:
        meta["shifted"] = "true" if ckpt.shifted else "false"
    if card is not None:
        meta["card_id"] = card.id
        meta["classes"] = card.classes if isinstance(card.classes, str) else json.dumps(list(card.classes))
        meta["num_segments"] = str(card.num_segments)
        meta["score_average"] = card.score_average
        meta["license"] = card.license or ""
    for k, v in ckpt.metadata.items():  # what the original file said about itself (epoch, best_prec1, ...)
        if k not in meta and f"source_{k}" not in meta:
            meta[f"source_{k}"] = str(v)
    if not ckpt.state_dict:
        raise CheckpointError(f"{path} holds no tensors; nothing to convert")
    save_safetensors(ckpt.state_dict, output, metadata=meta)
    return Conversion(
        output=output,
        format=ckpt.format,
        arch=arch,
        num_classes=num_classes,
        source_sha256=src_sha,
        sha256=sha256_file(output),
        num_tensors=len(ckpt.state_dict),
    )
