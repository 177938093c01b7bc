"""LinesOut batching (supervisor._schedule_flush): a line after a quiet spell goes out on the next
loop turn, not a batching interval later (that interval was nearly all of a slow node's line ->
panel lag); lines that follow it closely are batched, at most one batch per LINES_EVERY, or per
SPARSE_EVERY after a batch of a few lines (events.lines_gap). The
lines are fed to a real Supervisor's line path (the one the pty reader calls), no node runs:
what is checked is only when the batches go out. Counts, not timings, are asserted, with
bounds that hold even if the machine stalls for a moment."""

from __future__ import annotations

import asyncio
import sys
import time

import pytest

from swarmtui.engine import events as ev
from swarmtui.engine.events import LINES_EVERY, SPARSE_EVERY, SPARSE_LINES
from supervisor_support import harnesses

pytestmark = [pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux process semantics"),
              pytest.mark.timeout(60)]


@pytest.fixture
async def harness(tmp_path):
    async for make in harnesses(tmp_path):
        yield make


def _feed(sup, first: int, count: int) -> None:
    sup._lines_in("pty", first, [f"plain line {n}" for n in range(first, first + count)])


def _batches(h) -> list[list[str]]:
    return [[ln.text for ln in e.lines] for e in h.of(ev.LinesOut)]


async def test_a_lone_line_goes_out_at_once_and_a_chunk_stays_one_batch(harness):
    h = harness("codezero", "healthy")
    # start() sets the loop the flush timers run on; the node itself is not needed here
    h.sup._loop = asyncio.get_running_loop()
    _feed(h.sup, 1, 1)
    assert _batches(h) == []                # not inside the reader's call: the rest of a chunk may follow
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert _batches(h) == [["plain line 1"]], "a lone line waited for the batching interval"
    # a chunk read after a quiet interval: one batch, on the next turn as well
    await asyncio.sleep(LINES_EVERY * 1.5)
    _feed(h.sup, 2, 40)
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert len(_batches(h)) == 2 and len(_batches(h)[1]) == 40
    assert h.sup._lines_sent_n == 40          # what the next gap goes by (events.lines_gap)


async def test_a_burst_is_batched_and_a_flood_keeps_the_bound(harness):
    h = harness("codezero", "healthy")
    h.sup._loop = asyncio.get_running_loop()
    _feed(h.sup, 0, 1)
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert len(_batches(h)) == 1
    # a line every 5 ms for ~1 s, right after a batch went out: every one of them lands within an
    # interval of the last batch, so they are batched (a per-line send would make ~200 batches)
    n, t0 = 1, time.monotonic()
    while time.monotonic() - t0 < 1.0:
        _feed(h.sup, n, 1)
        n += 1
        await asyncio.sleep(0.005)
    await asyncio.sleep(LINES_EVERY * 3)
    batches = _batches(h)
    elapsed = time.monotonic() - t0
    assert sum(len(b) for b in batches) == n, "a line was lost or repeated"
    assert [t for b in batches for t in b] == [f"plain line {k}" for k in range(n)], "lines out of order"
    # at most one batch per interval (plus the leading one and the last): the panel's redraw bound
    assert 3 <= len(batches) <= elapsed / LINES_EVERY + 3, (len(batches), n)


class _Loop:
    """The loop's clock and timers as _schedule_flush uses them, to read the delays it asks for."""

    def __init__(self, now: float):
        self.now, self.later = now, []

    def time(self) -> float:
        return self.now

    def call_soon(self, fn):
        self.later.append(0.0)
        return asyncio.get_running_loop().call_soon(lambda: None)

    def call_later(self, delay, fn):
        self.later.append(delay)
        return asyncio.get_running_loop().call_later(3600, lambda: None)


async def test_after_a_few_lines_the_next_batch_may_come_sooner(harness):
    """A node printing a few lines a second: its batches hold a line or two, and the next may go
    SPARSE_EVERY after one (each line waits less); after a flood's large batch, LINES_EVERY."""
    h = harness("codezero", "healthy")
    sup = h.sup
    for sent_n, gap in ((1, SPARSE_EVERY), (SPARSE_LINES, SPARSE_EVERY), (SPARSE_LINES + 1, LINES_EVERY),
                        (3000, LINES_EVERY)):
        sup._loop = loop = _Loop(100.0)
        sup._lines_sent_at, sup._lines_sent_n = 100.0 - 0.02, sent_n     # a batch went 20 ms ago
        sup._flush_handle = None
        _feed(sup, 1, 1)
        assert loop.later == [pytest.approx(gap - 0.02)], (sent_n, loop.later)
        sup._flush_handle.cancel()
        sup._flush_handle = None
    # after a quiet interval, at once whatever the last batch held
    sup._loop = loop = _Loop(100.0)
    sup._lines_sent_at, sup._lines_sent_n = 100.0 - LINES_EVERY, 3000
    _feed(sup, 1, 1)
    assert loop.later == [0.0]
    sup._flush_handle.cancel()
    sup._flush_handle = None


@pytest.mark.slow
async def test_a_flood_of_one_benign_detection_names_every_line_and_reports_it_once(harness):
    """The simulator's flood (genrl's `SKIPPING: Failed to decode value`, thousands a second):
    the benign repeats take the short way in the keeper (_on_match), and what users see stays
    as before: every such line names its detection, it is reported once a run, nothing stops."""
    h = harness("codezero", "flood")
    await h.sup.start()
    await h.wait_state(ev.RUNNING)

    def skipped():
        return [ln for ln in h.lines() if "SKIPPING: Failed to decode value" in ln.text]

    deadline = time.monotonic() + 20
    while len(skipped()) < 2000 and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    lines = skipped()
    assert len(lines) >= 2000, len(lines)
    assert all(ln.detection == "payload-decode-skipped" for ln in lines)
    reported = [d for d in h.of(ev.Detected) if d.id == "payload-decode-skipped"]
    assert len(reported) == 1 and reported[0].action == "ignore"
    assert not h.of(ev.RestartScheduled) and h.states()[-1] == ev.RUNNING
    run = h.sup._run
    assert run is not None and not any(m.id == "payload-decode-skipped" for m in run.detections)


async def test_a_missing_swarm_pem_is_looked_for_with_each_batch_by_one_stat(tmp_path):
    """While the node runs without its swarm.pem (it writes one early in its start), the
    supervisor looks for the file with each batch of lines, so the new peer id shows at once
    (a fleet overview showed a node's rounds before its animal name when the look was held to
    every 0.5 s). A node whose file never comes sends ten batches a second: while the file is
    not there, a batch costs one stat, not the full look (four stats and a report)."""
    import types

    from swarmtui.engine.clock import FakeClock

    async for make in harnesses(tmp_path, clock=FakeClock):
        h = make("codezero", "healthy")
        assert not (h.root / "swarm.pem").exists()
        h.sup._loop = asyncio.get_running_loop()
        looks = []
        check = h.sup.identity.check

        def counted(force: bool = False):
            looks.append(force)
            return check(force)

        h.sup.identity.check = counted
        h.sup._run = types.SimpleNamespace(active=True)       # a run under way; no node needed
        try:
            for n in range(10):
                _feed(h.sup, n, 1)
                h.sup._flush()
            assert looks == []                                # ten batches, no full look
            (h.root / "swarm.pem").write_bytes(b"not a key, but a file")
            _feed(h.sup, 10, 1)
            h.sup._flush()
            assert len(looks) == 1 and h.of(ev.IdentityChanged)     # the very next batch sees it
        finally:
            h.sup._run = None


async def test_a_new_swarm_pem_seen_before_the_trainers_line_gives_one_warning(tmp_path):
    """hivemind logs `Generating new identity` before it writes swarm.pem, from its DHT process;
    a keeper reading the pty by timer may see the file first. The file's own warning waits
    NEW_IDENTITY_LINE_WAIT_S for the line: the line is the warning and no second one comes
    (a suite run once got both, the engine's first). Without a line (CodeZero silences
    hivemind's logger) the file's warning comes after that wait."""
    import types

    from swarmtui.engine import supervisor as sup_mod

    async for make in harnesses(tmp_path):
        h = make("rgym", "healthy")
        loop = asyncio.get_running_loop()
        h.sup._loop = loop
        stop = loop.create_future()
        for line_said_it in (True, False):
            run = sup_mod._Run(number=1, launcher=None, transcript=None, started_at=0.0, stop=stop,   # no node needed
                               timers_from=0.0, rounds_at_start=0)
            h.sup._run, h.sup._peer_seen = run, None
            before = len(h.of(ev.Detected))
            h.sup._watch_new_identity({"pem_state": "ok", "peer_id": "QmNewPeer", "animal_name": "new toothy bat"})
            assert len(h.of(ev.Detected)) == before                 # not at once
            if line_said_it:
                run.detections.append(types.SimpleNamespace(id="new-identity-generated"))   # the pty line
            await asyncio.sleep(sup_mod.NEW_IDENTITY_LINE_WAIT_S + 0.2)
            engine = [d for d in h.of(ev.Detected)[before:] if d.id == "new-identity-generated"]
            if line_said_it:
                assert engine == []
            else:
                assert [d.source for d in engine] == ["engine"]
                assert "appeared while the node runs: new peer id QmNewPeer (new toothy bat)" in engine[0].text
        h.sup._run = None
        stop.cancel()
