"""What swarmtui remembers about a node, on disk under swarmtui.paths.node_state_dir(node_dir):

- history.jsonl     one JSON object per restart / give-up / stop, append-only, mode 0600;
- runs/run-N.log    the raw terminal stream of each run (bounded: rolled over at a size cap,
                    only the last K runs kept), so the evidence of a crash survives it;
- backups/          timestamped 0600 copies of swarm.pem and the login files, made before
                    anything that could move or delete them.

Nothing here ever deletes user data: the only files removed are swarmtui's own old transcripts.
"""

from __future__ import annotations

import bisect
import datetime as _dt
import errno
import json
import math
import os
import re
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from itertools import repeat
from pathlib import Path, PurePath
from typing import Any, Callable, Iterable

from swarmtui import paths
from swarmtui.safefile import create_exclusive, create_new, ensure_private_dir, open_append, read_regular, read_tail

HISTORY_FILE = "history.jsonl"
RUNS_DIR = "runs"
BACKUPS_DIR = "backups"
SUBMIT_PERIOD_S = 3 * 3600       # rl-swarm batches reward submissions every 3 h (facts §1.4)
MAX_EVIDENCE_LINES = 60
MAX_EVIDENCE_CHARS = 500
RECORD_VERSION = 1
# The history is never pruned; `swarmtui history` shows its newest part rather than reading a
# file of any size into memory (a record is at most ~35 KB: 60 evidence lines of 500 chars).
MAX_HISTORY_READ = 32 << 20
# backup_file copies swarm.pem (~1.2 KB) and the login JSON files (a few KB).
MAX_BACKUP_BYTES = 4 << 20


def _private_dir(path: Path) -> Path:
    """A folder of swarmtui's own: every level below the state dir a real 0700 directory, so a
    symlink planted at nodes/<key>, backups/ or runs/ is refused instead of written through."""
    return ensure_private_dir(path, within=paths.state_dir())


def iso_utc(wall: float) -> str:
    return (_dt.datetime.fromtimestamp(wall, _dt.timezone.utc)
            .isoformat(timespec="milliseconds").replace("+00:00", "Z"))


def parse_iso(text: Any) -> _dt.datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        t = _dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=_dt.timezone.utc)


def restarts_within(records: list[dict[str, Any]], seconds: float, now: _dt.datetime | None = None) -> int:
    """How many records in the last `seconds` are restarts swarmtui made (not stops, not clean-ups)."""
    now = now or _dt.datetime.now(_dt.timezone.utc)
    count = 0
    for r in records:
        t = parse_iso(r.get("time"))
        if r.get("action") == "restart" and t is not None and (now - t).total_seconds() <= seconds:
            count += 1
    return count


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
    # Where the matched terminal line is in the run's transcript (relative to the node's state
    # dir, e.g. runs/run-000001.log) and its line there, as `sed -n Np` counts: the engine's own
    # terminal line numbers count tqdm's \r redraws as lines and are no place in any file.
    transcript: str | None = None
    transcript_line: int | None = None

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
        fd = open_append(self.path, 0o600)
        try:
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                line = "\n" + line   # a torn last record (crash mid-write) must not swallow this one
            os.write(fd, line.encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)
        return data

    def read(self) -> list[dict[str, Any]]:
        """All readable records, oldest first, each with well-typed fields (see load())."""
        return self.load().records

    def load(self) -> "HistoryLoad":
        """The records, oldest first, and how many lines were skipped. A torn, corrupt or
        non-object line is skipped and counted, never fatal; a field of the wrong type in an
        otherwise good record is dropped to its default, so every consumer can trust the types.
        Raises UnsafeFileError (an OSError) when history.jsonl is a symlink or not a file."""
        try:
            raw, cut = read_tail(self.path, MAX_HISTORY_READ, follow_symlinks=False)
        except FileNotFoundError:
            return HistoryLoad([], 0)
        chunks = raw.split(b"\n")
        if cut:
            chunks = chunks[1:]          # the first line was cut in the middle: not a record
        records, skipped = [], 0
        for chunk in chunks:
            if not chunk.strip():
                continue
            rec = parse_record(chunk)
            if rec is None:
                skipped += 1
            else:
                records.append(rec)
        return HistoryLoad(records, skipped, truncated=cut)

    def exists(self) -> bool:
        return self.path.is_file()


@dataclass
class HistoryLoad:
    records: list[dict[str, Any]]
    skipped: int                      # lines that were not a record (torn, not JSON, not an object)
    truncated: bool = False           # the file was too big: only its newest part was read


# What each field of a record may hold (RestartRecord's types, as JSON gives them back).
_STR, _INT, _NUM = (str,), (int,), (int, float)
_FIELD_TYPES: dict[str, tuple[tuple[type, ...], bool, Any]] = {
    # name: (types, None allowed, default when the type is wrong)
    "time": (_STR, False, ""), "reason": (_STR, False, "?"), "action": (_STR, False, ""),
    "cls": (_STR, False, ""), "text": (_STR, False, ""), "source": (_STR, False, ""),
    "line": (_INT, False, 0), "exit_code": (_INT, True, None), "exit_signal": (_INT, True, None),
    "uptime_s": (_NUM, True, None), "backoff_s": (_NUM, True, None), "attempt": (_INT, False, 0),
    "reward_loss": ((bool,), True, None), "reward_note": (_STR, False, ""), "run": (_INT, True, None),
    "hint": (_STR, False, ""), "v": (_INT, False, RECORD_VERSION),
    "transcript": (_STR, True, None), "transcript_line": (_INT, True, None),
}


def parse_record(line: bytes | str) -> dict[str, Any] | None:
    """One history line as a record with every known field of its right type, or None when the
    line is no record at all."""
    try:
        text = line.decode("utf-8", errors="replace") if isinstance(line, bytes) else line
        obj = json.loads(text)
    except (ValueError, RecursionError):
        return None
    if not isinstance(obj, dict):
        return None
    return normalise_record(obj)


def normalise_record(obj: dict[str, Any]) -> dict[str, Any]:
    """A copy of `obj` where a known field with a wrong type holds its default instead (a file
    edited by hand, or written by a future version, must not break whoever shows it)."""
    rec = dict(obj)
    for name, (types, nullable, default) in _FIELD_TYPES.items():
        if name in rec and not _typed(rec[name], types, nullable):
            rec[name] = default
    if "orphans_killed" in rec:
        value = rec["orphans_killed"]
        rec["orphans_killed"] = [o for o in value if isinstance(o, dict)] if isinstance(value, list) else []
    if "evidence" in rec:
        value = rec["evidence"]
        rec["evidence"] = [e for e in value if isinstance(e, str)] if isinstance(value, list) else []
    return rec


def _typed(value: Any, types: tuple[type, ...], nullable: bool) -> bool:
    if value is None:
        return nullable
    if isinstance(value, bool) and bool not in types:
        return False                  # JSON true is no exit code
    if isinstance(value, float) and not math.isfinite(value):
        return False                  # json accepts NaN and Infinity; int(inf) would raise
    return isinstance(value, types)


# ---------------------------------------------------------------- evidence


class EvidenceBuffer:
    """The last N lines seen from every source, to attach to a history record: what the node
    printed just before (and, if the supervisor waits a moment, just after) a detection."""

    def __init__(self, maxlen: int = 400):
        self._lines: deque[tuple[str, int, str]] = deque(maxlen=maxlen)

    def add(self, source: str, line: int, text: str) -> None:
        self._lines.append((source, line, text))

    def extend(self, source: str, first: int, texts: list[str]) -> None:
        """Lines first, first + 1, ... of source (the keeper adds a read's lines at once)."""
        keep = self._lines.maxlen
        if keep is not None and len(texts) > keep:
            first, texts = first + len(texts) - keep, texts[-keep:]
        self._lines.extend(zip(repeat(source), range(first, first + len(texts)), texts))

    def _find(self, items: list[tuple[str, int, str]], source: str, line: int) -> int | None:
        return next((i for i in range(len(items) - 1, -1, -1) if items[i][0] == source and items[i][1] == line), None)

    def text_of(self, source: str, line: int) -> str | None:
        """The text of line `line` of `source`, while it is still kept."""
        items = list(self._lines)
        idx = self._find(items, source, line)
        return None if idx is None else items[idx][2]

    def around(self, source: str, line: int, before: int = 30, after: int = 10,
               limit: int = MAX_EVIDENCE_LINES) -> list[str]:
        """Lines of `source` near `line`, plus anything other sources printed in that stretch.

        The window runs on to the end of an error block that starts in it: a traceback (with
        the tracebacks chained to it) ends at the exception, the line that says why, however
        long the stack before it. At most `limit` lines: a longer window has fewer lines before
        `line` (10 at least), then keeps the lines just after it and the end of the block, and
        says how many it left out."""
        items = list(self._lines)
        idx = self._find(items, source, line)
        if idx is None:
            return self.tail(before + after)
        start = max(0, idx - before)
        stop = max(min(len(items) - 1, idx + after), _block_end(items, idx, source, after))
        # Too long: fewer lines before (down to 10) first, then leave out the block's middle.
        start = min(max(start, stop + 1 - limit), max(start, idx - 10))
        chosen = items[start: stop + 1]
        if len(chosen) <= limit:
            return [self._fmt(s, n, t) for s, n, t in chosen]
        quarter = max(1, limit // 4)
        head = items[max(start, idx - quarter): idx + 1 + min(4, quarter)]
        tail = items[stop + 1 - max(1, limit - len(head) - 1): stop + 1]
        left_out = len(chosen) - len(head) - len(tail)
        return ([self._fmt(s, n, t) for s, n, t in head] + [f"… {left_out} lines left out …"]
                + [self._fmt(s, n, t) for s, n, t in tail])

    def tail(self, n: int = 40) -> list[str]:
        return [self._fmt(s, ln, t) for s, ln, t in list(self._lines)[-n:]]

    @staticmethod
    def _fmt(source: str, line: int, text: str) -> str:
        return f"{source}:{line}: {text}"


_TB_HEADERS = ("Traceback (most recent call last):", "Stack (most recent call last):")
_CHAIN_MARKERS = ("During handling of the above exception", "The above exception was the direct cause")
_MAX_BLOCK = 2000


def _block_end(items: list[tuple[str, int, str]], idx: int, source: str, after: int) -> int:
    """The index of the last line of the error block that line `idx` of `source` opens or that
    starts within `after` lines of it: the exception line ending its (last chained) traceback,
    with the few lines that continue the exception's message (Hydra's InstantiationException
    prints the wrapped error on the next lines). `idx` itself when there is none."""
    from swarmtui.node.logparse import level_of

    last = idx
    in_tb = False
    message = 0                         # lines the exception's message may still go on for
    for j in range(idx, min(len(items), idx + _MAX_BLOCK)):
        s, _n, text = items[j]
        if s != source:
            continue
        if text.startswith(_TB_HEADERS):
            in_tb, last, message = True, j, 0
        elif in_tb:
            last = j
            if text and text[0] not in " \t":
                in_tb, message = False, 5   # the exception: the line that says why
        elif text.startswith(_CHAIN_MARKERS):
            last, message = j, 0            # another traceback follows: the block goes on
        elif message and text.strip() and not text.startswith(">>") and level_of(text) is None:
            last, message = j, message - 1
        else:
            message = 0
            if text.strip() and j - idx > after:
                break
    return last


# ---------------------------------------------------------------- run transcripts

_RUN_FILE = re.compile(r"^run-(\d+)(?:\.(\d+))?\.log$")


class TranscriptWriter:
    """The raw terminal stream of one run, written as it arrives (one write per chunk, no
    buffering in Python, so nothing is lost if swarmtui dies). Bounded: at max_bytes the file
    rolls over to run-N.1.log (replacing an older part), and only the newest `keep` runs stay.
    Secrets never reach it: the launcher turns echo off for secret answers.

    A write that fails (disk full, quota, I/O error) pauses the transcript instead of raising: the
    supervisor reads the node in the same callback, and a full disk must not blind it. Paused, it
    counts what it drops, tells `on_problem` once, tries again every `retry_s` seconds at the next
    write, and on success first writes a marker line saying how much is missing and when."""

    # Attributes, not __init__ arguments, so for_node() callers set them after construction.
    on_problem: Callable[[str, str], None] | None = None     # (level, text): "warning" / "info"
    retry_s: float = 10.0
    dropped = 0                     # bytes of the node's output not kept, over the whole run
    _gap = 0                        # ... in the current pause
    _paused: tuple[float, str] | None = None     # (wall time it began, why)
    _retry_at = 0.0                 # monotonic
    _reopen = False                 # a roll-over failed after closing the file: open it on resume

    def __init__(self, directory: Path, *, max_bytes: int = 20 << 20, keep: int = 10, run: int | None = None):
        self.dir = _private_dir(Path(directory))
        self.max_bytes = max(1024, int(max_bytes))
        self.keep = max(1, int(keep))
        self.run = run if run is not None else next_run_number(self.dir)
        self.path = self.dir / f"run-{self.run:06d}.log"
        self.bytes_written = 0
        self.rollovers = 0
        self.newlines = 0               # in the current part: the next line written is newlines + 1
        # (first terminal line of a batch, part, newlines before it), for cite(); bounded.
        self._marks: deque[tuple[int, int, int]] = deque(maxlen=16384)
        self._fd: int | None = None
        self._size = 0
        self._open()
        self._prune()

    @classmethod
    def for_node(cls, node_dir: Path, **kw: Any) -> "TranscriptWriter":
        return cls(paths.node_state_dir(node_dir) / RUNS_DIR, **kw)

    def _open(self) -> None:
        # Always a new file (the run number is new, a rolled part was renamed away): O_EXCL with
        # O_NOFOLLOW never opens anything planted at the name.
        self._fd = create_exclusive(self.path, 0o600)
        os.fchmod(self._fd, 0o600)
        self._size = os.fstat(self._fd).st_size
        self.newlines = 0

    def write(self, data: bytes) -> None:
        if not data or (self._fd is None and not self._reopen):
            return
        if self._paused is not None and not self._resume():
            self._gap += len(data)
            self.dropped += len(data)
            return
        before = self.bytes_written
        try:
            if self._size and self._size + len(data) > self.max_bytes:
                self._reopen = True     # until the new part is open: _roll closes the old fd first
                self._roll()
                self._reopen = False
            self._put(data)
        except OSError as exc:
            if self._reopen:
                self._fd = None         # closed, and its number may be reused: never write to it
            self._pause(exc, len(data) - (self.bytes_written - before))

    def _put(self, data: bytes, node: bool = True) -> None:
        assert self._fd is not None
        view = memoryview(data)
        done = 0
        while view:
            n = os.write(self._fd, view)
            view = view[n:]
            self._size += n             # counted as it goes: a write can fail half way
            self.newlines += data.count(b"\n", done, done + n)
            done += n
            if node:
                self.bytes_written += n

    def _pause(self, exc: OSError, lost: int) -> None:
        self._gap += lost
        self.dropped += lost
        self._retry_at = time.monotonic() + self.retry_s
        if self._paused is not None:
            return                      # still failing: said once already
        why = _why(exc)
        self._paused = (time.time(), why)
        self._tell("warning", f"cannot write the run transcript {self.path}: {why}; the node is still "
                              f"watched, but its raw output is not kept until writing works again "
                              f"(tried every {self.retry_s:g} s)")

    def _resume(self) -> bool:
        if time.monotonic() < self._retry_at or self._paused is None:
            return self._paused is None
        since, why = self._paused
        try:
            if self._reopen:
                self._finish_roll()
            self._put(self._marker(f"from {_hms(since)} to {_hms(time.time())}"), node=False)
        except OSError as exc:
            self._pause(exc, 0)
            return False
        self._paused = None
        self._tell("info", f"run transcript {self.path.name} resumed: {self._gap} bytes of the node's output "
                           f"were not kept ({why} from {_hms(since)} to {_hms(time.time())})")
        self._gap = 0
        return True

    def _finish_roll(self) -> None:
        try:
            st = os.lstat(self.path)
        except FileNotFoundError:
            st = None
        if st is not None and st.st_size:
            os.replace(self.path, self.dir / f"run-{self.run:06d}.1.log")   # the rename had failed
        elif st is not None:
            os.unlink(self.path)        # the empty new part a failed open left behind
        self._open()
        self._reopen = False
        self.rollovers += 1

    def _marker(self, when: str) -> bytes:
        assert self._paused is not None
        return f"\r\n[swarmtui: {self._gap} bytes not kept: {self._paused[1]} {when}]\r\n".encode()

    def _tell(self, level: str, text: str) -> None:
        if self.on_problem is not None:
            try:
                self.on_problem(level, text)
            except Exception:       # whoever listens must not turn a paused transcript into a crash
                pass

    # ------------------------------------------------------------ citing a line of it

    def note_lines(self, first_line: int) -> None:
        """The engine's terminal lines from `first_line` on begin after what is written so far
        (lines are split from a chunk before the chunk is written here)."""
        self._marks.append((first_line, self.rollovers, self.newlines))

    def part_path(self, part: int) -> Path | None:
        """The file that holds part `part` (its roll-overs when written), while it is kept."""
        behind = self.rollovers - part
        if behind == 0:
            return self.path
        if behind == 1:
            return self.dir / f"run-{self.run:06d}.1.log"
        return None

    def cite(self, line: int, text: str) -> tuple[str, int] | None:
        """(runs/run-N.log, its line number) of the engine's terminal line `line`, whose text is
        `text`: where `sed -n Np` shows it. Looked up in the file, from where the line began, so
        tqdm's \r redraws (one file line, many terminal lines) and swarmtui's own gap markers
        cannot shift it. None when that part of the transcript is not kept."""
        marks = self._marks
        i = bisect.bisect_right(marks, (line, float("inf"), float("inf"))) - 1
        if i < 0:
            return None
        _first, part, newlines = marks[i]
        for p, start in ((part, newlines + 1), (part + 1, 1)):   # a roll-over may come with that chunk
            path = self.part_path(p)
            if path is None:
                continue
            n = find_transcript_line(path, text, start, max_lines=20_000)
            if n is not None:
                return f"{RUNS_DIR}/{path.name}", n
        return None

    def _roll(self) -> None:
        assert self._fd is not None
        os.close(self._fd)
        os.replace(self.path, self.dir / f"run-{self.run:06d}.1.log")
        self.rollovers += 1
        self._open()

    def close(self) -> None:
        self._reopen = False            # closed means closed, even half way through a roll-over
        if self._fd is not None and self._paused is not None and self._gap:
            try:                        # the run ended while paused: say where the gap is, if space allows
                self._put(self._marker(f"from {_hms(self._paused[0])} until the run ended"), node=False)
            except OSError:
                pass
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


def _why(exc: OSError) -> str:
    if exc.errno == errno.ENOSPC:
        return "disk full"
    if exc.errno == getattr(errno, "EDQUOT", -1):
        return "disk quota exceeded"
    return exc.strerror or str(exc)


def _hms(wall: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(wall))


def find_transcript_line(path: Path | str, text: str, from_line: int = 1, max_lines: int = 100_000) -> int | None:
    """The number (as `sed -n Np` counts) of the first line at or after `from_line` of a raw run
    transcript that shows `text`, a line as the engine saw it (escapes removed, split on \\r). None
    when no line does: the bytes were not kept (a full disk), or the file is gone."""
    from swarmtui.node.text import sanitize

    needle = text.strip()[:200]
    if not needle:
        return None
    lineno = 1                      # the number of the line that starts at the head of `buf`
    buf = b""
    try:
        with open(path, "rb") as f:
            while lineno < from_line + max_lines:
                data = f.read(1 << 20)
                buf += data
                lines = buf.split(b"\n")
                buf = lines.pop() if data else b""
                for raw in lines:
                    if lineno >= from_line:
                        shown = raw.decode("utf-8", "replace")
                        if any(needle in sanitize(piece) for piece in shown.split("\r")):
                            return lineno
                        if lineno >= from_line + max_lines:
                            return None
                    lineno += 1
                if not data:
                    return None
    except OSError:
        return None
    return None


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


def backup_file(src: Path | str, node_dir: Path | str, *, wall: float | None = None,
                backups_dir: Path | None = None) -> Path:
    """Copy `src` to <node state dir>/backups/<UTC timestamp>-<name> with mode 0600 (the copy is
    never readable by others, not even for a moment) and return the copy's path. Call it BEFORE
    anything moves or deletes the original. Raises FileNotFoundError if `src` is missing."""
    src = Path(src)
    # The node's own file: a symlink (a key kept on another disk) is followed; a FIFO or a
    # device is refused instead of hanging or filling memory.
    data = read_regular(src, MAX_BACKUP_BYTES)
    target_dir = _private_dir(Path(backups_dir) if backups_dir else paths.node_state_dir(Path(node_dir)) / BACKUPS_DIR)
    wall = _dt.datetime.now(_dt.timezone.utc).timestamp() if wall is None else wall
    stamp = _dt.datetime.fromtimestamp(wall, _dt.timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
    for i in range(1000):
        name = f"{stamp}-{src.name}" if i == 0 else f"{stamp}-{i}-{src.name}"
        dest = target_dir / name
        try:
            create_new(dest, data, 0o600)       # never over anything at the name, a link included
        except FileExistsError:
            continue
        if read_regular(dest, len(data), follow_symlinks=False) != data:  # pragma: no cover - a disk that lies
            raise OSError(f"backup of {src} did not verify")
        return dest
    raise OSError(f"cannot find a free backup name for {src} in {target_dir}")  # pragma: no cover


def list_backups(node_dir: Path | str) -> list[Path]:
    d = paths.node_state_dir(Path(node_dir)) / BACKUPS_DIR
    try:
        return sorted(p for p in d.iterdir() if p.is_file() and not p.is_symlink())
    except FileNotFoundError:
        return []


# ---------------------------------------------------------------- `swarmtui history`


def fmt_uptime(seconds: Any) -> str:
    if not _typed(seconds, _NUM, False):
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
        return t.astimezone().strftime("%Y-%m-%d %H:%M:%S")
    except (ValueError, OverflowError, OSError):   # not a time, or one at the edge of the calendar
        return text[:19]


def format_table(records: list[dict[str, Any]]) -> str:
    """Newest first, one line per record, in the local time zone."""
    head = ("TIME", "REASON", "ACTION", "UPTIME", "EXIT", "NEXT IN", "ORPHANS", "REWARDS AT RISK")
    records = [normalise_record(r) for r in records if isinstance(r, dict)]
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
                     fmt_uptime(r.get("uptime_s")), exit_,
                     f"{backoff:g}s" if isinstance(backoff, (int, float)) else "-",
                     str(len(r.get("orphans_killed") or [])), loss_s))
    widths = [max(len(h), *(len(row[i]) for row in rows)) if rows else len(h) for i, h in enumerate(head)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(head, widths)).rstrip()]
    for row, r in zip(rows, reversed(records)):
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
        text = r.get("text")
        if isinstance(text, str) and text:
            if r.get("transcript") and r.get("transcript_line"):
                # A place the person can open: the terminal's line in that run's transcript.
                where = f"{PurePath(str(r['transcript'])).name}:{r['transcript_line']}: "
            else:
                where = f"{r.get('source')}:{r.get('line')}: " if r.get("source") else ""
            lines.append(f"    {where}{text[:160]}")
    return "\n".join(lines)
