"""Back to training (issue 16): after a failure whose stop is verified clean the first restart
does not wait, a dirty stop does, and exit_grace ends once the trainer is gone and the script only
waits on its login server, but never while the script runs its own EXIT trap.

The node is the simulator as a real process tree; behaviour is asserted on decisions, states and
the order of events, not on how fast they came."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import time

import pytest

from swarmtui.engine import events as ev
from swarmtui.engine.history import HistoryStore
from supervisor_support import fast_config, harnesses

pytestmark = [pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux process semantics"),
              pytest.mark.timeout(90)]


@pytest.fixture
async def harness(tmp_path):
    async for make in harnesses(tmp_path):
        yield make


def _index(h, pred) -> int:
    return next(i for i, e in enumerate(h.events) if pred(e))


def _run_start(n: int):
    return lambda e: isinstance(e, ev.StateChanged) and e.state == ev.STARTING and e.detail.startswith(f"run {n}:")


async def test_the_first_failure_restarts_at_once_after_a_clean_stop(harness):
    # The OOM kill leaves a p2pd in its own session: the sweep kills it and verify finds nothing
    # of ours; that is a clean stop, so run 2 is launched with no wait at all.
    h = harness("codezero", "oom-killed,healthy", config=fast_config(first_delay=0.0))
    await h.sup.start()
    restart = await h.wait_kind(ev.RestartScheduled, timeout=40, reason="oom-killed")
    assert (restart.attempt, restart.delay_s) == (1, 0.0)
    await h.wait_for(_run_start(2), timeout=30, what="run 2")
    backoff = next(e for e in h.of(ev.StateChanged) if e.state == ev.BACKOFF)
    assert backoff.next_restart_in == 0.0 and backoff.detail.endswith("restart 1 in a row, at once")
    assert any(o for o in h.of(ev.OrphanKilled)), "the p2pd the OOM kill left was swept"
    # verify (nothing of ours left) -> the decision -> run 2, in that order, nothing in between
    verify = _index(h, lambda e: isinstance(e, ev.StopStep) and e.step == "verify")
    scheduled = _index(h, lambda e: e is restart)
    run2 = _index(h, _run_start(2))
    assert h.events[verify].remaining == 0 and verify < scheduled < run2
    between = [e.state for e in h.events[scheduled:run2] if isinstance(e, ev.StateChanged)]
    assert between == [ev.BACKOFF, ev.STARTING]                 # pre-flight, then the launch
    rec = HistoryStore(h.root).read()[-1]
    assert (rec["reason"], rec["action"], rec["backoff_s"], rec["attempt"]) == ("oom-killed", "restart", 0.0, 1)
    await h.wait_state(ev.RUNNING, timeout=40)
    assert len(h.of(ev.RestartScheduled)) == 1


_HELD_PORT = """#!/bin/bash
# login page: {url}
ROOT="$(cd "$(dirname "${{BASH_SOURCE[0]}}")" && pwd)"
until [ -f "$ROOT/go" ]; do /bin/sleep 0.05; done
echo "run_rl_swarm.sh: line 186:  4242 Killed                  python -m code_gen_exp.runner.swarm_launcher"
exit 137
"""


async def test_a_stop_that_leaves_the_login_port_held_gets_the_backoff_not_an_instant_restart(harness):
    # A stranger takes the login port while the node runs: the stop cannot free it, so a fresh
    # start would fail on it at once. The first restart waits backoff_initial like a second one.
    def edit(root):
        script = root / "run_rl_swarm.sh"
        url = re.search(r"http://localhost:\$\{SWARMTUI_SIM_PORT:-\d+\}", script.read_text()).group(0)
        script.write_text(_HELD_PORT.format(url=url))

    h = harness("codezero", "healthy", config=fast_config(first_delay=0.0, backoff_initial=10.0), edit=edit)
    await h.sup.start()
    await h.wait_for(_run_start(1), what="run 1")
    holder = subprocess.Popen(
        [sys.executable, "-c", "import socket, sys, time\ns = socket.socket()\n"
         "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
         f"s.bind(('127.0.0.1', {h.port})); s.listen()\nprint('ok', flush=True)\ntime.sleep(120)"],
        stdout=subprocess.PIPE, start_new_session=True, cwd="/")
    try:
        assert holder.stdout.readline().strip() == b"ok"
        (h.root / "go").write_text("")
        restart = await h.wait_kind(ev.RestartScheduled, timeout=30, reason="oom-killed")
        assert (restart.attempt, restart.delay_s) == (1, 10.0)
        backoff = await h.wait_state(ev.BACKOFF)
        assert backoff.next_restart_in == 10.0
        assert f"after 10s: the stop was not clean (port {h.port} is held by another process: {holder.pid}" \
            in backoff.detail
        assert h.of(ev.StopStep)[-1].step == "verify" and h.of(ev.StopStep)[-1].remaining == 0
        await asyncio.sleep(0.5)
        assert h.sup.state == ev.BACKOFF and not h.of(ev.StateChanged)[-1].detail.startswith("run 2")
    finally:
        holder.kill()
        holder.wait()


async def test_exit_grace_ends_once_the_trainer_is_gone_and_the_script_only_waits(harness):
    # genrl's python logs "Exception occurred during game run." and exits 0; run_rl_swarm.sh then
    # sits in its final `wait` on the login server, for ever. A 30 s grace must not be waited out.
    h = harness("rgym", "game-run-exception", config=fast_config(exit_grace=30.0, first_delay=0.0))
    await h.sup.start()
    t0 = None

    def stopping(e):
        return isinstance(e, ev.StateChanged) and e.state == ev.STOPPING

    await h.wait_for(stopping, timeout=40, what="stopping")
    t0 = time.monotonic()
    restart = await h.wait_kind(ev.RestartScheduled, timeout=40, reason="game-run-exception")
    took = time.monotonic() - t0
    first = _index(h, stopping)
    assert h.events[first].detail == "stopping the node (game-run-exception): it has 30s to exit by itself"
    steps = [e for e in h.events[first:] if isinstance(e, ev.StopStep)]
    grace = steps[0]
    assert grace.step == "exit-grace" and grace.remaining == 1
    assert "the trainer is gone and the script waits on its login server" in grace.detail, grace.detail
    assert float(re.search(r"grace ended after ([\d.]+)s", grace.detail).group(1)) < 15
    # it did not exit by itself: our SIGINT came after the grace, and the script's exit after that
    assert steps[1].step == "sigint"
    exited = _index(h, lambda e: isinstance(e, ev.Exited))
    assert _index(h, lambda e: e is grace) < exited
    assert (restart.attempt, restart.delay_s) == (1, 0.0)
    assert took < 15, f"the grace was waited out ({took:.1f}s)"       # a behaviour check, not a speed target
    await h.wait_for(_run_start(2), timeout=30, what="run 2")


async def test_exit_grace_lets_a_trap_finish_even_with_the_trainer_gone(harness):
    # The trainer was seen and is gone (SIGKILLed by the OOM killer); bash prints "Killed" and runs
    # its EXIT trap, which takes a while. The script is not blocked in `wait` (it has a child that
    # is no server), so the grace lasts until it exits by itself and the trap runs to its end.
    def slow_trap(root):
        script = root / "run_rl_swarm.sh"
        text = script.read_text()
        rm = "    rm -r $ROOT_DIR/modal-login/temp-data/*.json 2> /dev/null || true\n"
        assert text.count(rm) == 1
        script.write_text(text.replace(rm, "    /bin/sleep 1\n" + rm + '    echo ">> cleanup done"\n'))

    h = harness("rgym", "oom-killed", config=fast_config(exit_grace=30.0), edit=slow_trap)
    await h.sup.start()
    await h.wait_kind(ev.RestartScheduled, timeout=40, reason="oom-killed")
    assert h.sup._run.trainer_seen
    steps = [s.step for s in h.of(ev.StopStep)]
    grace = next(s for s in h.of(ev.StopStep) if s.step == "exit-grace")
    assert grace.detail.startswith("the script exited by itself in ") and grace.remaining == 0
    # Our signals, if any, only reach what the trap's own `kill` is still taking down: the script
    # itself was gone first.
    assert _index(h, lambda e: isinstance(e, ev.Exited)) < _index(h, lambda e: e is grace)
    assert steps.index("exit-grace") < (steps.index("sigint") if "sigint" in steps else len(steps))
    assert ">> cleanup done" in h.text()


_TRAP_AFTER_THE_TRAINER = """#!/bin/bash
# login page: {url}
ROOT="$(cd "$(dirname "${{BASH_SOURCE[0]}}")" && pwd)"
cleanup() {{
    /bin/sleep 1.5                # the trap's own work takes a while (real time)
    rm -f "$ROOT"/modal-login/temp-data/*.json
    echo ">> cleanup done"
    kill -- -$$ || true
}}
trap cleanup EXIT
(exec -a yarn /bin/sleep 1000) &          # the login server, waited on at the end
python3 -c "import time; time.sleep(2.5)" code_gen_exp.runner.swarm_launcher
echo "run_rl_swarm.sh: line 186:  4242 Killed                  python -m code_gen_exp.runner.swarm_launcher"
exit 137
"""


async def test_exit_grace_never_ends_early_while_the_script_runs_its_trap(harness):
    # The trainer was seen and is gone entirely; bash prints "Killed" and its EXIT trap runs a
    # child (here a sleep, upstream an rm) while asleep in wait(), just as in its final `wait`.
    # Only the child that is no background server tells the two apart: the grace must go on.
    def edit(root):
        script = root / "run_rl_swarm.sh"
        url = re.search(r"http://localhost:\$\{SWARMTUI_SIM_PORT:-\d+\}", script.read_text()).group(0)
        script.write_text(_TRAP_AFTER_THE_TRAINER.format(url=url))

    h = harness("codezero", "healthy", config=fast_config(exit_grace=30.0), edit=edit)
    await h.sup.start()
    await h.wait_kind(ev.RestartScheduled, timeout=40, reason="oom-killed")
    assert h.sup._run.trainer_seen, "the stand-in trainer was never seen: the test proves nothing"
    grace = next(s for s in h.of(ev.StopStep) if s.step == "exit-grace")
    assert grace.detail.startswith("the script exited by itself in "), grace.detail
    assert _index(h, lambda e: isinstance(e, ev.Exited)) < _index(h, lambda e: e is grace)
    assert ">> cleanup done" in h.text()
    assert list((h.root / "modal-login/temp-data").glob("*.json")) == []
