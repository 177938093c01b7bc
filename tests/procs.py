"""Looking at a process that may be reaped between any two looks."""

from __future__ import annotations

import psutil


def running(pid: int) -> bool:
    """The process is there and not a zombie. `pid_exists(p) and Process(p).status()` races with
    the reap (psutil.NoSuchProcess between the two calls); this does not."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
