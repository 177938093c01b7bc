"""swarmtui.safefile and every path swarmtui writes: a planted symlink is never written through,
a FIFO or a device is never read from, each refusal is one line.

Each "victim" is a file in a folder of its own outside the checkout and the state dir; after the
operation its content and mode must be exactly what they were."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from node_checkouts import libp2p_key_bytes, make_checkout, write_login, write_pem
from swarmtui import paths
from swarmtui.engine.history import HistoryStore, RestartRecord, TranscriptWriter, backup_file
from swarmtui.engine.identity_actions import reset_identity
from swarmtui.engine.login import LoginKeeper, logout
from swarmtui.node.layout import inspect_checkout
from swarmtui.safefile import (UnsafeFileError, create_new, ensure_private_dir, open_append, read_regular,
                               read_regular_stat, read_tail, write_atomic)

VICTIM_TEXT = b"the victim's own content\n"


def mode(p) -> int:
    return stat.S_IMODE(os.lstat(p).st_mode)


@pytest.fixture
def victim(tmp_path):
    """A file swarmtui's user can write, somewhere else entirely, mode 0644 on purpose (a
    write through a link would also tighten it to 0600: that must not happen either)."""
    d = tmp_path / "elsewhere"
    d.mkdir()
    v = d / "victim.txt"
    v.write_bytes(VICTIM_TEXT)
    v.chmod(0o644)
    return v


def untouched(victim: Path) -> bool:
    return victim.read_bytes() == VICTIM_TEXT and mode(victim) == 0o644


@pytest.fixture
def victim_dir(tmp_path):
    d = tmp_path / "elsewhere-dir"
    d.mkdir()
    d.chmod(0o755)
    return d


def rec(reason="exited") -> RestartRecord:
    return RestartRecord(time="2026-01-02T03:04:05.000Z", reason=reason)


def call_with_timeout(fn, seconds: float = 1.0):
    """Run fn in a thread: a hang fails the test after `seconds` instead of hanging the suite."""
    box: dict = {}

    def target():
        try:
            box["value"] = fn()
        except BaseException as exc:   # noqa: BLE001 - handed back to the test
            box["error"] = exc

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(seconds)
    assert not t.is_alive(), f"{fn} blocked for more than {seconds} s"
    if "error" in box:
        raise box["error"]
    return box.get("value")


# ---------------------------------------------------------------- the primitives


def test_write_atomic_replaces_a_symlink_instead_of_writing_through_it(tmp_path, victim):
    target = tmp_path / "secret.json"
    target.symlink_to(victim)
    write_atomic(target, b"private", 0o600)
    assert untouched(victim)
    assert not target.is_symlink() and target.read_bytes() == b"private" and mode(target) == 0o600
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []   # no temp file left


def test_write_atomic_narrows_the_mode_and_leaves_no_partial_file(tmp_path):
    target = tmp_path / "f"
    target.write_bytes(b"old")
    target.chmod(0o644)
    write_atomic(target, b"new")
    assert target.read_bytes() == b"new" and mode(target) == 0o600
    with pytest.raises(IsADirectoryError):
        write_atomic(tmp_path, b"x")          # a folder at the target: an error, the folder stays
    assert [p.name for p in tmp_path.iterdir()] == ["f"]


def test_create_new_refuses_anything_at_the_name(tmp_path, victim):
    link = tmp_path / "b"
    link.symlink_to(victim)
    with pytest.raises(FileExistsError):
        create_new(link, b"x")
    dangling = tmp_path / "c"
    dangling.symlink_to(tmp_path / "elsewhere" / "not-yet")
    with pytest.raises(FileExistsError):
        create_new(dangling, b"x")            # O_EXCL does not create the link's target either
    assert untouched(victim) and not (tmp_path / "elsewhere" / "not-yet").exists()


def test_read_regular_follows_links_to_regular_files_only(tmp_path):
    real = tmp_path / "key-on-another-disk"
    real.write_bytes(b"k" * 10)
    link = tmp_path / "swarm.pem"
    link.symlink_to(real)
    assert read_regular(link, 10) == b"k" * 10
    with pytest.raises(UnsafeFileError, match="symbolic link"):
        read_regular(link, 10, follow_symlinks=False)
    with pytest.raises(UnsafeFileError, match="bigger than 9 bytes"):
        read_regular(real, 9)
    with pytest.raises(FileNotFoundError):
        read_regular(tmp_path / "nope", 10)
    data, st = read_regular_stat(real, 10)
    assert data == b"k" * 10 and stat.S_ISREG(st.st_mode)


def test_read_regular_does_not_block_on_a_fifo(tmp_path):
    fifo = tmp_path / "swarm.pem"
    os.mkfifo(fifo)
    with pytest.raises(UnsafeFileError) as info:
        call_with_timeout(lambda: read_regular(fifo, 1024))
    assert "FIFO" in str(info.value) and "\n" not in str(info.value)
    assert isinstance(info.value, OSError)         # callers that cope with a failing disk cope with this


def test_read_regular_refuses_devices_and_directories(tmp_path):
    zero = tmp_path / "zero"
    zero.symlink_to("/dev/zero")
    with pytest.raises(UnsafeFileError, match="character device"):
        call_with_timeout(lambda: read_regular(zero, 1 << 30))
    with pytest.raises(UnsafeFileError, match="a directory"):
        read_regular(tmp_path, 10)


def test_read_tail_reads_only_the_end(tmp_path):
    f = tmp_path / "log"
    f.write_bytes(b"0123456789")
    assert read_tail(f, 4) == (b"6789", True)
    assert read_tail(f, 100) == (b"0123456789", False)
    link = tmp_path / "link"
    link.symlink_to(f)
    with pytest.raises(UnsafeFileError):
        read_tail(link, 4)


def test_open_append_refuses_links_and_fifos(tmp_path, victim):
    link = tmp_path / "history.jsonl"
    link.symlink_to(victim)
    with pytest.raises(UnsafeFileError, match="symbolic link"):
        open_append(link)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(UnsafeFileError):
        call_with_timeout(lambda: open_append(fifo))
    assert untouched(victim)


def test_ensure_private_dir_refuses_links_and_tightens_its_own(tmp_path, victim_dir):
    root = tmp_path / "state"
    made = ensure_private_dir(root / "nodes" / "x" / "backups", within=root)
    assert made.is_dir() and all(mode(p) == 0o700 for p in (root / "nodes", root / "nodes" / "x", made))
    (root / "nodes" / "x").chmod(0o755)
    ensure_private_dir(root / "nodes" / "x", within=root)
    assert mode(root / "nodes" / "x") == 0o700                     # swarmtui's own folder: narrowed

    (root / "nodes" / "y").symlink_to(victim_dir)
    with pytest.raises(UnsafeFileError, match="symbolic link") as info:
        ensure_private_dir(root / "nodes" / "y" / "backups", within=root)
    assert "\n" not in str(info.value)
    assert list(victim_dir.iterdir()) == [] and mode(victim_dir) == 0o755
    assert (root / "nodes" / "y").is_symlink()                     # refused, never removed

    (root / "file").write_text("in the way")
    with pytest.raises(UnsafeFileError, match="not a directory"):
        ensure_private_dir(root / "file", within=root)


def test_the_state_dir_itself_may_be_a_link(tmp_path):
    real = tmp_path / "big-disk"
    real.mkdir()
    link = tmp_path / "state"
    link.symlink_to(real)
    ensure_private_dir(link / "nodes" / "x", within=link)          # the person's choice: followed
    assert (real / "nodes" / "x").is_dir()


# ---------------------------------------------------------------- every path swarmtui writes


def test_history_jsonl_symlink_is_refused(tmp_path, victim):
    store = HistoryStore(tmp_path / "node")
    ensure_private_dir(store.dir, within=paths.state_dir())
    store.path.symlink_to(victim)
    with pytest.raises(UnsafeFileError):
        store.append(rec())
    with pytest.raises(UnsafeFileError):
        store.read()                        # nor read: it is not our file
    assert untouched(victim)


def test_node_state_dir_symlink_is_refused(tmp_path, victim_dir):
    node = tmp_path / "node"
    state = paths.node_state_dir(node)
    state.parent.mkdir(parents=True)
    state.symlink_to(victim_dir)
    with pytest.raises(UnsafeFileError):
        HistoryStore(node).append(rec())
    with pytest.raises(UnsafeFileError):
        TranscriptWriter.for_node(node)
    assert list(victim_dir.iterdir()) == [] and mode(victim_dir) == 0o755


def test_nodes_dir_symlink_is_refused(tmp_path, victim_dir):
    (paths.state_dir() / "nodes").symlink_to(victim_dir)
    with pytest.raises(UnsafeFileError):
        HistoryStore(tmp_path / "node").append(rec())
    assert list(victim_dir.iterdir()) == [] and mode(victim_dir) == 0o755


def test_backups_dir_symlink_is_refused_and_nothing_is_removed(tmp_path, victim_dir):
    root = make_checkout(tmp_path / "n", "codezero")
    write_pem(root / "swarm.pem", libp2p_key_bytes())
    backups = paths.node_state_dir(root) / "backups"
    backups.parent.mkdir(parents=True)
    backups.symlink_to(victim_dir)
    with pytest.raises(UnsafeFileError):
        reset_identity(inspect_checkout(root, env={}))
    assert (root / "swarm.pem").read_bytes() == libp2p_key_bytes()   # the backup failed: the key stays
    assert list(victim_dir.iterdir()) == [] and mode(victim_dir) == 0o755


def test_backup_file_name_planted_as_symlink_is_skipped(tmp_path, victim):
    node = tmp_path / "n"
    node.mkdir()
    pem = node / "swarm.pem"
    pem.write_bytes(b"key")
    backups = paths.node_state_dir(node) / "backups"
    ensure_private_dir(backups, within=paths.state_dir())
    wall = 1_767_225_600.0
    (backups / "20260101T000000.000000Z-swarm.pem").symlink_to(victim)
    dest = backup_file(pem, node, wall=wall)
    assert dest.name == "20260101T000000.000000Z-1-swarm.pem"      # the next free name, not through the link
    assert dest.read_bytes() == b"key" and mode(dest) == 0o600
    assert untouched(victim)


def test_transcript_run_file_symlink_is_never_opened(tmp_path, victim):
    runs = tmp_path / "runs"
    ensure_private_dir(runs)
    (runs / "run-000001.log").symlink_to(victim)
    with TranscriptWriter(runs) as t:                             # a planted run-1 counts: this is run 2
        t.write(b"node output\n")
    assert t.run == 2 and (runs / "run-000002.log").read_bytes() == b"node output\n"
    with pytest.raises(FileExistsError):
        TranscriptWriter(runs, run=1)                              # asked for that very name: refused
    assert untouched(victim)


def test_transcript_rolled_part_symlink_is_replaced_not_followed(tmp_path, victim):
    runs = tmp_path / "runs"
    ensure_private_dir(runs)
    with TranscriptWriter(runs, max_bytes=1024, run=1) as t:
        (runs / "run-000001.1.log").symlink_to(victim)
        t.write(b"a" * 1000)
        t.write(b"b" * 100)                                        # rolls over onto the link's name
    assert not (runs / "run-000001.1.log").is_symlink()
    assert (runs / "run-000001.1.log").read_bytes() == b"a" * 1000
    assert untouched(victim)


@pytest.fixture
def login_node(tmp_path):
    root = make_checkout(tmp_path / "n", "codezero")
    write_login(root)
    return inspect_checkout(root, env={})


def test_keep_login_dir_symlink_is_refused(login_node, victim_dir):
    keeper = LoginKeeper(login_node)
    keeper.dir.parent.mkdir(parents=True)
    keeper.dir.symlink_to(victim_dir)
    with pytest.raises(UnsafeFileError):
        keeper.capture()
    assert list(victim_dir.iterdir()) == [] and mode(victim_dir) == 0o755


def test_keep_login_copy_symlink_is_replaced(login_node, victim):
    keeper = LoginKeeper(login_node)
    ensure_private_dir(keeper.dir, within=paths.state_dir())
    (keeper.dir / "userApiKey.json").symlink_to(victim)
    assert keeper.kept() == []                                     # a link is no copy of ours
    assert keeper.capture()
    copy = keeper.dir / "userApiKey.json"
    assert not copy.is_symlink() and copy.read_bytes() == login_node.api_key_path.read_bytes()
    assert mode(copy) == 0o600 and untouched(victim)


def test_keep_login_restore_never_writes_through_planted_links(login_node, victim):
    keeper = LoginKeeper(login_node)
    assert keeper.capture()
    api_key = login_node.api_key_path.read_bytes()
    for p in (login_node.user_data_path, login_node.api_key_path):
        p.unlink()                                                 # what the script does on every exit
    temp = login_node.temp_data_dir
    # The old code's temp names were predictable: links planted there must stay untouched...
    for name in ("userData.json", "userApiKey.json"):
        (temp / f".{name}.tmp-{os.getpid()}").symlink_to(victim)
    restored = keeper.restore()
    assert [p.name for p in restored] == ["userData.json", "userApiKey.json"]
    assert login_node.api_key_path.read_bytes() == api_key and mode(login_node.api_key_path) == 0o600
    assert untouched(victim)
    # ...and a link at the target itself means "something is there": nothing is restored.
    for p in (login_node.user_data_path, login_node.api_key_path):
        p.unlink()
    login_node.api_key_path.symlink_to(victim)
    assert keeper.restore() == []
    assert untouched(victim) and login_node.api_key_path.is_symlink()


def test_keep_login_restore_refuses_a_kept_copy_that_is_a_link(login_node, tmp_path):
    keeper = LoginKeeper(login_node)
    assert keeper.capture()
    secret = tmp_path / "not-a-login"
    secret.write_text("someone else's data")
    (keeper.dir / "userData.json").unlink()
    (keeper.dir / "userData.json").symlink_to(secret)
    for p in (login_node.user_data_path, login_node.api_key_path):
        p.unlink()
    assert keeper.restore() == []
    assert not login_node.user_data_path.exists()


def test_logout_backs_up_through_a_linked_login_file_and_removes_only_the_link(login_node, tmp_path):
    elsewhere = tmp_path / "kept-elsewhere.json"
    elsewhere.write_bytes(login_node.user_data_path.read_bytes())
    login_node.user_data_path.unlink()
    login_node.user_data_path.symlink_to(elsewhere)
    backups = logout(login_node)
    assert len(backups) == 2 and all(mode(b) == 0o600 for b in backups)
    assert elsewhere.exists() and not os.path.lexists(login_node.user_data_path)


def test_reset_identity_of_a_fifo_pem_fails_fast_and_removes_nothing(tmp_path):
    root = make_checkout(tmp_path / "n", "codezero")
    os.mkfifo(root / "swarm.pem")
    with pytest.raises(UnsafeFileError, match="FIFO"):
        call_with_timeout(lambda: reset_identity(inspect_checkout(root, env={})))
    assert stat.S_ISFIFO(os.lstat(root / "swarm.pem").st_mode)


def test_history_command_on_a_symlinked_history_is_one_line(tmp_path, victim):
    node = tmp_path / "n"
    node.mkdir()
    (node / "run_rl_swarm.sh").write_text("#!/bin/bash\n")
    store = HistoryStore(node)
    ensure_private_dir(store.dir, within=paths.state_dir())
    store.path.symlink_to(victim)
    out = subprocess.run([sys.executable, "-m", "swarmtui", "history", str(node)], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode != 0 and out.stderr.count("\n") == 1 and "symbolic link" in out.stderr
    assert "Traceback" not in out.stderr and untouched(victim)
