"""Prometheus metrics of one keeper: an observer of the engine's events, served from a thread.

The keeper's event loop only folds each event into a few numbers under a lock (observe);
prometheus_client's own HTTP thread turns them into families when it is scraped (collect), so a
slow or stuck scraper never holds up the node's supervision. prometheus_client is imported only
when [metrics] listen is set: a keeper without metrics never loads it.

GPU memory comes from the keeper's host figures (events.HostStats, NVML): a host without an
NVIDIA GPU or without nvidia-ml-py has no sample in that family, only its declaration.
"""

from __future__ import annotations

import errno
import ipaddress
import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from swarmtui import __version__
from swarmtui.engine import events as ev

PREFIX = "swarmtui_"


@dataclass(frozen=True)
class Family:
    """One metric as the exposition format has it: counters are named without `_total` here
    (prometheus_client appends it), like the parser's families."""
    name: str
    type: str                   # gauge, counter, info-like gauges are gauges
    help: str
    labels: tuple[str, ...]
    samples: tuple[tuple[tuple[str, ...], float], ...]


class MetricsObserver:
    """Engine events -> the numbers /metrics shows for one node."""

    def __init__(self, node: str, *, wall: Callable[[], float] = time.time, version: str = __version__):
        self.node = node
        self.version = version
        self._wall = wall
        self._lock = threading.Lock()
        self._state: str | None = None
        self._restarts: Counter[str] = Counter()
        self._detections: Counter[str] = Counter()
        self._round: int | None = None
        self._round_ts: float | None = None
        self._rounds_completed = 0
        self._last_reward: float | None = None
        self._bets: int | None = None
        self._staked: float | None = None
        self._cpu: float | None = None
        self._rss: int | None = None
        self._gpu_mem: dict[str, int] = {}       # GPU index -> bytes used

    def observe(self, event: ev.Event) -> None:
        with self._lock:
            if isinstance(event, ev.StateChanged):
                self._state = event.state
            elif isinstance(event, ev.RestartScheduled):
                self._restarts[event.reason or "?"] += 1
            elif isinstance(event, ev.Detected):
                self._detections[event.id] += 1
            elif isinstance(event, ev.ProgressUpdate):
                self._progress(event)
            elif isinstance(event, ev.ProcessSnapshot):
                ours = [p for p in event.procs if p.ours]
                self._cpu = float(sum(p.cpu_percent or 0.0 for p in ours))
                self._rss = int(sum(p.rss or 0 for p in ours))
            elif isinstance(event, ev.HostStats):
                self._gpu_mem = {str(g.get("index")): int(g["mem_used"]) for g in event.gpus
                                 if isinstance(g.get("mem_used"), int)}

    def _progress(self, e: ev.ProgressUpdate) -> None:
        if e.round is not None and e.round != self._round:
            # When this keeper first saw the round: what "no new round for an hour" is measured on.
            self._round_ts = self._wall()
        self._round = e.round
        self._rounds_completed = max(0, int(e.rounds_completed or 0))
        if e.last_rewards:
            # `reward` is the trainer's total; the other keys (rewards/<func>) are its parts.
            value = e.last_rewards.get("reward", next(iter(e.last_rewards.values())))
            if isinstance(value, (int, float)):
                self._last_reward = float(value)
        if e.market:
            bets, staked = e.market.get("bets"), e.market.get("staked")
            if isinstance(bets, (int, float)):
                self._bets = int(bets)
            if isinstance(staked, (int, float)):
                self._staked = float(staked)

    def families(self) -> list[Family]:
        """Every metric, each family even without a sample, so a scrape always names them all."""
        n = self.node
        with self._lock:
            def one(value: float | None) -> tuple:
                return (((n,), float(value)),) if value is not None else ()

            return [
                Family(PREFIX + "keeper_info", "gauge", "The keeper serving these metrics (always 1)",
                       ("node", "version"), (((n, self.version), 1.0),)),
                Family(PREFIX + "node_up", "gauge", "1 while the node is in state running, else 0",
                       ("node",), one(1.0 if self._state == ev.RUNNING else 0.0)),
                Family(PREFIX + "node_state", "gauge", "1 for the node's current state, 0 for the others",
                       ("node", "state"),
                       tuple(((n, s), 1.0 if s == self._state else 0.0) for s in ev.STATES)),
                Family(PREFIX + "restarts", "counter", "Restarts since this keeper started, by reason",
                       ("node", "reason"), tuple(((n, r), float(c)) for r, c in sorted(self._restarts.items()))),
                Family(PREFIX + "detections", "counter", "Catalogue detections since this keeper started, by id",
                       ("node", "id"), tuple(((n, i), float(c)) for i, c in sorted(self._detections.items()))),
                Family(PREFIX + "round", "gauge", "The round the node works on", ("node",), one(self._round)),
                Family(PREFIX + "round_timestamp_seconds", "gauge",
                       "Unix time this keeper first saw the current round", ("node",), one(self._round_ts)),
                Family(PREFIX + "rounds_completed", "counter", "Rounds the node completed", ("node",),
                       one(self._rounds_completed)),
                Family(PREFIX + "last_reward", "gauge", "The last reward the node printed (eras that print one)",
                       ("node",), one(self._last_reward)),
                Family(PREFIX + "market_bets", "counter", "v0.6 AI Prediction Market: bets placed",
                       ("node",), one(self._bets)),
                Family(PREFIX + "market_staked", "gauge", "v0.6 AI Prediction Market: tokens staked in total",
                       ("node",), one(self._staked)),
                Family(PREFIX + "node_cpu_percent", "gauge", "CPU of the node's processes (sum, 100 = one core)",
                       ("node",), one(self._cpu)),
                Family(PREFIX + "node_rss_bytes", "gauge", "Resident memory of the node's processes (sum)",
                       ("node",), one(self._rss)),
                Family(PREFIX + "gpu_memory_used_bytes", "gauge", "GPU memory in use on the node's host, by GPU index",
                       ("node", "gpu"), tuple(((n, g), float(b)) for g, b in sorted(self._gpu_mem.items()))),
            ]


class _Collector:
    """prometheus_client's side: called on its HTTP thread at each scrape."""

    def __init__(self, observer: MetricsObserver):
        self.observer = observer

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        for f in self.observer.families():
            cls = CounterMetricFamily if f.type == "counter" else GaugeMetricFamily
            family = cls(f.name, f.help, labels=list(f.labels))
            for labels, value in f.samples:
                family.add_metric(list(labels), value)
            yield family


class MetricsServer:
    def __init__(self, httpd: Any, host: str, port: int):
        self._httpd = httpd
        self.host, self.port = host, port

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def serve(observer: MetricsObserver, host: str, port: int) -> MetricsServer:
    """Start the /metrics thread with a registry of its own (the global one would add this
    process's Python and GC metrics, and a second observer in one process would clash). OSError
    when the address cannot be bound."""
    from prometheus_client import CollectorRegistry, start_http_server

    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector(observer))     # type: ignore[arg-type]
    httpd, _thread = start_http_server(port, addr=host, registry=registry)
    return MetricsServer(httpd, host, httpd.server_address[1])


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def start_for_keeper(listen: str, node: str, observers: list, note: Callable[[str], None]) -> MetricsServer | None:
    """The keeper's metrics, if [metrics] listen says where; one line either way.

    An address that cannot be bound (the port in use, an address not on this machine) is said
    in one line and the keeper goes on without metrics: the node's supervision matters more
    than its figures, a scraper sees the target down anyway, and a keeper that refused to start
    would leave the node unkept (systemd would only restart it into the same refusal)."""
    from swarmtui.engine.config import parse_listen

    host, port = parse_listen(listen)
    observer = MetricsObserver(node)
    try:
        server = serve(observer, host, port)
    except ImportError:
        note("metrics: off, prometheus_client is not installed (pip install prometheus_client)")
        return None
    except OSError as exc:
        why = "the port is in use" if exc.errno == errno.EADDRINUSE else (exc.strerror or str(exc))
        note(f"metrics: cannot listen on {listen}: {why}; going on without metrics "
             f"(set [metrics] listen to a free port)")
        return None
    observers.append(observer.observe)
    where = "" if is_loopback(host) else " (not loopback: anyone who can reach this address can read them)"
    note(f"metrics: serving {server.url}{where}")
    return server
