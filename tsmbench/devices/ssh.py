"""Run commands on a board over the system ssh/scp, so the user's ssh config, keys and agent apply.

Every call passes `-o BatchMode=yes` (never prompt: fail with a message instead of hanging on a
password prompt), and `-F CONFIG` when a config file is given.
"""
from __future__ import annotations

import shlex
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from tsmbench.errors import BackendUnavailableError, TsmbenchError, UsageError


class RemoteError(TsmbenchError):
    """A command on the remote board failed."""


@dataclass(frozen=True)
class SshHost:
    """`USER@BOARD` (or an alias from the ssh config), reached with the system ssh and scp."""

    target: str
    config: str | None = None
    port: int | None = None
    options: tuple[str, ...] = field(default_factory=tuple)
    connect_timeout_s: int = 10

    def __post_init__(self) -> None:
        if not self.target or self.target.startswith("-") or any(c.isspace() for c in self.target):
            raise UsageError(f"--host must look like USER@BOARD or an ssh alias, got {self.target!r}")

    def _common(self) -> list[str]:
        args = ["-o", "BatchMode=yes", "-o", f"ConnectTimeout={self.connect_timeout_s}"]
        if self.config:
            args = ["-F", str(self.config), *args]
        for opt in self.options:
            args += ["-o", opt]
        return args

    def ssh_command(self, command: str) -> list[str]:
        ssh = shutil.which("ssh")
        if ssh is None:
            raise BackendUnavailableError("ssh not found: install openssh-client to benchmark a remote board")
        port = ["-p", str(self.port)] if self.port else []
        return [ssh, *self._common(), *port, self.target, command]

    def run(self, command: str, *, check: bool = True, timeout: float | None = 600) -> subprocess.CompletedProcess[str]:
        """Run a shell command line on the board; RemoteError on a non-zero exit when `check`."""
        try:
            proc = subprocess.run(self.ssh_command(command), capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            raise RemoteError(f"ssh {self.target}: `{command[:80]}` did not finish in {timeout} s") from None
        if proc.returncode == 255:
            raise RemoteError(
                f"ssh {self.target} failed: {proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else 'exit 255'}; "
                "check that `ssh -o BatchMode=yes HOST true` works (keys, host key, ssh config)"
            )
        if check and proc.returncode != 0:
            last = (proc.stderr.strip() or proc.stdout.strip()).splitlines()[-1:] or [""]
            raise RemoteError(f"on {self.target}: `{command[:80]}` exited with {proc.returncode}: {last[0][:300]}")
        return proc

    def _scp(self, src: str, dst: str, timeout: float) -> None:
        scp = shutil.which("scp")
        if scp is None:
            raise BackendUnavailableError("scp not found: install openssh-client to benchmark a remote board")
        port = ["-P", str(self.port)] if self.port else []
        try:
            proc = subprocess.run([scp, "-q", *self._common(), *port, src, dst], capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            raise RemoteError(f"scp {src} -> {dst} did not finish in {timeout} s") from None
        if proc.returncode != 0:
            raise RemoteError(f"scp {src} -> {dst} failed: {proc.stderr.strip()[:300]}")

    def put(self, local: str | Path, remote: str, *, timeout: float = 600) -> None:
        self._scp(str(local), f"{self.target}:{remote}", timeout)

    def get(self, remote: str, local: str | Path, *, timeout: float = 600) -> None:
        self._scp(f"{self.target}:{remote}", str(local), timeout)


def quote(s: str) -> str:
    return shlex.quote(s)
