"""A stand-in engine for panel tests: records every command and lifecycle call, and lets the
test emit any engine event. It has the Supervisor's surface (swarmtui.tui.engine_api.EngineLike)
and nothing else: no process, no file. Tests that need a real node use the real Supervisor."""

from __future__ import annotations

from typing import Any, Callable

from swarmtui.engine import events as ev
from swarmtui.tui.frozen import StillLayout


class RecordingEngine:
    def __init__(self, emit: Callable[[ev.Event], None], *, initial: list[ev.Event] | None = None,
                 layout: Any = None, on_start: Callable[["RecordingEngine"], None] | None = None):
        self._emit = emit
        self.initial = list(initial or [])
        self.layout = layout if layout is not None else StillLayout()
        self.state = ev.STOPPED
        self.commands: list[ev.Command] = []
        self.started = 0
        self.closed: list[bool] = []
        self.killed = 0
        self.on_start = on_start

    # -- the Supervisor surface
    async def start(self) -> None:
        self.started += 1
        for e in self.initial:
            self.emit(e)
        if self.on_start:
            self.on_start(self)

    def send(self, cmd: ev.Command) -> None:
        self.commands.append(cmd)

    async def close(self, stop_node: bool = True, reason: str = "manual") -> None:
        self.closed.append(stop_node)

    def emergency_kill(self) -> None:
        self.killed += 1

    # -- test helpers
    def emit(self, event: ev.Event) -> None:
        if isinstance(event, ev.StateChanged):
            self.state = event.state
        self._emit(event)

    def kinds(self) -> list[str]:
        return [c.kind for c in self.commands]


def make_app(initial: list[ev.Event] | None = None, **kw: Any):
    """(app, holder) where holder["engine"] is the RecordingEngine once the app is built."""
    from swarmtui.tui import frozen
    from swarmtui.tui.app import SwarmApp

    holder: dict[str, RecordingEngine] = {}
    engine_kw = {k: kw.pop(k) for k in ("layout", "on_start") if k in kw}

    def factory(emit):
        holder["engine"] = RecordingEngine(emit, initial=initial, **engine_kw)
        return holder["engine"]

    options: dict[str, Any] = dict(host=frozen.HOST, user=frozen.USER, clock=frozen.frozen_clock,
                                   wall_clock=frozen.frozen_wall_clock, stall_limit_s=1800.0,
                                   catch_signals=False, drain_interval=0.02)
    options.update(kw)
    app = SwarmApp(factory, **options)
    return app, holder["engine"]
