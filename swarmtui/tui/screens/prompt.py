"""The node asked something no rule answers: the operator types the answer here."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

from swarmtui.node.text import sanitize


class PromptScreen(ModalScreen[str | None]):
    """Returns the typed answer, or None for "later" (the prompt stays pending: `a` reopens it)."""

    BINDINGS = [Binding("escape", "later", "Later", show=False)]

    def __init__(self, prompt_text: str, secret: bool):
        super().__init__()
        self.prompt_text = prompt_text
        self.secret = secret

    def compose(self) -> ComposeResult:
        with Vertical(id="prompt-box", classes="dialog"):
            yield Static("The node is asking:", classes="dialog-title")
            # The node's own words: cleaned here too, whoever built the event.
            yield Static(sanitize(self.prompt_text).strip() or "(an empty prompt)", id="prompt-text", markup=False)
            note = ("Your answer is hidden, sent to the node only, and never written to a log or "
                    "the history." if self.secret else "Your answer is sent to the node's terminal.")
            yield Static(note, id="prompt-note", markup=False)
            yield Input(password=self.secret, id="prompt-input",
                        placeholder="token" if self.secret else "answer")
            with Horizontal(classes="dialog-buttons"):
                yield Button(Content("Later [esc]"), id="prompt-later")
                yield Button(Content("Send [enter]"), id="prompt-send", variant="primary")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "prompt-send":
            self.dismiss(self.query_one(Input).value)
        else:
            self.dismiss(None)

    def action_later(self) -> None:
        self.dismiss(None)
