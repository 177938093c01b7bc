"""Launch `bash run_rl_swarm.sh` on a pty in its own session, read everything it prints, and
answer its prompts by their text.

Why a pty (textual-engineering.md §7, facts §1.4): bash's `read -p` shows its prompt only when
stdin is a terminal, so with pipes the prompts are invisible and a missing answer hangs silently.
The cost is a merged, colourful stream with `\\r` redraws, handled by node.text.LineSplitter.

The launcher does not know rl-swarm's prompts: it takes a matcher (partial line -> spec or None)
and an answerer ((text, spec or None) -> Answer or None). Prompts have no newline, so they are
looked for in the unterminated partial line after every read. A partial that looks like a
question but that no rule knows is offered to the answerer (spec None) once the output has been
quiet for `unknown_prompt_after` seconds.

Secrets (a Hugging Face token) are written with the pty's ECHO turned off, so the terminal never
prints them back; as a second guard any occurrence of a secret in the output is replaced before
it reaches a line, a callback or the transcript.
"""

from __future__ import annotations

import asyncio
import codecs
import errno
import fcntl
import os
import pty
import re
import select
import signal
import struct
import termios
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from swarmtui.engine.clock import Clock, MonotonicClock
from swarmtui.engine.proctree import RUN_ID_ENV
from swarmtui.node.text import LineSplitter

REDACTED = "[secret redacted]"
READ_SIZE = 1 << 16
# A node that writes one line per write() (genrl's logging flushes every record) would be read a
# line at a time: under a flood 11k reads a second, each costing a loop turn, a decode, a screen
# and a batch. So once output comes, the pty is read by timer, each pause long enough for about
# PACE_BYTES to gather at the rate the node writes (its peak lately: pace()), PACE_MIN_S to
# PACE_MAX_S, and back to waiting for output when a read finds none. The pty holds about 19 KiB
# (Linux 6.x, 5 ms of a 30k lines/s flood), but one read of its master returns at most 4095 bytes
# there (the line discipline's buffer; other systems have other limits, so it is measured:
# pty_read_cap). A read that came back nearly that full may have left the rest behind: read on
# at once, up to DRAIN_BYTES, and hand it all on as one chunk (_read_on), or the node's writes
# would wait. A shorter read took all there was.
# (The bound was a fixed 1 KiB: at 1k lines/s every paced read came back above it, the read at
# once found nothing, and the reader went back to waiting for output, three reads and two epoll
# changes where one read would do: 13 % of a core where 7 % does, measured at 1k lines/s.)
# At 30k lines/s about 1k reads a second, not 11k (strace), and the node's writes wait less than
# before (bench_peers' row of time waited). Every line waits at most PACE_MAX_S more.
PACE_BYTES = 8192           # was 2 KiB: 3k lines/s cost 15-17 % of a core, 12-13 % now
PACE_MIN_S = 0.002
PACE_MAX_S = 0.015
RATE_HALF_LIFE_S = 0.1
PACE_FULL = 7 / 8           # of pty_read_cap(): a read this large counts as full
PACE_FULL_FALLBACK = 1024   # the bound when the cap cannot be measured: read on too often, never too little
DRAIN_BYTES = 16 << 10      # read on after a full read up to this much before handling it (_read_on)


_read_cap = 0        # pty_read_cap's measurement, once it is one to trust


def pty_read_cap() -> int:
    """The most one read of a pty master returns on this system, measured on a pty of our own
    and kept (0: it could not be measured; tried again next time)."""
    global _read_cap
    if not _read_cap:
        cap = _measure_read_cap()
        if cap >= 2 * PACE_FULL_FALLBACK:
            _read_cap = cap
        return cap
    return _read_cap


def _measure_read_cap() -> int:
    # Fill the slave until a write would block, then read the master. The kernel moves what was
    # written into the master's read buffer on a worker of its own, so a read right after the
    # fill may find that buffer only partly filled (a suite run on a loaded machine measured
    # less than 2 KiB once): the largest of a few reads, each a moment after the master is
    # readable, is the measure; a short one only makes the reader read on more often.
    try:
        master, slave = os.openpty()
    except OSError:
        return 0
    try:
        os.set_blocking(slave, False)
        os.set_blocking(master, False)
        chunk = b"x" * 127 + b"\n"
        written = 0
        try:
            while written < READ_SIZE * 4:      # a system whose pty never fills: bounded all the same
                written += os.write(slave, chunk)
        except BlockingIOError:
            pass
        biggest = got = 0
        for _ in range(16):
            if got >= written or not select.select([master], [], [], 0.05)[0]:
                break
            time.sleep(0.001)
            try:
                n = len(os.read(master, READ_SIZE))
            except BlockingIOError:
                continue
            biggest, got = max(biggest, n), got + n
        return biggest
    except OSError:
        return 0
    finally:
        os.close(slave)
        os.close(master)


def pace(rate: float, got: int, gap: float, woken: bool) -> tuple[float | None, float]:
    """(the pause before the next read, the rate to keep) after a read of `got` bytes `gap`
    seconds after the one before, `rate` being the rate kept then (bytes a second). The rate
    kept is the node's highest lately, halving every RATE_HALF_LIFE_S: a node writes in bursts,
    and a pause made for the lull after a burst (what came since the last read, over that time)
    let the next burst fill the pty. Measured at 30k lines/s written 150 lines at a time, with
    PACE_BYTES at 8 KiB: pauses up to PACE_MAX_S, and the node's writes waited twice as long.
    No pause (None) after a read that output woke more than PACE_MAX_S after the last one: the
    node writes a line now and then, and a read by timer would find nothing (wait for output)."""
    # A full read followed at once counts as a very high rate (more was waiting): the reads after
    # it come quickly until that fades, about a second.
    now_rate = got / gap if gap > 0 else float("inf")
    rate = max(now_rate, rate * 0.5 ** (gap / RATE_HALF_LIFE_S))
    if woken:       # the first read after a quiet spell: the time since says nothing of the rate
        return (PACE_MIN_S if gap <= PACE_MAX_S else None), rate
    return min(PACE_MAX_S, max(PACE_MIN_S, PACE_BYTES / rate)), rate


def full_read_bytes() -> int:
    """A pty read of at least this many bytes may have left more behind (_read_once)."""
    cap = pty_read_cap()
    return int(cap * PACE_FULL) if cap >= 2 * PACE_FULL_FALLBACK else PACE_FULL_FALLBACK


@dataclass(frozen=True)
class Answer:
    text: str
    secret: bool = False
    rule: str = ""          # which config key (or "user") supplied it; never the text itself


@dataclass(frozen=True)
class PromptInfo:
    text: str               # the prompt as shown (sanitized partial line)
    spec: Any               # what the matcher returned (node.layout.PromptSpec), None if unknown
    answered: bool
    rule: str = ""
    secret: bool = False


@dataclass(frozen=True)
class ExitStatus:
    code: int | None
    signal: int | None

    @classmethod
    def from_returncode(cls, rc: int | None) -> "ExitStatus":
        if rc is None:
            return cls(None, None)
        return cls(None, -rc) if rc < 0 else cls(rc, None)

    def describe(self) -> str:
        if self.signal is not None:
            try:
                import signal as _s

                return f"killed by {_s.Signals(self.signal).name}"
            except ValueError:
                return f"killed by signal {self.signal}"
        return f"exit code {self.code}"


PromptMatcher = Callable[[str], Any]
Answerer = Callable[[str, Any], "Answer | str | None"]
LinesCallback = Callable[[list[tuple[str, int, int]]], None]   # [(text, line_no, chars cut)]
ColumnsCallback = Callable[[int, list[str], dict[int, int]], None]   # (first line_no, texts, {index: chars cut})

_BAR = re.compile(r"\d+%\||(?:it/s|s/it|B/s)\]\s*$")


def looks_like_prompt(text: str) -> bool:
    """A partial line that waits for input: ends in '?' or ':' (or ']', '>', ')' followed by the
    space `read -p` prompts end with), and is not a progress bar."""
    stripped = text.rstrip()
    if not stripped or _BAR.search(stripped):
        return False
    last = stripped[-1]
    if last in "?:":
        return True
    return last in "]>)." and text != stripped


@dataclass(frozen=True)
class PythonEnv:
    """The Python environment the node's plain `python` and `pip` will come from.

    run_rl_swarm.sh activates nothing: it calls `python` and `pip` from PATH (facts §5.6), and
    users keep their environment as `.venv/`, `venv/`, an activated venv, or conda. Found in this
    order: [launch] venv, an activated VIRTUAL_ENV, an activated CONDA_PREFIX, the checkout's
    `.venv/`, its `venv/`; else none (PATH as it is)."""
    root: Path | None           # the venv / conda env folder; None: PATH's python
    source: str                 # config | VIRTUAL_ENV | CONDA_PREFIX | .venv | venv | PATH
    problem: str = ""           # the configured one is unusable: one line, blocks the start

    @property
    def bin(self) -> Path | None:
        return self.root / "bin" if self.root is not None else None

    def describe(self) -> str:
        if self.root is None:
            return "no venv (python from PATH)"
        how = {"config": "[launch] venv", "VIRTUAL_ENV": "the activated VIRTUAL_ENV",
               "CONDA_PREFIX": "the activated conda env (CONDA_PREFIX)"}.get(self.source, f"the checkout's {self.source}/")
        return f"{self.root} ({how})"


VENV_NAMES = (".venv", "venv")


def _is_env(folder: Path) -> bool:
    return (folder / "bin" / "python").exists() or (folder / "bin" / "python3").exists()


def find_python_env(checkout: Path | str, env: Mapping[str, str], configured: str | None = None) -> PythonEnv:
    """Which environment the node will run in (the order is documented in PythonEnv)."""
    root = Path(checkout)
    if configured:
        folder = Path(configured).expanduser()
        if not folder.is_absolute():
            folder = root / folder
        if not folder.is_dir():
            return PythonEnv(folder, "config", f"[launch] venv = {configured!r}: no such folder {folder}; create it "
                                               f"(python3 -m venv {folder}) or fix the path in the config")
        if not _is_env(folder):
            return PythonEnv(folder, "config", f"[launch] venv = {configured!r}: {folder} has no bin/python, so it "
                                               "is not a venv or conda env; fix the path in the config")
        return PythonEnv(folder, "config")
    for var in ("VIRTUAL_ENV", "CONDA_PREFIX"):
        value = env.get(var, "")
        if value and os.path.isabs(value) and _is_env(Path(value)):
            return PythonEnv(Path(value), var)
    for name in VENV_NAMES:
        folder = root / name
        if folder.is_dir() and _is_env(folder):
            return PythonEnv(folder, name)
    return PythonEnv(None, "PATH")


def build_env(base: Mapping[str, str], *, run_id: str, venv_bin: Path | None) -> dict[str, str]:
    env = dict(base)
    if venv_bin is not None:
        # What `source <venv>/bin/activate` does, which the README asks for (facts §5.5); a conda
        # env is "activated" the same way for a script that only calls python and pip.
        env["PATH"] = f"{venv_bin}{os.pathsep}{env.get('PATH') or os.defpath}"
        if env.get("CONDA_PREFIX") and Path(env["CONDA_PREFIX"]) == venv_bin.parent:
            env.pop("VIRTUAL_ENV", None)
        else:
            env["VIRTUAL_ENV"] = str(venv_bin.parent)
        env.pop("PYTHONHOME", None)
    env[RUN_ID_ENV] = run_id
    env["PYTHONUNBUFFERED"] = "1"
    env.setdefault("TERM", "xterm-256color")
    return env


# What a child must not inherit from us. A signal ignored here (a panel started as a background
# job of a script gets SIGINT and SIGQUIT ignored, nohup ignores SIGHUP) stays ignored across
# exec, and a blocked one stays blocked: rl-swarm's SIGINT trap would never run, and every stop
# would sit out stop_timeout. Python itself ignores SIGPIPE, which would turn `yes | head`-style
# pipelines in the script into EPIPE loops.
_RESET_SIGNALS = tuple(getattr(signal, n) for n in ("SIGINT", "SIGQUIT", "SIGHUP", "SIGTERM", "SIGPIPE",
                                                    "SIGTSTP", "SIGTTIN", "SIGTTOU", "SIGUSR1", "SIGUSR2")
                       if hasattr(signal, n))


def start_clean() -> None:
    """preexec_fn: default dispositions and an empty signal mask in the child, whatever swarmtui
    inherited or set up for itself. Runs between fork and exec: only async-signal-safe calls."""
    for sig in _RESET_SIGNALS:
        signal.signal(sig, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, ())


class Launcher:
    def __init__(self, checkout: Path | str, *, run_id: str, argv: Sequence[str] = ("bash", "run_rl_swarm.sh"),
                 env: Mapping[str, str] | None = None, venv_bin: Path | None | bool = True,
                 cols: int = 250, rows: int = 50, max_line: int = 16384,
                 on_raw: Callable[[bytes], None] | None = None,
                 on_raw_error: Callable[[Exception], None] | None = None,
                 on_lines: LinesCallback | None = None,
                 on_columns: ColumnsCallback | None = None,
                 on_partial: Callable[[str], None] | None = None,
                 on_prompt: Callable[[PromptInfo], None] | None = None,
                 on_eof: Callable[[], None] | None = None,
                 prompt_matcher: PromptMatcher | None = None,
                 answerer: Answerer | None = None,
                 unknown_prompt_after: float = 1.5,
                 max_repeats: int = 3,
                 clock: Clock | None = None):
        self.checkout = Path(checkout)
        self.run_id = run_id
        self.argv = list(argv)
        if venv_bin is True:
            venv_bin = find_python_env(self.checkout, os.environ if env is None else env).bin
        elif venv_bin is False:
            venv_bin = None
        self.venv_bin: Path | None = venv_bin
        self.env = build_env(os.environ if env is None else env, run_id=run_id, venv_bin=self.venv_bin)
        self.cols, self.rows = cols, rows
        self.on_raw, self.on_lines, self.on_partial = on_raw, on_lines, on_partial
        self.on_columns = on_columns        # the same lines as columns: (first number, texts, {index: cut})
        self.on_raw_error = on_raw_error    # told of the first on_raw failure only (they repeat per chunk)
        self.raw_failures = 0
        self.on_prompt, self.on_eof = on_prompt, on_eof
        self.prompt_matcher, self.answerer = prompt_matcher, answerer
        self.unknown_prompt_after = unknown_prompt_after
        self.max_repeats = max_repeats
        self.clock = clock or MonotonicClock()

        self.proc: asyncio.subprocess.Process | None = None
        self.started_at: float | None = None
        self.last_output_at: float | None = None
        self.lines = 0
        self.bytes_read = 0
        self._master: int | None = None
        self._splitter = LineSplitter(max_line)
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._eof: asyncio.Future[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._prompt_seen = ""          # the partial we last looked at for a prompt
        self._answered_line = False     # a prompt on the current partial line was answered
        self._secrets: list[str] = []
        self._echo_off = False
        self._quiet_timer: asyncio.TimerHandle | None = None
        self._pace: asyncio.Handle | None = None    # the next read, when reading by timer (_paced_read)
        self.reads = 0                  # reads that returned output (PACE_*: fewer than the node's writes)
        self._read_at = 0.0             # loop time of the last read (the pause after a read)
        self._rate = 0.0                # bytes a second the node writes, its recent peak (_read_once)
        self._held: list[bytes] = []    # output read ahead of its turn (absorb), handed on first
        self._full_read = full_read_bytes()
        self._pending_unknown = ""      # an unknown prompt reported and not yet answered
        self._asked: dict[str, int] = {}   # prompt text -> times offered in this run

    # ------------------------------------------------------------ lifecycle

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    @property
    def partial(self) -> str:
        return self._redact(self._splitter.partial)

    async def start(self) -> int:
        """Spawn the script; returns its pid (also its process group and session id)."""
        if self.proc is not None:
            raise RuntimeError("already started")
        self._loop = asyncio.get_running_loop()
        master, slave = pty.openpty()
        try:
            fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", self.rows, self.cols, 0, 0))
            self.proc = await asyncio.create_subprocess_exec(
                *self.argv, stdin=slave, stdout=slave, stderr=slave, cwd=str(self.checkout), env=self.env,
                start_new_session=True, close_fds=True, preexec_fn=start_clean)
        except BaseException:
            os.close(master)
            raise
        finally:
            os.close(slave)   # only the child holds the slave now: EIO on the master means all are gone
        os.set_blocking(master, False)
        self._master = master
        self._eof = self._loop.create_future()
        self._loop.add_reader(master, self._on_readable)
        self.started_at = self.clock.monotonic()
        return self.proc.pid

    async def wait(self, drain: float = 0.5) -> ExitStatus:
        """Wait for the script to exit, then up to `drain` seconds for the rest of its output
        (processes it left behind may hold the pty open; they are the stop sequence's business)."""
        assert self.proc is not None, "not started"
        rc = await self.proc.wait()
        if self._eof is not None and not self._eof.done() and drain > 0:
            try:
                await asyncio.wait_for(asyncio.shield(self._eof), drain)
            except asyncio.TimeoutError:
                pass
        return ExitStatus.from_returncode(rc)

    async def wait_eof(self, timeout: float | None = None) -> bool:
        if self._eof is None:
            return True
        try:
            await asyncio.wait_for(asyncio.shield(self._eof), timeout)
            return True
        except asyncio.TimeoutError:
            return False

    @property
    def returncode(self) -> int | None:
        return self.proc.returncode if self.proc else None

    def close(self) -> None:
        """Stop reading and release the pty (does not signal anything: see proctree.stop)."""
        self._stop_pacing()
        if self._quiet_timer is not None:
            self._quiet_timer.cancel()
            self._quiet_timer = None
        if self._master is not None:
            if self._loop is not None:
                try:
                    self._loop.remove_reader(self._master)
                except (ValueError, RuntimeError):  # pragma: no cover - loop closed
                    pass
            self._emit_lines(self._splitter.flush())
            try:
                os.close(self._master)
            except OSError:
                pass
            self._master = None
        if self._eof is not None and not self._eof.done():
            self._eof.set_result(None)

    # ------------------------------------------------------------ answering

    def answer(self, text: str, secret: bool = False) -> bool:
        """Type an answer into the pty (the person's, in interactive mode). Returns False when
        the pty is gone."""
        return self._write_answer(Answer(text, secret, "user"))

    def type_raw(self, text: str) -> bool:
        """Type bytes into the terminal as a person would (a Ctrl-C for a `docker compose run -t`
        client, which passes it on to the container's terminal). False when the pty is gone."""
        if self._master is None:
            return False
        try:
            os.write(self._master, text.encode("utf-8"))
        except OSError:
            return False
        return True

    def _write_answer(self, ans: Answer) -> bool:
        if self._master is None:
            return False
        if ans.secret:
            if len(ans.text) >= 6:   # a token; redacting a one-letter "secret" would shred the output
                self._secrets.append(ans.text)
            self._set_echo(False)
        elif self._echo_off:
            # A later prompt is showing, so the secret line was read long ago: echo is safe again.
            self._set_echo(True)
        data = (ans.text.replace("\r", "").replace("\n", "") + "\r").encode("utf-8")
        try:
            while data:
                n = os.write(self._master, data)
                data = data[n:]
        except BlockingIOError:  # pragma: no cover - a full 4 KiB input queue: retry shortly
            assert self._loop is not None
            self._loop.call_later(0.05, self._write_raw_later, data)
        except OSError:
            return False
        self._answered_line = True
        self._pending_unknown = ""
        if ans.secret:
            # No echo means no line break either: end the prompt's line ourselves, so whatever
            # the script prints next (maybe the next prompt) starts a line of its own.
            self._emit_lines(self._splitter.feed("\n"))
            self._answered_line = False
            self._prompt_seen = ""
        return True

    def _write_raw_later(self, data: bytes) -> None:  # pragma: no cover - see above
        if self._master is not None:
            try:
                os.write(self._master, data)
            except OSError:
                pass

    def _set_echo(self, on: bool) -> None:
        assert self._master is not None
        try:
            attrs = termios.tcgetattr(self._master)
            attrs[3] = (attrs[3] | termios.ECHO) if on else (attrs[3] & ~termios.ECHO)
            termios.tcsetattr(self._master, termios.TCSANOW, attrs)
            self._echo_off = not on
        except termios.error:  # pragma: no cover - the pty is going away
            pass

    # ------------------------------------------------------------ reading

    def _on_readable(self) -> None:
        # Output after a quiet spell: read it, then read on by timer while it keeps coming
        # (_paced_read), the reader set aside: re-arming it after every read cost more than the
        # read (three epoll_ctl calls and asyncio's selector bookkeeping). A node that writes a
        # line now and then is read as its output comes, the reader left in place: a read by
        # timer 2 ms later found nothing and re-armed it, per line (pace()).
        if self._read_once(woken=True) and self._master is not None and self._loop is not None:
            self._loop.remove_reader(self._master)

    def _paced_read(self) -> None:
        self._pace = None
        if self._master is None or self._loop is None:
            return
        if not self._read_once() and self._master is not None:
            self._loop.add_reader(self._master, self._on_readable)     # quiet again: wait for output

    def _read_once(self, woken: bool = False) -> bool:
        """One read of the pty, fed on; the next one scheduled. False when no next read was
        scheduled: there was nothing to read, the stream ended, or (`woken`) the node writes too
        seldom for a read by timer to find more. `woken`: the first read after a quiet spell (the
        time since the last read says nothing of the node's rate then). What absorb() read ahead
        goes first."""
        assert self._master is not None
        held, self._held = self._held, []
        ended = False
        try:
            new = os.read(self._master, READ_SIZE)
            ended = not new
        except BlockingIOError:
            new = b""
        except OSError as exc:
            if exc.errno != errno.EIO:
                raise
            new, ended = b"", True      # every holder of the slave has closed it: end of stream
        last = len(new)
        if new:
            self.reads += 1
            if last >= self._full_read:
                new, last = self._read_on(new)
        data = b"".join([*held, new]) if held else new
        if data:
            self._feed(data)
        if ended:
            self._end_of_stream()
            return False
        if not data:
            return False
        loop = self._loop
        if self._master is not None and self._pace is None and loop is not None:
            now = loop.time()
            gap, self._read_at = now - self._read_at, now
            pause, self._rate = pace(self._rate, len(data), gap, woken)
            if last >= self._full_read:
                self._pace = loop.call_soon(self._paced_read)
            elif pause is not None:
                self._pace = loop.call_later(pause, self._paced_read)
            else:
                return False        # a line now and then: the reader stays (_on_readable)
        return True

    def absorb(self) -> None:
        """Read the pty ahead of its turn, into a buffer that the next read hands on first, before
        other work that takes a while (a log file's burst). Under a 30k lines/s flood the pty
        (~19 KiB) lasts about 5 ms, about as long as the keeper takes over a burst of the log
        file, and the node's writes waited meanwhile."""
        fd, loop = self._master, self._loop
        if fd is None or loop is None or sum(map(len, self._held)) >= 4 * DRAIN_BYTES:
            return
        got = 0
        while got < DRAIN_BYTES:
            try:
                more = os.read(fd, READ_SIZE)
            except OSError:
                break       # nothing now, or the end of the stream: the next read sees it
            if not more:
                break
            self._held.append(more)
            self.reads += 1
            got += len(more)
            if len(more) < self._full_read:
                break
        if got and self._pace is None:
            # It was waiting for output, and what came may all be read now: no wake would come.
            loop.remove_reader(fd)
            self._pace = loop.call_soon(self._paced_read)

    def _read_on(self, data: bytes) -> tuple[bytes, int]:
        """After a full read: read on while the reads come back full, up to DRAIN_BYTES, and
        hand it all on as one chunk; with the size of the last read. Under a flood a read takes
        only ~4 KiB, and each chunk costs its own decode, split, screen and batch: handled 4 KiB
        at a time, a 30k lines/s flood cost ~15 % more of a core (10 % at 10k). Not more than 16
        KiB: a chunk is handled before the next read, and the pty (~19 KiB) must not fill
        meanwhile."""
        parts = [data]
        total = last = len(data)
        while total < DRAIN_BYTES and last >= self._full_read:
            try:
                more = os.read(self._master, READ_SIZE)     # type: ignore[arg-type]
            except OSError:
                break       # nothing more now, or the end of the stream: the next read sees it
            if not more:
                break
            self.reads += 1
            parts.append(more)
            last = len(more)
            total += last
        return (b"".join(parts) if len(parts) > 1 else data), last

    def _stop_pacing(self) -> None:
        if self._pace is not None:
            self._pace.cancel()
            self._pace = None

    def _feed(self, data: bytes) -> None:
        self.bytes_read += len(data)
        self.last_output_at = self.clock.monotonic()
        if self._secrets:
            for s in self._secrets:
                data = data.replace(s.encode("utf-8"), REDACTED.encode())
        # Supervision first, evidence second: a transcript on a full disk once raised here before
        # the chunk was parsed, so prompts went unanswered and fatal lines unseen.
        try:
            text = self._decoder.decode(data)
            texts, cuts = self._splitter.feed_columns(text)
            if texts:
                self._answered_line = False
                self._prompt_seen = ""          # a new line: the same prompt text may be asked again
                self._emit_columns(texts, cuts)
            self._after_output()
        finally:
            self._keep_raw(data)

    def _keep_raw(self, data: bytes) -> None:
        if self.on_raw is None:
            return
        try:
            self.on_raw(data)
        except Exception as exc:  # a bug in the evidence must never stop the reading of the node
            self.raw_failures += 1
            if self.raw_failures == 1 and self.on_raw_error is not None:
                try:
                    self.on_raw_error(exc)
                except Exception:
                    pass

    def _emit_lines(self, lines: list[tuple[str, int]]) -> None:
        if lines:
            self._emit_columns([t for t, _ in lines], {i: c for i, (_, c) in enumerate(lines) if c})

    def _emit_columns(self, texts: list[str], cuts: dict[int, int]) -> None:
        if not texts:
            return
        first = self.lines + 1
        self.lines += len(texts)
        if self._secrets:
            texts = [self._redact(t) for t in texts]
        if self.on_columns is not None:
            self.on_columns(first, texts, cuts)
        if self.on_lines is not None:
            self.on_lines([(t, first + i, cuts.get(i, 0)) for i, t in enumerate(texts)])

    def _redact(self, text: str) -> str:
        for s in self._secrets:
            if s in text:
                text = text.replace(s, REDACTED)
        return text

    def _after_output(self) -> None:
        partial = self.partial
        if self.on_partial is not None:
            self.on_partial(partial)
        if self._quiet_timer is not None:
            self._quiet_timer.cancel()
            self._quiet_timer = None
        if not partial or partial == self._prompt_seen:
            return
        self._prompt_seen = partial
        if self._answered_line:
            return
        spec = self.prompt_matcher(partial) if self.prompt_matcher is not None else None
        if spec is not None:
            self._offer(partial, spec)
        elif looks_like_prompt(partial) and self.unknown_prompt_after >= 0:
            assert self._loop is not None
            self._quiet_timer = self._loop.call_later(self.unknown_prompt_after, self._quiet_check, partial)

    def _quiet_check(self, partial: str) -> None:
        self._quiet_timer = None
        if self._master is None or self._answered_line or self.partial != partial:
            return
        if self._pending_unknown == partial:
            return
        self._pending_unknown = partial
        self._offer(partial, None)

    def _offer(self, partial: str, spec: Any) -> None:
        key = partial.strip()
        self._asked[key] = self._asked.get(key, 0) + 1
        if self._asked[key] > self.max_repeats:
            # The script keeps asking ("Please answer yes or no."): our answer is not accepted.
            # Stop typing it and let the person see the prompt.
            if self.on_prompt is not None:
                self.on_prompt(PromptInfo(partial, spec, False, "", bool(getattr(spec, "secret", False))))
            return
        ans = self.answerer(partial, spec) if self.answerer is not None else None
        if isinstance(ans, str):
            ans = Answer(ans, bool(getattr(spec, "secret", False)))
        answered = ans is not None and self._write_answer(ans)
        if self.on_prompt is not None:
            secret = bool(getattr(spec, "secret", False)) or bool(ans is not None and ans.secret)
            self.on_prompt(PromptInfo(partial, spec, answered, ans.rule if ans is not None else "", secret))

    def _end_of_stream(self) -> None:
        self._stop_pacing()
        if self._master is not None and self._loop is not None:
            try:
                self._loop.remove_reader(self._master)
            except (ValueError, RuntimeError):  # pragma: no cover
                pass
        tail = self._decoder.decode(b"", final=True)
        if tail:
            self._emit_lines(self._splitter.feed(tail))
        self._emit_lines(self._splitter.flush())
        if self._quiet_timer is not None:
            self._quiet_timer.cancel()
            self._quiet_timer = None
        if self._master is not None:
            try:
                os.close(self._master)
            except OSError:
                pass
            self._master = None
        if self._eof is not None and not self._eof.done():
            self._eof.set_result(None)
        if self.on_eof is not None:
            self.on_eof()
