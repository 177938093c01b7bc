"""The command line: help, version, one-line errors, lazy imports."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from swarmtui import __version__
from swarmtui.cli import COMMANDS

ROOT = Path(__file__).resolve().parent.parent


def swarmtui(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "swarmtui", *args], capture_output=True, text=True, timeout=60, **kw)


def test_version():
    out = swarmtui("--version")
    assert out.returncode == 0
    assert out.stdout.strip() == f"swarmtui {__version__}"


def test_help_lists_every_command():
    out = swarmtui("--help")
    assert out.returncode == 0
    for name in COMMANDS:
        assert name in out.stdout


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_each_command_has_help(name):
    out = swarmtui(name, "--help")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(f"usage: swarmtui {name}")


def test_unknown_command_is_one_line_and_exit_2():
    out = swarmtui("frobnicate")
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1
    assert "frobnicate" in out.stderr
    assert "Traceback" not in out.stderr


def test_unknown_option_is_one_line_and_exit_2():
    out = swarmtui("diagnose", "--bogus", "x")
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1
    assert "--bogus" in out.stderr


def test_help_does_not_import_heavy_modules():
    code = ("import sys; from swarmtui.cli import build_parsers; build_parsers(); "
            "heavy = [m for m in ('textual', 'psutil', 'watchfiles', 'cryptography', 'rich') if m in sys.modules]; "
            "print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""


def test_ci_runs_exactly_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    blocks = [b.split("```", 1)[0].strip() for b in readme.split("```bash\n")[1:]]
    test_cmd = blocks[1]
    assert "pytest" in test_cmd
    assert test_cmd in ci.splitlines()


def test_top_level_config_before_a_command_goes_to_that_command(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[restart\n")
    for args in (("--config", str(bad)), (f"--config={bad}",)):
        out = swarmtui(*args, "demo", "--dir", str(tmp_path / "demo"))
        assert out.returncode != 0
        assert "unknown command" not in out.stderr
        assert str(bad) in out.stderr and "not valid TOML" in out.stderr      # demo read that file
    out = swarmtui("--config", str(bad), "history", str(tmp_path))
    assert out.returncode == 2 and out.stderr.count("\n") == 1
    assert "swarmtui history: --config is not an option of this command" in out.stderr


def test_an_unknown_key_in_the_keymap_is_refused_in_one_line_naming_key_and_binding(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text('[keys]\nrestart = "notakey!!"\n')
    out = swarmtui("--config", str(config), "demo", "--dir", str(tmp_path / "demo"))
    assert out.returncode != 0 and out.stderr.count("\n") == 1, out.stderr
    assert "[keys] restart = 'notakey!!'" in out.stderr and "not a key name" in out.stderr


def test_key_names_are_judged_the_way_textual_names_key_presses():
    from swarmtui.commands.panel import is_key_name

    for good in ("r", "R", "?", "ctrl+r", "f1", "question_mark", "slash", "pageup", "ctrl+shift+up", "space"):
        assert is_key_name(good), good
    # no key press is ever named these: the binding would never fire
    for bad in ("notakey!!", "F1", "Escape", "solidus", "latin_small_letter_a", "ctrl+", "foo+r", "<any>"):
        assert not is_key_name(bad), bad


def test_history_json_with_no_records_prints_nothing_on_stdout(tmp_path):
    from swarmtui.engine.history import HistoryStore

    node = tmp_path / "node"
    node.mkdir()
    (node / "run_rl_swarm.sh").write_text("#!/bin/bash\n")
    out = swarmtui("history", str(node), "--json")
    assert out.returncode == 0 and out.stdout == "" and "no restarts recorded yet" in out.stderr
    store = HistoryStore(node)                         # the file exists, with no record in it
    store.path.parent.mkdir(parents=True, exist_ok=True)
    store.path.write_text("")
    out = swarmtui("history", str(node), "--json")
    assert out.returncode == 0 and out.stdout == "" and "no restarts recorded yet" in out.stderr
    out = swarmtui("history", str(node))               # for a person, the sentence stays on stdout
    assert "no restarts recorded yet" in out.stdout
