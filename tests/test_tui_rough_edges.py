"""Issue 14's rough edges, each driven with Pilot against the frozen or a recording engine: no
uptime while nothing runs, no processes after STOPPED, the quiet countdown, toasts that do not
pile up, one Tab order, a way out in the footer during a search, the width used at 200
columns, 16-colour terminals without a red focus, and Quit once in the palette."""

from __future__ import annotations

import shlex
import shutil
import sys
import time

import pytest
from rich.color import Color, ColorSystem

from swarmtui.engine import events as ev
from swarmtui.tui import frozen
from swarmtui.tui.panes.processes import ProcessPane
from swarmtui.tui.panes.progress import ProgressPane
from tests.screen_read import gone, screen_lines, screen_text, shown
from tests.tui_engine import make_app


async def test_no_uptime_once_nothing_runs():
    app, _ = make_app([ev.StateChanged(state=ev.RUNNING, uptime_s=53.0), ev.ProcessSnapshot(procs=frozen.processes())])
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.2)
        assert "up 53s" in screen_lines(app)[0]
        # gave up: waits for the person, nothing of ours left
        app._emit(ev.ProcessSnapshot(procs=[p for p in frozen.processes() if not p.ours]))
        app._emit(ev.StateChanged(state=ev.NEEDS_USER, reason="crash-loop", detail="restarted 5 times", uptime_s=53.0))
        await pilot.pause(0.2)
        assert "up " not in screen_lines(app)[0]


async def test_the_processes_of_a_stopped_node_go_with_the_stopped_state():
    app, _ = make_app([ev.StateChanged(state=ev.RUNNING), ev.ProcessSnapshot(procs=frozen.processes())])
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.2)
        assert "trainer (python)" in screen_text(app)
        app._emit(ev.StateChanged(state=ev.STOPPED, reason="manual"))      # no new snapshot yet
        await pilot.pause(0.2)
        pane = app.query_one(ProcessPane)
        assert [p for p in pane.procs if p.ours] == [] and "trainer (python)" not in screen_text(app)
        assert any(not p.ours for p in pane.procs)          # the stranger in the way stays shown


async def test_quiet_countdown_shows_once_the_silence_matters():
    now = [1000.0]
    app, _ = make_app([ev.StateChanged(state=ev.RUNNING)], clock=lambda: now[0], silence_limit_s=1200.0)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.2)
        app._emit(ev.LinesOut(lines=[ev.LogLine("pty", 1, "hello")]))
        await pilot.pause(0.2)
        pane = app.query_one(ProgressPane)
        assert pane.quiet_text(now[0] + 100) is None             # a quiet minute or two is normal
        assert str(pane.quiet_text(now[0] + 12 * 60)) == "quiet 12m of 20m"
        now[0] += 12 * 60
        await pilot.pause(1.2)                                    # the once-a-second tick
        assert "quiet 12m of 20m" in screen_text(app)
        app._emit(ev.LinesOut(lines=[ev.LogLine("pty", 2, "still here")]))
        await pilot.pause(1.2)
        assert "quiet" not in screen_text(app)
        app._emit(ev.StateChanged(state=ev.STOPPED))
        await pilot.pause(0.1)
        assert pane.quiet_since is None                           # no silence timer while stopped


async def test_toasts_are_capped_and_one_title_replaces_its_last():
    app, _ = make_app([ev.StateChanged(state=ev.RUNNING)])
    async with app.run_test(size=(120, 40), notifications=True) as pilot:   # run_test hides toasts by default
        await pilot.pause(0.1)
        for i in range(6):
            app.notify(f"Restart #{i} now: oom-killed", title="Restart", timeout=30)
        await pilot.pause(0.5)
        text = screen_text(app)
        assert text.count("Restart #") == 1 and "Restart #5" in text
        for i in range(5):
            app.notify(f"notice {i}", timeout=30)
        await pilot.pause(0.5)
        text = screen_text(app)
        shown = [i for i in range(5) if f"notice {i}" in text]
        assert shown == [2, 3, 4] and "Restart #" not in text       # the newest three


async def test_a_stale_login_toast_goes_when_the_node_runs():
    app, _ = make_app([ev.StateChanged(state=ev.LOGIN_REQUIRED),
                       ev.LoginRequired(url="http://localhost:3000", ssh_hint="", waiting_for="userData.json")])
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        assert "Log in at http://localhost:3000" in await shown(pilot, app, "Log in at http://localhost:3000")
        app._emit(ev.StateChanged(state=ev.RUNNING))
        assert "Log in at" not in await gone(pilot, app, "Log in at")


async def test_tab_order_is_the_same_in_both_layouts():
    async def order(size):
        app, _ = make_app(frozen.busy_events())
        async with app.run_test(size=size) as pilot:
            await pilot.pause(0.2)
            seen = []
            for _ in range(4):
                seen.append(app._current_pane())
                await pilot.press("tab")
                await pilot.pause(0.05)
            return seen
    assert await order((80, 24)) == await order((120, 40)) == ["log-pane", "procs-pane", "history-pane",
                                                                "identity-pane"]


async def test_the_footer_keeps_a_way_out_during_a_search_at_60x20():
    app = frozen.still_app()
    async with app.run_test(size=(60, 20)) as pilot:
        await frozen.settle(pilot)
        await pilot.press("slash")
        await pilot.pause(0.2)
        footer = screen_lines(app)[-1]
        assert "^q Quit" in footer and "esc Close" in footer
        await pilot.press("escape")
        await pilot.pause(0.1)
        assert "q Quit" in screen_lines(app)[-1] and "esc Close" not in screen_lines(app)[-1]


async def test_at_200_columns_the_left_column_takes_its_share():
    app = frozen.still_app()
    async with app.run_test(size=(200, 60)) as pilot:
        await frozen.settle(pilot)
        assert app.query_one("#identity-pane").size.width >= 70
        assert any(frozen.PEER in line for line in screen_lines(app))           # the peer id on one line
        assert any("P2PDaemonError: Daemon failed to start" in line for line in screen_lines(app))


def _downgraded(app, name: str) -> int:
    return Color.parse(app.theme_variables[name]).downgrade(ColorSystem.STANDARD).number


async def test_16_colours_focus_and_footer_keys_are_not_the_error_red():
    for theme in ("textual-dark", "textual-light", "nord", "gruvbox", "tokyo-night", "monokai", "dracula",
                  "catppuccin-mocha", "solarized-light"):
        app = frozen.still_app(low_colour=True)
        async with app.run_test(size=(80, 24)) as pilot:
            app.theme = theme
            await pilot.pause(0.05)
            error = _downgraded(app, "error")
            for name in ("accent", "footer-key-foreground", "primary"):
                assert _downgraded(app, name) not in (1, 9, error), (theme, name, app.theme_variables[name])
    # true colour terminals keep the theme as it is
    app = frozen.still_app(low_colour=False)
    async with app.run_test(size=(80, 24)) as pilot:
        shown, theme = Color.parse(app.theme_variables["accent"]), Color.parse(app.current_theme.accent)
        assert all(abs(a - b) <= 2 for a, b in zip(shown.triplet, theme.triplet))


async def test_the_palette_lists_quit_once():
    app = frozen.still_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await frozen.settle(pilot)
        titles = [c.title for c in app.get_system_commands(app.screen)]
        from swarmtui.tui.palette import ACTIONS

        assert titles.count("Quit") + [title for title, _, _ in ACTIONS].count("Quit") == 1


@pytest.mark.slow
@pytest.mark.tmux
@pytest.mark.timeout(90)
@pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux process semantics")
def test_in_a_real_16_colour_terminal_focus_and_keys_are_cyan_not_red(tmp_path):
    """TERM=xterm in a tmux pane: the bytes the panel writes. The focused pane's border and the
    footer's keys come out as bright cyan (SGR 96); before, the themes' orange accent was
    mapped to bright red (91), the colour of errors."""
    import subprocess

    from test_sim_support import kill_leftovers
    from test_tui_tmux import panel_env
    from tests.tui_tmux import TMUX, Tmux

    node = tmp_path / "node"
    env = {k: v for k, v in panel_env().items() if k != "COLORTERM"}
    panel = (f"{shlex.quote(sys.executable)} -m swarmtui demo --dir {shlex.quote(str(node))} "
             "--scenario healthy --speed 50")
    # tmux sets TERM for the pane itself: the panel's own environment says xterm.
    term = Tmux(f"unset COLUMNS LINES COLORTERM; exec env TERM=xterm {panel}", size=(100, 30), env=env, cwd=tmp_path)
    try:
        term.wait_for("RUNNING", timeout=40)
        time.sleep(0.5)
        raw = subprocess.run([TMUX, "-L", term.sock, "capture-pane", "-p", "-e", "-t", "t"],
                             capture_output=True, text=True, timeout=10).stdout
        rows = raw.splitlines()
        footer = next(row for row in reversed(rows) if "Quit" in row)
        border = next(row for row in rows if "Log" in row and "╭" in row)
        for row in (footer, border):
            assert "\x1b[96m" in row and "\x1b[91m" not in row, repr(row)
        term.keys("q")
        # The dialog's title: a toast (the demo's new-identity warning) may lie over its buttons.
        term.wait_for("Quit swarmtui?", timeout=10)
        term.keys("s")
        end = time.monotonic() + 30
        while term.alive() and time.monotonic() < end:
            time.sleep(0.2)
    finally:
        term.close()
        kill_leftovers(node)
