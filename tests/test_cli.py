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
