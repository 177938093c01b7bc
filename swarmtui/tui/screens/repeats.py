"""A collapsed log line opened up: the line, then each repeat the log pane counted on it (the
newest ones it kept), each with its own time stamp."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from swarmtui.node.text import sanitize


class RepeatsScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape", "close", "Close"),
        Binding("q", "close", "Close", show=False),
        Binding("enter", "close", "Close", show=False),
        Binding("c", "copy_lines", "Copy"),
    ]

    def __init__(self, tag: str, first: str, copies: list[str], repeats: int):
        super().__init__()
        self.tag = tag.strip()
        self.first = first
        self.copies = copies
        self.repeats = repeats

    def lines(self) -> list[str]:
        """What the body shows (and `c` copies): the first line, then the kept repeats."""
        return [sanitize(self.first), *(sanitize(c) for c in self.copies)]

    def compose(self) -> ComposeResult:
        total = self.repeats + 1
        kept = len(self.copies)
        with Vertical(id="repeats-box", classes="dialog"):
            yield Static(sanitize(f"{self.tag}: the same line {total} times in a row"), classes="dialog-title",
                         markup=False)
            if not kept:
                yield Static(f"The first only: its {self.repeats} repeats were counted, not kept (the log keeps "
                             "the copies of its newest collapsed lines).", id="repeats-note", markup=False)
            elif kept < self.repeats:
                yield Static(f"The first, then the newest {kept} repeats ({self.repeats - kept} in between "
                             "were counted, not kept).", id="repeats-note", markup=False)
            with VerticalScroll(id="repeats-body"):
                yield Static("\n".join(self.lines()), id="repeats-lines", markup=False)
            yield Static("esc close · c copy these lines", classes="dialog-hint")

    def action_copy_lines(self) -> None:
        copy = getattr(self.app, "copy_with_toast", None)
        if copy is not None:
            copy("repeated lines", "\n".join(self.lines()))

    def action_close(self) -> None:
        self.dismiss(None)
