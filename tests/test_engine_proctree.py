"""engine.proctree: ownership proofs, snapshots and the stop sequence on real process trees."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from swarmtui.engine.events import OrphanKilled, StopStep
from swarmtui.engine.launcher import start_clean
from swarmtui.engine.proctree import (RUN_ID_ENV, Ownership, ProcTree, classify, disable_subreaper,
                                      enable_subreaper, make_run_id, port_status, reap_zombies)
from tests.procs import running

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux process semantics")

PY = sys.executable

# Detach: double fork + setsid, optionally without our marker, then exec. What a daemon (or
# `nohup setsid`) does to leave our process group and session.
DETACH = """\
import os, sys
keep_marker = sys.argv[1] == "keep"
argv = sys.argv[2:]
if not keep_marker and "SWARMTUI_RUN_ID" in os.environ:
    # Drop the marker before forking: a forked child still carries it in /proc/PID/environ
    # until its exec, and a scan in that instant would rightly prove it ours by marker.
    env = {k: v for k, v in os.environ.items() if k != "SWARMTUI_RUN_ID"}
    os.execve(sys.executable, [sys.executable] + sys.argv, env)
if os.fork():
    os._exit(0)
os.setsid()
if os.fork():
    os._exit(0)
env = dict(os.environ)
if not keep_marker:
    env.pop("SWARMTUI_RUN_ID", None)
os.execve(argv[0], argv, env)
"""

SLEEPER = f"""#!{PY}
import sys, time
time.sleep(600)
"""

LOGIN = f"""#!{PY}
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen()
time.sleep(600)
"""

TRAINER = """\
import os, sys, time
if os.fork() == 0:      # hivemind's DHT: a forked child with the same command line
    time.sleep(600)
    os._exit(0)
time.sleep(600)
"""

STUBBORN = """\
import signal, time
signal.signal(signal.SIGINT, signal.SIG_IGN)
signal.signal(signal.SIGTERM, signal.SIG_IGN)
time.sleep(600)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def subreaper():
    enabled = enable_subreaper()
    yield enabled
    disable_subreaper()


@pytest.fixture
def checkout(tmp_path):
    root = tmp_path / "rl-swarm"
    (root / "modal-login").mkdir(parents=True)
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    for name, text in (("p2pd", SLEEPER), ("node", LOGIN)):
        (bin_ / name).write_text(text)
        (bin_ / name).chmod(0o755)
    (bin_ / "detach.py").write_text(DETACH)
    (bin_ / "trainer.py").write_text(TRAINER)
    (bin_ / "stubborn.py").write_text(STUBBORN)
    (bin_ / "daemon.py").write_text(SLEEPER)
    (root / "swarm.pem").write_text("not a real key\n")
    (root / "run_rl_swarm.sh").write_text(textwrap.dedent(f"""\
        #!/bin/bash
        ROOT=$PWD
        BIN={bin_}
        cleanup() {{
            echo ">> Shutting down trainer..."
            kill -- -$$ || true
            exit 0
        }}
        trap cleanup EXIT
        # the login server, escaped into its own session, cwd in the checkout: only the marker it
        # inherited (as yarn does) proves it ours
        (cd modal-login && "{PY}" "$BIN/detach.py" keep "$BIN/node" "$LOGIN_PORT")
        # p2pd, escaped into its own session: its -id= proves nothing, its marker does
        "{PY}" "$BIN/detach.py" keep "$BIN/p2pd" -listen=/unix/tmp/hivemind-p2pd-test.sock -id="$ROOT/swarm.pem" -idleTimeout=30s
        # a double-forked daemon that keeps our environment marker
        "{PY}" "$BIN/detach.py" keep "{PY}" "$BIN/daemon.py" ollama-like
        "{PY}" "$BIN/trainer.py" -m code_gen_exp.runner.swarm_launcher
        """))
    return root


class Tree:
    """A launched fake node plus decoys that are not ours; everything killed at the end."""

    def __init__(self, root: Path, port: int):
        self.root, self.port = root, port
        self.proc: asyncio.subprocess.Process | None = None
        self.decoys: list[asyncio.subprocess.Process] = []
        self.own = Ownership(run_id=make_run_id(root), checkout=root, identity_path=root / "swarm.pem",
                             login_port=port)
        self.tree = ProcTree(self.own)

    async def launch(self, argv=("bash", "run_rl_swarm.sh")):
        env = dict(os.environ, **{RUN_ID_ENV: self.own.run_id, "LOGIN_PORT": str(self.port)})
        # start_clean, as the Launcher starts a node: a suite started under nohup or as a
        # script's background job has SIGINT ignored, and the fake node must not depend on how
        # the suite was started (two `.ci/run`s started with `nohup ... &` saw all three of its
        # processes sit out the SIGINT step).
        self.proc = await asyncio.create_subprocess_exec(*argv, cwd=self.root, env=env, start_new_session=True,
                                                         preexec_fn=start_clean,
                                                         stdin=asyncio.subprocess.DEVNULL,
                                                         stdout=asyncio.subprocess.DEVNULL,
                                                         stderr=asyncio.subprocess.DEVNULL)
        self.own.set_launcher(self.proc.pid)

    async def decoy(self, *argv, cwd=None, env_extra=None):
        env = {k: v for k, v in os.environ.items() if k != RUN_ID_ENV}
        env.update(env_extra or {})
        p = await asyncio.create_subprocess_exec(*argv, cwd=cwd, env=env, stdout=asyncio.subprocess.DEVNULL,
                                                 stderr=asyncio.subprocess.DEVNULL)
        self.decoys.append(p)
        return p

    async def wait_roles(self, want: dict[str, int], timeout=8.0):
        end = time.monotonic() + timeout
        snap = []
        while time.monotonic() < end:
            snap = self.tree.snapshot(conflicts=False)
            roles: dict[str, int] = {}
            for p in snap:
                roles[p.role] = roles.get(p.role, 0) + 1
            if all(roles.get(r, 0) >= n for r, n in want.items()):
                return snap
            await asyncio.sleep(0.05)
        raise AssertionError(f"roles {want} not seen: {[(p.pid, p.role, p.proof, p.cmdline[:50]) for p in snap]}")

    async def cleanup(self):
        # The group first (a process forked a moment ago is in it even if no scan saw it yet),
        # then whatever is proven ours elsewhere, twice in case something was mid-spawn.
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for _ in range(2):
            for o in self.tree.scan():
                try:
                    o.proc.kill()
                except psutil.Error:
                    pass
            await asyncio.sleep(0.05)
        for p in [self.proc, *self.decoys]:
            if p is not None and p.returncode is None:
                try:
                    p.kill()
                except ProcessLookupError:
                    pass
                await p.wait()
        reap_zombies(only=None)


@pytest.fixture
async def tree(checkout):
    t = Tree(checkout, free_port())
    yield t
    await t.cleanup()


async def test_subreaper_adopts_a_double_forked_daemon(subreaper, tmp_path):
    assert subreaper is True
    script = tmp_path / "d.py"
    script.write_text(DETACH)
    sleeper = tmp_path / "sleeper"
    sleeper.write_text(SLEEPER)
    sleeper.chmod(0o755)
    proc = await asyncio.create_subprocess_exec(PY, str(script), "keep", str(sleeper))
    await proc.wait()
    me = psutil.Process()
    end = time.monotonic() + 5
    adopted = []
    while time.monotonic() < end and not adopted:
        adopted = [c for c in me.children() if c.name() == "sleeper"]
        await asyncio.sleep(0.05)
    assert adopted, "the daemon escaped instead of being adopted"
    d = adopted[0]
    try:
        assert d.ppid() == os.getpid() and os.getsid(d.pid) != os.getsid(0)   # own session, still ours
    finally:
        d.kill()
    end = time.monotonic() + 3
    while time.monotonic() < end and not reap_zombies(only=[d.pid]):
        await asyncio.sleep(0.02)
    assert not psutil.pid_exists(d.pid)            # reaped, not a zombie left behind


def test_classify_roles():
    assert classify("bash", ["bash", "run_rl_swarm.sh"]) == "launcher"
    assert classify("p2pd", ["/v/lib/python3.11/site-packages/hivemind/hivemind_cli/p2pd", "-id=/x"]) == "p2pd"
    assert classify("python", ["/x/python", "/t/p2pd", "-id=/x"]) == "p2pd"
    assert classify("ollama", ["ollama", "serve"]) == "ollama"
    assert classify("node", ["node", "/r/modal-login/node_modules/.bin/next", "start"]) == "login-server"
    assert classify("next-server (v1", ["next-server (v14.2.3)"]) == "login-server"
    tr = ["python", "-m", "code_gen_exp.runner.swarm_launcher", "--config-path", "x"]
    assert classify("python", tr) == "trainer"
    assert classify("python", tr, parent_cmdline=tr) == "dht"
    assert classify("python3", ["python3", "-m", "http.server"]) == "other"


async def test_snapshot_proofs_roles_and_conflicts(subreaper, tree, tmp_path):
    root = tree.root
    other = tmp_path / "other-checkout"
    (other / "modal-login").mkdir(parents=True)
    bin_ = tmp_path / "bin"
    # decoys that look like ours and are not
    await tree.decoy(str(bin_ / "p2pd"), "-id=" + str(other / "swarm.pem"))
    decoy_port = free_port()
    await tree.decoy(str(bin_ / "node"), str(decoy_port), cwd=other / "modal-login")
    # another checkout's swarmtui run, using OUR identity path (a misconfiguration): never ours
    await tree.decoy(str(bin_ / "p2pd"), "-id=" + str(root / "swarm.pem"),
                     env_extra={RUN_ID_ENV: "other-0123456789:abc"})
    await tree.launch()
    snap = await tree.wait_roles({"launcher": 1, "trainer": 1, "dht": 1, "p2pd": 1, "login-server": 1, "other": 1})
    by_role = {}
    for p in snap:
        by_role.setdefault(p.role, []).append(p)
    assert all(p.ours for p in snap)
    assert by_role["launcher"][0].pid == tree.proc.pid and by_role["launcher"][0].proof == "launcher"
    assert snap[0].pid == tree.proc.pid                       # tree order: the launcher first
    assert by_role["trainer"][0].proof == "descendant"
    assert by_role["dht"][0].ppid == by_role["trainer"][0].pid
    assert by_role["p2pd"][0].proof == "marker" and "-id=" + str(root / "swarm.pem") in by_role["p2pd"][0].cmdline
    assert by_role["login-server"][0].proof == "marker"
    assert tree.port in by_role["login-server"][0].ports
    daemon = [p for p in by_role["other"] if "daemon.py" in p.cmdline]
    assert daemon and daemon[0].proof == "marker"
    decoy_pids = {d.pid for d in tree.decoys}
    assert not decoy_pids & {p.pid for p in snap}
    # cpu_percent has a baseline on the second snapshot: the same psutil objects are kept
    await asyncio.sleep(0.1)
    snap2 = tree.tree.snapshot(conflicts=True)
    conflicts = [p for p in snap2 if not p.ours]
    assert [c.pid for c in conflicts] == [tree.decoys[2].pid]
    assert "uses our identity" in conflicts[0].conflict
    assert all(p.rss > 0 and p.age_s >= 0 for p in snap2 if p.ours)


async def test_stop_sequence_kills_ours_and_only_ours(subreaper, tree, tmp_path):
    bin_ = tmp_path / "bin"
    other = tmp_path / "elsewhere"
    other.mkdir()
    decoy = await tree.decoy(str(bin_ / "p2pd"), "-id=" + str(other / "swarm.pem"))
    await tree.launch()
    await tree.wait_roles({"trainer": 1, "dht": 1, "p2pd": 1, "login-server": 1, "other": 1})
    ours_before = {o.proc.pid for o in tree.tree.scan()}
    assert len(ours_before) == 6
    events = []
    t0 = time.monotonic()
    result = await tree.tree.stop(report=events.append, int_timeout=5, term_timeout=3, kill_timeout=2)
    elapsed = time.monotonic() - t0
    steps = [e.step for e in events if isinstance(e, StopStep)]
    # the script's trap took the whole group down (once, on a loaded CI run, it had not after
    # 5 s: say what was left, and when, if it happens again)
    assert steps == ["sigint", "sweep", "verify"], (
        round(elapsed, 2), [(e.step, e.remaining, e.detail) for e in events if isinstance(e, StopStep)])
    assert events[0].remaining == 0
    orphans = [e for e in events if isinstance(e, OrphanKilled)]
    assert sorted(e.proof for e in orphans) == ["marker", "marker", "marker"]
    assert all(e.signal == "SIGTERM" for e in orphans)
    assert result.clean and events[-1].remaining == 0
    assert sorted(r["proof"] for r in result.orphans_killed) == ["marker", "marker", "marker"]
    for pid in ours_before:
        assert not running(pid)
    assert decoy.returncode is None and psutil.pid_exists(decoy.pid)     # the look-alike survived
    assert elapsed < 5, elapsed      # it did not sit out the 5 s SIGINT wait once all was gone
    assert port_status(tree.port).state == "free"


async def test_stubborn_group_gets_sigterm_then_sigkill(subreaper, tree, tmp_path):
    script = tmp_path / "stubborn.sh"
    script.write_text(f'trap "" INT TERM\n"{PY}" "{tmp_path / "bin" / "stubborn.py"}" &\nwait\nwait\n')
    await tree.launch(("bash", str(script)))
    end = time.monotonic() + 5
    while time.monotonic() < end and len(tree.tree.scan()) < 2:
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.2)                          # let python install its signal handlers
    events = []
    result = await tree.tree.stop(report=events.append, int_timeout=0.4, term_timeout=0.4, kill_timeout=2)
    steps = [(e.step, e.remaining) for e in events]
    assert steps == [("sigint", 2), ("sigterm", 2), ("sigkill", 0), ("verify", 0)]
    assert result.clean
    assert await asyncio.wait_for(tree.proc.wait(), 2) == -signal.SIGKILL


async def test_a_reused_pid_is_never_signalled(tree, tmp_path):
    """Identity is (pid, create time): a record of a process that is gone must not hit its pid."""
    await tree.launch(("bash", "-c", "sleep 30"))
    end = time.monotonic() + 3
    owned = []
    while time.monotonic() < end and len(owned) < 1:
        owned = tree.tree.scan()
        await asyncio.sleep(0.02)
    o = owned[0]
    assert tree.tree.is_still_ours(o)
    from swarmtui.engine.proctree import Owned
    fake = Owned(psutil.Process(o.proc.pid), o.ctime - 5.0, o.proof)     # same pid, another process
    assert not tree.tree.is_still_ours(fake)
    assert tree.tree._signal_one(fake, signal.SIGKILL) is False
    assert tree.proc.returncode is None


async def test_port_status_free_ours_and_not_ours(subreaper, tree, tmp_path):
    bin_ = tmp_path / "bin"
    port = free_port()
    assert port_status(port).state == "free"
    decoy = await tree.decoy(str(bin_ / "node"), str(port), cwd=tmp_path)
    end = time.monotonic() + 10
    st = port_status(port, tree.tree)
    while st.state == "free" and time.monotonic() < end:
        await asyncio.sleep(0.05)
        st = port_status(port, tree.tree)
    assert st.state == "not-ours" and [h.pid for h in st.holders] == [decoy.pid]
    assert str(decoy.pid) in st.describe()
    await tree.launch()
    await tree.wait_roles({"login-server": 1})
    end = time.monotonic() + 10
    ours = port_status(tree.port, tree.tree)
    while ours.state == "free" and time.monotonic() < end:      # it has started, not yet listening
        await asyncio.sleep(0.05)
        ours = port_status(tree.port, tree.tree)
    assert ours.state == "ours"
    # A tree that first meets the server now (it left our session) proves it by its marker.
    fresh = port_status(tree.port, ProcTree(tree.own))
    assert fresh.state == "ours" and fresh.holders[0].proof == "marker"


async def test_kill_now_is_synchronous_and_thorough(subreaper, tree):
    await tree.launch()
    await tree.wait_roles({"trainer": 1, "p2pd": 1, "login-server": 1})
    pids = [o.proc.pid for o in tree.tree.scan()]
    assert tree.tree.kill_now() >= 3
    end = time.monotonic() + 3
    while time.monotonic() < end and tree.tree.scan():
        reap_zombies(only=pids, exclude=[tree.proc.pid])
        await asyncio.sleep(0.02)
    assert tree.tree.scan() == []


async def test_leftover_of_an_earlier_session_on_this_checkout_is_ours(tree, tmp_path):
    """A keeper that died left a p2pd behind: its marker is a run id recorded for this checkout
    by a keeper that is gone, so the next keeper cleans it up. A marker that merely looks like
    this checkout's (another keeper's, alive, or never recorded) or names another checkout
    never makes a process ours."""
    bin_ = tmp_path / "bin"
    recorded = tree.own.marker_prefix + "earlier0000"
    tree.own.earlier_run_ids = frozenset({recorded})
    earlier = await tree.decoy(str(bin_ / "p2pd"), "-id=/somewhere/else.pem", env_extra={RUN_ID_ENV: recorded})
    live_keeper = await tree.decoy(str(bin_ / "p2pd"), "-id=" + str(tree.root / "swarm.pem"),
                                   env_extra={RUN_ID_ENV: tree.own.marker_prefix + "alive0000000"})
    stranger = await tree.decoy(str(bin_ / "p2pd"), "-id=/somewhere/else.pem",
                                env_extra={RUN_ID_ENV: "elsewhere-0123456789:0000"})
    end = time.monotonic() + 5
    found = {}
    while time.monotonic() < end and earlier.pid not in found:
        found = {o.proc.pid: o.proof for o in tree.tree.scan()}
        await asyncio.sleep(0.05)
    assert found == {earlier.pid: "marker-earlier-keeper"}
    events = []
    result = await tree.tree.stop(report=events.append, int_timeout=1, term_timeout=1, kill_timeout=1)
    assert [e.pid for e in events if isinstance(e, OrphanKilled)] == [earlier.pid]
    assert result.clean
    assert await asyncio.wait_for(earlier.wait(), 2) == -signal.SIGTERM
    assert stranger.returncode is None and live_keeper.returncode is None


async def test_incremental_snapshots_see_new_and_gone_processes_with_cpu_and_memory(subreaper, tree, tmp_path):
    """The supervisor's cheap snapshots (only new pids and ours read) see what the full ones see."""
    await tree.launch()
    # the whole tree, so that nothing of ours is still being born between the two snapshots
    full = await tree.wait_roles({"launcher": 1, "trainer": 1, "dht": 1, "p2pd": 1, "login-server": 1, "other": 1})
    inc = tree.tree.snapshot(conflicts=False, detail=False, incremental=True)
    assert {p.pid for p in inc} == {p.pid for p in full}
    # a new process of ours appears between snapshots: an incremental one proves and shows it
    child = await asyncio.create_subprocess_exec(
        PY, "-c", "import time\nt = time.time()\nwhile time.time() - t < 1.2: pass\ntime.sleep(600)",
        env=dict(os.environ, **{RUN_ID_ENV: tree.own.run_id}), stdout=asyncio.subprocess.DEVNULL)
    try:
        await asyncio.sleep(0.2)
        inc = tree.tree.snapshot(conflicts=False, detail=False, incremental=True)
        mine = [p for p in inc if p.pid == child.pid]
        assert mine and mine[0].proof == "marker" and mine[0].rss > 1 << 20
        assert mine[0].cpu_percent == 0.0               # no baseline yet, like psutil's first call
        await asyncio.sleep(0.5)                        # it spins meanwhile
        busy = [p for p in tree.tree.snapshot(conflicts=False, detail=False, incremental=True) if p.pid == child.pid]
        assert busy and busy[0].cpu_percent > 10, busy
        child.kill()
        await child.wait()
        inc = tree.tree.snapshot(conflicts=False, detail=False, incremental=True)
        assert child.pid not in {p.pid for p in inc}
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()


async def test_a_process_caught_inside_its_exec_is_looked_at_again(tree, tmp_path, monkeypatch):
    """Between the kernel giving an exec'd process its new name and its new arguments, the
    command line and environment read empty. A p2pd seen in that instant must not be filed as a
    stranger for NEGATIVE_TTL: the next scan proves it ours by its marker. The empty reads are
    simulated (the real window is microseconds wide); the process, its /proc row and its proof
    are real."""
    p2pd = await tree.decoy(str(tmp_path / "bin" / "p2pd"), "-id=" + str(tree.root / "swarm.pem"),
                            env_extra={RUN_ID_ENV: tree.own.run_id})
    end = time.monotonic() + 5
    while time.monotonic() < end and psutil.Process(p2pd.pid).name() != "p2pd":
        await asyncio.sleep(0.02)
    real_cmdline, real_environ = psutil.Process.cmdline, psutil.Process.environ
    monkeypatch.setattr(psutil.Process, "cmdline",
                        lambda self: [] if self.pid == p2pd.pid else real_cmdline(self))
    monkeypatch.setattr(psutil.Process, "environ",
                        lambda self: {} if self.pid == p2pd.pid else real_environ(self))
    assert p2pd.pid not in {o.proc.pid for o in tree.tree.scan()}
    monkeypatch.setattr(psutil.Process, "cmdline", real_cmdline)
    monkeypatch.setattr(psutil.Process, "environ", real_environ)
    found = {o.proc.pid: o.proof for o in tree.tree.scan()}
    assert found.get(p2pd.pid) == "marker"


async def test_a_path_match_proves_nothing_and_the_emergency_kill_spares_earlier_leftovers(tree, tmp_path):
    """A login server whose cwd is in the checkout and a p2pd with the checkout's -id= are what
    ANY node of this checkout looks like (one started by hand, one of another swarmtui): shown as
    conflicts, never ours, never signalled. The emergency kill touches only this keeper's own
    run: a leftover of an earlier keeper is the pre-flight's to sweep (with a record), not its."""
    bin_ = tmp_path / "bin"
    login = await tree.decoy(str(bin_ / "node"), str(tree.port), cwd=tree.root / "modal-login")
    p2pd = await tree.decoy(str(bin_ / "p2pd"), "-id=" + str(tree.root / "swarm.pem"))
    recorded = tree.own.marker_prefix + "earlier0000"
    tree.own.earlier_run_ids = frozenset({recorded})
    earlier = await tree.decoy(str(bin_ / "p2pd"), "-id=/elsewhere.pem", env_extra={RUN_ID_ENV: recorded})
    end = time.monotonic() + 5
    snap = []
    while time.monotonic() < end:
        snap = tree.tree.snapshot(conflicts=True)
        why = {p.pid: p.conflict for p in snap if not p.ours}
        if login.pid in why and p2pd.pid in why and earlier.pid in {p.pid for p in snap if p.ours}:
            break
        await asyncio.sleep(0.05)
    assert {p.pid for p in snap if p.ours} == {earlier.pid}
    assert "holds the login port" in why[login.pid] and "uses our identity" in why[p2pd.pid]
    assert tree.tree.kill_now() == 0
    await asyncio.sleep(0.2)
    assert login.returncode is None and p2pd.returncode is None and earlier.returncode is None
    assert psutil.Process(earlier.pid).status() != psutil.STATUS_ZOMBIE
    result = await tree.tree.stop(int_timeout=1, term_timeout=1, kill_timeout=1)
    assert [o["pid"] for o in result.orphans_killed] == [earlier.pid]
    assert await asyncio.wait_for(earlier.wait(), 2) == -signal.SIGTERM
    assert login.returncode is None and p2pd.returncode is None
