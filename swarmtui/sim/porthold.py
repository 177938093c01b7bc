"""Another program that happens to hold the login port (the port-in-use scenario).

It is deliberately not part of the node: own session, cwd `/`. It leaves when the checkout that
asked for it is deleted, or after half an hour, so a test that forgets it leaks nothing for long.
"""

from __future__ import annotations

import os
import socket
import sys
import time


def main() -> None:
    port, root = int(sys.argv[1]), sys.argv[2]
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(8)
    sock.settimeout(2.0)
    deadline = time.monotonic() + 1800
    while time.monotonic() < deadline and os.path.exists(os.path.join(root, ".swarmtui-sim.json")):
        try:
            conn, _ = sock.accept()
            conn.close()
        except OSError:
            pass


if __name__ == "__main__":
    main()
