"""Where tsmbench keeps things: the cache home and the bundled zoo/ and datasets/ folders."""
from __future__ import annotations

import os
from pathlib import Path

_REPO_ROOT = Path(__file__).resolve().parent.parent


def home() -> Path:
    """The cache root: $TSMBENCH_HOME, else ~/.cache/tsmbench."""
    env = os.environ.get("TSMBENCH_HOME")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "tsmbench"


def zoo_dir() -> Path:
    """The folder of model cards (zoo/*.yaml, zoo.lock); $TSMBENCH_ZOO overrides."""
    env = os.environ.get("TSMBENCH_ZOO")
    return Path(env) if env else _REPO_ROOT / "zoo"


def datasets_dir() -> Path:
    """The folder of dataset cards; $TSMBENCH_DATASETS overrides."""
    env = os.environ.get("TSMBENCH_DATASETS")
    return Path(env) if env else _REPO_ROOT / "datasets"


def reports_dir() -> Path:
    return _REPO_ROOT / "reports"
