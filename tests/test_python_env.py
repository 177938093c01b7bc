"""Which Python the node runs (issue 13 item 3): run_rl_swarm.sh activates nothing and calls plain
`python` and `pip` (read in every era's script, v0.1.0 ... main), so swarmtui finds the
environment the way a user expects, says which python in the pre-flight, and blocks a start on
a configured venv that is not there. Real folders, real interpreters, real processes."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from node_checkouts import make_checkout
from swarmtui.engine.launcher import Launcher, PythonEnv, build_env, find_python_env
from swarmtui.engine.preflight import PreflightResult, check_python, python_version
from swarmtui.node.layout import inspect_checkout

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux paths")


def venv(folder: Path, python: str | None = None) -> Path:
    """A folder with bin/python: a link to a real interpreter, or a script that says who it is."""
    (folder / "bin").mkdir(parents=True)
    py = folder / "bin" / "python"
    if python:
        py.symlink_to(python)
    else:
        py.write_text(f"#!/bin/sh\necho {folder.name}-python\n")
        py.chmod(0o755)
    return folder


def test_the_order_config_activated_dotvenv_venv_path(tmp_path):
    root = tmp_path / "n"
    root.mkdir()
    act = venv(tmp_path / "activated")
    conda = venv(tmp_path / "conda")
    assert find_python_env(root, {}) == PythonEnv(None, "PATH")
    venv(root / "venv")
    assert find_python_env(root, {}) == PythonEnv(root / "venv", "venv")
    venv(root / ".venv")
    assert find_python_env(root, {}) == PythonEnv(root / ".venv", ".venv")
    assert find_python_env(root, {"CONDA_PREFIX": str(conda)}) == PythonEnv(conda, "CONDA_PREFIX")
    env = {"CONDA_PREFIX": str(conda), "VIRTUAL_ENV": str(act)}
    assert find_python_env(root, env) == PythonEnv(act, "VIRTUAL_ENV")
    assert find_python_env(root, env, "venv") == PythonEnv(root / "venv", "config")
    assert find_python_env(root, env, str(conda)) == PythonEnv(conda, "config")
    # an activated variable that names no environment is skipped, not trusted
    assert find_python_env(root, {"VIRTUAL_ENV": str(tmp_path / "gone")}) == PythonEnv(root / ".venv", ".venv")
    # a folder without bin/python is no venv
    (root / ".venv" / "bin" / "python").unlink()
    assert find_python_env(root, {}).source == "venv"


def test_a_configured_venv_that_is_not_there_is_a_problem(tmp_path):
    root = tmp_path / "n"
    root.mkdir()
    got = find_python_env(root, {}, "myenv")
    assert got.source == "config" and got.root == root / "myenv"
    assert got.problem.startswith("[launch] venv = 'myenv': no such folder") and "python3 -m venv" in got.problem
    (root / "myenv").mkdir()
    assert "has no bin/python" in find_python_env(root, {}, "myenv").problem


def test_build_env_activates_a_venv_or_a_conda_env(tmp_path):
    env = build_env({"PATH": "/usr/bin", "PYTHONHOME": "/x"}, run_id="r", venv_bin=tmp_path / "venv" / "bin")
    assert env["PATH"] == f"{tmp_path / 'venv' / 'bin'}{os.pathsep}/usr/bin"
    assert env["VIRTUAL_ENV"] == str(tmp_path / "venv") and "PYTHONHOME" not in env
    conda = tmp_path / "conda"
    env = build_env({"PATH": "/usr/bin", "CONDA_PREFIX": str(conda)}, run_id="r", venv_bin=conda / "bin")
    assert env["PATH"].startswith(str(conda / "bin")) and "VIRTUAL_ENV" not in env


async def test_the_launcher_runs_the_python_of_venv_when_there_is_no_dotvenv(tmp_path):
    root = tmp_path / "n"
    root.mkdir()
    venv(root / "venv")
    (root / "run_rl_swarm.sh").write_text('python\necho "venv=$VIRTUAL_ENV"\n')
    lines: list[str] = []
    env = {"PATH": os.environ.get("PATH", os.defpath)}
    launcher = Launcher(root, run_id="t:1", env=env, on_lines=lambda b: lines.extend(t for t, _, _ in b))
    await launcher.start()
    await asyncio.wait_for(launcher.wait(drain=1.0), 20)
    launcher.close()
    assert lines[:2] == ["venv-python", f"venv={root / 'venv'}"]


async def test_preflight_says_which_python_and_its_version(tmp_path):
    root = make_checkout(tmp_path / "n", "codezero")
    venv(root / "venv", sys.executable)
    lay = inspect_checkout(root, env={})
    pyenv = find_python_env(lay.root, {})
    res = PreflightResult()
    await check_python(lay, pyenv, build_env({"PATH": "/usr/bin:/bin"}, run_id="r", venv_bin=pyenv.bin)["PATH"], res)
    version = "%d.%d.%d" % sys.version_info[:3]
    assert res.problems == [] and res.warnings == []
    assert res.notices == [f"the node will run {lay.root / 'venv' / 'bin' / 'python'} (Python {version}); "
                           f"environment: {lay.root / 'venv'} (the checkout's venv/)"]
    assert await python_version(lay.root / "venv" / "bin" / "python") == version
    assert await python_version(tmp_path / "no-such-python") is None


async def test_preflight_problem_for_a_missing_configured_venv_and_warnings(tmp_path):
    root = make_checkout(tmp_path / "n", "rgym")
    lay = inspect_checkout(root, env={})
    res = PreflightResult()
    await check_python(lay, find_python_env(lay.root, {}, "venv"), "/usr/bin", res)
    assert len(res.problems) == 1 and res.problems[0].startswith("[launch] venv = 'venv': no such folder")
    # no venv and no python on PATH: said, with the fix
    res = PreflightResult()
    await check_python(lay, find_python_env(lay.root, {}), str(tmp_path / "empty"), res)
    assert res.problems == [] and len(res.warnings) == 1
    assert "no `python` on the node's PATH" in res.warnings[0] and "python3 -m venv .venv" in res.warnings[0]
    # an activated env beside the checkout's own: used (the documented order), and said
    venv(root / ".venv", sys.executable)
    other = venv(tmp_path / "swarmtui-venv", sys.executable)
    pyenv = find_python_env(lay.root, {"VIRTUAL_ENV": str(other)})
    res = PreflightResult()
    await check_python(lay, pyenv, str(other / "bin"), res)
    assert res.notices and str(other / "bin" / "python") in res.notices[0]
    assert len(res.warnings) == 1 and 'set [launch] venv = ".venv"' in res.warnings[0]


async def test_an_interpreter_binary_is_asked_its_version_once_until_it_changes(tmp_path):
    # The pre-flight runs before every (re)start; starting an interpreter is a good part of the
    # time a restart takes. A copy of this interpreter is asked once; then its bytes are broken
    # (same inode and mtime): the answer still comes, from memory. A new mtime asks again.
    import shutil

    python = tmp_path / "python3"
    shutil.copy2(os.path.realpath(sys.executable), python)
    version = "%d.%d.%d" % sys.version_info[:3]
    assert await python_version(python) == version
    st = python.stat()
    with open(python, "r+b") as f:
        f.seek(4)
        f.write(b"\0" * 64)
    os.utime(python, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert await python_version(python) == version
    os.utime(python, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert await python_version(python) is None


async def test_a_script_on_path_is_asked_every_time(tmp_path):
    # A pyenv shim is a script: which python it runs can change between two starts.
    shim = tmp_path / "python"
    shim.write_text("#!/bin/sh\necho 3.10.1\n")
    shim.chmod(0o755)
    assert await python_version(shim) == "3.10.1"
    st = shim.stat()
    shim.write_text("#!/bin/sh\necho 3.12.0\n")
    os.utime(shim, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert await python_version(shim) == "3.12.0"
