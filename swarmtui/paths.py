"""Where swarmtui keeps its own files (XDG on Linux, the platform's usual places elsewhere).

Every path can be moved with SWARMTUI_STATE_DIR / SWARMTUI_CONFIG_DIR / SWARMTUI_CACHE_DIR so
tests and several panels on one host never share state by accident.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

APP = "swarmtui"


def _dir(env: str, kind: str) -> Path:
    override = os.environ.get(env)
    if override:
        return Path(override).expanduser()
    import platformdirs  # imported here so `swarmtui --help` stays fast

    return Path(getattr(platformdirs, f"user_{kind}_dir")(APP))


def state_dir() -> Path:
    return _dir("SWARMTUI_STATE_DIR", "state")


def config_dir() -> Path:
    return _dir("SWARMTUI_CONFIG_DIR", "config")


def cache_dir() -> Path:
    return _dir("SWARMTUI_CACHE_DIR", "cache")


def default_config_file() -> Path:
    return config_dir() / "config.toml"


def node_key(node_dir: Path) -> str:
    """A stable, readable folder name for one checkout: its base name plus a hash of its path."""
    resolved = str(Path(node_dir).resolve())
    digest = hashlib.sha256(resolved.encode()).hexdigest()[:10]
    base = Path(resolved).name or "root"
    return f"{base}-{digest}"


def node_state_dir(node_dir: Path) -> Path:
    """History, run transcripts and backups of one checkout live here."""
    return state_dir() / "nodes" / node_key(node_dir)
