"""The status bar: node, era, state with its reason, uptime, restarts in 24 h, backoff countdown."""

from __future__ import annotations

from textual.content import Content
from textual.widgets import Static

from swarmtui.engine import events as ev
from swarmtui.node.text import sanitize
from swarmtui.tui.format import duration, short

STATE_WORDS = {
    ev.STARTING: ("STARTING", "$accent"),
    ev.RUNNING: ("RUNNING", "$success"),
    ev.LOGIN_REQUIRED: ("LOGIN REQUIRED", "$warning"),
    ev.BACKOFF: ("BACKING OFF", "$warning"),
    ev.NEEDS_USER: ("NEEDS YOU", "$error"),
    ev.STOPPING: ("STOPPING", "$accent"),
    ev.STOPPED: ("STOPPED", "$panel-lighten-2"),
}


class StatusBar(Static):
    """Two lines. Data is set on it by the app; `tick(now)` re-renders the running clocks."""

    def __init__(self, node_label: str, era_label: str, *, id: str | None = None):
        super().__init__("", id=id)
        self.node_label = node_label
        self.era_label = era_label
        self.state = ""
        self.reason = ""
        self.detail = ""
        self.restarts_24h = 0
        self.banner = ""
        self.prompt_pending = False
        # The app's needs-you box shows the whole detail: this line then only points at it,
        # rather than repeating it cut short.
        self.detail_below = False
        # Whether a node runs at all (the app knows from the process snapshots): "up 53s" after
        # a give-up, with nothing running, read as if the node were still up.
        self.node_up = True
        self._uptime_base: float | None = None
        self._uptime_at = 0.0
        self._backoff_base: float | None = None
        self._backoff_at = 0.0
        self._now = 0.0
        self._shown: Content | None = None

    def set_state(self, event: ev.StateChanged, now: float) -> None:
        self.state = event.state
        self.reason = event.reason
        self.detail = event.detail
        if event.state in (ev.RUNNING, ev.LOGIN_REQUIRED, ev.NEEDS_USER):
            if event.uptime_s is not None:
                self._uptime_base, self._uptime_at = event.uptime_s, now
            elif self._uptime_base is None:
                self._uptime_base, self._uptime_at = 0.0, now
        else:
            self._uptime_base = None if event.uptime_s is None else event.uptime_s
            self._uptime_at = now
        # needs-user with a countdown: swarmtui gave up, and tries again then (give_up_retry).
        if event.state in (ev.BACKOFF, ev.NEEDS_USER) and event.next_restart_in is not None:
            self._backoff_base, self._backoff_at = event.next_restart_in, now
        else:
            self._backoff_base = None
        self.tick(now)

    def set_detail(self, detail: str, now: float) -> None:
        self.detail = detail
        self.tick(now)

    def uptime(self, now: float) -> float | None:
        if self._uptime_base is None:
            return None
        if self.state in (ev.RUNNING, ev.LOGIN_REQUIRED, ev.NEEDS_USER):
            return self._uptime_base + max(0.0, now - self._uptime_at)
        return self._uptime_base

    def restart_in(self, now: float) -> float | None:
        if self._backoff_base is None:
            return None
        return max(0.0, self._backoff_base - (now - self._backoff_at))

    def tick(self, now: float) -> None:
        self._now = now
        content = self.render_content(now)
        if content != self._shown:
            self._shown = content
            self.update(content, layout=False)   # fixed height: no screen re-layout each second

    def render_content(self, now: float) -> Content:
        word, colour = STATE_WORDS.get(self.state, (self.state.upper() or "…", "$panel"))
        parts: list[tuple[str, str] | str] = [(f" {word} ", f"bold $background on {colour}"), " "]
        up = self.uptime(now)
        if up is not None and self.state != ev.STOPPED and self.node_up:
            parts += [("up ", "dim"), duration(up), "  "]
        parts += [("restarts 24h ", "dim"), (str(self.restarts_24h), "bold"), "  "]
        wait = self.restart_in(now)
        if wait is not None:
            label = "trying again in " if self.state == ev.NEEDS_USER else "next restart in "
            parts += [(label, "dim"), (duration(wait), "bold $warning"), "  "]
        # Cleaned here, where they are drawn: a state's detail quotes node output, and the label
        # is a directory name. A printable string costs one C-level check per tick.
        parts += [(sanitize(self.node_label), "bold"), ("  ", ""), (sanitize(self.era_label), "dim")]
        line1 = Content.assemble(*parts)
        if self.banner:
            line2 = Content.assemble((" ! ", "bold $background on $warning"), " ", (sanitize(self.banner), "$text-warning"))
        else:
            detail = "" if self.detail_below else self.detail
            why = sanitize(" · ".join(x for x in (self.reason, detail) if x))
            hint = ""
            if self.detail_below:
                hint = "why and what to do: below"
            elif self.prompt_pending:
                hint = "the node asks a question: press a to answer"
            elif self.state == ev.LOGIN_REQUIRED:
                hint = "log in: see the identity pane"
            elif self.state == ev.STOPPED:
                hint = "press s to start"
            line2 = Content.assemble(
                ("   ", ""), (short(why, 160) if why else "", "$text-muted"),
                ("  " if why and hint else "", ""), (hint, "bold $text-accent"),
            )
        return Content("\n").join([line1, line2])
