"""Another program that happens to hold the login port (the port-in-use scenario).

It is deliberately a stranger to the node: started from the login server, but double-forked
into a session of its own, with cwd `/` and a cleaned environment (no SWARMTUI_RUN_ID or any
other swarmtui variable), so nothing a supervisor may use as proof of ownership (parentage,
session, process group, environment marker, working folder) ties it to the node. A supervisor
must report it and never kill it. It leaves when the checkout that asked for it is deleted, or
after half an hour, so a test that forgets it leaks nothing for long; tests kill it by the pid
recorded in `.swarmtui-sim-state.json` (its command line names the checkout).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

# What an unrelated program started from a login shell would have; nothing of ours.
_KEEP_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "USER", "LOGNAME", "SHELL", "TMPDIR")
LIFETIME_S = 1800.0


def spawn(port: int, root: str) -> int:
    """Start the holder as a stranger and return its pid once it listens on `port`."""
    env = {k: os.environ[k] for k in _KEEP_ENV if k in os.environ}
    proc = subprocess.Popen(
        [sys.executable, "-m", "swarmtui.sim.porthold", "--detach", str(port), str(root)],
        cwd="/", env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        start_new_session=True, close_fds=True,
    )
    try:
        line = proc.stdout.readline()
    finally:
        proc.stdout.close()
        proc.wait(10)           # the intermediate exits at once: no zombie of ours is left
    return int(line)


def _listen(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(8)
    return sock


def _serve(sock: socket.socket, root: str) -> None:
    sock.settimeout(2.0)
    deadline = time.monotonic() + LIFETIME_S
    while time.monotonic() < deadline and os.path.exists(os.path.join(root, ".swarmtui-sim.json")):
        try:
            conn, _ = sock.accept()
            conn.close()
        except OSError:
            pass


def main() -> None:
    args = sys.argv[1:]
    detach = bool(args) and args[0] == "--detach"
    if detach:
        args = args[1:]
    port, root = int(args[0]), args[1]
    sock = _listen(port)             # before anyone is told: the port is held when spawn() returns
    if detach:
        # We lead a new session (spawn's setsid); fork once more so the holder is no session
        # leader and its parent, the intermediate, is gone: it is reparented away from the node.
        pid = os.fork()
        if pid:
            sys.stdout.write(f"{pid}\n")
            sys.stdout.flush()
            os._exit(0)
        os.setsid()
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
    _serve(sock, root)


if __name__ == "__main__":
    main()
