"""Filling a DataTable so that it is drawn right the first time.

DataTable measures its columns later, when it is idle, and keeps the rows it drew before that in
a cache the measuring does not clear: a table drawn in between (a busy machine, or just bad luck)
went on showing header-wide columns ("14:2  oom-ki") until its next change, which for the
restart history can be days. Columns given their widths up front need no later measuring."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Union

from rich.cells import cell_len
from rich.text import Text
from textual.widgets import DataTable

Cell = Union[str, Text]


def _width(cell: Cell) -> int:
    if isinstance(cell, Text):
        return cell.cell_len
    text = str(cell)
    if "[" in text or "\\" in text:
        # DataTable shows a str cell as markup: measure what shows, not the escapes.
        return Text.from_markup(text).cell_len
    return cell_len(text)


def refill(table: DataTable, columns: Sequence[str], rows: Sequence[tuple[Sequence[Cell], str]],
           widths: Sequence[int] | None = None) -> None:
    """Replace every row; each column (keyed by its name) exactly as wide as its widest cell, or
    as `widths` says (cells wider than that are the caller's to cut)."""
    if widths is None:
        widths = [_width(name) for name in columns]
        for cells, _key in rows:
            for i, cell in enumerate(cells):
                widths[i] = max(widths[i], _width(cell))
    table.clear(columns=True)
    for name, width in zip(columns, widths):
        table.add_column(name, width=width, key=name)
    for cells, key in rows:
        table.add_row(*cells, key=key)
