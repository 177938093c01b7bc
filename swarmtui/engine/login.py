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

import dataclasses
import getpass
import os
import socket
from pathlib import Path
from typing import Mapping

from swarmtui import paths
from swarmtui.engine.history import backup_file
from swarmtui.node.layout import DEFAULT_LOGIN_PORT, Layout
from swarmtui.node.signatures import Catalogue
from swarmtui.safefile import ensure_private_dir, read_regular, write_atomic

KEEP_DIR = "login"
# The login server writes a few KB; a bigger "login file" is not one, and is not copied.
MAX_LOGIN_BYTES = 1 << 20


def _ssh_server(env: Mapping[str, str]) -> tuple[str, int] | None:
    """The address and port the person's ssh reached (SSH_CONNECTION: client ip, client port,
    server ip, server port), or None when swarmtui was not started over SSH."""
    parts = str(env.get("SSH_CONNECTION", "")).split()
    if len(parts) != 4 or not parts[3].isdigit() or not all(c.isalnum() or c in ".:%" for c in parts[2]):
        return None
    return parts[2], int(parts[3])


def _user(env: Mapping[str, str]) -> str:
    for name in ("USER", "LOGNAME"):
        value = str(env.get(name, ""))
        if value and value.replace("-", "").replace("_", "").replace(".", "").isalnum():
            return value
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry (containers)
        return "USER"


def _host_name() -> str:
    try:
        return socket.gethostname() or "HOST"
    except OSError:
        return "HOST"


def login_hint(port: int, env: Mapping[str, str] | None = None) -> tuple[str, str]:
    """(url, ssh hint) for a person who must log in in a browser, maybe on another machine.
    The tunnel goes to the address and port the person's own ssh reached (a host name the
    operator's laptop may not resolve is the fallback), for the node's actual login port."""
    env = os.environ if env is None else env
    server = _ssh_server(env)
    if server is not None:
        host, ssh_port = server
        via = (f"-p {ssh_port} " if ssh_port != 22 else "") + f"{_user(env)}@{host}"
    else:
        via = f"{_user(env)}@{_host_name()}"
    return f"http://localhost:{port}", f"ssh -L {port}:localhost:{port} {via}"


def login_hint_note(env: Mapping[str, str] | None = None) -> str:
    """What to know about the ssh hint's host: nothing when it is the address the person's ssh
    reached; else that it is this machine's own name."""
    env = os.environ if env is None else env
    if _ssh_server(env) is not None:
        return ""
    return (f"{_host_name()} is this machine's name: if your computer cannot resolve it, use the address "
            "you ssh to")


def localize_hint(hint: str, port: int, ssh_hint: str) -> str:
    """A catalogue hint written for the default port and a placeholder host, made true for this
    node: its login port and the tunnel command that works from the operator's machine."""
    default = DEFAULT_LOGIN_PORT
    text = hint.replace(f"ssh -L {default}:localhost:{default} HOST", ssh_hint)
    if port != default:
        text = text.replace(f"localhost:{default}", f"localhost:{port}").replace(f"({default})", f"({port})")
    return text


def localized_catalogue(catalogue: Catalogue, port: int, ssh_hint: str) -> Catalogue:
    return Catalogue(dataclasses.replace(s, hint=localize_hint(s.hint, port, ssh_hint)) for s in catalogue.signatures)


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

    def reject(self) -> list[Path]:
        """The login server did not accept the restored login: drop the copies (backed up), and
        do not copy the same files again; a new browser login changes them and is kept."""
        backups = self.forget()
        self._seen = self._signature()
        return backups


NOTICE_MARKER = "keep-login-notice"


def keep_login_notice(layout: Layout, config_file: Path | None = None) -> str | None:
    """The words said once per checkout when keep_login is on (the default): what is kept,
    where, that it is a private key, and how to turn it off. None once it has been said."""
    state = paths.node_state_dir(layout.root)
    marker = state / NOTICE_MARKER
    if marker.exists():
        return None
    try:
        ensure_private_dir(state, within=paths.state_dir())
        write_atomic(marker, b"the keep_login notice was shown\n", 0o600)
    except OSError:
        pass                    # said again next time: better twice than never
    where = config_file or paths.default_config_file()
    return (f"keep_login is on: run_rl_swarm.sh deletes {layout.user_data_path.name} and {layout.api_key_path.name} "
            f"at every exit, so swarmtui keeps a copy of both (mode 0600, in the 0700 folder {state / KEEP_DIR}) "
            "and puts them back before the next start: a restart needs no browser login. "
            f"{layout.api_key_path.name} holds a private key (the API key the node signs with): the copy is as "
            f"secret as the original. To turn it off: [login] keep_login = false in {where}; logging out (key l) "
            "drops the copies. (said once)")


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
