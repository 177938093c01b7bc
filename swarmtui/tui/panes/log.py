"""The log pane: the LogView, the node's unterminated line (a tqdm bar), and the search/filter box."""

from __future__ import annotations

from typing import Iterable, Literal

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.widgets import Input, Static

from swarmtui.engine.events import LogLine
from swarmtui.node.text import sanitize
from swarmtui.tui.format import short
from swarmtui.tui.panes.logview import LogView

Mode = Literal["search", "filter"]


class LogPane(Vertical):
    """Border title: what is shown (filter, search); border subtitle: following or paused +N."""

    # Shown only while the box is open (check_action): the box takes q and ?, so the footer
    # would otherwise lose every way out at 60 columns (issue 14). ctrl+q is Textual's own quit
    # key, which the panel sends down the same road as q.
    BINDINGS = [Binding("escape", "close_input", "Close"),
                Binding("ctrl+q", "quit_from_box", "Quit", key_display="^q")]

    def __init__(self, max_lines: int = 5000, *, id: str | None = None, classes: str | None = None):
        super().__init__(id=id, classes=classes)
        self._max_lines = max_lines
        self.mode: Mode | None = None
        self._filter_before = ""
        self.last_search_found: bool | None = None
        self._partial = ""
        self._title = self._subtitle = ""

    def compose(self) -> ComposeResult:
        yield LogView(self._max_lines, id="log-view")
        yield Static("", id="log-partial", markup=False)
        yield Input(id="log-input", classes="-hidden", select_on_focus=False)

    def on_mount(self) -> None:
        self.query_one("#log-partial").display = False
        self._update_titles()

    @property
    def view(self) -> LogView:
        return self.query_one(LogView)

    def add_lines(self, lines: Iterable[LogLine], partial: str | None = None) -> None:
        self.view.append(lines)
        if partial is not None and partial != self._partial:
            self._partial = partial
            bar = self.query_one("#log-partial", Static)
            bar.display = bool(partial)
            bar.update(short(sanitize(partial), 400))
        self._update_titles()

    # ---------------------------------------------------------------- search / filter box

    def open_input(self, mode: Mode) -> None:
        box = self.query_one("#log-input", Input)
        self.mode = mode
        if mode == "filter":
            self._filter_before = self.view.filter_term
            box.placeholder = "filter: show only lines containing…  (enter: keep, esc: undo, empty: all)"
            box.value = self.view.filter_term
        else:
            box.placeholder = "search the log…  (enter: find newest match, then n / N)"
            box.value = self.view.search_term
        box.remove_class("-hidden")
        box.focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # With no search or filter box open, Esc is not ours: it goes on to the app (the fleet
        # overview maps it to the panel's quit key, "back").
        if action in ("close_input", "quit_from_box") and self.mode is None:
            return False
        return True

    def action_quit_from_box(self) -> None:
        quit_panel = getattr(self.app, "action_quit_panel", None)
        if quit_panel is not None:
            quit_panel()            # the panel's quit: asks while the node runs
        else:
            self.app.exit()

    def action_close_input(self) -> None:
        if self.mode == "filter":
            self.view.set_filter(self._filter_before)
        self._close()

    def _close(self) -> None:
        box = self.query_one("#log-input", Input)
        box.add_class("-hidden")
        self.mode = None
        self.view.focus()
        self._update_titles()

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        if self.mode == "filter":
            self.view.set_filter(event.value)
            self._update_titles()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if self.mode == "filter":
            self.view.set_filter(event.value)
        elif self.mode == "search":
            self.last_search_found = self.view.set_search(event.value)
            if event.value.strip() and not self.last_search_found:
                self.app.notify(f"No line contains {event.value.strip()!r}", severity="warning", timeout=3)
        self._close()

    def on_log_view_follow_changed(self, event: LogView.FollowChanged) -> None:
        event.stop()
        self._update_titles()

    # ---------------------------------------------------------------- titles

    def _update_titles(self) -> None:
        v = self.view
        title = "Log"
        if v.filter_term:
            title += f" · filter {v.filter_term!r}: {len(v.view)} of {len(v.entries)} lines"
        if v.search_term:
            title += f" · search {v.search_term!r}: {v.match_count()} (n/N)"
        if v.following:
            subtitle = "following"
        elif v.new_while_paused:
            subtitle = f"paused · +{v.new_while_paused} new lines · end: follow"
        else:
            subtitle = "paused · end: follow"
        # Each assignment repaints the pane: only when the words change.
        if title != self._title:
            # As Content: a str title is parsed as markup, and a typed "[/x]" would raise.
            self._title = title
            self.border_title = Content(title)
        if subtitle != self._subtitle:
            self._subtitle = self.border_subtitle = subtitle
