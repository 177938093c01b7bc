"""A real terminal for end-to-end panel tests: a private tmux server (fresh socket name per use,
no config file), keys in with send-keys, the screen out with capture-pane."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path
from typing import Callable, Mapping, Sequence

import psutil

TMUX = shutil.which("tmux")


class Tmux:
    def __init__(self, command: str, *, size: tuple[int, int] = (120, 40), env: Mapping[str, str] | None = None,
                 cwd: Path | None = None):
        assert TMUX, "tmux is not installed"
        self.sock = f"swarmtui-test-{os.getpid()}-{uuid.uuid4().hex[:10]}"
        args = [TMUX, "-L", self.sock, "-f", "/dev/null", "new-session", "-d", "-s", "t",
                "-x", str(size[0]), "-y", str(size[1])]
        if cwd is not None:
            args += ["-c", str(cwd)]
        for key, value in (env or {}).items():
            args += ["-e", f"{key}={value}"]
        subprocess.run(args + [command], check=True, timeout=10)
        self.pane_pid = int(self._tmux("display-message", "-p", "-t", "t", "#{pane_pid}").strip())
        self.socket_path = self._tmux("display-message", "-p", "-t", "t", "#{socket_path}").strip()

    def _tmux(self, *args: str) -> str:
        done = subprocess.run([TMUX, "-L", self.sock, *args], capture_output=True, text=True, timeout=10)
        return done.stdout

    def alive(self) -> bool:
        return subprocess.run([TMUX, "-L", self.sock, "has-session", "-t", "t"], capture_output=True,
                              timeout=10).returncode == 0

    def screen(self) -> str:
        return self._tmux("capture-pane", "-p", "-t", "t")

    def keys(self, *keys: str) -> None:
        self._tmux("send-keys", "-t", "t", *keys)

    def type(self, text: str) -> None:
        self._tmux("send-keys", "-t", "t", "-l", text)

    def wait(self, pred: Callable[[str], object], timeout: float = 20.0, what: str = "") -> str:
        """The screen, once pred(screen) is true."""
        end = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < end:
            screen = self.screen()
            if pred(screen):
                return screen
            time.sleep(0.1)
        raise AssertionError(f"timed out ({timeout}s) waiting for {what or pred}; the screen:\n{screen}")

    def wait_for(self, text: str, timeout: float = 20.0) -> str:
        return self.wait(lambda s: text in s, timeout, repr(text))

    def kill_session(self) -> None:
        """What an SSH drop or a closed terminal does to the pane: its tty hangs up (SIGHUP)."""
        self._tmux("kill-session", "-t", "t")

    def close(self) -> None:
        subprocess.run([TMUX, "-L", self.sock, "kill-server"], capture_output=True, timeout=10)
        if self.socket_path.endswith(self.sock):     # a server killed with its session leaves it
            Path(self.socket_path).unlink(missing_ok=True)


def descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []


def wait_dead(procs: Sequence[psutil.Process], timeout: float) -> list[psutil.Process]:
    """The processes still running (same process, not a reused pid) after up to `timeout` s."""
    end = time.monotonic() + timeout
    while True:
        left = [p for p in procs if _running(p)]
        if not left or time.monotonic() >= end:
            return left
        time.sleep(0.05)


def _running(p: psutil.Process) -> bool:
    try:
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False
