"""The keeper's side of the socket: any number of viewers, none of which can slow the node.

Every engine event goes through Fanout.emit: the replay cache remembers what a new viewer must
see, and each connected viewer gets the event in its own bounded queue, encoded once for all.
A viewer that does not read (a suspended SSH session, a full socket buffer) only fills its own
queue; when that overflows its events are dropped and it is sent a fresh snapshot once it reads
again, so the keeper's memory stays bounded and the node's supervision never waits for anybody.
With no viewer, an event costs one cache update.

Commands come from any viewer that is not read-only (the keeper refuses the others itself) and
each is announced to every viewer as a notice saying which viewer sent it.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import os
import socket
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from swarmtui import __version__
from swarmtui.engine import events as ev
from swarmtui.engine import wire, wire_lines
from swarmtui.engine.replay import ReplayCache
from swarmtui.safefile import ensure_private_dir

QUEUE_MAX = 2000            # messages a viewer may be behind before it is re-sent a snapshot,
QUEUE_MAX_BYTES = 8 << 20   # or bytes (a flood's line batches are big): the keeper's memory bound
HELLO_TIMEOUT_S = 5.0


@dataclass(eq=False)
class Viewer:
    number: int
    writer: asyncio.StreamWriter
    name: str = "?"
    pid: int = 0
    read_only: bool = False
    queue: deque = field(default_factory=deque)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    resync: bool = False        # it fell behind: the next thing it gets is a snapshot
    dropped: int = 0
    queued_bytes: int = 0
    closing: bool = False
    columns: bool = False       # it reads log lines in columns (wire.LINES_COLUMNS)

    def describe(self) -> str:
        return f"viewer #{self.number} ({self.name}, pid {self.pid}{', read-only' if self.read_only else ''})"

    def push(self, data: bytes) -> None:
        if self.resync or self.closing:
            return
        if len(self.queue) >= QUEUE_MAX or self.queued_bytes + len(data) > QUEUE_MAX_BYTES:
            self.queue.clear()
            self.queued_bytes = 0
            self.resync = True
            self.dropped += 1
        else:
            self.queue.append(data)
            self.queued_bytes += len(data)
        self.wake.set()

    def pop(self) -> bytes:
        data = self.queue.popleft()
        self.queued_bytes -= len(data)
        return data


class Fanout:
    """emit() for the Supervisor: the keeper's own output, the cache, and every viewer."""

    def __init__(self, downstream: Callable[[ev.Event], None], cache: ReplayCache):
        self.downstream = downstream
        self.cache = cache
        self.viewers: list[Viewer] = []
        # Exports fed by the keeper's events (metrics, alerts): each is called with every event
        # on the event loop, so it must only update its own state and never wait.
        self.observers: list[Callable[[ev.Event], None]] = []

    def emit(self, event: ev.Event) -> None:
        self.downstream(event)
        self.cache.observe(event)
        for observe in self.observers:
            observe(event)
        if not self.viewers:
            return
        if not event.ts:
            event.ts = ev.utc_now_iso()
        # Each form encoded once, and only when some viewer reads it.
        data = columns = None
        lines = type(event) is ev.LinesOut
        for viewer in self.viewers:
            if lines and viewer.columns:
                if columns is None:
                    columns = wire.encode("lines", **wire_lines.encode(event))
                viewer.push(columns)
            else:
                if data is None:
                    data = wire.encode("event", e=event.to_dict())
                viewer.push(data)


class KeeperServer:
    def __init__(self, checkout: Path, fanout: Fanout, *, send: Callable[[ev.Command], None],
                 stop: Callable[[str], None], kind: str, state: Callable[[], dict[str, Any]],
                 note: Callable[[str], None] = lambda text: None):
        self.checkout = Path(os.path.realpath(checkout))
        self.fanout = fanout
        self.send = send                # a command for the engine
        self.stop_keeper = stop         # `swarmtui stop`: the full stop sequence, then exit
        self.kind = kind
        self.state = state              # the status `swarmtui ls` shows
        self.note = note                # a line for the keeper's own output
        self.path = wire.socket_path(self.checkout)
        self.started = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
        self._server: asyncio.AbstractServer | None = None
        self._count = 0
        self._tasks: set[asyncio.Task] = set()

    @property
    def viewers(self) -> list[Viewer]:
        return self.fanout.viewers

    async def start(self) -> None:
        ensure_private_dir(self.path.parent)
        try:
            self.path.unlink()          # a socket file left by a keeper that died; we hold the lock
        except FileNotFoundError:
            pass
        old_umask = os.umask(0o177)     # the socket is 0600 from the moment it exists
        try:
            self._server = await asyncio.start_unix_server(self._serve, path=str(self.path), limit=wire.MAX_LINE)
        finally:
            os.umask(old_umask)
        os.chmod(self.path, 0o600)

    async def close(self, why: str = "the keeper is exiting") -> None:
        if self._server is not None:
            self._server.close()
        bye = wire.encode("bye", why=why)
        for viewer in list(self.viewers):
            viewer.queue.append(bye)
            viewer.closing = True
            viewer.wake.set()
        # Give the writers a moment to say goodbye; a frozen viewer is not waited for.
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=1.0)
        for task in list(self._tasks):
            task.cancel()
        try:
            if self._server is not None:
                await asyncio.wait_for(self._server.wait_closed(), 1.0)
        except (asyncio.TimeoutError, Exception):
            pass
        try:
            self.path.unlink()
        except OSError:
            pass

    # ------------------------------------------------------------ one connection

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            await self._conversation(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError,
                asyncio.TimeoutError):
            pass
        except Exception as exc:     # one viewer's trouble must never reach the node's supervision
            self.note(f"viewer connection failed: {exc!r}")
        finally:
            if task is not None:
                self._tasks.discard(task)
            try:
                writer.close()
            except Exception:
                pass

    async def _conversation(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # asyncio hands out a TransportSocket, not the socket itself; it has getsockopt.
        sock = writer.get_extra_info("socket")
        cred = wire.peer_uid(sock) if sock is not None else None
        if cred is None and hasattr(socket, "SO_PEERCRED"):
            cred = (0, -1)              # the kernel would not say who it is: fail closed
        if cred is not None and cred[1] != os.getuid():
            self.note(f"refused a connection from uid {cred[1]} (pid {cred[0]}): only uid {os.getuid()} may attach")
            writer.write(wire.encode("bye", why=f"refused: this keeper belongs to uid {os.getuid()}"))
            await writer.drain()
            # Closing with its hello unread would reset the connection and lose the bye: take
            # what it already sent (a little, briefly), then hang up.
            writer.write_eof()
            try:
                await asyncio.wait_for(reader.read(1 << 16), 0.5)
            except (asyncio.TimeoutError, ConnectionError):
                pass
            return
        line = await asyncio.wait_for(reader.readline(), HELLO_TIMEOUT_S)
        hello = wire.decode(line)
        if hello["t"] != "hello":
            return
        problem = wire.mismatch(hello, "viewer")
        if problem:
            writer.write(wire.encode("bye", why=problem))
            await writer.drain()
            return
        self._count += 1
        viewer = Viewer(self._count, writer, name=str(hello.get("name") or "?")[:40],
                        pid=cred[0] if cred else int(hello.get("pid") or 0), read_only=bool(hello.get("read_only")))
        features = hello.get("features")
        viewer.columns = isinstance(features, list) and wire.LINES_COLUMNS in features
        writer.write(wire.encode("hello", protocol=wire.PROTOCOL, version=__version__, checkout=str(self.checkout),
                                 pid=os.getpid(), started=self.started, kind=self.kind, viewer=viewer.number,
                                 features=[wire.LINES_COLUMNS] if viewer.columns else []))
        first = await asyncio.wait_for(reader.readline(), HELLO_TIMEOUT_S)
        if not first:
            return
        request = wire.decode(first)
        if request["t"] == "status":
            writer.write(wire.encode("status", **self.state()) + wire.encode("bye", why="status sent"))
            await writer.drain()
            return
        self.viewers.append(viewer)
        self.note(f"{viewer.describe()} attached")
        sender = asyncio.ensure_future(self._send_loop(viewer))
        try:
            await self._handle(viewer, request)
            while not viewer.closing:
                line = await reader.readline()
                if not line:
                    break
                await self._handle(viewer, wire.decode(line))
        finally:
            if viewer in self.viewers:
                self.viewers.remove(viewer)
            self.note(f"{viewer.describe()} detached")
            if not viewer.closing:
                sender.cancel()
            else:
                try:
                    await asyncio.wait_for(sender, 1.0)
                except (asyncio.TimeoutError, Exception):
                    sender.cancel()

    async def _handle(self, viewer: Viewer, msg: dict[str, Any]) -> None:
        kind = msg["t"]
        if kind == "attach":
            viewer.resync = True            # the first thing it gets is a snapshot
            viewer.wake.set()
        elif kind == "command":
            try:
                cmd = ev.Command.from_dict(msg.get("c") or {})
            except (KeyError, TypeError, ValueError):
                viewer.push(wire.encode("refused", command=str(msg.get("c"))[:80], why="not a command"))
                return
            if viewer.read_only:
                viewer.push(wire.encode("refused", command=cmd.kind, why="this viewer is read-only"))
                return
            self.fanout.emit(ev.Notice(level="info", text=f"{cmd.kind} asked by {viewer.describe()}"))
            self.send(cmd)
        elif kind == "stop":
            if viewer.read_only:
                viewer.push(wire.encode("refused", command="stop", why="this viewer is read-only"))
                return
            self.fanout.emit(ev.Notice(level="info", text=f"stop of the node and the keeper asked by {viewer.describe()}"))
            self.stop_keeper("manual")

    async def _send_loop(self, viewer: Viewer) -> None:
        writer = viewer.writer
        while True:
            await viewer.wake.wait()
            viewer.wake.clear()
            if viewer.resync:
                viewer.resync = False
                viewer.queue.clear()
                viewer.queued_bytes = 0
                events = [e.to_dict() for e in self.fanout.cache.snapshot()]
                writer.write(wire.encode("snapshot", events=events, dropped=viewer.dropped))
            while viewer.queue:
                batch = []
                while viewer.queue and len(batch) < 256:
                    batch.append(viewer.pop())
                writer.write(b"".join(batch))
                await writer.drain()        # a viewer that does not read waits here, alone
                if viewer.resync:
                    break
            if viewer.resync:
                viewer.wake.set()
                continue
            await writer.drain()
            if viewer.closing and not viewer.queue:
                return
