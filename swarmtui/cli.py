"""The `swarmtui` command line.

Only argparse is imported at start-up: each subcommand's implementation (and with it Textual,
psutil, cryptography) is imported when that subcommand runs, so `swarmtui --help` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import Callable

from swarmtui import __version__

PROG = "swarmtui"

# name -> (module under swarmtui.commands, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("demo", "open the panel on a simulated node (nothing to install, nothing real touched)"),
    "start": ("keepers", "start the node's keeper in the background (it outlives every terminal)"),
    "attach": ("keepers", "open the panel on the node's running keeper"),
    "stop": ("keepers", "stop the node (full stop sequence) and its background keeper"),
    "ls": ("keepers", "list every keeper of this user on this host"),
    "fleet": ("fleet", "the fleet overview (fleet.toml): every node, local and over ssh; start/stop/restart"),
    "supervise": ("supervise", "run and keep alive a node in the foreground, printing one line per event"),
    "service": ("service", "install, remove or show a systemd unit that keeps the node"),
    "diagnose": ("diagnose", "read saved node output and report what swarmtui would have seen"),
    "identity": ("identity", "show the node's peer id, animal name and login state, offline"),
    "history": ("history", "print the node's restart history"),
    "notify": ("notify", "send a test alert through every configured alert URL ([notify] urls)"),
    "sim": ("sim", "create a simulated rl-swarm checkout (or play its browser login)"),
}


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as one line and exit 2, never a wall of usage text."""

    def error(self, message: str) -> None:  # type: ignore[override]
        from swarmtui.node.text import sanitize

        self.exit(2, f"{self.prog}: {sanitize(message)} (try '{self.prog} --help')\n")


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0: {text!r}")
    return value


def _add_sim_options(p: argparse.ArgumentParser, *, era_required: bool) -> None:
    p.add_argument("--era", required=era_required, default=None if era_required else "codezero",
                   help="which rl-swarm release to imitate: hivemind (v0.4), rgym (v0.6), codezero (v0.7)")
    p.add_argument("--scenario", default=None, help="what the simulated node does (see 'swarmtui sim --list')")
    p.add_argument("--speed", type=_positive_float, default=None,
                   help="time compression: 60 makes a minute of node time pass in a second")


def build_parsers() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    top = _Parser(
        prog=PROG,
        description="A terminal control panel that runs and keeps alive a Gensyn RL-Swarm node.",
        epilog="commands:\n" + "\n".join(f"  {n:<10} {h}" for n, (_, h) in COMMANDS.items())
        + f"\n\nWith no command, opens the panel on NODE_DIR. '{PROG} COMMAND --help' for details.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    top.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    top.add_argument("node_dir", nargs="?", default=".", metavar="NODE_DIR",
                     help="the rl-swarm checkout to supervise (default: the current directory)")
    top.add_argument("--config", metavar="FILE", help="config file (default: the XDG config dir's swarmtui/config.toml)")
    top.add_argument("--remote-command", metavar="CMD", default="swarmtui",
                     help="for NODE_DIR as HOST:DIR (the panel on that host's keeper, started there when none "
                          "runs): how HOST runs swarmtui (default: swarmtui)")

    subs: dict[str, argparse.ArgumentParser] = {}

    def sub(name: str, usage_extra: str = "") -> argparse.ArgumentParser:
        p = _Parser(prog=f"{PROG} {name}", description=COMMANDS[name][1])
        subs[name] = p
        return p

    p = sub("demo")
    _add_sim_options(p, era_required=False)
    p.add_argument("--dir", metavar="DIR", help="where to create the simulated checkout (default: a folder under the cache dir)")
    p.add_argument("--config", metavar="FILE", help="config file")

    p = sub("supervise")
    p.add_argument("node_dir", nargs="?", default=".", metavar="NODE_DIR")
    p.add_argument("--config", metavar="FILE", help="config file")
    p.add_argument("--json", action="store_true", help="print one JSON object per event")
    p.add_argument("--lines", action="store_true", help="also print the node's output lines as events")
    p.add_argument("--background", action="store_true", help=argparse.SUPPRESS)   # run by `swarmtui start`
    p.add_argument("--name", default=None, help=argparse.SUPPRESS)          # a fleet node's name (fleet start)
    p.add_argument("--overrides", default=None, help=argparse.SUPPRESS)     # its config overrides (JSON)

    remote_help = "how HOST runs swarmtui, for HOST:DIR (default: swarmtui; e.g. ~/.local/bin/swarmtui)"
    p = sub("start")
    p.description = (COMMANDS["start"][1] + ". NODE_DIR may be HOST:DIR (as for attach): HOST's own swarmtui "
                     "starts it there, over your ssh, with HOST's config.")
    p.add_argument("node_dir", nargs="?", default=".", metavar="NODE_DIR")
    p.add_argument("--config", metavar="FILE", help="config file")
    p.add_argument("--name", default=None, help=argparse.SUPPRESS)      # a fleet node's name (fleet start over ssh)
    p.add_argument("--remote-command", metavar="CMD", default="swarmtui", help=remote_help)

    p = sub("attach")
    p.description = (COMMANDS["attach"][1] + ". NODE_DIR may be HOST:DIR (scp's form, e.g. "
                     "ubuntu@gpu-box:~/rl-swarm, or [2001:db8::7]:~/rl-swarm for an IPv6 address): the keeper on that host is reached with your own ssh "
                     "(`ssh HOST swarmtui attach --stdio DIR`, its config, keys and agent; no question is "
                     "asked, so use a key or ssh-agent). SWARMTUI_SSH sets the ssh command and its options.")
    p.add_argument("node_dir", nargs="?", default=".", metavar="NODE_DIR",
                   help="the checkout, here or as HOST:DIR on another host (default: the current directory)")
    p.add_argument("--read-only", action="store_true", help="watch only: the keeper refuses this viewer's commands")
    p.add_argument("--remote-command", metavar="CMD", default="swarmtui", help=remote_help)
    p.add_argument("--stdio", action="store_true", help=argparse.SUPPRESS)   # the keeper protocol on stdin/stdout (ssh)

    p = sub("stop")
    p.description = COMMANDS["stop"][1] + ". NODE_DIR may be HOST:DIR (as for attach)."
    p.add_argument("node_dir", nargs="?", default=".", metavar="NODE_DIR")
    p.add_argument("--remote-command", metavar="CMD", default="swarmtui", help=remote_help)

    p = sub("ls")
    p.add_argument("--json", action="store_true", help="one JSON object per keeper")
    p.add_argument("--fleet", nargs="?", const="", default=None, metavar="FILE",
                   help="list the fleet's nodes instead (default file: the config dir's fleet.toml), "
                        "remote ones over ssh")

    p = sub("fleet")
    p.add_argument("action", nargs="?", choices=("start", "stop", "restart"), default=None,
                   help="start, stop or restart the named nodes (all without names); none: the overview")
    p.add_argument("names", nargs="*", metavar="NAME", help="fleet node names")
    p.add_argument("--fleet", metavar="FILE", default=None, help="fleet file (default: the config dir's fleet.toml)")
    p.add_argument("--config", metavar="FILE", help="config file the local nodes' keepers use")

    p = sub("service")
    p.add_argument("action", choices=("install", "uninstall", "status"), help="what to do")
    p.add_argument("node_dir", nargs="?", default=".", metavar="NODE_DIR")
    scope = p.add_mutually_exclusive_group()
    scope.add_argument("--user", dest="scope", action="store_const", const="user",
                       help="a user unit (~/.config/systemd/user; the default)")
    scope.add_argument("--system", dest="scope", action="store_const", const="system",
                       help="a system unit (/etc/systemd/system; run as root)")
    p.add_argument("--config", metavar="FILE", help="config file the service's supervise uses")

    p = sub("diagnose")
    p.add_argument("files", nargs="+", metavar="FILE",
                   help="saved output: a terminal capture, logs/*.log, - for stdin, or a checkout folder "
                        "(its logs/*.log and swarmtui's run transcripts of it)")
    p.add_argument("--json", action="store_true", help="print one JSON object")

    p = sub("identity")
    p.usage = "swarmtui identity [NODE_DIR] [--json]\n       swarmtui identity restore [NODE_DIR] [BACKUP] [--json] [--yes]"
    p.description = (COMMANDS["identity"][1] + ". `identity restore` lists swarmtui's backups of swarm.pem "
                     "and the login files (newest first, numbered); with BACKUP (its number, file name or "
                     "path) it puts that one back, after backing up the current file; never while the node "
                     "runs. (A checkout folder named restore: write ./restore.)")
    p.add_argument("node_dir", nargs="?", default=".", metavar="NODE_DIR")
    p.add_argument("more", nargs="*", help=argparse.SUPPRESS)        # restore's NODE_DIR and BACKUP
    p.add_argument("--json", action="store_true", help="print one JSON object (never a secret)")
    p.add_argument("--yes", "-y", action="store_true", help="restore: do not ask (for scripts)")

    p = sub("history")
    p.add_argument("node_dir", nargs="?", default=".", metavar="NODE_DIR")
    p.add_argument("--json", action="store_true", help="print the records as JSON lines")

    p = sub("notify")
    p.add_argument("action", choices=("test",), help="test: send a test alert and say, per URL, sent or why not")
    p.add_argument("node_dir", nargs="?", default=None, metavar="NODE_DIR",
                   help="the checkout the test alert names (default: the current directory, if it is one)")
    p.add_argument("--config", metavar="FILE", help="config file")

    p = sub("sim")
    p.description = ("create a simulated rl-swarm checkout in DIR ('swarmtui sim DIR --era ERA'), "
                     "or play the browser login for one ('swarmtui sim login DIR')")
    p.add_argument("dir", nargs="?", metavar="DIR")
    p.add_argument("login_dir", nargs="?", metavar="LOGIN_DIR", help=argparse.SUPPRESS)
    _add_sim_options(p, era_required=False)
    p.add_argument("--port", type=int, default=None, help="login server port (default 3000)")
    p.add_argument("--list", action="store_true", help="list eras and scenarios")
    p.add_argument("--force", action="store_true", help="rewrite the simulator's files in an existing DIR")
    return top, subs


def _dispatch(module: str, args: argparse.Namespace) -> int:
    mod = importlib.import_module(f"swarmtui.commands.{module}")
    # commands.keepers has one function per command (run_start, run_ls, ...); the others `run`.
    name = f"run_{args.command}" if module == "keepers" else "run"
    run: Callable[[argparse.Namespace], int] = getattr(mod, name)
    return int(run(args) or 0)


def _leading_config(argv: list[str]) -> tuple[list[str], str | None]:
    """Take a `--config FILE` (or `--config=FILE`) given before everything else off the front, so
    the word after it can be a command. Anything else is left for the parsers to judge."""
    if argv and argv[0].startswith("--config="):
        return argv[1:], argv[0].split("=", 1)[1]
    if len(argv) >= 2 and argv[0] == "--config":
        return argv[2:], argv[1]
    return argv, None


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    top, subs = build_parsers()
    try:
        argv, config = _leading_config(argv)
        if argv and argv[0] in subs:
            name = argv[0]
            rest = argv[1:]
            if config is not None:
                # `swarmtui --config X demo`: the top-level option belongs to the command after
                # it (one given after the command wins); one that takes no config says so.
                if "--config" not in subs[name].format_usage():
                    subs[name].error("--config is not an option of this command")
                if not any(a == "--config" or a.startswith("--config=") for a in rest):
                    rest = ["--config", config, *rest]
            # Intermixed: `fleet stop --fleet F gpu0` names gpu0 (plain parse_args had taken the
            # positionals before the option as all there were, and refused the name after it).
            args = subs[name].parse_intermixed_args(rest)
            args.command = name
            return _dispatch(COMMANDS[name][0], args)
        if config is not None:
            argv = ["--config", config, *argv]
        args = top.parse_args(argv)
        target = args.node_dir
        if target != "." and not os.path.exists(target) and os.sep not in target and not target.startswith("."):
            # A bare word that is neither a command nor a directory is almost always a typo.
            from swarmtui.node.text import sanitize

            sys.stderr.write(f"{PROG}: unknown command or missing directory: {sanitize(repr(target))} (try '{PROG} --help')\n")
            return 2
        args.command = "panel"
        return _dispatch("panel", args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `swarmtui history | head` must not print a traceback.
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return 0
    except Exception as exc:  # the UserError path, without importing anything heavy up front
        from swarmtui.errors import UserError

        if isinstance(exc, UserError):
            from swarmtui.node.text import sanitize

            # The message quotes paths, config keys and file contents: terminal-safe, one line.
            sys.stderr.write(f"{PROG}: {sanitize(str(exc))}\n")
            return exc.exit_code
        raise
