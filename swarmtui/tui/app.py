"""SwarmApp: the panel. Engine events in (buffered, drained every ~100 ms), engine commands out.

The engine is anything with the Supervisor's surface (engine_api.EngineLike); the app builds it
from a factory that receives the app's `emit`, so the same app runs over the real Supervisor, the
demo, or a recording engine in tests. Lifecycle (textual-engineering.md §1): the engine starts in
on_mount and closes in on_unmount; `run_panel` adds the synchronous safety net after `run()`.
"""

from __future__ import annotations

import asyncio
import atexit
import datetime as _dt
import gc
import getpass
import json
import signal
import socket
import threading
import time
from pathlib import Path
from typing import Any, Callable

from textual import events, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.css.query import NoMatches
from textual.containers import Container
from textual.screen import ModalScreen
from textual.widgets import DataTable, Footer, Static

from swarmtui.engine import events as ev
from swarmtui.node.text import sanitize
from swarmtui.tui import clipboard, wording
from swarmtui.tui.engine_api import EngineFactory, EngineLike
from swarmtui.tui.format import home_relative, short
from swarmtui.tui.palette import PanelCommands
from swarmtui.tui.panes.history import HistoryPane, record_time
from swarmtui.tui.panes.host import HostStrip
from swarmtui.tui.panes.identity import IdentityPane
from swarmtui.tui.panes.log import LogPane
from swarmtui.tui.panes.logview import LogView
from swarmtui.tui.panes.needs_you import NeedsYouBox
from swarmtui.tui.panes.processes import ProcessPane
from swarmtui.tui.panes.progress import ProgressPane
from swarmtui.tui.panes.status import StatusBar
from swarmtui.tui.screens.confirm import Choice, ConfirmScreen
from swarmtui.tui.screens.help import HelpScreen
from swarmtui.tui.screens.prompt import PromptScreen
from swarmtui.tui.screens.record import RecordScreen
from swarmtui.tui.screens.repeats import RepeatsScreen
from swarmtui.tui.screens.restore import RestoreScreen

# Below this size the panel shows status, progress and one pane at a time (tab switches).
COMPACT_WIDTH = 100
COMPACT_HEIGHT = 34
ROOMY_WIDTH = 150
# Below this many lines a needs-you box takes the progress pane's lines (60x20: its fix was cut).
SHORT_HEIGHT = 24
# From this many lines the identity pane grows too (at 60 lines it scrolled a login's steps away
# while the history had 20 empty rows).
TALL_HEIGHT = 50
HOST_STRIP_MIN_HEIGHT = 24
# One Tab order in both layouts (issue 14: they differed): log, processes, history, identity.
WIDE_ORDER = ("log-pane", "procs-pane", "history-pane", "identity-pane")
COMPACT_PANES = WIDE_ORDER
PANE_NAMES = {"log-pane": "Log", "identity-pane": "Identity", "history-pane": "History", "procs-pane": "Processes"}
RUNNING_STATES = (ev.STARTING, ev.RUNNING, ev.LOGIN_REQUIRED, ev.STOPPING)
# Waiting states: the node may be up (a question it asked) or not (pre-flight failed, restart
# budget used up, between runs); the last process snapshot decides.
WAITING_STATES = (ev.BACKOFF, ev.NEEDS_USER)
# Panel actions a modal must not trigger through priority bindings.
PANEL_ACTIONS = {"restart", "stop_start", "logout", "reset_identity", "restore_backup", "copy", "search", "filter",
                 "next_pane", "prev_pane", "help", "quit_panel", "answer_prompt"}
# If the engine never reports "stopped" after a quit, give up waiting and exit (on_unmount still
# runs the engine's close(), which stops the node).
QUIT_WAIT_S = 60.0
LOGIN_TOAST_TITLE = "Login required"
MAX_TOASTS = 3
# How often the running clocks (uptime, backoff countdown, time since progress) are re-rendered.
TICK_S = 1.0
LOG_INTERVAL = 0.1                   # the log's redraws at most this often (SwarmApp.log_interval)
# ...less this: the keeper sends a flood's batches every 0.1 s too (ev.LINES_EVERY), and a
# batch that came a hair early waited a whole interval (measured: 34-93 ms more line -> screen).
LOG_SLACK = 0.02
# A few lines (at most ev.SPARSE_LINES) may be drawn after this share of the interval: the keeper
# sends a sparse node's batches 0.075 s apart (ev.lines_gap), and each line's wait is what the
# user sees. A flood's batches are large: still ten redraws a second at most.
LOG_SPARSE_SHARE = ev.SPARSE_EVERY / ev.LINES_EVERY
LOG_CHUNK = 1000                     # lines put into the log per loop turn (SwarmApp._show_held_lines)
# After a key the log waits this long: what the key does (a screen to build, a box to open) takes
# several turns of the event loop, and a log batch in between each of them made a key under a
# flood show 2-3x later. Lines are held meanwhile, none is lost.
KEY_FIRST_S = 0.15
GC_YOUNG = 20_000                    # allocations between young collections (see on_mount)


# With 8/16 colours (TERM=xterm, the Linux console) Rich maps each colour to the nearest of the
# 16: every built-in theme's orange accent became bright red, so the focused border and the
# footer keys looked like errors. There the theme's colours are replaced by the 16 themselves
# (values of Rich's standard palette, so nothing is approximated): cyan for focus and keys,
# yellow warnings, red errors only. Bright ones on dark themes, plain ones on light themes.
LOW_COLOUR_DARK = {"primary": "#5555ff", "secondary": "#55ffff", "accent": "#55ffff", "warning": "#ffff55",
                   "error": "#ff5555", "success": "#55ff55"}
LOW_COLOUR_LIGHT = {"primary": "#0000aa", "secondary": "#00aaaa", "accent": "#00aaaa", "warning": "#aa5500",
                    "error": "#aa0000", "success": "#00aa00"}


def _binding(key: str, action: str, description: str, binding_id: str, show: bool = True, **kw) -> Binding:
    return Binding(key, action, description, id=binding_id, show=show, **kw)


class SwarmApp(App[int]):
    CSS_PATH = str(Path(__file__).with_name("app.tcss"))   # absolute: subclasses live elsewhere
    TITLE = "swarmtui"
    COMMANDS = App.COMMANDS | {PanelCommands}
    ENABLE_COMMAND_PALETTE = True

    # Footer order: help and quit first, so an 80-column footer (which cuts the tail) still
    # shows how to get out and where every other key is explained.
    BINDINGS = [
        _binding("question_mark", "help", "Help", "help", key_display="?"),
        # F1 is where many terminal programs keep their help; its own id, so the footer shows
        # "?" once and a keymap can move either.
        _binding("f1", "help", "Help", "help-f1", show=False),
        _binding("q", "quit_panel", "Quit", "quit"),
        # Straight out, no question, when that loses nothing: a keeper keeps the node (the fleet
        # overview binds Esc here, so Esc is "back"); in-process it asks as q does.
        _binding("ctrl+d", "detach", "Detach", "detach", show=False),
        # Textual's own ctrl+q, made non-priority: the log's search box then shows it in the
        # footer as its way out (the box takes q); everywhere else it quits as before.
        Binding("ctrl+q", "quit", "Quit", show=False),
        _binding("r", "restart", "Restart", "restart"),
        _binding("s", "stop_start", "Stop/Start", "stop-start"),
        _binding("l", "logout", "Logout", "logout"),
        _binding("i", "reset_identity", "Reset id", "reset-identity"),
        # Out of the footer (it is full at 80 columns): the identity pane and the help name it.
        _binding("b", "restore_backup", "Backups", "restore", show=False),
        _binding("c", "copy", "Copy", "copy"),
        _binding("slash", "search", "Search", "search", key_display="/"),
        _binding("f", "filter", "Filter", "filter"),
        _binding("tab", "next_pane", "Pane", "next-pane", priority=True),
        _binding("shift+tab", "prev_pane", "Prev pane", "prev-pane", show=False, priority=True),
        _binding("a", "answer_prompt", "Answer", "answer"),
    ]

    def __init__(
        self,
        engine_factory: EngineFactory,
        *,
        layout: Any = None,
        keymap: dict[str, str] | None = None,
        stall_limit_s: float | None = None,
        silence_limit_s: float | None = None,
        stop_timeout_s: float | None = None,
        keep_login: bool = False,
        host: str | None = None,
        user: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], _dt.datetime] | None = None,
        banner: str = "",
        max_log_lines: int = 5000,
        drain_interval: float = 0.25,
        log_interval: float | None = None,
        catch_signals: bool = True,
        attached: bool = False,
        low_colour: bool | None = None,
    ):
        # Before App.__init__: it builds the stylesheet from get_css_variables().
        self.force_low_colour = low_colour
        super().__init__()
        # Attached to a keeper (swarmtui NODE_DIR, attach): the node outlives the panel, and q
        # says what it does there: detach.
        self.attached = attached
        if attached:
            self._describe_binding("quit", "Detach")
        self._pending: list[ev.Event] = []
        self.clock = clock
        self.wall_clock = wall_clock or (lambda: _dt.datetime.now(_dt.timezone.utc))
        self.keymap_config = dict(keymap or {})
        self.stall_limit_s = stall_limit_s
        self.silence_limit_s = silence_limit_s
        self.stop_timeout_s = stop_timeout_s
        self.keep_login = keep_login
        self.host = host or socket.gethostname()
        self.user = user if user is not None else _safe_user()
        self.banner = banner
        self.max_log_lines = max_log_lines
        self.drain_interval = drain_interval
        # The log pane is redrawn at most this often, and as soon as a batch of lines arrives
        # otherwise (_log_soon): waiting for the drain tick was most of the lag between a line
        # and the screen (p90 0.5 s at 20 lines/s). The engine sends a lone line at once and
        # batches a burst at most every 0.1 s (ev.LINES_EVERY), so 0.1 s here is at most
        # one redraw per batch, and a flood is still drawn at most ten times a second.
        self.log_interval = LOG_INTERVAL if log_interval is None else log_interval
        self._log_soon: asyncio.TimerHandle | None = None
        self._log_more: asyncio.Handle | None = None
        self._key_at = -1e9                 # when the last key came (KEY_FIRST_S)
        self._held_lines: list[ev.LogLine] = []
        self._held_partial: str | None = None
        self._log_shown_at = 0.0
        self.catch_signals = catch_signals
        self.state = ""
        self.pending_prompt: ev.PromptSeen | None = None
        self.lost_terminal = False
        self.compact = False
        self.compact_pane = "log-pane"
        self._quitting = False
        self._quit_deadline: float | None = None
        self._last_tick = 0.0
        self._timeline_minute = -1
        self._leave_running = False
        self._close_reason = "manual"        # what the history says ended the run: hangup, signal
        self._engine_started = False
        self._unmounting = False
        self._procs_alive = False       # the last process snapshot showed a process of ours
        self._preflight_toast = ""
        self._preflight_problems: list[str] = []
        self._signals_installed: list[int] = []
        self._last_peer: str | None = None
        # Rounds the engine has counted, and the count when the current run started: what a
        # restart could throw away. An attached panel may join mid-run: then it cannot tell.
        self._rounds_total = 0
        self._rounds_at_run_start: int | None = None if attached else 0
        self._login_notified = False
        # Set by run_panel (the real process, not tests sharing one interpreter): see on_mount.
        self.freeze_heap_after_start = False
        self.sent: list[ev.Command] = []   # every command sent, for the record and for tests
        self.toasts: list[tuple[str, str]] = []
        self.last_copy: tuple[str, str, clipboard.CopyResult] | None = None
        # With a layout (the caller validated the checkout already), the engine is built after
        # the first frame, off the loop: the Supervisor's imports cost ~200 ms of a ~0.8 s first
        # frame. Without one it is built here, so a bad NODE_DIR fails before the screen is taken.
        self._engine_factory = engine_factory
        self.engine: EngineLike | None = None
        if layout is None:
            self.engine = engine_factory(self._emit)
            layout = self.engine.layout
            self.state = getattr(self.engine, "state", "") or ""
        else:
            self.state = ev.STARTING
        self.layout = layout

    def get_system_commands(self, screen):
        """Textual's own palette entries, less its Quit: the panel's own (which asks while the node
        runs) is in PanelCommands, and two "Quit" entries, one of them abrupt, confused."""
        for command in super().get_system_commands(screen):
            if command.title != "Quit":
                yield command

    # ---------------------------------------------------------------- colours

    # None: decided by the terminal (TERM, COLORTERM, as Rich reads them); tests set it.
    force_low_colour: bool | None = None

    @property
    def low_colour(self) -> bool:
        if self.force_low_colour is not None:
            return self.force_low_colour
        return self.console.color_system in ("standard", "windows")

    def get_css_variables(self) -> dict[str, str]:
        variables = super().get_css_variables()
        if not self.low_colour:
            return variables
        import dataclasses

        theme = self.current_theme
        if theme.ansi:
            return variables         # the terminal's own palette already
        swap = LOW_COLOUR_DARK if theme.dark else LOW_COLOUR_LIGHT
        plain = dataclasses.replace(theme, **swap)
        variables = {**self.get_theme_variable_defaults(), **plain.to_color_system().generate(), **plain.variables}
        self.theme_variables = variables
        return variables

    # ---------------------------------------------------------------- composition

    def compose(self) -> ComposeResult:
        layout = self.layout
        # A checkout on another host is named with its host (engine.remote.RemoteLayout.label).
        node_label = getattr(layout, "label", None) or home_relative(getattr(layout, "root", None))
        era = getattr(layout, "era_label", "") or getattr(layout, "era", "")
        yield StatusBar(node_label, era, id="status")
        yield NeedsYouBox(id="needs-you")
        with Container(id="panes"):
            yield ProgressPane(self.stall_limit_s, id="progress-pane", classes="pane")
            yield Static("", id="pane-tabs")
            yield LogPane(self.max_log_lines, id="log-pane", classes="pane")
            yield IdentityPane(login_port=int(getattr(layout, "login_port", 3000) or 3000),
                               host=self.host, user=self.user, id="identity-pane", classes="pane")
            yield HistoryPane(wall_clock=self.wall_clock, id="history-pane", classes="pane")
            yield ProcessPane(id="procs-pane", classes="pane")
        yield HostStrip(id="host-strip")
        yield Footer()

    @property
    def status(self) -> StatusBar:
        return self.query_one(StatusBar)

    @property
    def log_pane(self) -> LogPane:
        return self.query_one(LogPane)

    @property
    def log_view(self) -> LogView:
        return self.query_one(LogView)

    def pane(self, pane_id: str):
        return self.query_one(f"#{pane_id}")

    async def on_mount(self) -> None:
        if self.keymap_config:
            self.set_keymap(self.keymap_config)
        self.query_one(IdentityPane).backup_key = self.key_for("restore")
        status = self.status
        status.banner = self.banner
        status.state = self.state
        status.tick(self.clock())
        self.query_one(ProgressPane).silence_limit_s = self.silence_limit_s
        self._apply_size(self.size.width, self.size.height)
        self.log_view.focus()
        if self.freeze_heap_after_start:
            # Everything built so far (Textual, the CSS, the widgets) lives as long as the panel.
            # Frozen, the garbage collector stops walking it: under a 20,000 lines/s flood a full
            # collection then took ~90 ms (up to 190) about once a second, and a key press that
            # met one was that much later; frozen, 15-60 ms.
            self.call_after_refresh(gc.freeze)
            # Every log line makes a few objects that live a fraction of a second (30,000 a second
            # in a flood): at the default 700 allocations a young collection ran ~100 times a
            # second and promoted them to be walked again: ~6 % of a core and a 20 ms full pass
            # now and then at 30,000 lines/s; with young collections every 20,000, 0.5 % and no
            # full pass in the same run. Garbage in cycles (rare here) lives a little longer.
            gc.set_threshold(GC_YOUNG, 10, 10)
        # One timer for both: the once-a-second clocks (uptime, stall) repaint in the same
        # screen update as a batch of log lines instead of in one of their own.
        self._last_tick = time.monotonic()
        self.set_interval(self.drain_interval, self._drain_tick, name="drain")
        if self.catch_signals:
            self._install_signal_handlers()
        # The engine starts right after the first frame, not before it: its start (pre-flight
        # checks, spawning the node, starting the log tailers) runs on this loop and took
        # ~150 ms of `swarmtui demo`'s first frame.
        self.call_after_refresh(self._launch_engine)

    def _launch_engine(self) -> None:
        self.run_worker(self._start_engine(), name="engine-start", group="engine", exit_on_error=False)

    async def _start_engine(self) -> None:
        try:
            if self.engine is None:
                engine = await asyncio.to_thread(self._engine_factory, self._emit)
                if self._unmounting:
                    return      # quit before it existed: nothing was started
                self.engine = engine
            await self.engine.start()
            self._engine_started = True
        except Exception as exc:   # a failed start is shown, never a traceback over the screen
            message = str(exc) or exc.__class__.__name__
            self.notify(f"The engine could not start: {message}", severity="error", timeout=30)
            self.status.set_detail(f"engine start failed: {short(message, 120)}", self.clock())
            if self.engine is None:
                self._on_state(ev.StateChanged(state=ev.STOPPED, reason="engine", detail=short(message, 120)))

    async def on_unmount(self) -> None:
        self._unmounting = True
        for handle in (self._log_soon, self._log_more):
            if handle is not None:
                handle.cancel()
        self._remove_signal_handlers()
        if self.engine is None:
            return
        try:
            await self.engine.close(stop_node=not self._leave_running, reason=self._close_reason)
        except Exception:
            # run_panel's emergency_kill still runs after this; never hang the exit on a report.
            pass

    def emergency_kill(self) -> None:
        """Synchronous last resort (run_panel, atexit): the engine's, once there is one."""
        if self.engine is not None:
            self.engine.emergency_kill()

    # ---------------------------------------------------------------- lost terminal

    def _install_signal_handlers(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGHUP, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, self._on_hangup, sig)
                self._signals_installed.append(sig)
            except (NotImplementedError, RuntimeError, ValueError):
                pass

    def _remove_signal_handlers(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        for sig in self._signals_installed:
            try:
                loop.remove_signal_handler(sig)
            except Exception:
                pass
        self._signals_installed.clear()

    def get_driver_class(self):
        cls = super().get_driver_class()
        try:
            from textual.drivers.linux_driver import LinuxDriver
        except ImportError:         # no termios: not a platform rl-swarm runs on
            return cls
        if cls is LinuxDriver:
            from swarmtui.tui.driver import PanelDriver

            return PanelDriver
        return cls

    def on_terminal_lost(self) -> None:
        """The driver could not read the terminal any more (it went away without a SIGHUP)."""
        self._on_hangup(signal.SIGHUP)

    def _on_hangup(self, sig: int) -> None:
        """The terminal is gone (SSH drop, pane killed) or we were told to stop: stop the node
        through the engine's full stop sequence (on_unmount -> close) and exit. Nobody is left to
        answer a modal, so nothing is asked."""
        self.lost_terminal = sig == signal.SIGHUP
        if self.lost_terminal:
            # From here on the screen goes nowhere: drop output (a write must never block the
            # loop that stops the node) and end the input thread.
            lost = getattr(self._driver, "terminal_lost", None)
            if lost is not None:
                lost()
        self._leave_running = False
        self._close_reason = "hangup" if self.lost_terminal else "signal"
        code = 129 if sig == signal.SIGHUP else 143
        self.exit(result=code, return_code=code)

    # ---------------------------------------------------------------- engine events

    def _emit(self, event: ev.Event) -> None:
        """Called by the engine (loop thread); only buffers, the drain timer does the work, and
        log lines ask for a drain of their own (_show_log_soon)."""
        self._pending.append(event)
        if self._log_soon is None and type(event) is ev.LinesOut:
            self._show_log_soon()

    def _show_log_soon(self, at_least: float = 0.0) -> None:
        """Drain as soon as the log may be redrawn (log_interval after the last time): called
        from the engine's own callback, so what it emits next in that callback (the progress
        after a batch) is drained with the lines, in the same screen update."""
        if self._unmounting or threading.get_ident() != self._thread_id:
            return      # not the app's thread (an engine being built off the loop): the drain timer
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return      # no loop yet (an engine built in __init__): the drain timer shows them
        now = time.monotonic()
        wait = max(at_least, self._log_shown_at + self._log_gap() - now, self._key_at + KEY_FIRST_S - now)
        self._log_soon = loop.call_later(wait, self._drain_soon)

    def _log_gap(self) -> float:
        """How long after the last log redraw the next may come, for the lines waiting now."""
        waiting = len(self._held_lines)
        for event in self._pending:
            if type(event) is ev.LinesOut:
                waiting += len(event.lines)
        share = LOG_SPARSE_SHARE if waiting <= ev.SPARSE_LINES else 1.0
        return max(0.0, self.log_interval * share - LOG_SLACK)

    def _drain_soon(self) -> None:
        self._log_soon = None
        self._drain_tick()
        if self._log_more is None and (self._held_lines or self._held_partial is not None):
            # Not shown (a screen being torn down, the interval not over): later, never in a loop.
            self._show_log_soon(at_least=0.02)

    def _drain(self, show_log: bool = True) -> None:
        """Handle what the engine sent; show the held log lines too unless show_log is False."""
        now = time.monotonic()
        if now - self._last_tick >= TICK_S:
            self._last_tick = now
            self._tick()
        try:
            self._drain_events(show_log)
        except NoMatches:
            pass    # the screen is being torn down: nothing left to show

    def _drain_tick(self) -> None:
        now = time.monotonic()
        due = now - self._log_shown_at >= self._log_gap()
        self._drain(show_log=due and now >= self._key_at + KEY_FIRST_S)

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key):
            self._key_at = time.monotonic()
        await super().on_event(event)

    def _drain_events(self, show_log: bool = True) -> None:
        if self._quit_deadline is not None and self.clock() > self._quit_deadline:
            self.exit(0)
        batch, self._pending = self._pending, []
        lines = self._held_lines
        output = False
        for event in batch:
            if isinstance(event, ev.LinesOut):
                lines.extend(event.lines)
                output = output or bool(event.lines)
                self._held_partial = event.partial
                continue
            handler = self._handlers().get(type(event))
            if handler is not None:
                try:
                    handler(event)
                except Exception as exc:   # one odd event must not stop the panel
                    self.log.error(f"event {event.kind}: {exc!r}")
        if output and self.state == ev.RUNNING:
            self.query_one(ProgressPane).quiet_since = self.clock()     # the silence clock restarts
        if len(lines) > self.max_log_lines:
            del lines[:-self.max_log_lines]         # held lines stay bounded in a flood
        if show_log and (lines or self._held_partial is not None):
            self._log_shown_at = time.monotonic()
            self._show_held_lines()

    def _show_held_lines(self) -> None:
        """Into the log, LOG_CHUNK lines at a time, the rest right after: a flood's 0.1 s batch
        (3,000 lines at 30k lines/s) is ~25 ms of work, and a key pressed meanwhile waits for
        one chunk only, not for the whole batch (issue 16: a key within 150 ms under a flood)."""
        if self._log_more is not None:
            self._log_more.cancel()
            self._log_more = None
        lines = self._held_lines
        if len(lines) > LOG_CHUNK:
            chunk, self._held_lines = lines[:LOG_CHUNK], lines[LOG_CHUNK:]
            self.log_pane.add_lines(chunk)
            if not self._unmounting:
                self._log_more = asyncio.get_running_loop().call_soon(self._show_more)
            return
        if lines or self._held_partial is not None:
            partial, self._held_lines, self._held_partial = self._held_partial, [], None
            self.log_pane.add_lines(lines, partial)

    def _show_more(self) -> None:
        self._log_more = None
        if time.monotonic() < self._key_at + KEY_FIRST_S:
            if self._log_soon is None:
                self._show_log_soon()       # the rest after the key's work
            return
        try:
            self._show_held_lines()
        except NoMatches:
            pass    # the screen is being torn down: nothing left to show

    def _handlers(self) -> dict[type, Callable[[Any], None]]:
        return {
            ev.StateChanged: self._on_state,
            ev.PromptSeen: self._on_prompt,
            ev.Detected: self._on_detected,
            ev.RestartScheduled: self._on_restart_scheduled,
            ev.Exited: lambda e: None,
            ev.OrphanKilled: self._on_orphan,
            ev.StopStep: self._on_stop_step,
            ev.ProgressUpdate: self._on_progress,
            ev.ProcessSnapshot: self._on_procs,
            ev.HostStats: self._on_host,
            ev.RoundTrends: self._on_trends,
            ev.IdentityChanged: self._on_identity,
            ev.LoginRequired: self._on_login,
            ev.HistoryAppended: self._on_history,
            ev.HistoryLoaded: self._on_history_loaded,
            ev.PreflightFailed: self._on_preflight,
            ev.ActionDone: self._on_action_done,
            ev.Notice: self._on_notice,
        }

    def _on_progress(self, e: ev.ProgressUpdate) -> None:
        self._rounds_total = e.rounds_completed
        self.query_one(ProgressPane).set_progress(e, self.clock())

    def rounds_this_run(self) -> int | None:
        """Rounds finished since the current run started (the engine counts over its whole life),
        or None where this panel did not see the run start (attached mid-run)."""
        if self._rounds_at_run_start is None:
            return None
        return max(0, self._rounds_total - self._rounds_at_run_start)

    def _on_state(self, e: ev.StateChanged) -> None:
        previous = self.state
        self.state = e.state
        if e.state == ev.STARTING and previous != ev.STARTING:
            self._rounds_at_run_start = self._rounds_total      # a new run: none of its rounds yet
        progress = self.query_one(ProgressPane)
        if e.state != ev.RUNNING:
            progress.quiet_since = None     # the silence timer runs only while the node runs
        elif previous != ev.RUNNING:
            progress.quiet_since = self.clock()
        if e.state == ev.STOPPED:
            # The engine says STOPPED only after its stop sequence verified that nothing of ours
            # is left: the last snapshot's processes are gone, not "still there" for 2-5 s more.
            procs = self.query_one(ProcessPane)
            procs.set_procs([p for p in procs.procs if not p.ours])
            self._procs_alive = False
        self.status.node_up = self._node_running()
        self.status.set_state(e, self.clock())
        identity = self.query_one(IdentityPane)
        identity.set_running(self._node_running(), new_run=e.state == ev.STARTING and previous != ev.STARTING)
        if e.state != ev.LOGIN_REQUIRED:
            if identity.login_url:
                identity.set_login(None)
            self._login_notified = False
            # "Login required" under RUNNING confused: down whatever cleared the login (also when
            # the toast came from a LoginRequired whose state this panel never saw).
            self._dismiss_toasts(LOGIN_TOAST_TITLE)
        if e.state == ev.NEEDS_USER and previous != ev.NEEDS_USER and not self._said_already(e.detail):
            # Short: the needs-you box holds the whole text for as long as it applies, and a long
            # toast stacked over it at 80 columns and hid its end.
            self.notify(f"Needs you ({e.reason or e.state}): the box at the top says why and what to do",
                        title="swarmtui", severity="error", timeout=8)
        if e.state == ev.STOPPED and self._quitting:
            self.exit(0)
        self._show_needs_you()
        self.refresh_bindings()

    def _show_needs_you(self) -> None:
        """The needs-you box follows the state: up (with the keys that act now) while the node
        waits for a person (needs-user, or a browser login), down as soon as it does not."""
        box = self.query_one(NeedsYouBox)
        identity = self.query_one(IdentityPane)
        if self.state == ev.LOGIN_REQUIRED and identity.login_url:
            # In the compact layout the identity pane (URL, tunnel) is one tab away: the box says
            # what to do wherever the focus is.
            url = identity.login_url
            waiting = f" (the node waits for {identity.waiting_for})" if identity.waiting_for else ""
            detail = (f"open {url} in a browser on this machine and log in{waiting}. From another machine, "
                      f"tunnel first: {identity.ssh_command} — then open {url} there.")
            keys = ((self.key_for("next-pane"), "to the Identity pane"),
                    (self.key_for("copy"), "copy the tunnel command (in that pane)"))
            box.show_needs("", detail, keys, label="LOG IN", login=True)
            self.query_one("#panes").set_class(True, "-needs-you")
            self.status.detail_below = True
            self.status.tick(self.clock())
            return
        if self.state != ev.NEEDS_USER:
            self._preflight_problems = []
            if box.shown:
                box.hide()
                self.query_one("#panes").set_class(False, "-needs-you")
                self.status.detail_below = False
                self.status.tick(self.clock())
            return
        status = self.status
        detail = status.detail
        if status.reason == "preflight" and self._preflight_problems:
            detail = "; ".join(self._preflight_problems)
        box.show_needs(status.reason, detail, self._needs_you_keys())
        self.query_one("#panes").set_class(True, "-needs-you")
        status.detail_below = True
        status.tick(self.clock())

    def _needs_you_keys(self) -> tuple[tuple[str, str], ...]:
        """What acts on the wait, by the key the operator has for it (their keymap applied)."""
        if self.pending_prompt is not None:
            return ((self.key_for("answer"), "answer the node's question"),)
        if self._node_running():
            return ((self.key_for("stop-start"), "stop the node"), (self.key_for("restart"), "restart it"))
        return ((self.key_for("stop-start"), "try again now"),)

    def key_for(self, binding_id: str) -> str:
        """The first key bound to `binding_id` as the footer shows it, keymap applied. From the
        class bindings and the config, not the screen's active ones: those drop a key while a
        text box that types it has focus."""
        default = next(b for b in self.BINDINGS if isinstance(b, Binding) and b.id == binding_id)
        key = (self.keymap_config.get(binding_id) or default.key).split(",")[0].strip()
        if key == default.key:
            return self.get_key_display(default)
        return self.get_key_display(Binding(key, default.action))

    def _on_prompt(self, e: ev.PromptSeen) -> None:
        if e.answered:
            return
        self.pending_prompt = e
        self.status.prompt_pending = True
        self.status.tick(self.clock())
        self.notify(f"The node asks: {short(e.text, 80)}", severity="warning", timeout=10)
        self._show_needs_you()
        self.refresh_bindings()
        if not isinstance(self.screen, ModalScreen):
            self.action_answer_prompt()

    def _on_detected(self, e: ev.Detected) -> None:
        if e.id == "new-identity-generated":
            self.notify(f"A new identity was generated: {short(e.text, 100)}", title="Identity",
                        severity="warning", timeout=20)

    def _on_restart_scheduled(self, e: ev.RestartScheduled) -> None:
        # A manual restart comes as attempt 0 with no delay: "Restart #0 in 0s" read like a bug.
        when = "now" if e.delay_s < 1 else f"in {e.delay_s:.0f}s"
        number = f" #{e.attempt}" if e.attempt else ""
        self.notify(f"Restart{number} {when}: {e.reason}", title="Restart", severity="warning", timeout=8)

    def _on_orphan(self, e: ev.OrphanKilled) -> None:
        self.notify(f"Stopped a leftover process of ours: {e.pid} {short(e.cmdline, 60)} ({e.signal})",
                    timeout=6)

    def _on_procs(self, e: ev.ProcessSnapshot) -> None:
        alive = any(p.ours for p in e.procs)
        if alive != self._procs_alive:
            self._procs_alive = alive
            self._show_needs_you()          # whether `s` stops the node or tries again
            self.query_one(IdentityPane).set_running(self._node_running())
            self.status.node_up = self._node_running()
            self.status.tick(self.clock())
        self.query_one(ProcessPane).set_procs(e.procs)

    def _on_host(self, e: ev.HostStats) -> None:
        self.query_one(HostStrip).set_stats(e)

    def _on_trends(self, e: ev.RoundTrends) -> None:
        self.query_one(ProgressPane).set_trends(e.rounds)

    def _on_stop_step(self, e: ev.StopStep) -> None:
        left = f", {e.remaining} left" if e.remaining else ""
        self.status.set_detail(f"stopping: {e.step}{left} {e.detail}".strip(), self.clock())

    def _on_identity(self, e: ev.IdentityChanged) -> None:
        pane = self.query_one(IdentityPane)
        pane.set_report(e.report)
        peer = e.report.get("peer_id") or None
        if self._last_peer and peer and peer != self._last_peer:
            self.notify(f"Peer id changed: {short(self._last_peer, 16)} -> {short(peer, 16)} "
                        f"({e.report.get('animal_name') or '?'})", title="Identity", severity="warning", timeout=20)
        elif self._last_peer and not peer:
            self.notify("swarm.pem is gone: the next start makes a new identity", title="Identity",
                        severity="warning", timeout=20)
        if peer:
            self._last_peer = peer

    def _on_login(self, e: ev.LoginRequired) -> None:
        pane = self.query_one(IdentityPane)
        pane.set_login(e.url, e.waiting_for)
        self._show_needs_you()
        if not self._login_notified:
            self._login_notified = True
            self.notify(f"Log in at {e.url} — tunnel: {pane.ssh_command}", title=LOGIN_TOAST_TITLE,
                        severity="warning", timeout=20)

    def _dismiss_toasts(self, title: str) -> None:
        """Take down the toasts with this title that are still on screen (Textual keeps them in
        a private collection; if that changes, they simply time out)."""
        try:
            stale = [n for n in self._notifications if n.title == title]
            for n in stale:
                self._unnotify(n, refresh=False)
            if stale:
                self._refresh_notifications()
        except Exception:
            pass

    def _on_history(self, e: ev.HistoryAppended) -> None:
        self.query_one(HistoryPane).add(e.record)
        self._count_restarts()

    def _on_history_loaded(self, e: ev.HistoryLoaded) -> None:
        self.query_one(HistoryPane).set_records(e.records)
        self._count_restarts()

    def _count_restarts(self) -> None:
        now = self.wall_clock()
        day = _dt.timedelta(hours=24)
        count = 0
        for record in self.query_one(HistoryPane).records:
            if record.get("action", "restart") != "restart":
                continue            # a stop you asked for or a clean-up is not a restart
            t = record_time(record)
            if t is None or now - t <= day:
                count += 1
        self.status.restarts_24h = count
        self.status.tick(self.clock())

    def _said_already(self, detail: str) -> bool:
        """The pre-flight toast just said this (the engine's needs-user repeats its problems)."""
        said, self._preflight_toast = self._preflight_toast, ""
        return bool(said and detail and (detail in said or said in detail))

    def _on_preflight(self, e: ev.PreflightFailed) -> None:
        text = "; ".join(e.problems) or "pre-flight failed"
        self._preflight_toast = text
        # The needs-you state that follows names only the first problem: the box shows them all.
        self._preflight_problems = list(e.problems)
        self.status.set_detail(f"cannot start: {short(text, 140)}", self.clock())
        # Cut short and up for 10 s: the needs-you box keeps the whole text on screen, and this
        # toast at full length for 30 s covered that box's right half at 80 columns.
        self.notify(f"{short(text, 100)} (the box at the top says what to do)", title="Cannot start the node",
                    severity="error", timeout=10)

    def _on_action_done(self, e: ev.ActionDone) -> None:
        if e.action == "answer" and self.pending_prompt is not None:
            # Answered (here or in another panel attached to the same keeper): the question is
            # closed everywhere, so no panel still asks it.
            self.pending_prompt = None
            self.status.prompt_pending = False
            if isinstance(self.screen, PromptScreen):
                self.screen.dismiss(None)
            self._show_needs_you()
            self.refresh_bindings()
        backups = (" Backup: " + ", ".join(e.backups)) if e.backups else ""
        self.notify(f"{e.action}: {e.detail or ('done' if e.ok else 'failed')}.{backups}",
                    severity="information" if e.ok else "error", timeout=15)

    def _on_notice(self, e: ev.Notice) -> None:
        severity = {"warning": "warning", "error": "error"}.get(e.level, "information")
        self.notify(e.text, severity=severity, timeout=10)  # type: ignore[arg-type]

    def _tick(self) -> None:
        gone = getattr(self._driver, "terminal_gone", None)
        if gone is not None and not self.lost_terminal and gone():
            self._on_hangup(signal.SIGHUP)       # hung up without a SIGHUP reaching us
            return
        now = self.clock()
        try:
            self.status.tick(now)
            self.query_one(ProgressPane).tick(now)
            minute = int(time.monotonic() // 60)
            if minute != self._timeline_minute:     # the restart timeline's hours move on
                self._timeline_minute = minute
                self.query_one(HistoryPane).update_timeline()
        except NoMatches:
            pass

    # ---------------------------------------------------------------- layout

    def on_resize(self, event) -> None:
        self._apply_size(event.size.width, event.size.height)

    def _apply_size(self, width: int, height: int) -> None:
        compact = width < COMPACT_WIDTH or height < COMPACT_HEIGHT
        self.compact = compact
        panes = self.query_one("#panes")
        panes.set_class(compact, "-compact")
        # Wide terminals give the left column its share (a fixed 50 left 200 columns with a
        # wrapped peer id and a history "what" column of dates only).
        panes.set_class(not compact and width >= ROOMY_WIDTH, "-roomy")
        panes.set_class(height < SHORT_HEIGHT, "-short")
        panes.set_class(not compact and height >= TALL_HEIGHT, "-tall")
        self.query_one(NeedsYouBox).set_class(height < SHORT_HEIGHT, "-short")
        # Below 24 lines every line goes to the node's own panes: no host strip.
        self.query_one(HostStrip).display = height >= HOST_STRIP_MIN_HEIGHT
        self._show_compact(self.compact_pane)

    def _show_compact(self, pane_id: str) -> None:
        self.compact_pane = pane_id
        for pid in COMPACT_PANES:
            self.pane(pid).set_class(pid == pane_id, "-shown")
        tabs = []
        for pid in COMPACT_PANES:
            name = PANE_NAMES[pid]
            tabs.append(f"[reverse] {name} [/]" if pid == pane_id else f" {name} ")
        self.query_one("#pane-tabs", Static).update(" ".join(tabs) + "  [dim]tab: next pane[/]")

    def _focus_target(self, pane_id: str):
        if pane_id == "log-pane":
            return self.log_view
        if pane_id in ("history-pane", "procs-pane"):
            return self.pane(pane_id).query_one(DataTable)
        return self.pane(pane_id)

    def _current_pane(self) -> str | None:
        node = self.focused
        while node is not None:
            if node.id in PANE_NAMES:
                return node.id
            node = node.parent
        return None

    def show_pane(self, pane_id: str) -> None:
        if self.compact:
            self._show_compact(pane_id)
        self._focus_target(pane_id).focus()

    def _cycle(self, step: int) -> None:
        order = COMPACT_PANES if self.compact else WIDE_ORDER
        current = self._current_pane() or (self.compact_pane if self.compact else order[0])
        index = order.index(current) if current in order else -1
        self.show_pane(order[(index + step) % len(order)])

    # ---------------------------------------------------------------- actions (keys, palette)

    def _describe_binding(self, binding_id: str, description: str) -> None:
        import dataclasses

        # A new list per key, never the old one changed in place: the instance's map is a shallow
        # copy of the class's, so an in-place change reached every later panel in the process
        # (an attached panel's "Detach" showed in the next one's footer).
        key_to_bindings = self._bindings.key_to_bindings
        for key, bindings in list(key_to_bindings.items()):
            key_to_bindings[key] = [dataclasses.replace(b, description=description) if b.id == binding_id else b
                                    for b in bindings]

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in PANEL_ACTIONS and isinstance(self.screen, ModalScreen):
            return False
        if action == "answer_prompt":
            return self.pending_prompt is not None
        return True

    def send(self, command: ev.Command) -> None:
        self.sent.append(command)
        if self.engine is None:
            self.notify(f"The engine is still starting: {command.kind} not sent, try again in a moment",
                        severity="warning", timeout=4)
            return
        try:
            self.engine.send(command)
        except Exception as exc:
            self.notify(f"The engine refused {command.kind}: {exc}", severity="error", timeout=10)

    def _node_running(self) -> bool:
        """Whether there is a node to stop: quitting with nothing running asks nothing, and `s`
        after a failed pre-flight starts (retries) instead of offering to stop nothing."""
        if self.state in RUNNING_STATES:
            return True
        return self.state in WAITING_STATES and self._procs_alive

    def action_restart(self) -> None:
        if not self._node_running() or self.engine is None:
            # Nothing runs, so nothing is lost: r starts the node now, asking nothing (and before
            # the engine exists, send() says it is still starting).
            self._send_restart()
            return
        text = wording.restart(self.layout, self.keep_login, self.status.uptime(self.clock()),
                               self.rounds_this_run(), self.stop_timeout_s)
        # The safe choice first: it has the focus, so Enter cancels.
        choices = (Choice("no", "Cancel", "n"), Choice("yes", "Restart now", "y", "error"))

        def done(answer: str | None) -> None:
            if answer == "yes":
                self._send_restart()

        self.push_screen(ConfirmScreen(text, choices), done)

    def _send_restart(self) -> None:
        self.send(ev.RestartNode(reason="manual"))
        self.notify("Restart requested (reason: manual)", timeout=4)

    def action_stop_start(self) -> None:
        # Backing off, nothing may run, but a restart is due: `s` stops that (a crash loop is
        # when an operator reaches for it), it does not start the node early.
        if not (self._node_running() or self.state == ev.BACKOFF):
            self.send(ev.StartNode())
            self.notify("Starting the node", timeout=4)
            return
        text = wording.stop(self.layout, self.keep_login, self.stop_timeout_s)
        choices = (Choice("no", "Cancel", "n"), Choice("yes", "Stop the node", "y", "error"))

        def done(answer: str | None) -> None:
            if answer == "yes":
                self.send(ev.StopNode(reason="manual"))
                self.notify("Stopping the node", timeout=4)

        self.push_screen(ConfirmScreen(text, choices), done)

    def action_logout(self) -> None:
        text = wording.logout(self.layout, self._node_running())
        choices = (Choice("no", "Cancel", "n"), Choice("yes", "Log out", "y", "error"))

        def done(answer: str | None) -> None:
            if answer == "yes":
                self.send(ev.Logout())

        self.push_screen(ConfirmScreen(text, choices), done)

    def action_reset_identity(self) -> None:
        text = wording.reset_identity(self.layout, self._node_running())
        choices = (Choice("no", "Cancel", "n"), Choice("yes", "Reset identity", "y", "error"))

        def done(answer: str | None) -> None:
            if answer == "yes":
                self.send(ev.ResetIdentity())

        self.push_screen(ConfirmScreen(text, choices), done)

    def action_restore_backup(self) -> None:
        """The backups the engine listed; one chosen and confirmed goes back. While the node runs
        the list is shown with why nothing can be restored yet (the engine refuses too)."""
        backups = list(self.query_one(IdentityPane).report.get("restorable") or [])
        running = self._node_running()
        note = (f"The node is running: stop it first ({self.key_for('stop-start')}), then restore. A running "
                "node keeps the key and login it loaded, so a restore now would show only later."
                if running else "")

        def chosen(backup: dict[str, Any] | None) -> None:
            if backup is None:
                return
            if self._node_running():
                self.notify(f"Not restored: the node is running; stop it first ({self.key_for('stop-start')})",
                            title="Restore", severity="warning", timeout=8)
                return
            partner = next((b for b in backups if b.get("path") == backup.get("partner")), None)
            text = wording.restore(self.layout, backup, partner)
            choices = (Choice("no", "Cancel", "n"), Choice("yes", "Restore", "y", "error"))

            def done(answer: str | None) -> None:
                if answer == "yes":
                    self.send(ev.RestoreBackup(path=str(backup.get("path"))))

            self.push_screen(ConfirmScreen(text, choices), done)

        self.push_screen(RestoreScreen(backups, running_note=note, now=self.wall_clock()), chosen)

    def action_quit_panel(self) -> None:
        if self._quitting:          # q again while stopping: stop waiting (close() still stops)
            self.exit(0)
            return
        if not self._node_running() or self.engine is None:    # nothing started yet: nothing to stop
            self.exit(0)
            return
        can_leave = bool(getattr(self.engine, "survives_panel", False))
        text = wording.quit_running(self.layout, self.keep_login, can_leave)
        if can_leave:
            # The safe choice first (focused, and q again picks it): the node keeps running.
            choices = [Choice("leave", "Detach, keep it running", "q", "primary"),
                       Choice("stop", "Stop the node and quit", "s", "error"), Choice("cancel", "Cancel", "n")]
        else:
            choices = [Choice("cancel", "Cancel", "n"), Choice("stop", "Stop the node and quit", "s", "error")]

        def done(answer: str | None) -> None:
            if answer == "stop":
                self._quitting = True
                self._quit_deadline = self.clock() + QUIT_WAIT_S
                self.send(ev.StopNode(reason="manual"))
                self.status.set_detail("quitting: stopping the node first (q again: quit now)", self.clock())
            elif answer == "leave" and can_leave:
                self._leave_running = True
                self.exit(0)

        self.push_screen(ConfirmScreen(text, tuple(choices)), done)

    def action_detach(self) -> None:
        if self._quitting or not getattr(self.engine, "survives_panel", False):
            self.action_quit_panel()
            return
        self._leave_running = True
        self.exit(0)

    async def action_quit(self) -> None:
        # ctrl+q (Textual's own quit key) takes the same road as q.
        self.action_quit_panel()

    def action_help_quit(self) -> None:
        """ctrl+c. Textual's own answer is a toast written in markup, and toasts here never parse
        markup (node text is full of brackets): it showed `Press [b]ctrl+q[/b]`. Plain words."""
        self.notify(f"ctrl+c does not quit swarmtui: press {self.key_for('quit')} to quit "
                    f"({'asks' if self._node_running() else 'nothing runs, so it asks nothing'})",
                    title="Quit?", timeout=6)

    def action_help(self) -> None:
        self.push_screen(HelpScreen(self.key_table(), str(clipboard.copy_file_path()), attached=self.attached))

    def key_table(self) -> list[tuple[str, str]]:
        """(key as currently mapped, what it does) for every panel binding, keymap applied."""
        rows = []
        described = {
            "restart": "restart the node (asks; says if a reward submission is pending)",
            "stop-start": "stop the node (asks) / start it",
            "logout": "log out: back up and remove the login files (asks)",
            "reset-identity": "reset identity: move swarm.pem to a backup (asks)",
            "restore": "backups of swarm.pem and the login files: restore one (asks; not while the node runs)",
            "copy": "copy what the focused pane holds",
            "search": "search the log",
            "filter": "filter the log (only matching lines)",
            "next-pane": "next pane",
            "prev-pane": "previous pane",
            "answer": "answer the node's pending question",
            "help": "this help",
            "help-f1": "this help",
            "quit": ("detach: the panel quits, the node keeps running under its keeper (asks: detach, "
                     "or stop the node and quit)" if self.attached else "quit (asks while the node runs)"),
        }
        # The main screen's active bindings carry the user's keymap; the class BINDINGS do not.
        by_id: dict[str, list[str]] = {}
        for key, active in self.screen.active_bindings.items():
            binding = active.binding
            if binding.id in described and active.node is self:
                by_id.setdefault(binding.id, []).append(self.get_key_display(binding))
        # F1 is a second key for help: one row that names both.
        by_id.setdefault("help", []).extend(by_id.pop("help-f1", []))
        del described["help-f1"]
        for binding_id, what in described.items():
            if binding_id in by_id:
                rows.append((", ".join(by_id[binding_id]), what))
        rows.append(("ctrl+p", "command palette: every action by name"))
        return rows

    def action_search(self) -> None:
        self.show_pane("log-pane")
        self.log_pane.open_input("search")

    def action_filter(self) -> None:
        self.show_pane("log-pane")
        self.log_pane.open_input("filter")

    def action_clear_filter(self) -> None:
        self.log_view.set_filter("")
        self.log_pane._update_titles()

    def action_follow_log(self) -> None:
        self.show_pane("log-pane")
        self.log_view.follow()

    def action_next_pane(self) -> None:
        self._cycle(+1)

    def action_prev_pane(self) -> None:
        self._cycle(-1)

    def action_answer_prompt(self) -> None:
        prompt = self.pending_prompt
        if prompt is None:
            return

        def done(answer: str | None) -> None:
            if answer is None or self.pending_prompt is not prompt:
                return
            self.pending_prompt = None
            self.status.prompt_pending = False
            self.status.tick(self.clock())
            self.send(ev.AnswerPrompt(text=answer, secret=prompt.secret))
            self._show_needs_you()
            self.refresh_bindings()

        self.push_screen(PromptScreen(prompt.text, prompt.secret), done)

    def on_history_pane_record_chosen(self, message: HistoryPane.RecordChosen) -> None:
        from swarmtui import paths

        root = getattr(self.layout, "root", None)
        # A remote checkout's transcripts are on its host: the record shows what it carries.
        remote = getattr(self.layout, "remote", False)
        state = paths.node_state_dir(Path(root)) if root is not None and not remote else None
        self.push_screen(RecordScreen(message.record, state_dir=state, now=self.wall_clock()))

    def on_log_view_repeats_chosen(self, message: LogView.RepeatsChosen) -> None:
        e = message.entry
        self.push_screen(RepeatsScreen(e.tag, e.full or e.text, list(e.copies or ()), e.repeats))

    # ---------------------------------------------------------------- toasts

    def notify(self, message: str, *, title: str = "", severity="information", timeout=None, markup: bool = False) -> None:
        """Toasts never parse markup (node text is full of [brackets]); each is also kept in
        `self.toasts` (newest last, bounded) so what the operator was told can be inspected. Every
        toast passes here, and many quote the node or a file: each is sanitized, lines kept."""
        message = sanitize(str(message), keep_newlines=True)
        title = sanitize(str(title))
        self.toasts.append((str(severity), message))
        del self.toasts[:-50]
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=markup)
        if self.is_running:
            # Textual 8.2.8 takes an expired toast out of its screen without repainting what was
            # under it: in a real terminal the toast stayed drawn (over the needs-you box) until
            # something else redrew those rows. Measured in tmux with a bare App: stale without
            # this, clean with it.
            shown_for = self.NOTIFICATION_TIMEOUT if timeout is None else timeout
            self.set_timer(shown_for + 0.3, self._repaint_after_toast)

    def on_notify(self, event) -> None:
        """After Textual added a toast: at most MAX_TOASTS on screen, and the new one replaces any
        still shown with its title (or its words): a burst of restarts stacked ten toasts over
        the panes (issue 14). Textual keeps them in a private collection; if that changes, they
        only pile up as before."""
        new = event.notification
        try:
            shown = [n for n in self._notifications if n is not new]
            stale = [n for n in shown if (new.title and n.title == new.title) or n.message == new.message]
            fresh = [n for n in shown if n not in stale]
            stale += fresh[:max(0, len(fresh) - (MAX_TOASTS - 1))]
            for n in stale:
                self._unnotify(n, refresh=False)
            if stale:
                self._refresh_notifications()
        except Exception:
            pass

    def _repaint_after_toast(self) -> None:
        self.screen.refresh()

    # ---------------------------------------------------------------- copy

    def copy_target(self) -> tuple[str, str] | None:
        """(what, text) that `c` copies, decided by the focused pane."""
        pane = self._current_pane()
        if pane == "log-pane":
            entry = self.log_view.selected()
            if entry is not None:
                return "log line", entry.plain
        elif pane == "history-pane":
            record = self.query_one(HistoryPane).selected()
            if record is not None:
                return "restart record", json.dumps(record, indent=2, ensure_ascii=False)
        elif pane == "procs-pane":
            proc = self.query_one(ProcessPane).selected()
            if proc is not None:
                return "process", f"{proc.pid} {proc.cmdline}"
        return self.query_one(IdentityPane).copy_text()

    def action_copy(self) -> None:
        target = self.copy_target()
        if target is None:
            self.notify("Nothing to copy yet", severity="warning", timeout=3)
            return
        self.copy_with_toast(*target)

    def action_copy_peer_id(self) -> None:
        peer = self.query_one(IdentityPane).peer_id
        if peer:
            self.copy_with_toast("peer id", peer)
        else:
            self.notify("No peer id yet", severity="warning", timeout=3)

    def action_copy_ssh(self) -> None:
        self.copy_with_toast("ssh tunnel command", self.query_one(IdentityPane).ssh_command)

    def copy_with_toast(self, what: str, text: str) -> None:
        self.copy_to_clipboard(text)   # OSC 52, on the app thread
        self._copy_elsewhere(what, text)

    @work(thread=True, group="clipboard", exit_on_error=False)
    def _copy_elsewhere(self, what: str, text: str) -> None:
        result = clipboard.copy_text(text, osc52=None)
        result.methods.insert(0, "OSC 52")
        self.last_copy = (what, text, result)
        self.call_from_thread(self.notify, f"Copied {what} {result.summary()}", title="Copy", timeout=6)


def _safe_user() -> str | None:
    try:
        return getpass.getuser()
    except Exception:
        return None


def run_panel(app: SwarmApp) -> int:
    """Run the app, then the synchronous safety net: kill the recorded process group even if the
    event loop died before on_unmount could stop the node."""
    kill = app.emergency_kill
    atexit.register(_quiet(kill))
    app.freeze_heap_after_start = True
    try:
        result = app.run()
    finally:
        _quiet(kill)()
    return int(result or app.return_code or 0)


def _quiet(fn: Callable[[], None]) -> Callable[[], None]:
    def call() -> None:
        try:
            fn()
        except Exception:
            pass
    return call
