"""One restart record as a page a person reads: what happened and when, what swarmtui did about
it, the hint, the evidence with the matched line marked, and where the transcript holds it.

The page is built by pure functions (record_page, evidence_rows) so its words are unit-tested;
every value is sanitized: a record is a file on disk and its text is node output."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Static

from swarmtui.node.text import sanitize
from swarmtui.tui.format import duration, home_relative, parse_ts

EVIDENCE_KEYS = ("evidence", "evidence_lines", "context", "lines")
ACTIONS = {
    "restart": "restarted the node",
    "needs-user": "stopped restarting and waited for you",
    "stop": "stopped the node (asked to)",
    "cleanup": "cleaned up processes of ours left running",
}


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
                    where = f"{src}:{num}: " if src else ""
                    out.append(f"{where}{item.get('text', '')}".rstrip())
                else:
                    out.append(str(item))
            return out
    return []


def evidence_rows(record: dict[str, Any]) -> list[tuple[str, bool]]:
    """(line, is the matched line) for each evidence line. The engine writes them as
    "source:line: text"; the matched one is the record's own source and line (or, for records
    without a position, the first line holding the matched text)."""
    lines = evidence_lines(record)
    source, line = record.get("source"), record.get("line")
    text = sanitize(str(record.get("text") or "")).strip()
    marked = -1
    if source and isinstance(line, int) and line > 0:
        prefix = sanitize(f"{source}:{line}: ")
        marked = next((i for i, s in enumerate(lines) if s.startswith(prefix)), -1)
    if marked < 0 and len(text) >= 8:
        marked = next((i for i, s in enumerate(lines) if text in s), -1)
    return [(s, i == marked) for i, s in enumerate(lines)]


def _when(record: dict[str, Any], now: Any) -> str:
    t = parse_ts(record.get("time") or record.get("ts") or record.get("at"))
    if t is None:
        return "unknown"
    text = t.astimezone().strftime("%Y-%m-%d %H:%M:%S %Z").strip()
    if now is not None:
        text += f" ({duration((now - t).total_seconds())} ago)"
    up = record.get("uptime_s")
    if isinstance(up, (int, float)) and not isinstance(up, bool):
        text += f"; the run had lasted {duration(up)}"
    if isinstance(record.get("run"), int):
        text += f" (run {record['run']})"
    return text


def _what(record: dict[str, Any]) -> str:
    what = str(record.get("reason") or "?")
    matched = str(record.get("text") or "").strip()
    if matched:
        what += f": {matched}"
    sig = record.get("exit_signal", record.get("signal"))
    code = record.get("exit_code")
    if isinstance(sig, int) and sig and not isinstance(sig, bool):
        what += f". The process ended on signal {sig}"
    elif isinstance(code, int) and not isinstance(code, bool):
        what += f". The process exited with code {code}"
    return what


def _did(record: dict[str, Any]) -> str:
    action = str(record.get("action") or "restart")
    did = ACTIONS.get(action, action)
    backoff = record.get("backoff_s")
    if action == "restart" and isinstance(backoff, (int, float)) and not isinstance(backoff, bool):
        did += " at once" if backoff < 1 else f" after waiting {duration(backoff)}"
    attempt = record.get("attempt")
    if isinstance(attempt, int) and attempt > 0 and not isinstance(attempt, bool):
        did += f" (attempt {attempt})"
    orphans = record.get("orphans_killed") or record.get("orphans") or []
    if isinstance(orphans, list) and orphans:
        names = []
        for o in orphans[:3]:
            if isinstance(o, dict):
                names.append(f"{o.get('pid', '?')} {str(o.get('cmdline', ''))[:60]}".strip())
        did += f"; stopped {len(orphans)} leftover process{'es' if len(orphans) != 1 else ''} of ours"
        if names:
            did += " (" + ", ".join(names) + ("…" if len(orphans) > 3 else "") + ")"
    return did


def _rewards(record: dict[str, Any]) -> str:
    loss = record.get("reward_loss", record.get("submit_may_be_lost"))
    note = str(record.get("reward_note") or "")
    if loss is True:
        head = "may have been lost"
    elif loss is False:
        head = "nothing lost"
    elif note:
        head = "cannot tell"
    else:
        return ""
    return f"{head}: {note}" if note else head


def record_page(record: dict[str, Any], *, state_dir: Path | None = None, now: Any = None) -> list[tuple[str, str]]:
    """(heading, text) rows of the page, every text sanitized; rows with nothing to say left out.
    `state_dir`: the node's state dir, where the record's transcript path is relative to."""
    rows = [("What happened", _what(record)), ("When", _when(record, now)),
            ("swarmtui", _did(record)), ("Rewards", _rewards(record)),
            ("What to do", str(record.get("hint") or ""))]
    transcript = record.get("transcript")
    if isinstance(transcript, str) and transcript:
        path = Path(transcript) if state_dir is None else Path(state_dir) / transcript
        shown = home_relative(path)
        line = record.get("transcript_line")
        if isinstance(line, int) and line > 0 and not isinstance(line, bool):
            rows.append(("Transcript", f"{shown} line {line}   (less +{line}g {shown})"))
        else:
            rows.append(("Transcript", shown))
    elif record.get("source") and record.get("source") != "pty":
        line = record.get("line")
        at = f" line {line}" if isinstance(line, int) and line > 0 else ""
        rows.append(("Log file", f"{record['source']}{at} (in the checkout)"))
    return [(head, sanitize(text)) for head, text in rows if text]


class RecordScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape", "dismiss", "Close"),
        Binding("q", "dismiss", "Close", show=False),
        Binding("c", "copy_record", "Copy"),
    ]

    def __init__(self, record: dict[str, Any], *, state_dir: Path | None = None, now: Any = None):
        super().__init__()
        self.record = record
        self.state_dir = state_dir
        self.now = now

    def compose(self) -> ComposeResult:
        page = record_page(self.record, state_dir=self.state_dir, now=self.now)
        width = max(len(head) for head, _ in page) if page else 4
        with Vertical(id="record-box", classes="dialog"):
            title = sanitize(f"Restart record: {self.record.get('reason', '?')}")
            yield Static(title, classes="dialog-title", markup=False)
            with VerticalScroll(id="record-body"):
                for head, text in page:
                    # A row per heading, its text wrapped in a column of its own (a hanging
                    # indent), so a long path or hint never runs under the headings.
                    with Horizontal(classes="record-field"):
                        yield Static(Content.styled(head, "bold"), classes="record-head").set_styles(f"width: {width + 2};")
                        yield Static(Content(text), classes="record-text")
                rows = evidence_rows(self.record)
                marked = any(m for _, m in rows)
                note = ", the matched line marked ▶" if marked else ""
                yield Static(Content.styled(f"Evidence ({len(rows)} lines{note})", "bold"), id="record-evidence-title")
                if rows:
                    body = Content("\n").join(
                        Content.styled("▶ " + s, "bold $text-warning") if m else Content.styled("  " + s, "$text-muted")
                        for s, m in rows)
                else:
                    body = Content("(none recorded)")
                yield Static(body, id="record-evidence")
            yield Static("esc close · ↑↓ scroll · c copy this record (JSON)", classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one("#record-body").focus()      # arrows and page keys scroll a long record

    def action_copy_record(self) -> None:
        copy = getattr(self.app, "copy_with_toast", None)
        if copy is not None:
            copy("restart record", json.dumps(self.record, indent=2, ensure_ascii=False))

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(None)
