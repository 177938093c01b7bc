"""Small pure formatting helpers shared by the panes (no Textual import, easy to unit-test)."""

from __future__ import annotations

import datetime as _dt
from pathlib import Path, PurePath

from swarmtui.node.text import sanitize


def duration(seconds: float | None) -> str:
    """A compact human duration: 45s, 12m 05s, 3h 07m, 2d 04h."""
    if seconds is None:
        return "-"
    s = max(0, int(seconds))
    if s < 60:
        return f"{s}s"
    m, s = divmod(s, 60)
    if m < 60:
        return f"{m}m {s:02d}s" if s else f"{m}m"
    h, m = divmod(m, 60)
    if h < 48:
        return f"{h}h {m:02d}m"
    d, h = divmod(h, 24)
    return f"{d}d {h:02d}h"


def size(n_bytes: int | None) -> str:
    """Bytes as B / K / M / G with one decimal where it helps."""
    if n_bytes is None:
        return "-"
    n = float(n_bytes)
    for unit in ("B", "K", "M", "G", "T"):
        if n < 1024 or unit == "T":
            if unit == "B":
                return f"{int(n)}B"
            return f"{n:.1f}{unit}" if n < 100 else f"{n:.0f}{unit}"
        n /= 1024
    return f"{n:.0f}T"  # pragma: no cover


def source_tag(source: str, width: int = 8) -> str:
    """A short fixed-width tag for a line's source: "pty" -> "term", "logs/yarn.log" -> "yarn"."""
    if source == "pty":
        tag = "term"
    else:
        stem = PurePath(source).name
        for suffix in (".log", ".txt"):
            if stem.endswith(suffix):
                stem = stem[: -len(suffix)]
        if stem.startswith("swarm_") and len(stem) > 6:
            stem = stem[6:]
        tag = sanitize(stem) or "?"      # a log file's name is anything its writer chose
    return tag[:width].ljust(width)


def home_relative(path: Path | str | None, home: Path | None = None) -> str:
    """A path with the home directory written as ~ (shorter, and what people type)."""
    if path is None:
        return "-"
    p = Path(path)
    try:
        h = home if home is not None else Path.home()
        return "~/" + str(p.relative_to(h)) if p != h else "~"
    except (ValueError, RuntimeError):
        return str(p)


def ssh_tunnel_command(port: int, host: str, user: str | None) -> str:
    """The exact command an operator runs on their laptop to reach the node's login page."""
    who = f"{user}@{host}" if user else host
    return f"ssh -L {port}:localhost:{port} {who}"


def parse_ts(ts: object) -> _dt.datetime | None:
    """An ISO 8601 timestamp (the engine's `ts`, "Z" allowed) or epoch seconds -> aware datetime."""
    if isinstance(ts, (int, float)):
        return _dt.datetime.fromtimestamp(float(ts), _dt.timezone.utc)
    if not isinstance(ts, str) or not ts:
        return None
    try:
        value = _dt.datetime.fromisoformat(ts.replace("Z", "+00:00"))
    except ValueError:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=_dt.timezone.utc)
    return value


def local_time(ts: object, now: _dt.datetime | None = None) -> str:
    """HH:MM:SS today, else MM-DD HH:MM, in local time (what the operator's clock shows)."""
    value = parse_ts(ts)
    if value is None:
        return "?"
    local = value.astimezone()
    today = (now or _dt.datetime.now(_dt.timezone.utc)).astimezone().date()
    if local.date() == today:
        return local.strftime("%H:%M:%S")
    return local.strftime("%m-%d %H:%M")


def short(text: str, width: int) -> str:
    """Cut text to width characters with an ellipsis."""
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"
