"""The panel's engine when the node belongs to a keeper: the same surface as the Supervisor
(tui.engine_api.EngineLike), over the keeper's socket here, or over ssh to a keeper on another
host (engine.channel: `ssh HOST swarmtui attach --stdio DIR`).

The panel cannot tell the difference, and must not: it gets the same events (a snapshot, then
the live stream) and sends the same commands. What differs is ownership: closing this engine
only detaches, whatever the panel asks, because the node is the keeper's.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Awaitable, Callable

from swarmtui.engine import events as ev
from swarmtui.engine import wire, wire_lines
from swarmtui.engine.channel import Channel, ChannelError, handshake, join_target, open_local
from swarmtui.errors import UserError
from swarmtui.node.layout import inspect_checkout

Opener = Callable[[], Awaitable[Channel]]

# A panel is left open for days over links that drop (a laptop's sleep, a VPN, an ssh timeout)
# and beside keepers that come back (systemd's Restart=, `swarmtui start` again). So a lost
# keeper is tried again, 1 s after the loss, then doubling up to 30 s, until the panel quits.
RETRY_FIRST_S = 1.0
RETRY_CAP_S = 30.0


@dataclass(frozen=True)
class RemoteLayout:
    """What the panel reads of a Layout, for a checkout on another host. Only names, as that
    host's keeper reported them (its status): nothing here is ever read from this disk, where
    the path may not exist or be another checkout altogether."""
    host: str
    root: PurePosixPath
    era: str = ""
    era_label: str = ""
    login_port: int = 3000
    identity_path: PurePosixPath = PurePosixPath("swarm.pem")
    temp_data_dir: PurePosixPath = PurePosixPath("modal-login/temp-data")
    user_data_path: PurePosixPath = PurePosixPath("modal-login/temp-data/userData.json")
    api_key_path: PurePosixPath = PurePosixPath("modal-login/temp-data/userApiKey.json")
    backup_dir: str = ""
    remote: bool = True

    @property
    def label(self) -> str:
        return join_target(self.host, str(self.root))

    @classmethod
    def from_status(cls, host: str, status: dict[str, Any]) -> "RemoteLayout":
        root = PurePosixPath(str(status.get("checkout") or "?"))

        def path(key: str, default: str) -> PurePosixPath:
            return PurePosixPath(str(status.get(key) or root / default))

        state = status.get("state_dir")
        try:
            port = int(status.get("login_port") or 3000)
        except (TypeError, ValueError):
            port = 3000
        return cls(host=host, root=root, era=str(status.get("era") or ""),
                   era_label=str(status.get("era_label") or status.get("era") or ""), login_port=port,
                   identity_path=path("identity_path", "swarm.pem"),
                   temp_data_dir=path("temp_data_dir", "modal-login/temp-data"),
                   user_data_path=path("user_data_path", "modal-login/temp-data/userData.json"),
                   api_key_path=path("api_key_path", "modal-login/temp-data/userApiKey.json"),
                   backup_dir=join_target(host, f"{state}/backups") if state else f"swarmtui's state folder on {host}")


class RemoteEngine:
    survives_panel = True       # the node is the keeper's: quitting the panel only detaches

    def __init__(self, node_dir: Path | str, emit: Callable[[ev.Event], None], *, read_only: bool = False,
                 name: str = "panel", layout: Any = None, opener: Opener | None = None,
                 again: str | None = None, retry: bool = True,
                 retry_first: float = RETRY_FIRST_S, retry_cap: float = RETRY_CAP_S):
        """`opener` makes the channel (default: the checkout's socket on this host); a node on
        another host passes channel.open_ssh's and a layout that only describes the remote
        checkout (RemoteLayout), since nothing of it can be read here. `again` is how a person
        starts the keeper again, for the message when it goes away. `retry`: reach the keeper
        again after a loss (RETRY_*), rather than stay detached."""
        self.layout = layout or inspect_checkout(node_dir)
        self.emit = emit
        self.read_only = read_only
        self.name = name
        self.state = ev.STOPPED
        self.keeper: dict[str, Any] = {}
        self.channel: Channel | None = None
        self._opener: Opener = opener or (lambda: open_local(self.layout.root))
        self._again = again or f"`swarmtui {self.layout.root}` starts a keeper again"
        self._reader: asyncio.StreamReader | None = None
        self._writer: Any = None
        self._pump: asyncio.Task | None = None
        self._closing = False
        self.retry, self.retry_first, self.retry_cap = retry, retry_first, retry_cap
        self.reconnects = 0                 # times the keeper was reached again after a loss
        # The last log line shown, (source, number, text): a later snapshot's backlog is shown
        # from the line after it, so a reconnect (or a resync after falling behind) neither
        # repeats lines nor, while the keeper's backlog reaches back that far, skips any.
        self._last_line: tuple[str, int, str] | None = None
        self._resume_after: tuple[str, int, str] | None = None   # while a snapshot is shown
        self._snapshots = 0

    async def start(self) -> None:
        try:
            await self._connect()
        except ChannelError as exc:
            raise UserError(str(exc)) from None
        self._pump = asyncio.ensure_future(self._run())

    async def _connect(self) -> None:
        channel = await self._opener()
        try:
            msg = await handshake(channel, self.name, self.read_only, features=wire.FEATURES)
        except BaseException:       # a refusal, or the panel closing in the middle: no ssh left behind
            await asyncio.shield(channel.close())
            raise
        self.channel = channel
        self._reader, self._writer = channel.reader, channel.writer
        self.keeper = msg
        self._writer.write(wire.encode("attach"))

    async def _run(self) -> None:
        while True:
            why = await self._read_loop()
            if self._closing:
                return
            if self.channel is not None and self.channel.remote:
                # Over ssh, EOF may be the keeper's exit or the link's loss: ssh's exit says which.
                failed = await self.channel.failure(timeout=3.0)
                if failed and why == "the connection closed":
                    why = failed
            pid = self.keeper.get("pid", "?")
            self.emit(ev.Notice(level="error", text=f"the keeper (pid {pid}) went away: {why}"))
            self.state = ev.STOPPED
            if not self.retry:
                self.emit(ev.StateChanged(state=ev.STOPPED, reason="keeper-gone",
                                          detail=f"nobody keeps the node now ({why}); quit, then {self._again}"))
                return
            if not await self._reach_again(why, pid):
                return

    async def _reach_again(self, why: str, pid: Any) -> bool:
        """Try the keeper again until it answers (True) or the panel closes (False)."""
        if self.channel is not None:
            await self.channel.close()
        delay, tries = self.retry_first, 0
        while not self._closing:
            self.emit(ev.StateChanged(
                state=ev.STOPPED, reason="keeper-gone",
                detail=(f"trying the keeper again in {delay:g} s{f' (tried {tries} times)' if tries else ''}: "
                        f"{why}{'' if 'start' in why else f'. If it stopped for good: {self._again}'}")))
            await asyncio.sleep(delay)
            tries += 1
            try:
                await self._connect()
            except (ChannelError, OSError) as exc:
                why = str(exc)
                delay = min(self.retry_cap, delay * 2)
                continue
            self.reconnects += 1
            again = self.keeper.get("pid", "?")
            whose = "the same keeper" if again == pid else f"a new keeper (pid {again}; was {pid})"
            self.emit(ev.Notice(level="info", text=f"reached the keeper again after {tries} "
                                                   f"{'try' if tries == 1 else 'tries'}: {whose}"))
            return True
        return False

    async def _read_loop(self) -> str:
        """The keeper's stream until it ends; returns why it ended."""
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
                    self._snapshot(msg.get("events") or [])
                elif kind == "lines":
                    # An older keeper never sends these (it ignores our hello's features).
                    try:
                        self._emit(wire_lines.decode(msg))
                    except ValueError:
                        pass        # one malformed batch is not a reason to detach
                elif kind == "event":
                    self._deliver(msg.get("e") or {})
                elif kind == "refused":
                    self.emit(ev.Notice(level="warning", text=f"the keeper refused {msg.get('command')}: {msg.get('why')}"))
                elif kind == "bye":
                    why = str(msg.get("why") or why)
                    break
        except (ConnectionError, ValueError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
            why = f"the connection broke: {exc}"
        return why

    def _snapshot(self, events: list[dict[str, Any]]) -> None:
        self._snapshots += 1
        last = self._last_line
        if self._snapshots > 1 and last is not None:
            # Shown already, up to `last`: the backlog from the line after it, when it holds it.
            self._resume_after = last
            held = any(isinstance(d, dict) and d.get("event") == ev.LinesOut.kind
                       and any(_key(x) == last for x in d.get("lines") or [] if isinstance(x, dict))
                       for d in events)
            if not held:
                self._resume_after = None
                self.emit(ev.Notice(level="warning", text="the keeper's backlog starts after the last line this "
                                                          "panel showed: lines written meanwhile may be missing here"))
        for data in events:
            self._deliver(data)
        self._resume_after = None

    def _deliver(self, data: dict[str, Any]) -> None:
        try:
            event = ev.Event.from_dict(data)
        except (KeyError, TypeError, ValueError):
            return          # a newer keeper's event this panel does not know: not ours to show
        if isinstance(event, ev.StateChanged):
            self.state = event.state
        self._emit(event)

    def _emit(self, event: ev.Event) -> None:
        if isinstance(event, ev.LinesOut) and event.lines:
            skip = self._resume_after
            if skip is not None:
                keys = [(x.source, x.line, x.text) for x in event.lines]
                if skip not in keys:
                    return                          # before it: shown already
                event.lines = event.lines[len(keys) - keys[::-1].index(skip):]
                self._resume_after = None           # found: every later line is new
            if event.lines:
                tail = event.lines[-1]
                self._last_line = (tail.source, tail.line, tail.text)
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
        if self._pump is not None:
            self._pump.cancel()
            try:
                await self._pump
            except (asyncio.CancelledError, Exception):
                pass
        if self.channel is not None:
            await self.channel.close()          # over ssh: ends our ssh process too

    def emergency_kill(self) -> None:
        """Nothing to kill: this process launched nothing."""


def _key(line: dict[str, Any]) -> tuple[str, int, str]:
    return (line.get("source"), line.get("line"), line.get("text"))  # type: ignore[return-value]
