"""`[hooks] on_event`: the person's own program, run for engine events, never through a shell.

Each event (but the high-rate ones: log lines, process snapshots, progress, the history replay)
runs the command once, on a worker thread, with the event's JSON on stdin (secrets scrubbed, as
in alerts) and SWARMTUI_EVENT / SWARMTUI_NODE in its environment. It gets `timeout` seconds,
then its process group is killed. Its output (stdout and stderr) is appended to hooks.log in the
node's state dir, each run between a header and how it ended; the file is rolled over to
hooks.log.1 past HOOK_LOG_MAX. A hook that fails (cannot start, exits non-zero, times out) is
said once until it succeeds again. Events wait in a bounded queue: a slow hook loses events
(said once), it never slows the keeper.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from swarmtui.engine.worker_queue import STOP, QueuedWorker
from swarmtui.node.text import sanitize
from swarmtui.safefile import ensure_private_dir, open_append

SKIPPED = frozenset({"lines", "processes", "progress", "history_loaded"})
HOOK_LOG = "hooks.log"
HOOK_LOG_MAX = 5 << 20
QUEUE_MAX = 100


class HookRunner(QueuedWorker):
    thread_name = "swarmtui-hooks"

    def __init__(self, argv: Sequence[str], *, timeout: float, log_path: Path, node: Path | str,
                 notice: Callable[[str, str], None], scrub: Callable[[Any], Any] = lambda v: v,
                 env: Mapping[str, str] | None = None, state_root: Path | None = None):
        self.argv = list(argv)
        self.timeout = float(timeout)
        self.log_path = Path(log_path)
        self.node = str(node)
        super().__init__(QUEUE_MAX, notice)
        self.scrub = scrub
        base = dict(os.environ if env is None else env)
        base.pop("SWARMTUI_NOTIFY_URLS", None)      # the alert services' tokens are not the hook's
        self.env = base
        self.state_root = state_root
        self.runs = 0
        self.failures = 0
        self._failing = False

    def wants(self, kind: str) -> bool:
        return kind not in SKIPPED

    def falling_behind(self) -> str:
        return (f"[hooks] on_event is slower than the events: more than {QUEUE_MAX} wait, "
                "so events are skipped for it")

    # ------------------------------------------------------------ the worker

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is STOP:
                return
            try:
                self.run_one(item)
            except Exception as exc:  # the worker outlives anything a hook does
                self._failed(f"{type(exc).__name__}: {exc}")

    def run_one(self, event: dict[str, Any]) -> str | None:
        """Run the hook for one event; None when it succeeded, else why not (one line)."""
        kind = str(event.get("event", "?"))
        data = json.dumps(self.scrub(event), ensure_ascii=False).encode() + b"\n"
        fd = self._open_log()
        try:
            os.write(fd, f"=== {_utc()} {kind}: {' '.join(self.argv)}\n".encode())
            env = dict(self.env, SWARMTUI_EVENT=kind, SWARMTUI_NODE=self.node)
            t0 = time.monotonic()
            try:
                proc = subprocess.Popen(self.argv, stdin=subprocess.PIPE, stdout=fd, stderr=fd, env=env,
                                        cwd=str(self.log_path.parent), start_new_session=True, close_fds=True)
            except OSError as exc:
                why = f"cannot run {self.argv[0]}: {exc.strerror or exc}"
                os.write(fd, f"=== {why}\n".encode())
                return self._failed(why)
            self.runs += 1
            try:
                proc.communicate(data, timeout=self.timeout)
            except subprocess.TimeoutExpired:
                _kill_group(proc)
                why = f"{self.argv[0]} still ran after {self.timeout:g}s and was killed"
                os.write(fd, f"=== {why}\n".encode())
                return self._failed(why)
            except BrokenPipeError:
                proc.wait()                  # it did not read its stdin: its exit status decides
            took = time.monotonic() - t0
            os.write(fd, f"=== exit {proc.returncode} after {took:.2f}s\n".encode())
            if proc.returncode != 0:
                return self._failed(f"{self.argv[0]} exited with status {proc.returncode}")
        finally:
            os.close(fd)
        if self._failing:
            self._failing = False
            self.notice("info", f"[hooks] on_event works again ({self.argv[0]})")
        return None

    def _open_log(self) -> int:
        ensure_private_dir(self.log_path.parent, within=self.state_root)
        try:
            if self.log_path.stat().st_size > HOOK_LOG_MAX:
                os.replace(self.log_path, self.log_path.with_name(HOOK_LOG + ".1"))
        except FileNotFoundError:
            pass
        return open_append(self.log_path)

    def _failed(self, why: str) -> str:
        self.failures += 1
        if not self._failing:
            self._failing = True
            self.notice("warning", f"[hooks] on_event failed: {sanitize(why)}; its output is in {self.log_path} "
                                   "(said once until it works again)")
        return why


def _kill_group(proc: subprocess.Popen) -> None:
    # The hook's own session: its children (a shell script's sleep) go with it.
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass


def _utc() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
