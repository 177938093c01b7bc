"""engine.history: the restart history, run transcripts, backups and `swarmtui history`."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading

import pytest

from swarmtui import paths
from swarmtui.node.text import sanitize
from swarmtui.engine.history import (EvidenceBuffer, HistoryStore, RestartRecord, TranscriptWriter,
                                     backup_file, format_table, list_backups, next_run_number,
                                     reward_loss_possible)


def mode(p):
    return stat.S_IMODE(os.stat(p).st_mode)


def record(**kw):
    base = dict(time="2026-01-02T03:04:05.000Z", reason="oom-killed", cls="resource",
                text="./run_rl_swarm.sh: line 271: 4242 Killed python -m code_gen_exp.runner.swarm_launcher",
                source="pty", line=812, exit_code=None, exit_signal=9, uptime_s=4000.0, backoff_s=10.0,
                attempt=1, orphans_killed=[{"pid": 4300, "cmdline": "p2pd -id=/x/swarm.pem", "proof": "p2pd-id"}],
                reward_loss=True, reward_note="3 rounds since start", run=4, evidence=["a", "b"])
    base.update(kw)
    return RestartRecord(**base)


def test_append_and_read_back(tmp_path):
    store = HistoryStore(tmp_path / "rl-swarm")
    assert store.read() == [] and not store.exists()
    store.append(record())
    store.append(record(reason="exited", exit_code=143, exit_signal=None))
    recs = store.read()
    assert [r["reason"] for r in recs] == ["oom-killed", "exited"]
    assert recs[0]["orphans_killed"][0]["proof"] == "p2pd-id"
    assert recs[0]["reward_loss"] is True and recs[0]["v"] == 1
    assert store.path == paths.node_state_dir(tmp_path / "rl-swarm") / "history.jsonl"
    assert mode(store.path) == 0o600
    assert mode(store.path.parent) == 0o700


def test_torn_last_line_is_skipped_and_does_not_swallow_the_next(tmp_path):
    store = HistoryStore(tmp_path / "n")
    store.append(record(reason="first"))
    with open(store.path, "ab") as f:                 # a crash in the middle of a write
        f.write(b'{"time":"2026-01-02T03:04:05Z","reason":"tor')
    assert [r["reason"] for r in store.read()] == ["first"]
    store.append(record(reason="after"))
    assert [r["reason"] for r in store.read()] == ["first", "after"]
    with open(store.path, "ab") as f:
        f.write(b"\xff\xfe garbage\n[1,2]\n\n")
    assert [r["reason"] for r in store.read()] == ["first", "after"]


def test_existing_file_with_wide_mode_is_tightened(tmp_path):
    store = HistoryStore(tmp_path / "n")
    store.dir.mkdir(parents=True)
    store.path.write_text("")
    os.chmod(store.path, 0o644)
    store.append(record())
    assert mode(store.path) == 0o600


def test_evidence_and_text_are_capped(tmp_path):
    store = HistoryStore(tmp_path / "n")
    d = store.append(record(text="x" * 5000, evidence=[f"line {i}" for i in range(500)]))
    assert len(d["text"]) < 600 and d["text"].endswith("(+4500)")
    assert len(d["evidence"]) == 60 and d["evidence"][-1] == "line 499"


def test_reward_loss_is_honest():
    assert reward_loss_possible(100, 0)[0] is False
    assert reward_loss_possible(2 * 3600, 12)[0] is True
    assert reward_loss_possible(5 * 3600, 40)[0] is None               # may have been submitted: unknown
    assert reward_loss_possible(5 * 3600, 40, rounds_since_submit=0)[0] is False
    assert reward_loss_possible(5 * 3600, 40, rounds_since_submit=3)[0] is True
    assert reward_loss_possible(100, None)[0] is None
    ok, why = reward_loss_possible(600, 2)
    assert ok is True and "3 h" in why


def test_evidence_buffer_around_a_detection():
    ev = EvidenceBuffer(maxlen=100)
    for i in range(1, 51):
        ev.add("pty", i, f"p{i}")
        if i % 10 == 0:
            ev.add("logs/yarn.log", i // 10, f"y{i // 10}")
    lines = ev.around("pty", 30, before=3, after=2)
    assert lines[0] == "pty:27: p27" and "logs/yarn.log:3: y3" in lines and lines[-1] == "pty:31: p31"
    assert ev.around("pty", 999, before=2, after=1) == ev.tail(3)


def test_transcript_rolls_over_and_keeps_the_last_runs(tmp_path):
    runs = tmp_path / "runs"
    for n in range(1, 5):
        with TranscriptWriter(runs, max_bytes=4096, keep=3) as t:
            assert t.run == n
            for i in range(200):
                t.write(f"run {n} line {i:04d} \x1b[32mgreen\x1b[0m\r\n".encode())
    names = sorted(p.name for p in runs.iterdir())
    assert names == ["run-000002.1.log", "run-000002.log", "run-000003.1.log", "run-000003.log",
                     "run-000004.1.log", "run-000004.log"]
    for p in runs.iterdir():
        assert p.stat().st_size <= 4096 and mode(p) == 0o600
    last = (runs / "run-000004.log").read_bytes()
    assert last.endswith(b"run 4 line 0199 \x1b[32mgreen\x1b[0m\r\n")   # raw bytes, the newest kept
    assert next_run_number(runs) == 5


def test_transcript_keeps_every_byte_of_a_flood(tmp_path):
    """No buffering in Python: what write() got is on disk at once, even from a chunked flood."""
    t = TranscriptWriter(tmp_path / "runs", max_bytes=64 << 20, keep=2)
    chunk = b"".join(b"flood line %06d\r\n" % i for i in range(1000))
    for _ in range(50):
        t.write(chunk)
    size_before_close = t.path.stat().st_size
    t.close()
    data = t.path.read_bytes()
    assert size_before_close == len(data) == 50 * len(chunk)
    assert data.count(b"\r\n") == 50_000


def test_backup_file_is_private_and_never_overwrites(tmp_path):
    node = tmp_path / "rl-swarm"
    node.mkdir()
    pem = node / "swarm.pem"
    pem.write_bytes(b"-----BEGIN PRIVATE KEY-----\nsecret\n")
    os.chmod(pem, 0o644)
    b1 = backup_file(pem, node, wall=1_767_225_600.0)
    b2 = backup_file(pem, node, wall=1_767_225_600.0)          # same second: a second file
    assert b1 != b2 and b1.name.startswith("20260101T000000.000000Z-") and b1.name.endswith("swarm.pem")
    assert b1.read_bytes() == b2.read_bytes() == pem.read_bytes()
    assert mode(b1) == 0o600 and mode(b1.parent) == 0o700
    assert b1.parent == paths.node_state_dir(node) / "backups"
    assert pem.exists()                                         # a backup never moves the original
    assert list_backups(node) == sorted([b1, b2])
    with pytest.raises(FileNotFoundError):
        backup_file(node / "userApiKey.json", node)


def test_format_table_newest_first():
    recs = [record(reason="first", time="2026-01-01T00:00:00Z").to_dict(),
            record(reason="second", time="2026-01-02T00:00:00Z", exit_signal=None, exit_code=143,
                   reward_loss=None, orphans_killed=[]).to_dict()]
    out = format_table(recs).splitlines()
    assert out[0].split() == ["TIME", "REASON", "ACTION", "UPTIME", "EXIT", "NEXT", "IN", "ORPHANS",
                              "REWARDS", "AT", "RISK"]
    rows = [ln for ln in out[1:] if not ln.startswith("    ")]
    assert "second" in rows[0] and "143" in rows[0] and "unknown" in rows[0]
    assert "first" in rows[1] and "sig 9" in rows[1] and "1h06m" in rows[1] and "yes" in rows[1]
    assert out[2].startswith("    pty:812: ./run_rl_swarm.sh: line 271")


# ---------------------------------------------------------------- the command

def cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "swarmtui", "history", *args], capture_output=True, text=True,
                          timeout=60, env=env)


def test_history_command(tmp_path):
    node = tmp_path / "rl-swarm"
    node.mkdir()
    out = cli(str(node))
    assert out.returncode == 1 and out.stderr.count("\n") == 1 and "not an rl-swarm checkout" in out.stderr
    (node / "run_rl_swarm.sh").write_text("#!/bin/bash\n")
    out = cli(str(node))
    assert out.returncode == 0 and "no restarts recorded yet" in out.stdout
    store = HistoryStore(node)
    store.append(record(reason="older-one"))
    store.append(record(reason="newer-one"))
    out = cli(str(node))
    assert out.returncode == 0, out.stderr
    assert out.stdout.index("newer-one") < out.stdout.index("older-one")
    out = cli(str(node), "--json")
    lines = [json.loads(ln) for ln in out.stdout.splitlines()]
    assert [r["reason"] for r in lines] == ["older-one", "newer-one"]


def test_history_of_a_directory_that_is_no_longer_a_checkout(tmp_path):
    node = tmp_path / "gone"
    node.mkdir()
    HistoryStore(node).append(record(reason="kept"))
    out = cli(str(node))
    assert out.returncode == 0 and "kept" in out.stdout


def test_concurrent_appends_do_not_interleave(tmp_path):
    store = HistoryStore(tmp_path / "n")

    def writer(k):
        for i in range(50):
            store.append(record(reason=f"w{k}-{i}", evidence=["e" * 400] * 20))

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(store.read()) == 200


# ---------------------------------------------------------------- records of the wrong shape

MALFORMED = [
    b'{"time":"2026-01-01T00:00:00Z","reason":"good-one","uptime_s":65,"orphans_killed":[]}',
    b'{"time":7,"reason":"bad-time","orphans_killed":5,"uptime_s":"x","exit_code":true,"backoff_s":"soon"}',
    b'{"time":"2026-01-03T00:00:00Z","reason":["not","text"],"uptime_s":Infinity,"evidence":"one string",'
    b'"orphans_killed":[{"pid":1},"junk"],"reward_loss":"maybe","text":{"a":1}}',
    b'[1,2]',
    b'"str"',
    b'42',
    b'null',
    b'{"time":"2026-01-04T00:00:00Z","reason":"tor',          # torn: a crash in the middle of a write
]


def test_read_normalises_wrong_typed_fields_and_counts_skipped_lines(tmp_path):
    store = HistoryStore(tmp_path / "n")
    store.dir.mkdir(parents=True)
    store.path.write_bytes(b"\n".join(MALFORMED) + b"\n")
    loaded = store.load()
    assert loaded.skipped == 5                                   # the array, string, number, null, torn
    good, bad_time, odd = loaded.records
    assert good["reason"] == "good-one" and good["uptime_s"] == 65
    assert bad_time["time"] == "" and bad_time["orphans_killed"] == [] and bad_time["uptime_s"] is None
    assert bad_time["exit_code"] is None and bad_time["backoff_s"] is None
    assert odd["reason"] == "?" and odd["uptime_s"] is None and odd["evidence"] == []
    assert odd["orphans_killed"] == [{"pid": 1}] and odd["reward_loss"] is None and odd["text"] == ""
    assert store.read() == loaded.records
    table = format_table(loaded.records)                         # every row renders
    assert "good-one" in table and "bad-time" in table and "1m05s" in table


def test_format_table_copes_with_raw_dicts_of_any_shape():
    out = format_table([{"orphans_killed": 5, "uptime_s": "x", "time": 7, "exit_signal": "TERM"},
                        {"time": "0001-01-01T00:00:00+14:00", "uptime_s": float("inf"), "reason": None}])
    assert len(out.splitlines()) == 3


def test_history_command_shows_good_records_and_says_how_many_were_skipped(tmp_path):
    node = tmp_path / "rl-swarm"
    node.mkdir()
    (node / "run_rl_swarm.sh").write_text("#!/bin/bash\n")
    store = HistoryStore(node)
    store.append(record(reason="before-the-mess"))
    with open(store.path, "ab") as f:
        f.write(b"\n".join(MALFORMED) + b"\n")
    store.append(record(reason="after-the-mess"))
    out = cli(str(node))
    assert out.returncode == 0 and "Traceback" not in out.stderr + out.stdout, out.stderr
    assert "before-the-mess" in out.stdout and "after-the-mess" in out.stdout and "bad-time" in out.stdout
    assert "5 lines of" in out.stdout and "skipped" in out.stdout
    out = cli(str(node), "--json")
    assert out.returncode == 0 and "Traceback" not in out.stderr
    reasons = [json.loads(ln)["reason"] for ln in out.stdout.splitlines()]
    assert reasons == ["before-the-mess", "good-one", "bad-time", "?", "after-the-mess"]
    assert out.stderr.count("\n") == 1 and "5 lines" in out.stderr   # stdout stays pure JSON lines


def test_a_huge_history_is_read_from_its_end(tmp_path, monkeypatch):
    import swarmtui.engine.history as history

    store = HistoryStore(tmp_path / "n")
    for i in range(30):
        store.append(record(reason=f"r{i}", evidence=[]))
    monkeypatch.setattr(history, "MAX_HISTORY_READ", 2000)
    loaded = store.load()
    assert loaded.truncated and loaded.skipped == 0              # the cut first line is not counted
    assert loaded.records and loaded.records[-1]["reason"] == "r29"
    assert len(loaded.records) < 30


def test_evidence_runs_to_the_end_of_a_long_traceback():
    """rgym's Hydra start-up failure (the simulator prints it as rl-swarm v0.6.4 does): the
    detection is the P2PDaemonError inside the first traceback; the chained one after it ends
    in hydra's InstantiationException and the wrapped error on the lines after it."""
    from swarmtui.sim import traces

    text = traces.startup_failure("rgym", traces.Paths("/home/u/rl-swarm"),
                                  f"{traces.P2PD_ERROR}: Daemon failed to start in 120.0 seconds",
                                  "P2PDaemonError('Daemon failed to start in 120.0 seconds')")
    buf = EvidenceBuffer()
    buf.add("pty", 1, "[2025-10-26 23:30:27,852][genrl.logging_utils.global_defs][INFO] - Using Model: x")
    rows = text.split("\n")
    for i, row in enumerate(rows, 2):
        buf.add("pty", i, row)
        if i % 6 == 0:      # another source's lines come in between; the block is the pty's
            buf.add("logs/swarm_launcher.log", i, "[2025-10-26 23:30:28,000][httpx][DEBUG] - HTTP Request: POST x")
    buf.add("pty", len(rows) + 2, ">> An error was detected while running rl-swarm. See /home/u/rl-swarm/logs for full logs.")
    at = 2 + next(i for i, row in enumerate(rows) if row.startswith(traces.P2PD_ERROR))
    ev = buf.around("pty", at)
    shown = [e for e in ev if e.startswith("pty:")]
    assert any(traces.P2PD_ERROR in e and f"pty:{at}:" in e for e in ev)
    # The end of the block: the outer exception and the lines of its message, not further.
    assert shown[-1].endswith("full_key: game_manager.communication")
    assert any("hydra.errors.InstantiationException" in e for e in shown)
    # All of it fits in 60 lines: fewer lines before the detection, none of the block left out.
    assert len(ev) == 60 and not any(e.startswith("…") for e in ev)
    assert sum(1 for e in ev[:ev.index(next(e for e in ev if f"pty:{at}:" in e))] if e.startswith("pty:")) >= 10
    # A block longer than the limit keeps the detection, the end, and says what it left out.
    short = buf.around("pty", at, limit=20)
    assert len(short) == 20 and any(f"pty:{at}:" in e for e in short)
    assert short[-1].endswith("full_key: game_manager.communication")
    assert any(e.startswith("…") and "left out" in e for e in short)


def test_transcript_cites_the_line_sed_shows_across_redraws_and_a_roll_over(tmp_path):
    """The engine numbers the terminal's lines as it splits them (every tqdm redraw is one), the
    transcript is the raw bytes: a citation is the file and the line `sed -n Np` prints."""
    from swarmtui.node.text import LineSplitter

    t = TranscriptWriter(tmp_path / "runs", max_bytes=2048, run=3)
    splitter = LineSplitter()
    pty_line = 0
    where: dict[str, int] = {}

    def chunk(data: bytes) -> None:
        # As the launcher does: split first (the engine sees the lines), then keep the raw bytes.
        nonlocal pty_line
        lines = splitter.feed(data.decode())
        if lines:
            t.note_lines(pty_line + 1)
        for text, _cut in lines:
            pty_line += 1
            where.setdefault(text, pty_line)
        t.write(data)

    chunk(b"\x1b[32m>> Good luck in the swarm!\x1b[0m\r\n")
    chunk(b"".join(b"\r%3d%%|##| %d/20 [00:0%d<00:10, 1.00s/it]" % (k * 5, k, k % 10) for k in range(20)) + b"\r\n")
    chunk(b"INFO:hivemind_exp.chain_utils:\xe2\x9c\x85 Connected to Gensyn Testnet\r\n")
    for k in range(40):                       # enough to roll the 2 KB transcript over
        chunk(b"Already finished round: %d. Next check in 5.0s.\r\n" % k)
    chunk(b"./run_rl_swarm.sh: line 301: 48377 Killed                  python -m x\r\n")
    t.close()
    assert t.rollovers >= 1

    for text in ("./run_rl_swarm.sh: line 301: 48377 Killed                  python -m x",
                 "INFO:hivemind_exp.chain_utils:✅ Connected to Gensyn Testnet",
                 " 85%|##| 17/20 [00:07<00:10, 1.00s/it]"):
        cited = t.cite(where[text], text)
        if cited is None:
            assert t.rollovers >= 2       # that part is gone: no citation rather than a wrong one
            continue
        name, n = cited
        raw = (tmp_path / name).read_bytes().split(b"\n")[n - 1].decode()
        assert text in [sanitize(p) for p in raw.split("\r")], (name, n, raw)
    # The bar's redraws are one line of the file, many lines of the engine's count.
    assert where["INFO:hivemind_exp.chain_utils:✅ Connected to Gensyn Testnet"] >= 20
    assert t.cite(where["Already finished round: 39. Next check in 5.0s."],
                  "Already finished round: 39. Next check in 5.0s.") == ("runs/run-000003.log", 
                  (tmp_path / "runs" / "run-000003.log").read_bytes().split(b"\n").index(
                      b"Already finished round: 39. Next check in 5.0s.\r") + 1)
