"""The state machine that runs one node: pre-flight, launch, watch, restart or stop, remember.

One Supervisor per checkout, nothing global. Events go out through `emit` (on the loop thread),
commands come in through send(). The states, in the words the user sees:

    starting -> (login-required) -> running -> stopping -> backoff -> starting ...
                                            \\-> needs-user   (budget used up, crash loop, a
                                                              pre-flight problem, a prompt no
                                                              rule answers, a conflict)
                                            \\-> stopped      (asked to stop)
    needs-user -> starting after give_up_retry (doubling to 6 h), when the cause can clear by
                  itself (a crash loop, the login port held, a full disk, the network); never for
                  one only a person can fix (policy.clears_by_itself, PreflightResult.clears_by_itself)

How a run ends decides what comes next:
- a catalogue detection with a restart action stops the node at once (the stop sequence starts
  within milliseconds of the line); while it stops, more lines still arrive, and the reason
  recorded is the most significant detection of the run (a CUDA OOM behind genrl's generic
  "Exception occurred during game run", facts §4 items 8 and 17), then the policy decides;
- the launcher exiting on its own: the most significant detection seen in that run, else
  `exited` (its exit code means nothing, facts §1.6);
- the trainer exiting while the launcher lives on (`trainer-exited`): genrl's python returns 0
  after e.g. "Training timed out!" and run_rl_swarm.sh then blocks in its final `wait` on the
  login server, silent for ever; seen by the process snapshot, confirmed after a short grace
  (the script may be on its way out), and only when nothing more specific is already stopping it;
- the silence and stall timers (on the injected clock; suspended while the script waits for a
  browser login or for an answer the person must type);
- the person: RestartNode (reason `manual`), StopNode, close().
Every end is written to the history with its evidence; every run's raw stream is on disk.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Mapping

from swarmtui import paths
from swarmtui.engine import events as ev
from swarmtui.engine.clock import Clock, MonotonicClock, sleep_or_wake
from swarmtui.engine.config import Config, format_duration
from swarmtui.engine.history import (EvidenceBuffer, HistoryStore, RestartRecord, TranscriptWriter, iso_utc,
                                     reward_loss_possible)
from swarmtui.engine.host_stats import HostSampler
from swarmtui.engine.round_trends import RoundTrends
from swarmtui.engine.identity_actions import (IdentityWatcher, RestoreRefused, find_backup, reset_identity,
                                              restore_backup, restore_refusal)
from swarmtui.engine.keeper import KeeperLock, KeeperState
from swarmtui.engine import container as docker_way
from swarmtui.engine.launcher import Answer, ExitStatus, Launcher, PromptInfo, PythonEnv, build_env, find_python_env
from swarmtui.engine.login import (LoginKeeper, keep_login_notice, localized_catalogue, login_hint, login_hint_note,
                                   logout)
from swarmtui.engine.policy import NEEDS_USER, RESTART, WARN, Decision, RestartPolicy, clears_by_itself
from swarmtui.engine.preflight import run_preflight
from swarmtui.engine.proctree import (Ownership, ProcTree, WaitLook, enable_subreaper, make_run_id, port_status,
                                      wait_look)
from swarmtui.engine.line_runs import LineRun, Lines
from swarmtui.engine.tail import LogTailer, TailRun
from swarmtui.node.identity import read_login
from swarmtui.node.layout import Layout, inspect_checkout, prompt_for
from swarmtui.node.logparse import (BarMarks, Hello, LoginWait, Milestone, RoundEvent, StepProgress,
                                    parse_line)
from swarmtui.node.progress import ProgressModel
from swarmtui.node.screen import MATCH, PARSE, Screen
from swarmtui.node.signatures import Catalogue, Match, Matcher
from swarmtui.node.text import sanitize, sanitize_block

CONFLICTS_EVERY_S = 30.0            # the login-port and identity conflict checks, the listening
                                    # ports and a full re-read of /proc cost ~15 ms: this often;
                                    # the snapshots between read /proc only for new pids and ours
ECHO_LINES = 8192                   # terminal lines remembered per generation (_lines_in), two kept,
ECHO_AGE_S = 10.0                   # each at most this long: a file's copy comes within a second
DETECT_REPEAT_S = 10.0              # the same detection text is reported again after this long
TAIL_STEP_MS = 500                  # log files are the second source (the pty is first): batch them
TAIL_RECHECK_MS = 5000              # and look at them by stat at least this often (events may lie)
# A log file's burst is read 64 KiB at a time, the loop getting a turn between: half a second of a
# flood read in one go kept the pty unread for ~0.1 s, and a node writing to its terminal waits.
TAIL_DRAIN_BYTES = 64 << 10
DISK_EVERY_S = 30.0                 # free space of the checkout and the state dir, looked at this often
NEW_IDENTITY_LINE_WAIT_S = 1.0      # s (loop time): a new swarm.pem waits this long for the trainer's own line
GRACE_LOOK_S = 0.025                # s (real time): exit_grace looks at the script this often; two looks
                                    # with no run in between prove it blocked in `wait` (_exit_grace)
TRAINER_GONE_GRACE = 1.0            # s (real time): the script exits within ms of its trainer when it
                                    # exits at all (set -e, ERR trap, cleanup); one that lingers waits
RESTORED_LOGIN_PATIENCE = 300.0     # s (injected clock): a restored key the login server has not taken
                                    # as activated by then never will be; the person must log in again
_ACTIVE_RESTART = ("restart", "restart-after-cleanup")
_NEVER_CLASSES = ("benign", "info")
_KEPT_IDS = ("new-identity-generated",)    # run.detections keeps these too (_watch_new_identity)
# Messages that wrap the real error (it follows in the traceback): a reason of last resort.
_WRAPPERS = frozenset({"script-error-trap", "game-run-exception", "hydra-startup-failure"})
# Says only that something ended, not why: the reason when nothing else was seen.
_LAST_RESORT = frozenset({"trainer-exited"})
_CLASS_RANK = {"resource": 0, "identity": 1, "conflict": 1, "startup": 2, "network": 3, "dependency": 3,
               "login": 4, "fatal": 5, "degraded": 6, "hang": 7}
_TRAINER_MILESTONES = frozenset({"testnet-connected", "identity-check", "identity-generated", "codezero-join",
                                 "training-started", "initial-peers", "registering", "model"})


@dataclass
class _StopRequest:
    kind: str                       # detect, timer, manual, stop, close
    reason: str
    match: Match | None = None
    decision: Decision | None = None
    at: float = field(default_factory=time.perf_counter)


@dataclass
class _Run:
    number: int
    launcher: Launcher
    transcript: TranscriptWriter
    started_at: float
    stop: asyncio.Future
    timers_from: float
    rounds_at_start: int
    exit_task: asyncio.Task | None = None
    exit: ExitStatus | None = None
    active: bool = True
    stopping: bool = False
    running: bool = False
    user_stop: _StopRequest | None = None
    login_waiting: str = ""
    prompt_pending: str = ""
    prompt_secret: bool = False
    detections: list[Match] = field(default_factory=list)
    reported: dict[tuple[str, str], float] = field(default_factory=dict)
    trainer_seen: bool = False               # a process of the era's entry module, in this run
    trainer_looked: bool = False             # looked for it when its first line came
    trainer_check: asyncio.TimerHandle | None = None
    container: docker_way.Container | None = None   # the Docker way: the container this run made
    pyenv: PythonEnv | None = None                  # the Python environment the run was given
    # Set when our stop sequence starts: what the node prints after our SIGINT (the ERR trap's
    # red line, KeyboardInterrupt tracebacks) is its reaction to us, never the reason it ended.
    signalled: bool = False
    login_restored: bool = False             # keep_login put the login files back before this run


def _dying_by_itself(req: _StopRequest | None) -> bool:
    """Whether the node printed a fatal line of its own. Not so for timers, people, a warning that
    merely repeated (the node goes on) or the engine's own finding (a script stuck in `wait`)."""
    return (req is not None and req.kind == "detect" and req.decision is None
            and req.match is not None and req.match.source != "engine")


class Supervisor:
    # The node runs in this process's care: when the panel goes, the node goes (no attach mode yet).
    survives_panel = False

    def __init__(self, node_dir: Path | str, config: Config, emit: Callable[[ev.Event], None], *,
                 clock: Clock | None = None, interactive: bool = False, env: Mapping[str, str] | None = None,
                 argv: tuple[str, ...] | None = None, lines: bool = True,
                 keeper_lock: KeeperLock | None = None):
        self.env = dict(os.environ if env is None else env)
        # The launch command: given here (tests), else [launch] command, else the script.
        self.argv = tuple(argv or config.launch.command or ("bash", "run_rl_swarm.sh"))
        self.docker = docker_way.is_docker_command(self.argv)
        self.layout: Layout = inspect_checkout(node_dir, self.env, docker=self.docker)
        self.config = config
        self.emit = emit
        self.clock: Clock = clock or MonotonicClock()
        self.interactive = interactive
        # False: nobody shows the node's lines (`supervise` without --lines), so no LinesOut is
        # built; every line is still parsed, matched, kept as evidence and in the transcript.
        self.want_lines = lines
        self.state = ev.STOPPED
        # The tunnel goes where the operator's ssh went; every hint names the node's real login port.
        self.url, self.ssh_hint = login_hint(self.layout.login_port, self.env)
        self.ssh_note = login_hint_note(self.env)
        self.catalogue = localized_catalogue(Catalogue.load(), self.layout.login_port, self.ssh_hint)
        self.policy = RestartPolicy(config.restart, self.clock)
        self.history = HistoryStore(self.layout.root)
        self.trends = RoundTrends(self.history.dir)      # the progress pane's trends, across runs
        self.host: HostSampler | None = None             # made at start: its first CPU reading is a baseline
        self._trends_unsaved = False                     # said once
        self._host_failed = False                        # said once
        # One keeper per checkout: the command that made us may hold the lock already (so a
        # second keeper is refused before it shows anything); else start() takes it.
        self.lock = keeper_lock or KeeperLock(self.layout.root, "panel" if interactive else "supervise",
                                              make_run_id(self.layout.root))
        self.own = Ownership(run_id=self.lock.run_id, checkout=self.layout.root,
                             identity_path=self.layout.identity_path, login_port=self.layout.login_port)
        self.tree = ProcTree(self.own)
        self.progress = ProgressModel(self.layout.era)
        self.evidence = EvidenceBuffer()
        self.keeper = LoginKeeper(self.layout)
        self.identity = IdentityWatcher(self.layout)
        self._matcher = Matcher(self.catalogue)
        self._screen = Screen(self.catalogue)   # which lines of a batch need the full parse
        entry = self.layout.entry_module
        self._trainer_marks = (entry, entry.replace(".", "/")) if entry else ()
        self._run: _Run | None = None
        self._last_state: tuple | None = None
        self._lines: list[LineRun] = []        # the next LinesOut's lines (line_runs.py)
        # While _lines_in hands a line to the parser's and matcher's consumers: how to queue the
        # lines up to it, should an event follow (_emit).
        self._release: tuple[Callable[[int], None], int] | None = None
        self._partial = ""
        self._partial_sent = ""
        self._bars = BarMarks()                 # which lines are tqdm redraws (LogLine.bar)
        # The terminal's candidate lines, by text, with what they showed (level, detection id):
        # genrl writes every record to the terminal and to logs/swarm_launcher.log alike, so the
        # file's copy, read a moment later, is that line again (_lines_in). Two generations,
        # bounded; each terminal copy stands for one file copy (a flood repeats a text exactly).
        self._echo: dict[str, tuple[str | None, str | None, int]] = {}     # text -> (level, id, copies)
        self._echo_old: dict[str, tuple[str | None, str | None, int]] = {}
        self._echo_since = 0.0
        self.echo_lines = True
        self._progress_dirty = False
        self._flush_handle: asyncio.Handle | None = None
        self._lines_sent_at = -1e9              # loop time of the last LinesOut (_schedule_flush)
        self._lines_sent_n = 0                  # ...and how many lines it held (ev.lines_gap)
        self._last_file_output: float | None = None
        self._tasks: list[asyncio.Task] = []
        self._tailers: list[tuple[LogTailer, str]] = []     # each with its file, relative to the checkout
        self._followed: set[Path] = set()                    # files with a tailer (layout.log_globs adds)
        self._pyenv: PythonEnv | None = None                 # found again before every start
        self._left_checked = False                           # containers of dead keepers looked for
        self._peer_seen: str | None = None                   # the peer id swarm.pem held when last read
        self._main: asyncio.Task | None = None
        self._first_done: asyncio.Event | None = None
        self._wake: asyncio.Event | None = None
        self._go: asyncio.Event | None = None
        self._go_kind = ""
        self._closing = False
        self._closed = False
        self._stop_wanted = False
        self._conflicts: list[ev.ProcInfo] = []
        self._conflicts_due = False         # look for conflicts at the next snapshot, not in 30 s
        self._backoff_until = 0.0           # when the announced backoff ends (injected clock)
        self._snapshots = 0
        self._emit_failed = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._close_reason = ""
        self._disk_checked_at: float | None = None
        self._disk_low: set[int] = set()    # st_dev of the disks now below min_free_disk_mb
        self._keep_failed = False
        self._retry_until: float | None = None    # needs-user, but tried again then (give_up_retry)
        self._login_restored = False

    # ================================================================ public API

    async def start(self) -> None:
        """Pre-flight and launch (or report what blocks it), start the watchers; returns once
        the first start attempt is over and the tasks that carry on exist."""
        if self._main is not None:
            return
        self._loop = asyncio.get_running_loop()
        if not self.lock.held:
            self.lock.acquire()             # KeeperBusy: nothing is touched, one line for the person
        self.own.earlier_run_ids = self.lock.past_run_ids()
        self._first_done, self._wake, self._go = asyncio.Event(), asyncio.Event(), asyncio.Event()
        enable_subreaper()
        try:
            earlier = self.history.read()
        except OSError as exc:
            earlier = []
            self._notice("warning", f"cannot read the restart history {self.history.path}: {exc}")
        self._emit(ev.HistoryLoaded(records=earlier[-2000:]))
        self._emit(ev.RoundTrends(rounds=self.trends.load()))
        if self.trends.load_problem:
            self._notice("warning", f"round trends start again: cannot read {self.trends.load_problem}")
        if self.lock.lost is not None:
            await self._record_lost_keeper(self.lock.lost)
        for warning in self.config.warnings:        # e.g. a config holding hf_token readable by others
            self._notice("warning", warning)
        said = keep_login_notice(self.layout, self.config.source) if self.config.login.keep_login else None
        if said:
            self._notice("info", said)
        self._check_identity(force=True)
        for path in self.layout.log_files:
            self._add_tailer(path, from_start=False)
        self._follow_new_logs(from_start=False)
        self._tasks.append(asyncio.create_task(self._snapshot_loop(), name="snapshots"))
        self._tasks.append(asyncio.create_task(self._watchdog(), name="watchdog"))
        self._main = asyncio.create_task(self._lifecycle(), name="supervisor")
        first = asyncio.ensure_future(self._first_done.wait())
        await asyncio.wait({first, self._main}, return_when=asyncio.FIRST_COMPLETED)
        if not first.done():
            first.cancel()
        if self._main.done() and not self._main.cancelled() and self._main.exception() is not None:
            raise self._main.exception()

    def send(self, cmd: ev.Command) -> None:
        handler = {
            ev.StartNode: self._cmd_start, ev.StopNode: self._cmd_stop, ev.RestartNode: self._cmd_restart,
            ev.AnswerPrompt: self._cmd_answer, ev.Logout: self._cmd_logout, ev.ResetIdentity: self._cmd_reset_identity,
            ev.RestoreBackup: self._cmd_restore_backup,
        }.get(type(cmd))
        if handler is None:
            self._notice("warning", f"unknown command {cmd.kind!r}")
            return
        handler(cmd)

    async def close(self, stop_node: bool = True, reason: str = "manual") -> None:
        """Stop the node (the full stop sequence, recorded with `reason`: manual for a person's
        key, hangup for a lost terminal, signal for SIGTERM/SIGINT) and end every task."""
        if self._closed:
            return
        self._closing = True
        self._close_reason = reason
        if self._main is not None:
            if stop_node:
                self._request_stop(_StopRequest("close", reason))
            else:
                self._main.cancel()
            if self._go is not None:
                self._go.set()
            if self._wake is not None:
                self._wake.set()
            try:
                await self._main
            except asyncio.CancelledError:
                if not self._main.cancelled():
                    raise
            except Exception as exc:  # the node is stopped below whatever happened
                self._notice("error", f"supervisor error: {exc!r}")
        for tailer, _ in self._tailers:
            tailer.stop()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass
        run = self._run
        if run is not None and run.active:           # stop_node=False, or the loop died mid-run
            run.launcher.close()
            run.transcript.close()
            run.active = False
        self._flush()
        if stop_node and self.state != ev.STOPPED:
            self._set_state(ev.STOPPED, reason=reason, detail="swarmtui was closed")
        self._closed = True
        self.lock.release()

    def emergency_kill(self) -> None:
        """Synchronous last resort (a second SIGTERM, the loop died, atexit): SIGKILL what this
        keeper's own run made, and record the run that ended so, as close() would have. Touches
        nothing when this keeper never got the checkout (a second swarmtui kills nothing)."""
        if not self.lock.held:
            return
        try:
            self.tree.kill_now()
        except Exception:
            pass
        run = self._run
        if run is not None and run.active and run.container is not None:
            docker_way.kill_now(run.container, self.env)     # the container is no process of ours
        if run is not None and run.active:
            run.active = False
            try:
                self._record(run, action="stop", reason=self._close_reason or "signal", match=None, decision=None,
                             orphans=[], note="killed at once (emergency stop): no stop sequence, no clean-up")
            except Exception:
                pass
        if run is not None:
            try:
                run.transcript.close()
            except Exception:
                pass
        self.lock.release()

    # ================================================================ the life cycle

    async def _lifecycle(self) -> None:
        try:
            launched = await self._begin_run()
            self._first_done.set()
            while not self._closing:
                go = "wait"
                if launched:
                    decision = await self._finish_run()
                    if self._closing:
                        break
                    if decision is not None and decision.action == RESTART:
                        go = await self._backoff(self._backoff_until)
                if self._closing:
                    break
                if go == "stop":
                    self._set_state(ev.STOPPED, reason="manual", detail="the restart was called off")
                retry_at, self._retry_until = self._retry_until, None
                if go == "wait" and retry_at is not None:
                    # Gave up on a cause that can clear by itself: look again then, unless a
                    # command comes first (s starts now, a stop stays stopped).
                    go = await self._backoff(retry_at)
                    if self._closing:
                        break
                    if go == "stop":
                        self._set_state(ev.STOPPED, reason="manual", detail="the retry was called off")
                    elif self.clock.monotonic() >= retry_at:
                        self._notice("info", "trying again after giving up (give_up_retry)")
                if go != "start":
                    await self._wait_for_start()
                    if self._closing:
                        break
                launched = await self._begin_run()
        finally:
            self._first_done.set()

    async def _wait_for_start(self) -> None:
        while not self._closing:
            await self._go.wait()
            kind, self._go_kind = self._go_kind, ""
            self._go.clear()
            if self._closing or kind in ("start", "restart"):
                return
            if kind == "stop" and self.state != ev.STOPPED:
                self._set_state(ev.STOPPED, reason="manual")

    async def _backoff(self, until: float) -> str:
        """Wait until `until` on the injected clock, unless a command comes first. Returns
        start | stop. The deadline was fixed when the backoff was announced, so time that passes
        before this task runs again counts (a test may advance its clock right then)."""
        if self._go.is_set():
            kind = self._go_kind
        else:
            sleeper = asyncio.ensure_future(self._sleep_until(until))
            goer = asyncio.ensure_future(self._go.wait())
            await asyncio.wait({sleeper, goer}, return_when=asyncio.FIRST_COMPLETED)
            for t in (sleeper, goer):
                if not t.done():
                    t.cancel()
            kind = self._go_kind if self._go.is_set() else "start"
        self._go.clear()
        self._go_kind = ""
        return "stop" if kind == "stop" else "start"

    async def _sleep_until(self, until: float) -> None:
        # What is left is measured when this task first runs, not when it was created.
        await self.clock.sleep(max(0.0, until - self.clock.monotonic()))

    async def _begin_run(self) -> bool:
        """Pre-flight, then launch. False when something blocks the start (state needs-user)
        or a stop was asked for meanwhile (state stopped)."""
        self._go.clear()
        self._go_kind = ""
        self._stop_wanted = False
        if self._closing:
            return False
        self._set_state(ev.STARTING, detail="pre-flight checks")
        if self.config.login.keep_login:
            try:
                restored = self.keeper.restore()
            except OSError as exc:      # a full disk or a planted link: the node logs in again instead
                restored = []
                self._notice("warning", f"keep_login: could not put the saved login files back: {exc}")
            self._login_restored = bool(restored)
            if restored:
                self._notice("info", "keep_login: put the saved login files back: "
                             + ", ".join(p.name for p in restored))
        self._check_identity()
        report = self.identity.report or {}
        problem = next((p for p in report.get("problems", [])
                        if p.get("code") in ("pem-unreadable", "pem-bad-format")), {})
        # The script activates no venv (facts §5.6): find the one the node will run in, every start
        # (a venv made since the last one counts). The Docker way uses the image's own Python.
        self._pyenv = None if self.docker else find_python_env(self.layout.root, self.env, self.config.launch.venv)
        node_path = build_env(self.env, run_id=self.own.run_id,
                              venv_bin=self._pyenv.bin if self._pyenv else None).get("PATH")
        if self.docker:
            await self._stop_left_containers()
        res = await run_preflight(
            self.layout, self.tree, min_free_disk_mb=self.config.watch.min_free_disk_mb,
            identity_state=report.get("pem_state", "ok"), identity_fix=problem.get("fix", ""),
            identity_message=problem.get("message", ""), report=self._emit,
            pyenv=self._pyenv, path=node_path, docker_command=self.argv if self.docker else None)
        for notice in res.notices:
            self._notice("info", notice)
        for warning in res.warnings:
            self._notice("warning", warning)
        if res.orphans_killed:
            self._record_orphans(res.orphans_killed)
        if not res.ok:
            self._emit(ev.PreflightFailed(problems=list(res.problems)))
            self._give_up("preflight", res.problems[0], clears=res.clears_by_itself)
            return False
        if self._closing or self._stop_wanted:
            self._set_state(ev.STOPPED, reason="manual")
            return False
        return await self._launch()

    async def _launch(self) -> bool:
        cfg = self.config
        transcript = TranscriptWriter.for_node(self.layout.root, max_bytes=cfg.history.transcript_max_mb << 20,
                                               keep=cfg.history.transcript_keep)
        transcript.on_problem = self._notice        # a full disk pauses it: said once, and when it resumes
        self._matcher.reset()
        argv, box = list(self.argv), None
        if self.docker:
            argv, box = docker_way.prepare(self.argv, run_id=self.own.run_id, run=transcript.run, env=self.env)
        pyenv = self._pyenv
        launcher = Launcher(
            self.layout.root, run_id=self.own.run_id, argv=argv, env=self.env,
            venv_bin=pyenv.bin if pyenv is not None and pyenv.bin is not None else False,
            on_raw=transcript.write, on_raw_error=self._transcript_failed,
            on_columns=lambda first, texts, cuts, t=transcript: self._pty_lines(t, first, texts, cuts),
            on_partial=self._on_partial,
            on_prompt=self._on_prompt, prompt_matcher=lambda text: prompt_for(text, self.layout.prompts),
            answerer=self._answer, clock=self.clock)
        try:
            pid = await launcher.start()
        except OSError as exc:
            transcript.close()
            detail = f"cannot run {' '.join(argv)} in {self.layout.root}: {exc.strerror or exc}"
            self._set_state(ev.NEEDS_USER, reason="launch-failed", detail=detail)
            return False
        self.own.set_launcher(pid)
        self.policy.run_started()
        now = self.clock.monotonic()
        run = _Run(number=transcript.run, launcher=launcher, transcript=transcript, started_at=now,
                   stop=asyncio.get_running_loop().create_future(), timers_from=now,
                   rounds_at_start=self.progress.rounds_completed, container=box, pyenv=pyenv)
        run.login_restored, self._login_restored = self._login_restored, False
        self._run = run
        run.exit_task = asyncio.create_task(self._wait_exit(run), name=f"run {run.number}")
        if self.config.login.keep_login:
            self._keep_login()
        self.lock.update(run=run.number, run_started=iso_utc(self.clock.wall()))
        self._set_state(ev.STARTING, detail=f"run {run.number}: pid {pid}, {self.layout.era_label}")
        self._wake.set()
        return True

    async def _wait_exit(self, run: _Run) -> ExitStatus:
        status = await run.launcher.wait(drain=0.0)
        run.exit = status
        self._emit(ev.Exited(code=status.code, signal=status.signal,
                             uptime_s=round(max(0.0, self.clock.monotonic() - run.started_at), 3)))
        return status

    async def _finish_run(self) -> Decision | None:
        """Wait for the run to end (exit, detection, timer or person), stop everything of ours,
        decide, record. Returns the decision (None after a stop asked for by the person)."""
        run = self._run
        assert run is not None and run.exit_task is not None
        await asyncio.wait({run.exit_task, run.stop}, return_when=asyncio.FIRST_COMPLETED)
        req: _StopRequest | None = run.stop.result() if run.stop.done() else None
        run.stopping = True
        if run.trainer_check is not None:
            run.trainer_check.cancel()
            run.trainer_check = None
        if self.config.login.keep_login:
            self._keep_login()
        reason = req.reason if req is not None else "exited"
        cfg = self.config.restart
        # A fatal line usually means the node is dying already: python printed its traceback, or
        # bash printed "Killed" and is running its ERR and EXIT traps. A SIGINT now would cut that
        # clean-up short (its rm of the login files, its kill of the group): let it finish first.
        grace = _dying_by_itself(req) and not run.exit_task.done() and cfg.exit_grace > 0
        detail = ("the launcher exited; cleaning up" if req is None else f"stopping the node ({reason})"
                  + (f": it has {format_duration(cfg.exit_grace)} to exit by itself" if grace else ""))
        self._set_state(ev.STOPPING, reason=reason, detail=detail)
        if grace:
            await self._exit_grace(run, cfg.exit_grace)
        run.signalled = req is not None and not run.exit_task.done()
        if run.container is not None:
            await self._stop_container(run)
        # Polled every 20 ms (not 50): the script dies within ms of our SIGINT, and until the group
        # is seen gone the node is offline for nothing (issue 16).
        result = await self.tree.stop(report=self._emit, int_timeout=cfg.stop_timeout, term_timeout=cfg.term_timeout,
                                      poll=0.02)
        try:
            await asyncio.wait_for(asyncio.shield(run.exit_task), 10.0)
        except (asyncio.TimeoutError, Exception):
            pass
        await run.launcher.wait_eof(0.5)
        self._catch_up_files()
        run.launcher.close()
        run.transcript.close()
        run.active = False
        if not result.clean:
            self._notice("error", "after the stop, still alive: "
                         + "; ".join(f"{p.pid} {p.cmdline[:80]}" for p in result.remaining))
        self._flush()

        user = run.user_stop or (req if req is not None and req.kind in ("stop", "close") else None)
        if user is not None:
            self._record(run, action="stop", reason=user.reason or "manual", match=None,
                         decision=None, orphans=result.orphans_killed)
            if not self._closing:
                self._set_state(ev.STOPPED, reason=user.reason or "manual", detail="stopped as asked")
            return None

        decision, match = self._decide(run, req, result.orphans_killed)
        if decision.action == RESTART:
            unclean = self._stop_unclean(result)
            decision = self.policy.after_stop(decision, clean=not unclean, why=unclean)
        self._record(run, action=decision.action, reason=decision.reason, match=match, decision=decision,
                     orphans=result.orphans_killed)
        if decision.action == RESTART:
            self._backoff_until = self.clock.monotonic() + decision.delay_s
            self._emit(ev.RestartScheduled(reason=decision.reason, attempt=decision.attempt,
                                           delay_s=decision.delay_s))
            self._set_state(ev.BACKOFF, reason=decision.reason, detail=decision.detail,
                            next_restart_in=decision.delay_s)
        else:
            detail = decision.detail + (f"; {decision.hint}" if decision.hint else "")
            self._give_up(decision.reason, detail, clears=self._clears(decision.reason))
        return decision

    def _clears(self, reason: str) -> bool:
        try:
            sig = self.catalogue.get(reason)
        except KeyError:
            return False
        return clears_by_itself(reason, sig.cls, sig.action)

    def _give_up(self, reason: str, detail: str, *, clears: bool) -> None:
        """needs-user. A cause that can clear by itself is tried again after give_up_retry
        (doubling), with the countdown in next_restart_in; one only a person can fix waits."""
        delay = self.policy.give_up_retry() if clears else None
        self._retry_until = None if delay is None else self.clock.monotonic() + delay
        if delay is not None:
            detail += f"; swarmtui tries again in {format_duration(delay)} (or start it now)"
        self._set_state(ev.NEEDS_USER, reason=reason, detail=detail, next_restart_in=delay)

    def _decide(self, run: _Run, req: _StopRequest | None, orphans: list[dict]) -> tuple[Decision, Match | None]:
        if req is not None and req.kind == "manual":
            return self.policy.on_manual(), req.match
        if req is not None and req.kind == "timer":
            m = req.match
            return self.policy.on_detection(m.id, m.cls, m.action, m.hint), m
        best = _most_significant(run.detections)
        if best is None and req is not None and req.decision is not None:
            return req.decision, req.match          # a repeated warning the policy turned into a restart
        if best is None:
            status = run.exit or ExitStatus(None, None)
            m = self.catalogue.match("exited", f"the launcher exited ({status.describe()})", "engine", 0)
            return self.policy.on_exit(status.code, status.signal, hint=m.hint), m
        if req is not None and req.match is best and req.decision is not None:
            d = req.decision
        else:
            d = self.policy.on_detection(best.id, best.cls, best.action, best.hint)
            if d.action not in (RESTART, NEEDS_USER):   # cannot happen for a stop-worthy match
                d = self.policy.on_exit(None, None, hint=best.hint)
        if best.id == "identity-taken" and d.action == RESTART and not _held_identity(orphans, self.layout):
            d = Decision(NEEDS_USER, reason=best.id,
                         detail="no leftover process of ours held this identity, so another node (another "
                                "machine, or a copy of this swarm.pem) is online with it: restarting cannot help",
                         hint=best.hint)
        return d, best

    def _record(self, run: _Run, *, action: str, reason: str, match: Match | None, decision: Decision | None,
                orphans: list[dict], note: str = "") -> None:
        uptime = max(0.0, self.clock.monotonic() - run.started_at)
        rounds = self.progress.rounds_completed - run.rounds_at_start
        loss, why = reward_loss_possible(uptime, rounds)
        status = run.exit
        if match is not None and match.source != "engine":
            evidence = self.evidence.around(match.source, match.line)
        else:
            evidence = self.evidence.tail(40)
        cite = None
        if match is not None and match.source == "pty":
            try:                # a reference into the transcript is a help, never a reason to lose the record
                cite = run.transcript.cite(match.line, self.evidence.text_of("pty", match.line) or match.text)
            except Exception:
                cite = None
        rec = RestartRecord(
            time=iso_utc(self.clock.wall()), reason=reason, action=action,
            cls=match.cls if match is not None else ("user" if action == "stop" else ""),
            text=match.text if match is not None else note, source=match.source if match is not None else "",
            line=match.line if match is not None else 0,
            exit_code=status.code if status else None, exit_signal=status.signal if status else None,
            uptime_s=round(uptime, 3),
            backoff_s=decision.delay_s if decision is not None and decision.action == RESTART else None,
            attempt=decision.attempt if decision is not None else 0,
            orphans_killed=[dict(o) for o in orphans], reward_loss=loss, reward_note=why, run=run.number,
            hint=((decision.hint if decision is not None else "") or (match.hint if match is not None else "")
                  or self._catalogue_hint(reason)),
            evidence=evidence, transcript=cite[0] if cite else None, transcript_line=cite[1] if cite else None)
        try:
            data = self.history.append(rec)
        except OSError as exc:
            self._notice("error", f"cannot write the restart history {self.history.path}: {exc}")
            data = rec.to_dict()
        self._emit(ev.HistoryAppended(record=data))

    def _catalogue_hint(self, sig_id: str) -> str:
        try:
            return self.catalogue.get(sig_id).hint
        except (KeyError, AttributeError):
            return ""

    async def _record_lost_keeper(self, lost: KeeperState) -> None:
        """The keeper before us died without a word (kill -9, OOM, power): its run ended
        unrecorded. Sweep what it left that is provably ours (its recorded run id), then say so
        once, in the history and as a notice."""
        leftovers = self.tree.alive(self.tree.scan(fresh=True))
        orphans: list[dict] = []
        remaining: list[str] = []
        if leftovers:
            result = await self.tree.stop(report=self._emit, pgid=None, int_timeout=0.5, term_timeout=2.0,
                                          kill_timeout=2.0)
            orphans = list(result.orphans_killed)
            remaining = [f"{p.pid} {p.cmdline[:80]}" for p in result.remaining]
        run = f"run {lost.run}" + (f" (started {lost.run_started})" if lost.run_started else "") if lost.run else "its node"
        found = (f"{len(orphans)} leftover process(es) of ours swept" if orphans else "nothing of it was left running")
        if remaining:
            found += "; still alive: " + "; ".join(remaining)
        text = f"the keeper {lost.describe()} ended without stopping {run}: {found}"
        sig = self.catalogue.get("keeper-lost")
        data = {"time": iso_utc(self.clock.wall()), "reason": "keeper-lost", "action": "cleanup", "cls": sig.cls,
                "text": text, "orphans_killed": [dict(o) for o in orphans], "hint": sig.hint}
        if lost.run is not None:
            data["run"] = lost.run
        try:
            data = self.history.append(data)
        except OSError as exc:
            self._notice("error", f"cannot write the restart history {self.history.path}: {exc}")
        self._emit(ev.HistoryAppended(record=data))
        self._notice("warning", text)

    def _record_orphans(self, orphans: list[dict]) -> None:
        sig = self.catalogue.get("orphan")
        for o in orphans:
            self._emit(ev.Detected(id="orphan", cls=sig.cls, action=sig.action, text=o.get("cmdline", ""),
                                   source="engine", line=0, hint=sig.hint))
        data = {"time": iso_utc(self.clock.wall()), "reason": "orphan", "action": "cleanup", "cls": sig.cls,
                "text": f"{len(orphans)} leftover process(es) of this node killed before the start",
                "orphans_killed": [dict(o) for o in orphans], "hint": sig.hint}
        try:
            data = self.history.append(data)
        except OSError as exc:
            self._notice("error", f"cannot write the restart history {self.history.path}: {exc}")
        self._emit(ev.HistoryAppended(record=data))

    # ================================================================ the Docker way

    async def _stop_container(self, run: _Run) -> None:
        """The container this run made (and only it): Ctrl-C into the client's terminal, as a
        person would (the script's own clean-up runs in the container), then `docker stop` by
        its name whatever the client did. The client's own processes follow in tree.stop."""
        cfg = self.config.restart
        box = run.container
        assert box is not None
        if not run.exit_task.done() and run.launcher.type_raw(docker_way.CTRL_C):
            t0 = time.monotonic()
            await asyncio.wait({run.exit_task}, timeout=cfg.stop_timeout)
            gone = run.exit_task.done()
            self._emit(ev.StopStep(step="ctrl-c", remaining=0 if gone else 1,
                                   detail="Ctrl-C typed into the docker client's terminal; the client "
                                          + (f"exited in {time.monotonic() - t0:.2f}s" if gone else
                                             f"still runs after {format_duration(cfg.stop_timeout)}")))
        ok, detail = await docker_way.stop(box, timeout=cfg.term_timeout, env=self.env)
        self._emit(ev.StopStep(step="docker-stop", remaining=0 if ok else 1, detail=detail))
        if not ok:
            self._notice("error", f"{detail}: the container may still run; `docker ps` shows it")

    async def _stop_left_containers(self) -> None:
        """Containers an earlier keeper of this checkout started and left running (it died):
        found by our label with its recorded run id, stopped before the next start."""
        past = sorted(self.own.earlier_run_ids)[:20]
        if not past or self._left_checked:
            return
        self._left_checked = True           # they can only be from before this keeper: once
        cli = docker_way.docker_cli(self.argv, self.env)
        for name in await docker_way.leftovers(cli, past, self.env):
            ok, detail = await docker_way.stop(docker_way.Container(name, cli), timeout=self.config.restart.term_timeout,
                                               env=self.env)
            self._notice("warning" if ok else "error", f"a container an earlier swarmtui of this checkout left "
                                                       f"running: {detail}")

    # ================================================================ stop requests

    def _request_stop(self, req: _StopRequest) -> bool:
        run = self._run
        if run is None or not run.active:
            return False
        if run.stop.done():
            if req.kind in ("stop", "close") and run.user_stop is None:
                run.user_stop = req      # a stop while restarting: stay stopped afterwards
            return False
        run.stop.set_result(req)
        return True

    # ================================================================ commands

    def _run_active(self) -> bool:
        return self._run is not None and self._run.active

    def _go_now(self, kind: str) -> None:
        if self._go is None:
            self._notice("warning", "the supervisor is not started")
            return
        self._go_kind = kind
        self._go.set()

    def _cmd_start(self, cmd: ev.StartNode) -> None:
        if self._run_active():
            self._notice("info", "the node is already running")
            return
        self.policy.reset()
        self._go_now("start")

    def _cmd_restart(self, cmd: ev.RestartNode) -> None:
        if self._run_active():
            m = self.catalogue.match("manual", "restart asked for by you", "engine", 0)
            self._request_stop(_StopRequest("manual", cmd.reason or "manual", match=m))
            return
        if self.state in (ev.STOPPED, ev.NEEDS_USER):
            self.policy.reset()
        self._go_now("restart")

    def _cmd_stop(self, cmd: ev.StopNode) -> None:
        if self._run_active():
            self._request_stop(_StopRequest("stop", cmd.reason or "manual"))
        elif self.state == ev.STARTING:
            self._stop_wanted = True           # pre-flight in progress: do not launch
        elif self.state in (ev.BACKOFF, ev.NEEDS_USER):
            self._go_now("stop")
        else:
            self._notice("info", "the node is not running")

    def _cmd_answer(self, cmd: ev.AnswerPrompt) -> None:
        run = self._run
        if run is None or not run.active or run.stopping:
            self._emit(ev.ActionDone(action="answer", ok=False, detail="the node is not running"))
            return
        secret = cmd.secret or run.prompt_secret
        ok = run.launcher.answer(cmd.text, secret=secret)
        waited = run.prompt_pending
        run.prompt_pending, run.prompt_secret = "", False
        run.timers_from = self.clock.monotonic()   # the wait for the person is not silence
        # Never the answer itself: it may be a token.
        self._emit(ev.ActionDone(action="answer", ok=ok,
                                 detail=("answered" if ok else "could not type the answer (the node's terminal is gone)")
                                 + (f": {waited.strip()}" if waited else "")))
        if self.state == ev.NEEDS_USER:
            self._set_state(ev.RUNNING if run.running else ev.STARTING, reason="answer")
        self._wake.set()

    def _cmd_logout(self, cmd: ev.Logout) -> None:
        try:
            backups = logout(self.layout, self.keeper)
        except OSError as exc:
            self._emit(ev.ActionDone(action="logout", ok=False, detail=f"nothing was deleted: {exc}"))
            return
        if not backups:
            detail = f"no login files in {self.layout.temp_data_dir}: nothing to do"
        elif self._run_active():
            detail = ("login files backed up and removed; the running node keeps its session until it "
                      "restarts, then it waits for a browser login")
        else:
            detail = "login files backed up and removed; the next start waits for a browser login"
        self._emit(ev.ActionDone(action="logout", ok=True, detail=detail, backups=[str(p) for p in backups]))
        self._check_identity()

    def _cmd_reset_identity(self, cmd: ev.ResetIdentity) -> None:
        pem = self.layout.identity_path
        try:
            dest = reset_identity(self.layout)
        except FileNotFoundError:
            self._emit(ev.ActionDone(action="reset-identity", ok=False, detail=f"no {pem.name} at {pem}: nothing to reset"))
            return
        except OSError as exc:
            self._emit(ev.ActionDone(action="reset-identity", ok=False, detail=str(exc)))
            return
        detail = f"{pem.name} backed up to {dest} and removed; the next start creates a new peer id"
        if self._run_active():
            detail += " (the running node keeps the old one until it restarts)"
        self._emit(ev.ActionDone(action="reset-identity", ok=True, detail=detail, backups=[str(dest)]))
        self._check_identity()

    def _cmd_restore_backup(self, cmd: ev.RestoreBackup) -> None:
        # Never while a run is up (identity_actions.restore_refusal says why): the node keeps
        # what it loaded, and the panel would show an identity the swarm does not see.
        why = restore_refusal(self.layout, self._run_active())
        try:
            if why:
                raise RestoreRefused(why)
            restored, safety = restore_backup(self.layout, find_backup(self.layout, cmd.path))
        except (RestoreRefused, OSError) as exc:
            self._emit(ev.ActionDone(action="restore", ok=False, detail=f"not restored: {exc}"))
            return
        detail = ("restored " + ", ".join(p.name for p in restored)
                  + "; the next start uses " + ("them" if len(restored) > 1 else "it"))
        self._emit(ev.ActionDone(action="restore", ok=True, detail=detail, backups=[str(p) for p in safety]))
        self._check_identity()

    # ================================================================ prompts

    def _answer(self, text: str, spec: Any) -> Answer | None:
        if spec is None or str(spec.key).startswith("unknown-"):
            return None
        if self._run is not None and self._run.stopping:
            # A child that swallowed our SIGINT lets bash go on to its next prompt: leave it
            # parked there for the SIGTERM rather than let it start a trainer we are stopping.
            return None
        value = self.config.answers.get(spec.key)
        if value is None:
            return None                 # e.g. hf_token unset: the person types it
        return Answer(str(value), secret=bool(spec.secret), rule=spec.key)

    def _unanswered_why(self, spec: Any) -> tuple[str, str]:
        """Why a prompt was left to the person, in words, and what to do about it."""
        key = str(getattr(spec, "key", "") or "")
        if not key or key.startswith("unknown-"):
            return "no [answers] rule knows it", "add the answer to the config, then restart"
        if self.config.answers.get(key) is None:
            # The rule exists (e.g. hf_token), it only has no value: nothing is unknown here.
            return f"[answers] {key} has no value set", f"set [answers] {key} in the config, then restart"
        return (f"the script did not take the answer from [answers] {key}",
                f"check [answers] {key} in the config, then restart")

    def _on_prompt(self, info: PromptInfo) -> None:
        why, fix = ("", "") if info.answered else self._unanswered_why(info.spec)
        self._emit(ev.PromptSeen(text=info.text, answered=info.answered, rule=info.rule, secret=info.secret,
                                 reason=why))
        run = self._run
        if info.answered or run is None or not run.active or run.stopping:
            return
        run.prompt_pending, run.prompt_secret = info.text, info.secret
        if not self.interactive:
            self._set_state(ev.NEEDS_USER, reason="unknown-prompt",
                            detail=f"the script asks {info.text.strip()!r} and {why}: {fix}")
        self._wake.set()

    # ================================================================ lines

    def _pty_lines(self, transcript: TranscriptWriter, first: int, texts: list[str], cuts: dict[int, int]) -> None:
        transcript.note_lines(first)        # where they start in the transcript: records cite it
        self._lines_in("pty", first, texts, cuts)

    def _lines_in(self, source: str, first: int, texts: list[str], cuts: dict[int, int] | None = None) -> None:
        """Lines first, first + 1, ... of `source`, in order. Only those the screen (screen.py)
        passes get the parser and the matcher, and only what they can need; the matcher is told
        how many others went by (or fed each while a traceback is open). The rest are stored as
        they are, as runs (line_runs.py): no object is made for a line that means nothing. The
        result is the full path's, line by line (test_node_screen)."""
        count = len(texts)
        if not count:
            return
        # Evidence is read when a run ends: the whole read at once (at most its last maxlen lines).
        self.evidence.extend(source, first, texts)
        keys: dict[int, list[str]] = {}
        screen = self._screen
        need = screen.screen(texts, keys)
        want = self.want_lines
        # Fields that differ from a line's defaults, by index: cuts and tqdm marks first (`pre`),
        # then, as the lines are read, a parsed level and a detection (`seg`, the lines not yet
        # handed over).
        pre: dict[int, tuple[str | None, str | None, int, str | None]] = {}
        if cuts:
            pre = {i: (None, None, c, None) for i, c in cuts.items()}
        if want:
            # tqdm redraws, and the blank line tqdm.write() leaves: the only lines BarMarks marks
            mark = self._bars.mark
            for i in self._bars.candidates(source, texts):
                bar = mark(source, texts[i])
                if bar is not None:
                    x = pre.get(i)
                    pre[i] = (None, None, x[2] if x else 0, bar)
        pre_at = sorted(pre)
        seg: dict[int, tuple[str | None, str | None, int, str | None]] = {}
        released = pi = 0

        def release(upto: int) -> None:
            # The lines up to `upto` go into the next LinesOut. Called before an event they led to
            # is emitted (_emit), so a viewer reads them in order, and at the end of the read.
            nonlocal released, pi
            if upto <= released or not want:
                released = max(released, upto)
                return
            while pi < len(pre_at) and pre_at[pi] < upto:
                seg.setdefault(pre_at[pi], pre[pre_at[pi]])
                pi += 1
            part = texts if released == 0 and upto == count else texts[released:upto]
            sub = {i - released: x for i, x in seg.items()} if seg else None
            seg.clear()
            self._lines.append(LineRun(source, first + released, part, sub))
            released = upto

        matcher = self._matcher
        busy = matcher.busy
        cands = sorted(need)
        ci, ncands, i = 0, len(cands), 0
        outer = self._release             # a read handled inside another's event (catching up files)
        # The terminal's lines are remembered; a file's line that is one of them again was
        # parsed and matched already: its copy gets the same level and detection id, and moves
        # the matcher on as a feed would (Matcher.echo), but it is not news twice. (A degraded
        # warning in both places once counted twice toward warn_repeat.)
        pty = source == "pty"
        echo = echo_old = None
        if self.echo_lines:
            echo, echo_old = self._echo, self._echo_old
            if pty and (echo or echo_old) and (len(echo) >= ECHO_LINES
                                                or self.clock.monotonic() - self._echo_since > ECHO_AGE_S):
                self._echo_old, self._echo = echo, {}
                echo, echo_old = self._echo, echo
                self._echo_since = self.clock.monotonic()
        try:
            while i < count:
                calm = not busy(source)
                if not calm:
                    j = i                   # a traceback or a multi-line rule is open: every line
                else:
                    while ci < ncands and cands[ci] < i:
                        ci += 1
                    if ci == ncands:
                        matcher.skip(source, count - i, first + count - 1)
                        break
                    j = cands[ci]
                    if j > i:
                        matcher.skip(source, j - i, first + j - 1)
                    if echo is not None and not pty and (echo or echo_old):
                        text = texts[j]
                        seen = echo.get(text)
                        held = echo
                        if seen is None and echo_old:
                            seen, held = echo_old.get(text), echo_old
                        if seen is not None:
                            if seen[2] > 1:     # the terminal had it more than once: so will the file
                                held[text] = (seen[0], seen[1], seen[2] - 1)
                            else:
                                del held[text]
                            matcher.echo(source, first + j, seen[1] is not None)
                            if seen[0] is not None or seen[1] is not None:
                                x = pre.get(j)
                                seg[j] = (seen[0], seen[1], x[2] if x else 0, x[3] if x else None)
                            i = j + 1
                            continue
                text, flags = texts[j], need.get(j, 0)
                parsed = parse_line(text) if flags & PARSE else None
                if flags & MATCH:
                    k = keys.get(j)
                    found = None if k is None else screen.needles_in(text, k)
                else:
                    found = []
                matches = matcher.feed(text, source, first + j, found)
                level = getattr(parsed, "level", None) if parsed is not None else None
                if pty and calm and echo is not None and not busy(source):
                    had = echo.get(text)
                    echo[text] = (level, matches[-1].id if matches else None, had[2] + 1 if had else 1)
                if matches or level is not None:
                    x = pre.get(j)
                    seg[j] = (level, matches[-1].id if matches else None, x[2] if x else 0, x[3] if x else None)
                if parsed is not None or matches:
                    self._release = (release, j + 1)
                    if parsed is not None:
                        self._on_parsed(parsed, self.clock.monotonic())
                    for m in matches:
                        self._on_match(m)
                i = j + 1
        finally:
            self._release = outer
            release(count)
            if want:
                self._schedule_flush()

    def _on_partial(self, partial: str) -> None:
        if self.want_lines and partial != self._partial:
            self._partial = partial
            self._schedule_flush()

    def _file_line(self, rel: str, tl) -> None:
        """One TailLine of a log file (tests; the followers hand over runs)."""
        text, n = tl
        self._file_runs(rel, [TailRun(n, [text], {0: tl.cut} if tl.cut else {})])

    def _file_runs(self, rel: str, runs: list[TailRun]) -> None:
        if not runs:
            return
        self._last_file_output = self.clock.monotonic()
        run = self._run
        for first, texts, cuts in runs:
            if run is not None:
                run.launcher.absorb()       # the terminal's output first out of the pty: it fills meanwhile
            block = "\n".join(texts)
            if "\r" in block:
                self._file_redraws(rel, first, texts, cuts)
                continue
            clean = sanitize_block(block)
            if clean is not block:
                # Nothing sanitize_block removes can hold a newline (node/text.py), so the count
                # stays; were that ever to break, each line is cleaned alone rather than shifted.
                split = clean.split("\n")
                texts = split if len(split) == len(texts) else [sanitize(t) for t in texts]
            if "\t" in clean:
                texts = [t.expandtabs() if "\t" in t else t for t in texts]
            self._lines_in(rel, first, texts, cuts)

    def _file_redraws(self, rel: str, first: int, texts: list[str], cuts: dict[int, int]) -> None:
        """Redraws saved in a file (a tqdm bar on a redirected stderr): each one is a line, as on
        the terminal, so the view can keep the last and the matcher sees no glued text. The
        pieces of one line share its number."""
        for i, text in enumerate(texts):
            cut = cuts.get(i, 0)
            if "\r" in text.rstrip("\r"):
                for piece in text.split("\r"):
                    if piece:
                        self._lines_in(rel, first + i, [sanitize(piece)], {0: cut} if cut else None)
            else:
                self._lines_in(rel, first + i, [sanitize(text)], {0: cut} if cut else None)

    def _on_tail_notice(self, rel: str, kind: str, detail: str) -> None:
        # A log rotated away (logrotate, a user's `mv`) is still read until the node stops
        # writing to it: say so, so nobody wonders where the lines went. Other notices (created,
        # truncated by v0.4's mode 'w' at every start) are routine.
        if kind in ("rotated", "deleted"):
            self._notice("info", f"{rel} {kind}: {detail}")

    def _catch_up_files(self) -> None:
        """Read the log files to their end now. Run when a run is over: its last lines belong to
        it, and read later they would be taken for the next run's (a stale `Joining round`
        line made the next run `running` while it still waited for its login)."""
        for tailer, rel in self._tailers:
            try:
                runs = tailer.catch_up_runs()
            except OSError:
                continue            # the follower meets the same error and says so
            self._file_runs(rel, runs)

    def _add_tailer(self, path: Path, *, from_start: bool) -> None:
        rel = _rel(path, self.layout.root)
        tailer = LogTailer(path, from_start=from_start, step_ms=TAIL_STEP_MS, rust_timeout_ms=TAIL_RECHECK_MS,
                           drain_bytes=TAIL_DRAIN_BYTES,
                           on_notice=lambda kind, detail, rel=rel: self._on_tail_notice(rel, kind, detail))
        self._followed.add(Path(path))
        self._tailers.append((tailer, rel))
        self._tasks.append(asyncio.create_task(self._follow(tailer, rel), name=f"tail {rel}"))

    def _follow_new_logs(self, *, from_start: bool = True) -> None:
        """Log files known only by a pattern (v0.5.2-v0.5.8's logs/training_<animal>.log, named
        once the peer id is known): follow each as it appears, from its first line (it was made
        during this keeper's watch); those already there at start from their end."""
        if not self.layout.log_globs or len(self._followed) > 64:
            return
        for pattern in self.layout.log_globs:
            try:
                found = sorted(self.layout.root.glob(pattern))
            except OSError:
                continue
            for path in found[:16]:
                if path not in self._followed and path.is_file() and not path.is_symlink():
                    if from_start:
                        self._notice("info", f"following {_rel(path, self.layout.root)}")
                    self._add_tailer(path, from_start=from_start)

    async def _follow(self, tailer: LogTailer, rel: str) -> None:
        try:
            await tailer.follow_runs(lambda runs: self._file_runs(rel, runs))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a log we cannot follow must not stop the supervisor
            self._notice("warning", f"stopped following {rel}: {exc}")

    def _on_parsed(self, p: Any, now: float) -> None:
        done_before = self.progress.rounds_completed
        if self.progress.feed(p, now):
            self._progress_dirty = True
            self._schedule_flush()
        if self.progress.rounds_completed != done_before and self.progress.last_done is not None:
            self._round_done(*self.progress.last_done)
        if self.progress.new_skips:
            sig = self.catalogue.get("skipped-round")
            skips = self.progress.new_skips
            self._emit(ev.Detected(id=sig.id, cls=sig.cls, action=sig.action, source="progress", line=0,
                                   text=f"skipped round(s) {skips[0]}" + (f"-{skips[-1]}" if len(skips) > 1 else ""),
                                   hint=sig.hint))
        run = self._run
        if run is None or not run.active or run.stopping:
            return
        if isinstance(p, LoginWait):
            self._login_wait(p.what)
        elif isinstance(p, Milestone) and p.name == "key-activated":
            self._login_done(now)
        elif isinstance(p, (Hello, RoundEvent, StepProgress)) or (
                isinstance(p, Milestone) and p.name in _TRAINER_MILESTONES):
            # The trainer speaks: the node runs now (not at the login, issue 13 item 9).
            was_running, run.running = run.running, True
            self._login_done(now)
            if not was_running and self.state == ev.STARTING:
                self._set_state(ev.RUNNING, detail=f"run {run.number}")
            if not run.trainer_seen and not run.trainer_looked:
                # The trainer speaks: look for its process now. A trainer that exits within a
                # snapshot interval (python returns 0 at once) would otherwise never be seen, and
                # its end never noticed while the script waits for ever.
                run.trainer_looked = True
                self._look_for_trainer(run)

    def _login_wait(self, what: str) -> None:
        run = self._run
        assert run is not None
        if what == "userData.json" and self.layout.user_data_path.is_file():
            return          # the script says it waits, but the file is there: it goes on at once
        if what == "key activation" and read_login(self.layout, []).activated:
            return
        if run.login_waiting == what:
            return
        run.login_waiting = what
        sig = self.catalogue.get("login-waiting")
        self._emit(ev.Detected(id=sig.id, cls=sig.cls, action=sig.action, text=f"waiting for {what}",
                               source="engine", line=0, hint=sig.hint))
        note = f"; {self.ssh_note}" if self.ssh_note else ""
        self._set_state(ev.LOGIN_REQUIRED, reason="login-waiting",
                        detail=f"waiting for {what}: log in at {self.url} (over SSH first: {self.ssh_hint}{note})")
        self._emit(ev.LoginRequired(url=self.url, ssh_hint=self.ssh_hint, waiting_for=what))
        if what == "key activation" and run.login_restored:
            self._tasks.append(asyncio.create_task(self._doubt_restored_login(run), name="restored login"))
        self._wake.set()

    async def _doubt_restored_login(self, run: _Run) -> None:
        """keep_login put a login back and the login server still does not take its key as
        activated: it never will (revoked, or from another session). Drop the copies, so no later
        start restores them again, and ask for a browser login."""
        await self.clock.sleep(RESTORED_LOGIN_PATIENCE)
        if run is not self._run or not run.active or run.login_waiting != "key activation" or not run.login_restored:
            return
        run.login_restored = False
        try:
            self.keeper.reject()
        except OSError as exc:
            self._notice("warning", f"keep_login: could not drop the kept login files in {self.keeper.dir}: {exc}")
        waited = format_duration(RESTORED_LOGIN_PATIENCE)
        self._notice("warning", f"keep_login: the login server did not accept the restored login (its key is "
                                f"still not activated after {waited}); the kept copies were dropped: log in again")
        note = f"; {self.ssh_note}" if self.ssh_note else ""
        self._set_state(ev.LOGIN_REQUIRED, reason="login-rejected",
                        detail=f"the restored login was not accepted: log in again at {self.url} "
                               f"(over SSH first: {self.ssh_hint}{note})")
        self._emit(ev.LoginRequired(url=self.url, ssh_hint=self.ssh_hint,
                                    waiting_for="a new browser login (the restored one was not accepted)"))

    def _login_done(self, now: float) -> None:
        run = self._run
        if run is None or not run.login_waiting:
            return
        run.login_waiting = ""
        run.timers_from = now               # the time spent logging in is not a hang
        if self.config.login.keep_login:
            self._keep_login()
        if self.state == ev.LOGIN_REQUIRED:
            # Logged in is not running: the script still installs and asks its questions; the
            # node runs once the trainer speaks (_on_parsed).
            self._set_state(ev.RUNNING if run.running else ev.STARTING, reason="logged-in",
                            detail=f"run {run.number}" + ("" if run.running else
                                                          ": logged in; the script installs and starts the trainer"))
        self._wake.set()

    def _on_match(self, m: Match) -> None:
        run = self._run
        if (m.action == "ignore" and run is not None and (m.id, "") in run.reported
                and m.cls not in ("conflict", "identity")):
            # A benign line again (a flood of `SKIPPING: Failed to decode value`): it was reported
            # once this run (_should_report), it is never a reason to stop and it is not kept;
            # its LogLine still names it. The same outcome as the path below, without its work.
            return
        if m.id == "python-module-missing":
            m = replace(m, hint=self._python_hint(run) + m.hint)
        if run is not None and run.active and not run.signalled and (_stop_worthy(m) or m.id in _KEPT_IDS):
            # Only what can end a run (_most_significant) or is looked for later: a flood of
            # benign matches used to push a real failure out of this bounded list.
            run.detections.append(m)
            if len(run.detections) > 500:
                del run.detections[:250]
        if m.id == "login-waiting":
            return                          # handled from the parsed line (the file may be there)
        if run is not None and run.stop.done() and run.stop.result().kind in ("stop", "close", "manual"):
            return                          # the script's reaction to our own SIGINT: not news
        if m.cls in ("conflict", "identity"):
            self._conflicts_due = True      # who holds the port or the identity: show it soon
        if self._should_report(m):
            self._emit(ev.Detected(id=m.id, cls=m.cls, action=m.action, text=m.text, source=m.source,
                                   line=m.line, hint=m.hint))
        if m.id == "new-identity-generated":
            self._notice("warning", "a NEW identity (swarm.pem, new peer id and animal name) was just created: "
                                    "if you had one, stop the node and restore it from your backup")
        if run is None or not run.active or run.stopping or run.stop.done():
            return
        if m.cls in _NEVER_CLASSES or m.action == "ignore":
            return
        if m.action in _ACTIVE_RESTART or m.action == NEEDS_USER:
            self._request_stop(_StopRequest("detect", m.id, match=m))
        elif m.action == WARN and m.cls == "degraded":
            d = self.policy.on_detection(m.id, m.cls, m.action, m.hint)
            if d.action in (RESTART, NEEDS_USER):
                self._request_stop(_StopRequest("detect", m.id, match=m, decision=d))

    def _python_hint(self, run: _Run | None) -> str:
        """Which python the node ran, for the hint of python-module-missing."""
        if self.docker:
            return "the node ran in its Docker image (rebuild it: docker compose run --build ...); "
        pyenv = run.pyenv if run is not None else self._pyenv
        if pyenv is None or pyenv.root is None:
            return ("the node ran python from PATH: no venv was found (.venv/ or venv/ in the checkout, "
                    "VIRTUAL_ENV, CONDA_PREFIX); ")
        return f"the node ran {pyenv.root / 'bin' / 'python'} from {pyenv.describe()}; "

    def _should_report(self, m: Match) -> bool:
        run = self._run
        if run is None:
            return True
        key = (m.id, "" if m.action == "ignore" else m.text[:200])
        now = time.monotonic()
        last = run.reported.get(key)
        if last is not None and (m.action == "ignore" or now - last < DETECT_REPEAT_S):
            return False
        if len(run.reported) > 1000:
            run.reported.clear()
        run.reported[key] = now
        return True

    # ================================================================ timers and snapshots

    async def _watchdog(self) -> None:
        while True:
            now = self.clock.monotonic()
            due = self._check_timers(now)
            wait = 60.0 if due is None else max(0.0, min(60.0, due - now))
            self._wake.clear()
            await sleep_or_wake(self.clock, wait, self._wake)

    def _check_timers(self, now: float) -> float | None:
        """Fire silence/stalled when due; else the next time either could be due."""
        run = self._run
        if run is None or not run.active or run.stopping or run.stop.done() or run.login_waiting or run.prompt_pending:
            return None
        cfg = self.config.restart
        due: list[float] = []
        if cfg.silence_limit > 0:
            last = max(t for t in (run.timers_from, run.launcher.last_output_at, self._last_file_output)
                       if t is not None)
            at = last + cfg.silence_limit
            if now >= at:
                self._fire_timer("silence", f"no output at all for {format_duration(round(now - last))} "
                                            "(terminal and log files)")
                return None
            due.append(at)
        if cfg.stall_limit > 0:
            lp = self.progress.last_progress_at
            ref = max(run.timers_from, lp) if lp is not None else run.timers_from
            at = max(run.timers_from + cfg.startup_grace, ref + cfg.stall_limit)
            if now >= at:
                where = f" (last: round {self.progress.round})" if self.progress.round is not None else ""
                self._fire_timer("stalled", f"no round progress for {format_duration(round(now - ref))}{where}")
                return None
            due.append(at)
        return min(due) if due else None

    def _fire_timer(self, sig_id: str, text: str) -> None:
        m = self.catalogue.match(sig_id, text, "engine", 0)
        run = self._run
        if run is not None:
            run.detections.append(m)
        self._emit(ev.Detected(id=m.id, cls=m.cls, action=m.action, text=m.text, source=m.source, line=0, hint=m.hint))
        self._request_stop(_StopRequest("timer", sig_id, match=m))

    async def _snapshot_loop(self) -> None:
        while True:
            try:
                self._snapshot_tick()
            except Exception as exc:  # a /proc hiccup must not end the snapshots
                self._notice("warning", f"process snapshot failed: {exc!r}")
            self._watch_disk()
            self._sample_host()
            await self.clock.sleep(self.config.watch.snapshot_interval)

    def _snapshot_tick(self) -> None:
        every = max(1, round(CONFLICTS_EVERY_S / max(0.01, self.config.watch.snapshot_interval)))
        conflicts = self._snapshots % every == 0 or self._conflicts_due
        self._conflicts_due = False
        self._snapshots += 1
        procs = self.tree.snapshot(conflicts=conflicts, detail=conflicts, incremental=not conflicts)
        if conflicts:
            self._conflicts = [p for p in procs if not p.ours]
        else:
            procs = procs + [c for c in self._conflicts if c.pid not in {p.pid for p in procs}]
        self.tree.reap()
        self._emit(ev.ProcessSnapshot(procs=procs))
        self._watch_trainer(procs)
        self._check_identity()
        self._follow_new_logs()
        if self.config.login.keep_login and self._run_active() and self._keep_login():
            self._notice("info", f"keep_login: saved a copy of the login files (0600) in {self.keeper.dir}")

    def _keep_login(self) -> bool:
        """keep_login's copy. A disk that cannot take it is said once (the next snapshot tries
        again) and never stops the node's care."""
        try:
            copied = self.keeper.capture()
        except OSError as exc:
            if not self._keep_failed:
                self._keep_failed = True
                self._notice("warning", f"keep_login: cannot save a copy of the login files in {self.keeper.dir}: "
                                        f"{exc.strerror or exc}")
            return False
        if copied:
            self._keep_failed = False
        return copied

    def _transcript_failed(self, exc: Exception) -> None:
        self._notice("error", f"the run transcript failed ({exc!r}); the node is still watched, its raw "
                              "output may not be kept for this run")

    def _watch_disk(self) -> None:
        """Free space on the checkout's disk and on the state dir's, during the run (pre-flight
        looks only before it): a node that fills its disk dies of it, and a full state dir loses
        the evidence. Said once per crossing of min_free_disk_mb, each way."""
        now = self.clock.monotonic()
        if self._disk_checked_at is not None and now - self._disk_checked_at < DISK_EVERY_S:
            return
        self._disk_checked_at = now
        need = self.config.watch.min_free_disk_mb
        disks: dict[int, tuple[list[str], Path, int]] = {}
        for what, path in (("the checkout", self.layout.root),
                           ("swarmtui's state dir", paths.node_state_dir(self.layout.root))):
            path = _existing(path)
            try:
                dev = os.stat(path).st_dev
                free_mb = shutil.disk_usage(path).free // (1 << 20)
            except OSError:
                continue
            disks.setdefault(dev, ([], path, free_mb))[0].append(what)
        for dev, (whats, path, free_mb) in disks.items():
            low = need > 0 and free_mb < need
            if low == (dev in self._disk_low):
                continue
            where = f"the disk of {' and '.join(whats)} ({path})"
            if low:
                self._disk_low.add(dev)
                self._notice("warning", f"only {free_mb} MB free on {where}, below [watch] min_free_disk_mb = {need}: "
                                        "a full disk stops the node (disk-full) and swarmtui's evidence; free space "
                                        "(`df -h`; old logs/, checkpoints, `docker system prune`)")
            else:
                self._disk_low.discard(dev)
                self._notice("info", f"free disk space is back above {need} MB: {free_mb} MB free on {where}")

    # ---------------------------------------------------------------- the trainer's own exit

    def _is_trainer(self, p: ev.ProcInfo) -> bool:
        if not p.ours or p.role == "launcher":
            return False
        if self._trainer_marks:
            # The era's entry module, not any python: `pip install gensyn-genrl` is no trainer.
            return any(m in p.cmdline for m in self._trainer_marks)
        return p.role in ("trainer", "dht")

    def _run_stoppable(self, run: _Run | None) -> bool:
        return (run is not None and run is self._run and run.active and not run.stopping and not run.stop.done()
                and run.exit is None and run.launcher.returncode is None)

    def _watch_trainer(self, procs: list[ev.ProcInfo]) -> None:
        """A trainer of this run was seen and is gone while the launcher lives: confirm after a
        short grace, then stop and restart (`trainer-exited`)."""
        run = self._run
        if not self._run_stoppable(run):
            return
        if any(self._is_trainer(p) for p in procs):
            run.trainer_seen = True
            if run.trainer_check is not None:
                run.trainer_check.cancel()
                run.trainer_check = None
            return
        if run.trainer_seen and run.trainer_check is None and self._loop is not None:
            run.trainer_check = self._loop.call_later(TRAINER_GONE_GRACE, self._confirm_trainer_gone, run)

    def _trainer_alive(self) -> bool | None:
        """Is a trainer of ours running now? None when /proc could not be read (the periodic
        snapshots look again)."""
        try:
            procs = self.tree.snapshot(conflicts=False, detail=False, incremental=True)
        except Exception:
            return None
        return any(self._is_trainer(p) for p in procs)

    def _look_for_trainer(self, run: _Run) -> None:
        if self._trainer_alive():
            run.trainer_seen = True

    def _confirm_trainer_gone(self, run: _Run) -> None:
        run.trainer_check = None
        if not self._run_stoppable(run):
            return                  # the launcher exited too, or a stop is already under way
        if self._trainer_alive() is not False:
            return
        m = self.catalogue.match("trainer-exited", "the trainer exited; run_rl_swarm.sh still runs (it waits on "
                                 "its login server and will never go on by itself)", "engine", 0)
        run.detections.append(m)
        self._emit(ev.Detected(id=m.id, cls=m.cls, action=m.action, text=m.text, source=m.source, line=0, hint=m.hint))
        self._request_stop(_StopRequest("detect", m.id, match=m))

    async def _exit_grace(self, run: _Run, limit: float) -> None:
        """exit_grace: up to `limit` (real time) for the script to exit by itself after a fatal
        line. In the genrl eras python often exits 0 after it and the script then sits in its
        final `wait` on the login server, which never ends: so the grace also ends once the
        trainer is gone and the script is seen blocked there, in two looks GRACE_LOOK_S apart
        (asleep in wait() with only its background servers as children, and not run at all in
        between). A script in its EXIT trap fails that test: it has forked `rm`, or runs, or
        was woken between the looks; cutting its trap short is what the grace is for."""
        t0 = time.monotonic()
        end = t0 + limit
        before: WaitLook | None = None
        blocked = False
        while not run.exit_task.done():
            left = end - time.monotonic()
            if left <= 0:
                break
            await asyncio.wait({run.exit_task}, timeout=min(left, GRACE_LOOK_S))
            if run.exit_task.done():
                break
            look = self._final_wait_look(run)
            if (look is not None and before is not None and look.switches == before.switches
                    and self._trainer_alive() is False):
                blocked = True
                break
            before = look
        took = time.monotonic() - t0
        if run.exit_task.done():
            detail = f"the script exited by itself in {took:.2f}s"
        elif blocked:
            detail = (f"the trainer is gone and the script waits on its login server (its final `wait`): "
                      f"grace ended after {took:.2f}s")
        else:
            detail = f"the script still runs after {format_duration(limit)}"
        self._emit(ev.StopStep(step="exit-grace", remaining=0 if run.exit_task.done() else 1, detail=detail))

    def _final_wait_look(self, run: _Run) -> WaitLook | None:
        """The launcher, when it sleeps on its background servers only; None otherwise. Only for
        a run whose trainer was seen: one never seen may be out of our sight (in a container),
        and then its absence says nothing."""
        pid = self.own.launch_pid
        if not run.trainer_seen or run.container is not None or pid is None:
            return None
        look = wait_look(pid)
        return look if look is not None and look.waits_on_background() else None

    def _stop_unclean(self, result: Any) -> str:
        """Why the stop just made is not clean ('' when it is): something of ours still alive, or
        the login port not free. Either makes a fresh start fail again, so no instant restart."""
        if not result.clean:
            return f"{len(result.remaining)} process(es) of ours still alive"
        try:
            st = port_status(self.layout.login_port, self.tree)
        except Exception as exc:  # unverified is not clean
            return f"the login port could not be looked at: {exc!r}"
        return "" if st.state == "free" else st.describe()

    def _check_identity(self, force: bool = False) -> dict | None:
        try:
            report = self.identity.check(force=force)
        except Exception as exc:  # never let a strange file stop the engine
            self._notice("warning", f"identity: {exc}")
            return None
        if report is not None:
            self._emit(ev.IdentityChanged(report=report))
            self._watch_new_identity(report)
        return report

    def _watch_new_identity(self, report: dict) -> None:
        """swarm.pem appearing (or holding another peer id) while the node runs is a new identity
        made by hivemind. Since main (CodeZero) silences hivemind's logger, its `Generating new
        identity` line never comes: the file is the only sign (issue 13 item 8)."""
        peer = report.get("peer_id") if report.get("pem_state") == "ok" else None
        before = self._peer_seen
        if peer is None:
            if report.get("pem_state") == "missing":
                self._peer_seen = None
            return
        self._peer_seen = peer
        run = self._run
        if peer == before or run is None or not run.active or run.stopping or run.stop.done():
            return
        animal = report.get("animal_name")
        text = (f"{report.get('pem_path') or self.layout.identity_path} " + ("appeared" if before is None else "changed")
                + f" while the node runs: new peer id {peer}" + (f" ({animal})" if animal else ""))
        # hivemind logs `Generating new identity` before it writes the file, from its DHT process,
        # and the keeper may read that line a moment after it sees the file (paced pty reads):
        # give the line NEW_IDENTITY_LINE_WAIT_S to be the warning, so there is one, not two.
        if self._loop is None:
            self._report_new_identity(run, text)
        else:
            self._loop.call_later(NEW_IDENTITY_LINE_WAIT_S, self._report_new_identity, run, text)

    def _report_new_identity(self, run: "_Run", text: str) -> None:
        if run is not self._run or not run.active or run.stopping or run.stop.done():
            return
        if any(d.id == "new-identity-generated" for d in run.detections):
            return                          # the trainer's own line said it
        self._on_match(self.catalogue.match("new-identity-generated", text, "engine", 0))

    # ================================================================ emitting

    def run_uptime_s(self) -> float | None:
        """How long the node's current run has lasted; None while no run is under way (stopped,
        backing off, waiting for a person): `swarmtui ls` shows the node's uptime, not its keeper's."""
        run = self._run
        if run is None or not run.active or self.state not in (ev.RUNNING, ev.LOGIN_REQUIRED, ev.STARTING):
            return None
        return round(max(0.0, self.clock.monotonic() - run.started_at), 1)

    def _set_state(self, state: str, reason: str = "", detail: str = "", next_restart_in: float | None = None) -> None:
        key = (state, reason, detail, next_restart_in)
        self.state = state
        if state in (ev.NEEDS_USER, ev.STARTING):
            self._conflicts_due = True
        if key == self._last_state:
            return
        self._last_state = key
        run = self._run
        uptime = round(max(0.0, self.clock.monotonic() - run.started_at), 3) if run is not None and run.active else None
        self._emit(ev.StateChanged(state=state, reason=reason, detail=detail, next_restart_in=next_restart_in,
                                   uptime_s=uptime))
        if self._wake is not None:
            self._wake.set()

    def _round_done(self, round_no: int, took: float | None) -> None:
        self.trends.round_done(round_no, iso_utc(self.clock.wall()), took, self.progress.last_rewards,
                               self.progress.market)
        try:
            self.trends.save()
        except OSError as exc:      # a full disk loses a trend point, never the node's care
            if not self._trends_unsaved:
                self._trends_unsaved = True
                self._notice("warning", f"cannot save the round trends in {self.trends.path}: {exc.strerror or exc}")
        self._emit(ev.RoundTrends(rounds=list(self.trends.rounds)))

    def _sample_host(self) -> None:
        try:
            if self.host is None:
                self.host = HostSampler(self.layout.root)
            self._emit(ev.HostStats(**self.host.sample()))
        except Exception as exc:    # psutil on an odd /proc: the figures are missing, the node is fine
            if not self._host_failed:
                self._host_failed = True
                self._notice("warning", f"host figures unavailable: {exc!r}")

    def _notice(self, level: str, text: str) -> None:
        self._emit(ev.Notice(level=level, text=text))

    def _emit(self, event: ev.Event) -> None:
        if not isinstance(event, ev.LinesOut):
            if self._release is not None:   # a line being read leads to this event: it and those before
                release, upto = self._release
                release(upto)
            self._flush()               # the lines that led to an event come before it
        self._emit_raw(event)

    def _emit_raw(self, event: ev.Event) -> None:
        if not event.ts:
            event.ts = iso_utc(self.clock.wall())
        try:
            self.emit(event)
        except Exception as exc:  # the view's problem must never stop the node's care
            if not self._emit_failed:
                self._emit_failed = True
                print(f"swarmtui: an event consumer failed: {exc!r}", file=sys.stderr)

    def _schedule_flush(self) -> None:
        # Leading edge: a line after a quiet interval goes out on this loop turn (call_soon, so the
        # rest of its chunk joins it), not 0.1 s later, which was nearly all of a slow node's line
        # -> panel lag. Lines arriving within an interval of the last batch wait for the interval's
        # end (ev.lines_gap): still at most one batch per ev.LINES_EVERY under a flood.
        if self._flush_handle is None and self._loop is not None:
            wait = self._lines_sent_at + ev.lines_gap(self._lines_sent_n) - self._loop.time()
            if wait <= 0:
                self._flush_handle = self._loop.call_soon(self._flush)
            else:
                self._flush_handle = self._loop.call_later(wait, self._flush)

    def _flush(self) -> None:
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        if self._lines or self._partial != self._partial_sent:
            lines, self._lines = self._lines, []
            self._partial_sent = self._partial
            batch = Lines(lines)
            if self._loop is not None:
                self._lines_sent_at = self._loop.time()
                self._lines_sent_n = len(batch)
            self._emit_raw(ev.LinesOut(lines=batch, partial=self._partial))
            # A node without its swarm.pem writes a new one early in its start, amid its output:
            # look with each batch of lines rather than at the next snapshot, so the new peer id
            # shows as soon as the file is there. One stat while it is not; the full look (four
            # stats and a report) once it is, as a node whose file never comes sends ten batches
            # a second.
            if ((self.identity.report or {}).get("pem_state") != "ok" and self._run_active()
                    and os.path.exists(self.layout.identity_path)):
                self._check_identity()
        if self._progress_dirty:
            self._progress_dirty = False
            self._emit_raw(ev.ProgressUpdate(**self.progress.snapshot(self.clock.monotonic())))


# ---------------------------------------------------------------- helpers


def _existing(path: Path) -> Path:
    """`path`, or its nearest parent that exists (the state dir is made at the first run)."""
    path = Path(path)
    while not path.exists() and path.parent != path:
        path = path.parent
    return path


def _rel(path: Path, root: Path) -> str:
    try:
        return str(Path(path).relative_to(root))
    except ValueError:
        return str(path)


def _stop_worthy(m: Match) -> bool:
    if m.cls in _NEVER_CLASSES or m.action == "ignore" or m.id == "login-waiting":
        return False
    return m.action in _ACTIVE_RESTART or m.action == NEEDS_USER


def _most_significant(detections: list[Match]) -> Match | None:
    """The reason a run ended: the most specific failure seen (an OOM over the generic wrapper
    that reported it), the earliest among equals."""
    best: tuple[int, int] | None = None
    found = None
    for i, m in enumerate(detections):
        if not _stop_worthy(m) or m.id in ("silence", "stalled"):
            continue
        rank = 60 if m.id in _LAST_RESORT else 50 if m.id in _WRAPPERS else _CLASS_RANK.get(m.cls, 40)
        if best is None or (rank, i) < best:
            best, found = (rank, i), m
    return found


def _held_identity(orphans: list[dict], layout: Layout) -> bool:
    """Did the sweep kill a leftover of ours that held our identity (a p2pd with our -id=)?"""
    ident = str(layout.identity_path)
    real = os.path.realpath(ident)
    for o in orphans:
        cmd = str(o.get("cmdline", ""))
        if f"-id={ident}" in cmd or f"-id={real}" in cmd or o.get("proof") == "p2pd-id":
            return True
    return False
