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


async def test_a_batch_of_lines_is_shown_when_it_arrives_not_at_the_next_tick():
    """Waiting for the drain tick was most of a line's way to the screen: a LinesOut asks for a
    drain of its own, as soon as log_interval allows (here at once; the tick is an hour away)."""
    app = still_app(drain_interval=3600.0, log_interval=0.0)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        app._emit(ev.LinesOut(lines=[ev.LogLine("pty", 1, ">> on screen without a tick")]))
        app._emit(ev.StateChanged(state=ev.BACKOFF, reason="oom-killed", next_restart_in=30.0))
        for _ in range(50):
            await pilot.pause(0.02)
            if ">> on screen without a tick" in _texts(app):
                break
        assert _texts(app)[-1] == ">> on screen without a tick"
        assert app.state == ev.BACKOFF          # what came with the lines is drained with them


async def test_a_flood_batch_goes_in_by_chunks_in_order_and_none_is_lost():
    """A big batch goes into the log LOG_CHUNK lines per loop turn (a key pressed meanwhile
    waits for one chunk, not the whole batch); the rest follows on its own, in order."""
    from swarmtui.tui.app import LOG_CHUNK

    app = still_app(drain_interval=3600.0, log_interval=0.0)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        before = len(_texts(app))
        n = 2 * LOG_CHUNK + 500
        app._emit(ev.LinesOut(lines=[ev.LogLine("pty", i, f">> flood line {i:05d}") for i in range(n)],
                              partial="bar 50%"))
        app._drain()
        assert len(_texts(app)) == before + LOG_CHUNK       # one chunk now, the rest after
        for _ in range(50):
            await pilot.pause(0.02)
            if len(_texts(app)) == before + n:
                break
        assert _texts(app)[before:] == [f">> flood line {i:05d}" for i in range(n)]
        assert app.log_pane._partial == "bar 50%"           # the bar comes with the last chunk


async def test_after_a_key_the_log_waits_for_the_keys_work_and_loses_nothing(monkeypatch):
    """A key's work (a screen to build) takes several turns of the loop; a log batch in each of
    them delayed the key under a flood. After a key the lines are held for KEY_FIRST_S (long
    here, so the test does not race the clock), then shown, none lost."""
    from swarmtui.tui import app as app_module

    app = still_app(drain_interval=3600.0, log_interval=0.0)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        monkeypatch.setattr(app_module, "KEY_FIRST_S", 30.0)
        await pilot.press("question_mark")
        await pilot.pause(0.05)
        app._emit(ev.LinesOut(lines=[ev.LogLine("pty", 1, ">> came right after a key")]))
        await pilot.pause(0.1)
        app._drain_tick()
        assert ">> came right after a key" not in _texts(app)      # held: the key goes first
        await pilot.press("escape")
        monkeypatch.setattr(app_module, "KEY_FIRST_S", 0.0)
        app._drain_tick()
        await pilot.pause()
        assert _texts(app)[-1] == ">> came right after a key"


async def test_a_few_lines_may_be_drawn_sooner_than_a_flood():
    """A few lines waiting (at most ev.SPARSE_LINES: the keeper sends those SPARSE_EVERY apart)
    may be drawn after SPARSE_EVERY / LINES_EVERY of the log interval; a flood's batch waits the
    whole interval, so it is still drawn at most ten times a second. Driven through the drain
    tick with the clock set, not timed."""
    from swarmtui.tui.app import LOG_SLACK, LOG_SPARSE_SHARE

    assert ev.SPARSE_EVERY < ev.LINES_EVERY
    app = still_app(drain_interval=3600.0, log_interval=10.0)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        sparse_gate = 10.0 * LOG_SPARSE_SHARE - LOG_SLACK        # 7.48 s
        # the last redraw a little over the sparse gate ago: a lone line is shown...
        app._log_shown_at = time.monotonic() - sparse_gate - 0.5
        app._emit(ev.LinesOut(lines=[ev.LogLine("pty", 1, ">> a lone line")]))
        app._drain_tick()
        await pilot.pause()
        assert _texts(app)[-1] == ">> a lone line"
        # ...a flood's batch, the same time after the last redraw, is not
        app._log_shown_at = time.monotonic() - sparse_gate - 0.5
        app._emit(ev.LinesOut(lines=[ev.LogLine("pty", i, f">> flood {i}") for i in range(2, 2 + ev.SPARSE_LINES + 1)]))
        app._drain_tick()
        await pilot.pause()
        assert ">> flood 2" not in _texts(app)
        app._log_shown_at -= 10.0                                # the whole interval has passed
        app._drain_tick()
        await pilot.pause()
        assert _texts(app)[-1] == f">> flood {2 + ev.SPARSE_LINES}"
