"""LinesOut on the keeper's socket in columns, for a viewer that asks for it (wire.LINES_COLUMNS).

As an ordinary event a batch of log lines is one JSON object per line with every field named:
at 30,000 lines/s an attached panel spent about 4 µs a line parsing those objects and building a
LogLine from each dict, and the keeper as long encoding them. In columns the texts are one list
of strings, the levels small numbers into a table, the sources and line numbers runs of
consecutive lines (a flood is one file counting up), and the rare fields (detection, truncated,
tqdm bar) a sparse list, so the JSON parser makes little more than the strings themselves:

  {"t": "lines", "ts", "partial", "sources": [...], "runs": [[source index, first line, count]...],
   "levels": [null, "INFO", ...], "lv": [level index per line], "text": [...],
   "x": [[line index, detection, truncated, bar], ...]}

Only a viewer whose hello lists the feature gets this (an older panel gets events as before, and
a newer panel reads both), so no pairing of versions ever reads the other's lines as garbage.
"""

from __future__ import annotations

from typing import Any

from swarmtui.engine import events as ev
from swarmtui.engine.line_runs import runs_of


def encode(event: ev.LinesOut) -> dict[str, Any]:
    """The fields of a "lines" message (wire.encode("lines", **encode(e))), read from the batch's
    runs (line_runs.py): the texts are copied as lists, and a LogLine is never made."""
    sources: dict[str, int] = {}
    levels: dict[str | None, int] = {None: 0}
    runs: list[list[int]] = []
    lv: list[int] = []
    texts: list[str] = []
    extra: list[list[Any]] = []
    last: list[int] | None = None
    for run in runs_of(event.lines):
        n = len(run.texts)
        if not n:
            continue
        s = sources.get(run.source)
        if s is None:
            s = sources[run.source] = len(sources)
        if last is not None and last[0] == s and last[1] + last[2] == run.first:
            last[2] += n
        else:
            last = [s, run.first, n]
            runs.append(last)
        base = len(texts)
        texts += run.texts
        for level in run.all_levels():
            k = levels.get(level)
            if k is None:
                k = levels[level] = len(levels)
            lv.append(k)
        for i, (_, detection, truncated, bar) in sorted((run.extra or {}).items()):
            if detection is not None or truncated or bar is not None:
                extra.append([base + i, detection, truncated, bar])
    return {"ts": event.ts, "partial": event.partial, "sources": list(sources), "runs": runs,
            "levels": list(levels), "lv": lv, "text": texts, "x": extra}


def decode(msg: dict[str, Any]) -> ev.LinesOut:
    """The LinesOut a "lines" message carries; ValueError for one that does not add up."""
    try:
        sources, levels, lv, texts = msg["sources"], msg["levels"], msg["lv"], msg["text"]
        if len(lv) != len(texts) or sum(run[2] for run in msg["runs"]) != len(texts):
            raise ValueError("the columns of a lines message differ in length")
        make = ev.LogLine
        lines: list[ev.LogLine] = []
        add = lines.append
        i = 0
        for s, first, count in msg["runs"]:
            source = sources[s]
            for n in range(first, first + count):
                add(make(source, n, texts[i], levels[lv[i]]))
                i += 1
        for i, detection, truncated, bar in msg.get("x") or ():
            ln = lines[i]
            ln.detection, ln.truncated, ln.bar = detection, truncated, bar
        return ev.LinesOut(ts=str(msg.get("ts") or ""), lines=lines, partial=str(msg.get("partial") or ""))
    except (KeyError, TypeError, IndexError) as exc:
        raise ValueError(f"a malformed lines message: {exc!r}") from None
