"""Enter in the history opens the record as a page a person reads: what happened, when, what
swarmtui did, the hint, the evidence with the matched line marked, the transcript to open."""

from __future__ import annotations

import datetime as _dt

from swarmtui.engine import events as ev
from swarmtui.engine.history import RestartRecord
from swarmtui.tui.screens.record import RecordScreen, evidence_rows, record_page
from tests.screen_read import screen_text
from tests.tui_engine import make_app

NOW = _dt.datetime(2025, 11, 26, 14, 30, 0, tzinfo=_dt.timezone.utc)
KILLED = "./run_rl_swarm.sh: line 287:  4312 Killed  python -m code_gen_exp.runner.swarm_launcher"


def oom_record() -> dict:
    """A record as the supervisor writes it (RestartRecord.to_dict, with its `v`, `cls` and
    `exit_code: None` that the old view dumped as they were)."""
    return RestartRecord(
        time="2025-11-26T14:20:00.000Z", reason="oom-killed", action="restart", cls="resource", text=KILLED,
        source="pty", line=2214, exit_code=None, exit_signal=None, uptime_s=3725.0, backoff_s=30.0, attempt=2,
        orphans_killed=[{"pid": 38544, "cmdline": "p2pd -id=/home/operator/rl-swarm/swarm.pem", "proof": "descendant"}],
        reward_loss=True, reward_note="3 round(s) finished since the last submission", run=12,
        hint="the kernel's OOM killer stopped python: add RAM or swap",
        evidence=["pty:2212: train step 33/40", f"pty:2214: {KILLED}", "pty:2215: >> Shutting down trainer..."],
        transcript="runs/run-000012.log", transcript_line=4567).to_dict()


def test_the_page_says_what_when_what_was_done_and_where_to_look(tmp_path):
    page = dict(record_page(oom_record(), state_dir=tmp_path / "state", now=NOW))
    assert page["What happened"].startswith("oom-killed: ./run_rl_swarm.sh: line 287:")
    assert "10m ago" in page["When"] and "the run had lasted 1h 02m" in page["When"] and "run 12" in page["When"]
    assert page["swarmtui"] == ("restarted the node after waiting 30s (attempt 2); stopped 1 leftover process of "
                                "ours (38544 p2pd -id=/home/operator/rl-swarm/swarm.pem)")
    assert page["Rewards"] == "may have been lost: 3 round(s) finished since the last submission"
    assert page["What to do"].startswith("the kernel's OOM killer")
    transcript = str(tmp_path / "state" / "runs" / "run-000012.log")
    assert page["Transcript"] == f"{transcript} line 4567   (less +4567g {transcript})"
    # no raw field dump: none of the record's internal names or empty values
    shown = "\n".join(f"{k} {v}" for k, v in page.items())
    for raw in ("cls", "resource", "v 1", "None", "exit_code", "backoff_s"):
        assert raw not in shown


def test_the_matched_line_is_marked_and_only_that_one():
    rows = evidence_rows(oom_record())
    assert [marked for _, marked in rows] == [False, True, False]
    # a record with no position (an old one) marks the line holding its matched text
    old = {"reason": "oom-killed", "text": KILLED, "evidence": ["a", KILLED, "b"]}
    assert [marked for _, marked in evidence_rows(old)] == [False, True, False]
    assert [marked for _, marked in evidence_rows({"reason": "stalled", "text": "", "evidence": ["a"]})] == [False]


async def test_enter_on_a_history_row_opens_the_readable_page():
    app, _engine = make_app([ev.HistoryAppended(record=oom_record()), ev.StateChanged(state=ev.RUNNING)])
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.3)
        await pilot.press("tab", "tab")
        assert app._current_pane() == "history-pane"
        await pilot.press("enter")
        await pilot.pause(0.2)
        assert isinstance(app.screen, RecordScreen)
        text = screen_text(app)
        assert "What happened" in text and "What to do" in text
        assert "▶ pty:2214: ./run_rl_swarm.sh" in text          # the matched line, marked
        assert "  pty:2212: train step 33/40" in text
        # the path itself may wrap (the test's state dir is long); its line and how to open it
        assert "line 4567" in text and "less +4567g" in text
        assert "exit_code" not in text and "cls " not in text
