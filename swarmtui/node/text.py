"""Terminal text made safe to read: escape sequences and control characters removed, lines split.

A node's output reaches us through a pty: colours (colorlog, hivemind, the script's `echo -en`),
tqdm redraws with a bare `\\r`, and sometimes binary junk. Everything that reads a line (the
parser, the matcher, the log pane) gets it from here, already clean. And every other string that
ends up on a terminal (userData.json's email, a history record, a process name, a file name)
goes through the same `sanitize()` where it is formatted for display, because each of them can
hold the same bytes.

What `sanitize()` removes, and why:

- 7-bit escape sequences: CSI `ESC [` (colours, cursor moves, `ESC[2J` clears the screen),
  OSC `ESC ]` (`0`/`2` set the window title, `52` writes the clipboard, `8` makes a link whose
  text hides its target), the string sequences DCS `ESC P`, SOS `ESC X`, PM `ESC ^` and APC
  `ESC _` (a terminal swallows their text; tmux passes `ESC Ptmux;` on to the outer terminal,
  kitty draws images from APC, DECRQSS answers into our input), and every two-byte `ESC x`
  (charset switches, keypad modes, `ESC c` resets the terminal).
- C1 controls, U+0080-U+009F, with their 8-bit sequences: CSI U+009B, OSC U+009D, DCS U+0090,
  SOS U+0098, PM U+009E, APC U+009F. Decoded from UTF-8 they are never text, and terminals that
  honour them in UTF-8 (xterm, st, mlterm) act on them exactly as on the 7-bit forms.
- Bidirectional controls: U+202A-U+202E (embeddings, overrides), U+2066-U+2069 (isolates),
  U+200E/U+200F/U+061C (LRM, RLM, ALM). They reorder what is drawn, so the screen shows
  something other than the text ("Trojan Source", CVE-2021-42574): a reversed address, an error
  that reads as another, a path that is not the one on disk.
- C0 controls except tab, and DEL: BS and CR overwrite what was written, BEL rings, VT/FF
  scroll, NUL and the rest are invisible but break alignment and copies. A line holds text only.
- Tabs are expanded: their width depends on the column they land in, and the panes measure
  text in cells.

String sequences (OSC, DCS, SOS, PM, APC) end at BEL, ST (`ESC \\` or U+009C), or, here, at the
end of the line. A terminated one goes whole, its text included: a terminal never shows it
either. An unterminated one loses only its introducer (and an OSC its `NUMBER;`): a terminal
would swallow the rest of the line and more, but we are a detector and a log, not a terminal,
and a node that died in the middle of writing a title must not hide the `Killed` that follows.
Once the introducer is gone the text can do no harm.

JSON output keeps every character (it is data, compared and parsed by programs), but json.dumps
with ensure_ascii=False writes DEL, C1 and bidi controls raw, where a terminal acts on them:
`terminal_json()` escapes those as `\\uXXXX`, which is the same JSON value.
"""

from __future__ import annotations

import json
import re
from typing import Any

_BIDI = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
# A string sequence's text: up to BEL or ST, never past the line's end. It also stops at any
# string introducer, so "\x9d" * N is scanned once, not once per introducer (quadratic).
_BODY = r"[^\x07\x1b\x90\x98\x9c-\x9f\r\n]*(?:\x07|\x1b\\|\x9c)"
# Every alternative starts with one literal character: then the regex engine skips ahead to
# the next ESC or C1 introducer at C speed (with a class or group first it tries every
# alternative at every position, 4-7 times slower on a colourised line).
_SEQUENCES = re.compile(
    r"\x1b(?:\[[0-?]*[ -/]*[@-~]"            # CSI: colours, cursor moves, ESC[2J
    r"|[\]PX^_]" + _BODY +                   # OSC, DCS, SOS, PM, APC, terminated: all of it
    r"|\][0-9]*;"                            # an unterminated OSC: its text stays (docstring)
    r"|[ -/]*[0-~]"                          # two-byte sequences; unterminated ESC P/X/^/_ too
    r"|)"                                    # a lone ESC
    r"|\x9b[0-?]*[ -/]*[@-~]"                # 8-bit CSI
    r"|\x9d(?:" + _BODY + r"|[0-9]*;)"       # 8-bit OSC, terminated or not
    r"|\x90" + _BODY + r"|\x98" + _BODY + r"|\x9e" + _BODY + r"|\x9f" + _BODY
)
# What is left of C0 (tab stays; \r and \n go too, for callers that pass a raw string: a stray
# \r in a stored line would corrupt a view), DEL, C1 (an unterminated 8-bit introducer) and bidi.
_CONTROLS = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f" + _BIDI + "]+")
# The same, keeping \r and \n: LineSplitter cleans a whole block before splitting it.
_CONTROLS_BLOCK = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f" + _BIDI + "]+")
_C0_CHARS = tuple(chr(c) for c in (*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F))
_JSON_UNSAFE = re.compile("[\x7f-\x9f" + _BIDI + "]")


def strip_ansi(s: str) -> str:
    """Remove escape sequences (7-bit and 8-bit), leaving control characters alone."""
    if s.isascii() and "\x1b" not in s:
        return s
    return _SEQUENCES.sub("", s)


def sanitize(text: str, *, keep_newlines: bool = False) -> str:
    """`text` with everything a terminal would act on removed (the module docstring says what
    and why) and tabs expanded. One line unless keep_newlines: then each `\\n`-separated line
    is cleaned on its own and the `\\n` kept (a report, a table)."""
    if text.isprintable():   # no control, escape or bidi character: nothing to do (the fast path)
        return text
    if keep_newlines and "\n" in text:
        return "\n".join(sanitize(line) for line in text.split("\n"))
    text = _SEQUENCES.sub("", text)
    if not text.isprintable():   # colours were often all there was: skip the slower class scan
        text = _CONTROLS.sub("", text)
    if "\t" in text:
        text = text.expandtabs()
    return text


def _block_is_clean(block: str) -> bool:
    """No escape, control (bar \\t, \\r, \\n) or bidi character in block: memchr-fast scans, then
    for a block with non-ASCII text one C-level check per line holding any."""
    if "\x1b" in block:
        return False
    for ch in _C0_CHARS:
        if ch in block:
            return False
    if block.isascii():
        return True
    # Only C1 and bidi controls are left to find, and a pure-ASCII line holds neither. A
    # non-ASCII line with a tab or a no-break space is reported unclean: a needless regex pass.
    for part in block.replace("\r", "\n").split("\n"):
        if not (part.isascii() or part.isprintable()):
            return False
    return True


def sanitize_block(block: str) -> str:
    """sanitize() for many lines at once, keeping \\r, \\n and tabs (the splitter expands them)."""
    if _block_is_clean(block):
        return block
    block = _SEQUENCES.sub("", block)
    if _block_is_clean(block):   # colours were all there was (the usual case)
        return block
    return _CONTROLS_BLOCK.sub("", block)


def terminal_json(obj: Any, **kwargs: Any) -> str:
    """json.dumps(obj, ensure_ascii=False, **kwargs) with DEL, C1 and bidi controls escaped as
    \\uXXXX: the same JSON value, and nothing a terminal acts on (json escapes C0 itself)."""
    text = json.dumps(obj, ensure_ascii=False, **kwargs)
    if text.isascii() and "\x7f" not in text:
        return text
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


class LineSplitter:
    """Turns a stream of text into complete, sanitized, length-capped lines.

    Lines end at `\\n`, `\\r` or `\\r\\n` (one break, also when the pair straddles two feed()
    calls). A line ended by a bare `\\r` is emitted at once, because that is how tqdm redraws a
    bar; an empty one (a `\\r` right after a break) is dropped. The unterminated tail is kept and
    visible as `partial`, so a prompt waiting for input or a bar being redrawn can be shown.
    """

    def __init__(self, max_len: int = 16384):
        if max_len < 1:
            raise ValueError("max_len must be at least 1")
        self.max_len = max_len
        self._buf = ""
        self._buf_cut = 0           # characters already dropped from an over-long partial line
        self._after_cr = False      # the last character seen was a \r that ended a line

    # The partial line is bounded too: a process that prints megabytes without a newline must
    # not grow our memory. We keep a generous head (escape sequences are removed later, so the
    # raw head must be longer than max_len) and count what we drop.
    def _raw_limit(self) -> int:
        return self.max_len * 4 + 64

    def feed(self, data: str) -> list[tuple[str, int]]:
        """The complete lines `data` ends, each as (text, characters cut)."""
        texts, cuts = self.feed_columns(data)
        if not cuts:
            return [(t, 0) for t in texts]
        return [(t, cuts.get(i, 0)) for i, t in enumerate(texts)]

    def feed_columns(self, data: str) -> tuple[list[str], dict[int, int]]:
        """feed() as columns: the texts, and {index: characters cut} for the few lines cut (the
        keeper's path: no tuple per line)."""
        if not data:
            return [], {}
        if self._after_cr:
            self._after_cr = False
            if data[0] == "\n":
                data = data[1:]
                if not data:
                    return [], {}
        text = self._buf + data if self._buf else data
        cut_before = self._buf_cut
        # Find the last break: everything up to it is complete lines.
        last_n = text.rfind("\n")
        last_r = text.rfind("\r")
        last = max(last_n, last_r)
        if last < 0:
            self._buf = text
            self._trim_partial()
            return [], {}
        block, tail = text[:last + 1], text[last + 1:]
        self._buf = tail
        self._buf_cut = 0
        self._trim_partial()
        if block.endswith("\r"):
            self._after_cr = True
        texts, cuts = self._split_block(block)
        if cut_before and texts:
            cuts[0] = cuts.get(0, 0) + cut_before
        return texts, cuts

    def _trim_partial(self) -> None:
        limit = self._raw_limit()
        if len(self._buf) > limit:
            self._buf_cut += len(self._buf) - limit
            self._buf = self._buf[:limit]

    def _split_block(self, block: str) -> tuple[list[str], dict[int, int]]:
        block = sanitize_block(block)
        max_len = self.max_len
        cuts: dict[int, int] = {}
        if "\r" not in block:
            lines = block.split("\n")
            lines.pop()  # block ends with a break: the last element is empty
            if "\t" in block:
                lines = [ln.expandtabs() if "\t" in ln else ln for ln in lines]
            if len(block) > max_len and max(map(len, lines), default=0) > max_len:
                for i, ln in enumerate(lines):
                    if len(ln) > max_len:
                        lines[i] = ln[:max_len]
                        cuts[i] = len(ln) - max_len
            return lines, cuts
        out: list[str] = []
        block = block.replace("\r\n", "\n")
        segments = block.split("\n")
        # When the block ends with \n the last segment is empty and not a line; when it ends
        # with a bare \r the last segment holds \r-terminated lines and a final empty piece.
        ends_with_n = block.endswith("\n")
        last_index = len(segments) - 1
        for i, seg in enumerate(segments):
            if i == last_index and ends_with_n:
                break
            pieces = seg.split("\r")
            n_terminated_by_n = i != last_index  # the last piece of a \n-ended segment
            for j, piece in enumerate(pieces):
                is_last_piece = j == len(pieces) - 1
                if is_last_piece and not n_terminated_by_n:
                    break  # the empty remainder after the block's final \r
                if not piece and not (is_last_piece and n_terminated_by_n):
                    continue  # empty line made by a bare \r: dropped
                if "\t" in piece:
                    piece = piece.expandtabs()
                if len(piece) > max_len:
                    cuts[len(out)] = len(piece) - max_len
                    piece = piece[:max_len]
                out.append(piece)
        return out, cuts

    @property
    def partial(self) -> str:
        """The current unterminated line, sanitized (a tqdm bar, or a prompt awaiting input)."""
        if not self._buf:
            return ""
        return sanitize(self._buf)[: self.max_len]

    def flush(self) -> list[tuple[str, int]]:
        """The partial line as a final line, if there is one; the splitter is then empty."""
        if not self._buf:
            self._buf_cut = 0
            return []
        line = sanitize(self._buf)
        cut = self._buf_cut
        self._buf = ""
        self._buf_cut = 0
        self._after_cr = False
        if len(line) > self.max_len:
            cut += len(line) - self.max_len
            line = line[: self.max_len]
        if not line and not cut:
            return []
        return [(line, cut)]
