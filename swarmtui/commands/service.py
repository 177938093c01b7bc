"""`swarmtui service install|uninstall|status [NODE_DIR] [--user|--system] [--config FILE]`:
a systemd unit that runs `swarmtui supervise` for one checkout.

swarmtui writes and removes its own unit file and reads what systemctl says, but never runs
systemctl enable/start/stop/disable itself: starting or stopping the service starts or stops
the node (a stop can throw away hours of batched rewards), takes up to TimeoutStopSec, and
needs a bus that sudo, ssh without lingering or a container may not have. The person runs the
printed lines and sees what they do.
"""

from __future__ import annotations

import argparse
import os
import pwd
import shlex
import shutil
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from swarmtui.engine import unit as u
from swarmtui.errors import UserError
from swarmtui.node.text import sanitize

UNIT_MODE = 0o644      # nothing secret in it (the config is named, never copied); systemctl cat works for all
_MAX_UNIT_BYTES = 64 << 10
# systemctl states that mean "the node runs (or is about to, or is still stopping)".
_RUNNING = {"active", "activating", "deactivating", "reloading", "refreshing"}
_ENABLED = {"enabled", "enabled-runtime", "linked", "linked-runtime", "alias", "indirect"}


def _say(text: str = "") -> None:
    sys.stdout.write(sanitize(text) + "\n")


@dataclass
class Target:
    checkout: Path
    scope: str
    directory: Path
    name: str
    found_checkout: bool = True

    @property
    def path(self) -> Path:
        return self.directory / self.name

    def systemctl(self, *words: str) -> str:
        return shlex.join(["systemctl", *(["--user"] if self.scope == u.USER else []), *words])

    def journalctl(self) -> str:
        return shlex.join(["journalctl", *(["--user"] if self.scope == u.USER else []), "-u", self.name, "-f"])


def _sudo_user() -> str | None:
    """The person behind sudo, when we run as root because of it."""
    name = os.environ.get("SUDO_USER", "")
    return name if name and os.geteuid() == 0 and name != "root" else None


def require_root(scope: str, dir_overridden: bool, euid: int) -> None:
    """A system unit goes to /etc/systemd/system, which only root may write."""
    if scope == u.SYSTEM and not dir_overridden and euid != 0:
        raise UserError(f"--system writes {u.SYSTEM_UNIT_DIR}, which needs root: run it with sudo "
                        "(or install a --user unit, the default)")


def _target(args, *, must_be_checkout: bool) -> Target:
    from swarmtui.node.layout import NotACheckout, inspect_checkout
    from swarmtui.paths import node_key

    scope = args.scope or u.USER
    if scope == u.USER and _sudo_user():
        raise UserError(f"under sudo a --user unit would be root's, not {_sudo_user()}'s: run it without "
                        "sudo, or install a --system unit")
    given = Path(args.node_dir).expanduser()
    try:
        root, found = inspect_checkout(given).root, True
    except NotACheckout:
        if must_be_checkout:
            raise
        # A checkout that was deleted or moved keeps its unit: status and uninstall still find
        # it by the path it was installed for; only when there is no unit either is it an error.
        root, found = Path(os.path.abspath(given)).resolve(), False
    directory = u.unit_dir(scope, os.environ)
    target = Target(root, scope, directory, u.unit_name(node_key(root)), found)
    if not found and not os.path.lexists(target.path):
        inspect_checkout(given)          # raises the NotACheckout that says what is missing
    return target


def run(args) -> int:
    if args.action == "install":
        return install(args)
    if args.action == "uninstall":
        return uninstall(args)
    return status(args)


# ---------------------------------------------------------------- install


def _service_user(scope: str) -> tuple[str, str]:
    """(name, home) of the user the node will run as."""
    name = (_sudo_user() if scope == u.SYSTEM else None) or pwd.getpwuid(os.geteuid()).pw_name
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        raise UserError(f"no such user: {name!r} (from $SUDO_USER)") from None
    return entry.pw_name, entry.pw_dir


def _config_for(args, run_as_home: str, same_user: bool):
    """The config path for ExecStart (None: supervise's default at run time) and the config
    the timeouts are computed from (the same file the service will read)."""
    from swarmtui.engine.config import Config, load_config
    from swarmtui.paths import default_config_file

    if args.config:
        # Absolute but not resolved: a config linked from a dotfiles repo may be re-linked later.
        path = os.path.abspath(os.path.expanduser(args.config))
        return path, load_config(path)             # a bad config fails here, not in the journal
    # Under sudo our own config dir is root's: the service reads its user's.
    default = default_config_file() if same_user else Path(run_as_home) / ".config" / "swarmtui" / "config.toml"
    return None, (load_config(default) if default.exists() else Config())


def _check_python_can_import(python: str, checkout: Path) -> None:
    """The unit runs `python -m swarmtui` from the checkout with systemd's environment: no
    PYTHONPATH, no source tree as the current folder. Fail now rather than every 10 s."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP")}
    try:
        out = subprocess.run([python, "-c", "import swarmtui"], cwd=checkout, env=env, stdin=subprocess.DEVNULL,
                             capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise UserError(f"cannot run {python}: {exc}") from None
    if out.returncode != 0:
        raise UserError(f"{python} cannot import swarmtui outside its source folder, so the service could "
                        "not start: install it (pip install . or pipx install .) and run install again")


def build_spec(args, target: Target) -> tuple[u.UnitSpec, str]:
    """The unit for `args` and a line saying where TimeoutStopSec came from."""
    user, home = _service_user(target.scope)
    same_user = user == pwd.getpwuid(os.geteuid()).pw_name
    config_path, config = _config_for(args, home, same_user)
    env: dict[str, str] = {}
    if os.environ.get("PATH"):
        # systemd's PATH lacks ~/.local/bin, nvm's node and the like, which the node's script
        # looks for; the PATH of the shell that installs the unit is the one the node ran with.
        env["PATH"] = os.environ["PATH"]
    if same_user:
        env.update({k: os.environ[k] for k in u.PASS_THROUGH_ENV if os.environ.get(k)})
    python = os.path.abspath(sys.executable or "")
    spec = u.UnitSpec(checkout=str(target.checkout), python=python, scope=target.scope, config=config_path,
                      user=user if target.scope == u.SYSTEM else None, home=home,
                      timeout_stop_s=u.stop_timeout_s(config.restart), env=env)
    r = config.restart
    source = config_path or (str(config.source) if config.source else "the built-in defaults")
    why = (f"TimeoutStopSec={spec.timeout_stop_s}s: exit_grace {r.exit_grace:g}s + stop_timeout "
           f"{r.stop_timeout:g}s + term_timeout {r.term_timeout:g}s + {u.STOP_SEQUENCE_MARGIN_S:g}s of kill "
           f"and sweep waits + {u.SYSTEMD_MARGIN_S}s (from {source})")
    return spec, why


def _read_unit(path: Path) -> bytes | None:
    """Our unit file's bytes; None when there is none, or something that is not a plain file
    of its own (a link, a FIFO): then it is replaced, never read through."""
    from swarmtui.safefile import UnsafeFileError, read_regular

    try:
        return read_regular(path, _MAX_UNIT_BYTES, follow_symlinks=False)
    except FileNotFoundError:
        return None
    except (UnsafeFileError, IsADirectoryError):
        return None


def install(args) -> int:
    from swarmtui.safefile import kind_of, write_atomic

    target = _target(args, must_be_checkout=True)
    require_root(target.scope, bool(os.environ.get(u.DIR_ENV)), os.geteuid())
    spec, why = build_spec(args, target)
    text = u.render_unit(spec).encode()
    _check_python_can_import(spec.python, target.checkout)
    path = target.path
    if os.path.isdir(path) and not os.path.islink(path):
        raise UserError(f"{path} is a directory; move it away so the unit can be written there")
    current = _read_unit(path)
    # Something that is not a plain file (a planted link) is replaced, and said so.
    odd = kind_of(os.lstat(path).st_mode) if current is None and os.path.lexists(path) else None
    unchanged = (current == text and stat.S_IMODE(os.lstat(path).st_mode) == UNIT_MODE)
    if unchanged:
        _say(f"unchanged: {path}")
    else:
        try:
            # Not ensure_private_dir: ~/.config/systemd/user is systemd's folder, not ours,
            # and is left with the modes it has.
            target.directory.mkdir(parents=True, exist_ok=True)
            write_atomic(path, text, UNIT_MODE)
        except OSError as exc:      # no permission, a read-only or full disk: one line
            raise UserError(f"cannot write {path}: {exc.strerror or exc}") from None
        _say(f"{'updated' if current is not None else 'wrote'} {path}" + (f" (replacing {odd} that was there)" if odd else ""))
    _say(f"it runs: {shlex.join(spec.argv())}")
    _say(why)
    _say("now run:")
    _say(f"  {target.systemctl('daemon-reload')}")
    _say(f"  {target.systemctl('enable', '--now', target.name)}")
    if current is not None and not unchanged:
        _say(f"  {target.systemctl('restart', target.name)}    # only if it already runs: it stops and "
             "starts the node to take the new settings")
    if target.scope == u.USER:
        # Without lingering the user manager, and the node with it, stops at the last logout.
        _say(f"  {shlex.join(['loginctl', 'enable-linger', pwd.getpwuid(os.geteuid()).pw_name])}")
    _say(f"  {target.journalctl()}")
    return 0


# ---------------------------------------------------------------- systemctl (read-only)


def ask_systemctl(target: Target, verb: str) -> tuple[str | None, str]:
    """(the state word systemctl answered, or None when it could not be asked; the one line to
    show). Only is-active and is-enabled: questions, never orders."""
    exe = shutil.which("systemctl")
    if exe is None:
        return None, "systemctl not found (no systemd here)"
    argv = [exe, *(["--user"] if target.scope == u.USER else []), verb, target.name]
    try:
        out = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=15,
                             errors="replace")
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"systemctl {verb} failed: {exc}"
    words = out.stdout.split()
    if words and "failed to" not in out.stdout.lower():
        return words[0], words[0]
    lines = [ln.strip() for ln in (out.stderr + "\n" + out.stdout).splitlines() if ln.strip()]
    return None, f"systemctl: {lines[0] if lines else f'exit status {out.returncode}'}"


def _enable_links(target: Target) -> list[Path]:
    """The .wants/.requires links that `systemctl enable` made for the unit, found without
    systemctl (which may have no bus to talk to)."""
    found = []
    try:
        entries = list(os.scandir(target.directory))
    except OSError:
        return found
    for entry in entries:
        if entry.name.endswith((".wants", ".requires", ".upholds")) and entry.is_dir(follow_symlinks=False):
            link = Path(entry.path) / target.name
            if os.path.lexists(link):
                found.append(link)
    return found


# ---------------------------------------------------------------- uninstall


def uninstall(args) -> int:
    target = _target(args, must_be_checkout=False)
    require_root(target.scope, bool(os.environ.get(u.DIR_ENV)), os.geteuid())
    path = target.path
    if not os.path.lexists(path):
        _say(f"no unit to remove: {path} does not exist")
        return 0
    data = _read_unit(path)
    if data is None or not data.startswith(u.MARKER.encode()):
        raise UserError(f"{path} was not written by swarmtui service install; it is left alone", exit_code=1)
    # Refuse while it runs or is enabled, rather than remove the file and print the lines:
    # `systemctl disable` needs the unit file to exist, so once it is gone the enable link
    # stays behind (and the node starts again at the next boot or login), and a running node
    # would go on from a unit nobody can see any more.
    active, _ = ask_systemctl(target, "is-active")
    enabled, _ = ask_systemctl(target, "is-enabled")
    links = _enable_links(target)
    why = []
    if active in _RUNNING:
        why.append(f"it is {active}")
    if enabled in _ENABLED or links:
        why.append("it is enabled" + (f" ({links[0]})" if links and enabled not in _ENABLED else ""))
    if why:
        raise UserError(f"{target.name} is still in use ({', '.join(why)}): first run "
                        f"'{target.systemctl('disable', '--now', target.name)}' (this stops the node), "
                        "then uninstall again", exit_code=1)
    os.unlink(path)
    _say(f"removed {path}")
    _say("now run:")
    _say(f"  {target.systemctl('daemon-reload')}")
    if active is None:
        # systemctl could not say whether it runs; stop works without the file.
        _say(f"  {target.systemctl('stop', target.name)}    # only if it still runs")
    return 0


# ---------------------------------------------------------------- status


def _exec_start_of(text: str) -> str | None:
    for line in text.splitlines():
        if line.startswith("ExecStart="):
            return line[len("ExecStart="):]
    return None


def status(args) -> int:
    target = _target(args, must_be_checkout=False)
    path = target.path
    _say(f"node      {target.checkout}" + ("" if target.found_checkout else " (no rl-swarm checkout there any more)"))
    if not os.path.lexists(path):
        _say(f"unit      {path}: not installed (swarmtui service install"
             + (" --system" if target.scope == u.SYSTEM else "") + ")")
        return 1
    data = _read_unit(path)
    if data is None:
        _say(f"unit      {path}: not a plain file (a link or worse): install replaces it")
    else:
        text = data.decode("utf-8", errors="replace")
        _say(f"unit      {path}: installed, mode {stat.S_IMODE(os.lstat(path).st_mode):04o}")
        raw = _exec_start_of(text)
        argv = u.split_exec(raw) if raw is not None else None
        # Decoded (and shell-quoted) when it is one of ours, so a path reads as it is on disk;
        # a line edited by hand is shown as systemd reads it.
        _say(f"runs      {shlex.join(argv) if argv else f'ExecStart={raw}' if raw is not None else '(no ExecStart= line)'}")
        if target.found_checkout:
            if args.config is None and argv and "--config" in argv[:-1]:
                # The freshness check uses the config the unit was installed with.
                args = argparse.Namespace(**{**vars(args), "config": argv[argv.index("--config") + 1]})
            _say(f"current   {_freshness(args, target, data)}")
    for verb, label in (("is-active", "active"), ("is-enabled", "enabled")):
        _, line = ask_systemctl(target, verb)
        _say(f"{label:<9} {line}")
    return 0


def _freshness(args, target: Target, data: bytes) -> str:
    """Whether the file is what install would write now (a python moved, a config's timeouts
    changed since: TimeoutStopSec would no longer cover the stop)."""
    try:
        spec, _ = build_spec(args, target)
        wanted = u.render_unit(spec).encode()
    except UserError as exc:
        return f"cannot tell: {exc}"
    if wanted == data:
        return "up to date"
    return ("differs from what install with these options would write now (python moved, or the config's "
            "timeouts changed): run 'swarmtui service install' again")
