"""`swarmtui sim`: create a simulated rl-swarm checkout, list what it can do, or play its login."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from swarmtui.errors import UserError
from swarmtui.node.text import sanitize


def _list() -> int:
    from swarmtui.sim.scenarios import ERA_LABELS, SCENARIOS

    out = ["eras:"]
    out += [f"  {name:<10} {label}" for name, label in ERA_LABELS.items()]
    out.append("scenarios (a comma list plays one per run, the last repeats):")
    out += [f"  {name:<24} {text}" for name, text in SCENARIOS.items()]
    print("\n".join(out))
    return 0


def run(args) -> int:
    if args.list:
        return _list()
    if args.dir == "login":
        if not args.login_dir:
            raise UserError("usage: swarmtui sim login DIR")
        from swarmtui.sim import play_login

        play_login(Path(args.login_dir))
        print(sanitize(f"logged in: wrote {Path(args.login_dir) / 'modal-login' / 'temp-data'}/userData.json and userApiKey.json"))
        return 0
    if not args.dir:
        raise UserError("missing DIR (usage: swarmtui sim DIR --era ERA [--scenario NAME] [--speed X])")
    if args.login_dir:
        raise UserError(f"unexpected argument: {args.login_dir!r}")
    from swarmtui.sim import create_checkout

    root = create_checkout(Path(args.dir), args.era or "codezero", scenario=args.scenario or "healthy",
                           speed=args.speed or 1.0, port=args.port if args.port is not None else 3000,
                           force=args.force)
    q = shlex.quote(str(root))
    # The paths are the user's own, but a directory name can hold anything a terminal acts on.
    sys.stdout.write(sanitize(f"simulated rl-swarm checkout ({args.era or 'codezero'}) in {root}\n"
                              f"run it by hand:  cd {q} && source .venv/bin/activate && ./run_rl_swarm.sh\n"
                              f"log in:          swarmtui sim login {q}\n", keep_newlines=True))
    return 0
