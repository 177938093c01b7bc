"""Small pure helpers for the panel's pictures (no Textual import, easy to unit-test): bar rows
on a fixed scale, the restart timeline's hourly counts, trend labels."""

from __future__ import annotations

import datetime as _dt
import math
from typing import Any, Iterable, Sequence

from swarmtui.tui.format import parse_ts

BLOCKS = "▁▂▃▄▅▆▇█"
EMPTY = "·"


def bars(values: Sequence[float | None], lo: float, hi: float, width: int | None = None) -> str:
    """One character per value on a fixed scale lo..hi (Textual's Sparkline scales to the data's
    own min..max, so 41 % and 42 % RAM would look like empty and full). A value at or below `lo`
    is a dot, None a space; `width` keeps the newest values, padding on the left."""
    out = []
    span = (hi - lo) or 1.0
    for v in values:
        if v is None or not math.isfinite(v):
            out.append(" ")
        elif v <= lo:
            out.append(EMPTY)
        else:
            ratio = min(1.0, (v - lo) / span)
            out.append(BLOCKS[max(0, min(len(BLOCKS) - 1, math.ceil(ratio * len(BLOCKS)) - 1))])
    text = "".join(out)
    if width is not None:
        text = text[-width:].rjust(width) if width > 0 else ""
    return text


def restarts_per_hour(records: Iterable[dict[str, Any]], now: _dt.datetime, hours: int = 24) -> list[int]:
    """Restarts in each of the last `hours` hours, oldest first (the last bucket ends now). Only
    restarts count (a stop you asked for, a clean-up are not); a record without an action is
    counted as a restart, as the status line's "restarts 24h" does."""
    counts = [0] * hours
    for r in records:
        if r.get("action", "restart") != "restart":
            continue
        t = parse_ts(r.get("ts") or r.get("time") or r.get("at"))
        if t is None:
            continue
        age_h = (now - t).total_seconds() / 3600.0
        if 0 <= age_h < hours:
            counts[hours - 1 - int(age_h)] += 1
    return counts


def brief_duration(seconds: float | None) -> str:
    """A duration in a few characters for a trend label: 45s, 6.6m, 1.2h."""
    if seconds is None or not math.isfinite(seconds):
        return "-"
    if seconds < 60:
        return f"{seconds:.0f}s"
    if seconds < 3600:
        return f"{seconds / 60:.1f}m"
    return f"{seconds / 3600:.1f}h"


def brief_number(value: float) -> str:
    return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"


def trend_label(values: Sequence[float], fmt=brief_number, unit: str = "") -> str:
    """`last X · min–max` for a trend row, in the values' unit."""
    if not values:
        return ""
    lo, hi, last = min(values), max(values), values[-1]
    return f"last {fmt(last)}{unit} · {fmt(lo)}–{fmt(hi)}{unit}"
