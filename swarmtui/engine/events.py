"""The engine's interface: events out, commands in, as plain dataclasses that round-trip to JSON.

Every event has a `kind` (the `event` field of `swarmtui supervise --json`) and a `ts` (wall
clock, ISO 8601 UTC, set when the engine emits it). Nothing here imports Textual or psutil.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
from dataclasses import dataclass, field
from typing import Any, ClassVar

# States of one supervised node, in the words the user sees.
STARTING = "starting"
RUNNING = "running"
LOGIN_REQUIRED = "login-required"
BACKOFF = "backoff"
NEEDS_USER = "needs-user"
STOPPING = "stopping"
STOPPED = "stopped"
STATES = (STARTING, RUNNING, LOGIN_REQUIRED, BACKOFF, NEEDS_USER, STOPPING, STOPPED)


def utc_now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


_EVENT_TYPES: dict[str, type["Event"]] = {}
_COMMAND_TYPES: dict[str, type["Command"]] = {}


@dataclass
class Event:
    kind: ClassVar[str] = "event"
    ts: str = field(default="", kw_only=True)

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        _EVENT_TYPES[cls.kind] = cls

    def to_dict(self) -> dict[str, Any]:
        return {"event": self.kind, **dataclasses.asdict(self)}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":"))

    @staticmethod
    def from_dict(data: dict[str, Any]) -> "Event":
        data = dict(data)
        cls = _EVENT_TYPES[data.pop("event")]
        return _build(cls, data)


@dataclass
class Command:
    kind: ClassVar[str] = "command"

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        _COMMAND_TYPES[cls.kind] = cls

    def to_dict(self) -> dict[str, Any]:
        return {"command": self.kind, **dataclasses.asdict(self)}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":"))

    @staticmethod
    def from_dict(data: dict[str, Any]) -> "Command":
        data = dict(data)
        cls = _COMMAND_TYPES[data.pop("command")]
        return _build(cls, data)


def _build(cls: type, data: dict[str, Any]) -> Any:
    """Rebuild nested dataclasses (lists of ProcInfo / LogLine) from their dict form."""
    kwargs = {}
    hints = {f.name: f for f in dataclasses.fields(cls)}
    for name, value in data.items():
        if name not in hints:
            continue
        nested = _NESTED.get((cls.__name__, name))
        if nested is not None and isinstance(value, list):
            value = [_nested(nested, v) if isinstance(v, dict) else v for v in value]
        elif nested is not None and isinstance(value, dict):
            value = _nested(nested, value)
        kwargs[name] = value
    return cls(**kwargs)


def _nested(cls: type, data: dict[str, Any]) -> Any:
    """A LogLine or ProcInfo from its dict; a field a newer engine added is left out, not fatal.
    Once per line of an attached panel's log (30,000 a second in a flood): the field names are
    looked up once per class, and a dict with no unknown field is passed as it is."""
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = frozenset(f.name for f in dataclasses.fields(cls))
    if names.issuperset(data):
        return cls(**data)
    return cls(**{k: v for k, v in data.items() if k in names})


_FIELD_NAMES: dict[type, frozenset[str]] = {}


# ---------------------------------------------------------------- value types carried by events

@dataclass
class LogLine:
    """One sanitized line of node output. `source` is "pty" or a log file's path relative to the
    checkout (e.g. "logs/swarm_launcher.log"); `line` its 1-based line number in that source."""
    source: str
    line: int
    text: str
    level: str | None = None        # DEBUG/INFO/WARNING/ERROR/CRITICAL when the format says so
    detection: str | None = None    # catalogue id when this line triggered a detection
    truncated: int = 0              # characters cut from an over-long line
    # A redraw of a tqdm bar (its label, "" when it has none): a viewer shows the last redraw of a
    # bar in place of the earlier ones instead of one line each. None for every other line.
    bar: str | None = None


@dataclass
class ProcInfo:
    pid: int
    ppid: int
    name: str
    cmdline: str
    role: str                       # launcher, login-server, trainer, dht, p2pd, ollama, other
    cpu_percent: float = 0.0
    rss: int = 0                    # bytes
    age_s: float = 0.0
    ports: list[int] = field(default_factory=list)
    ours: bool = True
    proof: str = ""                 # why we call it ours: descendant, session, marker, p2pd-id, login-cwd
    conflict: str = ""              # for a process that is not ours but gets in the way: why


# ---------------------------------------------------------------- events

@dataclass
class StateChanged(Event):
    kind: ClassVar[str] = "state"
    state: str
    reason: str = ""                # detection id or short cause
    detail: str = ""                # one human line
    next_restart_in: float | None = None   # seconds, while backing off
    uptime_s: float | None = None


@dataclass
class PromptSeen(Event):
    kind: ClassVar[str] = "prompt"
    text: str
    answered: bool
    rule: str = ""                  # which [answers] key answered it
    secret: bool = False            # the prompt asks for a token: never show or log the answer
    reason: str = ""                # not answered: why, in words (no rule knows it, the rule has no value, ...)


@dataclass
class Detected(Event):
    kind: ClassVar[str] = "detect"
    id: str
    cls: str
    action: str
    text: str
    source: str
    line: int
    hint: str = ""


@dataclass
class RestartScheduled(Event):
    kind: ClassVar[str] = "restart"
    reason: str
    attempt: int
    delay_s: float


@dataclass
class Exited(Event):
    kind: ClassVar[str] = "exit"
    code: int | None
    signal: int | None
    uptime_s: float = 0.0


@dataclass
class OrphanKilled(Event):
    kind: ClassVar[str] = "orphan_killed"
    pid: int
    cmdline: str
    signal: str = "SIGTERM"
    proof: str = ""


@dataclass
class StopStep(Event):
    kind: ClassVar[str] = "stop_step"
    step: str                       # (exit-grace) sigint, sigterm, sigkill, sweep, verify; the Docker way first ctrl-c, docker-stop
    detail: str = ""
    remaining: int = 0


@dataclass
class ProgressUpdate(Event):
    kind: ClassVar[str] = "progress"
    round: int | None = None
    stage: int | None = None
    step: int | None = None
    total: int | None = None
    era: str | None = None
    rate: str | None = None
    eta_s: float | None = None
    rounds_completed: int = 0
    rounds_skipped: list[int] = field(default_factory=list)
    last_rewards: dict[str, float] | None = None
    since_progress_s: float | None = None
    round_durations: list[float] = field(default_factory=list)
    # v0.6 AI Prediction Market: game, clue, bets, staked, last_bet, last_choice, claims, last_claimed
    market: dict[str, Any] | None = None


# How often the keeper sends LinesOut (Supervisor._schedule_flush; textual-engineering.md §2): a
# line after a quiet interval at once, then at most one batch per LINES_EVERY; after a batch of
# at most SPARSE_LINES lines, SPARSE_EVERY. A node printing a few lines a second has each line
# wait up to the interval, and at 0.1 s, with the panel's own part, one line in ten reached the
# screen after more than 100 ms (issue 16: p90 <= 100 ms). A flood's batches are large and keep
# 0.1 s: ten batches, and ten redraws, a second.
LINES_EVERY = 0.1
SPARSE_LINES = 8
SPARSE_EVERY = 0.075


def lines_gap(last_batch: int) -> float:
    """How long after a LinesOut of `last_batch` lines the next one may go."""
    return SPARSE_EVERY if last_batch <= SPARSE_LINES else LINES_EVERY


@dataclass
class LinesOut(Event):
    kind: ClassVar[str] = "lines"
    lines: list[LogLine] = field(default_factory=list)
    partial: str = ""               # the current unterminated pty line (a tqdm bar being redrawn)

    def to_dict(self) -> dict[str, Any]:
        # What dataclasses.asdict gives (tests hold them equal), without its deep copy: the
        # keeper encodes every batch for its viewers, and asdict was ~10 us a line, a third of
        # a core at 30,000 lines/s. A LogLine holds only strings and numbers.
        return {"event": self.kind, "ts": self.ts, "lines": [dict(line.__dict__) for line in self.lines],
                "partial": self.partial}


@dataclass
class ProcessSnapshot(Event):
    kind: ClassVar[str] = "processes"
    procs: list[ProcInfo] = field(default_factory=list)


@dataclass
class HostStats(Event):
    """The keeper's host (engine/host_stats.py): sizes in bytes, None where unknown. `history`
    holds the last samples of each figure as percentages (cpu, mem, swap, gpu_mem, gpu_util),
    oldest first, so a viewer that attaches now draws the same sparklines."""
    kind: ClassVar[str] = "host"
    cpu_percent: float = 0.0
    cpu_count: int = 0
    mem_used: int | None = None
    mem_total: int | None = None
    swap_used: int | None = None
    swap_total: int | None = None
    disk_free: int | None = None
    disk_total: int | None = None
    disk_path: str = ""
    gpus: list[dict[str, Any]] = field(default_factory=list)   # index, name, mem_used, mem_total, util
    gpu_note: str = ""              # why there are no GPU figures ("no GPU found ...")
    history: dict[str, list[float]] = field(default_factory=dict)


@dataclass
class RoundTrends(Event):
    """The last completed rounds of this and earlier runs (engine/round_trends.py), oldest first:
    round, end (ISO time), duration_s, reward, bets, claims; sent at start and after each round."""
    kind: ClassVar[str] = "trends"
    rounds: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class IdentityChanged(Event):
    kind: ClassVar[str] = "identity"
    report: dict[str, Any] = field(default_factory=dict)   # node.identity report, no secrets


@dataclass
class LoginRequired(Event):
    kind: ClassVar[str] = "login"
    url: str
    ssh_hint: str
    waiting_for: str = ""           # "userData.json" or "key activation"


@dataclass
class HistoryAppended(Event):
    kind: ClassVar[str] = "history"
    record: dict[str, Any] = field(default_factory=dict)


@dataclass
class HistoryLoaded(Event):
    """The restart history as it is on disk (oldest first), sent when a supervisor starts and to
    every viewer that attaches: a reopened panel shows what happened while nobody watched."""
    kind: ClassVar[str] = "history_loaded"
    records: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class PreflightFailed(Event):
    kind: ClassVar[str] = "preflight"
    problems: list[str] = field(default_factory=list)


@dataclass
class ActionDone(Event):
    kind: ClassVar[str] = "action"
    action: str                     # logout, reset-identity, answer, ...
    ok: bool
    detail: str = ""
    backups: list[str] = field(default_factory=list)


@dataclass
class Notice(Event):
    kind: ClassVar[str] = "notice"
    level: str                      # info, warning, error
    text: str


# ---------------------------------------------------------------- commands

@dataclass
class StartNode(Command):
    kind: ClassVar[str] = "start"


@dataclass
class StopNode(Command):
    kind: ClassVar[str] = "stop"
    reason: str = "manual"


@dataclass
class RestartNode(Command):
    kind: ClassVar[str] = "restart"
    reason: str = "manual"


@dataclass
class AnswerPrompt(Command):
    kind: ClassVar[str] = "answer"
    text: str
    secret: bool = False


@dataclass
class Logout(Command):
    kind: ClassVar[str] = "logout"


@dataclass
class ResetIdentity(Command):
    kind: ClassVar[str] = "reset-identity"


@dataclass
class RestoreBackup(Command):
    """Put one of swarmtui's backups of swarm.pem or the login files back (the identity report's
    `restorable` lists them); refused while the node runs."""
    kind: ClassVar[str] = "restore-backup"
    path: str


_NESTED: dict[tuple[str, str], type] = {
    ("LinesOut", "lines"): LogLine,
    ("ProcessSnapshot", "procs"): ProcInfo,
}
