"""A Supervisor on a simulated checkout, recording every event, always cleaned up by proof.

The node is the simulator as a real process tree (bash on a pty, the login server, the trainer,
its DHT fork, p2pd); time-compressed with the sim's speed, and the engine's timers on a FakeClock
where the timers are the point.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Callable

from swarmtui.engine import events as ev
from swarmtui.engine.config import Config, HistoryConfig, LoginConfig, RestartConfig, WatchConfig
from swarmtui.engine.supervisor import Supervisor
from swarmtui.sim import create_checkout
from swarmtui.sim.config import read_state
from test_sim_support import free_port, kill_leftovers, ours


def fast_config(**restart) -> Config:
    """Short stop waits, restarts soon, no restart on repeated warnings unless a test asks."""
    r = dict(silence_limit=0.0, stall_limit=0.0, startup_grace=0.0, backoff_initial=10.0, backoff_factor=2.0,
             backoff_max=300.0, stable_after=600.0, budget=5, budget_window=3600.0, startup_failures=3,
             warn_repeat=10_000, warn_window=600.0, exit_grace=2.0, stop_timeout=2.0, term_timeout=2.0)
    r.update(restart)
    # Most tests look at the stopped node between two runs (nothing of ours left, the record):
    # their first restart waits backoff_initial too, unless a test asks for first_delay (the
    # default 0, an instant first restart, has tests of its own).
    r.setdefault("first_delay", r["backoff_initial"])
    return Config(restart=RestartConfig(**r), watch=WatchConfig(snapshot_interval=0.5, min_free_disk_mb=1),
                  history=HistoryConfig(transcript_max_mb=5, transcript_keep=5),
                  # Off unless a test asks: these tests watch the browser login the script waits for.
                  login=LoginConfig(keep_login=False))


def clean_env(**extra: str) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("SWARMTUI_SIM_") and k not in ("IDENTITY_PATH", "HF_TOKEN", "SWARMTUI_RUN_ID",
                                                              "VIRTUAL_ENV", "CONDA_PREFIX", "DOCKER_HOST")}
    env.update(extra)
    return env


class Harness:
    def __init__(self, tmp_path: Path, era: str = "codezero", scenario: str = "healthy", *, speed: float = 1000.0,
                 login: str = "present", config: Config | None = None, clock=None, interactive: bool = False,
                 edit: Callable[[Path], None] | None = None, name: str = "node", venv: str = ".venv",
                 env: dict | None = None):
        self.port = free_port()
        self.root = create_checkout(tmp_path / name, era, scenario=scenario, speed=speed, port=self.port, login=login,
                                    venv=venv)
        if edit is not None:
            edit(self.root)
        self.events: list[ev.Event] = []
        self.clock = clock
        self.config = config or fast_config()
        self.sup = Supervisor(self.root, self.config, self.events.append, clock=clock, interactive=interactive,
                              env=clean_env(**(env or {})))

    # ------------------------------------------------------------ reading events

    def of(self, kind: type) -> list:
        return [e for e in self.events if isinstance(e, kind)]

    def states(self) -> list[str]:
        return [e.state for e in self.of(ev.StateChanged)]

    def lines(self) -> list[ev.LogLine]:
        return [ln for e in self.of(ev.LinesOut) for ln in e.lines]

    def text(self) -> str:
        return "\n".join(ln.text for ln in self.lines())

    async def wait_for(self, pred: Callable[[ev.Event], bool], timeout: float = 25.0, what: str = "",
                       since: int = 0) -> ev.Event:
        """The first event (from index `since` on) for which pred is true."""
        end = time.monotonic() + timeout
        seen = since
        while time.monotonic() < end:
            for e in self.events[seen:]:
                if pred(e):
                    return e
            seen = len(self.events)
            await asyncio.sleep(0.02)
        tail = [e.to_dict() for e in self.events if not isinstance(e, (ev.LinesOut, ev.ProcessSnapshot))][-15:]
        raise AssertionError(f"timed out waiting for {what or pred}; last events: {tail}\n"
                             f"last lines: {self.text()[-2000:]}")

    async def wait_state(self, state: str, timeout: float = 25.0, **match) -> ev.StateChanged:
        def ok(e):
            return isinstance(e, ev.StateChanged) and e.state == state and all(
                getattr(e, k) == v for k, v in match.items())
        return await self.wait_for(ok, timeout, f"state {state} {match}")

    async def wait_kind(self, kind: type, timeout: float = 25.0, **match):
        def ok(e):
            return isinstance(e, kind) and all(getattr(e, k) == v for k, v in match.items())
        return await self.wait_for(ok, timeout, f"{kind.__name__} {match}")

    async def wait_quiet(self, seconds: float = 0.6, timeout: float = 20.0) -> None:
        """Until no node output arrived for `seconds` of real time."""
        end = time.monotonic() + timeout
        count, since = -1, time.monotonic()
        while time.monotonic() < end:
            n = len(self.lines())
            if n != count:
                count, since = n, time.monotonic()
            elif time.monotonic() - since >= seconds:
                return
            await asyncio.sleep(0.05)
        raise AssertionError("the node never went quiet")

    def sim_state(self) -> dict:
        return read_state(self.root)

    def leftovers(self) -> list:
        return ours(self.root)

    async def close(self) -> None:
        try:
            await asyncio.wait_for(self.sup.close(), 30)
        finally:
            self.sup.emergency_kill()
            kill_leftovers(self.root)


async def harnesses(tmp_path: Path, **defaults):
    """The body of a `harness` fixture: yields a maker of Harnesses (each in its own folder, with
    `defaults` for arguments not given; a callable default is called once per Harness, e.g.
    clock=FakeClock) and, at teardown, closes them all and checks that nothing of any node
    survived."""
    made: list[Harness] = []

    def make(*args, **kw) -> Harness:
        for key, value in defaults.items():
            kw.setdefault(key, value() if callable(value) else value)
        h = Harness(tmp_path, *args, name=f"node{len(made)}", **kw)
        made.append(h)
        return h

    yield make
    for h in made:
        await h.close()
        assert h.leftovers() == [], "processes of the node survived close()"
