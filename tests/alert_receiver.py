"""A real HTTP receiver on 127.0.0.1 for apprise's json:// URLs: it records every request body,
and can hold each request (a hanging service) until it is closed."""

from __future__ import annotations

import asyncio
import http.server
import json
import socket
import threading
import time


class Receiver:
    def __init__(self, hang: float = 0.0, port: int = 0):
        self.raw: list[bytes] = []
        self.paths: list[str] = []
        self.arrived = 0                    # requests that reached the handler (held ones too)
        self._release = threading.Event()
        self._lock = threading.Lock()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with outer._lock:
                    outer.arrived += 1
                if hang:
                    outer._release.wait(hang)
                with outer._lock:
                    outer.raw.append(body)
                    outer.paths.append(self.path)
                try:
                    self.send_response(200)
                    self.end_headers()
                except OSError:
                    pass                    # the client gave up on us (its read timeout)

            def log_message(self, format, *args):  # noqa: A002 - quiet
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def url(self, path: str = "/hook") -> str:
        return f"json://127.0.0.1:{self.port}{path}"

    def bodies(self) -> list[dict]:
        with self._lock:
            return [json.loads(b) for b in self.raw]

    async def wait_for(self, count: int, timeout: float = 15.0) -> list[dict]:
        """Until `count` messages arrived; the event loop runs meanwhile (the keeper's alert
        timer lives on it)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if len(self.raw) >= count:
                return self.bodies()
            await asyncio.sleep(0.02)
        raise AssertionError(f"the receiver got {len(self.raw)} of {count} message(s): {self.bodies()}")

    def close(self) -> None:
        self._release.set()
        self.server.shutdown()
        self.server.server_close()


def dead_url() -> str:
    """A json:// URL on a loopback port nothing listens on."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"json://127.0.0.1:{port}/nobody"
