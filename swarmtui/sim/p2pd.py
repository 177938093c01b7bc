"""A stand-in for go-libp2p-daemon (`hivemind_cli/p2pd`).

It takes p2pd's `-key=value` arguments, listens on its `-listen=/unix/...` control socket,
prints the lines hivemind waits for (`Peer ID: ...`), removes the socket on SIGTERM/SIGINT and
otherwise lives until it is killed, like the real daemon. SWARMTUI_SIM_P2PD_MODE makes it fail
the way real ones do: `silent` never reports ready (a startup timeout), `bootstrap-fail` exits
with the daemon's bootstrap error.
"""

from __future__ import annotations

import os
import select
import signal
import socket
import sys
import time
from datetime import datetime
from pathlib import Path

from swarmtui.sim.proctitle import set_comm


def parse_args(argv: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for arg in argv:
        if arg.startswith("-") and "=" in arg:
            key, value = arg.lstrip("-").split("=", 1)
            out[key] = value
    return out


def _root_gone(root: str | None) -> bool:
    # Not p2pd behaviour: a guard so a simulator left behind by a deleted test folder goes away.
    return bool(root) and not os.path.exists(os.path.join(root, ".swarmtui-sim.json"))


def main(argv: list[str] | None = None) -> None:
    set_comm("p2pd")
    args = parse_args(sys.argv[1:] if argv is None else argv)
    mode = os.environ.get("SWARMTUI_SIM_P2PD_MODE", "ok")
    root = os.environ.get("SWARMTUI_SIM_ROOT")
    speed = float(os.environ.get("SWARMTUI_SIM_SPEED") or 1.0)
    listen = args.get("listen", "")
    sock_path = listen[len("/unix"):] if listen.startswith("/unix") else None

    if mode == "bootstrap-fail":
        time.sleep(min(10.0 / speed, 5.0))
        print(f"{datetime.now():%Y/%m/%d %H:%M:%S} failed to connect to bootstrap peers", flush=True)
        sys.exit(1)

    server = None
    if sock_path:
        try:
            os.unlink(sock_path)
        except FileNotFoundError:
            pass
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(sock_path)
        server.listen(16)

    def stop(signum, frame):
        if sock_path:
            try:
                os.unlink(sock_path)
            except OSError:
                pass
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    if mode != "silent":
        peer = "unknown"
        ident = args.get("id")
        try:
            from swarmtui.node.peerid import peer_id_from_key_bytes
            from swarmtui.sim.identity import new_identity_bytes, read_peer_id

            # Without -id (hivemind's identity check) the daemon makes up a throwaway key.
            peer = read_peer_id(Path(ident)) if ident else peer_id_from_key_bytes(new_identity_bytes())
        except Exception:
            pass
        print(f"Control socket: {listen}", flush=True)
        print(f"Peer ID: {peer}", flush=True)
        print("Peer Addrs:", flush=True)
        for addr in (args.get("hostAddrs") or "/ip4/127.0.0.1/tcp/0").split(","):
            print(addr.replace("/tcp/0", "/tcp/41457").replace("0.0.0.0", "127.0.0.1"), flush=True)

    while True:
        if server is not None:
            ready, _, _ = select.select([server], [], [], 2.0)
            if ready:
                try:
                    conn, _ = server.accept()
                    conn.close()
                except OSError:
                    pass
        else:
            time.sleep(2.0)
        if _root_gone(root):
            stop(None, None)


if __name__ == "__main__":
    main()
