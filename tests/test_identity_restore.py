"""Restore: swarmtui's backups of swarm.pem and the login files listed with their peer id or
login and date, one put back (the current file backed up first, 0600, a symlink replaced, never
written through), from the command line and the panel; never while the node runs."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

import pytest

from node_checkouts import libp2p_key_bytes, make_checkout, write_login, write_pem
from swarmtui import paths
from swarmtui.engine import events as ev
from swarmtui.engine.identity_actions import (IdentityWatcher, RestoreRefused, find_backup, list_restorable,
                                              no_keeper, reset_identity, restore_backup, restore_refusal)
from swarmtui.engine.login import logout
from swarmtui.node.identity import identity_report, peer_id_of_file
from swarmtui.node.layout import inspect_checkout


def swarmtui(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "swarmtui", *args], capture_output=True, text=True,
                          timeout=60, input=stdin)


@pytest.fixture
def node(tmp_path):
    """A checkout whose identity was reset and whose login was logged out: three backups."""
    root = make_checkout(tmp_path / "rl-swarm", "codezero")
    write_pem(root / "swarm.pem", libp2p_key_bytes(0))
    write_login(root, email="old@example.org")
    layout = inspect_checkout(root, env={})
    old_peer = peer_id_of_file(root / "swarm.pem")
    reset_identity(layout)
    logout(layout)
    return layout, old_peer


def test_backups_are_listed_with_peer_id_login_and_date_newest_first(node):
    layout, old_peer = node
    backups = list_restorable(layout)
    assert [b.target for b in backups] == ["userApiKey.json", "userData.json", "swarm.pem"]
    pem = backups[2]
    assert pem.peer_id == old_peer and old_peer in pem.detail and pem.time is not None
    assert "old@example.org" in backups[1].detail
    assert backups[0].detail == "2 API keys, the newest activated"
    # the two login files of one logout go back together
    assert backups[0].partner == backups[1].path and backups[1].partner == backups[0].path
    assert find_backup(layout, "3").path == pem.path
    assert find_backup(layout, pem.path.name).path == pem.path
    assert find_backup(layout, str(pem.path)).path == pem.path
    for bad in ("0", "4", "nothing", str(layout.root / "swarm.pem")):
        with pytest.raises(RestoreRefused):
            find_backup(layout, bad)


def test_a_link_planted_in_the_backups_folder_is_not_offered(node, tmp_path):
    layout, _ = node
    foreign = tmp_path / "foreign.pem"
    write_pem(foreign, libp2p_key_bytes(5), mode=0o600)
    backups = paths.node_state_dir(layout.root) / "backups"
    os.symlink(foreign, backups / "20300101T000000.000000Z-swarm.pem")
    assert all(b.path.name != "20300101T000000.000000Z-swarm.pem" for b in list_restorable(layout))


def test_restore_backs_up_the_current_file_first_and_replaces_a_symlink_without_writing_through(node, tmp_path):
    layout, old_peer = node
    pem = layout.identity_path
    elsewhere = tmp_path / "keys-disk" / "new.pem"
    elsewhere.parent.mkdir()
    new_key = libp2p_key_bytes(1)
    write_pem(elsewhere, new_key)
    os.symlink(elsewhere, pem)                        # the new identity, kept on another disk
    restored, safety = restore_backup(layout, find_backup(layout, "3"))
    assert restored == [pem]
    assert not pem.is_symlink() and peer_id_of_file(pem) == old_peer
    assert stat.S_IMODE(os.stat(pem).st_mode) == 0o400
    assert elsewhere.read_bytes() == new_key          # the file the link pointed at: untouched
    (kept,) = safety
    assert kept.read_bytes() == new_key and stat.S_IMODE(os.stat(kept).st_mode) == 0o600
    assert identity_report(layout).peer_id == old_peer


def test_restoring_one_login_file_puts_back_both_of_that_login(node):
    layout, _ = node
    assert not layout.user_data_path.exists() and not layout.api_key_path.exists()
    restored, safety = restore_backup(layout, find_backup(layout, "2"))
    assert sorted(p.name for p in restored) == ["userApiKey.json", "userData.json"] and safety == []
    assert json.loads(layout.user_data_path.read_text())
    for p in restored:
        assert stat.S_IMODE(os.stat(p).st_mode) == 0o600
    assert identity_report(layout).login.email == "old@example.org"


def test_a_backup_that_is_not_what_its_name_says_is_refused_and_nothing_changes(node):
    layout, _ = node
    backups = paths.node_state_dir(layout.root) / "backups"
    bad = backups / "20300101T000000.000000Z-swarm.pem"
    bad.write_bytes(b"-----BEGIN PRIVATE KEY----- not a libp2p key")
    write_pem(layout.identity_path, libp2p_key_bytes(2))
    before = sorted(os.listdir(backups))
    with pytest.raises(RestoreRefused, match="not a libp2p key"):
        restore_backup(layout, find_backup(layout, bad.name))
    assert peer_id_of_file(layout.identity_path) is not None and sorted(os.listdir(backups)) == before


def test_refused_while_the_node_runs_and_while_a_keeper_holds_the_checkout(node):
    layout, _ = node
    assert "stop it first" in restore_refusal(layout, node_running=True)
    assert restore_refusal(layout, node_running=False) is None
    from swarmtui.engine.keeper import KeeperLock

    lock = KeeperLock(layout.root, "supervise", "run-test")
    lock.acquire()
    try:
        with pytest.raises(RestoreRefused, match="stop the node first"):
            with no_keeper(layout):
                pass
    finally:
        lock.release()
    with no_keeper(layout):
        pass


def test_the_watcher_report_lists_the_backups_for_the_panel(node):
    layout, _ = node
    report = IdentityWatcher(layout).check(force=True)
    assert [b["target"] for b in report["restorable"]] == ["userApiKey.json", "userData.json", "swarm.pem"]


# ---------------------------------------------------------------- the command line


def test_cli_lists_then_restores_and_says_what_it_kept(node):
    layout, old_peer = node
    listed = swarmtui("identity", "restore", str(layout.root))
    assert listed.returncode == 0, listed.stderr
    assert old_peer in listed.stdout and "old@example.org" in listed.stdout
    assert "  3  " in listed.stdout and "restore one: swarmtui identity restore" in listed.stdout
    as_json = json.loads(swarmtui("identity", "restore", str(layout.root), "--json").stdout)
    assert [b["target"] for b in as_json] == ["userApiKey.json", "userData.json", "swarm.pem"]
    asked = swarmtui("identity", "restore", str(layout.root), "3", stdin="y\n")
    assert asked.returncode == 1 and asked.stderr.count("\n") == 1 and "--yes" in asked.stderr   # no tty
    assert not layout.identity_path.exists()
    done = swarmtui("identity", "restore", str(layout.root), "3", "--yes")
    assert done.returncode == 0, done.stderr
    assert peer_id_of_file(layout.identity_path) == old_peer and "restored" in done.stdout


@pytest.mark.parametrize("args, words", [
    (("9",), "no backup number 9"),
    (("nope.pem",), "not one of swarmtui's backups"),
    (("3", "extra"), "unexpected argument"),
])
def test_cli_bad_input_is_one_line_and_non_zero(node, args, words):
    layout, _ = node
    out = swarmtui("identity", "restore", str(layout.root), *args, "--yes")
    assert out.returncode != 0 and out.stdout == ""
    assert out.stderr.count("\n") == 1 and words in out.stderr and "Traceback" not in out.stderr


def test_cli_with_no_backups_says_so(tmp_path):
    root = make_checkout(tmp_path / "fresh", "codezero")
    out = swarmtui("identity", "restore", str(root))
    assert out.returncode == 0 and "no backups of swarm.pem" in out.stdout


# ---------------------------------------------------------------- the panel


async def test_panel_lists_backups_asks_then_sends_the_restore(node):
    from swarmtui.tui.screens.confirm import ConfirmScreen
    from swarmtui.tui.screens.restore import RestoreScreen
    from tests.screen_read import screen_text, shown
    from tests.tui_engine import make_app

    layout, old_peer = node
    report = IdentityWatcher(layout).check(force=True)
    app, engine = make_app([ev.IdentityChanged(report=report), ev.StateChanged(state=ev.STOPPED)])
    async with app.run_test(size=(120, 40)) as pilot:
        assert "b: restore a backup (3)" in await shown(pilot, app, "b: restore a backup (3)")
        await pilot.press("b")
        await pilot.pause(0.2)
        assert isinstance(app.screen, RestoreScreen)
        text = screen_text(app)
        assert old_peer[:20] in text and "old@example.org" in text
        await pilot.press("down", "down", "enter")
        await pilot.pause(0.1)
        assert isinstance(app.screen, ConfirmScreen)
        assert "swarm.pem" in screen_text(app) and engine.commands == []
        await pilot.press("y")
        await pilot.pause(0.1)
        pem_backup = [b for b in report["restorable"] if b["target"] == "swarm.pem"][0]
        assert engine.commands == [ev.RestoreBackup(path=pem_backup["path"])]


async def test_panel_says_stop_first_while_the_node_runs_and_sends_nothing(node):
    from swarmtui.tui.screens.restore import RestoreScreen
    from tests.screen_read import screen_text
    from tests.tui_engine import make_app

    layout, _ = node
    report = IdentityWatcher(layout).check(force=True)
    app, engine = make_app([ev.IdentityChanged(report=report), ev.StateChanged(state=ev.RUNNING)])
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.2)
        await pilot.press("b")
        await pilot.pause(0.2)
        assert isinstance(app.screen, RestoreScreen)
        assert "The node is running: stop it first (s)" in screen_text(app)
        await pilot.press("enter")
        await pilot.pause(0.1)
        assert engine.commands == []
        assert any("Not restored: the node is running" in m for _, m in app.toasts)


async def test_the_pane_says_running_as_old_after_a_reset_until_the_restart():
    from swarmtui.tui import frozen
    from swarmtui.tui.panes.identity import IdentityPane
    from tests.screen_read import screen_text
    from tests.tui_engine import make_app

    old = frozen.identity_report()
    app, _ = make_app([ev.StateChanged(state=ev.STARTING), ev.IdentityChanged(report=old),
                       ev.StateChanged(state=ev.RUNNING)])
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.2)
        pane = app.query_one(IdentityPane)
        gone = dict(old, pem_state="missing", peer_id=None, animal_name=None)
        app._emit(ev.IdentityChanged(report=gone))                 # reset while it runs
        await pilot.pause(0.2)
        text = screen_text(app)
        assert pane.running_as_old
        assert f"running as {old['animal_name']}" in text and "(reset takes effect" in text
        assert "(no name yet)" not in text
        app._emit(ev.StateChanged(state=ev.STOPPING))
        app._emit(ev.StateChanged(state=ev.STARTING))              # the restart: a new run
        await pilot.pause(0.2)
        assert not pane.running_as_old and "running as" not in screen_text(app)
        new = dict(old, peer_id="QmNewPeerAfterTheReset", animal_name="brave new owl")
        app._emit(ev.IdentityChanged(report=new))
        app._emit(ev.StateChanged(state=ev.RUNNING))
        await pilot.pause(0.2)
        assert "brave new owl" in screen_text(app) and not pane.running_as_old


# ---------------------------------------------------------------- a new pem, seen at once


@pytest.mark.slow
@pytest.mark.timeout(120)
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux process semantics")
async def test_a_new_pem_is_reported_as_soon_as_the_node_writes_it(tmp_path):
    """After a reset the restarted node writes a new swarm.pem early in its start. The engine
    looked only at each process snapshot (2 s by default, 10 s here): now each batch of output
    lines looks too while the pem is missing, so the new peer id is shown within a second (2.5 s
    allowed for a loaded machine)."""
    import asyncio
    import time

    from supervisor_support import Harness, fast_config
    from swarmtui.engine.config import LoginConfig, WatchConfig

    config = fast_config(first_delay=0.0)
    config.watch = WatchConfig(snapshot_interval=10.0, min_free_disk_mb=1)
    config.login = LoginConfig(keep_login=True)      # the restart needs no browser login
    h = Harness(tmp_path, speed=20.0, config=config)
    await h.sup.start()
    try:
        await h.wait_state(ev.RUNNING, timeout=60)
        pem = h.root / "swarm.pem"
        h.sup.send(ev.ResetIdentity())
        await h.wait_for(lambda e: isinstance(e, ev.IdentityChanged) and e.report.get("pem_state") == "missing",
                         timeout=10, what="the reset seen")
        since = len(h.events)
        h.sup.send(ev.RestartNode(reason="manual"))
        end = time.monotonic() + 60
        appeared = None
        while time.monotonic() < end:
            if appeared is None and pem.exists():
                appeared = time.monotonic()
            seen = [e for e in h.events[since:] if isinstance(e, ev.IdentityChanged) and e.report.get("pem_state") == "ok"]
            if seen:
                assert appeared is not None
                assert time.monotonic() - appeared < 2.5, "the new pem was reported late"
                assert seen[0].report["peer_id"] == peer_id_of_file(pem)
                return
            await asyncio.sleep(0.02)
        raise AssertionError(f"no report of the new pem (it {'appeared' if appeared else 'never appeared'})")
    finally:
        await h.close()


@pytest.mark.slow
@pytest.mark.timeout(120)
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux process semantics")
async def test_the_engine_refuses_a_restore_while_the_node_runs_and_does_it_once_stopped(tmp_path):
    from supervisor_support import Harness

    h = Harness(tmp_path, speed=50.0)
    await h.sup.start()
    try:
        await h.wait_state(ev.RUNNING, timeout=60)
        old_peer = peer_id_of_file(h.root / "swarm.pem")
        h.sup.send(ev.ResetIdentity())
        await h.wait_kind(ev.ActionDone, action="reset-identity", ok=True)
        (backup,) = [b for b in list_restorable(inspect_checkout(h.root)) if b.target == "swarm.pem"]
        h.sup.send(ev.RestoreBackup(path=str(backup.path)))
        refused = await h.wait_kind(ev.ActionDone, action="restore")
        assert not refused.ok and "the node is running" in refused.detail
        assert not (h.root / "swarm.pem").exists()
        h.sup.send(ev.StopNode(reason="manual"))
        await h.wait_state(ev.STOPPED, timeout=30)
        since = len(h.events)
        h.sup.send(ev.RestoreBackup(path=str(backup.path)))
        done = await h.wait_for(lambda e: isinstance(e, ev.ActionDone) and e.action == "restore", since=since)
        assert done.ok, done.detail
        assert peer_id_of_file(h.root / "swarm.pem") == old_peer
        await h.wait_for(lambda e: isinstance(e, ev.IdentityChanged) and e.report.get("peer_id") == old_peer,
                         since=since, timeout=10)
        # a path that is not one of its backups is refused by the engine as well
        h.sup.send(ev.RestoreBackup(path="/etc/passwd"))
        bad = await h.wait_for(lambda e: isinstance(e, ev.ActionDone) and e.action == "restore" and not e.ok,
                               since=since)
        assert "not one of swarmtui's backups" in bad.detail
    finally:
        await h.close()
