"""Which engine events become alerts, when, and in what words. Pure bookkeeping on an injected
clock: no I/O, no Textual (engine.exports sends what this decides).

The keeper feeds every event to AlertPolicy.observe(), which returns the alerts to send now;
tick() returns those that waited: restarts gathered over min_interval into one message, an alert
of a kind held back because the same kind went out less than min_interval ago, and `recovered`
once a node that alerted has run for stable_after. Each alert says which node (checkout and
animal name) on which host, what happened in one line, what swarmtui did or will do and when,
and the catalogue's hint. Nothing here reads a secret; engine.redact scrubs every text anyway.
"""

from __future__ import annotations

import re
import socket
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from swarmtui.engine import events as ev
from swarmtui.engine.clock import Clock
from swarmtui.engine.config import format_duration
from swarmtui.node.signatures import Catalogue

# A needs-user for one of these catalogue actions means the policy gave up on repeated failures.
_LOOPING_ACTIONS = frozenset({"restart", "restart-after-cleanup", "warn"})
# Kinds that count as "this node alerted", so that `recovered` follows once it is healthy.
_TROUBLE = frozenset({"needs-user", "crash-loop", "login-required", "restart", "stalled", "keeper-lost"})
_RETRY_SUFFIX = re.compile(r"; swarmtui tries again in [^;]*$")
# A login done within this long (someone at the browser, a restored login taking a moment) is
# nobody's news: the alert goes out only if the node still waits then.
LOGIN_ALERT_AFTER = 60.0


@dataclass(frozen=True)
class Alert:
    kind: str
    title: str
    body: str


def _dur(seconds: float) -> str:
    return format_duration(max(0.0, round(seconds)))


class AlertPolicy:
    def __init__(self, *, checkout: Path | str, kinds: Iterable[str], min_interval: float, stable_after: float,
                 clock: Clock, catalogue: Catalogue | None = None, host: str | None = None):
        self.root = Path(checkout)
        self.kinds = set(kinds)
        self.min_interval = float(min_interval)
        self.stable_after = float(stable_after)
        self.clock = clock
        self.catalogue = catalogue or Catalogue.load()
        self.host = host or _host_name()
        self.animal: str | None = None
        self._peer: str | None = None          # the last peer id swarm.pem held (kept while it is gone)
        self._pem_missing = False
        self._state = ""
        self._backoff_until: float | None = None
        self._running_since: float | None = None
        self._alerted = False
        self._last: dict[str, float] = {}
        self._held: dict[str, tuple[Alert, int]] = {}
        self._restarts: list[tuple[float, str]] = []
        self._login: tuple[float, ev.LoginRequired] | None = None     # a login wait not told yet
        self.login_alert_after = LOGIN_ALERT_AFTER

    # ------------------------------------------------------------ inputs

    def observe(self, e: ev.Event) -> list[Alert]:
        now = self.clock.monotonic()
        out: list[Alert] = []
        if isinstance(e, ev.IdentityChanged):
            self._identity(e.report, now, out)
        elif isinstance(e, ev.StateChanged):
            self._state_changed(e, now, out)
        elif isinstance(e, ev.RestartScheduled):
            if e.reason != "manual":                # a person's own restart is no news to them
                self._restarts.append((now, e.reason))
                if self.min_interval <= 0:
                    self._flush_restarts(now, out)
        elif isinstance(e, ev.LoginRequired):
            self._login = (now + self.login_alert_after, e)
        elif isinstance(e, ev.Detected) and e.id in ("stalled", "silence"):
            self._send("stalled", now, out, "stalled" if e.id == "stalled" else "went silent",
                       what=e.text, did="restarting the node now", hint=e.hint)
        elif isinstance(e, ev.HistoryAppended) and e.record.get("reason") == "keeper-lost":
            r = e.record
            self._send("keeper-lost", now, out, "its keeper died unannounced",
                       what=str(r.get("text") or "the keeper before this one ended without stopping the node"),
                       did="a new keeper took over: it swept what was provably left and starts the node",
                       hint=str(r.get("hint") or ""))
        return out

    def due(self) -> float | None:
        """When tick() next has something to do (injected clock), or None."""
        times = [t + self.min_interval for t in (self._window(),) if t is not None]
        times += [self._last.get(k, 0.0) + self.min_interval for k in self._held]
        if self._login is not None:
            times.append(self._login[0])
        if self._running_since is not None and self._alerted_or_pending():
            times.append(self._running_since + self.stable_after)
        return min(times) if times else None

    def tick(self) -> list[Alert]:
        now = self.clock.monotonic()
        out: list[Alert] = []
        if self._login is not None and now >= self._login[0]:
            e = self._login[1]
            self._login = None
            self._send("login-required", now, out, f"waits for a login ({e.waiting_for})",
                       what=f"run_rl_swarm.sh has waited {_dur(self.login_alert_after)} for {e.waiting_for}",
                       did=f"nothing is restarted while it waits; log in at {e.url} (from your own machine "
                           f"first: {e.ssh_hint})")
        window = self._window()
        if window is not None and now >= window + self.min_interval:
            self._flush_restarts(now, out)
        for kind, (alert, count) in list(self._held.items()):
            if now >= self._last.get(kind, 0.0) + self.min_interval:
                del self._held[kind]
                body = alert.body
                if count > 1:
                    body = (f"({count} {kind} alerts in the last {_dur(self.min_interval)} were held back; "
                            f"the latest:)\n") + body
                self._last[kind] = now
                out.append(Alert(kind, alert.title, body))
        if (self._running_since is not None and self._alerted_or_pending()
                and now >= self._running_since + self.stable_after):
            if self._restarts:
                self._flush_restarts(now, out)
            self._alerted = False
            since = self._wall_at(self._running_since - now)
            self._send("recovered", now, out, "healthy again",
                       what=f"running for {_dur(self.stable_after)} without a problem, since {since}",
                       did="nothing more: it goes on watching the node", count_trouble=False)
        return out

    # ------------------------------------------------------------ events

    def _state_changed(self, e: ev.StateChanged, now: float, out: list[Alert]) -> None:
        self._state = e.state
        if e.state != ev.LOGIN_REQUIRED:
            self._login = None                  # logged in (or gone) before anybody had to be told
        self._backoff_until = now + e.next_restart_in if e.next_restart_in is not None else None
        if e.state == ev.RUNNING:
            if self._running_since is None:
                self._running_since = now
        else:
            self._running_since = None
        if e.state != ev.NEEDS_USER:
            return
        crash_loop = self._looping(e.reason)
        hint = self._hint(e.reason)
        what = _RETRY_SUFFIX.sub("", e.detail or e.reason)
        if hint and what.endswith("; " + hint):
            what = what[:-len(hint) - 2]
        elif hint and hint in what:
            hint = ""                           # said already (with the python it ran, say)
        if self._restarts:
            what += f" (after {self._restart_summary(now)})"
            self._restarts.clear()
        if e.next_restart_in is not None:
            did = (f"gave up for now: it tries again in {_dur(e.next_restart_in)} (about "
                   f"{self._wall_at(e.next_restart_in)}), or start it yourself sooner")
        else:
            did = ("gave up: it will not start the node again by itself; fix the cause, then start it "
                   f"(swarmtui attach {self.root}, then s)")
        headline = (f"keeps failing ({e.reason}), gave up" if crash_loop else f"needs you ({e.reason})")
        self._send("crash-loop" if crash_loop else "needs-user", now, out, headline, what=what, did=did, hint=hint)

    def _identity(self, report: dict, now: float, out: list[Alert]) -> None:
        peer = report.get("peer_id") if report.get("pem_state") == "ok" else None
        animal = report.get("animal_name") if peer else None
        before, before_animal = self._peer, self.animal
        was_missing, self._pem_missing = self._pem_missing, report.get("pem_state") == "missing"
        if peer:
            self._peer, self.animal = peer, animal or self.animal
        if before is None:
            return
        if was_missing and peer == before:
            return                              # the backup was put back: the same identity
        if peer and peer != before:
            self._send("identity-changed", now, out, "has a new identity",
                       what=f"swarm.pem now holds peer {peer} ({animal or 'no name'}); it was {before} "
                            f"({before_animal or 'no name'})",
                       did="nothing: the node goes on with the new identity; if the old one is yours, stop the node "
                           "and put your backup of swarm.pem back", count_trouble=False)
        elif self._pem_missing and not was_missing:
            self._send("identity-changed", now, out, "lost its swarm.pem",
                       what=f"swarm.pem is gone (it held peer {before}, {before_animal or 'no name'})",
                       did="the next start creates a NEW identity unless you put your backup of swarm.pem back",
                       count_trouble=False)

    # ------------------------------------------------------------ sending

    def _send(self, kind: str, now: float, out: list[Alert], headline: str, *, what: str, did: str,
              hint: str = "", count_trouble: bool = True) -> None:
        enabled = kind in self.kinds or (kind == "crash-loop" and "needs-user" in self.kinds)
        if not enabled:
            return
        if count_trouble and kind in _TROUBLE:
            self._alerted = True
        alert = self._compose(kind, headline, what, did, hint)
        last = self._last.get(kind)
        if self.min_interval > 0 and last is not None and now - last < self.min_interval:
            held = self._held.get(kind)
            self._held[kind] = (alert, held[1] + 1 if held else 1)
            return
        self._last[kind] = now
        out.append(alert)

    def _compose(self, kind: str, headline: str, what: str, did: str, hint: str) -> Alert:
        node = self.node_name()
        lines = [f"{node}: {headline}", f"What happened: {what}", f"What swarmtui does: {did}"]
        if hint:
            lines.append(f"Hint: {hint}")
        lines.append(f"Host: {self.host}, {self._wall_at(0)}")
        return Alert(kind, f"swarmtui: {node} {headline}", "\n".join(lines))

    def node_name(self) -> str:
        return f"{self.root.name} ({self.animal})" if self.animal else self.root.name

    # ------------------------------------------------------------ restarts gathered

    def _window(self) -> float | None:
        return self._restarts[0][0] if self._restarts else None

    def _alerted_or_pending(self) -> bool:
        return self._alerted or (bool(self._restarts) and "restart" in self.kinds)

    def _restart_summary(self, now: float) -> str:
        n = len(self._restarts)
        counts = Counter(reason for _, reason in self._restarts)
        why = ", ".join(f"{reason} ×{k}" for reason, k in counts.most_common())
        span = max(self._restarts[-1][0] - self._restarts[0][0], 60.0)
        return f"{n} restart{'s' if n != 1 else ''} in {_dur(span)}: {why}"

    def _flush_restarts(self, now: float, out: list[Alert]) -> None:
        if not self._restarts:
            return
        summary = self._restart_summary(now)
        top = Counter(reason for _, reason in self._restarts).most_common(1)[0][0]
        self._restarts.clear()
        self._send("restart", now, out, summary.split(":")[0], what=summary, did=self._doing(now),
                   hint=self._hint(top))

    def _doing(self, now: float) -> str:
        if self._state == ev.RUNNING:
            return "restarted it; it runs again" + (
                f" (since {self._wall_at(self._running_since - now)})" if self._running_since is not None else "")
        if self._state == ev.BACKOFF and self._backoff_until is not None:
            return f"restarting it: the next start in {_dur(self._backoff_until - now)}"
        if self._state == ev.LOGIN_REQUIRED:
            return "restarted it; it now waits for a login"
        if self._state == ev.STOPPED:
            return "restarted it; it has since been stopped"
        return "restarting it"

    # ------------------------------------------------------------ words

    def _looping(self, reason: str) -> bool:
        try:
            sig = self.catalogue.get(reason)
        except KeyError:
            return False
        return sig.action in _LOOPING_ACTIONS and reason != "identity-taken"

    def _hint(self, reason: str) -> str:
        try:
            return self.catalogue.get(reason).hint
        except KeyError:
            return ""

    def _wall_at(self, offset: float) -> str:
        return time.strftime("%H:%M UTC", time.gmtime(self.clock.wall() + offset))


def _host_name() -> str:
    try:
        return socket.gethostname() or "this host"
    except OSError:
        return "this host"
