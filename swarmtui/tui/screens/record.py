"""One restart record in full: every field, then the evidence lines around the detection."""

from __future__ import annotations

import json
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Static

from swarmtui.node.text import sanitize
from swarmtui.tui.format import duration

EVIDENCE_KEYS = ("evidence", "evidence_lines", "context", "lines")


def evidence_lines(record: dict[str, Any]) -> list[str]:
    """The evidence as shown: node output, each line sanitized (a record is a file on disk)."""
    return [sanitize(line) for line in _evidence(record)]


def _evidence(record: dict[str, Any]) -> list[str]:
    for key in EVIDENCE_KEYS:
        value = record.get(key)
        if isinstance(value, list):
            out = []
            for item in value:
                if isinstance(item, dict):
                    src = item.get("source", "")
                    num = item.get("line", "")
                    where = f"{src}:{num}" if src else ""
                    out.append(f"{where:>24} {item.get('text', '')}".rstrip())
                else:
                    out.append(str(item))
            return out
    return []


def field_lines(record: dict[str, Any]) -> list[tuple[str, str]]:
    """(key, value) as shown, both sanitized: the matched text is node output."""
    rows = []
    for key, value in record.items():
        if key in EVIDENCE_KEYS:
            continue
        if key.endswith("_s") and isinstance(value, (int, float)):
            text = f"{duration(value)} ({value:g}s)"
        elif isinstance(value, (dict, list)):
            text = json.dumps(value, ensure_ascii=False)
        else:
            text = str(value)
        rows.append((sanitize(str(key)), sanitize(text)))
    return rows


class RecordScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape", "dismiss", "Close"),
        Binding("q", "dismiss", "Close", show=False),
        Binding("c", "copy_record", "Copy"),
    ]

    def __init__(self, record: dict[str, Any]):
        super().__init__()
        self.record = record

    def compose(self) -> ComposeResult:
        with Vertical(id="record-box", classes="dialog"):
            yield Static(sanitize(f"Restart: {self.record.get('reason', '?')}"), classes="dialog-title", markup=False)
            with VerticalScroll(id="record-body"):
                width = max((len(k) for k, _ in field_lines(self.record)), default=4)
                for key, text in field_lines(self.record):
                    yield Static(Content.assemble((key.ljust(width) + "  ", "dim"), text), classes="record-field")
                lines = evidence_lines(self.record)
                yield Static(Content.styled(f"evidence ({len(lines)} lines)", "bold"), id="record-evidence-title")
                yield Static("\n".join(lines) if lines else "(none recorded)", id="record-evidence", markup=False)
            yield Static("esc close · c copy this record", classes="dialog-hint")

    def action_copy_record(self) -> None:
        copy = getattr(self.app, "copy_with_toast", None)
        if copy is not None:
            copy("restart record", json.dumps(self.record, indent=2, ensure_ascii=False))

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(None)
