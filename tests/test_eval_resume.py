"""Nothing lost: kill -9 mid-run then --resume, and 2-process torch.distributed, both in subprocesses."""
from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from test_eval_support import PALETTE, colour_checkpoint, expected_top, make_video_dataset, write_card

#: 12 videos: (true colour, label); a few labelled wrong so the metrics are not trivially 100.
PLAN12 = [(i % 6, i % 6) for i in range(9)] + [(3, 0), (4, 0), (5, 1)]
LENGTHS12 = [10 + 7 * i for i in range(12)]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("resume")
    lst = make_video_dataset(root, plan=PLAN12, lengths=LENGTHS12)
    ck = colour_checkpoint(root / "colours.safetensors")
    card = write_card(root / "colours.yaml")
    return root, lst, ck, card


def cli(setup, *extra: str) -> list[str]:
    root, lst, ck, card = setup
    return ["eval", "--model", "tsn_resnet_tiny", "--weights", str(ck), "--dataset", str(card), "--root", str(root),
            "--list", str(lst), "--workers", "0", "--json", *extra]


def env() -> dict[str, str]:
    e = dict(os.environ)
    e["OMP_NUM_THREADS"] = "1"
    e["PYTHONPATH"] = str(Path(__file__).resolve().parent.parent) + os.pathsep + e.get("PYTHONPATH", "")
    return e


def stored(db: Path) -> tuple[int, int]:
    c = sqlite3.connect(str(db), timeout=30)
    try:
        return tuple(c.execute("SELECT COUNT(*), COUNT(DISTINCT video_id) FROM predictions").fetchone())
    except sqlite3.OperationalError:  # the run has created the file but not the table yet
        return (0, 0)
    finally:
        c.close()


def run_json(args: list[str], timeout: int = 300) -> dict:
    proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout, env=env())
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout)["results"][0]


@pytest.mark.slow
def test_kill9_then_resume_gives_the_uninterrupted_metrics(setup, _isolated_home):
    # dense x 10 crops: 100 clips per video keeps the run slow enough to kill in the middle.
    heavy = ("--protocol", "dense", "--crops", "10", "--batch-size", "1")
    proc = subprocess.Popen([sys.executable, "-m", "tsmbench", *cli(setup, *heavy)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env())
    runs = Path(os.environ["TSMBENCH_HOME"]) / "runs"
    deadline = time.monotonic() + 240
    db = None
    try:
        while time.monotonic() < deadline:
            dbs = list(runs.glob("*/predictions.sqlite"))
            if dbs and stored(dbs[0])[0] >= 3:
                db = dbs[0]
                break
            assert proc.poll() is None, "the run ended before it could be killed: " + proc.stderr.read()[-2000:]
            time.sleep(0.02)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert db is not None, "no predictions were committed in time"
    done_at_kill, distinct = stored(db)
    assert 3 <= done_at_kill < len(PLAN12) and distinct == done_at_kill
    run_id = db.parent.name

    resumed = run_json([sys.executable, "-m", "tsmbench", *cli(setup, *heavy, "--resume", run_id)])
    fresh = run_json([sys.executable, "-m", "tsmbench", *cli(setup, *heavy)])
    assert stored(db) == (len(PLAN12), len(PLAN12))  # every video once, none twice
    for key in ("top1", "top5", "mean_class_acc", "num_videos", "per_class", "skipped"):
        assert resumed[key] == fresh[key], key
    assert resumed["top1"] == pytest.approx(expected_top(PLAN12, k=1))
    # The resumed session only ran the videos the killed one had not committed.
    assert resumed["run_id"] == run_id
    assert resumed["videos_this_session"] == len(PLAN12) - done_at_kill and fresh["videos_this_session"] == len(PLAN12)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_process_distributed_matches_one_process(setup):
    single = run_json([sys.executable, "-m", "tsmbench", *cli(setup, "--protocol", "twice")])
    dist = run_json([sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-addr", "127.0.0.1",
                     "--master-port", str(free_port()), "-m", "tsmbench", *cli(setup, "--protocol", "twice")], timeout=400)
    assert dist["world_size"] == 2 and single["world_size"] == 1
    for key in ("top1", "top5", "mean_class_acc", "num_videos", "per_class", "skipped"):
        assert dist[key] == single[key], key
    assert dist["num_videos"] == len(PLAN12) and dist["top1"] == pytest.approx(expected_top(PLAN12, k=1))
    runs = Path(os.environ["TSMBENCH_HOME"]) / "runs"
    assert stored(runs / dist["run_id"] / "predictions.sqlite") == (len(PLAN12), len(PLAN12))
    assert (runs / dist["run_id"] / "result.json").exists()  # rank 0 wrote the results


@pytest.mark.slow
def test_distributed_refused_resume_stops_every_rank(setup):
    first = run_json([sys.executable, "-m", "tsmbench", *cli(setup, "--limit", "2")])
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-addr", "127.0.0.1",
         "--master-port", str(free_port()), "-m", "tsmbench", *cli(setup, "--protocol", "dense", "--resume", first["run_id"])],
        capture_output=True, text=True, timeout=180, env=env(),
    )
    assert proc.returncode != 0 and "cannot resume" in proc.stderr  # and no rank was left waiting
