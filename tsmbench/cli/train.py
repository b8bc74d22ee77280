"""`tsmbench train`: train or fine-tune a video model on a dataset card (parsing and printing only)."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from tsmbench.cli.common import JsonFlag, emit_json, err_console, out_console


def register(app: typer.Typer) -> None:
    app.command("train")(train)


def train(
    model: Annotated[str, typer.Option("--model", "-m", help="A create_model name (tsm_resnet_tiny, tsm_r50, ...).")] = "tsm_resnet_tiny",
    dataset: Annotated[str, typer.Option("--dataset", "-d", help="Dataset card name or YAML path.")] = "synthetic",
    root: Annotated[Optional[Path], typer.Option("--root", help="Dataset root; for `synthetic` it is generated into the cache when omitted.")] = None,
    train_list: Annotated[Optional[Path], typer.Option("--train-list", help="Training annotation file (default: the card's).")] = None,
    val_list: Annotated[Optional[Path], typer.Option("--val-list", help="Validation annotation file (default: the card's).")] = None,
    no_val: Annotated[bool, typer.Option("--no-val", help="Skip the per-epoch validation.")] = False,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Run folder for checkpoints and weights (default: $TSMBENCH_HOME/train/<model>-<dataset>).")] = None,
    epochs: Annotated[int, typer.Option(help="Training epochs.")] = 10,
    batch_size: Annotated[int, typer.Option("--batch-size", "-b")] = 16,
    lr: Annotated[float, typer.Option(help="Peak learning rate (cosine decay to zero).")] = 0.02,
    momentum: Annotated[float, typer.Option()] = 0.9,
    weight_decay: Annotated[float, typer.Option("--weight-decay", "--wd")] = 5e-4,
    warmup_epochs: Annotated[float, typer.Option("--warmup-epochs", help="Linear warm-up length in epochs.")] = 1.0,
    dropout: Annotated[float, typer.Option(help="Dropout before the classifier.")] = 0.5,
    segments: Annotated[int, typer.Option("--segments", "-t", help="Frames per clip (num_segments).")] = 8,
    partial_bn: Annotated[bool, typer.Option("--partial-bn/--no-partial-bn", help="Freeze every BatchNorm but the first (TSN fine-tuning).")] = False,
    clip_grad: Annotated[float, typer.Option("--clip-grad", help="Gradient-norm clip; 0 turns it off.")] = 20.0,
    flip: Annotated[bool, typer.Option("--flip/--no-flip", help="Random horizontal flips (wrong for direction classes).")] = False,
    random_crop: Annotated[bool, typer.Option("--random-crop/--center-crop")] = True,
    size: Annotated[Optional[int], typer.Option(help="Crop size (default: the card's input size, else 224).")] = None,
    resize: Annotated[Optional[int], typer.Option(help="Shorter side before cropping.")] = None,
    init: Annotated[Optional[Path], typer.Option("--init", help="Weights to fine-tune from (a classifier of another size is replaced).")] = None,
    seed: Annotated[int, typer.Option(help="Seeds the model, the sampling and the order.")] = 0,
    workers: Annotated[int, typer.Option(help="DataLoader worker processes.")] = 0,
    threads: Annotated[Optional[int], typer.Option(help="torch CPU threads (default: torch's).")] = None,
    cache_frames: Annotated[bool, typer.Option("--cache-frames", help="Keep decoded frames in memory (small datasets).")] = False,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run in --out from its last checkpoint.")] = False,
    export: Annotated[Optional[Path], typer.Option("--export", help="Also copy the final safetensors here.")] = None,
    json_output: JsonFlag = False,
) -> None:
    """Train (or fine-tune) a model: SGD with momentum, cosine schedule, checkpoints every epoch."""
    from tsmbench.training.run import run_training

    result = run_training(
        model=model, dataset=dataset, root=root, train_list=train_list, val_list=None if no_val else val_list,
        validate=not no_val, out=out, epochs=epochs, batch_size=batch_size, lr=lr, momentum=momentum,
        weight_decay=weight_decay, warmup_epochs=warmup_epochs, dropout=dropout, segments=segments,
        partial_bn=partial_bn, clip_grad=clip_grad, flip=flip, random_crop=random_crop, size=size, resize=resize,
        init=init, seed=seed, workers=workers, threads=threads, cache_frames=cache_frames, resume=resume,
        export=export, console=err_console,
    )
    if json_output:
        emit_json(result)
        return
    out_console.print(
        f"trained {result['model']} on {result['dataset']}: val top-1 "
        f"{result['val_top1'] if result['val_top1'] is not None else 'n/a'}"
    )
    out_console.print(f"weights: {result['weights']} (sha256 {result['sha256']})")
    for extra in result.get("exported", []):
        out_console.print(f"exported: {extra}")
