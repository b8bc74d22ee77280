"""Where weights come from: model cards, Hub/URL downloads, sha256 pins, conversion, the cache.

    card = load_card("tsm_r50.k400_8f_mit")
    path = resolve_weights(card.id)              # verified tsmbench safetensors in the cache
    model = create_from_card(card.id, pretrained=True)
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from tsmbench.hub.cache import PullResult, is_cached, pull, resolve_weights, weights_path
from tsmbench.hub.cards import CardError, ModelCard, list_cards, load_card

if TYPE_CHECKING:
    from torch import nn

__all__ = [
    "CardError",
    "ModelCard",
    "PullResult",
    "create_from_card",
    "is_cached",
    "list_cards",
    "load_card",
    "pull",
    "resolve_weights",
    "weights_path",
]


def create_from_card(
    model_id: str,
    *,
    pretrained: bool = False,
    weights: str | Path | None = None,
    **overrides: Any,
) -> nn.Module:
    """Build the model a card describes; load its cached weights (pretrained) or `weights`.

    `overrides` replace the card's options (num_segments, shift_div, dropout, ...); a
    `num_classes` or `num_segments` of None means "as the card says". The card is attached as
    `model.card`.
    """
    from tsmbench.errors import CheckpointError, UsageError
    from tsmbench.models import create_model
    from tsmbench.models.checkpoints import load_weights

    card = load_card(model_id)
    if pretrained and weights is not None:
        raise UsageError("pass either pretrained=True or weights=PATH, not both")
    if not card.supported and (pretrained or weights is not None):
        raise CheckpointError(f"{card.id} is listed for reference only and tsmbench cannot load it: {card.notes}")
    options = dict(card.options)
    num_classes = overrides.pop("num_classes", None) or card.num_classes
    for key, value in overrides.items():
        if value is not None:
            options[key] = value
    model = create_model(card.arch, num_classes=num_classes, **options)
    if pretrained:
        load_weights(model, resolve_weights(card.id), format="tsmbench")
    elif weights is not None:  # the user's own file: any supported layout
        load_weights(model, weights)
    model.card = card  # type: ignore[assignment]
    return model.eval()
