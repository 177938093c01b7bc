"""`swarmtui demo [--era ERA] [--scenario NAME] [--speed X] [--dir DIR]`: the panel on a simulated
node. Creates (or refreshes) a simulated checkout, on a free login port, under the cache dir
unless --dir says where, and opens the same panel `swarmtui NODE_DIR` opens."""

from __future__ import annotations

import socket
from pathlib import Path

from swarmtui import paths
from swarmtui.errors import UserError


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prepare(era: str, scenario: str | None, speed: float | None, directory: str | None) -> Path:
    from swarmtui import sim
    from swarmtui.sim.config import is_sim_checkout

    if era not in sim.ERAS:
        raise UserError(f"unknown era {era!r} (choose one of: {', '.join(sim.ERAS)})")
    scenario = scenario or "demo"
    if speed is None:
        from swarmtui.sim.scenarios import DEMO_SPEED

        speed = DEMO_SPEED
    target = Path(directory).expanduser() if directory else paths.cache_dir() / f"demo-{era}"
    # Only ever rewrite a folder that already is a simulated checkout (or an empty/new one).
    force = target.is_dir() and is_sim_checkout(target)
    return sim.create_checkout(target, era, scenario=scenario, speed=speed, port=free_port(), force=force)


def run(args) -> int:
    from swarmtui.commands.panel import open_panel
    from swarmtui.engine.config import load_config

    config = load_config(Path(args.config).expanduser() if getattr(args, "config", None) else None)
    root = prepare(args.era or "codezero", args.scenario, args.speed, args.dir)
    return open_panel(root, config)
