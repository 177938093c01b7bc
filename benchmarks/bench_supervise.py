"""How fast and how light the supervisor is (prints figures; never asserts).

    .venv-test/bin/python benchmarks/bench_supervise.py [--runs 20] [--cpu-seconds 30] [--long-seconds 60]
                                                        [--only 1,2,3,3b,4,5]

1. fatal line -> stop: a script writes its wall time, then an OOM-kill line; measured to the
   moment the engine announces `stopping` (p50/p99 over --runs runs).
2. launcher exit -> restart decision: the script writes its wall time and exits; measured to
   the `restart` event (after the stop sequence's sweep and verify).
3. `swarmtui supervise` CPU and RSS while the node prints 20 lines/s to the terminal and the
   same to logs/swarm_launcher.log (target <= 1 % of a core, <= 60 MB); 3b. the same with a
   node that prints nothing (what supervising costs by itself).
4. RSS over a long simulated run: the healthy simulator at speed 60 (a node hour per wall
   minute), sampled every 5 s (target: flat).
5. the flood scenario: lines/s the engine takes in, and whether the on-disk transcript holds
   every line the terminal carried.
6. back to training (issue 16, target p50 <= 250 ms): a genrl-like script (login server in the
   background, EXIT trap like upstream's) whose trainer prints "Exception occurred during game
   run." and exits 0, the script then sitting in its final `wait`: fatal line written -> the next
   run launched; 7. the launcher exits by itself -> the next run launched. With the default
   restart policy (each failure the first in a row: stable_after is tiny here), then with the old
   one (first restart after 10 s, exit_grace waited out unless the script exits) on --old-runs.
8. keeper keeps up (issue 16): `swarmtui supervise --json` while the node floods its terminal with
   lines that match nothing (httpx DEBUG chatter, each with its own timestamp; --flood-line picks
   another, --flood-distinct adds a random id to each) at 1k/3k/10k/30k
   lines/s, plus 50 probe lines a second that carry their write time and a warn detection
   ("Could not fetch round and stage"): line written -> its detection printed (p50/p90), and the
   keeper's own CPU (its children, the node, not counted). Targets: p90 <= 50 ms at 30k lines/s;
   CPU <= 1.5x supervisord's (supervisord's log capture, issue 16's table: 6-7 / 18 / 28-31 /
   37-38 % of a core; bench_peers.py measures it beside us).
Everything runs in temp dirs with private ports and state dirs; nothing is left behind.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_common import clean_env, free_port, stop_popen  # noqa: F401 (bench_peers uses them from here)

import psutil

TMP = Path(tempfile.mkdtemp(prefix="bench-supervise-"))
os.environ["SWARMTUI_STATE_DIR"] = str(TMP / "state")
os.environ["SWARMTUI_CONFIG_DIR"] = str(TMP / "config")
os.environ["SWARMTUI_CACHE_DIR"] = str(TMP / "cache")

from swarmtui.engine import events as ev  # noqa: E402
from swarmtui.engine.config import Config  # noqa: E402
from swarmtui.engine.supervisor import Supervisor  # noqa: E402
from swarmtui.sim import create_checkout  # noqa: E402

FATAL = "./run_rl_swarm.sh: line 42:  4242 Killed                  python -m code_gen_exp.runner.swarm_launcher"
LINE = "[2026-01-01 12:00:00,000][genrl.logging_utils.global_defs][INFO] - Already finished round: 1201. Next check in 5.0s."


def tiny_checkout(name: str, body: str) -> Path:
    """A checkout the layout accepts (code_gen_exp/ makes it CodeZero) whose script is `body`."""
    root = TMP / name
    (root / "code_gen_exp").mkdir(parents=True)
    (root / "logs").mkdir()
    (root / "run_rl_swarm.sh").write_text(
        f"#!/bin/bash\n# login page: http://localhost:{free_port()}\nset -u\n{body}\n")
    return root


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))]


def fast_config(**restart) -> Config:
    cfg = Config()
    cfg.restart.backoff_initial = 0.05
    cfg.restart.backoff_max = 0.05
    cfg.restart.budget = 10_000
    cfg.restart.startup_failures = 10_000
    cfg.restart.exit_grace = 1.0    # what a dying script is allowed: policy, not the reaction measured here
    cfg.restart.stop_timeout = 2.0
    cfg.restart.term_timeout = 2.0
    cfg.watch.min_free_disk_mb = 1
    for k, v in restart.items():
        setattr(cfg.restart, k, v)
    return cfg


async def latency(kind: str, runs: int) -> list[float]:
    stamp = "written_at"
    if kind == "fatal":
        body = (f"echo '>> Good luck in the swarm!'\nsleep 0.2\n"
                f"python3 -c 'import time; open(\"{stamp}\", \"w\").write(repr(time.time())); "
                f"print(\"{FATAL}\", flush=True)'\nsleep 30\n")
    else:
        body = (f"echo '>> Good luck in the swarm!'\nsleep 0.2\n"
                f"python3 -c 'import time; open(\"{stamp}\", \"w\").write(repr(time.time()))'\nexit 3\n")
    root = tiny_checkout(f"latency-{kind}", body)
    got: list[float] = []
    done = asyncio.Event()

    def emit(e: ev.Event) -> None:
        now = time.time()
        hit = (kind == "fatal" and isinstance(e, ev.StateChanged) and e.state == ev.STOPPING) or \
              (kind == "exit" and isinstance(e, ev.RestartScheduled))
        if hit:
            try:
                got.append(now - float((root / stamp).read_text()))
                (root / stamp).unlink()
            except (OSError, ValueError):
                pass
            if len(got) >= runs:
                done.set()

    sup = Supervisor(root, fast_config(), emit, env=clean_env())
    await sup.start()
    try:
        await asyncio.wait_for(done.wait(), runs * 8)
    finally:
        await sup.close()
    return got


GENRL_LIKE = """cleanup() {
    rm -r "$PWD"/modal-login/temp-data/*.json 2> /dev/null || true
    kill -- -$$ || true
    exit 0
}
trap cleanup EXIT
(exec -a yarn sleep 100000) &
echo '>> Good luck in the swarm!'
python3 -c 'import time; time.sleep(0.6); open("written_at", "w").write(repr(time.time())); \\
print("[2026-01-01 12:00:00,000][genrl.game][ERROR] - Exception occurred during game run.", flush=True)' \\
    code_gen_exp.runner.swarm_launcher
wait
"""


def back_to_training_config(old: bool) -> Config:
    cfg = fast_config()
    cfg.restart.exit_grace = 5.0                    # the default
    cfg.restart.stable_after = 0.1                  # every failure is the first in a row
    cfg.restart.first_delay = 10.0 if old else 0.0
    cfg.restart.backoff_initial = cfg.restart.backoff_max = 10.0
    cfg.watch.snapshot_interval = 0.25              # the stand-in trainer lives 0.6 s: be sure it is seen
    return cfg


async def relaunch(kind: str, runs: int, old: bool) -> list[float]:
    """Seconds from the stamp (fatal line written, or the launcher about to exit) to the
    announcement of the next run's launch."""
    if kind == "fatal":
        body = GENRL_LIKE
    else:
        body = ("echo '>> Good luck in the swarm!'\nsleep 0.3\n"
                "python3 -c 'import time; open(\"written_at\", \"w\").write(repr(time.time()))'\nexit 3\n")
    root = tiny_checkout(f"relaunch-{kind}-{'old' if old else 'new'}", body)
    # A node's own venv, as on a real node: the pre-flight asks its python for its version before
    # every start (a pyenv shim on PATH instead costs ~200 ms more per start).
    (root / ".venv" / "bin").mkdir(parents=True)
    (root / ".venv" / "bin" / "python").symlink_to(os.path.realpath(sys.executable))
    got: list[float] = []
    done = asyncio.Event()

    def emit(e: ev.Event) -> None:
        if isinstance(e, ev.StateChanged) and e.state == ev.STARTING and e.detail.startswith("run "):
            now = time.time()
            try:
                got.append(now - float((root / "written_at").read_text()))
                (root / "written_at").unlink()
            except (OSError, ValueError):
                pass
            if len(got) >= runs:
                done.set()

    sup = Supervisor(root, back_to_training_config(old), emit, env=clean_env())
    if old:     # exit_grace as it was: only the script's own exit ends it
        sup._final_wait_look = lambda run: None
    await sup.start()
    try:
        await asyncio.wait_for(done.wait(), runs * (20 if old else 8))
    finally:
        await sup.close()
    return got


def supervise_proc(root: Path, config: Path, seconds: float, sample_every: float = 5.0,
                   warmup: float = 5.0) -> tuple[float, list[tuple[float, float]]]:
    """Run `swarmtui supervise` on `root`; return (CPU % of one core after warm-up, [(t, RSS MB)])."""
    p = subprocess.Popen([sys.executable, "-m", "swarmtui", "supervise", str(root), "--config", str(config)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=clean_env(), start_new_session=True)
    ps = psutil.Process(p.pid)
    try:
        time.sleep(warmup)
        c0, t0 = ps.cpu_times(), time.monotonic()
        samples = [(0.0, ps.memory_info().rss / 2**20)]
        while time.monotonic() - t0 < seconds:
            time.sleep(min(sample_every, seconds - (time.monotonic() - t0)))
            samples.append((time.monotonic() - t0, ps.memory_info().rss / 2**20))
        c1, t1 = ps.cpu_times(), time.monotonic()
        cpu = ((c1.user - c0.user) + (c1.system - c0.system)) / (t1 - t0) * 100
    finally:
        stop_popen(p)
    return cpu, samples


def write_config(name: str, text: str) -> Path:
    path = TMP / f"{name}.toml"
    path.write_text(text)
    return path


def bench_cpu(seconds: float, rate: float = 20.0) -> None:
    if rate > 0:
        body = ("python3 - <<'EOF'\nimport sys, time\nlog = open('logs/swarm_launcher.log', 'a')\n"
                f"line = {LINE!r}\nn = 0\nstart = time.monotonic()\nwhile True:\n"
                "    n += 1\n    print(line, flush=True)\n    log.write(line + '\\n'); log.flush()\n"
                f"    time.sleep(max(0.0, start + n / {rate!r} - time.monotonic()))\nEOF\n")
    else:
        body = f"echo {LINE!r}\nsleep 100000\n"
    root = tiny_checkout(f"cpu-{rate:g}", body)
    cfg = write_config("cpu", "[watch]\nmin_free_disk_mb = 1\n")
    cpu, samples = supervise_proc(root, cfg, seconds)
    rss = [m for _, m in samples]
    what = (f"3. supervise while the node prints {rate:g} lines/s (terminal + log file)" if rate > 0
            else "3b. supervise while the node prints nothing")
    print(f"{what}, {seconds:.0f} s: CPU {cpu:.2f} % of a core; RSS {min(rss):.1f}-{max(rss):.1f} MB")


def bench_long(seconds: float) -> None:
    root = create_checkout(TMP / "long", "codezero", scenario="healthy", speed=60.0, port=free_port(), login="present")
    cfg = write_config("long", "[watch]\nmin_free_disk_mb = 1\n[restart]\nwarn_repeat = 10000\n")
    cpu, samples = supervise_proc(root, cfg, seconds, sample_every=5.0)
    series = ", ".join(f"{t:.0f}s {m:.1f}" for t, m in samples)
    print(f"4. supervise on the healthy simulator at speed 60 ({seconds / 60:.1f} node hours): CPU {cpu:.2f} % "
          f"of a core; RSS MB over time: {series}")


async def bench_flood(seconds: float) -> None:
    root = create_checkout(TMP / "flood", "codezero", scenario="flood", speed=60.0, port=free_port(),
                           login="present")
    counts = {"pty": 0, "file": 0}
    started = asyncio.Event()

    def emit(e: ev.Event) -> None:
        if isinstance(e, ev.LinesOut):
            for ln in e.lines:
                if "Failed to decode value" in ln.text:
                    counts["pty" if ln.source == "pty" else "file"] += 1
                    started.set()

    cfg = fast_config()
    cfg.restart.warn_repeat = 10**9
    sup = Supervisor(root, cfg, emit, env=clean_env())
    me = psutil.Process()
    await sup.start()
    await asyncio.wait_for(started.wait(), 60)
    c0, t0, n0 = me.cpu_times(), time.monotonic(), dict(counts)
    await asyncio.sleep(seconds)
    c1, t1, n1 = me.cpu_times(), time.monotonic(), dict(counts)
    run = sup._run
    await sup.close()
    pty_rate = (n1["pty"] - n0["pty"]) / (t1 - t0)
    file_rate = (n1["file"] - n0["file"]) / (t1 - t0)
    cpu = ((c1.user - c0.user) + (c1.system - c0.system)) / (t1 - t0) * 100
    transcript = b"".join(p.read_bytes() for p in sorted(run.transcript.dir.glob(f"run-{run.number:06d}*.log")))
    on_disk = transcript.count(b"Failed to decode value")
    missing = counts["pty"] - on_disk
    print(f"5. flood (CodeZero: terminal and logs/swarm_launcher.log): {pty_rate:,.0f} lines/s taken in from the "
          f"terminal and {file_rate:,.0f} from the log file, engine CPU {cpu:.0f} % of a core; the transcript "
          f"holds {on_disk:,} flood lines, the engine saw {counts['pty']:,} on the terminal "
          f"({'none lost' if missing <= 0 else f'{missing} missing'})")


FLOOD_FILLER = ('[2026-01-01 12:00:00,000][httpx][DEBUG] - HTTP Request: POST '
                'https://gensyn-testnet.g.alchemy.com/public "HTTP/1.1 200 OK"')
SUPERVISORD_CPU = {1000: "6-7", 3000: "18", 10000: "28-31", 30000: "37-38"}     # issue 16, % of a core


def flood_writer(rate: float, filler: str, probes_per_s: float = 50.0, distinct: bool = False) -> str:
    """A node script whose python prints `filler` at `rate` lines/s (in bursts every 2 ms) and a
    probe line with its write time every 1/probes_per_s s. Each line's timestamp moves on by a
    millisecond, as a real flood's do (a keeper that screened identical lines once would look
    better than it is); `distinct`: each line also ends with a random id of letters, so no two
    lines of a read are alike even with their digits folded away (screen.py's worst case)."""
    return ("python3 - <<'EOF'\nimport os, random, sys, time\nout = sys.stdout\nprobes = open('probes_written', 'a')\n"
            f"line = {filler!r}\nrate = {rate!r}\nevery = {1.0 / probes_per_s!r}\ndistinct = {distinct!r}\n"
            "V = [line.replace('00:00,000', '%02d:%02d,%03d' % (i // 60000 % 60, i // 1000 % 60, i % 1000))\n"
            "     + (' id=%s' % ''.join(random.choice('abcdefghijklmnopqrstuvwxyz') for _ in range(12)) if distinct else '')\n"
            "     + '\\n' for i in range(4096)]\n"
            "start = time.monotonic()\nn = 0\nnext_probe = start\n"
            "while True:\n"
            "    now = time.monotonic()\n"
            "    due = int((now - start) * rate)\n"
            "    if due > n:\n"
            "        k = min(due - n, max(50, int(rate / 100)))\n"
            "        out.write(''.join([V[(n + i) & 4095] for i in range(k)]))\n        n += k\n"
            "    if now >= next_probe:\n"
            "        next_probe += every\n"
            "        open('count.tmp', 'w').write(str(n))\n        os.replace('count.tmp', 'written_count')\n"
            "        at = time.time()\n"
            "        out.write('[2026-01-01 12:00:00,000][genrl.game][DEBUG] - Could not fetch round and stage: '\n"
            "                  'probe %.6f. Next check in 5.0s.\\n' % at)\n"
            "        probes.write('%.6f\\n' % at)\n        probes.flush()\n"
            "    out.flush()\n"
            "    time.sleep(0.002)\nEOF\n")


def bare_pty_rate(rate: float, filler: str, seconds: float = 4.0) -> float:
    """Lines/s the flood writer gets through a pty that a bare loop drains: what the pty and this
    machine allow at all, the ceiling for any keeper reading a terminal."""
    root = TMP / f"bare-pty-{rate:g}"
    root.mkdir(parents=True, exist_ok=True)
    (root / "flood.sh").write_text(flood_writer(rate, filler))
    master, slave = os.openpty()
    p = subprocess.Popen(["bash", "flood.sh"], cwd=root, stdout=slave, stderr=slave, start_new_session=True)
    os.close(slave)
    lines = 0
    try:
        time.sleep(0.5)
        t0 = time.monotonic()
        while time.monotonic() - t0 < seconds:
            lines += os.read(master, 1 << 16).count(b"\n")
        return lines / (time.monotonic() - t0)
    finally:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
        os.close(master)


def keeper_flood(rate: float, seconds: float, filler: str,
                 warmup: float = 4.0, distinct: bool = False) -> tuple[float, list[float], float, int]:
    """(keeper CPU % of one core, [seconds from probe written to its detection printed], lines/s
    the node managed to write: a keeper that falls behind slows a writer on its terminal, probes
    the node wrote in the measured window)."""
    import json
    import threading

    root = tiny_checkout(f"keeper-flood-{rate:g}-{distinct}", flood_writer(rate, filler, distinct=distinct))
    cfg = write_config("keeper-flood", "[watch]\nmin_free_disk_mb = 1\n[restart]\nwarn_repeat = 1000000000\n")
    p = subprocess.Popen([sys.executable, "-m", "swarmtui", "supervise", str(root), "--config", str(cfg), "--json"],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=clean_env(), start_new_session=True)
    got: list[tuple[float, float]] = []     # (arrival, written)

    def read() -> None:
        assert p.stdout is not None
        for raw in p.stdout:
            now = time.time()
            if b"probe " not in raw:
                continue
            try:
                text = json.loads(raw).get("text", "")
                got.append((now, float(text.split("probe ", 1)[1].split(". Next", 1)[0])))
            except (ValueError, IndexError):
                continue

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    ps = psutil.Process(p.pid)
    try:
        def written() -> int:
            try:
                return int((root / "written_count").read_text() or 0)
            except (OSError, ValueError):
                return 0

        time.sleep(warmup)
        c0, t0, w0, n0 = ps.cpu_times(), time.monotonic(), time.time(), written()
        time.sleep(seconds)
        c1, t1, w1, n1 = ps.cpu_times(), time.monotonic(), time.time(), written()
        cpu = ((c1.user - c0.user) + (c1.system - c0.system)) / (t1 - t0) * 100
        time.sleep(0.5)     # the probes written just before w1 come back
    finally:
        stop_popen(p)
        reader.join(5)
    try:
        sent = sum(1 for v in (root / "probes_written").read_text().split() if w0 <= float(v) <= w1)
    except (OSError, ValueError):
        sent = 0
    return cpu, [arrived - at for arrived, at in got if w0 <= at <= w1], (n1 - n0) / (t1 - t0), sent


def bench_keeper_flood(seconds: float, filler: str, rates: list[float], distinct: bool = False) -> None:
    print(f"8. keeper keeps up: `supervise --json`, the terminal flooded with {filler[:60]!r}..."
          f"{' (each with a random id)' if distinct else ''}, "
          f"{seconds:.0f} s a rate; target p90 <= 50 ms at 30k lines/s, CPU <= 1.5x supervisord's")
    top = max(rates)
    print(f"   ceiling: the same writer asked for {10 * top:,.0f} lines/s, into a pty drained by a bare read loop: "
          f"{bare_pty_rate(10 * top, filler):,.0f} lines/s")
    for rate in rates:
        cpu, lat, achieved, sent = keeper_flood(rate, seconds, filler, distinct=distinct)
        ref = SUPERVISORD_CPU.get(int(rate))
        target = ""
        if ref is not None:
            hi = float(ref.split("-")[-1])
            target = f" (supervisord {ref} %: target <= {1.5 * hi:.0f} %{', met' if cpu <= 1.5 * hi else ', NOT met'})"
        if lat:
            ms = [v * 1000 for v in lat]
            lat_s = (f"written -> processed p50 {statistics.median(ms):.1f} ms, p90 {pct(ms, 90):.1f} ms, "
                     f"max {max(ms):.1f} ms ({len(ms)} of the {sent} probes written back within 0.5 s)")
        else:
            lat_s = "no probe came back"
        print(f"   {rate:>6,.0f} lines/s (the node wrote {achieved:,.0f}/s): keeper CPU {cpu:5.1f} %{target}; {lat_s}")


def summary(name: str, values: list[float]) -> str:
    ms = [v * 1000 for v in values]
    return (f"{name}: n={len(ms)} p50 {statistics.median(ms):.1f} ms, p90 {pct(ms, 90):.1f} ms, "
            f"p99 {pct(ms, 99):.1f} ms, max {max(ms):.1f} ms")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--cpu-seconds", type=float, default=30.0)
    ap.add_argument("--long-seconds", type=float, default=60.0)
    ap.add_argument("--flood-seconds", type=float, default=10.0)
    ap.add_argument("--old-runs", type=int, default=3, help="runs of 6 and 7 with the old restart policy (slow)")
    ap.add_argument("--only", default="1,2,3,3b,4,5,6,7,8", help="which measurements, e.g. 3,3b")
    ap.add_argument("--keeper-seconds", type=float, default=8.0, help="8: seconds measured at each rate")
    ap.add_argument("--keeper-rates", default="1000,3000,10000,30000", help="8: lines/s")
    ap.add_argument("--flood-line", default=FLOOD_FILLER, help="8: the line the node floods with")
    ap.add_argument("--flood-distinct", action="store_true",
                    help="8: each flood line also carries a random id (no two alike: the screen's worst case)")
    args = ap.parse_args()
    only = {x.strip() for x in args.only.split(",")}
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}")
    try:
        if "1" in only:
            print("1. " + summary("fatal line written -> stopping announced",
                                  asyncio.run(latency("fatal", args.runs))))
        if "2" in only:
            print("2. " + summary("launcher exit -> restart decided", asyncio.run(latency("exit", args.runs))))
        if "3" in only:
            bench_cpu(args.cpu_seconds)
        if "3b" in only:
            bench_cpu(args.cpu_seconds, rate=0.0)
        if "4" in only:
            bench_long(args.long_seconds)
        if "5" in only:
            asyncio.run(bench_flood(args.flood_seconds))
        if "8" in only:
            bench_keeper_flood(args.keeper_seconds, args.flood_line,
                               [float(r) for r in args.keeper_rates.split(",") if r.strip()], args.flood_distinct)
        for item, kind, what in (("6", "fatal", "fatal line written -> node launched again"),
                                 ("7", "exit", "launcher exit -> node launched again")):
            if item in only:
                print(f"{item}. " + summary(what + " (defaults)", asyncio.run(relaunch(kind, args.runs, False))))
                if args.old_runs > 0:
                    print(f"{item}o. " + summary(what + " (old: first restart after 10 s, exit_grace waited out)",
                                                 asyncio.run(relaunch(kind, args.old_runs, True))))
    finally:
        shutil.rmtree(TMP, ignore_errors=True)


if __name__ == "__main__":
    main()
