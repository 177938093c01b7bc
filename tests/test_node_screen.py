"""node.screen: the candidate screen must never change what the keeper sees (issue 16).

The screened path (only lines holding an anchor go through parse_line and the matcher) must give
exactly the detections, events and lines of the full path (every line through both). Proven on
every example line of the signature, parser and progress tests, on every fixture log, and on a
generated mix; and the screen's soundness conditions are checked on the catalogue and the parser
themselves, so a new signature or parser phrase cannot be screened out silently.
"""

from __future__ import annotations

import ast
import inspect
import random
from pathlib import Path

import pytest

from swarmtui.engine import events as ev
from swarmtui.engine.clock import FakeClock
from swarmtui.engine.supervisor import Supervisor
from swarmtui.node import logparse
from swarmtui.node.logparse import ANCHORS, LogHeader, parse_all, parse_line
from swarmtui.node.screen import MATCH, PARSE, Screen, anchored
from swarmtui.node.signatures import Catalogue, Matcher
from swarmtui.node.text import sanitize
from swarmtui.sim import create_checkout
from supervisor_support import clean_env, fast_config, free_port

FIX = Path(__file__).parent / "fixtures" / "node"
CAT = Catalogue.load()
SCREEN = Screen(CAT)


def _strings(obj, out: list[str]) -> None:
    if isinstance(obj, str):
        out.append(obj)
    elif isinstance(obj, dict):
        for k, v in obj.items():
            _strings(k, out)
            _strings(v, out)
    elif isinstance(obj, (list, tuple, set, frozenset)):
        for v in obj:
            _strings(v, out)
    elif hasattr(obj, "values"):            # pytest.param
        _strings(getattr(obj, "values"), out)


def _example_lines() -> list[str]:
    """Every string the signature, parser and progress tests use as data: their constants and
    parametrize tables (f-strings already evaluated), split into lines as the engine splits."""
    import test_node_logparse as t_parse
    import test_node_progress as t_progress
    import test_node_signatures as t_sig

    raw: list[str] = []
    for mod in (t_sig, t_parse, t_progress):
        for name, value in vars(mod).items():
            if name.isupper():
                _strings(value, raw)
            for mark in getattr(value, "pytestmark", []) if callable(value) else []:
                if mark.name == "parametrize":
                    _strings(mark.args[1], raw)
    lines = []
    for r in raw:
        for piece in r.replace("\r", "\n").split("\n"):
            piece = sanitize(piece)
            if piece:
                lines.append(piece)
    return list(dict.fromkeys(lines))


def _fixture_lines() -> list[tuple[str, list[str]]]:
    out = []
    for path in sorted(FIX.glob("*")):
        if path.suffix in (".txt", ".log"):
            text = path.read_bytes().decode("utf-8", "replace")
            lines = [sanitize(p) for p in text.replace("\r", "\n").split("\n")]
            out.append((path.name, lines))
    return out


def _meaningful(line: str) -> bool:
    """What the full path gets from this line alone: a non-header event or a detection."""
    if any(not isinstance(e, LogHeader) for e in parse_all(line)):
        return True
    p = parse_line(line)
    if p is not None and not isinstance(p, LogHeader):
        return True
    return bool(Matcher(CAT).feed(line))


def test_every_example_line_that_means_something_passes_the_screen():
    lines = _example_lines()
    assert len(lines) > 200            # the harvest works: the tests hold hundreds of lines
    meaningful = [ln for ln in lines if _meaningful(ln)]
    assert len(meaningful) > 80
    missed = [ln for ln in meaningful if not SCREEN.holds_anchor(ln)]
    assert missed == []
    # and the chunk scan finds them wherever they sit in a batch
    mixed = [x for ln in meaningful for x in (ln, "nothing to see here")]
    assert SCREEN.candidates(mixed) == list(range(0, len(mixed), 2))


def test_every_catalogue_pattern_is_anchored_by_its_needles_or_falls_back():
    for sig in CAT.signatures:
        for pattern in (*sig.patterns, *sig.starts):
            assert sig.screen == "always" or anchored(pattern, sig.needles), (sig.id, pattern)


def test_anchored_can_say_no():
    assert anchored(r"run_rl_swarm\.sh: line \d+: +\d+ Killed", ["Killed"])
    assert anchored(r"\[Errno (?:11|35)\] Resource", ["Errno 11]", "Errno 35]"])
    assert anchored(r"[Nn]o space left", ["No space left", "no space left"])
    assert not anchored(r"[Nn]o space left", ["No space left"])          # "no space left" would slip by
    assert not anchored(r"\w+ exploded", ["Exploded"])
    assert not anchored(r"(?i)exploded", ["exploded"])
    assert not anchored(r"foo|bar", ["foo"])


def test_a_signature_without_an_anchor_must_say_always_and_then_is_searched_on_every_line():
    unanchored = '[[signature]]\nid = "x"\nclass = "crash"\naction = "restart"\nhint = "h"\npatterns = [\'\\d+ gremlins\']\n'
    with pytest.raises(ValueError, match="screen"):
        Catalogue.from_toml(unanchored)
    cat = Catalogue.from_toml(unanchored + 'screen = "always"\n')
    sig = cat.get("x")
    assert not any(anchored(p, sig.needles) for p in sig.patterns)
    screen = Screen(cat, anchors=())
    lines = ["all quiet", "42 gremlins in the server room", "still quiet"]
    assert screen.candidates(lines) == [1]
    assert [m.id for m in Matcher(cat).feed(lines[1])] == ["x"]


def _guard_literals(func) -> list[str]:
    """String literals the parser tests a message for: `"x" in msg`, `msg.startswith("x")`."""
    out = []
    for node in ast.walk(ast.parse(inspect.getsource(func))):
        if isinstance(node, ast.Compare) and isinstance(node.left, ast.Constant) and isinstance(node.left.value, str):
            if any(isinstance(op, ast.In) for op in node.ops) and any(
                    isinstance(c, ast.Name) and c.id == "msg" for c in node.comparators):
                out.append(node.left.value)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "startswith":
            for arg in node.args:
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    out.append(arg.value)
    return out


def test_every_phrase_the_parser_tests_for_holds_an_anchor():
    literals = [lit for f in (logparse.parse_message, logparse._milestone, logparse._round_event)
                for lit in _guard_literals(f)]
    assert len(literals) > 30
    # Tests that only ever follow an anchored one: ":" splits the initial-peers milestone's
    # detail after its phrase matched. A new phrase must hold an anchor or be added here, knowingly.
    follows_an_anchor = {":"}
    missing = [lit for lit in literals if lit not in follows_an_anchor and not any(a in lit for a in ANCHORS)]
    assert missing == []
    # and every anchor is a key or holds one (the screen's own soundness)
    assert all(any(k in a for k in SCREEN.keys) for a in SCREEN.anchors)


def test_the_matcher_finds_overlapping_needles():
    # A needle inside another's occurrence: both rules are tried (a regex findall took one).
    cat = Catalogue.from_toml(
        '[[signature]]\nid = "a"\nclass = "crash"\naction = "restart"\nhint = "h"\n'
        'needles = ["Daemon failed to start"]\npatterns = [\'Daemon failed to start in \\d+\']\n'
        '[[signature]]\nid = "b"\nclass = "crash"\naction = "restart"\nhint = "h"\n'
        'needles = ["failed to start in 5"]\npatterns = [\'start in 5 seconds\']\n')
    assert [m.id for m in Matcher(cat).feed("Daemon failed to start in 5 seconds")] == ["a"]
    assert [m.id for m in Matcher(cat).feed("xDaemon failed to start in 5 seconds")] == ["a"]
    assert [m.id for m in Matcher(cat).feed("daemon failed to start in 5 seconds")] == ["b"]


# ---------------------------------------------------------------- the keeper: full path vs screened path

def _mix(rng: random.Random, pool: list[str], n: int) -> list[str]:
    filler = ['[2026-01-01 12:00:00,000][httpx][DEBUG] - HTTP Request: POST https://x/public "HTTP/1.1 200 OK"',
              "Map:  40%|████      | 2990/7473 [00:00<00:00, 25000.00 examples/s]", "   ", "",
              '  File "/x/hivemind/dht/dht.py", line 131, in _run', "INFO:root:all good",
              "Apr 04 07:38:41.041 [INFO] [hivemind.dht] fine", "2025-05-20 12:00:00,123 - DEBUG - a.b:1 - ok"]
    return [rng.choice(pool) if rng.random() < 0.3 else rng.choice(filler) for _ in range(n)]


class _PassEverything:
    """A screen that passes every line with both flags and no keys: the full path, each line
    parsed and all of its needles looked up, the reference the real screen is held to."""

    def __init__(self, real):
        self.real = real

    def screen(self, texts, keys=None):
        return {i: PARSE | MATCH for i in range(len(texts))}

    def needles_in(self, text, keys=None):
        return self.real.needles_in(text, keys)


def _keeper_run(root: Path, batches: list[tuple[str, list[str]]], *, screened: bool = True,
                echo: bool = True) -> tuple[list[dict], Supervisor]:
    """The batches through a keeper's line path: its events (as dicts, no time) and the keeper.
    Not screened: every line passed on its own, as a slow node's reads come. `echo`: whether a
    log file's copy of a terminal line is known for one (Supervisor.echo_lines)."""
    events: list[ev.Event] = []
    sup = Supervisor(root, fast_config(), events.append, clock=FakeClock(), env=clean_env(), lines=True)
    sup.echo_lines = echo
    if not screened:
        sup._screen = _PassEverything(sup._screen)
    n: dict[str, int] = {}
    for source, lines in batches:
        start = n.get(source, 0)
        n[source] = start + len(lines)
        if screened:
            sup._lines_in(source, start + 1, list(lines))
        else:
            for i, text in enumerate(lines):
                sup._lines_in(source, start + 1 + i, [text])
    sup._flush()
    out = []
    for e in events:
        d = e.to_dict()
        d.pop("ts", None)
        out.append(d)
    return out, sup


def _keeper_events(root: Path, batches: list[tuple[str, list[str]]], screened: bool) -> list[dict]:
    return _keeper_run(root, batches, screened=screened)[0]


def test_keeper_screened_path_gives_exactly_the_full_paths_events(tmp_path):
    root = create_checkout(tmp_path / "node", "codezero", scenario="healthy", speed=1000.0, port=free_port(),
                           login="present")
    rng = random.Random(16)
    fixtures = _fixture_lines()
    examples = _example_lines()
    batches: list[tuple[str, list[str]]] = []
    for name, lines in fixtures:            # each fixture in batches of random sizes, as reads cut them
        i = 0
        while i < len(lines):
            k = rng.choice((1, 2, 7, 64, 500))
            batches.append((name, lines[i:i + k]))
            i += k
    pool = examples + [ln for _, lines in fixtures for ln in lines if ln]
    for _ in range(40):
        batches.append((rng.choice(("pty", "logs/swarm_launcher.log")), _mix(rng, pool, rng.choice((1, 10, 300)))))
    full = _keeper_events(root, batches, screened=False)
    screened = _keeper_events(root, batches, screened=True)
    kinds = {d["event"] for d in full}
    assert len(full) > 20 and len(kinds) >= 3          # detections, progress and lines were there to compare
    assert sum(len(d.get("lines", [])) for d in full) == sum(len(ls) for _, ls in batches)
    assert screened == full


def _echo_run(root: Path, batches: list[tuple[str, list[str]]], echo: bool):
    out, sup = _keeper_run(root, batches, echo=echo)
    states = {src: (st.n, st.seq, st.busy, st.last_match_n, st.chain_n, st.chain_marker, len(st.pending),
                    st.tb is None) for src, st in sup._matcher._states.items()}
    return out, states, sup.progress.snapshot(0.0)


def test_a_log_files_copy_of_a_terminal_line_keeps_its_fields_and_is_not_news_twice(tmp_path):
    """genrl writes every record to the terminal and to logs/swarm_launcher.log: the file's copy,
    read a moment later, is not parsed and matched again. Against the same keeper parsing both
    copies: every line carries the same level and detection id, the matcher ends in the same
    state on each source, progress is the same, and the only detections missing are the file's
    repeats of ones the terminal reported."""
    root = create_checkout(tmp_path / "node", "codezero", scenario="healthy", speed=1000.0, port=free_port(),
                           login="present")
    rng = random.Random(23)
    pool = _example_lines() + [ln for _, lines in _fixture_lines() for ln in lines if ln]
    file_only = ["[2026-01-01 12:00:00,000][genrl][DEBUG] - Could not fetch round and stage: boom. Next check in 5.0s.",
                 "Traceback (most recent call last):", '  File "/x/a.py", line 1, in f', "ValueError: file only",
                 "[2026-01-01 12:00:00,000][httpx][DEBUG] - HTTP Request: POST https://x/public \"HTTP/1.1 200 OK\""]
    batches: list[tuple[str, list[str]]] = []
    owed: list[str] = []                # the terminal's lines the file has yet to get
    for _ in range(120):
        lines = _mix(rng, pool, rng.choice((1, 5, 40, 300)))
        batches.append(("pty", lines))
        owed += lines
        if rng.random() < 0.5:          # the file is read a little later, in its own pieces
            take = rng.randint(0, len(owed))
            copy = owed[:take]
            del owed[:take]
            for _ in range(rng.choice((0, 1, 3))):
                copy.insert(rng.randint(0, len(copy)), rng.choice(file_only))
            batches.append(("logs/swarm_launcher.log", copy))
    batches.append(("logs/swarm_launcher.log", owed))
    a, a_states, a_progress = _echo_run(root, batches, echo=True)
    b, b_states, b_progress = _echo_run(root, batches, echo=False)

    def lines(events):
        return [ln for d in events if d["event"] == "lines" for ln in d["lines"]]

    assert lines(a) == lines(b) and len(lines(a)) == sum(len(x) for _, x in batches)
    assert a_states == b_states
    found_a = [d for d in a if d["event"] == "detect"]
    found_b = [d for d in b if d["event"] == "detect"]
    repeats = 0
    told: set[tuple[str, str]] = set()
    k = 0
    for d in found_b:
        if k < len(found_a) and found_a[k] == d:
            k += 1
        else:
            assert d["source"] != "pty" and (d["id"], d["text"]) in told, d
            repeats += 1
        if d["source"] == "pty":
            told.add((d["id"], d["text"]))
    assert k == len(found_a), "a detection the keeper with both copies never made"
    assert repeats > 20 and len(found_a) > 20       # copies were recognised, and detections remain
    # The notice a detection brings (a new identity) is not given twice either.
    notices_a = [d["text"] for d in a if d["event"] == "notice"]
    notices_b = [d["text"] for d in b if d["event"] == "notice"]
    assert set(notices_a) == set(notices_b) and len(notices_a) < len(notices_b)
    # (Progress is left out above: this mix replays old rounds after new ones, and the keeper
    # that parses both copies goes back a round with each late copy. In order, they agree.)
    log = dict(_fixture_lines())["codezero_swarm_launcher.log"]
    ordered: list[tuple[str, list[str]]] = []
    for i in range(0, len(log), 7):
        ordered.append(("pty", log[i:i + 7]))
        if i % 21 == 14:
            ordered.append(("logs/swarm_launcher.log", log[max(0, i - 14):i + 7]))
    a, _, a_progress = _echo_run(root, ordered, echo=True)
    b, _, b_progress = _echo_run(root, ordered, echo=False)
    assert a_progress == b_progress and a_progress["round"] is not None
    assert lines(a) == lines(b)


def test_a_terminal_line_stands_for_a_file_copy_only_for_a_while(tmp_path):
    """A line that has no timestamp of its own may come again, in a file, much later: that is
    a new line, not the terminal's copy. Remembered lines last ECHO_AGE_S (10 s) to twice that."""
    root = create_checkout(tmp_path / "node", "codezero", scenario="healthy", speed=1000.0, port=free_port(),
                           login="present")
    events: list[ev.Event] = []
    clock = FakeClock()
    sup = Supervisor(root, fast_config(), events.append, clock=clock, env=clean_env(), lines=True)
    fatal = "Exception occurred during game run."

    def told(source):
        return sum(1 for e in events if isinstance(e, ev.Detected) and e.source == source)

    sup._lines_in("pty", 1, ["hello", fatal])
    sup._lines_in("logs/swarm_launcher.log", 1, [fatal])        # the copy, a moment later
    assert (told("pty"), told("logs/swarm_launcher.log")) == (1, 0)
    sup._lines_in("pty", 3, [fatal])
    for n in range(3):                                           # long after: forgotten
        clock._now += 11.0
        sup._lines_in("pty", 4 + n, [f"line {n}"])
    sup._lines_in("logs/swarm_launcher.log", 2, [fatal])
    assert (told("pty"), told("logs/swarm_launcher.log")) == (2, 1)


def test_the_screen_passes_over_plain_flood_lines():
    flood = ['[2026-01-01 12:00:00,000][httpx][DEBUG] - HTTP Request: POST https://x/public "HTTP/1.1 200 OK"'] * 1000
    assert SCREEN.candidates(flood) == []
    flood[500] = "[2026-01-01 12:00:00,000][genrl.game][ERROR] - Exception occurred during game run."
    assert SCREEN.candidates(flood) == [500]


def test_the_screen_says_what_each_candidate_needs():
    from swarmtui.node.screen import MATCH, PARSE
    lines = ["[2026-01-01 12:00:00,000][genrl][INFO] - 🐱 Hello 🐈 [dormant toothy bat] 🦮 [Qm1]!",  # the parser only
             "[2026-01-01 12:00:00,000][genrl][WARNING] - SKIPPING: Failed to decode value",  # the matcher only
             "[2026-01-01 12:00:00,000][genrl][DEBUG] - Could not fetch round and stage",    # both
             "INFO:root:nothing"]
    assert SCREEN.screen(lines) == {0: PARSE, 1: MATCH, 2: PARSE | MATCH}
    assert [SCREEN.flags(x) for x in lines] == [PARSE, MATCH, PARSE | MATCH, 0]
    # and what each flag promises holds: no detection without MATCH, no event but a header without PARSE
    assert Matcher(CAT).feed(lines[0]) == [] and isinstance(parse_line(lines[1]), LogHeader)
    # a key shared by a needle and a parser phrase asks for both ("round": "Could not fetch round")
    assert SCREEN.flags("🐝 Joining round: 12") == PARSE | MATCH


def test_a_repetitive_chunk_is_screened_folded_with_the_same_result():
    """A flood repeats one message with new numbers: screen() folds the digits away and screens
    each distinct line once. The result, keys included, is the unfolded screen's."""
    examples = [t for t in _example_lines() if t]
    folding, plain = Screen(), Screen()
    plain._foldable = False
    assert folding._foldable, "a key holds a digit: folding is off and this test proves nothing"
    rng = random.Random(7)
    flood = ['[2026-01-01 12:00:{:02d},{:03d}][httpx][DEBUG] - HTTP Request: POST https://x/public "HTTP/1.1 200 OK"',
             "Apr 04 07:38:{:02d}.{:03d} [WARN] [hivemind.dht.protocol] ping {} failed",
             "Map:  {:d}%|████      | {}/7473 [00:00<00:00, 25000.00 examples/s]", "  ünïcödé {} {}"]
    folded_chunks = 0
    for _ in range(200):
        size = rng.choice((8, 9, 30, 300))
        lines = []
        for _ in range(size):
            if rng.random() < 0.1:
                lines.append(rng.choice(examples))
            else:
                lines.append(rng.choice(flood).format(rng.randrange(60), rng.randrange(1000), rng.randrange(10**6)))
        k1: dict[int, list[str]] = {}
        k2: dict[int, list[str]] = {}
        got = folding.screen(lines, k1)
        folded_chunks += folding._screen_folded(lines, None) is not None
        assert got == plain.screen(lines, k2)
        assert k1 == k2
    assert folded_chunks > 100, "the chunks were not repetitive enough to be folded"


def test_bar_candidates_are_every_line_mark_can_label():
    from swarmtui.node.logparse import BarMarks

    rng = random.Random(5)
    pool = ["Map:  40%|████      | 2990/7473 [00:00<00:00, 25000.00 examples/s]", "   ", " x", "\u3000", "plain",
            "", "\u00a0\u00a0", "ünïcode", "100%|██████████| 2/2 [00:00<00:00, 9.30it/s]"]
    for _ in range(300):
        marks, plain = BarMarks(), BarMarks()
        for _ in range(4):
            texts = [rng.choice(pool) for _ in range(rng.choice((1, 3, 20)))]
            labelled = [i for i, t in enumerate(texts) if plain.mark("pty", t) is not None]
            cands = marks.candidates("pty", texts)
            assert set(labelled) <= set(cands)
            assert [i for i in cands if marks.mark("pty", texts[i]) is not None] == labelled
