"""One line of node output -> one typed event (or None), for every rl-swarm era.

Input is one sanitized line (node.text has removed ANSI codes and split on \\r and \\n). Formats
are those of rl-swarm-facts.md §3 (regex cheat-sheet §3.6). Each check is guarded by a plain
substring test first, so an uninteresting line costs a handful of `in` operations and a megabyte
line cannot make a regex backtrack.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, ClassVar, Union

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# hivemind renames WARNING to WARN process-wide (hivemind/utils/logging.py addLevelName), so any
# handler in the same process may print WARN.
_LEVEL_ALIASES = {"WARN": "WARNING", "FATAL": "CRITICAL"}

# ---------------------------------------------------------------- event types


@dataclass(frozen=True)
class ParsedLine:
    """Fields every event carries when the line's header gives them."""
    level: str | None = field(default=None, kw_only=True)
    logger: str | None = field(default=None, kw_only=True)
    timestamp: str | None = field(default=None, kw_only=True)


@dataclass(frozen=True)
class LogHeader(ParsedLine):
    """A line with a known log header whose message is nothing more specific."""
    kind: ClassVar[str] = "header"
    message: str = ""


@dataclass(frozen=True)
class Milestone(ParsedLine):
    kind: ClassVar[str] = "milestone"
    name: str = ""
    detail: str = ""


@dataclass(frozen=True)
class Hello(ParsedLine):
    kind: ClassVar[str] = "hello"
    animal_name: str = ""
    peer_id: str = ""
    style: str = ""                 # "cat" (`🐱 Hello 🐈 [..] 🦮 [..]!`) or "bee" (CodeZero's `🐝 Hello [..] [..]!`)


ROUND_KINDS = ("joining", "training", "finished", "starting", "already-finished")


@dataclass(frozen=True)
class RoundEvent(ParsedLine):
    kind: str                       # one of ROUND_KINDS
    round: int
    stage: int | None = None
    total: int | None = None
    wait_s: float | None = None


@dataclass(frozen=True)
class StepProgress(ParsedLine):
    kind: ClassVar[str] = "step"
    step: int = 0
    total: int = 0
    pct: int = 0
    elapsed_s: float = 0.0
    eta_s: float | None = None
    rate: str = ""


@dataclass(frozen=True)
class Rewards(ParsedLine):
    kind: ClassVar[str] = "rewards"
    metrics: dict = field(default_factory=dict)   # dict[str, float]


@dataclass(frozen=True)
class SubmitWinners(ParsedLine):
    kind: ClassVar[str] = "submit-winners"
    round: int = 0
    peers: tuple = ()


@dataclass(frozen=True)
class LoginWait(ParsedLine):
    kind: ClassVar[str] = "login-wait"
    what: str = ""                  # "userData.json" or "key activation"


@dataclass(frozen=True)
class ScriptLine(ParsedLine):
    kind: ClassVar[str] = "script"
    text: str = ""


@dataclass(frozen=True)
class MarketBet(ParsedLine):
    """v0.6 AI Prediction Market: the node bet on one clue of a game (rgym_exp prg_module.py)."""
    kind: ClassVar[str] = "market-bet"
    game: int = 0
    clue: int = 0
    tokens: float = 0.0
    choice: str = ""


@dataclass(frozen=True)
class MarketClaim(ParsedLine):
    kind: ClassVar[str] = "market-claim"
    game: int = 0


def _fast_factories() -> None:
    """Record each event class's field defaults, for `_new`, which skips the frozen __init__.

    A frozen dataclass sets each field through object.__setattr__, which costs microseconds per
    event on a slow core; `diagnose` builds hundreds of thousands. The objects are ordinary
    instances of the same frozen classes (equality, repr and immutability unchanged).
    """
    import dataclasses

    for cls in (LogHeader, Milestone, Hello, RoundEvent, StepProgress, Rewards, SubmitWinners, LoginWait, ScriptLine,
                MarketBet, MarketClaim):
        defaults = {}
        for f in dataclasses.fields(cls):
            if f.default is not dataclasses.MISSING:
                defaults[f.name] = f.default
            elif f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
                defaults[f.name] = None  # always passed explicitly by the parser
        cls._defaults = defaults  # type: ignore[attr-defined]


def _new(cls, **fields):
    obj = object.__new__(cls)
    d = obj.__dict__
    d.update(cls._defaults)
    d.update(fields)
    return obj


_fast_factories()


Event = Union[LogHeader, Milestone, Hello, RoundEvent, StepProgress, Rewards, SubmitWinners, LoginWait, ScriptLine,
              MarketBet, MarketClaim]

# ---------------------------------------------------------------- headers

_TS = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}"
_HYDRA = re.compile(r"\[(" + _TS + r")\]\[([^\]\n]{1,200})\]\[([A-Z]{3,8})\] - ")
_TRAINING_LOG = re.compile(r"\[([a-z_]{1,120})\] (" + _TS + r") ([A-Z]{3,8}): ")
# hivemind_exp's loggers are named `module:tag` (the trainer's and stage_utils' tag is the animal
# name, stage_merger's is `None`: getLogger(f"{__name__}:{log_tag}") in v0.2-v0.4), so both of
# debug_utils.py's formats carry the tag: `%(name)s:%(lineno)d` in logs/swarm.log, `%(name)s:` on
# the console. The tag is not part of the logger or the message here; `name_tag` reads it.
_TAG = r"[a-z]+ [a-z]+ [a-z]+|None"
_FILE_A = re.compile(r"(" + _TS + r") - ([A-Z]{3,8}) - ([^\s:]{1,200})(?::(" + _TAG + r"))?:(\d+) - ")
_CONSOLE_A = re.compile(r"(DEBUG|INFO|WARNING|WARN|ERROR|CRITICAL):([\w.]{1,200}):(?:(" + _TAG + r"):)?")
_HIVEMIND = re.compile(
    r"([A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d\.\d{3}) \[(DEBUG|INFO|WARN|WARNING|ERROR|CRITICAL)\](?: \[([^\]\n]{1,200})\])? "
)


def _level(name: str) -> str:
    return _LEVEL_ALIASES.get(name, name)


def split_header(text: str) -> tuple[str | None, str | None, str | None, str]:
    """(level, logger, timestamp, message) from any known header; the whole text when none."""
    if not text:
        return None, None, None, text
    c = text[0]
    if c == "[":
        m = _HYDRA.match(text)
        if m:
            return _level(m.group(3)), m.group(2), m.group(1), text[m.end():]
        m = _TRAINING_LOG.match(text)
        if m:
            return _level(m.group(3)), m.group(1), m.group(2), text[m.end():]
    elif "0" <= c <= "9":
        m = _FILE_A.match(text)
        if m:
            return _level(m.group(2)), m.group(3), m.group(1), text[m.end():]
    elif "A" <= c <= "Z":
        if text[3:4] == " ":
            m = _HIVEMIND.match(text)
            if m:
                return _level(m.group(2)), m.group(3) or "hivemind", m.group(1), text[m.end():]
        m = _CONSOLE_A.match(text)
        if m:
            logger = m.group(2)
            return _level(m.group(1)), logger, None, text[m.end():]
    return None, None, None, text


def level_of(text: str) -> str | None:
    """DEBUG/INFO/WARNING/ERROR/CRITICAL from any known header (None when the line has none)."""
    return split_header(text)[0]


# ---------------------------------------------------------------- message patterns

_R_JOIN_A = re.compile(r"Joining round: (\d+) starting at stage: (\d+)")
_R_JOIN_B = re.compile(r"Joining round: (\d+)")
_R_TRAIN = re.compile(r"Training round: (\d+) stage: (\d+)")
_R_FINISH = re.compile(r"Finished training round: (\d+) stage: (\d+)")
_R_START_B = re.compile(r"Starting round: (\d+)/(\d+)")
_R_START_A = re.compile(r"Starting new round: (\d+)")
_R_ALREADY = re.compile(r"Already finished round: (\d+)\. Next check in ([\d.]+)s")
_WINNERS = re.compile(r"Submitting winners for round (\d+): (.*)")
_PEER = re.compile(r"Qm[1-9A-HJ-NP-Za-km-z]{44}")
_BET = re.compile(r"Game (\d{1,12}) Round (\d{1,12}): Peer \S{1,100} placed bet of (\d{1,30}(?:\.\d+)?) tokens "
                  r"on choice - (.{0,200})")
_CLAIM = re.compile(r"successfully claimed reward for previous game (\d{1,12})")
_HELLO_A = re.compile(r"Hello 🐈 \[([^\]\n]{1,100})\] 🦮 \[([^\]\n]{1,100})\]")
_HELLO_C = re.compile(r"Hello \[([^\]\n]{1,100})\] \[([^\]\n]{1,100})\]")
_TQDM = re.compile(
    r" *(\d{1,3})%\|[^|\n]{0,400}\| *(\d+)/(\d+) \[([\d:]{1,12})<([\d:?]{1,12}), *([\d.?]{1,12} ?(?:s/it|it/s))\]"
)
_BACKTICK = re.compile(r"`([^`\n]{1,4096})`")

_MAX_DICT_CHARS = 20000


def _clock_seconds(text: str) -> float | None:
    """tqdm's [H:]MM:SS -> seconds; None for '?'."""
    if not text or "?" in text:
        return None
    total = 0
    for part in text.split(":"):
        if not part.isdigit():
            return None
        total = total * 60 + int(part)
    return float(total)


def parse_step(text: str) -> StepProgress | None:
    """A tqdm training bar (`  5%|█ | 1/20 [14:19<4:32:11, 859.55s/it]`), not Map/download bars."""
    m = _TQDM.match(text)
    if not m:
        return None
    pct, step, total = int(m.group(1)), int(m.group(2)), int(m.group(3))
    return _new(StepProgress, step=step, total=total, pct=pct, elapsed_s=_clock_seconds(m.group(4)) or 0.0,
                        eta_s=_clock_seconds(m.group(5)), rate=m.group(6).replace(" ", ""))


def unglue(text: str) -> list[str]:
    """Split a tqdm bar from the message glued after it (tqdm leaves its last redraw
    unterminated: `…| 20/20 [05:00<00:00, 15.0s/it]Apr 04 07:38:41.041 [ERROR] …`)."""
    if "%|" not in text or not text.lstrip().startswith(tuple("0123456789")):
        return [text]
    m = _TQDM.match(text)
    if not m or m.end() >= len(text):
        return [text]
    return [text[: m.end()], text[m.end():]]


# `'key': number` pairs of a trl metrics dict. Parsed with a regex rather than evaluated: no
# eval, no literal_eval cost (a trainer prints one every 2 steps), nothing nested is needed.
_METRIC = re.compile(r"'([^'\\\n]{1,200})': (-?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|nan|inf))(?=[,}])")


def _metrics(text: str) -> dict[str, float] | None:
    start = text.find("{'")
    end = text.rfind("}")
    if start < 0 or end < start or end - start > _MAX_DICT_CHARS:
        return None
    out: dict[str, float] = {}
    for key, value in _METRIC.findall(text, start, end + 1):
        try:
            out[key] = float(value)
        except ValueError:
            continue
    return out or None


def _milestone(msg: str) -> tuple[str, str] | None:
    if "Connected to Gensyn Testnet" in msg:
        return "testnet-connected", ""
    if "Checking that identity from" in msg:
        m = _BACKTICK.search(msg)
        return "identity-check", m.group(1) if m else ""
    if "Generating new identity to be saved in" in msg:
        m = _BACKTICK.search(msg)
        return "identity-generated", m.group(1) if m else ""
    if msg.startswith("bootnodes: "):
        return "bootnodes", msg[len("bootnodes: "):]
    if "Using Model: " in msg:
        return "model", msg.split("Using Model: ", 1)[1].strip()
    if "Joining CodeZero Swarm" in msg:
        return "codezero-join", ""
    if "Registering self with peer ID: " in msg:
        return "registering", msg.split("Registering self with peer ID: ", 1)[1].strip()
    if "is already registered! Continuing" in msg:
        m = _PEER.search(msg)
        return "already-registered", m.group(0) if m else ""
    if "Retrieved initial peers from chain" in msg or "Joining swarm with initial_peers" in msg:
        return "initial-peers", msg.split(":", 1)[1].strip() if ":" in msg else ""
    if "Starting swarm at " in msg:
        return "swarm-started", msg.split("Starting swarm at ", 1)[1].strip()
    if msg.startswith("Starting training "):
        return "training-started", msg[len("Starting training "):]
    if "Your ORG_ID is set to: " in msg:
        return "org-id", msg.split("Your ORG_ID is set to: ", 1)[1].strip()
    if "Found userData.json" in msg:
        return "login-found", ""
    if "API key is activated" in msg:
        return "key-activated", ""
    if msg.startswith("Started server process: "):
        return "login-server-started", msg[len("Started server process: "):].strip()
    if "Model saved to " in msg:
        return "model-saved", msg.split("Model saved to ", 1)[1].strip()
    if "Pushing model to Hugging Face Hub" in msg or "pushing model to huggingface" in msg:
        return "hf-push", ""
    if "wandb: You can sync this run to the cloud" in msg:
        return "python-exited", ""
    if "Training timed out!" in msg:
        return "training-timed-out", ""
    if msg.startswith("Train samples: "):
        return "data-ready", msg
    return None


def _round_event(msg: str) -> RoundEvent | None:
    if "round" not in msg:
        return None
    if "Joining round: " in msg:
        m = _R_JOIN_A.search(msg)
        if m:
            return _new(RoundEvent, kind="joining", round=int(m.group(1)), stage=int(m.group(2)))
        m = _R_JOIN_B.search(msg)
        if m:
            return _new(RoundEvent, kind="joining", round=int(m.group(1)))
    if "Finished training round: " in msg:
        m = _R_FINISH.search(msg)
        if m:
            return _new(RoundEvent, kind="finished", round=int(m.group(1)), stage=int(m.group(2)))
    if "Training round: " in msg:
        m = _R_TRAIN.search(msg)
        if m:
            return _new(RoundEvent, kind="training", round=int(m.group(1)), stage=int(m.group(2)))
    if "Starting round: " in msg:
        m = _R_START_B.search(msg)
        if m:
            return _new(RoundEvent, kind="starting", round=int(m.group(1)), total=int(m.group(2)))
    if "Starting new round: " in msg:
        m = _R_START_A.search(msg)
        if m:
            return _new(RoundEvent, kind="starting", round=int(m.group(1)))
    if "Already finished round: " in msg:
        m = _R_ALREADY.search(msg)
        if m:
            try:
                wait = float(m.group(2).rstrip("."))
            except ValueError:
                wait = None
            return _new(RoundEvent, kind="already-finished", round=int(m.group(1)), wait_s=wait)
    return None


def _with_header(event, level, logger, timestamp):
    if level is not None or logger is not None or timestamp is not None:
        # The event was made by _new a moment ago and nobody else holds it yet.
        d = event.__dict__
        d["level"], d["logger"], d["timestamp"] = level, logger, timestamp
    return event


# A line that holds none of these gets nothing from parse_line but, at most, a LogHeader (its
# level, logger and time): every path to another event above tests for a phrase holding one
# (tests walk this module's `in`/startswith tests to hold that). screen.py screens on them.
ANCHORS: tuple[str, ...] = (
    ">>", "%|", "{'", "round", "Hello", "placed bet of ", "claimed reward for previous game", "Waiting for ",
    "Connected to Gensyn Testnet", "Checking that identity from", "Generating new identity to be saved in",
    "bootnodes: ", "Using Model: ", "Joining CodeZero Swarm", "Registering self with peer ID: ",
    "is already registered! Continuing", "Retrieved initial peers from chain", "Joining swarm with initial_peers",
    "Starting swarm at ", "Starting training ", "Your ORG_ID is set to: ", "Found userData.json",
    "API key is activated", "Started server process: ", "Model saved to ", "Pushing model to Hugging Face Hub",
    "pushing model to huggingface", "wandb: You can sync this run to the cloud", "Training timed out!",
    "Train samples: ",
)


def parse_message(msg: str):
    """The typed event of a message without its header, or None."""
    if not msg:
        return None
    first = msg[0]
    if first == ">" and msg.startswith(">>"):
        if "Waiting for modal userData.json" in msg:
            return _new(LoginWait, what="userData.json")
        ms = _milestone(msg)
        if ms is not None:
            return _new(Milestone, name=ms[0], detail=ms[1])
        if msg.startswith(">> Shutting down trainer"):
            return _new(Milestone, name="shutdown", detail="")
        return _new(ScriptLine, text=msg.rstrip())
    if "%|" in msg:
        step = parse_step(msg)
        if step is not None:
            return step
    if first == "{" and "{'" in msg:
        metrics = _metrics(msg)
        if metrics is not None:
            if any("reward" in k for k in metrics):
                return _new(Rewards, metrics=metrics)
            return _new(Milestone, name="train-metrics", detail=msg.strip()[:500])
    ev = _round_event(msg)
    if ev is not None:
        return ev
    if "Hello" in msg:
        m = _HELLO_A.search(msg)
        style = "cat"
        if m is None:
            m, style = _HELLO_C.search(msg), "bee"
        if m and _PEER.fullmatch(m.group(2)):
            return _new(Hello, animal_name=m.group(1), peer_id=m.group(2), style=style)
    if "Submitting winners for round " in msg:
        m = _WINNERS.search(msg)
        if m:
            return _new(SubmitWinners, round=int(m.group(1)), peers=tuple(_PEER.findall(m.group(2))))
    if "placed bet of " in msg:
        m = _BET.search(msg)
        if m:
            return _new(MarketBet, game=int(m.group(1)), clue=int(m.group(2)), tokens=float(m.group(3)),
                        choice=m.group(4).strip())
    if "claimed reward for previous game" in msg:
        m = _CLAIM.search(msg)
        if m:
            return _new(MarketClaim, game=int(m.group(1)))
    if "Waiting for " in msg:
        if "Waiting for modal userData.json" in msg:
            return _new(LoginWait, what="userData.json")
        if "Waiting for API key to" in msg:
            return _new(LoginWait, what="key activation")
    ms = _milestone(msg)
    if ms is not None:
        return _new(Milestone, name=ms[0], detail=ms[1])
    return None


def parse_line(text: str):
    """One sanitized line -> Milestone | Hello | RoundEvent | StepProgress | Rewards |
    SubmitWinners | LoginWait | ScriptLine | MarketBet | MarketClaim | LogHeader, or None when
    it is nothing we know.

    A tqdm bar with a message glued after it yields the message's event (the bar's step was
    already seen in its earlier redraws); `parse_all` returns both.
    """
    if not text:
        return None
    parts = unglue(text)
    if len(parts) == 2:
        tail = _parse_one(parts[1])
        return tail if tail is not None else parse_step(parts[0])
    return _parse_one(text)


# A flood repeats a few messages under moving timestamps (`SKIPPING: Failed to decode value`,
# `Already finished round: N` every few seconds for hours): each message is parsed once and its
# event copied after. parse_message is a function of the message alone and its events are frozen,
# so a copy is the same event. Bounded: emptied when full, as a flood of distinct messages would
# fill it with ones that never come again.
_MESSAGES: dict[str, Any] = {}
_MESSAGES_MAX = 4096
_MESSAGE_CHARS = 400        # longer messages are rare and rarely repeat: not kept
_UNSEEN = object()


def _message_event(msg: str):
    known = _MESSAGES.get(msg, _UNSEEN)
    if known is _UNSEEN:
        known = parse_message(msg)
        if len(msg) <= _MESSAGE_CHARS:
            if len(_MESSAGES) >= _MESSAGES_MAX:
                _MESSAGES.clear()
            _MESSAGES[msg] = known
    if known is None:
        return None
    event = object.__new__(type(known))    # _with_header fills in the copy, never the one kept
    event.__dict__.update(known.__dict__)
    return event


def _parse_one(text: str):
    level, logger, timestamp, msg = split_header(text)
    event = _message_event(msg)
    if event is None:
        if level is None:
            return None
        return _new(LogHeader, message=msg, level=level, logger=logger, timestamp=timestamp)
    return _with_header(event, level, logger, timestamp)


def parse_all(text: str) -> list:
    """Every event in one line: the tqdm bar and the message glued after it, when both are there."""
    if not text:
        return []
    out = []
    for part in unglue(text):
        ev = _parse_one(part)
        if ev is not None:
            out.append(ev)
    return out


# ---------------------------------------------------------------- the same message in two places

def fold_key(text: str) -> str:
    """What two copies of one message have in common, whatever handler wrote each: the level and
    the message for a line with a known header (the hivemind era prints `INFO:name:msg` on the
    console and `<time> - INFO - name:lineno - msg` into logs/swarm.log, hivemind_exp/
    debug_utils.py), the text itself for a line without one. v0.4's PrintCapture copies every
    line python prints into swarm.log as `DEBUG - root:… - [PRINT] <line>`: the printed line."""
    level, _logger, _stamp, message = split_header(text)
    if level is None:
        return text.rstrip()
    if message.startswith("[PRINT] "):
        return message[8:].rstrip()
    return f"{level}\x00{message.rstrip()}"


# ---------------------------------------------------------------- progress bars

@dataclass(frozen=True)
class BarState:
    """One redraw of a tqdm bar: `Map:  40%|████      | 2990/7473 [00:00<00:00, 25000.00 examples/s]`."""
    label: str                      # tqdm's desc ("Map"), "" for a bar without one (trl's training bar)
    pct: int
    n: float
    total: float | None             # None when tqdm does not know it (`?`)
    elapsed: float | None = None    # seconds since the bar began, when shown

    @property
    def done(self) -> bool:
        return self.n >= self.total if self.total is not None else False


# tqdm's l_bar is `{desc}: {percentage:3.0f}%|`, then the bar, then `| {n_fmt}/{total_fmt} [...`;
# n_fmt may carry a unit prefix (`1.2k`) when unit_scale is on.
_BAR = re.compile(r"(?:([^|\n]{1,200}?): )? *(\d{1,3})%\|[^|\n]{0,1000}\| *(\d{1,15}(?:\.\d{1,6})?)([kMGTP]?)"
                  r"/(?:(\d{1,15}(?:\.\d{1,6})?)([kMGTP]?)|\?)(?: \[([\d:]{1,12})<)?")
_SCALE = {"": 1.0, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15}


def progress_bar(text: str) -> BarState | None:
    """The tqdm bar this line is a redraw of, or None. Bars are redrawn in place with `\\r`, so
    every redraw arrives as a line of its own: whoever shows them can keep only the last."""
    if "%|" not in text:
        return None
    m = _BAR.match(text)
    if m is None:
        return None
    total = float(m.group(5)) * _SCALE[m.group(6)] if m.group(5) is not None else None
    elapsed = _clock_seconds(m.group(7)) if m.group(7) else None
    return BarState((m.group(1) or "").strip(), int(m.group(2)), float(m.group(3)) * _SCALE[m.group(4)], total,
                    elapsed)


class BarMarks:
    """Which lines of each source are redraws of a tqdm bar, for LogLine.bar: the bar's label
    (None for any other line). tqdm.write() blanks the bar with a line of spaces before it
    prints: that line belongs to the bar too (a view hides it)."""

    def __init__(self) -> None:
        self._label: dict[str, str] = {}       # source -> label of the last bar drawn there

    def mark(self, source: str, text: str) -> str | None:
        bar = progress_bar(text)
        if bar is not None:
            self._label[source] = bar.label
            return bar.label
        if text and not text.strip():
            return self._label.get(source)
        return None

    def candidates(self, source: str, texts: list[str]) -> list[int]:
        """The indices of the texts mark() can give a label to (a bar, or a blank line after one
        on this source), found with C-level scans of the whole read where they can be."""
        blob = "\n".join(texts)
        if "%|" not in blob and not (source in self._label and (
                blob[:1].isspace() or "\n " in blob or not blob.isascii())):
            return []       # no bar, and no line that starts blank after one
        return [i for i, t in enumerate(texts) if "%|" in t or t[:1].isspace()]
