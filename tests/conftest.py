"""Shared test set-up: every test gets private swarmtui state, config and cache folders."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True)
def _isolated_swarmtui_dirs(tmp_path_factory, monkeypatch):
    base = tmp_path_factory.mktemp("swarmtui-home")
    for name in ("STATE", "CONFIG", "CACHE"):
        path = base / name.lower()
        path.mkdir()
        monkeypatch.setenv(f"SWARMTUI_{name}_DIR", str(path))
    # Snapshots and colours must not depend on the caller's preferences.
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("TEXTUAL_THEME", raising=False)
    yield base
