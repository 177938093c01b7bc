"""The live log: a Line-API view over a bounded list of lines, built for a chatty node.

Why not Textual's `Log`: it cannot colour a line by level, highlight a detection or a search hit,
hide lines behind a filter or keep the reader's place while old lines are pruned, and in 8.2.8 it
stops repainting once `max_lines` prunes (textual-engineering.md §2). Here every visible row is
rendered on demand from the stored line (`render_line`), so a flood costs one list append per
line and a repaint of the rows on screen, and memory is bounded by `max_lines`.

Follow and pause: the view follows the tail until the reader moves (a key or the wheel); then it
stays put, counts what arrives ("+N new lines") and keeps the reader's line in place even while
old lines are pruned. `end` resumes.

Headers shortened: a Hydra line is `[2025-10-26 23:30:27,852][genrl.logging_utils.global_defs]
[INFO] - ` before its message, which is all an 80-column pane would show. Known headers (Hydra,
hivemind, colorlog, swarm.log) are shown as `HH:MM:SS` plus the level word when it is not INFO;
the level still colours the line, search and filter see what is shown, and a copied line is the
full original.

One copy of each line: rl-swarm writes every console line to the terminal and to its log file
(rl-swarm-facts.md §1.7, §5.6): Hydra in the same format, the hivemind era in another one
(`INFO:name:msg` on the console, `<time> - INFO - name:lineno - msg` in logs/swarm.log), so the
merged stream had every INFO line twice, tagged term and launcher. A line whose message another
source already showed recently is folded (counted in `folded`, not shown; if the engine marked
the folded copy with a detection, the shown line takes the mark), and so are the lines after it
while they repeat what followed the shown one (a traceback, a blank line); the file's own lines
(its DEBUG lines) and repeats within one source stay. The engine keeps both copies (evidence,
transcript).

Progress bars in place: tqdm redraws its bar with `\r`, and each redraw reaches us as a line
(the engine marks it, LogLine.bar). A redraw replaces the bar's line instead of adding one, so
a training stage is one line showing its last state; a new bar (or one that starts over) gets
a line of its own.

Repeats collapsed: under a flood one warning, printed thousands of times a second, filled the
whole log and pushed out everything else. A line that repeats the line shown just before it
(same source, same message: its time stamp may differ, node.logparse.fold_key) is counted on
that line, drawn as `×240`, as lnav and journalctl viewers do. The newest REPEATS_KEPT copies
are kept with it, so `enter` on the line shows them (their own times included).
"""

from __future__ import annotations

import bisect
import math
import re
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Iterable

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding
from textual.cache import LRUCache
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.scrollbar import ScrollBar
from textual.strip import Strip
from textual.widget import Widget

from swarmtui.engine.events import LogLine
from swarmtui.node import logparse
from swarmtui.node.logparse import BarState, fold_key, progress_bar, split_header
from swarmtui.node.text import sanitize
from swarmtui.tui.format import source_tag

TAG_WIDTH = 8
# How many recent lines a copy from another source is looked up in (the file's copy comes within
# a second or two of the terminal's; at a 20,000 lines/s flood that is still a fraction of it).
FOLD_WINDOW = 4096
# Shorter lines (blank lines, "Done.") are common to many sources without being copies.
FOLD_MIN_CHARS = 16
# Copies of a repeated line kept for `enter` to show (the newest ones), and how many collapsed
# lines keep theirs (the newest): at most 64 x 200 lines held, whatever the flood's pattern
# (one warning with a line between every 300 would otherwise keep 200 copies per shown line).
REPEATS_KEPT = 200
REPEAT_HOLDERS = 64


def screen_safe(text: str) -> str:
    """The engine sanitizes every line already; this is the last guard before a cell reaches the
    terminal (a line from another engine, a test), by the same rules: node.text.sanitize."""
    return sanitize(text)   # printable text is returned as it is, after one C-level check


# A line wider than this still scrolls sideways, but the view's width stops growing here so one
# 16 KB line does not make every row carry a huge scroll range.
MAX_VIEW_WIDTH = 4096
_CLOCK = re.compile(r"\d\d:\d\d:\d\d")
_LEVEL_WORD = {"DEBUG": "DEBUG ", "WARNING": "WARN ", "ERROR": "ERROR ", "CRITICAL": "CRIT "}


def shorten_header(text: str, parts: tuple | None = None) -> str:
    """`[2025-10-26 23:30:27,852][logger][INFO] - msg` -> `23:30:27 msg`; other lines unchanged.
    `parts`: split_header(text), when the caller has it already."""
    level, _logger, stamp, message = parts or split_header(text)
    if level is None and stamp is None:
        return text
    if stamp and len(stamp) == 23 and stamp[13] == ":" and stamp[16] == ":":   # `2025-10-26 23:30:27,852`
        prefix = stamp[11:19] + " "
    else:
        clock = _CLOCK.search(stamp) if stamp else None
        prefix = (clock.group(0) + " ") if clock else ""
    return prefix + _LEVEL_WORD.get(level or "", "") + message


def fold_key_of(text: str, parts: tuple) -> str:
    """node.logparse.fold_key(text) from split_header(text) already made: a flood's line is split
    once here, not three times (fold key, copy lookup, short header: most of the panel's CPU
    at 30,000 lines/s). tests/test_tui_log.py holds the two equal."""
    level, _logger, _stamp, message = parts
    if level is None:
        return text.rstrip()
    if message.startswith("[PRINT] "):
        return message[8:].rstrip()
    return f"{level}\x00{message.rstrip()}"


_HYDRA = logparse._HYDRA                    # split_header's own pattern, so the two cannot drift
_LEVEL_ALIASES = logparse._LEVEL_ALIASES


def key_and_short(text: str) -> tuple[str, str]:
    """(fold_key_of(text, parts), shorten_header(text, parts)) in one go. The genrl eras' header
    (`[2025-10-26 23:30:27,852][genrl][INFO] - `, a flood's every line) is read straight from its
    match, ~1 µs a line less than the three calls (a 30,000 lines/s panel's CPU is mostly this
    loop); any other line takes the general path. tests/test_tui_log.py holds them equal."""
    if text[:1] == "[":
        m = _HYDRA.match(text)
        if m is not None:
            stamp, _logger, level = m.groups()
            level = _LEVEL_ALIASES.get(level, level)
            message = text[m.end():]
            key = message[8:].rstrip() if message.startswith("[PRINT] ") else f"{level}\x00{message.rstrip()}"
            return key, stamp[11:19] + " " + _LEVEL_WORD.get(level, "") + message
    parts = split_header(text)
    return fold_key_of(text, parts), shorten_header(text, parts)


@dataclass(slots=True)
class Entry:
    seq: int
    tag: str
    text: str
    level: str | None
    detection: str | None
    truncated: int
    cells: int
    source: str
    line: int
    full: str = ""                  # the line as the node wrote it (text is its shortened form)
    bar: str | None = None          # a tqdm bar's label when this line is one (redrawn in place)
    next_src: "Entry | None" = field(default=None, repr=False, compare=False)   # the next shown line of its source
    key: str = ""                   # fold_key of the full line ("" for a bar): what a repeat matches
    repeats: int = 0                # lines right after it that said the same, collapsed into it
    copies: "deque[str] | None" = field(default=None, repr=False, compare=False)   # the newest of them, full

    @property
    def count_note(self) -> str:
        """` ×N` (N = this line and its repeats) after a collapsed line, "" otherwise."""
        return f"  ×{self.repeats + 1}" if self.repeats else ""

    @property
    def plain(self) -> str:
        """The line as copied to the clipboard: source tag and the full original text."""
        return f"[{self.tag.strip()}] {self.full or self.text}"


def _bar_drawing(bar: ScrollBar) -> tuple:
    """What a scrollbar draws for its current values (the colours come from CSS, not from them):
    the same call ScrollBar.render makes, with default colours."""
    width, height = bar.size
    size, thickness = (height, width) if bar.vertical else (width, height)
    virtual = bar.window_virtual_size
    window = bar.window_size if bar.window_size < virtual else 0
    drawing = bar.renderer.render_bar(size=size, virtual_size=math.ceil(virtual), window_size=math.ceil(window),
                                      position=bar.position, thickness=thickness, vertical=bar.vertical)
    return size, thickness, tuple(drawing.segments)


class LogView(ScrollView, can_focus=True):
    """Bounded, colourised, filterable, searchable log with follow/pause."""

    COMPONENT_CLASSES = {
        "logview--tag",
        "logview--error",
        "logview--warning",
        "logview--debug",
        "logview--detection",
        "logview--match",
        "logview--cursor",
        "logview--note",
        "logview--count",
    }

    DEFAULT_CSS = """
    LogView {
        background: $surface;
        color: $foreground;
        & > .logview--tag { color: $text-muted; }
        & > .logview--error { color: $text-error; }
        & > .logview--warning { color: $text-warning; }
        & > .logview--debug { color: $text-muted; }
        & > .logview--detection { background: $error 25%; text-style: bold; }
        & > .logview--match { background: $accent; color: $text; text-style: bold; }
        & > .logview--cursor { background: $primary 40%; }
        & > .logview--note { color: $text-muted; text-style: italic; }
        & > .logview--count { color: $text-accent; text-style: bold; }
    }
    """

    BINDINGS = [
        Binding("up", "cursor_up", "Up", show=False),
        Binding("down", "cursor_down", "Down", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
        Binding("home", "first", "First line", show=False),
        Binding("end", "follow", "Follow", id="follow"),
        Binding("n", "search_next", "Next match", id="search-next"),
        Binding("N", "search_prev", "Prev match", id="search-prev"),
        # Not in the footer: under a flood the newest line is nearly always a ×N one, and the
        # 80-column footer would lose "q Quit" for it. The ×N itself and the help point here.
        Binding("enter", "show_repeats", "Repeats", id="show-repeats", show=False),
    ]

    class RepeatsChosen(Message):
        """`enter` on a line that counts repeats (×N): the app opens them up."""

        def __init__(self, entry: Entry) -> None:
            super().__init__()
            self.entry = entry

    class FollowChanged(Message):
        """Following the tail started or stopped, or the count of unread lines changed."""

        def __init__(self, view: "LogView") -> None:
            super().__init__()
            self.view = view

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # Shown in the footer only when they do something: keeps the app's keys visible.
        if action == "follow":
            return not self.following
        if action in ("search_next", "search_prev"):
            return bool(self.search_term)
        if action == "show_repeats":
            selected = self.selected()
            return bool(selected is not None and selected.repeats)
        return True

    def __init__(self, max_lines: int = 5000, *, id: str | None = None, classes: str | None = None):
        super().__init__(id=id, classes=classes)
        self.max_lines = max(10, int(max_lines))
        self._entries: list[Entry] = []
        self._filtered: list[Entry] | None = None
        self._seq = 0
        self._width = 0
        self.following = True
        self.new_while_paused = 0
        self.cursor: int | None = None      # index into the view; None while following
        self.search_term = ""
        self.filter_term = ""
        self.total_received = 0
        self.folded = 0                     # lines not shown: another source's copy was
        self.redraws = 0                    # tqdm redraws shown in place of an earlier one
        self.repeats = 0                    # lines counted on the line before them (×N), not shown
        self._holders: deque[Entry] = deque()   # the lines that keep copies of their repeats, oldest first
        self._recent: OrderedDict[str, Entry] = OrderedDict()   # fold key -> its shown entry, newest last
        self._last_of: dict[str, Entry] = {}        # source -> its newest shown line
        self._follow: dict[str, Entry] = {}         # source -> the shown line its last folded copy matched
        # (source, bar label) -> the line of that bar being redrawn, and its last state
        self._bar_at: dict[tuple[str, str], tuple[Entry, BarState | None]] = {}
        self._styles: dict[str, Style] | None = None
        # Small on purpose: a screenful or two is all that is ever re-used, and every cached Strip
        # is a dozen objects the garbage collector walks (its pauses delay key presses).
        self._cache: LRUCache[tuple[int, bool], Strip] = LRUCache(512)
        # Finished rows (after Textual's styling), by (line seq, is cursor), valid in _rows_context.
        self._rows: LRUCache[tuple[int, bool], Strip] = LRUCache(512)
        self._rows_context: tuple | None = None
        self._tail_pending = False
        self._tags: dict[str, str] = {}
        self._held_bars: dict[ScrollBar, tuple] | None = None

    # ---------------------------------------------------------------- data in

    @property
    def view(self) -> list[Entry]:
        """The lines shown: all of them, or those the filter lets through."""
        return self._filtered if self._filtered is not None else self._entries

    @property
    def entries(self) -> list[Entry]:
        return self._entries

    def append(self, lines: Iterable[LogLine]) -> int:
        """Add a batch of sanitized lines; returns how many became visible."""
        entries = self._entries
        new: list[Entry] = []
        width = self._width
        tags = self._tags
        recent = self._recent
        following_copies = self._follow
        last_of = self._last_of
        received = 0
        redraws = self.redraws
        repeated = False
        last = entries[-1] if entries else None
        for ln in lines:
            received += 1
            text = ln.text
            if not text.isprintable():      # screen_safe's own fast path, without two calls a line
                text = screen_safe(text)
            if ln.bar is not None and self._redraw(ln, text, entries, new):
                continue
            key = ""
            short = None        # the line's short form, made with its fold key (long lines only)
            if ln.bar is None:
                if new:
                    last = new[-1]
                if last is not None and last.source == ln.source and last.bar is None:
                    # The same as the line shown just before it: counted there, not shown again.
                    # The cheap test first (a flood repeats itself exactly); the message with
                    # another time stamp next.
                    if text == (last.full or last.text):
                        key = last.key
                    elif len(text) >= FOLD_MIN_CHARS:
                        key, short = key_and_short(text)
                    else:
                        key = text.rstrip()
                    if key == last.key and last.truncated == ln.truncated:
                        self._repeat(last, ln, text)
                        repeated = True
                        continue
                elif len(text) >= FOLD_MIN_CHARS:
                    key, short = key_and_short(text)
                else:
                    key = text.rstrip()
            if short is not None and ln.source not in following_copies:
                # _folds' own first test, inline: most lines are no copy of another source's.
                seen = recent.get(key)
                if seen is not None and seen.source != ln.source and self._folds(ln, text, key):
                    continue
            elif self._folds(ln, text, key if short is not None else None):
                continue
            self._seq += 1
            full = text
            text = short if short is not None else shorten_header(text)
            tag = tags.get(ln.source)
            if tag is None:
                tag = tags[ln.source] = source_tag(ln.source, TAG_WIDTH)
            cells = TAG_WIDTH + 1 + (len(text) if text.isascii() else cell_len(text))
            if ln.truncated:
                cells += 24
            e = Entry(self._seq, tag, text, ln.level, ln.detection, ln.truncated, cells, ln.source, ln.line,
                      full if full is not text else "", ln.bar, key=key)
            new.append(e)
            before = last_of.get(ln.source)
            if before is not None:
                before.next_src = e
            last_of[ln.source] = e
            if ln.bar is not None:
                self._bar_at[(ln.source, ln.bar)] = (e, progress_bar(full))
            elif len(full) >= FOLD_MIN_CHARS:
                recent[key] = e
                recent.move_to_end(key)
                if len(recent) > FOLD_WINDOW:
                    recent.popitem(last=False)
            if cells > width:
                width = cells
        self.total_received += received
        if not new:
            if self.redraws != redraws or repeated:     # a bar redrawn or a count grew wider than any line
                self._set_virtual_size(Size(self._width, len(self.view)))
            if repeated:
                self.refresh()          # only counts changed: the rows of their lines
            return 0
        self._width = min(max(width, self._width), MAX_VIEW_WIDTH)      # _redraw may have widened it
        entries.extend(new)
        shown = new
        if self._filtered is not None:
            term = self.filter_term.lower()
            shown = [e for e in new if term in e.text.lower() or term in e.tag]
            self._filtered.extend(shown)
        pruned_from_view = self._prune()
        self._held_bars = {}
        try:
            if not self.following:
                self.new_while_paused += len(shown)
                if pruned_from_view:
                    # Keep the reader's line under their eyes while old lines fall off the top.
                    if self.cursor is not None:
                        self.cursor = max(0, self.cursor - pruned_from_view)
                    self._move(y=max(0, self.scroll_y - pruned_from_view))
            self._set_virtual_size(Size(self._width, len(self.view)))
            if self.following:
                self._scroll_tail()
        finally:
            self._release_bars()
        self.refresh()
        if not self.following and shown:
            self.post_message(self.FollowChanged(self))
        return len(shown)

    def action_show_repeats(self) -> None:
        selected = self.selected()
        if selected is not None and selected.repeats:
            self.post_message(self.RepeatsChosen(selected))

    def _repeat(self, e: Entry, ln: LogLine, text: str) -> None:
        """`ln` says what the shown line `e` says: count it there and keep it for `enter`."""
        e.repeats += 1
        self.repeats += 1
        if e.copies is None:
            e.copies = deque(maxlen=REPEATS_KEPT)
            holders = self._holders
            holders.append(e)
            if len(holders) > REPEAT_HOLDERS:
                holders.popleft().copies = deque(maxlen=0)     # still counted; its copies go
        e.copies.append(text)
        if ln.detection and not e.detection:
            e.detection = ln.detection
        e.cells = TAG_WIDTH + 1 + (len(e.text) if e.text.isascii() else cell_len(e.text)) + len(e.count_note)
        if e.truncated:
            e.cells += 24
        if e.cells > self._width:
            self._width = min(e.cells, MAX_VIEW_WIDTH)
        # Only this line's rows are drawn anew; every other remembered row stays valid.
        for is_cursor in (False, True):
            self._cache.discard((e.seq, is_cursor))
            self._rows.discard((e.seq, is_cursor))

    def _folds(self, ln: LogLine, text: str, key: str | None = None) -> bool:
        """Is this line a copy of one another source already showed? Then the shown line stays
        the only one (and takes the copy's detection mark). A copy is the same message in any of
        the node's formats (node.logparse.fold_key); the lines that follow a folded copy (a
        traceback, the blank line after a v0.6 bet message) are folded while they go on to be
        the same as the lines that followed the shown one, short ones included."""
        follow = self._follow.get(ln.source)
        seen = None
        if follow is not None:
            succ = follow.next_src
            if succ is not None and succ.source != ln.source and (succ.full or succ.text) == text:
                seen = succ
            else:
                del self._follow[ln.source]
        if seen is None and len(text) >= FOLD_MIN_CHARS:
            seen = self._recent.get(key if key is not None else fold_key(text))
            if seen is not None and seen.source == ln.source:
                seen = None
        if seen is None:
            return False
        if ln.detection and not seen.detection:
            # The engine matched the other copy: the shown line takes its mark.
            seen.detection = ln.detection
            self._forget_strips()
            self.refresh()
        self._follow[ln.source] = seen
        self.folded += 1
        return True

    def _redraw(self, ln: LogLine, text: str, entries: list[Entry], new: list[Entry]) -> bool:
        """A tqdm redraw: True when it took the place of the bar's earlier redraw (or was the
        blank line tqdm.write clears the bar with), False when it starts a line of its own: a
        new bar (another label or total, a count or a clock that went back: the next stage's
        bar starts at 0/20), or the last one scrolled out. A finished bar is redrawn too (after
        the last tqdm.write of a stage): that is still the same bar."""
        if not text.strip():
            self.redraws += 1
            return True
        at = self._bar_at.get((ln.source, ln.bar))
        state = progress_bar(text)
        if at is None or state is None:
            return False
        e, prev = at
        live = (new and e.seq >= new[0].seq) or (entries and e.seq >= entries[0].seq)
        if not live or e.bar != ln.bar or prev is None or state.n < prev.n or state.total != prev.total or (
                state.elapsed is not None and prev.elapsed is not None and state.elapsed < prev.elapsed):
            return False
        e.text = text
        e.full = ""
        e.line = ln.line
        e.level = ln.level
        if ln.detection:
            e.detection = ln.detection
        e.cells = TAG_WIDTH + 1 + (len(text) if text.isascii() else cell_len(text))
        self._width = min(max(self._width, e.cells), MAX_VIEW_WIDTH)
        self._bar_at[(ln.source, ln.bar)] = (e, state)
        self.redraws += 1
        self._forget_strips()
        self.refresh()
        return True

    def _set_virtual_size(self, size: Size) -> None:
        """Grow the scroll range without a screen re-layout when the scrollbars stay as they are.

        `virtual_size` is a layout reactive: assigning it re-lays out the whole screen, which at
        ten batches a second was most of the panel's CPU. The view's own size never depends on
        its content, so only a change in scrollbar visibility needs the full path."""
        old = self.virtual_size
        if old == size:
            return
        cw, ch = self.container_size
        same_bars = (old.height > ch) == (size.height > ch) and (old.width > cw) == (size.width > cw)
        if same_bars and ch > 0 and cw > 0:
            self.set_reactive(Widget.virtual_size, size)
            # Not Widget._scroll_update: it repaints both scrollbars every time, and a scrollbar
            # repaint cost about as much as the log rows themselves at 20 lines/s.
            self._refresh_scrollbars()
            if self.show_vertical_scrollbar:
                self._sync_bar(self.vertical_scrollbar, virtual=size.height)
            if self.show_horizontal_scrollbar:
                self._sync_bar(self.horizontal_scrollbar, virtual=size.width)
            self.scroll_x = self.validate_scroll_x(self.scroll_x)
            self.scroll_y = self.validate_scroll_y(self.scroll_y)
        else:
            self.virtual_size = size

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        # ScrollView's watcher, except that the scrollbar is repainted only when it looks different.
        if self.show_vertical_scrollbar:
            self._sync_bar(self.vertical_scrollbar, position=new_value)
        if round(old_value) != round(new_value):
            self.refresh(self.size.region)

    def _sync_bar(self, bar: ScrollBar, *, virtual: int | None = None, position: float | None = None) -> None:
        """Set a scrollbar's range or position; repaint it only if its drawing changes.

        Following a growing log moves the range and the position a little every batch, which
        rarely moves the thumb by a visible eighth of a cell. The bar's values stay exact (the
        mouse uses them); only the repaint is skipped. Every other change of a bar's values
        (layout, Textual's own updates) still repaints it, so what is on screen is always the
        drawing of its current values. Inside `append` the comparison waits for the end of the
        batch: a batch changes the range and then the position, and the state in between (thumb
        off the end) is never shown."""
        held = self._held_bars
        if held is not None:
            if bar not in held:
                held[bar] = _bar_drawing(bar)
        else:
            before = _bar_drawing(bar)
        if virtual is not None:
            bar.set_reactive(ScrollBar.window_virtual_size, virtual)
        if position is not None:
            bar.set_reactive(ScrollBar.position, bar.validate_position(position))
        if held is None and _bar_drawing(bar) != before:
            bar.refresh()

    def _release_bars(self) -> None:
        held, self._held_bars = self._held_bars, None
        for bar, before in (held or {}).items():
            if _bar_drawing(bar) != before:
                bar.refresh()

    def _prune(self) -> int:
        """Drop the oldest lines beyond max_lines; returns how many left the current view."""
        excess = len(self._entries) - self.max_lines
        if excess <= 0:
            return 0
        cutoff = self._entries[excess].seq
        del self._entries[:excess]
        if self._filtered is None:
            return excess
        seqs = [e.seq for e in self._filtered[: excess + 1]]
        k = bisect.bisect_left(seqs, cutoff)
        del self._filtered[:k]
        return k

    def clear_view_state(self) -> None:
        self._forget_strips()
        self.refresh()

    # ---------------------------------------------------------------- filter and search

    def set_filter(self, term: str) -> None:
        """Show only lines containing `term` (case-insensitive); "" shows everything."""
        term = term.strip()
        anchor_seq = None
        if self.cursor is not None and self.view:
            anchor_seq = self.view[min(self.cursor, len(self.view) - 1)].seq
        self.filter_term = term
        if term:
            low = term.lower()
            self._filtered = [e for e in self._entries if low in e.text.lower() or low in e.tag]
        else:
            self._filtered = None
        self._forget_strips()
        self._set_virtual_size(Size(self._width, len(self.view)))
        if anchor_seq is not None and self.view:
            seqs = [e.seq for e in self.view]
            self.cursor = min(bisect.bisect_left(seqs, anchor_seq), len(self.view) - 1)
            self._show_cursor()
        elif self.following or not self.view:
            self.cursor = None
            self._scroll_tail()
        self.refresh()

    def set_search(self, term: str) -> bool:
        """Highlight `term` and put the cursor on the newest match; False when nothing matches."""
        self.search_term = term.strip()
        self.refresh_bindings()
        self._forget_strips()
        self.refresh()
        if not self.search_term:
            return False
        return self._jump(backwards=True, start=len(self.view))

    def match_count(self) -> int:
        if not self.search_term:
            return 0
        low = self.search_term.lower()
        return sum(1 for e in self.view if low in e.text.lower())

    def _matches(self, e: Entry) -> bool:
        return self.search_term.lower() in e.text.lower()

    def _jump(self, *, backwards: bool, start: int) -> bool:
        view = self.view
        n = len(view)
        if not n or not self.search_term:
            return False
        low = self.search_term.lower()
        order = (
            list(range(start - 1, -1, -1)) + list(range(n - 1, start - 1, -1))
            if backwards
            else list(range(start + 1, n)) + list(range(0, min(start + 1, n)))
        )
        for i in order:
            if low in view[i].text.lower():
                self._pause()
                self.cursor = i
                self._show_cursor()
                return True
        return False

    def action_search_next(self) -> None:
        """Next (newer) match."""
        start = self.cursor if self.cursor is not None else len(self.view) - 1
        self._jump(backwards=False, start=start)

    def action_search_prev(self) -> None:
        """Previous (older) match."""
        start = self.cursor if self.cursor is not None else len(self.view)
        self._jump(backwards=True, start=start)

    # ---------------------------------------------------------------- cursor, follow, pause

    def selected(self) -> Entry | None:
        """The line the cursor is on, or the newest line while following."""
        view = self.view
        if not view:
            return None
        if self.cursor is None:
            return view[-1]
        return view[min(self.cursor, len(view) - 1)]

    def _pause(self) -> None:
        if self.following:
            self.following = False
            self.new_while_paused = 0
            self.refresh_bindings()
            self.post_message(self.FollowChanged(self))

    def follow(self) -> None:
        """Follow the tail again (the `end` key)."""
        was = self.following
        self.following = True
        self.cursor = None
        self.new_while_paused = 0
        self._forget_strips()
        self._scroll_tail()
        self.refresh()
        if not was:
            self.refresh_bindings()
            self.post_message(self.FollowChanged(self))

    def action_follow(self) -> None:
        self.follow()

    def _move_cursor(self, delta: int) -> None:
        n = len(self.view)
        if not n:
            return
        current = self.cursor if self.cursor is not None else n - 1
        target = current + delta
        if target >= n and self.cursor is not None and delta > 0 and current == n - 1:
            self.follow()   # moving past the newest line means "back to the tail"
            return
        self._pause()
        self.cursor = max(0, min(n - 1, target))
        self._show_cursor()

    def action_cursor_up(self) -> None:
        self._move_cursor(-1)

    def action_cursor_down(self) -> None:
        self._move_cursor(+1)

    def _rows_visible(self) -> int:
        # Not self.size: that counts the row a horizontal scrollbar covers.
        return max(1, self.scrollable_content_region.height)

    def action_page_up(self) -> None:
        self._move_cursor(-max(1, self._rows_visible() - 1))

    def action_page_down(self) -> None:
        self._move_cursor(+max(1, self._rows_visible() - 1))

    def action_first(self) -> None:
        if self.view:
            self._pause()
            self.cursor = 0
            self._show_cursor()

    def _show_cursor(self) -> None:
        self._forget_strips()
        if self.cursor is None:
            return
        height = self._rows_visible()
        y = self.scroll_y
        if self.cursor < y:
            y = self.cursor
        elif self.cursor >= y + height:
            y = self.cursor - height + 1
        self._move(y=y)
        self.refresh()

    def _move(self, y: float) -> None:
        # force: the first lines can arrive before the layout shows the scrollbar, and without it
        # Textual refuses to scroll (the view then said "following" while showing the top).
        self.scroll_to(y=y, animate=False, immediate=True, force=True)

    def _scroll_tail(self) -> None:
        self._move(y=self.max_scroll_y)
        if not self._tail_pending:
            # Again after the next layout: the first batches can arrive before this view has
            # its final height, and the end then moves.
            self._tail_pending = True
            self.call_after_refresh(self._settle_tail)

    def _settle_tail(self) -> None:
        self._tail_pending = False
        if self.following:
            self._move(y=self.max_scroll_y)

    # The reader moved the view (wheel, scrollbar): up pauses, reaching the end resumes. These
    # run after Textual's own handlers have scrolled; layout changes never come through here.
    def on_mouse_scroll_up(self, event) -> None:
        self.call_after_refresh(self._after_user_scroll)

    def on_mouse_scroll_down(self, event) -> None:
        self.call_after_refresh(self._after_user_scroll)

    def on_scroll_to(self, message) -> None:
        self.call_after_refresh(self._after_user_scroll)

    def on_scroll_up(self, message) -> None:
        self.call_after_refresh(self._after_user_scroll)

    def on_scroll_down(self, message) -> None:
        self.call_after_refresh(self._after_user_scroll)

    def _after_user_scroll(self) -> None:
        if self.scroll_y < self.max_scroll_y:
            self._pause()
        elif not self.following and self.cursor is None:
            self.follow()

    def on_resize(self) -> None:
        if self.following:
            self._scroll_tail()

    # Scrollbars appear in a layout, after the lines that need them. Textual tells a bar the
    # scroll position only when the position changes, so a bar that appears later would draw
    # its thumb at the top; and a horizontal bar takes a row from the view without a resize,
    # so the tail moves one row down.
    def watch_show_vertical_scrollbar(self, shown: bool) -> None:
        if shown:
            self._sync_bar(self.vertical_scrollbar, position=self.scroll_y)

    def watch_show_horizontal_scrollbar(self, shown: bool) -> None:
        if shown:
            self._sync_bar(self.horizontal_scrollbar, position=self.scroll_x)
        if self.following:
            self._move(y=self.max_scroll_y)

    # ---------------------------------------------------------------- rendering

    def _forget_strips(self) -> None:
        """Every rendered line goes: a style, the search term or the cursor changed."""
        self._cache.clear()
        self._rows.clear()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._styles = None
        self._forget_strips()

    def _on_focus(self, event) -> None:
        self._styles = None     # the focus tint changes the base style
        self._forget_strips()

    def _on_blur(self, event) -> None:
        self._styles = None
        self._forget_strips()

    def _style(self, name: str) -> Style:
        if self._styles is None:
            # Looked up once per style change, not once per rendered row: rich_style is costly.
            self._styles = {
                n: self.get_component_rich_style(f"logview--{n}", partial=True)
                for n in ("tag", "error", "warning", "debug", "detection", "match", "cursor", "note", "count")
            }
            self._styles["base"] = self.rich_style
        return self._styles[name]

    def render_lines(self, crop: Region) -> list[Strip]:
        """Textual's rendering of the rows, remembered per log line.

        A repaint of a following view shows mostly the same lines as the last one, each a few
        rows higher, yet Textual styles every row of a refreshed widget again (~75 us a row, the
        largest part of the panel's CPU at 20 lines/s). A finished row depends only on its line
        and on the context below, so rows seen before are reused and only the new ones go
        through Textual's own path (super().render_lines, row range by row range)."""
        scroll_x, scroll_y = self.scroll_offset
        context = (scroll_x, self.size, crop.x, crop.width, self.background_colors,
                   tuple(self.app.get_line_filters()), self._style("base"))
        if context != self._rows_context:
            self._rows_context = context
            self._rows.clear()
        view = self.view
        count = len(view)
        cursor = self.cursor
        rows = self._rows
        keys: list[tuple[int, bool]] = []
        for y in crop.line_range:
            index = scroll_y + y
            # seq 0 is no line: every row below the last line is the same blank row.
            keys.append((view[index].seq, index == cursor) if index < count else (0, False))
        strips: list[Strip | None] = [rows.get(key) for key in keys]
        start = None
        for i in range(len(strips) + 1):
            if i < len(strips) and strips[i] is None:
                if start is None:
                    start = i
                continue
            if start is not None:
                fresh = super().render_lines(Region(crop.x, crop.y + start, crop.width, i - start))
                for offset, strip in enumerate(fresh):
                    strips[start + offset] = strip
                    rows[keys[start + offset]] = strip
                start = None
        return strips  # type: ignore[return-value]

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        index = scroll_y + y
        width = self.size.width
        base = self._style("base")
        view = self.view
        if index >= len(view):
            return Strip.blank(width, base)
        entry = view[index]
        is_cursor = self.cursor is not None and index == self.cursor
        key = (entry.seq, is_cursor)
        strip = self._cache.get(key)
        if strip is None:
            strip = self._build_strip(entry, is_cursor, base)
            self._cache[key] = strip
        return strip.crop_extend(scroll_x, scroll_x + width, base + (self._style("cursor") if is_cursor else Style()))

    def _build_strip(self, e: Entry, is_cursor: bool, base: Style) -> Strip:
        line_style = base
        level = e.level
        if level in ("ERROR", "CRITICAL"):
            line_style += self._style("error")
        elif level == "WARNING":
            line_style += self._style("warning")
        elif level == "DEBUG":
            line_style += self._style("debug")
        if e.detection:
            line_style += self._style("detection")
        if is_cursor:
            line_style += self._style("cursor")
        tag_style = line_style + self._style("tag") if not e.detection else line_style
        segments = [Segment(e.tag + " ", tag_style)]
        text = e.text
        term = self.search_term.lower()
        low = text.lower() if term else ""
        if term and term in low and len(low) == len(text):
            match_style = line_style + self._style("match")
            pos = 0
            n = len(term)
            while True:
                hit = low.find(term, pos)
                if hit < 0:
                    break
                if hit > pos:
                    segments.append(Segment(text[pos:hit], line_style))
                segments.append(Segment(text[hit:hit + n], match_style))
                pos = hit + n
            if pos < len(text):
                segments.append(Segment(text[pos:], line_style))
        else:
            segments.append(Segment(text, line_style))
        if e.truncated:
            segments.append(Segment(f" …(+{e.truncated} chars cut)", line_style + self._style("note")))
        cells = TAG_WIDTH + 1 + (len(text) if text.isascii() else cell_len(text))
        if e.truncated:
            cells += cell_len(f" …(+{e.truncated} chars cut)")
        if e.repeats:
            note = e.count_note
            segments.append(Segment(note, line_style + self._style("count")))
            cells += len(note)
        return Strip(segments, cells)
