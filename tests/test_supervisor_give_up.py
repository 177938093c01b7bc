"""Unattended for days (issue 12), on the real simulator: a needs-user that can clear by itself
is tried again after give_up_retry, one only a person can fix is not; keep_login is on by
default with a one-time notice; a restored login the login server does not take is dropped."""

from __future__ import annotations

import asyncio
import json
import shutil
import sys

import pytest

from swarmtui import paths
from swarmtui.engine import events as ev
from swarmtui.engine.clock import FakeClock
from swarmtui.engine.config import Config
from swarmtui.engine.login import LoginKeeper
from swarmtui.node.layout import inspect_checkout
from swarmtui.sim.login import activate_latest_key, temp_data_dir, write_api_key, write_user_data
from swarmtui.engine.supervisor import Supervisor
from supervisor_support import clean_env, fast_config, harnesses

pytestmark = [pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux process semantics"),
              pytest.mark.timeout(90)]


@pytest.fixture
async def harness(tmp_path):
    async for make in harnesses(tmp_path):
        yield make


async def settle(seconds: float = 0.05) -> None:
    for _ in range(20):
        await asyncio.sleep(0)
    await asyncio.sleep(seconds)


def fake(**restart) -> Config:
    cfg = fast_config(**restart)
    cfg.watch.snapshot_interval = 3600.0
    cfg.login.keep_login = True
    return cfg


async def test_a_crash_loop_is_tried_again_after_give_up_retry_doubling_each_time(harness):
    clock = FakeClock()
    h = harness("codezero", "p2pd-timeout", clock=clock, config=fake(startup_failures=1, give_up_retry=60.0))
    await h.sup.start()
    first = await h.wait_state(ev.NEEDS_USER, timeout=30)
    assert first.reason == "p2pd-startup-timeout" and first.next_restart_in == 60.0
    assert first.detail.endswith("; swarmtui tries again in 1m (or start it now)")
    clock.advance(59)
    await settle(0.3)
    assert h.sup.state == ev.NEEDS_USER and not any(isinstance(e, ev.StateChanged) and e.detail.startswith("run 2:")
                                                    for e in h.events)
    since = len(h.events)
    clock.advance(1)
    second = await h.wait_for(lambda e: isinstance(e, ev.StateChanged) and e.state == ev.NEEDS_USER, timeout=30,
                              since=since, what="the retry giving up again")
    assert second.next_restart_in == 120.0          # the cause is still there: the wait doubles
    assert any(isinstance(e, ev.StateChanged) and e.detail.startswith("run 2:") for e in h.events[since:])
    records = [e.record for e in h.of(ev.HistoryAppended)]
    assert [r["action"] for r in records] == ["needs-user", "needs-user"]


async def test_give_up_retry_0_never_tries_again(harness):
    clock = FakeClock()
    h = harness("codezero", "p2pd-timeout", clock=clock, config=fake(startup_failures=1, give_up_retry=0.0))
    await h.sup.start()
    st = await h.wait_state(ev.NEEDS_USER, timeout=30)
    assert st.next_restart_in is None and "tries again" not in st.detail
    clock.advance(24 * 3600)
    await settle(0.3)
    assert h.sup.state == ev.NEEDS_USER and len(h.of(ev.HistoryAppended)) == 1


async def test_a_stop_during_the_countdown_stays_stopped_and_start_goes_at_once(harness):
    clock = FakeClock()
    h = harness("codezero", "p2pd-timeout,healthy", clock=clock, config=fake(startup_failures=1, give_up_retry=600.0))
    await h.sup.start()
    await h.wait_state(ev.NEEDS_USER, timeout=30)
    h.sup.send(ev.StopNode())
    st = await h.wait_state(ev.STOPPED)
    assert "retry was called off" in st.detail
    clock.advance(3600)
    await settle(0.3)
    assert h.sup.state == ev.STOPPED
    h.sup.send(ev.StartNode())
    await h.wait_state(ev.RUNNING, timeout=30)


async def test_the_login_port_held_by_a_stranger_is_looked_at_again_later(harness):
    h = harness("codezero", "port-in-use", config=fast_config(give_up_retry=900.0))
    await h.sup.start()
    st = await h.wait_state(ev.NEEDS_USER, timeout=60)
    assert st.reason in ("login-port-in-use", "preflight") and st.next_restart_in == 900.0
    assert "tries again in 15m" in st.detail


async def test_keep_login_is_on_by_default_and_says_so_once_per_checkout(harness):
    cfg = fast_config()
    cfg.login = Config().login                  # the default
    assert cfg.login.keep_login is True
    h = harness("codezero", "healthy", config=cfg)
    await h.sup.start()
    await h.wait_state(ev.RUNNING, timeout=30)
    (text,) = [e.text for e in h.of(ev.Notice) if e.text.startswith("keep_login is on")]
    assert "private key" in text and "keep_login = false" in text and "0700" in text
    kept = LoginKeeper(inspect_checkout(h.root)).kept()
    assert sorted(p.name for p in kept) == ["userApiKey.json", "userData.json"]
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in kept)
    await h.sup.close()
    again: list = []
    h.sup = Supervisor(h.root, cfg, again.append, env=clean_env())      # closed by the fixture
    await h.sup.start()
    assert not [e for e in again if isinstance(e, ev.Notice) and e.text.startswith("keep_login is on")]


async def test_a_restored_login_the_server_never_activates_is_dropped_and_asks_for_a_login(harness):
    clock = FakeClock()
    cfg = fake()
    cfg.watch.snapshot_interval = 5.0

    def stale_login(root):
        # keep_login's copies from an earlier session whose key the login server never took
        org = write_user_data(root)
        write_api_key(root, org, activated=False)
        keep = LoginKeeper(inspect_checkout(root)).dir
        keep.mkdir(parents=True, mode=0o700)
        for name in ("userData.json", "userApiKey.json"):
            shutil.copy(temp_data_dir(root) / name, keep / name)
            (keep / name).chmod(0o600)
            (temp_data_dir(root) / name).unlink()          # the script deleted them at its exit

    h = harness("codezero", "healthy", clock=clock, config=cfg, login="never", edit=stale_login)
    keeper = LoginKeeper(inspect_checkout(h.root))
    await h.sup.start()
    assert any(isinstance(e, ev.Notice) and "put the saved login files back" in e.text for e in h.events)
    waiting = await h.wait_state(ev.LOGIN_REQUIRED, timeout=30)
    assert waiting.reason == "login-waiting" and "key activation" in waiting.detail
    # The doubt's task was created with that state; its first step (which starts its fake-clock
    # sleep) may still be queued when this test resumes in the same loop turn. One turn lets it
    # run: advancing before it would start its 300 s from 299 s later (a flake under load).
    await asyncio.sleep(0)
    clock.advance(299)
    await settle(0.2)
    assert h.sup.state == ev.LOGIN_REQUIRED and len(keeper.kept()) == 2
    clock.advance(1)
    st = await h.wait_kind(ev.StateChanged, reason="login-rejected")
    assert st.state == ev.LOGIN_REQUIRED and "log in again" in st.detail
    again = [e for e in h.of(ev.LoginRequired) if "not accepted" in e.waiting_for]
    assert len(again) == 1 and again[0].url == f"http://localhost:{h.port}"
    assert any(isinstance(e, ev.Notice) and e.level == "warning" and "did not accept the restored login" in e.text
               for e in h.events)
    assert keeper.kept() == []
    backups = list((paths.node_state_dir(h.root) / "backups").glob("*userApiKey.json*"))
    assert backups, "the dropped copies were not backed up"
    clock.advance(10)                           # snapshots: the same stale files are not kept again
    await settle(0.3)
    assert keeper.kept() == [] and h.sup._run.launcher.returncode is None
    # the person logs in in the browser: the node goes on, and that login is kept
    org = next(iter(json.loads((temp_data_dir(h.root) / "userData.json").read_text())))
    activate_latest_key(h.root, org)
    await h.wait_for(lambda e: isinstance(e, ev.StateChanged) and e.state == ev.RUNNING, timeout=30,
                     what="running after the new login")
    clock.advance(10)
    await settle(0.3)
    assert len(keeper.kept()) == 2
