"""What the keeper sends out beyond its viewers: alerts ([notify]) and hooks ([hooks]).

commands.supervise puts Exports.observe behind Fanout.emit, so every engine event passes here,
in the keeper, whoever watches (alerts come from the keeper, never from a panel). observe() only
decides and queues: the sending runs on worker threads (engine.alert_sender, engine.hooks), and
their notices come back to the event loop through call_soon_threadsafe, so supervision never
waits for a service or a script. A timer task on the injected clock wakes the alert policy for
what waits (gathered restarts, held alerts, `recovered`).
"""

from __future__ import annotations

import asyncio
import os
from typing import Any, Callable, Mapping

from swarmtui import paths
from swarmtui.engine import events as ev
from swarmtui.engine.alert_sender import MISSING, AlertSender, apprise_available, send_one
from swarmtui.engine.alerts import AlertPolicy
from swarmtui.engine.clock import Clock, MonotonicClock, sleep_or_wake
from swarmtui.engine.config import Config
from swarmtui.engine.hooks import HOOK_LOG, HookRunner
from swarmtui.engine.login import KEEP_DIR
from swarmtui.engine.redact import Redactor, mask_url, node_secrets
from swarmtui.node.signatures import Catalogue

URLS_ENV = "SWARMTUI_NOTIFY_URLS"


def notify_urls(config: Config, env: Mapping[str, str] | None = None) -> list[str]:
    """[notify] urls, then SWARMTUI_NOTIFY_URLS (comma separated), each once."""
    env = os.environ if env is None else env
    out: list[str] = []
    for url in list(config.notify.urls) + str(env.get(URLS_ENV, "")).split(","):
        url = url.strip()
        if url and url not in out:
            out.append(url)
    return out


class SecretSource:
    """A Redactor whose values are read again at every use (the login files come and go) and
    never forgotten (an old line may quote an old login)."""

    def __init__(self, layout: Any, config: Config, urls: list[str], env: Mapping[str, str] | None = None,
                 allow: tuple[str, ...] = ()):
        self.layout = layout
        self.config = config
        self.urls = urls
        self.env = env
        self._redactor = Redactor(allow=allow)

    def __call__(self) -> Redactor:
        keep = paths.node_state_dir(self.layout.root) / KEEP_DIR if self.layout is not None else None
        self._redactor.add(node_secrets(self.layout, hf_token=self.config.answers.get("hf_token"), env=self.env,
                                        keep_dir=keep, urls=self.urls))
        return self._redactor


class Exports:
    def __init__(self, layout: Any, config: Config, *, notice: Callable[[str, str], None],
                 catalogue: Catalogue | None = None, clock: Clock | None = None,
                 env: Mapping[str, str] | None = None, send: Callable[[str, str, str], str | None] = send_one,
                 retry_delays: tuple[float, ...] | None = None, ssh_hint: str = ""):
        self.layout = layout
        self.config = config
        self.clock = clock or MonotonicClock()
        self._notice_cb = notice
        self._loop: asyncio.AbstractEventLoop | None = None
        self.urls = notify_urls(config, env)
        allow = tuple(ssh_hint.split()[-1:]) if ssh_hint else ()
        self.secrets = SecretSource(layout, config, self.urls, env, allow=allow)
        self.policy: AlertPolicy | None = None
        self.sender: AlertSender | None = None
        self.hooks: HookRunner | None = None
        self._apprise_missing = False
        if self.urls:
            self.policy = AlertPolicy(checkout=layout.root, kinds=config.notify.events,
                                      min_interval=config.notify.min_interval,
                                      stable_after=config.restart.stable_after, clock=self.clock,
                                      catalogue=catalogue)
            self._apprise_missing = send is send_one and not apprise_available()
            if not self._apprise_missing:
                kw = {} if retry_delays is None else {"retry_delays": retry_delays}
                self.sender = AlertSender(self.urls, redactor=self.secrets, notice=self._notice, send=send, **kw)
        if config.hooks.on_event:
            state = paths.node_state_dir(layout.root)
            self.hooks = HookRunner(config.hooks.on_event, timeout=config.hooks.timeout, log_path=state / HOOK_LOG,
                                    node=layout.root, notice=self._notice,
                                    scrub=lambda value: self.secrets().scrub(value), env=env,
                                    state_root=paths.state_dir())
        self._wake: asyncio.Event | None = None
        self._timer: asyncio.Task | None = None
        self._broken = False

    @property
    def active(self) -> bool:
        return self.policy is not None or self.hooks is not None

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        if self._apprise_missing:
            self._notice("warning", f"[notify] has {len(self.urls)} URL(s), but {MISSING}: no alert is sent")
        elif self.sender is not None:
            self.sender.start()
            kinds = ", ".join(self.config.notify.events) or "none"
            self._notice("info", f"alerts ({kinds}) go to " + ", ".join(mask_url(u) for u in self.urls))
        if self.hooks is not None:
            self.hooks.start()
        if self.policy is not None:
            self._timer = asyncio.create_task(self._tick_loop(), name="alerts")

    def observe(self, event: ev.Event) -> None:
        """Every engine event, on the loop thread: decide and queue, never wait."""
        try:
            if self.hooks is not None and self.hooks.wants(event.kind):
                data = event.to_dict()
                data["ts"] = data.get("ts") or ev.utc_now_iso()
                self.hooks.submit(data)
            if self.policy is not None and not isinstance(event, (ev.LinesOut, ev.ProcessSnapshot, ev.ProgressUpdate)):
                self._queue(self.policy.observe(event))
                if self._wake is not None:
                    self._wake.set()
        except Exception as exc:  # alerts must never cost the node its supervision
            if not self._broken:
                self._broken = True
                self._notice("error", f"alerts and hooks stopped working: {exc!r}")

    async def close(self, timeout: float = 2.0) -> None:
        if self._timer is not None:
            self._timer.cancel()
            try:
                await self._timer
            except (asyncio.CancelledError, Exception):
                pass
        for worker in (self.sender, self.hooks):
            if worker is not None:
                await asyncio.to_thread(worker.close, timeout)

    # ------------------------------------------------------------ inside

    def _queue(self, alerts: list) -> None:
        if self.sender is None:
            return
        for alert in alerts:
            self.sender.submit(alert)

    async def _tick_loop(self) -> None:
        assert self.policy is not None and self._wake is not None
        while True:
            due = self.policy.due()
            now = self.clock.monotonic()
            if due is not None and now >= due:
                self._queue(self.policy.tick())
                if self.policy.due() == due:        # nothing moved: never spin on the loop
                    await self.clock.sleep(1.0)
                await asyncio.sleep(0)
                continue
            self._wake.clear()
            wait = 3600.0 if due is None else due - now
            await sleep_or_wake(self.clock, wait, self._wake)

    def _notice(self, level: str, text: str) -> None:
        """From any thread: the notice is emitted on the loop (the panel and --json show it)."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            try:
                if _on_loop(loop):
                    self._notice_cb(level, text)
                else:
                    loop.call_soon_threadsafe(self._notice_cb, level, text)
                return
            except RuntimeError:
                pass            # the loop is closing: said nowhere rather than on a dead loop
            return
        self._notice_cb(level, text)


def _on_loop(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False
