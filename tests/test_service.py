"""`swarmtui service install|uninstall|status`: the systemd unit for one checkout.

Every command runs as a real `python -m swarmtui` process with SWARMTUI_SYSTEMD_DIR pointing
into tmp_path, so no test ever writes /etc or the real ~/.config/systemd. Where systemd's own
parser is installed (systemd-analyze), it checks the units we write.
"""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from node_checkouts import make_checkout
from swarmtui.engine import unit as u
from swarmtui.engine.config import RestartConfig
from swarmtui.errors import UserError
from swarmtui.paths import node_key

PY = os.path.abspath(sys.executable)        # what ExecStart must name: the venv's python, link kept
SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
needs_analyze = pytest.mark.skipif(SYSTEMD_ANALYZE is None, reason="systemd-analyze not installed (apt-get install systemd)")

# Someone to be under sudo: any account but root, and not nobody (systemd warns that running as
# nobody is unsafe, which would be noise in verify's output).
SUDO_AS = next((p for p in pwd.getpwall() if p.pw_uid not in (0, 65534) and p.pw_name != "nobody"), None)

as_root = pytest.mark.skipif(os.geteuid() != 0 or SUDO_AS is None,
                             reason="the sudo paths are taken only when running as root (with another account)")

FAST_STOP = '[restart]\nexit_grace = "2s"\nstop_timeout = "1m"\nterm_timeout = "15s"\n'


@pytest.fixture
def units(tmp_path) -> Path:
    return tmp_path / "units"


@pytest.fixture
def checkout(tmp_path) -> Path:
    # A space in the path: ExecStart= splits on white space unless the word is quoted.
    return make_checkout(tmp_path / "my node", "codezero")


@pytest.fixture
def config(tmp_path) -> Path:
    path = tmp_path / "swarm cfg.toml"
    path.write_text(FAST_STOP)
    return path


def service(*args: str, units: Path, extra_env: dict | None = None, drop=("SUDO_USER",)) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env[u.DIR_ENV] = str(units)
    env.update(extra_env or {})
    return subprocess.run([sys.executable, "-m", "swarmtui", "service", *map(str, args)], capture_output=True,
                          text=True, timeout=60, env=env, stdin=subprocess.DEVNULL)


def unit_path(units: Path, root: Path) -> Path:
    return units / u.unit_name(node_key(root))


def line_of(text: str, key: str) -> str:
    """The unit's `key=` line; every key but Environment= must appear once."""
    lines = [ln for ln in text.splitlines() if ln.startswith(key + "=")]
    assert lines, f"no {key}= in:\n{text}"
    if key != "Environment":
        assert len(lines) == 1, f"{key}= more than once in:\n{text}"
    return lines[0]


def one_line_error(out: subprocess.CompletedProcess, code: int) -> str:
    assert out.returncode == code, (out.stdout, out.stderr)
    assert out.stderr.count("\n") == 1 and out.stderr.startswith("swarmtui: "), out.stderr
    assert "Traceback" not in out.stderr
    return out.stderr


def verify(path: Path, tmp_path: Path, *, user: bool) -> subprocess.CompletedProcess:
    """systemd-analyze verify: it prints a line for every key it ignores, every bad escape or
    specifier and a program that is not executable, but exits 0 for most of them, so silence
    is what a clean unit looks like."""
    env = dict(os.environ)
    argv = [SYSTEMD_ANALYZE]
    if user:
        # The user manager wants a runtime dir; without a login session there is none.
        runtime = tmp_path / "runtime"
        runtime.mkdir(mode=0o700, exist_ok=True)
        env["XDG_RUNTIME_DIR"] = str(runtime)
        argv.append("--user")
    return subprocess.run([*argv, "verify", "--man=no", str(path)], capture_output=True, text=True,
                          timeout=60, env=env)


# ---------------------------------------------------------------- the unit's text


def test_unit_for_a_checkout_with_a_space_and_a_config(checkout, config, units):
    out = service("install", checkout, "--config", config, units=units)
    assert out.returncode == 0, out.stderr
    path = unit_path(units, checkout)
    assert path.name == f"swarmtui-my_node-{node_key(checkout).rsplit('-', 1)[1]}.service"
    text = path.read_text()
    assert text.startswith(u.MARKER)
    # Each path is one quoted word; the interpreter is the venv's python itself, not the file
    # its symlink points at (that python would not see the venv's packages).
    assert line_of(text, "ExecStart") == f'ExecStart={PY} -m swarmtui supervise "{checkout}" --config "{config}"'
    assert line_of(text, "WorkingDirectory") == f"WorkingDirectory={checkout}"
    for setting in ("Type=exec", "Restart=on-failure", "RestartSec=10", "RestartPreventExitStatus=2",
                    "KillMode=mixed", "KillSignal=SIGTERM", "SendSIGHUP=no", 'Environment="PYTHONUNBUFFERED=1"',
                    "WantedBy=default.target"):
        assert setting in text.splitlines(), setting
    # The service must keep its state where the panel and `swarmtui history` look for it.
    assert f'Environment="SWARMTUI_STATE_DIR={os.environ["SWARMTUI_STATE_DIR"]}"' in text.splitlines()
    assert "User=" not in text and "network-online" not in text      # a user unit has neither
    assert f"supervise '{checkout}' --config '{config}'" in out.stdout


def test_timeout_stop_sec_outlasts_the_whole_stop_sequence_of_the_config(checkout, config, units, tmp_path):
    out = service("install", checkout, "--config", config, units=units)
    assert out.returncode == 0, out.stderr
    # 2 s grace + 60 s after SIGINT + 15 s after SIGTERM + 23.5 s of kill and sweep waits, rounded
    # up, + 30 s: systemd's SIGKILL can never land inside swarmtui's own sequence.
    assert line_of(unit_path(units, checkout).read_text(), "TimeoutStopSec") == "TimeoutStopSec=131"
    assert "TimeoutStopSec=131s: exit_grace 2s + stop_timeout 60s + term_timeout 15s" in out.stdout
    # Without --config (and no default config file) the built-in defaults: 5 + 20 + 10.
    other = make_checkout(tmp_path / "other", "rgym")
    assert service("install", other, units=units).returncode == 0
    assert line_of(unit_path(units, other).read_text(), "TimeoutStopSec") == "TimeoutStopSec=89"
    # And it grows with the config, never below the sum the supervisor waits.
    slow = RestartConfig(exit_grace=0, stop_timeout=600, term_timeout=120)
    assert u.stop_timeout_s(slow) >= 600 + 120 + u.STOP_SEQUENCE_MARGIN_S + u.SYSTEMD_MARGIN_S


@as_root
def test_a_system_unit_runs_as_the_sudo_user_with_that_users_home(checkout, units):
    who = SUDO_AS
    out = service("install", checkout, "--system", units=units, extra_env={"SUDO_USER": who.pw_name}, drop=())
    assert out.returncode == 0, out.stderr
    text = unit_path(units, checkout).read_text()
    lines = text.splitlines()
    assert f"User={who.pw_name}" in lines
    assert f'Environment="HOME={who.pw_dir}"' in lines
    assert "WantedBy=multi-user.target" in lines and "After=network-online.target" in lines
    # Our own state-dir settings are root's under sudo, not the user's: not passed on.
    assert "SWARMTUI_STATE_DIR" not in text
    assert "systemctl enable --now " + unit_path(units, checkout).name in out.stdout
    assert "--user" not in out.stdout and "loginctl" not in out.stdout


@as_root
def test_a_user_unit_under_sudo_is_refused(checkout, units):
    out = service("install", checkout, units=units, extra_env={"SUDO_USER": SUDO_AS.pw_name}, drop=())
    assert f"root's, not {SUDO_AS.pw_name}'s" in one_line_error(out, 2)
    assert not units.exists()


def test_system_units_need_root_unless_the_folder_is_moved():
    from swarmtui.commands.service import require_root

    with pytest.raises(UserError, match="needs root"):
        require_root("system", False, 1000)
    require_root("system", True, 1000)      # SWARMTUI_SYSTEMD_DIR: the folder's own permissions decide
    require_root("system", False, 0)
    require_root("user", False, 1000)


# ---------------------------------------------------------------- quoting, checked by systemd


def test_awkward_paths_survive_systemd_quoting(tmp_path):
    # A program path with a space and a % (a specifier to systemd); a checkout with a %, a $
    # (an environment variable to systemd) and a lone ; (a command separator); a config with
    # quotes and a backslash.
    bindir = tmp_path / "py dir %d"
    bindir.mkdir()
    python = bindir / "python3"
    python.symlink_to(PY)
    root = tmp_path / "node %h $HOME ;"
    root.mkdir()
    cfg = tmp_path / 'my "cfg" \\ it\'s.toml'
    spec = u.UnitSpec(checkout=str(root), python=str(python), config=str(cfg))
    text = u.render_unit(spec)
    exec_line = line_of(text, "ExecStart")[len("ExecStart="):]
    assert u.split_exec(exec_line) == [str(python), "-m", "swarmtui", "supervise", str(root), "--config", str(cfg)]
    assert "%%h $$HOME" in exec_line and "%%d" in exec_line
    assert line_of(text, "WorkingDirectory") == f"WorkingDirectory={str(root).replace('%', '%%')}"
    if SYSTEMD_ANALYZE is None:
        pytest.skip("systemd-analyze not installed: the text was checked, systemd's reading of it was not")
    path = tmp_path / "swarmtui-awkward-0123456789.service"
    path.write_text(text)
    # systemd resolves the program path itself and says "not executable" when the quoting or
    # the %% is read differently than meant; a bad escape or specifier gets a line too.
    out = verify(path, tmp_path, user=False)
    assert (out.returncode, out.stdout + out.stderr) == (0, "")
    # The check itself can fail: the same unit with the program path left unescaped.
    broken = tmp_path / "swarmtui-broken-0123456789.service"
    broken.write_text(text.replace(exec_line, f"{python} -m swarmtui"))
    complaint = verify(broken, tmp_path, user=False)
    assert "not executable" in complaint.stdout + complaint.stderr


@needs_analyze
def test_systemd_analyze_verify_accepts_the_installed_units(checkout, config, units, tmp_path):
    assert service("install", checkout, "--config", config, units=units).returncode == 0
    out = verify(unit_path(units, checkout), tmp_path, user=True)
    assert (out.returncode, out.stdout + out.stderr) == (0, "")
    if os.geteuid() == 0 and SUDO_AS is not None:
        system_units = tmp_path / "system"
        assert service("install", checkout, "--system", units=system_units,
                       extra_env={"SUDO_USER": SUDO_AS.pw_name}, drop=()).returncode == 0
        out = verify(unit_path(system_units, checkout), tmp_path, user=False)
        assert (out.returncode, out.stdout + out.stderr) == (0, "")


def test_paths_a_unit_cannot_carry_are_refused(tmp_path, units):
    trailing = make_checkout(tmp_path / "node ", "codezero")     # WorkingDirectory= strips it
    out = service("install", trailing, units=units)
    assert "cannot be written in a systemd unit" in one_line_error(out, 2)
    assert not units.exists()
    with pytest.raises(UserError, match="control character"):
        u.exec_word("/a\nb")
    for python in ("/opt/$venv/bin/python", "/opt/it's/bin/python", "/opt/a\\b/bin/python"):
        with pytest.raises(UserError, match="systemd cannot take"):
            u.python_path_ok(python)


def test_unit_names_are_valid_and_one_per_checkout(tmp_path):
    a = tmp_path / "a" / "rl swarm (ü)"
    b = tmp_path / "b" / "rl swarm (ü)"
    names = {u.unit_name(node_key(a)), u.unit_name(node_key(b))}
    assert len(names) == 2
    for name in names:
        assert name.startswith("swarmtui-rl_swarm____-") and name.endswith(".service")
        assert all(c.isascii() and (c.isalnum() or c in "_.-") for c in name)


# ---------------------------------------------------------------- install, uninstall, status


def test_install_is_0644_symlink_safe_and_idempotent(checkout, config, units, tmp_path):
    units.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me\n")
    path = unit_path(units, checkout)
    path.symlink_to(victim)              # planted: install must replace the link, not write through it
    out = service("install", checkout, "--config", config, units=units)
    assert out.returncode == 0, out.stderr
    st = os.lstat(path)
    assert stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o644
    assert victim.read_text() == "keep me\n"
    assert out.stdout.splitlines()[0] == f"wrote {path} (replacing a symbolic link that was there)"
    # The exact lines to run, in order.
    name = path.name
    user = pwd.getpwuid(os.geteuid()).pw_name
    run_lines = [ln.strip() for ln in out.stdout.split("now run:\n", 1)[1].splitlines()]
    assert run_lines[:2] == ["systemctl --user daemon-reload", f"systemctl --user enable --now {name}"]
    assert f"loginctl enable-linger {user}" in run_lines
    assert run_lines[-1] == f"journalctl --user -u {name} -f"

    again = service("install", checkout, "--config", config, units=units)
    assert again.returncode == 0 and again.stdout.splitlines()[0] == f"unchanged: {path}"
    assert os.lstat(path).st_ino == st.st_ino            # not rewritten
    config.write_text(FAST_STOP.replace("1m", "2m"))
    changed = service("install", checkout, "--config", config, units=units)
    assert changed.stdout.splitlines()[0] == f"updated {path}"
    assert "TimeoutStopSec=191" in path.read_text()
    assert f"systemctl --user restart {name}" in changed.stdout


def test_uninstall_removes_our_unit_and_nothing_else(checkout, units):
    assert service("install", checkout, units=units).returncode == 0
    path = unit_path(units, checkout)
    out = service("uninstall", checkout, units=units)
    assert out.returncode == 0, out.stderr
    assert not os.path.lexists(path)
    assert out.stdout.splitlines()[:3] == [f"removed {path}", "now run:", "  systemctl --user daemon-reload"]
    again = service("uninstall", checkout, units=units)
    assert again.returncode == 0 and "no unit to remove" in again.stdout
    # A unit of that name that swarmtui did not write is not ours to delete.
    path.write_text("[Service]\nExecStart=/bin/true\n")
    out = service("uninstall", checkout, units=units)
    assert "not written by swarmtui" in one_line_error(out, 1)
    assert path.read_text() == "[Service]\nExecStart=/bin/true\n"


def test_uninstall_refuses_while_enabled_or_running(checkout, units, tmp_path):
    assert service("install", checkout, units=units).returncode == 0
    path = unit_path(units, checkout)
    # Enabled, seen without systemctl: the link `systemctl enable` makes.
    wants = units / "default.target.wants"
    wants.mkdir()
    (wants / path.name).symlink_to(path)
    out = service("uninstall", checkout, units=units)
    err = one_line_error(out, 1)
    assert f"systemctl --user disable --now {path.name}" in err and "enabled" in err
    assert path.exists()
    (wants / path.name).unlink()
    # Running, as a systemctl on PATH says: a stub that logs what it was asked.
    stub_dir = tmp_path / "bin"
    stub_dir.mkdir()
    log = tmp_path / "systemctl.log"
    stub = stub_dir / "systemctl"
    stub.write_text('#!/bin/sh\necho "$@" >> "$STUB_LOG"\n'
                    'case "$*" in *is-active*) echo active;; *is-enabled*) echo disabled; exit 1;; esac\n')
    stub.chmod(0o755)
    env = {"PATH": f"{stub_dir}{os.pathsep}{os.environ['PATH']}", "STUB_LOG": str(log)}
    out = service("uninstall", checkout, units=units, extra_env=env)
    assert "it is active" in one_line_error(out, 1)
    assert path.exists()
    status = service("status", checkout, units=units, extra_env=env)
    assert "active    active" in status.stdout.splitlines() and "enabled   disabled" in status.stdout.splitlines()
    # Questions only: swarmtui never starts, stops, enables or disables anything itself.
    asked = log.read_text().split()
    assert {w for w in asked if not w.startswith("swarmtui-")} <= {"--user", "is-active", "is-enabled"}
    assert "is-active" in asked


def test_status_says_what_is_installed_and_what_it_runs(checkout, config, units, tmp_path):
    out = service("status", checkout, units=units)
    assert out.returncode == 1
    assert out.stdout.splitlines() == [f"node      {checkout}",
                                       f"unit      {unit_path(units, checkout)}: not installed (swarmtui service install)"]
    assert service("install", checkout, "--config", config, units=units).returncode == 0
    out = service("status", checkout, units=units)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[:4] == [
        f"node      {checkout}",
        f"unit      {unit_path(units, checkout)}: installed, mode 0644",
        f"runs      {PY} -m swarmtui supervise '{checkout}' --config '{config}'",
        "current   up to date",          # compared with the config named in the unit
    ]
    # is-active and is-enabled: one line each, whatever systemctl could say (here maybe no bus).
    assert len(lines) == 6 and lines[4].startswith("active    ") and lines[5].startswith("enabled   ")
    config.write_text(FAST_STOP.replace("15s", "45s"))
    assert "run 'swarmtui service install' again" in service("status", checkout, units=units).stdout
    # A checkout deleted since: its unit is still found, shown and removable.
    shutil.rmtree(checkout)
    gone = service("status", checkout, units=units)
    assert gone.returncode == 0 and "no rl-swarm checkout there any more" in gone.stdout
    assert service("uninstall", checkout, units=units).returncode == 0
    assert not os.path.lexists(unit_path(units, checkout))


def test_bad_input_is_one_line(tmp_path, units):
    plain = tmp_path / "plain"
    plain.mkdir()
    for action in ("install", "status", "uninstall"):
        err = one_line_error(service(action, plain, units=units), 2)
        assert "not an rl-swarm checkout" in err
    root = make_checkout(tmp_path / "node", "codezero")
    assert "config file not found" in one_line_error(service("install", root, "--config", tmp_path / "nope.toml",
                                                             units=units), 2)
    bad = tmp_path / "bad.toml"
    bad.write_text('[restart]\nstop_timeout = "soon"\n')
    assert "stop_timeout" in one_line_error(service("install", root, "--config", bad, units=units), 2)
    assert not units.exists()
