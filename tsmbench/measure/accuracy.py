"""Accuracy from per-video predictions: top-1, top-5, mean class accuracy, per-class table."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

import torch

from tsmbench.errors import UsageError
from tsmbench.measure.predictions import Prediction

SCORE_AVERAGES = ("logits", "softmax")


@dataclass(frozen=True)
class ClassAccuracy:
    index: int
    name: str
    count: int
    top1: float  # percent


@dataclass(frozen=True)
class Accuracy:
    top1: float  # percent 0-100
    top5: float
    mean_class_acc: float
    per_class: tuple[ClassAccuracy, ...]
    num_videos: int


def average_views(scores: torch.Tensor, how: str) -> torch.Tensor:
    """(views, K) scores of one video -> (K,): mean logits (MIT code) or mean softmax (MMAction2)."""
    if how == "logits":
        return scores.float().mean(dim=0)
    if how == "softmax":
        return torch.softmax(scores.float(), dim=-1).mean(dim=0)
    raise UsageError(f"--score-average must be one of {', '.join(SCORE_AVERAGES)}, got {how!r}")


def top_k(scores: torch.Tensor, k: int = 5) -> tuple[tuple[int, float], ...]:
    k = min(k, scores.numel())
    vals, idx = torch.topk(scores, k)
    return tuple((int(i), float(v)) for i, v in zip(idx.tolist(), vals.tolist()))


def compute_accuracy(
    predictions: Iterable[Prediction],
    *,
    num_classes: int | None = None,
    class_name: Callable[[int], str] | Sequence[str] | None = None,
) -> Accuracy:
    """Streamed: holds per-class counters only, never the predictions."""
    n = hit1 = hit5 = 0
    cls_cnt: dict[int, int] = {}
    cls_hit: dict[int, int] = {}
    for p in predictions:
        n += 1
        classes = [c for c, _ in p.top5]
        ok1 = bool(classes) and classes[0] == p.label
        hit1 += ok1
        hit5 += p.label in classes[:5]
        cls_cnt[p.label] = cls_cnt.get(p.label, 0) + 1
        cls_hit[p.label] = cls_hit.get(p.label, 0) + ok1
    if callable(class_name):
        name_of = class_name
    elif class_name is not None:
        names = list(class_name)
        name_of = lambda i: names[i] if 0 <= i < len(names) else str(i)  # noqa: E731
    else:
        name_of = str
    per_class = tuple(
        ClassAccuracy(index=c, name=name_of(c), count=cls_cnt[c], top1=100.0 * cls_hit[c] / cls_cnt[c])
        for c in sorted(cls_cnt)
    )
    # Mean over the classes present in the test set (as the MIT code's confusion-matrix average).
    mca = sum(pc.top1 for pc in per_class) / len(per_class) if per_class else float("nan")
    return Accuracy(
        top1=100.0 * hit1 / n if n else float("nan"),
        top5=100.0 * hit5 / n if n else float("nan"),
        mean_class_acc=mca,
        per_class=per_class,
        num_videos=n,
    )
