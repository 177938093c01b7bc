"""Pieces every benchmark needs: a free port, the caller's environment without a run's own
marks, and a private tmux server to watch a panel in. Imported by the benchmark scripts,
which run as `python benchmarks/bench_X.py` (this folder is then first on sys.path)."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop_popen(p: subprocess.Popen | None, sig: int = signal.SIGTERM, timeout: float = 30) -> None:
    """Ask a benchmark's own child (started with start_new_session) to stop; kill its group if it
    does not within `timeout` s."""
    if p is None or p.poll() is not None:
        return
    p.send_signal(sig)
    try:
        p.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)        # its own session (start_new_session): ours
        p.wait(5)


def clean_env() -> dict:
    return {k: v for k, v in os.environ.items() if not k.startswith("SWARMTUI_SIM_") and k != "SWARMTUI_RUN_ID"}


class Tmux:
    """One 120x40 pane on a tmux server of its own (never the user's)."""

    def __init__(self, cmd: str, env: dict[str, str], prefix: str = "bench"):
        self.sock = f"{prefix}{os.getpid()}{random.randint(0, 9999)}"
        args = ["tmux", "-L", self.sock, "-f", "/dev/null", "new-session", "-d", "-s", "b", "-x", "120", "-y", "40"]
        for k, v in env.items():
            args += ["-e", f"{k}={v}"]
        self.started = time.perf_counter()
        subprocess.run(args + [cmd], check=True)
        self.path = subprocess.run(["tmux", "-L", self.sock, "display-message", "-p", "#{socket_path}"],
                                   capture_output=True, text=True).stdout.strip()

    def screen(self) -> str:
        return subprocess.run(["tmux", "-L", self.sock, "capture-pane", "-p", "-t", "b"],
                              capture_output=True, text=True).stdout

    def wait_for(self, text: str, timeout: float) -> float | None:
        deadline = time.perf_counter() + timeout
        t0 = time.perf_counter()
        while time.perf_counter() < deadline:
            if text in self.screen():
                return time.perf_counter() - t0
            time.sleep(0.005)
        return None

    def keys(self, *keys: str) -> None:
        subprocess.run(["tmux", "-L", self.sock, "send-keys", "-t", "b", *keys], capture_output=True)

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.sock, "kill-server"], capture_output=True)
        if self.path.endswith(self.sock):     # do not leave one stale socket per run behind
            Path(self.path).unlink(missing_ok=True)
