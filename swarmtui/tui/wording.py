"""What each confirmation says: which file, what happens to it, where the backup goes.

Pure functions of the engine's layout (no Textual), so the exact words are unit-tested and the
modal only lays them out.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from swarmtui import paths


@dataclass(frozen=True)
class Confirmation:
    title: str
    lines: tuple[str, ...]


def backup_dir(layout: Any) -> Path | str:
    # A checkout on another host: its keeper's folder there (engine.remote.RemoteLayout).
    remote = getattr(layout, "backup_dir", None)
    if remote:
        return remote
    return paths.node_state_dir(Path(layout.root)) / "backups"


def _running_note(running: bool, what: str) -> tuple[str, ...]:
    # The engine moves the files at once and leaves the running node alone (it has already read
    # them); the change takes effect when the node next starts.
    if not running:
        return ()
    return (f"The node is running and is not stopped: it keeps its current {what} until it next "
            "restarts (press r to restart now).",)


def logout(layout: Any, running: bool) -> Confirmation:
    port = getattr(layout, "login_port", 3000)
    return Confirmation(
        "Log out: back up and remove the login files?",
        (
            "These two files are copied to a backup, then deleted:",
            f"  {layout.user_data_path}",
            f"  {layout.api_key_path}",
            f"Backups (mode 0600, time-stamped names) go to: {backup_dir(layout)}/",
            "userApiKey.json holds a private key: so does its backup.",
            *_running_note(running, "session"),
            f"On the next start the node waits for a browser login on localhost:{port}.",
            f"Not touched: {Path(layout.identity_path).name}, the logs.",
        ),
    )


def reset_identity(layout: Any, running: bool) -> Confirmation:
    return Confirmation(
        "Reset identity: move swarm.pem to a backup?",
        (
            "This file is moved to a time-stamped backup (mode 0600):",
            f"  {layout.identity_path}",
            f"  -> {backup_dir(layout)}/",
            *_running_note(running, "identity"),
            "On the next start the node makes a new swarm.pem: a new peer id and a new animal "
            "name. Put the backup back to return to the old identity.",
            "Not touched: the login files, the logs.",
        ),
    )


def restore(layout: Any, backup: dict[str, Any], partner: dict[str, Any] | None) -> Confirmation:
    """Asked before a backup goes back in place (the node is stopped: the engine refuses otherwise)."""
    targets = {Path(layout.identity_path).name: layout.identity_path,
               Path(layout.user_data_path).name: layout.user_data_path,
               Path(layout.api_key_path).name: layout.api_key_path}
    lines = ["These backups are put back:"]
    for b in [backup] + ([partner] if partner else []):
        lines += [f"  {b.get('name')}  ({b.get('detail') or '?'})",
                  f"  -> {targets.get(str(b.get('target')), b.get('target'))}"]
    lines += [f"What is there now is backed up first (mode 0600, in {backup_dir(layout)}/); a symlink "
              "there is replaced, the file it points at is left as it is.",
              "The next start of the node uses the restored file" + ("s." if partner else ".")]
    return Confirmation(f"Restore {backup.get('target')} from a backup?", tuple(lines))


def stop(layout: Any, keep_login: bool, stop_timeout_s: float | None = None) -> Confirmation:
    wait = f" (up to {int(stop_timeout_s)}s each)" if stop_timeout_s else ""
    if keep_login:
        login = (f"rl-swarm's own exit cleanup deletes {Path(layout.temp_data_dir).name}/*.json; "
                 f"swarmtui keeps copies in {backup_dir(layout)}/ and puts them back on the next start.")
    else:
        login = (f"rl-swarm's own exit cleanup deletes {layout.user_data_path.name} and "
                 f"{layout.api_key_path.name} (in {layout.temp_data_dir}): the next start needs a "
                 "browser login (set keep_login = true in the config to avoid this).")
    return Confirmation(
        "Stop the node?",
        (
            f"SIGINT to the node's process group, so the script's own cleanup runs; then SIGTERM, "
            f"then SIGKILL for anything left{wait}; then leftover processes of ours are swept.",
            login,
            f"Not touched: {Path(layout.identity_path).name}, the logs. Press s to start again.",
        ),
    )


def restart(layout: Any, keep_login: bool, uptime_s: float | None, rounds_this_run: int | None,
            stop_timeout_s: float | None = None) -> Confirmation:
    """A restart ends the run, and rl-swarm loses the rewards it batched since its last submission
    (once per 3 h of a run's life): say whether that is the case before doing it."""
    from swarmtui.engine.history import SUBMIT_PERIOD_S, reward_loss_possible

    loss, why = reward_loss_possible(uptime_s, rounds_this_run)
    period = f"{SUBMIT_PERIOD_S / 3600:g} h"
    if loss:
        rewards = (f"A submission is pending: {why}. rl-swarm submits batched rewards once per {period} of a "
                   "run's life; a restart throws that batch away.")
    elif loss is False:
        rewards = f"No submission is pending: {why}."
    else:
        rewards = (f"Whether a submission is pending cannot be told ({why}): a restart can throw away up to "
                   f"{period} of batched rewards.")
    return Confirmation(
        "Restart the node now?",
        (
            rewards,
            *stop(layout, keep_login, stop_timeout_s).lines[:2],
            "Then the node starts again at once; the history records the restart as 'manual'.",
        ),
    )


def quit_running(layout: Any, keep_login: bool, can_leave_running: bool) -> Confirmation:
    if can_leave_running:
        first = ("The node runs under its keeper, not in this panel: detach and it keeps running "
                 "(come back with `swarmtui attach` from any terminal), or stop it now.")
    else:
        first = ("The node runs inside this panel (the panel holds the node's terminal), so it "
                 "cannot keep running once the panel quits. Quitting stops it first.")
    return Confirmation(
        "Quit swarmtui?",
        (
            first,
            *stop(layout, keep_login).lines[:2],
            ("`swarmtui stop` stops it later from any terminal." if can_leave_running else
             "To keep a node running without a panel: `swarmtui NODE_DIR` (a background keeper) or "
             "`swarmtui start`."),
        ),
    )
