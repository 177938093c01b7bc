"""The systemd unit that `swarmtui service install` writes: its name, folder and text.

Pure functions, no I/O beyond reading the environment that is passed in, so the text can be
tested byte for byte and checked with `systemd-analyze verify`.

Why the unit looks the way it does (systemd.kill(5), systemd.service(5), systemd.syntax(7)):
- KillMode=mixed: on `systemctl stop` the SIGTERM goes to the main process only (swarmtui
  supervise), which then runs the node's own stop sequence (SIGINT to the node's group so
  run_rl_swarm.sh's trap runs, stop_timeout, SIGTERM, term_timeout, SIGKILL, sweep). With the
  default control-group every process of the node would get SIGTERM at the same instant and the
  script's clean-up would race its children's deaths; with `process` whatever supervise missed
  would outlive the unit. mixed sends SIGKILL to the rest of the cgroup only once the main
  process has exited or TimeoutStopSec has passed.
- TimeoutStopSec is longer than the longest stop supervise can take (stop_timeout_s), so that
  systemd's SIGKILL never cuts our sequence short.
- Restart=on-failure: supervise restarts the node itself; systemd only brings back a
  supervise that died. RestartPreventExitStatus=2: supervise exits 2 for input that a restart
  cannot fix (a bad config, not a checkout, another keeper holding the node); every 10 s for
  ever would only fill the journal. A checkout on a disk that is mounted late is not such a
  case: WorkingDirectory= makes systemd wait for its mount (RequiresMountsFor, implied).
- SendSIGHUP=no (systemd's default, written down because the node must survive it: supervise
  ignores SIGHUP anyway).
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from swarmtui.errors import UserError

USER, SYSTEM = "user", "system"
SYSTEM_UNIT_DIR = Path("/etc/systemd/system")
# Tests (and anyone who keeps units elsewhere) point this at another folder; the real /etc is
# then never written.
DIR_ENV = "SWARMTUI_SYSTEMD_DIR"
# The first line of every unit swarmtui writes: uninstall removes only files that carry it.
MARKER = "# Written by 'swarmtui service install'"

# What ProcTree.stop and Supervisor._finish_run wait for beyond the two configurable timeouts:
# kill_timeout after the group's SIGKILL (5 s), the sweep's SIGTERM wait (3 s) and its SIGKILL
# wait (5 s), then the launcher's exit status (10 s) and the end of its output (0.5 s).
STOP_SEQUENCE_MARGIN_S = 5 + 3 + 5 + 10 + 0.5
# Room for the history record, the transcript's close and a loaded machine.
SYSTEMD_MARGIN_S = 30
RESTART_SEC = 10

# Unit names may hold only these (systemd.unit(5)); anything else in a checkout's folder name
# becomes "_". The hash that node_key appends keeps two checkouts apart however similar.
_UNIT_NAME_BAD = re.compile(r"[^A-Za-z0-9_.-]")
_UNIT_BASE_MAX = 64
# A word that needs no quotes in an Exec line; everything else is double-quoted.
_PLAIN_WORD = re.compile(r"[A-Za-z0-9/_.,:+=@-]+")
_USER_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.@-]{0,63}")
# The variables that decide where swarmtui keeps its state, config and cache: the service must
# use the same folders as the person's panel, `swarmtui history` and `attach`.
PASS_THROUGH_ENV = ("SWARMTUI_STATE_DIR", "SWARMTUI_CONFIG_DIR", "SWARMTUI_CACHE_DIR",
                    "XDG_STATE_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME")


def unit_name(node_key: str) -> str:
    """swarmtui-<readable base>-<hash>.service for a paths.node_key()."""
    base, sep, digest = node_key.rpartition("-")
    if not sep:
        base, digest = node_key, ""
    base = _UNIT_NAME_BAD.sub("_", base)[:_UNIT_BASE_MAX] or "node"
    return f"swarmtui-{base}-{digest}.service" if digest else f"swarmtui-{base}.service"


def unit_dir(scope: str, env: Mapping[str, str]) -> Path:
    override = env.get(DIR_ENV)
    if override:
        return Path(override).expanduser()
    if scope == SYSTEM:
        return SYSTEM_UNIT_DIR
    xdg = env.get("XDG_CONFIG_HOME", "")
    # The XDG spec says a relative XDG_CONFIG_HOME is invalid and must be ignored; systemd does so.
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path(env.get("HOME") or Path.home()) / ".config"
    return base / "systemd" / "user"


def stop_timeout_s(restart) -> int:
    """TimeoutStopSec for a config's [restart]: the longest stop supervise can take, plus room.
    exit_grace counts too: a SIGTERM that arrives just after a fatal line waits for it first."""
    longest = restart.exit_grace + restart.stop_timeout + restart.term_timeout + STOP_SEQUENCE_MARGIN_S
    return int(math.ceil(longest)) + SYSTEMD_MARGIN_S


# ---------------------------------------------------------------- quoting (systemd.syntax(7))


def _no_controls(text: str, what: str) -> None:
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in text):
        raise UserError(f"{what} holds a control character, which a systemd unit cannot carry: {text!r}")


def exec_word(text: str, *, first: bool = False) -> str:
    """One word of an Exec line. `%` is doubled everywhere (specifiers are expanded before the
    line is split, quotes or not); `$` is doubled except in the program's path: systemd
    expands $VAR in every argument, argv[0] included, but takes the path to execute literally.
    A program path with a `$` or a quote is refused (python_path_ok); a word with anything outside a
    small safe set is double-quoted with `\\` and `\"` escaped."""
    _no_controls(text, "a path")
    text = text.replace("%", "%%")
    if not first:
        text = text.replace("$", "$$")
    if _PLAIN_WORD.fullmatch(text):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def split_exec(line: str) -> list[str] | None:
    """The argv of an ExecStart= value as exec_start writes it (a subset of systemd.syntax(7):
    bare words, and double-quoted words with \\\\ and \\" escapes), or None for anything else
    (a file edited by hand is shown as it is, not guessed at)."""
    if re.search(r"%[^%]", line.replace("%%", "")) or line.replace("%%", "").endswith("%"):
        return None
    line = line.replace("%%", "%")
    words: list[str] = []
    i, n = 0, len(line)
    while i < n:
        if line[i] == " ":
            i += 1
            continue
        if line[i] == '"':
            word, i = [], i + 1
            while i < n and line[i] != '"':
                if line[i] == "\\":
                    if i + 1 >= n or line[i + 1] not in '\\"':
                        return None
                    i += 1
                word.append(line[i])
                i += 1
            if i >= n or (i + 1 < n and line[i + 1] != " "):
                return None
            words.append("".join(word))
            i += 1
        else:
            j = line.find(" ", i)
            j = n if j < 0 else j
            word = line[i:j]
            if '"' in word or "\\" in word or "'" in word:
                return None
            words.append(word)
            i = j
    out = words[:1]
    for word in words[1:]:
        if "$" in word.replace("$$", ""):
            return None             # a $VAR systemd would expand: not one of ours
        out.append(word.replace("$$", "$"))
    return out or None


def env_assignment(name: str, value: str) -> str:
    """One quoted NAME=value for Environment=: C escapes and specifiers apply there, $ does not."""
    _no_controls(value, f"${name}")
    text = f"{name}={value}".replace("%", "%%")
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def check_checkout_path(path: str) -> None:
    """WorkingDirectory= takes the rest of the line as it is, with specifiers expanded but no
    quotes or escapes: trailing white space would be stripped and a trailing backslash would
    join the next line. Such a path, or one with a control character, is refused."""
    _no_controls(path, "the checkout's path")
    if path != path.strip() or "\\" in path:
        raise UserError(f"the checkout's path cannot be written in a systemd unit (leading or trailing "
                        f"white space, or a backslash): {path!r}; move or rename the folder")


def python_path_ok(path: str) -> None:
    """systemd refuses a program path with a quote, a backslash or a control character
    ("Executable name contains special characters"), and expands $VAR in argv[0], which python
    reads to find its virtual environment: such a path is refused here, in one line."""
    _no_controls(path, "python's path")
    bad = sorted({c for c in path if c in "\"'\\$"})
    if bad:
        raise UserError(f"python's path holds {' '.join(repr(c) for c in bad)}, which systemd cannot take in "
                        f"the program to run: {path!r}; install swarmtui in a folder without them")
    if not os.path.isabs(path):
        raise UserError(f"python's path is not absolute: {path!r}")


def check_user_name(name: str) -> None:
    if not _USER_NAME.fullmatch(name):
        raise UserError(f"not a user name systemd accepts in User=: {name!r}")


# ---------------------------------------------------------------- the unit


@dataclass
class UnitSpec:
    checkout: str                      # absolute, resolved
    python: str                        # absolute, symlinks kept (a venv's bin/python is a link)
    scope: str = USER
    config: str | None = None          # absolute, or None for supervise's default config file
    user: str | None = None            # system units: who the node runs as
    home: str | None = None
    timeout_stop_s: int = 89
    env: dict[str, str] = field(default_factory=dict)   # besides PYTHONUNBUFFERED

    def argv(self) -> list[str]:
        argv = [self.python, "-m", "swarmtui", "supervise", self.checkout]
        if self.config:
            argv += ["--config", self.config]
        return argv


def exec_start(spec: UnitSpec) -> str:
    argv = spec.argv()
    return " ".join([exec_word(argv[0], first=True)] + [exec_word(a) for a in argv[1:]])


def render_unit(spec: UnitSpec) -> str:
    check_checkout_path(spec.checkout)
    python_path_ok(spec.python)
    where = spec.checkout.replace("%", "%%")
    lines = [
        f"{MARKER} for {spec.checkout}; 'swarmtui service uninstall' removes it.",
        "# supervise stops the node itself on SIGTERM (SIGINT to the node, stop_timeout, SIGTERM,",
        "# term_timeout, SIGKILL, sweep): KillMode=mixed leaves that sequence to it, and",
        "# TimeoutStopSec is longer than the longest such stop with this config.",
        "[Unit]",
        f"Description=swarmtui: RL-Swarm node in {where}",
    ]
    if spec.scope == SYSTEM:
        # The user manager has no network-online.target; the system one does.
        lines += ["Wants=network-online.target", "After=network-online.target"]
    lines += ["", "[Service]", "Type=exec"]
    if spec.scope == SYSTEM and spec.user:
        check_user_name(spec.user)
        lines.append(f"User={spec.user}")
    lines += [f"ExecStart={exec_start(spec)}", f"WorkingDirectory={where}"]
    env = {"PYTHONUNBUFFERED": "1"}
    if spec.scope == SYSTEM and spec.home:
        env["HOME"] = spec.home
    env.update(spec.env)
    lines += [f"Environment={env_assignment(k, v)}" for k, v in env.items()]
    lines += [
        "Restart=on-failure",
        f"RestartSec={RESTART_SEC}",
        "RestartPreventExitStatus=2",
        "KillMode=mixed",
        "KillSignal=SIGTERM",
        "SendSIGHUP=no",
        f"TimeoutStopSec={spec.timeout_stop_s}",
        "",
        "[Install]",
        f"WantedBy={'multi-user.target' if spec.scope == SYSTEM else 'default.target'}",
    ]
    return "\n".join(lines) + "\n"
