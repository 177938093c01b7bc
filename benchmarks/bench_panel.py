"""Panel benchmark (prints figures next to their targets; never a test). Needs tmux.

    python benchmarks/bench_panel.py [--seconds 8] [--only load] [--cases 1000,30000] [--attached]

1. first frame: `swarmtui demo` in a fresh tmux pane until the status bar is on screen
   (target <= 1 s);
2. the panel under 20 (fresh and with a full log), 1,000, 10,000 and 30,000 lines/s: its CPU and
   RSS, and line -> screen: each line carries `seq=N` and is written at t0 + N / rate (the
   engine then batches it as the Supervisor does: at once after a quiet interval, else at most
   one batch per interval, 0.1 s or 0.075 s after a batch of a few lines: events.lines_gap);
   this process polls the tmux pane
   and takes, for every line it sees, the first time it saw it. p50/p90/p99 over those lines,
   from when the line was written and from when its batch left the engine (the panel's own
   part). Lines that scroll out between two frames are never drawn, so never seen: the figure
   is for the lines that reach the screen. The poll takes a few ms; the time is taken after it,
   so a figure is late by at most one poll. Targets: p90 <= 100 ms at <= 1k lines/s, <= 250 ms
   at 30k; CPU <= 10 % at 1k, <= 35 % at 30k (issue 16);
3. 20,000 lines/s: how long a key press takes to show (target <= 150 ms), memory flat; then the
   same with a busy loop on every core started beside it (and stopped after).

The panel is the real SwarmApp in a real terminal (tmux, 120x40) over a synthetic engine, so the
figures are the panel's alone (the synthetic engine's line making is in the same process and in
its CPU). --attached runs each case with the engine in a process of its own behind the real
KeeperServer, and the panel attached to it with the real RemoteEngine over the keeper's socket
(what `swarmtui attach` runs); the keeper's CPU is printed beside the panel's.

Environment: BENCH_PROFILE=FILE writes a cProfile of the panel's measured window (pstats);
BENCH_PLAIN_LINES=1 makes the attached panel ask for no log lines in columns (engine.wire_lines),
as a panel before them did, for A/B runs against the same keeper.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_common import Tmux

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable


# ------------------------------------------------------------------ inner: the panel under load

WORDS = ("Starting round", "Joining round", "DHT node", "submit-reward 200", "train step", "WARNING - retry")


def _line(ev, n: int, words=WORDS) -> object:
    # Cheap on purpose (no random per line): the engine is in this process, and its cost should
    # not be counted as the panel's. `seq=N` lets the outer process tell from the screen which
    # line it is, hence when it was written (line N is due at t0 + N / rate).
    level = "WARNING" if n % 7 == 0 else "INFO"
    return ev.LogLine("logs/swarm_launcher.log", n,
                      f"[2025-11-26 14:00:00,{n % 1000:03d}][genrl][{level}] - {words[n % len(words)]} seq={n}",
                      level=level)


class RateSource:
    """The node and the keeper's batching, imitated: line N is written at t0 + N / rate, and the
    lines written so far go out as one LinesOut on the keeper's leading edge (supervisor.
    _schedule_flush): a line written after a quiet interval goes at once, the lines that follow
    closely at most one batch per interval (events.lines_gap: 0.1 s, 0.075 s after a batch of a
    few lines). t0 and each batch's (last seq, time sent) are
    kept: clocks are time.perf_counter, which on Linux is CLOCK_MONOTONIC, the same in every
    process (the tmux watcher compares against it)."""

    def __init__(self, rate: int, emit, prefill: int = 0):
        self.rate = rate
        self.emit = emit
        self.prefill = prefill
        self.sent = 0
        self.t0 = 0.0
        self.batches: list[tuple[int, float]] = []
        self.making_s = 0.0         # CPU spent making the lines: the node's work, not the panel's

    async def pump(self):
        from swarmtui.engine import events as ev

        if self.prefill:
            # A panel that has been open a while: the log already holds its full max_lines.
            self.emit(ev.LinesOut(lines=[_line(ev, -k) for k in range(self.prefill, 0, -1)]))
        # Paced by the clock, not by sleep(0.1) alone: at 20,000 lines/s making a batch takes
        # long enough that a fixed sleep would deliver only ~3/4 of the rate asked for.
        n = 0
        self.t0 = t0 = time.perf_counter()
        sent_at = t0 - 1.0
        gap = ev.LINES_EVERY
        while True:
            due = int(self.rate * (time.perf_counter() - t0))
            batch = []
            started = time.thread_time()
            while n < due:
                n += 1
                batch.append(_line(ev, n))
            self.making_s += time.thread_time() - started
            self.sent = n
            if batch:
                self.emit(ev.LinesOut(lines=batch))
                sent_at = time.perf_counter()
                gap = ev.lines_gap(len(batch))
                self.batches.append((n, sent_at))
            # The next batch: when the next line is written, but not within the keeper's gap
            # after this one (events.lines_gap: shorter after a batch of a few lines).
            # (2 ms late: asyncio may wake a timer up to its clock's resolution early, and a line
            # due then would miss this batch and wait for the next.)
            wake = max(sent_at + gap, t0 + (n + 1) / self.rate + 0.002)
            await asyncio.sleep(max(0.0, wake - time.perf_counter()))


def _inner(rate: int, seconds: float, out: Path, prefill: int = 0, keeper: Path | None = None) -> None:
    import psutil

    from swarmtui.engine import events as ev
    from swarmtui.tui.app import SwarmApp, run_panel
    from swarmtui.tui.frozen import StillLayout, identity_report

    class RateEngine:
        layout = StillLayout()
        state = ev.RUNNING

        def __init__(self, emit):
            self.emit = emit
            self.task = None
            self.source = RateSource(rate, emit, prefill)

        @property
        def sent(self):
            return self.source.sent

        async def start(self):
            self.emit(ev.IdentityChanged(report=identity_report()))
            self.emit(ev.StateChanged(state=ev.RUNNING, uptime_s=0.0))
            self.task = asyncio.create_task(self.source.pump())

        def send(self, cmd):
            pass

        async def close(self, stop_node=True):
            if self.task:
                self.task.cancel()

        def emergency_kill(self):
            pass

    def remote_engine(emit):
        # The attached panel: the real RemoteEngine over the real keeper socket, served by the
        # --keeper process (its own interpreter), as `swarmtui attach` runs it.
        from dataclasses import replace

        from swarmtui.engine import wire
        from swarmtui.engine.remote import RemoteEngine

        if os.environ.get("BENCH_PLAIN_LINES"):
            wire.FEATURES = ()      # as a panel before the columns: every line an event (A/B runs)
        engine = RemoteEngine(keeper, emit, layout=replace(StillLayout(), root=keeper))
        engine.sent = 0
        return engine

    proc = psutil.Process()
    result: dict = {"rate": rate}

    class Bench(SwarmApp):
        def on_mount(self):
            # No super().on_mount(): Textual calls every class's handler in the MRO, so calling
            # it here too would start a second engine and a second set of timers (double load).
            self.set_timer(2.0, self._begin)

        def _begin(self):
            if os.environ.get("BENCH_PROFILE"):     # a cProfile of the measured window only
                import cProfile

                self._profile = cProfile.Profile()
                self._profile.enable()
            self._t0 = (time.perf_counter(), proc.cpu_times())
            self._sent0 = self.engine.sent
            self._making0 = self._making()
            self._rss = [proc.memory_info().rss]
            self.set_interval(1.0, lambda: self._rss.append(proc.memory_info().rss))
            self.set_timer(seconds, self._end)

        def _making(self) -> float:
            source = getattr(self.engine, "source", None)
            return source.making_s if source is not None else 0.0

        def _end(self):
            wall0, cpu0 = self._t0
            cpu1 = proc.cpu_times()
            wall = time.perf_counter() - wall0
            used = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
            result.update(cpu_percent=100 * used / wall,
                          making_percent=100 * (self._making() - self._making0) / wall,
                          rss_mb_start=self._rss[0] / 2**20,
                          rss_mb_end=proc.memory_info().rss / 2**20, rss_mb_max=max(self._rss) / 2**20,
                          # Flat memory: what RSS still grew over the second half of the window.
                          rss_mb_second_half=(self._rss[-1] - self._rss[len(self._rss) // 2]) / 2**20,
                          lines_kept=len(self.log_view.entries), lines_seen=self.engine.sent + prefill,
                          lines_per_s=(self.engine.sent - self._sent0) / wall,
                          window=[wall0, wall0 + wall])
            source = getattr(self.engine, "source", None)
            if source is not None:
                result.update(t0=source.t0, batches=source.batches)
            if getattr(self, "_profile", None) is not None:
                # Before the result: the outer process tears the pane down once that is written.
                self._profile.disable()
                self._profile.dump_stats(os.environ["BENCH_PROFILE"])
            out.write_text(json.dumps(result))
            self.exit(0)

    factory = remote_engine if keeper is not None else (lambda emit: RateEngine(emit))
    run_panel(Bench(factory, catch_signals=False, attached=keeper is not None))   # the real entry path


def _keeper(rate: int, root: Path, out: Path) -> None:
    """The keeper half of the attached case: the rate source behind the real Fanout and
    KeeperServer (what `swarmtui start` serves a panel with), until killed. Every second it
    writes t0, the batches sent and its own CPU time to `out`."""
    import psutil

    from swarmtui.engine import events as ev
    from swarmtui.engine.keeper_server import Fanout, KeeperServer
    from swarmtui.engine.replay import ReplayCache
    from swarmtui.tui.frozen import identity_report

    async def main():
        fanout = Fanout(lambda e: None, ReplayCache())
        server = KeeperServer(root, fanout, send=lambda cmd: None, stop=lambda why: None, kind="bench",
                              state=lambda: {"state": ev.RUNNING})
        await server.start()
        fanout.emit(ev.IdentityChanged(report=identity_report()))
        fanout.emit(ev.StateChanged(state=ev.RUNNING, uptime_s=0.0))
        source = RateSource(rate, fanout.emit)
        asyncio.create_task(source.pump())
        me = psutil.Process()
        cpus = []
        while True:
            await asyncio.sleep(1.0)
            cpu = me.cpu_times()
            cpus.append((time.perf_counter(), cpu.user + cpu.system))
            tmp = out.with_suffix(".tmp")
            tmp.write_text(json.dumps({"t0": source.t0, "batches": source.batches, "cpu": cpus}))
            tmp.replace(out)

    asyncio.run(main())


# ------------------------------------------------------------------ outer: tmux driver

def first_frame(env: dict[str, str]) -> float | None:
    swarmtui = Path(PY).with_name("swarmtui")
    t = Tmux(f"{swarmtui} demo", env)
    try:
        seen = t.wait_for("restarts 24h", 20)
        return None if seen is None else time.perf_counter() - t.started
    finally:
        t.keys("q")
        time.sleep(0.3)
        t.keys("s")
        time.sleep(0.5)
        t.close()


SEQ = re.compile(r"seq=(\d+)")


def _pctl(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))]


def _watch_lines(t: Tmux, out: Path, deadline: float) -> list[tuple[int, float]]:
    """Poll the tmux pane until the inner run writes its result: (seq, first time on screen) for
    every line seen. The time is taken after capture-pane returned (an upper bound: the screen
    may have shown it up to one capture earlier); `poll_ms` in the result says how coarse."""
    first: dict[int, float] = {}
    while not out.exists() and time.time() < deadline:
        screen = t.screen()
        now = time.perf_counter()
        for m in SEQ.finditer(screen):
            first.setdefault(int(m.group(1)), now)
        time.sleep(0.005)
    return sorted(first.items())


def _latencies(r: dict, seen: list[tuple[int, float]], timing: dict) -> None:
    """Line written -> on screen for every line that was on screen during the measured window,
    and the panel's own part of it (its batch sent by the engine -> on screen)."""
    t0, rate, batches = timing.get("t0"), r["rate"], timing.get("batches") or []
    if not t0 or not batches:
        return
    lo, hi = r["window"]
    lasts = [b[0] for b in batches]
    total, panel = [], []
    for seq, when in seen:
        written = t0 + seq / rate
        if not lo <= written <= hi:
            continue
        k = bisect.bisect_left(lasts, seq)
        total.append(when - written)
        if k < len(batches):
            panel.append(when - batches[k][1])
    if total:
        r["lines_on_screen"] = len(total)
        r["line_ms"] = {q: round(1000 * _pctl(total, q)) for q in (50, 90, 99)}
        r["panel_ms"] = {q: round(1000 * _pctl(panel, q)) for q in (50, 90, 99)} if panel else {}


class Hog:
    """A busy loop per core, started by the benchmark and stopped after it: the panel then competes
    for the CPU the way it does beside a training node."""

    def __init__(self):
        self.procs: list[subprocess.Popen] = []

    def __enter__(self):
        for _ in range(os.cpu_count() or 1):
            self.procs.append(subprocess.Popen([PY, "-c", "while True: pass"]))
        return self

    def __exit__(self, *exc):
        for proc in self.procs:         # only the processes started above, by their Popen
            proc.kill()
            proc.wait()


def under_load(rate: int, seconds: float, env: dict[str, str], probe_keys: bool, prefill: int = 0,
               watch: bool = False, attached: bool = False) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        cmd = f"{PY} {Path(__file__).resolve()} --inner {rate} --seconds {seconds} --out {out} --prefill {prefill}"
        keeper = None
        if attached:
            root = Path(tmp) / "node"
            root.mkdir()
            keeper_out = Path(tmp) / "keeper.json"
            keeper = subprocess.Popen([PY, str(Path(__file__).resolve()), "--keeper", str(rate), "--root", str(root),
                                       "--out", str(keeper_out)], env={**os.environ, **env})
            sock_deadline = time.time() + 20
            while not keeper_out.exists() and time.time() < sock_deadline:
                time.sleep(0.1)
            cmd += f" --attach {root}"
        t = Tmux(cmd, env)
        try:
            t.wait_for("restarts 24h", 20)
            latencies = []
            seen: list[tuple[int, float]] = []
            deadline = time.time() + seconds + 15
            if probe_keys:
                time.sleep(2.5)
                for _ in range(4):
                    for key, shows in (("?", "swarmtui: keys"), ("/", "search the log…")):
                        t0 = time.perf_counter()
                        t.keys(key)
                        shown = t.wait_for(shows, 2)
                        latencies.append(None if shown is None else time.perf_counter() - t0)
                        t.keys("Escape")
                        time.sleep(0.4)
            elif watch:
                seen = _watch_lines(t, out, deadline)
            while not out.exists() and time.time() < deadline:
                time.sleep(0.2)
            result = json.loads(out.read_text()) if out.exists() else {"error": "no result"}
            if latencies:
                result["key_ms"] = [None if x is None else round(x * 1000) for x in latencies]
            if keeper is not None and "error" not in result:
                timing = json.loads(keeper_out.read_text())
                lo, hi = result["window"]
                cpu = [c for c in timing["cpu"] if lo <= c[0] <= hi + 1]
                if len(cpu) >= 2:
                    result["keeper_cpu_percent"] = 100 * (cpu[-1][1] - cpu[0][1]) / (cpu[-1][0] - cpu[0][0])
                result["lines_per_s"] = rate     # the keeper's pace; the attached panel counts nothing
            else:
                timing = result
            if seen and "error" not in result:
                _latencies(result, seen, timing)
            return result
        finally:
            t.close()
            if keeper is not None:
                keeper.kill()       # ours: started above
                keeper.wait()


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--inner", type=int)
    p.add_argument("--seconds", type=float, default=8.0)
    p.add_argument("--out")
    p.add_argument("--prefill", type=int, default=0, help="(inner) lines in the log before measuring")
    p.add_argument("--runs", type=int, default=5, help="first-frame runs (min and median are printed)")
    p.add_argument("--only", choices=("first-frame", "load"), help="run one part")
    p.add_argument("--cases", default=",".join(CASES),
                   help="load cases, comma separated: " + ", ".join(CASES))
    p.add_argument("--attached", action="store_true",
                   help="the panel attached to a keeper process over its socket (RemoteEngine), not in-process")
    p.add_argument("--attach", help=argparse.SUPPRESS)     # (inner) the keeper's checkout
    p.add_argument("--keeper", type=int, help=argparse.SUPPRESS)
    p.add_argument("--root", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.keeper is not None:
        _keeper(a.keeper, Path(a.root), Path(a.out))
        return 0
    if a.inner is not None:
        _inner(a.inner, a.seconds, Path(a.out), a.prefill, Path(a.attach) if a.attach else None)
        return 0
    if shutil.which("tmux") is None:
        print("tmux is needed for this benchmark")
        return 1
    cache = tempfile.mkdtemp(prefix="swarmtui-bench-")
    env = {"SWARMTUI_CACHE_DIR": cache, "SWARMTUI_STATE_DIR": cache + "/state",
           "SWARMTUI_CONFIG_DIR": cache + "/config", "SWARMTUI_RUNTIME_DIR": cache + "/run",
           "COLORTERM": "truecolor", "PYTHONPATH": str(ROOT)}
    if a.only != "load":
        # Several runs: one alone is mostly noise on a shared machine (the load is printed too).
        runs = [first_frame(env) for _ in range(max(1, a.runs))]
        got = sorted(x * 1000 for x in runs if x is not None)
        figures = (f"min {got[0]:.0f} ms, median {statistics.median(got):.0f} ms, max {got[-1]:.0f} ms"
                   if got else "n/a")
        print(f"first frame of 'swarmtui demo' ({len(got)} of {len(runs)} runs): {figures} "
              f"(target <= 1000 ms; load average {os.getloadavg()[0]:.2f})")
        if a.only == "first-frame":
            return 0
    print(f"{'attached panel (keeper in its own process, RemoteEngine over its socket)' if a.attached else 'panel'}; "
          f"tmux 120x40; load average {os.getloadavg()[0]:.2f}, {os.cpu_count()} cores")
    print("line -> screen: every line seen on the tmux pane (polled every ~10 ms), from when it was written "
          "(due at t0 + seq/rate; includes the engine's batching, at most 0.1 s) / from when its batch was sent")
    names = [n.strip() for n in a.cases.split(",") if n.strip()]
    unknown = [n for n in names if n not in CASES]
    if unknown:
        print(f"bench_panel: unknown case {unknown[0]!r} (the cases: {', '.join(CASES)})", file=sys.stderr)
        return 2
    for name in names:
        rate, prefill, keys, hog, target = CASES[name]
        label = (f"{rate:>6} lines/s{', log full' if prefill else ''}{', keys pressed' if keys else ''}"
                 f"{', CPU hog beside it' if hog else ''}")
        if hog:
            with Hog():
                r = under_load(rate, a.seconds, env, keys, prefill, watch=not keys, attached=a.attached)
        else:
            r = under_load(rate, a.seconds, env, keys, prefill, watch=not keys, attached=a.attached)
        if "error" in r:
            print(f"{label}: {r['error']}")
            continue
        line = (f"{label}: CPU {r['cpu_percent']:.1f}% of a core"
                + (f" (keeper {r['keeper_cpu_percent']:.1f}%)" if "keeper_cpu_percent" in r else "")
                + (f" ({r['cpu_percent'] - r['making_percent']:.1f}% without making the lines)"
                   if r.get("making_percent", 0) >= 0.5 else "")
                + f", RSS {r['rss_mb_start']:.0f} -> {r['rss_mb_end']:.0f} MB (max {r['rss_mb_max']:.0f}, "
                f"second half {r['rss_mb_second_half']:+.1f}), kept {r['lines_kept']} lines "
                f"(node printed {r['lines_per_s']:.0f}/s)")
        if "line_ms" in r:
            lm, pm = r["line_ms"], r.get("panel_ms") or {}
            line += (f"\n        line -> screen p50/p90/p99 {lm[50]}/{lm[90]}/{lm[99]} ms "
                     f"(batch sent -> screen {pm.get(50)}/{pm.get(90)}/{pm.get(99)} ms; "
                     f"{r['lines_on_screen']} lines seen)")
        elif not keys:
            line += "\n        line -> screen: no line seen"
        if "key_ms" in r:
            line += f"\n        key shown after {r['key_ms']} ms"
        print(line + f"\n        target: {target}")
    return 0


# name: (lines/s, lines already in the log, probe keys, CPU hog beside it, target)
CASES = {
    "20": (20, 0, False, False, "CPU <= 3%, <= 150 MB; line -> screen p90 <= 100 ms"),
    # Open long enough that the log holds its 5,000 lines (the state a panel spends its life in).
    "20-full": (20, 5000, False, False, "CPU <= 3%, <= 150 MB; line -> screen p90 <= 100 ms"),
    "1000": (1000, 0, False, False, "CPU <= 10%; line -> screen p90 <= 100 ms"),
    "10000": (10_000, 0, False, False, "CPU <= 35%; line -> screen p90 <= 250 ms"),
    "30000": (30_000, 0, False, False, "CPU <= 35%; line -> screen p90 <= 250 ms"),
    # The floor: what a key costs with (nearly) no log coming in, on this machine now.
    "20-keys": (20, 0, True, False, "key shown <= 150 ms (no flood: what the key itself costs)"),
    "20000": (20_000, 0, True, False, "key shown <= 150 ms; flat memory"),
    "20000-hog": (20_000, 0, True, True, "key shown <= 150 ms with a busy loop on every core"),
}


if __name__ == "__main__":
    raise SystemExit(main())
