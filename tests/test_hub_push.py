"""`zoo push`: everything up to the upload, with HfApi replaced; the real upload is a `network` test."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

import tsmbench
from tsmbench.cli.app import app
from huggingface_hub import HfApi

from tsmbench.hub.cards import parse_card
from tsmbench.hub.cache import cached_info, weights_path
from tsmbench.models.checkpoints import model_metadata, save_safetensors

runner = CliRunner()
CARD_ID = "tsn_resnet_tiny.toy_push"


class FakeApi:
    """Records what would be sent to the Hub (the temp folder is gone after the call, so copy it)."""

    instances: list["FakeApi"] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.kwargs = kwargs
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.uploaded: dict[str, bytes] = {}
        FakeApi.instances.append(self)

    def create_repo(self, repo_id: str, **kw: Any) -> str:
        self.calls.append(("create_repo", {"repo_id": repo_id, **kw}))
        return f"https://huggingface.co/{repo_id}"

    def upload_folder(self, **kw: Any) -> Any:
        self.calls.append(("upload_folder", kw))
        for p in Path(kw["folder_path"]).iterdir():
            self.uploaded[p.name] = p.read_bytes()

        class _Commit:
            commit_url = f"https://huggingface.co/{kw['repo_id']}/commit/abc"

        return _Commit()


@pytest.fixture
def tiny_zoo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    zoo = tmp_path / "zoo"
    (zoo / "weights").mkdir(parents=True)
    monkeypatch.setenv("TSMBENCH_ZOO", str(zoo))
    m = tsmbench.create_model("tsn_resnet_tiny", num_classes=10, num_segments=4)
    save_safetensors(m.state_dict(), zoo / "weights" / "tiny.safetensors", metadata=model_metadata(m))
    doc = {
        "id": CARD_ID, "arch": "tsn_resnet_tiny", "num_classes": 10, "options": {"num_segments": 4},
        "dataset": "toy", "classes": [f"c{i}" for i in range(10)],
        "input": {"size": 32, "resize": 36, "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]},
        "score_average": "logits", "checkpoint_format": "tsmbench",
        "sources": [{"path": "weights/tiny.safetensors"}], "sha256": None, "license": "Apache-2.0",
        "published": [{"top1": 42.0, "top5": None, "protocol": "uniform", "clips": 1, "crops": 1,
                       "num_segments": 4, "source": "a test"}],
    }
    (zoo / f"{CARD_ID}.yaml").write_text(yaml.safe_dump(doc))
    FakeApi.instances.clear()
    monkeypatch.setattr("huggingface_hub.HfApi", FakeApi)
    return zoo


def test_push_uploads_weights_readme_and_card(tiny_zoo: Path) -> None:
    result = runner.invoke(app, ["zoo", "push", CARD_ID, "--repo", "me/tiny-mirror", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)["push"]
    assert doc["repo_url"] == "https://huggingface.co/me/tiny-mirror"
    (api,) = FakeApi.instances
    assert api.kwargs.get("library_name") == "tsmbench"
    assert [c[0] for c in api.calls] == ["create_repo", "upload_folder"]
    assert api.calls[0][1]["repo_id"] == "me/tiny-mirror" and api.calls[0][1]["exist_ok"] is True
    assert set(api.uploaded) == {"model.safetensors", "README.md", f"{CARD_ID}.yaml"}
    # the uploaded weights are the verified cached file
    assert api.uploaded["model.safetensors"] == weights_path(CARD_ID).read_bytes()
    assert hashlib.sha256(api.uploaded["model.safetensors"]).hexdigest() == cached_info(CARD_ID)["sha256"]
    readme = api.uploaded["README.md"].decode()
    assert readme.startswith("---\nlibrary_name: tsmbench")
    assert cached_info(CARD_ID)["source_sha256"] in readme and "trust-on-first-use" in readme
    assert "| 42.00 |" in readme
    mirrored = parse_card(yaml.safe_load(api.uploaded[f"{CARD_ID}.yaml"]), Path(f"{CARD_ID}.yaml"))
    assert mirrored.sources[0].describe().startswith("hf://me/tiny-mirror/model.safetensors")
    assert mirrored.checkpoint_format == "tsmbench" and mirrored.sha256 is None


def test_push_rejects_a_bad_repo_name_before_anything_happens(tiny_zoo: Path) -> None:
    result = runner.invoke(app, ["zoo", "push", CARD_ID, "--repo", "no-slash"])
    assert result.exit_code == 2 and "USER/NAME" in result.stderr
    assert FakeApi.instances == [] and not weights_path(CARD_ID).exists()


@pytest.mark.network
def test_real_upload_to_the_hub(tiny_zoo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Needs TSMBENCH_TEST_HUB_USER and a write token (HF_TOKEN); creates and deletes a private repo."""
    user, token = os.environ.get("TSMBENCH_TEST_HUB_USER"), os.environ.get("HF_TOKEN")
    if not user or not token:
        pytest.skip("set TSMBENCH_TEST_HUB_USER and HF_TOKEN to run the real upload")
    monkeypatch.setattr("huggingface_hub.HfApi", HfApi)  # the real one, for this test only

    repo = f"{user}/tsmbench-test-{uuid.uuid4().hex[:8]}"
    from tsmbench.hub.push import push_to_hub

    try:
        doc = push_to_hub(CARD_ID, repo, private=True, token=token)
        files = set(HfApi(token=token).list_repo_files(repo))
        assert set(doc["files"]) <= files
    finally:
        HfApi(token=token).delete_repo(repo, missing_ok=True)
        shutil.rmtree(tiny_zoo, ignore_errors=True)
