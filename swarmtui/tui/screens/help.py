"""`?`: every key (as currently mapped), what the panes show, and where copies go."""

from __future__ import annotations

import textwrap

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Static

PANES = (
    ("status", "state and why, uptime, restarts in the last 24 h, the next restart's countdown"),
    ("log", "the node's terminal and log files merged; tag = source; errors red, detections marked"),
    ("progress", "round, stage, step bar, rate and ETA, rounds done/skipped, time since progress"),
    ("identity", "peer id, animal name, swarm.pem, login files; the ssh tunnel when a login is due"),
    ("history", "restarts, newest first; enter opens the full record with its evidence"),
    ("processes", "our process tree with CPU, memory, ports; Σ = the whole subtree; ⚠ = in the way"),
)

KEY_WIDTH = 28
TEXT_WIDTH = 66

LOG_KEYS = (
    ("up/down, pgup/pgdn, home", "move the cursor (pauses following)"),
    ("end", "follow the tail again"),
    ("n / N", "next / previous search match"),
    ("esc", "close the search or filter box (a filter box: undo)"),
)


class HelpScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape", "close", "Close"),
        Binding("question_mark", "close", "Close", show=False),
        Binding("q", "close", "Close", show=False),
    ]

    def __init__(self, keys: list[tuple[str, str]], copy_file: str):
        super().__init__()
        self.keys = keys
        self.copy_file = copy_file

    def compose(self) -> ComposeResult:
        # One Static holding every line: a screen of forty small widgets took a few hundred
        # milliseconds to mount while the log was flooding.
        with Vertical(id="help-box", classes="dialog"):
            yield Static("swarmtui: keys", classes="dialog-title")
            with VerticalScroll(id="help-body"):
                yield Static(self.body(), id="help-text")
            yield Static("esc close · ctrl+p: every action by name", classes="dialog-hint")

    def body(self) -> Content:
        parts: list[Content] = []
        parts += self._table(self.keys, "bold $text-accent")
        parts += [Content(""), Content.styled("in the log", "bold")]
        parts += self._table(list(LOG_KEYS), "bold $text-accent")
        parts += [Content(""), Content.styled("panes", "bold")]
        parts += self._table(list(PANES), "bold")
        parts += [Content(""), Content.styled("copy", "bold")]
        parts += [Content(line) for line in textwrap.wrap(
            "c copies what the focused pane holds (log line, record, process, peer id or ssh "
            "command) via OSC 52, the tmux buffer inside tmux, the local clipboard when there "
            f"is one, and always to {self.copy_file}. In tmux, `set -g set-clipboard on` helps.", TEXT_WIDTH + KEY_WIDTH)]
        parts += [Content(""), Content.styled("lost terminal", "bold")]
        parts += [Content(line) for line in textwrap.wrap(
            "If the terminal goes away (SSH drop, tmux pane killed, SIGHUP), the panel stops "
            "the node with the full stop sequence and exits; nothing keeps running unattended.", TEXT_WIDTH + KEY_WIDTH)]
        return Content("\n").join(parts)

    @staticmethod
    def _table(rows: list[tuple[str, str]], key_style: str) -> list[Content]:
        out = []
        for key, what in rows:
            wrapped = textwrap.wrap(what, TEXT_WIDTH) or [""]
            out.append(Content.assemble((key.rjust(KEY_WIDTH - 2), key_style), "  ", wrapped[0]))
            out += [Content(" " * KEY_WIDTH + more) for more in wrapped[1:]]
        return out

    def action_close(self) -> None:
        self.dismiss(None)
