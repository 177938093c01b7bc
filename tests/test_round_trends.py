"""The round trends kept across runs (engine/round_trends.py): written to the node's state dir,
bounded, read back by the next keeper, and a damaged file is "no trend yet", never an error.
Also the real Supervisor on a simulated node: rounds it completes reach trends.json and the
RoundTrends event, and the next keeper starts from them."""

from __future__ import annotations

import asyncio
import json
import os
import stat

import pytest

from swarmtui import paths
from swarmtui.engine import events as ev
from swarmtui.engine.replay import ReplayCache
from swarmtui.engine.round_trends import TRENDS_FILE, RoundTrends, clean_record, reward_of
from supervisor_support import Harness
from test_sim_support import kill_leftovers


def test_rounds_survive_a_new_keeper_and_stay_bounded(tmp_path):
    state = paths.state_dir() / "nodes" / "n"
    first = RoundTrends(state, keep=5)
    for r in range(1, 8):
        first.round_done(r, f"2026-01-01T00:0{r}:00Z", 60.0 * r, {"reward": r / 10}, None)
        first.save()
    path = state / TRENDS_FILE
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    second = RoundTrends(state, keep=5)
    rounds = second.load()
    assert [x["round"] for x in rounds] == [3, 4, 5, 6, 7]
    assert [x["duration_s"] for x in rounds] == [180.0, 240.0, 300.0, 360.0, 420.0]
    assert rounds[-1]["reward"] == pytest.approx(0.7)
    assert second.load_problem == ""


def test_reward_repeated_from_an_earlier_round_is_not_this_rounds(tmp_path):
    t = RoundTrends(tmp_path)
    printed = {"reward": 0.5, "rewards/correctness": 0.2}
    assert t.round_done(1, "", 10.0, printed, None)["reward"] == 0.5
    # No new print during round 2: the model still holds round 1's.
    assert t.round_done(2, "", 10.0, dict(printed), None)["reward"] is None
    assert t.round_done(3, "", 10.0, {"reward": 0.75}, None)["reward"] == 0.75
    assert reward_of({"rewards/a": 0.25, "rewards/b": 1.0}) == 0.25


def test_market_records_what_changed_during_the_round(tmp_path):
    t = RoundTrends(tmp_path)
    assert (t.round_done(1, "", 5.0, None, {"bets": 2, "claims": 0})["bets"], t.rounds[-1]["claims"]) == (2, 0)
    assert (t.round_done(2, "", 5.0, None, {"bets": 5, "claims": 1})["bets"], t.rounds[-1]["claims"]) == (3, 1)
    assert t.round_done(3, "", 5.0, None, None)["bets"] is None


@pytest.mark.parametrize("content", [
    b"{not json", b"[1, 2, 3]", b'{"rounds": "many"}', b"\xff\xfe", b'{"rounds": [' + b"1," * 600_000 + b"1]}",
])
def test_a_damaged_file_reads_as_no_trend(tmp_path, content):
    (tmp_path / TRENDS_FILE).write_bytes(content)
    t = RoundTrends(tmp_path)
    assert t.load() == []
    assert str(tmp_path / TRENDS_FILE) in t.load_problem
    # and the next round writes a good file over it
    t.round_done(9, "", 1.0, None, None)
    t.save()
    assert [r["round"] for r in RoundTrends(tmp_path).load()] == [9]


def test_a_symlink_is_not_followed(tmp_path):
    target = tmp_path / "elsewhere.json"
    target.write_text(json.dumps({"rounds": [{"round": 1}]}))
    os.symlink(target, tmp_path / TRENDS_FILE)
    t = RoundTrends(tmp_path)
    assert t.load() == [] and t.load_problem


def test_bad_fields_are_dropped_and_records_without_a_round_skipped():
    assert clean_record({"round": 3, "duration_s": "long", "reward": float("nan"), "bets": True,
                         "end": 5}) == {"round": 3, "end": None, "duration_s": None, "reward": None,
                                        "bets": None, "claims": None}
    assert clean_record({"duration_s": 5.0}) is None
    assert clean_record("round 3") is None


def test_a_viewer_that_attaches_gets_the_trends_and_host_figures():
    cache = ReplayCache()
    trends = ev.RoundTrends(rounds=[{"round": 1, "duration_s": 5.0}])
    host = ev.HostStats(cpu_percent=12.0, history={"cpu": [10.0, 12.0]})
    for e in (ev.RoundTrends(rounds=[]), trends, ev.HostStats(), host):
        cache.observe(e)
    snap = cache.snapshot()
    assert [e for e in snap if isinstance(e, (ev.RoundTrends, ev.HostStats))] == [trends, host]
    # and both survive the wire (a panel attached over a socket)
    assert ev.Event.from_dict(json.loads(host.to_json())) == host
    assert ev.Event.from_dict(json.loads(trends.to_json())) == trends


@pytest.mark.slow
async def test_a_simulated_node_fills_the_trends_and_the_next_keeper_starts_from_them(tmp_path):
    h = Harness(tmp_path, era="hivemind")
    try:
        await h.sup.start()
        got = await h.wait_for(lambda e: isinstance(e, ev.RoundTrends) and len(e.rounds) >= 3,
                               timeout=40, what="three rounds in the trends")
        host = await h.wait_kind(ev.HostStats)
    finally:
        await h.close()
    durations = [r["duration_s"] for r in got.rounds if r["duration_s"] is not None]
    assert durations and all(d >= 0 for d in durations)
    assert any(r["reward"] is not None for r in got.rounds), got.rounds   # hivemind prints rewards
    assert host.mem_total and host.disk_free and "cpu" in host.history
    on_disk = json.loads((h.sup.history.dir / TRENDS_FILE).read_text())["rounds"]
    assert [r["round"] for r in on_disk][:3] == [r["round"] for r in got.rounds][:3]

    # A new keeper for the same checkout: its first RoundTrends holds the earlier run's rounds.
    events: list[ev.Event] = []
    from swarmtui.engine.supervisor import Supervisor
    from supervisor_support import clean_env
    again = Supervisor(h.root, h.config, events.append, env=clean_env())
    try:
        await again.start()
        first = next(e for e in events if isinstance(e, ev.RoundTrends))
        assert [r["round"] for r in first.rounds][:3] == [r["round"] for r in got.rounds][:3]
    finally:
        try:
            await asyncio.wait_for(again.close(), 30)
        finally:
            again.emergency_kill()
            kill_leftovers(h.root)


@pytest.mark.slow
async def test_a_panel_attached_to_a_keeper_gets_the_keepers_trends_and_host_figures(tmp_path):
    """The keeper's own Fanout and KeeperServer, in process: a viewer that attaches after some
    rounds is sent, in its snapshot, the rounds so far and the keeper host's figures."""
    from swarmtui.engine import keeper_server as ks
    from swarmtui.engine.history import HistoryStore
    from swarmtui.engine.remote import RemoteEngine

    h = Harness(tmp_path, era="hivemind")
    fanout = ks.Fanout(h.events.append, ReplayCache(history=HistoryStore(h.root).read))
    h.sup.emit = fanout.emit
    server = ks.KeeperServer(h.root, fanout, send=h.sup.send, stop=lambda why: None, kind="test",
                             state=lambda: {})
    await server.start()
    viewer = None
    try:
        await h.sup.start()
        await h.wait_for(lambda e: isinstance(e, ev.RoundTrends) and len(e.rounds) >= 2, timeout=40,
                         what="two rounds")
        await h.wait_kind(ev.HostStats)
        got: list[ev.Event] = []
        viewer = RemoteEngine(h.root, got.append)
        await viewer.start()
        end = asyncio.get_running_loop().time() + 20
        while asyncio.get_running_loop().time() < end and not (
                any(isinstance(e, ev.RoundTrends) for e in got) and any(isinstance(e, ev.HostStats) for e in got)):
            await asyncio.sleep(0.05)
        trends = next(e for e in got if isinstance(e, ev.RoundTrends))
        host = next(e for e in got if isinstance(e, ev.HostStats))
        assert len(trends.rounds) >= 2 and trends.rounds[0]["round"] == h.of(ev.RoundTrends)[-1].rounds[0]["round"]
        assert host.mem_total and host.history.get("cpu")
        # Both came in the snapshot (it ends with the log backlog), not only later, live.
        backlog = next(i for i, e in enumerate(got) if isinstance(e, ev.LinesOut))
        assert got.index(trends) < backlog and got.index(host) < backlog, [e.kind for e in got[:12]]
    finally:
        if viewer is not None:
            await viewer.close(stop_node=False)
        await server.close()
        await h.close()
