"""Clipboard routes: OSC 52 always, tmux buffer inside tmux, pyperclip silenced, a 0600 file."""

from __future__ import annotations

import os
import stat

import pytest

from swarmtui import paths
from swarmtui.tui import clipboard


def fake_tool(bin_dir, name: str, body: str) -> None:
    path = bin_dir / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)


def test_always_osc52_and_a_private_file(monkeypatch):
    sent = []
    result = clipboard.copy_text("peer-123", osc52=sent.append, env={}, platform="linux")
    assert sent == ["peer-123"]
    assert result.methods == ["OSC 52"]
    target = paths.cache_dir() / "last-copy.txt"
    assert result.file == target and target.read_text() == "peer-123"
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
    assert str(target) in result.summary() and "OSC 52" in result.summary()


def test_an_existing_copy_file_is_made_private_again(tmp_path):
    target = tmp_path / "last-copy.txt"
    target.write_text("old")
    target.chmod(0o644)
    clipboard.save_copy("new", target)
    assert target.read_text() == "new" and stat.S_IMODE(os.stat(target).st_mode) == 0o600


def test_a_symlink_planted_at_the_copy_file_is_replaced_not_written_through(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("keep me")
    target = tmp_path / "last-copy.txt"
    target.symlink_to(victim)
    clipboard.save_copy("ssh -L 3000:localhost:3000 op@box", target)
    assert victim.read_text() == "keep me"
    assert not target.is_symlink() and target.read_text().startswith("ssh -L")


def test_inside_tmux_the_text_goes_to_tmux_load_buffer(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    got = tmp_path / "got"
    fake_tool(bin_dir, "tmux", f'echo "$@" > {got}.args\ncat > {got}\n')
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    result = clipboard.copy_text("ssh -L 3000:localhost:3000 op@box", env={"TMUX": "/tmp/tmux-1/default,1,0"}, platform="linux")
    assert "tmux buffer" in result.methods
    assert got.read_text() == "ssh -L 3000:localhost:3000 op@box"
    assert (tmp_path / "got.args").read_text().split() == ["load-buffer", "-w", "-"]


def test_old_tmux_without_w_falls_back(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    got = tmp_path / "got"
    fake_tool(bin_dir, "tmux", f'[ "$2" = "-w" ] && {{ echo "unknown flag -w" >&2; exit 1; }}\ncat > {got}\n')
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    assert clipboard.tmux_copy("x", {"TMUX": "1"}) is None
    assert got.read_text() == "x"


def test_a_broken_xclip_never_prints_on_the_screen(tmp_path, monkeypatch, capfd):
    pyperclip = pytest.importorskip("pyperclip")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake_tool(bin_dir, "xclip", 'echo "Error: Can\'t open display: localhost:10.0" >&2\nexit 1\n')
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    pyperclip.set_clipboard("xclip")
    try:
        problem = clipboard.local_copy("secret-ish", {"DISPLAY": "localhost:10.0"}, platform="linux")
    finally:
        pyperclip.determine_clipboard()
    out, err = capfd.readouterr()
    assert "open display" not in err and "open display" not in out
    assert problem is not None and "Can't open display" in problem


def test_no_display_means_no_local_clipboard_attempt():
    assert clipboard.local_copy("x", {}, platform="linux") == "no local clipboard (no display)"
    result = clipboard.copy_text("x", env={}, platform="linux")
    assert result.problems == []       # not an error: there simply is no local clipboard
