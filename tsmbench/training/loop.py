"""Training and fine-tuning: SGD with momentum, cosine schedule, partial BN, checkpoints, resume.

A run lives in one output folder: `last.pt` (model, optimiser, schedule position and RNG state,
written atomically after every epoch), `metrics.jsonl` (one line per epoch) and, at the end,
`<arch>.safetensors` with metadata. `resume=True` continues from `last.pt` and reaches exactly
the weights an uninterrupted run would (same seed, same draws, same order).
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn

from tsmbench.data.annotations import VideoSample
from tsmbench.data.transforms import InputConfig
from tsmbench.errors import CheckpointError, UsageError
from tsmbench.training.data import Augment, TrainClips, collate

CHECKPOINT_NAME = "last.pt"
METRICS_NAME = "metrics.jsonl"


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides the weights a run produces (recorded in the checkpoint and metadata)."""

    model: str = "tsm_resnet_tiny"
    num_segments: int = 8
    epochs: int = 10
    batch_size: int = 16
    lr: float = 0.02
    momentum: float = 0.9
    weight_decay: float = 5e-4
    warmup_epochs: float = 1.0
    dropout: float = 0.5
    partial_bn: bool = False
    clip_grad: float = 20.0
    seed: int = 0
    workers: int = 0
    random_crop: bool = True
    flip: bool = False
    cache_frames: bool = False
    options: tuple[tuple[str, Any], ...] = ()  # extra create_model options (shift_div, ...)

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.num_segments < 1:
            raise UsageError("epochs, batch size and segments must be at least 1")
        if self.lr <= 0:
            raise UsageError(f"learning rate must be positive, got {self.lr}")

    def as_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["options"] = dict(self.options)
        return d


@dataclass(frozen=True)
class EpochMetrics:
    epoch: int  # 1-based
    train_loss: float
    train_top1: float
    val_top1: float | None
    lr: float
    seconds: float


@dataclass(frozen=True)
class TrainResult:
    out_dir: Path
    weights: Path
    epochs: tuple[EpochMetrics, ...]
    config: TrainConfig

    @property
    def final_val_top1(self) -> float | None:
        return self.epochs[-1].val_top1 if self.epochs else None


def freeze_partial_bn(model: nn.Module) -> int:
    """TSN's partial BN: every BatchNorm but the first runs in eval mode with frozen affine.

    Call after `model.train()`. Returns how many BN layers were frozen.
    """
    frozen = 0
    for i, m in enumerate(x for x in model.modules() if isinstance(x, nn.modules.batchnorm._BatchNorm)):
        if i == 0:
            continue
        m.eval()
        for p in m.parameters():
            p.requires_grad_(False)
        frozen += 1
    return frozen


def lr_at(step: int, *, total: int, warmup: int, base: float) -> float:
    """Linear warm-up then cosine decay to zero, per iteration."""
    if warmup and step < warmup:
        return base * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * base * (1 + math.cos(math.pi * min(1.0, progress)))


def _param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    # No weight decay on BN scales/shifts and biases, as usual for ResNets.
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (no_decay if p.ndim <= 1 else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def _atomic_save(obj: Any, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _batches(n: int, batch_size: int, seed: int, epoch: int) -> list[list[int]]:
    order = np.random.default_rng([seed, epoch, 7919]).permutation(n)
    # Drop a last batch of one clip: its BatchNorm statistics would come from a single video.
    out = [order[i : i + batch_size].tolist() for i in range(0, n, batch_size)]
    if len(out) > 1 and len(out[-1]) == 1:
        out.pop()
    return out


def build_model(config: TrainConfig, num_classes: int, init: str | Path | None = None) -> nn.Module:
    """The model to train; `init` loads weights except a classifier whose class count differs."""
    from tsmbench import create_model

    model = create_model(
        config.model, num_classes=num_classes, num_segments=config.num_segments, dropout=config.dropout,
        **dict(config.options),
    )
    if init is not None:
        from tsmbench.models.checkpoints import read_checkpoint

        state = dict(read_checkpoint(init).state_dict)
        own = model.state_dict()
        dropped = [k for k, v in state.items() if k in own and own[k].shape != v.shape]
        for k in dropped:
            del state[k]
        missing, unexpected = model.load_state_dict(state, strict=False)
        if unexpected or any(k not in dropped for k in missing):
            raise CheckpointError(
                f"{init} does not fit {config.model}: missing {sorted(missing)[:6]}, unexpected {sorted(unexpected)[:6]}"
            )
    return model


@torch.no_grad()
def evaluate_clips(model: nn.Module, data: TrainClips, batch_size: int = 32) -> float:
    """Top-1 (percent) with uniform sampling and a centre crop: the quick per-epoch check."""
    model.eval()
    correct = 0
    for start in range(0, len(data), batch_size):
        x, y = collate([data[i] for i in range(start, min(start + batch_size, len(data)))])
        correct += int((model(x).argmax(1) == y).sum())
    return 100.0 * correct / len(data)


def train(
    config: TrainConfig,
    *,
    train_samples: Sequence[VideoSample],
    val_samples: Sequence[VideoSample] | None,
    root: str | Path | None,
    num_classes: int,
    input_cfg: InputConfig,
    out_dir: str | Path,
    resume: bool = False,
    init: str | Path | None = None,
    frame_template: str = "img_{:05d}.jpg",
    metadata: dict[str, str] | None = None,
    on_step: Callable[[int, int, float], None] | None = None,
    on_epoch: Callable[[EpochMetrics], None] | None = None,
) -> TrainResult:
    """Train `config.model` on the samples and write checkpoints and final weights to `out_dir`."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ckpt_path = out / CHECKPOINT_NAME
    torch.manual_seed(config.seed)
    model = build_model(config, num_classes, init)
    optimizer = torch.optim.SGD(_param_groups(model, config.weight_decay), lr=config.lr, momentum=config.momentum)
    augment = Augment(random_crop=config.random_crop, flip=config.flip)
    common = dict(root=root, num_segments=config.num_segments, input_cfg=input_cfg, seed=config.seed,
                  frame_template=frame_template, cache_frames=config.cache_frames)
    train_data = TrainClips(train_samples, train=True, augment=augment, **common)
    val_data = TrainClips(val_samples, train=False, **common) if val_samples else None

    history: list[EpochMetrics] = []
    start_epoch = 0
    if resume:
        if not ckpt_path.is_file():
            raise UsageError(f"nothing to resume: {ckpt_path} does not exist (run without --resume first)")
        try:
            state = torch.load(ckpt_path, map_location="cpu", weights_only=True)
        except (RuntimeError, OSError, EOFError) as exc:
            raise CheckpointError(f"cannot read {ckpt_path}: {exc}; delete it to start over") from None
        if state.get("config") != config.as_dict():
            raise UsageError(
                f"{ckpt_path} was written with different settings; resume with the same options or use a new --out"
            )
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["torch_rng"])
        start_epoch = int(state["epoch"])
        history = [EpochMetrics(**m) for m in state["history"]]

    per_epoch = len(_batches(len(train_data), config.batch_size, config.seed, 0))
    total = per_epoch * config.epochs
    warmup = int(round(config.warmup_epochs * per_epoch))
    for epoch in range(start_epoch, config.epochs):
        t0 = time.perf_counter()
        model.train()
        if config.partial_bn:
            freeze_partial_bn(model)
        train_data.set_epoch(epoch)
        loader = torch.utils.data.DataLoader(
            train_data, batch_sampler=_batches(len(train_data), config.batch_size, config.seed, epoch),
            num_workers=config.workers, collate_fn=collate,
        )
        seen = correct = 0
        loss_sum = 0.0
        lr = config.lr
        for b, (x, y) in enumerate(loader):
            step = epoch * per_epoch + b
            lr = lr_at(step, total=total, warmup=warmup, base=config.lr)
            for g in optimizer.param_groups:
                g["lr"] = lr
            logits = model(x)
            loss = nn.functional.cross_entropy(logits, y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if config.clip_grad > 0:
                nn.utils.clip_grad_norm_(model.parameters(), config.clip_grad)
            optimizer.step()
            seen += len(y)
            loss_sum += float(loss.detach()) * len(y)
            correct += int((logits.argmax(1) == y).sum())
            if on_step is not None:
                on_step(step + 1, total, float(loss.detach()))
        val = evaluate_clips(model, val_data) if val_data is not None else None
        m = EpochMetrics(epoch + 1, loss_sum / max(1, seen), 100.0 * correct / max(1, seen), val, lr,
                         time.perf_counter() - t0)
        history.append(m)
        _atomic_save(
            {
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "torch_rng": torch.get_rng_state(),
                "epoch": epoch + 1,
                "config": config.as_dict(),
                "history": [dataclasses.asdict(h) for h in history],
            },
            ckpt_path,
        )
        with open(out / METRICS_NAME, "a", encoding="utf-8") as f:
            f.write(json.dumps(dataclasses.asdict(m)) + "\n")
        if on_epoch is not None:
            on_epoch(m)

    weights = export_weights(model, out / f"{config.model}.safetensors", config=config, history=history,
                             metadata=metadata)
    return TrainResult(out, weights, tuple(history), config)


def export_weights(
    model: nn.Module,
    path: str | Path,
    *,
    config: TrainConfig,
    history: Sequence[EpochMetrics],
    metadata: dict[str, str] | None = None,
) -> Path:
    """Write the trained weights as tsmbench safetensors with what produced them in the metadata."""
    from tsmbench.models.checkpoints import model_metadata, save_safetensors

    meta = model_metadata(model)
    meta.update({
        "train_config": json.dumps(config.as_dict(), sort_keys=True),
        "epochs": str(len(history)),
    })
    if history and history[-1].val_top1 is not None:
        meta["val_top1"] = f"{history[-1].val_top1:.2f}"
    meta.update(metadata or {})
    path = Path(path)
    save_safetensors({k: v.detach().contiguous() for k, v in model.state_dict().items()}, path, metadata=meta)
    return path
