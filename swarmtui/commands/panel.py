"""`swarmtui [NODE_DIR] [--config FILE]`: the panel on an rl-swarm checkout.

The panel runs the engine in-process. What can be wrong with NODE_DIR or the config is checked
here, cheaply (the config, the checkout's layout), so a mistake is one line before the screen is
taken; the Supervisor itself (~200 ms of imports) is built by the app after its first frame. The
app starts it, stops the node on quit and on a lost terminal, and run_panel's emergency_kill
runs after run() returns whatever happened."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Callable

from swarmtui.errors import UserError


def run(args) -> int:
    from swarmtui.engine.config import load_config

    config = load_config(Path(args.config).expanduser() if getattr(args, "config", None) else None)
    node_dir = Path(args.node_dir).expanduser()
    if not node_dir.exists():
        raise UserError(f"no such directory: {node_dir}")
    if not node_dir.is_dir():
        raise UserError(f"not a directory: {node_dir}")
    return open_panel(node_dir, config)


def check_keymap(keys: dict[str, str]) -> None:
    """Unknown binding ids in [keys] are a typo the user wants to hear about, in one line."""
    from swarmtui.tui.app import SwarmApp
    from swarmtui.tui.panes.logview import LogView

    known = sorted({b.id for b in SwarmApp.BINDINGS + LogView.BINDINGS if getattr(b, "id", None)})  # type: ignore[union-attr]
    for binding_id, key in keys.items():
        if binding_id not in known:
            raise UserError(f"config.toml: [keys] {binding_id}: unknown action (known: {', '.join(known)})")
        if not isinstance(key, str) or not key.strip():
            raise UserError(f"config.toml: [keys] {binding_id}: not a key: {key!r}")


def supervisor_factory(node_dir: Path, config: Any, **options: Any) -> Callable:
    """factory(emit) -> Supervisor. The import happens when the factory is called (the app calls
    it after the first frame, off the event loop), not here."""

    def build(emit):
        from swarmtui.engine.supervisor import Supervisor

        return Supervisor(node_dir, config, emit, interactive=True, **options)

    return build


def open_panel(node_dir: Path, config: Any) -> int:
    from swarmtui.node.layout import inspect_checkout

    check_keymap(dict(getattr(config, "keys", {}) or {}))
    layout = inspect_checkout(node_dir)          # NotACheckout: a one-line error, before the TUI
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise UserError("the panel needs a terminal; for a node without one use 'swarmtui supervise'")
    from swarmtui.tui.app import SwarmApp, run_panel

    app = SwarmApp(
        supervisor_factory(node_dir, config),
        layout=layout,
        keymap=dict(config.keys),
        stall_limit_s=config.restart.stall_limit,
        stop_timeout_s=config.restart.stop_timeout,
        keep_login=config.login.keep_login,
    )
    return run_panel(app)
