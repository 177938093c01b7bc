"""`swarmtui diagnose FILE... [--json]`: what swarmtui would have seen in saved node output.

A FILE that is a checkout folder stands for everything there is of that node: its logs/*.log and
swarmtui's run transcripts of it (the raw terminal of each run swarmtui started). The terminal is
the only place of bash's `Killed`, uncaught tracebacks, Hydra's `Error executing job` and the
script's `>> An error was detected` (rl-swarm-facts.md §5.6), and v0.4 erases logs/swarm.log at
every start: logs/ alone miss the worst failures.
"""

from __future__ import annotations

import glob
import os
import stat
import sys
from pathlib import Path
from typing import BinaryIO

from swarmtui.errors import UserError
from swarmtui.node.text import sanitize, terminal_json

# A log has no NUL bytes; a gzip/zip/binary file has plenty in its first few KB.
_SNIFF = 8192
_MAGIC = {b"\x1f\x8b": "gzip-compressed", b"PK\x03\x04": "a zip archive", b"\x28\xb5\x2f\xfd": "zstd-compressed",
          b"BZh": "bzip2-compressed", b"\xfd7zXZ": "xz-compressed"}


def _check_binary(head: bytes, name: str) -> None:
    for magic, what in _MAGIC.items():
        if head.startswith(magic):
            raise UserError(f"{name}: {what}; unpack it first (e.g. zcat {name} | swarmtui diagnose -)")
    if head and head.count(b"\0") > max(1, len(head) // 100):
        raise UserError(f"{name}: binary data, not a text log")


class _Peeked:
    """A binary stream whose first bytes were already read for sniffing."""

    def __init__(self, head: bytes, rest: BinaryIO):
        self._head, self._rest = head, rest

    def read(self, n: int = -1) -> bytes:
        if self._head:
            head, self._head = self._head, b""
            if n < 0:
                return head + self._rest.read()
            return head if len(head) >= n else head + self._rest.read(n - len(head))
        return self._rest.read(n)


def _directory_error(name: str) -> UserError:
    """A folder given where a log was expected: say what to give instead, for this folder."""
    from swarmtui.node.layout import SCRIPT_NAME

    parent = os.path.dirname(os.path.normpath(name)) or "."
    if os.path.basename(os.path.normpath(name)) == "logs" and os.path.isfile(os.path.join(parent, SCRIPT_NAME)):
        return UserError(f"{name}: is a directory; give the checkout ({parent}: its logs and swarmtui's run "
                         f"transcripts) or the files in it ({os.path.join(name, '*.log')})")
    if glob.glob(os.path.join(glob.escape(name), "*.log")):
        return UserError(f"{name}: is a directory; give the log files in it ({os.path.join(name, '*.log')})")
    return UserError(f"{name}: is a directory, but no rl-swarm checkout (no {SCRIPT_NAME}) and no *.log "
                     "files in it")


def node_inputs(root: str) -> list[str]:
    """What there is of the node at checkout `root`: logs/*.log and swarmtui's run transcripts
    of it, oldest first (by when each was last written; a transcript's rolled-over first part
    before the rest of its run)."""
    from swarmtui import paths
    from swarmtui.engine.history import RUNS_DIR

    found = glob.glob(os.path.join(glob.escape(root), "logs", "*.log"))
    runs = paths.node_state_dir(Path(root)) / RUNS_DIR
    found += glob.glob(os.path.join(glob.escape(str(runs)), "run-*.log"))

    def order(path: str) -> tuple[float, str]:
        try:
            when = os.stat(path).st_mtime
        except OSError:
            when = 0.0
        return when, path

    return sorted((p for p in found if os.path.isfile(p)), key=order)


def expand_inputs(files: list[str]) -> tuple[list[str], list[Path]]:
    """The files to read (a checkout folder replaced by its node_inputs) and the checkouts given."""
    from swarmtui.node.layout import SCRIPT_NAME

    out: list[str] = []
    checkouts: list[Path] = []
    for name in files:
        if name != "-" and os.path.isdir(name):
            if not os.path.isfile(os.path.join(name, SCRIPT_NAME)):
                raise _directory_error(name)
            found = node_inputs(name)
            if not found:
                raise UserError(f"{name}: nothing to read yet (no logs/*.log, and swarmtui has run no node there)")
            out += found
            checkouts.append(Path(name))
        else:
            out.append(name)
    return out, checkouts


def _open_all(files: list[str]) -> list[tuple[str, BinaryIO]]:
    """Open every input before reading any, so a bad name fails before output starts."""
    opened: list[tuple[str, BinaryIO]] = []
    if files.count("-") > 1:
        raise UserError("'-' (stdin) can be given only once")
    try:
        for name in files:
            if name == "-":
                stream = sys.stdin.buffer
            else:
                try:
                    st = os.stat(name)
                except FileNotFoundError:
                    raise UserError(f"{name}: no such file") from None
                except OSError as exc:
                    raise UserError(f"{name}: cannot be read ({exc.strerror or exc})") from None
                if stat.S_ISDIR(st.st_mode):
                    raise _directory_error(name)
                try:
                    stream = open(name, "rb")
                except OSError as exc:
                    raise UserError(f"{name}: cannot be read ({exc.strerror or exc})") from None
            try:
                head = stream.read(_SNIFF)
            except OSError as exc:
                raise UserError(f"{name}: cannot be read ({exc.strerror or exc})") from None
            _check_binary(head, name)
            opened.append((name, _Peeked(head, stream)))  # type: ignore[arg-type]
    except BaseException:
        for _, s in opened:
            _close(s)
        raise
    return opened


def _close(stream) -> None:
    rest = getattr(stream, "_rest", stream)
    if rest is not sys.stdin.buffer:
        try:
            rest.close()
        except OSError:
            pass


def run(args) -> int:
    from swarmtui.node.diagnose import Diagnoser

    files, checkouts = expand_inputs(list(args.files))
    inputs = _open_all(files)
    d = Diagnoser()
    try:
        for name, stream in inputs:
            try:
                d.read(stream, name)
            except OSError as exc:
                raise UserError(f"{name}: read failed ({exc.strerror or exc})") from None
    finally:
        for _, s in inputs:
            _close(s)
    report = d.finish()
    _name_from_checkout(report, checkouts)
    if args.json:
        sys.stdout.write(terminal_json(report.to_dict()) + "\n")
    else:
        sys.stdout.write(format_human(report))
    return 0


def _name_from_checkout(report, checkouts: list[Path]) -> None:
    """The animal name of the peer id seen, from the checkout's own word lists (name_utils.py),
    when no line printed it."""
    if report.peer_id is None or report.animal_name is not None:
        return
    from swarmtui.node.identity import load_name_words
    from swarmtui.node.peerid import animal_name

    for root in checkouts:
        words = load_name_words(root)
        if words is not None:
            report.animal_name = animal_name(report.peer_id, *words)
            return


def _fmt_rounds(report) -> str:
    if report.first_round is None:
        return "none seen"
    text = f"{report.first_round} → {report.last_round}" if report.last_round != report.first_round else str(report.first_round)
    text += f", {report.rounds_completed} completed"
    n = len(report.skipped)
    if n:
        shown = ", ".join(str(r) for r in report.skipped[:8]) + (", …" if n > 8 else "")
        text += f", {n} skipped ({shown})"
    else:
        text += ", none skipped"
    return text


def _fmt_progress(report) -> str:
    p = report.last_progress
    if not p:
        return "none seen"
    parts = []
    if p.get("round") is not None:
        parts.append(f"round {p['round']}")
    if p.get("stage") is not None:
        parts.append(f"stage {p['stage']}")
    if p.get("step") is not None:
        parts.append(f"step {p['step']}/{p['total']}")
    return (" ".join(parts) or "seen") + f"  at {p['file']}:{p['line']}"


def format_human(report) -> str:
    from swarmtui.node.layout import ERA_LABELS

    files = ", ".join(f"{f.file} ({f.lines:,} lines)" for f in report.files)
    peer = report.peer_id or "not seen"
    if report.animal_name:
        peer += f" ({report.animal_name})"

    by_action: dict[str, int] = {}
    for d in report.detections:
        by_action[d.action] = by_action.get(d.action, 0) + 1
    det = f"{len(report.detections)}"
    if by_action:
        det += " (" + ", ".join(f"{n} {a}" for a, n in sorted(by_action.items(), key=lambda kv: -kv[1])) + ")"
    rows = [
        ("read", files),
        ("era", ERA_LABELS.get(report.era, report.era) if report.era else "unknown"),
        ("peer", peer),
        ("rounds", _fmt_rounds(report)),
        ("progress", _fmt_progress(report)),
        ("detections", det),
    ]
    if report.last_rewards:
        rows.insert(5, ("rewards", ", ".join(f"{k}={v:g}" for k, v in list(report.last_rewards.items())[:4])))
    if report.market:
        from swarmtui.node.progress import describe_market

        text = " · ".join(x for x in describe_market(report.market) if x)
        if report.market.get("last_claimed") is not None:
            text += f" (last for game {report.market['last_claimed']})"
        rows.insert(len(rows) - 1, ("market", text))
    # Rows hold file names, and words and numbers read out of the log: each is cleaned as one
    # line, so neither an escape nor a newline in them reaches the terminal.
    out = [f"{k:<11} {sanitize(v)}" for k, v in rows]
    # One line per detection; a run of the same id in one file is folded into its first line.
    i, dets = 0, report.detections
    while i < len(dets):
        d = dets[i]
        j = i + 1
        while j < len(dets) and dets[j].id == d.id and dets[j].file == d.file:
            j += 1
        more = f"  (+{j - i - 1} more, last at line {dets[j - 1].line})" if j - i > 1 else ""
        out.append(sanitize(f"{d.file}:{d.line}  {d.id}  {d.action} — {d.hint}{more}"))
        i = j
    return "\n".join(out) + "\n"
