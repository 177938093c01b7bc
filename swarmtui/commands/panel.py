"""`swarmtui [NODE_DIR] [--config FILE]`: the panel on an rl-swarm checkout.

The panel runs the engine in-process: it builds a Supervisor with the app's `emit`, the app starts
it on mount and stops the node on quit, on a lost terminal, and (emergency_kill) after run()
returns whatever happened."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any, Callable

from swarmtui.errors import UserError

NOT_WIRED = "the engine is not wired in yet: this panel shows the checkout but cannot run it"


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


def engine_factory(node_dir: Path, config: Any) -> tuple[Callable, str]:
    """(factory(emit) -> engine, banner). The real Supervisor when it is installed."""
    if importlib.util.find_spec("swarmtui.engine.supervisor") is not None:
        from swarmtui.engine.supervisor import Supervisor

        return (lambda emit: Supervisor(node_dir, config, emit, interactive=True)), ""
    from swarmtui.node.layout import inspect_checkout

    layout = inspect_checkout(node_dir)          # NotACheckout: a one-line error, before the TUI
    return (lambda emit: PendingEngine(emit, layout)), NOT_WIRED


class PendingEngine:
    """Stands in until engine/supervisor.py lands: shows the checkout's identity, runs nothing."""

    survives_panel = False

    def __init__(self, emit, layout):
        self.emit = emit
        self.layout = layout
        self.state = "stopped"

    async def start(self) -> None:
        from swarmtui.engine import events as ev

        try:
            from swarmtui.node.identity import identity_report

            self.emit(ev.IdentityChanged(report=identity_report(self.layout).to_dict()))
        except Exception as exc:  # the banner already says this is incomplete
            self.emit(ev.Notice(level="warning", text=f"identity: {exc}"))
        self.emit(ev.StateChanged(state=ev.STOPPED, detail=NOT_WIRED))

    def send(self, cmd) -> None:
        from swarmtui.engine import events as ev

        self.emit(ev.Notice(level="warning", text=f"{cmd.kind}: {NOT_WIRED}"))

    async def close(self, stop_node: bool = True) -> None:
        return None

    def emergency_kill(self) -> None:
        return None


def open_panel(node_dir: Path, config: Any) -> int:
    check_keymap(dict(getattr(config, "keys", {}) or {}))
    factory, banner = engine_factory(node_dir, config)
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise UserError("the panel needs a terminal; for a node without one use 'swarmtui supervise'")
    from swarmtui.tui.app import SwarmApp, run_panel

    app = SwarmApp(
        factory,
        keymap=dict(config.keys),
        stall_limit_s=config.restart.stall_limit,
        stop_timeout_s=config.restart.stop_timeout,
        keep_login=config.login.keep_login,
        banner=banner,
    )
    return run_panel(app)
