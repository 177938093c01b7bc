"""Shared test set-up: every test gets private swarmtui state, config, cache and runtime (socket)
folders, and no background keeper a test started outlives it."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _isolated_swarmtui_dirs(tmp_path_factory, monkeypatch):
    base = tmp_path_factory.mktemp("swarmtui-home")
    for name in ("STATE", "CONFIG", "CACHE", "RUNTIME"):
        path = base / name.lower()
        path.mkdir(mode=0o700)
        monkeypatch.setenv(f"SWARMTUI_{name}_DIR", str(path))
    # Snapshots and colours must not depend on the caller's preferences.
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("TEXTUAL_THEME", raising=False)
    yield base
    _stop_keepers(base / "state")


def _stop_keepers(state: Path) -> None:
    """A keeper this test started (`swarmtui start`, the panel) and left running: stop it the way
    `swarmtui stop` would, by SIGTERM (its full stop sequence), then make sure."""
    import psutil

    pids = []
    for path in state.glob("nodes/*/keeper.json"):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if data.get("ended"):
            continue
        try:
            proc = psutil.Process(int(data["pid"]))
            if abs(proc.create_time() - float(data.get("start") or 0)) < 1 and proc.pid != os.getpid():
                pids.append(proc)
        except (psutil.Error, KeyError, ValueError, TypeError):
            continue
    for proc in pids:
        try:
            proc.send_signal(signal.SIGTERM)
        except psutil.Error:
            pass
    _, alive = psutil.wait_procs(pids, timeout=30)
    for proc in alive:
        try:
            proc.kill()
        except psutil.Error:
            pass
    if pids:
        time.sleep(0.2)
