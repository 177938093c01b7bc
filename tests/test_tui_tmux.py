"""End to end in a real terminal (tmux): `swarmtui demo` as a subprocess, keys typed, the screen
read back; and what a lost terminal (the pane killed: SIGHUP) does to the panel and the node.

Marked `tmux`; .ci/run installs tmux where it is missing, so these run in CI."""

from __future__ import annotations

import os
import shlex
import sys
import time
from pathlib import Path

import psutil
import pytest

from swarmtui.engine.history import HistoryStore
from swarmtui.sim import create_checkout
from swarmtui.sim.config import read_state
from test_sim_support import free_port, kill_leftovers, ours
from tests.tui_tmux import TMUX, Tmux, descendants, wait_dead

REPO = Path(__file__).resolve().parents[1]

pytestmark = [
    pytest.mark.tmux,
    pytest.mark.skipif(TMUX is None, reason="tmux not found on PATH (.ci/run installs it; apt-get install tmux)"),
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux process semantics"),
    pytest.mark.timeout(90),
]


def panel_env() -> dict[str, str]:
    """The test's private swarmtui dirs (conftest), and this checkout's package."""
    env = {k: v for k, v in os.environ.items() if k.startswith("SWARMTUI_") and k.endswith("_DIR")}
    env["PYTHONPATH"] = str(REPO)
    env["COLORTERM"] = "truecolor"
    return env


def node_processes(root: Path) -> list[psutil.Process]:
    """Every process of the simulated node: by the pids the sim recorded, and by checkout path."""
    procs = {p.pid: p for p in ours(root)}
    for key in ("trainer_pid", "dht_pid", "p2pd_pid", "port_holder_pid"):
        pid = read_state(root).get(key)
        if pid and pid not in procs:
            try:
                proc = psutil.Process(pid)
                if str(root.resolve()) in " ".join(proc.cmdline()):
                    procs[pid] = proc
            except psutil.Error:
                pass
    return list(procs.values())


def history_column(screen: str) -> str:
    """The left-hand column from the "Restart history" title down (120 columns: 50 wide)."""
    rows = screen.splitlines()
    start = next(i for i, row in enumerate(rows) if "Restart history" in row[:50])
    return "\n".join(row[:50] for row in rows[start:])


def test_demo_in_tmux_restart_shows_in_history_and_quit_leaves_nothing(tmp_path):
    node = tmp_path / "demo"
    rc_file = tmp_path / "rc"
    py = shlex.quote(sys.executable)
    # The shell that runs the two commands exports COLUMNS/LINES from the pane's size before
    # tmux applied -x/-y (80x24), and the panel (shutil.get_terminal_size) would believe them.
    # On a non-zero status the pane stays a while, so the failure shows what the panel printed.
    # healthy: the demo scenario's own crash restarts at once now, and its toasts (which stack
    # over the process pane for up to 20 s) would race the restart this test makes itself.
    command = (f"unset COLUMNS LINES; {py} -m swarmtui demo --dir {shlex.quote(str(node))} --speed 40 "
               f"--scenario healthy; "
               f"rc=$?; echo $rc > {shlex.quote(str(rc_file))}; [ $rc = 0 ] || sleep 30")
    term = Tmux(command, env=panel_env())
    try:
        titles = ("restarts 24h", "Training progress", "Identity", "Restart history", "Log", "Processes")
        term.wait(lambda s: all(t in s for t in titles), timeout=15, what=f"every pane: {titles}")
        term.wait(lambda s: "launcher (bash)" in s, timeout=40, what="the node in the process pane")
        seen = node_processes(node)
        assert seen, "the node is running but none of its processes was found"

        term.keys("r")
        term.wait_for("Restart the node now?")           # asked: a restart can lose batched rewards
        term.keys("y")
        screen = term.wait(lambda s: "Restart history · " in s and "manual" in history_column(s), timeout=20,
                           what="the manual restart in the history pane")
        assert "restart asked for by you" in history_column(screen)
        # the next run up (between runs nothing runs, and q then quits without asking)
        term.wait(lambda s: ("RUNNING" in s.splitlines()[0] or "LOGIN REQUIRED" in s.splitlines()[0])
                  and "launcher (bash)" in s, timeout=40, what="the restarted node")

        term.keys("q")
        screen = term.wait_for("Quit swarmtui?")
        assert "Stop the node and quit" in screen
        term.keys("s")
        end = time.monotonic() + 20
        while not rc_file.exists() and time.monotonic() < end:
            time.sleep(0.1)
        time.sleep(0.3)
        assert rc_file.exists(), f"the panel did not exit; the screen:\n{term.screen()}"
        assert rc_file.read_text().strip() == "0", f"the panel's status; the screen:\n{term.screen()}"
        assert wait_dead(seen + node_processes(node), 5) == []
        assert ours(node) == []
        assert [r["action"] for r in HistoryStore(node).read()][-1] == "stop"
    finally:
        term.close()
        kill_leftovers(node)


# (A panel started from an interactive bash gets the SIGHUP that bash passes on: the same
# handler as session-leader, without the SIGCONT; tried by hand, left out to keep the set short.)
@pytest.mark.parametrize("how", ["session-leader", "no-sighup"])
def test_a_killed_pane_stops_the_node_fully_and_the_panel_exits(tmp_path, how):
    """SIGHUP (pane killed, SSH dropped): the in-process panel stops the node with the full stop sequence
    (the script's own cleanup runs), nothing asked, and exits; it never hangs or spins.

    session-leader: the panel is the pane's own command (`tmux new swarmtui`, `ssh -t host
    swarmtui`): the kernel sends it SIGHUP and then SIGCONT, and the
    screen's writes start failing with EIO; Textual's driver alone hung there for ever.
    no-sighup: the panel runs under a shell that ignores SIGHUP, so no signal reaches it at all:
    it must notice the terminal is gone by itself (it spun on EOF and kept the node running)."""
    root = create_checkout(tmp_path / "node", "codezero", scenario="healthy", speed=100.0, port=free_port(),
                           login="present")
    # The in-process panel (`swarmtui demo`) is the node's keeper, so it stops the node; the
    # panel on a checkout attaches to a background keeper and only detaches (test_keeper_attach).
    panel_cmd = (f"{shlex.quote(sys.executable)} -m swarmtui demo --dir {shlex.quote(str(root))} "
                 "--scenario healthy --speed 100")
    if how == "session-leader":
        term = Tmux(f"unset COLUMNS LINES; exec {panel_cmd}", env=panel_env(), cwd=tmp_path)
    else:   # the shell stays (a command follows) and ignores the hang-up; the panel gets none
        term = Tmux(f"trap '' HUP; unset COLUMNS LINES; {panel_cmd}; echo done", env=panel_env(), cwd=tmp_path)
    try:
        term.wait(lambda s: "RUNNING" in s and "trainer (python)" in s, timeout=20, what="the node running")
        end = time.monotonic() + 10
        while not read_state(root).get("p2pd_pid") and time.monotonic() < end:
            time.sleep(0.05)
        pane = psutil.Process(term.pane_pid)
        panels = [p for p in [pane, *descendants(term.pane_pid)]
                  if "python" in os.path.basename(p.cmdline()[0]) and "-m swarmtui" in " ".join(p.cmdline())]
        assert len(panels) == 1, panels
        node = node_processes(root)
        assert len(node) >= 4, node                 # bash, login server, trainer, DHT child, p2pd

        started = time.monotonic()
        term.kill_session()
        left = wait_dead(panels + node, 10)
        took = time.monotonic() - started
        assert left == [], f"still running {took:.1f}s after the hang-up: {[(p.pid, p.name()) for p in left]}"
        assert ours(root) == []
        # a full stop, not a kill: recorded, and the script's own exit cleanup ran (SIGINT first)
        last = HistoryStore(root).read()[-1]
        assert (last["action"], last["reason"]) == ("stop", "hangup")      # the terminal went, not a person
        transcript = max((HistoryStore(root).dir / "runs").glob("run-*.log")).read_text(errors="replace")
        assert "Shutting down trainer" in transcript
    finally:
        term.close()
        kill_leftovers(root)


def test_needs_you_shows_its_whole_fix_at_80x24_without_a_key(tmp_path):
    """A run that ends on a taken identity waits for a person: at 80x24 the panel shows the whole
    reason and fix (the status line cut it, the toast went after 20 s), and the key that acts,
    with no key pressed and without the screen being bigger."""
    node = tmp_path / "taken"
    panel_cmd = (f"{shlex.quote(sys.executable)} -m swarmtui demo --dir {shlex.quote(str(node))} "
                 "--scenario identity-taken --speed 100")
    term = Tmux(f"unset COLUMNS LINES; exec {panel_cmd}", size=(80, 24), env=panel_env(), cwd=tmp_path)
    try:
        def box(screen: str) -> str:
            # the box's rows (its left edge is a thick bar), words rejoined across the wraps
            return " ".join(row[1:].strip() for row in screen.splitlines() if row.startswith("█"))

        # Toasts stack up from the bottom right and cover the box's right half at 80 columns
        # for their 10 s; the box stays, so its end shows once they go, with no key. (Textual
        # left expired toasts drawn until something repainted their rows: this waited for ever.)
        screen = term.wait(lambda s: "Never delete the pem (hivemind PR #511)" in box(s) and "s: try again now" in box(s),
                           timeout=30, what="the needs-you box with the whole hint and its key")
        assert "NEEDS YOU" in screen.splitlines()[0]
        assert "so another node" in box(screen)        # the words the status line used to cut
    finally:
        term.close()
        kill_leftovers(node)
