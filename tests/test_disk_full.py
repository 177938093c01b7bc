"""A full disk (issue 10, item 4): the supervisor parses first and writes evidence second, a
transcript that cannot be written pauses and resumes with a marker, the node's own ENOSPC is the
`disk-full` detection, and free space is watched during the run.

The disks are real: /dev/full (every write fails with ENOSPC, no privileges needed) and, where
mounting is allowed, a 2 MB tmpfs filled with a real file."""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from swarmtui import paths
from swarmtui.engine import events as ev
from swarmtui.engine import supervisor as supervisor_mod
from swarmtui.engine.config import LoginConfig
from swarmtui.engine.history import HistoryStore, TranscriptWriter
from swarmtui.engine.supervisor import Supervisor
from supervisor_support import Harness, clean_env, fast_config, harnesses
from test_engine_launcher import HF, MODEL, Run

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/dev/full, tmpfs, Linux ptys")

MARKER = re.compile(rb"\[swarmtui: (\d+) bytes not kept: disk full from \d\d:\d\d:\d\d to \d\d:\d\d:\d\d\]")


def _on_dev_full(fd: int) -> int:
    """Make `fd` write to /dev/full (ENOSPC on every write); returns a dup of what it was."""
    saved = os.dup(fd)
    full = os.open("/dev/full", os.O_WRONLY)
    os.dup2(full, fd)
    os.close(full)
    return saved


def _restore(fd: int, saved: int) -> None:
    os.dup2(saved, fd)
    os.close(saved)


def _no_tracebacks(capfd, caplog) -> None:
    err = capfd.readouterr().err
    assert "Traceback" not in err, err[-3000:]
    bad = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not bad, [r.getMessage() for r in bad]


# ---------------------------------------------------------------- TranscriptWriter


def test_a_transcript_on_a_full_disk_pauses_once_and_resumes_with_a_marker(tmp_path):
    told: list[tuple[str, str]] = []
    w = TranscriptWriter(tmp_path / "runs")
    w.on_problem = lambda level, text: told.append((level, text))
    w.retry_s = 60.0
    w.write(b"before the disk filled\n")
    saved = _on_dev_full(w._fd)
    for i in range(50):                     # fifty chunks, one word about it
        w.write(b"chunk %02d\n" % i)
    assert [lvl for lvl, _ in told] == ["warning"]
    assert "disk full" in told[0][1] and str(w.path) in told[0][1]
    assert w.dropped == 50 * 9
    _restore(w._fd, saved)
    w.write(b"too early\n")                 # space is back, but the retry is not due: not even tried
    assert w.dropped == 50 * 9 + 10 and len(told) == 1
    w.retry_s = 0.0
    w._retry_at = 0.0
    w.write(b"after\n")
    assert [lvl for lvl, _ in told] == ["warning", "info"]
    assert "resumed" in told[1][1] and f"{50 * 9 + 10} bytes" in told[1][1]
    w.close()
    data = w.path.read_bytes()
    m = MARKER.search(data)
    assert m is not None and int(m.group(1)) == 50 * 9 + 10, data
    assert data.startswith(b"before the disk filled\n") and data.endswith(b"]\r\nafter\n")
    assert w.bytes_written == len(b"before the disk filled\n") + len(b"after\n")


def test_a_run_that_ends_while_paused_says_where_its_gap_is(tmp_path):
    w = TranscriptWriter(tmp_path / "runs")
    w.retry_s = 3600.0
    saved = _on_dev_full(w._fd)
    w.write(b"x" * 1000)
    _restore(w._fd, saved)
    w.close()
    assert re.fullmatch(rb"\r\n\[swarmtui: 1000 bytes not kept: disk full from \d\d:\d\d:\d\d until the run ended\]\r\n",
                        w.path.read_bytes())
    w.write(b"after close")                 # closed is closed
    assert b"after close" not in w.path.read_bytes()


def test_a_listener_that_raises_does_not_make_the_writer_raise(tmp_path):
    w = TranscriptWriter(tmp_path / "runs")
    w.on_problem = lambda level, text: 1 / 0
    saved = _on_dev_full(w._fd)
    w.write(b"lost\n")                      # must not raise
    _restore(w._fd, saved)
    w.close()
    assert w.dropped == 5


@pytest.fixture
def tmpfs(tmp_path):
    """A tmpfs of 2 MB and 16 inodes at tmp_path/tmpfs, or a skip where mounting is not allowed."""
    mnt = tmp_path / "tmpfs"
    mnt.mkdir()
    try:
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m,nr_inodes=16,mode=0700", "tmpfs", str(mnt)],
                           capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"cannot run mount here ({exc}); the /dev/full tests cover the same without a mount")
    if r.returncode != 0:
        pytest.skip(f"mounting a tmpfs is not permitted here ({r.stderr.strip() or r.returncode}): needs root or "
                    "CAP_SYS_ADMIN; the /dev/full tests cover the same without a mount")
    yield mnt
    if subprocess.run(["umount", str(mnt)], capture_output=True).returncode != 0:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def _fill(directory: Path, name: str = "filler") -> Path:
    """Write zeros into directory/name until the disk says ENOSPC."""
    path = directory / name
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        block = b"\0" * 65536
        while True:
            try:
                os.write(fd, block)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC, exc
                return path
    finally:
        os.close(fd)


def test_a_roll_over_that_cannot_create_its_new_part_resumes_into_a_new_part(tmpfs):
    # Every inode used: the roll-over renames the full part away, then cannot create the new one.
    w = TranscriptWriter(tmpfs / "runs", max_bytes=1024)
    told = []
    w.on_problem = lambda level, text: told.append(level)
    w.retry_s = 0.0
    w.write(b"a" * 1000)
    fillers = []
    with pytest.raises(OSError) as exc:
        while True:
            p = tmpfs / f"f{len(fillers)}"
            p.touch()
            fillers.append(p)
    assert exc.value.errno == errno.ENOSPC
    w.write(b"b" * 100)                     # rolls: no inode for run-000001.log
    assert told == ["warning"] and w.dropped == 100
    w.write(b"c" * 10)
    assert told == ["warning"] and w.dropped == 110
    fillers.pop().unlink()
    w.write(b"d" * 10)
    assert told == ["warning", "info"]
    w.close()
    assert (tmpfs / "runs" / "run-000001.1.log").read_bytes() == b"a" * 1000
    new = w.path.read_bytes()
    assert MARKER.search(new) and int(MARKER.search(new).group(1)) == 110 and new.endswith(b"]\r\n" + b"d" * 10)


# ---------------------------------------------------------------- the launcher: parse first, evidence second


@pytest.fixture
def checkout(tmp_path):
    root = tmp_path / "rl-swarm"
    root.mkdir()
    return root


PROMPTS_THEN_FATAL = f"""\
    read -p "{HF}" hf
    read -p "{MODEL}" model
    echo "answers: hf=$hf model=[$model]"
    echo "OSError: [Errno 28] No space left on device"
    """


async def test_evidence_that_raises_never_stops_the_reading(checkout, caplog):
    errors = []
    run = Run(checkout, PROMPTS_THEN_FATAL, answers={"hf_push": "N", "model": ""}, on_raw_error=errors.append)

    def broken(data: bytes) -> None:
        raise RuntimeError("a bug in the evidence")

    run.launcher.on_raw = broken
    status = await run.run()
    assert status.code == 0
    assert [p.answered for p in run.prompts] == [True, True]
    assert "answers: hf=N model=[]" in run.texts
    assert "OSError: [Errno 28] No space left on device" in run.texts
    assert len(errors) == 1 and isinstance(errors[0], RuntimeError)     # told once, not per chunk
    assert run.launcher.raw_failures >= 2
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_a_transcript_on_dev_full_loses_the_bytes_not_the_prompts(checkout, tmp_path, caplog):
    told = []
    w = TranscriptWriter(tmp_path / "runs")
    w.on_problem = lambda level, text: told.append(level)
    saved = _on_dev_full(w._fd)
    run = Run(checkout, PROMPTS_THEN_FATAL, answers={"hf_push": "N", "model": ""})
    run.launcher.on_raw = w.write
    await run.run()
    _restore(w._fd, saved)
    w.close()
    assert [p.answered for p in run.prompts] == [True, True]
    assert "OSError: [Errno 28] No space left on device" in run.texts
    assert told == ["warning"]
    assert w.dropped == run.launcher.bytes_read and w.bytes_written == 0
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


# ---------------------------------------------------------------- the free-space watch


def test_free_space_is_watched_and_each_crossing_said_once(tmp_path, monkeypatch):
    from swarmtui.sim import create_checkout

    monkeypatch.setattr(supervisor_mod, "DISK_EVERY_S", 0.0)
    root = create_checkout(tmp_path / "node", "codezero", port=3999)
    events: list[ev.Event] = []
    cfg = fast_config()
    cfg.watch.min_free_disk_mb = 1 << 40            # more than any disk: low
    sup = Supervisor(root, cfg, events.append, env=clean_env())
    for _ in range(3):
        sup._watch_disk()
    notices = [e for e in events if isinstance(e, ev.Notice)]
    # The checkout and the state dir are on one disk here: one warning naming both.
    assert [n.level for n in notices] == ["warning"]
    assert "the checkout and swarmtui's state dir" in notices[0].text and "min_free_disk_mb" in notices[0].text
    cfg.watch.min_free_disk_mb = 1
    for _ in range(3):
        sup._watch_disk()
    notices = [e for e in events if isinstance(e, ev.Notice)]
    assert [n.level for n in notices] == ["warning", "info"] and "back above 1 MB" in notices[1].text


def test_the_watch_looks_only_every_disk_every_s(tmp_path, monkeypatch):
    from swarmtui.engine.clock import FakeClock
    from swarmtui.sim import create_checkout

    root = create_checkout(tmp_path / "node", "codezero", port=3999)
    events: list[ev.Event] = []
    cfg = fast_config()
    cfg.watch.min_free_disk_mb = 1 << 40
    clock = FakeClock()
    sup = Supervisor(root, cfg, events.append, env=clean_env(), clock=clock)
    sup._watch_disk()
    cfg.watch.min_free_disk_mb = 1
    clock._now += supervisor_mod.DISK_EVERY_S - 1
    sup._watch_disk()                               # too soon: not looked at
    assert [e.level for e in events if isinstance(e, ev.Notice)] == ["warning"]
    clock._now += 1
    sup._watch_disk()
    assert [e.level for e in events if isinstance(e, ev.Notice)] == ["warning", "info"]


# ---------------------------------------------------------------- a real node on a full disk


@pytest.fixture
async def harness(tmp_path):
    async for make in harnesses(tmp_path):
        yield make


def _transcript_notices(h, run: int | None = None) -> list[ev.Notice]:
    name = f"run-{run:06d}.log" if run is not None else ""
    return [n for n in h.of(ev.Notice) if "cannot write the run transcript" in n.text and name in n.text]


async def _full_disk_run(h, fill, free, transcripts: Path, *, page_slack: bool = False) -> None:
    """The node of `h` (scenario oom-killed,healthy) with its transcripts on a full disk: `fill`
    is called right after the start, `free` once run 2 is running. `page_slack`: the disk is a
    real filesystem filled by a file, so a transcript written before the fill has the rest of
    its last page (up to 4 KiB) left, and may take the lines up to the prompts before a write
    fails; then it must fail before the restart, still in run 1."""
    await h.sup.start()
    fill()
    await h.wait_kind(ev.PromptSeen, rule="model", timeout=40)
    # The prompts came while the disk was full, and were answered.
    assert [p.rule for p in h.of(ev.PromptSeen) if p.answered] == ["hf_push", "model"]
    first_prompt = next(i for i, e in enumerate(h.events) if isinstance(e, ev.PromptSeen))
    paused = next((i for i, e in enumerate(h.events) if isinstance(e, ev.Notice) and "run-000001.log" in e.text), None)
    if not page_slack:
        assert paused is not None and paused < first_prompt, "run 1's transcript did not pause before the prompts"
    restart = await h.wait_kind(ev.RestartScheduled, timeout=40)
    if page_slack:
        paused = next((i for i, e in enumerate(h.events) if isinstance(e, ev.Notice) and "run-000001.log" in e.text),
                      None)
        at = next(i for i, e in enumerate(h.events) if e is restart)
        assert paused is not None and paused < at, "run 1's transcript did not pause before its restart"
    assert restart.reason == "oom-killed"          # the fatal line was seen and acted on
    assert len(_transcript_notices(h, 1)) == 1     # one word for the whole run, not one per chunk
    await h.wait_for(lambda e: isinstance(e, ev.StateChanged) and e.state == ev.RUNNING and "run 2" in e.detail,
                     timeout=40, what="run 2 running")
    await h.wait_for(lambda e: isinstance(e, ev.Notice) and "run-000002.log" in e.text, timeout=10,
                     what="run 2's transcript paused")
    assert h.sup._run.transcript.dropped > 0
    size = (transcripts / "run-000002.log").stat().st_size
    free()
    await h.wait_for(lambda e: isinstance(e, ev.Notice) and e.level == "info" and "resumed" in e.text
                     and "run-000002.log" in e.text, timeout=20, what="the transcript resumed")
    await h.wait_for(lambda e: isinstance(e, ev.LinesOut) and e.lines, since=len(h.events), timeout=10)
    await asyncio.sleep(0.3)
    data = (transcripts / "run-000002.log").read_bytes()
    m = MARKER.search(data, size)
    assert m is not None, data[-500:]
    assert len(data) > m.end(), "no output of the node after the marker"
    assert len(_transcript_notices(h)) == 2        # run 1 and run 2, once each
    h.sup.send(ev.StopNode())
    await h.wait_state(ev.STOPPED, reason="manual")


@pytest.mark.slow
@pytest.mark.timeout(150)
async def test_a_node_whose_transcripts_write_to_dev_full_is_still_supervised(harness, monkeypatch, capfd, caplog):
    """No mount needed: every transcript's fd writes to /dev/full until `free`."""
    monkeypatch.setattr(TranscriptWriter, "retry_s", 0.2)
    full = {"on": False, "saved": {}}
    real_open = TranscriptWriter._open

    def _open(self):
        real_open(self)
        if full["on"]:
            full["saved"][id(self)] = (self, _on_dev_full(self._fd))

    monkeypatch.setattr(TranscriptWriter, "_open", _open)

    def fill():
        full["on"] = True
        w = h.sup._run.transcript
        full["saved"][id(w)] = (w, _on_dev_full(w._fd))

    def free():
        full["on"] = False
        for w, saved in full["saved"].values():
            if w._fd is not None:
                _restore(w._fd, saved)
            else:
                os.close(saved)

    h = harness("codezero", "oom-killed,healthy", login="auto", config=fast_config(backoff_initial=0.5))
    await _full_disk_run(h, fill, free, paths.node_state_dir(h.root) / "runs")
    # The history was on a disk with space: the restart is in it.
    assert [r["reason"] for r in HistoryStore(h.root).read()] == ["oom-killed", "manual"]
    _no_tracebacks(capfd, caplog)


@pytest.mark.slow
@pytest.mark.timeout(150)
async def test_state_dir_on_a_full_tmpfs(tmp_path, monkeypatch, capfd, caplog):
    """The issue's case: the state dir on a 2 MB tmpfs, filled mid-run. Prompts answered, the
    fatal line acted on, one notice per run, the free-space watch says so both ways, the history
    write fails softly, keep_login's copy fails softly, and the transcript resumes with a marker
    once the filler is deleted."""
    mnt = tmp_path / "state"
    mnt.mkdir()
    try:
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m,mode=0700", "tmpfs", str(mnt)],
                           capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"cannot run mount here ({exc}); test_a_node_whose_transcripts_write_to_dev_full_... "
                    "covers the same without a mount")
    if r.returncode != 0:
        pytest.skip(f"mounting a tmpfs is not permitted here ({r.stderr.strip() or r.returncode}): needs root or "
                    "CAP_SYS_ADMIN; test_a_node_whose_transcripts_write_to_dev_full_... covers the same")
    h = None
    try:
        monkeypatch.setenv("SWARMTUI_STATE_DIR", str(mnt))
        monkeypatch.setattr(TranscriptWriter, "retry_s", 0.2)
        monkeypatch.setattr(supervisor_mod, "DISK_EVERY_S", 0.0)
        cfg = fast_config(backoff_initial=0.5)
        cfg.login = LoginConfig(keep_login=True)
        h = Harness(tmp_path, "codezero", "oom-killed,healthy", login="auto", config=cfg)
        filler: list[Path] = []
        await _full_disk_run(h, lambda: filler.append(_fill(mnt)), lambda: filler[0].unlink(),
                             paths.node_state_dir(h.root) / "runs", page_slack=True)
        await h.wait_for(lambda e: isinstance(e, ev.Notice) and "back above" in e.text, timeout=10)
        notices = h.of(ev.Notice)
        # The free-space watch: below min_free_disk_mb once, back once.
        low = [n for n in notices if n.level == "warning" and "MB free on the disk of swarmtui's state dir" in n.text]
        back = [n for n in notices if "back above" in n.text]
        assert len(low) == 1 and len(back) == 1, [n.text for n in notices]
        # run 1's record could not be written: said, and still announced; the stop after the
        # space came back is on disk.
        assert any(n.level == "error" and "cannot write the restart history" in n.text for n in notices)
        announced = [e.record["reason"] for e in h.of(ev.HistoryAppended)]
        assert "oom-killed" in announced and announced[-1] == "manual"
        kept = [r["reason"] for r in HistoryStore(h.root).read()]
        assert kept[-1] == "manual" and "oom-killed" not in kept
        assert len([n for n in notices if "keep_login: cannot save" in n.text]) == 1
    finally:
        if h is not None:
            await h.close()
            assert h.leftovers() == []
        if subprocess.run(["umount", str(mnt)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(mnt)], capture_output=True)
    _no_tracebacks(capfd, caplog)


# ---------------------------------------------------------------- the node's own ENOSPC


FULL_TRAINER = '''\
"""A trainer whose checkpoint hits a full disk: a real ENOSPC from /dev/full."""
import sys
import time

print("[2025-10-26 23:30:27,852][genrl.logging_utils.global_defs][INFO] - Starting round: 5/1000000.", flush=True)
time.sleep(0.2)
with open("/dev/full", "wb") as f:       # like torch.save into a full disk
    f.write(b"x" * 10)
'''


@pytest.mark.slow
@pytest.mark.timeout(90)
async def test_the_nodes_own_enospc_is_disk_full_and_needs_the_user(harness, capfd, caplog):
    """The trainer dies of a real ENOSPC; bash's ERR trap then prints its generic line. The
    reason recorded is disk-full (not script-error-trap), and no restart into the full disk."""
    def edit(root: Path) -> None:
        (root / "code_gen_exp" / "runner" / "swarm_launcher.py").write_text(FULL_TRAINER)

    h = harness("codezero", "healthy", edit=edit)
    await h.sup.start()
    state = await h.wait_state(ev.NEEDS_USER, timeout=40)
    assert state.reason == "disk-full" and "df -h" in state.detail
    ids = [d.id for d in h.of(ev.Detected)]
    assert "disk-full" in ids and "script-error-trap" in ids, ids
    assert "OSError: [Errno 28] No space left on device" in h.text()
    rec = h.of(ev.HistoryAppended)[-1].record
    assert (rec["reason"], rec["action"], rec["cls"]) == ("disk-full", "needs-user", "resource")
    assert "[Errno 28]" in rec["text"]
    assert HistoryStore(h.root).read()[-1]["reason"] == "disk-full"
    assert not h.of(ev.RestartScheduled)
    assert h.leftovers() == []
    _no_tracebacks(capfd, caplog)
