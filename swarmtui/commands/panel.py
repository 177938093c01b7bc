"""`swarmtui [NODE_DIR] [--config FILE]` and `swarmtui attach`: the panel on an rl-swarm checkout.

The node belongs to its keeper, a background `swarmtui supervise` (commands.keepers): the panel
starts one when none runs, then attaches to it over its socket, so quitting the panel, a lost
SSH session or a killed tmux server only detach. What can be wrong with NODE_DIR or the config
is checked here, cheaply, so a mistake is one line before the screen is taken.

`swarmtui demo` (and the tests) run the engine in-process instead (open_panel): the panel is
then the keeper, takes the checkout's keeper lock first, stops the node on quit and on a lost
terminal, and run_panel's emergency_kill runs after run() returns whatever happened."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Callable

from swarmtui.errors import UserError
from swarmtui.node.text import sanitize


def run(args) -> int:
    from swarmtui.engine.channel import split_target
    from swarmtui.engine.config import load_config

    config = load_config(Path(args.config).expanduser() if getattr(args, "config", None) else None)
    remote = split_target(args.node_dir)
    if remote is not None:
        # As for a folder here: the panel, with a keeper started first (by HOST's own swarmtui,
        # with HOST's config) when none runs. This host's --config sets only the panel's keys.
        return open_remote(*remote, config=config, start=True,
                           remote_command=getattr(args, "remote_command", None) or "swarmtui")
    node_dir = Path(args.node_dir).expanduser()
    if not node_dir.exists():
        raise UserError(f"no such directory: {node_dir}")
    if not node_dir.is_dir():
        raise UserError(f"not a directory: {node_dir}")
    return open_attached(node_dir, config=config, config_path=getattr(args, "config", None), start=True)


def open_attached(node_dir: Path, *, read_only: bool = False, start: bool = True, config: Any = None,
                  config_path: str | None = None) -> int:
    """The panel as a viewer of the checkout's keeper (started first when `start` and none runs)."""
    from swarmtui.commands.keepers import ensure_keeper, status_of
    from swarmtui.engine.config import load_config
    from swarmtui.node.layout import inspect_checkout

    config = config or load_config(None)
    check_keymap(dict(getattr(config, "keys", {}) or {}))
    layout = inspect_checkout(node_dir)          # NotACheckout: a one-line error, before the TUI
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise UserError("the panel needs a terminal; for a node without one use 'swarmtui start' or 'swarmtui supervise'")
    if start:
        status, _ = ensure_keeper(layout.root, config_path)
    else:
        status = status_of(layout.root)
        if status is None:
            raise UserError(f"no keeper runs for {layout.root}: `swarmtui start {layout.root}` starts one "
                            "(or just `swarmtui` in the checkout)")
    from swarmtui.engine.remote import RemoteEngine
    from swarmtui.tui.app import run_panel

    app = _attached_panel(lambda emit: RemoteEngine(layout.root, emit, read_only=read_only, layout=layout),
                          layout, config)
    code = run_panel(app)
    if code == 0 and status_of(layout.root) is not None:
        sys.stdout.write(sanitize(f"detached: the node keeps running (keeper pid {status['pid']}); "
                                  f"`swarmtui attach {layout.root}` to come back, `swarmtui stop {layout.root}` "
                                  "to stop it") + "\n")
    return 0 if code in (0, 129) else code


def open_remote(host: str, node_dir: str, *, read_only: bool = False, remote_command: str = "swarmtui",
                config: Any = None, start: bool = False) -> int:
    """`swarmtui attach HOST:DIR`: the panel as a viewer of a keeper on another host, over the
    user's own ssh (engine.channel). The keeper must run there already (`swarmtui start HOST:DIR`
    has that host's swarmtui start one; `start`, for `swarmtui HOST:DIR`, does that first when
    none runs). A first, short connection asks the keeper's
    status before the screen is taken, so an unreachable host, a missing swarmtui or no keeper
    is one line here; the panel then opens its own connection (BatchMode: nothing may prompt
    under the panel's screen)."""
    import asyncio

    from swarmtui.engine import channel
    from swarmtui.engine.config import load_config
    from swarmtui.engine.remote import RemoteEngine, RemoteLayout

    config = config or load_config(None)
    check_keymap(dict(getattr(config, "keys", {}) or {}))
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise UserError("the panel needs a terminal; `ssh HOST swarmtui ls` shows a remote keeper without one")
    try:
        ssh = channel.ssh_command_from_env()
    except channel.ChannelError as exc:
        raise UserError(str(exc)) from None

    def opener(where: str):
        return channel.open_ssh(host, where, remote_command=remote_command, ssh_command=ssh)

    async def probe() -> dict:
        ch = await opener(node_dir)
        try:
            return await channel.status(ch, name="panel")
        finally:
            await ch.close()

    try:
        try:
            status = asyncio.run(probe())
        except channel.ChannelError as exc:
            if not (start and "no keeper runs for" in str(exc)):
                raise
            from swarmtui.commands.over_ssh import run_remote

            run_remote("start", host, node_dir, remote_command=remote_command)
            status = asyncio.run(probe())
    except channel.ChannelError as exc:
        hint = ""
        if str(exc).startswith("ssh:") and ("Permission denied" in str(exc) or "verification failed" in str(exc)):
            hint = f" (the panel's ssh asks nothing: use a key or ssh-agent, and `ssh {host}` once to accept its host key)"
        raise UserError(f"{exc}{hint}", exit_code=1) from None
    layout = RemoteLayout.from_status(host, status)
    where = str(layout.root)
    user, _, hostname = host.rpartition("@")
    from swarmtui.tui.app import run_panel

    app = _attached_panel(
        lambda emit: RemoteEngine(where, emit, read_only=read_only, layout=layout, opener=lambda: opener(where),
                                  again=f"`swarmtui start {channel.join_target(host, where)}` starts a keeper again"),
        layout, config,
        host=hostname,
        user=user,          # "" for an ssh alias: the tunnel command then says what the user types
    )
    code = run_panel(app)
    if code == 0:
        sys.stdout.write(sanitize(f"detached: the node on {channel.host_label(host)} keeps running (keeper pid {status.get('pid')}); "
                                  f"`swarmtui attach {channel.join_target(host, where)}` to come back") + "\n")
    return 0 if code in (0, 129) else code


def _attached_panel(engine_factory, layout, config: Any, **extra: Any):
    """The panel as a viewer of a keeper's node (here or over ssh): the user's keys and limits."""
    from swarmtui.tui.app import SwarmApp

    return SwarmApp(
        engine_factory,
        layout=layout,
        keymap=dict(config.keys),
        stall_limit_s=config.restart.stall_limit,
        silence_limit_s=config.restart.silence_limit,
        stop_timeout_s=config.restart.stop_timeout,
        keep_login=config.login.keep_login,
        attached=True,
        **extra,
    )


def check_keymap(keys: dict[str, str]) -> None:
    """Unknown binding ids in [keys] are a typo the user wants to hear about, in one line."""
    from swarmtui.tui.app import SwarmApp
    from swarmtui.tui.panes.logview import LogView

    known = sorted({b.id for b in SwarmApp.BINDINGS + LogView.BINDINGS if getattr(b, "id", None)})  # type: ignore[union-attr]
    for binding_id, key in keys.items():
        if binding_id not in known:
            raise UserError(f"config.toml: [keys] {sanitize(str(binding_id))}: unknown action (known: {', '.join(known)})")
        # A key is shown in the footer and the help: an escape or control character would reach
        # the terminal from there, and no key is typed as one.
        if not isinstance(key, str) or not key.strip() or not key.isprintable():
            raise UserError(f"config.toml: [keys] {binding_id}: not a key: {key!r}")
        # Textual takes any string as a key and binds it silently: a name no key press ever
        # produces would leave the action with no key at all.
        for one in key.split(","):
            if not is_key_name(one.strip()):
                raise UserError(f"config.toml: [keys] {binding_id} = {key!r}: {one.strip()!r} is not a key name "
                                "(examples: r, R, ctrl+r, f5, question_mark, slash, pageup)")


_MODIFIERS = frozenset(("ctrl", "shift", "alt", "meta", "super", "hyper"))


def is_key_name(key: str) -> bool:
    """Whether a key press can produce `key` as Textual names keys: a single character, or
    [modifier+...]name, where name is one character, one of Textual's named keys (f1, pageup,
    escape, ...), or the name Textual gives a punctuation character (question_mark, slash)."""
    import unicodedata

    from textual.keys import KEY_NAME_REPLACEMENTS, Keys, key_to_character

    if len(key) == 1:
        return key.isprintable()
    *modifiers, name = key.split("+")
    if not name or any(m not in _MODIFIERS for m in modifiers):
        return False
    if len(name) == 1 or name in KEY_NAME_REPLACEMENTS.values():
        return True
    if name in {k.value for k in Keys if "<" not in k.value}:
        return True
    # A character's name counts only if it is the one Textual's events carry: "question_mark"
    # for "?", but not "solidus" (events say "slash") nor "latin_small_letter_a" (events say "a").
    char = key_to_character(name)
    if char is None or len(char) != 1 or char.isalnum():
        return False
    try:
        event_name = unicodedata.name(char).lower().replace("-", "_").replace(" ", "_")
    except ValueError:
        return False
    return KEY_NAME_REPLACEMENTS.get(event_name, event_name) == name


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
    from swarmtui.engine.keeper import KeeperLock
    from swarmtui.engine.proctree import make_run_id

    # One keeper per checkout: taken before the screen, so a second panel (or a panel beside
    # `supervise`) is one line naming the keeper, and has touched nothing (KeeperBusy, exit 2).
    lock = KeeperLock(layout.root, "panel", make_run_id(layout.root))
    lock.acquire()
    from swarmtui.tui.app import SwarmApp, run_panel

    app = SwarmApp(
        supervisor_factory(node_dir, config, keeper_lock=lock),
        layout=layout,
        keymap=dict(config.keys),
        stall_limit_s=config.restart.stall_limit,
        silence_limit_s=config.restart.silence_limit,
        stop_timeout_s=config.restart.stop_timeout,
        keep_login=config.login.keep_login,
    )
    return run_panel(app)
