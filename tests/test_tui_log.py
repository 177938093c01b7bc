"""The log pane on its own: follow, pause with "+N new lines", end, filter, search, colour,
bounded memory, and the rendered screen (not just the data) staying current under pruning."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from textual import events
from textual.app import App, ComposeResult

from swarmtui.engine.events import LogLine
from swarmtui.tui.panes.log import LogPane
from swarmtui.node.logparse import BarMarks, level_of
from swarmtui.node.text import LineSplitter, sanitize
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


from tests.screen_read import row_backgrounds, screen_text  # noqa: E402  (public API only)


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
        # a repeat in one source is not a copy: it is counted on its line (×2), not folded
        assert [(e.source, e.full or e.text, e.repeats) for e in view.entries] == [
            ("pty", hello, 0), ("pty", bar, 1), (launcher, debug, 0)]
        assert view.folded == 1 and view.repeats == 1 and view.total_received == 5
        assert screen_text(app).count("sly pensive lynx") == 1
        # a copy that carries a detection is folded too, and the shown line takes its mark
        crash = "[2025-11-26 14:21:00,000][genrl][ERROR] - Exception occurred during game run."
        pane.add_lines([LogLine("pty", 4, crash, level="ERROR")])
        await pilot.pause()

        def crash_row_background():
            return row_backgrounds(app, "Exception occurred")

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


# ---------------------------------------------------------------- the node's own output, as the engine gives it

FIX = Path(__file__).parent / "fixtures" / "node"


def engine_lines(name: str, source: str) -> list[LogLine]:
    """A fixture as the engine hands it on: a terminal capture split as the pty's stream is (on
    \\r and \\n, escapes removed), a log file by its lines (redraws saved in it split too); tqdm
    redraws marked as the supervisor marks them."""
    data = (FIX / name).read_bytes().decode("utf-8", "replace")
    marks = BarMarks()
    if source == "pty":
        splitter = LineSplitter()
        rows = [(text, i) for i, (text, _cut) in enumerate(splitter.feed(data) + splitter.flush(), 1)]
    else:
        rows = [(sanitize(piece), i) for i, row in enumerate(data.split("\n")[:-1], 1)
                for piece in (row.split("\r") if "\r" in row else [row]) if piece or "\r" not in row]
    return [LogLine(source, n, text, level=level_of(text), bar=marks.mark(source, text)) for text, n in rows]


@pytest.mark.parametrize("file_first", [False, True])
async def test_hivemind_console_and_swarm_log_formats_show_each_message_once(file_first):
    """v0.4.4 prints INFO:name:msg on the console and `<time> - INFO - name:lineno - msg` into
    logs/swarm.log (hivemind_exp/debug_utils.py): one line per message, whichever came first;
    the file's own DEBUG lines stay, its [PRINT] copies of the terminal's prints do not."""
    pty = engine_lines("hivemind_v044_console.txt", "pty")
    log = engine_lines("hivemind_v044_swarm.log", "logs/swarm.log")
    app = LogApp()
    async with app.run_test(size=(120, 30)) as pilot:
        pane = app.query_one(LogPane)
        for batch in ([log, pty] if file_first else [pty, log]):
            pane.add_lines(batch)
        await pilot.pause()
        shown = [e.full or e.text for e in pane.view.entries]
        for message in ("✅ Connected to Gensyn Testnet", "Joining round: 812", "Training round: 812 stage: 0",
                        "Model saved to runs/", "Finished training round: 812", "Skipped malformed stage1 output",
                        "Already finished round: 812"):
            assert sum(message in t for t in shown) == 1, (message, shown)
        assert sum("Model parameters ModelConfig" in t for t in shown) == 1     # DEBUG: only in the file
        assert sum("'reward': 0.6" in t for t in shown) == 2                  # two prints, once each
        # The training bar: one line, its last state, however many redraws came.
        bars = [e for e in pane.view.entries if e.bar is not None]
        assert len(bars) == 1 and "| 4/4 [" in bars[0].text
        assert sum(1 for ln in pty if ln.bar is not None) > 5
        assert not any(not t.strip() for t in shown)                            # tqdm.write's blanking


async def test_v06_bet_message_and_its_blank_line_are_shown_once():
    """v0.6.4's bet message ends in \\n, so Hydra prints an empty line after it, on the terminal
    and in logs/swarm_launcher.log; the PRG state is one message over three lines."""
    pty = engine_lines("rgym_v064_prg_console.txt", "pty")
    log = engine_lines("rgym_v064_prg_swarm_launcher.log", "logs/swarm_launcher.log")
    assert [ln.text for ln in pty].count("") == 1 and [ln.text for ln in log].count("") == 1
    app = LogApp()
    async with app.run_test(size=(120, 30)) as pilot:
        pane = app.query_one(LogPane)
        pane.add_lines(pty)
        pane.add_lines(log)
        await pilot.pause()
        shown = [e.full or e.text for e in pane.view.entries]
        i = next(i for i, t in enumerate(shown) if "placed bet of" in t)
        assert shown[i + 1] == "" and shown.count("") == 1, shown
        assert sum("last game claimed - 17," in t for t in shown) == 1
        assert sum("Could not fetch round and stage" in t for t in shown) == 1  # the file's DEBUG line stays


async def test_a_bar_updates_in_place_until_a_new_bar_starts():
    app = LogApp()
    step = "{:3d}%|{:<10}| {}/4 [00:0{}<00:0{}, 1.02s/it]"
    redraws = [LogLine("pty", i + 1, step.format(i * 25, "█" * (i * 2), i, i, 4 - i), bar="") for i in range(5)]
    async with app.run_test(size=(100, 20)) as pilot:
        pane = app.query_one(LogPane)
        pane.add_lines(redraws[:3])
        pane.add_lines([LogLine("pty", 9, "{'loss': 0.1, 'reward': 0.5}")])     # tqdm.write in between
        pane.add_lines(redraws[3:])
        await pilot.pause()
        view = pane.view
        assert [e.text for e in view.entries] == [redraws[4].text, "{'loss': 0.1, 'reward': 0.5}"]
        assert view.redraws == 4 and "| 4/4 [" in screen_text(app)
        # The next stage's bar starts at 0: a line of its own, and a Map bar is another bar.
        pane.add_lines([LogLine("pty", 20, redraws[0].text, bar=""),
                        LogLine("pty", 21, "Map:  50%|█████     | 1/2 [00:00<00:00, 9.1 examples/s]", bar="Map"),
                        LogLine("pty", 22, redraws[1].text, bar="")])
        await pilot.pause()
        assert [e.text for e in view.entries][2:] == [redraws[1].text,
                                                       "Map:  50%|█████     | 1/2 [00:00<00:00, 9.1 examples/s]"]


def test_log_lines_from_an_older_engine_and_a_newer_one_both_load():
    """LogLine.bar is a new optional field: old JSON has no such key, and a viewer must not fail
    on a key a newer engine adds."""
    from swarmtui.engine import events as ev

    old = {"event": "lines", "lines": [{"source": "pty", "line": 1, "text": "x", "level": None, "detection": None,
                                        "truncated": 0}], "partial": ""}
    assert ev.Event.from_dict(old).lines[0].bar is None
    new = dict(old, lines=[dict(old["lines"][0], bar="Map", colour="red")])
    assert ev.Event.from_dict(new).lines[0].bar == "Map"
    assert ev.Event.from_dict(json.loads(ev.LinesOut(lines=[LogLine("pty", 1, "y", bar="")]).to_json())).lines[0].bar == ""


def hydra_warning(i: int) -> LogLine:
    # the same warning each time, with its own time stamp (the header is shortened on screen)
    return LogLine(source="logs/swarm_launcher.log", line=i, level="WARNING",
                   text=f"[2025-11-26 14:{i // 60 % 60:02d}:{i % 60:02d},000][genrl][WARNING] - Failed to submit to chain")


async def test_a_flood_of_one_repeated_line_is_one_line_with_its_count():
    app = LogApp()
    async with app.run_test(size=(100, 20)) as pilot:
        pane = app.query_one(LogPane)
        view = pane.view
        pane.add_lines(lines(0, 3, source="logs/swarm_launcher.log", word="before"))
        for batch in range(4):                               # a flood across batches
            pane.add_lines([hydra_warning(batch * 60 + i) for i in range(60)])
            await pilot.pause()
        assert screen_text(app).count("Failed to submit to chain") == 1
        assert "×240" in screen_text(app)
        assert "before 000000" in screen_text(app)           # what came before is still there
        assert len(view.entries) == 4 and view.repeats == 239 and view.total_received == 243
        pane.add_lines([hydra_warning(240), hydra_warning(241)])
        await pilot.pause()
        assert "×242" in screen_text(app) and "×240" not in screen_text(app)   # the row is drawn anew
        # a different line ends the run; the same warning after it starts a new count
        pane.add_lines([LogLine("logs/swarm_launcher.log", 999, "Starting round: 12/1000000.")])
        pane.add_lines([hydra_warning(300), hydra_warning(301)])
        await pilot.pause()
        assert [e.repeats for e in view.entries[-3:]] == [241, 0, 1]
        rows = [row for row in screen_text(app).splitlines() if "Failed to submit" in row]
        assert len(rows) == 2 and "×242" in rows[0] and rows[1].rstrip(" │").endswith("×2")


async def test_only_the_same_message_from_the_same_source_right_after_is_collapsed():
    app = LogApp()
    async with app.run_test(size=(100, 20)) as pilot:
        pane = app.query_one(LogPane)
        view = pane.view
        warn = hydra_warning(1)
        other_level = LogLine(warn.source, 2, warn.text.replace("[WARNING]", "[ERROR]"), level="ERROR")
        alternating = [LogLine("pty", i, f"tick {i % 2}: the same two lines in turn") for i in range(6)]
        pane.add_lines([warn, other_level, *alternating])
        await pilot.pause()
        assert len(view.entries) == 8 and view.repeats == 0
        assert "×" not in screen_text(app)
        assert not view.check_action("show_repeats", ())          # enter offers nothing here


async def test_enter_on_a_collapsed_line_shows_each_repeat_with_its_time():
    from swarmtui.engine import events as ev
    from swarmtui.tui.panes.logview import REPEATS_KEPT
    from swarmtui.tui.screens.repeats import RepeatsScreen
    from tests.tui_engine import make_app

    flood = [hydra_warning(i) for i in range(REPEATS_KEPT + 50)]
    app, engine = make_app([ev.StateChanged(state=ev.RUNNING, uptime_s=5.0), ev.LinesOut(lines=flood, partial="")])
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.1)
        assert app.log_view.selected().repeats == REPEATS_KEPT + 49
        assert app.log_view.check_action("show_repeats", ())       # enter opens the newest line
        await pilot.press("enter")
        await pilot.pause(0.1)
        screen = app.screen
        assert isinstance(screen, RepeatsScreen)
        shown = screen.lines()
        assert shown[0] == flood[0].text and shown[-1] == flood[-1].text          # the full lines, times too
        assert len(shown) == REPEATS_KEPT + 1                                     # bounded
        assert "49 in between were counted, not kept" in str(screen.query_one("#repeats-note").render())
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, RepeatsScreen)


async def test_the_copies_kept_for_enter_stay_bounded_whatever_the_pattern():
    from swarmtui.tui.panes.logview import REPEAT_HOLDERS, REPEATS_KEPT

    app = LogApp(max_lines=5000)
    async with app.run_test(size=(100, 20)) as pilot:
        view = app.query_one(LogPane).view
        # one warning 300 times, then another line, over and over: many collapsed lines
        for block in range(REPEAT_HOLDERS + 20):
            view.append([hydra_warning(i) for i in range(300)] +
                        [LogLine("logs/swarm_launcher.log", block, f"Starting round: {block}/1000000.")])
        await pilot.pause()
        heads = [e for e in view.entries if e.repeats]
        assert len(heads) == REPEAT_HOLDERS + 20 and all(e.repeats == 299 for e in heads)   # every count stays
        kept = sum(len(e.copies or ()) for e in heads)
        assert kept == REPEAT_HOLDERS * REPEATS_KEPT                                       # the copies do not
        assert len(heads[-1].copies) == REPEATS_KEPT and not heads[0].copies


def test_the_log_views_one_split_fold_key_equals_logparse_fold_key():
    """LogView splits a line's header once and derives its fold key from that split
    (logview.fold_key_of); it must stay the key node.logparse.fold_key gives, for every format
    the node writes, or copies and repeats would stop being recognised."""
    from swarmtui.node.logparse import fold_key, split_header
    from swarmtui.tui.panes.logview import _CLOCK, _LEVEL_WORD, fold_key_of, key_and_short, shorten_header

    texts = ["", "Done.", "   trailing spaces   ", "[PRINT] not a header"]
    for name in sorted(FIX.glob("*.txt")) + sorted(FIX.glob("*.log")):
        texts += name.read_text(errors="replace").splitlines()
    texts += ["2025-06-01 10:00:00,123 - DEBUG - root:12 - [PRINT] {'reward': 0.5}  ",
              "INFO:hivemind_exp.trainer:Joining round: 4", "[2025-10-26 23:30:27,852][genrl][WARNING] - retry  ",
              "[2025-10-26 23:30:27,852][genrl][WARN] - [PRINT] aliased  ", "[2025-10-26 23:30:27,85][genrl][INFO] - x",
              "[swarm_launcher] 2025-10-26 23:30:27,852 INFO: training log"]
    assert len(texts) > 250
    for text in texts:
        text = sanitize(text)
        parts = split_header(text)
        assert fold_key_of(text, parts) == fold_key(text), text
        # shorten_header's slice of a Hydra time stamp: the clock the regex finds, for any stamp.
        level, _logger, stamp, message = parts
        clock = _CLOCK.search(stamp) if stamp else None
        shown = text if level is None and stamp is None else (
            ((clock.group(0) + " ") if clock else "") + _LEVEL_WORD.get(level or "", "") + message)
        assert shorten_header(text, parts) == shorten_header(text) == shown, text
        assert key_and_short(text) == (fold_key(text), shown), text     # the flood's one-call path


def test_a_batch_of_lines_goes_on_the_wire_as_asdict_would_put_it_and_comes_back_equal():
    """LinesOut.to_dict skips dataclasses.asdict's deep copy (the keeper encodes every batch for
    its viewers); what it gives must stay what asdict gives, key order included, and decode to
    the same lines (also for a line dict carrying a key a newer engine added)."""
    import dataclasses

    from swarmtui.engine import events as ev
    from swarmtui.engine import wire

    batch = ev.LinesOut(lines=[LogLine("pty", 1, "plain"), LogLine("logs/swarm.log", 2, "Map: 40%|███", level="INFO",
                                                                    detection="oom", truncated=12, bar="Map")],
                        partial="train: 3%", ts="2026-01-01T00:00:00.000Z")
    data = batch.to_dict()
    expected = {"event": "lines", **dataclasses.asdict(batch)}
    assert data == expected and list(data) == list(expected)
    assert [list(d) for d in data["lines"]] == [list(d) for d in expected["lines"]]
    back = ev.Event.from_dict(wire.decode(wire.encode("event", e=data))["e"])
    assert back == batch
    data["lines"][0]["colour"] = "red"          # a field of a newer engine: left out, not fatal
    assert ev.Event.from_dict(data).lines == batch.lines
