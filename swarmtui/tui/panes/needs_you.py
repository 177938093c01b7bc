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
        self.display = False

    @property
    def shown(self) -> bool:
        return bool(self.display)

    def show_needs(self, reason: str, detail: str, keys: tuple[tuple[str, str], ...]) -> None:
        """Show (or update) the box; `keys` are (key as displayed, what it does)."""
        if self.display and (reason, detail, keys) == (self.reason, self.detail, self.keys):
            return      # the engine repeats its state: no re-layout for the same words
        self.reason, self.detail, self.keys = reason, detail, keys
        self.update(self.render_content())
        self.display = True

    def hide(self) -> None:
        if self.display:
            self.display = False

    def render_content(self) -> Content:
        # Node text (a pre-flight problem quotes a path, a detection quotes a line) is cleaned here,
        # where it is drawn.
        parts: list[tuple[str, str] | str] = [(" NEEDS YOU ", "bold $background on $error"), " "]
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
