"""One keeper per checkout, and never a stranger's process, with real processes end to end:
a node started by hand, a second swarmtui beside a first, and a keeper killed with -9."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from swarmtui.engine.history import HistoryStore
from swarmtui.sim import create_checkout
from test_sim_scenarios import ANSWERS
from test_sim_support import Node, free_port, kill_leftovers
from test_supervise_cli import FAST, Reader, env, state, supervise
from tests.tui_tmux import TMUX, Tmux

REPO = Path(__file__).resolve().parents[1]

pytestmark = [pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux process semantics"),
              pytest.mark.timeout(180), pytest.mark.slow]


def alive_set(root: Path) -> set[tuple[int, float]]:
    """(pid, create time) of every live process of the node in `root`: the sim records its own
    pids, and the script runs with the checkout as its cwd (test-side bookkeeping only)."""
    root_s = str(root.resolve())
    found = set()
    for p in psutil.process_iter(["pid", "cmdline", "cwd", "status", "create_time"]):
        info = p.info
        if info["status"] == psutil.STATUS_ZOMBIE or p.pid == os.getpid():
            continue
        if root_s in " ".join(info["cmdline"] or []) or (info["cwd"] or "").startswith(root_s):
            found.add((p.pid, info["create_time"]))
    return found


@pytest.fixture
def checkout(tmp_path):
    root = create_checkout(tmp_path / "node", "codezero", scenario="healthy", speed=1000.0, port=free_port(),
                           login="present")
    cfg = tmp_path / "config.toml"
    cfg.write_text(FAST)
    procs: list[subprocess.Popen] = []
    yield root, cfg, procs
    for p in procs:
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait()
    kill_leftovers(root)


def started_by_hand(root: Path) -> tuple[Node, set]:
    node = Node(root, pty=False, stdin=ANSWERS["codezero"])
    node.wait_for(r"Starting round", timeout=40)
    end = time.monotonic() + 10
    procs: set = set()
    while time.monotonic() < end:           # the whole tree: script, login server, trainer, p2pd
        procs = alive_set(root)
        roles = " ".join(" ".join(psutil.Process(pid).cmdline()) for pid, _ in procs if psutil.pid_exists(pid))
        if "p2pd" in roles and "swarm_launcher" in roles and "run_rl_swarm.sh" in roles:
            break
        time.sleep(0.1)
    return node, procs


def test_a_node_started_by_hand_survives_every_way_supervise_can_end(checkout):
    root, cfg, procs = checkout
    node, before = started_by_hand(root)
    try:
        assert len(before) >= 4, before
        for how in ("SIGINT", "SIGTERM", "SIGHUP+kill -9", "SIGTERM twice"):
            p = supervise(str(root), "--config", str(cfg), "--json")
            procs.append(p)
            r = Reader(p)
            st = r.wait(state("needs-user"), what="needs-user")
            assert "already runs outside swarmtui" in st["detail"]
            snap = r.wait(lambda e: e["event"] == "processes" and any(not q["ours"] for q in e["procs"]),
                          what="the node shown as not ours")
            assert not any(q["ours"] for q in snap["procs"]), snap
            assert any(q["conflict"] == "runs this checkout outside swarmtui" for q in snap["procs"])
            if how == "SIGHUP+kill -9":
                p.send_signal(signal.SIGHUP)
                time.sleep(0.5)
                p.kill()
            elif how == "SIGTERM twice":
                p.send_signal(signal.SIGTERM)
                p.send_signal(signal.SIGTERM)
            else:
                p.send_signal(getattr(signal, how))
            r.drain()
            assert not [e for e in r.events if e["event"] in ("orphan_killed", "stop_step")], how
            time.sleep(0.3)
            assert before <= alive_set(root), f"{how}: the hand-started node lost {before - alive_set(root)}"
        assert HistoryStore(root).read() == [] or all(r["reason"] == "keeper-lost" for r in HistoryStore(root).read())
    finally:
        node.kill_all()


@pytest.mark.tmux
@pytest.mark.skipif(TMUX is None, reason="tmux not found")
def test_a_node_started_by_hand_survives_the_panel_q_and_a_lost_terminal(checkout, tmp_path):
    root, cfg, procs = checkout
    node, before = started_by_hand(root)
    py = shlex.quote(sys.executable)
    penv = {k: v for k, v in os.environ.items() if k.startswith("SWARMTUI_") and k.endswith("_DIR")}
    penv["PYTHONPATH"] = str(REPO)
    try:
        for how in ("q", "hangup"):
            term = Tmux(f"unset COLUMNS LINES; {py} -m swarmtui {shlex.quote(str(root))} --config {shlex.quote(str(cfg))}; "
                        "sleep 30", env=penv)
            try:
                screen = term.wait(lambda s: "already runs outside swarmtui" in s or "NEEDS YOU" in s, timeout=30,
                                   what="the panel refusing to start")
                term.wait(lambda s: "outside swarmtui" in s, timeout=15, what="the node shown as not ours")
                if how == "q":
                    term.keys("q")
                    term.wait(lambda s: "Restart history" not in s, timeout=20, what="the panel gone")
                else:
                    term.kill_session()
                time.sleep(1.0)
                assert before <= alive_set(root), f"{how}: the hand-started node lost {before - alive_set(root)}: {screen}"
            finally:
                term.close()
    finally:
        node.kill_all()


@pytest.mark.tmux
@pytest.mark.skipif(TMUX is None, reason="tmux not found")
def test_a_second_swarmtui_on_the_checkout_touches_nothing(checkout):
    """A second supervise is refused in one line; a panel attaches to the first keeper instead of
    starting a second one; neither touches the node."""
    root, cfg, procs = checkout
    first = supervise(str(root), "--config", str(cfg), "--json")
    procs.append(first)
    r = Reader(first)
    r.wait(state("running"), what="running")
    time.sleep(1.0)
    before = alive_set(root)
    assert len(before) >= 4
    # a second supervise: one line, exit 2, nothing signalled
    second = subprocess.run([sys.executable, "-m", "swarmtui", "supervise", str(root), "--config", str(cfg)],
                            capture_output=True, text=True, env=env(), timeout=30)
    assert second.returncode == 2 and second.stdout == ""
    assert second.stderr.count("\n") == 1 and f"already kept by swarmtui supervise (pid {first.pid}" in second.stderr
    assert f"kill {first.pid}" in second.stderr
    # a panel beside it attaches to it (supervise serves the keeper's socket): it shows the node
    # and, quitting, only detaches
    penv = {k: v for k, v in os.environ.items() if k.startswith("SWARMTUI_") and k.endswith("_DIR")}
    penv["PYTHONPATH"] = str(REPO)
    term = Tmux(f"unset COLUMNS LINES; {shlex.quote(sys.executable)} -m swarmtui {shlex.quote(str(root))}; sleep 30",
                env=penv)
    try:
        term.wait(lambda s: "RUNNING" in s and "q Detach" in s, timeout=30, what="the panel attached")
        r.wait(lambda e: e["event"] == "supervise" and "attached" in e["text"], what="the viewer in supervise's output")
        term.keys("q")
        term.wait(lambda s: "Detach, keep it running" in s, timeout=10, what="the quit dialog")
        term.keys("q")
        term.wait(lambda s: "detached: the node keeps running" in s.replace("\n", ""), timeout=15, what="detached")
    finally:
        term.close()
    # the first keeper's node keeps the same processes, and its keeper saw nothing happen to it
    # (a stop or a kill would show within a second or two: the node's processes go, the keeper
    # reports the stop steps and restarts; 8 s leaves room for a loaded machine)
    end = time.monotonic() + 8
    while time.monotonic() < end:
        r.pump(0.2)
        assert before <= alive_set(root), f"lost {before - alive_set(root)}"
    assert not [e for e in r.events if e["event"] in ("orphan_killed", "stop_step", "restart")]
    first.send_signal(signal.SIGTERM)
    assert r.drain() == 0


def test_kill_9_of_the_keeper_is_recorded_by_the_next_and_its_leftovers_swept(checkout, tmp_path):
    root, cfg, procs = checkout
    first = supervise(str(root), "--config", str(cfg), "--json")
    procs.append(first)
    r = Reader(first)
    r.wait(state("running"), what="running")
    time.sleep(1.0)
    left = alive_set(root)
    assert left
    # What survives a keeper's death in the wild: a daemon out of the pty's reach (its own
    # session, SIGHUP ignored), launched by that keeper's run (its marker); and a look-alike p2pd
    # with this checkout's -id= that nobody of ours launched.
    run_id = json.loads(Path(HistoryStore(root).dir / "keeper.json").read_text())["run_id"]
    daemon = [sys.executable, "-c", "import signal, time; signal.signal(signal.SIGHUP, signal.SIG_IGN); time.sleep(120)"]
    leftover = subprocess.Popen(daemon + ["p2pd", f"-id={root}/swarm.pem"], env={**env(), "SWARMTUI_RUN_ID": run_id},
                                start_new_session=True)
    stranger = subprocess.Popen(daemon + ["p2pd", f"-id={root}/swarm.pem"], env=env(), start_new_session=True)
    procs += [leftover, stranger]
    first.kill()
    first.wait()
    second = supervise(str(root), "--config", str(cfg), "--json")
    procs.append(second)
    r2 = Reader(second)
    rec = r2.wait(lambda e: e["event"] == "history" and e["record"]["reason"] == "keeper-lost", what="keeper-lost")
    text = rec["record"]["text"]
    assert f"pid {first.pid}" in text and "ended without stopping run 1" in text and "swept" in text
    swept = {o["pid"]: o["proof"] for o in rec["record"]["orphans_killed"]}
    assert swept.get(leftover.pid) == "marker-earlier-keeper"
    assert stranger.pid not in swept
    r2.wait(state("running"), what="running again")
    assert leftover.wait(5) is not None
    assert stranger.poll() is None, "a look-alike p2pd was killed"
    assert not (left & alive_set(root)), "a process of the dead keeper's node is still there"
    second.send_signal(signal.SIGTERM)
    assert r2.drain() == 0
    reasons = [json.loads(line)["reason"] for line in subprocess.run(
        [sys.executable, "-m", "swarmtui", "history", str(root), "--json"], capture_output=True, text=True,
        env=env(), timeout=30).stdout.splitlines()]
    assert reasons == ["keeper-lost", "signal"]
