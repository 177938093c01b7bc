"""A keeper reached over the user's own ssh: `ssh HOST swarmtui attach --stdio DIR`.

Real parts only: a real OpenSSH server on loopback (tests/sshd.py; its sessions see this test's
private swarmtui folders), the real ssh client, a sim node kept by a real background keeper. The
"remote" host is this one, which is what lets a test compare what ssh carries with what the
keeper's socket says directly."""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from swarmtui.engine import channel
from swarmtui.engine import events as ev
from swarmtui.engine import wire
from swarmtui.engine.remote import RemoteEngine, RemoteLayout
from swarmtui.errors import UserError
from test_keeper_attach import _wait, checkout, panel_env, swarmtui, wait_status  # noqa: F401 (fixture)
from test_supervise_cli import env
from tests.sshd import sshd  # noqa: F401 (fixture)
from tests.tui_tmux import TMUX, Tmux

pytestmark = [pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux process semantics"),
              pytest.mark.timeout(180)]


def open_ssh(server, node_dir: str, **kw):
    kw.setdefault("remote_command", server.remote_command)
    return channel.open_ssh(kw.pop("host", server.host), node_dir, ssh_command=server.ssh_command, **kw)


def bridges(root: Path) -> list[psutil.Process]:
    """The `swarmtui attach --stdio ROOT` processes sshd started for our connections."""
    out = []
    for p in psutil.process_iter(["cmdline"]):
        cmd = p.info["cmdline"] or []
        if "--stdio" in cmd and str(root) in cmd:
            out.append(p)
    return out


async def wait_gone(procs: list[psutil.Process], timeout: float = 10.0) -> list[psutil.Process]:
    end = time.monotonic() + timeout
    left = procs
    while left and time.monotonic() < end:
        left = [p for p in left if _alive(p)]
        await asyncio.sleep(0.05)
    return left


def _alive(p: psutil.Process) -> bool:
    try:
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


async def reason(server, node_dir: str, **kw) -> str:
    ch = await open_ssh(server, node_dir, **kw)
    try:
        with pytest.raises(channel.ChannelError) as info:
            await channel.handshake(ch, "test", True)
    finally:
        await ch.close()
    assert ch.process is not None and ch.process.returncode is not None
    text = str(info.value)
    assert text and "\n" not in text and "Traceback" not in text
    return text


def test_the_remote_words_are_quoted_for_the_remote_shell_and_keep_its_home():
    argv = channel.ssh_argv("u@box", "~/my node;rm -rf x", remote_command="~/.local/bin/swarmtui")
    assert argv[:5] == ["ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10"] and argv[-3] == "--"
    assert argv[-2] == "u@box"
    # what a POSIX shell on the other side makes of it: exactly our words, ~ expanded there
    words = subprocess.run(["sh", "-c", 'HOME=/home/u; eval "set -- $0"; printf "%s\\n" "$@"', argv[-1]],
                           capture_output=True, text=True, check=True).stdout.splitlines()
    assert words == ["/home/u/.local/bin/swarmtui", "attach", "--stdio", "/home/u/my node;rm -rf x"]
    assert channel.ssh_argv("box", "-x", batch=False)[-1] == "swarmtui attach --stdio ./-x"
    with pytest.raises(channel.ChannelError, match="not a host name"):
        channel.ssh_argv("-oProxyCommand=touch /tmp/x", "~/rl-swarm")
    with pytest.raises(channel.ChannelError, match="not a host name"):
        channel.ssh_argv("[-oProxyCommand=x:1]", "~/rl-swarm")
    assert channel.split_target("gpu-box:~/rl-swarm") == ("gpu-box", "~/rl-swarm")
    assert channel.split_target("ubuntu@203.0.113.7:") == ("ubuntu@203.0.113.7", "~")
    assert channel.split_target("./a:b") is None and channel.split_target("/srv/a:b") is None


def test_an_ipv6_address_goes_in_brackets_as_for_scp_and_ssh_gets_it_bare():
    for text, parts in [("[::1]:/srv/rl-swarm", ("::1", "/srv/rl-swarm")), ("op@[2001:db8::7]:", ("op@2001:db8::7", "~")),
                        ("[fe80::1%eth0]:rl-swarm", ("fe80::1%eth0", "rl-swarm"))]:
        assert channel.split_target(text) == parts
        assert channel.split_target(channel.join_target(*parts)) == parts       # labels read back
    assert channel.join_target("op@2001:db8::7", "/srv/x") == "op@[2001:db8::7]:/srv/x"
    assert channel.join_target("gpu-box", "~/rl") == "gpu-box:~/rl"
    assert channel.host_label("::1") == "[::1]" and channel.host_label("op@[::1]") == "op@[::1]"
    # without the brackets the first colon splits, as scp's does; half a bracket is a local path
    assert channel.split_target("::1:/srv/x") is None or channel.split_target("::1:/srv/x")[0] != "::1"
    for local in ("[::1]", "[::1]/x:y", "[]:x", "a@b@[::1]:x", "[::1:/srv/x"):
        assert channel.split_target(local) is None, local
    # a fleet file's host may keep scp's brackets: ssh is given the address alone
    assert channel.ssh_argv("op@[2001:db8::7]", "~/rl")[-2] == "op@2001:db8::7"
    assert channel.ssh_argv("[::1]", "~/rl")[-2] == "::1" and channel.ssh_argv("box", "~/rl")[-2] == "box"
    layout = RemoteLayout.from_status("op@2001:db8::7", {"checkout": "/srv/node", "state_dir": "/var/st"})
    assert layout.label == "op@[2001:db8::7]:/srv/node" and layout.backup_dir == "op@[2001:db8::7]:/var/st/backups"


def test_a_remote_layout_names_the_remote_keepers_paths_and_never_this_hosts():
    """The panel shows what the remote keeper reported: none of this host's state dir, which
    would name a folder that does not hold that node's backups."""
    from swarmtui.tui import wording

    status = {"checkout": "/home/op/rl-swarm", "era": "rgym", "era_label": "RL Gym (v0.6)", "login_port": 3001,
              "identity_path": "/home/op/rl-swarm/swarm.pem", "temp_data_dir": "/home/op/rl-swarm/modal-login/temp-data",
              "user_data_path": "/home/op/rl-swarm/modal-login/temp-data/userData.json",
              "api_key_path": "/home/op/rl-swarm/modal-login/temp-data/userApiKey.json",
              "state_dir": "/home/op/.local/state/swarmtui/nodes/rl-swarm-1a2b"}
    layout = RemoteLayout.from_status("op@gpu-box", status)
    assert layout.label == "op@gpu-box:/home/op/rl-swarm" and layout.login_port == 3001
    text = "\n".join(wording.logout(layout, running=True).lines + wording.reset_identity(layout, False).lines)
    assert "op@gpu-box:/home/op/.local/state/swarmtui/nodes/rl-swarm-1a2b/backups/" in text
    assert "/home/op/rl-swarm/modal-login/temp-data/userApiKey.json" in text and "localhost:3001" in text
    from swarmtui import paths
    assert str(paths.state_dir()) not in text
    # an older keeper that reports none of these: generic names, still nothing of this host
    old = RemoteLayout.from_status("gpu-box", {"checkout": "/srv/node"})
    assert old.identity_path == Path("/srv/node/swarm.pem") and "gpu-box" in str(wording.backup_dir(old))


async def test_an_unreachable_host_a_missing_swarmtui_and_no_keeper_are_one_line_each(sshd, tmp_path):
    from swarmtui.sim import create_checkout

    down = await reason(sshd, "~/rl-swarm", host=sshd.down_host)
    assert down.startswith("ssh: connect to host 127.0.0.1 port ") and down.endswith("Connection refused"), down
    missing = await reason(sshd, "~/rl-swarm", remote_command="swarmtui-not-installed-here")
    assert missing == f"swarmtui is not installed on {sshd.host} (or not on its PATH)"
    root = create_checkout(tmp_path / "idle", "codezero")
    assert await reason(sshd, str(root)) == f"no keeper runs for {root} on {sshd.host}"
    assert await reason(sshd, str(tmp_path)) == f"{sshd.host}: {tmp_path}: not an rl-swarm checkout (run_rl_swarm.sh is missing)"


async def test_a_chatty_login_shell_is_skipped_and_another_protocol_is_one_line(tmp_path):
    """Shell start-up files that print (an `echo` in .bashrc) put lines before the keeper's
    hello. The far side's bash reads a .bashrc of the test's (sshd gives the session a HOME of
    ours), so the noise is real. The keeper is a stand-in on the checkout's real socket (as in
    test_keeper_attach's protocol test), so the words it says are the test's to choose."""
    from swarmtui.sim import create_checkout
    from tests.sshd import start_sshd, stop_sshd

    home = tmp_path / "home"
    home.mkdir()
    (home / ".bashrc").write_text('echo "Welcome to gpu-box, $USER"\necho "{not json either"\n')
    dirs = {k: v for k, v in os.environ.items() if k.startswith("SWARMTUI_") and k.endswith("_DIR")}
    server = start_sshd(tmp_path / "sshd", {**dirs, "HOME": str(home)})
    try:
        said = subprocess.run([*server.ssh_command, server.host, "true"], capture_output=True, text=True, timeout=30)
        if "Welcome to gpu-box" not in said.stdout:
            pytest.skip("the login shell here does not read ~/.bashrc for ssh commands: no noise to skip")
    except BaseException:
        stop_sshd(server)
        raise
    root = create_checkout(tmp_path / "node", "codezero")
    path = wire.socket_path(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    protocol = [wire.PROTOCOL]

    async def keeper(reader, writer):
        await reader.readline()
        writer.write(wire.encode("hello", protocol=protocol[0], version="9.9.9", pid=4242, checkout=str(root)))
        await writer.drain()
        await reader.readline()
        writer.close()

    stand_in = await asyncio.start_unix_server(keeper, path=str(path))
    try:
        ch = await open_ssh(server, str(root))
        try:
            hello = await channel.handshake(ch, "test", True)
        finally:
            await ch.close()
        assert hello["pid"] == 4242 and hello["checkout"] == str(root)
        protocol[0] = 99
        line = await reason(server, str(root))
        assert line.startswith("the keeper runs swarmtui 9.9.9 (protocol 99), this is swarmtui "), line
    finally:
        stand_in.close()
        path.unlink()
        stop_sshd(server)


@pytest.mark.slow
async def test_over_ssh_the_keeper_gives_what_it_gives_here_and_close_ends_ssh(sshd, checkout):
    root, cfg = checkout
    assert swarmtui("start", str(root), "--config", str(cfg)).returncode == 0
    wait_status(root, lambda st: st["state"] == "running")

    local = await channel.open_local(root)
    here = await channel.status(local, name="test")
    await local.close()
    remote = await open_ssh(sshd, str(root))
    there = await channel.status(remote, name="test")
    await remote.close()
    for key in ("checkout", "pid", "kind", "started", "state", "era", "login_port", "identity_path"):
        assert there[key] == here[key], key
    assert remote.process.returncode is not None

    # The panel's engine, both ways: the same snapshot, the same live state.
    got_local: list[ev.Event] = []
    got_ssh: list[ev.Event] = []
    layout = RemoteLayout.from_status(sshd.host, there)
    assert layout.root == Path(root) and layout.identity_path == Path(here["identity_path"])
    near = RemoteEngine(root, got_local.append, name="near")
    far = RemoteEngine(str(root), got_ssh.append, name="far", layout=layout,
                       opener=lambda: open_ssh(sshd, str(root)))
    await near.start()
    await far.start()
    try:
        assert far.keeper["pid"] == near.keeper["pid"] == here["pid"]
        for got in (got_local, got_ssh):
            await _wait(got, lambda e: isinstance(e, ev.HistoryLoaded), what="the history snapshot")
            await _wait(got, lambda e: isinstance(e, ev.StateChanged) and e.state == ev.RUNNING, what="running")
        assert far.state == near.state == ev.RUNNING
        # one command over ssh reaches the keeper, and both viewers hear who asked
        far.send(ev.RestartNode(reason="manual"))
        for got in (got_local, got_ssh):
            note = await _wait(got, lambda e: isinstance(e, ev.Notice) and "restart asked by viewer" in e.text,
                               what="the restart notice")
            assert "(far," in note.text
        st = wait_status(root, lambda st: st["viewers"] == 2)
        assert st["pid"] == here["pid"]
        open_bridges = bridges(root)
        assert len(open_bridges) == 1, open_bridges
        ssh_proc = far.channel.process
    finally:
        await far.close()
        await near.close()
    assert ssh_proc.returncode is not None and not psutil.pid_exists(ssh_proc.pid)
    assert not await wait_gone(open_bridges), "the remote bridge outlived the viewer's close"
    wait_status(root, lambda st: st["viewers"] == 0)


async def test_a_keeper_is_reached_at_an_ipv6_address_written_as_for_scp(sshd, checkout):
    if not sshd.ipv6:
        pytest.skip("no IPv6 loopback on this host")
    root, cfg = checkout
    assert swarmtui("start", str(root), "--config", str(cfg)).returncode == 0
    wait_status(root, lambda st: st["state"] == "running")
    host, where = channel.split_target(f"[::1]:{root}")
    ch = await open_ssh(sshd, where, host=host)
    try:
        there = await channel.status(ch, name="test")
    finally:
        await ch.close()
    assert there["checkout"] == str(root) and there["state"] == "running"
    assert "::1" in sshd.log.read_text()       # it came in over IPv6, not through the alias


def test_start_and_stop_host_dir_run_that_hosts_swarmtui_over_ssh(sshd, checkout, tmp_path):
    root, cfg = checkout
    e = env()
    e["SWARMTUI_SSH"] = sshd.env_ssh()
    # The remote keeper reads the remote host's config (here: the session's config dir).
    (Path(os.environ["SWARMTUI_CONFIG_DIR"]) / "config.toml").write_text(cfg.read_text())

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "swarmtui", *args, "--remote-command", sshd.remote_command],
                              capture_output=True, text=True, env=e, timeout=120)

    target = f"{sshd.host}:{root}"
    started = run("start", target)
    assert started.returncode == 0, started.stderr
    assert f"keeper started for {root}: pid " in started.stdout
    assert f"from here: swarmtui attach {target}    swarmtui stop {target}" in started.stdout
    st = wait_status(root, lambda st: st["state"] == "running")
    keeper = psutil.Process(st["pid"])
    again = run("start", target)
    assert again.returncode == 0 and f"keeper already running for {root}: pid {st['pid']}" in again.stdout
    stopped = run("stop", target)
    assert stopped.returncode == 0, stopped.stderr
    assert f"keeper {st['pid']} stopped; the node is stopped" in stopped.stdout
    assert not _alive(keeper)
    # what goes wrong is one line, exit 1, as for attach
    for args, line in [(("stop", target), f"swarmtui: no keeper runs for {root} on {sshd.host}"),
                       (("start", f"{sshd.down_host}:{root}"), "swarmtui: ssh: connect to host 127.0.0.1 port "),
                       (("start", f"{sshd.host}:{tmp_path}"), f"swarmtui: {sshd.host}: {tmp_path}: not an rl-swarm checkout")]:
        out = run(*args)
        assert out.returncode == 1 and out.stderr.startswith(line) and out.stderr.count("\n") == 1, (args, out.stderr)
    refused = run("start", target, "--config", str(cfg))
    assert refused.returncode == 2 and f"on {sshd.host} its own config file applies" in refused.stderr


def _log_lines(got: list[ev.Event]) -> list[ev.LogLine]:
    return [x for e in got if isinstance(e, ev.LinesOut) for x in e.lines]


async def test_a_dropped_ssh_link_is_reached_again_and_the_log_goes_on_without_repeats_or_gaps(sshd, checkout):
    """The link dies under the panel (ssh killed, as a network loss ends it): the engine says
    so, reaches the same keeper again, and the snapshot's backlog is shown from the line after
    the last one shown."""
    root, cfg = checkout
    assert swarmtui("start", str(root), "--config", str(cfg)).returncode == 0
    keeper = wait_status(root, lambda st: st["state"] == "running")
    got: list[ev.Event] = []
    far = RemoteEngine(str(root), got.append, layout=RemoteLayout(sshd.host, Path(root)),
                       opener=lambda: open_ssh(sshd, str(root)), retry_first=0.3)
    await far.start()
    try:
        await _wait(got, lambda e: isinstance(e, ev.StateChanged) and e.state == ev.RUNNING, what="running")
        await _wait(got, lambda e: len(_log_lines(got)) >= 20, what="some log lines")
        far.channel.process.kill()                          # the link is gone
        gone = await _wait(got, lambda e: isinstance(e, ev.StateChanged) and e.reason == "keeper-gone",
                           what="the loss")
        assert gone.detail.startswith("trying the keeper again in 0.3 s: ") and "ssh" in gone.detail, gone.detail
        back = await _wait(got, lambda e: isinstance(e, ev.Notice) and "reached the keeper again" in e.text,
                           what="the keeper reached again")
        assert "the same keeper" in back.text and far.reconnects == 1
        after = next(i for i, e in enumerate(got) if e is back)
        await _wait(got, lambda e: any(isinstance(x, ev.StateChanged) and x.state == ev.RUNNING for x in got[after:]),
                    what="running again")
        shown = len(_log_lines(got))
        await _wait(got, lambda e: len(_log_lines(got)) >= shown + 20, what="lines after the reconnect")
        assert not any(isinstance(e, ev.Notice) and "may be missing" in e.text for e in got)
    finally:
        await far.close()
    lines = _log_lines(got)
    keys = [(x.source, x.line) for x in lines]
    assert len(keys) == len(set(keys)), "a line shown twice"
    pty = [n for src, n in keys if src == "pty"]
    assert pty == list(range(pty[0], pty[0] + len(pty))), "the terminal's lines skip or go back"
    assert wait_status(root, lambda st: st["pid"] == keeper["pid"])["state"] == "running"


@pytest.mark.slow
async def test_a_keeper_that_stops_ends_the_ssh_viewer_with_the_reason(sshd, checkout):
    root, cfg = checkout
    assert swarmtui("start", str(root), "--config", str(cfg)).returncode == 0
    wait_status(root, lambda st: st["state"] == "running")
    got: list[ev.Event] = []
    far = RemoteEngine(str(root), got.append, layout=RemoteLayout(sshd.host, Path(root)),
                       opener=lambda: open_ssh(sshd, str(root)), again="`ssh box swarmtui start` starts one again")
    await far.start()
    try:
        await _wait(got, lambda e: isinstance(e, ev.StateChanged) and e.state == ev.RUNNING, what="running")
        open_bridges = bridges(root)
        assert swarmtui("stop", str(root)).returncode == 0
        gone = await _wait(got, lambda e: isinstance(e, ev.StateChanged) and e.reason == "keeper-gone",
                           what="the keeper's going")
        assert "`ssh box swarmtui start` starts one again" in gone.detail
        assert far.channel.process.returncode == 0        # the bridge ended cleanly, and ssh with it
        assert not await wait_gone(open_bridges)
    finally:
        await far.close()
    with pytest.raises(UserError, match=f"no keeper runs for {root} on {sshd.host}"):
        await RemoteEngine(str(root), got.append, layout=RemoteLayout(sshd.host, Path(root)),
                           opener=lambda: open_ssh(sshd, str(root))).start()


@pytest.mark.slow
def test_the_stdio_bridge_ends_with_its_stdin_or_its_keeper_and_says_why_in_one_line(checkout):
    root, cfg = checkout
    assert swarmtui("start", str(root), "--config", str(cfg)).returncode == 0
    wait_status(root, lambda st: st["state"] == "running")
    bridge = subprocess.Popen([sys.executable, "-m", "swarmtui", "attach", "--stdio", str(root)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env())
    try:
        bridge.stdin.write(wire.hello("t") + wire.encode("attach"))
        bridge.stdin.flush()
        assert json.loads(bridge.stdout.readline())["t"] == "hello"
        assert json.loads(bridge.stdout.readline())["t"] == "snapshot"
        wait_status(root, lambda st: st["viewers"] == 1)
        bridge.stdin.close()                                    # the viewer (or ssh) went away
        assert bridge.wait(10) == 0
        assert bridge.stderr.read() == b""
    finally:
        if bridge.poll() is None:
            bridge.kill()
            bridge.wait()
    wait_status(root, lambda st: st["viewers"] == 0)
    # The keeper hangs up (it stops): the bridge passes its last words on, then ends.
    bridge = subprocess.Popen([sys.executable, "-m", "swarmtui", "attach", "--stdio", str(root)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env())
    try:
        bridge.stdin.write(wire.hello("t") + wire.encode("attach"))
        bridge.stdin.flush()
        wait_status(root, lambda st: st["viewers"] == 1)
        assert swarmtui("stop", str(root)).returncode == 0
        out = bridge.stdout.read()          # to EOF; stdin stays open: only the keeper can end it
        bridge.wait(10)
        err = bridge.stderr.read()
    finally:
        if bridge.poll() is None:
            bridge.kill()
            bridge.wait()
    assert bridge.returncode == 0 and err == b""
    assert json.loads(out.splitlines()[-1])["t"] == "bye"
    none = subprocess.run([sys.executable, "-m", "swarmtui", "attach", "--stdio", str(root)], input=b"",
                          capture_output=True, env=env(), timeout=30)
    assert none.returncode == 1 and none.stderr.decode() == f"swarmtui: no keeper runs for {root}\n"


def _remote_panel(sshd, words: str, after: str = "") -> Tmux:
    """`swarmtui WORDS --remote-command ...` in a tmux pane, with the test sshd's ssh."""
    e = panel_env()
    e["SWARMTUI_SSH"] = shlex.join(sshd.ssh_command)
    py = shlex.quote(sys.executable)
    return Tmux(f"unset COLUMNS LINES; {py} -m swarmtui {words} --remote-command "
                f"{shlex.quote(sshd.remote_command)}; {after}sleep 30", env=e)


def _wait_remote_running(term: Tmux, sshd, root: Path) -> str:
    # the status bar names the node HOST:DIR (shortened to fit: the tmp path is long)
    return term.wait(lambda s: "RUNNING" in s and f"{sshd.host}:{str(root)[:20]}" in s, timeout=40,
                     what="the remote node running, named with its host")


@pytest.mark.tmux
@pytest.mark.slow
@pytest.mark.skipif(TMUX is None, reason="tmux not found")
def test_swarmtui_host_dir_starts_the_keeper_there_then_opens_the_panel(sshd, checkout):
    """`swarmtui HOST:DIR`, as `swarmtui DIR` here: no keeper runs on HOST, so HOST's swarmtui
    starts one (with HOST's config), and the panel opens on it."""
    root, cfg = checkout
    (Path(os.environ["SWARMTUI_CONFIG_DIR"]) / "config.toml").write_text(cfg.read_text())
    term = _remote_panel(sshd, shlex.quote(f"{sshd.host}:{root}"), after="echo rc=$?; ")
    try:
        _wait_remote_running(term, sshd, root)
        st = wait_status(root, lambda st: st["viewers"] == 1)
        term.keys("q")
        term.wait(lambda s: "Detach, keep it running" in s, timeout=10, what="the quit dialog")
        term.keys("q")
        term.wait(lambda s: "rc=0" in s, timeout=15, what="the exit")
    finally:
        term.close()
    assert wait_status(root, lambda st: st["viewers"] == 0)["pid"] == st["pid"]    # still kept there


@pytest.mark.tmux
@pytest.mark.slow
@pytest.mark.skipif(TMUX is None, reason="tmux not found")
def test_attach_host_dir_opens_the_panel_over_ssh(sshd, checkout):
    root, cfg = checkout
    assert swarmtui("start", str(root), "--config", str(cfg)).returncode == 0
    wait_status(root, lambda st: st["state"] == "running")
    term = _remote_panel(sshd, "attach " + shlex.quote(f"{sshd.host}:{root}"))
    try:
        screen = _wait_remote_running(term, sshd, root)
        assert "trainer (python)" in term.wait(lambda s: "trainer (python)" in s, timeout=20, what="its processes")
        wait_status(root, lambda st: st["viewers"] == 1)
        term.keys("q")
        term.wait(lambda s: "Detach, keep it running" in s, timeout=10, what="the quit dialog")
        term.keys("q")
        term.wait(lambda s: f"detached: the node on {sshd.host} keeps running" in s.replace("\n", ""), timeout=15,
                  what="the detach message")
    finally:
        term.close()
    wait_status(root, lambda st: st["viewers"] == 0 and st["state"] == "running")
    # and a host that cannot be reached is one line before any screen is taken
    term = _remote_panel(sshd, "attach " + shlex.quote(f"{sshd.down_host}:{root}"), after="echo rc=$?; ")
    try:
        screen = term.wait(lambda s: "rc=" in s, timeout=30, what="the exit")
        assert "rc=1" in screen and "Connection refused" in screen and "Traceback" not in screen
    finally:
        term.close()
