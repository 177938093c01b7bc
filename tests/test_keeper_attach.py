"""The node outlives the panel: a background keeper, its socket, any number of viewers.

Real processes throughout: `swarmtui start/stop/ls` as subprocesses, the panel in tmux, and the
panel's own engine (engine.remote.RemoteEngine) as the second viewer where two tmux panels would
only cost time."""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from swarmtui.engine import events as ev
from swarmtui.engine import wire
from swarmtui.engine.history import HistoryStore
from swarmtui.engine.remote import RemoteEngine
from swarmtui.errors import UserError
from swarmtui.sim import create_checkout
from test_sim_support import free_port, kill_leftovers
from test_supervise_cli import FAST, Reader, env, state, supervise
from tests.tui_tmux import TMUX, Tmux
from tests.procs import running

REPO = Path(__file__).resolve().parents[1]

pytestmark = [pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux process semantics"),
              pytest.mark.timeout(180)]


def swarmtui(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "swarmtui", *args], capture_output=True, text=True, env=env(),
                          timeout=timeout)


def node_pids(root: Path) -> set[tuple[int, float]]:
    root_s = str(root.resolve())
    out = set()
    for p in psutil.process_iter(["cmdline", "cwd", "status", "create_time"]):
        i = p.info
        if i["status"] == psutil.STATUS_ZOMBIE:
            continue
        cmd = " ".join(i["cmdline"] or [])
        if "-m swarmtui" in cmd or "unset COLUMNS" in cmd:
            continue                                # the keeper, a panel, tmux's shell: not the node
        if root_s in cmd or (i["cwd"] or "").startswith(root_s):
            out.add((p.pid, i["create_time"]))
    return out


@pytest.fixture
def checkout(tmp_path):
    root = create_checkout(tmp_path / "node", "codezero", scenario="healthy", speed=300.0, port=free_port(),
                           login="present")
    cfg = tmp_path / "config.toml"
    cfg.write_text(FAST)
    yield root, cfg
    swarmtui("stop", str(root))
    kill_leftovers(root)


def panel_env() -> dict[str, str]:
    e = {k: v for k, v in os.environ.items() if k.startswith("SWARMTUI_") and k.endswith("_DIR")}
    e["PYTHONPATH"] = str(REPO)
    return e


def wait_status(root: Path, pred, timeout: float = 30.0) -> dict:
    from swarmtui.commands.keepers import status_of

    end = time.monotonic() + timeout
    st = None
    while time.monotonic() < end:
        st = status_of(root)
        if st is not None and pred(st):
            return st
        time.sleep(0.1)
    raise AssertionError(f"keeper status never matched: {st}")


def test_start_is_idempotent_ls_lists_it_and_stop_stops_everything(checkout):
    root, cfg = checkout
    out = swarmtui("start", str(root), "--config", str(cfg))
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(f"keeper started for {root}: pid ")
    pid = int(out.stdout.split("pid ")[1].split(",")[0])
    # its own session, no terminal: nothing that happens to ours can reach it
    keeper = psutil.Process(pid)
    assert os.getsid(pid) != os.getsid(0) and keeper.terminal() is None
    sock = wire.socket_path(root)
    assert stat.S_IMODE(sock.stat().st_mode) == 0o600 and stat.S_IMODE(sock.parent.stat().st_mode) == 0o700
    again = swarmtui("start", str(root))
    assert again.returncode == 0 and again.stdout.startswith(f"keeper already running for {root}: pid {pid}")
    wait_status(root, lambda st: st["state"] == "running")
    listed = [json.loads(line) for line in swarmtui("ls", "--json").stdout.splitlines()]
    assert [(k["checkout"], k["pid"], k["kind"]) for k in listed] == [(str(root), pid, "background")]
    assert {"state", "uptime_s", "round", "restarts_24h", "viewers"} <= set(listed[0])
    human = swarmtui("ls").stdout
    assert str(root) in human and "running" in human and str(pid) in human
    before = node_pids(root)
    assert len(before) >= 4
    stop = swarmtui("stop", str(root))
    assert stop.returncode == 0, stop.stderr
    assert "sigint" in stop.stdout and "stopped" in stop.stdout
    assert not running(pid)
    assert not (before & node_pids(root)), "the node outlived `swarmtui stop`"
    assert [(r["action"], r["reason"]) for r in HistoryStore(root).read()] == [("stop", "manual")]
    assert "no keeper runs" in swarmtui("ls").stdout
    missing = swarmtui("stop", str(root))
    assert missing.returncode == 1 and "no keeper runs" in missing.stderr and missing.stderr.count("\n") == 1


def test_kill_9_of_the_keeper_drops_it_from_ls(checkout):
    root, cfg = checkout
    out = swarmtui("start", str(root), "--config", str(cfg))
    pid = int(out.stdout.split("pid ")[1].split(",")[0])
    wait_status(root, lambda st: st["state"] == "running")
    os.kill(pid, signal.SIGKILL)
    end = time.monotonic() + 5
    while running(pid) and time.monotonic() < end:
        time.sleep(0.05)
    assert swarmtui("ls", "--json").stdout == ""
    assert "no keeper runs" in swarmtui("ls").stdout


@pytest.mark.tmux
@pytest.mark.slow
@pytest.mark.skipif(TMUX is None, reason="tmux not found")
def test_the_node_outlives_a_killed_tmux_and_a_new_panel_shows_what_happened(checkout):
    root, cfg = checkout
    # history written by an earlier keeper: a reopened panel must show it
    first = swarmtui("start", str(root), "--config", str(cfg))
    assert first.returncode == 0
    wait_status(root, lambda st: st["state"] == "running")
    assert swarmtui("stop", str(root)).returncode == 0
    py = shlex.quote(sys.executable)
    term = Tmux(f"unset COLUMNS LINES; {py} -m swarmtui {shlex.quote(str(root))} --config {shlex.quote(str(cfg))}",
                env=panel_env())
    try:
        term.wait(lambda s: "RUNNING" in s and "trainer (python)" in s, timeout=40, what="the node running")
        screen = term.wait(lambda s: "q Detach" in s, timeout=5, what="the footer's detach")
        keeper = wait_status(root, lambda st: st["viewers"] == 1)
        before = node_pids(root)
        assert len(before) >= 4
        term.close()                                # the tmux server is killed: SIGHUP to the panel
    finally:
        term.close()
    seen_round = keeper["round"] or 0
    # Nobody watches; the node goes on. A panel's death that stopped it would have signalled it
    # at once, and a signalled node's processes are gone within a second or two.
    time.sleep(5)
    assert before <= node_pids(root), f"the node lost {before - node_pids(root)} when its panel died"
    st = wait_status(root, lambda st: st["viewers"] == 0 and (st["round"] or 0) > seen_round)
    assert st["pid"] == keeper["pid"] and st["state"] == "running"
    assert [r["reason"] for r in HistoryStore(root).read()] == ["manual"], "a record while nobody watched"
    # attach again from another terminal
    term = Tmux(f"unset COLUMNS LINES; {py} -m swarmtui attach {shlex.quote(str(root))}; sleep 30", env=panel_env())
    try:
        screen = term.wait(lambda s: "RUNNING" in s and "Restart history · 1" in s, timeout=30,
                           what="the state and the earlier record")
        assert "manual" in screen
        latest = st["round"]
        term.wait(lambda s: f"round: {latest}" in s or f"Round {latest}" in s, timeout=15,
                  what=f"round {latest}, reached while nobody watched")
        term.keys("q")
        term.wait(lambda s: "Detach, keep it running" in s, timeout=10, what="the quit dialog")
        term.keys("q")
        term.wait(lambda s: "detached: the node keeps running" in s.replace("\n", ""), timeout=15,
                  what="the detach message")
    finally:
        term.close()
    assert before <= node_pids(root)


# ---------------------------------------------------------------- viewers, in-process


async def _viewer(root: Path, **kw) -> tuple[RemoteEngine, list[ev.Event]]:
    got: list[ev.Event] = []
    engine = RemoteEngine(root, got.append, **kw)
    await engine.start()
    return engine, got


async def _wait(got: list, pred, timeout: float = 30.0, what: str = ""):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        for e in got:
            if pred(e):
                return e
        await asyncio.sleep(0.05)
    raise AssertionError(f"never saw {what}: {[type(e).__name__ for e in got][-30:]}")


@pytest.mark.slow
async def test_two_viewers_and_supervise_json_see_one_restart_and_read_only_is_refused(checkout):
    root, cfg = checkout
    keeper = supervise(str(root), "--config", str(cfg), "--json")
    try:
        r = Reader(keeper)
        r.wait(state("running"), what="running")
        one, got1 = await _viewer(root)
        two, got2 = await _viewer(root)
        ro, got_ro = await _viewer(root, read_only=True)
        for got in (got1, got2, got_ro):            # each starts from the snapshot: the state is known
            await _wait(got, lambda e: isinstance(e, ev.HistoryLoaded), what="the history snapshot")
            await _wait(got, lambda e: isinstance(e, ev.StateChanged) and e.state == ev.RUNNING, what="running")
        ro.send(ev.RestartNode(reason="manual"))
        refused = await _wait(got_ro, lambda e: isinstance(e, ev.Notice) and "refused" in e.text, what="a refusal")
        assert "read-only" in refused.text
        await asyncio.sleep(1.0)
        assert not [e for e in got1 + got2 if isinstance(e, ev.RestartScheduled)], "a read-only viewer restarted it"
        one.send(ev.RestartNode(reason="manual"))
        for got in (got1, got2, got_ro):
            rec = await _wait(got, lambda e: isinstance(e, ev.HistoryAppended), what="the restart's record")
            assert rec.record["reason"] == "manual"
            note = await _wait(got, lambda e: isinstance(e, ev.Notice) and "restart asked by viewer" in e.text)
            assert "(panel, pid" in note.text
        r.wait(lambda e: e["event"] == "history" and e["record"]["reason"] == "manual", what="supervise's record")
        r.wait(lambda e: e["event"] == "notice" and "restart asked by viewer #1" in e["text"], what="who asked")
        for e in (one, two, ro):
            await e.close()
        await asyncio.sleep(0.3)
        assert keeper.poll() is None, "a viewer's close stopped the keeper"
    finally:
        keeper.send_signal(signal.SIGTERM)
        Reader(keeper).drain()


async def test_a_keeper_of_another_protocol_is_one_clear_line(tmp_path, checkout):
    root, _ = checkout
    path = wire.socket_path(root)
    path.parent.mkdir(parents=True, exist_ok=True)

    async def old_keeper(reader, writer):
        await reader.readline()
        writer.write(wire.encode("hello", protocol=99, version="9.9.9", pid=1))
        await writer.drain()
        writer.close()

    server = await asyncio.start_unix_server(old_keeper, path=str(path))
    try:
        with pytest.raises(UserError, match=r"the keeper runs swarmtui 9\.9\.9 \(protocol 99\), this is swarmtui .*"
                                            r"`swarmtui stop` and start again"):
            await RemoteEngine(root, lambda e: None).start()
    finally:
        server.close()
        path.unlink()


@pytest.mark.slow
async def test_a_panel_waits_through_a_keeper_restart_and_attaches_to_the_new_one(checkout):
    """systemd restarting the keeper, or `swarmtui stop` then `start`: the open panel says the
    keeper is gone, keeps trying, and shows the new keeper's node, saying that lines written
    between the two may be missing from its log."""
    root, cfg = checkout
    assert swarmtui("start", str(root), "--config", str(cfg)).returncode == 0
    first = wait_status(root, lambda st: st["state"] == "running")
    engine, got = await _viewer(root, retry_first=0.2, retry_cap=0.5)
    try:
        await _wait(got, lambda e: isinstance(e, ev.LinesOut) and e.lines, what="log lines")
        assert swarmtui("stop", str(root)).returncode == 0
        gone = await _wait(got, lambda e: isinstance(e, ev.StateChanged) and e.reason == "keeper-gone", what="the loss")
        assert gone.detail.startswith("trying the keeper again in 0.2 s: ")
        assert f"`swarmtui {root}` starts a keeper again" in gone.detail
        await asyncio.sleep(1.5)                 # tries that find no keeper: the panel stays, says so
        assert engine.reconnects == 0 and engine.state == ev.STOPPED
        tries = [e for e in got if isinstance(e, ev.StateChanged) and e.reason == "keeper-gone"]
        assert len(tries) >= 3 and "(tried " in tries[-1].detail and "no keeper runs" in tries[-1].detail
        assert swarmtui("start", str(root), "--config", str(cfg)).returncode == 0
        second = wait_status(root, lambda st: st["state"] == "running")
        assert second["pid"] != first["pid"]
        back = await _wait(got, lambda e: isinstance(e, ev.Notice) and "reached the keeper again" in e.text,
                           what="the new keeper reached")
        assert f"a new keeper (pid {second['pid']}; was {first['pid']})" in back.text
        at = next(i for i, e in enumerate(got) if e is back)
        await _wait(got, lambda e: any(isinstance(x, ev.StateChanged) and x.state == ev.RUNNING for x in got[at:]),
                    what="its node running")
        assert any(isinstance(e, ev.Notice) and "may be missing" in e.text for e in got[at:])
        engine.send(ev.RestartNode(reason="manual"))     # and commands reach the new keeper
        await _wait(got, lambda e: isinstance(e, ev.Notice) and "restart asked by viewer" in e.text,
                    what="the restart notice")
    finally:
        await engine.close()
    assert engine.channel.writer.is_closing()


def test_a_client_of_another_user_is_refused(checkout, monkeypatch):
    """As root, run the client as `nobody`: the 0700 folder and 0600 socket keep it out; and with
    the modes loosened by mistake, the keeper's own uid check still does."""
    if os.getuid() != 0:
        pytest.skip("needs root to act as another user")
    import shutil
    import tempfile

    # Under /tmp itself, so that only our own folder's mode stands between nobody and the socket
    # (pytest's folders are 0700 all the way up).
    runtime = Path(tempfile.mkdtemp(prefix="swarmtui-rt-", dir="/tmp"))
    os.chmod(runtime, 0o755)
    monkeypatch.setenv("SWARMTUI_RUNTIME_DIR", str(runtime / "swarmtui"))
    root, cfg = checkout
    assert swarmtui("start", str(root), "--config", str(cfg)).returncode == 0
    wait_status(root, lambda st: st["state"] in ("running", "starting", "login-required"))
    path = wire.socket_path(root)
    client = ("import socket, sys; s = socket.socket(socket.AF_UNIX); s.settimeout(10)\n"
              "try:\n    s.connect(sys.argv[1])\nexcept PermissionError:\n    print('EACCES'); sys.exit(0)\n"
              "s.sendall(b'{\"t\":\"hello\",\"protocol\":1,\"name\":\"x\"}\\n{\"t\":\"attach\"}\\n')\n"
              "print(s.recv(65536).decode().strip())\n")

    def as_nobody():
        os.setgid(65534)
        os.setuid(65534)

    # nobody cannot reach root's venv; the client needs only the standard library
    py = next((p for p in ("/usr/bin/python3", "/usr/local/bin/python3") if os.access(p, os.X_OK)), None)
    if py is None:
        pytest.skip("no system python3 that nobody may run")

    first = subprocess.run([py, "-c", client, str(path)], capture_output=True, text=True,
                           preexec_fn=as_nobody, timeout=20)
    assert first.stdout.strip() == "EACCES", first
    os.chmod(path.parent, 0o777)
    os.chmod(path, 0o777)
    try:
        second = subprocess.run([py, "-c", client, str(path)], capture_output=True, text=True,
                                preexec_fn=as_nobody, timeout=20)
    finally:
        os.chmod(path.parent, 0o700)
        os.chmod(path, 0o600)
    msg = json.loads(second.stdout.strip().splitlines()[0])
    assert msg["t"] == "bye" and "refused" in msg["why"], second
    assert "refused a connection from uid 65534" in (Path(str(HistoryStore(root).dir)) / "keeper.log").read_text()
    assert swarmtui("stop", str(root)).returncode == 0
    shutil.rmtree(runtime, ignore_errors=True)


@pytest.mark.slow
async def test_a_frozen_viewer_never_slows_the_others_and_gets_a_snapshot_when_it_reads(tmp_path, monkeypatch):
    """In-process keeper (the same Fanout and KeeperServer supervise runs) on a flooding node:
    a viewer that never reads overflows only its own bounded queue; the other viewer's events
    keep arriving; when the frozen one reads again it is sent a fresh snapshot."""
    from supervisor_support import Harness
    from swarmtui.engine import keeper_server as ks
    from swarmtui.engine.replay import ReplayCache

    monkeypatch.setattr(ks, "QUEUE_MAX_BYTES", 512 << 10)     # overflow within seconds, not minutes
    h = Harness(tmp_path, "codezero", "flood", speed=200.0)
    fanout = ks.Fanout(h.events.append, ReplayCache(history=HistoryStore(h.root).read))
    h.sup.emit = fanout.emit
    server = ks.KeeperServer(h.root, fanout, send=h.sup.send, stop=lambda why: None, kind="test",
                             state=lambda: {})
    await server.start()
    frozen = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        frozen.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        frozen.connect(str(server.path))
        frozen.sendall(wire.hello("frozen") + wire.encode("attach"))
        await h.sup.start()
        live, got = await _viewer(h.root)
        await _wait(got, lambda e: isinstance(e, ev.StateChanged) and e.state == ev.RUNNING, what="running")
        lags = []
        newest = 0.0
        end = time.monotonic() + 8
        seen = 0
        while time.monotonic() < end:
            await asyncio.sleep(0.1)
            for e in got[seen:]:
                if isinstance(e, ev.LinesOut) and e.ts:
                    sent = ev_time(e.ts)
                    newest = max(newest, sent)
                    lags.append(time.time() - sent)
            seen = len(got)
        stale = time.time() - newest
        frozen_viewer = [v for v in fanout.viewers if v.name == "frozen"][0]
        assert frozen_viewer.dropped >= 1, "the flood never overflowed the frozen viewer's queue"
        assert len(frozen_viewer.queue) <= ks.QUEUE_MAX and frozen_viewer.queued_bytes <= ks.QUEUE_MAX_BYTES
        # Liveness, not speed: a fanout blocked by the frozen viewer would stop the live one's
        # stream (its newest lines would be seconds old at the end); the bound is loose because
        # this 2-core machine runs other jobs beside the flood.
        assert lags, "the live viewer got no lines"
        assert stale < 4.0, f"the live viewer's newest line was {stale:.2f}s old at the end"
        lags.sort()
        assert lags[int(len(lags) * 0.99) - 1] < 4.0, f"the live viewer lagged: p99 {lags[int(len(lags) * 0.99) - 1]:.2f}s"
        # it reads again: the first whole message it gets after what was buffered is a snapshot
        frozen.setblocking(False)
        buf = b""
        deadline = time.monotonic() + 20
        kinds = []
        while time.monotonic() < deadline and "snapshot" not in kinds:
            try:
                chunk = frozen.recv(1 << 20)
            except BlockingIOError:
                await asyncio.sleep(0.02)
                continue
            buf += chunk
            *lines, buf = buf.split(b"\n")
            kinds += [json.loads(line)["t"] for line in lines if line.strip()]
        assert "snapshot" in kinds[1:], kinds[:5]
        await live.close()
    finally:
        frozen.close()
        await server.close()
        await h.close()


def ev_time(ts: str) -> float:
    import datetime as dt

    return dt.datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()


def test_attach_stdio_carries_the_protocol_byte_for_byte(checkout):
    """`ssh HOST swarmtui attach --stdio DIR` is how a remote viewer reaches a keeper: the same
    JSON lines, over stdin and stdout."""
    root, cfg = checkout
    assert swarmtui("start", str(root), "--config", str(cfg)).returncode == 0
    wait_status(root, lambda st: st["state"] == "running")
    done = subprocess.run([sys.executable, "-m", "swarmtui", "attach", "--stdio", str(root)],
                          input=(wire.hello("ssh") + wire.encode("status")).decode(), capture_output=True,
                          text=True, env=env(), timeout=30)
    msgs = [json.loads(line) for line in done.stdout.splitlines()]
    assert [m["t"] for m in msgs] == ["hello", "status", "bye"], done
    assert msgs[1]["checkout"] == str(root) and msgs[1]["state"] == "running"
    none = subprocess.run([sys.executable, "-m", "swarmtui", "attach", "--stdio", str(root.parent)],
                          input="", capture_output=True, text=True, env=env(), timeout=30)
    assert none.returncode == 2 and none.stderr.count("\n") == 1
