"""The node's identity as the engine watches and changes it.

IdentityWatcher re-reads node.identity's report only when one of the files it is made of changed
(a stat signature), so it can run on every snapshot tick for free. reset_identity moves
swarm.pem away the only safe way: a verified 0600 backup first, the original removed after.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from swarmtui import paths
from swarmtui.engine.history import BACKUPS_DIR, MAX_BACKUP_BYTES, backup_file
from swarmtui.node.identity import identity_report
from swarmtui.node.layout import Layout
from swarmtui.safefile import read_regular


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
