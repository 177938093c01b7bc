"""Offline diagnosis of saved node output: what swarmtui would have seen, read from files.

Speed matters (a week of DEBUG logs is millions of lines), so the reader does not run the
parser and the matcher on every line. It scans each chunk of raw bytes for a small set of
literal "scan needles" (C-speed: bytesearch.py), and only lines containing one are decoded,
sanitized, split on `\\r`, parsed and matched. The commonest of those, a round line under one of
the usual headers, is recognised in its raw bytes and becomes its RoundEvent directly
(`_FAST_ROUND`; tests hold that it is the event the parser makes of that line). Every catalogue
needle and every event trigger contains at least one scan needle (tests hold this), so a
skipped line cannot have produced an event or a detection. While the matcher has a multi-line
condition open (a traceback, a "followed by" rule), the following lines are fed one by one,
exactly as the live engine does.

Line numbers are physical lines (`\\n`), as `grep -n` and editors count them; the `\\r`-separated
redraws of a tqdm bar share their line's number.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Iterable

from swarmtui.node import bytesearch
from swarmtui.node.layout import ERA_LABELS
from swarmtui.node.logparse import _LEVEL_ALIASES, Hello, Milestone, RoundEvent, StepProgress, Rewards, parse_all
from swarmtui.node.progress import ProgressModel
from swarmtui.node.signatures import Catalogue, Matcher
from swarmtui.node.text import sanitize

# Every catalogue needle and every logparse event trigger contains one of these (tested). The
# flag says what a line containing it needs: 1 = the matcher, 2 = the parser.
MATCH, PARSE = 1, 2
SCAN_NEEDLES: tuple[tuple[str, int], ...] = (
    ("rror", MATCH), ("ailed", MATCH), ("xception", MATCH), ("Killed", MATCH), ("s already ", MATCH | PARSE),
    ("Errno", MATCH), ("Process DHT", MATCH), ("Connection refused", MATCH), ("out of memory", MATCH),
    ("egister", MATCH | PARSE), ("Waiting for", MATCH | PARSE), ("Generating new identity", MATCH), ("is a yanked version", MATCH),
    ("open: command not found", MATCH), ("No such process", MATCH), ("Training timed out", MATCH),
    ("most recent call last", MATCH), ("round", PARSE), ("Hello", PARSE), ("CodeZero", PARSE),
    ("space left on device", MATCH), ("quota exceeded", MATCH),
    ("placed bet of", PARSE), ("claimed reward for previous game", PARSE),
    ("Found userData.json", PARSE), ("API key is activated", PARSE),
)
# Lines that only ever update "the latest" value (a tqdm step, a trl metrics dict): only the last
# useful one of each chunk can matter to the report, so they are searched from the end.
# The needles are the ends of a tqdm training bar (`…, 61.82s/it]`; Map bars say examples/s) and
# a key only trl's metric dicts have.
LAST_ONLY_NEEDLES: tuple[tuple[str, type], ...] = (("s/it]", StepProgress), ("it/s]", StepProgress),
                                                   ("'reward': ", Rewards))
_LAST_ONLY_TRIES = 200
# What logparse needs to see to produce the events diagnose reports (rounds, hello, steps,
# rewards, era, login waits, Prediction Market bets and claims); each contains a PARSE scan
# needle or a last-only needle (tested).
EVENT_TRIGGERS: tuple[str, ...] = (
    "round", "Hello", "s/it]", "it/s]", "'reward': ", "CodeZero", "Registering self with peer ID", "Waiting for",
    "placed bet of", "claimed reward for previous game", "Found userData.json", "API key is activated",
    "is already registered",
)

CHUNK = 4 * 1024 * 1024
MAX_LINE = 16384

# The round lines that make up most of a long log, recognised in their raw bytes: one of the three
# headers logparse knows for them (Hydra's, training_*.log's, Python's console format) and nothing
# but a round message after it. Such a line is printable ASCII apart from one known emoji, so
# decoding, sanitizing and splitting would not change it, and the parser would take exactly this
# reading of it: the header patterns are logparse's (their fields cannot end anywhere else), the
# message is whole, so no earlier check of parse_message (`>>`, a tqdm bar, a dict) applies and
# only one of _round_event's phrases is in it. `_fast_round` builds the event the parser would
# (tests compare the two on every round line they have), in a fraction of the time.
_D = rb"(\d{1,18})"
_TS = rb"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})"
_FAST_ROUND = re.compile(
    # groups 1-3: Hydra's header (the logger: printable ASCII but `]`, a part of logparse's [^\]\n])
    rb"(?:\[" + _TS + rb"\]\[([ -\\^-~]{1,200})\]\[([A-Z]{3,8})\] - "
    # 4-6: training_*.log's; 7-8: Python's console format, maybe with hivemind's logger tag
    rb"|\[([a-z_]{1,120})\] " + _TS + rb" ([A-Z]{3,8}): "
    rb"|(DEBUG|INFO|WARNING|WARN|ERROR|CRITICAL):([\w.]{1,200}):(?:[a-z]+ [a-z]+ [a-z]+:|None:)?)"
    # 🐝 📈 📉, then the message: 9-10 joining, 11-12 finished, 13-14 training, 15-16 starting
    # (genrl), 17 starting (hivemind), 18-19 already finished
    rb"(?:(?:\xf0\x9f\x90\x9d|\xf0\x9f\x93\x88|\xf0\x9f\x93\x89) )?"
    rb"(?:Joining round: " + _D + rb"(?: starting at stage: " + _D + rb")?"
    rb"|Finished training round: " + _D + rb" stage: " + _D +
    rb"|Training round: " + _D + rb" stage: " + _D +
    rb"|Starting round: " + _D + rb"/" + _D + rb"\.?"
    rb"|Starting new round: " + _D +
    rb"|Already finished round: " + _D + rb"\. Next check in (\d{1,18}(?:\.\d{1,18})?)s\.)"
    rb"\r?"    # a terminal capture's \r\n: splitting on \r leaves the same text
)
_object_new = object.__new__
_NAMES_KEPT = 1024

# Era evidence in the lines themselves, for output read without its checkout. Each era's own
# package name (logger names `hivemind_exp.*`, `rgym_exp.*`, `code_gen_exp.*`, `genrl_swarm.*`,
# and module paths in tracebacks and in bash's `Killed  python -m …` line) and the prompts and
# `>>` lines only one era's run_rl_swarm.sh prints (read in v0.2.0 … v0.7.0). hivemind_exp is
# run only by the hivemind era (later checkouts keep a few of its files for web/, which users do
# not run). Weak evidence says only "v0.5 or later" (Hydra's `[time][logger][LEVEL] - ` header,
# gensyn-genrl's `genrl.` loggers and paths, the rg-swarm.yaml config of v0.5.0-v0.6): it names
# rgym, the era most v0.5+ output is from, until something names the era itself.
ERA_TOKENS: tuple[tuple[bytes, str, bool], ...] = (
    # genrl-swarm's first: its checkouts (v0.5.0-v0.5.1) still hold hivemind_exp/, so a mention of
    # hivemind_exp does not outvote it (_era_evidence)
    (b"genrl_swarm", "genrl-swarm", True),
    (b"genrl-swarm", "genrl-swarm", True),
    (b"hivemind_exp", "hivemind", True),
    (b"Which swarm would you like to join", "hivemind", True),
    (b"How many parameters (in billions)", "hivemind", True),
    (b"connect to the Testnet? [Y/n]", "hivemind", True),
    (b"Post about rl-swarm on X/twitter", "hivemind", True),
    (b"rgym_exp", "rgym", True),
    (b"AI Prediction Market", "rgym", True),
    (b"Playing PRG game", "rgym", True),
    (b"placed bet of", "rgym", True),
    (b"code_gen_exp", "codezero", True),
    (b"code-gen-swarm.yaml", "codezero", True),
    (b"Installing Ollama requires", "codezero", True),
    (b"Starting ollama server", "codezero", True),
    (b"Joining CodeZero Swarm", "codezero", True),
    (b"rg-swarm.yaml", "rgym", False),
    (b"][INFO] - ", "rgym", False),
    (b"][DEBUG] - ", "rgym", False),
    (b"][WARNING] - ", "rgym", False),
    (b"][ERROR] - ", "rgym", False),
    (b"[genrl.", "rgym", False),
    (b"/site-packages/genrl/", "rgym", False),
)
# The animal name wherever rl-swarm prints it besides the Hello line: hivemind_exp's logger tag
# (`…trainer:<three words>:` on the console, `…:<three words>:<lineno> - ` in logs/swarm.log),
# training_<name>.log's line prefix (v0.5.2-v0.5.8), and the `-Gensyn-Swarm-<name>` suffix of the
# output folder and the Hugging Face repo (every era), the last two with `_` for spaces.
_NAME_SPOTS = (
    re.compile(rb"hivemind_exp\.[\w.]{1,200}:([a-z]{1,20} [a-z]{1,20} [a-z]{1,20}):"),
    re.compile(rb"\[([a-z]{1,20}_[a-z]{1,20}_[a-z]{1,20})\] \d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [A-Z]{3,8}: "),
    re.compile(rb"-Gensyn-Swarm-([a-z]{1,20}_[a-z]{1,20}_[a-z]{1,20})(?![\w-])"),
)
_TRAINING_LOG_NAME = re.compile(r"training_([a-z]{1,20}_[a-z]{1,20}_[a-z]{1,20})\.log$")
# The script always prints the login wait's first line before it looks for the file: a wait that
# ends (`Found userData.json`, `API key is activated`) within this many lines of the same file was
# no wait anybody had to act on. Nothing else is printed while it polls, so the end comes right
# after, unless the person had to log in.
LOGIN_SOON_LINES = 200


@dataclass
class Detection:
    id: str
    cls: str
    action: str
    hint: str
    text: str
    file: str
    line: int

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "class": self.cls, "file": self.file, "line": self.line,
                "action": self.action, "hint": self.hint, "text": self.text}


@dataclass
class FileStats:
    file: str
    lines: int = 0
    bytes: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "lines": self.lines, "bytes": self.bytes}


@dataclass
class Report:
    files: list[FileStats] = field(default_factory=list)
    era: str | None = None
    peer_id: str | None = None
    animal_name: str | None = None
    first_round: int | None = None
    last_round: int | None = None
    skipped: list[int] = field(default_factory=list)
    rounds_completed: int = 0
    last_progress: dict[str, Any] | None = None
    last_rewards: dict[str, float] | None = None
    market: dict[str, Any] | None = None       # v0.6 AI Prediction Market, when the node played it
    detections: list[Detection] = field(default_factory=list)

    @property
    def lines(self) -> int:
        return sum(f.lines for f in self.files)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for d in self.detections:
            out[d.id] = out.get(d.id, 0) + 1
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "era": self.era,
            "era_label": ERA_LABELS.get(self.era) if self.era else None,
            "peer_id": self.peer_id,
            "animal_name": self.animal_name,
            "rounds": {"first": self.first_round, "last": self.last_round, "skipped": list(self.skipped),
                       "completed": self.rounds_completed},
            "last_progress": self.last_progress,
            "last_rewards": self.last_rewards,
            "market": self.market,
            "files": [f.to_dict() for f in self.files],
            "lines": self.lines,
            "counts": self.counts(),
            "detections": [d.to_dict() for d in self.detections],
        }


def _yields(raw: bytes, kind: type) -> bool:
    """Does this line hold an event of `kind` (a training step, rewards) for the report?"""
    for piece in raw.decode("utf-8", "replace").split("\r"):
        for ev in parse_all(sanitize(piece)[:MAX_LINE]):
            if isinstance(ev, kind) and (kind is not Rewards or any("reward" in k for k in ev.metrics)):
                return True
    return False


class Diagnoser:
    """Feed it files in order; `report` says what they show."""

    skip_repeats = True     # tests turn it off to compare

    def __init__(self, catalogue: Catalogue | None = None):
        self.catalogue = catalogue if catalogue is not None else Catalogue.load()
        self.matcher = Matcher(self.catalogue)
        self.progress = ProgressModel()
        self.report = Report()
        self._needles = tuple((n.encode(), flag) for n, flag in SCAN_NEEDLES)
        self._search = bytesearch.MEMMEM or bytesearch.PYTHON   # tests compare the two
        self._last_only = tuple((n.encode(), kind) for n, kind in LAST_ONLY_NEEDLES)
        # A line found only by parse needles still needs the matcher if it holds one of the
        # catalogue needles that contain such a needle ("Could not fetch round and stage").
        parse_only = [n for n, flag in SCAN_NEEDLES if not flag & MATCH] + [n for n, _ in LAST_ONLY_NEEDLES]
        self._match_too = tuple(c for c in self.catalogue.needles() if any(p in c for p in parse_only))
        self._match_too_b = tuple(c.encode() for c in self._match_too)
        self._names: dict[bytes, str] = {}      # logger names, decoded once
        self._levels: dict[bytes, str] = {}     # level names, decoded and de-aliased once
        self._skipped_sig = self.catalogue.get("skipped-round")
        self._era_strong: str | None = None
        self._era_weak: str | None = None
        self._tag_name: str | None = None       # the animal name from a logger tag, a path, a file name
        self._hello_name = False                # the name came from a Hello line (it wins)
        self._login_pending: dict[tuple[str, str], list[tuple[Detection, int]]] = {}
        # genrl prints "Already finished round: R. Next check in Xs." again and again while it
        # waits for the chain. Fed again with nothing else fed in between, the same round under
        # the same header changes nothing (ProgressModel: the round is already complete and
        # current; the era the same), so the fast path skips it. `_fed` counts everything else
        # that could change the state (events, matcher lines, a new chunk's era evidence).
        self._fed = 0
        self._last_already: tuple | None = None

    # ------------------------------------------------------------ reading

    def read(self, stream: BinaryIO, name: str) -> FileStats:
        stats = FileStats(name)
        self.report.files.append(stats)
        m = _TRAINING_LOG_NAME.search(name)
        if m and self._tag_name is None:
            self._tag_name = m.group(1).replace("_", " ")
        carry = b""
        lineno = 0              # physical lines completed so far
        dropping = False        # inside the tail of a line far longer than anyone will read
        while True:
            data = stream.read(CHUNK)
            stats.bytes += len(data)
            if not data:
                if carry:
                    lineno += self._scan(carry, name, lineno) + (0 if carry.endswith(b"\n") else 1)
                elif dropping:
                    lineno += 1
                break
            if dropping:
                nl = data.find(b"\n")
                if nl < 0:
                    continue
                data, dropping = data[nl + 1:], False
                lineno += 1
            chunk = carry + data if carry else data
            cut = chunk.rfind(b"\n")
            if cut < 0:
                if len(chunk) > 64 * MAX_LINE:
                    # Only the head of a line is ever read (the live engine caps lines the
                    # same way); the rest is skipped up to its newline, without buffering it.
                    self._scan(chunk[: 8 * MAX_LINE], name, lineno)
                    carry, dropping = b"", True
                    continue
                carry = chunk
                continue
            lineno += self._scan(chunk, name, lineno, cut + 1)
            carry = chunk[cut + 1:]
        stats.lines = lineno
        return stats

    def _scan(self, block: bytes, name: str, base: int, size: int | None = None) -> int:
        """Process the interesting lines of `block[:size]` (whole lines, the last one maybe
        unterminated); returns how many newlines it holds."""
        find = block.find
        rfind = block.rfind
        count = block.count
        if size is None:
            size = len(block)
        self._fed += 1
        self._era_evidence(block, size)
        if self._tag_name is None:
            for rx in _NAME_SPOTS:
                m = rx.search(block, 0, size)
                if m:
                    self._tag_name = m.group(1).decode().replace("_", " ")
                    break
        starts: dict[int, int] = {}
        get = starts.get
        search = self._search
        for needle, flag in self._needles:
            search(block, size, needle, starts, flag)
        for needle, kind in self._last_only:
            end = size
            for _ in range(_LAST_ONLY_TRIES):
                pos = rfind(needle, 0, end)
                if pos < 0:
                    break
                ls = rfind(b"\n", 0, pos) + 1
                le = find(b"\n", pos)
                if _yields(block[ls: size if le < 0 else le], kind):
                    starts[ls] = get(ls, 0) | PARSE
                    break
                end = ls
        busy = self.matcher.busy
        is_busy = busy(name)    # changes only when _line feeds the matcher
        if not starts and not is_busy:
            return count(b"\n", 0, size)
        fast_round = _FAST_ROUND.fullmatch
        match_too = self._match_too_b
        last_pos, lineno = 0, base
        next_free = 0       # the first byte not yet looked at
        for ls in sorted(starts):
            if ls < next_free:
                continue
            flags = starts[ls]
            if is_busy:
                # Lines between two interesting ones are fed only while a multi-line condition
                # (a traceback, a "followed by" rule) is open, exactly as the live engine would.
                while next_free < ls and busy(name):
                    le = find(b"\n", next_free)
                    le = size if le < 0 else le
                    lineno += count(b"\n", last_pos, next_free)
                    last_pos = next_free
                    self._line(block[next_free:le], name, lineno + 1, MATCH | PARSE)
                    next_free = le + 1
                is_busy = busy(name)
            lineno += count(b"\n", last_pos, ls)
            last_pos = ls
            le = find(b"\n", ls)
            le = size if le < 0 else le
            next_free = le + 1
            if flags == PARSE and not is_busy:
                m = fast_round(block, ls, le)
                if m is not None:
                    for n in match_too:     # a line _line would give the matcher too
                        if find(n, ls, le) >= 0:
                            break
                    else:
                        self._fast_round(m, name, lineno + 1)
                        continue
            self._line(block[ls:le], name, lineno + 1, flags)
            is_busy = busy(name)
        while next_free < size and busy(name):
            le = find(b"\n", next_free)
            le = size if le < 0 else le
            lineno += count(b"\n", last_pos, next_free)
            last_pos = next_free
            self._line(block[next_free:le], name, lineno + 1, MATCH | PARSE)
            next_free = le + 1
        return lineno - base + count(b"\n", last_pos, size)

    def _fast_round(self, m: re.Match, name: str, lineno: int) -> None:
        """The RoundEvent parse_all would make of a line _FAST_ROUND matched, fed as _segment would."""
        g = m.groups()
        last = m.lastindex
        if last == 19:
            again = (name, g[1] or g[3] or g[7], g[2] or g[5] or g[6], g[17], self._fed)
            if again == self._last_already and self.skip_repeats:
                return
        if g[0] is not None:
            ts, logger, level = g[0].decode(), g[1], g[2]
        elif g[3] is not None:
            logger, ts, level = g[3], g[4].decode(), g[5]
        else:
            level, logger, ts = g[6], g[7], None
        names = self._names
        lg = names.get(logger)
        if lg is None:
            lg = logger.decode()
            if len(names) < _NAMES_KEPT:
                names[logger] = lg
        lv = self._levels.get(level)
        if lv is None:
            lv = level.decode()
            lv = _LEVEL_ALIASES.get(lv, lv)
            if len(self._levels) < _NAMES_KEPT:
                self._levels[level] = lv
        # Built the way logparse builds its events (its _new: the frozen __init__ is skipped),
        # from the class's defaults, so a field added later keeps its default here too.
        ev = _object_new(RoundEvent)
        d = ev.__dict__
        d.update(RoundEvent._defaults)  # type: ignore[attr-defined]
        d["level"], d["logger"], d["timestamp"] = lv, lg, ts
        if last == 19:
            d["kind"], d["round"], d["wait_s"] = "already-finished", int(g[17]), float(g[18])
        elif last == 16:
            d["kind"], d["round"], d["total"] = "starting", int(g[14]), int(g[15])
        elif last == 9:
            d["kind"], d["round"] = "joining", int(g[8])
        elif last == 10:
            d["kind"], d["round"], d["stage"] = "joining", int(g[8]), int(g[9])
        elif last == 14:
            d["kind"], d["round"], d["stage"] = "training", int(g[12]), int(g[13])
        elif last == 12:
            d["kind"], d["round"], d["stage"] = "finished", int(g[10]), int(g[11])
        else:
            d["kind"], d["round"] = "starting", int(g[16])
        self._round(ev, name, lineno)
        if last == 19:
            self._last_already = (name, g[1] or g[3] or g[7], g[2] or g[5] or g[6], g[17], self._fed)

    def _line(self, raw: bytes, name: str, lineno: int, flags: int = MATCH | PARSE) -> None:
        text = raw.decode("utf-8", "replace")
        pieces = [p for p in text.split("\r") if p] if "\r" in text else (text,)
        for piece in pieces:
            if not piece.isprintable():  # ANSI, control characters or tabs: the slow path
                piece = sanitize(piece)
            if len(piece) > MAX_LINE:
                piece = piece[:MAX_LINE]
            parse = flags & PARSE
            if not parse:
                for t in EVENT_TRIGGERS:
                    if t in piece:
                        parse = PARSE
                        break
            match = flags & MATCH
            if not match:
                if self.matcher.busy(name):
                    match = MATCH
                else:
                    for n in self._match_too:
                        if n in piece:
                            match = MATCH
                            break
            self._segment(piece, name, lineno, parse, match)

    def feed_text(self, text: str, name: str, lineno: int) -> None:
        """One already-split, sanitized line (for callers that have lines, not files)."""
        raw = text.encode("utf-8", "replace")
        self._era_evidence(raw, len(raw))
        if self._tag_name is None:
            m = _TRAINING_LOG_NAME.search(name)
            if m:
                self._tag_name = m.group(1).replace("_", " ")
            for rx in _NAME_SPOTS:
                m = rx.search(raw)
                if m and self._tag_name is None:
                    self._tag_name = m.group(1).decode().replace("_", " ")
        self._segment(text, name, lineno, True, True)

    def _segment(self, text: str, name: str, lineno: int, parse: bool = True, match: bool = True) -> None:
        self._fed += 1
        if parse:
            for ev in parse_all(text):
                self._event(ev, name, lineno)
        if match:
            for m in self.matcher.feed(text, name, lineno):
                det = Detection(m.id, m.cls, m.action, m.hint, m.text, name, m.line)
                self.report.detections.append(det)
                if m.id == "login-waiting":
                    what = "userData.json" if "userData" in m.text else "key"
                    self._login_pending.setdefault((name, what), []).append((det, m.line))

    def _event(self, ev: Any, name: str, lineno: int) -> None:
        if isinstance(ev, RoundEvent):
            self._round(ev, name, lineno)
            return
        progress = self.progress
        progress.feed(ev, 0.0)
        rep = self.report
        if isinstance(ev, StepProgress):
            rep.last_progress = {"file": name, "line": lineno, "round": progress.round, "stage": progress.stage,
                                 "step": ev.step, "total": ev.total}
        elif isinstance(ev, Hello):
            rep.peer_id, rep.animal_name = ev.peer_id, ev.animal_name
            self._hello_name = True
            self._era_from(ev)
        elif isinstance(ev, Rewards):
            if progress.last_rewards:
                rep.last_rewards = dict(progress.last_rewards)
        elif isinstance(ev, Milestone):
            if ev.name == "codezero-join":
                self._set_era("codezero", strong=True)
            elif ev.name in ("registering", "already-registered") and not rep.peer_id and ev.detail.startswith("Qm"):
                rep.peer_id = ev.detail.split()[0]
            elif ev.name == "login-found":
                self._login_ended(name, "userData.json", lineno)
            elif ev.name == "key-activated":
                self._login_ended(name, "key", lineno)

    def _login_ended(self, name: str, what: str, lineno: int) -> None:
        """The script found what it waited for: a wait that ended soon after it began was none."""
        waits = self._login_pending.pop((name, what), [])
        soon = {id(det) for det, line in waits if lineno - line <= LOGIN_SOON_LINES}
        # They are among the newest detections: look from the end, not through every one (a week
        # of logs has a login line per restart and thousands of detections: that was quadratic).
        dets = self.report.detections
        i = len(dets) - 1
        while soon and i >= 0:
            if id(dets[i]) in soon:
                soon.discard(id(dets[i]))
                del dets[i]
            i -= 1

    def _round(self, ev: RoundEvent, name: str, lineno: int) -> None:
        self._fed += 1
        progress = self.progress
        changed = progress.feed(ev, 0.0)
        rep = self.report
        self._era_from(ev)
        rep.first_round = progress.first_round
        rep.last_round = progress.round
        rep.rounds_completed = progress.rounds_completed
        if progress.new_skips:
            s = self._skipped_sig
            for r in progress.new_skips:
                rep.skipped.append(r)
                rep.detections.append(Detection(s.id, s.cls, s.action, s.hint, f"round {r} skipped (next: {ev.round})",
                                                name, lineno))
        if changed or rep.last_progress is None:
            rep.last_progress = {"file": name, "line": lineno, "round": progress.round,
                                 "stage": progress.stage, "step": progress.step, "total": progress.total}

    # ------------------------------------------------------------ era evidence

    def _era_evidence(self, block: bytes, size: int) -> None:
        """The era named by ERA_TOKENS in this block: the one whose evidence comes last (a capture
        that spans an upgrade ends in the newer era)."""
        best: tuple[int, str] | None = None
        weak: tuple[int, str] | None = None
        for token, era, strong in ERA_TOKENS:
            if not strong and (self._era_strong is not None or best is not None):
                continue        # weak evidence counts only when there is no strong evidence at all
            # Only a later occurrence than the best so far can win: search just what follows it
            # (a full pass per token and block was a tenth of diagnose's time).
            after = best if strong else weak
            pos = block.rfind(token, 0 if after is None else after[0] + 1, size)
            if pos < 0:
                continue
            if strong:
                if era == "hivemind" and (self._era_strong == "genrl-swarm" or (best and best[1] == "genrl-swarm")):
                    continue        # v0.5.0-v0.5.1 checkouts still hold hivemind_exp/
                if best is None or pos > best[0]:
                    best = (pos, era)
            elif weak is None or pos > weak[0]:
                weak = (pos, era)
        if best is not None:
            self._set_era(best[1], strong=True)
        elif weak is not None:
            self._set_era(weak[1], strong=False)

    def _set_era(self, era: str, strong: bool) -> None:
        if strong:
            self._era_strong = era
        else:
            self._era_weak = era
        self.report.era = self._era_strong or self._era_weak

    def _era_from(self, ev: Any) -> None:
        logger = ev.logger or ""
        if logger.startswith("hivemind_exp"):
            self._set_era("hivemind", strong=True)
            return
        if logger.startswith("genrl_swarm"):
            self._set_era("genrl-swarm", strong=True)
            return
        if isinstance(ev, Hello):
            if ev.style == "bee":
                self._set_era("codezero", strong=True)
            elif logger.startswith("genrl"):
                self._set_era("rgym", strong=True)
            return
        if isinstance(ev, RoundEvent):
            if ev.stage is not None:
                self._set_era("hivemind", strong=True)
            elif self._era_strong not in ("codezero", "rgym", "genrl-swarm"):
                self._set_era("rgym", strong=False)

    # ------------------------------------------------------------ finishing

    def finish(self) -> Report:
        rep = self.report
        rep.first_round = self.progress.first_round
        rep.last_round = self.progress.round
        rep.rounds_completed = self.progress.rounds_completed
        if self.progress.last_rewards:
            rep.last_rewards = dict(self.progress.last_rewards)
        if self.progress.market:
            rep.market = dict(self.progress.market)
        if not self._hello_name and rep.animal_name is None and self._tag_name is not None:
            rep.animal_name = self._tag_name
        return rep


def diagnose_paths(paths: Iterable[str]) -> Report:
    """Diagnose files by path, in order (for callers and benchmarks; '-' is not special here)."""
    d = Diagnoser()
    for p in paths:
        with open(p, "rb") as f:
            d.read(f, p)
    return d.finish()
