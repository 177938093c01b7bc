"""One keeper per checkout, and what a keeper that died left behind.

A keeper is the swarmtui process that runs a node (the panel today, `supervise`, later the
background keeper). Two keepers on one checkout fight: each would take the other's live node for
leftovers of its own and kill it. So a keeper holds an exclusive flock on
<node state dir>/keeper.lock for its whole life. The kernel drops the lock on any death (kill -9,
OOM, a crash), so a free lock always means "nobody keeps this node now", and nothing ever has to
guess from a pid whether a keeper is still there.

Beside the lock, keeper.json names the keeper (pid, start time, kind, since) so a second one can
say who keeps the node, and lists the run ids (SWARMTUI_RUN_ID markers) of earlier keepers of
this checkout. Those are the only markers that prove a leftover process ours: they were recorded
by us, and their keepers are gone (we hold the lock). A keeper that ends cleanly writes `ended`;
one whose state has no `ended` while the lock is free died without a word (keeper-lost).
"""

from __future__ import annotations

import datetime as _dt
import errno
import fcntl
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from swarmtui import __version__, paths
from swarmtui.errors import UserError
from swarmtui.safefile import UnsafeFileError, ensure_private_dir, open_append, read_regular, write_atomic

LOCK_FILE = "keeper.lock"
STATE_FILE = "keeper.json"
MAX_PAST_RUN_IDS = 64               # enough for every keeper a checkout sees in months of restarts
_STATE_MAX_BYTES = 64 << 10


class KeeperBusy(UserError):
    """Another live swarmtui keeps this checkout's node."""


@dataclass
class KeeperState:
    pid: int
    start: float                        # the keeper's process create time (pid reuse tells)
    kind: str                           # panel, supervise
    since: str                          # ISO 8601 UTC
    run_id: str                         # its SWARMTUI_RUN_ID marker
    checkout: str
    version: str = __version__
    run: int | None = None              # the run it was keeping, if any
    run_started: str | None = None
    ended: str | None = None            # set on a clean exit
    past_run_ids: list[str] = field(default_factory=list)
    name: str | None = None             # the fleet file's name for this node, when a fleet started it

    @classmethod
    def from_dict(cls, data: Any) -> "KeeperState | None":
        """A state read from disk; None when it is not one (a damaged file proves nothing)."""
        if not isinstance(data, dict):
            return None
        try:
            past = [str(x) for x in data.get("past_run_ids") or [] if isinstance(x, str)]
            run = data.get("run")
            return cls(pid=int(data["pid"]), start=float(data.get("start") or 0.0), kind=str(data.get("kind") or "?"),
                       since=str(data.get("since") or ""), run_id=str(data.get("run_id") or ""),
                       checkout=str(data.get("checkout") or ""), version=str(data.get("version") or "?"),
                       run=int(run) if isinstance(run, int) and not isinstance(run, bool) else None,
                       run_started=data.get("run_started") if isinstance(data.get("run_started"), str) else None,
                       ended=data.get("ended") if isinstance(data.get("ended"), str) else None,
                       past_run_ids=past[-MAX_PAST_RUN_IDS:],
                       name=data.get("name") if isinstance(data.get("name"), str) else None)
        except (KeyError, TypeError, ValueError):
            return None

    def describe(self) -> str:
        since = self.since.replace("T", " ")[:19] if self.since else "?"
        return f"swarmtui {self.kind} (pid {self.pid}, since {since} UTC)"


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def _create_time(pid: int) -> float:
    try:
        import psutil

        return psutil.Process(pid).create_time()
    except Exception:
        return 0.0


def read_state(checkout: Path) -> KeeperState | None:
    path = paths.node_state_dir(checkout) / STATE_FILE
    try:
        return KeeperState.from_dict(json.loads(read_regular(path, _STATE_MAX_BYTES, follow_symlinks=False)))
    except (OSError, ValueError):
        return None


def how_to_reach(state: KeeperState | None) -> str:
    """What to do about the keeper that holds the node, in words for the person."""
    if state is None:
        return "another swarmtui"
    if state.kind == "supervise":
        return (f"{state.describe()}: stop it with `kill {state.pid}` (SIGTERM stops the node cleanly), "
                f"or restart the node with `kill -USR1 {state.pid}`")
    return f"{state.describe()}: use that panel, or quit it first"


class KeeperLock:
    """The exclusive right to keep one checkout's node. acquire() once; release() at the end."""

    def __init__(self, checkout: Path | str, kind: str, run_id: str, name: str | None = None):
        self.checkout = Path(os.path.realpath(checkout))
        self.name = name
        self.kind = kind
        self.run_id = run_id
        self.dir = paths.node_state_dir(self.checkout)
        self.state: KeeperState | None = None
        self.previous: KeeperState | None = None
        self.lost: KeeperState | None = None       # the previous keeper, when it died unannounced
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    @property
    def state_path(self) -> Path:
        return self.dir / STATE_FILE

    def acquire(self) -> KeeperState | None:
        """Take the lock or raise KeeperBusy naming who holds it. Returns the previous keeper's
        state when that keeper died without ending cleanly (its run vanished), else None."""
        if self._fd is not None:
            return None
        ensure_private_dir(self.dir, within=paths.state_dir())
        fd = open_append(self.dir / LOCK_FILE)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
            other = read_state(self.checkout)
            raise KeeperBusy(f"the node in {self.checkout} is already kept by {how_to_reach(other)}; "
                             "this swarmtui leaves it alone") from None
        self._fd = fd
        self.previous = read_state(self.checkout)
        past = list(self.previous.past_run_ids) if self.previous else []
        if self.previous is not None and self.previous.run_id and self.previous.run_id not in past:
            past.append(self.previous.run_id)
        me = os.getpid()
        self.state = KeeperState(pid=me, start=_create_time(me), kind=self.kind, since=now_iso(),
                                 run_id=self.run_id, checkout=str(self.checkout),
                                 past_run_ids=past[-MAX_PAST_RUN_IDS:], name=self.name)
        self._write()
        prev = self.previous
        self.lost = prev if prev is not None and prev.ended is None else None
        return self.lost

    def past_run_ids(self) -> frozenset[str]:
        """Run ids of earlier keepers of this checkout, all gone: only while we hold the lock."""
        if self._fd is None or self.state is None:
            return frozenset()
        return frozenset(self.state.past_run_ids)

    def update(self, **changes: Any) -> None:
        if self.state is None or self._fd is None:
            return
        for key, value in changes.items():
            setattr(self.state, key, value)
        self._write()

    def release(self) -> None:
        """A clean end: say so in the state file, then let the lock go."""
        if self._fd is None:
            return
        try:
            self.update(ended=now_iso())
        finally:
            os.close(self._fd)
            self._fd = None

    def _write(self) -> None:
        assert self.state is not None
        try:
            write_atomic(self.state_path, (json.dumps(asdict(self.state), indent=1) + "\n").encode())
        except (OSError, UnsafeFileError):
            # The lock is what keeps a second keeper out; the state file only names us. A full
            # disk must not stop a node from being kept.
            pass
