"""engine.metrics: engine events -> Prometheus families, served on a real loopback port; and the
[metrics] listen key's one-line errors."""

from __future__ import annotations

import socket
import subprocess
import sys
import urllib.request

import pytest

from swarmtui.engine import events as ev
from swarmtui.engine.config import ConfigError, config_keys, parse_config
from swarmtui.engine.metrics import MetricsObserver, serve, start_for_keeper

prometheus_client = pytest.importorskip("prometheus_client")
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402


def scrape(url: str) -> dict[tuple[str, tuple], float]:
    """{(sample name, sorted labels): value} from a real HTTP scrape."""
    with urllib.request.urlopen(url, timeout=5) as resp:
        assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/plain")
        text = resp.read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for f in text_string_to_metric_families(text) for s in f.samples}


def proc(pid: int, *, cpu: float, rss: int, ours: bool = True, role: str = "trainer") -> ev.ProcInfo:
    return ev.ProcInfo(pid=pid, ppid=1, name="python", cmdline="python -m x", role=role, cpu_percent=cpu, rss=rss,
                       ours=ours)


@pytest.fixture
def served():
    clock = [1000.0]
    observer = MetricsObserver("node-a", wall=lambda: clock[0], version="9.9.9")
    server = serve(observer, "127.0.0.1", 0)      # 0: the OS picks a free port, no race with other tests
    yield observer, server, clock
    server.close()


def test_events_become_the_documented_values(served):
    observer, server, clock = served
    n = (("node", "node-a"),)
    m = scrape(server.url)
    assert m[("swarmtui_keeper_info", (("node", "node-a"), ("version", "9.9.9")))] == 1
    assert m[("swarmtui_node_up", n)] == 0                      # no state yet is not "up"
    assert ("swarmtui_round", n) not in m                       # unknown is absent, never a made-up 0

    observer.observe(ev.StateChanged(state=ev.RUNNING))
    observer.observe(ev.ProgressUpdate(round=7, rounds_completed=3,
                                       last_rewards={"rewards/correctness_reward_func": 0.5, "reward": 0.75},
                                       market={"bets": 4, "staked": 12.5}))
    observer.observe(ev.ProcessSnapshot(procs=[proc(1, cpu=50.0, rss=100), proc(2, cpu=25.5, rss=23),
                                               proc(3, cpu=99.0, rss=10_000, ours=False)]))
    observer.observe(ev.Detected(id="oom", cls="fatal", action="restart", text="x", source="pty", line=1))
    observer.observe(ev.Detected(id="oom", cls="fatal", action="restart", text="x", source="pty", line=2))
    observer.observe(ev.RestartScheduled(reason="oom", attempt=1, delay_s=10))
    observer.observe(ev.RestartScheduled(reason="manual", attempt=0, delay_s=0))
    observer.observe(ev.RestartScheduled(reason="oom", attempt=2, delay_s=20))
    m = scrape(server.url)
    assert m[("swarmtui_node_up", n)] == 1
    states = {dict(k[1])["state"]: v for k, v in m.items() if k[0] == "swarmtui_node_state"}
    assert states == {s: (1.0 if s == ev.RUNNING else 0.0) for s in ev.STATES}
    assert m[("swarmtui_round", n)] == 7 and m[("swarmtui_round_timestamp_seconds", n)] == 1000.0
    assert m[("swarmtui_rounds_completed_total", n)] == 3
    assert m[("swarmtui_last_reward", n)] == 0.75               # the total, not a part
    assert m[("swarmtui_market_bets_total", n)] == 4 and m[("swarmtui_market_staked", n)] == 12.5
    assert m[("swarmtui_node_cpu_percent", n)] == 75.5          # ours only: the stranger's 99 % is not the node's
    assert m[("swarmtui_node_rss_bytes", n)] == 123
    assert m[("swarmtui_detections_total", (("id", "oom"), ("node", "node-a")))] == 2
    assert m[("swarmtui_restarts_total", (("node", "node-a"), ("reason", "oom")))] == 2
    assert m[("swarmtui_restarts_total", (("node", "node-a"), ("reason", "manual")))] == 1

    # The same round again keeps its timestamp; the next one moves it. Leaving running drops up.
    clock[0] = 2000.0
    observer.observe(ev.ProgressUpdate(round=7, rounds_completed=3))
    assert scrape(server.url)[("swarmtui_round_timestamp_seconds", n)] == 1000.0
    observer.observe(ev.ProgressUpdate(round=8, rounds_completed=4))
    observer.observe(ev.StateChanged(state=ev.NEEDS_USER, reason="crash-loop"))
    m = scrape(server.url)
    assert m[("swarmtui_round_timestamp_seconds", n)] == 2000.0 and m[("swarmtui_round", n)] == 8
    assert m[("swarmtui_node_up", n)] == 0
    assert m[("swarmtui_node_state", (("node", "node-a"), ("state", "needs-user")))] == 1
    assert m[("swarmtui_node_state", (("node", "node-a"), ("state", "running")))] == 0
    assert m[("swarmtui_last_reward", n)] == 0.75               # a round without rewards keeps the last one


def test_own_registry_serves_no_process_or_python_metrics(served):
    _, server, _ = served
    names = {name for name, _ in scrape(server.url)}
    assert names and all(name.startswith("swarmtui_") for name in names), names


def test_a_port_in_use_is_one_line_and_no_server(tmp_path):
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        notes: list[str] = []
        observers: list = []
        assert start_for_keeper(f"127.0.0.1:{port}", "n", observers, notes.append) is None
    assert notes == [f"metrics: cannot listen on 127.0.0.1:{port}: the port is in use; going on without metrics "
                     "(set [metrics] listen to a free port)"]
    assert observers == []                      # nothing folds events for a server that does not exist


def test_start_for_keeper_says_where_and_warns_off_loopback():
    notes: list[str] = []
    observers: list = []
    # Port 0 is refused by the config on purpose; the helper itself takes what parse_listen takes.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = start_for_keeper(f"127.0.0.1:{port}", "n", observers, notes.append)
    try:
        assert server is not None and notes == [f"metrics: serving http://127.0.0.1:{port}/metrics"]
        (observe,) = observers
        observe(ev.StateChanged(state=ev.RUNNING))
        assert scrape(server.url)[("swarmtui_node_up", (("node", "n"),))] == 1
    finally:
        if server is not None:
            server.close()
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        port = s.getsockname()[1]
    notes.clear()
    server = start_for_keeper(f"0.0.0.0:{port}", "n", [], notes.append)
    try:
        assert notes and "not loopback: anyone who can reach this address can read them" in notes[0]
    finally:
        if server is not None:
            server.close()


@pytest.mark.parametrize("value, message", [
    ('"127.0.0.1"', 'must be address:port, e.g. "127.0.0.1:9464", not \'127.0.0.1\''),
    ('":9464"', "give the address too"),
    ('"example.org:9464"', "not an IP address: 'example.org'"),
    ('"::1:9464"', 'put an IPv6 address in brackets, e.g. "[::1]:9464"'),
    ('"127.0.0.1:0"', "the port must be a number from 1 to 65535, not '0'"),
    ('"127.0.0.1:65536"', "the port must be a number from 1 to 65535, not '65536'"),
    ('"127.0.0.1:http"', "the port must be a number from 1 to 65535, not 'http'"),
    ("9464", 'must be "address:port" in quotes'),
    ("true", 'must be "address:port" in quotes'),
])
def test_bad_listen_values_are_one_line_naming_the_key(value, message):
    with pytest.raises(ConfigError) as err:
        parse_config(f"[metrics]\nlisten = {value}\n", "cfg.toml")
    text = str(err.value)
    assert text.startswith("cfg.toml: [metrics] listen: ") and message in text and "\n" not in text


def test_listen_defaults_off_and_takes_the_usual_spellings():
    assert parse_config("").metrics.listen == ""
    assert ("metrics", "listen", '""') == config_keys()[[r[:2] for r in config_keys()].index(("metrics", "listen"))][:3]
    for value in ("127.0.0.1:9464", "[::1]:9464", "0.0.0.0:9464", "localhost:9464", " 127.0.0.1:9 "):
        assert parse_config(f'[metrics]\nlisten = "{value}"\n').metrics.listen == value.strip()


def test_prometheus_client_is_imported_only_when_metrics_are_on():
    code = ("import sys, swarmtui.engine.metrics, swarmtui.commands.supervise, swarmtui.engine.keeper_server; "
            "print('prometheus_client' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "False", out.stderr
