"""The history and process tables are drawn with full-width columns the first time, even when
the screen is drawn before the table's idle-time measuring (which a busy machine delays)."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.containers import Horizontal

from swarmtui.tui.frozen import history_records, processes
from swarmtui.tui.panes.history import HistoryPane
from swarmtui.tui.panes.processes import ProcessPane


class TablesApp(App):
    def compose(self) -> ComposeResult:
        with Horizontal():
            yield HistoryPane()
            yield ProcessPane()


from tests.screen_read import screen_text  # noqa: E402  (public API only)


async def test_tables_drawn_before_their_idle_measuring_still_show_whole_cells():
    app = TablesApp()
    async with app.run_test(size=(160, 20)) as pilot:
        await pilot.pause()
        history, procs = app.query_one(HistoryPane), app.query_one(ProcessPane)
        for record in history_records():
            history.add(record)
        procs.set_procs(processes())
        # draw right now, before either table has had an idle moment
        app.export_screenshot()          # a full render of the screen, as a terminal would get
        for table in (history.table, procs.table):
            for y in range(table.row_count + 1):
                table.render_line(y)
        await pilot.pause()
        await pilot.pause(0.05)
        text = screen_text(app)
        assert "oom-killed" in text and "p2pd-startup-timeout" in text
        assert "trainer (python)" in text and "login-server (node)" in text
        assert "41130" in text            # a pid in full: not cut to the header's width
