"""Evaluate a video classifier on a list of test videos: streamed, resumable, optionally distributed.

Any module with the (N, T, 3, H, W) -> (N, K) contract works. Per-video predictions go to a
PredictionStore batch by batch; the final metrics are computed from the store, so a resumed run
reports exactly what an uninterrupted one would.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from tsmbench.data.annotations import VideoSample
from tsmbench.data.loader import EvalDataset, SamplingConfig, collate_items
from tsmbench.data.sampling import num_views
from tsmbench.data.transforms import CROPS, InputConfig
from tsmbench.errors import DatasetError, UsageError
from tsmbench.measure.accuracy import SCORE_AVERAGES, ClassAccuracy, average_views, compute_accuracy, top_k
from tsmbench.measure.predictions import Prediction, PredictionStore


@dataclass(frozen=True)
class EvalResult:
    top1: float  # percent 0-100
    top5: float
    mean_class_acc: float
    per_class: tuple[ClassAccuracy, ...]
    num_videos: int  # videos with a prediction
    skipped: tuple[tuple[str, str], ...]  # (video id, reason)
    throughput: float  # clips (one view x one crop) per second, this session's wall time
    data_wait_share: float  # share of wall time the model waited for data
    predictions: tuple[Prediction, ...]
    protocol: str = "uniform"
    views: int = 1
    crops: int = 1
    score_average: str = "logits"
    wall_s: float = 0.0
    clips: int = 0
    world_size: int = 1
    videos_this_session: int = 0  # videos this call ran (the rest were already in the store)


def _dist() -> tuple[int, int]:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def _device_of(model: torch.nn.Module) -> torch.device:
    for t in list(model.parameters()) + list(model.buffers()):
        return t.device
    return torch.device("cpu")


def evaluate(
    model: torch.nn.Module,
    samples: Sequence[VideoSample],
    *,
    protocol: str = "uniform",
    crops: int = 1,
    input_cfg: InputConfig | dict[str, Any] | None = None,
    score_average: str = "logits",
    batch_size: int = 1,
    workers: int = 0,
    store: PredictionStore | None = None,
    root: str | Path | None = None,
    frame_template: str = "img_{:05d}.jpg",
    num_segments: int | None = None,
    clip_len: int | None = None,
    frame_interval: int = 8,
    num_clips: int = 10,
    strict: bool = False,
    save_scores: bool = False,
    classes: Sequence[str] | None = None,
    commit_every: int = 1,
    on_progress: Callable[[int, int], None] | None = None,
) -> EvalResult:
    """Run `model` over `samples` and score it.

    Views of one video are averaged as pre-softmax logits (`score_average="logits"`, MIT code) or
    as softmax probabilities ("softmax", MMAction2). With a `store`, videos already in it are
    skipped (resume) and every batch is committed as it is produced. Under torch.distributed the
    list is sharded over ranks and every rank returns the same, complete result.
    """
    if crops not in CROPS:
        raise UsageError(f"--crops must be one of {CROPS}, got {crops}")
    if score_average not in SCORE_AVERAGES:
        raise UsageError(f"--score-average must be one of {', '.join(SCORE_AVERAGES)}, got {score_average!r}")
    if batch_size < 1 or workers < 0:
        raise UsageError("--batch-size must be at least 1 and --workers at least 0")
    views = num_views(protocol, num_clips=num_clips)
    segs = int(num_segments or getattr(model, "num_segments", 8))
    sampling = SamplingConfig(
        protocol=protocol, num_segments=segs, clip_len=int(clip_len or segs), frame_interval=frame_interval, num_clips=num_clips
    )
    cfg = InputConfig.of(input_cfg)
    rank, world = _dist()

    done = store.done_ids() if store is not None else set()
    if world > 1:
        torch.distributed.barrier()  # every rank has read the same done set before anyone writes
    todo = [s for s in samples if s.video_id not in done]
    shard = todo[rank::world]
    dataset = EvalDataset(shard, root=root, sampling=sampling, crops=crops, input_cfg=cfg, frame_template=frame_template)
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=batch_size, shuffle=False, num_workers=workers, collate_fn=collate_items,
        prefetch_factor=4 if workers > 0 else None,
    )
    device = _device_of(model)
    was_training = model.training
    model.eval()

    mine: list[Prediction] = []
    skipped: list[tuple[str, str]] = []
    pending: list[Prediction] = []
    pending_skips: list[tuple[str, str]] = []
    n_clips = 0
    wait = 0.0
    done_count = 0
    fatal: str | None = None
    t0 = time.perf_counter()
    it = iter(loader)
    try:
        with torch.inference_mode():
            while True:
                tw = time.perf_counter()
                try:
                    batch = next(it)
                except StopIteration:
                    wait += time.perf_counter() - tw
                    break
                wait += time.perf_counter() - tw
                ok = [b for b in batch if b["error"] is None]
                bad = [b for b in batch if b["error"] is not None]
                if bad and strict:
                    fatal = f"video {bad[0]['video_id']}: {bad[0]['error']} (drop --strict to skip and list such videos)"
                    if world == 1:
                        raise DatasetError(fatal)
                    break  # the other ranks must still reach the gather below, then every rank raises
                pending_skips.extend((b["video_id"], b["error"]) for b in bad)
                if ok:
                    x = torch.cat([b["clips"] for b in ok]).to(device, non_blocking=True)
                    scores = model(x)
                    if isinstance(scores, (tuple, list)):
                        scores = scores[0]
                    if scores.dim() != 2 or scores.shape[0] != x.shape[0]:
                        raise UsageError(f"the model returned shape {tuple(scores.shape)} for {x.shape[0]} clips; expected (clips, classes)")
                    scores = scores.float().cpu()
                    per_video = scores.split([b["clips"].shape[0] for b in ok])
                    for b, s in zip(ok, per_video):
                        avg = average_views(s, score_average)
                        pending.append(Prediction(b["video_id"], int(b["label"]), top_k(avg, 5), tuple(avg.tolist()) if save_scores else None))
                    n_clips += x.shape[0]
                done_count += len(batch)
                if store is None or len(pending) + len(pending_skips) >= commit_every:
                    if store is not None:
                        store.add(pending, pending_skips)
                    mine.extend(pending)
                    skipped.extend(pending_skips)
                    pending, pending_skips = [], []
                if on_progress is not None:
                    on_progress(done_count, len(shard))
        if store is not None and (pending or pending_skips):
            store.add(pending, pending_skips)
        mine.extend(pending)
        skipped.extend(pending_skips)
    finally:
        del it
        model.train(was_training)
    wall = time.perf_counter() - t0

    if world > 1:
        gathered: list[Any] = [None] * world
        torch.distributed.all_gather_object(gathered, (mine, skipped, n_clips, wait, wall, fatal))
        fatal = next((g[5] for g in gathered if g[5]), None)
        if fatal:
            raise DatasetError(fatal)
        mine = [p for g in gathered for p in g[0]]
        skipped = [s for g in gathered for s in g[1]]
        n_clips = sum(g[2] for g in gathered)
        wall = max(g[4] for g in gathered)  # the ranks run side by side: the slowest sets the pace
        wait = sum(g[3] for g in gathered) / world  # mean waiting per rank, a share of that wall time
        if store is not None and rank == 0:
            store.add(mine, [])  # a no-op on one machine; fills the store when ranks do not share a disk
        torch.distributed.barrier()

    wanted = {s.video_id for s in samples}
    if store is not None:
        preds = [p for p in store.predictions() if p.video_id in wanted]
        skipped_all = [s for s in store.skipped() if s[0] in wanted]
    else:
        preds, skipped_all = mine, skipped
    acc = compute_accuracy(preds, class_name=classes)
    return EvalResult(
        top1=acc.top1,
        top5=acc.top5,
        mean_class_acc=acc.mean_class_acc,
        per_class=acc.per_class,
        num_videos=acc.num_videos,
        skipped=tuple(sorted(skipped_all)),
        throughput=n_clips / wall if wall > 0 else 0.0,
        data_wait_share=wait / wall if wall > 0 else 0.0,
        predictions=tuple(sorted(preds, key=lambda p: p.video_id)),
        protocol=protocol,
        views=views,
        crops=crops,
        score_average=score_average,
        wall_s=wall,
        clips=n_clips,
        world_size=world,
        videos_this_session=len(todo),
    )


def eval_record(
    result: EvalResult,
    *,
    model: str,
    dataset: str,
    published: Any = None,
    run_id: str | None = None,
    environment: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The `kind: eval` record of the shared JSON contract (wrap with results.schema.make_document)."""
    from tsmbench.results.schema import environment as env

    rec: dict[str, Any] = {
        "kind": "eval",
        "model": model,
        "dataset": dataset,
        "protocol": result.protocol,
        "views": result.views,
        "crops": result.crops,
        "score_average": result.score_average,
        "top1": result.top1,
        "top5": result.top5,
        "mean_class_acc": result.mean_class_acc,
        "num_videos": result.num_videos,
        "skipped": [{"video_id": v, "reason": r} for v, r in result.skipped],
        "throughput_clips_per_s": result.throughput,
        "data_wait_share": result.data_wait_share,
        "per_class": [{"index": c.index, "name": c.name, "count": c.count, "top1": c.top1} for c in result.per_class],
        "world_size": result.world_size,
        "videos_this_session": result.videos_this_session,
        "environment": environment if environment is not None else env(),
    }
    if run_id is not None:
        rec["run_id"] = run_id
    if published is not None:
        rec["published"] = published
    return rec
