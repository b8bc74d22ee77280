"""URL downloads against a loopback HTTP server: resume, truncation, wrong checksum, dropped connection."""
from __future__ import annotations

import hashlib
import http.server
import socket
import struct
import threading
from pathlib import Path
from typing import Iterator

import pytest

from tsmbench.errors import ChecksumMismatchError, DownloadError, WeightsNotCachedError
from tsmbench.hub.download import download_url

PAYLOAD = bytes(range(256)) * 4096  # 1 MiB + change: several chunks


class _Handler(http.server.BaseHTTPRequestHandler):
    server: "_Server"

    def log_message(self, *args) -> None:  # keep pytest output clean
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        data, mode = self.server.files.get(self.path, (None, None))
        self.server.requests.append((self.path, self.headers.get("Range")))
        if data is None:
            self.send_error(404)
            return
        start = 0
        rng = self.headers.get("Range")
        if rng and mode == "full":
            start = int(rng.split("=", 1)[1].split("-", 1)[0])
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if mode == "full":
            self.wfile.write(body)
        elif mode == "truncate":  # promise everything, send half, close cleanly
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
        elif mode == "drop":  # send a little, then reset the connection (RST)
            self.wfile.write(body[: len(body) // 3])
            self.wfile.flush()
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.files: dict[str, tuple[bytes, str]] = {}
        self.requests: list[tuple[str, str | None]] = []

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{path}"


@pytest.fixture
def server() -> Iterator[_Server]:
    srv = _Server()
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def _sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def test_full_download_is_verified_then_moved_into_place(server: _Server, tmp_path: Path) -> None:
    server.files["/w.pth"] = (PAYLOAD, "full")
    dest = tmp_path / "w.pth"
    assert download_url(server.url("/w.pth"), dest, expected_sha256=_sha(PAYLOAD), progress=False) == _sha(PAYLOAD)
    assert dest.read_bytes() == PAYLOAD
    assert not dest.with_name("w.pth.part").exists()


def test_truncated_response_leaves_no_file_and_the_next_attempt_resumes(server: _Server, tmp_path: Path) -> None:
    server.files["/w.pth"] = (PAYLOAD, "truncate")
    dest = tmp_path / "w.pth"
    with pytest.raises(DownloadError, match="run the command again to resume"):
        download_url(server.url("/w.pth"), dest, expected_sha256=_sha(PAYLOAD), progress=False)
    assert not dest.exists()
    part = dest.with_name("w.pth.part")
    assert 0 < part.stat().st_size < len(PAYLOAD)
    have = part.stat().st_size
    server.files["/w.pth"] = (PAYLOAD, "full")
    download_url(server.url("/w.pth"), dest, expected_sha256=_sha(PAYLOAD), progress=False)
    assert server.requests[-1] == ("/w.pth", f"bytes={have}-")  # resumed, not restarted
    assert dest.read_bytes() == PAYLOAD and not part.exists()


def test_wrong_checksum_is_refused_and_deleted(server: _Server, tmp_path: Path) -> None:
    evil = PAYLOAD[:-1] + b"\x00"
    server.files["/w.pth"] = (evil, "full")
    dest = tmp_path / "w.pth"
    with pytest.raises(ChecksumMismatchError, match="expected"):
        download_url(server.url("/w.pth"), dest, expected_sha256=_sha(PAYLOAD), progress=False)
    assert not dest.exists() and not dest.with_name("w.pth.part").exists()


def test_connection_dropped_midway_leaves_no_file(server: _Server, tmp_path: Path) -> None:
    server.files["/w.pth"] = (PAYLOAD, "drop")
    dest = tmp_path / "w.pth"
    with pytest.raises(DownloadError, match="interrupted|stopped"):
        download_url(server.url("/w.pth"), dest, expected_sha256=None, progress=False)
    assert not dest.exists()


def test_http_errors_and_unreachable_hosts_are_one_line(server: _Server, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="HTTP 404"):
        download_url(server.url("/missing.pth"), tmp_path / "m.pth", progress=False)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once closed
    with pytest.raises(DownloadError, match="cannot reach"):
        download_url(f"http://127.0.0.1:{port}/x.pth", tmp_path / "x.pth", progress=False, timeout=5)
    assert not (tmp_path / "m.pth").exists() and not (tmp_path / "x.pth").exists()


def test_offline_never_touches_the_network(server: _Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    server.files["/w.pth"] = (PAYLOAD, "full")
    with pytest.raises(WeightsNotCachedError):
        download_url(server.url("/w.pth"), tmp_path / "w.pth", progress=False)
    assert server.requests == []
