"""The status bar after swarmtui gave up: a countdown to the retry when there is one
(give_up_retry), and no word of a retry when there is none."""

from __future__ import annotations

from textual.app import App, ComposeResult

from swarmtui.engine import events as ev
from swarmtui.tui.panes.status import StatusBar


class _Bar(App):
    def compose(self) -> ComposeResult:
        yield StatusBar("~/rl-swarm", "CodeZero (v0.7.0)", id="status")


async def test_needs_user_with_a_retry_counts_down_and_without_one_promises_nothing():
    app = _Bar()
    async with app.run_test(size=(120, 10)):
        bar = app.query_one(StatusBar)
        bar.set_state(ev.StateChanged(state=ev.NEEDS_USER, reason="oom-killed", next_restart_in=1620.0,
                                      detail="3 identical failures in a row; swarmtui tries again in 27m"), 100.0)
        assert "trying again in 27m" in bar.render_content(100.0).plain
        assert "trying again in 26m 30s" in bar.render_content(130.0).plain
        assert "next restart in" not in bar.render_content(130.0).plain
        bar.set_state(ev.StateChanged(state=ev.NEEDS_USER, reason="unknown-prompt",
                                      detail="the script asks 'Token?' and no [answers] rule knows it"), 200.0)
        shown = bar.render_content(260.0).plain
        assert "trying again" not in shown and "next restart" not in shown
        bar.set_state(ev.StateChanged(state=ev.BACKOFF, reason="oom-killed", next_restart_in=40.0), 300.0)
        assert "next restart in 40s" in bar.render_content(300.0).plain
