"""The detection catalogue (signatures.toml) and the matcher that applies it to lines.

The rules are data, not code: one TOML file in the package, loaded once. The matcher is fed one
sanitized line at a time and returns Match records. Multi-line conditions are recognised across
lines: a line followed within N lines by another (`starts` + `followed_by`), and a Python
traceback, which ends at its first non-indented line (the exception). `python-traceback` is
reported only for a traceback that nothing else explains: not one right after a matched line
(hydra's "Error executing job", genrl's "Exception occurred during game run", the v0.5.8
"Failed to submit to chain ... most likely transient"), not one whose exception matches a rule.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Iterable

try:
    import tomllib as _toml
except ModuleNotFoundError:  # Python 3.10
    import tomli as _toml  # type: ignore[no-redef]

DATA_FILE = "signatures.toml"
TRACEBACK_HEADER = "Traceback (most recent call last):"
STACK_HEADER = "Stack (most recent call last):"
_CHAIN_MARKERS = ("During handling of the above exception", "The above exception was the direct cause")
_EXCEPTION_LINE = re.compile(r"[A-Za-z_][\w.]{0,200}(?::\s|:$|$)")
_EXPLAIN_WINDOW = 8         # a match this many lines before a traceback explains it
_CHAIN_WINDOW = 4           # lines after an exception in which "During handling ..." may follow
_MAX_TRACEBACK_LINES = 400
_MAX_BODY_CHARS = 16384
_TEXT_CLIP = 600
_ALWAYS = "\x00always"      # the prefilter's mark for a line that a screen = "always" pattern matched


@dataclass(frozen=True)
class Signature:
    id: str
    cls: str
    action: str
    hint: str
    patterns: tuple[str, ...] = ()
    needles: tuple[str, ...] = ()
    starts: tuple[str, ...] = ()
    followed_by: str | None = None
    within: int = 0
    traceback_exception: str | None = None
    traceback_frames: str | None = None
    raised_by: str = "matcher"
    # "needles": a line is tried only when it holds a needle (the prefilter, and the keeper's
    # candidate screen). "always": the patterns have no literal anchor the needles could name,
    # so they are searched on every line (screen.py's fallback); tests hold every other
    # pattern to its needles.
    screen: str = "needles"

    @property
    def benign(self) -> bool:
        return self.action == "ignore"

    @functools.cached_property
    def _rx(self) -> re.Pattern | None:
        return re.compile("|".join(f"(?:{p})" for p in self.patterns)) if self.patterns else None

    @functools.cached_property
    def _starts_rx(self) -> re.Pattern | None:
        return re.compile("|".join(f"(?:{p})" for p in self.starts)) if self.starts else None

    @functools.cached_property
    def _followed_rx(self) -> re.Pattern | None:
        return re.compile(self.followed_by) if self.followed_by else None

    @functools.cached_property
    def _tb_exc_rx(self) -> re.Pattern | None:
        return re.compile(self.traceback_exception) if self.traceback_exception else None

    @functools.cached_property
    def _tb_frames_rx(self) -> re.Pattern | None:
        return re.compile(self.traceback_frames) if self.traceback_frames else None


@dataclass(frozen=True)
class Match:
    id: str
    cls: str
    action: str
    hint: str
    text: str
    source: str
    line: int

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "cls": self.cls, "action": self.action, "hint": self.hint,
                "text": self.text, "source": self.source, "line": self.line}


def _tuple(value: Any, key: str, sid: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ValueError(f"{DATA_FILE}: signature {sid!r}: {key} must be a string or a list of strings")


class Catalogue:
    def __init__(self, signatures: Iterable[Signature]):
        self.signatures: tuple[Signature, ...] = tuple(signatures)
        self._by_id = {s.id: s for s in self.signatures}
        if len(self._by_id) != len(self.signatures):
            raise ValueError(f"{DATA_FILE}: duplicate signature id")

    @classmethod
    def load(cls) -> "Catalogue":
        """The package's catalogue (parsed once per process)."""
        return _load_default()

    @classmethod
    def from_toml(cls, text: str) -> "Catalogue":
        data = _toml.loads(text)
        sigs = []
        for raw in data.get("signature", []):
            sid = raw.get("id")
            if not isinstance(sid, str) or not sid:
                raise ValueError(f"{DATA_FILE}: a signature without an id")
            for key in ("class", "action", "hint"):
                if not isinstance(raw.get(key), str):
                    raise ValueError(f"{DATA_FILE}: signature {sid!r}: {key} missing")
            sig = Signature(
                id=sid, cls=raw["class"], action=raw["action"], hint=raw["hint"],
                patterns=_tuple(raw.get("patterns"), "patterns", sid),
                needles=_tuple(raw.get("needles"), "needles", sid),
                starts=_tuple(raw.get("starts"), "starts", sid),
                followed_by=raw.get("followed_by"), within=int(raw.get("within", 0)),
                traceback_exception=raw.get("traceback_exception"),
                traceback_frames=raw.get("traceback_frames"),
                raised_by=raw.get("raised_by", "matcher"),
                screen=raw.get("screen", "needles"),
            )
            if sig.screen not in ("needles", "always"):
                raise ValueError(f"{DATA_FILE}: signature {sid!r}: screen must be \"needles\" or \"always\"")
            if (sig.patterns or sig.starts) and not sig.needles and sig.screen != "always":
                raise ValueError(f"{DATA_FILE}: signature {sid!r}: patterns need needles (the prefilter), "
                                 f"or screen = \"always\"")
            # Compile now, so a bad pattern fails at load time with the id named.
            for prop in ("_rx", "_starts_rx", "_followed_rx", "_tb_exc_rx", "_tb_frames_rx"):
                try:
                    getattr(sig, prop)
                except re.error as exc:
                    raise ValueError(f"{DATA_FILE}: signature {sid!r}: bad regex: {exc}") from None
            sigs.append(sig)
        return cls(sigs)

    def get(self, id: str) -> Signature:
        try:
            return self._by_id[id]
        except KeyError:
            raise KeyError(f"no signature with id {id!r}") from None

    def __contains__(self, id: object) -> bool:
        return id in self._by_id

    def ids(self) -> list[str]:
        return [s.id for s in self.signatures]

    def needles(self) -> list[str]:
        """Every substring that can start a detection (the cheap prefilter), tracebacks included."""
        out: list[str] = []
        for s in self.signatures:
            for n in s.needles:
                if n not in out:
                    out.append(n)
        for n in (TRACEBACK_HEADER, STACK_HEADER):
            if n not in out:
                out.append(n)
        return out

    def match(self, sig_id: str, text: str, source: str = "", line: int = 0) -> Match:
        """A Match record for a condition raised outside the matcher (silence, exited, ...)."""
        s = self.get(sig_id)
        return Match(s.id, s.cls, s.action, s.hint, text, source, line)


@functools.lru_cache(maxsize=1)
def _load_default() -> Catalogue:
    text = resources.files("swarmtui.node").joinpath(DATA_FILE).read_text(encoding="utf-8")
    return Catalogue.from_toml(text)


def _clip(text: str, start: int = 0, end: int | None = None) -> str:
    """The matched text, short enough to show and store even when the line is a megabyte."""
    text = text.strip()
    if len(text) <= _TEXT_CLIP:
        return text
    end = start if end is None else end
    lo = max(0, min(start, len(text)) - 200)
    return ("…" if lo else "") + text[lo:lo + _TEXT_CLIP] + "…"


@dataclass
class _Traceback:
    start_n: int
    start_line: int
    explained: bool
    inherited: bool = False     # a chained traceback whose first part was already handled
    lines: int = 0
    body: list = field(default_factory=list)
    body_chars: int = 0

    def add(self, text: str) -> None:
        self.lines += 1
        if self.body_chars < _MAX_BODY_CHARS:
            self.body.append(text)
            self.body_chars += len(text)


@dataclass
class _SourceState:
    n: int = 0                          # position: the line number given, else a count
    seq: int = 0                        # feed() calls for this source
    busy: bool = False                  # a multi-line condition is open: every line matters
    pending: list = field(default_factory=list)   # (sig, text, line, n)
    tb: _Traceback | None = None
    last_match_n: int = -10**9          # when the last rule matched (explains a traceback after it)
    chain_n: int = -10**9               # when the last traceback ended (a chained one may follow)
    chain_marker: bool = False          # "During handling of the above exception" seen since

    def refresh_busy(self) -> None:
        self.busy = bool(self.pending) or self.tb is not None or self.n - self.chain_n < _CHAIN_WINDOW


class Matcher:
    """Feed it lines in order; it returns what they show. One Matcher per node (sources are
    kept apart: a traceback in logs/swarm_launcher.log is not continued by a pty line)."""

    def __init__(self, catalogue: Catalogue | None = None):
        self.catalogue = catalogue if catalogue is not None else Catalogue.load()
        rules = [s for s in self.catalogue.signatures if s.raised_by == "matcher"]
        self._line_rules = [s for s in rules if s.patterns]
        self._start_rules = [s for s in rules if s.starts]
        self._tb_rules = [s for s in rules if s.traceback_exception]
        self._generic = self.catalogue.get("python-traceback") if "python-traceback" in self.catalogue else None
        # The prefilter: which needles a line holds, found by screen.Screen's few short keys
        # (one `re` alternation of every needle cost ~10 us a line, more than the rest of the
        # matcher). Every needle is found wherever it occurs, overlapping ones too.
        from swarmtui.node.screen import Screen
        self._screen = Screen(self.catalogue)
        self._fallback = self._screen.fallback
        self._by_needle: dict[str, list[int]] = {}
        order = {s.id: i for i, s in enumerate(rules)}
        for s in rules:
            for n in s.needles:
                self._by_needle.setdefault(n, []).append(order[s.id])
            if s.screen == "always":
                self._by_needle.setdefault(_ALWAYS, []).append(order[s.id])
        self._rules = rules
        self._cands: dict[tuple[str, ...], list[Signature]] = {}
        self._states: dict[str, _SourceState] = {}

    def reset(self) -> None:
        self._states.clear()

    def busy(self, source: str = "pty") -> bool:
        """True while a multi-line condition is open on `source` (then every line must be fed)."""
        st = self._states.get(source)
        return st is not None and st.busy

    def skip(self, source: str, count: int, last_line: int = 0) -> None:
        """`count` lines that hold no needle went by while not busy(source): what feeding them
        would have done (they only move the position), without a call each. `last_line`: the
        last one's number, as feed() takes it (0: count them)."""
        st = self._states.get(source)
        if st is None:
            st = self._states[source] = _SourceState()
        st.seq += count
        st.n = last_line if last_line > 0 else st.n + count

    def echo(self, source: str, line: int, matched: bool) -> None:
        """A line of `source` that is a copy of one already fed elsewhere (the terminal's copy of
        a log record), handed over while not busy(source); that feed left its source not busy,
        with a match or none. What feeding it here would do besides returning the same matches:
        the position moves and a match explains a traceback that follows."""
        st = self._states.get(source)
        if st is None:
            st = self._states[source] = _SourceState()
        st.seq += 1
        st.n = line if line > 0 else st.n + 1
        if matched:
            st.last_match_n = st.n
        st.refresh_busy()

    def _find(self, text: str) -> list[str]:
        found = self._screen.needles_in(text)
        if self._fallback is not None and self._fallback.search(text):
            found.append(_ALWAYS)
        return found

    def feed(self, text: str, source: str = "pty", line: int = 0, found: list[str] | None = None) -> list[Match]:
        """`found`: the needles `text` holds when the caller knows them already (an empty list
        for a line the candidate screen passed over); None to look here."""
        st = self._states.get(source)
        if st is None:
            st = self._states[source] = _SourceState()
        # Windows (how far a traceback is from the line that explains it, ...) are measured in
        # line numbers when the caller gives them, so skipping uninteresting lines (diagnose)
        # and feeding every line (the live engine) decide alike.
        st.seq += 1
        st.n = line if line > 0 else st.n + 1
        if found is None:
            found = self._find(text)
        if not found and not st.busy:
            return []
        out: list[Match] = []
        if st.pending:
            self._pending(st, text, source, out)
        tb = st.tb
        if tb is not None:
            if self._continues_traceback(text):
                tb.add(text)
                if tb.lines >= _MAX_TRACEBACK_LINES:
                    self._end_traceback(st, None, line, source, out)
                st.refresh_busy()
                return out
            self._end_traceback(st, text, line, source, out)
            st.refresh_busy()
            return out
        if TRACEBACK_HEADER in text or STACK_HEADER in text:
            chained = st.chain_marker and st.n - st.chain_n <= _CHAIN_WINDOW
            explained = st.n - st.last_match_n <= _EXPLAIN_WINDOW or STACK_HEADER in text
            st.tb = _Traceback(st.n, line, explained=explained or chained, inherited=chained)
            st.chain_marker = False
            st.refresh_busy()
            return out
        if text.startswith(_CHAIN_MARKERS) and st.n - st.chain_n <= _CHAIN_WINDOW:
            st.chain_marker = True
            st.chain_n = st.n  # the next traceback belongs to the same error
        elif found:
            m = self._match_line(found, text, source, line)
            if m is not None:
                out.append(m)
                st.last_match_n = st.n
            else:
                self._start_pending(st, found, text, line)
        st.refresh_busy()
        return out

    # ------------------------------------------------------------ internals

    def _candidates(self, found: list[str]) -> list[Signature]:
        key = tuple(found)
        rules = self._cands.get(key)
        if rules is None:
            # A flood repeats one line: its rules are worked out once (the set of needle
            # combinations seen is small; bounded all the same).
            idx: set[int] = set()
            for n in found:
                idx.update(self._by_needle.get(n, ()))
            rules = [self._rules[i] for i in sorted(idx)]
            if len(self._cands) < 4096:
                self._cands[key] = rules
        return rules

    def _match_line(self, found: list[str], text: str, source: str, line: int) -> Match | None:
        for sig in self._candidates(found):
            rx = sig._rx
            if rx is None:
                continue
            m = rx.search(text)
            if m:
                # The frozen __init__ sets each field through object.__setattr__: microseconds a
                # line in a flood of a benign match. Same class, same equality and repr.
                found_m = object.__new__(Match)
                found_m.__dict__.update(id=sig.id, cls=sig.cls, action=sig.action, hint=sig.hint,
                                        text=_clip(text, m.start(), m.end()), source=source, line=line)
                return found_m
        return None

    def _start_pending(self, st: _SourceState, found: list[str], text: str, line: int) -> None:
        for sig in self._candidates(found):
            rx = sig._starts_rx
            if rx is not None and rx.search(text):
                st.pending.append((sig, text, line, st.n, st.seq))

    def _pending(self, st: _SourceState, text: str, source: str, out: list[Match]) -> None:
        keep = []
        for item in st.pending:
            sig, first_text, first_line, started, seq = item
            if seq == st.seq:
                keep.append(item)
            elif sig._followed_rx.search(text):
                out.append(Match(sig.id, sig.cls, sig.action, sig.hint,
                                 _clip(first_text) + " / " + _clip(text), source, first_line))
                st.last_match_n = st.n
            elif st.n - started < sig.within:
                keep.append(item)
        st.pending = keep

    @staticmethod
    def _continues_traceback(text: str) -> bool:
        if not text:
            return True
        c = text[0]
        if c == " " or c == "\t":
            return True
        return text.startswith((TRACEBACK_HEADER, STACK_HEADER)) or text.startswith(_CHAIN_MARKERS)

    def _end_traceback(self, st: _SourceState, text: str | None, line: int, source: str, out: list[Match]) -> None:
        tb = st.tb
        st.tb = None
        assert tb is not None
        explained = tb.explained
        specific = False
        exc = text if text is not None and _EXCEPTION_LINE.match(text) else None
        if exc is not None:
            body = "\n".join(tb.body)
            for sig in self._tb_rules:
                if sig._tb_exc_rx.search(exc) and (sig._tb_frames_rx is None or sig._tb_frames_rx.search(body)):
                    out.append(Match(sig.id, sig.cls, sig.action, sig.hint, _clip(exc), source, line))
                    specific = True
                    break
        if text is not None and not specific:
            # The line that ended the traceback is matched like any other (an exception that
            # names a known failure, or an unrelated line that happened to come next).
            found = self._find(text)
            m = self._match_line(found, text, source, line) if found else None
            if m is not None:
                out.append(m)
                specific = exc is not None or specific
                if exc is None:
                    st.last_match_n = st.n
            elif found and exc is None:
                self._start_pending(st, found, text, line)
        if specific:
            explained = True
            st.last_match_n = st.n
        if not explained and not tb.inherited and self._generic is not None:
            g = self._generic
            shown = exc if exc is not None else TRACEBACK_HEADER + " (no exception line)"
            out.append(Match(g.id, g.cls, g.action, g.hint, _clip(shown), source,
                             line if exc is not None else tb.start_line))
        st.chain_n = st.n
        st.chain_marker = False
