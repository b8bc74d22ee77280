"""`tsmbench zoo`: list, show, pull, convert and push pretrained checkpoints (model cards in zoo/)."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from tsmbench import __version__
from tsmbench.cli.common import JsonFlag, emit_json, err_console, out_console

zoo_app = typer.Typer(
    name="zoo",
    help="Pretrained checkpoints: model cards, verified downloads, conversion to safetensors, Hub mirrors.",
    no_args_is_help=True,
)


def _doc(key: str, value: Any) -> dict[str, Any]:
    return {"schema_version": 1, "tsmbench_version": __version__, key: value}


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{x:.1f}"


def _giga(x: float | None) -> str:
    return "–" if x is None else f"{x / 1e9:.2f}G"


def _mega(x: float | None) -> str:
    return "–" if x is None else f"{x / 1e6:.2f}M"


def _best(card: Any) -> Any:
    pubs = [p for p in card.published if p.top1 is not None]
    return max(pubs, key=lambda p: p.top1) if pubs else None


def eval_commands(card: Any) -> list[str]:
    """The `tsmbench eval` command lines that reproduce each published figure of a card."""
    cmds = []
    for p in card.published:
        parts = [
            "tsmbench eval",
            f"--model {card.id}",
            f"--dataset {card.dataset}",
            f"--root PATH/TO/{card.dataset.upper()}",
            f"--protocol {p.protocol or 'uniform'}",
            f"--crops {p.crops or 1}",
        ]
        if p.num_segments and p.num_segments != card.num_segments:
            parts.append(f"--num-segments {p.num_segments}")
        if p.protocol == "3d" and p.clips:
            parts.append(f"--clips {p.clips}")
        parts.append(f"--score-average {card.score_average}")
        cmds.append(" ".join(parts))
    return cmds


@zoo_app.command("list")
def list_command(
    arch: Annotated[Optional[str], typer.Option("--arch", help="Only cards of this architecture (tsm_r50, i3d_r50, ...).")] = None,
    dataset: Annotated[Optional[str], typer.Option("--dataset", help="Only cards trained on this dataset (kinetics400, sthv2, ...).")] = None,
    json_output: JsonFlag = False,
) -> None:
    """Every model card with its best published accuracy and whether its weights are cached."""
    from tsmbench.hub import list_cards
    from tsmbench.hub.cache import is_cached

    cards = list_cards(arch=arch, dataset=dataset)
    rows = []
    for c in cards:
        best = _best(c)
        rows.append(
            {
                "id": c.id,
                "arch": c.arch,
                "dataset": c.dataset,
                "num_classes": c.num_classes,
                "num_segments": c.num_segments,
                "top1": best.top1 if best else None,
                "top5": best.top5 if best else None,
                "protocol": best.protocol if best else None,
                "flops": c.flops,
                "params": c.params,
                "cached": is_cached(c.id),
                "supported": c.supported,
                "sources": [s.describe() for s in c.sources],
                "sha256": c.sha256,
            }
        )
    if json_output:
        emit_json(_doc("models", rows))
        return
    from rich.table import Table

    table = Table(title=f"tsmbench zoo ({len(rows)} cards)", caption="* listed for reference only (cannot be loaded)")
    table.add_column("id", no_wrap=True, min_width=34)
    for col in ("dataset", "T", "top-1", "top-5", "protocol", "FLOPs", "params", "cached"):
        table.add_column(col, justify="right" if col in ("T", "top-1", "top-5", "FLOPs", "params") else "left")
    for r in rows:
        table.add_row(
            r["id"] + ("" if r["supported"] else " *"),
            r["dataset"],
            str(r["num_segments"]),
            _pct(r["top1"]),
            _pct(r["top5"]),
            r["protocol"] or "–",
            _giga(r["flops"]),
            _mega(r["params"]),
            "yes" if r["cached"] else "no",
        )
    # Piped output has no terminal width to honour: give the table the room it needs.
    if out_console.is_terminal:
        out_console.print(table)
    else:
        from rich.console import Console

        Console(width=132, highlight=False).print(table)
    if not rows:
        out_console.print("no cards match; drop --arch/--dataset to see all")


@zoo_app.command("show")
def show_command(
    model_id: Annotated[str, typer.Argument(metavar="ID", help="Zoo id, e.g. tsm_r50.k400_8f_mit.")],
    json_output: JsonFlag = False,
) -> None:
    """A card in full: options, sources, checksum state, cache state, and how to reproduce its accuracy."""
    from tsmbench.hub import load_card
    from tsmbench.hub import lock
    from tsmbench.hub.cache import cache_state

    card = load_card(model_id)
    pin = lock.pinned(card.id)
    if card.sha256:
        checksum = {"sha256": card.sha256, "from": "card"}
    elif pin is not None:
        checksum = {"sha256": pin.sha256, "from": f"zoo.lock ({pin.method})", "revision": pin.revision}
    else:
        checksum = {"sha256": None, "from": "unknown: recorded on first download (trust-on-first-use)"}
    doc = card.to_dict()
    doc["checksum"] = checksum
    doc["cache"] = cache_state(card)
    doc["reproduce"] = eval_commands(card)
    if json_output:
        emit_json(_doc("model", doc))
        return
    o = out_console
    o.print(f"[bold]{card.id}[/]" + ("" if card.supported else "  [yellow](listed for reference only)[/]"))
    opts = ", ".join(f"{k}={v}" for k, v in card.options.items())
    o.print(f"  architecture  {card.arch} ({opts}), {card.num_classes} classes")
    o.print(f"  dataset       {card.dataset} (classes: {card.classes if isinstance(card.classes, str) else 'inline list'})")
    inp = card.input
    o.print(
        f"  input         {inp.size}px crop after resizing the shorter side to {inp.resize}; mean {list(inp.mean)}, "
        f"std {list(inp.std)} (0–{255 if inp.scale > 1 else 1} scale)"
    )
    o.print(f"  views         scores averaged as {card.score_average}")
    o.print(f"  checkpoint    {card.checkpoint_format} layout; license {card.license or 'unknown'}")
    o.print(f"  FLOPs/params  {_giga(card.flops)} / {_mega(card.params)}  ({card.flops_convention or 'convention not stated'})")
    o.print("  sources (tried in order):")
    for s in card.sources:
        note = ""
        if s.kind == "hf" and s.revision is None:
            note = "  [dim](revision not pinned: unknown)[/]"
        o.print(f"    - {s.describe()}{note}", soft_wrap=True)
    sha = checksum["sha256"]
    o.print(f"  sha256        {sha or 'unknown'}  [dim]({checksum['from']})[/]", soft_wrap=True)
    state = doc["cache"]
    o.print(f"  cached        {'yes: ' + str(state['path']) if state['cached'] else 'no (tsmbench zoo pull ' + card.id + ')'}")
    if card.published:
        o.print("  published accuracy:")
        for p in card.published:
            o.print(
                f"    - top-1 {_pct(p.top1)} top-5 {_pct(p.top5)}  {p.protocol}, {p.clips or '?'} clip(s) x "
                f"{p.crops or '?'} crop(s), {p.num_segments} frames  [dim]({p.as_published or ''}; {p.source})[/]",
                soft_wrap=True,
            )
        o.print("  reproduce with:")
        for cmd in doc["reproduce"]:
            o.print(f"    {cmd}", soft_wrap=True, markup=False)
    else:
        o.print("  published accuracy: none published for this checkpoint")
    if card.notes:
        o.print(f"  notes         {card.notes}", soft_wrap=True, markup=False)


@zoo_app.command("pull")
def pull_command(
    model_id: Annotated[str, typer.Argument(metavar="ID", help="Zoo id to fetch.")],
    revision: Annotated[Optional[str], typer.Option(help="Hub revision (commit, branch or tag) instead of the card's.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Fetch and convert again even when cached.")] = False,
    json_output: JsonFlag = False,
) -> None:
    """Fetch a card's weights (Hub, else URL with resume), verify sha256, convert them into the cache."""
    from tsmbench.hub import pull

    result = pull(model_id, revision=revision, force=force, notify=lambda m: err_console.print(m, markup=False, soft_wrap=True))
    if json_output:
        emit_json(_doc("pull", result.to_dict()))
        return
    verb = "already cached" if result.from_cache else "pulled"
    out_console.print(f"{result.card_id}: {verb} -> {result.path}", soft_wrap=True, markup=False)
    out_console.print(f"  sha256 {result.sha256} (source {result.source}, sha256 {result.source_sha256})", soft_wrap=True, markup=False)


@zoo_app.command("convert")
def convert_command(
    path: Annotated[Path, typer.Argument(help="Checkpoint in any supported layout (.pth, .pth.tar, .pyth, .safetensors).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the tsmbench safetensors file.")],
    fmt: Annotated[str, typer.Option("--format", help="auto | mit_tsm | mit_online | mmaction2 | pytorchvideo | tsmbench")] = "auto",
    arch: Annotated[Optional[str], typer.Option(help="Architecture to check the weights against and record (tsm_r50, ...).")] = None,
    card_id: Annotated[Optional[str], typer.Option("--card", help="Zoo id whose card supplies arch, options and classes.")] = None,
    num_segments: Annotated[Optional[int], typer.Option(help="Frames per clip to build the model with when checking.")] = None,
    json_output: JsonFlag = False,
) -> None:
    """Convert a checkpoint to tsmbench's safetensors layout with provenance metadata."""
    from tsmbench.hub import load_card
    from tsmbench.hub.convert import convert_checkpoint

    card = load_card(card_id) if card_id else None
    conv = convert_checkpoint(path, output, format=fmt, arch=arch, card=card, num_segments=num_segments)
    doc = {
        "input": str(path),
        "output": str(conv.output),
        "format": conv.format,
        "arch": conv.arch,
        "num_classes": conv.num_classes,
        "source_sha256": conv.source_sha256,
        "sha256": conv.sha256,
        "tensors": conv.num_tensors,
    }
    if json_output:
        emit_json(_doc("conversion", doc))
        return
    checked = f", checked against {conv.arch}" if conv.arch else " (pass --arch to check it loads)"
    out_console.print(f"{path} ({conv.format} layout, {conv.num_tensors} tensors{checked}) -> {conv.output}", soft_wrap=True, markup=False)
    out_console.print(f"  sha256 {conv.sha256}", markup=False)


@zoo_app.command("push")
def push_command(
    model_id: Annotated[str, typer.Argument(metavar="ID", help="Zoo id whose converted weights to upload.")],
    repo: Annotated[str, typer.Option("--repo", help="Your Hub repo, USER/NAME (created if missing).")],
    private: Annotated[bool, typer.Option("--private", help="Create the repo as private.")] = False,
    json_output: JsonFlag = False,
) -> None:
    """Mirror converted weights and a generated model card into your own Hugging Face Hub repo."""
    from tsmbench.hub.push import push_to_hub

    doc = push_to_hub(model_id, repo, private=private)
    if json_output:
        emit_json(_doc("push", doc))
        return
    out_console.print(f"{doc['id']} -> {doc['repo_url']} ({', '.join(doc['files'])})", soft_wrap=True, markup=False)
    out_console.print(f"  add `- hf: {{repo: {repo}, filename: model.safetensors, revision: null}}` first in the card's sources", markup=False)


def register(app: typer.Typer) -> None:
    app.add_typer(zoo_app, name="zoo")
