"""`swarmtui supervise` as a real process: its output, its signals, its one-line errors."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time

import pytest

from swarmtui.sim import create_checkout
from test_sim_support import free_port, kill_leftovers, ours

pytestmark = [pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux process semantics"),
              pytest.mark.timeout(90)]

FAST = """\
[restart]
stop_timeout = "2s"
term_timeout = "2s"
backoff_initial = "1s"
warn_repeat = 10000
[watch]
min_free_disk_mb = 1
snapshot_interval = "1s"
[login]
keep_login = true
"""


def env() -> dict:
    e = {k: v for k, v in os.environ.items() if not k.startswith("SWARMTUI_SIM_") and k != "SWARMTUI_RUN_ID"}
    e["PYTHONUNBUFFERED"] = "1"
    return e


def supervise(*args: str, cwd=None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "swarmtui", "supervise", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env(), cwd=cwd, start_new_session=True)


def run_once(*args: str, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "swarmtui", "supervise", *args], capture_output=True, text=True,
                          env=env(), timeout=timeout)


class Reader:
    """Reads the JSON lines of a running `supervise --json` without blocking forever."""

    def __init__(self, proc: subprocess.Popen):
        self.proc = proc
        self.events: list[dict] = []
        self._buf = b""

    def pump(self, timeout: float) -> None:
        r, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not r:
            return
        data = os.read(self.proc.stdout.fileno(), 65536)
        if not data:
            time.sleep(timeout)
            return
        self._buf += data
        *lines, self._buf = self._buf.split(b"\n")
        for line in lines:
            if line.strip():
                self.events.append(json.loads(line))

    def wait(self, pred, timeout: float = 30.0, what: str = "") -> dict:
        end = time.monotonic() + timeout
        seen = 0
        while time.monotonic() < end:
            for e in self.events[seen:]:
                if pred(e):
                    return e
            seen = len(self.events)
            self.pump(0.1)
        raise AssertionError(f"no {what} in {[(e['event'], e.get('state')) for e in self.events][-20:]}")

    def drain(self, timeout: float = 30.0) -> int:
        end = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < end:
            self.pump(0.1)
        rc = self.proc.wait(max(0.1, end - time.monotonic()))
        while True:
            data = self.proc.stdout.read()
            if not data:
                break
            self._buf += data
        for line in self._buf.split(b"\n"):
            if line.strip():
                self.events.append(json.loads(line))
        self._buf = b""
        return rc


@pytest.fixture
def node(tmp_path):
    root = create_checkout(tmp_path / "node", "codezero", scenario="healthy", speed=1000.0, port=free_port(),
                           login="present")
    cfg = tmp_path / "config.toml"
    cfg.write_text(FAST)
    procs: list[subprocess.Popen] = []
    yield root, cfg, procs
    for p in procs:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    kill_leftovers(root)


def state(name):
    return lambda e: e["event"] == "state" and e["state"] == name


def test_signals_hup_ignored_usr1_restarts_term_stops_cleanly(node):
    root, cfg, procs = node
    p = supervise(str(root), "--config", str(cfg), "--json")
    procs.append(p)
    r = Reader(p)
    r.wait(state("running"), what="running")
    assert all("ts" in e and e["ts"].endswith("Z") for e in r.events)
    assert not any(e["event"] == "lines" for e in r.events), "lines without --lines"

    p.send_signal(signal.SIGHUP)
    r.wait(lambda e: e["event"] == "supervise" and "SIGHUP ignored" in e["text"], what="the SIGHUP note")
    time.sleep(0.5)
    r.pump(0.1)
    assert p.poll() is None and not any(e["event"] == "state" and e["state"] == "stopping" for e in r.events)
    assert ours(root), "the node stopped on SIGHUP"

    p.send_signal(signal.SIGUSR1)
    restart = r.wait(lambda e: e["event"] == "restart", what="a restart")
    assert restart["reason"] == "manual" and restart["delay_s"] == 0
    history = r.wait(lambda e: e["event"] == "history")
    assert history["record"]["reason"] == "manual"
    r.wait(lambda e: e["event"] == "state" and e["state"] == "running" and e["detail"] == "run 2", what="run 2")

    p.send_signal(signal.SIGTERM)
    rc = r.drain()
    assert rc == 0, p.stderr.read().decode()
    kinds = [e["event"] for e in r.events]
    assert "stop_step" in kinds and r.events[-1]["event"] == "state" and r.events[-1]["state"] == "stopped"
    verify = [e for e in r.events if e["event"] == "stop_step" and e["step"] == "verify"][-1]
    assert verify["remaining"] == 0
    assert ours(root) == []
    assert b"Traceback" not in p.stderr.read()
    # the history command shows what supervise recorded
    out = subprocess.run([sys.executable, "-m", "swarmtui", "history", str(root), "--json"], capture_output=True,
                         text=True, env=env(), timeout=30)
    reasons = [json.loads(line)["reason"] for line in out.stdout.splitlines()]
    assert reasons == ["manual", "signal"] and out.returncode == 0


def test_sigint_in_human_mode_with_lines(node):
    root, cfg, procs = node
    p = supervise(str(root), "--config", str(cfg), "--lines")
    procs.append(p)
    out = b""
    end = time.monotonic() + 30
    while b"Starting round:" not in out and time.monotonic() < end:
        r, _, _ = select.select([p.stdout], [], [], 0.2)
        if r:
            out += os.read(p.stdout.fileno(), 65536)
    assert b" state      running" in out
    p.send_signal(signal.SIGINT)
    rest, err = p.communicate(timeout=30)
    text = (out + rest).decode()
    assert p.returncode == 0, err.decode()
    assert " lines      pty:" in text and "Starting round:" in text          # --lines prints node output
    assert "SIGINT: stopping the node" in text and " state      stopped (signal)" in text
    assert not err and ours(root) == []


def test_plain_directory_is_one_line_and_exit_2(tmp_path):
    out = run_once(str(tmp_path))
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and "not an rl-swarm checkout (run_rl_swarm.sh is missing)" in out.stderr
    assert out.stdout == ""


def test_missing_and_bad_config_name_the_problem(node, tmp_path):
    root, _, _ = node
    out = run_once(str(root), "--config", str(tmp_path / "nope.toml"))
    assert out.returncode == 2 and "config file not found" in out.stderr and out.stderr.count("\n") == 1
    bad = tmp_path / "bad.toml"
    bad.write_text('[restart]\nbackoff_max = "soon"\n')
    out = run_once(str(root), "--config", str(bad))
    assert out.returncode == 2 and out.stderr.count("\n") == 1
    assert "[restart] backoff_max: not a duration: 'soon'" in out.stderr
    bad.write_text('[restart]\nbackoff_maximum = "5m"\n')
    out = run_once(str(root), "--config", str(bad))
    assert out.returncode == 2 and "unknown key 'backoff_maximum'" in out.stderr
    assert ours(root) == []


def test_a_broken_pem_says_what_to_do_without_a_traceback(node):
    root, cfg, procs = node
    (root / "swarm.pem").write_text("this is not a key\n")
    p = supervise(str(root), "--config", str(cfg))
    procs.append(p)
    out = b""
    end = time.monotonic() + 30
    while b"needs-user" not in out and time.monotonic() < end:
        r, _, _ = select.select([p.stdout], [], [], 0.2)
        if r:
            out += os.read(p.stdout.fileno(), 65536)
    p.send_signal(signal.SIGTERM)
    rest, err = p.communicate(timeout=30)
    text = (out + rest).decode()
    assert p.returncode == 0
    assert "cannot start:" in text and "not hivemind's libp2p key" in text
    assert "fix: restore the original swarm.pem from a backup" in text
    assert f"kill -USR1 {p.pid}" in text
    assert b"Traceback" not in err and b"Traceback" not in out + rest
    assert (root / "swarm.pem").read_text() == "this is not a key\n"
