"""node.text: ANSI stripping, sanitizing, and splitting a pty stream into lines."""

from __future__ import annotations

import codecs
import json
import time

import pytest

from escape_corpus import CORPUS, FATAL, PIECES, SHOWN, UNTERMINATED_THEN_FATAL, dangers
from swarmtui.node.signatures import Matcher
from swarmtui.node.text import LineSplitter, sanitize, strip_ansi, terminal_json


def test_strip_ansi_removes_csi_osc_and_two_byte_sequences():
    raw = "\x1b[32mINFO\x1b[0m:x \x1b]0;title\x07done \x1b(Bok \x1b=k \x1b[1;31mred\x1b[m \x9b2Kz"
    assert strip_ansi(raw) == "INFO:x done ok k red z"
    assert strip_ansi("plain text, no escapes") == "plain text, no escapes"


def test_strip_ansi_osc_terminated_by_st():
    assert strip_ansi("a\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\b") == "alinkb"


def test_sanitize_drops_controls_keeps_text_and_expands_tabs():
    assert sanitize("a\x00b\x07c\x08d\x7fe") == "abcde"
    assert sanitize("x\ty") == "x       y"
    assert sanitize("\x1b[32m>> Good luck\x1b[0m\r") == ">> Good luck"
    assert sanitize("🐝 Joining round: 5 █") == "🐝 Joining round: 5 █"


def test_splitter_splits_on_cr_lf_and_crlf():
    s = LineSplitter()
    assert s.feed("one\ntwo\r\nthree\rfour\n") == [("one", 0), ("two", 0), ("three", 0), ("four", 0)]


def test_crlf_across_feed_boundary_is_one_break():
    s = LineSplitter()
    assert s.feed("abc\r") == [("abc", 0)]
    assert s.feed("\ndef\n") == [("def", 0)]
    # and a \n that is not the other half of a pair still ends an (empty) line
    assert s.feed("\n") == [("", 0)]


def test_empty_lines_from_bare_cr_are_dropped_but_blank_lf_lines_kept():
    s = LineSplitter()
    # tqdm: a newline, then \r redraws
    assert s.feed("msg\n\r  5%|█| 1/20\r 10%|██| 2/20\n\n") == [
        ("msg", 0), ("  5%|█| 1/20", 0), (" 10%|██| 2/20", 0), ("", 0)]


def test_partial_line_is_visible_and_flushed():
    s = LineSplitter()
    assert s.feed("\x1b[32m>> Would you like to push models? [y/N] ") == []
    assert s.partial == ">> Would you like to push models? [y/N] "
    assert s.flush() == [(">> Would you like to push models? [y/N] ", 0)]
    assert s.partial == "" and s.flush() == []


def test_lines_are_capped_and_the_cut_is_counted():
    s = LineSplitter(max_len=10)
    out = s.feed("0123456789abcdef\nshort\n")
    assert out == [("0123456789", 6), ("short", 0)]


def test_long_partial_line_does_not_grow_without_bound():
    s = LineSplitter(max_len=100)
    for _ in range(100):
        s.feed("x" * 10_000)
    assert len(s._buf) <= 4 * 100 + 64
    (line, cut), = s.feed("\n")
    assert line == "x" * 100
    assert cut == 1_000_000 - 100


def test_escape_sequence_split_across_feeds_is_still_removed():
    s = LineSplitter()
    assert s.feed("a\x1b[3") == []
    assert s.feed("2mb\n") == [("ab", 0)]


def test_invalid_utf8_decoded_upstream_with_replace():
    dec = codecs.getincrementaldecoder("utf-8")(errors="replace")
    s = LineSplitter()
    out = s.feed(dec.decode(b"ok \xff\xfe bad\n\xf0\x9f"))  # an emoji cut in half at the end
    out += s.feed(dec.decode(b"\x90\x9d round\n"))
    assert out == [("ok \ufffd\ufffd bad", 0), ("🐝 round", 0)]


def test_megabyte_line_is_fast():
    s = LineSplitter()
    line = "a" * 1_000_000 + "\x1b[0m" + "b" * 1000
    t = time.perf_counter()
    out = s.feed(line + "\n")
    assert time.perf_counter() - t < 0.5
    assert out[0][0] == "a" * 16384
    assert out[0][1] == 1_001_000 - 16384


def test_max_len_must_be_positive():
    with pytest.raises(ValueError):
        LineSplitter(0)


# ---------------------------------------------------------------- one sanitizer for every terminal


@pytest.mark.parametrize("name,raw,shown", PIECES, ids=[p[0] for p in PIECES])
def test_each_escape_class_goes_and_the_text_around_it_stays(name, raw, shown):
    assert sanitize(raw) == shown
    # the splitter cleans whole blocks by the same rules, ASCII-only blocks and others alike
    assert LineSplitter().feed(raw + "\n") == [(shown, 0)]
    assert LineSplitter().feed("é " + raw + "\n") == [("é " + shown, 0)]


def test_the_whole_corpus_on_one_line_leaves_nothing_a_terminal_acts_on():
    assert sanitize(CORPUS) == SHOWN
    assert dangers(sanitize(CORPUS)) == []
    assert dangers(CORPUS) != []          # the check itself sees every class


def test_corpus_split_at_every_byte_still_comes_out_clean():
    """A sequence cut between two reads of the pty is removed once the line is complete."""
    data = CORPUS.encode() + b"\xff\xfe\n"                         # and two bytes that are not UTF-8
    for size in (1, 3, 7):
        dec = codecs.getincrementaldecoder("utf-8")(errors="replace")
        s = LineSplitter()
        out = []
        for i in range(0, len(data), size):
            out += s.feed(dec.decode(data[i:i + size]))
        assert out == [(SHOWN + "\ufffd\ufffd", 0)], size


def test_unterminated_osc_keeps_the_rest_of_its_line_readable_and_detectable():
    """A terminal would swallow everything after `ESC ]0;` up to a BEL that never comes; the
    panel is a detector, so only the introducer goes and the OOM line is still matched."""
    assert sanitize(UNTERMINATED_THEN_FATAL) == "node title " + FATAL
    assert sanitize("\x9d2;tail text") == "tail text"            # 8-bit OSC, same rule
    assert sanitize("a\x1bPno end") == "ano end"                  # DCS: only ESC P goes
    assert sanitize("a\x90no end") == "ano end"
    # (Removing the OSC up to the line's end, as a terminal would, left "" here: no detection.)
    (line, _), = LineSplitter().feed(UNTERMINATED_THEN_FATAL + "\n")
    assert [m.id for m in Matcher().feed(line)] == ["oom-killed"]


def test_a_string_sequence_never_runs_past_its_line():
    """An OSC opened on one line and "closed" by a BEL lines later must not eat the lines between."""
    s = LineSplitter()
    out = s.feed("\x1b]0;title\n" + FATAL + "\x07\n")
    assert out == [("title", 0), (FATAL, 0)]
    assert [m.id for m in Matcher().feed(out[1][0])] == ["oom-killed"]


def test_keep_newlines_cleans_each_line_and_keeps_the_breaks():
    assert sanitize("a\x1b]0;x\nb\x07c\r\n\u202ed", keep_newlines=True) == "ax\nbc\nd"
    assert sanitize("a\nb") == "ab"                                # a field: one line, always


def test_pathological_sequences_cost_linear_time():
    for junk in ("\x9d" * 200_000, "\x1b]" * 100_000, "\x1b]1;" + "a" * 200_000, "\x9b" + "1" * 200_000,
                 "\x1bP" * 100_000):
        t = time.perf_counter()
        sanitize(junk)
        LineSplitter(max_len=100).feed(junk + "\n")
        assert time.perf_counter() - t < 1.0, junk[:4]


def test_terminal_json_escapes_what_json_dumps_leaves_raw_and_keeps_the_value():
    value = {"email": "m\x9d52;c;ZXZpbA==\x9c\u202e\x7f\x1b@x", "name": "dormant toothy bat 🐝"}
    raw = json.dumps(value, ensure_ascii=False)
    assert "\x9d" in raw and "\u202e" in raw       # why terminal_json exists
    out = terminal_json(value)
    assert dangers(out.replace("ZXZpbA==", "")) == []
    assert json.loads(out) == value
    assert "🐝" in out                              # other text stays readable
