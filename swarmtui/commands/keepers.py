"""`swarmtui start | attach | stop | ls`: the background keeper and the ways to reach it.

A background keeper is `swarmtui supervise NODE_DIR --background` in its own session, with its
output in <state dir>/keeper.log and no terminal at all, so no hang-up, closed SSH session or
killed tmux server can reach it. Everything else talks to it over its socket (engine.wire).
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from swarmtui.errors import UserError

START_WAIT_S = 20.0             # a keeper answers within a second; a loaded box may take longer


def _root(node_dir: str) -> Path:
    from swarmtui.node.layout import inspect_checkout

    return inspect_checkout(Path(node_dir).expanduser()).root       # NotACheckout: one line


def status_of(root: Path) -> dict[str, Any] | None:
    """The keeper's status, or None when no keeper answers on the checkout's socket."""
    from swarmtui.engine import wire

    try:
        msgs = wire.ask(root, "status", name="status")
    except (wire.NoKeeper, OSError, ValueError):
        return None
    for m in msgs:
        if m["t"] == "status":
            return m
    return None


def keeper_log(root: Path) -> Path:
    from swarmtui import paths

    return paths.node_state_dir(root) / "keeper.log"


def spawn_keeper(root: Path, config: str | None, *, name: str | None = None, overrides: Path | None = None,
                 env: dict[str, str] | None = None) -> int:
    """Start `supervise --background` detached from us (double fork: it is nobody's child, so no
    zombie is left with a panel that runs for days) and return its pid. A fleet node's keeper
    also gets its name, its config overrides file and its environment (`env`, over ours)."""
    from swarmtui.safefile import ensure_private_dir, open_append
    from swarmtui import paths

    log_path = keeper_log(root)
    ensure_private_dir(log_path.parent, within=paths.state_dir())
    log_fd = open_append(log_path)
    argv = [sys.executable, "-m", "swarmtui", "supervise", str(root), "--background"]
    if config:
        argv += ["--config", str(Path(config).expanduser().resolve())]
    if name:
        argv += ["--name", name]
    if overrides is not None:
        argv += ["--overrides", str(overrides)]
    child_env = {**os.environ, **env} if env else None
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:                                    # pragma: no cover - runs in the child
        try:
            os.close(r)
            os.setsid()
            if os.fork():
                os._exit(0)
            null = os.open(os.devnull, os.O_RDONLY)
            os.dup2(null, 0)
            os.dup2(log_fd, 1)
            os.dup2(log_fd, 2)
            os.write(w, str(os.getpid()).encode())
            os.close(w)
            for sig in (signal.SIGINT, signal.SIGQUIT, signal.SIGHUP, signal.SIGTERM, signal.SIGPIPE):
                signal.signal(sig, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_SETMASK, ())
            os.chdir(str(root))
            if child_env is not None:
                os.execve(sys.executable, argv, child_env)
            os.execv(sys.executable, argv)
        finally:
            os._exit(127)
    os.close(w)
    os.close(log_fd)
    os.waitpid(pid, 0)
    data = b""
    while True:
        chunk = os.read(r, 64)
        if not chunk:
            break
        data += chunk
    os.close(r)
    try:
        return int(data)
    except ValueError:
        raise UserError(f"could not start a keeper for {root}; see {log_path}") from None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:                # a zombie is gone for our purpose
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] not in (b"Z", b"X")
    except OSError:
        return True


def ensure_keeper(root: Path, config: str | None, say=lambda text: None, **spawn: Any) -> tuple[dict[str, Any], bool]:
    """The checkout's keeper's status, starting one first if none answers (with spawn_keeper's
    keyword arguments). Returns (status, started_now)."""
    from swarmtui.engine.keeper import how_to_reach, read_state

    status = status_of(root)
    if status is not None:
        return status, False
    pid = spawn_keeper(root, config, **spawn)
    say(f"starting a keeper for {root} (pid {pid}, log {keeper_log(root)})")
    end = time.monotonic() + START_WAIT_S
    while time.monotonic() < end:
        status = status_of(root)
        if status is not None:
            return status, True
        if not _alive(pid):
            break
        time.sleep(0.05)
    last = _last_line(keeper_log(root))
    if _alive(pid):
        raise UserError(f"the keeper (pid {pid}) did not answer within {START_WAIT_S:.0f}s; see {keeper_log(root)}")
    if "already kept by" in last:
        # Another keeper holds the checkout but does not answer on the socket (one of an older
        # swarmtui, or one still starting): say who it is.
        raise UserError(f"the node in {root} is kept by {how_to_reach(read_state(root))}, which does not "
                        "answer on its socket")
    raise UserError(f"the keeper for {root} exited at once: {last or 'see ' + str(keeper_log(root))}")


def _last_line(path: Path) -> str:
    from swarmtui.node.text import sanitize
    from swarmtui.safefile import read_tail

    try:
        data, _ = read_tail(path, 4096)
    except OSError:
        return ""
    lines = [ln for ln in data.decode("utf-8", "replace").splitlines() if ln.strip()]
    return sanitize(lines[-1]) if lines else ""


# ---------------------------------------------------------------- commands


def _remote_target(args) -> tuple[str, str] | None:
    """HOST:DIR for start/stop (commands/over_ssh.py); None for a folder of this host."""
    from swarmtui.engine.channel import split_target

    remote = split_target(args.node_dir)
    if remote is not None and getattr(args, "config", None):
        from swarmtui.engine.channel import host_label

        raise UserError(f"--config is for a keeper of this host; on {host_label(remote[0])} its own config file applies")
    if remote is not None and getattr(args, "name", None):
        raise UserError("--name is for fleet nodes; `swarmtui fleet start` names them")
    return remote


def run_start(args) -> int:
    from swarmtui.node.text import sanitize

    remote = _remote_target(args)
    if remote is not None:
        from swarmtui.commands.over_ssh import run_remote

        return run_remote("start", *remote, remote_command=args.remote_command)
    root = _root(args.node_dir)
    if getattr(args, "config", None) and not Path(args.config).expanduser().is_file():
        raise UserError(f"config file not found: {args.config}")
    name = getattr(args, "name", None)
    if name is not None:
        from swarmtui.engine.fleet_file import NAME

        if not NAME.match(name):
            raise UserError(f"--name {name!r}: 1-32 letters, digits, '.', '_' or '-'")
    status, started = ensure_keeper(root, getattr(args, "config", None), name=name)
    what = "started" if started else "already running"
    print(sanitize(f"keeper {what} for {root}: pid {status['pid']}, state {status['state']}"
                   + (f" ({status['reason']})" if status.get("reason") else "")))
    print(sanitize(f"  attach: swarmtui attach {root}    stop: swarmtui stop {root}    log: {keeper_log(root)}"))
    return 0


def run_attach(args) -> int:
    from swarmtui.engine.channel import split_target

    remote = split_target(args.node_dir)
    if getattr(args, "stdio", False):
        if remote is not None:
            raise UserError("--stdio bridges a keeper of this host: give its folder, not HOST:DIR")
        return _bridge_stdio(_root(args.node_dir))
    if remote is not None:
        from swarmtui.commands.panel import open_remote

        return open_remote(*remote, read_only=bool(args.read_only),
                           remote_command=getattr(args, "remote_command", None) or "swarmtui")
    from swarmtui.commands.panel import open_attached

    return open_attached(Path(args.node_dir).expanduser(), read_only=bool(args.read_only), start=False)


def run_stop(args) -> int:
    """Ask the keeper to stop the node with its full sequence and exit; follow it to the end."""
    from swarmtui.commands.supervise import Printer
    from swarmtui.engine import events as ev
    from swarmtui.engine import wire

    remote = _remote_target(args)
    if remote is not None:
        from swarmtui.commands.over_ssh import run_remote

        return run_remote("stop", *remote, remote_command=args.remote_command)
    root = _root(args.node_dir)
    try:
        s = wire.connect(wire.socket_path(root))
    except wire.NoKeeper:
        raise UserError(f"no keeper runs for {root}: nothing to stop", exit_code=1) from None
    printer = Printer(as_json=False, lines=False)
    s.sendall(wire.hello("stop") + wire.encode("stop"))
    pid = None
    for msg in wire.messages(s):
        if msg["t"] == "hello":
            pid = msg.get("pid")
        elif msg["t"] == "event":
            try:
                event = ev.Event.from_dict(msg["e"])
            except (KeyError, TypeError, ValueError):
                continue
            if isinstance(event, (ev.StateChanged, ev.StopStep, ev.HistoryAppended, ev.OrphanKilled)):
                printer.emit(event)
        elif msg["t"] == "refused":
            raise UserError(f"the keeper refused to stop: {msg.get('why')}")
    s.close()
    # The keeper closes the socket just before it exits: wait for the process itself.
    end = time.monotonic() + 10
    while pid and _alive(int(pid)) and time.monotonic() < end:
        time.sleep(0.05)
    print(f"keeper {pid} stopped; the node is stopped")
    return 0


def run_ls(args) -> int:
    if getattr(args, "fleet", None) is not None:
        from swarmtui.commands.fleet import run_ls_fleet

        return run_ls_fleet(args)
    from swarmtui.engine import wire
    from swarmtui.engine.history import fmt_uptime
    from swarmtui.node.text import sanitize, terminal_json

    found = []
    d = wire.runtime_dir()
    try:
        socks = sorted(p for p in d.iterdir() if p.name.endswith(".sock"))
    except OSError:
        socks = []
    for path in socks:
        try:
            msgs = wire.ask_path(path, "status", name="ls", timeout=3.0)
        except wire.NoKeeper:
            continue            # a keeper that was killed left its socket: it keeps nothing
        except (OSError, ValueError):
            continue
        found.extend(m for m in msgs if m["t"] == "status")
    if args.json:
        for st in found:
            st = {k: v for k, v in st.items() if k != "t"}
            sys.stdout.write(terminal_json(st) + "\n")
        return 0
    if not found:
        print("no keeper runs (start one: swarmtui start NODE_DIR)")
        return 0
    rows = [("CHECKOUT", "STATE", "UPTIME", "ROUND", "RESTARTS 24H", "VIEWERS", "PID")]
    for st in found:
        rows.append((st["checkout"], st["state"] + (f" ({st['reason']})" if st.get("reason") else ""),
                     fmt_uptime(st.get("uptime_s")), "-" if st.get("round") is None else str(st["round"]),
                     "-" if st.get("restarts_24h") is None else str(st["restarts_24h"]),
                     str(st.get("viewers", 0)), str(st["pid"])))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print(sanitize("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()))
    return 0


def _bridge_stdio(root: Path) -> int:
    """`ssh HOST swarmtui attach --stdio DIR`: the keeper protocol over this process's stdin and
    stdout, byte for byte, so a remote viewer needs no port of ours (SSH carries it).

    It ends when either side does: the keeper hangs up (its bytes are all written out first), or
    stdin closes (the viewer, or ssh, went away; the keeper is told by a half-close and given a
    moment to finish). Whatever goes wrong is one line on stderr and exit 1: the viewer at the
    other end of ssh reads that line as the reason."""
    import select
    import socket

    from swarmtui.engine import wire

    try:
        s = wire.connect(wire.socket_path(root))
    except wire.NoKeeper:
        raise UserError(f"no keeper runs for {root}", exit_code=1) from None
    except PermissionError:
        raise UserError(f"the keeper's socket for {root} belongs to another user", exit_code=1) from None
    except OSError as exc:
        raise UserError(f"cannot reach the keeper for {root}: {exc.strerror or exc}", exit_code=1) from None
    try:
        _pump_stdio(s, select, socket)
    except BrokenPipeError:
        return 0            # the viewer stopped reading: it left, nothing to report to anyone
    except OSError as exc:
        raise UserError(f"the connection to the keeper for {root} broke: {exc.strerror or exc}", exit_code=1) from None
    finally:
        s.close()
    return 0


BRIDGE_LINGER_S = 10.0          # after the viewer's EOF, how long a keeper may take to hang up


def _pump_stdio(s, select, socket) -> None:
    poller = select.poll()
    poller.register(s.fileno(), select.POLLIN)
    poller.register(0, select.POLLIN)
    poller.register(1, 0)           # POLLERR/POLLHUP only: the reader of our stdout went away
    deadline = None
    while True:
        timeout_ms = None if deadline is None else max(0, int((deadline - time.monotonic()) * 1000))
        ready = poller.poll(timeout_ms)
        if not ready and deadline is not None:
            return                  # the viewer left and the keeper did not hang up: we do
        for fd, flags in ready:
            if fd == 1:
                raise BrokenPipeError()
            if fd == 0:
                data = os.read(0, 1 << 16) if flags & (select.POLLIN | select.POLLHUP | select.POLLERR) else b""
                if data:
                    s.sendall(data)
                    continue
                poller.unregister(0)
                try:
                    s.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                deadline = time.monotonic() + BRIDGE_LINGER_S
            else:
                data = s.recv(1 << 16)
                if not data:
                    return
                view = memoryview(data)
                while view:
                    view = view[os.write(1, view):]
