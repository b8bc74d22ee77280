"""The weights cache: pulling a card's checkpoint, verifying it, converting it, finding it again.

Layout under $TSMBENCH_HOME (default ~/.cache/tsmbench):

    zoo/<card id>/model.safetensors   converted weights in tsmbench's layout
    zoo/<card id>/info.json           provenance: source, its sha256, revision, the file's sha256
    downloads/<file name>             originals fetched from URLs (.part while downloading)
    zoo.lock                          trust-on-first-use sha256 records (see lock.py)

Originals from the Hugging Face Hub stay in the Hub's own cache.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from tsmbench.errors import (
    CheckpointError,
    ChecksumMismatchError,
    DownloadError,
    TsmbenchError,
    WeightsNotCachedError,
)
from tsmbench.hub import lock
from tsmbench.hub.cards import ModelCard, Source, load_card
from tsmbench.hub.download import download_url, downloads_dir, fetch_hf, is_offline, sha256_of
from tsmbench.paths import home, zoo_dir


def _say(msg: str) -> None:
    from rich.console import Console

    Console(stderr=True, highlight=False, soft_wrap=True).print(msg, markup=False)


Notify = Callable[[str], None]


@dataclass(frozen=True)
class PullResult:
    card_id: str
    path: Path
    sha256: str
    source: str
    source_sha256: str
    revision: str | None
    trust_on_first_use: bool
    from_cache: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.card_id,
            "path": str(self.path),
            "sha256": self.sha256,
            "source": self.source,
            "source_sha256": self.source_sha256,
            "revision": self.revision,
            "trust_on_first_use": self.trust_on_first_use,
            "from_cache": self.from_cache,
        }


def cache_dir(card_id: str) -> Path:
    return home() / "zoo" / card_id


def weights_path(card_id: str) -> Path:
    return cache_dir(card_id) / "model.safetensors"


def _info_path(card_id: str) -> Path:
    return cache_dir(card_id) / "info.json"


def cached_info(card_id: str) -> dict[str, Any] | None:
    """The provenance record of cached weights, or None when nothing is cached."""
    info, weights = _info_path(card_id), weights_path(card_id)
    if not (info.is_file() and weights.is_file()):
        return None
    try:
        doc = json.loads(info.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, OSError):
        return None
    return doc if isinstance(doc, dict) else None


def is_cached(card_id: str) -> bool:
    return cached_info(card_id) is not None


def verify_cached(card_id: str) -> bool | None:
    """None: nothing cached; True: the cached file hashes as recorded; False: it does not."""
    info = cached_info(card_id)
    if info is None:
        return None
    return sha256_of(weights_path(card_id)) == info.get("sha256")


def not_cached_message(card_id: str) -> str:
    return (
        f"weights for {card_id} are not cached and cannot be fetched here (offline or no reachable source): "
        f"run `tsmbench zoo pull {card_id}` on a connected machine and copy its $TSMBENCH_HOME "
        f"({home()}) here, or pass --weights PATH"
    )


# ---------------------------------------------------------------------------------------------
# fetching one source


def _pin(card: ModelCard) -> str | None:
    if card.sha256:
        return card.sha256
    entry = lock.pinned(card.id)
    return entry.sha256 if entry else None


def _fetch(card: ModelCard, src: Source, pin: str | None, revision: str | None, notify: Notify) -> tuple[Path, str, str | None]:
    """Bring one source's original file to local disk; return (path, sha256, revision)."""
    if src.kind == "hf":
        rev = revision or src.revision
        path, commit = fetch_hf(str(src.repo), str(src.filename), revision=rev)
        digest = sha256_of(path)
        if pin and digest != pin:
            if is_offline():
                raise ChecksumMismatchError(
                    f"the cached {src.describe()} has sha256 {digest[:16]}…, expected {pin[:16]}…, and the hub is "
                    "offline so it cannot be fetched again; refusing it"
                )
            notify(f"cached {src.describe()} does not match its sha256 pin: fetching it again")
            path, commit = fetch_hf(str(src.repo), str(src.filename), revision=rev, force=True)
            digest = sha256_of(path)
            if digest != pin:
                raise ChecksumMismatchError(
                    f"{src.describe()} has sha256 {digest[:16]}…, expected {pin[:16]}…; the mirror changed or is "
                    "wrong: check the card and zoo.lock"
                )
        return path, digest, commit or rev
    if src.kind == "url":
        dest = downloads_dir() / src.basename
        if dest.is_file():
            digest = sha256_of(dest)
            if pin is None or digest == pin:
                return dest, digest, None
            if is_offline():
                raise ChecksumMismatchError(
                    f"{dest} has sha256 {digest[:16]}…, expected {pin[:16]}…, and the network is off so it cannot be "
                    "fetched again; refusing it"
                )
            notify(f"{dest} does not match its sha256 pin: deleting it and downloading again")
            dest.unlink()
        if not is_offline():  # offline, download_url refuses at once: do not claim a download
            notify(f"downloading {src.url}")
        digest = download_url(str(src.url), dest, expected_sha256=pin)
        return dest, digest, None
    local = zoo_dir() / str(src.path)
    if not local.is_file():
        raise WeightsNotCachedError(f"bundled weights {local} are missing from this installation")
    digest = sha256_of(local)
    if pin and digest != pin:
        raise ChecksumMismatchError(f"bundled weights {local} have sha256 {digest[:16]}…, expected {pin[:16]}…")
    return local, digest, None


# ---------------------------------------------------------------------------------------------
# pull


def pull(
    model_id: str,
    *,
    revision: str | None = None,
    force: bool = False,
    notify: Notify | None = None,
) -> PullResult:
    """Fetch, verify and convert a card's weights into the cache (a no-op when already there)."""
    notify = notify or _say
    card = load_card(model_id)
    if not card.supported:
        raise CheckpointError(f"{card.id} is listed for reference only and tsmbench cannot load it: {card.notes}")
    info = cached_info(card.id)
    if info is not None and not force and (revision is None or info.get("revision") == revision):
        if sha256_of(weights_path(card.id)) == info.get("sha256"):
            return _result(card.id, info, from_cache=True)
        notify(f"cached weights for {card.id} fail their sha256 check (modified or corrupt): fetching them again")
    pin = _pin(card)
    failures: list[TsmbenchError] = []
    for src in card.sources:
        try:
            original, digest, rev = _fetch(card, src, pin, revision, notify)
        except (WeightsNotCachedError, DownloadError, ChecksumMismatchError) as exc:
            failures.append(exc)
            continue
        tofu = False
        if pin is None:
            where = lock.record(
                card.id,
                lock.LockEntry(
                    sha256=digest, source=src.describe(), size=original.stat().st_size, revision=rev,
                    method="trust-on-first-use",
                ),
            )
            tofu = True
            notify(
                f"{card.id}: no known sha256 for {src.describe()}; recorded {digest} in {where} "
                "(trust-on-first-use: later downloads must match it; copy the entry into zoo/zoo.lock to pin it)"
            )
        return _install(card, original, digest, src, rev, tofu)
    mismatch = [f for f in failures if isinstance(f, ChecksumMismatchError)]
    if mismatch:
        raise mismatch[0]
    if failures and all(isinstance(f, WeightsNotCachedError) for f in failures):
        raise WeightsNotCachedError(not_cached_message(card.id))
    if failures:
        details = "; ".join(str(f) for f in failures)
        raise DownloadError(f"no source of {card.id} could be fetched ({details}); pass --weights PATH or try later")
    raise WeightsNotCachedError(not_cached_message(card.id))


def _install(card: ModelCard, original: Path, digest: str, src: Source, rev: str | None, tofu: bool) -> PullResult:
    from tsmbench.hub.convert import convert_checkpoint

    out = weights_path(card.id)
    conv = convert_checkpoint(original, out, card=card, source_sha256=digest)
    info = {
        "card_id": card.id,
        "arch": card.arch,
        "source": src.describe(),
        "source_sha256": digest,
        "source_format": conv.format,
        "revision": rev,
        "sha256": conv.sha256,
        "trust_on_first_use": tofu,
        "converted": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    tmp = _info_path(card.id).with_suffix(".json.tmp")
    tmp.write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, _info_path(card.id))
    return _result(card.id, info, from_cache=False)


def _result(card_id: str, info: dict[str, Any], *, from_cache: bool) -> PullResult:
    return PullResult(
        card_id=card_id,
        path=weights_path(card_id),
        sha256=str(info.get("sha256")),
        source=str(info.get("source")),
        source_sha256=str(info.get("source_sha256")),
        revision=info.get("revision"),
        trust_on_first_use=bool(info.get("trust_on_first_use")),
        from_cache=from_cache,
    )


def resolve_weights(model_id: str, *, revision: str | None = None) -> Path:
    """A verified tsmbench safetensors file for `model_id`, pulled into the cache if needed."""
    return pull(model_id, revision=revision).path


def cache_state(card: ModelCard) -> dict[str, Any]:
    info = cached_info(card.id)
    return {"cached": info is not None, "path": str(weights_path(card.id)) if info else None, "info": info}

