"""The fleet overview's table at the sizes people use: it fits the terminal (no column cut at the
edge), gives way in a known order (long texts first, then the least needed columns), shows the
long texts in full where there is room, and plans its columns again on a resize. SVG snapshots
at 80x24 and 120x40 with fixed rows: no keeper, no clock (the app's clock is a parameter), the
rows filled through the same RowReducer a watcher uses.

Update the SVGs after an intended change with
`pytest tests/test_fleet_snapshots.py --snapshot-update` and look at them before committing."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Static

from swarmtui.engine import events as ev
from swarmtui.engine.fleet_file import Fleet, FleetNode
from swarmtui.engine.fleet_watch import UNREACHABLE, RowReducer
from swarmtui.tui.fleet_app import COLUMNS, DROP, FleetApp, plan_columns

NOW = 1_790_000_000.0
LONG_REASON = ("oom-killed", "the trainer was killed for memory three times within the hour: lower the batch size "
               "in the config or use a larger GPU, then press s")


def _procs(age: float) -> ev.ProcessSnapshot:
    return ev.ProcessSnapshot(procs=[
        ev.ProcInfo(10, 1, "bash", "bash run_rl_swarm.sh", "launcher", cpu_percent=1.0, rss=12 << 20, age_s=age),
        ev.ProcInfo(11, 10, "python", "python -m rgym_exp.runner", "trainer", cpu_percent=187.0, rss=9 << 30)])


def frozen_fleet_app(**kw) -> FleetApp:
    """Four nodes, one of each kind a person meets: running, needs-user with a long reason, a
    remote one that cannot be reached, a stopped one."""
    fleet = Fleet(Path("/home/operator/.config/swarmtui/fleet.toml"), (
        FleetNode("gpu0", "~/rl-swarm-0", env={"CUDA_VISIBLE_DEVICES": "0"}, login_port=3000),
        FleetNode("gpu1", "~/rl-swarm-1", env={"CUDA_VISIBLE_DEVICES": "1"}, login_port=3001),
        FleetNode("box2-gpu0", "~/rl-swarm", host="ubuntu@203.0.113.7"),
        FleetNode("gpu2", "~/rl-swarm-2", env={"CUDA_VISIBLE_DEVICES": "2"}, login_port=3002),
    ))
    app = FleetApp(fleet, watch=False, clock=lambda: NOW, **kw)
    host = ev.HostStats(gpus=[{"index": i, "mem_used": (20 + i) << 30} for i in range(4)])
    # Long past on any machine's clock: "restarts 24h" reads the real clock.
    history = [{"ts": "2020-01-01T10:00:00Z", "action": "restart", "reason": "oom-killed"}]
    streams = {
        "gpu0": [ev.StateChanged(state=ev.RUNNING, detail="run 3"), _procs(7425.0),
                 ev.ProgressUpdate(round=1208, rounds_completed=14, since_progress_s=95.0),
                 ev.IdentityChanged(report={"animal_name": "flightless gregarious snake"}), host,
                 ev.HistoryLoaded(records=history)],
        "gpu1": [ev.StateChanged(state=ev.NEEDS_USER, reason=LONG_REASON[0], detail=LONG_REASON[1]),
                 ev.ProgressUpdate(round=1190, rounds_completed=3, since_progress_s=2000.0),
                 ev.IdentityChanged(report={"animal_name": "placid wily hedgehog"}), host,
                 ev.HistoryLoaded(records=history * 3)],
        "gpu2": [ev.StateChanged(state=ev.STOPPED, reason="manual", detail="stopped as asked"),
                 ev.IdentityChanged(report={"animal_name": "tame shaggy owl"}), ev.HistoryLoaded(records=[])],
    }
    for node in fleet.nodes:
        row = app.rows[node.name]
        reducer = RowReducer(row, gpus=[int(node.env["CUDA_VISIBLE_DEVICES"])] if node.env else None, wall=lambda: NOW)
        for e in streams.get(node.name, ()):
            reducer.apply(e)
    remote = app.rows["box2-gpu0"]
    # What NodeWatcher sets when ssh fails (its own _set is private).
    remote.state, remote.reason = UNREACHABLE, "ssh: connect to host 203.0.113.7 port 22: Connection timed out"
    return app


def _shown(app: FleetApp) -> tuple[list[str], int, dict[str, list[str]]]:
    table = app.table
    columns = [str(c.label) for c in table.ordered_columns]
    width = sum(c.get_render_width(table) for c in table.ordered_columns)
    rows = {str(table.get_row_at(i)[1]): [str(c) for c in table.get_row_at(i)] for i in range(table.row_count)}
    return columns, width, rows


@pytest.mark.parametrize("size", [(80, 24), (120, 40), (200, 60)], ids=["80", "120", "200"])
async def test_the_table_fits_the_terminal(size):
    app = frozen_fleet_app()
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        await pilot.pause()
        columns, width, rows = _shown(app)
        assert width <= size[0], (columns, width)
        # What the overview is for stays at every width.
        assert {"NODE", "STATE", "WHY", "ROUND", "R24H", "CPU", "RSS", "GPU"} <= set(columns), columns
        why = rows["gpu1"][columns.index("WHY")]
        assert why.startswith("oom-killed") and rows["gpu0"][columns.index("WHY")] == ""
        assert rows["gpu0"][columns.index("GPU")] == "20.0G"
        if size[0] >= 200:
            # Room to spare: the names and hosts in full, and more of the reason than at 120.
            assert rows["gpu0"][columns.index("ANIMAL")] == "flightless gregarious snake"
            assert rows["box2-gpu0"][columns.index("HOST")] == "ubuntu@203.0.113.7"
            assert len(why) > 60
        if why != "oom-killed: " + LONG_REASON[1]:
            # Cut in the table (the selected row): in full under it.
            assert why.endswith("…")
            full = app.query_one("#fleet-why", Static)
            assert full.display and str(full.content) == "gpu1: oom-killed: " + LONG_REASON[1]
            app.table.move_cursor(row=app.order.index("gpu0"))
            await pilot.pause()
            assert not full.display


async def test_a_resize_plans_the_columns_again():
    app = frozen_fleet_app()
    async with app.run_test(size=(200, 30)) as pilot:
        await pilot.pause()
        wide, _, _ = _shown(app)
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        await pilot.pause()
        narrow, width, _ = _shown(app)
        assert width <= 80 and len(narrow) < len(wide), (wide, narrow)
        await pilot.resize_terminal(200, 30)
        await pilot.pause()
        await pilot.pause()
        assert _shown(app)[0] == wide


def test_the_plan_gives_way_in_order():
    natural = {c: max(len(c), 8) for c in COLUMNS} | {"": 1, "WHY": 90, "ANIMAL": 27, "HOST": 18}
    everything = sum(w + 2 for w in natural.values())
    assert plan_columns(natural, everything, 2) == tuple(natural.items())
    one_less = dict(plan_columns(natural, everything - 1, 2))
    assert one_less["ANIMAL"] == 27 and one_less["WHY"] == 89       # a long reason gives way first
    less = dict(plan_columns(natural, everything - 31, 2))
    assert less["WHY"] == 60 and less["ANIMAL"] == 26                 # then the animal
    squeezed = dict(plan_columns(natural, everything - 60, 2))
    # WHY to 60 (30 cells), the animal to its floor (15), LAST is within its floor, the host to
    # 12 (6), WHY again (9).
    assert (squeezed["ANIMAL"], squeezed["LAST"], squeezed["HOST"], squeezed["WHY"]) == (12, 8, 12, 51)
    tight = plan_columns(natural, 90, 2)
    assert sum(w + 2 for _, w in tight) == 90 and dict(tight)["WHY"] <= 16
    gone = [c for c in COLUMNS if c not in dict(tight)]
    assert gone and gone == [c for c in COLUMNS if c in DROP[:len(gone)]], gone


def test_overview_80x24(snap_compare):
    assert snap_compare(frozen_fleet_app(), terminal_size=(80, 24))


def test_overview_120x40(snap_compare):
    assert snap_compare(frozen_fleet_app(), terminal_size=(120, 40))


async def test_cells_that_change_show_in_full_and_only_they_are_redrawn():
    app = frozen_fleet_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        table, row = app.table, app.rows["gpu0"]
        calls: list[str] = []
        # Spies on the table's own methods: which cells the once-a-second redraw touches.
        update_cell, clear = table.update_cell, table.clear
        table.update_cell = lambda key, col, *a, **k: (calls.append(col), update_cell(key, col, *a, **k))[1]
        table.clear = lambda *a, **k: (calls.append("refill"), clear(*a, **k))[1]
        for cpu in (5.0, 187.0, 1234.0, 3.0, 99.0):
            calls.clear()
            row.cpu_percent = cpu
            app.redraw()
            await pilot.pause()
            columns = [str(c.label) for c in table.ordered_columns]
            shown = table.get_row("gpu0")
            widths = {str(c.label): c.width for c in table.ordered_columns}
            assert str(shown[columns.index("CPU")]) == f"{cpu:.0f}%"
            assert all(cell.cell_len <= widths[col] for col, cell in zip(columns, shown)), (shown, widths)
            # A wider CPU re-plans the columns (a refill); a narrower one keeps them: one cell.
            assert calls == (["refill"] if cpu == 1234.0 else ["CPU"]), (cpu, calls)
