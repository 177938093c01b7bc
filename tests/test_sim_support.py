"""Running a simulated node for the sim tests: on a pty or on pipes, always cleaned up by pid."""

from __future__ import annotations

import fcntl
import json
import os
import re
import select
import signal
import socket
import struct
import subprocess
import termios
import threading
import time
from pathlib import Path

import psutil

ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def strip(text: str) -> str:
    return ANSI.sub("", text)


def node_env(root: Path, **extra: str) -> dict:
    env = dict(os.environ)
    for key in ("SWARMTUI_SIM_SCENARIO", "SWARMTUI_SIM_SPEED", "SWARMTUI_SIM_PORT", "IDENTITY_PATH", "HF_TOKEN"):
        env.pop(key, None)
    env["PATH"] = f"{root / '.venv' / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env.update(extra)
    return env


class _Collector:
    def __init__(self, fd: int):
        self.fd = fd
        self.chunks: list[bytes] = []
        self.lock = threading.Lock()
        self.done = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        while True:
            try:
                r, _, _ = select.select([self.fd], [], [], 0.2)
                if not r:
                    continue
                data = os.read(self.fd, 65536)
            except OSError:
                break
            if not data:
                break
            with self.lock:
                self.chunks.append(data)
        self.done.set()

    @property
    def raw(self) -> str:
        with self.lock:
            return b"".join(self.chunks).decode("utf-8", "replace")

    @property
    def nbytes(self) -> int:
        with self.lock:
            return sum(len(c) for c in self.chunks)


class Node:
    """`bash run_rl_swarm.sh` in its own session, as the engine launches it."""

    def __init__(self, root: Path, *, pty: bool = True, stdin: bytes | None = None, argv=None, **env: str):
        self.root = Path(root)
        self.pty = pty
        argv = argv or ["bash", "run_rl_swarm.sh"]
        if pty:
            master, slave = os.openpty()
            fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 200, 0, 0))
            self.proc = subprocess.Popen(argv, cwd=self.root, env=node_env(self.root, **env), stdin=slave,
                                         stdout=slave, stderr=slave, start_new_session=True, close_fds=True)
            os.close(slave)
            self.master = master
            self.out = _Collector(master)
            self.err = None
        else:
            self.proc = subprocess.Popen(argv, cwd=self.root, env=node_env(self.root, **env),
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                         start_new_session=True)
            if stdin is not None:
                self.proc.stdin.write(stdin)
            self.proc.stdin.close()
            self.master = None
            self.out = _Collector(self.proc.stdout.fileno())
            self.err = _Collector(self.proc.stderr.fileno())
        self.pgid = self.proc.pid

    # -- reading ----------------------------------------------------------------------------------

    @property
    def stdout(self) -> str:
        return self.out.raw

    @property
    def stderr(self) -> str:
        return self.err.raw if self.err else ""

    @property
    def text(self) -> str:
        return strip(self.stdout + self.stderr)

    def wait_for(self, pattern: str, timeout: float = 20.0, where: str = "text") -> re.Match:
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            hay = strip(getattr(self, where)) if where != "text" else self.text
            m = rx.search(hay)
            if m:
                return m
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {pattern!r}; last output:\n{self.text[-3000:]}")

    def send(self, text: str) -> None:
        os.write(self.master, text.encode())

    def wait_exit(self, timeout: float = 20.0) -> int:
        code = self.proc.wait(timeout)
        self.out.done.wait(5)
        if self.err:
            self.err.done.wait(5)
        return code

    # -- cleaning up ------------------------------------------------------------------------------

    def state(self) -> dict:
        try:
            return json.loads((self.root / ".swarmtui-sim-state.json").read_text())
        except (OSError, ValueError):
            return {}

    def kill_all(self) -> None:
        """SIGKILL our group, then every process proven ours: recorded pids and anything whose
        command line or working folder is inside this test's private checkout."""
        try:
            os.killpg(self.pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        kill_leftovers(self.root)
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            pass
        if self.master is not None:
            try:
                os.close(self.master)
            except OSError:
                pass


def ours(root: Path) -> list[psutil.Process]:
    root_s = str(Path(root).resolve())
    found = []
    for proc in psutil.process_iter(["pid", "cmdline", "cwd"]):
        try:
            cmd = " ".join(proc.info["cmdline"] or [])
            cwd = proc.info["cwd"] or ""
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        if proc.pid != os.getpid() and (root_s in cmd or cwd.startswith(root_s)):
            found.append(proc)
    return found


def kill_leftovers(root: Path) -> None:
    state = {}
    try:
        state = json.loads((Path(root) / ".swarmtui-sim-state.json").read_text())
    except (OSError, ValueError):
        pass
    pids = {state.get("port_holder_pid"), state.get("p2pd_pid"), state.get("dht_pid"), state.get("trainer_pid")}
    procs = ours(root)
    for pid in pids:
        if pid:
            try:
                p = psutil.Process(pid)
                if p not in procs and str(Path(root).resolve()) in " ".join(p.cmdline()):
                    procs.append(p)
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                pass
    for p in procs:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(procs, timeout=5)
