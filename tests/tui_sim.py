"""The panel over the real Supervisor and a simulated node, for Pilot tests.

The app is built the way `swarmtui NODE_DIR` builds it (commands.panel.supervisor_factory, the
checkout's layout validated first, the engine made after the first frame); the only additions
are a tap that keeps every engine event for the test and the pids of every process of ours the
snapshots showed, so a test can prove by pid (and start time) that none of them is left.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Callable

import psutil

from swarmtui.commands.panel import supervisor_factory
from swarmtui.engine import events as ev
from swarmtui.node.layout import inspect_checkout
from swarmtui.sim import create_checkout
from swarmtui.tui.app import SwarmApp
from supervisor_support import clean_env, fast_config
from test_sim_support import free_port, kill_leftovers, ours


def add_prompt(root: Path) -> None:
    """A fork of the script that asks one question no rule answers, before the trainer starts."""
    script = root / "run_rl_swarm.sh"
    text = script.read_text()
    launch = text.index("python -m code_gen_exp.runner.swarm_launcher")
    extra = 'read -p ">> Pick a colour for your node: " COLOUR\necho ">> Colour is $COLOUR"\n\n'
    script.write_text(text[:launch] + extra + text[launch:])


class SimPanel:
    def __init__(self, tmp_path: Path, scenario: str = "healthy", *, keep_login: bool = True,
                 edit: Callable[[Path], None] | None = None, era: str = "codezero", speed: float = 1000.0,
                 login: str = "present"):
        self.port = free_port()
        self.root = create_checkout(tmp_path / "node", era, scenario=scenario, speed=speed, port=self.port,
                                    login=login)
        if edit is not None:
            edit(self.root)
        self.config = fast_config()
        self.config.login.keep_login = keep_login
        self.events: list[ev.Event] = []
        self.pids: dict[int, float] = {}        # pid -> create time, of every process of ours seen
        self.sup = None
        build = supervisor_factory(self.root, self.config, env=clean_env())

        def factory(emit):
            def tap(event: ev.Event) -> None:
                self.events.append(event)
                if isinstance(event, ev.ProcessSnapshot):
                    self._note(event.procs)
                emit(event)

            self.sup = build(tap)
            return self.sup

        self.app = SwarmApp(factory, layout=inspect_checkout(self.root, clean_env()), keep_login=keep_login,
                            stall_limit_s=1800.0, stop_timeout_s=2.0, host="gpu-box", user="operator",
                            catch_signals=False, drain_interval=0.05)

    def _note(self, procs: list[ev.ProcInfo]) -> None:
        for p in procs:
            if p.ours and p.pid not in self.pids:
                try:
                    self.pids[p.pid] = psutil.Process(p.pid).create_time()
                except psutil.Error:
                    pass

    # ------------------------------------------------------------ reading

    def of(self, kind: type) -> list:
        return [e for e in self.events if isinstance(e, kind)]

    def alive(self) -> list[int]:
        """The recorded pids that still run as the same process (same start time)."""
        left = []
        for pid, created in self.pids.items():
            try:
                proc = psutil.Process(pid)
                if proc.create_time() == created and proc.status() != psutil.STATUS_ZOMBIE:
                    left.append(pid)
            except psutil.Error:
                pass
        return left

    def leftovers(self) -> list:
        return ours(self.root)

    def last_run(self) -> int:
        """The number in the newest "run N" the engine reported (0 before the first)."""
        runs = [int(e.detail.split("run ", 1)[1].split(":", 1)[0]) for e in self.of(ev.StateChanged)
                if e.state == ev.STARTING and e.detail.startswith("run ")]
        return runs[-1] if runs else 0

    def cleanup(self) -> None:
        """Whatever happened in the test: nothing of the node survives it."""
        if self.sup is not None:
            self.sup.emergency_kill()
        kill_leftovers(self.root)
        for pid in self.alive():
            try:
                psutil.Process(pid).kill()
            except psutil.Error:
                pass


async def until(pilot, pred: Callable[[], object], timeout: float = 20.0, what: str = "") -> object:
    """Let the app run until pred() is true; fail with what the panel showed."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        got = pred()
        if got:
            return got
        await pilot.pause(0.05)
    app = pilot.app
    raise AssertionError(f"timed out ({timeout}s) waiting for {what or pred}; state {app.state!r}, "
                         f"toasts {app.toasts[-5:]}")


def view_rows(view) -> list[str]:
    """The log view's own rendered rows (not the screen, where a toast may cover them), without
    the row a horizontal scrollbar covers: `size` counts it, and a paused view's new line can
    show up there, out of sight."""
    return [view.render_line(y).text for y in range(view.scrollable_content_region.height)]


async def wait_gone(panel: SimPanel, timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while (panel.alive() or panel.leftovers()) and time.monotonic() < end:
        await asyncio.sleep(0.05)
