"""Every panel key and modal, driven with Pilot against a recording engine: which command goes to
the engine, and only after the right answer. (The same keys against the real simulator and
Supervisor are in the phase-2 tests.)"""

from __future__ import annotations

import os
import stat


from swarmtui import paths
from swarmtui.engine import events as ev
from swarmtui.tui import frozen
from swarmtui.tui.screens.confirm import ConfirmScreen
from swarmtui.tui.screens.help import HelpScreen
from swarmtui.tui.screens.prompt import PromptScreen
from swarmtui.tui.screens.record import RecordScreen
from tests.tui_engine import make_app

RUNNING = [ev.StateChanged(state=ev.RUNNING, uptime_s=5.0)]


async def settle(pilot, t: float = 0.06) -> None:
    await pilot.pause(t)


def confirm_text(app) -> str:
    screen = app.screen
    assert isinstance(screen, ConfirmScreen)
    return screen.confirmation.title + "\n" + "\n".join(screen.confirmation.lines)


async def test_r_asks_says_whether_a_submission_is_pending_and_enter_cancels():
    # 5 rounds into a 2 h run: nothing submitted yet, so a restart throws the batch away
    progress = ev.ProgressUpdate(round=12, rounds_completed=5)
    app, engine = make_app([ev.StateChanged(state=ev.STARTING), progress,
                            ev.StateChanged(state=ev.RUNNING, uptime_s=7200.0)])
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("r")
        await settle(pilot)
        text = confirm_text(app)
        assert "Restart the node now?" in text
        assert "A submission is pending: 5 round(s) finished" in text and "throws that batch away" in text
        assert [c.id for c in app.screen.choices][0] == "no"       # the safe choice first
        await pilot.press("enter")                                 # Enter = cancel
        await settle(pilot)
        assert not isinstance(app.screen, ConfirmScreen) and engine.commands == []
        await pilot.press("r", "n")
        await settle(pilot)
        assert engine.commands == []
        await pilot.press("r", "y")
        await settle(pilot)
        assert engine.commands == [ev.RestartNode(reason="manual")]
        assert any("Restart requested" in m for _, m in app.toasts)


async def test_r_says_no_submission_is_pending_when_no_round_finished_this_run():
    # rounds finished in an earlier run do not count: the engine's count is over its whole life
    app, engine = make_app([ev.ProgressUpdate(rounds_completed=9), ev.StateChanged(state=ev.STARTING),
                            ev.StateChanged(state=ev.RUNNING, uptime_s=60.0)])
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("r")
        await settle(pilot)
        assert "No submission is pending: no round finished in this run" in confirm_text(app)


async def test_r_on_a_stopped_node_starts_it_at_once_without_asking():
    app, engine = make_app([ev.StateChanged(state=ev.STOPPED)])
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("r")
        await settle(pilot)
        assert not isinstance(app.screen, ConfirmScreen)
        assert engine.commands == [ev.RestartNode(reason="manual")]


async def test_stop_asks_and_only_yes_sends_stop():
    app, engine = make_app(RUNNING)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("s")
        await settle(pilot)
        text = confirm_text(app)
        assert "SIGINT" in text and "swarm.pem" in text
        await pilot.press("n")
        await settle(pilot)
        assert not isinstance(app.screen, ConfirmScreen)
        assert engine.commands == []
        await pilot.press("s")
        await settle(pilot)
        await pilot.press("escape")
        await settle(pilot)
        assert engine.commands == []
        await pilot.press("s", "y")
        await settle(pilot)
        assert engine.commands == [ev.StopNode(reason="manual")]


async def test_s_on_a_stopped_node_starts_it_without_asking():
    app, engine = make_app([ev.StateChanged(state=ev.STOPPED)])
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("s")
        await settle(pilot)
        assert not isinstance(app.screen, ConfirmScreen)
        assert engine.kinds() == ["start"]


async def test_logout_names_the_files_and_the_backup_dir():
    app, engine = make_app(RUNNING)
    layout = engine.layout
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("l")
        await settle(pilot)
        text = confirm_text(app)
        backups = paths.node_state_dir(layout.root) / "backups"
        assert str(layout.user_data_path) in text
        assert str(layout.api_key_path) in text
        assert str(backups) in text
        assert "0600" in text and "private key" in text
        assert "keeps its current session until it next restarts" in text   # running: left alone
        await pilot.press("n")
        await settle(pilot)
        assert engine.commands == []
        await pilot.press("l")
        await settle(pilot)
        await pilot.click("#choice-yes")
        await settle(pilot)
        assert engine.commands == [ev.Logout()]


async def test_reset_identity_names_the_pem_and_only_yes_sends():
    app, engine = make_app([ev.StateChanged(state=ev.STOPPED)])
    layout = engine.layout
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("i")
        await settle(pilot)
        text = confirm_text(app)
        assert str(layout.identity_path) in text
        assert str(paths.node_state_dir(layout.root) / "backups") in text
        assert "new peer id" in text
        assert "is not stopped" not in text       # stopped: no note about the running node
        await pilot.press("escape")
        await settle(pilot)
        assert engine.commands == []
        await pilot.press("i", "y")
        await settle(pilot)
        assert engine.commands == [ev.ResetIdentity()]


async def test_quit_while_running_says_the_node_cannot_stay_and_stops_it_first():
    app, engine = make_app(RUNNING)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("q")
        await settle(pilot)
        text = confirm_text(app)
        assert "cannot keep running" in text
        assert [c.id for c in app.screen.choices] == ["cancel", "stop"]   # no "leave it running"
        await pilot.press("n")
        await settle(pilot)
        assert app.is_running and engine.commands == []
        await pilot.press("q", "s")
        await settle(pilot)
        assert engine.commands == [ev.StopNode(reason="manual")]
        assert app.is_running            # waits for the engine to report "stopped"
        engine.emit(ev.StateChanged(state=ev.STOPPED, reason="manual"))
        await settle(pilot, 0.2)
    assert app.return_code == 0
    assert engine.closed == [True]


async def test_quit_while_stopped_exits_at_once_and_closes_the_engine():
    app, engine = make_app([ev.StateChanged(state=ev.STOPPED)])
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("q")
        await settle(pilot)
    assert engine.commands == []
    assert engine.closed == [True]


async def test_unknown_token_prompt_hides_the_answer_and_sends_it_secret():
    app, engine = make_app(RUNNING)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        engine.emit(ev.PromptSeen(text="Enter your Hugging Face access token: ", answered=False, secret=True))
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, PromptScreen)
        box = screen.query_one("#prompt-input")
        assert box.password is True
        await pilot.press(*"hf_abc123")
        await pilot.press("enter")
        await settle(pilot)
        assert engine.commands == [ev.AnswerPrompt(text="hf_abc123", secret=True)]
        assert app.pending_prompt is None
        assert not any("hf_abc123" in m for _, m in app.toasts)


async def test_prompt_later_then_a_reopens_it():
    app, engine = make_app(RUNNING)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        engine.emit(ev.PromptSeen(text=">> Which model? [default] ", answered=False, secret=False))
        await settle(pilot)
        assert isinstance(app.screen, PromptScreen)
        assert app.screen.query_one("#prompt-input").password is False
        await pilot.press("escape")
        await settle(pilot)
        assert engine.commands == [] and app.pending_prompt is not None
        assert "press a to answer" in str(app.status.render_content(0))
        await pilot.press("a")
        await settle(pilot)
        assert isinstance(app.screen, PromptScreen)
        await pilot.press(*"Qwen", "enter")
        await settle(pilot)
        assert engine.commands == [ev.AnswerPrompt(text="Qwen", secret=False)]
        await pilot.press("a")                   # nothing pending: no modal
        await settle(pilot)
        assert not isinstance(app.screen, PromptScreen)


async def test_keys_do_nothing_behind_a_modal():
    app, engine = make_app(RUNNING)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        await settle(pilot)
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("r", "tab", "l")
        await settle(pilot)
        assert engine.commands == []
        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(app.screen, HelpScreen)


async def test_copy_peer_id_writes_a_private_file_and_says_where():
    app, engine = make_app(frozen.busy_events())
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("tab", "tab", "tab")          # log -> processes -> history -> identity
        await settle(pilot)
        assert app._current_pane() == "identity-pane"
        await pilot.press("c")
        await app.workers.wait_for_complete()
        await settle(pilot)
        target = paths.cache_dir() / "last-copy.txt"
        assert target.read_text() == frozen.PEER
        assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
        assert app.clipboard == frozen.PEER                 # OSC 52 path (Textual's own copy)
        assert any(str(target) in m and "OSC 52" in m for _, m in app.toasts)


async def test_copy_in_the_log_takes_the_cursor_line_with_its_source():
    app, engine = make_app(frozen.busy_events())
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("up")                 # cursor to the line above the newest
        await pilot.press("c")
        await app.workers.wait_for_complete()
        await settle(pilot)
        lines = frozen.log_lines()
        assert app.last_copy is not None
        assert app.last_copy[0] == "log line"
        assert app.last_copy[1] == f"[launcher] {lines[-2].text}"


async def test_login_required_shows_the_exact_ssh_command_and_c_copies_it():
    app, engine = make_app(RUNNING)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        engine.emit(ev.StateChanged(state=ev.LOGIN_REQUIRED, reason="login-waiting"))
        engine.emit(ev.LoginRequired(url="http://localhost:3000", ssh_hint="", waiting_for="userData.json"))
        await settle(pilot)
        pane = app.query_one("#identity-pane")
        expected = f"ssh -L 3000:localhost:3000 {frozen.USER}@{frozen.HOST}"
        body = str(pane.query_one("#identity-body").render())
        assert expected in body and "http://localhost:3000" in body
        assert any("Login required" in m or expected in m for _, m in app.toasts)
        await pilot.press("tab", "tab", "tab", "c")
        await app.workers.wait_for_complete()
        await settle(pilot)
        assert (paths.cache_dir() / "last-copy.txt").read_text() == expected
        assert any(n.title == "Login required" for n in app._notifications)
        engine.emit(ev.StateChanged(state=ev.RUNNING))
        await settle(pilot)
        assert expected not in str(pane.query_one("#identity-body").render())
        # logged in: the login toast goes too, not left saying "Login required" over RUNNING
        assert not any(n.title == "Login required" for n in app._notifications)


async def test_login_port_comes_from_the_engine_layout():
    layout = frozen.StillLayout(login_port=3111)
    app, engine = make_app(RUNNING, layout=layout)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert app.query_one("#identity-pane").ssh_command == f"ssh -L 3111:localhost:3111 {frozen.USER}@{frozen.HOST}"


async def test_search_and_filter_keys_open_the_box_and_work():
    app, engine = make_app(frozen.busy_events())
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        view = app.log_view
        await pilot.press("f", *"yarn")
        await settle(pilot)
        assert len(view.view) == 2 and all("yarn" in (e.tag + e.text) for e in view.view)
        await pilot.press("enter")
        await settle(pilot)
        assert "filter 'yarn'" in app.log_pane.border_title
        await pilot.press("f", "escape")        # escape undoes only this edit
        await settle(pilot)
        assert view.filter_term == "yarn"
        await pilot.press("f", "ctrl+u", "enter")
        await settle(pilot)
        assert view.filter_term == "" and len(view.view) == len(frozen.log_lines())
        await pilot.press("slash", *"Starting round", "enter")
        await settle(pilot)
        assert view.search_term == "Starting round"
        assert "Starting round: 1208" in view.selected().text      # newest match first
        assert not view.following
        await pilot.press("N")
        await settle(pilot)
        assert "Starting round: 1207" in view.selected().text
        await pilot.press("n")
        await settle(pilot)
        assert "Starting round: 1208" in view.selected().text
        await pilot.press("end")
        await settle(pilot)
        assert view.following


async def test_tab_moves_between_panes_in_both_layouts():
    app, engine = make_app(frozen.busy_events())
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        seen = []
        for _ in range(4):
            seen.append(app._current_pane())
            await pilot.press("tab")
        assert seen == ["log-pane", "procs-pane", "history-pane", "identity-pane"]
        assert app._current_pane() == "log-pane"
        await pilot.resize_terminal(80, 24)
        await settle(pilot)
        assert app.compact
        shown = []
        for _ in range(4):
            await pilot.press("tab")
            await settle(pilot, 0.02)
            shown.append([p.id for p in app.query(".pane.-shown")])
        assert shown == [["procs-pane"], ["history-pane"], ["identity-pane"], ["log-pane"]]   # the wide order
        assert app.query_one("#progress-pane").display        # progress always visible
        await pilot.press("tab", "slash")                      # search switches back to the log
        await settle(pilot)
        assert app.compact_pane == "log-pane"


async def test_enter_on_history_opens_the_full_record_with_evidence():
    app, engine = make_app(frozen.busy_events())
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("tab", "tab")
        assert app._current_pane() == "history-pane"
        await pilot.press("enter")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, RecordScreen)
        newest = frozen.history_records()[-1]
        assert screen.record == newest
        evidence = str(screen.query_one("#record-evidence").render())
        assert "Killed" in evidence and "Shutting down trainer" in evidence
        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(app.screen, RecordScreen)


async def test_help_lists_keys_as_remapped_by_the_config():
    app, engine = make_app(RUNNING, keymap={"restart": "x", "logout": "ctrl+l"})
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("r")
        await settle(pilot)
        assert engine.commands == []                 # r is no longer restart
        await pilot.press("x", "y")
        await settle(pilot)
        assert engine.commands == [ev.RestartNode(reason="manual")]
        await pilot.press("question_mark")
        await settle(pilot)
        keys = dict((what, key) for key, what in app.screen.keys)
        assert keys["restart the node (asks; says if a reward submission is pending)"] == "x"
        assert "l" in keys["log out: back up and remove the login files (asks)"]


async def test_palette_has_an_entry_for_every_action_and_runs_it():
    from swarmtui.tui.palette import ACTIONS

    app, engine = make_app(RUNNING)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        for _title, _help, action in ACTIONS:
            assert hasattr(app, f"action_{action}"), action
        for binding_id in ("restart", "stop-start", "logout", "reset-identity", "copy", "search", "filter", "next-pane", "help", "quit"):
            assert any(b.id == binding_id for _k, b in app._bindings), binding_id
        await pilot.press("ctrl+p")
        await settle(pilot)
        await pilot.press(*"Restart the node", "enter")
        await settle(pilot, 0.2)
        await pilot.press("y")                       # a running node's restart asks, from here too
        await settle(pilot)
        assert engine.commands == [ev.RestartNode(reason="manual")]


async def test_toasts_on_restart_needs_you_and_identity_change():
    app, engine = make_app(frozen.busy_events())
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        app.toasts.clear()
        engine.emit(ev.RestartScheduled(reason="oom-killed", attempt=2, delay_s=30))
        engine.emit(ev.StateChanged(state=ev.NEEDS_USER, reason="budget", detail="5 restarts in 1h"))
        report = dict(frozen.identity_report(), peer_id="QmNewPeer111", animal_name="new tame fox")
        engine.emit(ev.IdentityChanged(report=report))
        await settle(pilot)
        texts = " | ".join(m for _, m in app.toasts)
        assert "Restart #2 in 30s: oom-killed" in texts
        assert "Needs you (budget)" in texts
        assert "Peer id changed" in texts
        assert ("error", "Needs you (budget): the box at the top says why and what to do") in app.toasts


async def test_engine_start_failure_is_shown_not_raised():
    def boom(engine):
        raise RuntimeError("port 3000 is held by pid 77 (not ours)")

    app, engine = make_app([], on_start=boom)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert any("port 3000 is held" in m for _, m in app.toasts)
        assert "engine start failed" in str(app.status.render_content(0))


async def test_hangup_stops_the_node_through_the_engine_and_exits():
    import signal

    app, engine = make_app(RUNNING)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        app._on_hangup(signal.SIGHUP)
        await settle(pilot)
    assert app.lost_terminal
    assert app.return_code == 129
    assert engine.closed == [True]


def test_run_panel_always_runs_the_emergency_kill():
    from swarmtui.tui.app import run_panel

    app, engine = make_app(RUNNING, on_start=lambda e: None)
    app.call_later(app.exit, 0)
    # headless run: the same path as `swarmtui`, minus a real terminal
    original = app.run
    app.run = lambda: original(headless=True)  # type: ignore[method-assign]
    assert run_panel(app) == 0
    assert engine.closed == [True]
    assert engine.killed >= 1


async def test_after_a_failed_preflight_nothing_runs_so_s_starts_and_q_quits_without_asking():
    problem = "/x/swarm.pem is not hivemind's libp2p key: unexpected protobuf wire type 4"
    app, engine = make_app([ev.PreflightFailed(problems=[problem]),
                            ev.StateChanged(state=ev.NEEDS_USER, reason="preflight", detail=problem),
                            ev.ProcessSnapshot(procs=[])])
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        said = [m for _, m in app.toasts if "protobuf wire type 4" in m]
        assert len(said) == 1, app.toasts               # once, not again as "Needs you"
        await pilot.press("s")                            # retry, not "stop the node?"
        await settle(pilot)
        assert not isinstance(app.screen, ConfirmScreen)
        assert engine.kinds() == ["start"]
        await pilot.press("q")
        await settle(pilot)
    assert engine.closed == [True]                        # quit at once: nothing to stop


async def test_needs_you_with_the_node_still_up_asks_before_quitting():
    proc = ev.ProcInfo(pid=4242, ppid=1, name="bash", cmdline="bash run_rl_swarm.sh", role="launcher")
    app, engine = make_app([ev.StateChanged(state=ev.NEEDS_USER, reason="unknown-prompt", detail="asks"),
                            ev.ProcessSnapshot(procs=[proc])])
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("q")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmScreen)
        assert "Quit swarmtui?" in confirm_text(app)


async def test_the_engine_is_built_after_the_first_frame_and_a_quit_before_that_starts_nothing():
    import threading
    import time

    from swarmtui.tui.app import SwarmApp
    from tests.tui_engine import RecordingEngine

    release = threading.Event()
    built: list[RecordingEngine] = []

    def slow_factory(emit):            # the Supervisor's imports, made slow on purpose
        release.wait(5)
        built.append(RecordingEngine(emit, initial=RUNNING))
        return built[-1]

    app = SwarmApp(slow_factory, layout=frozen.StillLayout(), host=frozen.HOST, user=frozen.USER,
                   clock=frozen.frozen_clock, wall_clock=frozen.frozen_wall_clock, catch_signals=False,
                   drain_interval=0.02)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert app.engine is None and app.state == ev.STARTING     # the screen is up already
        assert "STARTING" in str(app.status.render_content(0))
        assert str(frozen.StillLayout().root) in str(app.status.render_content(0))
        await pilot.press("r")
        await settle(pilot)
        assert any("still starting" in m for _, m in app.toasts)
        await pilot.press("q")                                     # no question: nothing runs
        await settle(pilot)
    release.set()
    end = time.monotonic() + 5
    while not built and time.monotonic() < end:
        time.sleep(0.02)
    time.sleep(0.1)
    assert len(built) == 1 and built[0].started == 0              # built too late: never started


async def test_s_while_backing_off_asks_to_stop_not_start():
    app, engine = make_app([ev.StateChanged(state=ev.BACKOFF, reason="oom-killed", next_restart_in=30.0),
                            ev.ProcessSnapshot(procs=[])])
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("s")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await settle(pilot)
        assert engine.commands == [ev.StopNode(reason="manual")]


async def test_attached_q_detaches_by_default_and_the_footer_says_so():
    app, engine = make_app(RUNNING, attached=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        app.engine.survives_panel = True             # what RemoteEngine says: the node is the keeper's
        assert app.screen.active_bindings["q"].binding.description == "Detach"
        await pilot.press("q")
        await settle(pilot)
        assert [c.id for c in app.screen.choices] == ["leave", "stop", "cancel"]
        assert "keeps running" in confirm_text(app)
        await pilot.press("q")                       # q twice: detach
        await settle(pilot, 0.2)
    assert engine.commands == [] and engine.closed == [False]


async def test_a_question_answered_in_another_panel_closes_here():
    app, engine = make_app(RUNNING, attached=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        engine.emit(ev.PromptSeen(text=">> Which model? [default] ", answered=False))
        await settle(pilot, 0.1)
        assert isinstance(app.screen, PromptScreen)
        engine.emit(ev.ActionDone(action="answer", ok=True, detail="answered: >> Which model?"))
        await settle(pilot, 0.1)
        assert not isinstance(app.screen, PromptScreen) and app.pending_prompt is None
    assert engine.commands == []                   # nothing typed here


async def test_f1_opens_the_help_and_the_help_names_both_keys():
    app, engine = make_app(RUNNING)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("f1")
        await settle(pilot)
        assert isinstance(app.screen, HelpScreen)
        keys = dict((what, key) for key, what in app.screen.keys)
        assert keys["this help"] == "?, f1"


async def test_ctrl_c_says_in_plain_words_which_key_quits():
    app, engine = make_app(RUNNING, keymap={"quit": "x"})
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+c")
        await settle(pilot)
        said = [m for _, m in app.toasts if "ctrl+c" in m]
        assert said == ["ctrl+c does not quit swarmtui: press x to quit (asks)"], app.toasts
        assert engine.closed == [] and not isinstance(app.screen, ConfirmScreen)
