"""What a run leaves to read afterwards, against the simulator as a real process tree: history
records that cite the transcript line a person can open, `swarmtui diagnose NODE_DIR` that
finds what only the terminal saw, and the log view that shows each of the node's lines once."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import pytest

from swarmtui import paths
from swarmtui.engine import events as ev
from supervisor_support import fast_config, harnesses

pytestmark = [pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux process semantics"),
              pytest.mark.timeout(120)]


@pytest.fixture
async def harness(tmp_path):
    async for make in harnesses(tmp_path):
        yield make


def sed_line(path, n: int) -> str:
    """Line n of a file as `sed -n Np` prints it: the user's way to open a cited line."""
    out = subprocess.run(["sed", "-n", f"{n}p", str(path)], capture_output=True, timeout=10, check=True)
    return out.stdout.decode("utf-8", "replace")


async def test_oom_kill_and_p2pd_timeout_are_cited_in_the_transcript_and_found_by_diagnose(harness):
    # Hivemind era (v0.4): both failures reach the terminal only, and swarm.log is opened with
    # mode 'w', so the second start erased the first run's log as well.
    # The script deletes the login files at every exit: the sim logs in again by itself.
    h = harness("hivemind", "oom-killed,p2pd-timeout", login="auto", config=fast_config(backoff_initial=1.0))
    await h.sup.start()
    await h.wait_kind(ev.RestartScheduled, timeout=60, reason="oom-killed")
    await h.wait_kind(ev.RestartScheduled, timeout=60, reason="p2pd-startup-timeout")
    await h.close()

    runs = paths.node_state_dir(h.root) / "runs"
    records = [e.record for e in h.of(ev.HistoryAppended) if e.record.get("reason") in
               ("oom-killed", "p2pd-startup-timeout")]
    assert [r["reason"] for r in records] == ["oom-killed", "p2pd-startup-timeout"]
    for rec, want in zip(records, ("Killed", "P2PDaemonError: Daemon failed to start in")):
        assert rec["transcript"] == f"runs/run-{rec['run']:06d}.log"
        shown = sed_line(runs / f"run-{rec['run']:06d}.log", rec["transcript_line"])
        assert want in shown, (rec, shown)
    # The engine's own count of terminal lines is no place in the file: each of the round's tqdm
    # redraws before the kill counted as a line there, all in a few lines of the transcript.
    assert records[0]["line"] > records[0]["transcript_line"] + 20
    assert not (h.root / "logs" / "swarm.log").read_text().count("Killed")

    out = subprocess.run([sys.executable, "-m", "swarmtui", "diagnose", "--json", str(h.root)],
                         capture_output=True, timeout=60)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    found = {d["id"]: d for d in report["detections"]}
    assert {"oom-killed", "p2pd-startup-timeout"} <= set(found)
    for sig, want in (("oom-killed", "Killed"), ("p2pd-startup-timeout", "Daemon failed to start in")):
        d = found[sig]
        assert d["file"].startswith(str(runs)) and d["file"].endswith(".log"), d
        assert want in sed_line(d["file"], d["line"])
    # Every file read is tagged: the checkout's logs and the transcripts of both runs.
    names = [f["file"] for f in report["files"]]
    assert any(n.endswith("logs/swarm.log") for n in names)
    assert sum(1 for n in names if "/runs/run-" in n) == 2
    assert report["era"] == "hivemind"

    human = subprocess.run([sys.executable, "-m", "swarmtui", "history", str(h.root)], capture_output=True,
                           timeout=60)
    assert f"run-{records[0]['run']:06d}.log:{records[0]['transcript_line']}:" in human.stdout.decode()


async def test_a_traceback_record_keeps_its_whole_block_as_evidence(harness):
    # genrl's run_game logs "Exception occurred during game run." and then the traceback; the
    # line that says why (RuntimeError: probability tensor …) is its last, some 15 lines on.
    h = harness("rgym", "game-run-exception")
    await h.sup.start()
    await h.wait_kind(ev.RestartScheduled, timeout=60, reason="game-run-exception")
    rec = [e.record for e in h.of(ev.HistoryAppended) if e.record.get("reason") == "game-run-exception"][0]
    evidence = rec["evidence"]
    at = next(i for i, line in enumerate(evidence) if line.startswith(f"{rec['source']}:{rec['line']}: "))
    why = next(i for i, line in enumerate(evidence) if "RuntimeError: probability tensor contains" in line)
    assert why - at > 10, evidence        # beyond the old 10-line window after the match
    assert evidence[why].startswith(f"{rec['source']}:")
    assert len(evidence) <= 60


async def test_headless_unset_hf_token_is_said_to_have_no_value(harness):
    config = fast_config()
    config.answers["hf_push"] = "y"          # push, but no [answers] hf_token: the script asks for it
    config.answers.pop("hf_token", None)
    h = harness("codezero", "healthy", config=config)
    await h.sup.start()
    st = await h.wait_state(ev.NEEDS_USER)
    assert "[answers] hf_token has no value set" in st.detail and "no [answers] rule" not in st.detail
    seen = [p for p in h.of(ev.PromptSeen) if not p.answered]
    assert seen and seen[-1].reason == "[answers] hf_token has no value set"


# ---------------------------------------------------------------- one copy of each line, bars in place

async def _view_of(lines: list[ev.LogLine]):
    from textual.app import App, ComposeResult

    from swarmtui.tui.panes.logview import LogView

    class One(App):
        def compose(self) -> ComposeResult:
            yield LogView(max_lines=100_000)

    app = One()
    async with app.run_test(size=(120, 30)) as pilot:
        view = app.query_one(LogView)
        view.append(lines)
        await pilot.pause()
        return list(view.entries), view


async def test_hivemind_era_lines_are_shown_once_and_bars_update_in_place(harness):
    h = harness("hivemind", "healthy")
    await h.sup.start()
    await h.wait_for(lambda e: isinstance(e, ev.ProgressUpdate) and e.rounds_completed >= 1, timeout=60,
                     what="a finished round")
    await asyncio.sleep(1.2)           # swarm.log is read in batches: let its copies arrive
    h.sup.send(ev.StopNode())
    await h.wait_state(ev.STOPPED)
    lines = h.lines()
    # The engine got both copies: the console's and swarm.log's formats differ.
    console = [ln.text for ln in lines if ln.source == "pty" and "📈 Training round:" in ln.text]
    in_file = [ln.text for ln in lines if ln.source == "logs/swarm.log" and "📈 Training round:" in ln.text]
    assert console and in_file and console[0].startswith("INFO:hivemind_exp.trainer")
    assert " - INFO - hivemind_exp.trainer.hivemind_grpo_trainer:" in in_file[0]
    bars = [ln for ln in lines if ln.bar is not None]
    assert len(bars) > 20                 # 20 steps a stage, each redraw its own line
    entries, view = await _view_of(lines)
    trained = [e for e in entries if "📈 Training round:" in e.text]
    assert len(trained) == len(console)   # once each, not twice
    assert view.folded > 0
    # One line per stage's training bar: its last state, 20/20 for every finished stage (the
    # stop may come in the middle of the last one).
    step_bars = [e for e in entries if e.bar == "" and "/20 [" in e.text]
    assert len(step_bars) == len(console) >= 3
    assert all("| 20/20 [" in e.text for e in step_bars[:-1])
    assert not any(e.text.strip() == "" and e.bar is not None for e in entries)


async def test_v06_blank_line_after_a_bet_is_shown_once(harness):
    h = harness("rgym", "healthy")
    await h.sup.start()
    await h.wait_for(lambda e: isinstance(e, ev.LinesOut) and any(
        "placed bet of" in ln.text and ln.source == "logs/swarm_launcher.log" for ln in e.lines),
        timeout=60, what="a bet in the log file")
    await asyncio.sleep(1.0)
    h.sup.send(ev.StopNode())
    await h.wait_state(ev.STOPPED)
    lines = h.lines()
    for source in ("pty", "logs/swarm_launcher.log"):
        seq = [ln.text for ln in lines if ln.source == source]
        i = next(i for i, t in enumerate(seq) if "placed bet of" in t)
        assert seq[i + 1] == "", (source, seq[i:i + 2])    # both copies have rl-swarm's blank line
    entries, view = await _view_of(lines)
    bets = [i for i, e in enumerate(entries) if "placed bet of" in e.text]
    pty_bets = [ln.text for ln in lines if ln.source == "pty" and "placed bet of" in ln.text]
    assert len(bets) == len(pty_bets) >= 1          # each bet once
    for i in bets:
        # rl-swarm's blank line once: the file's blank line followed its folded bet and went too.
        assert entries[i + 1].text == "" and entries[i + 2].text != "", [e.text[:60] for e in entries[i:i + 3]]
    assert view.folded > 0


def test_redraws_saved_in_a_log_file_are_lines_of_their_own_marked_as_a_bar(tmp_path):
    """A tqdm bar on a stderr that went to a file keeps its \\r redraws in one file line: the
    engine splits them as on the terminal (the matcher sees no glued text, the view keeps the
    last redraw), all with that file line's number."""
    from node_checkouts import make_checkout

    from swarmtui.engine.supervisor import Supervisor
    from swarmtui.engine.tail import TailLine

    root = make_checkout(tmp_path / "rl-swarm", "rgym")
    events: list[ev.Event] = []
    sup = Supervisor(root, fast_config(), events.append)
    raw = ("Map:   0%|          | 0/2 [00:00<?, ? examples/s]\r"
           "Map:  50%|█████     | 1/2 [00:00<00:00, 9.10 examples/s]\r"
           "Map: 100%|██████████| 2/2 [00:00<00:00, 9.30 examples/s]"
           "hivemind.p2p.p2p_daemon_bindings.utils.P2PDaemonError: Daemon failed to start in 120.0 seconds")
    sup._file_line("logs/swarm_launcher.log", TailLine(raw, 7))
    sup._flush()
    lines = [ln for e in events if isinstance(e, ev.LinesOut) for ln in e.lines]
    got = [(ln.line, ln.bar, ln.text[:9]) for ln in lines]
    assert got == [(7, "Map", "Map:   0%"), (7, "Map", "Map:  50%"), (7, "Map", "Map: 100%")]
    assert lines[-1].detection == "p2pd-startup-timeout"    # glued after the last redraw, still seen


def test_supervise_says_why_a_prompt_was_not_answered():
    import io

    from swarmtui.commands.supervise import Printer

    out = io.StringIO()
    printer = Printer(as_json=False, lines=False, out=out)
    printer.emit(ev.PromptSeen(text="Enter your Hugging Face access token: ", answered=False,
                               reason="[answers] hf_token has no value set"))
    printer.emit(ev.PromptSeen(text=">> Pick a colour: ", answered=False))     # from an older engine
    shown = out.getvalue().splitlines()
    assert shown[0].endswith("NOT ANSWERED 'Enter your Hugging Face access token:': [answers] hf_token has no value set")
    assert shown[1].endswith("no [answers] rule knows this prompt")
