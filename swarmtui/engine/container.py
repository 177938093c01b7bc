"""The Docker way: a node started with `docker compose run ... swarm-cpu|swarm-gpu`.

rl-swarm's README (v0.5.0 ... main) runs the node as `docker compose run --rm --build -Pit
swarm-cpu` (or `docker-compose ...`, or `swarm-gpu`). The node's processes then live in the
container: children of the container runtime, not of the client we start, so they are never
ours to signal. What we start is the client, and the container it makes; so the launch command
gets a name and a label of ours added right after `run` (`--name swarmtui-<keeper>-<run>`,
`--label swarmtui.run-id=<run id>`), and the stop sequence stops exactly that container:

1. Ctrl-C typed into the client's terminal (with -t the client passes the byte to the
   container's terminal, which sends SIGINT to the script and python: the script's own
   clean-up runs, as when a person presses Ctrl-C);
2. `docker stop --time <term_timeout> <name>` (SIGTERM, then SIGKILL when the time is up): a
   client that was signalled or lost its terminal may leave its container running (docker/cli
   #3138, docker/compose #4909), so the container is stopped by its name whatever the client did;
3. the usual stop sequence for the client's own process group.

Containers of an earlier keeper of this checkout that died are found by our label (one of its
recorded run ids) and stopped before the next start. Another container, a compose service the
run pulled up (v0.7's ollama) or the person's own, is never touched. Argv lists only, no shell.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

DOCKER_PROGRAMS = ("docker", "docker-compose")
LABEL = "swarmtui.run-id"
CTRL_C = "\x03"
CLI_TIMEOUT = 30.0          # a docker CLI call beyond its own work (a daemon that hangs)

# `docker compose` / `docker-compose` options before the subcommand that take a value.
_COMPOSE_VALUE_OPTS = frozenset({"-f", "--file", "-p", "--project-name", "--profile", "--env-file",
                                 "--project-directory", "--ansi", "--progress", "--parallel", "-c", "--context",
                                 "-H", "--host", "--log-level", "--config"})
# `run` options that take a value (so a value is never mistaken for the service name).
_RUN_VALUE_OPTS = frozenset({"--name", "-e", "--env", "--env-from-file", "-l", "--label", "-p", "--publish",
                             "-u", "--user", "-v", "--volume", "-w", "--workdir", "--entrypoint", "--pull",
                             "--cap-add", "--cap-drop"})
_NAME_CHARS = re.compile(r"[^a-zA-Z0-9_.-]+")


def is_docker_command(argv: Sequence[str] | None) -> bool:
    return bool(argv) and os.path.basename(argv[0]) in DOCKER_PROGRAMS


def run_index(argv: Sequence[str]) -> int | None:
    """Where `run` is in a `docker compose ... run` / `docker-compose ... run` command."""
    if not is_docker_command(argv):
        return None
    i = 1
    if os.path.basename(argv[0]) == "docker":
        while i < len(argv) and argv[i] != "compose":
            if argv[i] in _COMPOSE_VALUE_OPTS:
                i += 1
            elif not argv[i].startswith("-"):
                return None           # `docker run ...`, `docker start ...`: not compose
            i += 1
        i += 1
    while i < len(argv):
        word = argv[i]
        if word == "run":
            return i
        if word in _COMPOSE_VALUE_OPTS:
            i += 2
            continue
        if not word.startswith("-"):
            return None               # another subcommand (up, start, ...)
        i += 1
    return None


def _given_name(argv: Sequence[str], start: int) -> str | None:
    i = start
    while i < len(argv):
        word = argv[i]
        if word == "--name" and i + 1 < len(argv):
            return argv[i + 1]
        if word.startswith("--name="):
            return word.split("=", 1)[1]
        if word in _RUN_VALUE_OPTS:
            i += 2
            continue
        if not word.startswith("-"):
            return None               # the service: what follows is the container's command
        i += 1
    return None


def run_options(argv: Sequence[str]) -> list[str]:
    """The options of `run` (up to the service name)."""
    idx = run_index(argv)
    if idx is None:
        return []
    out, i = [], idx + 1
    while i < len(argv) and argv[i].startswith("-"):
        out.append(argv[i])
        if argv[i] in _RUN_VALUE_OPTS and i + 1 < len(argv):
            out.append(argv[i + 1])
            i += 1
        i += 1
    return out


@dataclass(frozen=True)
class Container:
    name: str                   # what `docker stop` is given
    docker: str                 # the docker CLI to run it with
    given: bool = False         # named by the person's own --name


def docker_cli(argv: Sequence[str], env: Mapping[str, str] | None = None) -> str:
    """The `docker` program that goes with the launch command (docker-compose v1 needs it too)."""
    first = argv[0]
    if os.path.basename(first) == "docker":
        return first
    if os.sep in first:
        beside = os.path.join(os.path.dirname(first), "docker")
        if os.access(beside, os.X_OK):
            return beside
    path = (env or os.environ).get("PATH", os.defpath)
    return shutil.which("docker", path=path) or "docker"


def container_name(run_id: str, run: int) -> str:
    """`swarmtui-<keeper's random part>-<run>`: unique per run, so a container that is still
    going away never blocks the next start's name."""
    tail = run_id.rsplit(":", 1)[-1]
    return _NAME_CHARS.sub("-", f"swarmtui-{tail}-{run}").strip("-.")


def prepare(argv: Sequence[str], *, run_id: str, run: int,
            env: Mapping[str, str] | None = None) -> tuple[list[str], Container | None]:
    """The command to launch, and the container it will make (None when it is not a
    `compose run`: then swarmtui cannot name, find or stop the container)."""
    argv = list(argv)
    idx = run_index(argv)
    if idx is None:
        return argv, None
    docker = docker_cli(argv, env)
    given = _given_name(argv, idx + 1)
    if given:
        return argv, Container(given, docker, given=True)
    name = container_name(run_id, run)
    return argv[:idx + 1] + ["--name", name, "--label", f"{LABEL}={run_id}"] + argv[idx + 1:], Container(name, docker)


async def _cli(argv: Sequence[str], env: Mapping[str, str] | None, timeout: float) -> tuple[int | None, str]:
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT, env=dict(env) if env is not None else None)
    except OSError as exc:
        return None, f"cannot run {argv[0]}: {exc.strerror or exc}"
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    except asyncio.TimeoutError:
        proc.kill()                     # our own child, by its handle
        await proc.wait()
        return None, f"{' '.join(argv[:3])} did not answer within {timeout:g}s"
    return proc.returncode, out.decode("utf-8", "replace").strip()


def _gone(text: str) -> bool:
    return "No such container" in text or "no such container" in text


async def stop(container: Container, *, timeout: float, env: Mapping[str, str] | None = None) -> tuple[bool, str]:
    """`docker stop --time N NAME`: (stopped or already gone, what happened in one line)."""
    secs = max(0, int(round(timeout)))
    rc, out = await _cli([container.docker, "stop", "--time", str(secs), container.name], env, secs + CLI_TIMEOUT)
    if rc == 0:
        return True, f"docker stop {container.name}: stopped"
    if rc is not None and _gone(out):
        return True, f"docker stop {container.name}: already gone"
    last = out.splitlines()[-1] if out else f"exit code {rc}"
    return False, f"docker stop {container.name} failed: {last[:200]}"


def kill_now(container: Container, env: Mapping[str, str] | None = None, timeout: float = 5.0) -> bool:
    """Synchronous last resort (emergency stop): `docker kill NAME`."""
    try:
        out = subprocess.run([container.docker, "kill", container.name], stdin=subprocess.DEVNULL,
                             capture_output=True, timeout=timeout, env=dict(env) if env is not None else None)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.returncode == 0


async def leftovers(docker: str, run_ids: Iterable[str], env: Mapping[str, str] | None = None) -> list[str]:
    """Running containers labelled with one of these run ids (earlier keepers of this checkout
    that are gone): names, found by our label only."""
    names: list[str] = []
    for rid in run_ids:
        rc, out = await _cli([docker, "ps", "--filter", f"label={LABEL}={rid}", "--format", "{{.Names}}"],
                             env, CLI_TIMEOUT)
        if rc == 0:
            names += [n.strip() for n in out.splitlines() if n.strip() and not _NAME_CHARS.search(n.strip())]
    return names
