"""The overview's rows: a recorded keeper stream folded into a row (pure), the order that puts
the nodes needing a person first, and a watcher's one-line reasons for a remote node over a real
sshd (host down, no swarmtui there, no keeper) and its reconnect once a keeper is there."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

import pytest

from swarmtui.engine import events as ev
from swarmtui.engine import wire
from swarmtui.engine.fleet_file import FleetNode
from swarmtui.engine.fleet_watch import (_LINES_PREFIX, NO_KEEPER, UNREACHABLE, NodeRow, NodeWatcher, RowReducer,
                                         cuda_indices)
from tests.sshd import sshd  # noqa: F401  (the fixture)

REPO = Path(__file__).resolve().parents[1]


def test_a_keeper_stream_folds_into_the_row_the_overview_shows():
    now = [1000.0]
    row = NodeRow("gpu1", "local")
    r = RowReducer(row, gpus=cuda_indices({"CUDA_VISIBLE_DEVICES": "1"}), wall=lambda: now[0])
    stream = [
        ev.HistoryLoaded(records=[
            {"action": "restart", "reason": "oom-killed", "time": "2000-01-01T00:00:00Z"},      # long ago
            {"action": "restart", "reason": "hang", "time": ev.utc_now_iso()},
            {"action": "stop", "reason": "manual", "time": ev.utc_now_iso()}]),
        ev.IdentityChanged(report={"animal_name": "placid wily snake", "peer_id": "Qm..."}),
        ev.StateChanged(state=ev.RUNNING, detail="run 3"),
        ev.ProgressUpdate(round=1202, rounds_completed=4, since_progress_s=30.0),
        ev.ProcessSnapshot(procs=[ev.ProcInfo(1, 0, "bash", "bash run_rl_swarm.sh", "launcher", cpu_percent=1.0,
                                              rss=10, age_s=600.0),
                                  ev.ProcInfo(2, 1, "python", "python -m x", "trainer", cpu_percent=99.0, rss=90),
                                  ev.ProcInfo(3, 1, "node", "next", "other", cpu_percent=50.0, rss=5, ours=False)]),
        ev.HostStats(gpus=[{"index": 0, "mem_used": 5 << 30}, {"index": 1, "mem_used": 7 << 30}]),
    ]
    assert all(r.apply(e) for e in stream)
    assert not r.apply(ev.LinesOut(lines=[]))           # log lines change no row
    # "run 3" is no reason: a running node's WHY is empty (the other states say theirs).
    assert (row.state, row.detail, row.why()) == ("running", "run 3", "")
    assert (row.restarts_24h, row.last_reason, row.animal) == (1, "hang", "placid wily snake")
    assert (row.round, row.rounds_completed, row.round_age_s(now[0])) == (1202, 4, 30.0)
    assert (row.cpu_percent, row.rss, row.gpu_mem) == (100.0, 100, 7 << 30)
    assert row.uptime_s(now[0] + 5) == 605.0
    now[0] += 60
    r.apply(ev.ProgressUpdate(round=1202, rounds_completed=4, since_progress_s=90.0))
    assert row.round_age_s(now[0]) == 90.0             # the same round: its age goes on
    r.apply(ev.ProgressUpdate(round=1203, rounds_completed=5, since_progress_s=0.0))
    assert row.round_age_s(now[0] + 2) == 2.0
    r.apply(ev.StateChanged(state=ev.NEEDS_USER, reason="oom-killed", detail="budget used up"))
    assert row.needs_person and row.why() == "oom-killed: budget used up" and row.uptime_s() is None


def test_the_nodes_that_need_a_person_come_first_then_file_order():
    rows = [NodeRow(n, "local", order=i, state=s) for i, (n, s) in enumerate(
        [("a", "running"), ("b", "stopped"), ("c", "needs-user"), ("d", UNREACHABLE), ("e", "backoff"),
         ("f", NO_KEEPER), ("g", "login-required"), ("h", "running")])]
    assert [r.name for r in sorted(rows, key=NodeRow.sort_key)] == ["c", "g", "d", "e", "f", "a", "h", "b"]


def test_log_line_events_are_recognised_without_decoding():
    assert wire.encode("event", e=ev.LinesOut(lines=[]).to_dict()).startswith(_LINES_PREFIX)
    assert not wire.encode("event", e=ev.StateChanged(state="running").to_dict()).startswith(_LINES_PREFIX)


async def _watch(node: FleetNode, until, timeout: float = 30.0) -> NodeWatcher:
    w = NodeWatcher(node, 0, lambda row: None, backoff_first=0.2, backoff_cap=0.5, connect_timeout=5)
    w.start()
    try:
        end = time.monotonic() + timeout
        while time.monotonic() < end and not until(w.row):
            await asyncio.sleep(0.05)
        return w
    finally:
        await w.stop()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux process semantics")
@pytest.mark.timeout(120)
@pytest.mark.slow
def test_a_remote_row_says_why_in_one_line_and_comes_up_when_its_keeper_does(sshd, tmp_path, monkeypatch):  # noqa: F811
    from swarmtui.sim import create_checkout
    from test_sim_support import free_port, kill_leftovers
    from test_supervise_cli import FAST

    monkeypatch.setenv("SWARMTUI_SSH", sshd.env_ssh())
    root = create_checkout(tmp_path / "far", "codezero", scenario="healthy", speed=1000.0, port=free_port(),
                           login="present")
    (Path(os.environ["SWARMTUI_CONFIG_DIR"]) / "config.toml").write_text(FAST)
    cases = [
        (FleetNode("down", str(root), host=sshd.down_host, remote_command=sshd.remote_command), UNREACHABLE,
         "ssh: connect to host 127.0.0.1 port"),
        (FleetNode("bare", str(root), host=sshd.host, remote_command="/nonexistent/swarmtui"), UNREACHABLE,
         "swarmtui is not installed on"),
        (FleetNode("idle", str(root), host=sshd.host, remote_command=sshd.remote_command), NO_KEEPER,
         f"no keeper runs for {root} on {sshd.host}"),
    ]
    for node, state, words in cases:
        w = asyncio.run(_watch(node, lambda row: row.state not in ("connecting",)))
        assert w.row.state == state and words in w.row.reason, (node.name, w.row.to_dict())
        assert "\n" not in w.row.reason
    # A keeper appears: the same watcher, backing off, finds it and shows the node running.
    node = cases[2][0]

    async def comes_up() -> NodeWatcher:
        w = NodeWatcher(node, 0, lambda row: None, backoff_first=0.2, backoff_cap=0.5, connect_timeout=5)
        w.start()
        try:
            end = time.monotonic() + 20
            while time.monotonic() < end and w.row.state != NO_KEEPER:
                await asyncio.sleep(0.05)
            assert w.row.state == NO_KEEPER
            p = await asyncio.create_subprocess_exec(sys.executable, "-m", "swarmtui", "start", str(root),
                                                     env={**os.environ, "PYTHONPATH": str(REPO)},
                                                     stdout=asyncio.subprocess.DEVNULL)
            assert await p.wait() == 0
            end = time.monotonic() + 40
            while time.monotonic() < end and not (w.row.state == "running" and w.row.round is not None):
                await asyncio.sleep(0.05)
            return w
        finally:
            await w.stop()

    try:
        w = asyncio.run(comes_up())
        assert w.row.state == "running" and w.row.keeper_pid and w.row.round is not None, w.row.to_dict()
        assert w.attempts >= 2
    finally:
        kill_leftovers(root)


def test_the_overview_shows_node_text_sanitized_and_never_as_markup():
    from swarmtui.tui.fleet_app import row_cells

    row = NodeRow("gpu0", "evil\x1b]52;c;AAAA\x07@host", state=ev.NEEDS_USER,
                  reason="[bold]oom[/bold]\x1b[2J", detail="line\r\nbreak\u202e")
    cells = row_cells(row, True, time.time())
    shown = " ".join(c.plain for c in cells)
    assert "\x1b" not in shown and "\x07" not in shown and "\r" not in shown and "\u202e" not in shown
    assert "[bold]oom[/bold]" in shown          # Text, not markup: the brackets show as written
    assert cells[0].plain == "*"


def test_enter_asks_for_the_nodes_panel_and_keeps_the_marks(tmp_path):
    """Without keepers: every row says why, Enter ends the overview with the node to open."""
    from swarmtui.engine.fleet_file import load_fleet
    from swarmtui.tui.fleet_app import FleetApp

    path = tmp_path / "fleet.toml"
    path.write_text("".join(f"[[node]]\nname = 'n{i}'\ndir = '{tmp_path / f'd{i}'}'\n" for i in range(3)))

    async def go():
        app = FleetApp(load_fleet(str(path)))
        async with app.run_test(size=(120, 20)) as pilot:
            end = time.monotonic() + 10
            while time.monotonic() < end and any(r.state != NO_KEEPER for r in app.rows.values()):
                await pilot.pause(0.05)
            assert all(r.state == NO_KEEPER and "no keeper runs for" in r.reason for r in app.rows.values())
            await pilot.press("space", "space")
            assert app.marked == {"n0", "n1"}
            await pilot.press("u")
            assert app.marked == set()
            await pilot.press("space", "up", "enter")       # marks n2 (the last row), opens n1
        return app.return_value

    assert asyncio.run(go()) == ("open", "n1", ["n2"])
