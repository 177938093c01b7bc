"""The log line formats of each era (facts §3), written to the streams and files the real node uses.

hivemind era (v0.4.4): colorlog `%(green)s%(levelname)s:%(name)s:%(message)s` on stderr (colour
even off a terminal), logs/swarm.log truncated at start with
`%(asctime)s - %(levelname)s - %(name)s:%(lineno)d - %(message)s` at DEBUG, prints captured as
`[PRINT] ...`. genrl eras: Hydra's `[%(asctime)s][%(name)s][%(levelname)s] - %(message)s` on
stdout (INFO) and appended to logs/swarm_launcher.log (DEBUG). hivemind's own logger on stderr:
`Mon DD HH:MM:SS.mmm [LEVEL] [caller] message`, coloured only on a terminal.
"""

from __future__ import annotations

import os
import shutil
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

LEVELS = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40, "CRITICAL": 50}
_HM_COLOURS = {"DEBUG": "\033[35m", "INFO": "\033[34m", "WARNING": "\033[38;5;208m", "ERROR": "\033[31m",
               "CRITICAL": "\033[31m"}
BOLD, RESET = "\033[1m", "\033[0m"


def _ms_stamp() -> str:
    now = time.time()
    return datetime.fromtimestamp(now).strftime("%Y-%m-%d %H:%M:%S") + f",{int(now * 1000) % 1000:03d}"


class Streams:
    """stdout/stderr writes that never interleave mid-line (a flood thread shares them)."""

    def __init__(self):
        self.lock = threading.RLock()

    def out(self, text: str, end: str = "\n") -> None:
        with self.lock:
            sys.stdout.write(text + end)
            sys.stdout.flush()

    def err(self, text: str, end: str = "\n") -> None:
        with self.lock:
            sys.stderr.write(text + end)
            sys.stderr.flush()


class EraLog:
    """The era's python logger: console + file."""

    def __init__(self, era: str, root: Path, streams: Streams):
        self.era = era
        self.streams = streams
        logs = root / "logs"
        logs.mkdir(exist_ok=True)
        if era == "hivemind":
            self.file = open(logs / "swarm.log", "w", encoding="utf-8")  # TeeHandler(mode='w')
        else:
            self.file = open(logs / "swarm_launcher.log", "a", encoding="utf-8")  # Hydra FileHandler

    def log(self, level: str, name: str, msg: str, lineno: int = 0) -> None:
        stamp = _ms_stamp()
        with self.streams.lock:
            if self.era == "hivemind":
                if LEVELS[level] >= LEVELS["INFO"]:
                    self.streams.err(f"\033[32m{level}:{name}:{msg}\033[0m")
                self.file.write(f"{stamp} - {level} - {name}:{lineno} - {msg}\n")
            else:
                line = f"[{stamp}][{name}][{level}] - {msg}"
                if LEVELS[level] >= LEVELS["INFO"]:
                    self.streams.out(line)
                self.file.write(line + "\n")
            self.file.flush()

    def captured_print(self, text: str) -> None:
        """hivemind era: stdout is PrintCapture'd into swarm.log as DEBUG `[PRINT]` lines."""
        with self.streams.lock:
            self.streams.out(text)
            if self.era == "hivemind":
                stamp = _ms_stamp()
                for line in text.rstrip().splitlines():
                    if line.strip():
                        self.file.write(f"{stamp} - DEBUG - root:144 - [PRINT] {line.rstrip()}\n")
                self.file.flush()

    def file_only(self, text: str) -> None:
        with self.streams.lock:
            self.file.write(text + "\n")
            self.file.flush()


class HivemindLog:
    """hivemind/utils/logging.py's handler on stderr; codezero raised it to CRITICAL."""

    def __init__(self, streams: Streams, min_level: str = "INFO"):
        self.streams = streams
        self.min_level = min_level

    def log(self, level: str, msg: str, caller: str | None = None) -> None:
        if LEVELS[level] < LEVELS[self.min_level]:
            return
        now = time.time()
        stamp = datetime.fromtimestamp(now).strftime("%b %d %H:%M:%S") + f".{int(now * 1000) % 1000:03d}"
        name = "WARN" if level == "WARNING" else level
        colour = sys.stderr.isatty()
        if colour:
            head = f"[{BOLD}{_HM_COLOURS[level]}{name}{RESET}]"
            block = f" [{BOLD}{caller}{RESET}]" if caller and level != "INFO" else ""
        else:
            head = f"[{name}]"
            block = f" [{caller}]" if caller and level != "INFO" else ""
        self.streams.err(f"{stamp} {head}{block} {msg}")


def _fmt_time(seconds: float) -> str:
    seconds = int(seconds)
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


class Bar:
    """A tqdm bar on stderr, redrawn in place with \\r (full terminal width on a tty, else 10 cells)."""

    def __init__(self, streams: Streams, total: int, desc: str = "", unit: str = "it"):
        self.streams, self.total, self.desc, self.unit = streams, total, desc, unit
        self.n = 0
        self.elapsed = 0.0
        self.last_len = 0
        self.draw()

    def _line(self) -> str:
        pct = self.n / self.total * 100 if self.total else 100
        prefix = f"{self.desc}: " if self.desc else ""
        left = f"{prefix}{pct:3.0f}%|"
        if self.n:
            per = self.elapsed / self.n
            remaining = _fmt_time(per * (self.total - self.n))
            if self.unit == "it":
                rate = f"{per:.2f}s/it" if per >= 1 else f"{1 / max(per, 1e-9):.2f}it/s"
            else:
                rate = f"{1 / max(per, 1e-9):.2f} {self.unit}/s"
            right = f"| {self.n}/{self.total} [{_fmt_time(self.elapsed)}<{remaining}, {rate}]"
        else:
            right = f"| 0/{self.total} [00:00<?, ?{' ' if self.unit != 'it' else ''}{self.unit}/s]"
        width = 10
        if sys.stderr.isatty():
            cols = shutil.get_terminal_size((80, 24)).columns
            try:
                cols = os.get_terminal_size(sys.stderr.fileno()).columns
            except OSError:
                pass
            width = max(1, cols - len(left) - len(right) - 1)
        frac = self.n / self.total if self.total else 1
        full = int(frac * width)
        part = int((frac * width - full) * 8)
        cells = "█" * full + (" ▏▎▍▌▋▊▉"[part] if full < width else "")
        return left + cells.ljust(width) + right

    def draw(self) -> None:
        line = self._line()
        pad = " " * max(0, self.last_len - len(line))
        self.last_len = len(line)
        self.streams.err("\r" + line + pad, end="")

    def update(self, n: int, elapsed: float) -> None:
        self.n, self.elapsed = n, elapsed
        self.draw()

    def write(self, text: str, printer) -> None:
        """tqdm.write: clear the bar, print the message (stdout), draw the bar again."""
        with self.streams.lock:
            self.streams.err("\r" + " " * self.last_len + "\r", end="")
            printer(text)
            self.draw()

    def close(self) -> None:
        self.streams.err("")
