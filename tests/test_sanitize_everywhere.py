"""Nothing a terminal acts on gets from a node, a file or a field to the operator's terminal.

One escape corpus (tests/escape_corpus.py: C0, C1 as UTF-8, OSC 52 / 0 / 8, DCS, APC, PM, SOS,
CSI 2J and a cursor move, 8-bit CSI/OSC/DCS, bidi overrides, NUL, invalid UTF-8, and an
unterminated OSC before a fatal line) goes through every way text reaches a terminal: node
output lines and `supervise --lines`, `swarmtui identity` with a hostile userData.json,
`swarmtui history` with a hostile record, `swarmtui diagnose` on a hostile log, the panel's
widgets, and the bytes the real panel writes to its terminal (captured with script(1) in tmux).
"""

from __future__ import annotations

import codecs
import io
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from escape_corpus import (BIDI_CHARS, CORPUS, FATAL, SHOWN, UNTERMINATED_THEN_FATAL, dangers,
                           payload_in_terminal_bytes)
from node_checkouts import make_checkout, write_login
from swarmtui.commands.supervise import Printer
from swarmtui.engine import events as ev
from swarmtui.engine.history import HistoryStore
from swarmtui.node.signatures import Matcher
from swarmtui.node.text import LineSplitter

REPO = Path(__file__).resolve().parents[1]
# A newline inside a field must not start a line of its own: it would forge a row.
FORGED = "\r\nFORGED-ROW"


def swarmtui(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "swarmtui", *args], capture_output=True, text=True,
                          timeout=60, errors="surrogateescape")


def no_forged_row(text: str) -> bool:
    return not any(line.lstrip().startswith("FORGED-ROW") for line in text.splitlines())


def raw_controls_in_json(json_text: str) -> list[str]:
    """Raw characters a terminal acts on in JSON output (json.dumps escapes C0 and ESC itself)."""
    return [f"{ch!r}" for ch in sorted(set(json_text)) if ch == "\x7f" or "\x80" <= ch <= "\x9f" or ch in BIDI_CHARS]


# ---------------------------------------------------------------- (a) node output


def test_node_output_lines_are_clean_and_the_fatal_line_after_an_unterminated_osc_is_detected():
    data = (CORPUS.encode() + b" \xff\xfe\x00 tail\n" + UNTERMINATED_THEN_FATAL.encode() + b"\n")
    dec = codecs.getincrementaldecoder("utf-8")(errors="replace")
    splitter, matcher = LineSplitter(), Matcher()
    lines = []
    for i in range(0, len(data), 5):                   # pty reads cut sequences anywhere
        lines += splitter.feed(dec.decode(data[i:i + 5]))
    assert [text for text, _ in lines] == [SHOWN + " \ufffd\ufffd tail", "node title " + FATAL]
    assert all(dangers(text) == [] for text, _ in lines)
    assert [m.id for text, _ in lines for m in matcher.feed(text)] == ["oom-killed"]


def test_supervise_human_lines_are_clean_even_from_an_engine_that_did_not_clean():
    """`supervise --lines` and every other human line pass one boundary (Printer.emit): node
    lines, matched text, prompts, a killed orphan's command line, notices, state details."""
    out = io.StringIO()
    printer = Printer(as_json=False, lines=True, out=out)
    hostile = CORPUS + FORGED
    events = [
        ev.LinesOut(lines=[ev.LogLine("pty", 1, hostile), ev.LogLine("logs/x" + CORPUS + ".log", 2, hostile)]),
        ev.Detected(id="oom-killed", cls="resource", action="restart", text=hostile, source="pty", line=1),
        ev.PromptSeen(text=hostile, answered=False),
        ev.OrphanKilled(pid=42, cmdline=hostile, proof=CORPUS),
        ev.Notice(level="warning", text=hostile),
        ev.StateChanged(state=ev.NEEDS_USER, reason=CORPUS, detail=hostile),
        ev.PreflightFailed(problems=[hostile]),
        ev.ActionDone(action="logout", ok=False, detail=hostile, backups=[CORPUS]),
        ev.LoginRequired(url="http://localhost:3000/" + CORPUS, ssh_hint=hostile, waiting_for=CORPUS),
    ]
    for e in events:
        printer.emit(e)
    printer.note(hostile)
    text = out.getvalue()
    assert dangers(text) == []
    assert no_forged_row(text)
    assert text.count(SHOWN) >= len(events)          # shown, cleaned, not dropped
    assert len(text.splitlines()) == len(events) + 2      # one a line, the LinesOut two, and the note


def test_supervise_json_lines_keep_the_exact_text_and_no_raw_c1_or_bidi():
    out = io.StringIO()
    printer = Printer(as_json=True, lines=True, out=out)
    printer.emit(ev.LinesOut(lines=[ev.LogLine("pty", 1, CORPUS)]))
    printer.note(CORPUS)
    rows = out.getvalue().splitlines()
    assert len(rows) == 2
    assert raw_controls_in_json(out.getvalue()) == []
    assert json.loads(rows[0])["lines"][0]["text"] == CORPUS
    assert json.loads(rows[1])["text"] == CORPUS


# ---------------------------------------------------------------- (b) swarmtui identity


def hostile_login_checkout(tmp_path: Path) -> Path:
    root = make_checkout(tmp_path / "node", "codezero")
    write_login(root, org="org-" + CORPUS, address="0xabc" + FORGED, email="mallory" + CORPUS + "@example.org")
    return root


def test_identity_human_output_shows_hostile_login_fields_cleaned(tmp_path):
    root = hostile_login_checkout(tmp_path)
    done = swarmtui("identity", str(root))
    assert done.returncode == 0, done.stderr
    assert dangers(done.stdout) == []
    assert "mallory" + SHOWN + "@example.org" in done.stdout
    assert "org org-" + SHOWN in done.stdout
    assert "0xabcFORGED-ROW" in done.stdout and no_forged_row(done.stdout)


def test_identity_json_is_exact_and_carries_no_raw_c1_or_bidi(tmp_path):
    root = hostile_login_checkout(tmp_path)
    done = swarmtui("identity", str(root), "--json")
    assert done.returncode == 0, done.stderr
    assert raw_controls_in_json(done.stdout) == []
    login = json.loads(done.stdout)["login"]
    assert login["email"] == "mallory" + CORPUS + "@example.org"
    assert login["org_id"] == "org-" + CORPUS


# ---------------------------------------------------------------- (c) swarmtui history


def hostile_history(tmp_path: Path) -> Path:
    node = tmp_path / "rl-swarm"
    node.mkdir()
    (node / "run_rl_swarm.sh").write_text("#!/bin/bash\n")
    HistoryStore(node).append({
        "time": "2025-11-26T14:00:00.000Z", "reason": "oom-killed" + FORGED, "action": "restart",
        "text": "Killed " + CORPUS, "source": "pty" + CORPUS, "line": 7, "exit_signal": 9,
        "uptime_s": 60.0, "evidence": [CORPUS], "hint": CORPUS,
    })
    return node


def test_history_human_output_shows_the_hostile_record_cleaned(tmp_path):
    node = hostile_history(tmp_path)
    done = swarmtui("history", str(node))
    assert done.returncode == 0, done.stderr
    assert dangers(done.stdout) == []
    assert "Killed " + SHOWN in done.stdout
    assert no_forged_row(done.stdout)


def test_history_json_is_exact_and_carries_no_raw_c1_or_bidi(tmp_path):
    node = hostile_history(tmp_path)
    done = swarmtui("history", str(node), "--json")
    assert done.returncode == 0, done.stderr
    assert raw_controls_in_json(done.stdout) == []
    (record,) = [json.loads(line) for line in done.stdout.splitlines()]
    assert record["text"] == "Killed " + CORPUS


# ---------------------------------------------------------------- (d) swarmtui diagnose


def test_diagnose_on_a_hostile_log_is_clean_and_still_finds_the_fatal_line(tmp_path):
    # The file's own name is hostile too: it is printed in the report and on every detection.
    log = tmp_path / "node\x1b]0;PWNED-TITLE\x07\u202e.log"
    log.write_bytes(b"[2025-11-26 14:00:00,000][genrl.logging_utils.global_defs][INFO] - hello\n"
                    + CORPUS.encode() + b" \xff\xfe\n" + UNTERMINATED_THEN_FATAL.encode() + b"\n")
    done = swarmtui("diagnose", str(log))
    assert done.returncode == 0, done.stderr
    assert dangers(done.stdout) == []
    assert "oom-killed" in done.stdout                # the unterminated OSC hid nothing
    assert "node.log" in done.stdout                  # the name, cleaned
    as_json = swarmtui("diagnose", str(log), "--json")
    assert raw_controls_in_json(as_json.stdout) == []
    assert [d["id"] for d in json.loads(as_json.stdout)["detections"]] == ["oom-killed"]


# ---------------------------------------------------------------- (e) the panel


from tests.screen_read import links_on_screen, screen_text, shown  # noqa: E402  (public API only)


def hostile_events() -> list[ev.Event]:
    """Every event the panel shows, each carrying the corpus (and markup where a str might be
    parsed as such), as an engine that did not clean anything would send them."""
    markup = "[link=http://markup.example/]click[/link] [/x] "   # shown as text, never as a link
    return [
        ev.StateChanged(state=ev.RUNNING, reason=CORPUS, detail=CORPUS, uptime_s=5.0),
        ev.IdentityChanged(report={
            "peer_id": "Qm" + CORPUS, "animal_name": CORPUS, "pem_state": "ok", "pem_path": "/n/" + CORPUS,
            "login": {"user_data": True, "api_key": True, "activated": True, "org_id": "org-" + CORPUS,
                      "address": "0x" + CORPUS, "email": "mallory" + CORPUS},
            "problems": [{"code": "x", "message": CORPUS, "fix": CORPUS}]}),
        ev.LoginRequired(url="http://localhost:3000/" + CORPUS, ssh_hint=CORPUS, waiting_for=CORPUS),
        ev.LinesOut(lines=[ev.LogLine("pty", 1, CORPUS), ev.LogLine("logs/ev" + CORPUS + ".log", 2, CORPUS)],
                    partial=CORPUS),
        ev.HistoryAppended(record={"ts": "2025-11-26T14:29:00Z", "reason": "oom-killed[/x]" + CORPUS,
                                   "text": markup + CORPUS, "exit_code": CORPUS, "evidence": [CORPUS],
                                   CORPUS: CORPUS}),
        ev.ProcessSnapshot(procs=[
            ev.ProcInfo(pid=11, ppid=1, name="python" + CORPUS, cmdline=CORPUS, role="trainer"),
            ev.ProcInfo(pid=12, ppid=1, name="[b]x[/y]" + CORPUS, cmdline=CORPUS, role="other", ours=False,
                        conflict=markup + CORPUS)]),
        ev.ProgressUpdate(round=5, stage=1, step=3, total=10, era=CORPUS, rate="[/x]" + CORPUS,
                          last_rewards={CORPUS: 1.0},
                          market={"game": 1, "clue": 2, "last_bet": 0.5, "last_choice": CORPUS}),
        ev.Notice(level="warning", text=markup + CORPUS),
        ev.PreflightFailed(problems=[CORPUS]),
        ev.ActionDone(action="logout", ok=False, detail=CORPUS, backups=[CORPUS]),
        ev.Detected(id="new-identity-generated", cls="identity", action="notify", text=CORPUS, source="pty", line=3),
        ev.PromptSeen(text=CORPUS + " [y/N] ", answered=False),
    ]


async def test_every_pane_modal_and_toast_shows_hostile_event_text_cleaned():
    from swarmtui.tui.panes.history import HistoryPane
    from swarmtui.tui.screens.prompt import PromptScreen
    from swarmtui.tui.screens.record import RecordScreen
    from tests.tui_engine import make_app

    app, _engine = make_app(hostile_events())
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.pause(0.3)
        # The unanswered prompt opened its modal over the panel.
        assert isinstance(app.screen, PromptScreen)
        prompt = await shown(pilot, app, SHOWN[:20])   # drawn: a loaded machine took over 0.3 s once
        assert dangers(prompt) == [] and SHOWN[:20] in prompt
        await pilot.press("escape")
        await pilot.pause(0.1)
        main = screen_text(app)
        assert dangers(main) == [], dangers(main)
        assert "xclicky" in main                        # the corpus was shown, cleaned
        assert "oom-killed[/x]" in main                 # a bracket is text, not markup
        assert links_on_screen(app) == []
        toasts = "\n".join(message for _, message in app.toasts)
        assert dangers(toasts) == [] and "xclicky" in toasts

        app.query_one(HistoryPane).post_message(HistoryPane.RecordChosen(app.query_one(HistoryPane).records[0]))
        await pilot.pause(0.2)
        assert isinstance(app.screen, RecordScreen)
        record = await shown(pilot, app, "xclicky")
        assert dangers(record) == [] and "xclicky" in record
        assert links_on_screen(app) == []


SCRIPT = shutil.which("script")


@pytest.mark.slow
@pytest.mark.tmux
@pytest.mark.timeout(60)
@pytest.mark.skipif(shutil.which("tmux") is None or SCRIPT is None, reason="needs tmux and script(1)")
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux process semantics")
def test_the_real_panel_writes_none_of_the_payload_to_its_terminal(tmp_path):
    """The bytes the panel writes, captured by script(1) in a tmux pane: a simulated node prints
    the corpus and then an OOM line after an unterminated title write, with a userData.json full
    of escapes. Textual's own sequences are fine; the corpus's are not."""
    from swarmtui.sim import create_checkout
    from test_sim_support import free_port, kill_leftovers
    from tests.tui_tmux import Tmux, descendants, wait_dead

    root = create_checkout(tmp_path / "node", "codezero", scenario="healthy", speed=100.0, port=free_port(),
                           login="present")
    user_data = root / "modal-login" / "temp-data" / "userData.json"
    data = json.loads(user_data.read_text())
    # Only the email (the pane's last login row, which must fit on screen): the other fields are
    # covered field by field in the test above; the org key stays, the script reads ORG_ID from it.
    data[next(iter(data))]["email"] = "mallory" + CORPUS + "@example.org"
    user_data.write_text(json.dumps(data))
    (root / "corpus.txt").write_bytes(CORPUS.encode() + b" \xff\xfe\n" + UNTERMINATED_THEN_FATAL.encode() + b"\n")
    # The pause lets the identity pane draw the login before the OOM stop's cleanup deletes it.
    script = root / "run_rl_swarm.sh"
    script.write_text(script.read_text().replace("ROOT=$PWD\n", 'ROOT=$PWD\nsleep 1.5; cat "$ROOT/corpus.txt"\n', 1))

    typescript = tmp_path / "typescript"
    panel = f"{shlex.quote(sys.executable)} -m swarmtui {shlex.quote(str(root))}"
    command = f"unset COLUMNS LINES; {SCRIPT} -q -f -c {shlex.quote(panel)} {shlex.quote(str(typescript))}"
    env = {k: v for k, v in os.environ.items() if k.startswith("SWARMTUI_") and k.endswith("_DIR")}
    env["PYTHONPATH"] = str(REPO)
    term = Tmux(command, size=(160, 50), env=env)       # tall enough for the identity pane's email row
    try:
        wanted = (b"malloryabcdefghi", b"xclicky", b"oom-killed")
        end = time.monotonic() + 30
        seen = b""
        while time.monotonic() < end:
            seen = typescript.read_bytes() if typescript.exists() else b""
            if all(w in seen for w in wanted):
                break
            time.sleep(0.2)
        if all(w in seen for w in wanted):
            time.sleep(0.5)             # the restart record and its toast, drawn after the detection
        assert payload_in_terminal_bytes(typescript.read_bytes()) == []
        missing = [w for w in wanted if w not in seen]
        assert not missing, f"{missing} never drawn; the screen:\n{term.screen()}"
    finally:
        # script(1) outlives the tmux server, and the panel under it: SIGTERM makes the panel stop
        # the node with its full stop sequence, then script ends with it.
        panel_procs = descendants(term.pane_pid)
        for proc in panel_procs:
            try:
                if proc.cmdline()[1:3] == ["-m", "swarmtui"]:
                    proc.terminate()
            except psutil.Error:
                pass
        wait_dead(panel_procs, 15)
        term.close()
        for proc in wait_dead(panel_procs, 0):
            proc.kill()
        kill_leftovers(root)
