"""Timers and limits on the injected clock: hours of node time in seconds of test time.

The node is still the real simulator; only the engine's clock is fake, so silence, stall,
backoff and the restart budget are driven by FakeClock.advance()."""

from __future__ import annotations

import asyncio
import sys

import pytest

from swarmtui.engine import events as ev
from swarmtui.engine.clock import FakeClock
from supervisor_support import fast_config, harnesses

pytestmark = [pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux process semantics"),
              pytest.mark.timeout(90)]


def fake_config(**restart):
    cfg = fast_config(**restart)
    cfg.watch.snapshot_interval = 3600.0      # snapshots read /proc: not every fake second
    cfg.login.keep_login = True               # every restart goes on without a browser login
    return cfg


@pytest.fixture
async def harness(tmp_path):
    async for make in harnesses(tmp_path, clock=FakeClock):
        yield make


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)
    await asyncio.sleep(0.05)


async def test_a_silent_node_is_restarted_after_the_silence_limit(harness):
    h = harness("codezero", "hang", config=fake_config(silence_limit=600.0))
    await h.sup.start()
    await h.wait_for(lambda e: isinstance(e, ev.ProgressUpdate) and e.rounds_completed >= 1, what="a round")
    await h.wait_quiet()
    h.clock.advance(590)
    await settle()
    assert not h.of(ev.RestartScheduled) and h.sup.state == ev.RUNNING, "restarted before the limit"
    h.clock.advance(11)
    restart = await h.wait_kind(ev.RestartScheduled)
    assert restart.reason == "silence" and restart.attempt == 1
    silence = [d for d in h.of(ev.Detected) if d.id == "silence"]
    assert len(silence) == 1 and "no output at all for 10m" in silence[0].text
    rec = h.of(ev.HistoryAppended)[-1].record
    assert rec["reason"] == "silence" and rec["source"] == "engine" and rec["evidence"]
    assert h.leftovers() == []                 # the hung trainer, its DHT child and p2pd are gone


async def test_a_stalled_node_is_restarted_after_the_stall_limit(harness):
    h = harness("codezero", "stall", config=fake_config(stall_limit=1800.0, startup_grace=3600.0))
    await h.sup.start()
    await h.wait_for(lambda e: isinstance(e, ev.LinesOut)
                     and any("Already finished round" in ln.text for ln in e.lines), what="waiting rounds")
    h.clock.advance(1900)          # past the stall limit, inside the start-up grace
    await settle()
    assert not h.of(ev.RestartScheduled), "the start-up grace was not honoured"
    h.clock.advance(1650)          # 3550 s: still inside the grace
    await settle()
    assert not h.of(ev.RestartScheduled)
    h.clock.advance(60)
    restart = await h.wait_kind(ev.RestartScheduled)
    assert restart.reason == "stalled"
    det = [d for d in h.of(ev.Detected) if d.id == "stalled"][0]
    assert det.text.startswith("no round progress for 1h") and "(last: round " in det.text


async def test_login_wait_never_restarts_and_suspends_the_timers(harness):
    h = harness("codezero", "login-wait", login="never",
                config=fake_config(silence_limit=60.0, stall_limit=60.0, startup_grace=0.0))
    await h.sup.start()
    st = await h.wait_state(ev.LOGIN_REQUIRED)
    assert st.reason == "login-waiting" and f"http://localhost:{h.port}" in st.detail
    login = h.of(ev.LoginRequired)[0]
    assert login.url == f"http://localhost:{h.port}" and login.ssh_hint.startswith(f"ssh -L {h.port}:localhost:{h.port} ")
    for _ in range(12):                  # two hours of waiting for a browser
        h.clock.advance(600)
        await settle()
    assert h.sup.state == ev.LOGIN_REQUIRED
    assert not h.of(ev.RestartScheduled) and ev.STOPPING not in h.states()
    assert not [d for d in h.of(ev.Detected) if d.id in ("silence", "stalled")]
    assert h.sup._run.launcher.returncode is None, "the node was stopped"


async def test_the_first_restart_is_at_once_then_backoff_grows_until_the_budget_stops_the_loop(harness):
    h = harness("codezero", "p2pd-timeout",
                config=fake_config(budget=3, startup_failures=10, first_delay=0.0, backoff_initial=10.0,
                                   backoff_factor=3.0, give_up_retry=0.0))    # no retry after giving up here
    await h.sup.start()
    first = await h.wait_kind(ev.RestartScheduled, timeout=30)
    assert (first.reason, first.attempt, first.delay_s) == ("p2pd-startup-timeout", 1, 0.0)
    # Run 2 starts with no time passing on the clock: the first restart does not wait.
    second = await h.wait_for(lambda e: isinstance(e, ev.RestartScheduled) and e is not first, timeout=30)
    assert (second.attempt, second.delay_s) == (2, 10.0)
    starts = [e for e in h.of(ev.StateChanged) if e.state == ev.STARTING and e.detail.startswith("run ")]
    assert [e.detail.split(":")[0] for e in starts] == ["run 1", "run 2"]
    await h.wait_state(ev.BACKOFF, next_restart_in=10.0)
    h.clock.advance(9)
    await settle()
    assert h.sup.state == ev.BACKOFF, "started before the backoff was over"
    h.clock.advance(1)
    third = await h.wait_for(lambda e: isinstance(e, ev.RestartScheduled) and e.attempt == 3, timeout=30)
    assert third.delay_s == 30.0
    await h.wait_state(ev.BACKOFF, next_restart_in=30.0)
    h.clock.advance(30)
    st = await h.wait_state(ev.NEEDS_USER, timeout=30)
    assert "budget" in st.detail and st.reason == "p2pd-startup-timeout"
    assert len(h.of(ev.RestartScheduled)) == 3
    h.clock.advance(7200)                # no restart while it needs the person
    await settle()
    assert h.sup.state == ev.NEEDS_USER and len(h.of(ev.RestartScheduled)) == 3
    assert [r["action"] for r in (e.record for e in h.of(ev.HistoryAppended))] == ["restart"] * 3 + ["needs-user"]
    # the person starts it: budget and backoff start over
    h.sup.send(ev.StartNode())
    again = await h.wait_for(lambda e: isinstance(e, ev.RestartScheduled) and e.attempt == 1 and e is not first,
                             timeout=30)
    assert again.delay_s == 0.0


async def test_identical_startup_failures_in_a_row_stop_with_the_hint(harness):
    h = harness("rgym", "bootstrap-failed", config=fake_config(startup_failures=2, budget=10))
    await h.sup.start()
    await h.wait_kind(ev.RestartScheduled, timeout=30, reason="p2pd-bootstrap-failed")
    await h.wait_state(ev.BACKOFF)
    h.clock.advance(10)
    st = await h.wait_state(ev.NEEDS_USER, timeout=30)
    assert "2 identical failures in a row" in st.detail and "bootnodes" in st.detail


async def test_stop_during_backoff_stays_stopped(harness):
    h = harness("codezero", "oom-killed")
    await h.sup.start()
    await h.wait_state(ev.BACKOFF, timeout=30)
    h.sup.send(ev.StopNode())
    await h.wait_state(ev.STOPPED)
    h.clock.advance(3600)
    await settle()
    assert h.sup.state == ev.STOPPED and len(h.of(ev.RestartScheduled)) == 1
    assert not any(isinstance(e, ev.StateChanged) and "run 2" in e.detail for e in h.events)
