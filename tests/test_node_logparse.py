"""node.logparse: every era's formats, and ugly input (glued tqdm bars, bad UTF-8, 1 MB lines)."""

from __future__ import annotations

import time

import pytest

from swarmtui.node.logparse import (Hello, LogHeader, LoginWait, MarketBet, MarketClaim, Milestone, Rewards,
                                    RoundEvent, ScriptLine, StepProgress, SubmitWinners, level_of, parse_all,
                                    parse_line, split_header)
from swarmtui.node.text import LineSplitter

PEER = "QmYii94drSM2nDZ8BAbyzG2EHzC41ko5X1Xt1NcWvv3Xb6"
NAME = "dormant toothy bat"
GD = "genrl.logging_utils.global_defs"
TR = "hivemind_exp.trainer.hivemind_grpo_trainer"


# ---------------------------------------------------------------- headers

@pytest.mark.parametrize("line, level, logger, ts, msg", [
    # hivemind era console (colorlog, ANSI already stripped), with the animal-name tag
    (f"INFO:{TR}:{NAME}:🐝 Joining round: 33 starting at stage: 2", "INFO", TR, None,
     "🐝 Joining round: 33 starting at stage: 2"),
    ("INFO:hivemind_exp.chain_utils:Registering peer failed with: fPeerIdAlreadyRegistered", "INFO",
     "hivemind_exp.chain_utils", None, "Registering peer failed with: fPeerIdAlreadyRegistered"),
    ("WARN:hivemind_exp.runner.grpo_runner:something", "WARNING", "hivemind_exp.runner.grpo_runner", None, "something"),
    # hivemind era file logs/swarm.log
    ("2025-05-20 12:00:00,123 - INFO - hivemind_exp.runner.grpo_runner:142 - Hello there", "INFO",
     "hivemind_exp.runner.grpo_runner", "2025-05-20 12:00:00,123", "Hello there"),
    # ... with the logger's tag (getLogger(f"{__name__}:{log_tag}"): the animal name, or None)
    (f"2025-05-20 12:00:02,123 - INFO - {TR}:{NAME}:302 - 🐝 Joining round: 40 starting at stage: 0", "INFO",
     TR, "2025-05-20 12:00:02,123", "🐝 Joining round: 40 starting at stage: 0"),
    ("2025-05-20 12:00:02,123 - WARNING - hivemind_exp.gsm8k.stage_merger:None:13 - Skipped x: 1 - y", "WARNING",
     "hivemind_exp.gsm8k.stage_merger", "2025-05-20 12:00:02,123", "Skipped x: 1 - y"),
    ("WARNING:hivemind_exp.gsm8k.stage_merger:None:Skipped x", "WARNING", "hivemind_exp.gsm8k.stage_merger", None,
     "Skipped x"),
    # a message that looks like a line number is no tag
    ("2025-05-20 12:00:02,123 - INFO - a.b:12 - m:34 - x", "INFO", "a.b", "2025-05-20 12:00:02,123", "m:34 - x"),
    # hydra (genrl-swarm, rgym, codezero)
    (f"[2025-10-26 23:30:27,852][{GD}][INFO] - Starting round: 39512/1000000.", "INFO", GD,
     "2025-10-26 23:30:27,852", "Starting round: 39512/1000000."),
    ("[2025-10-26 23:30:27,852][httpx][DEBUG] - HTTP Request: POST x", "DEBUG", "httpx", "2025-10-26 23:30:27,852",
     "HTTP Request: POST x"),
    # logs/training_<name>.log (v0.5.2-0.5.8)
    ("[dormant_toothy_bat] 2025-07-20 10:00:00,000 INFO: Starting round: 1234/1000000.", "INFO",
     "dormant_toothy_bat", "2025-07-20 10:00:00,000", "Starting round: 1234/1000000."),
    # hivemind's own handler
    ("Apr 04 07:38:41.041 [ERROR] [hivemind.dht.dht._run:131] [Errno 11] Resource temporarily unavailable", "ERROR",
     "hivemind.dht.dht._run:131", "Apr 04 07:38:41.041", "[Errno 11] Resource temporarily unavailable"),
    ("May 16 20:05:00.339 [INFO] Checking that identity from `/x/swarm.pem` is not used by other peers", "INFO",
     "hivemind", "May 16 20:05:00.339", "Checking that identity from `/x/swarm.pem` is not used by other peers"),
    ("Apr 06 13:19:21.850 [WARN] [hivemind.p2p.p2p_daemon_bindings.control.open_connection:62] zx", "WARNING",
     "hivemind.p2p.p2p_daemon_bindings.control.open_connection:62", "Apr 06 13:19:21.850", "zx"),
])
def test_headers(line, level, logger, ts, msg):
    assert split_header(line) == (level, logger, ts, msg)
    assert level_of(line) == level


@pytest.mark.parametrize("line", [
    "", "Map: 100%|██| 2/2 [00:00<00:00, 342.84 examples/s]", "Terminated", ">> Good luck in the swarm!",
    "INFORMATION: not a header", "[not a date][x][INFO] - y", "Apr 4 07:38:41 [INFO] no millis",
])
def test_no_header(line):
    assert level_of(line) is None


def test_unknown_message_with_header_is_a_logheader():
    ev = parse_line("[2025-10-26 23:30:27,852][httpx][DEBUG] - HTTP Request: POST x")
    assert isinstance(ev, LogHeader) and ev.kind == "header" and ev.level == "DEBUG" and ev.message == "HTTP Request: POST x"
    assert parse_line("just some text") is None


# ---------------------------------------------------------------- rounds, every era

@pytest.mark.parametrize("line, kind, rnd, stage, total, wait", [
    (f"INFO:{TR}:{NAME}:🐝 Joining round: 331 starting at stage: 1", "joining", 331, 1, None, None),
    (f"INFO:{TR}:{NAME}:📈 Training round: 329 stage: 0", "training", 329, 0, None, None),
    (f"INFO:{TR}:{NAME}:📉 Finished training round: 329 stage: 2", "finished", 329, 2, None, None),
    (f"INFO:{TR}:{NAME}:🤖 Starting new round: 44", "starting", 44, None, None, None),
    (f"INFO:{TR}:{NAME}:Already finished round: 113. Next check in 5.0s.", "already-finished", 113, None, None, 5.0),
    (f"[2025-10-26 23:30:27,842][{GD}][INFO] - 🐝 Joining round: 39512", "joining", 39512, None, None, None),
    (f"[2025-10-26 23:30:27,852][{GD}][INFO] - Starting round: 39512/1000000.", "starting", 39512, None, 1000000, None),
    (f"[2025-10-26 23:29:57,660][{GD}][INFO] - Already finished round: 39511. Next check in 900.0s.",
     "already-finished", 39511, None, None, 900.0),
    ("[2025-09-27 14:52:39,606][genrl_swarm.logging_utils.global_defs][INFO] - 🐝 Joining round: 31055",
     "joining", 31055, None, None, None),
    ("[dormant_toothy_bat] 2025-07-20 10:00:00,000 INFO: Starting round: 1234/1000000.", "starting", 1234, None,
     1000000, None),
])
def test_round_events(line, kind, rnd, stage, total, wait):
    ev = parse_line(line)
    assert isinstance(ev, RoundEvent)
    assert (ev.kind, ev.round, ev.stage, ev.total, ev.wait_s) == (kind, rnd, stage, total, wait)


@pytest.mark.parametrize("line", [
    "Using Model: acme/Joining-round-42",                     # a model name, not an event
    f"INFO:{TR}:{NAME}:Could not fetch round and stage: boom. Next check in 5.0s.",
    "Starting round: soon",
    "INFO:x:Can't retrieve round 5 stage 1 rewards; trying again in 5s ",
])
def test_round_near_misses(line):
    assert not isinstance(parse_line(line), RoundEvent)


def test_hello_both_forms():
    a = parse_line(f"[2025-10-26 23:29:06,000][{GD}][INFO] - 🐱 Hello 🐈 [{NAME}] 🦮 [{PEER}]!")
    assert isinstance(a, Hello) and (a.animal_name, a.peer_id, a.style, a.logger) == (NAME, PEER, "cat", GD)
    b = parse_line(f"[2025-11-20 10:00:02,000][{GD}][INFO] - 🐝 Hello [{NAME}] [{PEER}]!")
    assert isinstance(b, Hello) and b.style == "bee" and b.peer_id == PEER
    assert parse_line("🐝 Hello [not] [a-peer-id]!") is None or not isinstance(parse_line("🐝 Hello [not] [a-peer-id]!"), Hello)


def test_milestones():
    cases = {
        f"INFO:hivemind_exp.chain_utils:✅ Connected to Gensyn Testnet": ("testnet-connected", ""),
        f"[x] 2025-07-20 10:00:00,000 INFO: bootnodes: ['/ip4/1.2.3.4/tcp/1/p2p/{PEER}']": ("bootnodes", f"['/ip4/1.2.3.4/tcp/1/p2p/{PEER}']"),
        f"[2025-11-20 10:00:03,000][{GD}][INFO] - Using Model: Qwen/Qwen2.5-Coder-0.5B-Instruct": ("model", "Qwen/Qwen2.5-Coder-0.5B-Instruct"),
        f"[2025-11-20 10:00:01,000][{GD}][INFO] - ============!!!Joining CodeZero Swarm!!!============": ("codezero-join", ""),
        "May 16 20:05:00.339 [INFO] Generating new identity to be saved in `/home/u/rl-swarm/swarm.pem`": ("identity-generated", "/home/u/rl-swarm/swarm.pem"),
        f"INFO:hivemind_exp.runner.gensyn.testnet_grpo_runner:Registering self with peer ID: {PEER}": ("registering", PEER),
        "Your ORG_ID is set to: 5f1c2b3a": ("org-id", "5f1c2b3a"),
        "Started server process: 48211": ("login-server-started", "48211"),
        "wandb: You can sync this run to the cloud by running:": ("python-exited", ""),
        ">> Shutting down trainer...": ("shutdown", ""),
    }
    for line, (name, detail) in cases.items():
        ev = parse_line(line)
        assert isinstance(ev, Milestone), line
        assert (ev.name, ev.detail) == (name, detail), line


def test_login_waits_and_script_lines():
    assert parse_line(">> Waiting for modal userData.json to be created...") == LoginWait(what="userData.json")
    assert parse_line("Waiting for API key to become activated...") == LoginWait(what="key activation")
    assert parse_line("Waiting for API key to be activated...") == LoginWait(what="key activation")
    ev = parse_line(">> Good luck in the swarm!")
    assert isinstance(ev, ScriptLine) and ev.text == ">> Good luck in the swarm!"


def test_submit_winners():
    ev = parse_line(f"INFO:hivemind_exp.trainer.gensyn.testnet_grpo_trainer:{NAME}:🏆 Submitting winners for round 329: [{PEER}, 'x']")
    assert isinstance(ev, SubmitWinners) and ev.round == 329 and ev.peers == (PEER,)


def test_prediction_market_bets_and_claims():
    # rgym_exp/src/prg_module.py's f-strings, behind genrl's Hydra header
    head = f"[2025-09-12 10:41:07,311][{GD}][INFO] - "
    ev = parse_line(head + f"Game 12 Round 3: Peer {PEER} placed bet of 166.67 tokens on choice - New York City")
    assert ev == MarketBet(game=12, clue=3, tokens=166.67, choice="New York City", level="INFO", logger=GD,
                           timestamp="2025-09-12 10:41:07,311")
    assert not isinstance(ev, RoundEvent)       # "Round 3" is a clue, not a swarm round
    ev = parse_line(head + "successfully claimed reward for previous game 11")
    assert ev == MarketClaim(game=11, level="INFO", logger=GD, timestamp="2025-09-12 10:41:07,311")
    assert type(parse_line(head + "Error playing PRG game, continuing with the next round")) is LogHeader
    assert not isinstance(parse_line(head + "Game 12 Round 3: Peer x placed a bet"), MarketBet)
    assert parse_line("placed bet of lots of tokens") is None


# ---------------------------------------------------------------- tqdm and metrics

def test_tqdm_step_progress():
    ev = parse_line("  5%|█         | 1/20 [14:19<4:32:11, 859.55s/it]")
    assert isinstance(ev, StepProgress)
    assert (ev.step, ev.total, ev.pct, ev.elapsed_s, ev.eta_s, ev.rate) == (1, 20, 5, 859.0, 16331.0, "859.55s/it")
    ev = parse_line("  0%|          | 0/20 [00:00<?, ?it/s]")
    assert (ev.step, ev.eta_s, ev.rate) == (0, None, "?it/s")
    ev = parse_line(" 85%|████████▌ | 17/20 [13:46<03:05, 61.82s/it]")
    assert (ev.step, ev.elapsed_s, ev.eta_s) == (17, 826.0, 185.0)


@pytest.mark.parametrize("line", [
    "Map: 100%|██████████| 2/2 [00:00<00:00, 342.84 examples/s]",
    "model.safetensors:  45%|████▌     | 447M/988M [00:05<00:06, 89.4MB/s]",
    "Loading checkpoint shards: 100%|██████████| 2/2 [00:01<00:00,  1.50it/s]",
])
def test_other_bars_are_not_steps(line):
    assert not isinstance(parse_line(line), StepProgress)


def test_glued_tqdm_bar_and_message():
    line = " 85%|████████▌ | 17/20 [13:46<03:05, 709.81s/it]Apr 04 07:38:41.041 [ERROR] [hivemind.dht.dht._run:131] [Errno 11] Resource temporarily unavailable"
    evs = parse_all(line)
    assert isinstance(evs[0], StepProgress) and evs[0].step == 17
    assert isinstance(evs[1], LogHeader) and evs[1].level == "ERROR"
    glued_round = " 10%|█ | 2/20 [00:01<00:09, 2.00it/s]INFO:x:📈 Training round: 7 stage: 1"
    assert isinstance(parse_line(glued_round), RoundEvent)
    assert level_of(line) is None  # the line starts with the bar; parse_all finds the header


def test_trl_metrics_parsed_without_eval():
    ev = parse_line("{'loss': 0.0, 'grad_norm': 0.31, 'learning_rate': 4.5e-07, 'rewards/correctness_reward_func': "
                    "-0.25, 'reward': 0.75, 'reward_std': 0.21, 'completion_length': 264.90625, 'kl': 0.0004, 'epoch': 0.8}")
    assert isinstance(ev, Rewards)
    assert ev.metrics["rewards/correctness_reward_func"] == -0.25 and ev.metrics["learning_rate"] == 4.5e-07
    assert ev.metrics["epoch"] == 0.8
    evil = parse_line("{'loss': __import__('os').system('touch /tmp/pwned'), 'reward': 1.0}")
    assert isinstance(evil, Rewards) and evil.metrics == {"reward": 1.0}
    other = parse_line("{'train_runtime': 1234.5, 'train_samples_per_second': 0.1, 'epoch': 1.0}")
    assert isinstance(other, Milestone) and other.name == "train-metrics"
    assert parse_line("{'no numbers': 'here'}") is None


# ---------------------------------------------------------------- ugly input

def test_invalid_utf8_line_parses_after_replace_decoding():
    raw = f"[2025-10-26 23:30:27,852][{GD}][INFO] - Starting round: 7/1000000. \xff".encode("latin-1")
    text = raw.decode("utf-8", "replace")
    ev = parse_line(text)
    assert isinstance(ev, RoundEvent) and ev.round == 7


def test_pty_stream_end_to_end():
    stream = (f"\x1b[32mINFO\x1b[0m:{TR}:{NAME}:📈 Training round: 5 stage: 0\r\n"
              "\r  0%|          | 0/20 [00:00<?, ?it/s]\r  5%|▌         | 1/20 [01:01<19:30, 61.60s/it]"
              "\r 10%|█         | 2/20 [02:03<18:30, 61.70s/it]\n")
    sp = LineSplitter()
    events = [ev for line, _ in sp.feed(stream) for ev in parse_all(line)]
    assert [type(e).__name__ for e in events] == ["RoundEvent", "StepProgress", "StepProgress", "StepProgress"]
    assert events[-1].step == 2


@pytest.mark.parametrize("tail", ["", "round: ", "%|", "{'", "Hello [", "[2025-10-26 23:30:27,852][", "0" * 100])
def test_megabyte_lines_are_fast(tail):
    for body in ("a" * 1_000_000, "round: " * 150_000, "%|" * 500_000, "[" * 1_000_000, "{'a': 1, " * 100_000):
        line = body + tail
        t = time.perf_counter()
        parse_all(line)
        level_of(line)
        assert time.perf_counter() - t < 0.5, (body[:20], tail)



# ---------------------------------------------------------------- one message in two formats, bars

def test_fold_key_is_the_same_for_both_hivemind_formats_and_only_for_the_same_message():
    from swarmtui.node.logparse import fold_key

    console = f"INFO:{TR}:{NAME}:📈 Training round: 40 stage: 0"
    in_file = f"2025-05-20 12:00:04,123 - INFO - {TR}:{NAME}:170 - 📈 Training round: 40 stage: 0"
    assert fold_key(console) == fold_key(in_file)
    assert fold_key("WARN:x.y:careful") == fold_key("2025-05-20 12:00:04,123 - WARNING - x.y:9 - careful")
    assert fold_key(console) != fold_key(f"ERROR:{TR}:{NAME}:📈 Training round: 40 stage: 0")
    assert fold_key(console) != fold_key("📈 Training round: 40 stage: 0")      # a bare line is not a log record
    # v0.4's PrintCapture: a print copied into swarm.log is the printed line
    assert fold_key("2025-05-20 12:00:05,000 - DEBUG - root:144 - [PRINT] {'loss': 0.1}") == "{'loss': 0.1}"


@pytest.mark.parametrize("text, label, n, total, done", [
    ("  5%|█         | 1/20 [14:19<4:32:11, 859.55s/it]", "", 1, 20, False),
    ("100%|██████████| 20/20 [2:46:34<00:00, 499.71s/it]", "", 20, 20, True),
    ("Map:  40%|████      | 2990/7473 [00:00<00:00, 25000.00 examples/s]", "Map", 2990, 7473, False),
    ("Loading checkpoint shards: 100%|██████████| 2/2 [00:10<00:00,  5.0s/it]", "Loading checkpoint shards", 2, 2, True),
    ("x:   3%|#| 1.2k/40.0k [00:01<00:30, 1.2kit/s]", "x", 1200, 40000, False),
    ("  0%|          | 0/? [00:00<?, ?it/s]", "", 0, None, False),
])
def test_progress_bars_are_recognised(text, label, n, total, done):
    from swarmtui.node.logparse import progress_bar

    bar = progress_bar(text)
    assert (bar.label, bar.n, bar.total, bar.done) == (label, n, total, done)


@pytest.mark.parametrize("text", ["Done 5%| of it", "Generating train split: 80 examples [00:00, 25686.62 examples/s]",
                                  "INFO:x:100%|", ""])
def test_other_lines_are_no_bars(text):
    from swarmtui.node.logparse import progress_bar

    assert progress_bar(text) is None


def test_bar_marks_take_tqdm_writes_blanking_line_with_the_bar():
    from swarmtui.node.logparse import BarMarks

    marks = BarMarks()
    assert marks.mark("pty", " " * 60) is None                     # spaces before any bar: a line
    assert marks.mark("pty", "Map:  50%|█████     | 1/2 [00:00<00:00, 9.1 examples/s]") == "Map"
    assert marks.mark("pty", " " * 60) == "Map"
    assert marks.mark("logs/x.log", " " * 60) is None              # per source
    assert marks.mark("pty", "{'loss': 0.1}") is None and marks.mark("pty", "") is None


# ---------------------------------------------------------------- the message cache

def test_a_repeated_message_parses_as_it_did_the_first_time_whatever_its_header():
    """Each message is parsed once and its event copied after (a flood repeats a few messages
    under moving timestamps): the copy must carry this line's header, never the first one's."""
    msg = "Already finished round: 1201. Next check in 5.0s."
    a = parse_line(f"[2026-01-01 12:00:00,001][{GD}][INFO] - {msg}")
    b = parse_line(f"[2026-01-01 12:00:07,002][genrl.other][WARNING] - {msg}")
    c = parse_line(msg)
    assert (a.timestamp, a.logger, a.level) == ("2026-01-01 12:00:00,001", GD, "INFO")
    assert (b.timestamp, b.logger, b.level) == ("2026-01-01 12:00:07,002", "genrl.other", "WARNING")
    assert (c.timestamp, c.logger, c.level) == (None, None, None)
    assert a.round == b.round == c.round == 1201 and a is not b


def test_the_message_cache_changes_no_event_of_any_fixture():
    from pathlib import Path

    from swarmtui.node import logparse

    lines = []
    for path in sorted((Path(__file__).parent / "fixtures" / "node").iterdir()):
        lines += path.read_text(errors="replace").splitlines()
    lines += lines                      # the second pass is served from the cache
    logparse._MESSAGES.clear()
    cached = [parse_line(t) for t in lines]
    fresh = []
    for t in lines:
        logparse._MESSAGES.clear()
        fresh.append(parse_line(t))
    assert len(lines) > 1000 and sum(e is not None for e in cached) > 200
    assert cached == fresh
    assert [type(e) for e in cached] == [type(e) for e in fresh]
