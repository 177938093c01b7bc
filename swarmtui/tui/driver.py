"""Textual's Linux driver, made safe for a terminal that goes away (SSH drop, tmux pane killed).

Seen with Textual 8.2.8 under tmux kill-server (16 of 21 panels hung): the writer thread writes
the screen to the tty, the hung-up tty answers EIO, the thread dies, its 30-slot queue fills and
the next screen update blocks the event loop for ever, so the node's stop sequence never ran to
its end and run() never returned. The hang-up's SIGCONT (the kernel sends SIGHUP then SIGCONT)
also made the driver "resume" on the dead terminal. Here:
- output goes through a file that swallows OSError: once the terminal is gone, writes are
  dropped and the writer thread keeps draining its queue, so nothing blocks;
- SIGCONT resumes the screen only after our own SIGTSTP (ctrl+z), never on a hang-up;
- terminal_lost() stops the input thread (a hung-up tty reads EOF at once, a busy loop);
- terminal_gone() tells the app the terminal went away when no SIGHUP came (only the session
  leader gets one from the kernel: a panel under `sh -c` with SIGHUP ignored, or whose shell
  was killed, kept running the node with its input thread spinning on EOF at 60% of a core).
"""

from __future__ import annotations

import asyncio
import termios
from typing import IO

from textual.drivers.linux_driver import LinuxDriver


class HangupSafeFile:
    """A text file that turns write errors into "the terminal is gone": later writes are dropped."""

    def __init__(self, file: IO[str]):
        self._file = file
        self.lost = False

    def write(self, text: str) -> int:
        if not self.lost:
            try:
                return self._file.write(text)
            except (OSError, ValueError):    # EIO on a hung-up tty; ValueError: file closed
                self.lost = True
        return len(text)

    def flush(self) -> None:
        if not self.lost:
            try:
                self._file.flush()
            except (OSError, ValueError):
                self.lost = True

    def fileno(self) -> int:
        return self._file.fileno()

    def isatty(self) -> bool:
        try:
            return self._file.isatty()
        except (OSError, ValueError):
            return False

    def __getattr__(self, name: str):
        return getattr(self._file, name)


class PanelDriver(LinuxDriver):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._file = HangupSafeFile(self._file)
        self._suspended = False

    def start_application_mode(self):
        self._loop = asyncio.get_running_loop()
        super().start_application_mode()

    def _run_input_thread(self) -> None:
        """Reading the terminal failed: it is gone (EIO after a hang-up). Tell the app, which
        stops the node and exits, instead of Textual's panic with a traceback nobody sees."""
        try:
            self.run_input_thread()
        except OSError:
            self._file.lost = True
            handler = getattr(self._app, "on_terminal_lost", None)
            loop = getattr(self, "_loop", None)
            if handler is not None and loop is not None:
                try:
                    loop.call_soon_threadsafe(handler)
                except RuntimeError:        # the loop is already closed: the app has ended
                    pass
        except BaseException:
            if self._file.lost:
                return                      # whatever the dead terminal did: nothing to show
            raise

    def _sigtstp_application(self, *args) -> None:
        self._suspended = True
        super()._sigtstp_application(*args)

    def _sigcont_application(self, *args) -> None:
        if not self._suspended:
            return          # a hang-up's SIGCONT, or someone else's: nothing was suspended
        self._suspended = False
        super()._sigcont_application(*args)

    def terminal_gone(self) -> bool:
        """True once the terminal is hung up: writing to it failed, or its settings cannot be
        read any more (a hung-up tty answers EIO). One ioctl: cheap enough once a second."""
        if self._file.lost:
            return True
        if not self.input_tty:
            return False
        try:
            termios.tcgetattr(self.fileno)
        except termios.error:
            return True
        except OSError:
            return True
        return False

    def terminal_lost(self) -> None:
        """No terminal any more: drop all output, end the input thread (it would spin on EOF)."""
        self._file.lost = True
        self.exit_event.set()
