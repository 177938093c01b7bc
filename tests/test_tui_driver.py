"""The panel's terminal driver on a terminal that goes away: a real pty, hung up by closing its
master side (what sshd and tmux do), then written to."""

from __future__ import annotations

import os
import pty
import signal
import sys

import pytest

from swarmtui.tui.driver import HangupSafeFile, PanelDriver

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux tty semantics")


def test_writes_to_a_hung_up_terminal_are_dropped_not_raised():
    master, slave = pty.openpty()
    raw = os.fdopen(slave, "w", buffering=1, encoding="utf-8")
    safe = HangupSafeFile(raw)
    try:
        safe.write("before\n")
        safe.flush()
        assert os.read(master, 100) == b"before\r\n"
        os.close(master)                       # the terminal goes away
        with pytest.raises(OSError):           # what killed Textual's writer thread
            raw.write("x" * 10_000)
            raw.flush()
        for _ in range(100):                   # more than the writer's 30-slot queue
            assert safe.write("\x1b[?1049l screen update\n") == len("\x1b[?1049l screen update\n")
            safe.flush()
        assert safe.lost
        assert safe.fileno() == slave
    finally:
        try:
            raw.close()
        except OSError:
            pass


def test_sigcont_resumes_only_after_our_own_suspend():
    driver = PanelDriver.__new__(PanelDriver)   # no terminal needed for the rule itself
    resumed = []
    driver._suspended = False
    driver._auto_restart = True
    driver.resume_application_mode = lambda: resumed.append(True)
    driver._sigcont_application(signal.SIGCONT, None)     # a hang-up's SIGCONT
    assert resumed == []
    driver._suspended = True                             # after ctrl+z (our SIGTSTP)
    driver._sigcont_application(signal.SIGCONT, None)
    assert resumed == [True] and driver._suspended is False
