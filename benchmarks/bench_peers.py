"""swarmtui side by side with pm2, supervisord and a bash restart loop (issue 16's proof table).

    .venv-test/bin/python benchmarks/bench_peers.py [--reps 5] [--quick] [--supervisord PATH] [--pm2 PATH]

The same fake node (a run_rl_swarm.sh in a temp checkout) runs under each keeper in turn,
interleaved: every repetition runs every keeper once per measurement, in a rotated order.
- process exits -> node running again: the script lives 1.5 s (longer than supervisord's
  `startsecs`), stamps the time and exits 3; measured to the next run's first line (a bash
  `$EPOCHREALTIME` stamp at the top of the script, the same for every keeper). Each repetition
  starts its keeper afresh and measures its first failure and the second in a row (where
  swarmtui's defaults back off: the tuned column, `backoff_initial = "0s"`, does not).
- fatal line -> running again: bench_supervise's genrl-like script (login server in the
  background, upstream's EXIT trap): the trainer prints "Exception occurred during game run.",
  python exits 0 and the script sits in its final `wait`. pm2 gets a log watcher of the user's
  own (`tail -F | grep | pm2 restart`); supervisord and a bash loop cannot react at all.
- keeper CPU and line latency at 1 (idle), 1k, 3k, 10k and 30k lines/s: the node writes each
  line to its terminal (stdout) and to logs/swarm_launcher.log, as genrl does. CPU is the
  keeper's own process (`swarmtui supervise`, supervisord, pm2's God daemon, the bash loop),
  not the node's. Latency: 20 probe lines a second carry their write time; for swarmtui the
  moment `supervise --json` reports the probe's detection (parsed and matched: processed), for
  pm2 and supervisord the moment the line is in the log file they write the node's stdout to
  (what they do with a line; they parse nothing). The node writes one line per write(), as
  genrl's logging does, and a keeper that reads slowly blocks those writes: the table says how
  many lines a second the node managed under each keeper, and how long a second its terminal
  writes waited (each write over 0.5 ms counted: the pty was full). The node catches up after
  a wait, so the lines it managed hide short waits; the time waited does not.
- swarmtui reading only (floods only; --no-floor leaves it out): `swarmtui supervise` with its
  line path cut out (the pty and the log file still read, split, cleaned, kept), the floor under
  swarmtui's CPU rows; the report gives its ratio to supervisord and the keeper's to it.
The keepers come from --supervisord (else a supervisord on PATH or in /tmp/peers-venv) and --pm2
(else pm2 on PATH or in /tmp/pm2); a missing one is skipped with a line that says how to get it.
Everything runs in temp dirs (pm2 gets its own PM2_HOME, supervisord its own socket); every
process started is marked with a token in its environment and stopped at the end of each run.
Prints figures only; asserts nothing.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_supervise as bs  # noqa: E402  (sets SWARMTUI_* dirs to its temp dir on import)

REPO = Path(__file__).resolve().parents[1]
TOKEN = secrets.token_hex(8)            # in the environment of every process we start
TOKEN_VAR = "BENCH_PEERS_TOKEN"
RATES = (1, 1000, 3000, 10000, 30000)
LATENCY_RATES = (10000, 30000)
PROBE_EVERY = 0.05
PROBE_TEXT = "Error playing PRG game, continuing."     # prg-game-error: info, never restarts
FATAL_TEXT = "Exception occurred during game run"
TRAINER_S = 2.5     # the stand-in trainer outlives one default snapshot interval (2 s), as a real one does

START_STAMP = 'echo "$EPOCHREALTIME" >> started_at\n'
EXIT_BODY = START_STAMP + ("echo '>> Good luck in the swarm!'\nsleep 1.5\n"
                           'echo "$EPOCHREALTIME" >> written_at\nexit 3\n')
FLOOD_BODY = START_STAMP + "echo '>> Good luck in the swarm!'\npython3 flood_writer.py\n"

# swarmtui's tuned column: every restart in a row at once, as pm2 and supervisord do (the
# defaults restart a first failure at once and back off from the second: README says why). The
# crash-loop and budget limits stay. Nothing in it touches the line path, so the flood runs once.
TUNED = '[restart]\nbackoff_initial = "0s"\n'
TUNED_FLOOD = False

FLOOD_WRITER = r'''
import os, sys, time
LINES = [
    %(line)r,
    "[2026-01-01 12:00:00,001][genrl.communication.hivemind.hivemind_backend][WARNING] - SKIPPING: Failed to decode value",
    "[2026-01-01 12:00:00,002][genrl.logging_utils.global_defs][INFO] - Map: 42 examples, 3 rewards gathered for peer QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N",
    "[2026-01-01 12:00:00,003][genrl.trainer][DEBUG] - generation step 17: 128 tokens in 0.91 s",
]
# Each line's timestamp moves on by a millisecond, as a real flood's do: no keeper gets to see
# the same bytes twice (4096 variants, cycled).
ENC = [("[2026-01-01 12:%%02d:%%02d,%%03d]" %% (i // 60000 %% 60, i // 1000 %% 60, i %% 1000) + LINES[i & 3][25:]
        + "\n").encode() for i in range(4096)]
log = os.open("logs/swarm_launcher.log", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
probes = open("probes.log", "a")
count_fd = os.open("written", os.O_WRONLY | os.O_CREAT, 0o644)
write = os.write

def write_all(fd, data):
    view = memoryview(data)
    while view:
        view = view[write(fd, view):]

# One write per line and per stream, as genrl's logging does (a handler flushes every record):
# a keeper reading the terminal gets lines as they come, not in convenient blocks.
rate, sent, total, n_probe, waited = 0.0, 0, 0, 0, 0.0
clock = time.perf_counter
t0 = next_probe = next_look = next_count = time.monotonic()
while True:
    now = time.monotonic()
    if now >= next_look:
        next_look = now + 0.25
        try:
            new = float(open("rate").read() or 0)
        except (OSError, ValueError):
            new = rate
        if new != rate:
            rate, sent, t0 = new, 0, now
    due = int(rate * (now - t0)) - sent
    if due > max(rate * 0.2, 50):         # fell behind (the reader blocked us): the debt is dropped
        sent, t0, due = 0, now, 0
    for i in range(due):
        line = ENC[(sent + i) & 4095]
        t = clock()
        write(1, line)              # short lines: a blocking write takes them whole
        t = clock() - t
        if t > 0.0005:              # the terminal was full: the keeper had not read it
            waited += t
        write(log, line)
    if due > 0:
        sent += due
        total += due
    if rate >= 1000 and now >= next_probe:
        next_probe = now + %(probe_every)r
        n_probe += 1
        stamp = time.time()
        probe = "[2026-01-01 12:00:00,004][genrl.game][WARNING] - %(probe)s probe %%d %%.6f" %% (n_probe, stamp)
        write_all(1, (probe + "\n").encode())
        write_all(log, (probe + " file\n").encode())     # its own text: not a repeat of the terminal's
        probes.write("%%d %%.6f\n" %% (n_probe, stamp))
        total += 1
    if now >= next_count:
        next_count = now + 0.2
        os.pwrite(count_fd, b"%%20d %%20.6f\n" %% (total, waited), 0)
        probes.flush()
    time.sleep(0.005 if rate >= 100 else 0.05)
''' % {"line": bs.LINE, "probe_every": PROBE_EVERY, "probe": PROBE_TEXT}


def fatal_body() -> str:
    body = bs.GENRL_LIKE.replace("time.sleep(0.6)", f"time.sleep({TRAINER_S})")
    if body == bs.GENRL_LIKE or FATAL_TEXT not in body:
        raise SystemExit("bench_supervise.GENRL_LIKE changed shape: adapt bench_peers.fatal_body")
    return START_STAMP + body


def marked_env(**extra: str) -> dict:
    env = bs.clean_env()
    env[TOKEN_VAR] = TOKEN
    env.update(extra)
    return env


def sweep_marked() -> int:
    """Kill every process that carries this run's token (ours: we put it there), the keepers'
    daemons and the node trees they left alike. Returns how many were left."""
    me = os.getpid()
    left = []
    for p in psutil.process_iter(["pid"]):
        if p.pid == me:
            continue
        try:
            if p.environ().get(TOKEN_VAR) == TOKEN:
                left.append(p)
        except (psutil.Error, OSError):
            continue
    for p in left:
        try:
            p.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(left, timeout=5)
    return len(left)


def node_root(name: str, body: str) -> Path:
    root = bs.tiny_checkout(name, body)
    # The node's own venv, as on a real node (bench_supervise.relaunch says why it matters).
    (root / ".venv" / "bin").mkdir(parents=True)
    (root / ".venv" / "bin" / "python").symlink_to(os.path.realpath(sys.executable))
    (root / "flood_writer.py").write_text(FLOOD_WRITER)
    (root / "rate").write_text("1")
    return root


def read_lines(path: Path) -> list[str]:
    try:
        return path.read_text().split()
    except OSError:
        return []


def wait_for(cond, timeout: float, step: float = 0.005) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(step)
    return cond()


class Probes:
    """Probe arrival times by source: {source: {probe number: seconds after it was written}}."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.seen: dict[str, dict[int, float]] = {}

    def note(self, source: str, text: str, now: float) -> None:
        i = text.find(" probe ")
        if i < 0:
            return
        try:
            num, stamp = text[i + 7:].split()[:2]
            with self.lock:
                self.seen.setdefault(source, {}).setdefault(int(num), now - float(stamp))
        except ValueError:
            pass


class FileFollower(threading.Thread):
    """Notes when each probe line reaches a file a keeper writes the node's stdout to."""

    def __init__(self, path: Path, probes: Probes):
        super().__init__(daemon=True)
        self.path, self.probes, self.stop = path, probes, threading.Event()

    def run(self) -> None:
        f, carry = None, b""
        key = PROBE_TEXT.encode()
        while not self.stop.is_set():
            if f is None:
                try:
                    f = open(self.path, "rb")
                except OSError:
                    time.sleep(0.01)
                    continue
            data = f.read()
            if not data:
                time.sleep(0.002)
                continue
            now = time.time()
            data, carry = carry + data, b""
            end = data.rfind(b"\n") + 1
            data, carry = data[:end], data[end:]
            pos = data.find(key)
            while pos >= 0:
                eol = data.find(b"\n", pos)
                self.probes.note("log", data[pos:eol].decode(errors="replace"), now)
                pos = data.find(key, eol)
        if f is not None:
            f.close()


# ---------------------------------------------------------------- the keepers


class Keeper:
    name = ""
    fatal_note = ""             # why it cannot restart on a fatal line ("" = it can)
    flood_only = False          # measured in the floods only

    def start(self, root: Path, work: Path, *, fatal: bool = False) -> None:
        raise NotImplementedError

    def cpu_pids(self) -> list[int]:
        raise NotImplementedError

    def out_log(self) -> Path | None:
        return None

    def stop(self) -> None:
        raise NotImplementedError


class Swarmtui(Keeper):
    def __init__(self, label: str, config: str):
        self.name, self.config = label, config
        self.proc: subprocess.Popen | None = None
        self.probes = Probes()
        self.reader: threading.Thread | None = None

    def start(self, root: Path, work: Path, *, fatal: bool = False) -> None:
        cfg = work / "swarmtui.toml"
        cfg.write_text(self.config)
        env = marked_env(SWARMTUI_STATE_DIR=str(work / "state"))
        self.probes = Probes()
        with open(work / "supervise.err", "wb") as err:
            self.proc = subprocess.Popen(self.argv(root, cfg), stdout=subprocess.PIPE, stderr=err, env=env,
                                         cwd=REPO, start_new_session=True)
        self.reader = threading.Thread(target=self._read, args=(self.proc.stdout,), daemon=True)
        self.reader.start()

    def argv(self, root: Path, cfg: Path) -> list[str]:
        return [sys.executable, "-m", "swarmtui", "supervise", str(root), "--config", str(cfg), "--json"]

    def _read(self, out) -> None:
        key = PROBE_TEXT.encode()
        for raw in out:
            if key in raw and b'"detect"' in raw:
                now = time.time()
                try:
                    e = json.loads(raw)
                except ValueError:
                    continue
                self.probes.note("log file" if e.get("source", "pty") != "pty" else "terminal", e.get("text", ""), now)

    def cpu_pids(self) -> list[int]:
        return [self.proc.pid] if self.proc else []

    def stop(self) -> None:
        bs.stop_popen(self.proc)
        if self.proc is not None:
            self.proc.stdout.close()
        self.proc = None


# swarmtui with its line path cut out: the pty and the log file are read, split, cleaned and kept
# (transcript, evidence) as always, and nothing is parsed, matched or sent on. No keeper that
# reads both copies in Python can do with less, so this column is the floor under the CPU rows:
# what the "at most 1.5x supervisord" asks of the rest is read against it.
FLOOR = "swarmtui reading only"
READING_ONLY = (
    "import sys\n"
    "from swarmtui.engine import supervisor\n"
    "if not callable(getattr(supervisor.Supervisor, '_lines_in', None)):\n"
    "    sys.exit('bench_peers: Supervisor._lines_in is gone: the reading-only column needs its new name')\n"
    "supervisor.Supervisor._lines_in = lambda self, *a, **k: None\n"
    "from swarmtui.cli import main\n"
    "sys.argv[0] = 'swarmtui'\n"
    "main()\n")


class SwarmtuiReadingOnly(Swarmtui):
    """Floods only: without the line path it neither detects the probes nor a fatal line."""
    flood_only = True

    def __init__(self) -> None:
        super().__init__(FLOOR, "")

    def argv(self, root: Path, cfg: Path) -> list[str]:
        return [sys.executable, "-c", READING_ONLY, "supervise", str(root), "--config", str(cfg), "--json"]


class Supervisord(Keeper):
    name = "supervisord"
    fatal_note = "cannot: it watches the process only, and the script never exits"

    def __init__(self, exe: str):
        self.exe = exe
        self.proc: subprocess.Popen | None = None
        self.log: Path | None = None

    def start(self, root: Path, work: Path, *, fatal: bool = False) -> None:
        self.log = work / "node.out"
        conf = work / "supervisord.conf"
        # What a user would write for rl-swarm: restart on any exit, stop the whole group.
        conf.write_text(f"""[unix_http_server]
file={work}/supervisor.sock
[supervisord]
nodaemon=true
logfile={work}/supervisord.log
pidfile={work}/supervisord.pid
childlogdir={work}
[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface
[supervisorctl]
serverurl=unix://{work}/supervisor.sock
[program:node]
command=bash run_rl_swarm.sh
directory={root}
autorestart=true
stopasgroup=true
killasgroup=true
redirect_stderr=true
stdout_logfile={self.log}
stdout_logfile_maxbytes=0
""")
        self.proc = subprocess.Popen([self.exe, "-n", "-c", str(conf)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, env=marked_env(), cwd=work, start_new_session=True)

    def cpu_pids(self) -> list[int]:
        return [self.proc.pid] if self.proc else []

    def out_log(self) -> Path | None:
        return self.log

    def stop(self) -> None:
        bs.stop_popen(self.proc)
        self.proc = None


class PM2(Keeper):
    name = "pm2"

    def __init__(self, exe: str):
        self.exe = exe
        self.home: Path | None = None
        self.log: Path | None = None
        self.watcher: subprocess.Popen | None = None

    def _env(self) -> dict:
        return marked_env(PM2_HOME=str(self.home))

    def _pm2(self, *args: str, cwd: Path | None = None) -> None:
        subprocess.run([self.exe, *args], env=self._env(), cwd=cwd, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=60, check=False)

    def start(self, root: Path, work: Path, *, fatal: bool = False) -> None:
        self.home, self.log = work / "pm2home", work / "node.out"
        if fatal:
            # The user's own watcher: the line in pm2's log -> `pm2 restart`.
            self.watcher = subprocess.Popen(
                ["bash", "-c", 'tail -n0 -F "$1" 2>/dev/null | grep --line-buffered -F "$3" | '
                               'while read -r _; do "$2" restart node >/dev/null 2>&1; done',
                 "watcher", str(self.log), self.exe, FATAL_TEXT],
                env=self._env(), cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                start_new_session=True)
        self._pm2("start", "run_rl_swarm.sh", "--name", "node", "--interpreter", "bash",
                  "--output", str(self.log), "--error", str(work / "node.err"), cwd=root)

    def cpu_pids(self) -> list[int]:
        try:
            return [int((self.home / "pm2.pid").read_text())]
        except (OSError, ValueError, TypeError):
            return []

    def out_log(self) -> Path | None:
        return self.log

    def stop(self) -> None:
        if self.watcher is not None:
            os.killpg(self.watcher.pid, signal.SIGTERM)
            self.watcher.wait(10)
            self.watcher = None
        if self.home is not None:
            self._pm2("kill")


class BashLoop(Keeper):
    name = "bash loop"
    fatal_note = "cannot: the script never exits"

    def __init__(self) -> None:
        self.proc: subprocess.Popen | None = None

    def start(self, root: Path, work: Path, *, fatal: bool = False) -> None:
        self.proc = subprocess.Popen(
            ["bash", "-c", 'while true; do bash run_rl_swarm.sh >> "$1" 2>&1; done', "loop", str(work / "node.out")],
            env=marked_env(), cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)

    def cpu_pids(self) -> list[int]:
        return [self.proc.pid] if self.proc else []

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)    # its own session: the loop and the node
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self.proc = None


def find_exe(given: str | None, name: str, private: str) -> str | None:
    if given:
        return given if os.access(given, os.X_OK) else None
    return shutil.which(name) or (private if os.access(private, os.X_OK) else None)


# ---------------------------------------------------------------- the measurements

RUN_NO = [0]


def fresh(keeper: Keeper, what: str, body: str) -> tuple[Path, Path]:
    RUN_NO[0] += 1
    tag = f"{RUN_NO[0]:03d}-{what}-{keeper.name.replace(' ', '-').replace('(', '').replace(')', '')}"
    root = node_root(tag, body)
    work = bs.TMP / f"work-{tag}"
    work.mkdir()
    return root, work


def finish(keeper: Keeper, root: Path, work: Path) -> None:
    try:
        keeper.stop()
    finally:
        left = sweep_marked()
        if left:
            print(f"  ({keeper.name}: {left} process(es) left after its stop, killed)", flush=True)
        shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)


def back_again(keeper: Keeper, fatal: bool, failures: int, timeout: float) -> list[float | None]:
    """For each of the first `failures` failures in a row: seconds from its stamp (the launcher
    about to exit, or the fatal line written) to the next run's first line; None for a failure
    no run followed within `timeout` of the keeper's start."""
    root, work = fresh(keeper, "fatal" if fatal else "exit", fatal_body() if fatal else EXIT_BODY)
    try:
        keeper.start(root, work, fatal=fatal)
        wait_for(lambda: len(read_lines(root / "started_at")) > failures, timeout, 0.01)
        starts = sorted(float(x) for x in read_lines(root / "started_at"))
        stamps = sorted(float(x) for x in read_lines(root / "written_at"))[:failures]
        got: list[float | None] = []
        for w in stamps:
            later = [s for s in starts if s > w]
            got.append(later[0] - w if later else None)
        return got + [None] * (failures - len(got))
    finally:
        finish(keeper, root, work)


def cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            t = psutil.Process(pid).cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass
    return total


def written(root: Path) -> int:
    return written_and_waited(root)[0]


def written_and_waited(root: Path) -> tuple[int, float]:
    """Lines the node wrote, and the seconds its terminal writes waited (over 0.5 ms each:
    the pty was full because the keeper had not read it)."""
    try:
        parts = (root / "written").read_text().split()
        return int(parts[0]), float(parts[1]) if len(parts) > 1 else 0.0
    except (OSError, ValueError, IndexError):
        return 0, 0.0


def probe_stamps(root: Path) -> dict[int, float]:
    out = {}
    for line in (root / "probes.log").read_text().splitlines() if (root / "probes.log").exists() else []:
        try:
            n, t = line.split()
            out[int(n)] = float(t)
        except ValueError:
            pass
    return out


def p90_of(probes: Probes, source: str, stamps: dict[int, float], t0: float, t1: float) -> tuple[float, int]:
    """p90 latency of the probes written in [t0, t1] (wall clock) from one source, counting a
    probe that never arrived as infinitely late; and how many never arrived."""
    wanted = [n for n, t in stamps.items() if t0 <= t <= t1]
    with probes.lock:
        seen = dict(probes.seen.get(source, {}))
    lat = [seen.get(n, float("inf")) for n in wanted]
    if not lat:
        return float("nan"), 0
    return bs.pct(lat, 90), sum(1 for x in lat if x == float("inf"))


def sweep(keeper: Keeper, windows: dict[int, float], settle: float) -> dict:
    """Keeper CPU (% of one core) at each rate and, at the latency rates, p90 per source."""
    root, work = fresh(keeper, "flood", FLOOD_BODY)
    out: dict = {}
    follower = None
    try:
        keeper.start(root, work)
        if not wait_for(lambda: written(root) > 0 or (root / "probes.log").exists(), 60, 0.05):
            out["error"] = "the node never started"
            return out
        probes = keeper.probes if isinstance(keeper, Swarmtui) else Probes()
        if keeper.out_log() is not None:
            follower = FileFollower(keeper.out_log(), probes)
            follower.start()
        time.sleep(settle)
        for rate in RATES:
            (root / "rate.new").write_text(str(rate))
            os.replace(root / "rate.new", root / "rate")
            time.sleep(settle)
            pids = keeper.cpu_pids()
            (n0, b0), c0, m0, w0 = written_and_waited(root), cpu_seconds(pids), time.monotonic(), time.time()
            time.sleep(windows[rate])
            (n1, b1), c1, m1, w1 = written_and_waited(root), cpu_seconds(pids), time.monotonic(), time.time()
            out[("cpu", rate)] = (c1 - c0) / (m1 - m0) * 100
            out[("rate", rate)] = (n1 - n0) / (m1 - m0)
            out[("waited", rate)] = (b1 - b0) / (m1 - m0) * 1000
            if n1 > n0:     # what a line costs, whatever rate the keeper let the node reach
                out[("us", rate)] = (c1 - c0) / (n1 - n0) * 1e6
            if rate in LATENCY_RATES:
                time.sleep(1.0)         # probes of the window's end still on their way
                stamps = probe_stamps(root)
                for source in sorted(probes.seen):
                    p90, lost = p90_of(probes, source, stamps, w0, w1)
                    out[("p90", rate, source)] = p90
                    if lost:
                        out[("lost", rate, source)] = lost
        return out
    finally:
        if follower is not None:
            follower.stop.set()
        finish(keeper, root, work)


# ---------------------------------------------------------------- report


def fmt_s(v: float | None) -> str:
    if v is None:
        return "no restart"
    if v != v:
        return "?"
    if v == float("inf"):
        return "never (45 s)"
    return f"{v * 1000:.0f} ms" if v < 1 else f"{v:.2f} s"


def span(values: list[float | None], fmt) -> str:
    values = [float("inf") if v is None else v for v in values]     # None: it never came back
    if not values:
        return "—"
    lo, mid, hi = min(values), statistics.median(values), max(values)
    return f"{fmt(lo)} / {fmt(mid)} / {fmt(hi)}"


def pct_fmt(v: float) -> str:
    return f"{v:.1f} %" if v < 10 else f"{v:.0f} %"


def ratio(a: list[float], b: list[float]) -> str:
    a = [v for v in a if v is not None and v == v and v != float("inf")]
    b = [v for v in b if v is not None and v == v and v != float("inf")]
    if not a or not b or statistics.median(b) <= 0:
        return "—"
    return f"{statistics.median(a) / statistics.median(b):.2f}×"


def version(keeper: Keeper) -> str:
    """The peer's version, without starting it (`pm2 --version` would start a daemon)."""
    try:
        if isinstance(keeper, PM2):
            pkg = Path(os.path.realpath(keeper.exe)).parent.parent / "package.json"
            node = subprocess.run(["node", "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
            return f"pm2 {json.loads(pkg.read_text())['version']} (node {node})"
        if isinstance(keeper, Supervisord):
            out = subprocess.run([keeper.exe, "--version"], capture_output=True, text=True, timeout=30)
            return f"supervisord {out.stdout.strip()}"
        if isinstance(keeper, BashLoop):
            return f"bash {subprocess.run(['bash', '-c', 'echo $BASH_VERSION'], capture_output=True, text=True).stdout.strip()}"
    except (OSError, ValueError, KeyError, subprocess.SubprocessError) as exc:
        return f"{keeper.name} (version unknown: {exc})"
    return keeper.name


def machine() -> str:
    return (f"{_dt.datetime.now(_dt.timezone.utc):%Y-%m-%d %H:%M} UTC, {platform.node()}, {os.cpu_count()} CPUs, "
            f"{platform.machine()}, Python {platform.python_version()}")


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    ap = argparse.ArgumentParser(description="swarmtui against pm2, supervisord and a bash restart loop "
                                             "on the same fake node (prints figures, asserts nothing)")
    ap.add_argument("--reps", type=int, default=5, help="interleaved repetitions (default 5)")
    ap.add_argument("--quick", action="store_true", help="a short run: 2 repetitions, 2 s windows")
    ap.add_argument("--supervisord", metavar="PATH", help="supervisord to run (default: PATH, then /tmp/peers-venv)")
    ap.add_argument("--pm2", metavar="PATH", help="pm2 to run (default: PATH, then /tmp/pm2)")
    ap.add_argument("--only", default="exit,fatal,flood", help="which measurements: exit, fatal, flood")
    ap.add_argument("--no-tuned", action="store_true", help="leave out swarmtui's tuned column")
    ap.add_argument("--no-floor", action="store_true",
                    help="leave out the 'swarmtui reading only' column (the line path cut out: the CPU floor)")
    ap.add_argument("--dry-run", action="store_true", help="say what would run, run nothing")
    args = ap.parse_args()
    if args.reps < 1:
        ap.error("--reps must be at least 1")
    reps = 2 if args.quick and args.reps == 5 else args.reps
    windows = {1: 3.0, 1000: 2.0, 3000: 2.0, 10000: 2.0, 30000: 2.0} if args.quick else \
              {1: 10.0, 1000: 5.0, 3000: 5.0, 10000: 5.0, 30000: 5.0}
    settle = 1.0
    only = {x.strip() for x in args.only.split(",") if x.strip()}
    if only - {"exit", "fatal", "flood"}:
        ap.error(f"--only: unknown measurement(s) {', '.join(sorted(only - {'exit', 'fatal', 'flood'}))}")

    keepers: list[Keeper] = [Swarmtui("swarmtui (defaults)", "")]
    if not args.no_tuned:
        keepers.append(Swarmtui("swarmtui (tuned)", TUNED))
    if not args.no_floor and "flood" in only:
        keepers.append(SwarmtuiReadingOnly())
    sd = find_exe(args.supervisord, "supervisord", "/tmp/peers-venv/bin/supervisord")
    pm = find_exe(args.pm2, "pm2", "/tmp/pm2/node_modules/.bin/pm2")
    skipped = []
    if pm:
        keepers.append(PM2(pm))
    else:
        skipped.append("pm2: skipped, not found (npm install --prefix /tmp/pm2 pm2, or --pm2 PATH)")
    if sd:
        keepers.append(Supervisord(sd))
    else:
        skipped.append("supervisord: skipped, not found (python3 -m venv /tmp/peers-venv && "
                       "/tmp/peers-venv/bin/pip install supervisor, or --supervisord PATH)")
    keepers.append(BashLoop())

    print(f"# bench_peers: {machine()}")
    print(f"load average before: {load()} (2-core machine shared with other jobs: figures scatter with it)")
    for line in skipped:
        print(line)
    print("keepers: " + ", ".join(k.name + (f" [{k.exe}]" if hasattr(k, "exe") else "") for k in keepers))
    print("versions: " + ", ".join(version(k) for k in keepers if not isinstance(k, Swarmtui)))
    if not args.no_tuned:
        print("swarmtui (tuned) config: " + TUNED.replace("\n", " ").strip())
    print(f"{reps} interleaved repetitions; windows " + ", ".join(f"{r:,} lines/s {w:g} s" for r, w in windows.items()),
          flush=True)
    if args.dry_run:
        shutil.rmtree(bs.TMP, ignore_errors=True)
        return

    res: dict[str, dict] = {k.name: {"exit": [], "exit2": [], "fatal": [], "flood": []} for k in keepers}
    try:
        for rep in range(reps):
            order = keepers[rep % len(keepers):] + keepers[:rep % len(keepers)]
            print(f"rep {rep + 1}/{reps} (load {load()})", flush=True)
            for k in order:
                if "exit" in only and not k.flood_only:
                    first, second = back_again(k, False, 2, 45)
                    res[k.name]["exit"].append(first)
                    res[k.name]["exit2"].append(second)
                    print(f"  exit  {k.name}: first failure {fmt_s(first)}, second in a row {fmt_s(second)}",
                          flush=True)
            for k in order:
                if "fatal" in only and not k.fatal_note and not k.flood_only:
                    v = back_again(k, True, 1, 45)[0]
                    res[k.name]["fatal"].append(v)
                    print(f"  fatal {k.name}: {fmt_s(v)}", flush=True)
            for k in order:
                if "flood" in only and (TUNED_FLOOD or k.name != "swarmtui (tuned)"):
                    r = sweep(k, windows, settle)
                    res[k.name]["flood"].append(r)
                    brief = ", ".join(f"{rate:,}: {r.get(('cpu', rate), float('nan')):.1f} %" for rate in RATES)
                    print(f"  flood {k.name}: CPU {brief}" + (f" ({r['error']})" if "error" in r else ""), flush=True)
    finally:
        left = sweep_marked()
        shutil.rmtree(bs.TMP, ignore_errors=True)
        if left:
            print(f"({left} marked process(es) left at the end, killed)")
    print(f"load average after: {load()}")
    report(keepers, res, reps)


def report(keepers: list[Keeper], res: dict, reps: int) -> None:
    names = [k.name for k in keepers]
    base = names[0]
    peers = [n for n in names if not n.startswith("swarmtui")]

    def col(name: str, key: str) -> list:
        return res[name][key]

    def flood(name: str, key: tuple) -> list[float]:
        return [r[key] for r in res[name]["flood"] if key in r]

    rows: list[tuple[str, list[str], str]] = []

    def add(what: str, values: dict[str, list], fmt, cannot: dict[str, str] | None = None) -> None:
        cells = []
        for n in names:
            if cannot and n in cannot:
                cells.append(cannot[n])
            elif not values.get(n) and values.get(base) and n == "swarmtui (tuned)" and not TUNED_FLOOD:
                cells.append("as defaults")
            else:
                cells.append(span(values.get(n) or [], fmt))
        ratios = ", ".join(f"{p} {ratio(values.get(base) or [], values.get(p) or [])}" for p in peers
                           if values.get(p) and not (cannot and p in cannot))
        rows.append((what, cells, ratios or "—"))

    add("process exits → node running again (first failure after a healthy start)",
        {n: col(n, "exit") for n in names}, fmt_s)
    add("the same, second failure in a row (the run lasted 1.5 s)", {n: col(n, "exit2") for n in names}, fmt_s)
    add("fatal line (python exits 0, script waits) → running again",
        {n: col(n, "fatal") for n in names}, fmt_s,
        {k.name: "cannot" for k in keepers if k.fatal_note})
    for rate in RATES[1:]:
        add(f"CPU at {rate:,} lines/s (keeper vs peers' log handling)", {n: flood(n, ("cpu", rate)) for n in names},
            pct_fmt)
    for rate in LATENCY_RATES:
        vals = {n: flood(n, ("p90", rate, "terminal" if n.startswith("swarmtui") else "log")) for n in names}
        vals.pop("bash loop", None)
        add(f"line written → processed, p90 at {rate:,} lines/s", vals, fmt_s)
    add("idle (1 line/s) CPU", {n: flood(n, ("cpu", 1)) for n in names}, lambda v: f"{v:.2f} %")
    for rate in LATENCY_RATES:
        add(f"lines/s the node managed when writing {rate:,}/s (a slow reader blocks its writes)",
            {n: flood(n, ("rate", rate)) for n in names}, lambda v: f"{v:,.0f}")
    for rate in RATES[1:]:
        add(f"ms a second the node's terminal writes waited at {rate:,} lines/s (the keeper had not read the pty)",
            {n: flood(n, ("waited", rate)) for n in names}, lambda v: f"{v:.1f} ms")
    for rate in LATENCY_RATES:
        vals = {n: flood(n, ("us", rate)) for n in names}
        vals.pop("bash loop", None)
        add(f"keeper CPU per line at {rate:,} lines/s asked", vals, lambda v: f"{v:.1f} µs")

    print()
    print(f"min / median / max over {reps} interleaved repetitions; last column: median swarmtui (defaults) ÷ median peer")
    print()
    print("| what | " + " | ".join(names) + " | swarmtui ÷ peer |")
    print("|---" * (len(names) + 2) + "|")
    for what, cells, ratios in rows:
        print(f"| {what} | " + " | ".join(cells) + f" | {ratios} |")
    print()
    if FLOOR in names:
        # The floor's ratio to supervisord is what no parsing keeper written in Python gets under;
        # the keeper's ratio to the floor is what its line path adds.
        for rate in RATES[1:]:
            key = ("cpu", rate)
            print(f"CPU at {rate:,} lines/s: {FLOOR} ÷ supervisord "
                  f"{ratio(flood(FLOOR, key), flood('supervisord', key))}, {base} ÷ {FLOOR} "
                  f"{ratio(flood(base, key), flood(FLOOR, key))}")
        print()
    for n in names:
        got = [", ".join(f"{r:,}: {statistics.median(v):,.0f}" for r in RATES if (v := flood(n, ('rate', r))))]
        if got[0]:
            print(f"lines/s the node actually wrote under {n} (median): {got[0]}")
        if n.startswith("swarmtui"):
            for rate in LATENCY_RATES:
                f = flood(n, ("p90", rate, "log file"))
                if f:
                    print(f"  {n}: the same probes read from logs/swarm_launcher.log, p90 at {rate:,}: {span(f, fmt_s)}")
        lost = {rate: sum(r.get(("lost", rate, s), 0) for r in res[n]["flood"] for s in ("terminal", "log", "log file"))
                for rate in LATENCY_RATES}
        if any(lost.values()):
            print(f"  {n}: probes not seen within 1 s of the window's end: "
                  + ", ".join(f"{rate:,}: {c}" for rate, c in lost.items()))
    print("processed = swarmtui parsed and matched the line (its detection printed by `supervise --json`); "
          "pm2/supervisord: the line is in the log file they write the node's stdout to; "
          "bash loop: the node writes its own file, nothing to measure")


if __name__ == "__main__":
    main()
