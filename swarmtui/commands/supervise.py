"""`swarmtui supervise [NODE_DIR] [--config FILE] [--json] [--lines]`: run and keep alive a node
without a screen (systemd, nohup, tmux), printing one line per engine event.

Signals: SIGTERM / SIGINT stop the node cleanly (the full stop sequence) and exit 0; a second
one kills what is left at once. SIGHUP is ignored: the node keeps running under a dead terminal.
SIGUSR1 restarts the node now, recorded with reason `manual` (or starts it when it waits for you).
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any, TextIO

from swarmtui.engine import events as ev


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
            self.write(json.dumps({"ts": ev.utc_now_iso(), "event": "supervise", "text": text}))
        else:
            self.write(f"{_local_time()} supervise  {text}")

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
        if isinstance(event, ev.ProgressUpdate) and not self.as_json:
            key = (event.round, event.stage, event.rounds_completed)
            if key == self._progress:
                return
            self._progress = key
        if self.as_json:
            data = event.to_dict()
            ts = data.pop("ts", "") or ev.utc_now_iso()
            self.write(json.dumps({"ts": ts, **data}, ensure_ascii=False, separators=(",", ":")))
            return
        for line in self.human(event):
            self.write(f"{_event_time(event.ts)} {event.kind:<10} {line}")

    def human(self, e: ev.Event) -> list[str]:
        if isinstance(e, ev.StateChanged):
            text = e.state + (f" ({e.reason})" if e.reason else "") + (f": {e.detail}" if e.detail else "")
            if e.next_restart_in is not None:
                text += f"; next start in {_duration(e.next_restart_in)}"
            if e.state == ev.NEEDS_USER:
                text += f"  [fix it, then `kill -USR1 {self.pid}` to start again, or Ctrl-C to quit]"
            return [text]
        if isinstance(e, ev.PromptSeen):
            shown = repr(e.text.strip())
            if e.answered:
                return [f"answered {shown} (from [answers] {e.rule})" + (" (secret, not shown)" if e.secret else "")]
            return [f"NOT ANSWERED {shown}: no [answers] rule knows this prompt"]
        if isinstance(e, ev.Detected):
            where = f"{e.source}:{e.line}: " if e.source not in ("engine", "progress") else ""
            return [f"{e.id} [{e.action}] {where}{e.text[:200]}"]
        if isinstance(e, ev.RestartScheduled):
            return [f"{e.reason}: restart {e.attempt} in a row, in {_duration(e.delay_s)}"
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
            text = f"swarm.pem {r.get('pem_state')}"
            if r.get("peer_id"):
                text += f": peer {r['peer_id']} ({r.get('animal_name') or 'no name'})"
            login = r.get("login") or {}
            text += f"; login {'present' if login.get('user_data') else 'absent'}"
            return [text]
        if isinstance(e, ev.LoginRequired):
            return [f"LOGIN NEEDED (waiting for {e.waiting_for}): open {e.url} in a browser; "
                    f"from another machine first run: {e.ssh_hint}"]
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
        return [json.dumps(e.to_dict(), ensure_ascii=False)]


def _local_time() -> str:
    return _dt.datetime.now().strftime("%H:%M:%S")


def _event_time(ts: str) -> str:
    try:
        t = _dt.datetime.fromisoformat(ts.replace("Z", "+00:00"))
        return t.astimezone().strftime("%H:%M:%S")
    except ValueError:
        return _local_time()


async def supervise(sup: Any, printer: Printer) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    force = asyncio.Event()

    def on_stop(name: str) -> None:
        if not stop.is_set():
            printer.note(f"{name}: stopping the node (again to kill it at once)")
            stop.set()
        else:
            printer.note(f"{name} again: killing the node now")
            sup.emergency_kill()
            force.set()

    def on_restart() -> None:
        printer.note("SIGUSR1: restarting the node now")
        sup.send(ev.RestartNode(reason="manual"))

    def on_hup() -> None:
        printer.note("SIGHUP ignored: the node keeps running (SIGTERM or Ctrl-C stops it)")

    handlers = {signal.SIGTERM: (on_stop, "SIGTERM"), signal.SIGINT: (on_stop, "SIGINT"),
                signal.SIGUSR1: (on_restart,), signal.SIGHUP: (on_hup,)}
    for sig, (fn, *args) in handlers.items():
        loop.add_signal_handler(sig, fn, *args)
    try:
        start = asyncio.ensure_future(sup.start())
        stopper = asyncio.ensure_future(stop.wait())
        await asyncio.wait({start, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if start.done() and start.exception() is not None:
            raise start.exception()
        await stop.wait()
        if not start.done():
            await start
        closer = asyncio.ensure_future(sup.close(stop_node=True))
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


def run(args) -> int:
    from swarmtui.engine.config import load_config
    from swarmtui.engine.supervisor import Supervisor

    config = load_config(Path(args.config).expanduser() if getattr(args, "config", None) else None)
    printer = Printer(as_json=bool(args.json), lines=bool(getattr(args, "lines", False)))
    # Without --lines nobody shows the node's output: the engine skips building line events.
    sup = Supervisor(Path(args.node_dir).expanduser(), config, printer.emit,
                     lines=printer.lines)                                      # NotACheckout: one line
    # Until the loop's handlers are in place, a SIGHUP must not kill us either.
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        return asyncio.run(supervise(sup, printer))
    finally:
        sup.emergency_kill()
