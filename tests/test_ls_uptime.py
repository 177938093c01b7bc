"""`swarmtui ls` and `swarmtui ls --fleet` show the node's uptime, not its keeper's: a node that
was stopped (its keeper stays) shows "-" (it showed the keeper's "59s"). A real keeper running a
simulated node; the fleet's own stop."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from swarmtui.sim import create_checkout
from test_keeper_attach import wait_status
from test_sim_support import free_port, kill_leftovers
from test_supervise_cli import FAST

REPO = Path(__file__).resolve().parents[1]

pytestmark = [pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux process semantics"),
              pytest.mark.timeout(120), pytest.mark.slow]


def cli(*args: str):
    import subprocess

    return subprocess.run([sys.executable, "-m", "swarmtui", *args], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=60)


def uptime_cell(table: str, key: str) -> str:
    lines = table.splitlines()
    start = lines[0].index("UPTIME")
    row = next(ln for ln in lines[1:] if key in ln)
    return row[start:].split()[0]


def test_a_stopped_node_shows_no_uptime(tmp_path):
    root = create_checkout(tmp_path / "rl-swarm-0", "codezero", scenario="healthy", speed=1000.0, port=free_port(),
                           login="present")
    (Path(os.environ["SWARMTUI_CONFIG_DIR"]) / "config.toml").write_text(FAST)
    fleet = tmp_path / "fleet.toml"
    fleet.write_text(f'[[node]]\nname = "solo"\ndir = "{root}"\n')
    try:
        started = cli("fleet", "start", "--fleet", str(fleet))
        assert started.returncode == 0, started.stdout + started.stderr
        wait_status(root, lambda st: st["state"] == "running")
        running = json.loads(cli("ls", "--fleet", str(fleet), "--json").stdout)
        # The node's run, no older than its keeper.
        assert running["uptime_s"] is not None and running["uptime_s"] <= running["keeper_uptime_s"], running
        stopped = cli("fleet", "stop", "--fleet", str(fleet), "solo")
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr
        st = wait_status(root, lambda st: st["state"] == "stopped")
        assert st["uptime_s"] is None and st["keeper_uptime_s"] > 0, st

        listed = cli("ls", "--fleet", str(fleet))
        assert listed.returncode == 0, listed.stderr
        assert uptime_cell(listed.stdout, "solo") == "-", listed.stdout
        plain = cli("ls")
        assert uptime_cell(plain.stdout, str(root)) == "-", plain.stdout
        assert "stopped" in plain.stdout
    finally:
        kill_leftovers(root)
