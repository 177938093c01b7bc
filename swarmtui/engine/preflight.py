"""What must hold before the node is started, and what blocks a start when it does not.

Checked before every start (design.md "Engine rules", community-tools.md §6 item 3 and 21):
- the node is not already running outside swarmtui (a script or trainer of this checkout that
  is not ours): starting a second copy would fight it for the port and the identity;
- nothing of ours is left from an earlier run (a p2pd with our -id=, our login server, a DHT
  child): such leftovers are swept here, each one reported (OrphanKilled, id `orphan`);
- the login port is free, or held by a login server of ours;
- swarm.pem is usable (missing is fine: the script makes a new one, and we say so);
- there is enough free disk for the logs.
A problem that blocks the start is one line that says what to do.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from typing import Callable

import psutil

from swarmtui.engine.events import Event
from swarmtui.engine.proctree import ProcTree, classify, port_status
from swarmtui.node.layout import Layout

_NODE_NAMES = ("bash", "sh", "dash", "zsh")


@dataclass
class PreflightResult:
    problems: list[str] = field(default_factory=list)      # each blocks the start
    warnings: list[str] = field(default_factory=list)      # shown, the start goes on
    orphans_killed: list[dict] = field(default_factory=list)
    remaining: list[str] = field(default_factory=list)     # leftovers of ours that would not die

    @property
    def ok(self) -> bool:
        return not self.problems


def foreign_node(layout: Layout, tree: ProcTree) -> list[str]:
    """The launcher script or the trainer of this checkout, running but not started by us: the
    person runs the node by hand in another terminal. Never signalled; reported instead."""
    root = str(layout.root)
    ours = {o.proc.pid for o in tree.scan()}
    me = os.getpid()
    found = []
    uid = os.getuid() if hasattr(os, "getuid") else None
    for proc in psutil.process_iter(["pid", "name", "uids"]):
        info = proc.info
        name = info.get("name") or ""
        if proc.pid in ours or proc.pid == me:
            continue
        if uid is not None and info.get("uids") is not None and info["uids"].real != uid:
            continue
        if not (name in _NODE_NAMES or "python" in name):
            continue
        try:
            cmd = proc.cmdline()
            cwd = proc.cwd()
        except (psutil.Error, OSError):
            continue
        role = classify(name, cmd)
        if role not in ("launcher", "trainer"):
            continue
        if cwd == root or cwd.startswith(root + os.sep):
            found.append(f"{proc.pid} {' '.join(cmd)[:100]}")
    return found


async def run_preflight(layout: Layout, tree: ProcTree, *, min_free_disk_mb: int,
                        identity_state: str, identity_fix: str, identity_message: str,
                        report: Callable[[Event], None]) -> PreflightResult:
    """All the checks, in the order that makes the later ones meaningful. `identity_*` come from
    node.identity's report (pem_state and, for a broken pem, its problem's message and fix)."""
    res = PreflightResult()

    others = foreign_node(layout, tree)
    if others:
        res.problems.append(
            f"the node already runs outside swarmtui in {layout.root}: {'; '.join(others[:3])}; "
            "stop it first (Ctrl-C in its terminal), then start it here")
        return res          # its login server and p2pd belong to it: sweep nothing

    leftovers = tree.alive(tree.scan(fresh=True))
    if leftovers:
        result = await tree.stop(report=report, pgid=None, int_timeout=0.5, term_timeout=2.0, kill_timeout=2.0)
        res.orphans_killed = list(result.orphans_killed)
        if not result.clean:
            res.remaining = [f"{p.pid} {p.cmdline[:80]}" for p in result.remaining]
            res.problems.append("leftover processes of this node would not die: " + "; ".join(res.remaining))

    st = port_status(layout.login_port, tree)
    if st.state == "not-ours":
        res.problems.append(
            f"{st.describe()}; the login server needs it: stop that program (or set another port in "
            f"run_rl_swarm.sh), then start the node")

    if identity_state in ("unreadable", "bad-format"):
        res.problems.append(f"{identity_message}; fix: {identity_fix}")
    elif identity_state == "missing":
        res.warnings.append(f"no swarm.pem at {layout.identity_path}: the node will create a NEW identity "
                            "(new peer id and animal name); restore your backup first to keep the old one")

    try:
        free_mb = shutil.disk_usage(layout.root).free // (1024 * 1024)
    except OSError:
        free_mb = None
    if free_mb is not None and free_mb < min_free_disk_mb:
        res.problems.append(f"only {free_mb} MB free on the disk of {layout.root} (need {min_free_disk_mb} MB "
                            "for logs and checkpoints): free some space, or lower [watch] min_free_disk_mb")
    return res
