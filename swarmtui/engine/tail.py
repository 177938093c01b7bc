"""Follow a log file by byte offset, surviving truncation, rotation, deletion and late creation.

Design (measured in textual-engineering.md §5): watch the file's *directory* with watchfiles
(a file watch goes deaf after a rename), wake on events and at least once a second
(rust_timeout=1000, yield_on_timeout=True), and on every wake reconcile by stat, because event
kinds arrive unordered and cannot say what happened:

- same inode, size below our offset or first 64 bytes changed -> truncated: read what the
  copytruncate copy (`<name>.1`) holds past our offset, then start over at 0;
- inode/device changed, or the file we hold has no links left -> rotated/deleted: drain the old
  inode to its end (it still holds the tail), then open the new file at 0;
- the directory vanished or was replaced -> watch the nearest existing ancestor (still events,
  no polling loop) and re-arm on the directory when it is back.

Lines are split on b"\\n" (a newline never occurs inside a UTF-8 sequence) and decoded with
errors="replace"; an unterminated last line is carried over. Line numbers restart at 1 after a
truncation or rotation, since they count lines of the file as it now is.
"""

from __future__ import annotations

import asyncio
import os
import stat as _stat
from contextlib import aclosing
from pathlib import Path
from typing import AsyncIterator, Callable

HEAD_BYTES = 64
READ_CHUNK = 1 << 16
MAX_DRAIN_PER_WAKE = 8 << 20     # then yield to the loop and continue at once


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


NoticeCallback = Callable[[str, str], None]   # (kind, detail): created, truncated, rotated, deleted, recovered, polling


class LogTailer:
    def __init__(self, path: Path | str, *, from_start: bool = False, on_notice: NoticeCallback | None = None,
                 rust_timeout_ms: int = 1000, force_polling: bool | None = None,
                 max_line_bytes: int = 1 << 16, count_existing_lines: bool = True, step_ms: int = 50):
        self.path = Path(os.path.abspath(path))
        self.from_start = from_start
        self.on_notice = on_notice
        self.rust_timeout_ms = rust_timeout_ms
        # watchfiles' watcher thread wakes every step_ms (it takes the GIL to look at the stop
        # event) and groups the changes of that window: a longer step costs less CPU and makes
        # stop() and the lines of a burst arrive up to step_ms later.
        self.step_ms = step_ms
        self.force_polling = force_polling
        self.max_line_bytes = max_line_bytes
        self.count_existing_lines = count_existing_lines
        self.lines_read = 0
        self._fd: int | None = None
        self._ident: tuple[int, int] | None = None
        self._offset = 0
        self._line_no = 0
        self._buf = b""
        self._cut = 0                 # bytes dropped from the current over-long line
        self._head = b""
        self._more = False
        self._stop: asyncio.Event | None = None
        self._stopped = False

    # ------------------------------------------------------------ public API

    def __aiter__(self) -> AsyncIterator[TailLine]:
        return self.lines()

    def stop(self) -> None:
        """Ask the iterator to end; it does within ~50 ms (the watcher thread sees the event)."""
        self._stopped = True
        if self._stop is not None:
            self._stop.set()

    async def follow(self, on_line: Callable[[TailLine], None]) -> None:
        """Call on_line for every line until stop() (or cancellation)."""
        async with aclosing(self.lines()) as it:
            async for line in it:
                on_line(line)

    async def lines(self) -> AsyncIterator[TailLine]:
        from watchfiles import awatch

        self._stop = asyncio.Event()
        if self._stopped:
            self._stop.set()
        try:
            await self._open_initial()
            for line in self._check():
                yield line
            while not self._stop.is_set():
                watch_dir = _nearest_existing_dir(self.path.parent)
                if watch_dir is None:  # pragma: no cover - "/" always exists
                    await asyncio.sleep(0.25)
                    continue
                dir_ident = _ident_of(watch_dir)
                accept = self._accepted_paths(watch_dir)
                watcher = awatch(
                    watch_dir, watch_filter=lambda _c, p: p in accept, recursive=False,
                    rust_timeout=self.rust_timeout_ms, yield_on_timeout=True, stop_event=self._stop,
                    force_polling=self.force_polling, step=self.step_ms)
                # Whatever happened while the watch was being armed: look once more after the
                # first wake (a timeout at worst), never trust events alone.
                try:
                    async with aclosing(watcher) as changes:
                        async for _ in changes:
                            while True:
                                for line in self._check():
                                    yield line
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
                except OSError as exc:
                    if self.force_polling:
                        raise
                    # e.g. the inotify watch limit: polling is slower but still sees everything
                    self.force_polling = True
                    self._notice("polling", f"file events unavailable ({exc}); polling {self.path.parent}")
                for line in self._check():
                    yield line
        finally:
            self._close()

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
        self._open()
        if self.from_start or self._fd is None:
            return
        # Start at the beginning of the last (possibly unterminated) line, so a line being
        # written now arrives whole; number lines by counting what we skip.
        size = os.fstat(self._fd).st_size
        start = _last_line_start(self._fd, size)
        if self.count_existing_lines and start:
            self._line_no = await asyncio.to_thread(_count_newlines, self._fd, start)
        self._offset = start

    def _open(self) -> bool:
        try:
            fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        except OSError:
            return False
        st = os.fstat(fd)
        if not _stat.S_ISREG(st.st_mode):
            os.close(fd)
            return False
        self._fd = fd
        self._ident = (st.st_ino, st.st_dev)
        self._offset = 0
        self._line_no = 0
        self._buf = b""
        self._cut = 0
        self._head = os.pread(fd, HEAD_BYTES, 0)
        return True

    def _close(self) -> None:
        if self._fd is not None:
            try:
                os.close(self._fd)
            except OSError:
                pass
            self._fd = None
            self._ident = None

    def _check(self) -> list[TailLine]:
        out: list[TailLine] = []
        self._more = False
        try:
            st: os.stat_result | None = os.stat(self.path)
        except OSError:
            st = None
        if st is not None and not _stat.S_ISREG(st.st_mode):
            st = None
        if self._fd is None:
            if st is not None and self._open():
                self._notice("created")
                out += self._drain()
            return out
        fst = os.fstat(self._fd)
        same = st is not None and (st.st_ino, st.st_dev) == self._ident and fst.st_nlink > 0
        if same:
            if fst.st_size < self._offset or self._head_changed(fst.st_size):
                out += self._recover_copytruncate()
                out += self._flush_partial()
                self._offset, self._line_no, self._buf, self._cut = 0, 0, b"", 0
                self._head = os.pread(self._fd, HEAD_BYTES, 0)
                self._notice("truncated")
            out += self._drain()
            return out
        # Rotated or deleted: the inode we hold still has the tail the writer put there.
        out += self._drain(unbounded=True)
        out += self._flush_partial()
        self._close()
        if st is None:
            self._notice("deleted")
            return out
        if self._open():
            self._notice("rotated")
            out += self._drain()
        return out

    def _head_changed(self, size: int) -> bool:
        assert self._fd is not None
        known = len(self._head)
        if known < HEAD_BYTES and size > known:
            now = os.pread(self._fd, HEAD_BYTES, 0)
            if now[:known] != self._head:
                return True
            self._head = now
            return False
        if known == 0:
            return False
        return os.pread(self._fd, known, 0) != self._head

    def _recover_copytruncate(self) -> list[TailLine]:
        """logrotate's copytruncate copies the file to <name>.1 and then truncates it: what was
        written after our last read is in the copy. Take it when the copy starts like our file."""
        copy = Path(f"{self.path}.1")
        if not self._head:
            return []
        try:
            with open(copy, "rb") as f:
                if f.read(len(self._head)) != self._head:
                    return []
                f.seek(self._offset)
                rest = f.read()
        except OSError:
            return []
        if not rest:
            return []
        self._notice("recovered", f"{len(rest)} bytes from {copy.name}")
        return self._split(rest)

    def _drain(self, unbounded: bool = False) -> list[TailLine]:
        assert self._fd is not None
        out: list[TailLine] = []
        budget = MAX_DRAIN_PER_WAKE
        while True:
            try:
                data = os.pread(self._fd, READ_CHUNK, self._offset)
            except OSError:
                break
            if not data:
                break
            self._offset += len(data)
            out += self._split(data)
            budget -= len(data)
            if budget <= 0 and not unbounded:
                self._more = True
                break
        return out

    def _split(self, data: bytes) -> list[TailLine]:
        out: list[TailLine] = []
        buf = self._buf + data if self._buf else data
        start = 0
        while True:
            nl = buf.find(b"\n", start)
            if nl < 0:
                break
            out.append(self._make_line(buf[start:nl]))
            start = nl + 1
        rest = buf[start:]
        if len(rest) > self.max_line_bytes:
            # Keep the head of a runaway line; count the rest until its newline comes.
            self._cut += len(rest) - self.max_line_bytes
            rest = rest[: self.max_line_bytes]
        self._buf = rest
        return out

    def _make_line(self, raw: bytes) -> TailLine:
        cut = 0
        if len(raw) > self.max_line_bytes:
            cut = len(raw) - self.max_line_bytes
            raw = raw[: self.max_line_bytes]
        cut += self._cut
        self._cut = 0
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        self._line_no += 1
        self.lines_read += 1
        return TailLine(raw.decode("utf-8", errors="replace"), self._line_no, cut)

    def _flush_partial(self) -> list[TailLine]:
        if not self._buf and not self._cut:
            return []
        raw, self._buf = self._buf, b""
        return [self._make_line(raw)]


def _ident_of(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_dev) if _stat.S_ISDIR(st.st_mode) else None


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
