"""`swarmtui supervise` with odd or exposed files: a FIFO at swarm.pem blocks the start with a
problem instead of hanging it, and secrets readable by others are said at start-up."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time

import pytest

from node_checkouts import libp2p_key_bytes, write_pem
from swarmtui.sim import create_checkout
from test_sim_support import free_port, kill_leftovers, ours

pytestmark = [pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux process semantics"),
              pytest.mark.timeout(90)]

FAST = """\
[restart]
stop_timeout = "2s"
term_timeout = "2s"
backoff_initial = "1s"
[watch]
min_free_disk_mb = 1
snapshot_interval = "1s"
"""


def env() -> dict:
    e = {k: v for k, v in os.environ.items() if not k.startswith("SWARMTUI_SIM_") and k != "SWARMTUI_RUN_ID"}
    e["PYTHONUNBUFFERED"] = "1"
    return e


@pytest.fixture
def node(tmp_path):
    root = create_checkout(tmp_path / "node", "codezero", scenario="healthy", speed=1000.0, port=free_port(),
                           login="present")
    cfg = tmp_path / "config.toml"
    cfg.write_text(FAST)
    cfg.chmod(0o600)
    procs: list[subprocess.Popen] = []
    yield root, cfg, procs
    for p in procs:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    kill_leftovers(root)


def run_until(root, cfg, procs, marker: bytes, timeout: float = 30.0) -> tuple[str, str, int]:
    """Start supervise, read until `marker` appears (or time runs out), stop it with SIGTERM."""
    p = subprocess.Popen([sys.executable, "-m", "swarmtui", "supervise", str(root), "--config", str(cfg)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env(), start_new_session=True)
    procs.append(p)
    out = b""
    end = time.monotonic() + timeout
    while marker not in out and time.monotonic() < end and p.poll() is None:
        r, _, _ = select.select([p.stdout], [], [], 0.2)
        if r:
            out += os.read(p.stdout.fileno(), 65536)
    p.send_signal(signal.SIGTERM)
    rest, err = p.communicate(timeout=30)
    return (out + rest).decode(), err.decode(), p.returncode


def test_fifo_at_swarm_pem_blocks_the_start_without_hanging(node):
    root, cfg, procs = node
    pem = root / "swarm.pem"
    if os.path.lexists(pem):
        os.unlink(pem)
    os.mkfifo(pem)
    started = time.monotonic()
    text, err, rc = run_until(root, cfg, procs, b"needs-user")
    assert "needs-user" in text, text + err
    assert time.monotonic() - started < 25
    assert "cannot start:" in text and "FIFO" in text
    assert rc == 0 and "Traceback" not in err + text
    assert os.path.exists(pem) and ours(root) == []


def test_exposed_secrets_are_said_at_start_up(node):
    root, cfg, procs = node
    pem = root / "swarm.pem"
    if os.path.lexists(pem):
        os.unlink(pem)
    write_pem(pem, libp2p_key_bytes(), mode=0o644)
    cfg.write_text(FAST + '[answers]\nhf_token = "hf_supervise_SECRET"\n')
    cfg.chmod(0o644)
    text, err, rc = run_until(root, cfg, procs, b" state      running")
    assert rc == 0 and "Traceback" not in err + text, err
    assert "swarm.pem ok but readable by others (mode 0644)" in text
    assert "swarm.pem ok:" not in text
    assert f"PROBLEM {pem} is readable by others (mode 0644); fix: chmod 600 {pem}" in text
    assert f"[answers] hf_token and is readable by others (mode 0644): chmod 600 {cfg}" in text
    assert "hf_supervise_SECRET" not in text
