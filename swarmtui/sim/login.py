"""The browser's half of the modal login: the two temp-data files in their real shapes (facts §2.4).

Everything is fake but well formed: a uuid orgId, 0x addresses, a P-256-sized key pair in hex.
"""

from __future__ import annotations

import json
import os
import secrets
import uuid
from datetime import datetime, timezone
from pathlib import Path


def temp_data_dir(root: Path) -> Path:
    return Path(root) / "modal-login" / "temp-data"


def _hex(nbytes: int) -> str:
    return secrets.token_hex(nbytes)


def _iso_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_org_id() -> str:
    return str(uuid.uuid4())


def write_user_data(root: Path, org_id: str | None = None) -> str:
    """POST /api/get-api-key's first half: userData.json (keyed by orgId). Returns the orgId."""
    org_id = org_id or new_org_id()
    user = {
        "userId": str(uuid.uuid4()),
        "orgId": org_id,
        "address": "0x" + _hex(20),
        "email": f"node-{_hex(3)}@example.com",
    }
    _write(temp_data_dir(root) / "userData.json", {org_id: user})
    return org_id


def write_api_key(root: Path, org_id: str, activated: bool) -> None:
    """userApiKey.json: a list per orgId, latest last; activation adds the deferred-action fields."""
    key = {
        # compressed P-256 public key (33 bytes) and a 32-byte private key, hex like db.ts keeps them
        "publicKey": "0" + secrets.choice("23") + _hex(32),
        "privateKey": _hex(32),
        "createdAt": _iso_now(),
        "activated": activated,
    }
    if activated:
        key.update({
            "deferredActionDigest": "0x" + _hex(32),
            "accountAddress": "0x" + _hex(20),
            "initCode": "0x" + _hex(88),
        })
    path = temp_data_dir(root) / "userApiKey.json"
    keys: dict = {}
    try:
        existing = json.loads(path.read_text())
        if isinstance(existing, dict) and isinstance(existing.get(org_id), list):
            keys = {org_id: existing[org_id]}
    except (OSError, ValueError):
        pass
    keys.setdefault(org_id, []).append(key)
    _write(path, keys)


def activate_latest_key(root: Path, org_id: str) -> None:
    """POST /api/set-api-key-activated: the browser signed the session key's permission."""
    path = temp_data_dir(root) / "userApiKey.json"
    data = json.loads(path.read_text())
    latest = data[org_id][-1]
    latest["activated"] = True
    latest.setdefault("deferredActionDigest", "0x" + _hex(32))
    latest.setdefault("accountAddress", "0x" + _hex(20))
    latest.setdefault("initCode", "0x" + _hex(88))
    _write(path, data)


def play_login(root: Path) -> None:
    """What a person's browser login produces: userData.json and an activated userApiKey.json."""
    org_id = write_user_data(root)
    write_api_key(root, org_id, activated=True)


def logged_in_org(root: Path) -> str | None:
    """The orgId of userData.json (its first key, as the script's awk reads it), or None."""
    try:
        data = json.loads((temp_data_dir(root) / "userData.json").read_text())
    except (OSError, ValueError):
        return None
    return next(iter(data), None) if isinstance(data, dict) else None


def api_key_status(temp_data: Path, org_id: str) -> str:
    """What /api/get-api-key-status answers: 'activated' when the latest key is, else 'pending'."""
    try:
        data = json.loads((Path(temp_data) / "userApiKey.json").read_text())
        keys = data.get(org_id) or []
        return "activated" if keys and keys[-1].get("activated") else "pending"
    except (OSError, ValueError, AttributeError):
        return "pending"


def _write(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2))
    os.replace(tmp, path)
