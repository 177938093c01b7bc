"""A byte channel to a keeper: its Unix socket here, or `ssh HOST swarmtui attach --stdio DIR`.

Both carry the same JSON lines (engine.wire); a viewer (the panel's RemoteEngine, the fleet
overview) opens one, says hello (`handshake`), then speaks the protocol without caring which.

Remote hosts are reached with the user's own ssh (its config, agent, keys, ProxyJump...), so no
port is opened anywhere and authentication is SSH's. What can go wrong there is told in ONE line
a fleet row can show, from ssh's exit status and the last thing it (or the remote side) wrote
on stderr:

  255   ssh's own failure (host down, no route, key refused): ssh's line, as it said it
  127   the remote shell did not find the command: swarmtui is not installed there
  other the remote `swarmtui attach --stdio` said why (no keeper, not a checkout)

The ssh process is ours (we launched it and hold its Process): close() ends it, never anything
found by name.
"""

from __future__ import annotations

import asyncio
import collections
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from swarmtui.engine import wire

LOCAL_HELLO_TIMEOUT_S = 10.0
# ssh's ConnectTimeout covers the TCP connect only: then come key exchange, authentication and a
# Python start-up on the remote side, on a host that may be busy training.
SSH_HELLO_EXTRA_S = 20.0
STDERR_LINES = 20
# Shell start-up files that print on a non-interactive login (an `echo` in .bashrc) put lines
# before the keeper's hello: skipped, up to this many.
MAX_NOISE_LINES = 50
# Lines ssh writes on success that are never the reason for a failure.
_SSH_CHATTER = ("Warning: Permanently added", "** WARNING: connection is not using a post-quantum",
                "** This session may be vulnerable", "** The server may need to be upgraded")


class ChannelError(Exception):
    """Why a keeper could not be reached, in one terminal-safe line (str(exc))."""

    def __init__(self, message: str):
        from swarmtui.node.text import sanitize

        super().__init__(" ".join(sanitize(message).split()) or "the channel failed")


@dataclass
class Channel:
    reader: asyncio.StreamReader
    writer: Any                                   # asyncio.StreamWriter: write/drain/close/is_closing
    where: str                                    # "local" or the host
    node_dir: str = ""                            # as the other side names it (a remote path)
    process: asyncio.subprocess.Process | None = None
    hello_timeout: float = LOCAL_HELLO_TIMEOUT_S
    _stderr: collections.deque = field(default_factory=lambda: collections.deque(maxlen=STDERR_LINES))
    _stderr_task: asyncio.Task | None = None

    @property
    def remote(self) -> bool:
        return self.process is not None

    def describe(self) -> str:
        """Who is at the other end, for messages."""
        if self.remote:
            return f"the keeper for {self.node_dir} on {self.where}"
        return f"the keeper at {wire.socket_path(self.node_dir)}" if self.node_dir else "the keeper"

    async def failure(self, timeout: float = 5.0) -> str | None:
        """Why an ssh channel ended, in one line, once ssh has exited (None when it has not, or
        for a local channel). Waits up to `timeout` for the exit: ssh closes its stdout a moment
        before it exits."""
        if self.process is None:
            return None
        try:
            rc = await asyncio.wait_for(self.process.wait(), timeout)
        except asyncio.TimeoutError:
            return None
        if self._stderr_task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._stderr_task), 1.0)
            except (asyncio.TimeoutError, asyncio.CancelledError, Exception):
                pass
        return classify(rc, list(self._stderr), self.where, self.node_dir)

    async def close(self) -> None:
        """Hang up; for ssh, also end the ssh process (ours: we launched it)."""
        try:
            if not self.writer.is_closing():
                self.writer.close()
        except Exception:
            pass
        proc = self.process
        if proc is not None:
            if proc.returncode is None:
                # stdin closed: ssh sends EOF, the remote bridge exits and ssh with it. A hung
                # network would keep it waiting: then the signal.
                try:
                    await asyncio.wait_for(proc.wait(), 2.0)
                except asyncio.TimeoutError:
                    _signal(proc, "terminate")
                    try:
                        await asyncio.wait_for(proc.wait(), 3.0)
                    except asyncio.TimeoutError:
                        _signal(proc, "kill")
                        await proc.wait()
            if self._stderr_task is not None and not self._stderr_task.done():
                self._stderr_task.cancel()
                try:
                    await self._stderr_task
                except (asyncio.CancelledError, Exception):
                    pass
        else:
            try:
                await self.writer.wait_closed()
            except Exception:
                pass


def _signal(proc: asyncio.subprocess.Process, how: str) -> None:
    # returncode None: not reaped yet, so the pid is still our child's and cannot be reused.
    if proc.returncode is None:
        try:
            getattr(proc, how)()
        except ProcessLookupError:
            pass


def classify(rc: int | None, stderr: list[str], host: str, node_dir: str) -> str:
    """ssh's exit status and its last stderr lines -> one line for a person."""
    lines = [ln.strip() for ln in stderr if ln.strip() and not ln.strip().startswith(_SSH_CHATTER)]
    last = lines[-1] if lines else ""
    if rc == 255:
        if not last:
            return f"ssh to {host} failed (exit 255)"
        return last if last.startswith("ssh:") else f"ssh: {last}"
    if rc == 127:
        return f"swarmtui is not installed on {host} (or not on its PATH)"
    if rc == 126:
        return f"swarmtui on {host} cannot run: {last or 'permission denied'}"
    if "no keeper runs for" in last:
        return f"no keeper runs for {node_dir} on {host}"
    if last:
        # `swarmtui attach: not an rl-swarm checkout ...`: the remote swarmtui's own line.
        for prefix in ("swarmtui attach: ", "swarmtui: "):
            if last.startswith(prefix):
                last = last[len(prefix):]
                break
        return f"{host}: {last}"
    if rc == 0:
        return f"{host}: the keeper for {node_dir} hung up"
    return f"ssh to {host} ended (exit {rc})"


def remote_words(remote_command: str, node_dir: str) -> str:
    """The command line the remote shell runs. Every word quoted, except a leading `~/`, which
    the remote shell must expand to the remote user's home (`~/rl-swarm`,
    `~/.local/bin/swarmtui`)."""
    try:
        words = shlex.split(remote_command)
    except ValueError:
        raise ChannelError(f"not a command line: {remote_command!r}") from None
    return " ".join(_remote_word(w) for w in [*(words or ["swarmtui"]), "attach", "--stdio", node_dir])


def _remote_word(word: str) -> str:
    if word == "~":
        return "~"
    if word.startswith("~/"):
        return "~/" + shlex.quote(word[2:]) if word[2:] else "~/"
    return shlex.quote(word)


def ssh_argv(host: str, node_dir: str, *, remote_command: str = "swarmtui", batch: bool = True,
             ssh_command: Sequence[str] = ("ssh",), connect_timeout: float = 10.0) -> list[str]:
    check_host(host)
    if not node_dir:
        raise ChannelError(f"no checkout named for {host}")
    if node_dir.startswith("-"):
        node_dir = "./" + node_dir          # a folder, not an option of the remote swarmtui
    argv = list(ssh_command)
    if batch:
        argv += ["-o", "BatchMode=yes"]
    argv += ["-o", f"ConnectTimeout={max(1, int(round(connect_timeout)))}",
             # A viewer stays for days: a link that died silently (a host powered off, a NAT
             # that forgot us) must end the channel, so its row or panel can say so.
             "-o", "ServerAliveInterval=15", "-o", "ServerAliveCountMax=3",
             # "--" ends ssh's options: OpenSSH reads options after the host name too.
             "--", ssh_destination(host), remote_words(remote_command, node_dir)]
    return argv


def check_host(host: str) -> str:
    """The ssh destination for `host` (ssh_destination); ChannelError when it is none: empty,
    spaced, or one ssh would read as an option."""
    dest = ssh_destination(host)
    if not dest or dest.startswith("-") or any(c.isspace() for c in host):
        raise ChannelError(f"not a host name: {host!r}")
    return dest


def ssh_destination(host: str) -> str:
    """What ssh takes for `host`: scp's brackets around an IPv6 address dropped (`user@[::1]` ->
    `user@::1`; OpenSSH would look `[::1]` up as a name). Anything else as it is."""
    user, at, name = host.rpartition("@")
    if name.startswith("[") and name.endswith("]") and ":" in name:
        return f"{user}{at}{name[1:-1]}"
    return host


def host_label(host: str) -> str:
    """A host as messages name it: an IPv6 address in brackets (`[::1]`, `op@[2001:db8::7]`), so
    that `[::1]: /srv: no such directory` does not read as one run of colons."""
    user, at, name = host.rpartition("@")
    if ":" in name and not name.startswith("["):
        return f"{user}{at}[{name}]"
    return host


def join_target(host: str, node_dir: str) -> str:
    """(host, dir) -> `HOST:DIR` as split_target reads it back: an IPv6 address in brackets."""
    return f"{host_label(host)}:{node_dir}"


async def open_local(root: Path) -> Channel:
    """The keeper's own socket on this host."""
    path = wire.socket_path(root)
    try:
        reader, writer = await asyncio.open_unix_connection(str(path), limit=wire.MAX_LINE)
    except (FileNotFoundError, ConnectionRefusedError):
        raise ChannelError(f"no keeper runs for {root}: `swarmtui start {root}` starts one "
                           "(or just `swarmtui` in the checkout)") from None
    except PermissionError:
        raise ChannelError(f"{path} belongs to another user: that keeper is not yours to attach to") from None
    except OSError as exc:
        raise ChannelError(f"cannot reach the keeper at {path}: {exc.strerror or exc}") from None
    return Channel(reader, writer, "local", node_dir=str(root))


async def open_ssh(host: str, node_dir: str, *, remote_command: str = "swarmtui", batch: bool = True,
                   ssh_command: Sequence[str] = ("ssh",), connect_timeout: float = 10.0) -> Channel:
    """`ssh HOST swarmtui attach --stdio DIR` as a channel. Returns once ssh runs; whether the
    keeper is there shows at the handshake (a ChannelError with ssh's or the remote's reason)."""
    argv = ssh_argv(host, node_dir, remote_command=remote_command, batch=batch, ssh_command=ssh_command,
                    connect_timeout=connect_timeout)
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, limit=wire.MAX_LINE,
            # In batch mode nothing is asked: its own session keeps a Ctrl-C or hang-up meant for
            # us away from it. Otherwise ssh may need our terminal (/dev/tty) for a passphrase
            # or a host key question, which only a process of our session can open.
            start_new_session=batch)
    except FileNotFoundError:
        raise ChannelError(f"{argv[0]}: not found on this host (is OpenSSH's client installed?)") from None
    except PermissionError:
        raise ChannelError(f"{argv[0]}: permission denied") from None
    assert proc.stdout is not None and proc.stdin is not None
    ch = Channel(proc.stdout, proc.stdin, host_label(host), node_dir=node_dir, process=proc,
                 hello_timeout=connect_timeout + SSH_HELLO_EXTRA_S)
    ch._stderr_task = asyncio.ensure_future(_collect_stderr(proc, ch._stderr))
    return ch


async def _collect_stderr(proc: asyncio.subprocess.Process, into: collections.deque) -> None:
    """Keep ssh's stderr drained (a full pipe would stall it) and its last lines for the reason."""
    assert proc.stderr is not None
    while True:
        try:
            line = await proc.stderr.readline()
        except (ValueError, asyncio.LimitOverrunError):
            continue
        except Exception:
            return
        if not line:
            return
        into.append(line.decode("utf-8", "replace").rstrip("\r\n")[:500])


async def handshake(ch: Channel, name: str, read_only: bool, *, timeout: float | None = None,
                    features: tuple[str, ...] = ()) -> dict:
    """Send our hello, return the keeper's. A refusal, another protocol, silence or a failed ssh
    is a ChannelError with one line. The caller then sends its request (attach, status, stop)."""
    try:
        ch.writer.write(wire.hello(name, read_only, features))
        await ch.writer.drain()
    except (ConnectionError, OSError):
        pass        # the reply (or ssh's exit) says why
    limit = ch.hello_timeout if timeout is None else timeout
    try:
        msg = await asyncio.wait_for(_first_message(ch), limit)
    except asyncio.TimeoutError:
        raise ChannelError(f"{ch.describe()} did not answer within {limit:.0f}s") from None
    if msg is None:
        why = await ch.failure()
        if why is None:
            why = f"{ch.describe()} did not answer"
        raise ChannelError(why)
    if msg["t"] == "bye":
        raise ChannelError(str(msg.get("why") or "the keeper refused this viewer"))
    if msg["t"] != "hello":
        raise ChannelError(f"{ch.describe()} answered {msg['t']!r} instead of hello")
    problem = wire.mismatch(msg, "keeper")
    if problem:
        raise ChannelError(problem)
    return msg


async def _first_message(ch: Channel) -> dict[str, Any] | None:
    noise = 0
    while True:
        try:
            line = await ch.reader.readline()
        except (ConnectionError, OSError, asyncio.IncompleteReadError):
            return None
        except (ValueError, asyncio.LimitOverrunError):
            raise ChannelError(f"{ch.describe()} sent a line too long to be the keeper protocol") from None
        if not line:
            return None
        try:
            return wire.decode(line)
        except ValueError:
            noise += 1
            if not ch.remote or noise > MAX_NOISE_LINES:
                raise ChannelError(f"{ch.describe()} does not speak the keeper protocol "
                                   f"(it said {line[:60].decode('utf-8', 'replace').strip()!r})") from None


async def request(ch: Channel, kind: str, *, name: str, timeout: float | None = None) -> list[dict[str, Any]]:
    """A short exchange (`status`, `stop`): hello, one request, every message until the keeper
    hangs up. The channel is left for the caller to close."""
    await handshake(ch, name, read_only=kind == "status", timeout=timeout)
    try:
        ch.writer.write(wire.encode(kind))
        await ch.writer.drain()
    except (ConnectionError, OSError):
        pass
    out: list[dict[str, Any]] = []
    limit = ch.hello_timeout if timeout is None else timeout

    async def read_all() -> None:
        while True:
            line = await ch.reader.readline()
            if not line:
                return
            msg = wire.decode(line)
            out.append(msg)
            if msg["t"] == "bye":
                return

    try:
        await asyncio.wait_for(read_all(), limit)
    except asyncio.TimeoutError:
        raise ChannelError(f"{ch.describe()} did not answer {kind} within {limit:.0f}s") from None
    except (ValueError, ConnectionError, OSError, asyncio.LimitOverrunError):
        raise ChannelError(f"{ch.describe()} broke off the {kind} answer") from None
    return out


async def status(ch: Channel, *, name: str = "status", timeout: float | None = None) -> dict[str, Any]:
    """The keeper's status (what `swarmtui ls` shows) over any channel."""
    for msg in await request(ch, "status", name=name, timeout=timeout):
        if msg["t"] == "status":
            return msg
    raise ChannelError(f"{ch.describe()} sent no status")


def split_target(text: str) -> tuple[str, str] | None:
    """`HOST:DIR` (scp's form) -> (host, dir); None for a local path. A colon counts only
    before any slash, and a local path that exists wins (`./a:b` is always local). `HOST:` alone
    is the remote user's home. An IPv6 address goes in brackets, as for scp: `[::1]:DIR`,
    `user@[fe80::1%eth0]:DIR` (host `user@::1`...: brackets are scp's, not ssh's)."""
    import os

    if os.path.exists(text):
        return None
    user, at, rest = "", "", text
    i = text.find("[")
    if i > 0 and text[i - 1] == "@":
        user, at, rest = text[:i - 1], "@", text[i:]
    if rest.startswith("["):
        addr, close, after = rest[1:].partition("]")
        if (not close or ":" not in addr or not after.startswith(":") or "/" in addr
                or any(c in user for c in "@/:")):
            return None
        return f"{user}{at}{addr}", after[1:] or "~"
    head, sep, tail = text.partition(":")
    if not sep or not head or "/" in head:
        return None
    return head, tail or "~"


def ssh_command_from_env() -> tuple[str, ...]:
    """SWARMTUI_SSH: the ssh to run, with its options (like GIT_SSH_COMMAND), e.g.
    `ssh -F ~/.ssh/fleet_config`. Default: ssh from PATH."""
    import os

    value = os.environ.get("SWARMTUI_SSH", "").strip()
    if not value:
        return ("ssh",)
    try:
        words = shlex.split(value)
    except ValueError:
        raise ChannelError(f"SWARMTUI_SSH is not a command line: {value!r}") from None
    return tuple(os.path.expanduser(w) for w in words) or ("ssh",)
