"""The panel shows engine events at every drain, and the log at most every log_interval (each
log redraw costs a re-render of the whole screen; see SwarmApp.log_interval)."""

from __future__ import annotations

import time

from swarmtui.engine import events as ev
from swarmtui.tui.frozen import settle, still_app
from swarmtui.tui.panes.logview import LogView


def _texts(app) -> list[str]:
    return [e.text for e in app.query_one(LogView).entries]


async def test_states_show_at_once_and_log_lines_at_the_log_interval():
    app = still_app(drain_interval=0.25, log_interval=5.0)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        app._log_shown_at = time.monotonic()          # the log was just drawn
        app._emit(ev.LinesOut(lines=[ev.LogLine("pty", 1, ">> held back for a moment")]))
        app._emit(ev.StateChanged(state=ev.BACKOFF, reason="oom-killed", next_restart_in=30.0))
        app._drain_tick()
        await pilot.pause()
        assert app.state == ev.BACKOFF                  # the state: at once
        assert ">> held back for a moment" not in _texts(app)
        app._emit(ev.LinesOut(lines=[ev.LogLine("pty", 2, ">> and its neighbour")]))
        app._log_shown_at -= 10                        # the log interval has passed
        app._drain_tick()
        await pilot.pause()
        texts = _texts(app)
        assert texts[-2:] == [">> held back for a moment", ">> and its neighbour"]   # in order, none lost
