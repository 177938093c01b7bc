"""engine.replay: what a viewer that attaches now is shown, from the keeper's own event stream."""

from __future__ import annotations

from swarmtui.engine import events as ev
from swarmtui.engine.replay import ReplayCache


def lines(n: int, start: int = 1) -> ev.LinesOut:
    return ev.LinesOut(lines=[ev.LogLine("pty", i, f"line {i}") for i in range(start, start + n)], partial="Map: 5%")


def test_a_snapshot_brings_a_new_viewer_to_now():
    history = [{"time": "2026-12-01T10:00:00Z", "reason": "oom-killed", "action": "restart"}]
    cache = ReplayCache(backlog=100, history=lambda: list(history))
    cache.observe(ev.StateChanged(state=ev.STARTING))
    cache.observe(ev.IdentityChanged(report={"peer_id": "Qm1"}))
    cache.observe(ev.ProgressUpdate(round=5))
    cache.observe(ev.ProgressUpdate(round=6))
    cache.observe(lines(150))
    cache.observe(ev.StateChanged(state=ev.RUNNING, reason="logged-in"))
    history.append({"time": "2026-12-01T11:00:00Z", "reason": "manual", "action": "restart"})
    snap = cache.snapshot()
    kinds = [type(e) for e in snap]
    assert kinds[0] is ev.HistoryLoaded and [r["reason"] for r in snap[0].records] == ["oom-killed", "manual"]
    assert [e.round for e in snap if isinstance(e, ev.ProgressUpdate)] == [6]          # the latest only
    assert [e.state for e in snap if isinstance(e, ev.StateChanged)] == [ev.RUNNING]
    out = [e for e in snap if isinstance(e, ev.LinesOut)][0]
    assert [ln.line for ln in out.lines] == list(range(51, 151)) and out.partial == "Map: 5%"   # bounded


def test_a_pending_question_is_asked_again_until_answered_anywhere():
    cache = ReplayCache()
    cache.observe(ev.StateChanged(state=ev.RUNNING))
    ask = ev.PromptSeen(text="Enter your token: ", answered=False, secret=True)
    cache.observe(ask)
    assert ask in cache.snapshot()
    cache.observe(ev.ActionDone(action="answer", ok=True, detail="answered"))     # in another viewer
    assert not [e for e in cache.snapshot() if isinstance(e, ev.PromptSeen)]
    cache.observe(ask)
    cache.observe(ev.PromptSeen(text="Enter your token: ", answered=True, rule="hf_token"))
    assert not [e for e in cache.snapshot() if isinstance(e, ev.PromptSeen)]


def test_a_login_wait_and_a_failed_preflight_last_only_while_their_state_does():
    cache = ReplayCache()
    cache.observe(ev.StateChanged(state=ev.LOGIN_REQUIRED))
    cache.observe(ev.LoginRequired(url="http://localhost:3000", ssh_hint="ssh -L 3000:localhost:3000 op@box"))
    assert any(isinstance(e, ev.LoginRequired) for e in cache.snapshot())
    cache.observe(ev.StateChanged(state=ev.RUNNING))
    assert not any(isinstance(e, ev.LoginRequired) for e in cache.snapshot())
    cache.observe(ev.PreflightFailed(problems=["port 3000 is held"]))
    cache.observe(ev.StateChanged(state=ev.NEEDS_USER, reason="preflight"))
    snap = cache.snapshot()
    assert [type(e) for e in snap].index(ev.PreflightFailed) < [type(e) for e in snap].index(ev.StateChanged)
    cache.observe(ev.StateChanged(state=ev.STARTING))
    assert not any(isinstance(e, ev.PreflightFailed) for e in cache.snapshot())


def test_a_late_viewer_gets_the_uptime_and_the_countdown_of_now_not_of_when_they_began():
    now = [100.0]
    cache = ReplayCache(clock=lambda: now[0])
    cache.observe(ev.StateChanged(state=ev.RUNNING, uptime_s=2.0))
    now[0] += 3600
    (state,) = [e for e in cache.snapshot() if isinstance(e, ev.StateChanged)]
    assert state.uptime_s == 3602.0 and state.state == ev.RUNNING
    assert cache.state.uptime_s == 2.0                  # what was emitted stays as it was
    cache.observe(ev.StateChanged(state=ev.BACKOFF, next_restart_in=30.0, uptime_s=61.0))
    now[0] += 12
    (state,) = [e for e in cache.snapshot() if isinstance(e, ev.StateChanged)]
    assert state.next_restart_in == 18.0 and state.uptime_s == 61.0     # a stopped run's uptime stands
    now[0] += 60
    assert [e for e in cache.snapshot() if isinstance(e, ev.StateChanged)][0].next_restart_in == 0.0
