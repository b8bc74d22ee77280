"""`tsmbench eval`: accuracy of a model on a dataset with the paper's test protocols."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from tsmbench.cli.common import JsonFlag, emit_json, err_console, out_console, to_json
from tsmbench.errors import DatasetError, UsageError

PROTOCOL_HELP = "uniform (1 view), twice (2), dense (10 views of 64 frames), 3d (I3D clips)"


def _published(card: Any) -> list[dict[str, Any]]:
    pubs = getattr(card, "published", None) or ()
    out = []
    for p in pubs:
        d = dict(p) if isinstance(p, dict) else {k: v for k, v in vars(p).items() if not k.startswith("_")}
        out.append(d)
    return out


def _init_distributed() -> tuple[int, int, Any]:
    """Join the torchrun process group when launched by torchrun (WORLD_SIZE > 1)."""
    import torch

    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1, None
    dist = torch.distributed
    if not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend=backend)
    if torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    return dist.get_rank(), dist.get_world_size(), dist


def _load_samples(card: Any, root: Path | None, list_file: Path | None, fmt: str, limit: int | None) -> list[Any]:
    from tsmbench.data.annotations import read_annotations

    if list_file is None:
        if card.default_list is None or root is None:
            raise UsageError(f"pass --list FILE (dataset {card.name} has no default list under --root)")
        list_file = root / card.default_list
    if not list_file.exists():
        raise DatasetError(f"annotation file not found: {list_file}")
    labels = Path(root) / card.labels_file if (root is not None and card.labels_file) else None
    if labels is not None and not labels.exists():
        labels = None  # read_annotations then looks for labels.json beside the list
    samples = read_annotations(
        list_file, format=fmt if fmt != "auto" else card.annotation, classes=card.classes, labels_file=labels,
        video_ext=card.video_ext,
    )
    bad = [s for s in samples if not 0 <= s.label < card.num_classes]
    if bad:
        raise DatasetError(f"{list_file}: video {bad[0].video_id} has label {bad[0].label}, outside 0..{card.num_classes - 1}")
    return samples[:limit] if limit is not None else samples


def _print_human(rec: dict[str, Any], result: Any, *, per_class: bool) -> None:
    from rich.table import Table

    def pct(v: Any) -> str:
        return "-" if v is None or v != v else f"{v:.2f}"

    t = Table(title=f"{rec['model']} on {rec['dataset']} ({rec['protocol']}, {rec['views']} views x {rec['crops']} crops, "
              f"{rec['score_average']} averaged)")
    for col in ("", "top-1 %", "top-5 %", "mean class %", "videos"):
        t.add_column(col, justify="right" if col else "left")
    t.add_row("measured", pct(rec["top1"]), pct(rec["top5"]), pct(rec["mean_class_acc"]), str(rec["num_videos"]))
    for p in rec.get("published", []):
        what = ", ".join(f"{k}={p[k]}" for k in ("protocol", "clips", "crops", "num_segments") if p.get(k) is not None)
        t.add_row(f"published ({what}; {p.get('source', '?')})", pct(p.get("top1")), pct(p.get("top5")), "", "")
    out_console.print(t)
    out_console.print(
        f"throughput {rec['throughput_clips_per_s']:.1f} clips/s, data wait {100 * rec['data_wait_share']:.0f}% of wall time, "
        f"skipped {len(rec['skipped'])}"
    )
    for s in rec["skipped"][:20]:
        out_console.print(f"  skipped {s['video_id']}: {s['reason']}", markup=False)
    if len(rec["skipped"]) > 20:
        out_console.print(f"  ... and {len(rec['skipped']) - 20} more (see --json)")
    if per_class and result.per_class:
        pt = Table(title="per class")
        for col in ("class", "name", "videos", "top-1 %"):
            pt.add_column(col)
        for c in result.per_class:
            pt.add_row(str(c.index), c.name, str(c.count), f"{c.top1:.1f}")
        out_console.print(pt)


def eval_command(
    model: Annotated[Optional[str], typer.Option("--model", "-m", help="Zoo id (tsm_r50.k400_8f_mit) or architecture name.")] = None,
    weights: Annotated[Optional[Path], typer.Option(help="Local checkpoint (any supported layout).")] = None,
    dataset: Annotated[Optional[str], typer.Option("--dataset", "-d", help="Dataset card name (datasets/<name>.yaml) or path.")] = None,
    root: Annotated[Optional[Path], typer.Option(help="Folder holding the videos or frame folders.")] = None,
    list_file: Annotated[Optional[Path], typer.Option("--list", help="Annotation file (MIT list, MMAction2 list, Something-V2 JSON, Kinetics CSV).")] = None,
    fmt: Annotated[str, typer.Option("--format", help="auto | mit_list | video_list | sthv2_json | kinetics_csv")] = "auto",
    protocol: Annotated[Optional[str], typer.Option(help=PROTOCOL_HELP + "; default uniform, 3d for I3D.")] = None,
    crops: Annotated[int, typer.Option(help="1 centre crop, 3 full-resolution crops, 10 crops.")] = 1,
    score_average: Annotated[Optional[str], typer.Option(help="logits (MIT) or softmax (MMAction2); default from the model card.")] = None,
    batch_size: Annotated[Optional[int], typer.Option(help="Videos per forward pass (default: about 8 clips per pass).")] = None,
    workers: Annotated[Optional[int], typer.Option(help="DataLoader worker processes (default: one per core, at most 8).")] = None,
    limit: Annotated[Optional[int], typer.Option(help="Evaluate only the first N videos of the list.")] = None,
    resume: Annotated[Optional[str], typer.Option(help="Run id to resume: videos already predicted are skipped.")] = None,
    strict: Annotated[bool, typer.Option("--strict", help="A missing or corrupt video is fatal (exit 2) instead of skipped.")] = False,
    num_segments: Annotated[Optional[int], typer.Option(help="Frames per view (default: the model's).")] = None,
    size: Annotated[Optional[int], typer.Option(help="Crop size (default: model card, else 224).")] = None,
    resize: Annotated[Optional[int], typer.Option(help="Shorter side before cropping (default: model card, else 256).")] = None,
    frame_interval: Annotated[int, typer.Option(help="3d protocol: frames between sampled frames.")] = 8,
    clips: Annotated[int, typer.Option(help="3d protocol: clips per video.")] = 10,
    save_scores: Annotated[bool, typer.Option("--save-scores", help="Store every video's full score vector, not only its top 5.")] = False,
    per_class: Annotated[Optional[bool], typer.Option("--per-class/--no-per-class", help="Print the per-class table (default: when <= 30 classes).")] = None,
    json_output: JsonFlag = False,
) -> None:
    """Top-1/top-5/mean-class accuracy with the paper's protocols; resumable, skips bad videos, runs under torchrun.

    With no --model and no --dataset, runs the bundled synthetic benchmark.
    """
    if model is None and dataset is None:
        try:
            from tsmbench.measure.bundled import run_bundled
        except ImportError:
            raise UsageError("--model and --dataset are required (the bundled benchmark is not installed)") from None
        given = {"batch_size": batch_size, "workers": workers, "limit": limit, "resume": resume}
        doc = run_bundled(json_output=json_output, **{k: v for k, v in given.items() if v is not None})
        from tsmbench.results.store import try_record_run

        try_record_run(doc)
        return
    if model is None or dataset is None:
        raise UsageError("give both --model and --dataset (or neither, for the bundled benchmark)")

    from tsmbench.data.cards import load_dataset_card
    from tsmbench.data.loader import default_workers
    from tsmbench.data.sampling import num_views
    from tsmbench.data.transforms import InputConfig

    card = load_dataset_card(dataset)
    samples = _load_samples(card, root, list_file, fmt, limit)

    import torch

    import tsmbench
    from tsmbench.measure.evaluate import eval_record, evaluate
    from tsmbench.measure.predictions import PredictionStore, new_run_id, run_dir

    rank, world, dist = _init_distributed()
    kwargs: dict[str, Any] = {}
    if num_segments is not None:
        kwargs["num_segments"] = num_segments
    if "." in model:
        net = tsmbench.create_model(model, weights=weights, pretrained=weights is None, **kwargs)
    else:
        if weights is None and rank == 0:
            err_console.print(f"[yellow]warning:[/] {model} has no weights: accuracy will be at chance (pass --weights or a zoo id)")
        net = tsmbench.create_model(model, weights=weights, num_classes=None if weights else card.num_classes, **kwargs)
    k = getattr(net, "num_classes", None)
    if k is not None and k != card.num_classes:
        raise UsageError(f"{model} predicts {k} classes but {card.name} has {card.num_classes}: use weights trained on {card.name}")
    if torch.cuda.is_available():
        net = net.cuda()
    mcard = getattr(net, "card", None)

    base = InputConfig.of(getattr(mcard, "input", None) or card.extra.get("input"))
    cfg = InputConfig(size=size or base.size, resize=resize or (base.resize if not size else max(size, round(size * 256 / 224))),
                      mean=base.mean, std=base.std, scale=base.scale)
    arch = str(getattr(net, "arch", model))
    protocol = protocol or ("3d" if arch.startswith("i3d") else "uniform")
    score_average = score_average or getattr(mcard, "score_average", None) or "logits"

    run_id = resume or (new_run_id() if rank == 0 else None)
    if dist is not None:
        box = [run_id]
        dist.broadcast_object_list(box, src=0)
        run_id = box[0]
    meta = {
        "model": model, "weights": str(weights or ""), "dataset": card.name, "protocol": protocol, "crops": str(crops),
        "score_average": score_average, "num_segments": str(num_segments or getattr(net, "num_segments", "")),
        "input": to_json(cfg.__dict__),
    }
    # Rank 0 creates (or checks) the store first, so ranks never race to create it, and a refused
    # resume stops every rank instead of leaving the others waiting at a barrier.
    store = None
    problem: str | None = None
    if rank == 0:
        try:
            store = PredictionStore.for_run(run_id, must_exist=resume is not None)
            store.check_or_set_meta(meta)
        except UsageError as exc:
            problem = str(exc)
    if dist is not None:
        box = [problem]
        dist.broadcast_object_list(box, src=0)
        problem = box[0]
    if problem is not None:
        if store is not None:
            store.close()
        if dist is not None:
            dist.destroy_process_group()
        raise UsageError(problem)
    if store is None:
        store = PredictionStore.for_run(run_id)
    if rank == 0:
        err_console.print(f"run {run_id}: {len(samples)} videos, predictions in {store.path} (resume with --resume {run_id})")

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    progress = Progress(
        TextColumn("eval"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
        console=err_console, disable=rank != 0, transient=False,
    )
    try:
        with progress:
            task = progress.add_task("eval", total=None)

            def on_progress(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            result = evaluate(
                net, samples, protocol=protocol, crops=crops, input_cfg=cfg, score_average=score_average,
                batch_size=batch_size or max(1, 8 // (num_views(protocol, num_clips=clips) * crops)), workers=default_workers() if workers is None else workers, store=store,
                root=root, frame_template=card.frame_template, num_segments=num_segments, frame_interval=frame_interval,
                num_clips=clips, strict=strict, save_scores=save_scores, classes=card.classes, on_progress=on_progress,
            )
    finally:
        store.close()
        if dist is not None:
            dist.destroy_process_group()
    if rank != 0:
        return
    rec = eval_record(result, model=model, dataset=card.name, published=_published(mcard) or None, run_id=run_id)
    from tsmbench.results.schema import make_document

    doc = make_document([rec])
    (run_dir(run_id) / "result.json").write_text(to_json(doc) + "\n", encoding="utf-8")
    if json_output:
        emit_json(doc)
    else:
        _print_human(rec, result, per_class=per_class if per_class is not None else card.num_classes <= 30)
    from tsmbench.results.store import try_record_run

    try_record_run(doc)


def register(app: typer.Typer) -> None:
    app.command("eval")(eval_command)
