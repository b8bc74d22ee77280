"""`tsmbench flops`: FLOPs and parameters per clip, per frame and per stage."""
from __future__ import annotations

from typing import Annotated, Optional

import typer

from tsmbench.cli.common import JsonFlag, emit_json, out_console


def _g(x: float | None, unit: float = 1e9, digits: int = 2) -> str:
    return "-" if x is None else f"{x / unit:.{digits}f}"


def flops(
    model: Annotated[str, typer.Argument(help="Architecture (tsm_r50, ...) or zoo id (tsm_r50.k400_8f_mit).")],
    segments: Annotated[Optional[int], typer.Option("--segments", "-t", help="Frames per clip (default: the model's, else 8).")] = None,
    num_classes: Annotated[Optional[int], typer.Option("--num-classes", "-k", help="Classes (default: the card's, else 400).")] = None,
    size: Annotated[Optional[int], typer.Option("--size", "-s", help="Input side in pixels (default 224; 256 for i3d_r50).")] = None,
    json_output: JsonFlag = False,
) -> None:
    """Count FLOPs (fvcore: one multiply-add = one FLOP) and parameters, beside the published figures."""
    import tsmbench
    from tsmbench.measure.flops import count_flops
    from tsmbench.models import get_spec
    from tsmbench.results.schema import make_document

    kwargs = {} if num_classes is None else {"num_classes": num_classes}
    if segments is not None:
        kwargs["num_segments"] = segments
    if segments is not None and segments < 1:
        from tsmbench.errors import UsageError

        raise UsageError(f"--segments must be >= 1, got {segments}")
    net = tsmbench.create_model(model, **kwargs)
    arch = str(getattr(net, "arch", model))
    size = size or get_spec(arch).default_size
    result = count_flops(net, num_segments=getattr(net, "num_segments", segments or 8), input_size=size, arch=arch)
    from tsmbench.results.store import try_record_run

    record = result.to_record()
    record["model"] = model
    doc = make_document([record])
    if json_output:
        emit_json(doc)
    else:
        _print(record)
    try_record_run(doc)


def _print(r: dict) -> None:
    from rich.table import Table

    unit = "frame" if r["model"].endswith("_online") else "clip"
    out_console.print(
        f"[bold]{r['model']}[/]: {r['num_segments']} frame(s) x {r['input_size']}², {r['num_classes']} classes, batch 1"
    )
    t = Table(show_edge=False)
    for col in ("", "ours", "published", "diff", "source"):
        t.add_column(col)
    pub = r["published"] or {}
    t.add_row(f"GFLOPs per {unit}", _g(r["flops"]), _g(pub.get("flops")), _pct(pub.get("flops_diff_pct")), pub.get("source", "-"))
    t.add_row("GFLOPs without head", _g(r["flops_without_head"]), "", "", "")
    t.add_row("GFLOPs per frame", _g(r["flops_per_frame"], digits=3), "", "", "")
    t.add_row("params (M)", _g(r["params"], 1e6), _g(pub.get("params"), 1e6), _pct(pub.get("params_diff_pct")), pub.get("note", ""))
    out_console.print(t)
    s = Table(title="per stage", show_edge=False)
    s.add_column("module")
    s.add_column("GFLOPs", justify="right")
    s.add_column("share", justify="right")
    for st in r["stages"]:
        s.add_row(st["name"], _g(st["flops"], digits=3), f"{100 * st['share']:.1f}%")
    out_console.print(s)
    out_console.print(f"[dim]convention: {r['convention']}; diffs of head-excluded published figures use flops_without_head[/]")


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:+.2f}%"


def register(app: typer.Typer) -> None:
    app.command("flops")(flops)
