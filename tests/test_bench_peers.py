"""benchmarks/bench_peers.py: its options, its skip lines and its fake node's flood writer.

The benchmark itself takes minutes and prints figures; these check, in seconds, that it starts,
says what it skips, refuses bad options, and that the node it floods keepers with writes the
same lines to its terminal and its log file, with probes that carry their write time."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks" / "bench_peers.py"

pytestmark = [pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux process semantics"),
              pytest.mark.timeout(60)]


def bench(*args: str, tmp_path: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{tmp_path}:/usr/bin:/bin"}   # no pm2/supervisord from PATH
    return subprocess.run([sys.executable, str(BENCH), *args], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=30)


def test_help_names_its_options(tmp_path):
    r = bench("--help", tmp_path=tmp_path)
    assert r.returncode == 0, r.stderr
    for option in ("--reps", "--quick", "--supervisord", "--pm2", "--dry-run"):
        assert option in r.stdout


def test_dry_run_says_what_it_skips_and_runs_nothing(tmp_path):
    missing = str(tmp_path / "absent")
    r = bench("--dry-run", "--quick", "--pm2", missing, "--supervisord", missing, tmp_path=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "pm2: skipped, not found" in r.stdout
    assert "supervisord: skipped, not found" in r.stdout
    assert "keepers: swarmtui (defaults), swarmtui (tuned), swarmtui reading only, bash loop" in r.stdout
    assert "2 interleaved repetitions" in r.stdout
    assert "load average before:" in r.stdout
    assert "rep 1/" not in r.stdout


def test_dry_run_finds_a_given_keeper(tmp_path):
    fake = tmp_path / "supervisord"
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(0o755)
    r = bench("--dry-run", "--supervisord", str(fake), "--no-tuned", tmp_path=tmp_path)
    assert r.returncode == 0, r.stderr
    assert f"supervisord [{fake}]" in r.stdout
    assert "swarmtui (tuned)" not in r.stdout


def test_the_reading_only_keeper_cuts_the_line_path_it_names(tmp_path):
    """The floor column patches Supervisor._lines_in: were it renamed, the column would silently be
    the full keeper again. Its command runs swarmtui with the patch in place, or says why not."""
    # bench_peers is read in a process of its own: importing it moves SWARMTUI_* to its temp dir.
    script = subprocess.run(
        [sys.executable, "-c", "import shutil, sys; sys.path.insert(0, 'benchmarks'); import bench_peers as b; "
         "shutil.rmtree(b.bs.TMP, ignore_errors=True); "
         "argv = b.SwarmtuiReadingOnly().argv(b.REPO, b.REPO / 'c.toml'); "
         "assert argv[:2] == [sys.executable, '-c'], argv; print(argv[2], end='')"],
        capture_output=True, text=True, cwd=ROOT, timeout=30)
    assert script.returncode == 0, script.stderr
    r = subprocess.run([sys.executable, "-c", script.stdout, "--version"], capture_output=True, text=True, cwd=ROOT,
                       timeout=30)
    assert r.returncode == 0 and r.stdout.startswith("swarmtui"), (r.returncode, r.stdout, r.stderr)
    broken = script.stdout.replace("'_lines_in'", "'_no_such_method'")
    assert broken != script.stdout
    r = subprocess.run([sys.executable, "-c", broken, "--version"], capture_output=True, text=True, cwd=ROOT,
                       timeout=30)
    assert r.returncode == 1 and "reading-only column needs its new name" in r.stderr


def test_dry_run_leaves_out_the_floor_when_asked(tmp_path):
    r = bench("--dry-run", "--no-floor", tmp_path=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "swarmtui reading only" not in r.stdout


@pytest.mark.parametrize("args", [("--reps", "0"), ("--only", "exit,nonsense")])
def test_bad_options_exit_non_zero_with_one_line(tmp_path, args):
    r = bench(*args, "--dry-run", tmp_path=tmp_path)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines()[-1].startswith("bench_peers.py: error:")


def _flood_node(tmp_path):
    """The benchmark's fake node in tmp_path, asked for 1,000 lines/s."""
    text = subprocess.run(
        [sys.executable, "-c", "import shutil, sys; sys.path.insert(0, 'benchmarks'); import bench_peers as b; "
                               "shutil.rmtree(b.bs.TMP); sys.stdout.write(b.FLOOD_WRITER)"],
        capture_output=True, text=True, cwd=ROOT, check=True, timeout=30).stdout
    (tmp_path / "logs").mkdir()
    (tmp_path / "flood_writer.py").write_text(text)
    (tmp_path / "rate").write_text("1000")


def test_flood_writer_writes_every_line_to_terminal_and_log_with_probes(tmp_path):
    # The writer as the benchmark's fake node runs it, at 1,000 lines/s for about a second.
    _flood_node(tmp_path)
    out = tmp_path / "stdout"
    with open(out, "wb") as f:
        p = subprocess.Popen([sys.executable, "flood_writer.py"], cwd=tmp_path, stdout=f)
        try:
            time.sleep(1.5)
        finally:
            p.kill()
            p.wait(10)
    term = out.read_bytes().decode().splitlines()
    log = (tmp_path / "logs" / "swarm_launcher.log").read_text().splitlines()
    assert 500 <= len(term) <= 2000, len(term)
    # The log file has the same lines; its copy of each probe says it is the file's.
    assert [ln.removesuffix(" file") for ln in log[:len(term)]] == term[:len(log)]
    probes = [ln for ln in term if " probe " in ln]
    assert len(probes) >= 10
    numbers = [int(ln.split(" probe ")[1].split()[0]) for ln in probes]
    assert numbers == list(range(1, len(numbers) + 1))
    stamps = [float(ln.split(" probe ")[1].split()[1]) for ln in probes]
    assert stamps == sorted(stamps) and abs(stamps[-1] - time.time()) < 10
    assert "Error playing PRG game, continuing." in probes[0]
    counted, waited = (tmp_path / "written").read_text().split()
    assert 0 < int(counted) <= len(term)
    assert 0 <= float(waited) < 1.0          # a file never makes it wait long


def test_flood_writer_counts_the_time_its_terminal_made_it_wait(tmp_path):
    """A keeper that leaves the pty unread blocks the node's writes: the writer adds up how long."""
    _flood_node(tmp_path)
    master, slave = os.openpty()
    p = subprocess.Popen([sys.executable, "flood_writer.py"], cwd=tmp_path, stdout=slave, start_new_session=True)
    os.close(slave)
    try:
        time.sleep(1.5)                     # nobody reads: the pty fills, the writer waits
        os.set_blocking(master, False)
        end = time.monotonic() + 1.0
        while time.monotonic() < end:       # now read: it goes on and says how long it waited
            try:
                os.read(master, 65536)
            except BlockingIOError:
                time.sleep(0.005)
            except OSError:
                break
    finally:
        p.kill()
        p.wait(10)
        os.close(master)
    counted, waited = (tmp_path / "written").read_text().split()
    assert int(counted) > 0 and float(waited) > 0.5, (counted, waited)
