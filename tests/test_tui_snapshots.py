"""SVG snapshots of the panel with frozen data (clock, pids, host, paths, time zone).

Plain `def` tests: snap_compare runs its own event loop. Update after an intended change with
`pytest tests/test_tui_snapshots.py --snapshot-update` and look at the SVGs before committing."""

from __future__ import annotations

import time

import pytest

from swarmtui.tui.frozen import needs_you_events, settle, still_app


@pytest.fixture(autouse=True)
def _frozen_environment(monkeypatch):
    # Paths the screens print must not depend on the test's temp dirs; nothing is written there.
    monkeypatch.setenv("SWARMTUI_STATE_DIR", "/home/operator/.local/state/swarmtui")
    monkeypatch.setenv("SWARMTUI_CACHE_DIR", "/home/operator/.cache/swarmtui")
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_main_120x40(snap_compare):
    assert snap_compare(still_app(), terminal_size=(120, 40), run_before=settle)


def test_main_80x24(snap_compare):
    assert snap_compare(still_app(), terminal_size=(80, 24), run_before=settle)


def test_help_screen(snap_compare):
    async def run_before(pilot):
        await settle(pilot)
        await pilot.press("question_mark")
        await pilot.pause()

    assert snap_compare(still_app(), terminal_size=(120, 40), run_before=run_before)


def test_logout_confirmation(snap_compare):
    async def run_before(pilot):
        await settle(pilot)
        await pilot.press("l")
        await pilot.pause()

    assert snap_compare(still_app(), terminal_size=(120, 40), run_before=run_before)


# A state that waits for a person: the whole reason and fix, wrapped, and the key that acts, in
# both layouts (the status line alone cut this text at every width).
def test_needs_you_80x24(snap_compare):
    assert snap_compare(still_app(needs_you_events), terminal_size=(80, 24), run_before=settle)


def test_needs_you_120x40(snap_compare):
    assert snap_compare(still_app(needs_you_events), terminal_size=(120, 40), run_before=settle)
