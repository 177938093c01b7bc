"""The browser login's two files (modal-login/temp-data/userData.json and userApiKey.json).

run_rl_swarm.sh deletes both on every exit (facts §1.6), so after a restart the node waits for
a browser login again. With `[login] keep_login = true` swarmtui keeps a copy of each (mode
0600, in its own state dir, never in the checkout) once they exist, and puts them back before
the next start; the login server re-reads them, so the node goes on without a browser (facts
§2.5). userApiKey.json holds a private key: the copy is as secret as the original.

Logout backs both files up (timestamped, 0600) before deleting them, and drops the kept copies
too, so a logout is not undone by the next restart.
"""

from __future__ import annotations

import getpass
import os
import socket
from pathlib import Path

from swarmtui import paths
from swarmtui.engine.history import backup_file
from swarmtui.node.layout import Layout
from swarmtui.safefile import ensure_private_dir, read_regular, write_atomic

KEEP_DIR = "login"
# The login server writes a few KB; a bigger "login file" is not one, and is not copied.
MAX_LOGIN_BYTES = 1 << 20


def login_hint(port: int) -> tuple[str, str]:
    """(url, ssh hint) for a person who must log in in a browser, maybe on another machine."""
    try:
        user = getpass.getuser()
    except Exception:  # no passwd entry (containers)
        user = "USER"
    try:
        host = socket.gethostname() or "HOST"
    except OSError:
        host = "HOST"
    return f"http://localhost:{port}", f"ssh -L {port}:localhost:{port} {user}@{host}"


def _files(layout: Layout) -> tuple[Path, Path]:
    return layout.user_data_path, layout.api_key_path


class LoginKeeper:
    """keep_login: a copy of the two login files, refreshed when they change, restored when the
    script has deleted them."""

    def __init__(self, layout: Layout, directory: Path | None = None):
        self.layout = layout
        self.dir = Path(directory) if directory is not None else paths.node_state_dir(layout.root) / KEEP_DIR
        self._seen: tuple | None = None

    def kept(self) -> list[Path]:
        # A symlink in swarmtui's own folder is no copy of ours, whatever it points at.
        return [c for c in (self.dir / p.name for p in _files(self.layout)) if c.is_file() and not c.is_symlink()]

    def _signature(self) -> tuple | None:
        sig = []
        for p in _files(self.layout):
            try:
                st = p.stat()
            except OSError:
                return None
            sig.append((st.st_ino, st.st_size, st.st_mtime_ns))
        return tuple(sig)

    def capture(self) -> bool:
        """Copy both files once both exist and whenever they change. True when copied."""
        sig = self._signature()
        if sig is None or sig == self._seen:
            return False
        try:
            # The node's own files: followed if they are links, refused if FIFOs or devices.
            blobs = [read_regular(p, MAX_LOGIN_BYTES) for p in _files(self.layout)]
        except OSError:
            return False
        if not all(blobs):
            return False          # the login server is writing them right now: next time
        ensure_private_dir(self.dir, within=paths.state_dir())
        for p, data in zip(_files(self.layout), blobs):
            dest = self.dir / p.name
            try:
                if read_regular(dest, MAX_LOGIN_BYTES, follow_symlinks=False) == data:
                    continue
            except OSError:
                pass              # missing, or not a plain file of ours: replaced below
            write_atomic(dest, data, 0o600)
        self._seen = sig
        return True

    def restore(self) -> list[Path]:
        """Before a start: put the kept copies back where the script deleted them. A file that
        is there already is never overwritten (a newer login wins)."""
        originals = _files(self.layout)
        # lexists: a symlink there, even a dangling one, is "there" too and is left alone.
        if any(os.path.lexists(p) for p in originals):
            return []
        copies = self.kept()
        if len(copies) != len(originals):
            return []
        try:
            blobs = [read_regular(c, MAX_LOGIN_BYTES, follow_symlinks=False) for c in copies]
        except OSError:
            return []             # a copy we cannot trust: the node asks for a browser login instead
        self.layout.temp_data_dir.mkdir(parents=True, exist_ok=True)
        restored = []
        for data, dest in zip(blobs, originals):
            # temp-data may be writable by others: a random temp name and a rename, never an
            # open() of a name someone could have planted a link at.
            write_atomic(dest, data, 0o600)
            restored.append(dest)
        self._seen = self._signature()
        return restored

    def forget(self) -> list[Path]:
        """Drop the kept copies (after backing them up): used by logout."""
        backups = []
        for copy in self.kept():
            backups.append(backup_file(copy, self.layout.root))
            copy.unlink()
        self._seen = None
        return backups


def logout(layout: Layout, keeper: LoginKeeper | None = None) -> list[Path]:
    """Back up both login files (0600, verified), then delete them. Returns the backups.
    Raises OSError if a backup cannot be made: then nothing is deleted."""
    present = [p for p in _files(layout) if p.is_file()]
    backups = []
    for p in present:
        data = read_regular(p, MAX_LOGIN_BYTES)
        dest = backup_file(p, layout.root)
        if read_regular(dest, MAX_LOGIN_BYTES, follow_symlinks=False) != data:  # pragma: no cover - backup_file verifies too
            raise OSError(f"the backup of {p} does not match it; nothing was deleted")
        backups.append(dest)
    for p in present:
        p.unlink()
    if keeper is not None:
        backups += keeper.forget()
    return backups
