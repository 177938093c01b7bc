"""The keeper's socket: where it is, and the JSON lines spoken on it.

One Unix socket per keeper, in $XDG_RUNTIME_DIR/swarmtui/ (a tmpfs of the user's own that the
system empties at logout and reboot; SWARMTUI_RUNTIME_DIR moves it, the state dir is the
fallback). The folder is 0700 and the socket 0600, and the keeper also checks every peer's uid
(SO_PEERCRED): file modes can be loosened by mistake, the kernel's word cannot.

Every message is one JSON object on one line, with a "t" field:

  viewer -> keeper   hello    {protocol, version, name, read_only, features}   first, always
                     command  {c: <engine Command as a dict>}
                     stop     stop the node with the full sequence, then the keeper exits
                     status   ask for one status message, then the keeper hangs up
  keeper -> viewer   hello    {protocol, version, checkout, pid, started, kind, viewer, features}
                     snapshot {events: [...]}    everything a new viewer needs, then live events
                     event    {e: <engine Event as a dict>}
                     lines    a LinesOut in columns (engine.wire_lines), only to a viewer whose
                              hello listed "lines-columns"; it gets its other events as above
                     refused  {command, why}      e.g. a read-only viewer's command
                     status   {...}               for `swarmtui ls`
                     bye      {why}               the keeper hangs up (or refuses this viewer)

The events are the engine's own (engine.events), so an attached panel and the in-process one
read the same stream.

`features` are optional abilities within one protocol: a viewer lists those it reads, the keeper
answers with those it will use. A side that does not know one ignores it and the other side
falls back to the plain form, so a newer panel and an older keeper (or the reverse) still talk.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import struct
from pathlib import Path
from typing import Any, Iterator

from swarmtui import __version__, paths

PROTOCOL = 1
LINES_COLUMNS = "lines-columns"     # LinesOut as a "lines" message in columns (engine.wire_lines)
FEATURES = (LINES_COLUMNS,)         # what this side can read, as a viewer
MAX_LINE = 64 << 20          # a snapshot with 5000 log lines and the whole history fits easily


def runtime_dir() -> Path:
    override = os.environ.get("SWARMTUI_RUNTIME_DIR")
    if override:
        return Path(override).expanduser()
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg and os.path.isdir(xdg) and os.access(xdg, os.W_OK | os.X_OK):
        return Path(xdg) / "swarmtui"
    return paths.state_dir() / "sockets"


def socket_path(checkout: Path | str) -> Path:
    """The checkout's socket. Named by a hash of the real path only: a Unix socket path must fit
    in 108 bytes, and a long checkout name would not."""
    real = os.path.realpath(checkout)
    return runtime_dir() / (hashlib.sha256(real.encode()).hexdigest()[:20] + ".sock")


def encode(kind: str, /, **fields: Any) -> bytes:
    return (json.dumps({"t": kind, **fields}, ensure_ascii=False, separators=(",", ":")) + "\n").encode()


def decode(line: bytes) -> dict[str, Any]:
    """One message; ValueError for anything that is not a JSON object with a "t"."""
    data = json.loads(line)
    if not isinstance(data, dict) or not isinstance(data.get("t"), str):
        raise ValueError("not a message")
    return data


def hello(name: str, read_only: bool = False, features: tuple[str, ...] = ()) -> bytes:
    """A viewer's hello; `features` only from a viewer that reads them (RemoteEngine), so a
    fleet watcher or a test reading raw events gets events."""
    return encode("hello", protocol=PROTOCOL, version=__version__, name=name, read_only=read_only,
                  pid=os.getpid(), features=list(features))


def mismatch(theirs: dict[str, Any], who: str) -> str | None:
    """Why the other side's hello cannot work with ours, in one line; None when it can."""
    if theirs.get("protocol") == PROTOCOL:
        return None
    return (f"the {who} runs swarmtui {theirs.get('version', '?')} (protocol {theirs.get('protocol', '?')}), "
            f"this is swarmtui {__version__} (protocol {PROTOCOL}): `swarmtui stop` and start again")


def peer_uid(sock: Any) -> tuple[int, int] | None:
    """(pid, uid) of the process at the other end of a Unix socket (Linux SO_PEERCRED)."""
    opt = getattr(socket, "SO_PEERCRED", None)
    if opt is None:
        return None
    try:
        pid, uid, _gid = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, opt, struct.calcsize("3i")))
    except OSError:
        return None
    return pid, uid


class NoKeeper(Exception):
    """Nobody answers on the checkout's socket."""


def ask(checkout: Path | str, kind: str, *, name: str, timeout: float = 5.0) -> list[dict[str, Any]]:
    """A short blocking exchange (for `ls` and `stop`): hello, one request, every message until
    the keeper hangs up. Raises NoKeeper when nothing listens."""
    path = socket_path(checkout)
    return ask_path(path, kind, name=name, timeout=timeout)


def ask_path(path: Path, kind: str, *, name: str, timeout: float = 5.0) -> list[dict[str, Any]]:
    s = connect(path, timeout)
    try:
        s.sendall(hello(name) + encode(kind))
        out = []
        for msg in messages(s):
            out.append(msg)
            if msg["t"] == "bye":
                break
        return out
    finally:
        s.close()


def connect(path: Path, timeout: float | None = None) -> socket.socket:
    """A blocking connection to a keeper's socket; NoKeeper when nothing listens there."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(str(path))
    except (FileNotFoundError, ConnectionRefusedError) as exc:
        s.close()
        raise NoKeeper(str(exc)) from None
    except BaseException:
        s.close()
        raise
    return s


def messages(s: socket.socket) -> Iterator[dict[str, Any]]:
    """Every message from a blocking socket, until the other side hangs up."""
    buf = b""
    while True:
        chunk = s.recv(1 << 16)
        if not chunk:
            return
        buf += chunk
        *lines, buf = buf.split(b"\n")
        for line in lines:
            if line.strip():
                yield decode(line)
