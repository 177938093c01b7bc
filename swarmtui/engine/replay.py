"""What a viewer that attaches now must be shown: the keeper's memory of its own event stream.

The keeper keeps the latest of every event that describes a standing fact (state, progress,
identity, processes, a pending login or prompt) and the last N log lines, so a new viewer gets
one snapshot and then the live stream, and renders exactly what a panel that had been watching
all along would show. The restart history comes from disk at attach time, whole (bounded), so
records written by earlier keepers are there too.
"""

from __future__ import annotations

import dataclasses
import time
from collections import deque
from typing import Callable

from swarmtui.engine import events as ev
from swarmtui.engine.line_runs import LineRun, Lines, runs_of

DEFAULT_BACKLOG = 5000
MAX_HISTORY = 2000


class ReplayCache:
    def __init__(self, backlog: int = DEFAULT_BACKLOG,
                 history: Callable[[], list[dict]] | None = None,
                 clock: Callable[[], float] = time.monotonic):
        # The backlog as runs (line_runs.py): a flood's lines are kept as the keeper got them,
        # and LogLines are made only for a viewer that attaches.
        self.backlog = max(0, backlog)
        self._runs: deque[LineRun] = deque()
        self._count = 0
        self.partial = ""
        self._history = history or (lambda: [])
        self._latest: dict[type, ev.Event] = {}
        self._prompt: ev.PromptSeen | None = None
        self._login: ev.LoginRequired | None = None
        self._preflight: ev.PreflightFailed | None = None
        self._clock = clock
        self._state_at = 0.0            # when the latest StateChanged was observed

    def observe(self, event: ev.Event) -> None:
        if isinstance(event, ev.LinesOut):
            runs = self._runs
            for run in runs_of(event.lines):
                runs.append(run)
                self._count += len(run.texts)
            while runs and self._count - len(runs[0].texts) >= self.backlog:
                self._count -= len(runs.popleft().texts)
            self.partial = event.partial
        elif isinstance(event, (ev.StateChanged, ev.ProgressUpdate, ev.IdentityChanged, ev.ProcessSnapshot,
                                ev.HostStats, ev.RoundTrends)):
            self._latest[type(event)] = event
            if isinstance(event, ev.StateChanged):
                self._state_at = self._clock()
                if event.state != ev.LOGIN_REQUIRED:
                    self._login = None
                if event.state not in (ev.NEEDS_USER,):
                    self._preflight = None
                if event.state in (ev.STOPPING, ev.STOPPED, ev.BACKOFF):
                    self._prompt = None
        elif isinstance(event, ev.PromptSeen):
            # An unanswered prompt waits for a person: a viewer that comes now must be asked too.
            # One answered (here or in another viewer) closes it everywhere.
            self._prompt = None if event.answered else event
        elif isinstance(event, ev.ActionDone) and event.action == "answer":
            self._prompt = None
        elif isinstance(event, ev.LoginRequired):
            self._login = event
        elif isinstance(event, ev.PreflightFailed):
            self._preflight = event

    @property
    def lines(self) -> Lines:
        """The last `backlog` lines."""
        runs = list(self._runs)
        over = self._count - self.backlog
        if runs and over > 0:
            runs[0] = runs[0].part(over)
        return Lines(runs)

    @property
    def state(self) -> ev.StateChanged | None:
        return self._latest.get(ev.StateChanged)  # type: ignore[return-value]

    def _state_now(self) -> ev.StateChanged:
        """The latest state with its clocks moved on to now: a viewer that attaches an hour into a
        run must see an hour of uptime, not the seconds the run had when it began running, and a
        backoff's countdown from where it is (the panel counts on from what it is given)."""
        state: ev.StateChanged = self._latest[ev.StateChanged]  # type: ignore[assignment]
        gone = max(0.0, self._clock() - self._state_at)
        changes: dict = {}
        if state.uptime_s is not None and state.state in (ev.RUNNING, ev.LOGIN_REQUIRED, ev.NEEDS_USER):
            changes["uptime_s"] = round(state.uptime_s + gone, 3)
        if state.next_restart_in is not None:
            changes["next_restart_in"] = round(max(0.0, state.next_restart_in - gone), 3)
        return dataclasses.replace(state, **changes) if changes else state

    @property
    def progress(self) -> ev.ProgressUpdate | None:
        return self._latest.get(ev.ProgressUpdate)  # type: ignore[return-value]

    def snapshot(self) -> list[ev.Event]:
        """The events that bring a new viewer up to now, in the order a live viewer saw them."""
        out: list[ev.Event] = [ev.HistoryLoaded(records=self._history()[-MAX_HISTORY:])]
        for kind in (ev.IdentityChanged, ev.RoundTrends, ev.ProgressUpdate, ev.ProcessSnapshot, ev.HostStats):
            if kind in self._latest:
                out.append(self._latest[kind])
        if self._preflight is not None:
            out.append(self._preflight)
        if ev.StateChanged in self._latest:
            out.append(self._state_now())
        if self._login is not None:
            out.append(self._login)
        out.append(ev.LinesOut(lines=self.lines, partial=self.partial))
        if self._prompt is not None:
            out.append(self._prompt)
        return out
