"""/metrics of a real keeper (`python -m swarmtui supervise`) over a simulated node, scraped over
HTTP on 127.0.0.1 the way Prometheus does."""

from __future__ import annotations

import os
import signal
import socket
import sys
import time
import urllib.error
import urllib.request

import pytest

from swarmtui import __version__
from swarmtui.sim import create_checkout
from test_sim_support import free_port, kill_leftovers, ours
from test_supervise_cli import FAST, Reader, supervise

pytest.importorskip("prometheus_client")
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

pytestmark = [pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux process semantics"),
              pytest.mark.timeout(90)]

SCRAPE_INTERVAL = 5.0       # the shortest scrape interval anyone configures; Prometheus' default is 15 s


def scrape(port: int) -> dict[tuple[str, tuple], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for f in text_string_to_metric_families(text) for s in f.samples}


def scrape_until(port: int, pred, what: str, timeout: float = 30.0) -> dict:
    end = time.monotonic() + timeout
    m: dict = {}
    while time.monotonic() < end:
        try:
            m = scrape(port)
        except (urllib.error.URLError, ConnectionError):
            m = {}
        if m and pred(m):
            return m
        time.sleep(0.2)
    raise AssertionError(f"no {what} within {timeout}s in {sorted(m.items())}")


@pytest.fixture
def keeper_node(tmp_path):
    root = create_checkout(tmp_path / "node-7", "codezero", scenario="healthy", speed=1000.0, port=free_port(),
                           login="present")
    procs: list = []
    yield root, tmp_path, procs
    for p in procs:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    kill_leftovers(root)


def config(tmp_path, listen: str):
    cfg = tmp_path / "config.toml"
    cfg.write_text(FAST + f'[metrics]\nlisten = "{listen}"\n')
    return cfg


def test_a_keeper_serves_its_node_and_counts_a_manual_restart(keeper_node):
    root, tmp_path, procs = keeper_node
    port = free_port()
    p = supervise(str(root), "--config", str(config(tmp_path, f"127.0.0.1:{port}")), "--json")
    procs.append(p)
    r = Reader(p)
    r.wait(lambda e: e["event"] == "supervise" and e["text"] == f"metrics: serving http://127.0.0.1:{port}/metrics",
           what="the line saying where metrics are served")
    r.wait(lambda e: e["event"] == "state" and e["state"] == "running", what="running")
    n = (("node", "node-7"),)           # the checkout's folder name
    m = scrape_until(port, lambda m: m.get(("swarmtui_round", n), 0) > 0 and m.get(("swarmtui_node_rss_bytes", n), 0) > 0,
                     "a round and the node's memory")
    assert m[("swarmtui_node_up", n)] == 1
    assert m[("swarmtui_node_state", (("node", "node-7"), ("state", "running")))] == 1
    assert sum(v for k, v in m.items() if k[0] == "swarmtui_node_state") == 1      # exactly one state is current
    assert m[("swarmtui_keeper_info", (("node", "node-7"), ("version", __version__)))] == 1
    assert abs(m[("swarmtui_round_timestamp_seconds", n)] - time.time()) < 60
    manual = ("swarmtui_restarts_total", (("node", "node-7"), ("reason", "manual")))
    assert m.get(manual, 0) == 0

    p.send_signal(signal.SIGUSR1)       # supervise restarts the node, reason manual
    r.wait(lambda e: e["event"] == "restart" and e["reason"] == "manual", what="the manual restart")
    m = scrape_until(port, lambda m: m.get(manual, 0) >= 1, "the restart counted", timeout=SCRAPE_INTERVAL)
    assert m[manual] == 1

    p.send_signal(signal.SIGTERM)
    assert r.drain() == 0
    assert ours(root) == [] and b"Traceback" not in p.stderr.read()
    with pytest.raises((urllib.error.URLError, ConnectionError)):
        scrape(port)                    # the keeper took its port with it


def test_a_port_in_use_is_one_line_and_the_keeper_keeps_the_node(keeper_node):
    root, tmp_path, procs = keeper_node
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        p = supervise(str(root), "--config", str(config(tmp_path, f"127.0.0.1:{port}")), "--json")
        procs.append(p)
        r = Reader(p)
        r.wait(lambda e: e["event"] == "state" and e["state"] == "running", what="running without metrics")
    notes = [e["text"] for e in r.events if e["event"] == "supervise" and e["text"].startswith("metrics:")]
    assert notes == [f"metrics: cannot listen on 127.0.0.1:{port}: the port is in use; going on without metrics "
                     "(set [metrics] listen to a free port)"]
    assert ours(root)
    p.send_signal(signal.SIGTERM)
    assert r.drain() == 0 and b"Traceback" not in p.stderr.read()


def test_a_bad_listen_value_stops_the_keeper_before_the_node_starts(keeper_node):
    root, tmp_path, procs = keeper_node
    p = supervise(str(root), "--config", str(config(tmp_path, "example.org:9464")))
    procs.append(p)
    out, err = p.communicate(timeout=30)
    assert p.returncode == 2 and out == b""
    assert err.decode().count("\n") == 1 and "[metrics] listen: not an IP address: 'example.org'" in err.decode()
    assert ours(root) == []
