"""SVG snapshots of the panel with frozen data (clock, pids, host, paths, time zone).

Plain `def` tests: snap_compare runs its own event loop. Update after an intended change with
`pytest tests/test_tui_snapshots.py --snapshot-update` and look at the SVGs before committing."""

from __future__ import annotations

import time

import pytest

from swarmtui.tui.frozen import backoff_events, busy_events, login_events, needs_you_events, settle, still_app


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


# Every state a person meets, at every size the issue tried (issue 14): RUNNING, NEEDS YOU (its
# whole reason and fix on screen, and the key that acts: the status line alone cut it at every
# width), LOGIN REQUIRED and BACKING OFF, from 60x20 to 200x60.
STATES = {"running": busy_events, "needs_you": needs_you_events, "login_required": login_events,
          "backing_off": backoff_events}
SIZES = ((60, 20), (80, 24), (120, 40), (200, 60))


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
@pytest.mark.parametrize("state", list(STATES))
def test_state(snap_compare, state, size):
    assert snap_compare(still_app(STATES[state]), terminal_size=size, run_before=settle)


def test_needs_you_no_color(snap_compare, monkeypatch):
    # Textual reads NO_COLOR when the app is made: monochrome, the box still stands out.
    monkeypatch.setenv("NO_COLOR", "1")
    assert snap_compare(still_app(needs_you_events), terminal_size=(80, 24), run_before=settle)


def test_needs_you_16_colours(snap_compare):
    # TERM=xterm: the 16 colours themselves, the focus and the footer keys cyan, not error red.
    assert snap_compare(still_app(needs_you_events, low_colour=True), terminal_size=(80, 24), run_before=settle)


def test_record_page(snap_compare):
    async def run_before(pilot):
        await settle(pilot)
        await pilot.press("tab", "tab", "enter")
        await pilot.pause()

    assert snap_compare(still_app(), terminal_size=(120, 40), run_before=run_before)
