"""The log pane on its own: follow, pause with "+N new lines", end, filter, search, colour,
bounded memory, and the rendered screen (not just the data) staying current under pruning."""

from __future__ import annotations

from textual import events
from textual.app import App, ComposeResult

from swarmtui.engine.events import LogLine
from swarmtui.tui.panes.log import LogPane
from swarmtui.tui.panes.logview import LogView, screen_safe


class LogApp(App):
    def __init__(self, max_lines: int = 5000):
        super().__init__()
        self.max_lines = max_lines

    def compose(self) -> ComposeResult:
        yield LogPane(self.max_lines, id="log-pane")

    def on_mount(self) -> None:
        self.query_one(LogView).focus()


def lines(start: int, n: int, source: str = "pty", level: str | None = None, word: str = "line") -> list[LogLine]:
    return [LogLine(source=source, line=i, text=f"{word} {i:06d}", level=level) for i in range(start, start + n)]


def screen_text(app: App) -> str:
    return "\n".join(s.text for s in app.screen._compositor.render_strips())


async def test_follows_the_tail_and_the_screen_shows_the_newest_line():
    app = LogApp()
    async with app.run_test(size=(80, 20)) as pilot:
        pane = app.query_one(LogPane)
        pane.add_lines(lines(0, 200))
        await pilot.pause()
        text = screen_text(app)
        assert "line 000199" in text and "line 000100" not in text
        assert pane.view.following and pane.border_subtitle == "following"


async def test_pruning_never_leaves_a_stale_screen_and_memory_stays_bounded():
    app = LogApp(max_lines=500)
    async with app.run_test(size=(80, 20)) as pilot:
        pane = app.query_one(LogPane)
        for batch in range(40):
            pane.add_lines(lines(batch * 500, 500))
            await pilot.pause()
        view = pane.view
        assert len(view.entries) == 500
        assert view.entries[0].text == "line 019500" and view.total_received == 20000
        assert "line 019999" in screen_text(app)       # the 8.2.8 Log bug showed an old page here


async def test_moving_up_pauses_counts_new_lines_and_end_resumes():
    app = LogApp()
    async with app.run_test(size=(80, 20)) as pilot:
        pane = app.query_one(LogPane)
        view = pane.view
        pane.add_lines(lines(0, 100))
        await pilot.pause()
        await pilot.press("up", "up", "up")
        assert not view.following
        assert view.selected().text == "line 000096"
        before = screen_text(app)
        pane.add_lines(lines(100, 37))
        await pilot.pause()
        assert pane.border_subtitle == "paused · +37 new lines · end: follow"
        cut = lambda t: [row[:60] for row in t.splitlines()]     # leave out the moving scrollbar
        assert cut(screen_text(app)) == cut(before)                # the reader keeps their place
        await pilot.press("end")
        await pilot.pause()
        assert view.following and view.new_while_paused == 0
        assert "line 000136" in screen_text(app)
        assert pane.border_subtitle == "following"


async def test_pruning_while_paused_keeps_the_readers_line_on_screen():
    app = LogApp(max_lines=100)
    async with app.run_test(size=(80, 20)) as pilot:
        pane = app.query_one(LogPane)
        view = pane.view
        pane.add_lines(lines(0, 100))
        await pilot.pause()
        for _ in range(5):
            await pilot.press("up")
        reading = view.selected().text
        assert reading == "line 000094"
        pane.add_lines(lines(100, 40))            # 40 oldest lines fall off the top
        await pilot.pause()
        assert view.selected().text == reading
        assert reading in screen_text(app)
        pane.add_lines(lines(140, 100))           # the line itself falls off: cursor clamps to the top
        await pilot.pause()
        assert view.cursor == 0 and len(view.entries) == 100


async def test_wheel_up_pauses_and_scrolling_back_to_the_end_resumes():
    app = LogApp()
    async with app.run_test(size=(80, 20)) as pilot:
        pane = app.query_one(LogPane)
        view = pane.view
        pane.add_lines(lines(0, 300))
        await pilot.pause()
        for _ in range(2):
            view.post_message(events.MouseScrollUp(view, 1, 1, 0, -1, 0, False, False, False))
            await pilot.pause()
        assert not view.following
        pane.add_lines(lines(300, 5))
        await pilot.pause()
        assert view.new_while_paused == 5
        while view.scroll_y < view.max_scroll_y:
            view.post_message(events.MouseScrollDown(view, 1, 1, 0, 1, 0, False, False, False))
            await pilot.pause()
        assert view.following


async def test_filter_hides_lines_and_lets_new_matches_through():
    app = LogApp()
    async with app.run_test(size=(80, 20)) as pilot:
        pane = app.query_one(LogPane)
        view = pane.view
        pane.add_lines(lines(0, 50, word="alpha") + lines(50, 50, word="beta"))
        view.set_filter("BETA")                   # case-insensitive
        await pilot.pause()
        assert len(view.view) == 50 and all("beta" in e.text for e in view.view)
        assert "alpha" not in screen_text(app)
        pane.add_lines(lines(100, 3, word="alpha") + lines(103, 2, word="beta"))
        await pilot.pause()
        assert len(view.view) == 52
        assert "beta 000104" in screen_text(app)
        view.set_filter("")
        await pilot.pause()
        assert len(view.view) == 105


async def test_filter_matches_the_source_tag():
    app = LogApp()
    async with app.run_test(size=(80, 20)) as pilot:
        pane = app.query_one(LogPane)
        pane.add_lines(lines(0, 5, source="logs/yarn.log") + lines(5, 5, source="pty"))
        pane.view.set_filter("yarn")
        await pilot.pause()
        assert [e.line for e in pane.view.view] == [0, 1, 2, 3, 4]


async def test_search_jumps_to_matches_and_highlights_them():
    app = LogApp()
    async with app.run_test(size=(80, 20)) as pilot:
        pane = app.query_one(LogPane)
        view = pane.view
        pane.add_lines(lines(0, 100))
        assert view.set_search("line 00004")       # line 000040..000049: newest is 49
        await pilot.pause()
        assert view.selected().text == "line 000049"
        view.action_search_prev()
        assert view.selected().text == "line 000048"
        for _ in range(9):
            view.action_search_next()
        assert view.selected().text == "line 000047"   # wrapped round: 49 -> 40 -> ... -> 47
        strip = view._build_strip(view.selected(), False, view.rich_style)
        match_style = view._style("match")
        hits = [seg.text for seg in strip if seg.style and match_style.bgcolor and seg.style.bgcolor == match_style.bgcolor]
        assert hits == ["line 00004"]
        assert not view.set_search("nothing like this")


async def test_levels_and_detections_get_their_own_colours():
    app = LogApp()
    async with app.run_test(size=(80, 20)) as pilot:
        pane = app.query_one(LogPane)
        view = pane.view
        pane.add_lines([
            LogLine("pty", 1, "plain"),
            LogLine("logs/swarm_launcher.log", 2, "boom", level="ERROR"),
            LogLine("pty", 3, "./run_rl_swarm.sh: line 9: 12 Killed python", detection="oom-killed"),
        ])
        await pilot.pause()
        plain, error, detected = (view._build_strip(e, False, view.rich_style) for e in view.entries)
        text_style = lambda strip: list(strip)[-1].style
        assert text_style(error).color != text_style(plain).color
        assert text_style(detected).bgcolor != text_style(plain).bgcolor
        assert view.entries[1].tag.strip() == "launcher"


async def test_escapes_and_controls_never_reach_the_screen():
    assert screen_safe("ansi \x1b[31mRED\x1b[0m end") == "ansi RED end"
    assert screen_safe("title\x1b]0;x\x07 bell\x07") == "title bell"
    assert screen_safe("plain ünïcode ✓") == "plain ünïcode ✓"
    app = LogApp()
    async with app.run_test(size=(80, 20)) as pilot:
        pane = app.query_one(LogPane)
        pane.add_lines([LogLine("pty", 1, "ansi \x1b[31mRED\x1b[0m end", truncated=500)])
        await pilot.pause()
        text = screen_text(app)
        assert "ansi RED end …(+500 chars cut)" in text
        assert "\x1b" not in text


async def test_partial_line_shows_below_the_log_and_clears():
    app = LogApp()
    async with app.run_test(size=(80, 20)) as pilot:
        pane = app.query_one(LogPane)
        pane.add_lines([], partial="train: 42%|████▏     | 42/100")
        await pilot.pause()
        assert "42/100" in screen_text(app)
        pane.add_lines(lines(0, 1), partial="")
        await pilot.pause()
        assert "42/100" not in screen_text(app)


async def test_known_headers_are_shortened_on_screen_and_copied_in_full():
    """At 80 columns a Hydra header alone fills the pane: the message must be what shows."""
    app = LogApp()
    hydra = "[2026-11-26 12:38:01,364][genrl.logging_utils.global_defs][INFO] - Starting round: 1200/1000000."
    hm = "Apr 04 07:38:41.041 [ERROR] [hivemind.dht.dht._run:131] [Errno 11] Resource temporarily unavailable"
    script = ">> Good luck in the swarm!"
    async with app.run_test(size=(80, 20)) as pilot:
        pane = app.query_one(LogPane)
        pane.add_lines([LogLine("pty", 1, hydra, level="INFO"), LogLine("pty", 2, hm, level="ERROR"),
                        LogLine("pty", 3, script)])
        await pilot.pause()
        shown = screen_text(app)
        assert "12:38:01 Starting round: 1200/1000000." in shown
        assert "07:38:41 ERROR [Errno 11] Resource temporarily unavailable" in shown
        assert script in shown and "global_defs" not in shown
        entries = pane.view.entries
        assert [e.plain for e in entries] == [f"[term] {hydra}", f"[term] {hm}", f"[term] {script}"]
        pane.view.set_filter("global_defs")            # search and filter see what is shown
        assert pane.view.view == []


async def test_a_log_file_copy_of_a_terminal_line_is_shown_once():
    """rl-swarm's Hydra logging writes each console line to the terminal and to
    logs/swarm_launcher.log: the merged view shows it once; the file's own lines stay."""
    app = LogApp()
    launcher = "logs/swarm_launcher.log"
    hello = "[2025-11-26 14:20:02,114][genrl][INFO] - Hello [sly pensive lynx] [QmYyQSo1c]!"
    debug = "[2025-11-26 14:20:02,200][httpx][DEBUG] - HTTP Request: POST https://example/ 200"
    bar = "Map: 100%|██████████| 2/2 [00:00<00:00, 198.41 examples/s]"
    async with app.run_test(size=(100, 20)) as pilot:
        pane = app.query_one(LogPane)
        view = pane.view
        pane.add_lines([LogLine("pty", 1, hello, level="INFO"), LogLine("pty", 2, bar), LogLine("pty", 3, bar)])
        pane.add_lines([LogLine(launcher, 1, hello, level="INFO"), LogLine(launcher, 2, debug, level="DEBUG")])
        await pilot.pause()
        assert [(e.source, e.full or e.text) for e in view.entries] == [
            ("pty", hello), ("pty", bar), ("pty", bar), (launcher, debug)]   # repeats in one source stay
        assert view.folded == 1 and view.total_received == 5
        assert screen_text(app).count("sly pensive lynx") == 1
        # a copy that carries a detection is folded too, and the shown line takes its mark
        crash = "[2025-11-26 14:21:00,000][genrl][ERROR] - Exception occurred during game run."
        pane.add_lines([LogLine("pty", 4, crash, level="ERROR")])
        await pilot.pause()

        def crash_row_background():
            rows = [s for s in app.screen._compositor.render_strips() if "Exception occurred" in s.text]
            return {seg.style.bgcolor for seg in rows[0] if seg.text.strip() and seg.style}

        unmarked = crash_row_background()
        pane.add_lines([LogLine(launcher, 3, crash, level="ERROR", detection="game-run-exception")])
        await pilot.pause()
        assert [(e.source, e.detection) for e in view.entries if e.full == crash] == [("pty", "game-run-exception")]
        assert view.folded == 2
        assert crash_row_background() != unmarked      # the mark shows on the line already there


async def test_the_tail_is_shown_at_once_even_before_the_scrollbars_are_laid_out():
    """Lines that arrive before a layout has shown the scrollbars (the panel's first drain on a
    busy machine): the view is at the tail right away, not after some later refresh that a busy
    loop may never order correctly, and stays there when a long line brings the horizontal bar."""
    app = LogApp()
    async with app.run_test(size=(80, 20)) as pilot:
        await pilot.pause()
        view = app.query_one(LogView)
        pane = app.query_one(LogPane)
        assert not view.show_vertical_scrollbar
        pane.add_lines(lines(0, 60))
        assert view.scroll_y == view.max_scroll_y > 0          # synchronously, no pause between
        await pilot.pause()
        assert view.show_vertical_scrollbar and not view.show_horizontal_scrollbar
        assert view.vertical_scrollbar.position == view.scroll_y       # its thumb at the end too
        tail = view.max_scroll_y
        pane.add_lines([LogLine(source="pty", line=60, text="wide " + "x" * 200)])
        await pilot.pause()
        await pilot.pause()
        assert view.show_horizontal_scrollbar                  # it took a row from the view
        assert view.following and view.scroll_y == view.max_scroll_y == tail + 2
        assert view.vertical_scrollbar.position == view.scroll_y
        assert "wide xxx" in screen_text(app)


async def test_the_cursor_never_hides_under_the_horizontal_scrollbar():
    """With a line wider than the pane, the bottom row of the view is the scrollbar's: moving the
    cursor down or paging must scroll so the selected line stays on screen."""
    app = LogApp()
    async with app.run_test(size=(80, 20)) as pilot:
        pane = app.query_one(LogPane)
        view = pane.view
        pane.add_lines(lines(0, 50) + [LogLine(source="pty", line=50, text="wide " + "x" * 300)] + lines(51, 49))
        await pilot.pause()
        assert view.show_horizontal_scrollbar
        visible = view.scrollable_content_region.height
        assert visible == view.size.height - 1
        await pilot.press("home")
        for key in ["down"] * (visible + 3) + ["pagedown", "pagedown", "pageup", "down"]:
            await pilot.press(key)
            await pilot.pause()
            top = int(view.scroll_y)
            assert top <= view.cursor < top + visible, (key, view.cursor, top, visible)
            assert view.selected().text in screen_text(app), key
