"""A sparkline with one cell per value: Textual's Sparkline spreads its data over its whole width,
so two rounds drew "▁▁▁…███", which reads as one step, not two rounds. This one draws the newest
values that fit, one cell each, right-aligned (newest at the right), on the same min..max scale
and colours as Textual's."""

from __future__ import annotations

from rich.console import Console, ConsoleOptions, RenderResult
from rich.segment import Segment
from textual.renderables.sparkline import Sparkline as SparklineRenderable
from textual.widgets import Sparkline


class _RightAligned:
    def __init__(self, pad: int, inner: SparklineRenderable):
        self.pad = pad
        self.inner = inner

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        if self.pad:
            yield Segment(" " * self.pad)
        if self.inner.width:
            yield from self.inner.__rich_console__(console, options)


class PointSparkline(Sparkline):
    def render(self) -> _RightAligned:
        width = max(0, self.size.width)
        data = list(self.data or [])[-width:] if width else []
        _, base = self.background_colors
        min_color = base + (self.get_component_styles("sparkline--min-color").color
                            if self.min_color is None else self.min_color)
        max_color = base + (self.get_component_styles("sparkline--max-color").color
                            if self.max_color is None else self.max_color)
        inner = SparklineRenderable(data, width=len(data), height=1, min_color=min_color.rich_color,
                                    max_color=max_color.rich_color, summary_function=self.summary_function)
        return _RightAligned(width - len(data), inner)
