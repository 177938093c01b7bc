"""node.progress: rounds, stages, steps, rewards, skipped rounds (facts §5.4)."""

from __future__ import annotations

import dataclasses

from swarmtui.engine.events import ProgressUpdate
from swarmtui.node.logparse import parse_line
from swarmtui.node.progress import ProgressModel, describe_market

TR = "INFO:hivemind_exp.trainer.hivemind_grpo_trainer:dormant toothy bat:"
GD = "[2025-10-26 23:30:27,852][genrl.logging_utils.global_defs][INFO] - "


def feed(model: ProgressModel, lines: list[str], start: float = 0.0, step: float = 10.0) -> float:
    now = start
    for line in lines:
        ev = parse_line(line)
        assert ev is not None, line
        model.feed(ev, now)
        now += step
    return now


def test_snapshot_has_exactly_the_progress_update_fields():
    snap = ProgressModel().snapshot(0.0)
    names = [f.name for f in dataclasses.fields(ProgressUpdate) if f.name != "ts"]
    assert sorted(snap) == sorted(names)
    ProgressUpdate(**snap)  # and it builds the event


def test_hivemind_rounds_stages_steps_and_a_skip():
    m = ProgressModel()
    feed(m, [
        TR + "🐝 Joining round: 329 starting at stage: 0",
        TR + "📈 Training round: 329 stage: 0",
        "  5%|▌         | 1/20 [01:01<19:30, 61.60s/it]",
        "{'loss': 0.0, 'rewards/correctness_reward_func': 0.5, 'reward': 0.75, 'epoch': 0.1}",
        TR + "📉 Finished training round: 329 stage: 0",
        TR + "📈 Training round: 329 stage: 1",
        TR + "📉 Finished training round: 329 stage: 2",
        TR + "Already finished round: 329. Next check in 5.0s.",
        TR + "🐝 Joining round: 331 starting at stage: 1",   # #160: 330 was skipped
    ])
    snap = m.snapshot(1000.0)
    assert m.era == "hivemind"
    assert (snap["round"], snap["stage"], snap["step"], snap["total"]) == (331, 1, None, None)
    assert snap["rounds_skipped"] == [330]
    assert snap["rounds_completed"] == 1
    assert snap["last_rewards"] == {"rewards/correctness_reward_func": 0.5, "reward": 0.75}
    assert m.first_round == 329


def test_step_progress_sets_rate_eta_and_time_of_progress():
    m = ProgressModel()
    feed(m, [TR + "📈 Training round: 1 stage: 0"], start=0.0)
    assert m.feed(parse_line(" 10%|█         | 2/20 [02:03<18:30, 61.70s/it]"), 50.0)
    snap = m.snapshot(80.0)
    assert (snap["step"], snap["total"], snap["rate"], snap["eta_s"]) == (2, 20, "61.70s/it", 1110.0)
    assert snap["since_progress_s"] == 30.0
    # the same step redrawn is not progress
    m.feed(parse_line(" 10%|█         | 2/20 [02:05<18:30, 61.70s/it]"), 70.0)
    assert m.last_progress_at == 50.0


def test_genrl_rounds_skip_and_already_finished_is_not_a_skip():
    m = ProgressModel()
    end = feed(m, [
        GD + "🐝 Joining round: 39510",
        GD + "Starting round: 39510/1000000.",
        GD + "Already finished round: 39510. Next check in 5.0s.",
        GD + "Already finished round: 39510. Next check in 10.0s.",
        GD + "🐝 Joining round: 39511",
        GD + "Starting round: 39511/1000000.",
        GD + "🐝 Joining round: 39513",
        GD + "Starting round: 39513/1000000.",
    ], step=60.0)
    snap = m.snapshot(end)
    assert m.era == "rgym"
    assert snap["round"] == 39513 and snap["stage"] is None
    assert snap["rounds_skipped"] == [39512]
    assert snap["rounds_completed"] == 2
    assert snap["round_durations"] == [120.0, 120.0]  # 39510: 0 -> 120; 39511: 240 -> 360 (the jump ends it)


def test_round_durations_are_measured_from_join_to_completion():
    m = ProgressModel()
    assert m.feed(parse_line(GD + "🐝 Joining round: 10"), 100.0)
    m.feed(parse_line(GD + "Starting round: 10/1000000."), 101.0)
    m.feed(parse_line(GD + "Already finished round: 10. Next check in 5.0s."), 400.0)
    m.feed(parse_line(GD + "🐝 Joining round: 11"), 500.0)
    m.feed(parse_line(GD + "🐝 Joining round: 12"), 650.0)
    snap = m.snapshot(700.0)
    assert snap["round_durations"] == [300.0, 150.0]
    assert snap["rounds_completed"] == 2 and snap["rounds_skipped"] == []


def test_hello_and_codezero_era():
    m = ProgressModel()
    assert m.feed(parse_line(GD + "🐝 Hello [dormant toothy bat] [QmYii94drSM2nDZ8BAbyzG2EHzC41ko5X1Xt1NcWvv3Xb6]!"), 0.0)
    assert (m.peer_id, m.animal_name, m.era) == ("QmYii94drSM2nDZ8BAbyzG2EHzC41ko5X1Xt1NcWvv3Xb6", "dormant toothy bat", "codezero")
    m.feed(parse_line(GD + "Starting round: 5/1000000."), 1.0)
    assert m.era == "codezero"


def test_nothing_changes_on_unrelated_events():
    m = ProgressModel(era="rgym")
    assert not m.feed(parse_line(GD + "Using Model: x/y"), 0.0)
    assert m.snapshot(5.0)["since_progress_s"] is None


def test_a_garbled_huge_round_number_keeps_only_the_last_skips():
    m = ProgressModel()
    feed(m, [GD + "🐝 Joining round: 5", GD + "🐝 Joining round: 7", GD + "🐝 Joining round: 1234567890123456"])
    # Only the last 200 are kept, and only those are built (a list of the whole gap would not fit).
    assert m.new_skips == list(range(1234567890123456 - 200, 1234567890123456))
    assert m.rounds_skipped == m.new_skips and m.round == 1234567890123456


def test_prediction_market_bets_counted_once_and_claims():
    bet = GD + "Game {}: Peer QmYii94drSM2nDZ8BAbyzG2EHzC41ko5X1Xt1NcWvv3Xb6 placed bet of {} tokens on choice - {}"
    m = ProgressModel("rgym")
    assert m.snapshot(0.0)["market"] is None and describe_market(None) == ("", "")
    lines = [bet.format("4 Round 0", "100.00", "Paris"), bet.format("4 Round 1", "111.11", "Lyon"),
             GD + "successfully claimed reward for previous game 3", bet.format("5 Round 0", "50.00", "Nice")]
    # the terminal and logs/swarm_launcher.log carry the same lines: each counts once
    feed(m, lines)
    since = m.last_progress_at
    feed(m, lines)
    snap = m.snapshot(100.0)["market"]
    assert snap == {"game": 5, "clue": 0, "bets": 3, "staked": 261.11, "last_bet": 50.0, "last_choice": "Nice",
                    "claims": 1, "last_claimed": 3}
    assert m.last_progress_at == since is None  # a bet is not round progress (the stall timer ignores it)
    assert describe_market(snap) == ("game 5 clue 0 · 50.00 on Nice", "3 bets · 261.11 staked · 1 claim")
