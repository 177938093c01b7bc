"""The keeper's lines as runs (engine.line_runs): a batch kept as columns reads back as exactly the
LogLines the old path built, through every consumer (a LinesOut's readers, the replay backlog,
the columns on the wire); and the log tailer's runs are the lines of its line-by-line reading."""

from __future__ import annotations

import random

from swarmtui.engine import events as ev
from swarmtui.engine import wire, wire_lines
from swarmtui.engine.line_runs import LineRun, Lines
from swarmtui.engine.replay import ReplayCache
from swarmtui.engine.tail import LogTailer
from swarmtui.node.logparse import level_of

TEXTS = ["[2026-01-01 12:00:00,001][genrl.trainer][INFO] - step 1",
         "Apr 04 07:38:41.041 [WARN] [hivemind.dht] ping failed",
         "a line with no header",
         "2025-05-20 12:00:00,123 - ERROR - a.b:1 - boom",
         "Map:  50%|█████     | 5/10"]


def keeper_runs() -> list[LineRun]:
    return [LineRun("pty", 10, TEXTS[:3], {1: (None, "dht-warning", 0, None)}),
            LineRun("pty", 13, TEXTS[3:], {0: ("CRITICAL", None, 7, None), 1: (None, None, 0, "Map")}),
            LineRun("logs/swarm_launcher.log", 1, TEXTS[:2])]


def expected() -> list[ev.LogLine]:
    return [ev.LogLine("pty", 10, TEXTS[0], "INFO"),
            ev.LogLine("pty", 11, TEXTS[1], level_of(TEXTS[1]), "dht-warning"),
            ev.LogLine("pty", 12, TEXTS[2], None),
            ev.LogLine("pty", 13, TEXTS[3], "CRITICAL", None, 7),
            ev.LogLine("pty", 14, TEXTS[4], None, None, 0, "Map"),
            ev.LogLine("logs/swarm_launcher.log", 1, TEXTS[0], "INFO"),
            ev.LogLine("logs/swarm_launcher.log", 2, TEXTS[1], level_of(TEXTS[1]))]


def test_runs_read_back_as_the_loglines_with_levels_read_from_headers():
    assert level_of(TEXTS[1]) is not None          # the lazy level is really read from the text
    lines = Lines(keeper_runs())
    assert len(lines) == 7 and bool(lines) and not Lines([LineRun("pty", 1, [])])
    assert list(lines) == expected() and lines == expected()
    assert lines[3].truncated == 7 and lines[-1].line == 2
    assert ev.LinesOut(lines=lines).to_dict()["lines"] == ev.LinesOut(lines=expected()).to_dict()["lines"]


def test_rebuilt_runs_keep_every_field_and_parts_renumber():
    # the last line's header says INFO, its LogLine says no level: kept as it was
    odd = expected() + [ev.LogLine("pty", 15, TEXTS[0], level=None)]
    runs = LineRun.from_loglines(odd)
    assert [(r.source, r.first, len(r)) for r in runs] == [("pty", 10, 5), ("logs/swarm_launcher.log", 1, 2),
                                                           ("pty", 15, 1)]
    assert Lines(runs) == odd
    part = runs[0].part(2, 5)
    assert part.loglines() == odd[2:5]


def test_the_columns_from_runs_are_the_columns_from_loglines():
    lazy = ev.LinesOut(lines=Lines(keeper_runs()), partial="p", ts="t")
    made = ev.LinesOut(lines=expected(), partial="p", ts="t")
    assert wire_lines.encode(lazy) == wire_lines.encode(made)
    back = wire_lines.decode(wire.decode(wire.encode("lines", **wire_lines.encode(lazy))))
    assert back.lines == expected()


def test_the_replay_backlog_keeps_the_last_lines_of_runs():
    rng = random.Random(3)
    for backlog in (0, 1, 4, 9, 50):
        cache = ReplayCache(backlog=backlog)
        shown: list[ev.LogLine] = []
        n = 0
        for _ in range(12):
            k = rng.choice((1, 3, 7))
            texts = [f"line {n + i}" for i in range(k)]
            run = LineRun("pty", n + 1, texts, {k - 1: (None, "x", 0, None)})
            cache.observe(ev.LinesOut(lines=Lines([run])))
            shown += run.loglines()
            n += k
        want = shown[-backlog:] if backlog else []
        assert list(cache.lines) == want
        snap = [e for e in cache.snapshot() if isinstance(e, ev.LinesOut)]
        assert list(snap[0].lines) == want


def _reference_lines(data: bytes, limit: int) -> list[tuple[str, int, int]]:
    """What the tailer gave before runs: each line decoded alone, cut to `limit` bytes, one \\r
    dropped from its end."""
    out = []
    for n, raw in enumerate(data.split(b"\n")[:-1], 1):
        cut = max(0, len(raw) - limit)
        raw = raw[:limit]
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        out.append((raw.decode("utf-8", "replace"), n, cut))
    return out


def test_tailer_runs_are_the_lines_read_one_by_one(tmp_path):
    rng = random.Random(11)
    pieces = [b"plain", b"caf\xc3\xa9", b"\xe2\x82", b"\xff\xfe", b"\r", b"tab\there", b"x" * 90, b""]
    data = b"".join(b"".join(rng.choice(pieces) for _ in range(rng.randrange(6))) + b"\n" for _ in range(3000))
    log = tmp_path / "node.log"
    log.write_bytes(b"")
    tailer = LogTailer(log, max_line_bytes=64)
    tailer._ready = True
    tailer._cur, _ = tailer._adopt()
    got: list[tuple[str, int, int]] = []
    with open(log, "ab") as f:
        i = 0
        while i < len(data):                    # written in odd pieces: lines cut across reads
            k = rng.choice((1, 5, 77, 4096))
            f.write(data[i:i + k])
            f.flush()
            i += k
            got += [(t.text, t.line_no, t.cut) for t in tailer.catch_up()]
    assert got == _reference_lines(data, 64)
