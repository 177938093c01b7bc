"""What swarmtui remembers about a node, on disk under swarmtui.paths.node_state_dir(node_dir):

- history.jsonl     one JSON object per restart / give-up / stop, append-only, mode 0600;
- runs/run-N.log    the raw terminal stream of each run (bounded: rolled over at a size cap,
                    only the last K runs kept), so the evidence of a crash survives it;
- backups/          timestamped 0600 copies of swarm.pem and the login files, made before
                    anything that could move or delete them.

Nothing here ever deletes user data: the only files removed are swarmtui's own old transcripts.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import re
from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable

from swarmtui import paths

HISTORY_FILE = "history.jsonl"
RUNS_DIR = "runs"
BACKUPS_DIR = "backups"
SUBMIT_PERIOD_S = 3 * 3600       # rl-swarm batches reward submissions every 3 h (facts §1.4)
MAX_EVIDENCE_LINES = 60
MAX_EVIDENCE_CHARS = 500
RECORD_VERSION = 1


def _private_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def iso_utc(wall: float) -> str:
    return (_dt.datetime.fromtimestamp(wall, _dt.timezone.utc)
            .isoformat(timespec="milliseconds").replace("+00:00", "Z"))


# ---------------------------------------------------------------- records


@dataclass
class RestartRecord:
    """One entry of the restart history. `action` is what swarmtui did: restart, needs-user
    (gave up and waits for the person), stop (asked to stop)."""
    time: str                                   # ISO 8601 UTC
    reason: str                                 # detection id: oom-killed, exited, silence, manual, ...
    action: str = "restart"
    cls: str = ""
    text: str = ""                              # the matched line (already free of secrets)
    source: str = ""                            # "pty" or a log file relative to the checkout
    line: int = 0
    exit_code: int | None = None
    exit_signal: int | None = None
    uptime_s: float | None = None               # how long the run had lasted
    backoff_s: float | None = None              # delay applied before the next start
    attempt: int = 0
    orphans_killed: list[dict[str, Any]] = field(default_factory=list)   # {pid, cmdline, proof}
    reward_loss: bool | None = None             # may a reward batch have been lost? None = cannot tell
    reward_note: str = ""
    run: int | None = None                      # the transcript runs/run-N.log of the run that ended
    hint: str = ""
    evidence: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["v"] = RECORD_VERSION
        d["evidence"] = [_cap(s) for s in self.evidence[-MAX_EVIDENCE_LINES:]]
        d["text"] = _cap(self.text)
        return d


def _cap(text: str) -> str:
    return text if len(text) <= MAX_EVIDENCE_CHARS else text[:MAX_EVIDENCE_CHARS] + f"… (+{len(text) - MAX_EVIDENCE_CHARS})"


def reward_loss_possible(uptime_s: float | None, rounds_completed: int | None,
                         rounds_since_submit: int | None = None,
                         submit_period_s: float = SUBMIT_PERIOD_S) -> tuple[bool | None, str]:
    """Could ending this run throw away batched rewards? (rl-swarm submits once per 3 h of a
    process's life and loses what it batched when it stops: facts §1.4, issue #418.)
    Returns (True/False/None = cannot tell, a short reason)."""
    if rounds_completed == 0:
        return False, "no round finished in this run, so nothing was batched"
    if rounds_since_submit is not None:
        if rounds_since_submit == 0:
            return False, "every finished round was already submitted"
        return True, f"{rounds_since_submit} round(s) finished since the last submission"
    if rounds_completed is None:
        return None, "round progress unknown for this run"
    if uptime_s is not None and uptime_s < submit_period_s:
        return True, (f"{rounds_completed} round(s) finished and the run was younger than "
                      f"{submit_period_s / 3600:g} h, so no batch had been submitted yet")
    return None, "the run was older than a submission period and no submission was seen"


class HistoryStore:
    """The append-only restart history of one checkout."""

    def __init__(self, node_dir: Path | str, state_dir: Path | None = None):
        self.node_dir = Path(node_dir)
        self.dir = Path(state_dir) if state_dir is not None else paths.node_state_dir(self.node_dir)
        self.path = self.dir / HISTORY_FILE

    def append(self, record: RestartRecord | dict[str, Any]) -> dict[str, Any]:
        data = record.to_dict() if isinstance(record, RestartRecord) else dict(record)
        data.setdefault("v", RECORD_VERSION)
        line = json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n"
        _private_dir(self.dir)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            st = os.fstat(fd)
            if st.st_mode & 0o077:
                os.fchmod(fd, 0o600)
            if st.st_size and not _ends_with_newline(self.path, st.st_size):
                line = "\n" + line   # a torn last record (crash mid-write) must not swallow this one
            os.write(fd, line.encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)
        return data

    def read(self) -> list[dict[str, Any]]:
        """All readable records, oldest first. A torn or corrupt line is skipped, never fatal."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return []
        out = []
        for chunk in raw.split(b"\n"):
            if not chunk.strip():
                continue
            try:
                obj = json.loads(chunk.decode("utf-8", errors="replace"))
            except ValueError:
                continue
            if isinstance(obj, dict):
                out.append(obj)
        return out

    def exists(self) -> bool:
        return self.path.is_file()


def _ends_with_newline(path: Path, size: int) -> bool:
    with open(path, "rb") as f:
        f.seek(size - 1)
        return f.read(1) == b"\n"


# ---------------------------------------------------------------- evidence


class EvidenceBuffer:
    """The last N lines seen from every source, to attach to a history record: what the node
    printed just before (and, if the supervisor waits a moment, just after) a detection."""

    def __init__(self, maxlen: int = 400):
        self._lines: deque[tuple[str, int, str]] = deque(maxlen=maxlen)

    def add(self, source: str, line: int, text: str) -> None:
        self._lines.append((source, line, text))

    def around(self, source: str, line: int, before: int = 30, after: int = 10) -> list[str]:
        """Lines of `source` near `line`, plus anything other sources printed in that stretch."""
        items = list(self._lines)
        idx = next((i for i in range(len(items) - 1, -1, -1) if items[i][0] == source and items[i][1] == line), None)
        if idx is None:
            return self.tail(before + after)
        chosen = items[max(0, idx - before): idx + after + 1]
        return [self._fmt(s, n, t) for s, n, t in chosen]

    def tail(self, n: int = 40) -> list[str]:
        return [self._fmt(s, ln, t) for s, ln, t in list(self._lines)[-n:]]

    @staticmethod
    def _fmt(source: str, line: int, text: str) -> str:
        return f"{source}:{line}: {text}"


# ---------------------------------------------------------------- run transcripts

_RUN_FILE = re.compile(r"^run-(\d+)(?:\.(\d+))?\.log$")


class TranscriptWriter:
    """The raw terminal stream of one run, written as it arrives (one write per chunk, no
    buffering in Python, so nothing is lost if swarmtui dies). Bounded: at max_bytes the file
    rolls over to run-N.1.log (replacing an older part), and only the newest `keep` runs stay.
    Secrets never reach it: the launcher turns echo off for secret answers."""

    def __init__(self, directory: Path, *, max_bytes: int = 20 << 20, keep: int = 10, run: int | None = None):
        self.dir = _private_dir(Path(directory))
        self.max_bytes = max(1024, int(max_bytes))
        self.keep = max(1, int(keep))
        self.run = run if run is not None else next_run_number(self.dir)
        self.path = self.dir / f"run-{self.run:06d}.log"
        self.bytes_written = 0
        self.rollovers = 0
        self._fd: int | None = None
        self._size = 0
        self._open()
        self._prune()

    @classmethod
    def for_node(cls, node_dir: Path, **kw: Any) -> "TranscriptWriter":
        return cls(paths.node_state_dir(node_dir) / RUNS_DIR, **kw)

    def _open(self) -> None:
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        os.fchmod(self._fd, 0o600)
        self._size = os.fstat(self._fd).st_size

    def write(self, data: bytes) -> None:
        if self._fd is None or not data:
            return
        if self._size and self._size + len(data) > self.max_bytes:
            self._roll()
        view = memoryview(data)
        while view:
            n = os.write(self._fd, view)
            view = view[n:]
        self._size += len(data)
        self.bytes_written += len(data)

    def _roll(self) -> None:
        assert self._fd is not None
        os.close(self._fd)
        os.replace(self.path, self.dir / f"run-{self.run:06d}.1.log")
        self.rollovers += 1
        self._open()

    def close(self) -> None:
        if self._fd is not None:
            try:
                os.fsync(self._fd)
            except OSError:
                pass
            os.close(self._fd)
            self._fd = None

    def _prune(self) -> None:
        runs = sorted({n for n, _ in _run_files(self.dir)})
        for n in runs[:-self.keep]:
            if n == self.run:
                continue
            for m, p in _run_files(self.dir):
                if m == n:
                    try:
                        p.unlink()
                    except FileNotFoundError:
                        pass

    def __enter__(self) -> "TranscriptWriter":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _run_files(directory: Path) -> Iterable[tuple[int, Path]]:
    try:
        entries = list(directory.iterdir())
    except FileNotFoundError:
        return []
    out = []
    for p in entries:
        m = _RUN_FILE.match(p.name)
        if m:
            out.append((int(m.group(1)), p))
    return out


def next_run_number(directory: Path) -> int:
    return max((n for n, _ in _run_files(directory)), default=0) + 1


# ---------------------------------------------------------------- backups


def write_private(path: Path, data: bytes, *, exclusive: bool = False) -> None:
    """Write `data` to `path` with mode 0600 from its creation on, and fsync it. exclusive: the
    file must not exist yet (FileExistsError otherwise)."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_EXCL if exclusive else os.O_TRUNC)
    fd = os.open(path, flags, 0o600)
    try:
        os.fchmod(fd, 0o600)        # O_CREAT's mode does not apply to a file that already existed
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)


def backup_file(src: Path | str, node_dir: Path | str, *, wall: float | None = None,
                backups_dir: Path | None = None) -> Path:
    """Copy `src` to <node state dir>/backups/<UTC timestamp>-<name> with mode 0600 (the copy is
    never readable by others, not even for a moment) and return the copy's path. Call it BEFORE
    anything moves or deletes the original. Raises FileNotFoundError if `src` is missing."""
    src = Path(src)
    data = src.read_bytes()
    target_dir = _private_dir(Path(backups_dir) if backups_dir else paths.node_state_dir(Path(node_dir)) / BACKUPS_DIR)
    wall = _dt.datetime.now(_dt.timezone.utc).timestamp() if wall is None else wall
    stamp = _dt.datetime.fromtimestamp(wall, _dt.timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
    for i in range(1000):
        name = f"{stamp}-{src.name}" if i == 0 else f"{stamp}-{i}-{src.name}"
        dest = target_dir / name
        try:
            write_private(dest, data, exclusive=True)
        except FileExistsError:
            continue
        if dest.read_bytes() != data:  # pragma: no cover - a disk that lies
            raise OSError(f"backup of {src} did not verify")
        return dest
    raise OSError(f"cannot find a free backup name for {src} in {target_dir}")  # pragma: no cover


def list_backups(node_dir: Path | str) -> list[Path]:
    d = paths.node_state_dir(Path(node_dir)) / BACKUPS_DIR
    try:
        return sorted(p for p in d.iterdir() if p.is_file())
    except FileNotFoundError:
        return []


# ---------------------------------------------------------------- `swarmtui history`


def _fmt_uptime(seconds: Any) -> str:
    if not isinstance(seconds, (int, float)):
        return "-"
    s = int(seconds)
    if s >= 86400:
        return f"{s // 86400}d{(s % 86400) // 3600}h"
    if s >= 3600:
        return f"{s // 3600}h{(s % 3600) // 60:02d}m"
    if s >= 60:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s}s"


def _fmt_time(text: Any) -> str:
    if not isinstance(text, str):
        return "-"
    try:
        t = _dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return text[:19]
    return t.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def format_table(records: list[dict[str, Any]]) -> str:
    """Newest first, one line per record, in the local time zone."""
    head = ("TIME", "REASON", "ACTION", "UPTIME", "EXIT", "NEXT IN", "ORPHANS", "REWARDS AT RISK")
    rows = []
    for r in reversed(records):
        if r.get("exit_signal"):
            exit_ = f"sig {r['exit_signal']}"
        elif r.get("exit_code") is not None:
            exit_ = str(r["exit_code"])
        else:
            exit_ = "-"
        loss = r.get("reward_loss")
        loss_s = "yes" if loss is True else "no" if loss is False else "unknown"
        backoff = r.get("backoff_s")
        rows.append((_fmt_time(r.get("time")), str(r.get("reason", "?")), str(r.get("action", "")),
                     _fmt_uptime(r.get("uptime_s")), exit_,
                     f"{backoff:g}s" if isinstance(backoff, (int, float)) else "-",
                     str(len(r.get("orphans_killed") or [])), loss_s))
    widths = [max(len(h), *(len(row[i]) for row in rows)) if rows else len(h) for i, h in enumerate(head)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(head, widths)).rstrip()]
    for row, r in zip(rows, reversed(records)):
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
        text = r.get("text")
        if isinstance(text, str) and text:
            where = f"{r.get('source')}:{r.get('line')}: " if r.get("source") else ""
            lines.append(f"    {where}{text[:160]}")
    return "\n".join(lines)
