"""A bounded queue drained by one daemon thread: how alerts and hooks stay off the keeper's loop.

submit() never blocks: when the worker falls behind, items are dropped and the person is told
once (a slow alert service or hook must never slow the node's supervision). close() lets the
worker finish what waits, for a bounded time; a worker stuck in a hanging call is left behind
(the thread is a daemon, and the process is about to end).
"""

from __future__ import annotations

import queue
import threading
from typing import Any, Callable

STOP = object()


class QueuedWorker:
    thread_name = "swarmtui-worker"

    def __init__(self, queue_max: int, notice: Callable[[str, str], None]):
        self.notice = notice                # called on the worker thread: the caller hands it over
        self._queue: queue.Queue = queue.Queue(maxsize=queue_max)
        self._thread: threading.Thread | None = None
        self._dropped = 0

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
            self._thread.start()

    def submit(self, item: Any) -> bool:
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            self._dropped += 1
            if self._dropped == 1:
                self.notice("warning", self.falling_behind())
            return False
        return True

    def close(self, timeout: float = 2.0) -> None:
        try:
            self._queue.put(STOP, timeout=timeout)
        except queue.Full:
            return
        if self._thread is not None:
            self._thread.join(timeout)

    def falling_behind(self) -> str:
        """The one warning given when items start being dropped."""
        raise NotImplementedError

    def _run(self) -> None:
        raise NotImplementedError
