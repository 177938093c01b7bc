"""Which lines of a chunk can mean anything: the candidate screen in front of the parser and the matcher.

A node in a flood prints tens of thousands of lines a second, and nearly all of them match no
signature and carry no event (`HTTP Request: POST ...` at DEBUG). Parsing and matching each one
in Python is what made the keeper fall behind. A line can produce a detection only if it holds
one of its signature's needles (signatures.toml; tests hold every pattern to them), and an event
other than a bare LogHeader only if it holds one of logparse.ANCHORS (tests hold every phrase the
parser tests for to them). So the screen looks for those anchors in a whole chunk at once and
only the lines that hold one go through the full parse; the others cost a few C-level scans.

The scan is a few dozen short "keys", each searched over the whole chunk with str.find
(CPython's fast search, about half a nanosecond a character per key: a couple of microseconds
for a 120-character line, against ten or more for parsing and matching it). One regular
expression of all the anchors was measured first: `re` has no multi-literal search and tries
every branch at every position, ~90 ns a character, more than parsing the line. Every anchor
holds at least one key (an anchor that holds none becomes a key itself, so a new needle can
never be screened out). Each key knows whether it is part of a parser anchor, a needle or both,
so a candidate gets only the work it can need (PARSE, MATCH). A catalogue pattern with no
literal anchor of its own is declared `screen = "always"` and searched as a regular expression
over the chunk (`fallback`).
"""

from __future__ import annotations

import re
from bisect import bisect_right
from typing import Iterable, Sequence

from swarmtui.node.logparse import ANCHORS
from swarmtui.node.signatures import Catalogue

# What a candidate line needs: the parser (it holds one of logparse.ANCHORS), the matcher (it
# holds a catalogue needle or matches a fallback pattern), or both.
PARSE, MATCH = 1, 2

# Short substrings most anchors share; chosen so that few ordinary lines hold one. Anchors that
# hold none of these are added as keys of their own (Screen.keys shows the result).
BASE_KEYS: tuple[str, ...] = (
    "rror", "ailed", "Errno", "Killed", "xception", "space left", "quota", "of memory", "already", "DHT", "refused",
    "Hello", "round", "%|", "{'", ">>", "egister", "Waiting for", "recent call last", "identity", "Model", "Train",
    "Start", "yanked", "not found", "such process", "bet of", "claimed reward", "Gensyn", "bootnodes", "Joining",
    "initial", "ORG_ID", "userData", "API key", "ushing model", "wandb",
)


# A chunk of at least FOLD_MIN lines is folded when it has at most one distinct line in FOLD_RATIO.
FOLD_MIN, FOLD_RATIO = 8, 2
_DIGITS = "0123456789"
_FOLD = bytes.maketrans(b"123456789", b"000000000")


def _starts(texts: Sequence[str]) -> list[int]:
    """Where each text starts in "\\n".join(texts)."""
    starts = [0] * len(texts)
    pos = 0
    for i, t in enumerate(texts):
        starts[i] = pos
        pos += len(t) + 1
    return starts


class Screen:
    """Finds the candidate lines of a chunk and, for one line, the catalogue needles it holds."""

    def __init__(self, catalogue: Catalogue | None = None, anchors: Iterable[str] = ANCHORS,
                 base_keys: Sequence[str] = BASE_KEYS):
        self.catalogue = catalogue if catalogue is not None else Catalogue.load()
        self.needles: tuple[str, ...] = tuple(self.catalogue.needles())
        parse_anchors = tuple(anchors)
        self.anchors: tuple[str, ...] = tuple(dict.fromkeys([*self.needles, *parse_anchors]))
        keys = [k for k in base_keys if any(k in a for a in self.anchors)]
        for a in self.anchors:
            if not any(k in a for k in keys):
                keys.append(a)
        self.keys: tuple[str, ...] = tuple(keys)
        # key -> the catalogue needles that hold it (a needle is listed under every key it holds,
        # so whichever key is found first, its needles are all checked).
        self._needles_of: dict[str, tuple[str, ...]] = {
            k: tuple(n for n in self.needles if k in n) for k in self.keys}
        self._match_keys = tuple(k for k in self.keys if self._needles_of[k])
        # A line that holds a key may hold any anchor the key is part of: it needs whatever those do.
        self._flags_of: dict[str, int] = {
            k: (PARSE if any(k in a for a in parse_anchors) else 0) | (MATCH if self._needles_of[k] else 0)
            for k in self.keys}
        # Folding digits (_screen_folded) needs keys without one; a key of digits would turn it off.
        self._foldable = not any(c in _DIGITS for k in self.keys for c in k)
        pats = [p for s in self.catalogue.signatures if s.screen == "always" for p in (*s.patterns, *s.starts)]
        self.fallback: re.Pattern | None = re.compile("|".join(f"(?:{p})" for p in pats)) if pats else None

    def candidates(self, texts: Sequence[str]) -> list[int]:
        """Indices (ascending) of the texts that hold an anchor or match a fallback pattern."""
        return sorted(self.screen(texts))

    def screen(self, texts: Sequence[str], keys: dict[int, list[str]] | None = None) -> dict[int, int]:
        """{index: PARSE|MATCH flags} of the candidate texts; a text not in it needs neither.
        `keys`, when given, receives for each MATCH candidate the keys it holds, for
        needles_in(text, keys); a fallback pattern's candidate gets none (look it all up)."""
        if not texts:
            return {}
        if len(texts) == 1:
            f = self.flags(texts[0])
            return {0: f} if f else {}
        if len(texts) >= FOLD_MIN and self._foldable:
            found = self._screen_folded(texts, keys)
            if found is not None:
                return found
        chunk = "\n".join(texts)
        found = self._find_keys(chunk, len(texts), _starts(texts), keys)
        self._find_fallback(chunk, texts, found, keys)
        return found

    def _find_keys(self, chunk: str, count: int, starts: list[int],
                   keys: dict[int, list[str]] | None) -> dict[int, int]:
        last = count - 1
        found: dict[int, int] = {}
        get = found.get
        find = chunk.find
        for key in self.keys:
            flag = self._flags_of[key]
            held = keys is not None and flag & MATCH
            at = find(key)
            while at >= 0:
                i = bisect_right(starts, at) - 1
                found[i] = get(i, 0) | flag
                if held:
                    keys.setdefault(i, []).append(key)  # type: ignore[union-attr]
                if i >= last:
                    break
                at = find(key, starts[i + 1])
        return found

    def _find_fallback(self, chunk: str, texts: Sequence[str], found: dict[int, int],
                       keys: dict[int, list[str]] | None) -> None:
        if self.fallback is None:
            return
        starts = None
        for m in self.fallback.finditer(chunk):
            if starts is None:
                starts = _starts(texts)
            i = bisect_right(starts, m.start()) - 1
            found[i] = found.get(i, 0) | MATCH
            if keys is not None:
                keys.pop(i, None)

    def _screen_folded(self, texts: Sequence[str], keys: dict[int, list[str]] | None) -> dict[int, int] | None:
        """screen() for a chunk of lines that repeat but for their numbers (a flood: the same
        message with a new timestamp and counter, hundreds of times): digits are folded to 0,
        each distinct folded line is screened once, and the result is given to each line that
        folds to it. No key holds a digit (`_foldable`), so a line holds a key exactly where its
        folded form does. None when the lines do not repeat enough to be worth it."""
        chunk = "\n".join(texts)
        folded = chunk.encode("utf-8", "surrogatepass").translate(_FOLD).decode("utf-8", "surrogatepass")
        lines = folded.split("\n")
        distinct = list(dict.fromkeys(lines))
        if len(distinct) * FOLD_RATIO > len(lines):
            return None
        dkeys: dict[int, list[str]] | None = {} if keys is not None else None
        dfound = self._find_keys("\n".join(distinct), len(distinct), _starts(distinct), dkeys)
        found: dict[int, int] = {}
        if dfound:
            flag_of = {distinct[i]: f for i, f in dfound.items()}
            hits = [i for i, t in enumerate(lines) if t in flag_of]
            found = {i: flag_of[lines[i]] for i in hits}
            if keys is not None and dkeys:
                keys_of = {distinct[i]: k for i, k in dkeys.items()}
                for i in hits:
                    k = keys_of.get(lines[i])
                    if k is not None:
                        keys[i] = list(k)
        self._find_fallback(chunk, texts, found, keys)
        return found

    def flags(self, text: str) -> int:
        """PARSE|MATCH: what one text needs (0: neither)."""
        out = 0
        for key in self.keys:
            if key in text:
                out |= self._flags_of[key]
        if self.fallback is not None and not out & MATCH and self.fallback.search(text) is not None:
            out |= MATCH
        return out

    def holds_anchor(self, text: str) -> bool:
        return self.flags(text) != 0

    def needles_in(self, text: str, keys: Sequence[str] | None = None) -> list[str]:
        """Every catalogue needle in `text` (each once), what Matcher.feed takes as `found`;
        `keys`: the keys screen() found in it (only their needles can be there)."""
        out: list[str] = []
        for key in self._match_keys if keys is None else keys:
            if key in text:
                for n in self._needles_of[key]:
                    if n not in out and n in text:
                        out.append(n)
        return out


def anchored(pattern: str, needles: Sequence[str]) -> bool:
    """True when every text `pattern` can match holds one of `needles`: some literal run the
    regex requires (in every branch of an alternation it requires) contains a needle. False
    when no such run can be found (a pattern with no literal anchor, a case-insensitive one):
    then its signature must say screen = "always", or the screen could drop what it matches."""
    try:
        import re._parser as sre_parse          # Python >= 3.11
        import re._constants as sre_c
    except ImportError:  # pragma: no cover - Python 3.10
        import sre_constants as sre_c  # type: ignore[no-redef]
        import sre_parse  # type: ignore[no-redef]
    tree = sre_parse.parse(pattern)
    if tree.state.flags & re.IGNORECASE:
        return False
    repeats = {sre_c.MAX_REPEAT, sre_c.MIN_REPEAT, getattr(sre_c, "POSSESSIVE_REPEAT", sre_c.MAX_REPEAT)}

    def literal_alts(items) -> list[str] | None:
        """The strings a group of plain literals and small classes/alternations can match."""
        alts = [""]
        for op, av in items:
            if op is sre_c.LITERAL:
                alts = [a + chr(av) for a in alts]
            elif op is sre_c.IN and all(o is sre_c.LITERAL for o, _ in av) and len(av) <= 8:
                alts = [a + chr(c) for a in alts for _, c in av]
            elif op is sre_c.BRANCH or (op is sre_c.SUBPATTERN and not av[1] and not av[2]):
                opts = [literal_alts(b) for b in av[1]] if op is sre_c.BRANCH else [literal_alts(av[3])]
                if any(o is None for o in opts):
                    return None
                alts = [a + o for a in alts for opt in opts for o in opt]
            else:
                return None
            if len(alts) > 64:
                return None
        return alts

    def covered(runs: list[str]) -> bool:
        return all(any(n in r for n in needles) for r in runs)

    def seq(items) -> bool:
        runs = [""]
        for item in items:
            op, av = item
            alts = literal_alts([item])
            if alts is not None and len(runs) * len(alts) <= 64:
                runs = [r + a for r in runs for a in alts]
                continue
            if covered(runs):
                return True
            runs = [""]
            if op is sre_c.SUBPATTERN:
                _group, add_flags, _del_flags, sub = av
                if not add_flags & re.IGNORECASE and seq(sub):
                    return True
            elif op in repeats:
                lo, _hi, sub = av
                if lo >= 1 and seq(sub):
                    return True
            elif op is sre_c.BRANCH:
                if all(seq(b) for b in av[1]):
                    return True
            elif op is getattr(sre_c, "ATOMIC_GROUP", None):
                if seq(av):
                    return True
        return covered(runs)

    return seq(tree)
