"""The node's identity as the engine watches and changes it.

IdentityWatcher re-reads node.identity's report only when one of the files it is made of changed
(a stat signature), so it can run on every snapshot tick for free. reset_identity moves
swarm.pem away the only safe way: a verified 0600 backup first, the original removed after.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import fcntl
import json
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from swarmtui import paths
from swarmtui.engine.history import BACKUPS_DIR, MAX_BACKUP_BYTES, backup_file
from swarmtui.node.identity import identity_report
from swarmtui.node.layout import Layout
from swarmtui.safefile import read_regular, write_atomic


def _stat_sig(path: Path) -> tuple | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns, st.st_mode)


class IdentityWatcher:
    def __init__(self, layout: Layout):
        self.layout = layout
        self._backups = paths.node_state_dir(layout.root) / BACKUPS_DIR
        self._sig: tuple | None = None
        self.report: dict[str, Any] | None = None

    def _signature(self) -> tuple:
        lay = self.layout
        return (_stat_sig(lay.identity_path), _stat_sig(lay.user_data_path), _stat_sig(lay.api_key_path),
                _stat_sig(self._backups))

    def check(self, force: bool = False) -> dict[str, Any] | None:
        """The new report when something changed since the last call (or force), else None."""
        sig = self._signature()
        if not force and sig == self._sig:
            return None
        self._sig = sig
        report = identity_report(self.layout).to_dict()
        # What the panel's restore dialog offers (the panel reads no file itself).
        report["restorable"] = [b.to_dict() for b in list_restorable(self.layout)]
        if not force and report == self.report:
            return None
        self.report = report
        return report


def reset_identity(layout: Layout) -> Path:
    """Back up swarm.pem (0600, verified against the original), then remove the original, so
    the next start creates a new identity. Returns the backup. Raises FileNotFoundError when
    there is no swarm.pem, OSError when the backup cannot be verified (nothing is removed).
    A swarm.pem that is a symlink (the key kept on another disk) is read through; removing it
    removes the link only, the key it points at stays where it is."""
    pem = layout.identity_path
    data = read_regular(pem, MAX_BACKUP_BYTES)
    dest = backup_file(pem, layout.root)
    if (read_regular(dest, MAX_BACKUP_BYTES, follow_symlinks=False) != data
            or read_regular(pem, MAX_BACKUP_BYTES) != data):
        raise OSError(f"the backup {dest} does not match {pem}; {pem} was left in place")
    pem.unlink()
    return dest


# ---------------------------------------------------------------- restore

# backup_file names its copies "<UTC stamp>-<name>" (or "<stamp>-<n>-<name>" on a collision).
_STAMPED = re.compile(r"^(\d{8}T\d{6}(?:\.\d{1,6})?Z)-(?:\d{1,3}-)?(.+)$")
# A logout backs up userData.json and userApiKey.json one after the other: the two copies of
# one login are seconds apart at most, and restoring one without the other is a half login.
LOGIN_PAIR_S = 10.0
_MAX_JSON_BYTES = 1 << 20


class RestoreRefused(Exception):
    """Nothing was changed: the words say why and what to do instead."""


@dataclass
class Backup:
    path: Path
    target: str                     # the file it restores: swarm.pem, userData.json, userApiKey.json
    time: _dt.datetime | None
    peer_id: str | None = None
    detail: str = ""                # peer id and animal name, or whose login it is
    partner: Path | None = None     # the other login file's copy made with it

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "name": self.path.name, "target": self.target,
                "time": self.time.isoformat().replace("+00:00", "Z") if self.time else None,
                "peer_id": self.peer_id, "detail": self.detail,
                "partner": str(self.partner) if self.partner else None}


def backups_dir(layout: Layout) -> Path:
    return paths.node_state_dir(layout.root) / BACKUPS_DIR


def _targets(layout: Layout) -> dict[str, Path]:
    return {layout.identity_path.name: layout.identity_path, layout.user_data_path.name: layout.user_data_path,
            layout.api_key_path.name: layout.api_key_path}


def _stamp_time(stamp: str) -> _dt.datetime | None:
    for fmt in ("%Y%m%dT%H%M%S.%fZ", "%Y%m%dT%H%M%SZ"):
        try:
            return _dt.datetime.strptime(stamp, fmt).replace(tzinfo=_dt.timezone.utc)
        except ValueError:
            continue
    return None


def _login_detail(path: Path, target: str) -> str:
    try:
        data = json.loads(read_regular(path, _MAX_JSON_BYTES, follow_symlinks=False))
    except (OSError, ValueError):
        return "unreadable"
    if not isinstance(data, dict) or not data:
        return "empty"
    entry = next(iter(data.values()))
    if target.startswith("userData"):
        entry = entry if isinstance(entry, dict) else {}
        who = [str(entry.get(k)) for k in ("email", "address") if isinstance(entry.get(k), str) and entry.get(k)]
        return "login of " + (", ".join(who) if who else f"org {next(iter(data))}")
    keys = [k for k in entry if isinstance(k, dict)] if isinstance(entry, list) else []
    if not keys:
        return "API key file"
    state = "activated" if keys[-1].get("activated") else "not activated"
    return f"{len(keys)} API key{'s' if len(keys) != 1 else ''}, the newest {state}"


def list_restorable(layout: Layout) -> list[Backup]:
    """swarmtui's backups of this checkout's swarm.pem and login files, newest first. Only real
    files in swarmtui's own 0700 backups folder: a link planted there is not offered."""
    from swarmtui.node import peerid
    from swarmtui.node.identity import load_name_words, peer_id_of_file

    targets = _targets(layout)
    found: list[Backup] = []
    try:
        entries = sorted(backups_dir(layout).iterdir())
    except OSError:
        return []
    words = None
    for entry in entries:
        m = _STAMPED.match(entry.name)
        if m is None or m.group(2) not in targets:
            continue
        try:
            if not stat.S_ISREG(os.lstat(entry).st_mode):
                continue
        except OSError:
            continue
        b = Backup(entry, m.group(2), _stamp_time(m.group(1)))
        if b.target == layout.identity_path.name:
            b.peer_id = peer_id_of_file(entry)
            if b.peer_id is None:
                b.detail = "not a readable libp2p key"
            else:
                words = words if words is not None else (load_name_words(layout.root) or ())
                name = peerid.animal_name(b.peer_id, *words) if words else ""
                b.detail = f"peer id {b.peer_id}" + (f" ({name})" if name else "")
        else:
            b.detail = _login_detail(entry, b.target)
        found.append(b)
    logins = [b for b in found if b.target != layout.identity_path.name]
    for b in logins:
        others = [o for o in logins if o.target != b.target and o.time and b.time
                  and abs((o.time - b.time).total_seconds()) <= LOGIN_PAIR_S]
        if others:
            b.partner = min(others, key=lambda o: abs((o.time - b.time).total_seconds())).path
    far_past = _dt.datetime.min.replace(tzinfo=_dt.timezone.utc)
    found.sort(key=lambda b: (b.time or far_past, b.path.name), reverse=True)
    return found


def find_backup(layout: Layout, which: str) -> Backup:
    """The backup `which` names: its number in list_restorable's order (1 = newest), its file
    name, or its path (which must be in swarmtui's backups folder of this checkout)."""
    backups = list_restorable(layout)
    text = str(which).strip()
    if text.isdigit():
        n = int(text)
        if 1 <= n <= len(backups):
            return backups[n - 1]
        raise RestoreRefused(f"there is no backup number {n}: this checkout has {len(backups)} "
                             "(run without BACKUP to list them)")
    given = Path(text).expanduser()
    for b in backups:
        if text == b.path.name or (given.is_absolute() and os.path.abspath(given) == str(b.path)):
            return b
    raise RestoreRefused(f"{text!r} is not one of swarmtui's backups of this checkout (in {backups_dir(layout)}): "
                         "run without BACKUP to list them")


def _holders_of(layout: Layout) -> list[str]:
    """Processes that run with this checkout's identity: a p2pd started with `-id=<swarm.pem>`.
    Only looked at, never signalled: a path in a command line proves nothing about whose it is."""
    try:
        import psutil
    except ImportError:     # pragma: no cover - a dependency
        return []
    pem = str(layout.identity_path)
    held = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        cmd = proc.info.get("cmdline") or []
        if any(arg in (f"-id={pem}", pem) for arg in cmd) and any("p2pd" in a for a in cmd[:1]):
            held.append(f"pid {proc.info['pid']} ({' '.join(cmd)[:80]})")
    return held


def restore_backup(layout: Layout, backup: Backup) -> tuple[list[Path], list[Path]]:
    """Put `backup` (and, for a login file, the other login file's copy made with it) back in
    place. Each current file is backed up first (0600, verified); the restored file is written
    to a new temporary file and renamed over the name, so a symlink at the name is replaced,
    never written through (the file it pointed at stays as it was, and is in the backup).
    Returns (restored files, backups of what was there). Raises RestoreRefused, nothing changed,
    when a copy does not hold what its name says, or something at a target cannot be backed up.
    The caller makes sure the node is not running (the running node keeps the key and login it
    loaded, and its login server rewrites the login files)."""
    targets = _targets(layout)
    chosen = [backup] + ([b for b in list_restorable(layout) if b.path == backup.partner] if backup.partner else [])
    blobs: list[tuple[Path, bytes, int]] = []
    for b in chosen:
        try:
            data = read_regular(b.path, MAX_BACKUP_BYTES, follow_symlinks=False)
        except OSError as exc:
            raise RestoreRefused(f"cannot read the backup {b.path}: {exc}") from None
        dest = targets[b.target]
        if dest == layout.identity_path:
            from swarmtui.node import peerid

            try:
                peerid.peer_id_from_key_bytes(data)
            except peerid.KeyFormatError as exc:
                raise RestoreRefused(f"{b.path.name} is not a libp2p key ({exc}): not restored") from None
            mode = 0o400               # as hivemind leaves it
        else:
            try:
                if not isinstance(json.loads(data), dict):
                    raise ValueError("not a JSON object")
            except ValueError as exc:
                raise RestoreRefused(f"{b.path.name} is not a login file ({exc}): not restored") from None
            mode = 0o600
        blobs.append((dest, data, mode))
    safety: list[Path] = []
    for dest, _data, _mode in blobs:
        if not os.path.lexists(dest):
            continue
        try:
            safety.append(backup_file(dest, layout.root))
        except FileNotFoundError:
            if os.path.islink(dest):    # a dangling link: nothing to keep, the rename replaces it
                continue
            raise
        except OSError as exc:
            raise RestoreRefused(f"{dest} could not be backed up ({exc}): nothing was restored; "
                                 "move it away yourself first") from None
    restored = []
    for dest, data, mode in blobs:
        dest.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(dest, data, mode)
        restored.append(dest)
    return restored, safety


def restore_refusal(layout: Layout, node_running: bool) -> str | None:
    """Why a restore must wait, or None. The safe behaviour: never while the node runs. A
    running node keeps the key and the login it loaded (a restore would only show later, and the
    pane would show one identity while the swarm sees another), and its login server rewrites
    the login files at its own pace."""
    if node_running:
        return "the node is running: stop it first (s), then restore; the next start uses the restored files"
    held = _holders_of(layout)
    if held:
        return (f"a node runs with this checkout's swarm.pem ({held[0]}): stop it first, then restore")
    return None


@contextlib.contextmanager
def no_keeper(layout: Layout):
    """Hold this checkout's keeper lock for the length of a restore from outside the panel, so
    no keeper starts the node in the middle; RestoreRefused naming it when one keeps the node."""
    from swarmtui.engine.keeper import LOCK_FILE, how_to_reach, read_state

    path = paths.node_state_dir(layout.root) / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDWR | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        yield                       # no keeper ever ran here
        return
    except OSError as exc:
        raise RestoreRefused(f"cannot check whether a swarmtui keeps this node ({path}: {exc})") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise RestoreRefused(f"the node is kept by {how_to_reach(read_state(layout.root))}: stop the node "
                                 "first (in that panel: s; or `swarmtui stop`), then restore") from None
        yield
    finally:
        os.close(fd)
