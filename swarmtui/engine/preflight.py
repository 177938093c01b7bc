"""What must hold before the node is started, and what blocks a start when it does not.

Checked before every start (design.md "Engine rules", community-tools.md §6 item 3 and 21):
- the node is not already running outside swarmtui (a script or trainer of this checkout that
  is not ours): starting a second copy would fight it for the port and the identity;
- nothing of ours is left from an earlier run: processes that carry the marker of an earlier
  keeper of this checkout that is gone (a p2pd, a login server, a DHT child its script left)
  are swept here, each one reported (OrphanKilled, id `orphan`);
- the login port is free, or held by a login server of ours;
- swarm.pem is usable (missing is fine: the script makes a new one, and we say so);
- there is enough free disk for the logs;
- which Python the node will run (the script activates nothing and calls plain `python`): said
  as a notice, and a configured [launch] venv that does not exist blocks the start;
- the Docker way: the `docker` CLI is there (the image's own Python is used, no venv).
A problem that blocks the start is one line that says what to do.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Sequence

from swarmtui.engine import container as docker_way
from swarmtui.engine.events import Event
from swarmtui.engine.launcher import VENV_NAMES, PythonEnv
from swarmtui.engine.proctree import ProcTree, port_status
from swarmtui.node.layout import DOCKER_KEYS, Layout

PYTHON_VERSION_TIMEOUT = 10.0
_CLEARING = frozenset({"port-held", "disk-low", "leftovers"})

@dataclass
class PreflightResult:
    problems: list[str] = field(default_factory=list)      # each blocks the start
    warnings: list[str] = field(default_factory=list)      # shown, the start goes on
    notices: list[str] = field(default_factory=list)       # said (info), e.g. which python runs
    orphans_killed: list[dict] = field(default_factory=list)
    remaining: list[str] = field(default_factory=list)     # leftovers of ours that would not die
    codes: list[str] = field(default_factory=list)         # what kind of problem each one is

    @property
    def ok(self) -> bool:
        return not self.problems

    def block(self, code: str, problem: str) -> None:
        self.codes.append(code)
        self.problems.append(problem)

    @property
    def clears_by_itself(self) -> bool:
        """Every problem is one that can go away without a person (a stranger leaves the port,
        space is freed, a stuck process dies): worth another look after give_up_retry."""
        return bool(self.codes) and all(c in _CLEARING for c in self.codes)


def foreign_node(layout: Layout, tree: ProcTree) -> list[str]:
    """The launcher script or the trainer of this checkout, running but not started by us: the
    person runs the node by hand in another terminal. Never signalled; reported instead."""
    return [f"{p.pid} {p.cmdline[:100]}" for p in tree.foreign_node()]


# Versions of interpreter binaries asked before, by (real path, inode, mtime): the pre-flight runs
# before every start, and starting an interpreter costs 50-100 ms of each restart (issue 16). A
# script (a pyenv shim) may pick another python each time: never cached.
_VERSIONS: dict[tuple[str, int, int], str] = {}


def _binary_key(python: Path | str) -> tuple[str, int, int] | None:
    try:
        real = os.path.realpath(python)
        st = os.stat(real)
        with open(real, "rb") as f:
            if f.read(4) != b"\x7fELF":
                return None
    except OSError:
        return None
    return real, st.st_ino, st.st_mtime_ns


async def python_version(python: Path | str, env: Mapping[str, str] | None = None) -> str | None:
    """"3.11.9" for an interpreter, None when it cannot be run (argv, no shell, bounded)."""
    key = _binary_key(python)
    if key is not None and key in _VERSIONS:
        return _VERSIONS[key]
    version = await _ask_version(python, env)
    if version is not None and key is not None:
        _VERSIONS[key] = version
    return version


async def _ask_version(python: Path | str, env: Mapping[str, str] | None) -> str | None:
    try:
        proc = await asyncio.create_subprocess_exec(
            str(python), "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])",
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
            env=dict(env) if env is not None else None)
    except OSError:
        return None
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), PYTHON_VERSION_TIMEOUT)
    except asyncio.TimeoutError:
        proc.kill()
        await proc.wait()
        return None
    text = out.decode("ascii", "replace").strip()
    return text if proc.returncode == 0 and text and len(text) < 20 else None


async def check_python(layout: Layout, pyenv: PythonEnv, path: str, res: PreflightResult) -> None:
    """Say which python the script's plain `python` will be; a configured venv that is not
    there blocks the start (the node would fail later with `No module named ...`)."""
    if pyenv.problem:
        res.block("venv-missing", pyenv.problem)
        return
    python = shutil.which("python", path=path)
    if python is None:
        res.warnings.append(
            f"no `python` on the node's PATH and no venv found ({', '.join(n + '/' for n in VENV_NAMES)} in the "
            "checkout, VIRTUAL_ENV, CONDA_PREFIX): run_rl_swarm.sh calls plain python and pip, so it will fail; "
            f"create one (cd {layout.root} && python3 -m venv .venv) or set [launch] venv")
        return
    version = await python_version(python)
    shown = f"{python} (Python {version})" if version else f"{python} (its version could not be read)"
    where = pyenv.describe() if pyenv.root is not None else (
        "no venv found (.venv/ or venv/ in the checkout, VIRTUAL_ENV, CONDA_PREFIX): PATH's python")
    res.notices.append(f"the node will run {shown}; environment: {where}")
    if pyenv.source in ("VIRTUAL_ENV", "CONDA_PREFIX") and pyenv.root is not None:
        own = [layout.root / n for n in VENV_NAMES if (layout.root / n / "bin").is_dir()]
        own = [o for o in own if os.path.realpath(o) != os.path.realpath(pyenv.root)]
        if own:
            res.warnings.append(
                f"the activated {pyenv.source} {pyenv.root} is used, although the checkout has its own "
                f"{own[0].name}/: if that is the node's environment, set [launch] venv = \"{own[0].name}\"")


def check_docker(command: Sequence[str], path: str, res: PreflightResult) -> None:
    exe = command[0]
    found = exe if os.sep in exe and os.access(exe, os.X_OK) else shutil.which(exe, path=path)
    if found is None:
        res.block("docker-missing", f"[launch] command starts with {exe!r}, which is not on PATH: install Docker "
                            "(rl-swarm README, 'Install Docker'), or set [launch] command to bash run_rl_swarm.sh")
        return
    res.notices.append(f"the node runs the Docker way: {' '.join(command)} (the image's own Python; files in "
                       "user/keys, user/modal-login, user/logs)")
    if docker_way.run_index(command) is None:
        res.warnings.append("[launch] command is not a `docker compose run` (or `docker-compose run`): swarmtui "
                            "cannot name its container, so a stop can only type Ctrl-C into it; use the README's "
                            "docker compose run --rm --build -Pit swarm-cpu")
    elif "--rm" not in docker_way.run_options(command):
        res.warnings.append("[launch] command has no --rm: every restart leaves a stopped container behind "
                            "(`docker ps -a`); the README's command has it")


async def run_preflight(layout: Layout, tree: ProcTree, *, min_free_disk_mb: int,
                        identity_state: str, identity_fix: str, identity_message: str,
                        report: Callable[[Event], None], pyenv: PythonEnv | None = None,
                        path: str | None = None, docker_command: Sequence[str] | None = None) -> PreflightResult:
    """All the checks, in the order that makes the later ones meaningful. `identity_*` come from
    node.identity's report (pem_state and, for a broken pem, its problem's message and fix).
    `pyenv` and `path` (the node's PATH, venv first) say which python the node will run;
    `docker_command` is the launch command when the node runs the Docker way."""
    res = PreflightResult()
    search = path if path is not None else os.environ.get("PATH", os.defpath)
    if docker_command:
        check_docker(docker_command, search, res)
    elif pyenv is not None:
        await check_python(layout, pyenv, search, res)
    if res.problems:
        return res

    others = foreign_node(layout, tree)
    if others:
        res.block(
            "foreign-node", f"the node already runs outside swarmtui in {layout.root}: {'; '.join(others[:3])}; "
            "stop it first (Ctrl-C in its terminal), then start it here")
        return res          # its login server and p2pd belong to it: sweep nothing

    leftovers = tree.alive(tree.scan(fresh=True))
    if leftovers:
        result = await tree.stop(report=report, pgid=None, int_timeout=0.5, term_timeout=2.0, kill_timeout=2.0)
        res.orphans_killed = list(result.orphans_killed)
        if not result.clean:
            res.remaining = [f"{p.pid} {p.cmdline[:80]}" for p in result.remaining]
            res.block("leftovers", "leftover processes of this node would not die: " + "; ".join(res.remaining))

    st = port_status(layout.login_port, tree)
    if st.state == "not-ours":
        res.block(
            "port-held", f"{st.describe()}; the login server needs it: stop that program (or set another port in "
            f"run_rl_swarm.sh), then start the node")

    if identity_state in ("unreadable", "bad-format"):
        res.block("pem", f"{identity_message}; fix: {identity_fix}")
    elif identity_state == "missing":
        docker_pem = layout.root / DOCKER_KEYS / "swarm.pem"
        also = (f"; {docker_pem} exists: that node ran the Docker way, so set [launch] command to its "
                "docker compose run command (or copy the pem here)"
                if layout.launch == "script" and docker_pem.exists() else "")
        res.warnings.append(f"no swarm.pem at {layout.identity_path}: the node will create a NEW identity "
                            "(new peer id and animal name); restore your backup first to keep the old one" + also)

    try:
        free_mb = shutil.disk_usage(layout.root).free // (1024 * 1024)
    except OSError:
        free_mb = None
    if free_mb is not None and free_mb < min_free_disk_mb:
        res.block("disk-low", f"only {free_mb} MB free on the disk of {layout.root} (need {min_free_disk_mb} MB "
                            "for logs and checkpoints): free some space, or lower [watch] min_free_disk_mb")
    return res
