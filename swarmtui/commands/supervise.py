"""`swarmtui supervise [NODE_DIR] [--config FILE] [--json] [--lines]`: run and keep alive a node
without a screen (systemd, nohup, tmux), printing one line per engine event.

Signals: SIGTERM / SIGINT stop the node cleanly (the full stop sequence) and exit 0; a second
one kills what is left at once. SIGHUP is ignored: the node keeps running under a dead terminal.
SIGUSR1 restarts the node now, recorded with reason `manual` (or starts it when it waits for you).
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import os
import signal
import sys
from pathlib import Path
from typing import Any, TextIO

from swarmtui.engine import events as ev
from swarmtui.node.text import sanitize, terminal_json


# node.identity's problem codes for a secret that others can read (its start-up lines say them).
_EXPOSURE_PROBLEMS = ("pem-mode", "secret-readable")


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = int(round(seconds))
    if s >= 3600:
        return f"{s // 3600}h{(s % 3600) // 60:02d}m"
    if s >= 60:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{seconds:.3g}s" if seconds < 10 else f"{s}s"


def _signal_name(num: int | None) -> str:
    try:
        return signal.Signals(num).name if num else ""
    except ValueError:
        return f"signal {num}"


class Printer:
    """Turns engine events into output lines: human (one short line each) or JSON lines."""

    def __init__(self, *, as_json: bool, lines: bool, out: TextIO | None = None):
        self.as_json = as_json
        self.lines = lines
        self.out = out or sys.stdout
        self.dead = False
        self._procs: tuple | None = None
        self._progress: tuple | None = None
        self.pid = os.getpid()

    def write(self, text: str) -> None:
        if self.dead:
            return
        try:
            self.out.write(text + "\n")
            self.out.flush()
        except (OSError, ValueError):
            # The terminal is gone (SIGHUP ignored on purpose): keep supervising, stop printing.
            self.dead = True

    def note(self, text: str) -> None:
        """A message from supervise itself (not the engine)."""
        if self.as_json:
            self.write(terminal_json({"ts": ev.utc_now_iso(), "event": "supervise", "text": text}))
        else:
            self.write(f"{_local_time()} supervise  {sanitize(text)}")

    def emit(self, event: ev.Event) -> None:
        if isinstance(event, ev.LinesOut) and not self.lines:
            return
        if isinstance(event, ev.ProcessSnapshot):
            # Short-lived helpers (sleep, curl, sed) come and go all the time: only the node's
            # own processes make the tree "change".
            key = tuple(sorted((p.pid, p.role, p.ours) for p in event.procs if p.role != "other" or not p.ours))
            if key == self._procs:
                return          # CPU and memory change every snapshot; print when the tree does
            self._procs = key
        if isinstance(event, ev.HostStats):
            return              # every 2 s, for the panel's host strip and /metrics, not a log line
        if isinstance(event, ev.ProgressUpdate) and not self.as_json:
            key = (event.round, event.stage, event.rounds_completed)
            if key == self._progress:
                return
            self._progress = key
        if self.as_json:
            data = event.to_dict()
            ts = data.pop("ts", "") or ev.utc_now_iso()
            self.write(terminal_json({"ts": ts, **data}, separators=(",", ":")))
            return
        # The one place every human line passes: node lines, matched text, prompts, command
        # lines, paths. The engine cleans node output already; this covers everything else.
        for line in self.human(event):
            self.write(f"{_event_time(event.ts)} {event.kind:<10} {sanitize(line)}")

    def human(self, e: ev.Event) -> list[str]:
        if isinstance(e, ev.StateChanged):
            text = e.state + (f" ({e.reason})" if e.reason else "") + (f": {e.detail}" if e.detail else "")
            if e.next_restart_in is not None:
                text += f"; next start in {_duration(e.next_restart_in)}"
            if e.state == ev.NEEDS_USER and e.next_restart_in is not None:
                text += f"  [it tries again by itself; `kill -USR1 {self.pid}` starts it now, Ctrl-C quits]"
            elif e.state == ev.NEEDS_USER:
                text += f"  [fix it, then `kill -USR1 {self.pid}` to start again, or Ctrl-C to quit]"
            return [text]
        if isinstance(e, ev.PromptSeen):
            shown = repr(sanitize(e.text).strip())      # the words the panel shows, quoted
            if e.answered:
                return [f"answered {shown} (from [answers] {e.rule})" + (" (secret, not shown)" if e.secret else "")]
            return [f"NOT ANSWERED {shown}: {e.reason or 'no [answers] rule knows this prompt'}"]
        if isinstance(e, ev.Detected):
            where = f"{e.source}:{e.line}: " if e.source not in ("engine", "progress") else ""
            return [f"{e.id} [{e.action}] {where}{e.text[:200]}"]
        if isinstance(e, ev.RestartScheduled):
            when = "at once" if e.delay_s < 0.5 else f"in {_duration(e.delay_s)}"
            return [f"{e.reason}: restart {e.attempt} in a row, {when}"
                    if e.attempt else f"{e.reason}: restarting now"]
        if isinstance(e, ev.Exited):
            how = f"killed by {_signal_name(e.signal)}" if e.signal else f"exit code {e.code}"
            return [f"the launcher ended ({how}) after {_duration(e.uptime_s)}"]
        if isinstance(e, ev.OrphanKilled):
            return [f"{e.signal} {e.pid} ({e.proof}): {e.cmdline[:160]}"]
        if isinstance(e, ev.StopStep):
            return [f"{e.step}: {e.detail}"]
        if isinstance(e, ev.ProgressUpdate):
            at = f"round {e.round}" if e.round is not None else "no round yet"
            if e.stage is not None:
                at += f" stage {e.stage}"
            return [f"{at}; {e.rounds_completed} round(s) completed"
                    + (f", {len(e.rounds_skipped)} skipped" if e.rounds_skipped else "")]
        if isinstance(e, ev.RoundTrends):
            last = e.rounds[-1] if e.rounds else None
            if last is None:
                return ["no rounds remembered yet"]
            took = f" took {_duration(last['duration_s'])}" if last.get("duration_s") is not None else ""
            reward = f", reward {last['reward']:.3g}" if last.get("reward") is not None else ""
            return [f"round {last.get('round')}{took}{reward} ({len(e.rounds)} round(s) remembered)"]
        if isinstance(e, ev.ProcessSnapshot):
            ours = [p for p in e.procs if p.ours and p.role != "other"]
            helpers = sum(1 for p in e.procs if p.ours and p.role == "other")
            text = (f"{len(ours)} of ours: " + ", ".join(f"{p.role} {p.pid}" for p in ours)) if ours else "none of ours"
            if helpers:
                text += f" (+{helpers} helper{'s' if helpers > 1 else ''})"
            strangers = [p for p in e.procs if not p.ours]
            if strangers:
                text += "; in the way: " + ", ".join(f"{p.pid} ({p.conflict})" for p in strangers)
            return [text]
        if isinstance(e, ev.IdentityChanged):
            r = e.report
            problems = [p for p in r.get("problems") or [] if isinstance(p, dict)]
            exposed = [p for p in problems if p.get("code") in _EXPOSURE_PROBLEMS]
            text = f"swarm.pem {r.get('pem_state')}"
            if any(p.get("code") == "pem-mode" for p in exposed):
                text += f" but readable by others (mode {r.get('pem_mode')})"   # never a bare "ok" then
            if r.get("peer_id"):
                text += f": peer {r['peer_id']} ({r.get('animal_name') or 'no name'})"
            login = r.get("login") or {}
            text += f"; login {'present' if login.get('user_data') else 'absent'}"
            # The pre-flight reports a pem that blocks the start; a key readable by others does
            # not block it, so this is the only place a headless node's owner hears of it.
            return [text] + [f"PROBLEM {p.get('message')}; fix: {p.get('fix')}" for p in exposed]
        if isinstance(e, ev.LoginRequired):
            return [f"LOGIN NEEDED (waiting for {e.waiting_for}): open {e.url} in a browser; "
                    f"from another machine first run: {e.ssh_hint}"]
        if isinstance(e, ev.HistoryLoaded):
            last = e.records[-1] if e.records else None
            return [f"{len(e.records)} earlier record(s) in the history"
                    + (f", the last: {last.get('action')} ({last.get('reason')}) at {last.get('time')}" if last else "")]
        if isinstance(e, ev.HistoryAppended):
            r = e.record
            loss = r.get("reward_loss")
            return [f"recorded {r.get('action')} ({r.get('reason')}) after {_duration(r.get('uptime_s'))}"
                    + (f", {len(r.get('orphans_killed') or [])} orphan(s) killed" if r.get("orphans_killed") else "")
                    + ("; rewards may have been lost" if loss is True else "")]
        if isinstance(e, ev.PreflightFailed):
            return [f"cannot start: {p}" for p in e.problems]
        if isinstance(e, ev.ActionDone):
            return [f"{e.action} {'done' if e.ok else 'FAILED'}: {e.detail}"
                    + (f" (backups: {', '.join(e.backups)})" if e.backups else "")]
        if isinstance(e, ev.Notice):
            return [f"{e.level}: {e.text}"]
        if isinstance(e, ev.LinesOut):
            return [f"{ln.source}:{ln.line}: {ln.text}" for ln in e.lines]
        return [terminal_json(e.to_dict())]


def _local_time() -> str:
    return _dt.datetime.now().strftime("%H:%M:%S")


def _event_time(ts: str) -> str:
    try:
        t = _dt.datetime.fromisoformat(ts.replace("Z", "+00:00"))
        return t.astimezone().strftime("%H:%M:%S")
    except ValueError:
        return _local_time()


async def supervise(sup: Any, printer: Printer, *, fanout: Any = None, kind: str = "supervise",
                    exports: Any = None) -> int:
    """Run the keeper until a signal or `swarmtui stop` says otherwise. With `fanout`, it also
    serves the checkout's socket, so panels attach to it (engine.keeper_server); with `exports`,
    it sends alerts and runs hooks (engine.exports)."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    force = asyncio.Event()
    reason = {"why": "signal"}

    def on_stop(name: str) -> None:
        if not stop.is_set():
            printer.note(f"{name}: stopping the node (again to kill it at once)")
            stop.set()
        else:
            printer.note(f"{name} again: killing the node now")
            sup.emergency_kill()
            force.set()

    def stop_asked(why: str) -> None:
        # `swarmtui stop`: a person asked, recorded as `manual` (a signal is `signal`).
        if not stop.is_set():
            reason["why"] = why
            printer.note("asked to stop: stopping the node, then exiting")
            stop.set()

    def on_restart() -> None:
        printer.note("SIGUSR1: restarting the node now")
        sup.send(ev.RestartNode(reason="manual"))

    def on_hup() -> None:
        printer.note("SIGHUP ignored: the node keeps running (SIGTERM or Ctrl-C stops it)")

    handlers = {signal.SIGTERM: (on_stop, "SIGTERM"), signal.SIGINT: (on_stop, "SIGINT"),
                signal.SIGUSR1: (on_restart,), signal.SIGHUP: (on_hup,)}
    for sig, (fn, *args) in handlers.items():
        loop.add_signal_handler(sig, fn, *args)
    server = None
    try:
        if exports is not None:
            await exports.start()
        if fanout is not None:
            from swarmtui.engine.keeper_server import KeeperServer

            server = KeeperServer(sup.layout.root, fanout, send=sup.send, stop=stop_asked, kind=kind,
                                  state=lambda: keeper_status(sup, fanout, server, kind), note=printer.note)
            await server.start()
            printer.note(f"serving {server.path}: `swarmtui attach {sup.layout.root}` opens the panel on this node")
        start = asyncio.ensure_future(sup.start())
        stopper = asyncio.ensure_future(stop.wait())
        await asyncio.wait({start, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if start.done() and start.exception() is not None:
            raise start.exception()
        await stop.wait()
        if not start.done():
            await start
        # Recorded as `signal`: systemd, kill or Ctrl-C told swarmtui to stop (a person's key or
        # `swarmtui stop` is `manual`, and SIGUSR1's restart is recorded so).
        closer = asyncio.ensure_future(sup.close(stop_node=True, reason=reason["why"]))
        forcer = asyncio.ensure_future(force.wait())
        await asyncio.wait({closer, forcer}, return_when=asyncio.FIRST_COMPLETED)
        forcer.cancel()
        if closer.done():
            closer.result()
        else:
            closer.cancel()
            return 130
        return 0
    finally:
        for sig in handlers:
            loop.remove_signal_handler(sig)
        sup.emergency_kill()
        if server is not None:
            await server.close()
        if exports is not None:
            await exports.close()


def keeper_status(sup: Any, fanout: Any, server: Any, kind: str) -> dict[str, Any]:
    """What `swarmtui ls` shows of this keeper."""
    import time

    from swarmtui.engine.history import HistoryStore, restarts_within

    state = fanout.cache.state
    progress = fanout.cache.progress
    try:
        restarts = restarts_within(HistoryStore(sup.layout.root).read(), 24 * 3600)
    except OSError:
        restarts = None
    return {"checkout": str(sup.layout.root), "pid": os.getpid(), "kind": kind,
            # uptime_s: the node's run (None when none runs); the keeper's own is keeper_uptime_s.
            "started": server.started if server else "", "uptime_s": sup.run_uptime_s(),
            "keeper_uptime_s": round(time.time() - _START, 1),
            "state": state.state if state else sup.state, "reason": state.reason if state else "",
            "detail": state.detail if state else "", "round": progress.round if progress else None,
            "restarts_24h": restarts, "viewers": len(fanout.viewers),
            "name": getattr(sup, "fleet_name", None) or sup.layout.root.name,
            # A viewer on another host (attach over ssh) cannot read the checkout to learn these.
            **remote_layout_fields(sup.layout)}


def remote_layout_fields(layout: Any) -> dict[str, Any]:
    """The checkout's facts a panel on another host shows (engine.remote.RemoteLayout)."""
    from swarmtui import paths

    return {"era": layout.era, "era_label": layout.era_label, "login_port": layout.login_port,
            "identity_path": str(layout.identity_path), "temp_data_dir": str(layout.temp_data_dir),
            "user_data_path": str(layout.user_data_path), "api_key_path": str(layout.api_key_path),
            "state_dir": str(paths.node_state_dir(layout.root))}


_START = __import__("time").time()


def _exports(sup: Any, config: Any, fanout: Any) -> Any:
    """Alerts and hooks, fed by every event the keeper's Fanout passes on; None when the config
    asks for neither (nothing is imported or started then)."""
    from swarmtui.engine.exports import Exports

    def notice(level: str, text: str) -> None:
        fanout.emit(ev.Notice(level=level, text=text, ts=ev.utc_now_iso()))

    exports = Exports(sup.layout, config, notice=notice, catalogue=sup.catalogue, ssh_hint=sup.ssh_hint)
    if not exports.active:
        return None
    fanout.observers.append(exports.observe)
    return exports


def _apply_overrides(config: Any, path: str) -> None:
    """A fleet node's config overrides (a JSON file `swarmtui fleet start` wrote in the node's
    state dir), applied over the config file with the config file's own checks."""
    import json

    from swarmtui.engine.config import ConfigError, apply_table
    from swarmtui.safefile import read_regular

    try:
        data = json.loads(read_regular(Path(path), 1 << 20))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read the fleet overrides {path}: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the fleet overrides must be a table of config sections")
    apply_table(config, data, path)


def run(args) -> int:
    from swarmtui.engine.config import load_config
    from swarmtui.engine.history import HistoryStore
    from swarmtui.engine.keeper import KeeperLock
    from swarmtui.engine.keeper_server import Fanout
    from swarmtui.engine.proctree import make_run_id
    from swarmtui.engine.replay import ReplayCache
    from swarmtui.engine.supervisor import Supervisor
    from swarmtui.node.layout import inspect_checkout

    config = load_config(Path(args.config).expanduser() if getattr(args, "config", None) else None)
    if getattr(args, "overrides", None):
        _apply_overrides(config, args.overrides)
    name = getattr(args, "name", None) or None
    printer = Printer(as_json=bool(args.json), lines=bool(getattr(args, "lines", False)))
    node_dir = Path(args.node_dir).expanduser()
    root = inspect_checkout(node_dir).root                                     # NotACheckout: one line
    kind = "background" if getattr(args, "background", False) else "supervise"
    # One keeper per checkout: a second one says who keeps the node and exits 2 (KeeperBusy),
    # before it has looked at, let alone signalled, any process.
    lock = KeeperLock(root, kind, make_run_id(root), name=name)
    lock.acquire()
    # The keeper remembers the last lines for viewers that attach later, so it always builds
    # line events; the printer shows them only with --lines.
    history = HistoryStore(root)
    fanout = Fanout(printer.emit, ReplayCache(backlog=config.keeper.backlog_lines, history=history.read))
    sup = Supervisor(node_dir, config, fanout.emit, lines=True, keeper_lock=lock)
    sup.fleet_name = name          # keeper_status reports it (`ls --fleet` matches rows by it)
    metrics = None
    if config.metrics.listen:
        from swarmtui.engine.metrics import start_for_keeper

        # After the lock: a second keeper of this checkout exits 2 before it touches the port.
        metrics = start_for_keeper(config.metrics.listen, name or root.name, fanout.observers, printer.note)
    exports = _exports(sup, config, fanout)
    # Until the loop's handlers are in place, a SIGHUP must not kill us either.
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        return asyncio.run(supervise(sup, printer, fanout=fanout, kind=kind, exports=exports))
    finally:
        sup.emergency_kill()
        if metrics is not None:
            metrics.close()
