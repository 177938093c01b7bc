"""Alerts from a real keeper engine, through apprise, to a real HTTP receiver on 127.0.0.1.

The node is the simulator as a real process tree (tests/supervisor_support.py); the alert sink
is wired the way `swarmtui supervise` wires it (engine.exports behind the engine's emit, as
Fanout.observers does), with apprise `json://` URLs pointing at tests/alert_receiver.py. Where
the timers are the point, the engine runs on a FakeClock.
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import sys
import time

import pytest

from swarmtui import paths
from swarmtui.engine import events as ev
from swarmtui.engine.clock import FakeClock
from swarmtui.engine.exports import Exports
from swarmtui.sim.login import temp_data_dir
from alert_receiver import Receiver
from supervisor_support import clean_env, fast_config, harnesses

pytest.importorskip("apprise")
pytestmark = [pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux process semantics"),
              pytest.mark.timeout(120)]


@pytest.fixture
async def harness(tmp_path):
    async for make in harnesses(tmp_path):
        yield make


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def alert_config(url: str, *, min_interval: float = 600.0, **restart):
    cfg = fast_config(**restart)
    cfg.login.keep_login = True                 # every restart goes on without a browser login
    cfg.notify.urls = (url,)
    cfg.notify.min_interval = min_interval
    return cfg


async def wire(h) -> Exports:
    """Exports behind the engine's emit, as supervise puts it behind Fanout.emit."""
    sup = h.sup
    engine_emit = sup.emit
    exports = Exports(sup.layout, h.config, catalogue=sup.catalogue, clock=sup.clock, env=clean_env(),
                      ssh_hint=sup.ssh_hint, notice=lambda level, text: sup.emit(ev.Notice(level=level, text=text)))

    def emit(event):
        engine_emit(event)
        exports.observe(event)

    sup.emit = emit
    await exports.start()
    h.exports = exports
    return exports


async def settle(seconds: float = 0.05) -> None:
    for _ in range(20):
        await asyncio.sleep(0)
    await asyncio.sleep(seconds)


def animal_of(h) -> str:
    names = [e.report.get("animal_name") for e in h.of(ev.IdentityChanged) if e.report.get("animal_name")]
    assert names, "the node never had an identity"
    return names[-1]


# ---------------------------------------------------------------- needs-user: one alert


async def test_a_crash_loop_that_ends_in_needs_user_sends_exactly_one_alert_with_node_and_cause(harness, receiver):
    h = harness("codezero", "oom-killed",
                config=alert_config(receiver.url(), backoff_initial=0.1, backoff_max=0.5, startup_failures=3,
                                    budget=10))
    exports = await wire(h)
    try:
        await h.sup.start()
        st = await h.wait_state(ev.NEEDS_USER, timeout=90)
        assert st.reason == "oom-killed" and st.next_restart_in == 1800.0     # give_up_retry's default
        (body,) = await receiver.wait_for(1)
        await asyncio.sleep(1.0)                    # and nothing after it
        assert len(receiver.raw) == 1
        node = f"node0 ({animal_of(h)})"
        assert body["title"] == f"swarmtui: {node} keeps failing (oom-killed), gave up"
        msg = body["message"]
        assert msg.startswith(f"{node}: keeps failing (oom-killed)")
        assert "3 identical failures in a row (oom-killed)" in msg
        assert "(after 2 restarts in 1m: oom-killed ×2)" in msg       # the restarts before it, told here
        assert "tries again in 30m" in msg and "Host: " in msg
        assert exports.sender.failed == 0
    finally:
        await exports.close(0.5)


# ---------------------------------------------------------------- restarts: one gathered alert


async def test_five_restarts_within_a_minute_send_one_gathered_alert(harness, receiver):
    clock = FakeClock()
    h = harness("codezero", "oom-killed", clock=clock,
                config=alert_config(receiver.url(), min_interval=60.0, backoff_initial=10.0, backoff_factor=1.0,
                                    backoff_max=10.0, startup_failures=100, budget=100))
    h.config.watch.snapshot_interval = 3600.0
    exports = await wire(h)
    try:
        await h.sup.start()
        for n in range(1, 6):
            await h.wait_for(lambda e: isinstance(e, ev.RestartScheduled) and e.attempt == n, timeout=30,
                             what=f"restart {n}")
            await settle()
            if n < 5:
                clock.advance(10)               # the backoff: 40 s of node time for five restarts
        h.sup.send(ev.StopNode())
        await h.wait_state(ev.STOPPED)
        assert receiver.raw == []               # gathered, not one message per restart
        clock.advance(59 - 40)
        await settle(0.3)
        assert receiver.raw == []
        clock.advance(25)                       # the window of min_interval is over
        (body,) = await receiver.wait_for(1)
        await asyncio.sleep(0.5)
        assert len(receiver.raw) == 1
        assert body["title"].startswith(f"swarmtui: node0 ({animal_of(h)}) 5 restarts in 1m")
        assert "5 restarts in 1m: oom-killed ×5" in body["message"]
        assert "it has since been stopped" in body["message"]
    finally:
        await exports.close(0.5)


# ---------------------------------------------------------------- a hanging service


async def test_a_receiver_that_hangs_60s_does_not_delay_the_next_restart(harness):
    hanging = Receiver(hang=60.0)
    h = harness("codezero", "oom-killed,healthy",
                config=alert_config(hanging.url(), min_interval=0.0, backoff_initial=0.2, backoff_max=0.2))
    stamps: list[tuple[float, ev.Event]] = []
    exports = await wire(h)
    inner = h.sup.emit

    def stamped(event):
        stamps.append((time.monotonic(), event))
        inner(event)

    h.sup.emit = stamped
    try:
        await h.sup.start()
        await h.wait_kind(ev.RestartScheduled, timeout=60)
        second = await h.wait_for(lambda e: isinstance(e, ev.StateChanged) and e.state == ev.STARTING
                                  and e.detail.startswith("run 2:"), timeout=30, what="the second run")
        t_restart = next(t for t, e in stamps if isinstance(e, ev.RestartScheduled))
        t_run2 = next(t for t, e in stamps if e is second)
        took = t_run2 - t_restart
        print(f"restart decided -> run 2 started: {took * 1000:.0f} ms while the alert service hangs")
        assert hanging.arrived >= 1, "the alert never reached the hanging service"
        assert hanging.raw == [], "the service answered: it was not hanging"
        assert took < 10.0, f"the restart waited for the alert service ({took:.1f} s)"
        await h.wait_for(lambda e: isinstance(e, ev.StateChanged) and e.state == ev.RUNNING, timeout=30,
                         since=h.events.index(second), what="run 2 running")
    finally:
        hanging.close()
        await exports.close(0.5)


# ---------------------------------------------------------------- secrets never leave


def plant_login(root, org: str, user: str, email: str, eoa: str, priv: str, pub: str, account: str) -> None:
    temp = temp_data_dir(root)
    temp.mkdir(parents=True, exist_ok=True)
    (temp / "userData.json").write_text(json.dumps(
        {org: {"userId": user, "orgId": org, "address": eoa, "email": email}}, indent=2))
    (temp / "userApiKey.json").write_text(json.dumps(
        {org: [{"publicKey": pub, "privateKey": priv, "createdAt": "2026-01-01T00:00:00.000Z", "activated": True,
                "deferredActionDigest": "0x" + secrets.token_hex(32), "accountAddress": account,
                "initCode": "0x" + secrets.token_hex(88)}]}, indent=2))


async def test_no_alert_body_carries_a_planted_secret(harness, receiver):
    planted = {
        "org": f"org-PLANTED-{secrets.token_hex(6)}",               # only known by value, no secret shape
        "user": f"user-PLANTED-{secrets.token_hex(6)}",
        "email": f"planted.{secrets.token_hex(3)}@example.org",
        "eoa": "0x" + secrets.token_hex(20),
        "priv": secrets.token_hex(32),
        "pub": "03" + secrets.token_hex(32),
        "account": "0x" + secrets.token_hex(20),
        "hf": f"hf_Planted{secrets.token_hex(10)}",
    }
    url_token = f"tok-{secrets.token_hex(8)}"
    h = harness("codezero", "oom-killed", login="never",
                edit=lambda root: plant_login(root, planted["org"], planted["user"], planted["email"], planted["eoa"],
                                              planted["priv"], planted["pub"], planted["account"]),
                config=alert_config(receiver.url(f"/hook/{url_token}"), min_interval=0.0, backoff_initial=0.1,
                                    backoff_max=0.3, startup_failures=3, budget=10))
    h.config.answers["hf_token"] = planted["hf"]
    exports = await wire(h)
    exports.policy.login_alert_after = 0.0      # the login alert below goes out at once
    try:
        await h.sup.start()
        await h.wait_state(ev.NEEDS_USER, timeout=90)
        pem = (h.root / "swarm.pem").read_bytes()
        b64 = base64.b64encode(pem).decode()
        leak = " ".join(planted.values()) + f" {planted['eoa'].upper()[2:]} pem:{b64} url:{url_token}"
        # What no real event carries today, but a node's own line could: each alert path quoting it.
        h.sup.emit(ev.Detected(id="stalled", cls="hang", action="restart", source="engine", line=0,
                               text=f"no round progress; the node said {leak}", hint=f"hint {leak}"))
        h.sup.emit(ev.StateChanged(state=ev.NEEDS_USER, reason="unknown-prompt",
                                   detail=f"the script asks 'Your key {leak}?' and no [answers] rule knows it"))
        h.sup.emit(ev.LoginRequired(url="http://localhost:3000", ssh_hint=f"ssh -L 3000:localhost:3000 {leak}",
                                    waiting_for=leak))
        h.sup.emit(ev.HistoryAppended(record={"reason": "keeper-lost", "text": leak, "hint": leak}))
        await receiver.wait_for(2 + 1 + 4)            # 2 restarts, the give-up, and the four above
        await asyncio.sleep(0.5)
        raw = b"\n".join(receiver.raw).decode()
        assert len(receiver.raw) == 7 and "[hidden]" in raw
        for name, value in planted.items():
            assert value not in raw and value.lower() not in raw.lower(), f"{name} was sent"
        for name in ("eoa", "account"):
            assert planted[name][2:].lower() not in raw.lower(), f"{name} was sent without its 0x"
        assert b64 not in raw and b64[:40] not in raw and url_token not in raw
        # the planted login was the one the node ran with: the secrets were there to leak
        kept = paths.node_state_dir(h.root) / "login" / "userData.json"
        assert planted["org"] in kept.read_text()
    finally:
        await exports.close(0.5)


# ---------------------------------------------------------------- give up, try again, recover


async def test_a_crash_loop_gives_up_tries_again_after_give_up_retry_and_recovers(harness, receiver):
    clock = FakeClock()
    h = harness("codezero", "oom-killed,oom-killed,oom-killed,healthy", clock=clock,
                config=alert_config(receiver.url(), min_interval=600.0, backoff_initial=10.0, backoff_factor=1.0,
                                    backoff_max=10.0, startup_failures=3, budget=10, give_up_retry=120.0))
    h.config.watch.snapshot_interval = 3600.0
    exports = await wire(h)
    try:
        await h.sup.start()
        for n in (1, 2):
            await h.wait_for(lambda e: isinstance(e, ev.RestartScheduled) and e.attempt == n, timeout=30)
            await settle()
            clock.advance(10)
        gave_up = await h.wait_state(ev.NEEDS_USER, timeout=30)
        assert gave_up.next_restart_in == 120.0 and "swarmtui tries again in 2m" in gave_up.detail
        (first,) = await receiver.wait_for(1)
        assert "keeps failing (oom-killed)" in first["title"] and "tries again in 2m" in first["message"]
        clock.advance(119)
        await settle(0.3)
        assert h.sup.state == ev.NEEDS_USER, "tried again before give_up_retry"
        since = len(h.events)
        clock.advance(1)
        await h.wait_for(lambda e: isinstance(e, ev.StateChanged) and e.state == ev.STARTING
                         and e.detail.startswith("run 4:"), timeout=30, what="the retry's run", since=since)
        assert any(isinstance(e, ev.Notice) and "trying again after giving up" in e.text for e in h.events[since:])
        await h.wait_for(lambda e: isinstance(e, ev.StateChanged) and e.state == ev.RUNNING, timeout=30,
                         what="the retry running", since=since)
        rounds = h.sup.progress.rounds_completed
        await h.wait_for(lambda e: isinstance(e, ev.ProgressUpdate) and e.rounds_completed > rounds, timeout=30,
                         what="a round of the healthy run", since=since)
        assert len(receiver.raw) == 1
        clock.advance(600)                      # stable_after of healthy running
        bodies = await receiver.wait_for(2)
        assert bodies[1]["title"].startswith(f"swarmtui: node0 ({animal_of(h)}) healthy again")
        assert "running for 10m without a problem" in bodies[1]["message"]
        await asyncio.sleep(0.5)
        assert len(receiver.raw) == 2
    finally:
        await exports.close(0.5)


async def test_identity_taken_by_another_machine_stays_needs_user_with_no_retry(harness):
    clock = FakeClock()
    cfg = fast_config(give_up_retry=60.0)
    cfg.watch.snapshot_interval = 3600.0
    h = harness("rgym", "identity-taken", clock=clock, config=cfg)
    await h.sup.start()
    st = await h.wait_state(ev.NEEDS_USER, timeout=60)
    assert st.reason == "identity-taken" and st.next_restart_in is None and "tries again" not in st.detail
    clock.advance(7200)
    await settle(0.3)
    assert h.sup.state == ev.NEEDS_USER
    assert not any(isinstance(e, ev.StateChanged) and e.detail.startswith("run 2:") for e in h.events)
