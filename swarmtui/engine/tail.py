"""Follow a log file by byte offset, surviving truncation, rotation, deletion and late creation.

Design (measured in textual-engineering.md §5): watch the file's *directory* (a file watch
alone goes deaf after a rename), wake on events and at least once every `rust_timeout_ms`, and
on every wake reconcile by stat, because event kinds arrive unordered and cannot say what
happened:

- same inode, size below our offset or first 64 bytes changed -> truncated: read what the
  copytruncate copy (`<name>.1`) holds past our offset, then start over at 0;
- inode/device changed, or the file we hold has no links left -> rotated/deleted: keep the old
  descriptor and go on reading it, since the writer still holds its own and writes there until
  it reopens (a `mv` rotation, a node that logs on after `rm`); it is closed once nothing has
  been added to it for `rotated_quiet_s`. Meanwhile the new file at the path is followed from 0.
  Each check reads the kept files (oldest first) before the one at the path, so when both have
  lines the old file's come first; and once the new file yields a line, the writer has moved
  on, so an unterminated last line of the old file is complete and given before it. Writes to a
  kept file wake us: inotify watches it through our descriptor, watchfiles by its new name when
  that is in the same directory (else the `rust_timeout_ms` recheck finds them). Not handled: a
  kept file truncated after the rotation, and writes after it was let go (they are not read);
- the directory vanished or was replaced -> watch the nearest existing ancestor (still events,
  no polling loop) and re-arm on the directory when it is back.

Two ways to get the events. On Linux, inotify itself, read by the event loop (ctypes, no
thread, no timer while nothing happens): the directory for names coming and going, the file for
its writes, so a busy neighbour in the same folder (yarn.log beside swarm_launcher.log) wakes
nobody; after the first event of a burst the watcher waits `step_ms` so the kernel merges the
rest. Elsewhere, or when inotify cannot be had (its instance or watch limits), watchfiles, whose
thread wakes every `step_ms`; and if that fails too, its polling.

Lines are split on b"\\n" (a newline never occurs inside a UTF-8 sequence) and decoded with
errors="replace"; an unterminated last line is carried over. Line numbers count lines of the
file each line is in: they restart at 1 after a truncation and for the new file after a
rotation, while the lines still read from the renamed (or deleted) file go on with its numbers.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import errno as _errno
import os
import stat as _stat
import struct
import sys
import time
from contextlib import aclosing
from pathlib import Path
from typing import AsyncIterator, Callable, NamedTuple

HEAD_BYTES = 64
READ_CHUNK = 1 << 16
MAX_DRAIN_PER_WAKE = 8 << 20     # then yield to the loop and continue at once
MAX_KEPT = 8                     # rotated-away files still read: a rotation storm must not hoard fds


class TailLine(tuple):
    """(text, line_no) — unpacks as a pair; `.cut` counts bytes dropped from an over-long line."""

    def __new__(cls, text: str, line_no: int, cut: int = 0) -> "TailLine":
        self = tuple.__new__(cls, (text, line_no))
        self.cut = cut
        return self

    @property
    def text(self) -> str:
        return self[0]

    @property
    def line_no(self) -> int:
        return self[1]


class TailRun(NamedTuple):
    """Lines first, first + 1, ... of one file as one read found them: the keeper's form (one
    object a read, not one a line). `cuts`: {index: bytes dropped from that over-long line}."""
    first: int
    texts: list[str]
    cuts: dict[int, int]

    def tail_lines(self) -> list[TailLine]:
        first, cuts = self.first, self.cuts
        if not cuts:
            return [TailLine(t, first + i) for i, t in enumerate(self.texts)]
        return [TailLine(t, first + i, cuts.get(i, 0)) for i, t in enumerate(self.texts)]


def _tail_lines(runs: list[TailRun]) -> list[TailLine]:
    out: list[TailLine] = []
    for run in runs:
        out += run.tail_lines()
    return out


NoticeCallback = Callable[[str, str], None]   # (kind, detail): created, truncated, rotated, deleted, recovered, polling


class _Source:
    """One open file and how far it has been read. Each has its own carried partial line and line
    numbers, so a file rotated away can be read on beside its successor."""

    __slots__ = ("fd", "ident", "offset", "line_no", "buf", "cut", "head", "name", "quiet_since")

    def __init__(self, fd: int, st: os.stat_result):
        self.fd = fd
        self.ident = (st.st_ino, st.st_dev)
        self.offset = 0
        self.line_no = 0
        self.buf = b""
        self.cut = 0                  # bytes dropped from the current over-long line
        self.head = os.pread(fd, HEAD_BYTES, 0)
        self.name: str | None = None  # where a kept file was renamed to, for the watcher
        self.quiet_since = 0.0        # a kept file: when it last grew (or was rotated away)

    def close(self) -> None:
        try:
            os.close(self.fd)
        except OSError:
            pass


class LogTailer:
    def __init__(self, path: Path | str, *, from_start: bool = False, on_notice: NoticeCallback | None = None,
                 rust_timeout_ms: int = 1000, force_polling: bool | None = None,
                 max_line_bytes: int = 1 << 16, count_existing_lines: bool = True, step_ms: int = 50,
                 backend: str = "auto", rotated_quiet_s: float = 5.0, drain_bytes: int = MAX_DRAIN_PER_WAKE):
        self.path = Path(os.path.abspath(path))
        self.from_start = from_start
        self.on_notice = on_notice
        self.rust_timeout_ms = rust_timeout_ms
        # watchfiles' watcher thread wakes every step_ms (it takes the GIL to look at the stop
        # event) and groups the changes of that window: a longer step costs less CPU and makes
        # stop() and the lines of a burst arrive up to step_ms later.
        self.step_ms = step_ms
        self.force_polling = force_polling
        # "auto": inotify where it works, else watchfiles; "inotify" / "watchfiles" to choose.
        if backend not in ("auto", "inotify", "watchfiles"):
            raise ValueError(f"unknown tail backend {backend!r}")
        self.backend = "watchfiles" if force_polling else backend
        self.max_line_bytes = max_line_bytes
        self.count_existing_lines = count_existing_lines
        # A file rotated away (renamed or deleted) is still read until it has not grown for this
        # long: the writer's own descriptor keeps writing there until it reopens the path.
        self.rotated_quiet_s = rotated_quiet_s
        # Bytes read per look before the lines are handed over and the loop gets a turn: a caller
        # with other readers on its loop (the keeper's pty) takes them in small bites.
        self.drain_bytes = max(1, drain_bytes)
        self.lines_read = 0
        self._cur: _Source | None = None      # the file at the path
        self._kept: list[_Source] = []        # rotated away, still read; oldest first
        self._more = False
        self._budget = self.drain_bytes
        self._stop: asyncio.Event | None = None
        self._stopped = False
        self._ready = False           # the initial open is done: _check may run
        self._wake: Callable[[], None] | None = None     # the inotify watcher's, while it waits

    # ------------------------------------------------------------ public API

    def __aiter__(self) -> AsyncIterator[TailLine]:
        return self.lines()

    def stop(self) -> None:
        """Ask the iterator to end; it does within ~50 ms (the watcher thread sees the event)."""
        self._stopped = True
        if self._stop is not None:
            self._stop.set()
        if self._wake is not None:
            self._wake()

    def catch_up(self) -> list[TailLine]:
        """What was written since the last read, read now rather than when the file watcher
        next wakes: for a caller that must have every line written so far (a run just ended).
        The lines are returned, not given to the follower, which goes on after them."""
        return _tail_lines(self.catch_up_runs())

    def catch_up_runs(self) -> list[TailRun]:
        """catch_up() as runs."""
        if not self._ready or self._stopped:
            return []
        out = self._check()
        while self._more:
            out += self._check()
        return out

    async def follow(self, on_line: Callable[[TailLine], None]) -> None:
        """Call on_line for every line until stop() (or cancellation)."""
        async with aclosing(self.lines()) as it:
            async for line in it:
                on_line(line)

    async def follow_batches(self, on_lines: Callable[[list[TailLine]], None]) -> None:
        """Call on_lines with each read's lines (never an empty list) until stop(): a flood
        costs one call per read, not one per line."""
        async with aclosing(self.batches()) as it:
            async for batch in it:
                on_lines(batch)

    async def follow_runs(self, on_runs: Callable[[list[TailRun]], None]) -> None:
        """follow_batches() as runs (TailRun): no object per line."""
        async with aclosing(self.runs()) as it:
            async for runs in it:
                on_runs(runs)

    async def lines(self) -> AsyncIterator[TailLine]:
        async with aclosing(self.batches()) as it:
            async for batch in it:
                for line in batch:
                    yield line

    async def batches(self) -> AsyncIterator[list[TailLine]]:
        async with aclosing(self.runs()) as it:
            async for runs in it:
                yield _tail_lines(runs)

    async def runs(self) -> AsyncIterator[list[TailRun]]:
        """Each read's lines as runs (never an empty list), until stop()."""
        from watchfiles import awatch

        self._stop = asyncio.Event()
        if self._stopped:
            self._stop.set()
        try:
            await self._open_initial()
            self._ready = True
            batch = self._check()
            if batch:
                yield batch
            while not self._stop.is_set():
                watch_dir = _nearest_existing_dir(self.path.parent)
                if watch_dir is None:  # pragma: no cover - "/" always exists
                    await asyncio.sleep(0.25)
                    continue
                dir_ident = _ident_of(watch_dir)
                accept = self._accepted_paths(watch_dir)
                if self._use_inotify():
                    watcher = self._inotify_changes(watch_dir, accept)
                else:
                    watcher = awatch(
                        watch_dir, watch_filter=lambda _c, p: p in accept or p in self._kept_names(),
                        recursive=False,
                        rust_timeout=self.rust_timeout_ms, yield_on_timeout=True, stop_event=self._stop,
                        force_polling=self.force_polling, step=self.step_ms)
                # Whatever happened while the watch was being armed: look once more after the
                # first wake (a timeout at worst), never trust events alone.
                try:
                    async with aclosing(watcher) as changes:
                        async for _ in changes:
                            while True:
                                batch = self._check()
                                if batch:
                                    yield batch
                                if not self._more or self._stop.is_set():
                                    break
                                await asyncio.sleep(0)
                            if self._stop.is_set():
                                break
                            if _ident_of(watch_dir) != dir_ident:
                                break          # our directory went away or was replaced: re-arm
                            if watch_dir != self.path.parent and self.path.parent.is_dir():
                                break          # the directory we waited for exists now: watch it
                except FileNotFoundError:
                    await asyncio.sleep(0.05)  # the directory vanished while we armed the watch
                except _InotifyUnavailable as exc:
                    if self.backend == "inotify":
                        raise OSError(str(exc)) from None
                    self.backend = "watchfiles"    # e.g. the instance limit: watchfiles next, then polling
                except OSError as exc:
                    if self.force_polling:
                        raise
                    # e.g. the inotify watch limit: polling is slower but still sees everything
                    self.force_polling = True
                    self.backend = "watchfiles"
                    self._notice("polling", f"file events unavailable ({exc}); polling {self.path.parent}")
                batch = self._check()
                if batch:
                    yield batch
        finally:
            self._ready = False
            self._close()

    # ------------------------------------------------------------ inotify

    def _use_inotify(self) -> bool:
        return self.backend in ("auto", "inotify") and _inotify_lib() is not None

    async def _inotify_changes(self, watch_dir: Path, accept: set[str]) -> AsyncIterator[set[str]]:
        """awatch's contract for lines(): yield the names that changed after each burst (waiting
        step_ms for the burst to end), or an empty set after rust_timeout_ms without events;
        end when stop() is called. Raises _InotifyUnavailable when inotify cannot be set up."""
        names = {Path(p).name for p in accept if Path(p).parent == watch_dir}
        watching_file = watch_dir == self.path.parent
        loop = asyncio.get_running_loop()
        ino = _Inotify()
        wake = asyncio.Event()
        pending = False

        def on_readable() -> None:
            nonlocal pending
            pending = True
            loop.remove_reader(ino.fd)     # until the burst is read: the kernel merges repeats
            wake.set()

        try:
            if ino.add(watch_dir, _DIR_MASK) < 0:
                raise OSError(_errno.ENOENT, "the directory went away", str(watch_dir))
            file_wds = self._watch_files(ino, watching_file, set())
            loop.add_reader(ino.fd, on_readable)
            self._wake = wake.set
            yield set()                     # armed: look once, for what came while arming
            file_wds = self._watch_files(ino, watching_file, file_wds)
            timeout = self.rust_timeout_ms / 1000
            step = self.step_ms / 1000
            deadline = loop.time() + timeout
            while not self._stop.is_set():
                timer = loop.call_at(deadline, wake.set)
                try:
                    await wake.wait()
                finally:
                    timer.cancel()
                wake.clear()
                if self._stop.is_set():
                    return
                if not pending:
                    if loop.time() >= deadline:
                        deadline = loop.time() + timeout
                        yield set()
                        file_wds = self._watch_files(ino, watching_file, file_wds)
                    continue
                await asyncio.sleep(step)
                if self._stop.is_set():
                    return
                pending = False
                changed = ino.read(file_wds, names)
                loop.add_reader(ino.fd, on_readable)
                # A file created or replaced since: watch the one that has the name now.
                file_wds = self._watch_files(ino, watching_file, file_wds)
                if changed:
                    deadline = loop.time() + timeout
                    yield changed
                    # The check may have kept a rotated file or let one go: watch what it reads.
                    file_wds = self._watch_files(ino, watching_file, file_wds)
        finally:
            self._wake = None
            try:
                loop.remove_reader(ino.fd)
            except (ValueError, RuntimeError):  # pragma: no cover - the loop is closing
                pass
            ino.close()

    def _watch_files(self, ino: "_Inotify", watching_file: bool, old: set[int]) -> set[int]:
        """Watch the file at the path and every file we still read. A renamed or deleted file is
        written through the writer's descriptor and the directory watch reports no writes, so
        it is watched through ours (/proc/self/fd/N leads to the inode whatever its name).
        Watches no longer wanted are removed; the watch descriptors are returned."""
        wds = {ino.add(self.path, _FILE_MASK)} if watching_file else set()
        for src in self._sources():
            wds.add(ino.add(Path(f"/proc/self/fd/{src.fd}"), _FILE_MASK))
        wds.discard(-1)
        for wd in old - wds:
            ino.remove(wd)
        return wds

    # ------------------------------------------------------------ internals

    def _accepted_paths(self, watch_dir: Path) -> set[str]:
        if watch_dir == self.path.parent:
            return {str(self.path), f"{self.path}.1", str(watch_dir)}
        # Waiting for a missing directory: only the child on the way to it matters.
        rel = self.path.parent.relative_to(watch_dir)
        return {str(watch_dir / rel.parts[0]), str(watch_dir)}

    def _notice(self, kind: str, detail: str = "") -> None:
        if self.on_notice is not None:
            self.on_notice(kind, detail or str(self.path))

    async def _open_initial(self) -> None:
        try:
            st = os.stat(self.path)
        except OSError:
            return
        if not _stat.S_ISREG(st.st_mode):
            return
        self._cur = cur = self._open()
        if self.from_start or cur is None:
            return
        # Start at the beginning of the last (possibly unterminated) line, so a line being
        # written now arrives whole; number lines by counting what we skip.
        size = os.fstat(cur.fd).st_size
        start = _last_line_start(cur.fd, size)
        if self.count_existing_lines and start:
            cur.line_no = await asyncio.to_thread(_count_newlines, cur.fd, start)
        cur.offset = start

    def _open(self) -> _Source | None:
        try:
            fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        except OSError:
            return None
        st = os.fstat(fd)
        if not _stat.S_ISREG(st.st_mode):
            os.close(fd)
            return None
        return _Source(fd, st)

    def _close(self) -> None:
        for src in self._sources():
            src.close()
        self._cur = None
        self._kept = []

    def _sources(self) -> list[_Source]:
        return ([self._cur] if self._cur is not None else []) + self._kept

    def _kept_names(self) -> set[str]:
        return {src.name for src in self._kept if src.name}

    def _stat_path(self) -> os.stat_result | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return st if _stat.S_ISREG(st.st_mode) else None

    def _check(self) -> list[TailRun]:
        self._more = False
        self._budget = self.drain_bytes
        st = self._stat_path()
        rotated = False
        if self._cur is not None and not self._still_at_path(self._cur, st):
            rotated = self._keep(self._cur)
            self._cur = None
        out = self._drain_kept()
        if self._more:
            return out                 # the rest of the old files first, then the new one
        if self._cur is None:
            if st is None:
                return out
            self._cur, new = self._adopt()
            if self._cur is None:
                return out
            if new and not rotated:    # "rotated" already says a new file took the name
                self._notice("created")
        now = self._read_current()
        if now and self._kept:
            # The writer has moved on to the new file: an unterminated last line left in an
            # old one will not be finished, so it is a line, and it came first.
            for src in self._kept:
                out += self._flush_partial(src)
        return out + now

    def _still_at_path(self, src: _Source, st: os.stat_result | None) -> bool:
        # nlink 0: deleted, whatever the name leads to now (ext4 was seen reusing inode numbers)
        return st is not None and (st.st_ino, st.st_dev) == src.ident and os.fstat(src.fd).st_nlink > 0

    def _keep(self, src: _Source) -> bool:
        """The file at the path was renamed or deleted. The writer writes on through its own
        descriptor until it reopens the path (and a node may never reopen a deleted log), so
        read on from ours until it has been quiet. True when it was renamed (a rotation)."""
        try:
            renamed = os.fstat(src.fd).st_nlink > 0
        except OSError:
            renamed = False
        src.name = _fd_path(src.fd) if renamed else None
        src.quiet_since = time.monotonic()
        self._kept.append(src)
        until = f"until it has been quiet for {self.rotated_quiet_s:g} s"
        if renamed:
            self._notice("rotated", f"{self.path} -> {src.name or 'another name'}: "
                                    f"kept reading the renamed file {until}")
        else:
            self._notice("deleted", f"{self.path}: kept reading the deleted file {until}")
        return renamed

    def _adopt(self) -> tuple[_Source | None, bool]:
        """The file now at the path, and whether it is new. A kept file renamed back goes on
        where it was (opened afresh it would be read twice)."""
        src = self._open()
        if src is None:
            return None, False
        for old in self._kept:
            if old.ident == src.ident:
                src.close()
                self._kept.remove(old)
                old.name = None
                return old, False
        return src, True

    def _drain_kept(self) -> list[TailRun]:
        out: list[TailRun] = []
        now = time.monotonic()
        for src in list(self._kept):
            before = src.offset
            out += self._drain(src)
            if self._more:
                break
            if src.offset != before:
                src.quiet_since = now
            crowded = len(self._kept) > MAX_KEPT
            if crowded or now - src.quiet_since >= self.rotated_quiet_s:
                out += self._flush_partial(src)
                self._kept.remove(src)
                src.close()
        return out

    def _read_current(self) -> list[TailRun]:
        cur = self._cur
        assert cur is not None
        out: list[TailRun] = []
        size = os.fstat(cur.fd).st_size
        if size < cur.offset or self._head_changed(cur, size):
            out += self._recover_copytruncate(cur)
            out += self._flush_partial(cur)
            cur.offset, cur.line_no, cur.buf, cur.cut = 0, 0, b"", 0
            cur.head = os.pread(cur.fd, HEAD_BYTES, 0)
            self._notice("truncated")
        out += self._drain(cur)
        return out

    def _head_changed(self, src: _Source, size: int) -> bool:
        known = len(src.head)
        if known < HEAD_BYTES and size > known:
            now = os.pread(src.fd, HEAD_BYTES, 0)
            if now[:known] != src.head:
                return True
            src.head = now
            return False
        if known == 0:
            return False
        return os.pread(src.fd, known, 0) != src.head

    def _recover_copytruncate(self, src: _Source) -> list[TailRun]:
        """logrotate's copytruncate copies the file to <name>.1 and then truncates it: what was
        written after our last read is in the copy. Take it when the copy starts like our file."""
        copy = Path(f"{self.path}.1")
        if not src.head:
            return []
        try:
            with open(copy, "rb") as f:
                if f.read(len(src.head)) != src.head:
                    return []
                f.seek(src.offset)
                rest = f.read()
        except OSError:
            return []
        if not rest:
            return []
        self._notice("recovered", f"{len(rest)} bytes from {copy.name}")
        return self._split(src, rest)

    def _drain(self, src: _Source) -> list[TailRun]:
        """Read src to its end, or until this check's budget is spent (then _more is set)."""
        out: list[TailRun] = []
        while True:
            try:
                data = os.pread(src.fd, READ_CHUNK, src.offset)
            except OSError:
                break
            if not data:
                break
            src.offset += len(data)
            out += self._split(src, data)
            self._budget -= len(data)
            if self._budget <= 0:
                self._more = True
                break
        return out

    def _split(self, src: _Source, data: bytes) -> list[TailRun]:
        """The complete lines in src's carried partial line + data, as one run (C-level splits
        and one decode for the whole block: a flood's reads hold hundreds of lines)."""
        buf = src.buf + data if src.buf else data
        last = buf.rfind(b"\n")
        out: list[TailRun] = []
        if last >= 0:
            block, buf = buf[:last], buf[last + 1:]
            raws = block.split(b"\n")
            cuts: dict[int, int] = {}
            changed = False
            limit = self.max_line_bytes
            if len(block) > limit:
                for i, raw in enumerate(raws):
                    if len(raw) > limit:
                        cuts[i] = len(raw) - limit
                        raws[i] = raw[:limit]
                        changed = True
            if src.cut:
                cuts[0] = cuts.get(0, 0) + src.cut
                src.cut = 0
            if b"\r" in block:
                raws = [raw[:-1] if raw.endswith(b"\r") else raw for raw in raws]
                changed = True
            # Decoded as one block: "\n" never occurs inside a UTF-8 sequence, and an invalid or
            # cut one ends at it, so the texts are those of decoding each line alone.
            text = (b"\n".join(raws) if changed else block).decode("utf-8", errors="replace")
            out.append(TailRun(src.line_no + 1, text.split("\n"), cuts))
            src.line_no += len(raws)
            self.lines_read += len(raws)
        if len(buf) > self.max_line_bytes:
            # Keep the head of a runaway line; count the rest until its newline comes.
            src.cut += len(buf) - self.max_line_bytes
            buf = buf[: self.max_line_bytes]
        src.buf = buf
        return out

    def _flush_partial(self, src: _Source) -> list[TailRun]:
        """The carried partial line as a line of its own (its writer will not finish it)."""
        if not src.buf and not src.cut:
            return []
        raw, src.buf = src.buf, b""
        cut, src.cut = src.cut, 0
        if len(raw) > self.max_line_bytes:
            cut += len(raw) - self.max_line_bytes
            raw = raw[: self.max_line_bytes]
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        src.line_no += 1
        self.lines_read += 1
        return [TailRun(src.line_no, [raw.decode("utf-8", errors="replace")], {0: cut} if cut else {})]


# ---------------------------------------------------------------- inotify (Linux)

_IN_MODIFY, _IN_ATTRIB, _IN_CLOSE_WRITE = 0x2, 0x4, 0x8
_IN_MOVED_FROM, _IN_MOVED_TO, _IN_CREATE, _IN_DELETE = 0x40, 0x80, 0x100, 0x200
_IN_DELETE_SELF, _IN_MOVE_SELF, _IN_Q_OVERFLOW, _IN_IGNORED = 0x400, 0x800, 0x4000, 0x8000
_IN_ONLYDIR = 0x01000000
# The directory: names coming and going, and the directory itself going. Not IN_MODIFY, which
# a directory watch reports for every write to every file in it.
_DIR_MASK = (_IN_MOVED_FROM | _IN_MOVED_TO | _IN_CREATE | _IN_DELETE | _IN_ATTRIB | _IN_DELETE_SELF
             | _IN_MOVE_SELF | _IN_ONLYDIR)
# The file: its writes (a truncation is one too) and its own end.
_FILE_MASK = _IN_MODIFY | _IN_ATTRIB | _IN_CLOSE_WRITE | _IN_DELETE_SELF | _IN_MOVE_SELF
_EVENT = struct.Struct("iIII")
_lib: object = None


class _InotifyUnavailable(Exception):
    pass


def _inotify_lib():
    """libc with inotify, or None (not Linux, no libc); looked up once."""
    global _lib
    if _lib is None:
        _lib = False
        if sys.platform.startswith("linux"):
            try:
                libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
                libc.inotify_init1.argtypes = [ctypes.c_int]
                libc.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
                libc.inotify_rm_watch.argtypes = [ctypes.c_int, ctypes.c_int]
                _lib = libc
            except (OSError, AttributeError):
                pass
    return _lib or None


class _Inotify:
    def __init__(self):
        lib = _inotify_lib()
        if lib is None:
            raise _InotifyUnavailable("inotify is not available")
        fd = lib.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if fd < 0:
            err = ctypes.get_errno()
            raise _InotifyUnavailable(f"inotify_init1: {os.strerror(err)}")
        self.lib, self.fd = lib, fd

    def add(self, path: Path, mask: int) -> int:
        """The watch descriptor, or -1 when the path does not exist (or is not a directory when
        IN_ONLYDIR). The watch limit raises OSError (the caller falls back to polling)."""
        wd = self.lib.inotify_add_watch(self.fd, os.fsencode(path), mask)
        if wd < 0:
            err = ctypes.get_errno()
            if err in (_errno.ENOENT, _errno.ENOTDIR, _errno.EACCES):
                return -1
            raise OSError(err, f"inotify_add_watch: {os.strerror(err)}", str(path))
        return wd

    def remove(self, wd: int) -> None:
        self.lib.inotify_rm_watch(self.fd, wd)

    def read(self, file_wds: set[int], names: set[str]) -> set[str]:
        """Drain the queue; the names that matter (ours, a file we read, the directory going,
        an overflow: anything could have happened)."""
        changed: set[str] = set()
        while True:
            try:
                data = os.read(self.fd, 65536)
            except BlockingIOError:
                break
            if not data:
                break
            pos = 0
            while pos + _EVENT.size <= len(data):
                wd, mask, _cookie, length = _EVENT.unpack_from(data, pos)
                name = data[pos + _EVENT.size:pos + _EVENT.size + length].rstrip(b"\0")
                pos += _EVENT.size + length
                if mask & _IN_Q_OVERFLOW:
                    changed.add("*")
                elif wd in file_wds:
                    changed.add(".")
                elif name:
                    text = os.fsdecode(name)
                    if text in names:
                        changed.add(text)
                elif mask & (_IN_DELETE_SELF | _IN_MOVE_SELF | _IN_IGNORED | _IN_ATTRIB):
                    changed.add("..")
        return changed

    def close(self) -> None:
        try:
            os.close(self.fd)
        except OSError:
            pass


def _ident_of(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_dev) if _stat.S_ISDIR(st.st_mode) else None


def _fd_path(fd: int) -> str | None:
    """Where an open file is now (Linux), or None: unknown, or deleted."""
    try:
        target = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return None
    return None if target.endswith(" (deleted)") else target


def _nearest_existing_dir(path: Path) -> Path | None:
    for p in (path, *path.parents):
        if p.is_dir():
            return p
    return None


def _last_line_start(fd: int, size: int) -> int:
    """The offset just after the last newline before `size` (0 if none in the last 64 KiB)."""
    if size == 0:
        return 0
    lo = max(0, size - READ_CHUNK)
    tail = os.pread(fd, size - lo, lo)
    nl = tail.rfind(b"\n")
    return lo + nl + 1 if nl >= 0 else (0 if lo == 0 else size)


def _count_newlines(fd: int, end: int) -> int:
    n, pos = 0, 0
    while pos < end:
        chunk = os.pread(fd, min(1 << 20, end - pos), pos)
        if not chunk:
            break
        n += chunk.count(b"\n")
        pos += len(chunk)
    return n
