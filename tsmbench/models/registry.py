"""Model builders registered by name, and `create_model`."""
from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from torch import nn

from tsmbench.errors import ModelNotFoundError, UsageError


@dataclass(frozen=True)
class ModelSpec:
    name: str
    builder: Callable[..., nn.Module]
    description: str
    family: str  # "tsm", "tsn", "i3d"
    default_size: int = 224  # the input side the architecture is published at


_REGISTRY: dict[str, ModelSpec] = {}


def register_model(spec: ModelSpec) -> ModelSpec:
    _REGISTRY[spec.name] = spec
    return spec


def list_models() -> list[str]:
    """Architecture names accepted by `create_model` (zoo ids add a `.tag`: see `tsmbench zoo list`)."""
    return sorted(_REGISTRY)


def get_spec(name: str) -> ModelSpec:
    try:
        return _REGISTRY[name]
    except KeyError:
        close = difflib.get_close_matches(name, list_models(), n=3, cutoff=0.4)
        hint = f"did you mean {', '.join(close)}? " if close else ""
        raise ModelNotFoundError(
            f"unknown model {name!r}: {hint}known architectures: {', '.join(list_models())}; "
            f"zoo ids are listed by `tsmbench zoo list`"
        ) from None


_OPTION_NAMES = {"shift_div", "shift_place", "temporal_pool", "shift_direction", "dropout"}


def create_model(
    name: str,
    *,
    num_classes: int | None = None,
    num_segments: int | None = None,
    weights: str | Path | None = None,
    pretrained: bool = False,
    **options: Any,
) -> nn.Module:
    """Build a video model by architecture name (`tsm_r50`) or zoo id (`tsm_r50.k400_8f_mit`).

    num_classes=None takes the class count from `weights` when given, else 400 (Kinetics);
    num_segments=None takes the zoo card's frame count for a zoo id, else 8.
    `weights` is a local checkpoint in any supported layout (original TSM, online demo,
    MMAction2, PyTorchVideo, tsmbench safetensors), converted in memory and loaded strictly.
    The model is returned in eval mode.
    """
    if "." in name:
        from tsmbench.hub import create_from_card

        return create_from_card(
            name, pretrained=pretrained, weights=weights, num_classes=num_classes, num_segments=num_segments, **options
        )
    if pretrained:
        raise UsageError(
            f"pretrained=True needs a zoo id such as {name}.<tag> (see `tsmbench zoo list --arch {name}`); "
            "a bare architecture name has no weights"
        )
    spec = get_spec(name)
    unknown = set(options) - _OPTION_NAMES
    if unknown:
        raise UsageError(f"unknown option(s) for {name}: {', '.join(sorted(unknown))}; known: {', '.join(sorted(_OPTION_NAMES))}")
    checkpoint = None
    if weights is not None:
        from tsmbench.models.checkpoints import read_checkpoint

        checkpoint = read_checkpoint(weights)
        if num_classes is None:
            num_classes = checkpoint.num_classes
    num_segments = 8 if num_segments is None else num_segments
    if num_segments < 1:
        raise UsageError(f"num_segments must be >= 1, got {num_segments}")
    model = spec.builder(num_classes=num_classes or 400, num_segments=num_segments, **options)
    if checkpoint is not None:
        from tsmbench.models.checkpoints import load_weights

        load_weights(model, checkpoint)
    return model.eval()
