"""Terminal text made safe to read: ANSI sequences and control characters removed, lines split.

A node's output reaches us through a pty: colours (colorlog, hivemind, the script's `echo -en`),
tqdm redraws with a bare `\\r`, and sometimes binary junk. Everything that reads a line (the
parser, the matcher, the log pane) gets it from here, already clean.
"""

from __future__ import annotations

import re

# CSI (ESC [ ... final), OSC (ESC ] ... BEL or ST), then any other two-byte ESC sequence
# (charset selection ESC ( B, keypad ESC =, ...). The 8-bit CSI (0x9b) is included because some
# programs emit it when they think the terminal is 8-bit clean.
_ANSI = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]"
    r"|\x1b\][^\x07\x1b\r\n]*(?:\x07|\x1b\\)?"
    r"|\x1b[()*+][0-9A-Za-z]"
    r"|\x1b[ -/]*[0-~]"
    r"|\x1b"
)
# C0 controls except tab, plus DEL. \r and \n never reach sanitize() through LineSplitter, but a
# caller may pass a raw string, and a stray \r in the middle of a stored line would corrupt a view.
_CTRL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]+")
# The same set, but keeping \r and \n: used on a whole block before it is split into lines.
_CTRL_BLOCK = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1a\x1c-\x1f\x7f]+")
_CTRL_CHARS = tuple(chr(c) for c in (*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x1B), *range(0x1C, 0x20), 0x7F))


def strip_ansi(s: str) -> str:
    """Remove CSI, OSC and two-byte ESC sequences."""
    if "\x1b" not in s and "\x9b" not in s:
        return s
    return _ANSI.sub("", s)


def sanitize(s: str) -> str:
    """strip_ansi, then drop C0 control characters except tab, and expand tabs."""
    s = strip_ansi(s)
    s = _CTRL.sub("", s)
    if "\t" in s:
        s = s.expandtabs()
    return s


def _sanitize_block(block: str) -> str:
    """sanitize() for many lines at once, keeping \\r and \\n (cheap when there is nothing to do)."""
    if "\x1b" in block or "\x9b" in block:
        block = _ANSI.sub("", block)
    for ch in _CTRL_CHARS:
        if ch in block:  # memchr-fast; the regex pass runs only when something is there
            block = _CTRL_BLOCK.sub("", block)
            break
    return block


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
        if not data:
            return []
        if self._after_cr:
            self._after_cr = False
            if data[0] == "\n":
                data = data[1:]
                if not data:
                    return []
        text = self._buf + data if self._buf else data
        cut_before = self._buf_cut
        # Find the last break: everything up to it is complete lines.
        last_n = text.rfind("\n")
        last_r = text.rfind("\r")
        last = max(last_n, last_r)
        if last < 0:
            self._buf = text
            self._trim_partial()
            return []
        block, tail = text[:last + 1], text[last + 1:]
        self._buf = tail
        self._buf_cut = 0
        self._trim_partial()
        if block.endswith("\r"):
            self._after_cr = True
        out = self._split_block(block)
        if cut_before and out:
            head, cut = out[0]
            out[0] = (head, cut + cut_before)
        return out

    def _trim_partial(self) -> None:
        limit = self._raw_limit()
        if len(self._buf) > limit:
            self._buf_cut += len(self._buf) - limit
            self._buf = self._buf[:limit]

    def _split_block(self, block: str) -> list[tuple[str, int]]:
        block = _sanitize_block(block)
        max_len = self.max_len
        out: list[tuple[str, int]] = []
        if "\r" not in block:
            lines = block.split("\n")
            lines.pop()  # block ends with a break: the last element is empty
            if "\t" in block:
                lines = [ln.expandtabs() if "\t" in ln else ln for ln in lines]
            for ln in lines:
                if len(ln) > max_len:
                    out.append((ln[:max_len], len(ln) - max_len))
                else:
                    out.append((ln, 0))
            return out
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
                    out.append((piece[:max_len], len(piece) - max_len))
                else:
                    out.append((piece, 0))
        return out

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
