"""Panel benchmark (prints figures; never a test). Needs tmux.

    python benchmarks/bench_panel.py [--seconds 8]

1. first frame: `swarmtui demo` in a fresh tmux pane until the status bar is on screen
   (target <= 1 s);
2. CPU and RSS of the panel while the node prints 20 lines/s (target <= 3 % of a core, <= 150 MB);
3. the same at 20,000 lines/s, plus how long a key press takes to show (target <= 150 ms) and
   whether memory stays flat.

Steps 2-3 run the real SwarmApp in a real terminal (tmux, 120x40) over a synthetic engine that
emits LinesOut batches every 100 ms, the way the Supervisor does, so they measure the panel alone.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable


# ------------------------------------------------------------------ inner: the panel under load

def _line(ev, n: int, words) -> object:
    # Cheap on purpose (no random per line): the engine is in this process, and its cost should
    # not be counted as the panel's.
    level = "WARNING" if n % 7 == 0 else "INFO"
    return ev.LogLine("logs/swarm_launcher.log", n,
                      f"[2025-11-26 14:00:00,{n % 1000:03d}][genrl][{level}] - {words[n % len(words)]} {n}",
                      level=level)


def _inner(rate: int, seconds: float, out: Path, prefill: int = 0) -> None:
    import psutil

    from swarmtui.engine import events as ev
    from swarmtui.tui.app import SwarmApp, run_panel
    from swarmtui.tui.frozen import StillLayout, identity_report

    words = ("Starting round", "Joining round", "DHT node", "submit-reward 200", "train step", "WARNING - retry")

    class RateEngine:
        layout = StillLayout()
        state = ev.RUNNING

        def __init__(self, emit):
            self.emit = emit
            self.task = None
            self.sent = 0

        async def start(self):
            self.emit(ev.IdentityChanged(report=identity_report()))
            self.emit(ev.StateChanged(state=ev.RUNNING, uptime_s=0.0))
            self.task = asyncio.create_task(self._pump())

        async def _pump(self):
            # Paced by the clock, not by sleep(0.1) alone: at 20,000 lines/s making a batch takes
            # long enough that a fixed sleep would deliver only ~3/4 of the rate asked for.
            if prefill:
                # A panel that has been open a while: the log already holds its full max_lines.
                self.emit(ev.LinesOut(lines=[_line(ev, -k, words) for k in range(prefill, 0, -1)]))
            n = 0
            t0 = time.perf_counter()
            while True:
                due = int(rate * (time.perf_counter() - t0))
                batch = []
                while n < due:
                    n += 1
                    batch.append(_line(ev, n, words))
                self.sent = n
                if batch:
                    self.emit(ev.LinesOut(lines=batch))
                await asyncio.sleep(0.1)

        def send(self, cmd):
            pass

        async def close(self, stop_node=True):
            if self.task:
                self.task.cancel()

        def emergency_kill(self):
            pass

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
            self._rss = [proc.memory_info().rss]
            self.set_interval(1.0, lambda: self._rss.append(proc.memory_info().rss))
            self.set_timer(seconds, self._end)

        def _end(self):
            wall0, cpu0 = self._t0
            cpu1 = proc.cpu_times()
            wall = time.perf_counter() - wall0
            used = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
            result.update(cpu_percent=100 * used / wall, rss_mb_start=self._rss[0] / 2**20,
                          rss_mb_end=proc.memory_info().rss / 2**20, rss_mb_max=max(self._rss) / 2**20,
                          # Flat memory: what RSS still grew over the second half of the window.
                          rss_mb_second_half=(self._rss[-1] - self._rss[len(self._rss) // 2]) / 2**20,
                          lines_kept=len(self.log_view.entries), lines_seen=self.engine.sent + prefill,
                          lines_per_s=(self.engine.sent - self._sent0) / wall)
            out.write_text(json.dumps(result))
            if getattr(self, "_profile", None) is not None:
                self._profile.disable()
                self._profile.dump_stats(os.environ["BENCH_PROFILE"])
            self.exit(0)

    run_panel(Bench(lambda emit: RateEngine(emit), catch_signals=False))   # the real entry path


# ------------------------------------------------------------------ outer: tmux driver

class Tmux:
    def __init__(self, cmd: str, env: dict[str, str]):
        self.sock = f"bench{os.getpid()}{random.randint(0, 9999)}"
        args = ["tmux", "-L", self.sock, "-f", "/dev/null", "new-session", "-d", "-s", "b", "-x", "120", "-y", "40"]
        for k, v in env.items():
            args += ["-e", f"{k}={v}"]
        self.started = time.perf_counter()
        subprocess.run(args + [cmd], check=True)
        self.path = subprocess.run(["tmux", "-L", self.sock, "display-message", "-p", "#{socket_path}"],
                                   capture_output=True, text=True).stdout.strip()

    def screen(self) -> str:
        return subprocess.run(["tmux", "-L", self.sock, "capture-pane", "-p", "-t", "b"],
                              capture_output=True, text=True).stdout

    def wait_for(self, text: str, timeout: float) -> float | None:
        deadline = time.perf_counter() + timeout
        t0 = time.perf_counter()
        while time.perf_counter() < deadline:
            if text in self.screen():
                return time.perf_counter() - t0
            time.sleep(0.005)
        return None

    def keys(self, *keys: str) -> None:
        subprocess.run(["tmux", "-L", self.sock, "send-keys", "-t", "b", *keys])

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.sock, "kill-server"], capture_output=True)
        if self.path.endswith(self.sock):     # do not leave one stale socket per run behind
            Path(self.path).unlink(missing_ok=True)


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


def under_load(rate: int, seconds: float, env: dict[str, str], probe_keys: bool, prefill: int = 0) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        t = Tmux(f"{PY} {Path(__file__).resolve()} --inner {rate} --seconds {seconds} --out {out} --prefill {prefill}", env)
        try:
            t.wait_for("restarts 24h", 20)
            latencies = []
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
            deadline = time.time() + seconds + 15
            while not out.exists() and time.time() < deadline:
                time.sleep(0.2)
            result = json.loads(out.read_text()) if out.exists() else {"error": "no result"}
            if latencies:
                result["key_ms"] = [None if x is None else round(x * 1000) for x in latencies]
            return result
        finally:
            t.close()


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--inner", type=int)
    p.add_argument("--seconds", type=float, default=8.0)
    p.add_argument("--out")
    p.add_argument("--prefill", type=int, default=0, help="(inner) lines in the log before measuring")
    p.add_argument("--runs", type=int, default=5, help="first-frame runs (min and median are printed)")
    p.add_argument("--only", choices=("first-frame", "load"), help="run one part")
    p.add_argument("--cases", default="20,20-full,20000",
                   help="load cases, comma separated: 20 (fresh log), 20-full (5,000 lines in), 20000")
    a = p.parse_args()
    if a.inner is not None:
        _inner(a.inner, a.seconds, Path(a.out), a.prefill)
        return 0
    if shutil.which("tmux") is None:
        print("tmux is needed for this benchmark")
        return 1
    cache = tempfile.mkdtemp(prefix="swarmtui-bench-")
    env = {"SWARMTUI_CACHE_DIR": cache, "SWARMTUI_STATE_DIR": cache + "/state",
           "SWARMTUI_CONFIG_DIR": cache + "/config", "COLORTERM": "truecolor", "PYTHONPATH": str(ROOT)}
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
    # 20 lines/s twice: a fresh panel (the log fills up), and one open long enough that the log
    # already holds its 5,000 lines (the state a panel spends its life in; RSS at its largest).
    cases = {"20": (20, 0, False), "20-full": (20, 5000, False), "20000": (20_000, 0, True)}
    for name in a.cases.split(","):
        rate, prefill, probe = cases[name.strip()]
        r = under_load(rate, a.seconds, env, probe, prefill)
        label = f"{rate:>6} lines/s{', log full' if prefill else ''}"
        if "error" in r:
            print(f"{label}: {r['error']}")
            continue
        line = (f"{label}: CPU {r['cpu_percent']:.1f}% of a core, RSS {r['rss_mb_start']:.0f} -> "
                f"{r['rss_mb_end']:.0f} MB (max {r['rss_mb_max']:.0f}, second half {r['rss_mb_second_half']:+.1f}), kept {r['lines_kept']} of {r['lines_seen']} lines "
                f"(node printed {r['lines_per_s']:.0f}/s)")
        if "key_ms" in r:
            line += f", key shown after {r['key_ms']} ms"
        print(line)
    print("targets: 20 lines/s <= 3% CPU and <= 150 MB; 20,000 lines/s responsive (<= 150 ms) with flat memory")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
