"""Issue 13 items 3, 4, 8, 9 with the Supervisor on the simulator as a real process tree:
the venv the node runs in (venv/, a wrong python, [launch] venv), the Docker way (the stand-in
Docker of swarmtui/sim/docker.py: daemon apart, CLI on PATH), a new identity seen from swarm.pem
when the trainer's log stays silent (main), v0.5's logs/training_<animal>.log followed once it
appears, and `running` announced when the trainer speaks, not at the login."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pytest

from swarmtui.engine import events as ev
from swarmtui.engine.config import LaunchConfig
from swarmtui.sim.docker import write_cli
from supervisor_support import fast_config, harnesses
from test_sim_support import ours

pytestmark = [pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux process semantics"),
              pytest.mark.timeout(120)]


@pytest.fixture
async def harness(tmp_path):
    async for make in harnesses(tmp_path):
        yield make


def notices(h, level: str | None = None) -> list[str]:
    return [n.text for n in h.of(ev.Notice) if level is None or n.level == level]


def index_of(h, pred) -> int:
    return next(i for i, e in enumerate(h.events) if pred(e))


# ---------------------------------------------------------------- item 3: which python


async def test_a_venv_folder_named_venv_is_used(harness):
    h = harness("codezero", "healthy", venv="venv")
    await h.sup.start()
    await h.wait_state(ev.RUNNING)
    version = "%d.%d.%d" % sys.version_info[:3]
    want = f"the node will run {h.root / 'venv' / 'bin' / 'python'} (Python {version})"
    assert any(t.startswith(want) and "the checkout's venv/" in t for t in notices(h, "info")), notices(h)
    snap = await h.wait_for(lambda e: isinstance(e, ev.ProcessSnapshot) and any(p.role == "trainer" for p in e.procs))
    trainer = next(p for p in snap.procs if p.role == "trainer")
    assert psutil.Process(trainer.pid).environ()["VIRTUAL_ENV"] == str(h.root / "venv")
    assert not h.of(ev.PreflightFailed)


async def test_the_wrong_python_is_named_in_the_hint_and_the_config_fixes_it(harness, tmp_path):
    # The node: its venv is not where swarmtui looks, so the script's plain `python` is
    # PATH's, which lacks hydra: `No module named 'hydra'` (rl-swarm's swarm_launcher.py imports
    # hydra first). The sim's shims (node, yarn, pip) stay reachable later on PATH.
    sysbin = tmp_path / "sysbin"
    sysbin.mkdir()
    (sysbin / "python").symlink_to(getattr(sys, "_base_executable", sys.executable))
    myenv_bin = tmp_path / "node0" / "myenv" / "bin"
    path = os.pathsep.join([str(sysbin), str(myenv_bin), os.environ.get("PATH", "")])
    h = harness("rgym", "healthy", venv="myenv", login="auto", env={"PATH": path})
    await h.sup.start()
    state = await h.wait_state(ev.NEEDS_USER, timeout=40)
    assert state.reason == "python-module-missing"
    det = next(d for d in h.of(ev.Detected) if d.id == "python-module-missing")
    assert det.text == "ModuleNotFoundError: No module named 'hydra'" and det.source == "pty"
    assert det.hint.startswith("the node ran python from PATH: no venv was found") and "[launch] venv" in det.hint
    assert "[launch] venv" in state.detail
    assert any(t.startswith(f"the node will run {sysbin / 'python'} (Python ") for t in notices(h, "info"))
    assert not h.of(ev.RestartScheduled)             # one run: a restart finds the same python
    (rec,) = [e.record for e in h.of(ev.HistoryAppended)]
    assert rec["reason"] == "python-module-missing" and rec["action"] == "needs-user"

    h.sup.config.launch = LaunchConfig(venv="myenv")
    mark = len(h.events)
    h.sup.send(ev.StartNode())
    await h.wait_for(lambda e: isinstance(e, ev.StateChanged) and e.state == ev.RUNNING, since=mark, timeout=40)
    want = f"the node will run {myenv_bin / 'python'} (Python "
    assert any(t.startswith(want) and "([launch] venv)" in t for t in notices(h, "info"))


async def test_a_configured_venv_that_is_not_there_blocks_the_start(harness):
    cfg = fast_config()
    cfg.launch = LaunchConfig(venv="no-such-env")
    h = harness("codezero", "healthy", config=cfg)
    await h.sup.start()
    state = await h.wait_state(ev.NEEDS_USER, reason="preflight")
    assert state.detail.startswith("[launch] venv = 'no-such-env': no such folder")
    (failed,) = h.of(ev.PreflightFailed)
    assert "python3 -m venv" in failed.problems[0]
    assert h.sup._run is None and h.leftovers() == []


# ---------------------------------------------------------------- item 9: running = the trainer speaks


async def test_running_comes_with_the_trainer_not_with_the_login(harness):
    h = harness("rgym", "healthy", login="delay", speed=100.0)
    await h.sup.start()
    await h.wait_state(ev.LOGIN_REQUIRED, timeout=40)
    await h.wait_state(ev.RUNNING, timeout=40)
    logged_in = index_of(h, lambda e: isinstance(e, ev.StateChanged) and e.reason == "logged-in")
    assert h.events[logged_in].state == ev.STARTING            # logged in, still installing and asking
    running = index_of(h, lambda e: isinstance(e, ev.StateChanged) and e.state == ev.RUNNING)
    assert logged_in < running
    good_luck = index_of(h, lambda e: isinstance(e, ev.LinesOut)
                         and any(">> Good luck in the swarm!" in ln.text for ln in e.lines))
    prompts = [i for i, e in enumerate(h.events) if isinstance(e, ev.PromptSeen) and e.answered]
    assert prompts and max(prompts) < running and good_luck < running
    # the line that made it `running` is the trainer's own
    before = [ln.text for e in h.events[:running] if isinstance(e, ev.LinesOut) for ln in e.lines]
    assert any("genrl.logging_utils.global_defs" in t or "hivemind" in t for t in before[-5:]), before[-5:]


# ---------------------------------------------------------------- item 8: identity and training log


async def test_main_silences_hivemind_so_the_new_pem_itself_is_the_warning(harness):
    # code_gen_exp/runner/swarm_launcher.py (v0.7.0, main) sets the hivemind logger to CRITICAL:
    # no `Generating new identity` line. swarm.pem appearing during the run is the sign.
    h = harness("codezero", "healthy")
    assert not (h.root / "swarm.pem").exists()
    await h.sup.start()
    det = await h.wait_kind(ev.Detected, id="new-identity-generated")
    assert det.source == "engine" and det.action == "warn"
    assert det.text.startswith(f"{h.root / 'swarm.pem'} appeared while the node runs: new peer id Qm")
    assert not any("Generating new identity" in ln.text for ln in h.lines())
    await h.wait_for(lambda e: isinstance(e, ev.Notice) and "a NEW identity" in e.text and "just created" in e.text)
    await h.wait_state(ev.RUNNING)


async def test_where_hivemind_says_it_the_line_is_the_warning_and_no_second_one(harness):
    h = harness("rgym", "healthy")
    await h.sup.start()
    await h.wait_for(lambda e: isinstance(e, ev.ProgressUpdate) and e.rounds_completed >= 1, what="a round")
    found = [d for d in h.of(ev.Detected) if d.id == "new-identity-generated"]
    assert [d.source for d in found] == ["pty"]
    assert (h.root / "swarm.pem").exists()


async def test_the_v0_5_training_log_is_followed_once_it_appears(harness):
    def v058_manager(root: Path) -> None:
        # the shape of rgym_exp/src/manager.py in v0.5.2 ... v0.5.8 (its FileHandler line)
        (root / "rgym_exp" / "src" / "manager.py").write_text(
            "import os\n\nclass SwarmGameManager:\n    def __init__(self, log_dir='logs'):\n"
            "        self.file = os.path.join(log_dir, f\"training_{self.animal_name}.log\")\n")
        (root / "logs").mkdir(exist_ok=True)
        (root / "logs" / "training_old_run_bat.log").write_text("[old_run_bat] 2025-07-01 10:00:00,000 INFO: before\n")

    h = harness("rgym", "healthy", edit=v058_manager)
    assert h.sup.layout.log_globs == ("logs/training_*.log",)
    await h.sup.start()
    await h.wait_state(ev.RUNNING)
    path = h.root / "logs" / "training_dormant_toothy_bat.log"
    with open(path, "a") as fh:
        fh.write("[dormant_toothy_bat] 2025-07-26 12:00:00,000 INFO: from the training log\n")
    line = await h.wait_for(lambda e: isinstance(e, ev.LinesOut) and any(
        ln.source == "logs/training_dormant_toothy_bat.log" for ln in e.lines), what="training log lines")
    got = [ln for ln in line.lines if ln.source == "logs/training_dormant_toothy_bat.log"]
    assert got[0].text.endswith("INFO: from the training log") and got[0].line == 1
    assert "following logs/training_dormant_toothy_bat.log" in notices(h, "info")
    # the old file is followed from its end: its line from before the start is not news
    with open(h.root / "logs" / "training_old_run_bat.log", "a") as fh:
        fh.write("[old_run_bat] 2025-07-26 12:00:01,000 INFO: appended\n")
    await h.wait_for(lambda e: isinstance(e, ev.LinesOut) and any(
        ln.source == "logs/training_old_run_bat.log" for ln in e.lines), what="old file's new line")
    old = [ln.text for ln in h.lines() if ln.source == "logs/training_old_run_bat.log"]
    assert old == ["[old_run_bat] 2025-07-26 12:00:01,000 INFO: appended"]


# ---------------------------------------------------------------- item 4: the Docker way


@pytest.fixture
def dockerd(tmp_path):
    bin_dir = tmp_path / "docker-bin"
    write_cli(bin_dir)
    sock_dir = Path(tempfile.mkdtemp(prefix="sdk", dir="/tmp"))
    sock = sock_dir / "docker.sock"
    state = tmp_path / "dockerd"
    proc = subprocess.Popen([sys.executable, "-m", "swarmtui.sim.docker", "daemon", "--socket", str(sock),
                             "--state", str(state)], start_new_session=True, stdin=subprocess.DEVNULL)
    end = time.monotonic() + 20
    while not sock.exists() and time.monotonic() < end:
        time.sleep(0.05)
    env = {"DOCKER_HOST": f"unix://{sock}", "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    try:
        yield env, state
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        sock.unlink(missing_ok=True)
        sock_dir.rmdir()
        assert ours(state) == [], "a container process outlived its daemon"


def docker_config(service: str = "swarm-cpu"):
    cfg = fast_config()
    cfg.launch = LaunchConfig(command=("docker", "compose", "run", "--rm", "--build", "-Pit", service))
    return cfg


def docker_ps(env) -> list[str]:
    out = subprocess.run(["docker", "ps", "--format", "{{.Names}}"], env=dict(os.environ, **env),
                         capture_output=True, text=True, timeout=30)
    return out.stdout.split()


async def test_the_docker_way_runs_watches_and_stops_only_its_container(harness, dockerd):
    env, state = dockerd
    h = harness("rgym", "healthy", login="auto", config=docker_config(), env=env)
    lay = h.sup.layout
    assert lay.launch == "docker" and lay.identity_path == h.root / "user" / "keys" / "swarm.pem"
    await h.sup.start()
    await h.wait_state(ev.RUNNING, timeout=40)
    assert any(t.startswith("the node runs the Docker way: docker compose run") for t in notices(h, "info"))
    # our name and label on the command; the container is listed by the daemon under that name
    client = psutil.Process(h.sup.own.launch_pid).cmdline()
    name = client[client.index("--name") + 1]
    assert name.startswith("swarmtui-") and f"swarmtui.run-id={h.sup.own.run_id}" in client
    assert docker_ps(env) == [name]
    # the script ran inside: the Docker branch, the volumes under user/, prompts answered
    text = h.text()
    assert f">> Please open http://localhost:{h.port} in your host browser." in text
    assert [p.rule for p in h.of(ev.PromptSeen) if p.answered] == ["hf_push", "model", "prediction_market"]
    ident = await h.wait_for(lambda e: isinstance(e, ev.IdentityChanged) and e.report.get("peer_id"))
    assert ident.report["pem_path"] == str(h.root / "user" / "keys" / "swarm.pem")
    assert ident.report["login"]["user_data"] is True          # user/modal-login/userData.json
    await h.wait_for(lambda e: isinstance(e, ev.LinesOut) and any(
        ln.source == "user/logs/swarm_launcher.log" for ln in e.lines), what="user/logs lines")
    # the container's processes are not ours: nothing of the node but the client is in our tree
    snap = h.of(ev.ProcessSnapshot)[-1]
    assert {p.role for p in snap.procs if p.ours} <= {"launcher", "other"}

    h.sup.send(ev.StopNode())
    await h.wait_state(ev.STOPPED, reason="manual", timeout=40)
    steps = {s.step: s for s in h.of(ev.StopStep)}
    assert steps["ctrl-c"].remaining == 0 and "exited" in steps["ctrl-c"].detail
    assert steps["docker-stop"].detail == f"docker stop {name}: already gone"
    assert docker_ps(env) == []
    assert ours(state / "containers") == [] and h.leftovers() == []
    # the script's own clean-up ran in the container: the EXIT trap removed the login files
    assert not (h.root / "user" / "modal-login" / "userData.json").exists()


async def test_a_client_that_dies_leaves_its_container_which_is_stopped_by_name(harness, dockerd):
    env, state = dockerd
    cfg = docker_config()
    cfg.restart.backoff_initial = 30.0
    cfg.restart.backoff_max = 30.0
    h = harness("codezero", "healthy", login="auto", config=cfg, env=env)
    await h.sup.start()
    await h.wait_state(ev.RUNNING, timeout=40)
    (name,) = docker_ps(env)
    # the client is gone (a crash, a lost terminal): real docker leaves the container running
    os.kill(h.sup.own.launch_pid, 9)
    await h.wait_state(ev.BACKOFF, timeout=40)
    stop = next(s for s in h.of(ev.StopStep) if s.step == "docker-stop")
    assert stop.detail == f"docker stop {name}: stopped" and stop.remaining == 0
    assert not any(s.step == "ctrl-c" for s in h.of(ev.StopStep))     # no terminal left to type into
    assert docker_ps(env) == [] and ours(state / "containers") == []
    rec = h.of(ev.HistoryAppended)[-1].record
    assert rec["reason"] == "exited" and rec["action"] == "restart"
