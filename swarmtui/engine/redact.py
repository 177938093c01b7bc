"""Secrets never leave in an alert, a hook's input or a notify URL shown to a person.

Community watchdogs have sent API keys to Telegram (community-tools.md): an alert quotes node
output, hints and state details, any of which can carry a login value. So every text that leaves
is scrubbed twice: of the node's own secret values, read fresh from its files at send time (the
login files in the checkout and keep_login's copies, swarm.pem, the HF token in the config or
the environment, the notify URLs' tokens), and of anything shaped like one (an EOA-style 0x
address, a long hex key, an email address, an HF token). Values seen once are remembered, since
run_rl_swarm.sh deletes the login files at every exit and a later alert may quote an old line.
"""

from __future__ import annotations

import base64
import json
import os
import re
import threading
from pathlib import Path
from typing import Any, Iterable, Mapping
from urllib.parse import urlsplit

from swarmtui.safefile import read_regular

MASK = "[hidden]"
_MIN_SECRET = 6                     # shorter values are words, not secrets (and would scrub words)
_MAX_FILE = 1 << 20

_PATTERNS = (
    re.compile(r"\b0x[0-9a-fA-F]{40}(?:[0-9a-fA-F]{24})?\b"),         # an address, a 32-byte digest
    re.compile(r"\b(?:0x)?[0-9a-fA-F]{64,}\b"),                         # a private key, a long hex blob
    re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"),   # an email
    re.compile(r"\bhf_[A-Za-z0-9]{8,}"),                                # a Hugging Face token
)
_HEX_VALUE = re.compile(r"0x[0-9a-fA-F]{16,}")
# Keys in the login files that are bookkeeping, not secrets (a timestamp is no secret).
_NOT_SECRET_KEYS = frozenset({"createdAt", "activated"})


class Redactor:
    """Scrubs known secret values and secret-shaped text. Thread-safe: the alert worker and the
    hook worker share one."""

    def __init__(self, values: Iterable[str] = (), allow: Iterable[str] = ()):
        self._values: set[str] = set()
        self._lock = threading.Lock()
        # Texts that look like a secret but are what the person must read: the ssh hint's
        # user@host would pass for an email address.
        self.allow = tuple(a for a in allow if a)
        self.add(values)

    def add(self, values: Iterable[str]) -> None:
        with self._lock:
            for v in values:
                if isinstance(v, str) and len(v.strip()) >= _MIN_SECRET:
                    v = v.strip()
                    self._values.add(v)
                    if _HEX_VALUE.fullmatch(v):
                        self._values.add(v[2:])     # an address is also written without its 0x

    def __call__(self, text: str) -> str:
        with self._lock:
            values = sorted(self._values, key=len, reverse=True)
        for v in values:
            if v in text:
                text = text.replace(v, MASK)
            if v.lower() in text.lower():
                # Addresses and keys are written in any case (checksummed or not).
                text = re.sub(re.escape(v), MASK, text, flags=re.IGNORECASE)
        kept = {f"\x00{i}\x00": a for i, a in enumerate(self.allow) if a in text}
        for place, a in kept.items():
            text = text.replace(a, place)
        for rx in _PATTERNS:
            text = rx.sub(MASK, text)
        for place, a in kept.items():
            text = text.replace(place, a)
        return text

    def scrub(self, value: Any) -> Any:
        """The same for every string inside a JSON-like value (a hook's event)."""
        if isinstance(value, str):
            return self(value)
        if isinstance(value, list):
            return [self.scrub(v) for v in value]
        if isinstance(value, dict):
            return {k: self.scrub(v) for k, v in value.items()}
        return value


def _strings(data: Any) -> Iterable[str]:
    if isinstance(data, dict):
        for k, v in data.items():
            if k in _NOT_SECRET_KEYS:
                continue
            if not str(k).isalpha():
                yield str(k)                # the orgId keys both files; field names are plain words
            yield from _strings(v)
    elif isinstance(data, list):
        for v in data:
            yield from _strings(v)
    elif isinstance(data, str):
        yield data


def login_file_secrets(paths: Iterable[Path]) -> list[str]:
    """Every value in userData.json / userApiKey.json (orgId, address, email, userId, the key
    pair, accountAddress, ...): all of it is private to the person."""
    out: list[str] = []
    for path in paths:
        try:
            data = json.loads(read_regular(path, _MAX_FILE).decode("utf-8", "replace"))
        except (OSError, ValueError):
            continue
        out.extend(_strings(data))
    return out


def pem_secrets(path: Path) -> list[str]:
    """swarm.pem's bytes in the forms a text could hold them: as text, base64, hex."""
    try:
        raw = read_regular(path, _MAX_FILE)
    except OSError:
        return []
    if not raw:
        return []
    out = [base64.b64encode(raw).decode(), raw.hex()]
    text = raw.decode("utf-8", "ignore")
    out += [line for line in text.splitlines() if len(line) >= 16]
    out += [run for run in re.findall(r"[ -~]{16,}", raw.decode("latin-1"))]
    return out


def url_secrets(url: str, min_len: int = 8) -> list[str]:
    """The parts of an apprise URL that may be a token: user, password, host-looking tokens,
    path segments, query values (json://127.0.0.1:8080 keeps its host, tgram://BOT:TOKEN/CHAT not).
    Parts shorter than `min_len` are left: scrubbing a short word from a message does harm."""
    out: list[str] = []
    try:
        parts = urlsplit(url)
    except ValueError:
        return [url]
    netloc = parts.netloc.rsplit("@", 1)
    if len(netloc) == 2:
        out += netloc[0].split(":")
    host = netloc[-1]
    if not _plain_host(host):
        out += [host] + host.split(":")
    out += [seg for seg in parts.path.split("/") if seg]
    for pair in parts.query.split("&"):
        if "=" in pair:
            out.append(pair.split("=", 1)[1])
    return [s for s in out if len(s) >= min_len]


def _plain_host(host: str) -> bool:
    name, _, port = host.rpartition(":") if ":" in host and not host.endswith("]") else (host, "", "")
    if port and not port.isdigit():
        return False
    name = name or host
    # A host has a dot (a name or an IPv4 address), or is localhost or [IPv6]; a bare word or
    # number in that place is a service's token or id (tgram://BOT_TOKEN, discord://WEBHOOK_ID).
    return bool(re.fullmatch(r"[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+|localhost|\[[0-9A-Fa-f:.]+\]", name))


def mask_url(url: str) -> str:
    """An apprise URL as it may be shown: the scheme, a plain host and port, and the first two
    characters of anything else (tokens, chat ids, topics), the query left out."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return "(an URL that cannot be parsed)"
    if not parts.scheme:
        return _hide(url.strip())
    netloc = parts.netloc.rsplit("@", 1)
    user = ""
    if len(netloc) == 2:
        user = ":".join(_hide(p) for p in netloc[0].split(":")) + "@"
    host = netloc[-1]
    host = host if _plain_host(host) else _hide(host)
    path = "/".join(_hide(seg) if seg else "" for seg in parts.path.split("/"))
    return f"{parts.scheme}://{user}{host}{path}" + ("?…" if parts.query else "")


def _hide(word: str) -> str:
    return word[:2] + "…" if len(word) > 2 else "…"


def node_secrets(layout: Any, *, hf_token: str | None = None, env: Mapping[str, str] | None = None,
                 keep_dir: Path | None = None, urls: Iterable[str] = ()) -> list[str]:
    """Every secret value of a node, read now: login files (the checkout's and keep_login's
    copies), swarm.pem, the HF token (config or HF_TOKEN), the notify URLs' tokens."""
    env = os.environ if env is None else env
    files: list[Path] = []
    if layout is not None:
        files += [Path(layout.user_data_path), Path(layout.api_key_path)]
    if keep_dir is not None:
        files += [Path(keep_dir) / "userData.json", Path(keep_dir) / "userApiKey.json"]
    out = login_file_secrets(files)
    if layout is not None:
        out += pem_secrets(Path(layout.identity_path))
    for token in (hf_token, env.get("HF_TOKEN")):
        if token:
            out.append(token)
    for url in urls:
        out += url_secrets(url)
    return out
