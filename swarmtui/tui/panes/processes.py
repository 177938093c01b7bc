"""The process tree: our processes by parent, with subtree totals; conflicting strangers marked."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.content import Content
from textual.widgets import DataTable

from swarmtui.engine.events import ProcInfo
from swarmtui.node.text import sanitize
from swarmtui.tui.format import duration, size
from swarmtui.tui.panes.tables import Cell, refill

COLUMNS = ("process", "pid", "cpu%", "rss", "Σcpu%", "Σrss", "ports", "age")


@dataclass
class Row:
    proc: ProcInfo
    prefix: str
    depth: int
    tree_cpu: float
    tree_rss: int
    has_children: bool


def label(p: ProcInfo) -> str:
    # A process names itself (prctl, argv[0]): what it chose can hold anything a terminal acts on.
    if p.role and p.role not in ("other", p.name):
        return sanitize(f"{p.role} ({p.name})")
    return sanitize(p.name)


def tree_rows(procs: list[ProcInfo]) -> tuple[list[Row], list[ProcInfo]]:
    """Our processes in depth-first tree order with box-drawing prefixes; then the strangers."""
    ours = [p for p in procs if p.ours]
    strangers = [p for p in procs if not p.ours]
    pids = {p.pid for p in ours}
    children: dict[int, list[ProcInfo]] = {}
    for p in ours:
        children.setdefault(p.ppid, []).append(p)
    for kids in children.values():
        kids.sort(key=lambda q: q.pid)
    roots = sorted((p for p in ours if p.ppid not in pids or p.ppid == p.pid), key=lambda q: q.pid)

    totals: dict[int, tuple[float, int]] = {}

    def total(p: ProcInfo, seen: set[int]) -> tuple[float, int]:
        if p.pid in totals:
            return totals[p.pid]
        seen.add(p.pid)
        cpu, rss = p.cpu_percent, p.rss
        for c in children.get(p.pid, []):
            if c.pid not in seen:
                c_cpu, c_rss = total(c, seen)
                cpu += c_cpu
                rss += c_rss
        totals[p.pid] = (cpu, rss)
        return cpu, rss

    rows: list[Row] = []

    def walk(p: ProcInfo, lead: str, last: bool, depth: int, seen: set[int]) -> None:
        if p.pid in seen:
            return
        seen.add(p.pid)
        branch = "" if depth == 0 else ("└─ " if last else "├─ ")
        cpu, rss = total(p, set())
        kids = [c for c in children.get(p.pid, []) if c.pid != p.pid]
        rows.append(Row(p, lead + branch, depth, cpu, rss, bool(kids)))
        next_lead = lead if depth == 0 else lead + ("   " if last else "│  ")
        for i, c in enumerate(kids):
            walk(c, next_lead, i == len(kids) - 1, depth + 1, seen)

    seen: set[int] = set()
    for r in roots:
        walk(r, "", True, 0, seen)
    return rows, strangers


class ProcessPane(Vertical):
    def compose(self) -> ComposeResult:
        table: DataTable = DataTable(id="proc-table", cursor_type="row", zebra_stripes=False)
        yield table

    def on_mount(self) -> None:
        self.border_title = "Processes"
        table = self.query_one(DataTable)
        for name in COLUMNS:
            table.add_column(name, key=name)
        self.procs: list[ProcInfo] = []

    @property
    def table(self) -> DataTable:
        return self.query_one(DataTable)

    def set_procs(self, procs: list[ProcInfo]) -> None:
        self.procs = list(procs)
        table = self.table
        selected = None
        if table.row_count and table.cursor_row is not None:
            try:
                selected = table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value
            except Exception:
                selected = None
        rows, strangers = tree_rows(self.procs)
        cells: list[tuple[list[Cell], str]] = []
        for r in rows:
            p = r.proc
            cells.append(([
                Text(r.prefix + label(p), no_wrap=True),
                str(p.pid),
                f"{p.cpu_percent:.1f}",
                size(p.rss),
                f"{r.tree_cpu:.1f}" if r.has_children else "",
                size(r.tree_rss) if r.has_children else "",
                ",".join(str(x) for x in p.ports),
                duration(p.age_s),
            ], f"{p.pid}"))
        for p in strangers:
            cells.append(([
                Text(f"⚠ {sanitize(p.name)} (not ours)", style="bold red", no_wrap=True),
                str(p.pid), f"{p.cpu_percent:.1f}", size(p.rss), "", "",
                ",".join(str(x) for x in p.ports), duration(p.age_s),
            ], f"{p.pid}"))
        refill(table, COLUMNS, cells)
        ours = len(rows)
        self.border_title = f"Processes · {ours} ours" + (f" · {len(strangers)} in the way" if strangers else "")
        # As Content: a str subtitle is parsed as markup, and a stranger's name is anyone's choice.
        self.border_subtitle = Content(sanitize("; ".join(f"⚠ {p.pid} {p.name}: {p.conflict or 'not ours'}"
                                                          for p in strangers[:2])))
        if selected is not None:
            try:
                table.move_cursor(row=table.get_row_index(selected), animate=False)
            except Exception:
                pass

    def selected(self) -> ProcInfo | None:
        table = self.table
        if not table.row_count:
            return None
        try:
            key = table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value
        except Exception:
            return None
        for p in self.procs:
            if str(p.pid) == key:
                return p
        return None
