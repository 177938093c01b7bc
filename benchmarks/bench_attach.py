"""Keeper and attach benchmark (issue 11; prints figures, never asserts). Needs tmux for 1.

    .venv-test/bin/python benchmarks/bench_attach.py [--quick] [--only 1,2,3,3b]

1. attach -> first full frame with a 5,000-line backlog: a keeper (`swarmtui start`) whose node
   has printed 6,000 lines and then nothing; `swarmtui attach DIR` in a fresh tmux pane (120x40),
   timed from the pane's start until the newest backlog line is on the screen (target <= 1 s).
   Also printed: when the status bar first showed, and the same attach in-process (SwarmApp over
   RemoteEngine under App.run_test(), no interpreter start-up) until that line is in the log view.
2. fan-out latency to 1, 5 and 20 viewers at 20 and 2,000 lines/s: the viewers are RemoteEngine
   instances (the attached panel's engine) in a process of their own. Two figures per case:
   event ts -> received (the LinesOut event's `ts`, stamped when the engine emits the batch;
   target p99 <= 100 ms at 20 lines/s), and line written -> received (the node stamps its wall
   time in each line; includes the engine's line batching, events.lines_gap). Also the keeper's
   and the viewers' process CPU during the window.
3. keeper CPU with no viewer while the node prints 20 lines/s (target <= 1 % of a core);
   3b. keeper RSS over simulated hours: the healthy simulator (CodeZero) at a high --speed with
   one viewer attached the whole time, sampled at regular intervals (target: flat).

Durations: the full run takes about 6.5 minutes (1: 5 attaches; 2: 6 cases x 20 s; 3: 30 s;
3b: 180 s at speed 60 = 3 node hours). --quick takes about 2 minutes (3 attaches, 6 x 5 s,
10 s, 30 s at speed 120 = 1 node hour). The 20 viewers of 2 share one process and one event
loop, so at 2,000 lines/s part of their tail latency is their own decoding (its CPU is printed).

Every keeper runs with private SWARMTUI_STATE_DIR / RUNTIME_DIR / CONFIG_DIR / CACHE_DIR in a
temp dir, talks over Unix sockets only, and is stopped with `swarmtui stop` at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as _dt
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_common import Tmux, clean_env, free_port

import psutil

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable

if "--inner-viewers" not in sys.argv:
    # The outer process owns the temp dir; the viewer process inherits its environment.
    TMP = Path(tempfile.mkdtemp(prefix="bench-attach-"))
    os.environ["SWARMTUI_STATE_DIR"] = str(TMP / "state")
    os.environ["SWARMTUI_CONFIG_DIR"] = str(TMP / "config")
    os.environ["SWARMTUI_CACHE_DIR"] = str(TMP / "cache")
    os.environ["SWARMTUI_RUNTIME_DIR"] = str(TMP / "run")
    _pp = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = str(ROOT) + (os.pathsep + _pp if _pp else "")

BACKLOG_END = "bench-backlog-END newest line of the backlog"


# ------------------------------------------------------------------ helpers

def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))]


def fake_checkout(name: str, *, backlog: int = 0, rate: float = 0.0) -> Path:
    """A checkout the layout accepts (code_gen_exp/ makes it CodeZero) whose node prints
    `backlog` lines at once, then BACKLOG_END, then `rate` lines/s, each stamped with the wall
    time it was written (t=...), or nothing at all when rate is 0."""
    root = TMP / name
    (root / "code_gen_exp").mkdir(parents=True)
    (root / "logs").mkdir()
    node = f"""python3 - <<'EOF'
import sys, time
out = sys.stdout
for i in range(1, {backlog} + 1):
    out.write(f"bench backlog line {{i:06d}} of {backlog}\\n")
    if i % 500 == 0:
        out.flush()
out.write({BACKLOG_END!r} + "\\n")
out.flush()
rate = {float(rate)!r}
if rate <= 0:
    while True:
        time.sleep(3600)
n = 0
start = time.time()
while True:
    now = time.time()
    due = int((now - start) * rate)
    if due > n:
        out.write("".join(f"bench live seq={{k}} t={{now:.6f}}\\n" for k in range(n + 1, due + 1)))
        out.flush()
        n = due
    time.sleep(max(0.0005, min(0.01, start + (n + 1) / rate - time.time())))
EOF
"""
    (root / "run_rl_swarm.sh").write_text(
        f"#!/bin/bash\n# login page: http://localhost:{free_port()}\nset -u\necho '>> Good luck in the swarm!'\n{node}")
    return root


def write_config(name: str, text: str) -> Path:
    path = TMP / f"{name}.toml"
    path.write_text(text)
    return path


QUIET = "[watch]\nmin_free_disk_mb = 1\n[restart]\nwarn_repeat = 100000\n"


def swarmtui(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([PY, "-m", "swarmtui", *args], capture_output=True, text=True, env=clean_env(),
                          timeout=timeout)


class Keeper:
    """`swarmtui start DIR` (the background keeper, a process of its own) ... `swarmtui stop DIR`."""

    def __init__(self, root: Path, config: Path):
        self.root = root
        r = swarmtui("start", str(root), "--config", str(config))
        if r.returncode != 0:
            raise RuntimeError(f"swarmtui start failed: {r.stdout}{r.stderr}")
        from swarmtui.commands.keepers import status_of

        status = status_of(root)
        if status is None:
            raise RuntimeError(f"the keeper for {root} does not answer")
        self.pid = int(status["pid"])
        self.proc = psutil.Process(self.pid)

    def stop(self) -> None:
        try:
            swarmtui("stop", str(self.root), timeout=60)
        except subprocess.TimeoutExpired:
            pass
        try:
            self.proc.wait(10)
        except psutil.TimeoutExpired:
            # It did not go: take the node's process group down with it (last resort).
            for child in self.proc.children(recursive=True):
                child.kill()
            self.proc.kill()
        except psutil.NoSuchProcess:
            pass

    def cpu(self) -> float:
        t = self.proc.cpu_times()
        return t.user + t.system


def snapshot_lines(root: Path, timeout: float = 10.0) -> list[str]:
    """The log lines a viewer attaching now would get (a raw client of the socket)."""
    from swarmtui.engine import wire

    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(str(wire.socket_path(root)))
        s.sendall(wire.hello("bench-probe", read_only=True) + wire.encode("attach"))
        buf = b""
        while True:
            chunk = s.recv(1 << 20)
            if not chunk:
                return []
            buf += chunk
            *lines, buf = buf.split(b"\n")
            for line in lines:
                msg = wire.decode(line)
                if msg["t"] == "snapshot":
                    for e in msg.get("events") or []:
                        if e.get("event") == "lines":
                            return [ln["text"] for ln in e.get("lines") or []]
                    return []
    finally:
        s.close()


def wait_backlog(root: Path, timeout: float = 60, last: bool = True) -> int:
    """Wait until the keeper holds the node's BACKLOG_END line (as its newest line when `last`)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        lines = snapshot_lines(root)
        if lines and (BACKLOG_END in lines[-1] if last else any(BACKLOG_END in ln for ln in lines)):
            return len(lines)
        time.sleep(0.2)
    raise RuntimeError("the keeper never held the backlog")


# ------------------------------------------------------------------ 1. attach -> first full frame

def attach_in_tmux(root: Path) -> tuple[float | None, float | None]:
    """(status bar shown, newest backlog line shown), seconds after the pane started."""
    exe = Path(PY).with_name("swarmtui")
    cmd = f"{exe} attach {root}" if exe.exists() else f"{PY} -m swarmtui attach {root}"
    env = {k: os.environ[k] for k in ("SWARMTUI_STATE_DIR", "SWARMTUI_CONFIG_DIR", "SWARMTUI_CACHE_DIR",
                                      "SWARMTUI_RUNTIME_DIR", "PYTHONPATH")}
    env["COLORTERM"] = "truecolor"
    t = Tmux(cmd, env, prefix="benchattach")
    bar = shown = None
    try:
        deadline = t.started + 20
        while time.perf_counter() < deadline:
            screen = t.screen()
            now = time.perf_counter() - t.started
            if bar is None and "restarts 24h" in screen:
                bar = now
            if BACKLOG_END[:30] in screen:
                shown = now
                bar = bar if bar is not None else now
                break
            # Every capture-pane is a process of its own: polled every 5 ms it would take a
            # good part of one of this machine's two cores from the panel being timed.
            time.sleep(0.02)
        return bar, shown
    finally:
        t.keys("q")             # detach (the keeper and its node keep running)
        time.sleep(0.3)
        t.keys("q")
        time.sleep(0.3)
        t.close()


async def attach_in_process(root: Path) -> float | None:
    from swarmtui.engine.remote import RemoteEngine
    from swarmtui.node.layout import inspect_checkout
    from swarmtui.tui.app import SwarmApp

    layout = inspect_checkout(root)
    t0 = time.perf_counter()
    app = SwarmApp(lambda emit: RemoteEngine(root, emit, layout=layout, name="bench"), layout=layout,
                   attached=True, catch_signals=False)
    async with app.run_test(size=(120, 40)) as pilot:
        deadline = t0 + 20
        while time.perf_counter() < deadline:
            entries = app.log_view.entries
            if entries and BACKLOG_END in entries[-1].text and len(entries) >= 5000:
                await pilot.pause()         # and the frame that shows it is drawn
                return time.perf_counter() - t0
            await pilot.pause(0.005)
        return None


def bench_first_frame(runs: int) -> None:
    if shutil.which("tmux") is None:
        print("1. attach -> first full frame: tmux is needed (skipped)")
        return
    root = fake_checkout("backlog", backlog=6000)
    keeper = Keeper(root, write_config("backlog", QUIET))
    try:
        held = wait_backlog(root)
        results = [attach_in_tmux(root) for _ in range(runs)]
        inproc = [asyncio.run(attach_in_process(root)) for _ in range(runs)]
    finally:
        keeper.stop()
    shown = sorted(s * 1000 for _, s in results if s is not None)
    bars = sorted(b * 1000 for b, _ in results if b is not None)
    ip = sorted(x * 1000 for x in inproc if x is not None)

    def fig(xs: list[float]) -> str:
        return (f"min {xs[0]:.0f} ms, median {statistics.median(xs):.0f} ms, max {xs[-1]:.0f} ms"
                if xs else "n/a")

    print(f"1. attach -> first full frame, backlog of {held} lines, `swarmtui attach` in tmux 120x40 "
          f"({len(shown)} of {runs} runs): newest backlog line on screen after {fig(shown)} (target <= 1000 ms); "
          f"status bar after {fig(bars)}")
    print(f"   in-process (SwarmApp + RemoteEngine under run_test, no interpreter start-up; {len(ip)} of {runs}): "
          f"all {held} lines in the log view and drawn after {fig(ip)}")


# ------------------------------------------------------------------ 2. fan-out latency

def _inner_viewers(root: Path, n: int, warmup: float, seconds: float, out: Path) -> None:
    """The viewer process: n RemoteEngines on one keeper; writes a summary as JSON."""
    from swarmtui.engine import events as ev
    from swarmtui.engine.remote import RemoteEngine
    from swarmtui.node.layout import inspect_checkout

    layout = inspect_checkout(root)
    window = [float("inf"), float("inf")]
    ev_lat: list[float] = []
    line_lat: list[float] = []
    got = [0] * n
    resyncs = [0]

    def make_emit(i: int):
        def emit(e) -> None:
            now = time.time()
            if not isinstance(e, ev.LinesOut) or not (window[0] <= now <= window[1]):
                return
            if not e.ts:
                resyncs[0] += 1         # a snapshot (a viewer that fell behind is re-sent one)
                return
            ts = _dt.datetime.fromisoformat(e.ts.replace("Z", "+00:00")).timestamp()
            if ts < window[0]:
                return
            ev_lat.append(now - ts)
            for ln in e.lines:
                k = ln.text.rfind(" t=")
                if k < 0:
                    continue
                try:
                    t = float(ln.text[k + 3:])
                except ValueError:
                    continue
                line_lat.append(now - t)
                got[i] += 1
        return emit

    async def main() -> dict:
        engines = [RemoteEngine(root, make_emit(i), read_only=True, name=f"bench-{i}", layout=layout)
                   for i in range(n)]
        for e in engines:
            await e.start()
        keeper = psutil.Process(int(engines[0].keeper["pid"]))
        me = psutil.Process()
        await asyncio.sleep(warmup)
        k0, m0 = keeper.cpu_times(), me.cpu_times()
        window[0] = time.time()
        window[1] = window[0] + seconds
        await asyncio.sleep(seconds + 0.2)
        k1, m1 = keeper.cpu_times(), me.cpu_times()
        wall = time.time() - window[0]
        for e in engines:
            await e.close()
        cpu = lambda a, b: 100 * ((b.user - a.user) + (b.system - a.system)) / wall  # noqa: E731
        ms = lambda xs: [round(x * 1000, 3) for x in xs]  # noqa: E731
        return {"ev": ms(ev_lat), "line": ms(line_lat), "got": got, "resyncs": resyncs[0],
                "keeper_cpu": cpu(k0, k1), "viewer_cpu": cpu(m0, m1), "seconds": seconds}

    result = asyncio.run(main())
    lines = result.pop("line")
    evs = result.pop("ev")

    def stats(xs: list[float]) -> dict:
        if not xs:
            return {"n": 0}
        return {"n": len(xs), "p50": statistics.median(xs), "p99": pct(xs, 99), "max": max(xs)}

    result["ev"] = stats(evs)
    result["line"] = stats(lines)
    out.write_text(json.dumps(result))


def run_viewers(root: Path, n: int, warmup: float, seconds: float) -> dict:
    out = TMP / f"viewers-{os.getpid()}-{n}.json"
    out.unlink(missing_ok=True)
    p = subprocess.Popen([PY, str(Path(__file__).resolve()), "--inner-viewers", str(root), "--n", str(n),
                          "--warmup", str(warmup), "--seconds", str(seconds), "--out", str(out)],
                         env=clean_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        _, err = p.communicate(timeout=warmup + seconds + 60)
    except subprocess.TimeoutExpired:
        p.kill()
        _, err = p.communicate()
    if not out.exists():
        return {"error": (err or "no result").strip().splitlines()[-1:]}
    return json.loads(out.read_text())


def bench_fanout(seconds: float, rates=(20, 2000), counts=(1, 5, 20)) -> None:
    for rate in rates:
        root = fake_checkout(f"fanout-{rate}", rate=rate)
        keeper = Keeper(root, write_config(f"fanout-{rate}", QUIET))
        try:
            wait_backlog(root, last=False)
            time.sleep(2.0)
            for n in counts:
                r = run_viewers(root, n, warmup=1.5, seconds=seconds)
                head = f"2. {rate:>5} lines/s, {n:>2} viewer{'s' if n > 1 else ' '}:"
                if "error" in r:
                    print(f"{head} {r['error']}")
                    continue
                e, ln = r["ev"], r["line"]
                per = min(r["got"]) / r["seconds"] if r["got"] else 0
                target = " (target p99 <= 100)" if rate == 20 else ""
                evfig = (f"p50 {e['p50']:.1f} / p99 {e['p99']:.1f} / max {e['max']:.1f} ms{target}"
                         if e["n"] else "none received")
                lnfig = (f"p50 {ln['p50']:.1f} / p99 {ln['p99']:.1f} / max {ln['max']:.1f} ms"
                         if ln["n"] else "none received")
                print(f"{head} event ts -> received {evfig} (n={e['n']}); line written -> received {lnfig} "
                      f"(n={ln['n']}); slowest viewer got {per:,.0f} lines/s; resyncs {r['resyncs']}; "
                      f"keeper CPU {r['keeper_cpu']:.1f} %, viewer process CPU {r['viewer_cpu']:.1f} % of a core")
        finally:
            keeper.stop()


# ------------------------------------------------------------------ 3. keeper CPU and RSS

def bench_cpu(seconds: float, rate: float = 20.0, warmup: float = 5.0) -> None:
    root = fake_checkout("cpu", rate=rate)
    keeper = Keeper(root, write_config("cpu", QUIET))
    try:
        wait_backlog(root, last=False)
        time.sleep(warmup)
        c0, t0 = keeper.cpu(), time.monotonic()
        rss = [keeper.proc.memory_info().rss / 2**20]
        while time.monotonic() - t0 < seconds:
            time.sleep(min(5.0, max(0.0, seconds - (time.monotonic() - t0))))
            rss.append(keeper.proc.memory_info().rss / 2**20)
        c1, t1 = keeper.cpu(), time.monotonic()
    finally:
        keeper.stop()
    cpu = (c1 - c0) / (t1 - t0) * 100
    print(f"3. keeper with no viewer while the node prints {rate:g} lines/s, {seconds:.0f} s: CPU {cpu:.2f} % "
          f"of a core (target <= 1 %); RSS {min(rss):.1f}-{max(rss):.1f} MB")


def bench_rss(seconds: float, speed: float, every: float) -> None:
    from swarmtui.sim import create_checkout

    root = create_checkout(TMP / "long", "codezero", scenario="healthy", speed=speed, port=free_port(),
                           login="present")
    keeper = Keeper(root, write_config("long", QUIET))
    viewer = subprocess.Popen([PY, str(Path(__file__).resolve()), "--inner-viewers", str(root), "--n", "1",
                               "--warmup", "0", "--seconds", str(seconds + every),
                               "--out", str(TMP / "rss-viewer.json")],
                              env=clean_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    samples: list[tuple[float, float]] = []
    try:
        time.sleep(2.0)
        c0, t0 = keeper.cpu(), time.monotonic()
        samples.append((0.0, keeper.proc.memory_info().rss / 2**20))
        while time.monotonic() - t0 < seconds:
            time.sleep(min(every, max(0.0, seconds - (time.monotonic() - t0))))
            samples.append((time.monotonic() - t0, keeper.proc.memory_info().rss / 2**20))
        cpu = (keeper.cpu() - c0) / (time.monotonic() - t0) * 100
    finally:
        viewer.terminate()
        try:
            viewer.wait(10)
        except subprocess.TimeoutExpired:
            viewer.kill()
            viewer.wait()
        keeper.stop()
    node_h = seconds * speed / 3600
    series = ", ".join(f"{t * speed / 3600:.2f}h {m:.1f}" for t, m in samples)
    mid = samples[len(samples) // 2][1]
    settled = samples[1][1] if len(samples) > 1 else samples[0][1]
    print(f"3b. keeper RSS over {node_h:.1f} simulated node hour(s) (healthy CodeZero sim at speed {speed:g}, "
          f"{seconds:.0f} s wall, 1 viewer attached): start {samples[0][1]:.1f} MB (2 s in, node starting), "
          f"middle {mid:.1f} MB, end {samples[-1][1]:.1f} MB; {samples[-1][1] - settled:+.1f} MB from the "
          f"second sample to the end (target: flat); keeper CPU {cpu:.1f} % of a core")
    print(f"    RSS MB by node time: {series}")


# ------------------------------------------------------------------ main

def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="a short run (about 2 minutes)")
    ap.add_argument("--only", default="1,2,3,3b", help="which measurements, e.g. 2,3")
    ap.add_argument("--runs", type=int, help="attach runs for 1 (5; quick 3)")
    ap.add_argument("--fanout-seconds", type=float, help="measured window per fan-out case (20; quick 5)")
    ap.add_argument("--cpu-seconds", type=float, help="CPU window for 3 (30; quick 10)")
    ap.add_argument("--rss-seconds", type=float, help="wall seconds for 3b (180; quick 30)")
    ap.add_argument("--rss-speed", type=float, help="simulator speed for 3b (60; quick 120)")
    # the viewer process (2, 3b)
    ap.add_argument("--inner-viewers")
    ap.add_argument("--n", type=int, default=1)
    ap.add_argument("--warmup", type=float, default=1.5)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--out")
    a = ap.parse_args()
    if a.inner_viewers:
        _inner_viewers(Path(a.inner_viewers), a.n, a.warmup, a.seconds, Path(a.out))
        return 0
    q = a.quick
    runs = a.runs or (3 if q else 5)
    fan_s = a.fanout_seconds or (5.0 if q else 20.0)
    cpu_s = a.cpu_seconds or (10.0 if q else 30.0)
    rss_s = a.rss_seconds or (30.0 if q else 180.0)
    rss_speed = a.rss_speed or (120.0 if q else 60.0)
    only = {x.strip() for x in a.only.split(",")}
    started = time.monotonic()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}, "
          f"{'quick' if q else 'full'} run")
    try:
        if "1" in only:
            bench_first_frame(runs)
        if "2" in only:
            bench_fanout(fan_s)
        if "3" in only:
            bench_cpu(cpu_s)
        if "3b" in only:
            bench_rss(rss_s, rss_speed, every=max(3.0, rss_s / 12))
    finally:
        shutil.rmtree(TMP, ignore_errors=True)
    print(f"(took {time.monotonic() - started:.0f} s; load {os.getloadavg()[0]:.2f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
