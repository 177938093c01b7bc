"""`swarmtui fleet`: one row per node of the fleet file, the nodes that need a person first.

The rows come from engine.fleet_watch (one watcher per node, its keeper's snapshot and live
events, local or over ssh); this app only draws them and sends commands.

Enter opens the node's own panel. The panel is a whole App (SwarmApp) with its own engine, and
Textual runs one App at a time, so the overview ends (its watchers detach; no node notices) and
run_overview() runs the node's panel attached, exactly as `swarmtui attach` does (a remote node
over ssh as `swarmtui attach HOST:DIR` does), then opens the overview again on the same row and
marks. Esc in the panel comes straight back (detached; the node keeps running); q asks first.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Callable

from rich.cells import cell_len
from rich.text import Text
from textual import events
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.widgets import DataTable, Footer, Static

from swarmtui.engine.fleet_file import Fleet, FleetNode
from swarmtui.engine.fleet_watch import NodeRow, NodeWatcher
from swarmtui.node.text import sanitize
from swarmtui.tui.format import duration, size
from swarmtui.tui.panes.tables import refill
from swarmtui.tui.screens.confirm import YES_NO, ConfirmScreen
from swarmtui.tui.wording import Confirmation

COLUMNS = ("", "NODE", "HOST", "STATE", "WHY", "UP", "ROUND", "AGE", "R24H", "LAST", "ANIMAL", "CPU", "RSS", "GPU")
# Rows changed by events (and the clocks) are redrawn at most this often; a key redraws at
# once. Any DataTable update re-renders the whole table, so 20 nodes' events each redrawn as
# they came cost a fifth of a core and made keys wait behind renders (bench_fleet.py).
REFRESH_S = 1.0
ACTION_WORDS = {"restart": ("Restart", "restart the node (a run in progress ends; rewards not yet submitted may be lost)"),
                "stop": ("Stop", "stop the node (its keeper stays and shows it; S starts it again)"),
                "start": ("Start", "start the node (its keeper first, where none runs)")}


def _cell(text: str, style: str = "") -> Text:
    # DataTable reads a str cell as markup; node text (reasons, hosts) must show as written.
    return Text(sanitize(text), style=style, no_wrap=True)


_STATE_STYLE = {"needs-user": "bold red", "login-required": "bold yellow", "unreachable": "bold red",
                "backoff": "yellow", "no-keeper": "magenta", "running": "green", "stopped": "dim"}


def row_cells(row: NodeRow, marked: bool, now: float) -> tuple[Text, ...]:
    """The row's cells in full (whitespace collapsed); fit_cells() cuts them to the columns' plan."""
    return (
        _cell("*" if marked else " ", "bold"),
        _cell(row.name, "bold"),
        _cell(row.host),
        _cell(row.state, _STATE_STYLE.get(row.state, "")),
        _cell(_one_line(row.why())),
        _cell(coarse(row.uptime_s(now))),
        _cell("-" if row.round is None else str(row.round)),
        _cell(coarse(row.round_age_s(now))),
        _cell("-" if row.restarts_24h is None else str(row.restarts_24h)),
        _cell(_one_line(row.last_reason) or "-"),
        _cell(_one_line(row.animal) or "-"),
        _cell("-" if row.cpu_percent is None else f"{row.cpu_percent:.0f}%"),
        _cell(size(row.rss) if row.rss is not None else "-"),
        _cell(size(row.gpu_mem) if row.gpu_mem is not None else "-"),
    )


# The table must fit the terminal (a column cut at the edge, "GP", hides what it holds). Over
# budget, these give way first, each down to a floor, in this order: the long free texts (a
# reason past 60 cells before any name; then the names; then the reason down to 24)...
SHRINK = (("WHY", 60), ("ANIMAL", 12), ("LAST", 10), ("HOST", 12), ("WHY", 24))
# ...then whole columns go, the least needed first (a line under the table shows the selected
# row's reason in full when its cell cuts it). NODE, STATE, WHY, ROUND, R24H and the resources always stay: they are what
# the overview is for...
DROP = ("ANIMAL", "LAST", "AGE", "HOST", "UP")
# ...and in a very narrow terminal, with every DROP column gone, these give way too.
SQUEEZE = (("WHY", 16), ("NODE", 10), ("WHY", 6), ("NODE", 6))


def plan_columns(natural: dict[str, int], width: int, pad: int) -> tuple[tuple[str, int], ...]:
    """The columns to show and their widths for a table `width` cells wide: each as wide as its
    widest cell where all fit (a wide terminal shows reasons and names in full), else SHRINK,
    then DROP, then SQUEEZE. `pad`: the cells each column adds around its text."""
    def total(widths: dict[str, int]) -> int:
        return sum(w + pad for w in widths.values())

    def give_way(widths: dict[str, int], steps: tuple[tuple[str, int], ...]) -> dict[str, int]:
        for col, floor in steps:
            over = total(widths) - width
            if over <= 0:
                break
            if col in widths:
                widths[col] -= min(over, max(0, widths[col] - max(floor, len(col))))
        return widths

    for dropped in range(len(DROP) + 1):
        widths = give_way({c: natural[c] for c in COLUMNS if c not in DROP[:dropped]}, SHRINK)
        if total(widths) <= width:
            return tuple(widths.items())
    return tuple(give_way(widths, SQUEEZE).items())


def fit_cells(cells: tuple[Text, ...], plan: tuple[tuple[str, int], ...]) -> tuple[Text, ...]:
    """The cells of the planned columns, each cut to its width with "…" where it is longer."""
    out = []
    for col, width in plan:
        cell = cells[_INDEX[col]]
        if cell.cell_len > width:
            cell = cell.copy()
            cell.truncate(width, overflow="ellipsis")
        out.append(cell)
    return tuple(out)


_INDEX = {c: i for i, c in enumerate(COLUMNS)}


def coarse(seconds: float | None) -> str:
    """Minutes are what an overview needs: a cell that changes every second would re-render the
    table every second for nothing."""
    if seconds is None:
        return "-"
    if seconds < 60:
        return "<1m"
    return duration(seconds // 60 * 60)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


class FleetTable(DataTable):
    """Says when its size changed: the app plans the columns again for the new width at once
    (the app's own Resize comes before the table has its new size)."""

    class Resized(Message):
        pass

    def on_resize(self, event: events.Resize) -> None:
        self.post_message(self.Resized())


class FleetApp(App[Any]):
    """Returns ("open", name) when Enter asks for a node's panel, None on quit."""

    TITLE = "swarmtui fleet"
    CSS = """
    #fleet-title { height: 1; padding: 0 1; background: $panel; text-style: bold;
                   text-wrap: nowrap; text-overflow: ellipsis; }
    #fleet-table { height: 1fr; }
    #fleet-why { height: auto; max-height: 3; padding: 0 1; }
    #fleet-status { height: 1; padding: 0 1; color: $text-muted; text-wrap: nowrap; text-overflow: ellipsis; }
    """
    BINDINGS = [
        Binding("q", "quit_overview", "Quit", id="fleet-quit"),
        Binding("enter", "open_node", "Open panel", id="fleet-open"),
        Binding("space", "mark", "Mark", id="fleet-mark"),
        Binding("r", "act('restart')", "Restart", id="fleet-restart"),
        Binding("s", "act('stop')", "Stop", id="fleet-stop"),
        Binding("S", "act('start')", "Start", id="fleet-start", key_display="S"),
        Binding("u", "unmark_all", "Unmark", id="fleet-unmark", show=False),
    ]

    def __init__(self, fleet: Fleet, *, config_path: str | None = None, cursor: str | None = None,
                 marked: set[str] | None = None, watch: bool = True, backoff_cap: float | None = None,
                 clock: Callable[[], float] = time.time):
        super().__init__()
        self.clock = clock          # wall time for the rows' ages (fixed in the snapshot tests)
        self.fleet = fleet
        self.config_path = config_path
        self.marked: set[str] = set(marked or ())
        self._cursor_name = cursor
        self.watch_nodes = watch
        self.watchers: dict[str, NodeWatcher] = {}
        self.rows: dict[str, NodeRow] = {}
        for i, node in enumerate(fleet.nodes):
            w = NodeWatcher(node, i, self._changed, **({"backoff_cap": backoff_cap} if backoff_cap else {}))
            self.watchers[node.name] = w
            self.rows[node.name] = w.row
        self.order: list[str] = []
        self._shown: dict[str, tuple[Text, ...]] = {}
        self.plan: tuple[tuple[str, int], ...] = ()     # the columns shown and their widths
        self._natural: dict[str, int] = {}
        self._planned_for: tuple[int, list[str]] | None = None
        self._title = self._status = ""
        self._why = None
        self.busy: dict[str, str] = {}      # node -> the action under way on it
        self.redraws = 0

    def compose(self) -> ComposeResult:
        yield Static("", id="fleet-title", markup=False)
        table = FleetTable(id="fleet-table", cursor_type="row", zebra_stripes=True)
        yield table
        yield Static("", id="fleet-why", markup=False)
        yield Static("", id="fleet-status", markup=False)
        yield Footer()

    @property
    def table(self) -> DataTable:
        return self.query_one("#fleet-table", DataTable)

    def on_mount(self) -> None:
        self.redraw()
        if self.watch_nodes:
            for w in self.watchers.values():
                w.start()
        self.set_interval(REFRESH_S, self._tick)
        self.table.focus()

    async def on_unmount(self) -> None:
        await asyncio.gather(*(w.stop() for w in self.watchers.values()), return_exceptions=True)

    # ------------------------------------------------------------ rows

    def _changed(self, row: NodeRow) -> None:
        """A watcher changed a row: the next tick draws it (at most REFRESH_S late)."""

    def _tick(self) -> None:
        # Also when nothing changed: the clocks move (cells that show the same are not touched).
        self.redraw()

    def sorted_rows(self) -> list[NodeRow]:
        return sorted(self.rows.values(), key=NodeRow.sort_key)

    def redraw(self) -> None:
        self.redraws += 1
        table = self.table
        current = self.selected_name() or self._cursor_name
        now = self.clock()
        rows = self.sorted_rows()
        full = {r.name: row_cells(r, r.name in self.marked, now) for r in rows}
        natural = {c: max([cell_len(c)] + [cells[i].cell_len for cells in full.values()]) for i, c in enumerate(COLUMNS)}
        order = [r.name for r in rows]
        width = self._table_width()
        if (width, order) == self._planned_for:
            # Columns grow but do not shrink back while the rows and the terminal stay: a CPU
            # going from 100% to 99% would otherwise refill the whole table.
            natural = {c: max(w, self._natural.get(c, 0)) for c, w in natural.items()}
        self._natural, self._planned_for = natural, (width, order)
        plan = plan_columns(natural, width, 2 * table.cell_padding)
        cells = {name: fit_cells(c, plan) for name, c in full.items()}
        if order == self.order and plan == self.plan and table.row_count == len(order):
            # Same rows, order and columns (nearly always): only the cells that changed. A
            # whole refill re-measures every column and made a key wait for it.
            for name in order:
                old = self._shown.get(name)
                for (col, _), cell, was in zip(plan, cells[name], old or ()):
                    if cell.plain != was.plain or cell.style != was.style:
                        table.update_cell(name, col, cell)
        else:
            refill(table, [c for c, _ in plan], [(cells[name], name) for name in order], [w for _, w in plan])
            if current in order:
                table.move_cursor(row=order.index(current), animate=False)
        self.plan = plan
        self.order = order
        self._shown = cells
        self._cursor_name = None
        need = sum(1 for r in rows if r.needs_person)
        # The counts before the path: a narrow terminal cuts the end of the line.
        title = f"swarmtui fleet · {len(rows)} node{'s' if len(rows) != 1 else ''}"
        if need:
            title += f" · {need} need{'s' if need == 1 else ''} you"
        title += f" · {self.fleet.path}"
        if title != self._title:
            self._title = title
            self.query_one("#fleet-title", Static).update(sanitize(title))
        self._status_line()
        self._why_line()

    def _why_line(self) -> None:
        """The selected row's reason in full (wrapped, up to 3 lines) when its cell cuts it."""
        name = self.selected_name()
        row = self.rows.get(name or "")
        text = ""
        if row is not None and "WHY" in dict(self.plan) and name in self._shown:
            full = _one_line(row.why())
            cut = self._shown[name][[c for c, _ in self.plan].index("WHY")].plain
            if full and cut != full:
                text = f"{name}: {full}"
        if text != self._why:
            self._why = text
            why = self.query_one("#fleet-why", Static)
            why.update(sanitize(text))
            why.display = bool(text)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._why_line()

    def _status_line(self) -> None:
        marks = f"{len(self.marked)} marked (r/s/S act on them; u unmarks)" if self.marked else \
            "space marks rows; r/s/S act on the marked rows, else on this one"
        if self.busy:
            marks = "under way: " + ", ".join(f"{a} {n}" for n, a in sorted(self.busy.items())) + " · " + marks
        if marks != self._status:
            self._status = marks
            self.query_one("#fleet-status", Static).update(sanitize(marks))

    def _table_width(self) -> int:
        """The cells the table's columns may take: its own width less a vertical scrollbar, or
        the terminal's before the table is laid out."""
        table = self.table
        width = table.scrollable_content_region.width if table.size.width else self.size.width
        return max(1, width)

    def on_fleet_table_resized(self, message: FleetTable.Resized) -> None:
        self.redraw()

    def selected_name(self) -> str | None:
        table = self.table
        if not self.order or table.row_count == 0:
            return None
        i = table.cursor_row
        return self.order[i] if 0 <= i < len(self.order) else None

    # ------------------------------------------------------------ keys

    def action_quit_overview(self) -> None:
        self.exit(None)

    def action_open_node(self) -> None:
        name = self.selected_name()
        if name is not None:
            self.exit(("open", name, sorted(self.marked)))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        # DataTable takes Enter itself (its own binding) and says so with this message.
        event.stop()
        self.action_open_node()

    def action_mark(self) -> None:
        name = self.selected_name()
        if name is None:
            return
        self.marked.symmetric_difference_update({name})
        # Just the mark's cell and the status line: the key shows without waiting for a
        # recomputation of every row.
        cell = _cell("*" if name in self.marked else " ", "bold")
        self.table.update_cell(name, self.plan[0][0], cell)
        if name in self._shown:
            self._shown[name] = (cell, *self._shown[name][1:])
        self._status_line()
        # Down one row after marking, as file managers do: space, space marks a run of rows.
        if self.table.cursor_row < self.table.row_count - 1:
            self.table.move_cursor(row=self.table.cursor_row + 1, animate=False)

    def action_unmark_all(self) -> None:
        self.marked.clear()
        self.redraw()

    def targets(self) -> list[FleetNode]:
        names = set(self.marked) if self.marked else ({self.selected_name()} - {None})
        return [n for n in self.fleet.nodes if n.name in names]

    def action_act(self, action: str) -> None:
        nodes = self.targets()
        if not nodes:
            return
        verb, what = ACTION_WORDS[action]
        lines = tuple(f"{n.name} ({n.where}): {what}" for n in nodes)
        title = f"{verb} {len(nodes)} node{'s' if len(nodes) != 1 else ''}: {', '.join(n.name for n in nodes)}?"
        confirmation = Confirmation(title, lines + ("Every other node is left as it is.",))

        def done(answer: str | None) -> None:
            if answer == "yes":
                self.run_worker(self._do(action, nodes), group="fleet-actions", exclusive=False)

        self.push_screen(ConfirmScreen(confirmation, YES_NO), done)

    async def _do(self, action: str, nodes: list[FleetNode]) -> None:
        from swarmtui.commands.fleet import act, plan_for
        from swarmtui.errors import UserError

        try:
            plans = plan_for(self.fleet, nodes, action, self.config_path)
        except UserError as exc:
            self.notify(sanitize(str(exc)), title=f"{action}: refused", severity="error", timeout=10, markup=False)
            return
        self.busy.update((n.name, action) for n in nodes)
        self._status_line()
        try:
            results = await asyncio.gather(*(act(n, action, plan=plans.get(n.name), config_path=self.config_path)
                                             for n in nodes))
        finally:
            for n in nodes:
                self.busy.pop(n.name, None)
        for name, ok, line in results:
            self.notify(sanitize(f"{name}: {line}"), severity="information" if ok else "error", timeout=8, markup=False)
            w = self.watchers.get(name)
            if w is not None:
                w.retry_now()
        self.marked.difference_update(n.name for n in nodes)
        self.redraw()


def run_overview(fleet: Fleet, *, config_path: str | None = None) -> int:
    """The overview; a node's panel in between when Enter asks for one; back to the overview."""
    import sys

    from swarmtui.errors import UserError

    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise UserError("the fleet overview needs a terminal; `swarmtui ls --fleet` lists the nodes without one")
    cursor, marked = None, set()
    while True:
        app = FleetApp(fleet, config_path=config_path, cursor=cursor, marked=marked)
        result = app.run()
        if not (isinstance(result, tuple) and result and result[0] == "open"):
            return 0
        _, cursor, marks = result
        marked = set(marks)
        node = next(n for n in fleet.nodes if n.name == cursor)
        try:
            open_node_panel(node, config_path)
        except UserError as exc:
            # Back to the overview with the reason: the row says the same, in time.
            sys.stderr.write(sanitize(f"swarmtui: {node.name}: {exc}") + "\n")
            time.sleep(1.5)


def open_node_panel(node: FleetNode, config_path: str | None) -> int:
    from pathlib import Path

    from swarmtui.commands.panel import open_attached, open_remote
    from swarmtui.engine.config import load_config

    config = load_config(Path(config_path).expanduser() if config_path else None)
    # Esc is "back": it detaches at once (the node keeps running; nothing to confirm). q still
    # asks, with "Stop the node and quit" among its choices.
    keys = dict(config.keys)
    keys["detach"] = ",".join(dict.fromkeys([*(keys.get("detach") or "ctrl+d").split(","), "escape"]))
    config.keys = keys
    if node.local:
        return open_attached(node.path, start=False, config=config)
    return open_remote(node.host or "", node.dir, remote_command=node.remote_command, config=config)
