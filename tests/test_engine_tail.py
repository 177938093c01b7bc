"""engine.tail: following real files through truncation, rotation, deletion and a flood."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time

import pytest

from swarmtui.engine.tail import LogTailer, TailLine


BACKEND = {"name": "auto"}


@pytest.fixture(autouse=True, params=["inotify", "watchfiles"] if sys.platform.startswith("linux") else ["auto"])
def backend(request):
    """Every test follows with both ways of getting file events (inotify read by the loop;
    watchfiles' thread), since either may be the one in use on a machine."""
    BACKEND["name"] = request.param
    yield request.param
    BACKEND["name"] = "auto"


class Follower:
    def __init__(self, path, **kw):
        self.lines: list[TailLine] = []
        self.notices: list[str] = []
        self.details: list[str] = []
        kw.setdefault("backend", BACKEND["name"])
        self.tailer = LogTailer(path, on_notice=self._on_notice, **kw)
        self.task: asyncio.Task | None = None

    async def __aenter__(self):
        self.task = asyncio.create_task(self.tailer.follow(self.lines.append))
        await asyncio.sleep(0.15)         # let the watcher arm
        return self

    async def __aexit__(self, *exc):
        self.tailer.stop()
        await asyncio.wait_for(self.task, 3)

    def _on_notice(self, kind, detail):
        self.notices.append(kind)
        self.details.append(detail)

    @property
    def texts(self):
        return [t for t, _ in self.lines]

    async def wait_for(self, cond, timeout=4.0):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if cond():
                return
            await asyncio.sleep(0.02)
        raise AssertionError(f"timed out; got {self.lines[-5:]} notices={self.notices}")

    async def wait_count(self, n, timeout=4.0):
        await self.wait_for(lambda: len(self.lines) >= n, timeout)


def append(path, text, mode="a"):
    with open(path, mode, newline="") as f:
        f.write(text)


async def test_from_start_and_appends_with_line_numbers(tmp_path):
    log = tmp_path / "swarm_launcher.log"
    log.write_text("one\ntwo\n")
    async with Follower(log, from_start=True) as f:
        await f.wait_count(2)
        append(log, "three\r\nfour\n")
        await f.wait_count(4)
    assert f.lines == [("one", 1), ("two", 2), ("three", 3), ("four", 4)]


async def test_from_end_skips_old_lines_but_numbers_them(tmp_path):
    log = tmp_path / "a.log"
    log.write_text("".join(f"old {i}\n" for i in range(1000)))
    async with Follower(log) as f:
        await asyncio.sleep(0.2)
        assert f.lines == []
        append(log, "new\n")
        await f.wait_count(1)
    assert f.lines == [("new", 1001)]


async def test_from_end_includes_the_line_being_written(tmp_path):
    log = tmp_path / "a.log"
    log.write_text("done\nhalf a li")
    async with Follower(log) as f:
        append(log, "ne\n")
        await f.wait_count(1)
    assert f.lines == [("half a line", 2)]


async def test_partial_lines_are_carried_and_bad_utf8_replaced(tmp_path):
    log = tmp_path / "a.log"
    log.write_bytes(b"")
    async with Follower(log, from_start=True) as f:
        append(log, "Joining ro")
        await asyncio.sleep(0.2)
        assert f.lines == []
        append(log, "und: 31055\n")
        with open(log, "ab") as fh:
            fh.write(b"caf\xc3")              # a UTF-8 sequence cut in half...
        await asyncio.sleep(0.15)
        with open(log, "ab") as fh:
            fh.write(b"\xa9 \xff\n")           # ...completed, then a byte that is never valid
        await f.wait_count(2)
    assert f.texts == ["Joining round: 31055", "café \ufffd"]


async def test_truncation_like_yarn_build(tmp_path):
    """run_rl_swarm.sh does `yarn build > logs/yarn.log` on every start: the file is truncated."""
    log = tmp_path / "yarn.log"
    log.write_text("".join(f"old build {i}\n" for i in range(50)))
    async with Follower(log, from_start=True) as f:
        await f.wait_count(50)
        subprocess.run(["bash", "-c", f"echo 'yarn run v1.22.22' > '{log}'; echo '$ next build' >> '{log}'"],
                       check=True)
        await f.wait_count(52)
    assert f.lines[50:] == [("yarn run v1.22.22", 1), ("$ next build", 2)]
    assert "truncated" in f.notices


async def test_truncate_and_regrow_past_the_offset_is_seen_by_the_head(tmp_path):
    log = tmp_path / "a.log"
    log.write_text("short old\n")
    async with Follower(log, from_start=True) as f:
        await f.wait_count(1)
        # rewritten in place, longer than before: only the changed first bytes reveal it
        with open(log, "r+") as fh:
            fh.write("".join(f"brand new content {i}\n" for i in range(5)))
        await f.wait_count(6)
    assert f.texts[1:] == [f"brand new content {i}" for i in range(5)]
    assert f.lines[1].line_no == 1


async def test_rotation_by_rename_drains_the_old_file(tmp_path):
    log = tmp_path / "a.log"
    log.write_text("")
    async with Follower(log, from_start=True) as f:
        fh = open(log, "a")
        fh.write("before 1\nbefore 2\n")
        fh.flush()
        os.rename(log, tmp_path / "a.log.1")
        fh.write("late into the old file\n")     # the writer has not reopened yet
        fh.close()
        append(log, "new file 1\n", "w")
        await f.wait_count(4)
    assert f.texts == ["before 1", "before 2", "late into the old file", "new file 1"]
    assert f.lines[-1].line_no == 1
    assert "rotated" in f.notices


async def test_copytruncate_is_recovered_from_the_copy(tmp_path):
    log = tmp_path / "a.log"
    log.write_text("head line that identifies this file\n")
    async with Follower(log, from_start=True) as f:
        await f.wait_count(1)
        # what logrotate's copytruncate does, faster than we can read in between
        append(log, "written just before the copy\n")
        shutil.copyfile(log, tmp_path / "a.log.1")
        os.truncate(log, 0)
        append(log, "after\n")
        await f.wait_count(3)
    assert f.texts == ["head line that identifies this file", "written just before the copy", "after"]
    assert "recovered" in f.notices and "truncated" in f.notices


async def test_deletion_then_late_creation(tmp_path):
    log = tmp_path / "a.log"
    log.write_text("x\n")
    async with Follower(log, from_start=True) as f:
        await f.wait_count(1)
        append(log, "last words")
        log.unlink()
        await f.wait_for(lambda: "deleted" in f.notices)
        await asyncio.sleep(0.3)
        append(log, "reborn\n", "w")
        await f.wait_count(3)
    assert f.lines == [("x", 1), ("last words", 2), ("reborn", 1)]


async def test_file_and_directory_created_late(tmp_path):
    log = tmp_path / "checkout" / "logs" / "swarm_launcher.log"
    async with Follower(log) as f:
        await asyncio.sleep(0.2)
        log.parent.mkdir(parents=True)              # rl-swarm makes logs/ on its first start
        await asyncio.sleep(0.2)
        append(log, "first\n")
        await f.wait_count(1, timeout=3)
    assert f.lines == [("first", 1)]                # a file born after we started is read from 0
    assert f.notices == ["created"]


async def test_directory_removed_and_recreated(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    log = logs / "a.log"
    log.write_text("one\n")
    async with Follower(log, from_start=True) as f:
        await f.wait_count(1)
        shutil.rmtree(logs)
        await asyncio.sleep(0.3)
        logs.mkdir()
        append(log, "two\n")
        await f.wait_count(2, timeout=4)
        append(log, "three\n")                       # and still following the new directory
        await f.wait_count(3, timeout=4)
    assert f.texts == ["one", "two", "three"]


async def test_over_long_lines_keep_their_head(tmp_path):
    log = tmp_path / "a.log"
    log.write_text("")
    async with Follower(log, from_start=True, max_line_bytes=1000) as f:
        append(log, "A" * 5000 + "\nshort\n")
        await f.wait_count(2)
    assert f.lines[0].text == "A" * 1000 and f.lines[0].cut == 4000
    assert f.lines[1] == ("short", 2)


async def test_stop_is_prompt_and_async_iteration_works(tmp_path):
    log = tmp_path / "a.log"
    log.write_text("a\nb\n")
    tailer = LogTailer(log, from_start=True, backend=BACKEND["name"])
    got = []
    async for line in tailer:
        got.append(line)
        if len(got) == 2:
            break
    assert got == [("a", 1), ("b", 2)]
    t = LogTailer(log, backend=BACKEND["name"])
    task = asyncio.create_task(t.follow(lambda _l: None))
    await asyncio.sleep(0.2)
    t0 = time.monotonic()
    t.stop()
    await asyncio.wait_for(task, 2)
    assert time.monotonic() - t0 < 0.5


WRITER = r"""
import os, sys, time
path, n, rate, rotate_every = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
f = open(path, "a", buffering=1)
t0 = time.monotonic()
for i in range(n):
    f.write(f"line {i:06d} {'x' * 80}\n")
    if rotate_every and i and i % rotate_every == 0:
        f.close()
        os.replace(path, path + ".1")
        f = open(path, "a", buffering=1)
    ahead = (i + 1) / rate - (time.monotonic() - t0)
    if ahead > 0.002:
        time.sleep(ahead)
f.close()
"""


@pytest.mark.parametrize("rotate_every", [0, 1300])
async def test_no_line_lost_at_2000_lines_per_second(tmp_path, rotate_every):
    log = tmp_path / "flood.log"
    log.write_text("")
    n = 4000
    async with Follower(log, from_start=True) as f:
        proc = await asyncio.create_subprocess_exec(sys.executable, "-c", WRITER, str(log), str(n), "2000",
                                                    str(rotate_every))
        try:
            assert await asyncio.wait_for(proc.wait(), 15) == 0
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        await f.wait_count(n, timeout=5)
    nums = [int(t.split()[1]) for t in f.texts]
    assert nums == list(range(n))                     # every line, once, in order


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="inotify")
async def test_inotify_a_busy_neighbour_wakes_nobody(tmp_path, backend, monkeypatch):
    """yarn.log's tailer must not wake for every write to swarm_launcher.log beside it: with
    inotify, only our own file's writes (and names coming and going) reach the loop."""
    if backend != "inotify":
        pytest.skip("inotify only")
    import swarmtui.engine.tail as tail

    reads = []
    real_read = tail._Inotify.read
    monkeypatch.setattr(tail._Inotify, "read", lambda self, *a: reads.append(1) or real_read(self, *a))
    log, neighbour = tmp_path / "yarn.log", tmp_path / "swarm_launcher.log"
    log.write_text("")
    neighbour.write_text("")
    async with Follower(log, from_start=True, step_ms=20, rust_timeout_ms=60_000) as f:
        for i in range(40):
            append(neighbour, f"busy {i}\n")
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.1)
        assert reads == [], "woken by the neighbour's writes"
        append(log, "ours\n")
        await f.wait_count(1)
        assert reads


async def test_catch_up_reads_now_what_the_watcher_has_not_read_yet(tmp_path):
    path = tmp_path / "swarm_launcher.log"
    path.write_text("old line\n")
    early = LogTailer(path)
    assert early.catch_up() == []              # not following yet: nothing to catch up with
    async with Follower(path, step_ms=2000) as f:     # a watcher that reads a burst 2 s late
        with open(path, "a") as fh:
            fh.write("last words\npartial")
        await asyncio.sleep(0.1)
        assert f.texts == []
        caught = f.tailer.catch_up()
        assert [t for t, _ in caught] == ["last words"] and caught[0].line_no == 2
        with open(path, "a") as fh:
            fh.write(" line\n")
        await f.wait_count(1, timeout=5)
        await asyncio.sleep(0.3)
        assert f.texts == ["partial line"]     # the follower goes on after what was caught up


# A node's log handler: it keeps its descriptor across a rotation and writes on through it until
# told to reopen the name. Driven over stdin so the test decides what happens in between.
KEEPING_WRITER = r"""
import sys
path = sys.argv[1]
f = open(path, "a", buffering=1)
for cmd in sys.stdin:
    words = cmd.split()
    if words[0] == "reopen":
        f.close()
        f = open(path, "a", buffering=1)
    else:
        tag, first, count = words[0], int(words[1]), int(words[2])
        for i in range(first, first + count):
            f.write(f"{tag} {i}\n")
    print("ok", flush=True)
"""


class KeepingWriter:
    def __init__(self, path):
        self.path = path
        self.proc = None

    async def __aenter__(self):
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", KEEPING_WRITER, str(self.path),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
        return self

    async def do(self, cmd):
        """`<tag> <first> <count>` writes lines `<tag> <i>`; `reopen` opens the name afresh."""
        self.proc.stdin.write(cmd.encode() + b"\n")
        await self.proc.stdin.drain()
        assert await asyncio.wait_for(self.proc.stdout.readline(), 5) == b"ok\n"

    async def __aexit__(self, *exc):
        self.proc.stdin.close()
        try:
            await asyncio.wait_for(self.proc.wait(), 5)
        finally:
            if self.proc.returncode is None:
                self.proc.kill()
                await self.proc.wait()


def held_by_us(target):
    """Our descriptors open on `target` (what /proc/self/fd/N reads, ' (deleted)' included)."""
    held = []
    for n in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{n}") == target:
                held.append(n)
        except OSError:
            pass
    return held


async def test_mv_rotation_reads_what_the_writer_puts_in_the_renamed_file(tmp_path):
    log = tmp_path / "swarm_launcher.log"
    log.write_text("")
    async with Follower(log, from_start=True) as f, KeepingWriter(log) as w:
        await w.do("old 1 5")
        await f.wait_count(5)
        os.rename(log, f"{log}.1")
        await f.wait_for(lambda: f.notices)      # the tailer has seen the name go...
        await w.do("old 6 20")                  # ...and the node writes on through its fd
        await w.do("reopen")
        await w.do("new 1 30")
        await f.wait_count(55)
        await asyncio.sleep(0.3)                # a line read twice would arrive by now
    # the renamed file's lines keep their numbers; the new file's start at 1
    assert f.lines == [(f"old {i}", i) for i in range(1, 26)] + [(f"new {i}", i) for i in range(1, 31)]
    assert f.notices[0] == "rotated" and f.notices.count("rotated") == 1
    assert f"{log}.1" in f.details[0]


async def test_renamed_file_written_a_second_after_the_rotation_is_still_read(tmp_path):
    log = tmp_path / "a.log"
    log.write_text("")
    async with Follower(log, from_start=True) as f, KeepingWriter(log) as w:
        await w.do("old 1 3")
        await f.wait_count(3)
        os.rename(log, f"{log}.1")
        append(log, "new 1\n", "w")             # the name already has a new file in use
        await f.wait_count(4)
        await asyncio.sleep(1.0)
        await w.do("old 4 2")
        await f.wait_count(6)
    assert f.lines == [("old 1", 1), ("old 2", 2), ("old 3", 3), ("new 1", 1), ("old 4", 4), ("old 5", 5)]


async def test_writes_to_a_file_renamed_to_any_name_wake_the_tailer(tmp_path):
    """No waiting for the safety recheck (a minute here): the renamed file is watched itself,
    whatever its new name (inotify: through our descriptor; watchfiles: by its new name)."""
    log = tmp_path / "a.log"
    log.write_text("")
    async with Follower(log, from_start=True, rust_timeout_ms=60_000) as f, KeepingWriter(log) as w:
        await w.do("old 1 1")
        await f.wait_count(1)
        os.rename(log, tmp_path / "a.log-20250101")
        await f.wait_for(lambda: f.notices)
        await asyncio.sleep(0.5)                # the wakes the rename itself caused are over
        await w.do("old 2 1")
        await f.wait_count(2)
    assert f.texts == ["old 1", "old 2"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc/self/fd")
@pytest.mark.parametrize("how", ["rename", "unlink"])
async def test_a_file_rotated_away_is_read_and_then_let_go_once_quiet(tmp_path, how):
    log = tmp_path / "a.log"
    log.write_text("")
    gone_to = f"{log}.1" if how == "rename" else f"{log} (deleted)"
    async with Follower(log, from_start=True, rotated_quiet_s=0.5) as f, KeepingWriter(log) as w:
        await w.do("old 1 1")
        await f.wait_count(1)
        os.rename(log, f"{log}.1") if how == "rename" else log.unlink()
        await f.wait_for(lambda: f.notices)
        await w.do("old 2 1")                   # a deleted file the node still holds is written too
        await f.wait_count(2)
        assert held_by_us(gone_to)
        await f.wait_for(lambda: not held_by_us(gone_to), timeout=6)
        assert f.tailer._kept == []
    assert f.texts == ["old 1", "old 2"]
    assert f.notices == ["rotated" if how == "rename" else "deleted"]


async def test_catch_up_reads_the_renamed_file_then_the_new_one(tmp_path):
    log = tmp_path / "swarm_launcher.log"
    log.write_text("")
    async with Follower(log, from_start=True, step_ms=2000) as f:    # a watcher that reads 2 s late
        with open(log, "a", buffering=1) as old:
            old.write("old 1\n")
            os.rename(log, f"{log}.1")
            old.write("old 2\n")
            append(log, "new 1\n", "w")
            await asyncio.sleep(0.1)
            assert f.texts == []
            assert f.tailer.catch_up() == [("old 1", 1), ("old 2", 2), ("new 1", 1)]
            old.write("old 3\n")               # after catch_up has seen the rotation
            append(log, "new 2\n")
            assert f.tailer.catch_up() == [("old 3", 3), ("new 2", 2)]
        await asyncio.sleep(2.5)
        assert f.texts == []                    # the follower goes on after them, not again


async def test_follow_batches_gives_each_read_whole_and_in_order(tmp_path):
    # The keeper's way (issue 16): one call per read, never an empty batch, lines as lines() gives them.
    log = tmp_path / "swarm_launcher.log"
    log.write_text("".join(f"line {i}\n" for i in range(1, 501)))
    batches: list[list[TailLine]] = []
    tailer = LogTailer(log, from_start=True, backend=BACKEND["name"])
    task = asyncio.create_task(tailer.follow_batches(batches.append))
    try:
        end = time.monotonic() + 4
        while sum(map(len, batches)) < 500 and time.monotonic() < end:
            await asyncio.sleep(0.02)
        append(log, "late one\nlate two\n")
        while sum(map(len, batches)) < 502 and time.monotonic() < end + 4:
            await asyncio.sleep(0.02)
    finally:
        tailer.stop()
        await asyncio.wait_for(task, 3)
    got = [tl for b in batches for tl in b]
    assert got == [(f"line {i}", i) for i in range(1, 501)] + [("late one", 501), ("late two", 502)]
    assert all(batches) and len(batches) < 502     # batched: far fewer calls than lines
