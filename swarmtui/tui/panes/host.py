"""The host strip: one line of CPU, RAM, swap, the checkout's free disk and the GPU, each with
its recent history: what an OOM kill or a full disk is understood with.

The figures are the keeper's host (events.HostStats), so an attached panel shows the machine
the node runs on. The bars are on a fixed 0-100 % scale (charts.bars): near-full has to look
near-full, whatever the last two minutes did.
"""

from __future__ import annotations

from textual.content import Content
from textual.widgets import Static

from swarmtui.engine.events import HostStats
from swarmtui.node.text import sanitize
from swarmtui.tui.charts import bars
from swarmtui.tui.format import short, size

MAX_BAR = 20
MIN_BAR = 3
LOW_DISK_BYTES = 2 << 30


def _level(percent: float | None) -> str:
    if percent is None:
        return ""
    return "bold $text-error" if percent >= 90 else "$text-warning" if percent >= 75 else ""


def _pct(used: int | None, total: int | None) -> float | None:
    return 100.0 * used / total if used is not None and total else None


SEP = " │ "


def _items(e: HostStats, brief: bool) -> list[tuple[str, str, str, str | None]]:
    """(label, value, its style, history series or None) for each figure; `brief` gives RAM and
    swap as percentages and the GPU without its total, for narrow terminals."""
    def amount(used: int | None, total: int | None) -> str:
        pct = _pct(used, total)
        if brief:
            return f"{pct:.0f}%" if pct is not None else "-"
        return f"{size(used)}/{size(total)}"

    items: list[tuple[str, str, str, str | None]] = [("CPU ", f"{e.cpu_percent:.0f}%", _level(e.cpu_percent), "cpu")]
    items.append(("RAM ", amount(e.mem_used, e.mem_total), _level(_pct(e.mem_used, e.mem_total)), "mem"))
    if e.swap_total:
        items.append(("swap ", amount(e.swap_used, e.swap_total), _level(_pct(e.swap_used, e.swap_total)), "swap"))
    else:
        items.append(("swap ", "none", "dim", None))
    disk_low = e.disk_free is not None and (e.disk_free < LOW_DISK_BYTES or
                                            (e.disk_total and e.disk_free < 0.05 * e.disk_total))
    items.append(("disk ", f"{size(e.disk_free)} free", "bold $text-error" if disk_low else "", None))
    if e.gpus:
        used = sum(g.get("mem_used") or 0 for g in e.gpus)
        total = sum(g.get("mem_total") or 0 for g in e.gpus)
        utils = [g["util"] for g in e.gpus if isinstance(g.get("util"), (int, float))]
        label = "GPU " if len(e.gpus) == 1 else f"{len(e.gpus)} GPUs "
        util = f" {sum(utils) / len(utils):.0f}%" if utils else ""
        memory = size(used) if brief else f"{size(used)}/{size(total)}"
        items.append((label, memory + util, _level(_pct(used, total)), "gpu_mem"))
    else:
        items.append(("", short(sanitize(e.gpu_note or "no GPU found"), 48), "dim", None))
    return items


def _fixed_width(items: list[tuple[str, str, str, str | None]]) -> int:
    return sum(len(a) + len(b) for a, b, _, _ in items) + len(SEP) * (len(items) - 1)


def host_line(e: HostStats, width: int) -> Content:
    """The strip for `width` columns: the figures always (in their brief form when the full one
    does not fit), each one's bars where there is room."""
    history = e.history or {}
    items = _items(e, brief=False)
    if _fixed_width(items) > width:
        items = _items(e, brief=True)
    sep = SEP
    fixed = _fixed_width(items)
    with_bars = [s for _, _, _, s in items if s and history.get(s)]
    room = width - fixed - len(with_bars)          # one space before each bar row
    bar_width = min(MAX_BAR, room // len(with_bars)) if with_bars else 0
    parts: list[tuple[str, str] | str] = []
    for i, (label, value, style, series) in enumerate(items):
        if i:
            parts.append((sep, "dim"))
        if label:
            parts.append((label, "dim"))
        parts.append((value, style))
        if series and bar_width >= MIN_BAR and history.get(series):
            parts.append(" ")
            points = history[series]
            parts.append((bars(points, 0.0, 100.0, min(bar_width, len(points))), style or "$accent"))
    return Content.assemble(*parts)


class HostStrip(Static):
    def __init__(self, *, id: str | None = None, classes: str | None = None):
        super().__init__("host figures: waiting for the first sample…", id=id, classes=classes)
        self.stats: HostStats | None = None

    def set_stats(self, e: HostStats) -> None:
        self.stats = e
        self._show()

    def on_resize(self) -> None:
        self._show()

    def _show(self) -> None:
        if self.stats is None:
            return
        width = self.content_region.width or self.app.size.width
        # One line, fixed height: repaint without re-laying out the screen every 2 s.
        self.update(host_line(self.stats, width), layout=False)
