"""The backups of swarm.pem and the login files, newest first: pick one to put back.

The list is the engine's (the identity report's `restorable`): the panel reads no file. Enter
returns the chosen backup's dict; the app asks before anything is restored, and the engine
refuses while the node runs."""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static

from swarmtui.node.text import sanitize
from swarmtui.tui.format import local_time


class RestoreScreen(ModalScreen[dict[str, Any] | None]):
    BINDINGS = [
        Binding("escape", "dismiss", "Close"),
        Binding("q", "dismiss", "Close", show=False),
    ]

    def __init__(self, backups: list[dict[str, Any]], *, running_note: str = "", now: Any = None):
        super().__init__()
        self.backups = [b for b in backups if isinstance(b, dict)]
        self.running_note = running_note
        self.now = now

    def compose(self) -> ComposeResult:
        with Vertical(id="restore-box", classes="dialog"):
            yield Static("Backups of swarm.pem and the login files", classes="dialog-title", markup=False)
            if self.running_note:
                yield Static(sanitize(self.running_note), id="restore-note", markup=False)
            if self.backups:
                yield DataTable(id="restore-table", cursor_type="row")
                # The chosen row in full, wrapped: at 80 columns the table cuts the peer id.
                yield Static("", id="restore-detail", markup=False)
            else:
                yield Static("No backups yet: swarmtui makes one before it moves or deletes swarm.pem or the "
                             "login files (reset identity, log out, restore).", id="restore-empty", markup=False)
            yield Static("enter restore the chosen one (asks first) · esc close", classes="dialog-hint")

    def on_mount(self) -> None:
        if not self.backups:
            return
        table = self.query_one(DataTable)
        for name in ("when", "file", "what"):
            table.add_column(name, key=name)
        for i, b in enumerate(self.backups):
            # DataTable parses str cells as markup: escaped after cleaning (a backup's text is a
            # file's content: an email address, an org id).
            table.add_row(*(escape(sanitize(str(v))) for v in (
                local_time(b.get("time"), self.now), b.get("target", "?"), b.get("detail", ""))), key=str(i))
        table.focus()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        row = event.cursor_row
        if 0 <= row < len(self.backups):
            b = self.backups[row]
            pair = " (goes back with the other login file made with it)" if b.get("partner") else ""
            self.query_one("#restore-detail", Static).update(
                sanitize(f"{b.get('name', '?')}: {b.get('detail', '')}{pair}"))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        row = self.query_one(DataTable).cursor_row
        if 0 <= row < len(self.backups):
            self.dismiss(self.backups[row])

    async def action_dismiss(self, result: Any = None) -> None:
        self.dismiss(None)
