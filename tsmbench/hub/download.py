"""Fetching checkpoint bytes: the Hugging Face Hub (through huggingface_hub) and plain URLs.

URL downloads go to `<name>.part` in the cache's downloads folder, resume with an HTTP Range
request when a previous attempt left a partial file, and are moved to their final name only
after the sha256 check passes: an interrupted or wrong download never sits where a good one
would be found.
"""
from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable

from tsmbench import __version__
from tsmbench.errors import ChecksumMismatchError, DownloadError, WeightsNotCachedError
from tsmbench.paths import home

_CHUNK = 1 << 20
USER_AGENT = f"tsmbench/{__version__}"


def is_offline() -> bool:
    """True when the user asked for no network (HF_HUB_OFFLINE=1 or TSMBENCH_OFFLINE=1)."""
    try:
        from huggingface_hub import constants

        if constants.HF_HUB_OFFLINE:
            return True
    except ImportError:  # pragma: no cover - huggingface_hub is a dependency
        pass
    for var in ("HF_HUB_OFFLINE", "TSMBENCH_OFFLINE"):
        if os.environ.get(var, "").strip().lower() in ("1", "true", "yes", "on"):
            return True
    return False


def hf_cache_dir() -> Path:
    """The Hub cache, read from the environment now (huggingface_hub reads it once, at import)."""
    env = os.environ.get("HF_HUB_CACHE")
    if env:
        return Path(env).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def downloads_dir() -> Path:
    return home() / "downloads"


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def fetch_hf(
    repo: str, filename: str, *, revision: str | None = None, force: bool = False
) -> tuple[Path, str | None]:
    """Path of `filename` from Hub repo `repo` (downloaded or from the cache) and its commit hash.

    Offline, only the cache is used; a file not cached there raises WeightsNotCachedError.
    """
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import (
        EntryNotFoundError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    offline = is_offline()
    if offline and force:
        raise WeightsNotCachedError(
            f"hf://{repo}/{filename} must be fetched again but the hub is offline (HF_HUB_OFFLINE=1); "
            "run `tsmbench zoo pull` on a connected machine"
        )
    try:
        local = hf_hub_download(
            repo_id=repo,
            filename=filename,
            revision=revision,
            cache_dir=hf_cache_dir(),
            library_name="tsmbench",
            library_version=__version__,
            local_files_only=offline,
            force_download=force,
        )
    except LocalEntryNotFoundError:
        raise WeightsNotCachedError(
            f"hf://{repo}/{filename} is not in the Hub cache ({hf_cache_dir()}) and the hub is offline or unreachable"
        ) from None
    except (RepositoryNotFoundError, RevisionNotFoundError, EntryNotFoundError) as exc:
        raise DownloadError(f"hf://{repo}/{filename}@{revision or 'main'}: {type(exc).__name__}; check the card's source") from None
    except (HfHubHTTPError, OSError) as exc:
        raise DownloadError(f"download of hf://{repo}/{filename} failed: {str(exc).splitlines()[0][:200]}") from None
    path = Path(str(local))
    commit = path.parent.name if path.parent.parent.name == "snapshots" else None
    return path, commit


def _progress(total: int | None, desc: str) -> tuple[Callable[[int], None], Callable[[], None]]:
    """A rich progress bar on stderr; (advance, close)."""
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

    console = Console(stderr=True)
    prog = Progress(
        TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
        console=console, transient=True, disable=not console.is_terminal,
    )
    prog.start()
    task = prog.add_task(desc, total=total)
    return (lambda n: prog.advance(task, n)), prog.stop


def download_url(
    url: str,
    dest: Path,
    *,
    expected_sha256: str | None = None,
    timeout: float = 30.0,
    progress: bool = True,
) -> str:
    """Download `url` to `dest` (resuming `dest.part`); verify; return the sha256 of the file.

    On a checksum mismatch the partial file is deleted and ChecksumMismatchError raised; on an
    interrupted transfer the `.part` file is kept for the next attempt to resume, and `dest`
    is never created.
    """
    if is_offline():
        raise WeightsNotCachedError(f"{url} is not downloaded and the network is off (HF_HUB_OFFLINE/TSMBENCH_OFFLINE)")
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    have = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": USER_AGENT}
    if have:
        headers["Range"] = f"bytes={have}-"
    req = urllib.request.Request(url, headers=headers)
    try:
        resp = urllib.request.urlopen(req, timeout=timeout)  # noqa: S310 - http(s) URLs from model cards
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # the partial file is already complete (or bogus): start again
            part.unlink(missing_ok=True)
            return download_url(url, dest, expected_sha256=expected_sha256, timeout=timeout, progress=progress)
        raise DownloadError(f"download of {url} failed: HTTP {exc.code} {exc.reason}; try another source or later") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DownloadError(f"cannot reach {url}: {reason}; check the network or pass --weights PATH") from None
    with resp:
        status = getattr(resp, "status", 200)
        mode = "ab" if (have and status == 206) else "wb"
        if mode == "wb":
            have = 0
        length = resp.headers.get("Content-Length")
        expected_total = have + int(length) if length is not None and length.isdigit() else None
        advance, close = _progress(expected_total, dest.name) if progress else ((lambda n: None), (lambda: None))
        advance(have)
        got = have
        try:
            with open(part, mode) as f:
                while True:
                    chunk = resp.read(_CHUNK)
                    if not chunk:
                        break
                    f.write(chunk)
                    got += len(chunk)
                    advance(len(chunk))
        except (OSError, urllib.error.URLError, ConnectionError) as exc:
            raise DownloadError(
                f"download of {url} was interrupted after {got} bytes ({type(exc).__name__}); "
                "run the command again to resume"
            ) from None
        except Exception as exc:  # http.client.IncompleteRead and friends are not OSErrors
            if type(exc).__module__.startswith("http"):
                raise DownloadError(
                    f"download of {url} was interrupted after {got} bytes ({type(exc).__name__}); "
                    "run the command again to resume"
                ) from None
            raise
        finally:
            close()
    if expected_total is not None and got < expected_total:
        raise DownloadError(
            f"download of {url} stopped at {got} of {expected_total} bytes; run the command again to resume"
        )
    digest = sha256_of(part)
    if expected_sha256 and digest != expected_sha256.lower():
        part.unlink(missing_ok=True)
        raise ChecksumMismatchError(
            f"{url} has sha256 {digest[:16]}…, expected {expected_sha256[:16]}…; the file was deleted. "
            "The source may have changed: check the card and zoo.lock before trusting it"
        )
    os.replace(part, dest)
    return digest
