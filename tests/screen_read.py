"""What the panel shows, read through Textual's public API only (no `screen._compositor`).

`App.export_screenshot()` renders the whole screen (overlays, toasts and modals over the panel
included) to an SVG in which Rich writes each run of text at its cell position: read back, that
is the screen as a grid of cells, with each cell's background. Links do not survive SVG, so
`links_on_screen` asks every widget for its rendered lines (`Widget.render_lines`, public)."""

from __future__ import annotations

import html
import re

from rich.cells import cell_len
from textual.app import App
from textual.geometry import Region

_TEXT = re.compile(r'<text class="[^"]*" x="([\d.]+)" y="[\d.]+" textLength="([\d.]+)" '
                   r'clip-path="url\(#[\w-]+-line-(\d+)\)">(.*?)</text>')
_RECT = re.compile(r'<rect fill="(#[0-9a-fA-F]{6})" x="([\d.]+)" y="([\d.]+)" width="([\d.]+)" '
                   r'height="[\d.]+" shape-rendering="crispEdges"/>')
_LINE_HEIGHT = 24.4   # Rich's export_svg: char_height 20 * line_height 1.22


def _cells(svg: str, width: int, height: int) -> list[list[str]]:
    grid = [[" "] * width for _ in range(height)]
    for x, length, line, raw in _TEXT.findall(svg):
        text = html.unescape(raw).replace("\xa0", " ")
        if not text:
            continue
        char_width = float(length) / len(text)      # Rich: textLength = char_width * len(text)
        col, row = round(float(x) / char_width), int(line)
        if row >= height:
            continue
        for ch in text:
            if 0 <= col < width:
                grid[row][col] = ch
                if cell_len(ch) == 2 and col + 1 < width:
                    grid[row][col + 1] = ""          # the right half of a wide character
            col += cell_len(ch)
    return grid


def screen_lines(app: App) -> list[str]:
    """The screen as it is drawn now, one string a row (trailing spaces kept)."""
    width, height = app.size
    return ["".join(row) for row in _cells(app.export_screenshot(), width, height)]


def screen_text(app: App) -> str:
    return "\n".join(screen_lines(app))


async def shown(pilot, app: App, text: str, timeout: float = 5.0) -> str:
    """The screen's text once `text` is on it (a loaded machine may take more than one pause to
    draw it); the screen as it is after `timeout` otherwise, for the caller's assert to show."""
    import time

    end = time.monotonic() + timeout
    while True:
        screen = screen_text(app)
        if text in screen or time.monotonic() >= end:
            return screen
        await pilot.pause(0.05)


async def gone(pilot, app: App, text: str, timeout: float = 5.0) -> str:
    """The screen's text once `text` is no longer on it; as it is after `timeout` otherwise."""
    import time

    end = time.monotonic() + timeout
    while True:
        screen = screen_text(app)
        if text not in screen or time.monotonic() >= end:
            return screen
        await pilot.pause(0.05)


def row_backgrounds(app: App, needle: str) -> set[str]:
    """The background colours (#rrggbb) painted on the first row that shows `needle`."""
    width, height = app.size
    svg = app.export_screenshot()
    lines = ["".join(row) for row in _cells(svg, width, height)]
    row = next(i for i, line in enumerate(lines) if needle in line)
    found = set()
    for fill, _x, y, _w in _RECT.findall(svg):
        if round((float(y) - 1.5) / _LINE_HEIGHT) == row:
            found.add(fill.lower())
    return found


def links_on_screen(app: App) -> list[str]:
    """Every hyperlink in what the widgets of the current screen render now."""
    found = []
    for widget in app.screen.walk_children(with_self=True):
        if not widget.display or widget.outer_size.area == 0:
            continue
        for strip in widget.render_lines(Region(0, 0, *widget.outer_size)):
            found += [seg.style.link for seg in strip if seg.style is not None and seg.style.link]
    return found
