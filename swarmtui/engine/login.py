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
from swarmtui.engine.history import backup_file, write_private
from swarmtui.node.layout import Layout

KEEP_DIR = "login"


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


def _write_private(path: Path, data: bytes) -> None:
    """Write `data` to `path` atomically, never readable by others, not even for a moment."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    write_private(tmp, data)
    os.replace(tmp, path)


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
        return [self.dir / p.name for p in _files(self.layout) if (self.dir / p.name).is_file()]

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
            blobs = [p.read_bytes() for p in _files(self.layout)]
        except OSError:
            return False
        if not all(blobs):
            return False          # the login server is writing them right now: next time
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        for p, data in zip(_files(self.layout), blobs):
            dest = self.dir / p.name
            try:
                if dest.read_bytes() == data:
                    continue
            except OSError:
                pass
            _write_private(dest, data)
        self._seen = sig
        return True

    def restore(self) -> list[Path]:
        """Before a start: put the kept copies back where the script deleted them. A file that
        is there already is never overwritten (a newer login wins)."""
        originals = _files(self.layout)
        if any(p.exists() for p in originals):
            return []
        copies = [self.dir / p.name for p in originals]
        if not all(c.is_file() for c in copies):
            return []
        self.layout.temp_data_dir.mkdir(parents=True, exist_ok=True)
        restored = []
        for src, dest in zip(copies, originals):
            _write_private(dest, src.read_bytes())
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
        data = p.read_bytes()
        dest = backup_file(p, layout.root)
        if dest.read_bytes() != data:  # pragma: no cover - backup_file verifies too
            raise OSError(f"the backup of {p} does not match it; nothing was deleted")
        backups.append(dest)
    for p in present:
        p.unlink()
    if keeper is not None:
        backups += keeper.forget()
    return backups
