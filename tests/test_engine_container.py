"""engine.container: the Docker way's command and its container, against the stand-in Docker of
swarmtui/sim/docker.py (a daemon apart from us and a `docker` CLI on PATH; real Docker cannot
run here). The compose commands are the README's (v0.5.0 ... main)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from swarmtui.engine import container as dw
from swarmtui.sim.docker import write_cli

pytestmark = [pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux processes"),
              pytest.mark.timeout(90)]

README_CPU = ["docker", "compose", "run", "--rm", "--build", "-Pit", "swarm-cpu"]


def test_our_name_and_label_go_right_after_run():
    argv, box = dw.prepare(README_CPU, run_id="node-ab12:0123456789ab", run=3)
    assert argv == ["docker", "compose", "run", "--name", "swarmtui-0123456789ab-3",
                    "--label", "swarmtui.run-id=node-ab12:0123456789ab", "--rm", "--build", "-Pit", "swarm-cpu"]
    assert box == dw.Container("swarmtui-0123456789ab-3", "docker")
    # docker-compose v1 (the README's first spelling), with global options before `run`
    argv, box = dw.prepare(["/usr/bin/docker-compose", "-f", "docker-compose.yaml", "run", "--rm", "swarm-gpu"],
                           run_id="k:ff", run=1, env={"PATH": "/nonexistent"})
    assert argv[:6] == ["/usr/bin/docker-compose", "-f", "docker-compose.yaml", "run", "--name", "swarmtui-ff-1"]
    assert box.name == "swarmtui-ff-1" and box.docker == "docker"
    # `docker --context x compose -p proj run` is still compose run
    assert dw.run_index(["docker", "--context", "x", "compose", "-p", "proj", "run", "swarm-cpu"]) == 6


def test_a_name_given_by_the_person_is_kept_and_other_commands_are_left_alone():
    argv = ["docker", "compose", "run", "--rm", "--name", "mynode", "-Pit", "swarm-cpu"]
    assert dw.prepare(argv, run_id="k:1", run=1) == (argv, dw.Container("mynode", "docker", given=True))
    argv = ["docker", "compose", "run", "--rm", "--name=mynode", "swarm-cpu", "--name", "not-ours"]
    assert dw.prepare(argv, run_id="k:1", run=1)[1].name == "mynode"
    # not a `compose run`: nothing to name, nothing we could stop by name
    for argv in (["docker", "compose", "up", "swarm-cpu"], ["docker", "run", "-it", "img"],
                 ["bash", "run_rl_swarm.sh"], ["docker", "compose", "-f", "run", "up"]):
        assert dw.prepare(argv, run_id="k:1", run=1) == (list(argv), None)
    assert dw.is_docker_command(["/opt/bin/docker", "compose"]) and not dw.is_docker_command(["bash"])
    assert dw.run_options(README_CPU) == ["--rm", "--build", "-Pit"]


@pytest.fixture
def dockerd(tmp_path):
    """The stand-in daemon (started apart from the code under test, as systemd starts dockerd)
    and its CLI first on PATH. Yields the environment a client needs."""
    bin_dir = tmp_path / "docker-bin"
    write_cli(bin_dir)
    sock_dir = Path(tempfile.mkdtemp(prefix="sdk", dir="/tmp"))     # AF_UNIX paths are short
    sock = sock_dir / "docker.sock"
    state = tmp_path / "dockerd"
    proc = subprocess.Popen([sys.executable, "-m", "swarmtui.sim.docker", "daemon", "--socket", str(sock),
                             "--state", str(state)], start_new_session=True, stdin=subprocess.DEVNULL)
    end = time.monotonic() + 20
    while not sock.exists() and time.monotonic() < end:
        time.sleep(0.05)
    env = dict(os.environ, DOCKER_HOST=f"unix://{sock}", PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    env.pop("SWARMTUI_RUN_ID", None)
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


def _project(root: Path) -> Path:
    root.mkdir()
    (root / "docker-compose.yaml").write_text("services:\n  swarm-cpu:\n    build:\n      context: .\n")
    (root / "run_rl_swarm.sh").write_text("#!/bin/bash\ntrap 'echo bye; exit 0' TERM\necho up\n"
                                          "sleep 1000 &\nwait\n")
    (root / "run_rl_swarm.sh").chmod(0o755)
    return root


def _docker(env, *args) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], env=env, capture_output=True, text=True, timeout=60)


def _wait_names(env, want: set[str], timeout: float = 20.0) -> set[str]:
    end = time.monotonic() + timeout
    while True:
        names = set(_docker(env, "ps", "--format", "{{.Names}}").stdout.split())
        if names == want or time.monotonic() > end:
            return names
        time.sleep(0.1)


async def test_leftovers_are_found_by_our_label_and_only_they_are_stopped(dockerd, tmp_path):
    env, state = dockerd
    project = _project(tmp_path / "proj")
    clients = []
    for name, label in (("swarmtui-old-1", "swarmtui.run-id=proj-1:old"), ("theirs", "other=1")):
        clients.append(subprocess.Popen(["docker", "compose", "run", "--rm", "--name", name, "--label", label,
                                         "swarm-cpu"], cwd=project, env=env, stdin=subprocess.DEVNULL,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    assert _wait_names(env, {"swarmtui-old-1", "theirs"}) == {"swarmtui-old-1", "theirs"}
    # a client that dies leaves its container running (docker/cli #3138, docker/compose #4909)
    for c in clients:
        c.kill()
        c.wait()
    time.sleep(0.3)
    assert _wait_names(env, {"swarmtui-old-1", "theirs"}) == {"swarmtui-old-1", "theirs"}

    found = await dw.leftovers("docker", ["proj-1:old", "proj-1:never"], env)
    assert found == ["swarmtui-old-1"]
    ok, detail = await dw.stop(dw.Container("swarmtui-old-1", "docker"), timeout=5, env=env)
    assert ok and detail == "docker stop swarmtui-old-1: stopped"
    assert _wait_names(env, {"theirs"}) == {"theirs"}         # never another container
    ok, detail = await dw.stop(dw.Container("swarmtui-old-1", "docker"), timeout=5, env=env)
    assert ok and detail.endswith("already gone")
    assert _docker(env, "stop", "theirs").returncode == 0


async def test_a_docker_that_cannot_be_reached_is_one_line(tmp_path):
    env = dict(os.environ, DOCKER_HOST=f"unix://{tmp_path}/nothing.sock")
    write_cli(tmp_path / "bin")
    ok, detail = await dw.stop(dw.Container("x", str(tmp_path / "bin" / "docker")), timeout=1, env=env)
    assert not ok and detail.startswith("docker stop x failed: Cannot connect to the Docker daemon")
    ok, detail = await dw.stop(dw.Container("x", str(tmp_path / "no-docker")), timeout=1, env=env)
    assert not ok and "cannot run" in detail and "\n" not in detail
    assert await dw.leftovers(str(tmp_path / "no-docker"), ["a"], env) == []
