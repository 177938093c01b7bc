"""Restart history: a timeline of restarts per hour over the last day, then the records newest
first; Enter opens the full record with its evidence lines."""

from __future__ import annotations

import datetime as _dt
from typing import Any

from rich.markup import escape
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.content import Content
from textual.message import Message
from textual.widgets import DataTable, Static

from swarmtui.node.text import sanitize
from swarmtui.tui.charts import bars, restarts_per_hour
from swarmtui.tui.format import duration, local_time, parse_ts, short
from swarmtui.tui.panes.tables import Cell, refill

# The engine writes the records; these are the names it may use for each column (the first
# present wins), so the pane keeps working if a field is renamed on the way.
_TIME = ("ts", "time", "at")
_REASON = ("reason", "id", "detection")
_TEXT = ("text", "matched_text", "matched", "detail", "hint")
_UPTIME = ("uptime_s", "uptime_before_s", "uptime")
_ORPHANS = ("orphans_killed", "orphans")
KEEP = 500
COLUMNS = ("time", "reason", "what", "exit", "up", "orph")


def pick(record: dict[str, Any], names: tuple[str, ...], default: Any = None) -> Any:
    for n in names:
        if n in record and record[n] not in (None, ""):
            return record[n]
    return default


def exit_text(record: dict[str, Any]) -> str:
    sig = record.get("signal")
    code = record.get("exit_code", record.get("code"))
    if isinstance(record.get("exit"), dict):
        sig = record["exit"].get("signal", sig)
        code = record["exit"].get("code", code)
    if sig not in (None, 0, ""):
        return f"sig {sig}"
    if code is not None:
        return f"rc {code}"
    return "-"


def orphans_text(record: dict[str, Any]) -> str:
    value = pick(record, _ORPHANS)
    if value is None:
        return "0"
    if isinstance(value, (list, tuple)):
        return str(len(value))
    return str(value)


def record_time(record: dict[str, Any]):
    return parse_ts(pick(record, _TIME))


def cell(value: str) -> str:
    """A table cell from record data: sanitized (the matched text is node output, and any field
    of a hand-edited history file can hold anything), and markup-escaped, because DataTable
    parses a str cell as markup: "[link=...]" would become a link, an unmatched "[/x]" raise."""
    return escape(sanitize(value))


class HistoryPane(Vertical):
    class RecordChosen(Message):
        def __init__(self, record: dict[str, Any]) -> None:
            super().__init__()
            self.record = record

    def __init__(self, *, wall_clock=None, id: str | None = None, classes: str | None = None):
        super().__init__(id=id, classes=classes)
        self.wall_clock = wall_clock   # () -> aware datetime; decides "today" for the time column
        self.records: list[dict[str, Any]] = []   # oldest first, as they arrived

    def compose(self) -> ComposeResult:
        yield Static("", id="history-timeline")
        yield DataTable(id="history-table", cursor_type="row")

    def on_mount(self) -> None:
        self.border_title = "Restart history"
        table = self.table
        for name in COLUMNS:
            table.add_column(name, key=name)

    @property
    def table(self) -> DataTable:
        return self.query_one(DataTable)

    def add(self, record: dict[str, Any]) -> None:
        self.records.append(dict(record))
        del self.records[:-KEEP]
        self._rebuild()

    def set_records(self, records: list[dict[str, Any]]) -> None:
        """The history as it is on disk (a start, or attaching to a keeper): replaces what is shown."""
        self.records = [dict(r) for r in records if isinstance(r, dict)][-KEEP:]
        self._rebuild()

    def newest_first(self) -> list[dict[str, Any]]:
        return list(reversed(self.records))

    def _rebuild(self) -> None:
        rows: list[tuple[list[Cell], str]] = []
        for i, r in enumerate(self.newest_first()):
            up = pick(r, _UPTIME)
            rows.append(([cell(text) for text in (
                local_time(pick(r, _TIME), self.wall_clock() if self.wall_clock else None),
                str(pick(r, _REASON, "?")),
                short(sanitize(str(pick(r, _TEXT, ""))), 60),   # cut after cleaning: width is what shows
                exit_text(r),
                duration(float(up)) if isinstance(up, (int, float)) else "-",
                orphans_text(r),
            )], str(i)))
        refill(self.table, COLUMNS, rows)
        self.border_title = f"Restart history · {len(self.records)}"
        self.update_timeline()

    def timeline(self) -> Content:
        """`-24h ··▁·█… now · N restarts · max M/h`: one bar an hour, the newest on the right."""
        now = self.wall_clock() if self.wall_clock else _dt.datetime.now(_dt.timezone.utc)
        counts = restarts_per_hour(self.records, now)
        total, top = sum(counts), max(counts)
        row = bars(counts, 0.0, float(max(top, 1)))
        # 46 columns (the wide left column): a bar an hour, the total, the busiest hour if > 1.
        words = f" now · {total}, max {top}/h" if top > 1 else f" now · {total} restart{'' if total == 1 else 's'}"
        return Content.assemble(("-24h ", "dim"), (row, "$text-warning" if total else "dim"), (words, "dim"))

    def update_timeline(self) -> None:
        """Also called once a minute by the app: the hours move on with nothing new recorded."""
        # One line, fixed height: no re-layout.
        self.query_one("#history-timeline", Static).update(self.timeline(), layout=False)

    def selected(self) -> dict[str, Any] | None:
        table = self.table
        if not table.row_count:
            return None
        row = table.cursor_row
        ordered = self.newest_first()
        return ordered[row] if 0 <= row < len(ordered) else None

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        record = self.selected()
        if record is not None:
            self.post_message(self.RecordChosen(record))
