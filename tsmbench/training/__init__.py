"""Training and fine-tuning video models on a dataset card (`tsmbench train`)."""
from __future__ import annotations

__all__ = ["TrainConfig", "TrainResult", "train"]


def __getattr__(name: str):
    # torch is imported only when training is asked for.
    if name in __all__:
        from tsmbench.training import loop

        return getattr(loop, name)
    raise AttributeError(f"module 'tsmbench.training' has no attribute {name!r}")
