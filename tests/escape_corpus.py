"""Text a terminal would act on, and what node.text.sanitize must leave of it (not a test module).

Each piece is (name, raw, shown). The markers in capitals (ZXZpbA==, PWNED-TITLE, DCSMARK, ...)
live only inside sequences that must disappear whole, so finding one anywhere on a terminal's
way proves that a sequence got through.
"""

from __future__ import annotations

import re

BIDI_CHARS = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"

PIECES: tuple[tuple[str, str, str], ...] = (
    ("c0 and DEL", "a\x00b\x01c\x07d\x08e\x0bf\x0cg\x1fh\x7fi", "abcdefghi"),
    ("OSC 52 clipboard write", "x\x1b]52;c;ZXZpbA==\x07y", "xy"),
    ("OSC 0 title, ST", "x\x1b]0;PWNED-TITLE\x1b\\y", "xy"),
    ("OSC 8 hyperlink", "x\x1b]8;;http://evil.example/\x1b\\click\x1b]8;;\x1b\\y", "xclicky"),
    ("DCS", "x\x1bPq#DCSMARK\x1b\\y", "xy"),
    ("APC (kitty graphics)", "x\x1b_Gf=100;APCMARK\x1b\\y", "xy"),
    ("PM", "x\x1b^PMMARK\x1b\\y", "xy"),
    ("SOS", "x\x1bXSOSMARK\x07y", "xy"),
    ("CSI clear screen, cursor move", "x\x1b[2J\x1b[987;654Hy\x1b[0m", "xy"),
    ("8-bit CSI", "x\x9b987;654Hy\x9b2J", "xy"),
    ("8-bit OSC 52, 8-bit ST", "x\x9d52;c;ZXZpbA==\x9cy", "xy"),
    ("8-bit OSC 0, BEL", "x\x9d0;PWNED-TITLE\x07y", "xy"),
    ("8-bit DCS", "x\x90DCSMARK\x9cy", "xy"),
    ("8-bit APC, PM, SOS", "x\x9fAPCMARK\x9c\x9ePMMARK\x9c\x98SOSMARK\x9cy", "xy"),
    ("other C1", "x\x80\x85\x8d\x9ay", "xy"),
    ("bidi controls", "x\u202eevil\u202c\u202a\u202b\u202d\u2066i\u2067\u2068\u2069\u200e\u200f\u061cy", "xeviliy"),
    ("charset and keypad", "x\x1b(B\x1b=y", "xy"),
    ("terminal reset", "x\x1bcy", "xy"),
)
# One line holding every piece: what a node, a file or a field carries in the tests.
CORPUS = "|".join(raw for _, raw, _ in PIECES)
SHOWN = "|".join(shown for _, _, shown in PIECES)

MARKERS = ("ZXZpbA==", "PWNED-TITLE", "evil.example", "DCSMARK", "APCMARK", "PMMARK", "SOSMARK", "987;654")

# bash's report of an OOM kill (catalogue id oom-killed), after a title write that never ended.
FATAL = "./run_rl_swarm.sh: line 42:  4242 Killed                  python -m code_gen_exp.runner.swarm_launcher"
UNTERMINATED_THEN_FATAL = "\x1b]0;node title " + FATAL

_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_C1_UTF8 = re.compile(rb"\xc2[\x80-\x9f]")


def dangers(text: str) -> list[str]:
    """What in `text` (meant for a terminal; lines and tabs allowed) a terminal would act on."""
    found = [f"control {m.group()!r}" for m in _CONTROL.finditer(text)]
    found += [f"bidi {ch!r}" for ch in BIDI_CHARS if ch in text]
    found += [f"marker {m}" for m in MARKERS if m in text]
    return found


def payload_in_terminal_bytes(data: bytes) -> list[str]:
    """What of the corpus's payload reached a terminal's byte stream. The program's own escape
    sequences (a TUI draws with them) are allowed: only the corpus's markers, its C1 and bidi
    characters, and its OSC 52 / title writes count."""
    found = sorted({f"C1 {m.group()!r}" for m in _C1_UTF8.finditer(data)})
    found += [f"bidi {ch!r}" for ch in BIDI_CHARS if ch.encode() in data]
    found += [f"marker {m}" for m in MARKERS if m.encode() in data]
    found += [f"sequence {s!r}" for s in (b"\x1b]52;", b"\x1b]0;node title", b"\x1bP") if s in data]
    return found
