"""Give a process the short name a real node's process has (what `ps -o comm`/psutil.name() show)."""

from __future__ import annotations

import sys


def set_comm(name: str) -> None:
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(15, name.encode()[:15], 0, 0, 0)  # PR_SET_NAME
    except (OSError, AttributeError):
        pass
