"""The remote Jetson path against a REAL sshd on 127.0.0.1, started by the test as its own process.

The "board" is this machine reached over ssh/scp with a temporary host key, a temporary
authorized key and a temporary ssh config passed with `-F`. On the board side, stand-in
`trtexec`, `tegrastats`, `nvpmodel` and `jetson_clocks` scripts are put first on PATH (sshd's
SetEnv). They are NOT TensorRT: they print the documented output formats (trtexec's
"=== Performance summary ===" block of TensorRT 10.3 / 11 from tests/data/trtexec, its
--exportTimes JSON and --exportOutput JSON, an Orin Nano tegrastats line, `nvpmodel -q`,
`jetson_clocks --show`) and record their command lines; the stand-in "engine" computes its
--loadInputs/--exportOutput inference with ONNX Runtime on the ONNX it was "built" from, so that what is tested is tsmbench's side: ssh/scp with BatchMode, copying the
ONNX, the build and run command lines per TensorRT generation, collecting tegrastats during the
run, bringing the files back and parsing them.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tsmbench.cli.app import app

SSHD = Path("/usr/sbin/sshd")
DATA = Path(__file__).parent / "data" / "trtexec"

pytestmark = pytest.mark.skipif(
    not SSHD.exists() or shutil.which("ssh") is None or shutil.which("scp") is None or shutil.which("ssh-keygen") is None,
    reason="needs /usr/sbin/sshd and ssh/scp/ssh-keygen (apt-get install openssh-server openssh-client)",
)

FAKE_TRTEXEC = r'''#!{python}
"""Stand-in trtexec: prints the TensorRT output format; records its arguments."""
import json, os, sys
here = os.path.dirname(os.path.abspath(__file__))
code = open(os.path.join(here, "trt_version")).read().strip()
with open(os.path.join(here, "trtexec_calls.jsonl"), "a") as f:
    f.write(json.dumps(sys.argv[1:]) + "\n")
banner = "&&&& RUNNING TensorRT.trtexec [TensorRT v%s] # trtexec %s" % (code, " ".join(sys.argv[1:]))
print(banner)
args = dict(a[2:].split("=", 1) for a in sys.argv[1:] if a.startswith("--") and "=" in a)
if "--help" in sys.argv:
    print("=== Model Options ===")
    sys.exit(0)
if int(code) >= 110000 and any(a in sys.argv for a in ("--fp16", "--int8", "--best")):
    print("[E] Unknown option: precision flags were removed in TensorRT 11"); sys.exit(1)
if "saveEngine" in args:
    if not os.path.exists(args["onnx"]):
        print("[E] Cannot open " + args["onnx"]); sys.exit(1)
    with open(args["saveEngine"], "wb") as f:  # the "engine" remembers its ONNX file
        f.write(b"fake-engine:" + os.path.abspath(args["onnx"]).encode())
    print("[I] Engine built"); print("&&&& PASSED TensorRT.trtexec"); sys.exit(0)
if "loadEngine" in args:
    blob = open(args["loadEngine"], "rb").read()
    if not blob.startswith(b"fake-engine:"):
        print("[E] bad engine"); sys.exit(1)
if "loadInputs" in args and "exportOutput" in args:
    # One inference on the given raw inputs, computed with ONNX Runtime on the ONNX the "engine" was built from.
    import numpy as np, onnxruntime as ort
    sess = ort.InferenceSession(blob[len(b"fake-engine:"):].decode(), providers=["CPUExecutionProvider"])
    files = dict(item.split(":", 1) for item in args["loadInputs"].split(","))
    feeds = {{}}
    for i in sess.get_inputs():
        feeds[i.name] = np.fromfile(files[i.name], dtype="<f4").reshape(i.shape)
    outs = sess.run(None, feeds)
    if os.path.exists(os.path.join(here, "perturb")):
        outs[0] = outs[0] + np.abs(outs[0]).max() * np.linspace(-1, 1, outs[0].size).reshape(outs[0].shape)
    json.dump([{{"name": o.name, "dimensions": "x".join(map(str, v.shape)), "values": v.ravel().tolist()}}
               for o, v in zip(sess.get_outputs(), outs)], open(args["exportOutput"], "w"))
    sys.exit(0)
if "loadEngine" in args:
    print(open(os.path.join(here, "summary.txt")).read())
    if "exportTimes" in args:
        t, recs = 0.0, []
        for c in [10.8, 10.9, 11.0, 10.7, 11.5, 10.85, 10.95, 10.8]:
            recs.append({{"startEnqMs": t, "endEnqMs": t + 1.2, "startComputeMs": t + 0.2, "endComputeMs": t + 0.2 + c,
                         "h2dMs": 0.19, "computeMs": c, "d2hMs": 0.007, "latencyMs": c + 0.197}})
            t += 12.0
        json.dump(recs, open(args["exportTimes"], "w"))
    sys.exit(0)
sys.exit(2)
'''

FAKE_TEGRASTATS = """#!/bin/sh
# Stand-in tegrastats: Orin Nano line format, until killed.
while true; do
  echo "07-29-2026 18:00:27 RAM 2272/7620MB (lfb 4x4MB) SWAP 221/3810MB (cached 0MB) CPU [5%@1510,3%@1510,0%@1510,0%@1510,0%@729,0%@729] GR3D_FREQ 99% cpu@54.9C soc2@55.5C soc0@56.1C gpu@55.4C tj@56.6C soc1@56.6C VDD_IN 7000mW/6900mW VDD_CPU_GPU_CV 2527mW/2500mW VDD_SOC 1339mW/1339mW"
  sleep 0.05
done
"""
FAKE_NVPMODEL = "#!/bin/sh\necho 'NV Power Mode: 15W'\necho 0\n"
FAKE_CLOCKS = """#!/bin/sh
echo 'SOC family:tegra234  Machine:NVIDIA Jetson Orin Nano Developer Kit'
echo 'GPU MinFreq=624750000 MaxFreq=624750000 CurrentFreq=624750000'
echo 'EMC MinFreq=204000000 MaxFreq=2133000000 CurrentFreq=2133000000 FreqOverride=1'
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _write_exe(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(0o755)


def _board_bin(tmp_path: Path) -> Path:
    fakebin = tmp_path / "board-bin"
    fakebin.mkdir()
    _write_exe(fakebin / "trtexec", FAKE_TRTEXEC.format(python=sys.executable))
    _write_exe(fakebin / "tegrastats", FAKE_TEGRASTATS)
    _write_exe(fakebin / "nvpmodel", FAKE_NVPMODEL)
    _write_exe(fakebin / "jetson_clocks", FAKE_CLOCKS)
    (fakebin / "trt_version").write_text("100300")
    shutil.copyfile(DATA / "trt10_summary.txt", fakebin / "summary.txt")
    return fakebin


@pytest.fixture()
def board(tmp_path):
    """A real sshd on 127.0.0.1:<free port> and an ssh config naming it `board`."""
    fakebin = _board_bin(tmp_path)

    keys = tmp_path / "keys"
    keys.mkdir(mode=0o700)
    for name in ("host", "client"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(keys / name)], check=True)
    (keys / "authorized_keys").write_text((keys / "client.pub").read_text())
    port = _free_port()
    sshd_config = tmp_path / "sshd_config"
    sshd_config.write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {keys / 'host'}\nPidFile {tmp_path / 'sshd.pid'}\n"
        f"AuthorizedKeysFile {keys / 'authorized_keys'}\nStrictModes no\nUsePAM no\nPasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\nPubkeyAuthentication yes\nPermitRootLogin prohibit-password\n"
        f"SetEnv PATH={fakebin}:/usr/local/bin:/usr/bin:/bin\nSubsystem sftp internal-sftp\nLogLevel ERROR\n"
    )
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege-separation directory
    proc = subprocess.Popen([str(SSHD), "-D", "-e", "-f", str(sshd_config)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    host_pub = (keys / "host.pub").read_text().split()
    (tmp_path / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_pub[0]} {host_pub[1]}\n")
    user = os.environ.get("USER") or __import__("pwd").getpwuid(os.getuid()).pw_name
    ssh_config = tmp_path / "ssh_config"
    ssh_config.write_text(
        f"Host board\n  HostName 127.0.0.1\n  Port {port}\n  User {user}\n  IdentityFile {keys / 'client'}\n"
        f"  IdentitiesOnly yes\n  StrictHostKeyChecking yes\n  UserKnownHostsFile {tmp_path / 'known_hosts'}\n"
        "  LogLevel ERROR\n"
    )
    deadline = time.time() + 20
    while time.time() < deadline:
        if proc.poll() is not None:
            output = proc.stdout.read().decode(errors="replace").strip()
            if os.geteuid() != 0:  # unprivileged sshd can be refused by the host's setup; root must work
                pytest.skip(f"sshd could not start as a normal user: {output[-200:]}")
            pytest.fail(f"sshd exited: {output}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            time.sleep(0.1)
    try:
        yield {"config": ssh_config, "bin": fakebin, "remote_dir": str(tmp_path / "remote"), "port": port}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def _calls(board) -> list[list[str]]:
    path = board["bin"] / "trtexec_calls.jsonl"
    return [json.loads(l) for l in path.read_text().splitlines()] if path.exists() else []


def test_ssh_host_runs_and_copies(board, tmp_path):
    from tsmbench.devices.ssh import RemoteError, SshHost

    host = SshHost("board", config=str(board["config"]))
    proc = host.run("echo $PATH; nvpmodel -q")
    assert str(board["bin"]) in proc.stdout and "NV Power Mode: 15W" in proc.stdout
    src = tmp_path / "payload.bin"
    src.write_bytes(os.urandom(1000))
    host.run(f"mkdir -p {board['remote_dir']}")
    host.put(src, f"{board['remote_dir']}/p.bin")
    host.get(f"{board['remote_dir']}/p.bin", tmp_path / "back.bin")
    assert (tmp_path / "back.bin").read_bytes() == src.read_bytes()
    with pytest.raises(RemoteError, match="exited with 3"):
        host.run("exit 3")
    # BatchMode: an unknown user must fail at once instead of prompting for a password.
    with pytest.raises(RemoteError, match="ssh"):
        SshHost("nobody-here@board", config=str(board["config"])).run("true", timeout=30)


def test_board_state_over_ssh(board):
    from tsmbench.devices.jetson import board_state
    from tsmbench.devices.ssh import SshHost

    state = board_state(SshHost("board", config=str(board["config"])))
    assert state["power_mode"] == "15W" and state["power_mode_id"] == 0
    assert state["clocks_pinned"] is True and state["gpu_cur_mhz"] == 624


def test_latency_over_ssh_trt10(board):
    args = ["latency", "tsm_resnet_tiny", "--segments", "4", "--size", "32", "--num-classes", "5",
            "--backend", "trtexec", "--device", "jetson", "--host", "board", "--ssh-config", str(board["config"]),
            "--remote-dir", board["remote_dir"], "--precision", "fp16", "--min-s", "1", "--warmup-s", "0.2",
            "--min-iters", "20", "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.stdout)["results"]
    assert row["status"] == "ok", row["error"]
    assert (row["backend"], row["device"], row["precision"], row["host"]) == ("trtexec", "jetson", "fp16", "board")
    assert row["tensorrt_version"] == "10.3.0"
    assert row["iterations"] == 8  # from the --exportTimes file brought back over scp
    assert row["min_ms"] <= row["median_ms"] <= row["p90_ms"] <= row["p99_ms"] <= row["max_ms"]
    assert row["timing_source"].startswith("trtexec --exportTimes")
    assert row["avg_power_w"] == pytest.approx(7.0)  # VDD_IN from tegrastats during the run
    assert row["energy_j_per_clip"] > 0 and row["energy_source"] == "tegrastats input rail"
    assert row["engine_built"] is True
    assert row["onnx_parity"]["ok"]
    # The engine's own logits (trtexec --loadInputs/--exportOutput on the board) were compared with torch.
    assert row["parity"]["ok"] and row["parity"]["precision"] == "fp16" and row["parity"]["max_rel_diff"] < 1e-3
    assert row["environment"]["board_state"]["power_mode"] == "15W"  # nvpmodel -q on the board
    assert row["environment"]["board_state"]["clocks_pinned"] is True  # jetson_clocks --show
    calls = _calls(board)
    build = next(c for c in calls if any(a.startswith("--saveEngine=") for a in c))
    run = next(c for c in calls if any(a.startswith("--exportTimes=") for a in c))
    check = next(c for c in calls if any(a.startswith("--exportOutput=") for a in c))
    assert calls.index(check) < calls.index(run)  # parity first, timing only for an engine that agrees
    assert any(a.startswith("--loadInputs=input:") for a in check)
    assert "--fp16" in build and "--memPoolSize=workspace:1024M" in build
    assert any(a.startswith("--onnx=" + board["remote_dir"]) for a in build)  # the ONNX was copied to the board
    assert not any(a.startswith("--minShapes") for a in build)  # the exported ONNX has static shapes
    assert "--iterations=20" in run and any(a.startswith("--exportTimes=") for a in run) and "--duration=1" in run
    # A second run reuses the engine built on the board.
    again = CliRunner().invoke(app, args)
    (row2,) = json.loads(again.stdout)["results"]
    assert row2["status"] == "ok" and row2["engine_built"] is False


def test_latency_over_ssh_trt11_sends_typed_onnx(board):
    (board["bin"] / "trt_version").write_text("110000")
    shutil.copyfile(DATA / "trt11_summary.txt", board["bin"] / "summary.txt")
    args = ["latency", "tsm_resnet_tiny", "--segments", "4", "--size", "32", "--num-classes", "5",
            "--backend", "trtexec", "--device", "jetson", "--host", "board", "--ssh-config", str(board["config"]),
            "--remote-dir", board["remote_dir"], "--precision", "fp16,bf16", "--min-s", "1", "--min-iters", "5", "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    fp16, bf16 = json.loads(result.stdout)["results"]
    assert fp16["status"] == "ok", fp16["error"]
    assert fp16["tensorrt_version"] == "11.0.0"
    assert bf16["status"] == "error" and "bf16" in bf16["error"]  # a row with its reason, not the end of the sweep
    build = next(c for c in _calls(board) if any(a.startswith("--saveEngine=") for a in c))
    assert not {"--fp16", "--int8", "--bf16"} & set(build)
    assert any(a.startswith("--onnx=") and "-fp16-" in a for a in build)  # the fp16-typed model


def test_engine_disagreeing_with_torch_is_refused_unless_allowed(board):
    (board["bin"] / "perturb").write_text("1")
    args = ["latency", "tsm_resnet_tiny", "--segments", "4", "--size", "32", "--num-classes", "5",
            "--backend", "trtexec", "--device", "jetson", "--host", "board", "--ssh-config", str(board["config"]),
            "--remote-dir", board["remote_dir"], "--min-s", "1", "--min-iters", "5", "--json"]
    refused = CliRunner().invoke(app, args)
    assert refused.exit_code == 1
    (row,) = json.loads(refused.stdout)["results"]
    assert row["status"] == "error" and "disagrees with torch" in row["error"]
    assert not any(any(a.startswith("--exportTimes=") for a in c) for c in _calls(board))  # never timed
    allowed = CliRunner().invoke(app, [*args, "--allow-mismatch"])
    (row,) = json.loads(allowed.stdout)["results"]
    assert row["status"] == "ok" and row["parity"]["ok"] is False


def test_unreachable_board_is_an_error_row(board):
    args = ["latency", "tsm_resnet_tiny", "--segments", "4", "--size", "32", "--num-classes", "5",
            "--backend", "trtexec", "--device", "jetson", "--host", "nobody-here@board", "--ssh-config", str(board["config"]),
            "--remote-dir", board["remote_dir"], "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1
    (row,) = json.loads(result.stdout)["results"]
    assert row["status"] == "error" and "ssh" in row["error"]


def test_export_engine_on_board_brings_engine_back(board, tmp_path):
    out = tmp_path / "tiny.engine"
    result = CliRunner().invoke(app, ["export", "engine", "tsm_resnet_tiny", "--precision", "int8", "--device", "jetson",
                                      "--host", "board", "--ssh-config", str(board["config"]), "--remote-dir",
                                      board["remote_dir"], "-o", str(out), "--segments", "4", "--size", "32",
                                      "--num-classes", "5", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["tensorrt_version"] == "10.3.0" and doc["output"] == str(out)
    assert out.read_bytes().startswith(b"fake-engine:")
    assert doc["parity"]["ok"] and doc["parity"]["precision"] == "int8"  # the board's engine vs torch
    build = next(c for c in _calls(board) if any(a.startswith("--saveEngine=") for a in c))
    assert "--int8" in build and any("int8" in a for a in build if a.startswith("--onnx="))


def test_on_board_path_without_ssh(tmp_path, monkeypatch):
    """On the Jetson itself (no --host): the same script runs locally; engines go to the engine cache."""
    from tsmbench.paths import home

    fakebin = _board_bin(tmp_path)
    monkeypatch.setenv("PATH", f"{fakebin}:{os.environ['PATH']}")
    args = ["latency", "tsm_resnet_tiny", "--segments", "4", "--size", "32", "--num-classes", "5",
            "--backend", "trtexec", "--device", "jetson", "--precision", "int8", "--min-s", "1", "--min-iters", "5", "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.stdout)["results"]
    assert row["status"] == "ok", row["error"]
    assert row["parity"]["ok"] and row["avg_power_w"] == pytest.approx(7.0)
    engines = list((home() / "engines" / "trtexec").glob("*.engine"))
    assert len(engines) == 1 and "int8" in engines[0].name and "trt10.3.0" in engines[0].name
