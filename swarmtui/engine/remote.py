"""The panel's engine when the node belongs to a keeper: the same surface as the Supervisor
(tui.engine_api.EngineLike), over the keeper's socket.

The panel cannot tell the difference, and must not: it gets the same events (a snapshot, then
the live stream) and sends the same commands. What differs is ownership: closing this engine
only detaches, whatever the panel asks, because the node is the keeper's.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, Callable

from swarmtui.engine import events as ev
from swarmtui.engine import wire
from swarmtui.errors import UserError
from swarmtui.node.layout import Layout, inspect_checkout


class RemoteEngine:
    survives_panel = True       # the node is the keeper's: quitting the panel only detaches

    def __init__(self, node_dir: Path | str, emit: Callable[[ev.Event], None], *, read_only: bool = False,
                 name: str = "panel", layout: Layout | None = None):
        self.layout = layout or inspect_checkout(node_dir)
        self.emit = emit
        self.read_only = read_only
        self.name = name
        self.state = ev.STOPPED
        self.keeper: dict[str, Any] = {}
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._pump: asyncio.Task | None = None
        self._closing = False

    async def start(self) -> None:
        path = wire.socket_path(self.layout.root)
        try:
            self._reader, self._writer = await asyncio.open_unix_connection(str(path), limit=wire.MAX_LINE)
        except (FileNotFoundError, ConnectionRefusedError):
            raise UserError(f"no keeper runs for {self.layout.root}: `swarmtui start {self.layout.root}` "
                            "starts one (or just `swarmtui` in the checkout)") from None
        except PermissionError:
            raise UserError(f"{path} belongs to another user: that keeper is not yours to attach to") from None
        self._writer.write(wire.hello(self.name, self.read_only))
        try:
            line = await asyncio.wait_for(self._reader.readline(), 10.0)
            msg = wire.decode(line)
        except (asyncio.TimeoutError, ValueError, ConnectionError):
            raise UserError(f"the keeper at {path} did not answer") from None
        if msg["t"] == "bye":
            raise UserError(str(msg.get("why") or "the keeper refused this viewer"))
        problem = wire.mismatch(msg, "keeper")
        if problem:
            raise UserError(problem)
        self.keeper = msg
        self._writer.write(wire.encode("attach"))
        self._pump = asyncio.ensure_future(self._read_loop())

    async def _read_loop(self) -> None:
        assert self._reader is not None
        why = "the connection closed"
        try:
            while True:
                line = await self._reader.readline()
                if not line:
                    break
                msg = wire.decode(line)
                kind = msg["t"]
                if kind == "snapshot":
                    for data in msg.get("events") or []:
                        self._deliver(data)
                elif kind == "event":
                    self._deliver(msg.get("e") or {})
                elif kind == "refused":
                    self.emit(ev.Notice(level="warning", text=f"the keeper refused {msg.get('command')}: {msg.get('why')}"))
                elif kind == "bye":
                    why = str(msg.get("why") or why)
                    break
        except (ConnectionError, ValueError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
            why = f"the connection broke: {exc}"
        if not self._closing:
            pid = self.keeper.get("pid", "?")
            self.emit(ev.Notice(level="error", text=f"the keeper (pid {pid}) went away: {why}"))
            self.emit(ev.StateChanged(state=ev.STOPPED, reason="keeper-gone",
                                      detail=f"nobody keeps the node now ({why}); quit, then `swarmtui "
                                             f"{self.layout.root}` starts a keeper again"))
            self.state = ev.STOPPED

    def _deliver(self, data: dict[str, Any]) -> None:
        try:
            event = ev.Event.from_dict(data)
        except (KeyError, TypeError, ValueError):
            return          # a newer keeper's event this panel does not know: not ours to show
        if isinstance(event, ev.StateChanged):
            self.state = event.state
        self.emit(event)

    def send(self, cmd: ev.Command) -> None:
        if self._writer is None or self._writer.is_closing():
            self.emit(ev.Notice(level="error", text="not attached to a keeper: the command went nowhere"))
            return
        self._writer.write(wire.encode("command", c=cmd.to_dict()))

    async def close(self, stop_node: bool = True, reason: str = "manual") -> None:
        """Detach. The node is the keeper's: it keeps running whatever `stop_node` says (a panel
        that wants it stopped sends StopNode first and waits for `stopped`)."""
        self._closing = True
        if self._writer is not None:
            try:
                self._writer.close()
            except Exception:
                pass
        if self._pump is not None:
            self._pump.cancel()
            try:
                await self._pump
            except (asyncio.CancelledError, Exception):
                pass

    def emergency_kill(self) -> None:
        """Nothing to kill: this process launched nothing."""
