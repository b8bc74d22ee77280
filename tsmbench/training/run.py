"""What `tsmbench train` does: resolve the dataset card and lists, show progress, train, export."""
from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path
from typing import Any

from tsmbench.errors import DatasetError, UsageError


def _lists(card: Any, root: Path) -> tuple[Path | None, Path | None]:
    """The card's training and validation lists under `root` (`lists: {train, val}`, or guesses)."""
    lists = card.extra.get("lists") if isinstance(card.extra.get("lists"), dict) else {}
    train = lists.get("train")
    val = lists.get("val") or card.default_list
    if train is None:
        for cand in ("train_list_videos.txt", "train_list.txt", "train.txt", "train_videofolder.txt"):
            if (root / cand).is_file():
                train = cand
                break
    return (root / train if train else None), (root / val if val else None)


def synthetic_root(card: Any) -> Path:
    """Generate (or reuse) both splits of the synthetic set in the cache; the card's settings."""
    from tsmbench.data.synthetic import ensure_synthetic, config_from_card

    root, _ = ensure_synthetic(config_from_card(card.extra.get("generator")), splits=("train", "val"))
    return root


def run_training(
    *,
    model: str,
    dataset: str,
    root: Path | None,
    train_list: Path | None,
    val_list: Path | None,
    validate: bool = True,
    out: Path | None,
    epochs: int,
    batch_size: int,
    lr: float,
    momentum: float = 0.9,
    weight_decay: float = 5e-4,
    warmup_epochs: float = 1.0,
    dropout: float = 0.5,
    segments: int = 8,
    partial_bn: bool = False,
    clip_grad: float = 20.0,
    flip: bool = False,
    random_crop: bool = True,
    size: int | None = None,
    resize: int | None = None,
    init: Path | None = None,
    seed: int = 0,
    workers: int = 0,
    threads: int | None = None,
    cache_frames: bool = False,
    resume: bool = False,
    export: Path | None = None,
    console: Any = None,
) -> dict[str, Any]:
    """Train and return a JSON-ready summary (weights path, sha256, per-epoch metrics)."""
    import torch
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from tsmbench.data.annotations import read_annotations
    from tsmbench.data.cards import load_dataset_card
    from tsmbench.data.transforms import InputConfig
    from tsmbench.models.checkpoints import sha256_file
    from tsmbench.paths import home
    from tsmbench.training.data import dataset_input
    from tsmbench.training.loop import EpochMetrics, TrainConfig, train

    if threads is not None:
        torch.set_num_threads(max(1, threads))
    card = load_dataset_card(dataset)
    if root is None:
        if card.name != "synthetic":
            raise UsageError(f"pass --root: where the {card.name} videos are on disk")
        if console is not None:
            console.print("preparing the synthetic dataset (generated once, then reused from the cache)")
        root = synthetic_root(card)
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"dataset root {root} is not a folder")
    default_train, default_val = _lists(card, root)
    train_path = train_list or default_train
    if train_path is None:
        raise UsageError(f"dataset card {card.name} names no training list: pass --train-list")
    val_path = (val_list or default_val) if validate else None
    read = dict(format=card.annotation, classes=card.classes, video_ext=card.video_ext)
    train_samples = read_annotations(train_path, **read)
    val_samples = read_annotations(val_path, **read) if val_path is not None and Path(val_path).is_file() else None

    base = dataset_input(card.extra) or InputConfig()
    input_cfg = InputConfig(
        size=size or base.size, resize=resize or max(size or 0, base.resize), mean=base.mean, std=base.std, scale=base.scale
    )
    config = TrainConfig(
        model=model, num_segments=segments, epochs=epochs, batch_size=batch_size, lr=lr, momentum=momentum,
        weight_decay=weight_decay, warmup_epochs=warmup_epochs, dropout=dropout, partial_bn=partial_bn,
        clip_grad=clip_grad, seed=seed, workers=workers, random_crop=random_crop, flip=flip, cache_frames=cache_frames,
    )
    out_dir = Path(out) if out is not None else home() / "train" / f"{model}-{card.name}"
    if not resume and (out_dir / "last.pt").exists():
        raise UsageError(f"{out_dir} already holds a run: pass --resume to continue it or choose another --out")
    if not resume and (out_dir / "metrics.jsonl").exists():
        (out_dir / "metrics.jsonl").unlink()

    progress = Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
        TextColumn("loss {task.fields[loss]:.3f}"), TimeElapsedColumn(), TimeRemainingColumn(),
        console=console, transient=False, disable=console is None,
    )
    task = progress.add_task(f"train {model}", total=None, loss=float("nan"))

    def on_step(step: int, total: int, loss: float) -> None:
        progress.update(task, completed=step, total=total, loss=loss)

    def on_epoch(m: EpochMetrics) -> None:
        if console is not None:
            val = f"{m.val_top1:.1f}%" if m.val_top1 is not None else "n/a"
            progress.console.print(
                f"epoch {m.epoch}/{epochs}: loss {m.train_loss:.3f}, train top-1 {m.train_top1:.1f}%, "
                f"val top-1 {val}, lr {m.lr:.4g}, {m.seconds:.1f}s"
            )

    metadata = {
        "dataset": card.name,
        "classes": "\n".join(card.classes) if card.classes else "",
        "input": f"size={input_cfg.size} resize={input_cfg.resize} mean={list(input_cfg.mean)} "
                 f"std={list(input_cfg.std)} scale={input_cfg.scale}",
    }
    with progress:
        result = train(
            config, train_samples=train_samples, val_samples=val_samples, root=root,
            num_classes=card.num_classes, input_cfg=input_cfg, out_dir=out_dir, resume=resume, init=init,
            frame_template=card.frame_template, metadata=metadata, on_step=on_step, on_epoch=on_epoch,
        )
    exported = []
    if export is not None:
        export = Path(export)
        export.parent.mkdir(parents=True, exist_ok=True)
        tmp = export.with_name(f".{export.name}.tmp")
        shutil.copyfile(result.weights, tmp)
        tmp.replace(export)
        exported.append(str(export))
    return {
        "model": model,
        "dataset": card.name,
        "root": str(root),
        "out_dir": str(result.out_dir),
        "weights": str(result.weights),
        "sha256": sha256_file(result.weights),
        "exported": exported,
        "val_top1": result.final_val_top1,
        "config": config.as_dict(),
        "epochs": [dataclasses.asdict(m) for m in result.epochs],
    }
