"""The panel's keys against the real Supervisor and a simulated node (a real process tree on a
real pty, real files): what the operator presses, what happens to the node and to the files.

Time-compressed (the sim at 1000x), a private login port, the login files already present
(keep_login, so a restart needs no browser). Every test ends with nothing of the node left,
proven by the pids its process snapshots showed, whatever the test's outcome."""

from __future__ import annotations

import hashlib
import os
import stat
import sys
from pathlib import Path

import pytest

from swarmtui import paths
from swarmtui.engine import events as ev
from swarmtui.tui.panes.history import HistoryPane
from swarmtui.tui.panes.progress import ProgressPane
from swarmtui.tui.screens.confirm import ConfirmScreen
from swarmtui.tui.screens.prompt import PromptScreen
from tests.tui_sim import SimPanel, add_prompt, until, view_rows, wait_gone

pytestmark = [pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux process semantics"),
              pytest.mark.timeout(90)]


@pytest.fixture
def sim_panel(tmp_path):
    made: list[SimPanel] = []

    def make(*args, **kw) -> SimPanel:
        panel = SimPanel(tmp_path, *args, **kw)
        made.append(panel)
        return panel

    yield make
    for panel in made:
        panel.cleanup()


from tests.screen_read import screen_text  # noqa: E402  (public API only)


async def test_restart_filter_follow_stop_start_and_quit_on_a_real_node(sim_panel):
    panel = sim_panel()
    app = panel.app
    async with app.run_test(size=(120, 40)) as pilot:
        view = app.log_view
        await until(pilot, lambda: app.state == ev.RUNNING, what="running")
        await until(pilot, lambda: panel.pids and len(view.entries) > 40, what="node output and a snapshot")

        # r: asked first (a restart can throw batched rewards away), then it happens and is in
        # the history pane, reason manual
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the restart question")
        assert "Restart the node now?" in app.screen.confirmation.title
        await pilot.press("y")
        history = app.query_one(HistoryPane)
        await until(pilot, lambda: history.records, what="a history record")
        assert history.records[-1]["reason"] == "manual"
        assert history.table.get_row_at(0)[1] == "manual"
        assert "manual" in screen_text(app).split("Restart history", 1)[1]
        await until(pilot, lambda: panel.last_run() == 2 and app.state == ev.RUNNING, what="run 2 running")
        assert app.status.restarts_24h == 1

        # f: the filter hides every line without the term, also lines that arrive afterwards
        await pilot.press("f", *"Joining round", "enter")
        seen = len(view.entries)
        await until(pilot, lambda: len(view.entries) > seen + 20, what="more output under the filter")
        assert view.filter_term == "Joining round"
        assert view.view and all("Joining round" in e.text for e in view.view)
        assert len(view.view) < len(view.entries)
        shown = [f"{e.tag} {e.text}" for e in view.view]
        rows = [r.rstrip() for r in view_rows(view) if r.strip()]   # cut at the pane's width
        assert rows and all(any(line.startswith(r) for line in shown) for r in rows)
        await pilot.press("f", "ctrl+u", "enter")
        assert view.filter_term == "" and len(view.view) == len(view.entries)

        # up pauses: the reader's rows stay put while lines arrive; end follows the tail again
        await pilot.press("up")
        assert not view.following
        held = view_rows(view)
        await until(pilot, lambda: view.new_while_paused > 5, what="new lines while paused")
        assert view_rows(view) == held
        assert f"+{view.new_while_paused} new lines" in app.log_pane.border_subtitle
        await pilot.press("end")
        await pilot.pause(0.1)
        assert view.following and view.new_while_paused == 0
        newest = view.view[-1].text
        assert any(newest[:40] in r for r in view_rows(view))

        # s: asks, stops; nothing of ours is left (by pid and start time)
        await pilot.press("s")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="stop confirmation")
        await pilot.pause()
        await pilot.press("y")
        await until(pilot, lambda: app.state == ev.STOPPED, what="stopped")
        pids = dict(panel.pids)
        assert len(pids) >= 4, pids                 # bash, login server, trainer, p2pd at least
        await wait_gone(panel, 5)
        assert panel.alive() == [] and panel.leftovers() == []

        # s again: starts without asking
        await pilot.press("s")
        assert not isinstance(app.screen, ConfirmScreen)
        await until(pilot, lambda: app.state == ev.RUNNING and panel.last_run() == 3, what="run 3 running")
        await until(pilot, lambda: set(panel.pids) - set(pids), what="a snapshot of run 3")

        # q while it runs: asks, stops the node, then the panel exits
        await pilot.press("q")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="quit confirmation")
        await pilot.pause()
        await pilot.press("s")
        await until(pilot, lambda: app.return_code is not None, timeout=15, what="the panel to exit")
    assert app.return_code == 0
    assert app.state == ev.STOPPED
    await wait_gone(panel, 5)
    assert panel.alive() == [] and panel.leftovers() == []
    kinds = [e.to_dict() for e in panel.of(ev.StopStep)]
    assert kinds and kinds[-1]["step"] == "verify", kinds


def _files(root: Path) -> dict[str, str]:
    """Every file of the checkout but what a running node writes (its logs, the sim's state)."""
    out = {}
    for path in root.rglob("*"):
        rel = path.relative_to(root).as_posix()
        if path.is_file() and not rel.startswith("logs/") and rel != ".swarmtui-sim-state.json":
            out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


async def test_logout_and_reset_identity_move_exactly_the_right_files_to_backups(sim_panel):
    panel = sim_panel(keep_login=False)
    app = panel.app
    lay = app.layout
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.state == ev.RUNNING, what="running")
        await until(pilot, lambda: lay.identity_path.exists() and app.query_one("#identity-pane").peer_id,
                    what="a peer id")
        originals = {p: p.read_bytes() for p in (lay.identity_path, lay.user_data_path, lay.api_key_path)}
        before = _files(panel.root)
        backups = paths.node_state_dir(lay.root) / "backups"

        # i, with the backup impossible (a file where the backups folder goes): swarm.pem stays
        if backups.is_dir():
            assert not any(backups.iterdir())
            backups.rmdir()
        backups.write_text("in the way\n")
        await pilot.press("i")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="reset confirmation")
        await pilot.pause()
        await pilot.press("y")
        await until(pilot, lambda: panel.of(ev.ActionDone), what="reset-identity done")
        assert panel.of(ev.ActionDone)[-1].ok is False
        assert lay.identity_path.read_bytes() == originals[lay.identity_path]
        assert any(sev == "error" and "reset-identity" in m for sev, m in app.toasts)
        backups.unlink()

        # i: swarm.pem moves to a 0600 backup with the same bytes
        await pilot.press("i", "y")
        await until(pilot, lambda: len(panel.of(ev.ActionDone)) == 2, what="reset-identity done")
        done = panel.of(ev.ActionDone)[-1]
        assert done.action == "reset-identity" and done.ok, done
        assert not lay.identity_path.exists()
        pem_backup = Path(done.backups[0])
        assert pem_backup.parent == backups
        assert pem_backup.read_bytes() == originals[lay.identity_path]
        assert any(str(pem_backup) in m for _, m in app.toasts)

        # l: both login files move to 0600 backups with the same bytes
        await pilot.press("l")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="logout confirmation")
        await pilot.pause()
        assert "keeps its current session" in "\n".join(app.screen.confirmation.lines)
        await pilot.press("y")
        await until(pilot, lambda: len(panel.of(ev.ActionDone)) == 3, what="logout done")
        done = panel.of(ev.ActionDone)[-1]
        assert done.action == "logout" and done.ok, done
        assert not lay.user_data_path.exists() and not lay.api_key_path.exists()
        login_backups = [Path(p) for p in done.backups]
        assert sorted(p.read_bytes() for p in login_backups) == sorted(
            [originals[lay.user_data_path], originals[lay.api_key_path]])

        # nothing else: the checkout lost exactly those three files, changed none, gained none
        after = _files(panel.root)
        moved = {p.relative_to(panel.root).as_posix() for p in originals}
        assert set(before) - set(after) == moved
        assert set(after) - set(before) == set()
        assert {k: v for k, v in before.items() if k not in moved} == after
        made = sorted(backups.iterdir())
        assert sorted([pem_backup, *login_backups]) == made
        assert all(stat.S_IMODE(os.stat(p).st_mode) == 0o600 for p in made)
        # the identity pane says the pem is gone
        await until(pilot, lambda: "missing" in str(app.query_one("#identity-body").render()), what="pem missing")


async def test_an_unknown_prompt_opens_the_modal_and_the_answer_reaches_the_script(sim_panel):
    panel = sim_panel(edit=add_prompt)
    app = panel.app
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, PromptScreen) and app.screen.query("#prompt-input"),
                    what="the prompt modal, mounted")
        await pilot.pause()
        assert "Pick a colour for your node:" in app.screen.query_one("#prompt-text").render().plain
        assert app.screen.query_one("#prompt-input").password is False
        await pilot.press(*"teal", "enter")
        await until(pilot, lambda: any(">> Colour is teal" in e.text for e in app.log_view.entries),
                    what="the script's echo of the answer")
        assert app.pending_prompt is None
        await until(pilot, lambda: app.state == ev.RUNNING, what="running")


async def test_the_progress_pane_follows_the_prediction_market_of_a_v06_node(sim_panel):
    panel = sim_panel(era="rgym")
    app = panel.app

    def market_on_screen():
        # What the pane was last given must be what the screen shows (the engine may be a step ahead).
        pane = app.query_one(ProgressPane)
        m = pane.progress.market if pane.progress is not None else None
        if not m or m["bets"] < 2:
            return None
        shown = screen_text(app).split("Training progress", 1)[1]
        if (f"market game {m['game']} clue {m['clue']} · {m['last_bet']:.2f} on" in shown
                and f"{m['bets']} bets · {m['staked']:.2f} staked" in shown):
            return m
        return None

    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.state == ev.RUNNING, what="running")
        market = await until(pilot, market_on_screen, timeout=40, what="two bets on screen")
        assert market in [p.market for p in panel.of(ev.ProgressUpdate)]
        # the same bet, as the node logged it (the log pane shows held lines at most every 0.5 s)
        bet = f"Game {market['game']} Round {market['clue']}: Peer "
        await until(pilot, lambda: any(bet in e.text and f"on choice - {market['last_choice']}" in e.text
                                       for e in app.log_view.entries), timeout=10, what="the bet's line in the log")
