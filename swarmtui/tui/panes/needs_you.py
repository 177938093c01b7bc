"""The "needs you" box: what a waiting state needs from a person, whole, and the key that acts.

The status bar has one line for a state's detail and cuts it (at 250 columns too), and the toast
that holds the whole text goes after 20 s. A state that waits for a person must keep saying why
and what to do until it is resolved, so this box wraps the whole text and stays up until the
state changes. The app decides when it shows and which keys act; this only draws them.
"""

from __future__ import annotations

from textual.content import Content
from textual.widgets import Static

from swarmtui.node.text import sanitize


class NeedsYouBox(Static):
    def __init__(self, *, id: str | None = None):
        super().__init__("", id=id, markup=False)
        self.reason = ""
        self.detail = ""
        self.keys: tuple[tuple[str, str], ...] = ()
        self.label = "NEEDS YOU"
        self.display = False

    @property
    def shown(self) -> bool:
        return bool(self.display)

    def show_needs(self, reason: str, detail: str, keys: tuple[tuple[str, str], ...], *,
                   label: str = "NEEDS YOU", login: bool = False) -> None:
        """Show (or update) the box; `keys` are (key as displayed, what it does). `login`: the
        wait is a browser login (a warning, not an error)."""
        if self.display and (reason, detail, keys, label) == (self.reason, self.detail, self.keys, self.label):
            return      # the engine repeats its state: no re-layout for the same words
        self.reason, self.detail, self.keys, self.label = reason, detail, keys, label
        self.set_class(login, "-login")
        self.update(self.render_content())
        self.display = True

    def hide(self) -> None:
        if self.display:
            self.display = False

    def render_content(self) -> Content:
        # Node text (a pre-flight problem quotes a path, a detection quotes a line) is cleaned here,
        # where it is drawn.
        tone = "$warning" if self.has_class("-login") else "$error"
        parts: list[tuple[str, str] | str] = [(f" {sanitize(self.label)} ", f"bold $background on {tone}"), " "]
        if self.reason:
            parts += [(sanitize(self.reason), "bold $text-error"), ": "]
        parts.append(sanitize(self.detail) or "the node waits for you")
        text = Content.assemble(*parts)
        if not self.keys:
            return text
        keys: list[tuple[str, str] | str] = []
        for key, what in self.keys:
            if keys:
                keys.append(("  ·  ", "dim"))
            keys += [(sanitize(key), "bold $text-accent"), f": {sanitize(what)}"]
        return Content("\n").join([text, Content.assemble(*keys)])
