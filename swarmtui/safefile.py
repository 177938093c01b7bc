"""Reading and writing files without being fooled by what sits at their path.

The checkout's folders (modal-login/temp-data above all) may be writable by other people or
programs than the one swarmtui runs as, and swarmtui's own state dir can be tampered with if its
mode was ever loosened. A planted symlink at a name swarmtui writes would otherwise make it
write a private key somewhere else, or overwrite a file its user can write; a FIFO or a device
at a name it reads would hang it (open() of a FIFO blocks) or feed it without end (/dev/zero).

The rules, for every file swarmtui writes inside a checkout or its state dir:
- a new file is created under a random name in the target's own folder with
  O_CREAT|O_EXCL|O_NOFOLLOW (nothing that is already there, link or not, is ever opened for
  writing), written, fsync'ed, given its mode, then renamed over the target: rename replaces a
  symlink at the target itself and never writes through it;
- swarmtui's own folders are real directories, mode 0700, never symlinks (ensure_private_dir).

And for every file it reads: the open never blocks (O_NONBLOCK), anything that is not a regular
file is refused after an fstat of what was actually opened, and at most max_bytes are read.
Reads of the node's own files (swarm.pem, the login files, the config) follow symlinks: people
keep their key on another disk and link it into the checkout, and reading through a link can
only show the person their own data; the fstat check still applies to what the link points at.
Writes never follow one.
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
from pathlib import Path

from swarmtui.errors import UserError

_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)


class UnsafeFileError(UserError, OSError):
    """A path swarmtui will not read or write as asked: a symlink where a file of its own
    belongs, a FIFO or device where a key should be, a file far too big. The message is one line
    that names the path. An OSError too, so every caller that already copes with a failing disk
    (nothing deleted when a backup fails, a notice instead of a crash) copes with this the same way.
    `st` is the stat of what was found, when there was something to stat."""

    def __init__(self, message: str, st: os.stat_result | None = None):
        super().__init__(message)
        self.st = st


def kind_of(mode: int) -> str:
    """What a file is, in words, for messages."""
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    return "a regular file" if stat.S_ISREG(mode) else "not a regular file"


# ---------------------------------------------------------------- reading


def _open_regular(path: Path, follow_symlinks: bool) -> tuple[int, os.stat_result]:
    flags = os.O_RDONLY | _NONBLOCK | _CLOEXEC | (0 if follow_symlinks else _NOFOLLOW)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP and not follow_symlinks:
            raise UnsafeFileError(f"{path} is a symbolic link; swarmtui reads its own files only "
                                  f"from real files: remove the link (rm {path})") from None
        if exc.errno == errno.ENXIO:        # a socket (or a device without its driver)
            raise UnsafeFileError(f"{path} is not a regular file") from None
        raise
    try:
        st = os.fstat(fd)
    except OSError:
        os.close(fd)
        raise
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise UnsafeFileError(f"{path} is {kind_of(st.st_mode)}, not a regular file", st)
    return fd, st


def read_regular_stat(path: Path | str, max_bytes: int, *,
                      follow_symlinks: bool = True) -> tuple[bytes, os.stat_result]:
    """The bytes of a regular file and the stat of what was read. Raises FileNotFoundError /
    PermissionError as open() does, UnsafeFileError for a FIFO, device, directory, socket, a
    symlink when follow_symlinks is False, or a file bigger than max_bytes."""
    path = Path(path)
    fd, st = _open_regular(path, follow_symlinks)
    try:
        chunks = []
        left = max_bytes + 1            # one byte more than allowed tells "too big" from "exactly full"
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > max_bytes:
        raise UnsafeFileError(f"{path} is bigger than {max_bytes} bytes, far too big for what it should be", st)
    return data, st


def read_regular(path: Path | str, max_bytes: int, *, follow_symlinks: bool = True) -> bytes:
    """read_regular_stat without the stat."""
    return read_regular_stat(path, max_bytes, follow_symlinks=follow_symlinks)[0]


def read_tail(path: Path | str, max_bytes: int, *, follow_symlinks: bool = False) -> tuple[bytes, bool]:
    """The last max_bytes of a regular file (for append-only logs that may grow without end) and
    whether the start was cut off. Same refusals as read_regular, except for the size."""
    fd, st = _open_regular(Path(path), follow_symlinks)
    try:
        start = max(0, st.st_size - max_bytes)
        chunks = []
        pos = start
        while pos - start < max_bytes:
            chunk = os.pread(fd, min(max_bytes - (pos - start), 1 << 20), pos)
            if not chunk:
                break
            chunks.append(chunk)
            pos += len(chunk)
    finally:
        os.close(fd)
    return b"".join(chunks), start > 0


# ---------------------------------------------------------------- writing


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _fsync_dir(directory: Path) -> None:
    """Make a rename durable. Best effort: some file systems refuse fsync on a directory."""
    try:
        fd = os.open(directory, os.O_RDONLY | _DIRECTORY | _CLOEXEC)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def create_new(path: Path | str, data: bytes, mode: int = 0o600) -> None:
    """Write `data` to a file that must not exist yet, link or not (FileExistsError otherwise),
    with `mode` from its creation on, and fsync it. For names that must never be reused
    (backups); a half-written file is removed again."""
    path = Path(path)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC, mode)
    try:
        os.fchmod(fd, mode)             # the umask may have narrowed or the caller widened it
        _write_all(fd, data)
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        _unlink_quietly(path)
        raise
    os.close(fd)


def write_atomic(path: Path | str, data: bytes, mode: int = 0o600) -> None:
    """Replace `path` with a file holding `data`, never readable beyond `mode`, never half
    written, never written through a symlink (a link at `path` is itself replaced; whatever it
    pointed at stays as it was). The temporary file has a random name in the same folder, so
    nobody can plant a link at it in advance, and the rename stays on one file system."""
    path = Path(path)
    for _ in range(100):
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
        try:
            create_new(tmp, data, mode)
        except FileExistsError:
            continue
        break
    else:  # pragma: no cover - 100 collisions of 64 random bits
        raise UnsafeFileError(f"cannot create a temporary file next to {path}")
    try:
        os.replace(tmp, path)
    except BaseException:
        _unlink_quietly(tmp)
        raise
    _fsync_dir(path.parent)


def _unlink_quietly(path: Path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def open_append(path: Path | str, mode: int = 0o600) -> int:
    """An fd for appending to swarmtui's own log-like file (created with `mode` if missing; O_RDWR
    so the caller can pread its end). Refuses a symlink and anything that is not a regular file
    (O_NONBLOCK: a FIFO without a reader fails at once instead of blocking), and narrows the mode
    of an existing file to `mode` (it is swarmtui's own file, never the user's)."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | _NOFOLLOW | _NONBLOCK | _CLOEXEC, mode)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnsafeFileError(f"{path} is a symbolic link; swarmtui writes only to real files: "
                                  f"remove the link (rm {path})") from None
        if exc.errno in (errno.ENXIO, errno.EISDIR):
            raise UnsafeFileError(f"{path} is not a regular file") from None
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UnsafeFileError(f"{path} is {kind_of(st.st_mode)}, not a regular file", st)
        if stat.S_IMODE(st.st_mode) & ~mode:
            os.fchmod(fd, mode)
    except BaseException:
        os.close(fd)
        raise
    return fd


def create_exclusive(path: Path | str, mode: int = 0o600) -> int:
    """An fd for appending to a file that must be new (FileExistsError if anything, a symlink
    included, is at `path`): swarmtui's own transcripts."""
    return os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC, mode)


# ---------------------------------------------------------------- folders


def ensure_private_dir(path: Path | str, *, within: Path | str | None = None) -> Path:
    """Make `path` (and any missing parent) a real directory of ours with mode 0700 and return it.

    Every component below `within` (all of them when `within` is None or not above `path`: only
    `path` itself is checked then) must be a real directory owned by us: a symlink is refused,
    not removed. Refusing is the safe choice either way: if someone planted it, removing it
    would hide the evidence and race with them; if the person put it there on purpose (their
    state on another disk), swarmtui must not quietly undo that. `within` itself may be a link
    (SWARMTUI_STATE_DIR or ~/.local/state pointing elsewhere is the person's choice).
    An existing folder of ours that is wider than 0700 is narrowed: it is swarmtui's own."""
    path = Path(path)
    parts = [path]
    if within is not None:
        root = Path(within)
        try:
            rel = path.relative_to(root)
        except ValueError:
            rel = None
        if rel is not None:
            parts = [root.joinpath(*rel.parts[:i + 1]) for i in range(len(rel.parts))]
            if parts:
                root.mkdir(parents=True, exist_ok=True, mode=0o700)
    if parts and not parts[0].parent.exists():
        parts[0].parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    for part in parts:
        _one_private_dir(part)
    return path


def _one_private_dir(path: Path) -> None:
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    try:
        fd = os.open(path, os.O_RDONLY | _DIRECTORY | _NOFOLLOW | _CLOEXEC)
    except OSError as exc:
        if exc.errno == errno.ELOOP or os.path.islink(path):
            raise UnsafeFileError(f"{path} is a symbolic link where swarmtui keeps its own files; "
                                  f"it will not follow it: remove the link (rm {path})") from None
        if exc.errno == errno.ENOTDIR:
            raise UnsafeFileError(f"{path} is not a directory: move it away so swarmtui can "
                                  "create its folder there") from None
        raise
    try:
        st = os.fstat(fd)
        if hasattr(os, "getuid") and st.st_uid != os.getuid():
            raise UnsafeFileError(f"{path} belongs to another user (uid {st.st_uid}); swarmtui keeps "
                                  "its files only in folders of its own", st)
        if stat.S_IMODE(st.st_mode) != 0o700:
            os.fchmod(fd, 0o700)
    finally:
        os.close(fd)
