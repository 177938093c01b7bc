"""Who the node is, offline: swarm.pem -> peer id -> animal name, and the login files' state.

Reads only. Never returns, prints or logs a private key (neither the pem's nor the API keys'
`privateKey` in userApiKey.json). rl-swarm-facts.md §2.
"""

from __future__ import annotations

import ast
import json
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from swarmtui.node import peerid
from swarmtui.node.layout import NAME_UTILS_CANDIDATES, Layout
from swarmtui.safefile import UnsafeFileError, kind_of, read_regular_stat

# hivemind writes ~1.2 KB; anything far bigger is certainly not a key and not worth reading.
_MAX_PEM_BYTES = 64 * 1024
_MAX_JSON_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Problem:
    code: str
    message: str
    fix: str

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message, "fix": self.fix}


@dataclass
class LoginState:
    user_data: bool = False
    api_key: bool = False
    org_id: str | None = None
    address: str | None = None
    email: str | None = None
    keys: int | None = None
    activated: bool | None = None
    created_at: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "user_data": self.user_data, "api_key": self.api_key, "org_id": self.org_id,
            "address": self.address, "email": self.email, "keys": self.keys,
            "activated": self.activated, "created_at": self.created_at,
        }


@dataclass
class IdentityReport:
    root: str
    era: str
    pem_path: str
    pem_state: str                      # ok | missing | unreadable | bad-format
    pem_mode: str | None = None         # "0400"
    pem_error: str | None = None        # why it is unreadable / bad-format
    peer_id: str | None = None
    animal_name: str | None = None
    name_words_path: str | None = None  # the name_utils.py the words came from
    login: LoginState = field(default_factory=LoginState)
    backups: list[dict[str, Any]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "root": self.root, "era": self.era, "pem_path": self.pem_path,
            "pem_state": self.pem_state, "pem_mode": self.pem_mode, "pem_error": self.pem_error,
            "peer_id": self.peer_id, "animal_name": self.animal_name,
            "name_words_path": self.name_words_path, "login": self.login.to_dict(),
            "backups": [dict(b) for b in self.backups],
            "problems": [p.to_dict() for p in self.problems],
        }


# ---------------------------------------------------------------- animal-name words


def _literal_list(tree: ast.Module, name: str) -> list[str] | None:
    for node in tree.body:
        targets: list[ast.expr] = []
        value = None
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        if not any(isinstance(t, ast.Name) and t.id == name for t in targets):
            continue
        try:
            words = ast.literal_eval(value)
        except (ValueError, TypeError, SyntaxError, RecursionError):
            return None
        if isinstance(words, (list, tuple)) and words and all(isinstance(w, str) for w in words):
            return list(words)
        return None
    return None


def name_words_from_file(path: Path) -> tuple[list[str], list[str]] | None:
    """ADJECTIVES and ANIMALS from a name_utils.py, parsed (never imported or executed)."""
    try:
        source = path.read_text(encoding="utf-8", errors="replace")
        tree = ast.parse(source, filename=str(path))
    except (OSError, SyntaxError, ValueError, RecursionError):
        return None
    adjectives = _literal_list(tree, "ADJECTIVES")
    animals = _literal_list(tree, "ANIMALS")
    if not adjectives or not animals:
        return None
    return adjectives, animals


def load_name_words(root: Path) -> tuple[list[str], list[str]] | None:
    """The checkout's own word lists, from whichever era's name_utils.py parses first."""
    found = _load_name_words_with_path(Path(root))
    return None if found is None else found[0]


def _load_name_words_with_path(root: Path) -> tuple[tuple[list[str], list[str]], Path] | None:
    for rel in NAME_UTILS_CANDIDATES:
        path = root / rel
        if path.is_file():
            words = name_words_from_file(path)
            if words is not None:
                return words, path
    return None


# ---------------------------------------------------------------- swarm.pem


def _mode_string(mode: int) -> str:
    return format(stat.S_IMODE(mode), "04o")


def _read_pem(path: Path) -> tuple[str, bytes | None, str | None, os.stat_result | None]:
    """(state, bytes, error, stat). A symlink is followed (keys kept on another disk); a FIFO,
    device or directory is a bad-format key, found without blocking or reading it."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return "missing", None, None, None
    except OSError as exc:
        return "unreadable", None, exc.strerror or str(exc), None
    if not stat.S_ISREG(st.st_mode):
        return "bad-format", None, f"it is {kind_of(st.st_mode)}, not a key file", st
    if st.st_size > _MAX_PEM_BYTES:
        return "bad-format", None, f"{st.st_size} bytes: far too big for a libp2p key", st
    try:
        # The stat above may be stale (swapped for a FIFO since): read_regular checks again on
        # what it opened, and never reads more than a key's worth.
        raw, st = read_regular_stat(path, _MAX_PEM_BYTES)
    except FileNotFoundError:
        return "missing", None, None, None
    except UnsafeFileError as exc:
        found = exc.st
        if found is not None and not stat.S_ISREG(found.st_mode):
            return "bad-format", None, f"it is {kind_of(found.st_mode)}, not a key file", found
        return "bad-format", None, "far too big for a libp2p key", found or st
    except PermissionError as exc:
        return "unreadable", None, exc.strerror or "permission denied", st
    except OSError as exc:
        return "unreadable", None, exc.strerror or str(exc), st
    return "ok", raw, None, st


def peer_id_of_file(path: Path) -> str | None:
    """The peer id of a key file, or None when it is not a readable hivemind key."""
    state, raw, _err, _st = _read_pem(path)
    if state != "ok" or raw is None:
        return None
    try:
        return peerid.peer_id_from_key_bytes(raw)
    except peerid.KeyFormatError:
        return None


# ---------------------------------------------------------------- login files


def _read_json(path: Path) -> tuple[Any, str | None]:
    try:
        raw, _st = read_regular_stat(path, _MAX_JSON_BYTES)
        return json.loads(raw.decode("utf-8")), None
    except FileNotFoundError:
        return None, "missing"
    except UnsafeFileError as exc:
        found = exc.st
        if found is not None and not stat.S_ISREG(found.st_mode):
            return None, f"{kind_of(found.st_mode)}, not a login file"
        return None, "too big to be a login file"
    except json.JSONDecodeError as exc:
        return None, f"not valid JSON ({exc.msg} at line {exc.lineno})"
    except (OSError, UnicodeDecodeError, RecursionError) as exc:
        return None, getattr(exc, "strerror", None) or str(exc)


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def read_login(layout: Layout, problems: list[Problem]) -> LoginState:
    login = LoginState()
    ud_path, key_path = layout.user_data_path, layout.api_key_path
    login.user_data = ud_path.is_file()
    login.api_key = key_path.is_file()
    org_from_user = None
    if login.user_data:
        data, err = _read_json(ud_path)
        if err:
            problems.append(Problem("login-unreadable", f"{ud_path.name}: {err}",
                                    "log in again: move the file away and open the login page"))
        elif isinstance(data, dict) and data:
            # Keyed by orgId; upstream keeps only the current org (facts §2.4).
            org_key, entry = next(iter(data.items()))
            entry = entry if isinstance(entry, dict) else {}
            org_from_user = _str_or_none(entry.get("orgId")) or _str_or_none(org_key)
            login.org_id = org_from_user
            login.address = _str_or_none(entry.get("address"))
            login.email = _str_or_none(entry.get("email"))
    if login.api_key:
        data, err = _read_json(key_path)
        if err:
            problems.append(Problem("login-unreadable", f"{key_path.name}: {err}",
                                    "log in again: move the file away and open the login page"))
        elif isinstance(data, dict) and data:
            keys = data.get(org_from_user) if org_from_user in data else next(iter(data.values()))
            if isinstance(keys, list):
                entries = [k for k in keys if isinstance(k, dict)]
                login.keys = len(entries)
                if entries:
                    latest = entries[-1]  # upstream appends; the newest is last
                    login.activated = bool(latest.get("activated", False))
                    login.created_at = _str_or_none(latest.get("createdAt"))
            if login.org_id is None and org_from_user is None:
                login.org_id = _str_or_none(next(iter(data.keys())))
    return login


def readable_login_problems(layout: Layout) -> list[Problem]:
    """The login files with group or other read bits. modal-login writes both with Node's
    default mode (0644 under the usual umask): we say so and how to fix it, and never chmod the
    person's files ourselves (the script deletes and the server rewrites them at every login)."""
    found = []
    for path, what in ((layout.api_key_path, "it holds the private key of your API key"),
                       (layout.user_data_path, "it holds your email address and account")):
        try:
            st = os.stat(path)
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) & 0o044:
            found.append(Problem(
                "secret-readable",
                f"{path} is readable by others (mode {_mode_string(st.st_mode)}): {what}",
                f"chmod 600 {path}   (the login server creates it readable by every user of this machine)"))
    return found


# ---------------------------------------------------------------- backups


def _pem_backups(layout: Layout, backups_dir: Path | None) -> list[Path]:
    found: list[Path] = []
    current = layout.identity_path
    try:
        for entry in sorted(layout.root.iterdir()):
            name = entry.name
            if entry == current or not entry.is_file():
                continue
            if name.startswith("swarm.pem") or name.endswith(".pem"):
                found.append(entry)
    except OSError:
        pass
    if backups_dir is not None and backups_dir.is_dir():
        try:
            for entry in sorted(backups_dir.rglob("*")):
                if entry.is_file() and ("swarm.pem" in entry.name or entry.name.endswith(".pem")):
                    found.append(entry)
        except OSError:
            pass
    return found


def _default_backups_dir(root: Path) -> Path | None:
    try:
        from swarmtui.paths import node_state_dir

        return node_state_dir(root) / "backups"
    except Exception:  # platformdirs missing or an odd home: backups are a nicety here
        return None


# ---------------------------------------------------------------- the report


def identity_report(layout: Layout, known_eoa: str | None = None,
                    backups_dir: Path | None = None) -> IdentityReport:
    """Everything swarmtui can tell about the node's identity without starting it.

    `known_eoa`: the EOA this pem was first seen with (swarmtui may remember it); when given and
    userData.json names another address, that is reported. `backups_dir`: where swarmtui keeps
    its backups of this checkout (default: the node's state dir / backups).
    """
    problems: list[Problem] = []
    pem_path = layout.identity_path
    report = IdentityReport(root=str(layout.root), era=layout.era, pem_path=str(pem_path), pem_state="missing")

    state, raw, err, st = _read_pem(pem_path)
    report.pem_state, report.pem_error = state, err
    if st is not None:
        report.pem_mode = _mode_string(st.st_mode)
    if state == "missing":
        problems.append(Problem(
            "pem-missing", f"no swarm.pem at {pem_path}",
            "a new identity (new peer id and animal name) is created on the next start; "
            "restore your backup of swarm.pem first if you want to keep the old one"))
    elif state == "unreadable":
        problems.append(Problem(
            "pem-unreadable", f"{pem_path} cannot be read: {err}",
            f"hivemind writes it mode 0400 for the user who ran the node: run swarmtui as that user, "
            f"or `sudo chown $USER {pem_path}`"))
    elif raw is not None:
        try:
            report.peer_id = peerid.peer_id_from_key_bytes(raw)
        except peerid.KeyFormatError as exc:
            report.pem_state, report.pem_error = "bad-format", str(exc)
    if report.pem_state == "bad-format":
        problems.append(Problem(
            "pem-bad-format", f"{pem_path} is not hivemind's libp2p key: {report.pem_error}",
            "restore the original swarm.pem from a backup; or move this file away to get a new identity "
            "(a text PEM from elsewhere cannot be used)"))
    if st is not None and stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) & 0o077:
        problems.append(Problem(
            "pem-mode", f"{pem_path} is readable by others (mode {_mode_string(st.st_mode)})",
            f"chmod 600 {pem_path}   (hivemind creates it 0400: it is your node's private key)"))

    found = _load_name_words_with_path(layout.root)
    if found is not None:
        report.name_words_path = str(found[1])
        if report.peer_id:
            adjectives, animals = found[0]
            report.animal_name = peerid.animal_name(report.peer_id, adjectives, animals)
    else:
        problems.append(Problem(
            "names-unavailable", "no name_utils.py with word lists in this checkout, so no animal name",
            "the peer id above is still right; update the checkout (git pull) to see the name"))

    login = read_login(layout, problems)
    report.login = login
    problems += readable_login_problems(layout)
    if login.user_data != login.api_key:
        present, absent = (("userData.json", "userApiKey.json") if login.user_data
                           else ("userApiKey.json", "userData.json"))
        problems.append(Problem(
            "login-half", f"{present} is there but {absent} is not",
            f"log in again: move both files out of {layout.temp_data_dir} and open "
            f"http://localhost:{layout.login_port}"))
    if login.keys is not None and login.activated is False:
        problems.append(Problem(
            "login-not-activated", "the newest API key is not activated yet",
            f"finish the login in the browser at http://localhost:{layout.login_port} "
            f"(over SSH: ssh -L {layout.login_port}:localhost:{layout.login_port} HOST)"))
    if known_eoa and login.address and known_eoa.lower() != login.address.lower():
        problems.append(Problem(
            "eoa-mismatch",
            f"userData.json is for {login.address}, but this swarm.pem was first seen with {known_eoa}",
            "a peer id belongs to the first account that registered it: log in with that account, "
            "or reset the identity (move swarm.pem away) to use this one (rl-swarm README)"))

    backups = _pem_backups(layout, backups_dir if backups_dir is not None else _default_backups_dir(layout.root))
    distinct_other: set[str] = set()
    in_root: list[Path] = []
    for path in backups:
        pid = peer_id_of_file(path)
        report.backups.append({"path": str(path), "peer_id": pid,
                               "same_identity": pid is not None and pid == report.peer_id})
        # Only key files in the checkout itself count: swarmtui's own backups (in its state dir,
        # 0600, one per reset or restore) are where they belong, and after a reset they hold
        # the old peer id by design.
        if path.parent == layout.root:
            in_root.append(path)
            if pid is not None and pid != report.peer_id:
                distinct_other.add(pid)
    # Other identities, or several copies cluttering the checkout, are how the wrong key gets
    # restored (or committed, or copied to another machine) by mistake.
    if distinct_other or len(in_root) >= 2:
        what = f"{len(in_root)} other key file{'s' if len(in_root) != 1 else ''} in the checkout"
        if distinct_other:
            what += f", {len(distinct_other)} with a different peer id"
        problems.append(Problem(
            "pem-backups", f"{what}: " + ", ".join(p.name for p in in_root[:4]) + ("…" if len(in_root) > 4 else ""),
            "keep the one your account registered and move the others out of the checkout, "
            "so the wrong one is never restored by mistake"))

    report.problems = problems
    return report
