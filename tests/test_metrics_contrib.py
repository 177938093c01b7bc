"""contrib/: the Grafana dashboard and the Prometheus alert rules ask only for metrics a keeper
serves, parse as PromQL (promtool), and the alerts fire when they should (promtool test rules)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import urllib.request
from pathlib import Path

import pytest

from swarmtui.engine.metrics import MetricsObserver, serve

pytest.importorskip("prometheus_client")
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DASHBOARD = ROOT / "contrib" / "grafana" / "swarmtui.json"
ALERTS = ROOT / "contrib" / "prometheus" / "alerts.yml"
ALERT_TESTS = ROOT / "tests" / "fixtures" / "prometheus" / "alerts_test.yml"
BUILTIN = {"up"}                # Prometheus' own per-target series
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="promtool is not installed (Debian: apt-get install "
                                    "prometheus; .ci/run installs it)")

_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool", "offset"}


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL (or Grafana label_values) expression reads."""
    e = re.sub(r'"(?:\\.|[^"\\])*"', '""', expr)                          # label values may hold anything
    e = re.sub(r"label_values\(\s*([A-Za-z_:][\w:]*)\s*,[^)]*\)", r" \1 ", e)
    e = re.sub(r"\{[^}]*\}|\[[^\]]*\]", " ", e)                            # matchers, ranges
    e = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", e)  # label lists
    e = re.sub(r"\$\{?\w+\}?", " ", e)                                     # Grafana variables
    names = set()
    for m in re.finditer(r"(?<![\w.])([A-Za-z_:][\w:]*)(\s*\()?", e):
        if not m.group(2) and m.group(1) not in _KEYWORDS:                 # a call is a function
            names.add(m.group(1))
    return names


def test_metric_names_finds_metrics_and_nothing_else():
    assert metric_names('sum by (node, reason) (increase(swarmtui_restarts_total{reason!="a b",x=~"$node"}'
                        '[$__rate_interval])) >= 3 unless on(node) up{job="swarmtui"} == 0') == \
        {"swarmtui_restarts_total", "up"}
    assert metric_names("time() - swarmtui_round_timestamp_seconds > 3600 and on(node) swarmtui_node_up == 1") == \
        {"swarmtui_round_timestamp_seconds", "swarmtui_node_up"}
    assert metric_names("label_values(swarmtui_keeper_info, node)") == {"swarmtui_keeper_info"}
    assert metric_names("max by (node) (swarmtui_rounds_completed offset 1h)") == {"swarmtui_rounds_completed"}


@pytest.fixture(scope="module")
def exposed() -> set[str]:
    """Every name a keeper's endpoint declares, read from a real scrape (a family is declared even
    before it has a sample, so a quiet node still names them all)."""
    server = serve(MetricsObserver("n"), "127.0.0.1", 0)
    try:
        with urllib.request.urlopen(server.url, timeout=5) as resp:
            text = resp.read().decode()
    finally:
        server.close()
    names = set()
    for f in text_string_to_metric_families(text):
        names.add(f.name + "_total" if f.type == "counter" else f.name)
        names.update(s.name for s in f.samples)
    return names


def dashboard_exprs() -> list[str]:
    dash = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
    exprs += [v["query"] for v in dash["templating"]["list"] if v.get("type") == "query"]
    return exprs


def alert_exprs() -> list[str]:
    text = ALERTS.read_text()
    exprs = re.findall(r"^\s+expr:\s*(.+?)\s*$", text, re.M)
    # A folded (`expr: |`) expression would escape the name check: keep each on one line.
    assert len(exprs) == len(re.findall(r"^\s+- alert:", text, re.M)) and not any(e in "|>" for e in exprs)
    return exprs


def test_the_dashboard_covers_the_fleet_and_asks_only_for_served_metrics(exposed):
    dash = json.loads(DASHBOARD.read_text())
    titles = [p["title"] for p in dash["panels"]]
    for wanted in ("Fleet", "States over time", "Restarts by reason", "Round progress"):
        assert wanted in titles
    assert any("CPU" in t for t in titles) and any("Memory" in t for t in titles)
    assert all(p["targets"] and all(t["expr"].strip() for t in p["targets"]) for p in dash["panels"])
    used = set().union(*map(metric_names, dashboard_exprs()))
    assert used - exposed - BUILTIN == set()
    # Everything a keeper serves is shown somewhere (a new metric belongs on the dashboard).
    assert exposed - used - {n for n in exposed if not n.startswith("swarmtui_")} == set()


def test_the_alert_rules_ask_only_for_served_metrics(exposed):
    exprs = alert_exprs()
    assert len(exprs) >= 4
    used = set().union(*map(metric_names, exprs))
    assert used - exposed - BUILTIN == set()
    assert {"swarmtui_node_state", "swarmtui_round_timestamp_seconds", "swarmtui_restarts_total"} <= used


@needs_promtool
def test_promtool_accepts_the_rules_and_they_fire_when_they_should():
    out = subprocess.run([PROMTOOL, "check", "rules", str(ALERTS)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "SUCCESS: 5 rules found" in out.stdout, out.stdout + out.stderr
    out = subprocess.run([PROMTOOL, "test", "rules", str(ALERT_TESTS)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "SUCCESS" in out.stdout, out.stdout + out.stderr


@needs_promtool
def test_promtool_parses_every_dashboard_query(tmp_path):
    # promtool has no bare query checker, so each query becomes a recording rule; Grafana's
    # variables get the values Grafana would give them.
    exprs = [e.replace("$__rate_interval", "5m").replace("$node", ".*")
             for e in dashboard_exprs() if not e.startswith("label_values(")]
    rules = tmp_path / "dashboard_rules.yml"
    rules.write_text(json.dumps({"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:query{i}", "expr": e} for i, e in enumerate(exprs)]}]}))
    out = subprocess.run([PROMTOOL, "check", "rules", str(rules)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
