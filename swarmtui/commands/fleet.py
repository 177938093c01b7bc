"""`swarmtui fleet [start|stop|restart] [NAME...]` and `swarmtui ls --fleet`: the nodes of a
fleet file (engine.fleet_file), each kept by its own keeper, local or over ssh.

Starting a local node starts its keeper (`supervise --background`, as `swarmtui start` does)
with the node's name, its environment and its config overrides (a JSON file in the node's state
dir), after the pre-flight of the whole fleet. A remote node is started with
`ssh HOST swarmtui start --name NAME DIR` (its env passed by `env`). Stop and restart are keeper
commands over the node's channel: the keeper stays, so the overview keeps showing the node, and
`swarmtui stop DIR` still ends the keeper itself.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

from swarmtui.engine import events as ev
from swarmtui.engine import wire
from swarmtui.engine.fleet_file import Fleet, FleetNode, load_fleet
from swarmtui.errors import UserError
from swarmtui.node.text import sanitize, terminal_json

OVERRIDES_FILE = "fleet-overrides.json"
STOP_WAIT_S = 120.0         # the node's own stop sequence (SIGINT, SIGTERM, sweep) runs first
START_WAIT_S = 30.0


def run(args) -> int:
    fleet = load_fleet(args.fleet)
    if args.action is None:
        if args.names:
            raise UserError(f"fleet: {args.names[0]!r} is not start, stop or restart (the overview takes no names)")
        from swarmtui.tui.fleet_app import run_overview

        return run_overview(fleet, config_path=getattr(args, "config", None))
    nodes = fleet.pick(args.names)
    results = do_actions(fleet, nodes, args.action, config_path=getattr(args, "config", None))
    failed = 0
    for name, ok, line in results:
        print(sanitize(f"{name}: {line}"))
        failed += not ok
    return 1 if failed else 0


def plan_for(fleet: Fleet, nodes: list[FleetNode], action: str, config_path: str | None) -> dict[str, Any]:
    """For a start: the local nodes' plans (env, overrides, ports) after the pre-flight of the
    whole fleet (FleetError: one line); nothing to plan for the other actions."""
    if action != "start":
        return {}
    from swarmtui.engine.config import load_config
    from swarmtui.engine.fleet_file import plan_fleet

    base = load_config(Path(config_path).expanduser() if config_path else None)
    return {p.node.name: p for p in plan_fleet(fleet, base, [n for n in nodes if n.local])}


def do_actions(fleet: Fleet, nodes: list[FleetNode], action: str, *, config_path: str | None = None
               ) -> list[tuple[str, bool, str]]:
    """(name, ok, one line) per node, in the fleet file's order. The nodes are handled at once
    (a slow host does not hold up the others)."""
    plans = plan_for(fleet, nodes, action, config_path)

    async def all_of() -> list[tuple[str, bool, str]]:
        return list(await asyncio.gather(*(act(n, action, plan=plans.get(n.name), config_path=config_path)
                                           for n in nodes)))

    return asyncio.run(all_of())


async def act(node: FleetNode, action: str, *, plan: Any = None, config_path: str | None = None
              ) -> tuple[str, bool, str]:
    from swarmtui.engine.channel import ChannelError

    try:
        if action == "start":
            return node.name, True, await _start(node, plan, config_path)
        return node.name, True, await _command(node, action)
    except (ChannelError, UserError) as exc:
        return node.name, False, str(exc)


async def open_channel(node: FleetNode, *, connect_timeout: float = 10.0) -> Any:
    from swarmtui.engine import channel
    from swarmtui.engine.fleet_watch import ssh_command

    if node.local:
        return await channel.open_local(node.path)
    return await channel.open_ssh(node.host or "", node.dir, remote_command=node.remote_command, batch=True,
                                  ssh_command=ssh_command(), connect_timeout=connect_timeout)


async def _attached(node: FleetNode, name: str = "fleet") -> tuple[Any, str]:
    """A channel attached to the node's keeper, and the node's state from the snapshot."""
    from swarmtui.engine.channel import handshake

    ch = await open_channel(node)
    try:
        await handshake(ch, name, False)
        ch.writer.write(wire.encode("attach"))
        state = ev.STOPPED
        while True:
            msg = await _next(ch, START_WAIT_S)
            if msg is None:
                raise UserError(await ch.failure(2.0) or "the keeper hung up")
            if msg["t"] == "snapshot":
                for data in msg.get("events") or []:
                    if data.get("event") == "state":
                        state = str(data.get("state"))
                return ch, state
    except BaseException:
        await ch.close()
        raise


async def _next(ch: Any, timeout: float) -> dict[str, Any] | None:
    line = await asyncio.wait_for(ch.reader.readline(), timeout)
    if not line:
        return None
    try:
        return wire.decode(line)
    except ValueError:
        return {"t": "noise"}


async def _until(ch: Any, done, timeout: float) -> str | None:
    """Read live events until done(state event) is true; the state, or None at the time limit."""
    end = time.monotonic() + timeout
    while True:
        left = end - time.monotonic()
        if left <= 0:
            return None
        try:
            msg = await _next(ch, left)
        except asyncio.TimeoutError:
            return None
        if msg is None:
            return None
        if msg["t"] == "refused":
            raise UserError(f"the keeper refused: {msg.get('why')}")
        if msg["t"] == "event" and (msg.get("e") or {}).get("event") == "state":
            e = msg["e"]
            if done(e):
                return str(e.get("state")) + (f" ({e.get('reason')})" if e.get("reason") else "")


async def _command(node: FleetNode, action: str) -> str:
    ch, state = await _attached(node)
    try:
        if action == "stop":
            if state == ev.STOPPED:
                return "already stopped"
            ch.writer.write(wire.encode("command", c=ev.StopNode(reason="manual").to_dict()))
            got = await _until(ch, lambda e: e.get("state") == ev.STOPPED, STOP_WAIT_S)
            return f"stopped (the keeper stays: `swarmtui fleet start {node.name}` starts it)" if got else \
                f"asked to stop; not stopped within {STOP_WAIT_S:.0f}s (the overview shows how it goes)"
        if action == "restart":
            ch.writer.write(wire.encode("command", c=ev.RestartNode(reason="manual").to_dict()))
            got = await _until(ch, lambda e: e.get("state") in (ev.STARTING, ev.RUNNING), STOP_WAIT_S)
            return f"restarted: {got}" if got else "asked to restart (the overview shows how it goes)"
        if action == "start":
            if state in (ev.RUNNING, ev.STARTING, ev.LOGIN_REQUIRED):
                return f"already {state}"
            ch.writer.write(wire.encode("command", c=ev.StartNode().to_dict()))
            got = await _until(ch, lambda e: e.get("state") in (ev.STARTING, ev.RUNNING, ev.NEEDS_USER), START_WAIT_S)
            return f"started: {got}" if got else "asked to start (the overview shows how it goes)"
        raise UserError(f"unknown action {action!r}")
    finally:
        await ch.close()


async def _start(node: FleetNode, plan: Any, config_path: str | None) -> str:
    from swarmtui.engine.channel import ChannelError

    if node.local:
        return await asyncio.get_running_loop().run_in_executor(None, _start_local, node, plan, config_path)
    try:
        return await _command(node, "start")
    except ChannelError as exc:
        if "no keeper runs" not in str(exc):
            raise
    return await _start_remote(node)


def _start_local(node: FleetNode, plan: Any, config_path: str | None) -> str:
    from swarmtui import paths
    from swarmtui.commands.keepers import ensure_keeper, keeper_log
    from swarmtui.safefile import ensure_private_dir, write_atomic

    overrides = None
    if node.config:
        overrides = paths.node_state_dir(plan.root) / OVERRIDES_FILE
        ensure_private_dir(overrides.parent, within=paths.state_dir())
        write_atomic(overrides, (json.dumps(node.config, indent=1, sort_keys=True) + "\n").encode())
    status, started = ensure_keeper(plan.root, config_path, name=node.name, overrides=overrides, env=plan.env)
    if started:
        return f"keeper started (pid {status['pid']}, log {keeper_log(plan.root)})"
    if status.get("name") not in (None, node.name):
        # A keeper started by hand (`swarmtui start`) keeps its own name and environment.
        note = f"; it was started as {status.get('name')!r}, not from the fleet (its env and overrides are its own)"
    else:
        note = ""
    if status.get("state") in (ev.RUNNING, ev.STARTING, ev.LOGIN_REQUIRED):
        return f"already {status.get('state')} (keeper pid {status['pid']}){note}"
    line = asyncio.run(_command(node, "start"))
    return line + note


async def _start_remote(node: FleetNode) -> str:
    from swarmtui.commands.over_ssh import remote_line, ssh_run_argv
    from swarmtui.engine.channel import classify
    from swarmtui.engine.fleet_watch import ssh_command

    line = remote_line(node.remote_command, "start", node.dir, options=("--name", node.name), env=node.env)
    argv = ssh_run_argv(node.host or "", line, ssh_command())
    proc = await asyncio.create_subprocess_exec(*argv, stdin=asyncio.subprocess.DEVNULL,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                                                start_new_session=True)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), 60)
    except asyncio.TimeoutError:
        proc.kill()         # our own ssh child, not reaped yet: its pid is still ours
        await proc.wait()
        raise UserError(f"ssh {node.host}: no answer within 60s") from None
    if proc.returncode != 0:
        raise UserError(classify(proc.returncode, err.decode("utf-8", "replace").splitlines(), node.host or "",
                                 node.dir))
    lines = [ln for ln in out.decode("utf-8", "replace").splitlines() if ln.strip()]
    return lines[0] if lines else "keeper started"


# ---------------------------------------------------------------- ls --fleet


def run_ls_fleet(args) -> int:
    from swarmtui.engine.history import fmt_uptime

    fleet = load_fleet(args.fleet or None)
    rows = asyncio.run(_statuses(fleet))
    if args.json:
        for row in rows:
            sys.stdout.write(terminal_json(row) + "\n")
        return 0
    table = [("NAME", "HOST", "STATE", "UPTIME", "ROUND", "RESTARTS 24H", "PID")]
    for r in rows:
        state = r["state"] + (f" ({r['reason']})" if r.get("reason") else "")
        if r["state"] in ("unreachable", "no-keeper"):
            state = f"{r['state']}: {r.get('reason') or '?'}"
        table.append((r["name"], r["host"], state, fmt_uptime(r.get("uptime_s")),
                      "-" if r.get("round") is None else str(r["round"]),
                      "-" if r.get("restarts_24h") is None else str(r["restarts_24h"]),
                      str(r.get("pid") or "-")))
    widths = [max(len(sanitize(row[i])) for row in table) for i in range(len(table[0]))]
    for row in table:
        print("  ".join(sanitize(c).ljust(w) for c, w in zip(row, widths)).rstrip())
    return 0


async def _statuses(fleet: Fleet) -> list[dict[str, Any]]:
    return list(await asyncio.gather(*(_status(n) for n in fleet.nodes)))


async def _status(node: FleetNode) -> dict[str, Any]:
    from swarmtui.engine.channel import ChannelError, handshake

    base = {"name": node.name, "host": node.where, "dir": node.dir}
    try:
        ch = await open_channel(node)
        try:
            await handshake(ch, "ls", True)
            ch.writer.write(wire.encode("status"))
            while True:
                msg = await _next(ch, 15.0)
                if msg is None:
                    raise ChannelError(await ch.failure(2.0) or "the keeper hung up without a status")
                if msg["t"] == "status":
                    st = {k: v for k, v in msg.items() if k != "t"}
                    st.pop("name", None)
                    return {**base, **st}
        finally:
            await ch.close()
    except ChannelError as exc:
        text = str(exc)
        state = "no-keeper" if "no keeper runs" in text else "unreachable"
        if state == "no-keeper" and node.local:
            text = _last_keeper(node) or text
        return {**base, "state": state, "reason": text}
    except asyncio.TimeoutError:
        return {**base, "state": "unreachable", "reason": "no status within 15s"}


def _last_keeper(node: FleetNode) -> str:
    """For a local node with no keeper: when its last keeper ended (keeper.json), in words."""
    from swarmtui.engine.keeper import read_state

    try:
        state = read_state(node.path.resolve())
    except OSError:
        return ""
    if state is None:
        return f"no keeper runs (`swarmtui fleet start {node.name}`)"
    if state.ended:
        return f"no keeper since {state.ended.replace('T', ' ')} (`swarmtui fleet start {node.name}`)"
    return f"its keeper (pid {state.pid}) died without a word (`swarmtui fleet start {node.name}`)"

