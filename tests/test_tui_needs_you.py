"""The needs-you box: a state that waits for a person shows its whole reason and fix, and the key
that acts on it, until the state changes (issue 14: the status line cut it, the toast went)."""

from __future__ import annotations

from swarmtui.engine import events as ev
from swarmtui.tui import frozen
from swarmtui.tui.panes.needs_you import NeedsYouBox
from tests.tui_engine import make_app

LONG = frozen.IDENTITY_TAKEN_DETAIL
PROC = ev.ProcInfo(pid=4242, ppid=1, name="bash", cmdline="bash run_rl_swarm.sh", role="launcher")


async def settle(pilot, t: float = 0.08) -> None:
    await pilot.pause(t)
    await pilot.pause()          # and the re-layout the box's arrival asked for


def box_text(app) -> str:
    return str(app.query_one(NeedsYouBox).render_content())


def screen_text(app) -> str:
    """The box's rows as drawn (its left border dropped), joined: wrapped words are rejoined."""
    box = app.query_one(NeedsYouBox)
    lines = [strip.text for strip in box.render_lines(box.region.reset_offset)] if box.region.height else []
    return " ".join(line.lstrip("█▌▐ ").rstrip() for line in lines)


async def test_the_whole_detail_and_its_key_stay_on_screen_at_80x24():
    app, engine = make_app([ev.StateChanged(state=ev.NEEDS_USER, reason="identity-taken", detail=LONG),
                            ev.ProcessSnapshot(procs=[])])
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        box = app.query_one(NeedsYouBox)
        assert box.display and box.region.height >= 5          # wrapped, not one cut line
        shown = " ".join(screen_text(app).split())
        assert " ".join(LONG.split()) in shown                  # every word, the last ones too
        assert "s: try again now" in shown
        # the status line points at the box instead of repeating the text cut short
        status = str(app.status.render_content(0))
        assert "(hivemind PR #511)" not in status and "below" in status
        await pilot.pause(1.0)
        assert box.display                                      # no timeout, unlike the toast


async def test_the_box_goes_when_the_state_changes_and_the_status_line_has_its_detail_back():
    app, engine = make_app([ev.StateChanged(state=ev.NEEDS_USER, reason="budget", detail="5 restarts in 1h"),
                            ev.ProcessSnapshot(procs=[])])
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert app.query_one(NeedsYouBox).display
        assert app.query_one("#panes").has_class("-needs-you")
        engine.emit(ev.StateChanged(state=ev.RUNNING, reason="start", detail="round 3", uptime_s=1.0))
        await settle(pilot)
        assert not app.query_one(NeedsYouBox).display
        assert not app.query_one("#panes").has_class("-needs-you")
        assert "round 3" in str(app.status.render_content(0))


async def test_the_keys_it_names_are_the_ones_that_act_now_as_mapped():
    # nothing of ours runs: s starts again (a remapped key is named as mapped)
    app, engine = make_app([ev.StateChanged(state=ev.NEEDS_USER, reason="preflight", detail="port held"),
                            ev.ProcessSnapshot(procs=[])], keymap={"stop-start": "x"})
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert "x: try again now" in box_text(app)
        await pilot.press("x")
        await settle(pilot)
        assert engine.kinds() == ["start"]
        # the node is still up (a question it asked): s stops it, r restarts it
        engine.emit(ev.ProcessSnapshot(procs=[PROC]))
        await settle(pilot)
        text = box_text(app)
        assert "x: stop the node" in text and "r: restart it" in text and "try again" not in text
        # a question is pending: a answers it
        engine.emit(ev.PromptSeen(text=">> Which model? ", answered=False))
        await settle(pilot)
        await pilot.press("escape")                  # later: the prompt modal closes, the box stays
        await settle(pilot)
        assert "a: answer the node's question" in box_text(app)


async def test_node_text_in_the_box_is_sanitized():
    app, engine = make_app([ev.StateChanged(state=ev.NEEDS_USER, reason="x\x1b[2Jy",
                                            detail="bad \x1b]0;title\x07line\x1b[31m red")])
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        text = box_text(app)
        assert "\x1b" not in text and "\x07" not in text
        assert "bad line red" in text


async def test_every_preflight_problem_is_in_the_box_not_only_the_first():
    problems = ["port 3000 is held by pid 77 (node, not ours): stop it or set [launch] login_port",
                "only 120 MB free on / (the node needs 2048 MB): free some space"]
    app, engine = make_app([ev.PreflightFailed(problems=problems),
                            ev.StateChanged(state=ev.NEEDS_USER, reason="preflight", detail=problems[0]),
                            ev.ProcessSnapshot(procs=[])])
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        shown = " ".join(screen_text(app).split())
        assert all(" ".join(p.split()) in shown for p in problems)
        assert "s: try again now" in shown


async def test_a_login_wait_shows_the_url_and_the_whole_tunnel_command_in_any_layout():
    app, engine = make_app([ev.StateChanged(state=ev.RUNNING, uptime_s=1.0)])
    async with app.run_test(size=(80, 24)) as pilot:            # compact: the identity pane is a tab away
        await settle(pilot)
        engine.emit(ev.StateChanged(state=ev.LOGIN_REQUIRED, reason="login-waiting"))
        engine.emit(ev.LoginRequired(url="http://localhost:3000", ssh_hint="", waiting_for="userData.json"))
        await settle(pilot)
        shown = " ".join(screen_text(app).split())
        assert shown.startswith("LOG IN") and "http://localhost:3000" in shown
        assert f"ssh -L 3000:localhost:3000 {frozen.USER}@{frozen.HOST}" in shown
        assert "tab: to the Identity pane" in shown and "c: copy the tunnel command (in that pane)" in shown
        engine.emit(ev.StateChanged(state=ev.RUNNING, reason="logged in", uptime_s=30.0))
        await settle(pilot)
        assert not app.query_one(NeedsYouBox).display
