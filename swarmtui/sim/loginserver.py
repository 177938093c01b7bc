"""The modal-login app's `next start`, reduced to what a node and a supervisor can observe.

A loopback HTTP server on the login port (SWARMTUI_SIM_PORT, else the checkout's port) that
answers /api/get-api-key-status from temp-data/userApiKey.json exactly as the real db.ts does,
accepts the python side's register-peer / submit-reward / submit-winner posts, and prints the
Next.js banner (or its EADDRINUSE error) on its stdout, which the script appends to logs/yarn.log.
Its scenario decides whether a simulated browser logs in: `auto` a few node seconds after start,
`delay` after ~30, `never` not at all, `present` relies on files already there.
"""

from __future__ import annotations

import errno
import json
import os
import secrets
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from swarmtui.sim import config as simconfig
from swarmtui.sim import porthold
from swarmtui.sim.login import (activate_latest_key, api_key_status, logged_in_org, new_org_id, write_api_key,
                                write_user_data)
from swarmtui.sim.proctitle import set_comm

NEXT_VERSION = "14.2.35"
AUTO_LOGIN_AFTER = 3.0     # node seconds after the server is up
DELAY_LOGIN_AFTER = 30.0
ACTIVATE_AFTER = 2.0       # the browser signs the session key's permission a little later

PAGE = """<!DOCTYPE html><html><head><title>Sign in to Gensyn</title></head>
<body><h1>Sign in to Gensyn (simulated)</h1>
<p>This is swarmtui's simulated modal-login. Log in with <code>swarmtui sim login {root}</code>.</p>
</body></html>
"""


def _say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _port_free(port: int) -> bool:
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        probe.close()


def _start_port_holder(root: Path, port: int) -> None:
    """port-in-use: another program (not part of this node) takes the port before we do. It is
    started as a stranger (porthold.spawn): nothing proves it ours, so a supervisor leaves it be."""
    if not _port_free(port):
        return
    pid = porthold.spawn(port, str(root))
    simconfig.update_state(root, port_holder_pid=pid)


def _eaddrinuse(port: int) -> None:
    sys.stderr.write(
        f"Error: listen EADDRINUSE: address already in use :::{port}\n"
        "    at Server.setupListenHandle [as _listen2] (node:net:1908:16)\n"
        "    at listenInCluster (node:net:1965:12)\n"
        "    at doListen (node:net:2139:7)\n"
        "    at process.processTicksAndRejections (node:internal/process/task_queues:83:21) {\n"
        "  code: 'EADDRINUSE',\n"
        "  errno: -98,\n"
        "  syscall: 'listen',\n"
        "  address: '::',\n"
        f"  port: {port}\n"
        "}\n"
    )
    sys.stderr.flush()


def _browser(root: Path, run: int, after: float, speed: float) -> None:
    """The person's browser during run `run`: sign in (a fresh key, then userData.json), then
    activate the key. Login files already there (restored by a supervisor, `swarmtui sim login`,
    or a login that an earlier run's browser finished after that run's cleanup `rm`) are taken
    as they are and only what is missing is done, as a page reload would: the node never waits
    for an activation nobody will make. A browser whose run is over (a later run began, or the
    run's cleanup removed the login) writes nothing more."""
    time.sleep(after / speed)
    if not _this_run(root, run):
        return
    temp = root / "modal-login" / "temp-data"
    org_id = logged_in_org(root)
    if org_id is None:
        org_id = new_org_id()
        # The key first: the script waits for userData.json, and must never read an orgId whose
        # key does not exist yet.
        write_api_key(root, org_id, activated=False)
        if not _this_run(root, run):
            return
        write_user_data(root, org_id)
    elif api_key_status(temp, org_id) == "activated":
        return
    time.sleep(ACTIVATE_AFTER / speed)
    if not _this_run(root, run) or logged_in_org(root) != org_id:
        return              # the run is over (its cleanup removed the login), or another login won
    try:
        activate_latest_key(root, org_id)
    except (OSError, KeyError, ValueError, IndexError, TypeError):
        write_api_key(root, org_id, activated=True)   # the key file went missing: sign a new one


def _this_run(root: Path, run: int) -> bool:
    """Is the node still in run `run` (no later login server started, the checkout exists)?"""
    return (root / simconfig.CONFIG_NAME).exists() and simconfig.current_run(root) == run


def make_handler(root: Path, port: int):
    temp = root / "modal-login" / "temp-data"

    class Handler(BaseHTTPRequestHandler):
        server_version = "Next.js"
        sys_version = ""

        def log_message(self, format, *args):  # noqa: A002 - next start does not log requests
            pass

        def _send(self, code: int, body: str, ctype: str = "text/plain; charset=utf-8") -> None:
            data = body.encode()
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):  # noqa: N802
            url = urlparse(self.path)
            if url.path == "/api/get-api-key-status":
                org = (parse_qs(url.query).get("orgId") or [""])[0]
                if not org:
                    self._send(400, json.dumps({"error": "bad request generic"}), "application/json")
                    return
                self._send(200, api_key_status(temp, org))
            elif url.path in ("/", ""):
                self._send(200, PAGE.format(root=root), "text/html; charset=utf-8")
            else:
                self._send(404, "This page could not be found.")

        def do_POST(self):  # noqa: N802
            url = urlparse(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            try:
                body = json.loads(self.rfile.read(length) or b"{}")
            except ValueError:
                body = {}
            name = url.path.rsplit("/", 1)[-1]
            if name not in ("register-peer", "submit-reward", "submit-winner"):
                self._send(404, "This page could not be found.")
                return
            org = str(body.get("orgId", ""))
            try:
                users = json.loads((temp / "userData.json").read_text())
            except (OSError, ValueError):
                users = {}
            if org not in users:
                self._send(404, json.dumps({"error": "user not found"}), "application/json")
                return
            if api_key_status(temp, org) != "activated":
                _say("api key not found")
                self._send(500, json.dumps({"error": "api key not found"}), "application/json")
                return
            _say(org)
            self._send(200, json.dumps({"hash": "0x" + secrets.token_hex(32)}), "application/json")

    return Handler


def main() -> None:
    set_comm("node")
    here = Path(sys.argv[0]).resolve() if sys.argv and sys.argv[0] else Path.cwd()
    root = simconfig.find_root(here) or simconfig.find_root(Path.cwd())
    if root is None:
        sys.stderr.write("next start: not inside a simulated rl-swarm checkout\n")
        sys.exit(1)
    cfg = simconfig.load_config(root)
    run = simconfig.begin_run(root)
    scenario = cfg.scenario_for(run)
    port = cfg.port

    _say(f"  ▲ Next.js {NEXT_VERSION}")
    _say(f"  - Local:        http://localhost:{port}")
    _say("")
    _say(" ✓ Starting...")
    if scenario == "port-in-use":
        _start_port_holder(root, port)

    started = time.monotonic()
    try:
        server = ThreadingHTTPServer(("127.0.0.1", port), make_handler(root, port))
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            _eaddrinuse(port)
            sys.exit(1)
        raise
    server.daemon_threads = True
    _say(f" ✓ Ready in {int((time.monotonic() - started) * 1000) + 180}ms")

    login = "never" if scenario in ("login-wait", "port-in-use") else cfg.login
    if scenario == "demo":
        login = "auto"
    if login in ("auto", "delay"):
        after = AUTO_LOGIN_AFTER if login == "auto" else DELAY_LOGIN_AFTER
        threading.Thread(target=_browser, args=(root, run, after, cfg.speed), daemon=True).start()

    def guard():
        # Not Next.js behaviour: a server left behind by a deleted test folder goes away.
        while (root / simconfig.CONFIG_NAME).exists():
            time.sleep(2.0)
        os._exit(0)

    threading.Thread(target=guard, daemon=True).start()
    server.serve_forever(poll_interval=0.5)


if __name__ == "__main__":
    main()
