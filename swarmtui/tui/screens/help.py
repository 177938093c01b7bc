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
    ("progress", "round, stage, step bar, rate and ETA, rounds done/skipped, time since progress; "
                 "trends of the last rounds (this and earlier runs): round time, reward or bets per round"),
    ("identity", "peer id, animal name, swarm.pem, login files; the ssh tunnel when a login is due"),
    ("history", "restarts per hour over the last day (a bar an hour, newest right), then the restarts, "
                "newest first; enter opens the full record with its evidence"),
    ("processes", "our process tree with CPU, memory, ports; Σ = the whole subtree; ⚠ = in the way"),
    ("host", "the bottom line: CPU, RAM, swap, free disk of the checkout, GPU memory (NVIDIA, with "
             "nvidia-ml-py) of the node's host, with the last two minutes as bars (0-100 %)"),
)

KEY_WIDTH = 28
TEXT_WIDTH = 66
NARROW_KEY_WIDTH = 14
# The dialog is 100 columns or 96% of the screen; its border, padding and scrollbar take 6.
BOX_WIDTH = 100
BOX_CHROME = 6

LOG_KEYS = (
    ("up/down, pgup/pgdn, home", "move the cursor (pauses following)"),
    ("end", "follow the tail again"),
    ("n / N", "next / previous search match"),
    ("esc", "close the search or filter box (a filter box: undo)"),
    ("enter", "on a line marked ×N (the same line N times in a row): each of them"),
)


class HelpScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape", "close", "Close"),
        Binding("question_mark", "close", "Close", show=False),
        Binding("q", "close", "Close", show=False),
    ]

    def __init__(self, keys: list[tuple[str, str]], copy_file: str, attached: bool = False):
        super().__init__()
        self.keys = keys
        self.copy_file = copy_file
        self.attached = attached

    def compose(self) -> ComposeResult:
        # One Static holding every line: a screen of forty small widgets took a few hundred
        # milliseconds to mount while the log was flooding.
        with Vertical(id="help-box", classes="dialog"):
            yield Static("swarmtui: keys", classes="dialog-title")
            with VerticalScroll(id="help-body"):
                self._wrapped_at = self._width()
                yield Static(self.body(self._wrapped_at), id="help-text")
            yield Static("esc close · ctrl+p: every action by name", classes="dialog-hint")

    def _width(self) -> int:
        """Columns for the text: the lines are wrapped here, so they must fit the dialog (at
        80 columns a 94-wide table wrapped a second time, descriptions under the keys)."""
        return max(30, min(BOX_WIDTH, int(self.app.size.width * 0.96)) - BOX_CHROME)

    def on_mount(self) -> None:
        self._fit_height()

    def on_resize(self) -> None:
        width = self._width()
        if width != self._wrapped_at:            # only a new width needs new lines
            self._wrapped_at = width
            self.query_one("#help-text", Static).update(self.body(width))
        self._fit_height()

    def _fit_height(self) -> None:
        # The body scrolls; at 24 rows its 30-row maximum (app.tcss) pushed "esc close" off the
        # screen. The rest of the dialog (title, hint, borders, margins) takes 10 rows. Left to
        # the stylesheet where it fits, so a tall screen lays out exactly as before.
        body = self.query_one("#help-body")
        fit = max(5, self.app.size.height - 10)
        if fit < 30:
            body.styles.max_height = fit
        elif body.styles.inline.has_rule("max_height"):   # grown back: the stylesheet's again
            body.styles.inline.clear_rule("max_height")
            body.refresh(layout=True)

    def body(self, width: int = KEY_WIDTH + TEXT_WIDTH) -> Content:
        key_width = KEY_WIDTH if width - KEY_WIDTH >= 40 else NARROW_KEY_WIDTH
        parts: list[Content] = []
        parts += self._table(self.keys, "bold $text-accent", key_width, width)
        parts += [Content(""), Content.styled("in the log", "bold")]
        parts += self._table(list(LOG_KEYS), "bold $text-accent", key_width, width)
        parts += [Content(""), Content.styled("panes", "bold")]
        parts += self._table(list(PANES), "bold", key_width, width)
        parts += [Content(""), Content.styled("copy", "bold")]
        parts += [Content(line) for line in textwrap.wrap(
            "c copies what the focused pane holds (log line, record, process, peer id or ssh "
            "command) via OSC 52, the tmux buffer inside tmux, the local clipboard when there "
            f"is one, and always to {self.copy_file}. In tmux, `set -g set-clipboard on` helps.", width)]
        parts += [Content(""), Content.styled("lost terminal", "bold")]
        lost = ("The node runs under its keeper, not in this panel: if the terminal goes away (SSH "
                "drop, tmux killed, SIGHUP) the panel only detaches and the node keeps running. "
                "`swarmtui attach` (or `swarmtui` in the checkout) comes back from any terminal; "
                "`swarmtui stop` stops it." if self.attached else
                "If the terminal goes away (SSH drop, tmux pane killed, SIGHUP), the panel stops "
                "the node with the full stop sequence and exits; nothing keeps running unattended.")
        parts += [Content(line) for line in textwrap.wrap(lost, width)]
        return Content("\n").join(parts)

    @staticmethod
    def _table(rows: list[tuple[str, str]], key_style: str, key_width: int, width: int) -> list[Content]:
        out = []
        for key, what in rows:
            if len(key) > key_width - 2:       # a long key on its own line, the text under it
                out.append(Content.styled(key, key_style))
                key = ""
            wrapped = textwrap.wrap(what, width - key_width) or [""]
            out.append(Content.assemble((key.rjust(key_width - 2), key_style), "  ", wrapped[0]))
            out += [Content(" " * key_width + more) for more in wrapped[1:]]
        return out

    def action_close(self) -> None:
        self.dismiss(None)
