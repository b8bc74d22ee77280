"""tsmbench: decide, prove and guard how fast and how accurate an efficient video model is."""
from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__", "create_model", "list_models"]


def __getattr__(name: str):
    # Keep `import tsmbench` (and so the CLI's --help) free of torch until a model is asked for.
    if name in ("create_model", "list_models"):
        from tsmbench import models

        return getattr(models, name)
    raise AttributeError(f"module 'tsmbench' has no attribute {name!r}")
