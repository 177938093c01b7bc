"""engine.launcher: a real pty, real bash scripts with `read -p`, bars, colours and exits."""

from __future__ import annotations

import asyncio
import errno
import os
import signal
import sys
import textwrap
import time

import pytest

from swarmtui.engine import launcher as launcher_mod
from swarmtui.engine.launcher import REDACTED, Answer, ExitStatus, Launcher, build_env, looks_like_prompt
from swarmtui.engine.proctree import RUN_ID_ENV
from swarmtui.node.layout import PromptSpec, prompt_for
from tests.procs import running

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs a pty")

HF = ">> Would you like to push models you train in the RL swarm to the Hugging Face Hub? [y/N] "
TOKEN = "Enter your Hugging Face access token: "
MODEL = (">> Enter the name of the model you want to use in huggingface repo/name format, "
         "or press [Enter] to use the default model. ")
PRG = ">> Would you like your model to participate in the AI Prediction Market? [Y/n] "
SPECS = (PromptSpec("hf_push", HF, "N", False), PromptSpec("hf_token", TOKEN, "", True),
         PromptSpec("model", MODEL, "", False), PromptSpec("prediction_market", PRG, "Y", False))


class Run:
    """A Launcher wired to lists, answering from a dict like the config's [answers]."""

    def __init__(self, checkout, script: str, answers=None, **kw):
        (checkout / "run_rl_swarm.sh").write_text(textwrap.dedent(script))
        self.raw = bytearray()
        self.lines: list[tuple[str, int, int]] = []
        self.partials: list[str] = []
        self.prompts = []
        self.answers = answers if answers is not None else {}
        kw.setdefault("prompt_matcher", lambda text: prompt_for(text, SPECS))
        self.launcher = Launcher(checkout, run_id="test-run:1", on_raw=self.raw.extend,
                                 on_lines=self.lines.extend, on_partial=self.partials.append,
                                 on_prompt=self.prompts.append, answerer=self.answer, **kw)

    def answer(self, text, spec):
        if spec is None or spec.key not in self.answers:
            return None
        return Answer(self.answers[spec.key], spec.secret, rule=spec.key)

    @property
    def texts(self):
        return [t for t, _, _ in self.lines]

    async def run(self, timeout=10.0) -> ExitStatus:
        await self.launcher.start()
        try:
            return await asyncio.wait_for(self.launcher.wait(), timeout)
        finally:
            if self.launcher.proc.returncode is None:
                os.killpg(self.launcher.pid, signal.SIGKILL)
                await self.launcher.proc.wait()
            self.launcher.close()


@pytest.fixture
def checkout(tmp_path):
    root = tmp_path / "rl-swarm"
    root.mkdir()
    return root


async def test_prompts_are_answered_by_their_text_in_any_order(checkout):
    run = Run(checkout, f"""\
        echo -en "\\033[32m"
        read -p "{PRG}" prg
        echo -en "\\033[0m"
        read -p "{HF}" hf
        read -p "{MODEL}" model
        echo "answers: prg=$prg hf=$hf model=[$model]"
        """, answers={"hf_push": "N", "model": "", "prediction_market": "Y"})
    status = await run.run()
    assert status == ExitStatus(0, None)
    assert "answers: prg=Y hf=N model=[]" in run.texts
    assert [(p.spec.key, p.answered, p.rule) for p in run.prompts] == [
        ("prediction_market", True, "prediction_market"), ("hf_push", True, "hf_push"), ("model", True, "model")]
    assert PRG + "Y" in run.texts            # the echoed answer completes the prompt's line, no colour codes


async def test_secret_answer_never_reaches_output_lines_or_transcript(checkout):
    token = "hf_SuperSecretToken1234567890"
    run = Run(checkout, f"""\
        read -p "{HF}" hf
        read -p "{TOKEN}" tok
        read -p "{MODEL}" model
        echo "token length ${{#tok}} model=[$model]"
        echo "oops the script printed it: $tok"
        """, answers={"hf_push": "y", "hf_token": token, "model": "Gensyn/Qwen2.5-0.5B-Instruct"})
    status = await run.run()
    assert status.code == 0
    assert f"token length {len(token)} model=[Gensyn/Qwen2.5-0.5B-Instruct]" in run.texts
    everything = bytes(run.raw).decode() + "\n".join(run.texts) + "".join(run.partials)
    assert token not in everything
    assert f"oops the script printed it: {REDACTED}" in run.texts
    assert bytes(run.raw).count(REDACTED.encode()) == 1     # echo was off: the pty never printed it back
    assert [p.secret for p in run.prompts] == [False, True, False]
    assert TOKEN.strip() in [t.strip() for t in run.texts]      # its own line, the next prompt apart


async def test_a_rejected_answer_is_not_typed_forever(checkout):
    run = Run(checkout, f"""\
        while true; do
            read -p "{PRG}" prg
            case "$prg" in [Nn]*) break ;; esac
            echo ">>> Please answer N."
        done
        echo "done"
        """, answers={"prediction_market": "Y"})
    await run.launcher.start()
    try:
        end = time.monotonic() + 5
        while len(run.prompts) < 4 and time.monotonic() < end:
            await asyncio.sleep(0.02)
        assert [p.answered for p in run.prompts] == [True, True, True, False]
        assert run.launcher.answer("N")            # the person answers
        status = await asyncio.wait_for(run.launcher.wait(), 5)
    finally:
        run.launcher.close()
    assert status.code == 0 and run.texts[-1] == "done"


async def test_unknown_prompt_waits_for_the_user(checkout):
    run = Run(checkout, """\
        echo "starting"
        read -p ">> Do you accept the new terms? [y/N] " ok
        echo "accepted=$ok"
        """, unknown_prompt_after=0.3)
    await run.launcher.start()
    try:
        end = time.monotonic() + 5
        while not run.prompts and time.monotonic() < end:
            await asyncio.sleep(0.02)
        assert len(run.prompts) == 1
        p = run.prompts[0]
        assert p.spec is None and p.answered is False and p.text == ">> Do you accept the new terms? [y/N] "
        assert run.launcher.partial == p.text
        await asyncio.sleep(0.5)
        assert len(run.prompts) == 1                 # reported once, not every quiet period
        assert run.launcher.answer("y")
        status = await asyncio.wait_for(run.launcher.wait(), 5)
    finally:
        run.launcher.close()
    assert status.code == 0 and "accepted=y" in run.texts


async def test_bars_colours_and_carriage_returns(checkout):
    run = Run(checkout, r"""
        printf '\033[1;32m>> Getting requirements...\033[0m\n'
        for i in 1 2 3 4 5; do printf '\r %d0%%|%s| %d/5 [00:0%d<00:00, 9.1it/s]' $((i*2)) "#####" $i $i; sleep 0.02; done
        printf '\n'
        stty size
        printf 'no newline at the end'
        """)
    status = await run.run()
    assert status.code == 0
    assert run.texts[0] == ">> Getting requirements..."
    bars = [t for t in run.texts if "it/s]" in t]
    assert len(bars) == 5 and bars[-1] == " 100%|#####| 5/5 [00:05<00:00, 9.1it/s]"
    assert "50 250" in run.texts                      # rows cols: a wide window keeps tqdm on one line
    assert run.texts[-1] == "no newline at the end"    # flushed at end of stream
    assert all("\x1b" not in t and "\r" not in t for t in run.texts)
    assert [n for _, n, _ in run.lines] == list(range(1, len(run.lines) + 1))
    assert not any(looks_like_prompt(p) for p in run.partials if "it/s]" in p)
    assert run.prompts == []


async def test_environment_session_and_venv(checkout):
    venv_bin = checkout / ".venv" / "bin"
    venv_bin.mkdir(parents=True)
    (venv_bin / "python").write_text("#!/bin/bash\necho venv-python\n")
    (venv_bin / "python").chmod(0o755)
    run = Run(checkout, f"""\
        python
        echo "marker=${RUN_ID_ENV} unbuf=$PYTHONUNBUFFERED venv=$VIRTUAL_ENV"
        echo "sid=$(ps -o sid= -p $$ | tr -d ' ') pid=$$"
        echo "cwd=$PWD"
        [ -t 0 ] && echo "stdin is a tty"
        """, env={"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/")})
    status = await run.run()
    assert status.code == 0
    pid = run.launcher.pid
    assert run.texts[0] == "venv-python"
    assert f"marker=test-run:1 unbuf=1 venv={checkout / '.venv'}" in run.texts
    assert f"sid={pid} pid={pid}" in run.texts            # its own session, so `kill -- -$$` works
    assert f"cwd={checkout}" in run.texts
    assert "stdin is a tty" in run.texts


def test_build_env():
    env = build_env({"PATH": "/usr/bin", "PYTHONHOME": "/x"}, run_id="r", venv_bin=None)
    assert env["PATH"] == "/usr/bin" and env["PYTHONHOME"] == "/x" and env[RUN_ID_ENV] == "r"
    env = build_env({}, run_id="r", venv_bin=__import__("pathlib").Path("/n/.venv/bin"))
    assert env["PATH"].startswith("/n/.venv/bin" + os.pathsep) and "PYTHONHOME" not in env
    assert env["VIRTUAL_ENV"] == "/n/.venv" and env["PYTHONUNBUFFERED"] == "1"


@pytest.mark.parametrize("tail,expected", [
    ("exit 3", ExitStatus(3, None)),
    ("kill -9 $$", ExitStatus(None, 9)),
    ("trap 'kill -- -$$' EXIT; exit 0", ExitStatus(None, 15)),   # rl-swarm's own clean-up: 143 in a shell
])
async def test_exit_status(checkout, tail, expected):
    run = Run(checkout, f"echo bye\n{tail}\n")
    status = await run.run()
    assert status == expected
    assert "bye" in run.texts


async def test_flood_loses_no_line(checkout):
    n = 30000
    run = Run(checkout, f"""\
        for ((i=0; i<{n}; i++)); do echo "line $i of the flood with some padding to look like a log"; done
        """)
    status = await run.run(timeout=30)
    assert status.code == 0
    nums = [int(t.split()[1]) for t in run.texts]
    assert nums == list(range(n))
    assert bytes(run.raw).count(b"\r\n") == n


async def test_a_node_writing_one_line_per_write_is_read_a_few_lines_at_a_time(checkout):
    """genrl's logging writes (and flushes) every record alone: read as it comes, that was one
    read, one decode and one batch per line. After a short read the pty rests (up to
    PACE_MAX_S, by the rate the node writes at), so the lines gather; none is lost, none
    reordered."""
    n = 300
    run = Run(checkout, f"""\
        python3 -c '
        import os, time
        for i in range({n}):
            os.write(1, b"[2026-01-01 12:00:00,000][genrl.communication.hivemind.hivemind_backend][INFO] - "
                        b"a record as long as genrl writes them, line %d\\n" % i)
            time.sleep(0.001)
        '
        """)
    started = time.monotonic()
    status = await run.run(timeout=30)
    elapsed = time.monotonic() - started
    assert status.code == 0
    assert [int(t.rsplit(" ", 1)[1]) for t in run.texts] == list(range(n))
    # ~0.35 s of writes: read as they came, ~300 reads; resting after each, a few dozen.
    assert run.launcher.reads < n / 3, run.launcher.reads
    # At this rate (~1k lines/s of genrl-sized records) every rest gathers a KiB or two and then
    # the pty is empty: one read a rest, at most one per PACE_MAX_S (~67 a second). Reading on
    # at once after every read of 1 KiB or more found more lines only because they came in the
    # meantime: ~100 reads a second here, and as many reads that found nothing.
    assert run.launcher.reads < 10 + 75 * elapsed, (run.launcher.reads, elapsed)


@pytest.fixture
def bare_pty(tmp_path):
    """A Launcher reading a pty of our own, no node and no loop: (launcher, the batches of lines
    it handed on, the slave end to write to)."""
    batches: list[list] = []
    launcher = Launcher(tmp_path, run_id="test-run:1", venv_bin=False, on_lines=batches.append)
    master, slave = os.openpty()
    os.set_blocking(slave, False)
    os.set_blocking(master, False)
    launcher._master = master
    try:
        yield launcher, batches, slave
    finally:
        launcher._stop_pacing()
        launcher._master = None
        os.close(slave)
        os.close(master)


def test_a_full_pty_is_emptied_and_handed_on_as_one_chunk(bare_pty):
    """A read takes at most ~4 KiB of a pty that holds ~19 KiB. Handling each 4 KiB before the
    next read kept the pty nearly full under a flood, so whatever else the loop did made the
    node's writes wait; and each chunk costs its own decode, split and batch. After a full read
    the reader reads on while there is more (up to DRAIN_BYTES) and hands it all on at once."""
    launcher, batches, slave = bare_pty
    n = 0
    try:
        while n < 150:      # ~15 KiB, within what a pty holds
            line = b"line %03d of a burst, padded to a hundred bytes like a log record " % n + b"." * 31 + b"\n"
            if os.write(slave, line) < len(line):
                break       # the pty is full: a piece of a line, not a line
            n += 1
    except BlockingIOError:
        pass
    assert n >= 120, n
    time.sleep(0.05)
    assert launcher._read_once() is True
    assert launcher.reads >= 3, launcher.reads           # 12-15 KiB: three reads or more
    assert len(batches) == 1, [len(b) for b in batches]    # ...handed on as one chunk
    assert [t for t, _, _ in batches[0]] == [
        "line %03d of a burst, padded to a hundred bytes like a log record " % i + "." * 31 for i in range(n)]
    assert launcher._read_once() is False                  # nothing left behind


async def test_output_read_ahead_is_handed_on_first_in_order_and_not_left_waiting(bare_pty):
    """absorb() empties the pty before other long work (a log file's burst) so the node's
    writes do not wait; what it read is handled at the next read, before what came after, and a
    reader that was waiting for output gets a read scheduled (the pty may be empty now)."""
    launcher, batches, slave = bare_pty

    def write(first: int, count: int) -> None:
        for i in range(first, first + count):
            line = b"record %03d of the node\n" % i
            assert os.write(slave, line) == len(line)
        time.sleep(0.05)

    write(0, 40)
    launcher._loop = asyncio.get_running_loop()
    launcher.absorb()
    assert batches == []                    # read, not handled yet
    assert launcher._pace is not None       # ...and not left for a wake that would not come
    write(40, 40)
    assert launcher._read_once() is True
    assert [t for b in batches for t, _, _ in b] == ["record %03d of the node" % i for i in range(80)]
    assert len(batches) == 1


def test_the_pause_after_a_burst_is_made_for_the_burst_not_for_the_lull():
    """A node writes in bursts (genrl: a round's records at once). The read after a burst finds
    the lull: a KiB in the 2 ms since the last read. A pause made for that rate (PACE_BYTES at
    0.5 MB/s: 16 ms) let the next burst fill the pty and the node's writes wait; the rate kept
    is the node's peak lately, halving every RATE_HALF_LIFE_S."""
    pace, half = launcher_mod.pace, launcher_mod.RATE_HALF_LIFE_S
    burst = 3_600_000.0                                     # 30k lines/s of 120-byte lines
    pause, rate = pace(burst, 1024, 0.002, woken=False)
    assert pause < 0.005, pause                             # ready for the next burst
    assert rate > burst * 0.9
    # a quiet node is read at leisure again: the peak fades, halving every RATE_HALF_LIFE_S
    pause, rate = pace(rate, 1024, 8 * half, woken=False)
    assert rate < burst / 100
    assert pause == launcher_mod.PACE_MAX_S
    # a steady rate paces for PACE_BYTES at that rate
    steady = launcher_mod.PACE_BYTES / 0.006               # a pause of 6 ms
    pause, _ = pace(steady, int(steady * 0.006), 0.006, woken=False)
    assert abs(pause - 0.006) < 1e-9
    # the first read after a short quiet spell: the shortest pause, whatever the rate kept
    assert pace(0.0, 100, 0.004, woken=True)[0] == launcher_mod.PACE_MIN_S
    # ...and after a long one (a line now and then): no read by timer, whatever the rate kept
    assert pace(burst, 100, 0.05, woken=True)[0] is None
    assert pace(0.0, 100, 5.0, woken=True)[0] is None


class _CountingOs:
    """The os module as launcher.py sees it, counting its reads."""

    def __init__(self) -> None:
        self.reads = 0

    def __getattr__(self, name: str):
        return getattr(os, name)

    def read(self, fd: int, n: int) -> bytes:
        self.reads += 1
        return os.read(fd, n)


async def test_a_node_that_writes_now_and_then_is_read_as_its_output_comes(bare_pty, monkeypatch):
    """At 20 lines/s (a healthy node) each line woke the reader, which set itself aside, read
    again by timer 2 ms later, found nothing and re-armed: two reads and two epoll changes per
    line, 1.05-1.20 % of a core for the keeper where 0.90 % does. A line long after the last one
    is read and the reader stays; a line soon after one starts the reads by timer (a flood)."""
    launcher, batches, slave = bare_pty
    counting = _CountingOs()
    monkeypatch.setattr(launcher_mod, "os", counting)
    loop = asyncio.get_running_loop()
    launcher._loop = loop
    loop.add_reader(launcher._master, launcher._on_readable)
    try:
        for i in range(3):
            os.write(slave, b"a line now and then %d\n" % i)
            await asyncio.sleep(launcher_mod.PACE_MAX_S * 3)     # read by the reader meanwhile
            assert launcher._pace is None                       # no read by timer
        assert [t for b in batches for t, _, _ in b] == ["a line now and then %d" % i for i in range(3)]
        assert launcher.reads == 3 and counting.reads == 3      # not one read more
        os.write(slave, b"the first line of a flood\n")
        await asyncio.sleep(0.001)
        os.write(slave, b"the second line of a flood\n")
        deadline = loop.time() + 2
        while launcher._pace is None and loop.time() < deadline:
            await asyncio.sleep(0)
        assert launcher._pace is not None                       # soon after a read: paced
    finally:
        loop.remove_reader(launcher._master)


def test_a_read_as_full_as_one_pty_read_gets_counts_as_full():
    """The reader reads on at once only after a read that may have left more behind. Its bound
    must not be above what one read of a full pty returns here, or a flood is read one piece per
    pause and the node's writes wait (a fixed 3.5 KiB bound would do that where a read returns
    1 KiB); and not far below it, or a slow node's paced reads count as full and each is
    followed by a read that finds nothing."""
    master, slave = os.openpty()
    try:
        os.set_blocking(slave, False)
        os.set_blocking(master, False)
        try:
            while True:
                os.write(slave, b"y" * 99 + b"\n")
        except BlockingIOError:
            pass
        # At leisure, so the kernel has moved the output along between reads (a read right
        # after the fill may find little): the largest read of the drain.
        one_read = 0
        for _ in range(40):
            time.sleep(0.02)
            try:
                one_read = max(one_read, len(os.read(master, 1 << 16)))
            except BlockingIOError:
                break
    finally:
        os.close(slave)
        os.close(master)
    assert 0 < launcher_mod.full_read_bytes() <= one_read
    assert launcher_mod.full_read_bytes() >= one_read * 3 // 4 or one_read < 2 * launcher_mod.PACE_FULL_FALLBACK


def test_without_a_pty_to_measure_the_bound_falls_back_to_reading_on_often(monkeypatch):
    def no_pty():
        raise OSError(errno.EMFILE, "too many open files")

    real_openpty = os.openpty
    monkeypatch.setattr(launcher_mod, "_read_cap", 0)       # nothing measured yet
    monkeypatch.setattr(launcher_mod.os, "openpty", no_pty)
    assert launcher_mod.pty_read_cap() == 0
    assert launcher_mod.full_read_bytes() == launcher_mod.PACE_FULL_FALLBACK
    # a failure is not kept: once a pty can be had again, the next look measures
    monkeypatch.setattr(launcher_mod.os, "openpty", real_openpty)
    assert launcher_mod.pty_read_cap() >= 2 * launcher_mod.PACE_FULL_FALLBACK
    assert launcher_mod.full_read_bytes() > launcher_mod.PACE_FULL_FALLBACK


async def test_script_exit_hangs_up_the_pty_and_its_background_children(checkout):
    """bash makes the pty its controlling terminal (it is the session leader), so when it exits
    the kernel hangs the pty up: EOF comes at once and background jobs get SIGHUP, as when a
    terminal window closes. Only a child that ignores SIGHUP and left the tty survives: the
    orphan sweep's business."""
    run = Run(checkout, """\
        sleep 30 &
        echo "bg=$!"
        echo "parent done"
        """)
    await run.launcher.start()
    try:
        status = await asyncio.wait_for(run.launcher.wait(drain=3), 5)
        assert status.code == 0
        assert await run.launcher.wait_eof(0.5)
    finally:
        run.launcher.close()
    assert run.texts[-1] == "parent done"
    bg = int(run.texts[0].split("=")[1])
    end = time.monotonic() + 3
    while time.monotonic() < end and running(bg):
        await asyncio.sleep(0.02)
    assert not running(bg)


def test_looks_like_prompt():
    assert looks_like_prompt(HF) and looks_like_prompt(TOKEN) and looks_like_prompt(MODEL)
    assert looks_like_prompt("Password:")
    assert not looks_like_prompt(" 85%|███████▌ | 17/20 [13:46<03:05, 61.82s/it]")
    assert not looks_like_prompt("Map: 100%|██████████| 2/2 [00:00<00:00, 342.84 examples/s]")
    assert not looks_like_prompt("[2025-09-27 14:52:39,606][genrl][INFO] - Joining round")
    assert not looks_like_prompt("")


async def test_the_node_starts_with_default_signals_whatever_swarmtui_inherited(tmp_path):
    """A panel started as a background job of a script inherits SIGINT and SIGQUIT ignored, and
    nohup ignores SIGHUP; ignored and blocked signals survive exec. The node must get neither,
    or rl-swarm's SIGINT trap never runs and every stop sits out stop_timeout."""
    ignored = (signal.SIGINT, signal.SIGQUIT, signal.SIGHUP, signal.SIGTERM, signal.SIGPIPE)
    saved = {sig: signal.signal(sig, signal.SIG_IGN) for sig in ignored}
    old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGUSR1})
    try:
        # grep reads its own status: bash and python set dispositions of their own as they start
        run = Run(tmp_path, "", argv=("grep", "^Sig", "/proc/self/status"))
        status = await run.run()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
        for sig, handler in saved.items():
            signal.signal(sig, handler)
    assert status.code == 0
    masks = dict(line.split(":") for line in run.texts if line.startswith("Sig"))
    ign, blk = int(masks["SigIgn"].strip(), 16), int(masks["SigBlk"].strip(), 16)
    for sig in ignored:
        assert not ign & (1 << (sig - 1)), f"{sig.name} still ignored in the node: SigIgn={ign:#x}"
    assert blk == 0, f"signals still blocked in the node: SigBlk={blk:#x}"
