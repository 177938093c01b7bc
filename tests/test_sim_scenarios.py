"""Every scenario prints the lines it promises, in the era's format, on the right stream and file.

The script runs on pipes here (answers piped in), so stdout and stderr stay apart as the trainer
wrote them; the engine's pty merges them.
"""

from __future__ import annotations

import ast
import io
import json
import os
import re
import time

import psutil
import pytest

from swarmtui.node.diagnose import Diagnoser
from swarmtui.sim import create_checkout
from tests.procs import running
from test_sim_support import Node, free_port, kill_leftovers, ours, strip

ANSWERS = {"hivemind": b"Y\nA\n0.5\nN\n", "rgym": b"N\n\n\n", "codezero": b"N\n\n"}
HYDRA = r"\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}\]\[genrl\.logging_utils\.global_defs\]\[{lvl}\] - "
HM_LINE = r"[A-Z][a-z]{2} \d\d \d\d:\d\d:\d\d\.\d{3} \[{lvl}\]"
RED = ">> An error was detected while running rl-swarm."
P2PD_ERR = "hivemind.p2p.p2p_daemon_bindings.utils.P2PDaemonError: "


@pytest.fixture(scope="module")
def pem_bytes(tmp_path_factory):
    """One key for the runs that need an existing swarm.pem (hivemind checks it is not taken)."""
    from swarmtui.sim.identity import write_new_identity

    path = tmp_path_factory.mktemp("pem") / "swarm.pem"
    write_new_identity(path)
    return path.read_bytes()


@pytest.fixture
def run(tmp_path):
    nodes: list[Node] = []

    def start(era, scenario, speed=400.0, login="present", pem=None, answers=True):
        root = create_checkout(tmp_path / f"n{len(nodes)}", era, scenario=scenario, speed=speed, port=free_port(),
                               login=login)
        if pem is not None:
            (root / "swarm.pem").write_bytes(pem)
        stdin = answers if isinstance(answers, bytes) else ANSWERS[era] if answers else b""
        node = Node(root, pty=False, stdin=stdin)
        nodes.append(node)
        return node

    def adopt(node: Node) -> Node:
        nodes.append(node)
        return node

    start.tmp = tmp_path
    start.adopt = adopt
    yield start
    for node in nodes:
        node.kill_all()
        assert not ours(node.root)


def hydra(level: str) -> str:
    return HYDRA.replace("{lvl}", level)


def test_healthy_rgym_rounds_advance_with_a_skip(run):
    node = run("rgym", "healthy")
    node.wait_for(hydra("INFO") + r"Starting round: \d+/1000000\.\n(?s:.*)Starting round: \d+/1000000\.\n"
                  r"(?s:.*)Starting round: \d+/1000000\.\n(?s:.*)Starting round", timeout=40, where="stdout")
    out = node.stdout
    starts = [int(x) for x in re.findall(r"Starting round: (\d+)/1000000\.", out)]
    joins = [int(x) for x in re.findall(r"🐝 Joining round: (\d+)\n", out)]
    assert joins and all(b > a for a, b in zip(starts, starts[1:]))
    assert any(j - s >= 2 for s, j in zip(starts, joins)), (starts, joins)  # a skipped round
    assert re.search(hydra("INFO") + r"Already finished round: \d+\. Next check in 5\.0s\.", out)
    # hydra lines go to stdout and the append-only file (which also has DEBUG); hivemind's to stderr
    assert "[genrl.logging_utils.global_defs]" not in node.stderr
    assert re.search(HM_LINE.replace("{lvl}", "INFO") + r" Generating new identity to be saved in `.*swarm\.pem`",
                     node.stderr)
    assert re.search(r"\rMap: 100%\|[█]+\| 2/2 \[", node.stderr)
    assert "wandb: Run data is saved locally in ./logs/wandb/offline-run-" in node.stderr
    log = (node.root / "logs/swarm_launcher.log").read_text()
    assert re.search(hydra("DEBUG") + "Could not fetch round and stage: .* Next check in 5.0s.", log)
    assert re.search(hydra("INFO") + r"🐱 Hello 🐈 \[[a-z ]+\] 🦮 \[Qm\w+\]!", log)
    assert "Could not fetch round and stage" not in out
    assert not (node.root / "logs/swarm.log").exists()


def test_healthy_hivemind_streams_bars_rewards_and_swarm_log(run, pem_bytes):
    node = run("hivemind", "healthy", speed=600.0, pem=pem_bytes)
    node.wait_for(r"📉 Finished training round: \d+ stage: 2", timeout=40, where="stderr")
    err, out = node.stderr, node.stdout
    # colorlog on stderr, green even on a pipe, logger name tagged with the animal name
    m = re.search(r"\x1b\[32mINFO:hivemind_exp\.trainer\.hivemind_grpo_trainer:([a-z]+ [a-z]+ [a-z]+):"
                  r"🐝 Joining round: (\d+) starting at stage: (\d)\x1b\[0m", err)
    assert m
    assert re.search(r"\x1b\[32mINFO:hivemind_exp\.runner\.grpo_runner:🐱 Hello 🐈 \[" + m.group(1) + r"\] 🦮 \[Qm\w+\]!", err)
    assert re.search(HM_LINE.replace("{lvl}", "INFO") + r" Checking that identity from `.*swarm\.pem` is not used", err)
    assert "Peer ID [Qm" in err and "is already registered! Continuing." in err
    # tqdm bars redrawn with \r on stderr (10 cells off a terminal), trl dicts and metrics on stdout
    assert re.search(r"\r  5%\|[ ▏▎▍▌▋▊▉█]{10}\| 1/20 \[\d\d:\d\d<\d\d:\d\d, [\d.]+s/it\]", err)
    assert re.search(r"\r100%\|█{10}\| 20/20 \[", err)
    # the node joins at whatever stage the swarm is in; every stage has a *correctness_reward_func
    assert re.search(r"^\{'loss': [\d.e-]+, 'grad_norm': .*'rewards/\w*correctness_reward_func': .*'reward': .*'epoch': 0\.1\}$",
                     out, re.M)
    assert "***** train metrics *****" in out
    assert "{'loss'" not in err
    log = (node.root / "logs/swarm.log").read_text()
    assert re.search(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} - INFO - hivemind_exp\.runner\.grpo_runner:142 - 🐱 Hello",
                     log, re.M)
    assert re.search(r" - DEBUG - root:\d+ - \[PRINT\] \{'loss': ", log)
    assert "[---------] SYSTEM INFO [---------]" in log


def test_healthy_codezero_hello_and_hidden_hivemind(run):
    node = run("codezero", "healthy")
    node.wait_for(r"🐝 Joining round: \d+", timeout=40, where="stdout")
    out = node.stdout
    assert re.search(hydra("INFO") + r"============!!!Joining CodeZero Swarm!!!============\n"
                     + hydra("INFO") + r"🐝 Hello \[[a-z]+ [a-z]+ [a-z]+\] \[Qm\w{44}\]!\n"
                     + hydra("INFO") + r"Using Model: Qwen/Qwen2.5-Coder-0.5B-Instruct", out)
    assert re.search(hydra("INFO") + r"bootnodes: \['/ip4/", out)
    assert "Generating new identity" not in node.stderr  # codezero sets hivemind's logger to CRITICAL
    assert (node.root / "swarm.pem").exists()


@pytest.mark.parametrize("era, seconds, pem", [("rgym", "120.0", False), ("hivemind", "30.0", False),
                                               ("hivemind", "15.0", True)])
def test_p2pd_timeout(run, pem_bytes, era, seconds, pem):
    node = run(era, "p2pd-timeout", pem=pem_bytes if pem else None)
    node.wait_exit(40)
    err = node.stderr
    assert f"{P2PD_ERR}Daemon failed to start in {seconds} seconds" in err
    if era == "hivemind":
        assert err.count("Traceback (most recent call last):") == 1
    else:
        assert "Error executing job with overrides: []" in err
        assert "full_key: game_manager.communication" in err
    assert RED in strip(node.stdout)


def _p2pds(root) -> list[tuple[list[str], list[str], list[str]]]:
    """(its command line, its parent's, its grandparent's) for every p2pd running from this checkout."""
    out = []
    for proc in ours(root):
        try:
            if proc.name() == "p2pd":
                parent = proc.parent()
                out.append((proc.cmdline(), parent.cmdline(), parent.parent().cmdline()))
        except (psutil.Error, AttributeError):
            pass
    return out


def test_identity_check_runs_an_anonymous_client_daemon_that_times_out(run, pem_bytes):
    """hivemind's P2P.is_identity_taken: with swarm.pem present, the DHT child first starts a p2pd
    without -id as a DHT client; its 15 s default timeout is the one that fails (facts §5, #294)."""
    node = run("hivemind", "p2pd-timeout", speed=4.0, pem=pem_bytes)     # the check lives 15 s / 4
    node.wait_for("Checking that identity from", timeout=40, where="stderr")
    seen: list = []
    end = time.monotonic() + 10
    while not seen and time.monotonic() < end:
        seen = _p2pds(node.root)
        time.sleep(0.05)
    assert len(seen) == 1, seen
    cmd, parent, grandparent = seen[0]
    assert not [a for a in cmd if a.startswith("-id=")] and "-dhtClient=1" in cmd
    assert "-hostAddrs=/ip4/127.0.0.1/tcp/0" in cmd
    # started by the DHT child, a fork of the trainer with the trainer's command line
    assert parent == grandparent and "hivemind_exp.gsm8k.train_single_gpu" in " ".join(parent)
    node.wait_exit(40)
    assert f"{P2PD_ERR}Daemon failed to start in 15.0 seconds" in node.stderr
    assert _p2pds(node.root) == [], "the check daemon is shut down after its timeout"


def test_identity_check_daemon_is_gone_once_the_node_runs(run, pem_bytes):
    node = run("rgym", "healthy", pem=pem_bytes)
    node.wait_for(r"🐱 Hello", timeout=40, where="stdout")
    daemons = _p2pds(node.root)
    assert [c for c, *_ in daemons if f"-id={node.root / 'swarm.pem'}" in c and "-dht=1" in c] == [c for c, *_ in daemons]
    assert len(daemons) == 1


def test_bootstrap_failed(run):
    node = run("hivemind", "bootstrap-failed")
    node.wait_exit(40)
    assert re.search(re.escape(P2PD_ERR) + r"Daemon failed to start: \d{4}/\d\d/\d\d \d\d:\d\d:\d\d failed to "
                     r"connect to bootstrap peers$", node.stderr, re.M)
    assert RED in strip(node.stdout)


def test_identity_taken(run):
    node = run("rgym", "identity-taken")
    node.wait_exit(40)
    pem = node.root / "swarm.pem"
    assert re.search(HM_LINE.replace("{lvl}", "INFO") + f" Checking that identity from `{re.escape(str(pem))}` is not used",
                     node.stderr)
    assert f"{P2PD_ERR}Identity from `{pem}` is already taken by another peer" in node.stderr
    assert RED in strip(node.stdout)


def _trainer_exits_but_script_waits(node) -> None:
    """genrl returns normally: python exits 0, so no ERR trap; the script's `wait` then blocks on
    the login server it started in the background, and the node sits there silently."""
    node.wait_for(r"wandb: Find logs at", timeout=40, where="stderr")
    trainer = node.state()["trainer_pid"]
    deadline = time.monotonic() + 10
    while running(trainer):
        assert time.monotonic() < deadline, "the trainer did not exit"
        time.sleep(0.05)
    time.sleep(0.5)
    assert node.proc.poll() is None
    assert RED not in strip(node.stdout) and ">> Shutting down trainer..." not in strip(node.stdout)


def test_dht_errno11(run):
    node = run("rgym", "dht-errno11")
    _trainer_exits_but_script_waits(node)
    err = node.stderr
    assert re.search(HM_LINE.replace("{lvl}", "ERROR") + r" \[hivemind\.dht\.dht\._run:131\] \[Errno 11\] "
                     r"Resource temporarily unavailable", err)
    assert "BlockingIOError: [Errno 11] Resource temporarily unavailable" in err
    assert re.search(r"^Process DHT-1:\nTraceback", err, re.M) and "EOFError: Ran out of input" in err
    assert re.search(hydra("ERROR") + r"Exception occurred during game run\.", node.stdout)


def test_dht_errno11_hivemind_exits_non_zero(run, pem_bytes):
    node = run("hivemind", "dht-errno11", speed=800.0, pem=pem_bytes)
    node.wait_exit(40)
    err = node.stderr
    assert "[Errno 11] Resource temporarily unavailable" in err and "Process DHT-1:" in err
    assert re.search(r"WARNING:hivemind_exp\.trainer\.hivemind_grpo_trainer:[a-z ]+:DHT IPC error: \[Errno 11\] "
                     r"Resource temporarily unavailable\. Restarting training\.\.\.", err)
    assert err.rstrip().endswith("EOFError: Ran out of input") or "EOFError: Ran out of input\nwandb" in err
    assert RED in strip(node.stdout)


def test_oom_killed_leaves_its_p2pd_behind(run):
    node = run("codezero", "oom-killed")
    node.wait_exit(40)
    out = strip(node.stdout + node.stderr)
    assert re.search(r"run_rl_swarm\.sh: line \d+: +\d+ Killed +python -m code_gen_exp\.runner\.swarm_launcher", out)
    assert RED in out and ">> Shutting down trainer..." in out
    pid = node.state()["p2pd_pid"]
    assert psutil.pid_exists(pid), "the p2pd should have outlived the trainer and the group kill"
    p2pd = psutil.Process(pid)
    assert p2pd.name() == "p2pd" and f"-id={node.root / 'swarm.pem'}" in p2pd.cmdline()
    assert p2pd.ppid() != node.state()["trainer_pid"]
    sock = [a for a in p2pd.cmdline() if a.startswith("-listen=")][0][len("-listen=/unix"):]
    p2pd.terminate()  # the daemon removes its socket on SIGTERM
    p2pd.wait(5)
    assert not os.path.exists(sock)


def test_cuda_oom_hivemind(run, pem_bytes):
    node = run("hivemind", "cuda-oom", speed=800.0, pem=pem_bytes)
    node.wait_exit(40)
    err = node.stderr
    assert "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.32 GiB." in err
    assert re.search(r"\x1b\[32mERROR:hivemind_exp\.trainer\.hivemind_grpo_trainer:[a-z ]+:Exception during training", err)
    assert RED in strip(node.stdout)


def test_game_run_exception_exits_zero(run):
    node = run("codezero", "game-run-exception")
    _trainer_exits_but_script_waits(node)
    out = node.stdout
    assert re.search(hydra("ERROR") + r"Exception occurred during game run\.\nTraceback", out)
    assert "RuntimeError: probability tensor contains either `inf`, `nan` or element < 0" in out
    assert "Stack (most recent call last):" in out
    assert "wandb: You can sync this run to the cloud by running:" in node.stderr


@pytest.mark.parametrize("era", ["rgym", "hivemind"])
def test_trainer_exit_clean_leaves_the_script_waiting_without_a_word(run, pem_bytes, era):
    node = run(era, "trainer-exit-clean", speed=800.0, pem=pem_bytes if era == "hivemind" else None)
    _trainer_exits_but_script_waits(node)
    text = strip(node.stdout + node.stderr)
    assert text.count("Training timed out!") == 1
    assert "Traceback" not in text and "Exception" not in text and "ERROR" not in text
    if era == "rgym":
        assert re.search(hydra("INFO") + r"Training timed out!", node.stdout)
    # the login server the script waits on is still there
    assert any("next" in " ".join(p.cmdline()) or p.name() == "node" for p in psutil.Process(node.proc.pid).children(True))


def test_game_run_exception_hivemind_is_the_current_batch_crash(run, pem_bytes):
    node = run("hivemind", "game-run-exception", speed=800.0, pem=pem_bytes)
    node.wait_exit(40)
    assert "UnboundLocalError: cannot access local variable 'current_batch' where it is not associated with a value" \
        in node.stderr
    assert RED in strip(node.stdout)


def test_hang_goes_silent_and_stays_alive(run):
    node = run("rgym", "hang")
    node.wait_for(r"🐝 Joining round: \d+", timeout=40, where="stdout")
    time.sleep(1.0)
    size = node.out.nbytes + node.err.nbytes
    time.sleep(2.0)  # several rounds of node time at this speed
    assert node.out.nbytes + node.err.nbytes == size
    assert node.proc.poll() is None and psutil.pid_exists(node.state()["trainer_pid"])


def test_stall_repeats_already_finished_round(run):
    node = run("rgym", "stall", speed=2000.0)
    node.wait_for(r"(Already finished round: \d+\. Next check in [\d.]+s\.\n(?s:.*)){6}", timeout=40, where="stdout")
    rounds = set(re.findall(r"Already finished round: (\d+)\.", node.stdout))
    assert len(rounds) == 1
    assert "🐝 Joining round" not in node.stdout
    assert "Next check in 160.0s." in node.stdout


def test_flood(run):
    node = run("rgym", "flood")
    node.wait_for(r"Starting round", timeout=40, where="stdout")
    t0, n0 = time.monotonic(), node.stdout.count("SKIPPING: Failed to decode value")
    time.sleep(1.0)
    rate = (node.stdout.count("SKIPPING: Failed to decode value") - n0) / (time.monotonic() - t0)
    assert rate > 1000, rate
    assert re.search(hydra("WARNING") + "SKIPPING: Failed to decode value", node.stdout)


def test_login_wait(run):
    node = run("codezero", "login-wait", login=None)
    node.wait_for(r">> Waiting for modal userData.json to be created\.\.\.", timeout=30)
    time.sleep(1.5)  # 300 s of node time at this speed
    assert "Found userData.json" not in node.text and node.proc.poll() is None


def test_port_in_use(run):
    node = run("rgym", "port-in-use", login=None)
    node.wait_for(r">> Waiting for modal userData.json to be created\.\.\.", timeout=30)
    port = int(re.search(r"localhost:\$\{SWARMTUI_SIM_PORT:-(\d+)\}", (node.root / "run_rl_swarm.sh").read_text()).group(1))
    yarn_log = node.root / "logs/yarn.log"
    deadline = time.monotonic() + 10
    while "EADDRINUSE" not in yarn_log.read_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert f"Error: listen EADDRINUSE: address already in use :::{port}" in yarn_log.read_text()
    holder = psutil.Process(node.state()["port_holder_pid"])
    assert holder.cwd() == "/" and holder.pid not in {p.pid for p in psutil.Process(node.proc.pid).children(True)}
    # a stranger: no marker or sim variable of ours, another session and group, not the node's child
    assert not [k for k in holder.environ() if k.startswith("SWARMTUI")]
    assert os.getsid(holder.pid) not in (os.getsid(node.proc.pid), node.pgid)
    assert os.getpgid(holder.pid) != node.pgid and holder.ppid() != node.proc.pid
    assert node.proc.poll() is None  # the script does not notice
    node.kill_all()
    assert not running(holder.pid), "cleaned up by pid"


@pytest.mark.parametrize("leftover", ["user-data-and-pending-key", "user-data-only"])
def test_auto_login_finishes_a_login_an_earlier_run_left_half_done(run, leftover):
    """A stopping run's browser can write after the script's cleanup `rm`: the next run then
    finds userData.json with a key that is not activated (or none). The simulated person logs
    in again from the page, so the run goes on instead of waiting for ever."""
    from swarmtui.sim.login import logged_in_org, write_api_key, write_user_data

    node_root = create_checkout(run.tmp / "left", "rgym", scenario="healthy", speed=400.0, port=free_port(),
                                login="auto")
    org = write_user_data(node_root)
    if leftover == "user-data-and-pending-key":
        write_api_key(node_root, org, activated=False)
    node = run.adopt(Node(node_root, pty=False, stdin=ANSWERS["rgym"]))
    node.wait_for(r"API key is activated! Proceeding\.\.\.", timeout=30, where="stdout")
    node.wait_for(r"🐝 Joining round: \d+", timeout=40, where="stdout")
    assert f"Your ORG_ID is set to: {org}" in node.stdout and logged_in_org(node_root) == org


def test_chain_submit_transient_keeps_training(run):
    node = run("rgym", "chain-submit-transient")
    node.wait_for(r"Failed to submit to chain\.(?s:.*)🐝 Joining round: \d+", timeout=40, where="stdout")
    assert re.search(hydra("ERROR") + r"Failed to submit to chain\.\nThis is most likely transient and will recover\.\n"
                     r"There is no need to kill the program\.\n", node.stdout)
    assert "requests.exceptions.HTTPError: 500 Server Error" in node.stdout
    assert node.proc.poll() is None


def test_demo_logs_in_crashes_once_then_stays_healthy(tmp_path):
    root = create_checkout(tmp_path / "demo", "codezero", scenario="demo", speed=800.0, port=free_port())
    first = Node(root, pty=False, stdin=ANSWERS["codezero"])
    second = None
    try:
        _trainer_exits_but_script_waits(first)
        first.kill_all()  # what a supervisor does with a node that sits in `wait`
        text = strip(first.stdout)
        assert "Waiting for API key to be activated..." in text or "API key is activated! Proceeding..." in text
        # the first round dies (about 20 s into `swarmtui demo`): a fault, the restart and the
        # recovery all show within the demo's first minute
        assert text.count("Starting round") == 1
        assert "Exception occurred during game run." in text
        second = Node(root, pty=False, stdin=ANSWERS["codezero"])
        second.wait_for(r"(🐝 Joining round: \d+\n(?s:.*)){3}", timeout=40, where="stdout")
        assert "Exception occurred" not in second.stdout
        assert second.state()["runs"] == 2
    finally:
        first.kill_all()
        if second:
            second.kill_all()
        kill_leftovers(root)
    assert not ours(root)


def test_scenario_list_plays_one_per_run(tmp_path):
    root = create_checkout(tmp_path / "l", "rgym", scenario="p2pd-timeout,healthy", speed=400.0, port=free_port(),
                           login="present")
    first = Node(root, pty=False, stdin=ANSWERS["rgym"])
    second = None
    try:
        first.wait_exit(40)
        assert "Daemon failed to start in 120.0 seconds" in first.stderr
        from swarmtui.sim.login import play_login

        play_login(root)  # the first run's cleanup removed the login, as upstream's does
        second = Node(root, pty=False, stdin=ANSWERS["rgym"])
        second.wait_for(r"🐝 Joining round: \d+", timeout=40, where="stdout")
        assert "Daemon failed" not in second.stderr
    finally:
        first.kill_all()
        if second:
            second.kill_all()
    assert not ours(root)


def test_prediction_market_bets_records_and_resumes(run):
    """v0.6 PRG (prg_module.py): a clue per round, a bet of balance // rounds_remaining logged
    with the node's trailing newline and appended to logs/prg_record.txt, the previous game's
    reward claimed when a new game starts, and the state reloaded by the next run."""
    node = run("rgym", "healthy", speed=600.0)
    m = node.wait_for(r"successfully claimed reward for previous game (\d+)", timeout=60, where="stdout")
    out = node.stdout
    assert ">> Playing PRG game: true" in strip(out)
    clues = re.findall(hydra("INFO") + r"New clue received for PRG: (\{'game_id': \d+, 'clue_id': \d+, "
                       r"'rounds_remaining': \d+, 'clue': '[^']+', 'choices': \[[^]]+\]\})\n", out)
    assert clues
    bets = re.findall(hydra("INFO") + r"(Game (\d+) Round (\d+): Peer (Qm\w+) placed bet of (\d+\.\d\d) tokens "
                      r"on choice - (\w+)\n)\n", out)
    assert len(bets) >= len(clues) - 1 >= 1
    assert {b[3] for b in bets} == {node.state()["peer_id"]}
    first = ast.literal_eval(clues[0])
    assert first["choices"].count(bets[0][5]) == 1 and (int(bets[0][1]), int(bets[0][2])) == (first["game_id"], first["clue_id"])
    node.kill_all()
    record = (node.root / "logs/prg_record.txt").read_text()
    at = 0
    for bet in bets:            # every bet logged is in the record, in the same order
        at = record.index(bet[0], at) + len(bet[0])
    claims = re.findall(r"^successfully claimed reward for previous game (\d+)$", record, re.M)
    assert claims[0] == m.group(1)
    # what swarmtui makes of it: the terminal and the log file hold the same bets, counted once
    shown = re.findall(r"Game (\d+) Round (\d+): Peer Qm\w+ placed bet of (\d+\.\d\d) tokens on choice - (\w+)",
                       out + (node.root / "logs/swarm_launcher.log").read_text())
    d = Diagnoser()
    d.read(io.BytesIO(out.encode()), "terminal")
    with open(node.root / "logs/swarm_launcher.log", "rb") as fh:
        d.read(fh, "logs/swarm_launcher.log")
    market = d.finish().to_dict()["market"]
    last = max(shown, key=lambda b: (int(b[0]), int(b[1])))
    assert (market["game"], market["clue"], market["last_choice"]) == (int(last[0]), int(last[1]), last[3])
    assert market["bets"] == len({b[:2] for b in shown})
    assert market["staked"] == pytest.approx(sum({b[:2]: float(b[2]) for b in shown}.values()))
    assert market["claims"] >= 1 and market["last_claimed"] >= int(m.group(1))
    state = json.loads((node.root / "logs/prg_state.json").read_text())
    # the state file agrees with the record (the kill may land between the two writes)
    bet_games = [int(g) for g in re.findall(r"^Game (\d+) Round", record, re.M)]
    assert state["prg_last_game_claimed"] in [int(c) for c in claims[-2:]]
    assert state["prg_last_game_played"] in bet_games[-2:] and state["prg_last_game_played"] > int(m.group(1))

    from swarmtui.sim.login import play_login

    play_login(node.root)
    again = run.adopt(Node(node.root, pty=False, stdin=ANSWERS["rgym"]))
    again.wait_for(r"Using Model: ", timeout=40, where="stdout")
    again.wait_for(r"🐝 Joining round", timeout=40, where="stdout")
    assert re.search(
        hydra("INFO") + rf"Loaded PRG state from file:\n\tlast game claimed - {state['prg_last_game_claimed']},\n"
        rf"\tlast game played - {state['prg_last_game_played']}\n", again.stdout)


def test_prediction_market_declined_plays_nothing(run):
    node = run("rgym", "healthy", speed=600.0, answers=b"N\n\nn\n")
    node.wait_for(r"(🐝 Joining round: \d+\n(?s:.*)){3}", timeout=60, where="stdout")
    assert ">> Playing PRG game: false" in strip(node.stdout)
    assert "PRG" not in node.stdout.replace(">> Playing PRG game: false", "")
    assert not (node.root / "logs/prg_record.txt").exists() and not (node.root / "logs/prg_state.json").exists()
