"""One row per fleet node, kept up to date from its keeper: the overview's data, without Textual.

Each NodeWatcher holds one channel to its node's keeper (its Unix socket here, `ssh HOST
swarmtui attach --stdio DIR` for a remote node, in BatchMode: the overview never asks anything),
attaches like a panel does, and folds the snapshot and the live events into a NodeRow
(RowReducer: pure, so a benchmark can replay recorded streams into it). A host that is down,
lacks swarmtui, or has no keeper for the node makes the row say so in one line, and the watcher
tries again with a backoff that doubles up to a cap.

Commands (restart, stop, start) go over the same channel, so the keeper announces to every
viewer which viewer asked.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from swarmtui.engine import events as ev
from swarmtui.engine import wire
from swarmtui.engine.fleet_file import FleetNode

UNREACHABLE = "unreachable"
NO_KEEPER = "no-keeper"
CONNECTING = "connecting"
BACKOFF_FIRST_S = 1.0
BACKOFF_CAP_S = 30.0
# Lower sorts first: what needs a person, then what is not working, then what works.
_URGENCY = {ev.NEEDS_USER: 0, ev.LOGIN_REQUIRED: 0, UNREACHABLE: 1, ev.BACKOFF: 2, NO_KEEPER: 3,
            ev.STARTING: 4, ev.STOPPING: 4, CONNECTING: 5, ev.RUNNING: 6, ev.STOPPED: 7}
NEEDS_PERSON = frozenset({ev.NEEDS_USER, ev.LOGIN_REQUIRED, UNREACHABLE})
# How wire.encode writes a LinesOut event (keys in this order, no spaces): skipped undecoded.
_LINES_PREFIX = b'{"t":"event","e":{"event":"lines"'
_ROW_EVENTS = frozenset({"state", "progress", "processes", "identity", "history", "history_loaded", "host"})


def ssh_command() -> tuple[str, ...]:
    """The ssh program and options for remote nodes: SWARMTUI_SSH (e.g. `ssh -F cfg`), or plain
    `ssh` with the user's own config (ChannelError for a value that is no command line)."""
    from swarmtui.engine.channel import ssh_command_from_env

    return ssh_command_from_env()


@dataclass
class NodeRow:
    name: str
    host: str                                   # "local" or the ssh destination
    order: int = 0                              # its place in the fleet file
    state: str = CONNECTING
    reason: str = ""                            # detection id, short cause, or why unreachable
    detail: str = ""
    keeper_pid: int | None = None
    run_age_s: float | None = None              # the launcher's age at `seen`
    round: int | None = None
    round_since: float | None = None            # wall time the current round began (as far as we know)
    rounds_completed: int = 0
    restarts_24h: int | None = None
    last_reason: str = ""                       # the last restart's reason
    animal: str = ""
    cpu_percent: float | None = None
    rss: int | None = None
    gpu_mem: int | None = None                  # bytes used on the node's GPUs, when the host measures it
    seen: float = 0.0                           # wall time of the last process snapshot
    updated: float = 0.0
    history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def needs_person(self) -> bool:
        return self.state in NEEDS_PERSON

    def sort_key(self) -> tuple[int, int]:
        return (_URGENCY.get(self.state, 5), self.order)

    def uptime_s(self, now: float | None = None) -> float | None:
        if self.run_age_s is None or self.state not in (ev.RUNNING, ev.LOGIN_REQUIRED, ev.STARTING):
            return None
        return self.run_age_s + max(0.0, (now or time.time()) - self.seen)

    def round_age_s(self, now: float | None = None) -> float | None:
        if self.round_since is None:
            return None
        return max(0.0, (now or time.time()) - self.round_since)

    def why(self) -> str:
        """What a person wants to know of the state: nothing more for a node that runs (its
        detail, "run 3", says nothing the other columns do not), else the reason and detail."""
        if self.state == ev.RUNNING:
            return ""
        if not self.reason or self.detail == self.reason:
            return self.detail or self.reason
        return self.reason + (f": {self.detail}" if self.detail else "")

    def to_dict(self, now: float | None = None) -> dict[str, Any]:
        return {"name": self.name, "host": self.host, "state": self.state, "reason": self.reason,
                "detail": self.detail, "keeper_pid": self.keeper_pid, "uptime_s": _r(self.uptime_s(now)),
                "round": self.round, "round_age_s": _r(self.round_age_s(now)),
                "rounds_completed": self.rounds_completed, "restarts_24h": self.restarts_24h,
                "last_reason": self.last_reason, "animal": self.animal, "cpu_percent": _r(self.cpu_percent),
                "rss_bytes": self.rss, "gpu_mem_bytes": self.gpu_mem}


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 1)


class RowReducer:
    """Engine events -> one NodeRow. `gpus`: the node's CUDA_VISIBLE_DEVICES indices (None: all
    of the host's), for its GPU memory."""

    def __init__(self, row: NodeRow, *, gpus: list[int] | None = None, wall: Callable[[], float] = time.time):
        self.row = row
        self.gpus = gpus
        self.wall = wall

    def apply(self, e: ev.Event) -> bool:
        """Fold one event in; True when the row changed in a way the overview shows."""
        row, now = self.row, self.wall()
        if isinstance(e, ev.StateChanged):
            row.state, row.reason, row.detail = e.state, e.reason, e.detail
        elif isinstance(e, ev.ProgressUpdate):
            if e.round is not None and (e.round != row.round or row.round_since is None):
                row.round_since = now - float(e.since_progress_s or 0.0)
            row.round = e.round
            row.rounds_completed = int(e.rounds_completed or 0)
        elif isinstance(e, ev.ProcessSnapshot):
            ours = [p for p in e.procs if p.ours]
            launcher = [p.age_s for p in ours if p.role == "launcher"]
            row.run_age_s = max(launcher) if launcher else None
            row.seen = now
            row.cpu_percent = float(sum(p.cpu_percent or 0.0 for p in ours)) if ours else None
            row.rss = int(sum(p.rss or 0 for p in ours)) if ours else None
        elif isinstance(e, ev.IdentityChanged):
            row.animal = str(e.report.get("animal_name") or "")
        elif isinstance(e, ev.HistoryLoaded):
            row.history = list(e.records)[-500:]
            self._history()
        elif isinstance(e, ev.HistoryAppended):
            row.history = (row.history + [e.record])[-500:]
            self._history()
        elif getattr(e, "kind", "") == "host":
            gpus = getattr(e, "gpus", None) or []
            used = [g.get("mem_used") for g in gpus if isinstance(g, dict)
                    and (self.gpus is None or g.get("index") in self.gpus)]
            used = [u for u in used if isinstance(u, (int, float))]
            row.gpu_mem = int(sum(used)) if used else None
        else:
            return False
        row.updated = now
        return True

    def _history(self) -> None:
        from swarmtui.engine.history import restarts_within

        row = self.row
        row.restarts_24h = restarts_within(row.history, 24 * 3600)
        restarts = [r for r in row.history if r.get("action") == "restart"]
        row.last_reason = str(restarts[-1].get("reason") or "") if restarts else ""


def cuda_indices(env: dict[str, str]) -> list[int] | None:
    text = env.get("CUDA_VISIBLE_DEVICES")
    if text is None:
        return None
    out = []
    for part in text.split(","):
        part = part.strip()
        if part.isdigit():
            out.append(int(part))
    return out


class NodeWatcher:
    """Keeps one node's row; reconnects with a capped backoff until stop()."""

    def __init__(self, node: FleetNode, order: int, on_change: Callable[[NodeRow], None], *,
                 backoff_first: float = BACKOFF_FIRST_S, backoff_cap: float = BACKOFF_CAP_S,
                 connect_timeout: float = 10.0):
        self.node = node
        self.row = NodeRow(node.name, node.where, order=order)
        self.reducer = RowReducer(self.row, gpus=cuda_indices(node.env))
        self.on_change = on_change
        self.backoff_first = backoff_first
        self.backoff_cap = backoff_cap
        self.connect_timeout = connect_timeout
        self.channel: Any = None
        self.attempts = 0
        self._task: asyncio.Task | None = None
        self._stopping = False
        self._wake = asyncio.Event()

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass
        await self._close()

    def retry_now(self) -> None:
        """Skip the rest of the backoff (after `fleet start` made a keeper)."""
        self._wake.set()

    async def _open(self) -> Any:
        from swarmtui.engine import channel

        if self.node.local:
            return await channel.open_local(self.node.path)
        return await channel.open_ssh(self.node.host or "", self.node.dir, remote_command=self.node.remote_command,
                                      batch=True, ssh_command=ssh_command(), connect_timeout=self.connect_timeout)

    async def _close(self) -> None:
        ch, self.channel = self.channel, None
        if ch is not None:
            try:
                await ch.close()
            except Exception:
                pass

    def _set(self, state: str, reason: str) -> None:
        self.row.state, self.row.reason, self.row.detail = state, reason, ""
        self.row.keeper_pid = None
        self.row.updated = time.time()
        self.on_change(self.row)

    async def _run(self) -> None:
        from swarmtui.engine.channel import ChannelError, handshake

        delay = self.backoff_first
        while not self._stopping:
            self.attempts += 1
            try:
                self.channel = await self._open()
                hello = await handshake(self.channel, "fleet", False)
                self.channel.writer.write(wire.encode("attach"))
                self.row.keeper_pid = hello.get("pid")
                await self._read()
                delay = self.backoff_first          # it was up: the next loss starts the backoff over
                why = "the keeper hung up"
                if self.channel is not None:
                    why = await self.channel.failure(timeout=2.0) or why
                self._set(NO_KEEPER if self.node.local else UNREACHABLE, why)
            except ChannelError as exc:
                text = str(exc)
                local_absent = self.node.local and text.startswith("no keeper runs")
                remote_absent = not self.node.local and "no keeper runs for" in text
                self._set(NO_KEEPER if (local_absent or remote_absent) else UNREACHABLE, text)
            except (ConnectionError, OSError, ValueError) as exc:
                self._set(UNREACHABLE, f"the connection broke: {exc}")
            await self._close()
            if self._stopping:
                return
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), delay)
            except asyncio.TimeoutError:
                pass
            delay = min(self.backoff_cap, delay * 2)

    async def _read(self) -> None:
        reader = self.channel.reader
        while True:
            line = await reader.readline()
            if not line:
                return
            if line.startswith(_LINES_PREFIX):
                continue            # the node's log lines: most of the stream, and no row shows them
            try:
                msg = wire.decode(line)
            except ValueError:
                continue
            kind = msg["t"]
            changed = False
            if kind == "snapshot":
                for data in msg.get("events") or []:
                    changed |= self._fold(data)
                changed = True
            elif kind == "event":
                changed = self._fold(msg.get("e") or {})
            elif kind == "bye":
                return
            if changed:
                self.on_change(self.row)

    def _fold(self, data: dict[str, Any]) -> bool:
        if data.get("event") not in _ROW_EVENTS:
            return False
        try:
            event = ev.Event.from_dict(data)
        except (KeyError, TypeError, ValueError):
            return False
        return self.reducer.apply(event)

    @property
    def connected(self) -> bool:
        return self.channel is not None and self.row.state not in (UNREACHABLE, NO_KEEPER, CONNECTING)

    def send(self, cmd: ev.Command) -> bool:
        """A command for the node's keeper; False when there is no keeper to send it to."""
        ch = self.channel
        if ch is None or ch.writer.is_closing():
            return False
        try:
            ch.writer.write(wire.encode("command", c=cmd.to_dict()))
        except (ConnectionError, OSError):
            return False
        return True

