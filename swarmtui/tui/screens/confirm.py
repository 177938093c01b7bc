"""A modal that asks before anything destructive, naming the files it touches."""

from __future__ import annotations

from dataclasses import dataclass

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from swarmtui.node.text import sanitize
from swarmtui.tui.wording import Confirmation


@dataclass(frozen=True)
class Choice:
    id: str             # what dismiss() returns
    label: str
    key: str            # a single key that picks it
    variant: str = "default"


YES_NO = (Choice("no", "Cancel", "n"), Choice("yes", "Yes", "y", "error"))


class ConfirmScreen(ModalScreen[str | None]):
    """Returns the chosen Choice.id, or None on escape. Focus starts on the first (safe) choice."""

    BINDINGS = [Binding("escape", "choose('')", "Cancel", show=False)]

    def __init__(self, confirmation: Confirmation, choices: tuple[Choice, ...] = YES_NO,
                 *, name: str | None = None):
        super().__init__(name=name)
        self.confirmation = confirmation
        self.choices = choices

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-box", classes="dialog"):
            yield Static(sanitize(self.confirmation.title), id="confirm-title", classes="dialog-title", markup=False)
            with VerticalScroll(id="confirm-body"):
                for line in self.confirmation.lines:   # they name paths: a directory name can hold escapes
                    yield Static(sanitize(line), classes="confirm-line", markup=False)
            with Horizontal(classes="dialog-buttons"):
                for c in self.choices:
                    yield Button(Content(f"{c.label} [{c.key}]"), id=f"choice-{c.id}", variant=c.variant)  # type: ignore[arg-type]

    def on_mount(self) -> None:
        self.query_one(f"#choice-{self.choices[0].id}", Button).focus()

    def on_key(self, event) -> None:
        for c in self.choices:
            if event.key == c.key or event.character == c.key:
                event.stop()
                self.dismiss(c.id)
                return

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss((event.button.id or "").removeprefix("choice-"))

    def action_choose(self, choice: str) -> None:
        self.dismiss(choice or None)
