"""A fleet end to end, with real processes: three simulated nodes from one fleet file, two on
this host (different login ports, each its own keeper) and one reached over a real OpenSSH
server on loopback (tests/sshd.py). The overview (FleetApp under Pilot) shows all three; an OOM
in one restarts that one only; stopping a marked set stops exactly those. Each local keeper's
/metrics carries the fleet name as `node` and shows the restart within one scrape."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from swarmtui import paths
from swarmtui.engine.fleet_file import load_fleet
from swarmtui.engine.history import HistoryStore
from swarmtui.sim import create_checkout
from test_sim_support import free_port, kill_leftovers
from test_supervise_cli import FAST
from tests.sshd import sshd  # noqa: F401  (the fixture)

pytest.importorskip("prometheus_client")
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SCRAPE_INTERVAL = 5.0

pytestmark = [pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux process semantics"),
              pytest.mark.timeout(240), pytest.mark.slow]


def scrape(port: int) -> dict[tuple[str, tuple], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for f in text_string_to_metric_families(text) for s in f.samples}


def cli(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "swarmtui", *args], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO), **env}, timeout=120)


@pytest.fixture
def three(tmp_path, sshd):  # noqa: F811
    roots = {
        "gpu0": create_checkout(tmp_path / "rl-swarm-0", "codezero", scenario="healthy", speed=1000.0, login="present"),
        "gpu1": create_checkout(tmp_path / "rl-swarm-1", "codezero", scenario="oom-killed,healthy", speed=1000.0,
                                login="present"),
        "box2": create_checkout(tmp_path / "remote" / "rl-swarm", "codezero", scenario="healthy", speed=1000.0,
                                port=free_port(), login="present"),
    }
    ports = {"gpu0": free_port(), "gpu1": free_port()}
    metrics = {"gpu0": free_port(), "gpu1": free_port()}
    # The base config for every keeper, the remote one too (its session shares our config dir).
    (Path(os.environ["SWARMTUI_CONFIG_DIR"]) / "config.toml").write_text(FAST)
    path = tmp_path / "fleet.toml"
    path.write_text("".join(
        f'[[node]]\nname = "{n}"\ndir = "{roots[n]}"\nlogin_port = {ports[n]}\nenv = {{ CUDA_VISIBLE_DEVICES = "{i}" }}\n'
        f'config = {{ metrics = {{ listen = "127.0.0.1:{metrics[n]}" }} }}\n' for i, n in enumerate(("gpu0", "gpu1")))
        + f'[[node]]\nname = "box2"\nhost = "{sshd.host}"\ndir = "{roots["box2"]}"\n'
          f'remote_command = "{sshd.remote_command}"\n')
    env = {"SWARMTUI_SSH": sshd.env_ssh()}
    yield path, roots, metrics, env
    for root in roots.values():
        kill_leftovers(root)


def test_three_nodes_one_overview_an_oom_restarts_one_and_a_marked_stop_stops_those(three, monkeypatch):
    path, roots, metrics, env = three
    started = cli("fleet", "start", "--fleet", str(path), env=env)
    assert started.returncode == 0, started.stdout + started.stderr
    lines = started.stdout.splitlines()
    assert [ln.split(":")[0] for ln in lines] == ["gpu0", "gpu1", "box2"], lines
    # Each local keeper got its name, its environment and its port; the remote one its name.
    for name in ("gpu0", "gpu1", "box2"):
        state = json.loads((paths.node_state_dir(roots[name]) / "keeper.json").read_text())
        assert state["name"] == name and state["checkout"] == str(roots[name].resolve())

    monkeypatch.setenv("SWARMTUI_SSH", env["SWARMTUI_SSH"])
    fleet = load_fleet(str(path))
    asyncio.run(_overview(fleet, roots, metrics))

    listed = cli("ls", "--fleet", str(path), "--json", env=env)
    rows = {r["name"]: r for r in map(json.loads, listed.stdout.splitlines())}
    assert {n: r["state"] for n, r in rows.items()} == {"gpu0": "running", "gpu1": "running", "box2": "stopped"}, rows


async def _overview(fleet, roots, metrics) -> None:
    from swarmtui.tui.fleet_app import FleetApp

    app = FleetApp(fleet, backoff_cap=2.0)
    async with app.run_test(size=(160, 30)) as pilot:
        async def until(pred, what: str, timeout: float = 60.0) -> None:
            end = time.monotonic() + timeout
            while time.monotonic() < end:
                if pred():
                    return
                await pilot.pause(0.1)
            raise AssertionError(f"no {what} within {timeout}s: {[r.to_dict() for r in app.sorted_rows()]}")

        rows = app.rows
        await until(lambda: all(r.state == "running" and r.round is not None for r in rows.values()),
                    "three running nodes with rounds")
        assert {r.host for r in rows.values()} == {"local", fleet.nodes[2].host}
        assert all(r.animal for r in rows.values())
        # The OOM in gpu1 (its first run) restarted gpu1, and nothing else.
        await until(lambda: rows["gpu1"].restarts_24h == 1 and rows["gpu1"].state == "running", "gpu1's restart")
        assert rows["gpu1"].last_reason == "oom-killed"
        assert rows["gpu0"].restarts_24h == 0 and rows["box2"].restarts_24h == 0
        for name in ("gpu0", "box2"):
            assert not [r for r in HistoryStore(roots[name]).read() if r.get("action") == "restart"], name
        # One scrape after the restart shows it, under the fleet name.
        m1 = scrape(metrics["gpu1"])
        assert m1.get(("swarmtui_restarts_total", (("node", "gpu1"), ("reason", "oom-killed")))) == 1, m1
        assert m1[("swarmtui_node_up", (("node", "gpu1"),))] == 1
        m0 = scrape(metrics["gpu0"])
        assert not [k for k in m0 if k[0] == "swarmtui_restarts_total"], m0
        assert m0[("swarmtui_node_up", (("node", "gpu0"),))] == 1

        # The table shows what the rows hold: every node, its state, in need-first order.
        table = app.table

        def shown() -> dict[str, str]:
            return {str(table.get_row_at(i)[1]): str(table.get_row_at(i)[3]) for i in range(table.row_count)}

        await until(lambda: shown() == {"gpu0": "running", "gpu1": "running", "box2": "running"},
                    "the table showing the three running", timeout=5)

        # Mark gpu0 and box2, stop them, confirm; gpu1 is left running.
        for name in ("gpu0", "box2"):
            table.move_cursor(row=app.order.index(name))
            await pilot.press("space")
        assert app.marked == {"gpu0", "box2"}
        await pilot.press("s")
        await until(lambda: type(app.screen).__name__ == "ConfirmScreen", "the confirmation")
        asked = app.screen.confirmation          # our ConfirmScreen's own attribute
        text = " ".join((asked.title, *asked.lines))
        assert "gpu0" in text and "box2" in text and "gpu1" not in text
        await pilot.press("y")
        await until(lambda: rows["gpu0"].state == "stopped" and rows["box2"].state == "stopped", "the marked nodes stopped")
        assert rows["gpu1"].state == "running"
        await until(lambda: [str(table.get_row_at(i)[1]) for i in range(table.row_count)][0] == "gpu1",
                    "the running node sorted before the stopped ones", timeout=5)

        # gpu0's keeper ended (`swarmtui stop`): its row says so, and S starts a keeper for it
        # again, with its fleet name.
        ended = await asyncio.create_subprocess_exec(sys.executable, "-m", "swarmtui", "stop", str(roots["gpu0"]),
                                                     env={**os.environ, "PYTHONPATH": str(REPO)},
                                                     stdout=asyncio.subprocess.DEVNULL)
        assert await ended.wait() == 0
        await until(lambda: rows["gpu0"].state == "no-keeper", "gpu0 without a keeper")
        assert "no keeper runs for" in rows["gpu0"].reason
        assert not app.marked
        table.move_cursor(row=app.order.index("gpu0"))
        await pilot.press("S")
        await until(lambda: type(app.screen).__name__ == "ConfirmScreen", "the confirmation")
        assert app.screen.confirmation.title == "Start 1 node: gpu0?"
        await pilot.press("y")
        await until(lambda: rows["gpu0"].state == "running", "gpu0 started again from the overview")
        state = json.loads((paths.node_state_dir(roots["gpu0"]) / "keeper.json").read_text())
        assert state["name"] == "gpu0" and state["ended"] is None
        assert rows["box2"].state == "stopped" and rows["gpu1"].state == "running"
        await pilot.press("q")


@pytest.mark.tmux
def test_enter_opens_the_nodes_panel_and_esc_comes_back_to_the_overview(tmp_path):
    """In a real terminal: the overview, Enter (the node's own panel, attached), Esc (detached at
    once, no question), and the overview again; the node ran throughout."""
    import shlex

    from tests.tui_tmux import TMUX, Tmux

    if TMUX is None:
        pytest.skip("tmux not found")
    root = create_checkout(tmp_path / "rl-swarm-9", "codezero", scenario="healthy", speed=1000.0, port=free_port(),
                           login="present")
    (Path(os.environ["SWARMTUI_CONFIG_DIR"]) / "config.toml").write_text(FAST)
    path = tmp_path / "fleet.toml"
    path.write_text(f'[[node]]\nname = "solo"\ndir = "{root}"\n')
    env = {k: v for k, v in os.environ.items() if k.startswith("SWARMTUI_") and k.endswith("_DIR")}
    try:
        assert cli("fleet", "start", "--fleet", str(path), env={}).returncode == 0
        keeper = json.loads((paths.node_state_dir(root) / "keeper.json").read_text())["pid"]
        term = Tmux(f"unset COLUMNS LINES; {shlex.quote(sys.executable)} -m swarmtui fleet --fleet {shlex.quote(str(path))}",
                    size=(140, 30), env={**env, "PYTHONPATH": str(REPO)})
        try:
            term.wait(lambda s: "solo" in s and "running" in s, 30, "the overview with the node running")
            term.keys("Enter")
            term.wait(lambda s: "Detach" in s and "Training progress" in s, 30, "the node's panel")
            term.keys("Escape")
            term.wait(lambda s: "swarmtui fleet" in s and "solo" in s and "running" in s, 30, "the overview again")
            term.keys("q")
            term.wait(lambda s: not term.alive() or "swarmtui fleet" not in s, 10, "the overview gone")
        finally:
            term.close()
        status = json.loads(cli("ls", "--fleet", str(path), "--json", env={}).stdout)
        assert status["state"] == "running" and status["pid"] == keeper
    finally:
        kill_leftovers(root)
