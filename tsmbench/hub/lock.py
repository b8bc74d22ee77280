"""sha256 pins for checkpoint files: zoo/zoo.lock (committed) and a user lock in the cache.

The committed lock (zoo/zoo.lock, JSON) holds pins a maintainer has verified. A download whose
checksum nobody knows yet is recorded in the *user* lock ($TSMBENCH_ZOO_LOCK, default
$TSMBENCH_HOME/zoo.lock) as trust-on-first-use, and the tool says so; from then on the same file
must hash the same. Copying a user-lock entry into zoo/zoo.lock pins it for everyone.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tsmbench.errors import UsageError
from tsmbench.paths import home, zoo_dir

LOCK_VERSION = 1


@dataclass(frozen=True)
class LockEntry:
    sha256: str
    source: str
    size: int | None = None
    revision: str | None = None
    method: str = "pinned"  # "pinned" (verified by a maintainer) or "trust-on-first-use"
    recorded: str | None = None


def bundled_lock_path() -> Path:
    return zoo_dir() / "zoo.lock"


def user_lock_path() -> Path:
    env = os.environ.get("TSMBENCH_ZOO_LOCK")
    return Path(env).expanduser() if env else home() / "zoo.lock"


def _read(path: Path) -> dict[str, LockEntry]:
    if not path.is_file():
        return {}
    try:
        doc = json.loads(path.read_text(encoding="utf-8") or "{}")
    except json.JSONDecodeError as exc:
        raise UsageError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno}); fix or delete the lock file") from None
    models = doc.get("models", {}) if isinstance(doc, dict) else {}
    out: dict[str, LockEntry] = {}
    for card_id, e in models.items():
        if not isinstance(e, dict) or not isinstance(e.get("sha256"), str):
            raise UsageError(f"{path}: entry {card_id!r} needs a 'sha256' string; fix or delete the entry")
        out[card_id] = LockEntry(
            sha256=e["sha256"].lower(),
            source=str(e.get("source", "")),
            size=e.get("size"),
            revision=e.get("revision"),
            method=str(e.get("method", "pinned")),
            recorded=e.get("recorded"),
        )
    return out


def pinned(card_id: str) -> LockEntry | None:
    """The pin for a card: the committed lock wins over the user's trust-on-first-use record."""
    bundled = _read(bundled_lock_path()).get(card_id)
    if bundled is not None:
        return bundled
    return _read(user_lock_path()).get(card_id)


def all_entries() -> dict[str, LockEntry]:
    merged = _read(user_lock_path())
    merged.update(_read(bundled_lock_path()))
    return merged


def record(card_id: str, entry: LockEntry, path: Path | None = None) -> Path:
    """Write `entry` into the user lock (atomically); returns the lock's path."""
    path = path or user_lock_path()
    doc: dict[str, Any] = {"version": LOCK_VERSION, "models": {}}
    if path.is_file():
        try:
            doc = json.loads(path.read_text(encoding="utf-8") or "{}") or doc
        except json.JSONDecodeError:
            raise UsageError(f"{path}: not valid JSON; fix or delete the lock file") from None
    doc.setdefault("version", LOCK_VERSION)
    models = doc.setdefault("models", {})
    models[card_id] = {
        "sha256": entry.sha256,
        "source": entry.source,
        "size": entry.size,
        "revision": entry.revision,
        "method": entry.method,
        "recorded": entry.recorded or _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".zoo.lock.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(doc, f, indent=2, sort_keys=True)
            f.write("\n")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path
