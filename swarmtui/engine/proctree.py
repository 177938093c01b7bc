"""Our node's processes: which ones are provably ours, what they cost, and how to stop them all.

Ownership is proven by our own launch, never by a name or a path (community-tools.md §3.3:
every `pkill -f` pattern in the wild also hits other nodes or swarmtui itself). A process is
ours when one of:
- launcher     it is the process we launched (pid and create time match);
- descendant   its parent chain leads to our launcher while the launcher lives;
- session/pgid it is in the session or process group our launcher leads (start_new_session);
- marker       its environment carries SWARMTUI_RUN_ID=<this keeper's run id>;
- marker-earlier-keeper  its marker is the run id of an earlier keeper of this checkout, one
               that keeper.json recorded and that is gone (we hold the checkout's lock): a
               leftover of our own dead session.
What proves nothing: a login server whose cwd is in the checkout (run_rl_swarm.sh `cd`s into
modal-login before `yarn start`, for every node of the checkout, ours or started by hand), a
p2pd whose -id= is the checkout's swarm.pem (the same for any node of the checkout), a marker
of another checkout or of a keeper that is alive. Such processes are shown as conflicts (port
held, identity in use), never signalled.
A proof, once made, holds for that process's life: it is kept under (pid, start time), so a
reused pid is a new process that must prove itself again. The environment proofs are only tried
on processes of our own user, and right before every signal the process's identity is checked
again by (pid, create time).

The stop sequence (design.md): SIGINT to the group so the script's own trap runs, wait;
SIGTERM, wait; SIGKILL; then sweep proven orphans outside the group (TERM, then KILL); then
verify that nothing of ours is left. Zombies count as dead. Every step is reported.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import os
import signal as _signal
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import psutil

from swarmtui.paths import node_key
from swarmtui.engine.events import Event, OrphanKilled, ProcInfo, StopStep

RUN_ID_ENV = "SWARMTUI_RUN_ID"
PR_SET_CHILD_SUBREAPER = 36

ROLES = ("launcher", "login-server", "trainer", "dht", "p2pd", "ollama", "other")
_TRAINER_MARKS = ("swarm_launcher", "hivemind_exp", "rgym_exp", "code_gen_exp", "genrl", "train_single_gpu")
# Proofs that tie a process to this keeper's own launches (not to an earlier keeper's).
CURRENT_RUN_PROOFS = frozenset({"launcher", "descendant", "session", "pgid", "marker"})
_SHELL_NAMES = ("bash", "sh", "dash", "zsh")
_LOGIN_NAMES = ("node", "yarn", "next-server", "next-router-worker", "npm")

# ---------------------------------------------------------------- subreaper

_subreaper_enabled = False


def enable_subreaper() -> bool:
    """Make this process the reaper of orphans from its subtree (Linux >= 3.4), so a daemon that
    double-forks and calls setsid stays our descendant. Returns whether it is enabled."""
    global _subreaper_enabled
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
            return False
    except (OSError, AttributeError):
        return False
    _subreaper_enabled = True
    return True


def disable_subreaper() -> None:
    global _subreaper_enabled
    if sys.platform.startswith("linux") and _subreaper_enabled:
        try:
            ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
        except (OSError, AttributeError):  # pragma: no cover
            pass
        _subreaper_enabled = False


def subreaper_enabled() -> bool:
    return _subreaper_enabled


def reap_zombies(only: Iterable[int] | None = None, exclude: Iterable[int] = ()) -> list[tuple[int, int]]:
    """Reap zombie children of this process (adopted orphans, once we are a subreaper).
    `only`: reap just these pids (the ones proven ours); `exclude`: never these (a child that
    asyncio or subprocess waits for itself, whose exit status would otherwise be stolen).
    Returns [(pid, raw wait status)]."""
    wanted = None if only is None else set(only)
    skip = set(exclude)
    done = []
    try:
        children = psutil.Process().children()
    except psutil.Error:  # pragma: no cover
        return done
    for child in children:
        if child.pid in skip or (wanted is not None and child.pid not in wanted):
            continue
        try:
            if child.status() != psutil.STATUS_ZOMBIE:
                continue
            pid, status = os.waitpid(child.pid, os.WNOHANG)
        except (psutil.Error, ChildProcessError, OSError):
            continue
        if pid:
            done.append((pid, status))
    return done


# ---------------------------------------------------------------- ownership


def make_run_id(checkout: Path) -> str:
    """The SWARMTUI_RUN_ID value for a keeper: the checkout's key (so a person reading a process's
    environment sees which node it belongs to) and a random part. A later keeper of the checkout
    knows it from keeper.json, never from its shape."""
    return f"{node_key(Path(os.path.realpath(checkout)))}:{uuid.uuid4().hex[:12]}"


@dataclass
class Ownership:
    """What makes a process ours for one supervised node. run_id: see make_run_id."""
    run_id: str
    checkout: Path
    identity_path: Path | None = None
    login_port: int = 3000
    launch_pid: int | None = None
    launch_ctime: float | None = None
    launch_start: float | None = None     # the launcher's start in _Row units (its identity)
    # Run ids of earlier keepers of this checkout that are gone (keeper.KeeperLock.past_run_ids):
    # the only foreign markers that make a process ours.
    earlier_run_ids: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        self.checkout = Path(os.path.realpath(self.checkout))
        self.marker_prefix = node_key(self.checkout) + ":"
        if self.identity_path is not None:
            self.identity_path = Path(os.path.realpath(self.identity_path))

    def set_launcher(self, pid: int) -> None:
        self.launch_pid = pid
        row = _read_row(pid)
        self.launch_start = row.start if row else None
        try:
            self.launch_ctime = psutil.Process(pid).create_time()
        except psutil.Error:
            self.launch_ctime = None

    def launcher_identity_valid(self, table: "dict[int, _Row] | None" = None) -> bool:
        """Session and group proofs hold only while the launcher's pid still names our launcher
        (or nothing): a reused pid must never lend its session id to a stranger."""
        if self.launch_pid is None:
            return False
        row = table.get(self.launch_pid) if table is not None else _read_row(self.launch_pid)
        return row is None or row.start == self.launch_start


def classify(name: str, cmdline: list[str], *, is_launcher: bool = False,
             parent_cmdline: list[str] | None = None) -> str:
    """The role of a process in an rl-swarm tree, from its name and command line."""
    base0 = os.path.basename(cmdline[0]) if cmdline else ""
    if is_launcher or any(a.endswith("run_rl_swarm.sh") for a in cmdline[:3]):
        return "launcher"
    if name == "p2pd" or any(os.path.basename(a) == "p2pd" for a in cmdline[:2]):
        return "p2pd"
    if name.startswith("ollama") or base0 == "ollama":
        return "ollama"
    low = " ".join(cmdline[:4]).lower()
    if (name in _LOGIN_NAMES or name.startswith("next-") or base0 in ("node", "yarn", "npm")
            or " next " in f" {low} " or "/next " in f"{low} " or "yarn" in base0):
        return "login-server"
    if "python" in name or "python" in base0:
        if any(m in low for m in _TRAINER_MARKS) or any(m in " ".join(cmdline) for m in _TRAINER_MARKS):
            if parent_cmdline is not None and parent_cmdline == cmdline:
                return "dht"          # hivemind's DHT is a forked child with the parent's cmdline
            return "trainer"
    return "other"


def _p2pd_identity(cmdline: list[str], cwd: str | None) -> str | None:
    for arg in cmdline[1:]:
        if arg.startswith("-id="):
            value = arg[4:]
            if not os.path.isabs(value) and cwd:
                value = os.path.join(cwd, value)
            return os.path.realpath(value)
    return None


@dataclass(eq=False)
class Owned:
    proc: psutil.Process        # kept across snapshots: cpu_percent's baseline
    ctime: float                # psutil create time: identity re-checked before every signal
    proof: str
    role: str = "other"
    start: float = 0.0
    cmd: list[str] | None = None      # command line and listening ports as last read (snapshot
    ports: list[int] = field(default_factory=list)   # detail=False reuses them)
    details: int = 0                  # how many times they were read

    @property
    def key(self) -> tuple[int, float]:
        return (self.proc.pid, self.ctime)


@dataclass
class PortStatus:
    port: int
    state: str                      # free, ours, not-ours
    holders: list[ProcInfo] = field(default_factory=list)

    def describe(self) -> str:
        if self.state == "free":
            return f"port {self.port} is free"
        who = ", ".join(f"{h.pid} {h.cmdline[:60]}" if h.pid else "a process of another user"
                        for h in self.holders) or "an unknown process"
        return f"port {self.port} is held by {'our' if self.state == 'ours' else 'another'} process: {who}"


# ---------------------------------------------------------------- the tree


def _safe(fn: Callable, default=None):
    try:
        return fn()
    except (psutil.Error, OSError):
        return default


class ProcTree:
    """Everything we know about one node's processes. Keep one per supervised node: it holds the
    psutil.Process objects (keyed by pid and start time) that cpu_percent needs as a baseline.

    A scan reads one small /proc file per process (Linux); only processes of our own user that
    no cheap proof covers get their environment and command line read, and a stranger found not
    ours is not read again for NEGATIVE_TTL seconds (an exec could change what it is)."""

    NEGATIVE_TTL = 30.0

    def __init__(self, ownership: Ownership):
        self.own = ownership
        self._owned: dict[tuple[int, float], Owned] = {}        # (pid, start) -> proven ours
        self._not_ours: dict[tuple[int, float], tuple[float, str]] = {}   # (pid, start) -> (when, name)
        self._ever_ours: set[int] = set()
        self._seen_launch: tuple[int | None, float | None] = (None, None)
        self._me = os.getpid()
        self._uid = os.getuid() if hasattr(os, "getuid") else None
        self._rows: dict[int, _Row] | None = None      # the last table (incremental snapshots)
        self._cpu: dict[tuple[int, float], tuple[int, float]] = {}   # key -> (ticks, monotonic)

    # ------------------------------------------------------------ proving

    def scan(self, *, fresh: bool = False) -> list[Owned]:
        """Every live (non-zombie) process proven ours, with its proof. fresh=True re-examines
        strangers that were recently found not ours (the stop sequence's sweep and verify): the
        proofs from /proc/<pid>/stat (descendant, session, group) always, the costly ones
        (environment, command line, cwd) when the process has exec'd since (its name changed)."""
        return self._scan_all(fresh=fresh)[0]

    def _scan_all(self, *, fresh: bool = False, incremental: bool = False) -> tuple[list[Owned], dict[int, _Row]]:
        if incremental and self._rows is not None and _HAVE_PROC:
            # Strangers keep last time's row; ours (and the launcher) are read again: their state,
            # CPU and memory. A new pid is read in full and must prove itself as always.
            refresh = {k[0] for k in self._owned} | self._ever_ours
            if self.own.launch_pid:
                refresh.add(self.own.launch_pid)
            table = _table(self._rows, refresh)
        else:
            table = _table()
        self._rows = table
        now = time.monotonic()
        if self._seen_launch != (self.own.launch_pid, self.own.launch_start):
            # A new launch makes new proofs possible: forget who was found not ours.
            self._seen_launch = (self.own.launch_pid, self.own.launch_start)
            self._not_ours.clear()
        group_ok = self.own.launcher_identity_valid(table)
        owned: list[Owned] = []
        for pid, row in table.items():
            if pid == self._me or pid <= 1 or row.zombie:
                continue
            key = (pid, row.start)
            known = self._owned.get(key)
            if known is not None:
                owned.append(known)
                continue
            checked = self._not_ours.get(key)
            cheap_only = False
            if checked is not None and now - checked[0] < self.NEGATIVE_TTL and checked[1] == row.name:
                if not fresh:
                    continue
                cheap_only = True
            proc: list[psutil.Process] = []
            proof = self._prove(row, table, group_ok, proc, cheap_only=cheap_only)
            if not proof:
                # None: caught inside an exec (new name, no command line yet); look again next
                # time rather than trusting a half-made process for NEGATIVE_TTL.
                if not cheap_only and proof is not None:
                    self._not_ours[key] = (now, row.name)
                continue
            p = proc[0] if proc else _safe(lambda: psutil.Process(pid))
            ctime = _safe(p.create_time) if p is not None else None
            if p is None or ctime is None:
                continue
            o = Owned(p, ctime, proof, start=row.start)
            self._owned[key] = o
            owned.append(o)
        live_keys = {(pid, row.start) for pid, row in table.items()}
        for cache in (self._owned, self._not_ours):
            for key in [k for k in cache if k not in live_keys]:
                del cache[key]
        self._ever_ours = {pid for pid in self._ever_ours if pid in table} | {o.proc.pid for o in owned}
        return owned, table

    def reap(self) -> list[tuple[int, int]]:
        """Reap zombies among processes once proven ours (adopted orphans, with the subreaper on).
        Never the launcher (asyncio waits for it) nor anyone else's child."""
        if not subreaper_enabled():
            return []
        exclude = [self.own.launch_pid] if self.own.launch_pid else []
        if self._rows is not None and _HAVE_PROC:
            # The last table already says who is a zombie child of ours: no walk of /proc.
            zombies = [pid for pid in self._ever_ours
                       if (r := self._rows.get(pid)) is not None and r.zombie and r.ppid == self._me]
            if not zombies:
                return []
            return reap_zombies(only=zombies, exclude=exclude)
        return reap_zombies(only=self._ever_ours, exclude=exclude)

    def _prove(self, row: "_Row", table: "dict[int, _Row]", group_ok: bool, out: list[psutil.Process],
               cheap_only: bool = False) -> str | None:
        """The proof that this process is ours, "" when it is not, None when it cannot be told
        yet (its command line is empty in the middle of an exec)."""
        own = self.own
        pid = row.pid
        if own.launch_pid is not None:
            if pid == own.launch_pid and row.start == own.launch_start:
                return "launcher"
            # The launcher's children start after it, so anything older is not of its tree.
            young = own.launch_start is None or row.start >= own.launch_start
            if group_ok and young:
                hop, seen = row.ppid, 0
                while hop > 1 and seen < 64:
                    if hop == own.launch_pid:
                        return "descendant"
                    parent = table.get(hop)
                    hop, seen = (parent.ppid if parent else 0), seen + 1
                if row.sid == own.launch_pid:
                    return "session"
                if row.pgid == own.launch_pid:
                    return "pgid"
        if cheap_only or (self._uid is not None and row.uid is not None and row.uid != self._uid):
            return ""
        try:
            p = psutil.Process(pid)
        except psutil.Error:
            return ""
        out.append(p)
        env = _safe(p.environ, {}) or {}
        marker = env.get(RUN_ID_ENV)
        if marker == own.run_id:
            return "marker"
        if marker and marker in own.earlier_run_ids:
            return "marker-earlier-keeper"
        if not marker and not _safe(p.cmdline, []) and row.ppid != 2 and pid != 2 and not row.zombie:
            # Not a kernel thread (those are kthreadd's children): caught inside an exec, the
            # kernel has set the new name but not yet the new arguments and environment.
            return None
        return ""

    def is_still_ours(self, owned: Owned) -> bool:
        """Right before a signal: is this still the very process we proved ours? Identity is
        (pid, create time): a proof holds for a process's whole life (an exec keeps pid, create
        time, parent and session), and a reused pid has a different create time."""
        try:
            p = psutil.Process(owned.proc.pid)
            return p.create_time() == owned.ctime and p.status() != psutil.STATUS_ZOMBIE
        except psutil.Error:
            return False

    # ------------------------------------------------------------ snapshot

    def snapshot(self, *, conflicts: bool = True, detail: bool = True, incremental: bool = False) -> list[ProcInfo]:
        """Our processes (and, with conflicts=True, strangers in our way) as ProcInfo, launcher
        first, children under their parents. detail=False reuses each known process's command
        line and listening ports from the last detailed snapshot (reading ports costs a few ms
        per process; a new process is read on its first two snapshots, so a port it opens soon
        after it starts shows); CPU and memory are always fresh. incremental=True reads /proc
        only for new processes and ours (see _table)."""
        owned, table = self._scan_all(incremental=incremental)
        now = time.time()
        out: list[ProcInfo] = []
        for o in owned:
            if detail or o.cmd is None or o.details < 2:
                o.cmd = _safe(o.proc.cmdline, []) or []
                o.ports = _listening_ports(o.proc)
                o.details += 1
        cmd_of = {o.proc.pid: o.cmd or [] for o in owned}
        for o in owned:
            p = o.proc
            row = table.get(p.pid)
            ppid = row.ppid if row else (_safe(p.ppid, 0) or 0)
            name = row.name if row else (_safe(p.name, "") or "")
            cmd = cmd_of[p.pid]
            parent_cmd = cmd_of.get(ppid)
            o.role = classify(name, cmd, is_launcher=o.proof == "launcher", parent_cmdline=parent_cmd)
            if row is not None and row.cpu_ticks >= 0:
                cpu, rss = self._cpu_percent(o, row.cpu_ticks), row.rss_pages * _PAGE
            else:
                with _oneshot(p):
                    mem = _safe(p.memory_info)
                    cpu = _safe(lambda: p.cpu_percent(None), 0.0) or 0.0
                rss = mem.rss if mem else 0
            out.append(ProcInfo(
                pid=p.pid, ppid=ppid, name=name, cmdline=_join(cmd), role=o.role, cpu_percent=cpu,
                rss=rss, age_s=max(0.0, now - o.ctime), ports=list(o.ports), ours=True, proof=o.proof))
        if len(self._cpu) > 4 * len(owned) + 64:
            live = {o.key for o in owned}
            self._cpu = {k: v for k, v in self._cpu.items() if k in live}
        if conflicts:
            out += self._conflicts(table, owned)
        return _tree_order(out, self.own.launch_pid)

    def _cpu_percent(self, o: Owned, ticks: int) -> float:
        """Like psutil's cpu_percent(None): since the last call for this process, 0.0 the first time."""
        t = time.monotonic()
        last = self._cpu.get(o.key)
        self._cpu[o.key] = (ticks, t)
        if last is None or t <= last[1]:
            return 0.0
        return round(max(0, ticks - last[0]) / _CLK_TCK / (t - last[1]) * 100, 1)

    def _conflicts(self, table: "dict[int, _Row]", owned: list[Owned]) -> list[ProcInfo]:
        found: dict[int, ProcInfo] = {}
        status = port_status(self.own.login_port, self, owned=owned)
        if status.state == "not-ours":
            for h in status.holders:
                h.conflict = f"holds the login port {self.own.login_port}"
                found[h.pid] = h
        ident = str(self.own.identity_path) if self.own.identity_path else None
        ours_pids = {o.proc.pid for o in owned}
        for info in self.foreign_node(table, ours_pids):
            found.setdefault(info.pid, info)
        if ident:
            for pid, row in table.items():
                if row.name != "p2pd" or row.zombie or pid in ours_pids or pid == self._me or pid in found:
                    continue
                try:
                    p = psutil.Process(pid)
                except psutil.Error:
                    continue
                if _p2pd_identity(_safe(p.cmdline, []) or [], _safe(p.cwd)) == ident:
                    info = _procinfo(p, ours=False)
                    info.conflict = f"uses our identity {ident}"
                    found[pid] = info
        return list(found.values())

    def foreign_node(self, table: "dict[int, _Row] | None" = None,
                     ours: "set[int] | None" = None) -> list[ProcInfo]:
        """The launcher script or the trainer of this checkout, running but not launched by this
        keeper: a node started by hand in another terminal, or kept by another swarmtui. Shown
        with why it matters, never signalled. Only bash/sh and python processes of our own user
        have their command line and cwd read (a few per host)."""
        table = table if table is not None else _table()
        if ours is None:
            ours = {o.proc.pid for o in self.scan()}
        root = str(self.own.checkout)
        found = []
        for pid, row in table.items():
            if pid in ours or pid == self._me or row.zombie:
                continue
            if self._uid is not None and row.uid is not None and row.uid != self._uid:
                continue
            if not (row.name in _SHELL_NAMES or "python" in row.name):
                continue
            p = _safe(lambda: psutil.Process(pid))
            cmd = _safe(p.cmdline, []) if p is not None else []
            role = classify(row.name, cmd or [])
            cwd = _safe(p.cwd) if p is not None and role in ("launcher", "trainer") else None
            if not cwd or not (cwd == root or cwd.startswith(root + os.sep)):
                continue
            info = _procinfo(p, ours=False)
            info.role = role
            marker = (_safe(p.environ, {}) or {}).get(RUN_ID_ENV, "")
            info.conflict = ("kept by another swarmtui" if marker.startswith(self.own.marker_prefix)
                             else "runs this checkout outside swarmtui")
            found.append(info)
        return found

    def alive(self, owned: list[Owned]) -> list[Owned]:
        return [o for o in owned if _alive(o)]

    # ------------------------------------------------------------ stopping

    async def stop(self, *, report: Callable[[Event], None] | None = None, pgid: int | None = None,
                   int_timeout: float = 20.0, term_timeout: float = 10.0, kill_timeout: float = 5.0,
                   sweep_timeout: float = 3.0, poll: float = 0.05,
                   exclude_reap: Iterable[int] = ()) -> "StopResult":
        """The full stop sequence. `pgid` is the launcher's group (its pid, start_new_session)."""
        emit = report or (lambda e: None)
        pgid = pgid if pgid is not None else self.own.launch_pid
        result = StopResult()
        skip_reap = set(exclude_reap) | ({self.own.launch_pid} if self.own.launch_pid else set())

        group = self._group_members(pgid)
        for step, sig, timeout in (("sigint", _signal.SIGINT, int_timeout),
                                   ("sigterm", _signal.SIGTERM, term_timeout),
                                   ("sigkill", _signal.SIGKILL, kill_timeout)):
            group = [o for o in group if _alive(o)]
            if not group:
                break
            t0 = time.monotonic()
            sent = self._signal_group(pgid, sig, group)
            remaining = await self._wait_gone(group, timeout, poll, skip_reap)
            result.steps.append(step)
            emit(StopStep(step=step, remaining=len(remaining),
                          detail=f"{sig.name} to process group {pgid} ({sent} process(es)); "
                                 f"{len(group) - len(remaining)} gone in {time.monotonic() - t0:.2f}s"))
            group = remaining

        # Sweep: everything still proven ours, wherever it went (own session, reparented, ...).
        leftovers = self.alive(self.scan(fresh=True))
        if leftovers:
            result.steps.append("sweep")
            cmd_of = {o.key: _join(_safe(o.proc.cmdline, []) or []) or (_safe(o.proc.name, "") or "")
                      for o in leftovers}
            last_sig: dict[tuple[int, float], str] = {}
            for o in leftovers:
                if self._signal_one(o, _signal.SIGTERM):
                    last_sig[o.key] = "SIGTERM"
            remaining = await self._wait_gone(leftovers, sweep_timeout, poll, skip_reap)
            for o in remaining:
                if self._signal_one(o, _signal.SIGKILL):
                    last_sig[o.key] = "SIGKILL"
            remaining = await self._wait_gone(remaining, kill_timeout, poll, skip_reap)
            for o in leftovers:
                if o.key in last_sig and o not in remaining:
                    cmd = cmd_of[o.key]
                    rec = {"pid": o.proc.pid, "cmdline": cmd, "proof": o.proof, "signal": last_sig[o.key]}
                    result.orphans_killed.append(rec)
                    emit(OrphanKilled(pid=o.proc.pid, cmdline=cmd, signal=last_sig[o.key], proof=o.proof))
            emit(StopStep(step="sweep", remaining=len(remaining),
                          detail=f"{len(leftovers)} leftover process(es) of ours outside the group; "
                                 f"{len(leftovers) - len(remaining)} killed"))
        self.reap()

        final = self.alive(self.scan(fresh=True))
        result.remaining = [_procinfo(o.proc, ours=True, proof=o.proof) for o in final]
        result.steps.append("verify")
        emit(StopStep(step="verify", remaining=len(final),
                      detail="nothing of ours is left" if not final else
                      "still alive: " + ", ".join(f"{i.pid} {i.cmdline[:60]}" for i in result.remaining)))
        return result

    def kill_now(self, pgid: int | None = None) -> int:
        """Synchronous last resort (atexit, a second SIGTERM, after the UI is gone): SIGKILL the
        current run's group and what this keeper's own run made (never a leftover of an earlier
        keeper: those are the pre-flight's, with a record). Returns how many were signalled."""
        pgid = pgid if pgid is not None else self.own.launch_pid
        n = 0
        if pgid and pgid == self.own.launch_pid and self.own.launcher_identity_valid():
            try:
                os.killpg(pgid, _signal.SIGKILL)
                n += 1
            except OSError:
                pass
        for o in self.scan():
            if o.proof in CURRENT_RUN_PROOFS and self._signal_one(o, _signal.SIGKILL):
                n += 1
        return n

    def _group_members(self, pgid: int | None) -> list[Owned]:
        if not pgid:
            return []
        return [o for o in self.scan() if _safe(lambda o=o: os.getpgid(o.proc.pid)) == pgid]

    def _signal_group(self, pgid: int | None, sig: _signal.Signals, members: list[Owned]) -> int:
        """killpg, but only while the group is provably ours: its leader's pid still names our
        launcher (or nothing), and every live member we can see is one we proved ours."""
        if not pgid or pgid != self.own.launch_pid or not self.own.launcher_identity_valid():
            return sum(self._signal_one(o, sig) for o in members)
        # One table for both the proofs and the membership: a process forked after a separate
        # read would look like a stranger, and signalling members one by one lets bash ignore
        # SIGINT (it waits for a foreground child that never got the signal).
        owned, table = self._scan_all(fresh=True)
        proven = {o.proc.pid for o in owned}
        strangers = [r for r in table.values() if r.pgid == pgid and not r.zombie and r.pid not in proven
                     and _still(r)]       # one that exited since the table was read proves nothing
        if strangers:
            return sum(self._signal_one(o, sig) for o in members)
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return 0
        except PermissionError:  # pragma: no cover
            return sum(self._signal_one(o, sig) for o in members)
        return len(members)

    def _signal_one(self, owned: Owned, sig: _signal.Signals) -> bool:
        if not self.is_still_ours(owned):
            return False
        try:
            owned.proc.send_signal(sig)   # psutil re-checks (pid, create time) itself too
            return True
        except psutil.Error:
            return False

    async def _wait_gone(self, procs: list[Owned], timeout: float, poll: float,
                         skip_reap: set[int]) -> list[Owned]:
        deadline = time.monotonic() + timeout
        alive = [o for o in procs if _alive(o)]
        while alive and time.monotonic() < deadline:
            await asyncio.sleep(poll)
            if subreaper_enabled():
                reap_zombies(only={o.proc.pid for o in procs}, exclude=skip_reap)
            alive = [o for o in alive if _alive(o)]
        return alive


@dataclass
class StopResult:
    steps: list[str] = field(default_factory=list)
    orphans_killed: list[dict] = field(default_factory=list)
    remaining: list[ProcInfo] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.remaining


# ---------------------------------------------------------------- helpers


class _oneshot:
    def __init__(self, p: psutil.Process):
        self.cm = p.oneshot()

    def __enter__(self):
        try:
            self.cm.__enter__()
        except psutil.Error:  # pragma: no cover
            pass
        return self

    def __exit__(self, *exc):
        try:
            self.cm.__exit__(*exc)
        except psutil.Error:  # pragma: no cover
            pass
        return False


@dataclass
class _Row:
    """What one cheap read says about a process."""
    pid: int
    ppid: int
    pgid: int
    sid: int
    zombie: bool
    name: str
    start: float            # Linux: start time in clock ticks since boot; elsewhere: create time
    uid: int | None
    cpu_ticks: int = -1     # Linux: utime + stime in clock ticks (-1: unknown)
    rss_pages: int = -1     # Linux: resident set size in pages (-1: unknown)


def _read_row(pid: int, uid: int | None = -1) -> _Row | None:
    """One process's row; `uid` when the caller knows it already (saves a stat)."""
    if _HAVE_PROC:
        try:
            fd = os.open(f"/proc/{pid}/stat", os.O_RDONLY | os.O_CLOEXEC)
            try:
                data = os.read(fd, 4096)
            finally:
                os.close(fd)
            if uid == -1:
                uid = os.stat(f"/proc/{pid}").st_uid
        except OSError:
            return None
        return _parse_stat(pid, data, uid)
    try:
        p = psutil.Process(pid)
        with p.oneshot():
            return _Row(pid, p.ppid(), _safe(lambda: os.getpgid(pid), 0), _safe(lambda: os.getsid(pid), 0),
                        p.status() == psutil.STATUS_ZOMBIE, p.name(), p.create_time(),
                        _safe(lambda: p.uids().real))
    except psutil.Error:
        return None


def _parse_stat(pid: int, data: bytes, uid: int | None) -> _Row | None:
    # "pid (comm) state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt utime
    #  stime cutime cstime priority nice num_threads itrealvalue starttime ..."; comm may hold
    #  spaces and parentheses, so split at the last ')'.
    try:
        lp, rp = data.index(b"("), data.rindex(b")")
        name = data[lp + 1:rp].decode("utf-8", "replace")
        f = data[rp + 2:].split()
        return _Row(pid, int(f[1]), int(f[2]), int(f[3]), f[0] in (b"Z", b"X"), name, float(f[19]), uid,
                    int(f[11]) + int(f[12]), int(f[21]))
    except (ValueError, IndexError):
        return None


_HAVE_PROC = sys.platform.startswith("linux") and os.path.isdir("/proc/self")
try:
    _CLK_TCK = os.sysconf("SC_CLK_TCK") or 100
    _PAGE = os.sysconf("SC_PAGE_SIZE") or 4096
except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
    _CLK_TCK, _PAGE = 100, 4096


def _proc_pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def _table(previous: "dict[int, _Row] | None" = None, refresh: "set[int] | None" = None) -> dict[int, _Row]:
    """Every process's row. With `previous`, only new pids and those in `refresh` are read
    (one listdir of /proc, then a read per process that matters); the rest keep their rows."""
    out: dict[int, _Row] = {}
    if _HAVE_PROC:
        keep = refresh or set()
        for pid in _proc_pids():
            old = previous.get(pid) if previous is not None else None
            if old is not None and pid not in keep:
                out[pid] = old
                continue
            row = _read_row(pid, old.uid if old is not None else -1)
            if row is not None:
                out[pid] = row
        return out
    for pid in psutil.pids():
        row = _read_row(pid)
        if row is not None:
            out[pid] = row
    return out


def _still(row: _Row) -> bool:
    """Is the process this row describes still there (same pid, same start, not a zombie)?"""
    now = _read_row(row.pid)
    return now is not None and now.start == row.start and not now.zombie


def _alive(o: Owned) -> bool:
    try:
        if o.proc.create_time() != o.ctime:
            return False
        return o.proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except psutil.Error:
        return True


def _join(cmd: list[str]) -> str:
    return " ".join(cmd)


def _listening_ports(p: psutil.Process) -> list[int]:
    conns = _safe(lambda: p.net_connections(kind="inet"), []) or []
    return sorted({c.laddr.port for c in conns if c.status == psutil.CONN_LISTEN and c.laddr})


def _procinfo(p: psutil.Process, *, ours: bool, proof: str = "") -> ProcInfo:
    cmd = _safe(p.cmdline, []) or []
    name = _safe(p.name, "") or ""
    mem = _safe(p.memory_info)
    ctime = _safe(p.create_time, None)
    return ProcInfo(pid=p.pid, ppid=_safe(p.ppid, 0) or 0, name=name, cmdline=_join(cmd),
                    role=classify(name, cmd), rss=mem.rss if mem else 0,
                    age_s=max(0.0, time.time() - ctime) if ctime else 0.0,
                    ports=_listening_ports(p), ours=ours, proof=proof)


def _tree_order(procs: list[ProcInfo], root: int | None) -> list[ProcInfo]:
    by_parent: dict[int, list[ProcInfo]] = {}
    pids = {p.pid for p in procs}
    for p in procs:
        by_parent.setdefault(p.ppid if p.ppid in pids else 0, []).append(p)
    out: list[ProcInfo] = []

    def walk(parent: int) -> None:
        for child in sorted(by_parent.get(parent, []), key=lambda q: (q.pid != root, not q.ours, q.pid)):
            out.append(child)
            if child.pid != parent:
                walk(child.pid)

    walk(0)
    seen = {p.pid for p in out}
    out += [p for p in procs if p.pid not in seen]
    return out


def _listening_inodes(port: int) -> set[int] | None:
    """Linux: socket inodes listening on `port`, straight from /proc/net (cheap). None elsewhere."""
    found: set[int] = set()
    any_table = False
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                lines = f.readlines()[1:]
        except OSError:
            continue
        any_table = True
        for line in lines:
            parts = line.split()
            if len(parts) < 10 or parts[3] != "0A":      # 0A = LISTEN
                continue
            if int(parts[1].rsplit(":", 1)[1], 16) == port:
                found.add(int(parts[9]))
    return found if any_table else None


def port_status(port: int, tree: ProcTree | None = None, *, owned: list[Owned] | None = None) -> PortStatus:
    """Who holds TCP port `port` for listening: free, ours (proven by `tree`), or not ours."""
    inodes = _listening_inodes(port)
    if inodes is not None and not inodes:
        return PortStatus(port, "free")
    if tree is not None and owned is None:
        owned = tree.scan()
    if inodes and owned:
        # Cheap path: are all listening sockets among our own processes' descriptors?
        holders = []
        left = set(inodes)
        for o in owned:
            mine = _socket_inodes(o.proc.pid) & left
            if mine:
                left -= mine
                holders.append(_procinfo(o.proc, ours=True, proof=o.proof))
        if not left:
            return PortStatus(port, "ours", holders)
    holders = []
    pids: set[int] = set()
    try:
        for c in psutil.net_connections(kind="tcp"):
            if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port:
                if c.pid:
                    pids.add(c.pid)
                else:
                    holders.append(ProcInfo(pid=0, ppid=0, name="?", cmdline="(a process of another user)",
                                            role="other", ours=False))
    except psutil.AccessDenied:
        pass
    if inodes is None and not pids and not holders:
        if _bind_free(port):
            return PortStatus(port, "free")
        holders.append(ProcInfo(pid=0, ppid=0, name="?", cmdline="(unknown holder)", role="other", ours=False))
    proofs = {o.proc.pid: o.proof for o in owned or []}
    for pid in sorted(pids):
        try:
            p = psutil.Process(pid)
        except psutil.Error:
            continue
        holders.append(_procinfo(p, ours=pid in proofs, proof=proofs.get(pid, "")))
    if not holders:
        return PortStatus(port, "free")
    state = "ours" if all(h.ours for h in holders) else "not-ours"
    return PortStatus(port, state, holders)


def _socket_inodes(pid: int) -> set[int]:
    out: set[int] = set()
    base = f"/proc/{pid}/fd"
    try:
        fds = os.listdir(base)
    except OSError:
        return out
    for fd in fds:
        try:
            link = os.readlink(f"{base}/{fd}")
        except OSError:
            continue
        if link.startswith("socket:["):
            out.add(int(link[8:-1]))
    return out


def _bind_free(port: int) -> bool:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


# ---------------------------------------------------------------- is the script blocked in `wait`?

# Children the script starts in the background before its trainer and then `wait`s on for ever.
_BACKGROUND_ROLES = frozenset({"login-server", "ollama"})


@dataclass(frozen=True)
class WaitLook:
    """One look at how a process sleeps. Two looks with the same `switches` mean it never ran in
    between: what tells a shell blocked in `wait` from one between two commands of a trap."""
    state: str                  # the /proc stat letter: S sleeping, R running, D, Z, ...
    wchan: str                  # where in the kernel it sleeps (do_wait = wait/waitpid); "" unknown
    switches: int               # voluntary + involuntary context switches so far
    children: tuple[tuple[int, str, bool], ...]     # (pid, role, zombie) of each child

    def waits_on_background(self) -> bool:
        """Asleep in wait() with nothing but its background servers as children: a trap would
        have forked (rm) or be running, a zombie child would wake it."""
        return (self.state == "S" and self.wchan in ("do_wait", "")
                and all(role in _BACKGROUND_ROLES and not zombie for _, role, zombie in self.children))


def wait_look(pid: int) -> WaitLook | None:
    """How process `pid` sleeps now (Linux /proc); None when it is gone or cannot be read."""
    base = f"/proc/{pid}"
    try:
        with open(f"{base}/stat", "rb") as f:
            state = f.read().rsplit(b")", 1)[1].split()[0].decode()
        switches = 0
        with open(f"{base}/status") as f:
            for line in f:
                if line.startswith(("voluntary_ctxt_switches:", "nonvoluntary_ctxt_switches:")):
                    switches += int(line.split(":", 1)[1])
        try:
            with open(f"{base}/wchan") as f:
                wchan = f.read().strip()
        except OSError:
            wchan = ""
        wchan = "" if wchan == "0" else wchan      # hidden (kptr_restrict): say nothing
        try:
            with open(f"{base}/task/{pid}/children") as f:
                kids = [int(c) for c in f.read().split()]
        except OSError:
            kids = [c.pid for c in psutil.Process(pid).children()]
    except (OSError, ValueError, IndexError, psutil.Error):
        return None
    children = []
    for c in kids:
        try:
            p = psutil.Process(c)
            with p.oneshot():
                zombie = p.status() == psutil.STATUS_ZOMBIE
                name = p.name()
                cmd = [] if zombie else p.cmdline()
        except psutil.Error:
            continue                                # gone meanwhile: not a child any more
        children.append((c, classify(name, cmd), zombie))
    return WaitLook(state, wchan, switches, tuple(children))
