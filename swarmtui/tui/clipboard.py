"""Copy text wherever it can reach the operator, and say where it went.

Order (textual-engineering.md §4): OSC 52 always (works over SSH when the terminal allows it, no
acknowledgement); inside tmux also `tmux load-buffer -w -` (reaches the outer terminal with tmux's
default config, and prefix+] pastes it); a local clipboard through pyperclip only when a display
exists, with its stderr captured so a broken xclip can never scribble on the screen; and always a
file, because none of the others can be confirmed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

from swarmtui import paths

COPY_FILE_NAME = "last-copy.txt"


@dataclass
class CopyResult:
    methods: list[str] = field(default_factory=list)
    file: Path | None = None
    problems: list[str] = field(default_factory=list)

    def summary(self) -> str:
        via = ", ".join(self.methods) if self.methods else "no clipboard reached"
        saved = f"; saved to {self.file}" if self.file else ""
        return f"via {via}{saved}"


def copy_file_path() -> Path:
    return paths.cache_dir() / COPY_FILE_NAME


def save_copy(text: str, path: Path | None = None) -> Path:
    """Write the text to the copy file, readable only by its owner (it may hold an ssh command),
    never through a symlink planted at its name."""
    from swarmtui.safefile import write_atomic

    path = path or copy_file_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_atomic(path, text.encode("utf-8"))
    return path


def tmux_copy(text: str, env: Mapping[str, str], run: Callable[..., subprocess.CompletedProcess] = subprocess.run) -> str | None:
    """Load the text into tmux's buffer (and, with -w, the outer clipboard). None on success."""
    if not env.get("TMUX"):
        return "not in tmux"
    if shutil.which("tmux") is None:
        return "tmux not on PATH"
    for argv in (["tmux", "load-buffer", "-w", "-"], ["tmux", "load-buffer", "-"]):  # -w needs tmux 3.2
        try:
            done = run(argv, input=text.encode("utf-8"), capture_output=True, timeout=2)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"tmux: {exc}"
        if done.returncode == 0:
            return None
    err = (done.stderr or b"").decode("utf-8", "replace").strip().splitlines()
    return "tmux: " + (err[0] if err else f"exit {done.returncode}")


def has_local_clipboard(env: Mapping[str, str], platform: str = sys.platform) -> bool:
    if platform == "darwin":
        return True
    if platform.startswith("win"):
        return True
    return bool(env.get("WAYLAND_DISPLAY") or env.get("DISPLAY"))


def local_copy(text: str, env: Mapping[str, str], platform: str = sys.platform) -> str | None:
    """pyperclip, silenced: returns None on success, else why it did not work (never printed)."""
    if not has_local_clipboard(env, platform):
        return "no local clipboard (no display)"
    try:
        import pyperclip
    except ImportError:
        return "pyperclip not installed"
    # pyperclip runs xclip/xsel with our stderr: point fd 2 at a file for the duration so their
    # complaints ("Can't open display") land there instead of on the panel.
    with tempfile.TemporaryFile() as err:
        saved = os.dup(2)
        try:
            os.dup2(err.fileno(), 2)
            try:
                pyperclip.copy(text)
            except pyperclip.PyperclipException:
                return "no local clipboard"
            except Exception as exc:  # a broken helper must never take the panel down
                return f"local clipboard: {exc.__class__.__name__}"
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        err.seek(0)
        complaint = err.read().decode("utf-8", "replace").strip()
    if complaint:
        return "local clipboard: " + complaint.splitlines()[0][:120]
    return None


def copy_text(text: str, *, osc52: Callable[[str], None] | None = None,
              env: Mapping[str, str] | None = None, platform: str = sys.platform,
              run: Callable[..., subprocess.CompletedProcess] = subprocess.run,
              file: Path | None = None) -> CopyResult:
    """Copy by every route that applies; never raises, never prints."""
    env = os.environ if env is None else env
    result = CopyResult()
    if osc52 is not None:
        try:
            osc52(text)
            result.methods.append("OSC 52")
        except Exception as exc:  # pragma: no cover - the driver is gone
            result.problems.append(f"OSC 52: {exc}")
    if env.get("TMUX"):
        problem = tmux_copy(text, env, run)
        if problem is None:
            result.methods.append("tmux buffer")
        else:
            result.problems.append(problem)
    problem = local_copy(text, env, platform)
    if problem is None:
        result.methods.append("local clipboard")
    elif has_local_clipboard(env, platform):
        result.problems.append(problem)
    try:
        result.file = save_copy(text, file)
    except OSError as exc:
        result.problems.append(f"file: {exc}")
    return result
