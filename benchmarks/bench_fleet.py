"""Fleet overview benchmark (prints figures; never a test). Needs tmux.

    python benchmarks/bench_fleet.py [--nodes 20] [--seconds 10] [--reps 10]

`swarmtui fleet` runs in a real terminal (tmux, 160x40) over N nodes whose keepers are played
by one helper process: N Unix sockets at the nodes' keeper socket paths, each speaking the
keeper protocol (hello, snapshot, live events) with a stream at a running keeper's rates:
a LinesOut batch every 0.1 s, a ProgressUpdate every second (a new round every 5 s), a
ProcessSnapshot and a HostStats every 2 s. The overview's own watchers, channels and table are
the real ones; only the keepers are stand-ins (a real keeper per node would measure 20 nodes,
not the overview).

Printed: the overview's CPU (% of one core) while it follows N streams, and how long a key
takes to show on screen (space marks a row: the '*' appears; target <= 150 ms), min / median /
max over the repetitions, and the load average while it ran.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PY = sys.executable


# ------------------------------------------------------------------ inner: N stand-in keepers


def _events(i: int, t: int):
    from swarmtui.engine import events as ev

    out = [ev.LinesOut(lines=[ev.LogLine("logs/swarm_launcher.log", t * 5 + k,
                                         f"[genrl][INFO] - node{i} train step {t * 5 + k}", level="INFO")
                              for k in range(5)])]
    if t % 10 == 0:
        out.append(ev.ProgressUpdate(round=1000 + t // 50, stage=0, rounds_completed=t // 50, since_progress_s=0.0))
    if t % 20 == 0:
        out.append(ev.ProcessSnapshot(procs=[ev.ProcInfo(pid=1000 + i * 10 + k, ppid=1, name=role, cmdline=role,
                                                         role=role, cpu_percent=12.5, rss=200 << 20, age_s=t / 10)
                                             for k, role in enumerate(("launcher", "trainer", "p2pd"))]))
        out.append(ev.HostStats(cpu_percent=40.0, cpu_count=16,
                                gpus=[{"index": g, "name": "H100", "mem_used": (10 + g) << 30, "mem_total": 80 << 30,
                                       "util": 50} for g in range(4)]))
    return out


async def _serve_one(path: Path, i: int) -> None:
    from swarmtui.engine import events as ev
    from swarmtui.engine import wire

    async def conversation(reader, writer):
        try:
            await reader.readline()                 # hello
            writer.write(wire.encode("hello", protocol=wire.PROTOCOL, version="bench", checkout=str(path),
                                     pid=os.getpid(), started="", kind="bench", viewer=1))
            await reader.readline()                 # attach
            snap = [ev.HistoryLoaded(records=[]), ev.IdentityChanged(report={"animal_name": f"bench animal {i}"}),
                    ev.StateChanged(state=ev.RUNNING, detail="run 1"), *_events(i, 0)]
            writer.write(wire.encode("snapshot", events=[e.to_dict() for e in snap]))
            t = 0
            while True:
                await asyncio.sleep(0.1)
                t += 1
                writer.write(b"".join(wire.encode("event", e=e.to_dict()) for e in _events(i, t)))
                await writer.drain()
        except (ConnectionError, OSError):
            pass

    sock = wire.socket_path(path)
    sock.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    await asyncio.start_unix_server(conversation, path=str(sock))


async def _serve(dirs: list[str]) -> None:
    for i, d in enumerate(dirs):
        await _serve_one(Path(d), i)
    await asyncio.Event().wait()


# ------------------------------------------------------------------ outer: the terminal


def _tmux(sock: str, *args: str) -> str:
    return subprocess.run(["tmux", "-L", sock, *args], capture_output=True, text=True, timeout=10).stdout


def _screen(sock: str) -> str:
    return _tmux(sock, "capture-pane", "-p", "-t", "t")


def _marked_rows(screen: str) -> int:
    # The mark column is the table's first: a row that starts with "*" after the frame.
    return sum(1 for line in screen.splitlines() if line.lstrip(" │|").startswith("* "))


def _wait(sock: str, pred, timeout: float) -> tuple[float, str]:
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        s = _screen(sock)
        if pred(s):
            return time.perf_counter() - t0, s
        time.sleep(0.003)
    raise SystemExit(f"timed out waiting; the screen:\n{_screen(sock)}")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--nodes", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--serve", nargs="*", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve is not None:
        asyncio.run(_serve(args.serve))
        return 0
    if shutil.which("tmux") is None:
        print("tmux is not installed: nothing measured")
        return 1
    import psutil

    base = Path(tempfile.mkdtemp(prefix="bench-fleet-"))
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    for name in ("STATE", "CONFIG", "CACHE", "RUNTIME"):
        (base / name.lower()).mkdir(mode=0o700)
        env[f"SWARMTUI_{name}_DIR"] = str(base / name.lower())
    os.environ.update({k: v for k, v in env.items() if k.startswith("SWARMTUI_")})
    dirs = [base / f"node{i:02d}" for i in range(args.nodes)]
    for d in dirs:
        d.mkdir()
    fleet = base / "fleet.toml"
    fleet.write_text("".join(f'[[node]]\nname = "n{i:02d}"\ndir = "{d}"\n' for i, d in enumerate(dirs)))
    server = subprocess.Popen([PY, __file__, "--serve", *map(str, dirs)], env=env)
    sock = f"bench-fleet-{os.getpid()}"
    try:
        time.sleep(1.0)
        cmd = f"{shlex.quote(PY)} -m swarmtui fleet --fleet {shlex.quote(str(fleet))}"
        subprocess.run(["tmux", "-L", sock, "-f", "/dev/null", "new-session", "-d", "-s", "t", "-x", "160", "-y", "40",
                        *sum((["-e", f"{k}={v}"] for k, v in env.items() if k.startswith(("SWARMTUI_", "PYTHON"))), []),
                        cmd], check=True, timeout=10)
        pid = int(_tmux(sock, "display-message", "-p", "-t", "t", "#{pane_pid}").strip())
        first, _ = _wait(sock, lambda s: s.count("running") >= args.nodes, 30)
        print(f"nodes: {args.nodes}; all rows running on screen {first:.2f}s after start")
        proc = psutil.Process(pid)
        time.sleep(1.0)
        load0 = os.getloadavg()
        cpus = []
        for _ in range(3):
            c0, t0 = proc.cpu_times(), time.perf_counter()
            time.sleep(args.seconds / 3)
            c1, t1 = proc.cpu_times(), time.perf_counter()
            cpus.append(100 * ((c1.user + c1.system) - (c0.user + c0.system)) / (t1 - t0))
        lat = []
        for rep in range(args.reps):
            before = _marked_rows(_screen(sock))
            if before >= args.nodes - 1:
                _tmux(sock, "send-keys", "-t", "t", "u")
                _wait(sock, lambda s: _marked_rows(s) == 0, 5)
                before = 0
            t0 = time.perf_counter()
            _tmux(sock, "send-keys", "-t", "t", "Space")
            dt, _ = _wait(sock, lambda s, b=before: _marked_rows(s) > b, 5)
            lat.append((time.perf_counter() - t0) * 1000)
            time.sleep(0.2)
        load1 = os.getloadavg()

        def mmm(xs):
            return f"min {min(xs):.1f}  median {statistics.median(xs):.1f}  max {max(xs):.1f}"

        print(f"overview CPU (% of one core, {len(cpus)} windows of {args.seconds / 3:.1f}s): {mmm(cpus)}")
        print(f"key -> screen (space marks a row, {len(lat)} presses, ms; target <= 150): {mmm(lat)}")
        print(f"load average: before {load0[0]:.2f}  after {load1[0]:.2f}  (cores: {os.cpu_count()})")
        print(f"overview RSS: {proc.memory_info().rss / 2**20:.0f} MB")
    finally:
        subprocess.run(["tmux", "-L", sock, "kill-server"], capture_output=True, timeout=10)
        server.terminate()
        server.wait(10)
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
