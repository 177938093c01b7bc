"""engine.policy + engine.clock: hours of restarts driven through a fake clock in milliseconds."""

from __future__ import annotations

import asyncio

import pytest

from swarmtui.engine.clock import FakeClock, MonotonicClock
from swarmtui.engine.config import RestartConfig
from swarmtui.engine.policy import IGNORE, NEEDS_USER, RESTART, WARN, Decision, RestartPolicy


def make(**kw):
    clock = FakeClock()
    cfg = RestartConfig(**kw)
    pol = RestartPolicy(cfg, clock)
    pol.run_started()
    return pol, clock


def fail_and_restart(pol, clock, id="game-run-exception", cls="fatal", action="restart", run_for=0.0):
    clock.advance(run_for)
    d = pol.on_detection(id, cls, action)
    if d.action == RESTART:
        clock.advance(d.delay_s)
        pol.run_started()
    return d


# ---------------------------------------------------------------- the fake clock

async def test_fake_clock_sleep_wakes_only_when_time_passes_its_deadline():
    clock = FakeClock()
    woke = []

    async def sleeper(name, s):
        await clock.sleep(s)
        woke.append((name, clock.monotonic()))

    t1 = asyncio.create_task(sleeper("a", 3600))
    t2 = asyncio.create_task(sleeper("b", 10))
    await asyncio.sleep(0)
    assert clock.sleepers == 2
    clock.advance(9.9)
    await asyncio.sleep(0)
    assert woke == []
    clock.advance(0.1)
    await asyncio.sleep(0)
    assert [w[0] for w in woke] == ["b"]
    clock.advance(3600)
    await asyncio.gather(t1, t2)
    assert [w[0] for w in woke] == ["b", "a"]
    assert clock.wall() - clock.monotonic() == pytest.approx(1_767_225_600.0 - 1000.0)


async def test_fake_clock_run_for_fires_sleeps_scheduled_by_woken_tasks():
    clock = FakeClock()
    ticks = []

    async def ticker():
        while True:
            await clock.sleep(60)
            ticks.append(clock.monotonic())

    task = asyncio.create_task(ticker())
    await clock.run_for(3 * 3600)           # three hours of once-a-minute ticks
    task.cancel()
    assert len(ticks) == 180
    assert ticks[-1] - ticks[0] == pytest.approx(179 * 60)


async def test_fake_clock_cancelled_sleep_is_dropped():
    clock = FakeClock()
    t = asyncio.create_task(clock.sleep(5))
    await asyncio.sleep(0)
    t.cancel()
    await asyncio.sleep(0)
    assert clock.sleepers == 0
    assert clock.next_deadline() is None
    with pytest.raises(ValueError):
        clock.advance(-1)


async def test_monotonic_clock_is_real():
    c = MonotonicClock()
    a = c.monotonic()
    await c.sleep(0.01)
    assert c.monotonic() - a >= 0.009
    assert c.wall() > 1.7e9


# ---------------------------------------------------------------- backoff

def test_the_first_restart_is_at_once_then_the_backoff_is_exponential_and_capped():
    # The first failure in a row restarts at once (a fresh start clears the common ones); from
    # the second in a row backoff_initial, doubling, capped at backoff_max.
    pol, clock = make(budget=100, startup_failures=100)
    delays = []
    for i in range(9):
        d = fail_and_restart(pol, clock, id=f"x{i % 2}", run_for=30)
        assert d.action == RESTART
        delays.append(d.delay_s)
        assert d.attempt == i + 1
    assert delays == [0, 10, 20, 40, 80, 160, 300, 300, 300]
    assert pol.config.first_delay == 0 and pol.config.backoff_initial == 10


def test_backoff_resets_after_a_stable_run():
    pol, clock = make(budget=100, startup_failures=100)
    for _ in range(4):
        fail_and_restart(pol, clock, run_for=5)
    assert pol.next_delay() == 80                     # the fifth in a row
    d = fail_and_restart(pol, clock, run_for=601)     # that run lasted past stable_after (10 min)
    assert (d.delay_s, d.attempt) == (0, 1)
    assert fail_and_restart(pol, clock, run_for=5).delay_s == 10   # the next one in a row backs off again


def test_first_delay_is_the_first_restarts_wait_and_backoff_initial_the_seconds():
    pol, clock = make(first_delay=3.0, budget=100, startup_failures=100)
    assert [fail_and_restart(pol, clock, id=f"x{i % 2}", run_for=30).delay_s for i in range(3)] == [3, 10, 20]


def test_a_dirty_stop_gets_no_instant_restart():
    # Something of ours outlived the stop, or the login port is still held: a fresh start would
    # fail on it at once, so the first restart waits like a second one.
    pol, clock = make(budget=100, startup_failures=100)
    d = pol.on_exit(1, None)
    assert (d.delay_s, d.attempt) == (0, 1) and d.detail.endswith("restart 1 in a row, at once")
    dirty = pol.after_stop(d, clean=False, why="port 3000 is held by another process: 42 node")
    assert (dirty.action, dirty.delay_s, dirty.attempt, dirty.reason) == (RESTART, 10, 1, "exited")
    assert dirty.detail == ("the launcher exited (code 1); restart 1 in a row, after 10s: the stop was not clean "
                            "(port 3000 is held by another process: 42 node)")
    assert pol.after_stop(d, clean=True) == d                  # a clean stop keeps the instant restart
    clock.advance(dirty.delay_s)
    pol.run_started()
    clock.advance(5)
    second = pol.on_detection("oom-killed", "resource", "restart")
    assert second.delay_s == 10 and pol.after_stop(second, clean=False, why="x") == second  # backing off anyway
    manual = pol.on_manual()
    assert pol.after_stop(manual, clean=False, why="x") == manual                          # you asked: now
    assert pol.after_stop(Decision(NEEDS_USER, reason="x"), clean=False) == Decision(NEEDS_USER, reason="x")


def test_budget_then_needs_user_instead_of_a_crash_loop():
    pol, clock = make(startup_failures=100)       # budget 5 per hour
    ids = ["a", "b", "a", "b", "a"]
    for id in ids:
        assert fail_and_restart(pol, clock, id=id, run_for=60).action == RESTART
    assert pol.restarts_in_window() == 5
    d = fail_and_restart(pol, clock, id="b", run_for=60)
    assert d.action == NEEDS_USER and "budget" in d.detail and d.delay_s == 0
    # an hour after the first restarts, budget is available again
    clock.advance(3600)
    assert pol.restarts_in_window() == 0
    assert fail_and_restart(pol, clock, id="a", run_for=700).action == RESTART


def test_three_identical_startup_failures_in_a_row_stop_with_the_hint():
    pol, clock = make()
    hint = "stale p2pd sockets; see rl-swarm #106"
    for n in (1, 2):
        d = pol.on_detection("p2pd-startup-timeout", "startup", "restart-after-cleanup", hint)
        assert d.action == RESTART and d.cleanup and d.attempt == n
        clock.advance(d.delay_s + 20)
        pol.run_started()
        clock.advance(20)
    d = pol.on_detection("p2pd-startup-timeout", "startup", "restart-after-cleanup", hint)
    assert d.action == NEEDS_USER
    assert d.hint == hint
    assert "3 identical failures in a row" in d.detail


def test_a_different_failure_breaks_the_streak():
    pol, clock = make(budget=100)
    for id in ("p2pd-startup-timeout", "p2pd-startup-timeout", "testnet-unreachable", "p2pd-startup-timeout",
               "p2pd-startup-timeout"):
        assert fail_and_restart(pol, clock, id=id, cls="startup", run_for=30).action == RESTART


def test_failures_after_stable_runs_never_make_a_streak():
    pol, clock = make(budget=100)
    for _ in range(6):                             # a node that OOMs after 2 h each time
        d = fail_and_restart(pol, clock, id="oom-killed", cls="resource", run_for=2 * 3600)
        assert d.action == RESTART and d.delay_s == 0 and d.attempt == 1     # each one a first: at once


def test_resource_restarts_count_toward_the_budget():
    pol, clock = make(startup_failures=100, budget=3)
    for _ in range(3):
        assert fail_and_restart(pol, clock, id="cuda-oom", cls="resource", run_for=30).action == RESTART
    assert fail_and_restart(pol, clock, id="cuda-oom", cls="resource", run_for=30).action == NEEDS_USER


def test_benign_and_ignore_never_restart_and_never_count():
    pol, clock = make()
    for _ in range(50):
        assert pol.on_detection("chain-submit-transient", "benign", "ignore").action == IGNORE
        assert pol.on_detection("skipped-round", "info", "ignore").action == IGNORE
        assert pol.on_detection("peer-already-registered", "benign", "restart").action == IGNORE
    assert pol.restarts_in_window() == 0
    assert pol.on_detection("x", "fatal", "restart").attempt == 1     # still the first restart in a row


def test_warn_restarts_only_when_a_degraded_warning_repeats_within_the_window():
    pol, clock = make()       # warn_repeat 5 in 1 h
    for i in range(4):
        d = pol.on_detection("training-error-continuing", "degraded", "warn")
        assert d.action == WARN and f"{i + 1} of 5" in d.detail
        clock.advance(60)
    clock.advance(60 * 60)    # the first four fall out of the window
    for _ in range(4):
        assert pol.on_detection("training-error-continuing", "degraded", "warn").action == WARN
    d = pol.on_detection("training-error-continuing", "degraded", "warn")
    assert d.action == RESTART and d.reason == "training-error-continuing" and "repeated 5 times" in d.detail


def test_an_error_caught_every_round_restarts_after_five_rounds():
    # genrl 0.1.11 logs "Error occurred during training, continuing..." once per round, and a
    # round takes ~4.4 min (facts §5.1): the default window must see five of them.
    pol, clock = make()
    actions = []
    for _ in range(5):
        clock.advance(4.4 * 60)
        actions.append(pol.on_detection("training-error-continuing", "degraded", "warn").action)
    assert actions == [WARN] * 4 + [RESTART]


def test_plain_warnings_never_restart():
    pol, clock = make()
    for _ in range(20):
        assert pol.on_detection("new-identity-generated", "identity", "warn").action == WARN
        assert pol.on_detection("python-traceback", "unknown", "warn").action == WARN


def test_needs_user_actions_and_unknown_actions():
    pol, _ = make()
    d = pol.on_detection("login-port-in-use", "conflict", "needs-user", "free port 3000")
    assert d.action == NEEDS_USER and d.hint == "free port 3000"
    assert pol.on_detection("x", "fatal", "explode").action == WARN


def test_exit_and_manual():
    pol, clock = make()
    d = pol.on_exit(143, None)
    assert d.action == RESTART and d.reason == "exited" and d.cleanup and "code 143" in d.detail
    clock.advance(d.delay_s)
    pol.run_started()
    m = pol.on_manual()
    assert (m.action, m.delay_s, m.reason) == (RESTART, 0, "manual")
    assert pol.restarts_in_window() == 1       # manual restarts are not charged to the budget
    assert pol.on_exit(None, 9).detail.startswith("the launcher exited (signal 9)")


def test_reset_forgets_budget_and_streak():
    pol, clock = make(budget=2)
    fail_and_restart(pol, clock)
    fail_and_restart(pol, clock)
    assert fail_and_restart(pol, clock).action == NEEDS_USER
    pol.reset()
    pol.run_started()
    d = fail_and_restart(pol, clock)
    assert d.action == RESTART and (d.attempt, d.delay_s) == (1, 0)


async def test_a_day_of_crash_loop_through_the_clock_takes_milliseconds():
    """The loop a supervisor runs: fail, sleep the backoff on the clock, start again."""
    clock = FakeClock()
    pol = RestartPolicy(RestartConfig(), clock)
    outcomes = []

    async def node_loop():
        pol.run_started()
        while True:
            await clock.sleep(120)                     # every run dies two minutes in
            d = pol.on_detection("exited", "fatal", "restart")
            outcomes.append((clock.monotonic(), d.action, d.delay_s))
            if d.action != RESTART:
                return
            await clock.sleep(d.delay_s)
            pol.run_started()

    task = asyncio.create_task(node_loop())
    await clock.run_for(24 * 3600)
    await asyncio.wait_for(task, 1)
    assert [o[1] for o in outcomes] == [RESTART, RESTART, NEEDS_USER]   # 3 identical start-up failures
    assert [o[2] for o in outcomes[:2]] == [0, 10]


@pytest.mark.parametrize("id", ["round-fetch-failing", "hf-push-failed", "prg-game-error", "chain-submit-transient"])
def test_catalogue_warnings_that_a_restart_cannot_fix_never_restart(id):
    # A restart can throw away up to 3 h of batched rewards: an RPC blip, a failed Hugging Face
    # push or a prediction-market error repeated every 5 s must never trigger one by itself.
    from swarmtui.node.signatures import Catalogue

    sig = Catalogue.load().get(id)
    pol, clock = make()
    actions = set()
    for _ in range(50):
        clock.advance(5)
        actions.add(pol.on_detection(sig.id, sig.cls, sig.action).action)
    assert RESTART not in actions and NEEDS_USER not in actions
