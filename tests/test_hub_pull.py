"""`zoo pull` as a new user meets it: a seeded Hub cache offline, URLs, checksums, corrupt and hostile files.

Every test uses its own zoo folder (TSMBENCH_ZOO) with cards for the tiny ResNet, and
checkpoints written by the tests in the original TSM / MMAction2 key layouts.
"""
from __future__ import annotations

import hashlib
import http.server
import json
import os
import pickle
import threading
from pathlib import Path
from typing import Any, Iterator

import pytest
import torch
import yaml
from typer.testing import CliRunner

import tsmbench
from tsmbench.cli.app import app
from tsmbench.errors import (
    CheckpointError,
    ChecksumMismatchError,
    UnsafeCheckpointError,
    WeightsNotCachedError,
)
from tsmbench.hub import create_from_card, pull
from tsmbench.hub.cache import cached_info, weights_path

from tests.helpers.reference_tsm import make_reference, save_mit, save_mmaction2_resnet

runner = CliRunner()
REPO = "someone/tiny-tsm"
FILE = "TSM_tiny_shift8_blockres_avg_segment4.pth"
COMMIT = "0123456789abcdef0123456789abcdef01234567"
CARD_ID = "tsm_resnet_tiny.toy_4f_hub"
URL_CARD_ID = "tsm_resnet_tiny.toy_4f_url"


def _card(card_id: str, sources: list[dict[str, Any]], *, fmt: str = "mit_tsm", sha256: str | None = None) -> dict:
    return {
        "id": card_id,
        "arch": card_id.split(".")[0],
        "num_classes": 10,
        "options": {"num_segments": 4, "shift_div": 8, "shift_place": "blockres"},
        "dataset": "toy",
        "classes": [f"class {i}" for i in range(10)],
        "input": {"size": 32, "resize": 36, "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25], "scale": 1.0},
        "score_average": "logits",
        "checkpoint_format": fmt,
        "sources": sources,
        "sha256": sha256,
        "license": "MIT",
        "published": [{"top1": 50.0, "top5": 90.0, "protocol": "uniform", "clips": 1, "crops": 1, "num_segments": 4,
                       "source": "this test"}],
    }


@pytest.fixture
def zoo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "zoo"
    folder.mkdir()
    monkeypatch.setenv("TSMBENCH_ZOO", str(folder))
    return folder


def _write(zoo: Path, doc: dict) -> None:
    (zoo / f"{doc['id']}.yaml").write_text(yaml.safe_dump(doc), encoding="utf-8")


@pytest.fixture
def reference(tmp_path: Path) -> tuple[torch.nn.Module, Path]:
    """A reference-structured tiny TSM and its checkpoint written as the original code saves it."""
    ref = make_reference("tsm_resnet_tiny", 10, 4)
    return ref, save_mit(ref, tmp_path / FILE)


def seed_hub_cache(repo: str, filename: str, data: bytes, commit: str = COMMIT) -> Path:
    """Lay a file out exactly as huggingface_hub caches it: blobs/, snapshots/<commit>/ (symlink), refs/main."""
    root = Path(os.environ["HF_HUB_CACHE"]) / f"models--{repo.replace('/', '--')}"
    blob = root / "blobs" / hashlib.sha256(data).hexdigest()
    blob.parent.mkdir(parents=True, exist_ok=True)
    blob.write_bytes(data)
    snap = root / "snapshots" / commit / filename
    snap.parent.mkdir(parents=True, exist_ok=True)
    snap.symlink_to(os.path.relpath(blob, snap.parent))
    (root / "refs").mkdir(exist_ok=True)
    (root / "refs" / "main").write_text(commit)
    return blob


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)


def _x() -> torch.Tensor:
    return torch.randn(2, 4, 3, 32, 32, generator=torch.Generator().manual_seed(3))


def _hub_card(zoo: Path, **kw: Any) -> None:
    _write(zoo, _card(CARD_ID, [{"hf": {"repo": REPO, "filename": FILE, "revision": None}}], **kw))


# ---------------------------------------------------------------------------------------------


def test_pull_offline_from_seeded_hub_cache_gives_the_original_logits(zoo, reference, offline) -> None:
    ref, original = reference
    _hub_card(zoo)
    seed_hub_cache(REPO, FILE, original.read_bytes())
    result = runner.invoke(app, ["zoo", "pull", CARD_ID, "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)["pull"]
    assert doc["trust_on_first_use"] is True and doc["revision"] == COMMIT
    assert doc["source_sha256"] == hashlib.sha256(original.read_bytes()).hexdigest()
    assert "trust-on-first-use" in result.stderr
    lock = json.loads((Path(os.environ["TSMBENCH_HOME"]) / "zoo.lock").read_text())
    assert lock["models"][CARD_ID]["sha256"] == doc["source_sha256"]
    assert lock["models"][CARD_ID]["revision"] == COMMIT

    x = _x()
    with torch.inference_mode():
        pulled = create_from_card(CARD_ID, pretrained=True)
        direct = tsmbench.create_model("tsm_resnet_tiny", weights=original, num_segments=4)
        assert torch.equal(pulled(x), direct(x))
        assert torch.allclose(pulled(x), ref(x), rtol=1e-3, atol=1e-5)
        via_create_model = tsmbench.create_model(CARD_ID, pretrained=True, num_segments=4)
        assert torch.equal(via_create_model(x), direct(x))
    assert pulled.card.id == CARD_ID and pulled.num_classes == 10

    listed = json.loads(runner.invoke(app, ["zoo", "list", "--json"]).stdout)["models"]
    assert len(listed) == 1 and listed[0]["cached"] is True


def test_uncached_offline_is_one_line_saying_how(zoo, offline) -> None:
    _hub_card(zoo)
    result = runner.invoke(app, ["zoo", "pull", CARD_ID])
    assert result.exit_code == 1
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:")
    assert f"tsmbench zoo pull {CARD_ID}" in lines[0] and "--weights PATH" in lines[0]
    with pytest.raises(WeightsNotCachedError):
        create_from_card(CARD_ID, pretrained=True)
    assert not weights_path(CARD_ID).exists()


def test_cached_weights_that_no_longer_match_are_detected_and_rebuilt(zoo, reference, offline) -> None:
    _, original = reference
    _hub_card(zoo)
    seed_hub_cache(REPO, FILE, original.read_bytes())
    first = pull(CARD_ID, notify=lambda m: None)
    from safetensors.torch import load_file

    _first_tensors = {k: v.clone() for k, v in load_file(str(weights_path(CARD_ID))).items()}
    good = weights_path(CARD_ID).read_bytes()
    weights_path(CARD_ID).write_bytes(good[:-64] + b"\x00" * 64)  # bit rot in the cache
    said: list[str] = []
    again = pull(CARD_ID, notify=said.append)
    assert any("fail their sha256 check" in m for m in said)
    assert not again.from_cache and again.sha256 == cached_info(CARD_ID)["sha256"]
    assert hashlib.sha256(weights_path(CARD_ID).read_bytes()).hexdigest() == again.sha256
    assert again.source_sha256 == first.source_sha256  # rebuilt from the same verified original

    rebuilt = load_file(str(weights_path(CARD_ID)))
    assert rebuilt.keys() and all(torch.equal(rebuilt[k], v) for k, v in _first_tensors.items())


def test_tampered_hub_blob_is_refused_offline(zoo, reference, offline) -> None:
    _, original = reference
    _hub_card(zoo)
    blob = seed_hub_cache(REPO, FILE, original.read_bytes())
    pull(CARD_ID, notify=lambda m: None)  # trust-on-first-use records the sha256
    weights_path(CARD_ID).unlink()
    data = bytearray(blob.read_bytes())
    data[-10] ^= 0xFF
    blob.write_bytes(bytes(data))
    with pytest.raises(ChecksumMismatchError, match="offline"):
        pull(CARD_ID, notify=lambda m: None)
    assert not weights_path(CARD_ID).exists()


class _Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802
        self.server.hits += 1  # type: ignore[attr-defined]
        data = self.server.payload  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def http_server() -> Iterator[http.server.ThreadingHTTPServer]:
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.daemon_threads = True
    srv.hits = 0  # type: ignore[attr-defined]
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv
    srv.shutdown()
    srv.server_close()


def _url_card(zoo: Path, srv: http.server.ThreadingHTTPServer, **kw: Any) -> None:
    url = f"http://127.0.0.1:{srv.server_address[1]}/{FILE}"
    _write(zoo, _card(URL_CARD_ID, [{"url": url}], **kw))


def test_url_pull_records_trust_on_first_use_then_uses_the_cache(zoo, reference, http_server) -> None:
    ref, original = reference
    http_server.payload = original.read_bytes()  # type: ignore[attr-defined]
    _url_card(zoo, http_server)
    said: list[str] = []
    first = pull(URL_CARD_ID, notify=said.append)
    assert first.trust_on_first_use and any("trust-on-first-use" in m for m in said)
    assert http_server.hits == 1  # type: ignore[attr-defined]
    second = pull(URL_CARD_ID, notify=said.append)
    assert second.from_cache and http_server.hits == 1  # type: ignore[attr-defined]
    with torch.inference_mode():
        x = _x()
        assert torch.allclose(create_from_card(URL_CARD_ID, pretrained=True)(x), ref(x), rtol=1e-3, atol=1e-5)


def test_url_pull_with_a_wrong_pin_fails_cleanly(zoo, reference, http_server) -> None:
    _, original = reference
    http_server.payload = original.read_bytes()  # type: ignore[attr-defined]
    _url_card(zoo, http_server, sha256="0" * 64)
    result = runner.invoke(app, ["zoo", "pull", URL_CARD_ID])
    assert result.exit_code == 1
    errors = [ln for ln in result.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "sha256" in errors[0] and "Traceback" not in result.output
    assert not weights_path(URL_CARD_ID).exists()
    assert not (Path(os.environ["TSMBENCH_HOME"]) / "downloads" / FILE).exists()


class _Evil:
    def __init__(self, target: str) -> None:
        self.target = target

    def __reduce__(self):
        return (os.system, (f"touch {self.target}",))


def test_hostile_pickle_is_never_run_by_pull_or_convert(zoo, tmp_path, offline) -> None:
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pth"
    torch.save({"state_dict": {"module.new_fc.weight": torch.zeros(10, 128)}, "x": _Evil(str(marker))}, evil)
    _hub_card(zoo)
    seed_hub_cache(REPO, FILE, evil.read_bytes())
    result = runner.invoke(app, ["zoo", "pull", CARD_ID])
    assert result.exit_code == 2 and "could run code" in result.stderr and "Traceback" not in result.output
    assert not weights_path(CARD_ID).exists()
    out = tmp_path / "out.safetensors"
    result = runner.invoke(app, ["zoo", "convert", str(evil), "-o", str(out)])
    assert result.exit_code == 2 and "refusing" in result.stderr
    raw = tmp_path / "raw.pkl"
    raw.write_bytes(pickle.dumps(_Evil(str(marker))))
    assert runner.invoke(app, ["zoo", "convert", str(raw), "-o", str(out)]).exit_code == 2
    assert not out.exists() and not marker.exists()
    with pytest.raises(UnsafeCheckpointError):
        pull(CARD_ID, notify=lambda m: None)
    assert not marker.exists()


def test_truncated_checkpoint_convert_is_an_error_with_no_output(tmp_path, reference) -> None:
    _, original = reference
    bad = tmp_path / "cut.pth"
    bad.write_bytes(original.read_bytes()[: original.stat().st_size // 2])
    out = tmp_path / "out.safetensors"
    result = runner.invoke(app, ["zoo", "convert", str(bad), "-o", str(out), "--arch", "tsm_resnet_tiny"])
    assert result.exit_code == 2 and "truncated or corrupt" in result.stderr
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_convert_mmaction2_layout_with_metadata(tmp_path) -> None:
    ref = make_reference("tsm_resnet_tiny", 10, 4)
    src = save_mmaction2_resnet(ref, tmp_path / "tsm_mma.pth")
    out = tmp_path / "tsm.safetensors"
    result = runner.invoke(
        app, ["zoo", "convert", str(src), "-o", str(out), "--arch", "tsm_resnet_tiny", "--num-segments", "4", "--json"]
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)["conversion"]
    assert doc["format"] == "mmaction2" and doc["arch"] == "tsm_resnet_tiny" and doc["num_classes"] == 10
    from safetensors import safe_open

    with safe_open(str(out), framework="pt") as f:
        meta = f.metadata()
    assert meta["source_sha256"] == hashlib.sha256(src.read_bytes()).hexdigest()
    assert meta["arch"] == "tsm_resnet_tiny" and meta["source_format"] == "mmaction2"
    with torch.inference_mode():
        x = _x()
        got = tsmbench.create_model("tsm_resnet_tiny", weights=out, num_segments=4)(x)
        assert torch.allclose(got, ref(x), rtol=1e-3, atol=1e-5)
    # the wrong architecture is caught at conversion time, and nothing is written
    out2 = tmp_path / "wrong.safetensors"
    result = runner.invoke(app, ["zoo", "convert", str(src), "-o", str(out2), "--arch", "tsn_resnet_tiny"])
    assert result.exit_code == 2 and not out2.exists()


def test_bundled_path_source_and_reference_only_cards(zoo, tmp_path, offline) -> None:
    m = tsmbench.create_model("tsn_resnet_tiny", num_classes=10, num_segments=4)
    from tsmbench.models.checkpoints import model_metadata, save_safetensors

    (zoo / "weights").mkdir()
    save_safetensors(m.state_dict(), zoo / "weights" / "tiny.safetensors", metadata=model_metadata(m))
    doc = _card("tsn_resnet_tiny.toy_bundled", [{"path": "weights/tiny.safetensors"}], fmt="tsmbench")
    doc["options"] = {"num_segments": 4}
    _write(zoo, doc)
    ref_only = _card("tsm_resnet_tiny.toy_reference", [{"url": "https://example.invalid/x.pth"}])
    ref_only.update(supported=False, notes="a different network")
    _write(zoo, ref_only)
    rows = {r["id"]: r for r in json.loads(runner.invoke(app, ["zoo", "list", "--json"]).stdout)["models"]}
    assert rows["tsn_resnet_tiny.toy_bundled"]["cached"] is False
    with torch.inference_mode():
        x = _x()
        assert torch.equal(create_from_card("tsn_resnet_tiny.toy_bundled", pretrained=True)(x), m.eval()(x))
    rows = {r["id"]: r for r in json.loads(runner.invoke(app, ["zoo", "list", "--json"]).stdout)["models"]}
    assert rows["tsn_resnet_tiny.toy_bundled"]["cached"] is True
    with pytest.raises(CheckpointError, match="reference only.*a different network"):
        create_from_card("tsm_resnet_tiny.toy_reference", pretrained=True)
    result = runner.invoke(app, ["zoo", "pull", "tsm_resnet_tiny.toy_reference"])
    assert result.exit_code == 2 and "reference only" in result.stderr


def test_bundled_mmaction2_i3d_card_is_refused_with_its_reason() -> None:
    with pytest.raises(CheckpointError, match="reference only.*temporal stride 2"):
        pull("i3d_r50.k400_32x2_mmaction2")


def test_new_user_pulls_offline_in_a_fresh_process(zoo, reference) -> None:
    """End to end: `HF_HUB_OFFLINE=1 python -m tsmbench zoo pull ID --revision C` from a seeded cache."""
    import subprocess
    import sys

    _, original = reference
    _hub_card(zoo)
    seed_hub_cache(REPO, FILE, original.read_bytes())
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    proc = subprocess.run(
        [sys.executable, "-m", "tsmbench", "zoo", "pull", CARD_ID, "--revision", COMMIT, "--json"],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)["pull"]
    assert doc["revision"] == COMMIT and Path(doc["path"]) == weights_path(CARD_ID)
    with torch.inference_mode():
        x = _x()
        direct = tsmbench.create_model("tsm_resnet_tiny", weights=original, num_segments=4)
        assert torch.equal(create_from_card(CARD_ID, pretrained=True)(x), direct(x))


def test_corrupted_download_is_fetched_again_online_and_refused_offline(zoo, reference, http_server, monkeypatch) -> None:
    _, original = reference
    http_server.payload = original.read_bytes()  # type: ignore[attr-defined]
    _url_card(zoo, http_server)
    pull(URL_CARD_ID, notify=lambda m: None)  # records the sha256 (trust-on-first-use)
    kept = Path(os.environ["TSMBENCH_HOME"]) / "downloads" / FILE
    kept.write_bytes(b"garbage" + kept.read_bytes()[7:])
    weights_path(URL_CARD_ID).unlink()
    said: list[str] = []
    pull(URL_CARD_ID, notify=said.append)
    assert any("does not match its sha256 pin" in m for m in said)
    assert http_server.hits == 2 and kept.read_bytes() == original.read_bytes()  # type: ignore[attr-defined]

    import huggingface_hub.constants

    kept.write_bytes(b"garbage" + kept.read_bytes()[7:])
    weights_path(URL_CARD_ID).unlink()
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(ChecksumMismatchError, match="network is off"):
        pull(URL_CARD_ID, notify=lambda m: None)
    assert http_server.hits == 2 and not weights_path(URL_CARD_ID).exists()  # type: ignore[attr-defined]
