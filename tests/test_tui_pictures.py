"""The panel's pictures (issue 14): round trends in the progress pane, the host strip, the restart
timeline in the history pane, at the four sizes, read through public API only (screen_read)."""

from __future__ import annotations

import datetime as _dt
import sys

import pytest
from textual.widgets import Sparkline

from swarmtui.engine import events as ev
from swarmtui.engine.host_stats import HostSampler
from swarmtui.tui import frozen
from swarmtui.tui.charts import bars, restarts_per_hour, trend_label
from swarmtui.tui.panes.history import HistoryPane
from swarmtui.tui.panes.host import HostStrip
from swarmtui.tui.panes.progress import ProgressPane
from tests.screen_read import screen_lines, screen_text
from tests.tui_engine import make_app
from tests.tui_sim import SimPanel, until

NOW = frozen.NOW


def _ago(hours: float) -> str:
    return (NOW - _dt.timedelta(hours=hours)).isoformat().replace("+00:00", "Z")


HIVEMIND_ROUNDS = [{"round": 100 + i, "end": _ago(1), "duration_s": 300.0 + 30 * i, "reward": 0.1 * i,
                    "bets": None, "claims": None} for i in range(8)]


async def settle(pilot) -> None:
    await pilot.pause(0.1)
    await pilot.pause()


# ------------------------------------------------------------------ pure helpers


def test_bars_are_on_a_fixed_scale():
    assert bars([0, 12.5, 50, 100, 150, None], 0, 100) == "·▁▄██ "
    assert bars([1, 2, 3], 0, 3, width=5) == "  ▃▆█"
    assert bars([1, 2, 3], 0, 3, width=2) == "▆█"


def test_restarts_per_hour_counts_only_restarts_of_the_last_day():
    records = [{"time": _ago(0.2), "action": "restart"}, {"time": _ago(0.5), "action": "restart"},
               {"time": _ago(0.7), "action": "stop"},              # a stop you asked for: not a restart
               {"ts": _ago(5.5)},                                 # no action: a restart, as the status line counts
               {"time": _ago(30), "action": "restart"},           # older than a day
               {"time": "garbage", "action": "restart"}]
    counts = restarts_per_hour(records, NOW)
    assert len(counts) == 24 and sum(counts) == 3
    assert counts[-1] == 2 and counts[-6] == 1


def test_trend_label_names_last_min_and_max():
    assert trend_label([400.0, 390.0, 655.0, 402.0], lambda s: f"{s / 60:.1f}m") == "last 6.7m · 6.5m–10.9m"
    assert trend_label([]) == ""


# ------------------------------------------------------------------ the panel


async def test_trends_show_round_time_and_reward_with_their_labels_at_120x40():
    app, engine = make_app([ev.RoundTrends(rounds=HIVEMIND_ROUNDS)])
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        pane = app.query_one(ProgressPane)
        assert app.query_one("#trend-time-spark", Sparkline).data == [r["duration_s"] for r in HIVEMIND_ROUNDS]
        assert app.query_one("#trend-other-spark", Sparkline).data == pytest.approx([0.1 * i for i in range(8)])
        text = screen_text(app)
        assert "round time " in text and "last 8.5m · 5.0m–8.5m" in text
        assert "reward " in text and "last 0.7 · 0–0.7" in text
        assert pane.border_subtitle == "trends: last 8 rounds"
        # v0.6: no reward printed, bets instead
        engine.emit(ev.RoundTrends(rounds=[{"round": 1, "duration_s": 60.0, "bets": 2},
                                           {"round": 2, "duration_s": 90.0, "bets": 5}]))
        await settle(pilot)
        text = screen_text(app)
        assert "bets/round " in text and "last 5 · 2–5" in text and "reward " not in text


async def test_the_round_time_trend_is_readable_at_80x24_and_hidden_under_a_needs_you_box_at_60x20():
    app, engine = make_app([ev.RoundTrends(rounds=HIVEMIND_ROUNDS)])
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        line = next(x for x in screen_lines(app) if "round time" in x)
        assert "last 8.5m · 5.0m–8.5m" in line
        assert "reward" not in screen_text(app)          # the compact layout keeps one trend
        await pilot.resize_terminal(60, 20)
        await settle(pilot)
        assert "round time" in screen_text(app)
        engine.emit(ev.StateChanged(state=ev.NEEDS_USER, reason="budget", detail="5 restarts in 1h"))
        await settle(pilot)
        assert "round time" not in screen_text(app)


async def test_a_short_trend_draws_one_cell_per_round_newest_at_the_right():
    # Two rounds were stretched over the whole row ("▁▁▁…███"): a step, not two rounds.
    two = [{"round": 1, "duration_s": 60.0}, {"round": 2, "duration_s": 90.0}]
    app, engine = make_app([ev.RoundTrends(rounds=two)])
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        line = next(x for x in screen_lines(app) if "round time" in x)
        drawn = line.split("round time ", 1)[1].split(" last ", 1)[0]
        assert drawn.strip() == "▁█" and drawn.rstrip().endswith("▁█"), repr(drawn)
        # More rounds than cells: the newest that fit, one cell each.
        many = [{"round": i, "duration_s": 60.0 + (i % 2) * 30} for i in range(200)]
        engine.emit(ev.RoundTrends(rounds=many))
        await settle(pilot)
        line = next(x for x in screen_lines(app) if "round time" in x)
        drawn = line.split("round time ", 1)[1].split(" last ", 1)[0]
        assert set(drawn) == {"▁", "█"} and drawn.endswith("▁█") and "▁▁" not in drawn, repr(drawn)


async def test_the_host_strip_shows_this_machines_real_figures(tmp_path):
    sampler = HostSampler(tmp_path)
    sampler.sample()
    sample = sampler.sample()
    app, engine = make_app([ev.HostStats(**sample)])
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        strip = screen_lines(app)[-2]                     # above the footer
        assert strip.lstrip().startswith("CPU ")
        from swarmtui.tui.format import size
        assert f"RAM {size(sample['mem_used'])}/{size(sample['mem_total'])}" in strip
        assert f"disk {size(sample['disk_free'])} free" in strip
        assert "no GPU found" in strip                    # this machine has none
        # 60x20: no room for it; 80x24: one line
        await pilot.resize_terminal(60, 20)
        await settle(pilot)
        assert not app.query_one(HostStrip).display
        assert "RAM" not in screen_text(app)
        await pilot.resize_terminal(80, 24)
        await settle(pilot)
        assert app.query_one(HostStrip).display and "RAM" in screen_lines(app)[-2]


async def test_the_restart_timeline_in_the_history_pane():
    records = [{"time": _ago(h), "action": "restart", "reason": "oom-killed"} for h in (0.1, 0.3, 3.2)]
    records.append({"time": _ago(0.2), "action": "stop", "reason": "manual"})
    app, engine = make_app([ev.HistoryLoaded(records=records)])
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        line = next(x for x in screen_lines(app) if "-24h" in x)
        assert "now · 3, max 2/h" in line
        assert bars([0] * 20 + [1, 0, 0, 2], 0, 2) in line
        engine.emit(ev.HistoryAppended(record={"time": _ago(0), "action": "restart", "reason": "manual"}))
        await settle(pilot)
        assert "now · 4, max 3/h" in str(app.query_one(HistoryPane).timeline())


@pytest.mark.parametrize("size", [(60, 20), (80, 24), (120, 40), (200, 60)])
async def test_every_pane_fits_at_each_size(size):
    app = frozen.still_app()
    async with app.run_test(size=size) as pilot:
        await frozen.settle(pilot)
        lines = screen_lines(app)
        assert len(lines) == size[1]
        text = "\n".join(lines)
        assert "round time" in text and "Training progress" in text
        assert "tab Pane" in lines[-1] or "Pane" in lines[-1]          # the footer is there
        if size[1] >= 24:
            assert "GPU 18.2G" in lines[-2]
        if not app.compact:
            assert "-24h" in text and "Restart history" in text and "Processes" in text


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux process semantics")
@pytest.mark.timeout(90)
async def test_a_simulated_hivemind_node_draws_its_trends_and_host_figures(tmp_path):
    panel = SimPanel(tmp_path, era="hivemind")
    try:
        app = panel.app
        async with app.run_test(size=(120, 40)) as pilot:
            await until(pilot, lambda: len(app.query_one(ProgressPane).trends) >= 3, timeout=40,
                        what="three rounds in the trends")
            await until(pilot, lambda: app.query_one(HostStrip).stats is not None, what="host figures")
            await settle(pilot)
            text = screen_text(app)
            trends = app.query_one(ProgressPane).trends
            assert "round time" in text and "reward" in text, (trends, text)
            assert "CPU " in text and "disk " in text
    finally:
        panel.cleanup()
