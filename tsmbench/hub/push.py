"""Mirror converted weights into a user's own Hugging Face Hub repo, with a generated model card.

The original TSM links moved four times; a team that mirrors the converted safetensors (plus
the tsmbench card pointing at them) no longer depends on any publisher's server.
"""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import yaml

from tsmbench import __version__
from tsmbench.errors import UsageError
from tsmbench.hub.cache import cached_info, pull, weights_path
from tsmbench.hub.cards import ModelCard, load_card

WEIGHTS_NAME = "model.safetensors"


def _fmt_pct(x: float | None) -> str:
    return "–" if x is None else f"{x:.2f}"


def readme_text(card: ModelCard, repo_id: str, info: dict[str, Any]) -> str:
    """A Hub README (YAML front matter + Markdown) that says what the weights are and where they came from."""
    front = {
        "library_name": "tsmbench",
        "license": (card.license or "other").lower(),
        "tags": ["video-classification", "action-recognition", card.arch.split("_")[0], "tsmbench"],
        "pipeline_tag": "video-classification",
    }
    lines = [
        "---",
        yaml.safe_dump(front, sort_keys=False).strip(),
        "---",
        "",
        f"# {card.id}",
        "",
        f"`{card.arch}` weights for **{card.dataset}** ({card.num_classes} classes), converted to tsmbench's "
        "safetensors layout from the publisher's checkpoint. Mirrored with `tsmbench zoo push`.",
        "",
        "## Use",
        "",
        "```python",
        "import tsmbench",
        f'model = tsmbench.create_model("{card.arch}", weights="{WEIGHTS_NAME}", '
        f"num_classes={card.num_classes}, num_segments={card.num_segments})",
        "```",
        "",
        "or add this source first in the card (`zoo/" + card.id + ".yaml`):",
        "",
        "```yaml",
        f"  - hf: {{repo: {repo_id}, filename: {WEIGHTS_NAME}, revision: null}}",
        "```",
        "",
        "## Provenance",
        "",
        f"- original source: {info.get('source')}",
        f"- original sha256: `{info.get('source_sha256')}`"
        + (" (trust-on-first-use: nobody had published a checksum)" if info.get("trust_on_first_use") else ""),
        f"- converted file sha256: `{info.get('sha256')}`",
        f"- original layout: {info.get('source_format')}; converted by tsmbench {__version__}",
        "",
        "## Input",
        "",
        f"- {card.num_segments} frames, {card.input.size}px crops (shorter side resized to {card.input.resize}); "
        f"mean {list(card.input.mean)}, std {list(card.input.std)} on the 0–{255 if card.input.scale > 1 else 1} scale",
        f"- scores averaged over views as {card.score_average}",
        "",
        "## Published accuracy",
        "",
        "| top-1 | top-5 | protocol | clips × crops | frames | source |",
        "|---|---|---|---|---|---|",
    ]
    for p in card.published:
        lines.append(
            f"| {_fmt_pct(p.top1)} | {_fmt_pct(p.top5)} | {p.protocol or '–'} | {p.clips or '–'} × {p.crops or '–'} "
            f"| {p.num_segments or '–'} | {p.source} |"
        )
    if not card.published:
        lines.append("| – | – | – | – | – | none published |")
    if card.notes:
        lines += ["", "## Notes", "", card.notes]
    lines += ["", f"License: {card.license or 'unknown'} (as set by the original publisher).", ""]
    return "\n".join(lines)


def push_to_hub(
    model_id: str,
    repo_id: str,
    *,
    private: bool = False,
    token: str | None = None,
    commit_message: str | None = None,
    api: Any = None,
) -> dict[str, Any]:
    """Upload the cached converted weights, a README model card and the tsmbench card to `repo_id`."""
    if repo_id.count("/") != 1 or not all(repo_id.split("/")):
        raise UsageError(f"--repo must be USER/NAME, got {repo_id!r}")
    card = load_card(model_id)
    result = pull(card.id)  # from the cache when already pulled; verifies the sha256 either way
    info = cached_info(card.id) or {}
    if api is None:
        from huggingface_hub import HfApi

        api = HfApi(token=token, library_name="tsmbench", library_version=__version__)
    with tempfile.TemporaryDirectory(prefix="tsmbench-push-") as tmp:
        folder = Path(tmp)
        shutil.copyfile(weights_path(card.id), folder / WEIGHTS_NAME)
        (folder / "README.md").write_text(readme_text(card, repo_id, info), encoding="utf-8")
        mirrored = card.to_dict()
        mirrored["sources"] = [{"hf": {"repo": repo_id, "filename": WEIGHTS_NAME, "revision": None}}] + mirrored["sources"]
        mirrored["checkpoint_format"] = "tsmbench"
        mirrored["sha256"] = None  # the converted file's hash differs from the original's; see README
        (folder / f"{card.id}.yaml").write_text(yaml.safe_dump(mirrored, sort_keys=False), encoding="utf-8")
        url = api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
        commit = api.upload_folder(
            repo_id=repo_id,
            folder_path=str(folder),
            repo_type="model",
            commit_message=commit_message or f"Add {card.id} (converted by tsmbench {__version__})",
        )
    return {
        "id": card.id,
        "repo": repo_id,
        "repo_url": str(url),
        "commit_url": str(getattr(commit, "commit_url", commit)),
        "sha256": result.sha256,
        "files": [WEIGHTS_NAME, "README.md", f"{card.id}.yaml"],
    }
