"""A batch of log lines kept as columns until someone reads them line by line.

In a flood the keeper takes in 30,000 lines a second and nearly all of them are only stored: in
the replay backlog for a panel that may attach later, and in the LinesOut batches nobody may be
reading. Building a LogLine for each (a level parsed from its header, a dataclass with seven
fields) cost more than the rest of the line path together. So a batch is kept as runs: a source,
the first line's number and the list of texts the splitter made, with the few fields that differ
from their defaults (a detection, a cut, a tqdm bar, a level the parser read differently) in a
sparse dict. `Lines` is a read-only sequence of LogLine over such runs: whoever iterates it (a
printer, a panel in the same process, a test) gets the same LogLines as before, made on first
use; the replay cache and the columns encoder (wire_lines) read the runs and make none.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from swarmtui.engine.events import LogLine
from swarmtui.node.logparse import level_of

# extra[index] = (level, detection, truncated, bar); level None means "read it from the text".
Extra = dict[int, tuple[str | None, str | None, int, str | None]]


class LineRun:
    """Lines `first`, `first + 1`, ... of `source`. `levels`, when given, holds every line's level
    as it was (a run rebuilt from LogLines); otherwise a line's level is its header's."""

    __slots__ = ("source", "first", "texts", "extra", "levels")

    def __init__(self, source: str, first: int, texts: list[str], extra: Extra | None = None,
                 levels: list[str | None] | None = None):
        self.source = source
        self.first = first
        self.texts = texts
        self.extra = extra
        self.levels = levels

    def __len__(self) -> int:
        return len(self.texts)

    def all_levels(self) -> list[str | None]:
        """Every line's level, in order."""
        if self.levels is not None:
            return self.levels
        out = [level_of(t) for t in self.texts]
        for i, x in (self.extra or {}).items():
            if x[0] is not None:
                out[i] = x[0]
        return out

    def part(self, start: int, stop: int | None = None) -> "LineRun":
        """Lines start..stop-1 of this run (indices), as a run of their own."""
        stop = len(self.texts) if stop is None else stop
        extra = None
        if self.extra:
            extra = {i - start: x for i, x in self.extra.items() if start <= i < stop} or None
        levels = self.levels[start:stop] if self.levels is not None else None
        return LineRun(self.source, self.first + start, self.texts[start:stop], extra, levels)

    def loglines(self) -> list[LogLine]:
        out: list[LogLine] = []
        add = out.append
        source, first, extra, levels = self.source, self.first, self.extra or {}, self.levels
        for i, text in enumerate(self.texts):
            x = extra.get(i)
            if levels is not None:
                level = levels[i]
            elif x is not None and x[0] is not None:
                level = x[0]
            else:
                level = level_of(text)
            if x is None:
                add(LogLine(source, first + i, text, level))
            else:
                add(LogLine(source, first + i, text, level, x[1], x[2], x[3]))
        return out

    @classmethod
    def from_loglines(cls, lines: Iterable[LogLine]) -> list["LineRun"]:
        """Runs holding exactly these LogLines (their levels as they are)."""
        runs: list[LineRun] = []
        run: LineRun | None = None
        for ln in lines:
            if run is None or ln.source != run.source or ln.line != run.first + len(run.texts):
                run = cls(ln.source, ln.line, [], None, [])
                runs.append(run)
            i = len(run.texts)
            run.texts.append(ln.text)
            run.levels.append(ln.level)     # type: ignore[union-attr]
            if ln.detection is not None or ln.truncated or ln.bar is not None:
                if run.extra is None:
                    run.extra = {}
                run.extra[i] = (ln.level, ln.detection, ln.truncated, ln.bar)
        return runs


class Lines(Sequence[LogLine]):
    """LogLines over runs, each made when first read (see the module docstring)."""

    __slots__ = ("runs", "_made")

    def __init__(self, runs: list[LineRun] | None = None):
        self.runs: list[LineRun] = runs if runs is not None else []
        self._made: list[LogLine] | None = None

    def _lines(self) -> list[LogLine]:
        if self._made is None:
            made: list[LogLine] = []
            for run in self.runs:
                made += run.loglines()
            self._made = made
        return self._made

    def __len__(self) -> int:
        if self._made is not None:
            return len(self._made)
        return sum(len(run.texts) for run in self.runs)

    def __bool__(self) -> bool:
        return any(run.texts for run in self.runs)

    def __iter__(self) -> Iterator[LogLine]:
        return iter(self._lines())

    def __getitem__(self, index: Any) -> Any:
        return self._lines()[index]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Lines):
            return self._lines() == other._lines()
        if isinstance(other, list):
            return self._lines() == other
        return NotImplemented

    def __repr__(self) -> str:
        return f"Lines({self._lines()!r})"


def runs_of(lines: Sequence[LogLine]) -> list[LineRun]:
    """The runs behind any LinesOut.lines: a Lines' own, or runs rebuilt from a list."""
    if isinstance(lines, Lines):
        return lines.runs
    return LineRun.from_loglines(lines)
