"""Delivers alerts through apprise on a worker thread, so supervision never waits for a service.

apprise is imported on the worker, when there is something to send: `swarmtui --help` and a
keeper without [notify] never load it. Every URL is its own apprise object, so a service that
fails is retried with backoff without the others getting the message twice; each attempt is
bounded by the URL's connect and read timeouts (set here unless the URL sets its own). The first
failure of a service is said once (a notice: the panel and `supervise --json` show it), with the
URL masked and its tokens scrubbed from apprise's own error text; a service that works again
says so too. Every title and body passes the redactor at the moment it is sent.
"""

from __future__ import annotations

import heapq
import importlib.util
import itertools
import logging
import queue
import time
from typing import Callable, Sequence

from swarmtui.engine.alerts import Alert
from swarmtui.engine.redact import mask_url, url_secrets
from swarmtui.engine.worker_queue import STOP, QueuedWorker
from swarmtui.node.text import sanitize

CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 10.0
RETRY_DELAYS = (30.0, 120.0, 600.0)     # s after a failure: then the alert is given up on
QUEUE_MAX = 64                          # alerts waiting for the worker; more are dropped (and said)
_ERROR_CHARS = 300

Send = Callable[[str, str, str], "str | None"]
Notice = Callable[[str, str], None]


def apprise_available() -> bool:
    try:
        return importlib.util.find_spec("apprise") is not None
    except (ImportError, ValueError):       # a broken install, or an import blocked on purpose
        return False


MISSING = "apprise is not installed (pip install 'apprise>=1.9', or reinstall swarmtui)"


def with_timeouts(url: str) -> str:
    """The URL with apprise's connect (cto) and read (rto) timeouts, unless it sets them."""
    query = url.split("?", 1)[1] if "?" in url else ""
    keys = {pair.split("=", 1)[0] for pair in query.split("&") if pair}
    extra = [f"{k}={v:g}" for k, v in (("cto", CONNECT_TIMEOUT), ("rto", READ_TIMEOUT)) if k not in keys]
    if not extra:
        return url
    return url + ("&" if "?" in url else "?") + "&".join(extra)


def _quiet(apprise_module) -> None:
    # Without a handler of its own, apprise's warnings reach Python's last-resort handler, i.e.
    # the keeper's stderr, with whatever they quote. They are read from a capture instead.
    log = logging.getLogger(getattr(apprise_module, "LOGGER_NAME", "apprise"))
    if not any(isinstance(h, logging.NullHandler) for h in log.handlers):
        log.addHandler(logging.NullHandler())


def send_one(url: str, title: str, body: str) -> str | None:
    """Send one message through one apprise URL now (blocking, bounded by the URL's timeouts).
    None when it was sent, else what went wrong in one line, with the URL's tokens scrubbed."""
    try:
        import apprise
    except ImportError:
        return MISSING
    _quiet(apprise)
    try:
        box = apprise.Apprise(asset=apprise.AppriseAsset(storage_mode="memory"))
        if not box.add(with_timeouts(url)):
            scheme = url.split("://", 1)[0] if "://" in url else url[:12]
            return f"not an URL apprise understands (scheme {scheme!r}): see apprise's list of services"
        with apprise.LogCapture(level=logging.WARNING, fmt="%(message)s") as captured:
            try:
                ok = bool(box.notify(title=title, body=body))
                problem = ""
            except Exception as exc:  # a plugin's own bug must not end the worker
                ok, problem = False, f"{type(exc).__name__}: {exc}"
        if ok:
            return None
        lines = [ln.strip() for ln in captured.getvalue().splitlines() if ln.strip()]
        error = problem or (lines[-1] if lines else "the service did not take the message")
    except Exception as exc:  # apprise itself failed (a broken install): one line, never a traceback
        error = f"{type(exc).__name__}: {exc}"
    return clean_error(error, url)


def clean_error(error: str, url: str) -> str:
    """An error text fit to show: the URL's tokens scrubbed, one line, bounded."""
    for secret in sorted(url_secrets(url, min_len=4), key=len, reverse=True):
        error = error.replace(secret, "…")
    text = " ".join(sanitize(error).split())
    return text[:_ERROR_CHARS] + ("…" if len(text) > _ERROR_CHARS else "")


class AlertSender(QueuedWorker):
    """submit() queues and returns at once; a daemon thread sends, retries and reports."""
    thread_name = "swarmtui-alerts"

    def __init__(self, urls: Sequence[str], *, redactor: Callable[[], Callable[[str], str]], notice: Notice,
                 send: Send = send_one, retry_delays: Sequence[float] = RETRY_DELAYS, queue_max: int = QUEUE_MAX):
        self.urls = list(urls)
        self.redactor = redactor              # a fresh redactor per delivery: secrets read at send time
        super().__init__(queue_max, notice)
        self.send = send
        self.retry_delays = tuple(retry_delays)
        self.sent = 0
        self.failed = 0
        self._failing: set[int] = set()
        self._seq = itertools.count()

    def falling_behind(self) -> str:
        return ("alerts cannot be sent as fast as they come: the services are slow or "
                f"down, so alerts are dropped (more than {self._queue.maxsize} wait)")

    # ------------------------------------------------------------ the worker

    def _run(self) -> None:
        retries: list[tuple[float, int, int, Alert, int]] = []
        while True:
            timeout = max(0.0, retries[0][0] - time.monotonic()) if retries else None
            try:
                item = self._queue.get(timeout=timeout)
            except queue.Empty:
                item = None
            if item is STOP:
                return
            if item is not None:
                for i in range(len(self.urls)):
                    self._deliver(i, item, 0, retries)
            while retries and retries[0][0] <= time.monotonic():
                _, _, i, alert, attempt = heapq.heappop(retries)
                self._deliver(i, alert, attempt, retries)

    def _deliver(self, i: int, alert: Alert, attempt: int, retries: list) -> None:
        url = self.urls[i]
        redact: Callable[[str], str] = lambda text: text
        try:
            redact = self.redactor()
            error = self.send(url, redact(alert.title), redact(alert.body))
        except Exception as exc:  # the worker must outlive anything a send does
            error = clean_error(f"{type(exc).__name__}: {exc}", url)
        if error is not None:
            error = redact(error)           # a service may quote the message back
        if error is None:
            self.sent += 1
            if i in self._failing:
                self._failing.discard(i)
                self.notice("info", f"alerts to {mask_url(url)} are delivered again")
            return
        self.failed += 1
        more = attempt < len(self.retry_delays)
        if i not in self._failing:
            self._failing.add(i)
            then = (f"tried again in {', '.join(_secs(d) for d in self.retry_delays)}" if more
                    else "not tried again")
            self.notice("warning", f"an alert to {mask_url(url)} failed: {error}; {then} "
                                   "(said once until it works again)")
        if more:
            due = time.monotonic() + self.retry_delays[attempt]
            heapq.heappush(retries, (due, next(self._seq), i, alert, attempt + 1))


def _secs(seconds: float) -> str:
    return f"{seconds:g}s" if seconds < 60 else f"{seconds / 60:g}m"
