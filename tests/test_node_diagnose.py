"""`swarmtui diagnose` and node.diagnose: realistic fixtures of every era, ugly input, bad input."""

from __future__ import annotations

import gzip
import importlib.util
import io
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

import swarmtui.node.diagnose as dg
from swarmtui.node.diagnose import (EVENT_TRIGGERS, LAST_ONLY_NEEDLES, MATCH, MAX_LINE, PARSE, SCAN_NEEDLES,
                                    Diagnoser)
from swarmtui.node.logparse import RoundEvent, parse_all
from swarmtui.node.signatures import Catalogue
from swarmtui.node.text import sanitize

FIX = Path(__file__).parent / "fixtures" / "node"
ROOT = Path(__file__).resolve().parent.parent
PEER = "QmYii94drSM2nDZ8BAbyzG2EHzC41ko5X1Xt1NcWvv3Xb6"


def swarmtui(*args: str, stdin: bytes | None = None, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "swarmtui", *args], input=stdin, capture_output=True, timeout=60,
                          cwd=cwd)


def diagnose_files(*names: str):
    d = Diagnoser()
    for name in names:
        with open(FIX / name, "rb") as f:
            d.read(f, name)
    return d.finish()


def reference(*names: str):
    """The slow path: every segment of every line through the parser and the matcher."""
    d = Diagnoser()
    for name in names:
        data = (FIX / name).read_bytes() if not isinstance(name, Path) else name.read_bytes()
        lines = data.split(b"\n")
        if lines and lines[-1] == b"":
            lines.pop()
        for i, raw in enumerate(lines, 1):
            for piece in raw.decode("utf-8", "replace").split("\r"):
                if piece:
                    d.feed_text(sanitize(piece)[:MAX_LINE], str(name), i)
    return d.finish()


def summary(rep):
    return (rep.era, rep.peer_id, rep.animal_name, rep.first_round, rep.last_round, rep.skipped, rep.rounds_completed,
            [(d.id, d.line) for d in rep.detections])


# ---------------------------------------------------------------- what each era's output shows

def test_hivemind_terminal_capture():
    rep = diagnose_files("hivemind_console.txt")
    assert rep.era == "hivemind" and rep.peer_id == PEER and rep.animal_name == "dormant toothy bat"
    assert (rep.first_round, rep.last_round, rep.skipped) == (329, 331, [330])
    assert rep.last_progress["step"] == 17 and rep.last_progress["round"] == 331 and rep.last_progress["stage"] == 1
    assert rep.last_rewards["reward"] == 0.75
    ids = [d.id for d in rep.detections]
    # Every login wait of this capture ends on the next line (Found userData.json, API key is
    # activated): the script always prints the wait first, so none of them is a detection.
    assert "login-waiting" not in ids
    for want in ("browser-open-failed", "pip-yanked-version", "peer-already-registered", "skipped-round",
                 "dht-ipc-error", "oom-killed", "script-error-trap"):
        assert want in ids
    assert "python-traceback" not in ids


def test_rgym_launcher_log():
    rep = diagnose_files("rgym_swarm_launcher.log")
    assert rep.era == "rgym" and rep.peer_id == PEER
    assert (rep.first_round, rep.last_round, rep.skipped, rep.rounds_completed) == (39510, 39513, [39511], 2)
    got = [(d.id, d.line) for d in rep.detections]
    assert ("chain-submit-transient", 19) in got
    assert ("game-run-exception", 36) in got and ("cuda-oom", 40) in got
    assert "python-traceback" not in [d.id for d in rep.detections]   # every traceback is explained


def test_genrl_swarm_and_codezero_and_training_log():
    assert diagnose_files("genrl_swarm_console.txt").era == "genrl-swarm"
    cz = diagnose_files("codezero_swarm_launcher.log")
    assert cz.era == "codezero" and cz.animal_name == "dormant toothy bat"
    assert [d.id for d in cz.detections] == ["ollama-error", "ollama-error"]
    tl = diagnose_files("training_dormant_toothy_bat.log")
    assert (tl.first_round, tl.last_round) == (1234, 1235) and [d.id for d in tl.detections] == ["hf-push-failed"]


def test_yarn_log_and_startup_failures():
    y = diagnose_files("yarn.log")
    assert [(d.id, d.line) for d in y.detections] == [("login-port-in-use", 7), ("register-peer-failed", 10)]
    s = diagnose_files("startup_failures.log")
    assert [d.id for d in s.detections] == [
        "new-identity-generated", "p2pd-startup-timeout", "identity-taken", "p2pd-bootstrap-failed",
        "testnet-unreachable", "mps-oom", "p2pd-socket-lost", "hydra-startup-failure", "dht-ipc-error",
        "dht-ipc-error", "group-kill-failed", "browser-open-failed"]
    # No round and no Hello, but the Hydra traceback runs through rgym_exp/runner/swarm_launcher.py.
    assert s.era == "rgym" and s.peer_id is None and s.first_round is None


ALL_FIXTURES = sorted(p.name for p in FIX.iterdir() if p.suffix in (".log", ".txt"))


@pytest.mark.parametrize("name", ALL_FIXTURES)
def test_fast_scan_sees_what_the_line_by_line_path_sees(name):
    fast, slow = diagnose_files(name), reference(name)
    assert summary(fast) == summary(slow)
    assert everything(fast) == everything(slow)


def test_fast_scan_on_generated_mixed_log(tmp_path):
    spec = importlib.util.spec_from_file_location("bench_diagnose", ROOT / "benchmarks" / "bench_diagnose.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    path = tmp_path / "mixed.log"
    n = bench.generate(path, 20_000, seed=3)
    d = Diagnoser()
    with open(path, "rb") as f:
        d.read(f, str(path))
    fast = d.finish()
    assert fast.lines == n
    slow = reference(path)
    assert summary(fast) == summary(slow)
    assert fast.last_rewards == slow.last_rewards
    assert fast.last_progress == slow.last_progress
    assert everything(fast) == everything(slow)


def everything(rep):
    """The whole report, but the per-file byte/line counts (the reference path reads no files)."""
    out = rep.to_dict()
    del out["files"], out["lines"]
    return out


def parser_events(raw: bytes) -> list:
    """What the line-by-line path makes of one physical line."""
    out = []
    for piece in raw.decode("utf-8", "replace").split("\r"):
        if piece:
            out += parse_all(sanitize(piece)[:MAX_LINE])
    return out


def fast_round_event(raw: bytes):
    """The event diagnose's round-line shortcut builds for one line, or None when it leaves the line alone."""
    m = dg._FAST_ROUND.fullmatch(raw)
    if m is None:
        return None
    d = Diagnoser()
    got = []
    d._round = lambda ev, name, lineno: got.append(ev)
    d._fast_round(m, "x", 1)
    assert len(got) == 1
    return got[0]


_H = b"[2025-10-26 23:30:27,852][genrl.logging_utils.global_defs]"
_C = b"INFO:hivemind_exp.trainer.hivemind_grpo_trainer:dormant toothy bat:"
# (line, whether the shortcut takes it): its kinds, headers, emoji and \r\n endings, and lines
# that look alike but must go to the parser (it reads them differently, or they need the matcher).
TRICKY_ROUND_LINES = [
    (_H + b"[INFO] - Starting round: 39512/1000000.", True),
    (_H + b"[INFO] - Starting round: 39512/1000000", True),
    (_H + b"[WARN] - \xf0\x9f\x90\x9d Joining round: 7", True),                       # WARN -> WARNING
    (_H + b"[INFO] - Already finished round: 7. Next check in 900s.", True),
    (_H + b"[INFO] - Already finished round: 7. Next check in 2.50s.\r", True),
    (b"[2025-10-26 23:30:27,852][a b[c][DEBUG] - Starting new round: 3", True),       # odd logger
    (_C + b"\xf0\x9f\x93\x88 Training round: 1 stage: 0\r", True),
    (_C + b"\xf0\x9f\x93\x89 Finished training round: 1 stage: 2", True),
    (_C + b"\xf0\x9f\x90\x9d Joining round: 0012 starting at stage: 01", True),
    (b"WARNING:hivemind_exp.trainer.hivemind_grpo_trainer:Finished training round: 2 stage: 2", True),
    (b"[dormant_toothy_bat] 2025-07-20 10:00:00,000 INFO: Starting round: 1234/1000000.", True),
    (b"ERROR:x:Joining round: 5", True),            # the regex takes it; the scan never offers it (rror)
    (b"[2025-10-26 23:30:27,852][Could not fetch round and stage][INFO] - Joining round: 5", True),
    (b"[2025-10-26 23:30:27,852][a]b][INFO] - Joining round: 5", False),             # no Hydra header
    (_H + b"[INFO] - Starting round: 5/10. and more", False),
    (_H + b"[INFO] - Joining round: 5 starting at stage: 1 Joining round: 6 starting at stage: 2", False),
    (_H + b"[INFO] - Joining round: 5 starting at stage: x", False),
    (_H + b"[INFO] - Already finished round: 7. Next check in 5..0s.", False),
    (_H + b"[INFO] - Already finished round: 7. Next check in .5s.", False),
    (_H + b"[INFO] - \xf0\x9f\x90\xb1 Joining round: 5", False),                       # another emoji
    (_H + b"[INFO] - Joining round: \xef\xbc\x95", False),                               # a fullwidth 5
    (_H + b"[INFO] - Joining round: 1234567890123456789", False),
    (_H + b"[INFO] -  Joining round: 5", False),
    (_H + b"[INFO] - Joining round: 5\rJoining round: 6", False),
    (_H + b"[INFO] - Joining round: 5\t", False),
    (b"\x1b[32mINFO\x1b[0m:x:Joining round: 5", False),
    (b"INFO:x:\xff Joining round: 5", False),
    (b"INFO:" + b"x" * 201 + b":Joining round: 5", False),                          # too long a logger
    (b"Apr 04 07:38:41.041 [INFO] Joining round: 5", False),                        # hivemind's own header
    (b"Starting round: 5/10.", False),                                              # no header
    (b"INFO:x:Submitting winners for round 5: []", False),
]


def test_round_shortcut_builds_exactly_the_parsers_event(tmp_path):
    spec = importlib.util.spec_from_file_location("bench_diagnose", ROOT / "benchmarks" / "bench_diagnose.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    bench.generate(tmp_path / "mixed.log", 20_000, seed=5)
    lines = [raw for raw, _ in TRICKY_ROUND_LINES]
    for path in [tmp_path / "mixed.log", *(FIX / n for n in ALL_FIXTURES)]:
        lines += path.read_bytes().split(b"\n")
    taken = 0
    for raw in lines:
        ev = fast_round_event(raw)
        if ev is not None:
            taken += 1
            assert parser_events(raw) == [ev] and type(ev) is RoundEvent, raw
    assert taken > 1000
    for raw, want in TRICKY_ROUND_LINES:
        assert (fast_round_event(raw) is not None) == want, raw


def test_tricky_round_lines_report_what_the_line_by_line_path_reports(tmp_path):
    rng = random.Random(11)
    lines = [raw for raw, _ in TRICKY_ROUND_LINES]
    rng.shuffle(lines)
    body = []
    for i, raw in enumerate(lines):
        body += [_H + b"[INFO] - \xf0\x9f\x90\x9d Joining round: %d" % (100 + 2 * i), raw,
                 _H + b"[INFO] - Already finished round: %d. Next check in 5.0s." % (100 + 2 * i)]
        if i % 5 == 0:
            body += [b"Traceback (most recent call last):", b'  File "x.py", line 1, in <module>',
                     _H + b"[INFO] - Starting round: %d/1000000." % (101 + 2 * i), b"ValueError: odd"]
    path = tmp_path / "tricky.log"
    path.write_bytes(b"\n".join(body) + b"\n")
    d = Diagnoser()
    with open(path, "rb") as f:
        d.read(f, str(path))
    fast = d.finish()
    assert fast.lines == len(body)
    assert everything(fast) == everything(reference(path))


def test_scan_needles_cover_every_catalogue_needle_and_event_trigger():
    scan = [n for n, _ in SCAN_NEEDLES]
    for needle in Catalogue.load().needles():
        assert any(s in needle for s in scan), needle
    for trig in EVENT_TRIGGERS:
        assert any(s in trig for s, flag in SCAN_NEEDLES if flag & PARSE) or \
            any(s in trig for s, _ in LAST_ONLY_NEEDLES), trig
    assert all(flag & (MATCH | PARSE) for _, flag in SCAN_NEEDLES)


def test_chunk_boundaries_do_not_matter(monkeypatch):
    import swarmtui.node.diagnose as dg

    whole = summary(diagnose_files("rgym_swarm_launcher.log", "hivemind_console.txt"))
    monkeypatch.setattr(dg, "CHUNK", 97)
    assert summary(diagnose_files("rgym_swarm_launcher.log", "hivemind_console.txt")) == whole


def test_megabyte_lines_and_invalid_utf8():
    body = (b"x" * 2_000_000 + b" Daemon failed to start in 15.0 seconds\n"   # the match is past the 16 KB head
            + b"\xff\xfe\x80 Exception: Failed to connect to Gensyn Testnet \xc3\n"
            + b"y" * 3_000_000)                                                 # a final line without newline
    d = Diagnoser()
    d.read(io.BytesIO(body), "big")
    rep = d.finish()
    assert rep.lines == 3
    assert [(x.id, x.line) for x in rep.detections] == [("testnet-unreachable", 2)]


# ---------------------------------------------------------------- the command

def test_cli_human_output():
    out = swarmtui("diagnose", str(FIX / "rgym_swarm_launcher.log"))
    assert out.returncode == 0, out.stderr
    lines = out.stdout.decode().splitlines()
    assert lines[0].startswith("read ") and "(41 lines)" in lines[0]
    assert lines[1] == "era         RGym (v0.5.2–v0.6)"
    assert lines[2] == f"peer        {PEER} (dormant toothy bat)"
    assert lines[3] == "rounds      39510 → 39513, 2 completed, 1 skipped (39511)"
    det = [ln for ln in lines if ln.startswith(str(FIX))]
    assert det[0] == (f"{FIX / 'rgym_swarm_launcher.log'}:5  peer-already-registered  ignore — "
                      + Catalogue.load().get("peer-already-registered").hint)
    assert any(":36  game-run-exception  restart — " in ln for ln in det)


def test_cli_json_shape():
    out = swarmtui("diagnose", "--json", str(FIX / "hivemind_console.txt"), str(FIX / "yarn.log"))
    assert out.returncode == 0
    data = json.loads(out.stdout)
    assert data["era"] == "hivemind" and data["peer_id"] == PEER and data["animal_name"] == "dormant toothy bat"
    assert data["rounds"]["first"] == 329 and data["rounds"]["last"] == 331 and data["rounds"]["skipped"] == [330]
    det = data["detections"][0]
    assert set(det) >= {"id", "file", "line", "action", "hint", "text"}
    assert data["detections"][-1]["file"].endswith("yarn.log")
    assert [f["lines"] for f in data["files"]] == [39, 10]


def test_cli_json_nulls_when_unknown(tmp_path):
    p = tmp_path / "plain.log"
    p.write_text("hello\nworld\n")
    data = json.loads(swarmtui("diagnose", "--json", str(p)).stdout)
    assert data["era"] is None and data["peer_id"] is None and data["animal_name"] is None
    assert data["rounds"] == {"first": None, "last": None, "skipped": [], "completed": 0}
    assert data["detections"] == [] and data["last_progress"] is None


def test_cli_stdin():
    out = swarmtui("diagnose", "--json", "-", stdin=(FIX / "codezero_swarm_launcher.log").read_bytes())
    assert out.returncode == 0
    data = json.loads(out.stdout)
    assert data["era"] == "codezero" and data["files"][0]["file"] == "-"
    assert data["detections"][0]["file"] == "-"


@pytest.mark.parametrize("make, message", [
    (lambda d: d / "missing.log", "no such file"),
    (lambda d: d, "is a directory"),
    (lambda d: (d / "g.bin").write_bytes(os.urandom(4096) + b"\0" * 100) and d / "g.bin", "binary data"),
    (lambda d: (d / "l.log.gz").write_bytes(gzip.compress(b"Starting round: 1/2.\n")) and d / "l.log.gz", "gzip"),
])
def test_cli_bad_input_is_one_line_and_exit_2(tmp_path, make, message):
    path = make(tmp_path)
    out = swarmtui("diagnose", str(FIX / "yarn.log"), str(path))
    assert out.returncode == 2
    assert out.stdout == b""  # nothing printed for the good file either: inputs are checked first
    err = out.stderr.decode().strip().splitlines()
    assert len(err) == 1 and message in err[0] and "Traceback" not in out.stderr.decode()


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_cli_unreadable_file(tmp_path):
    p = tmp_path / "secret.log"
    p.write_text("x\n")
    p.chmod(0)
    out = swarmtui("diagnose", str(p))
    assert out.returncode == 2 and b"cannot be read" in out.stderr


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_diagnose_and_identity_on_a_simulated_run(tmp_path):
    """A real simulated node (bash + python + login server) crashes with CUDA OOM; diagnose its
    terminal output and logs, and check the peer id against `identity` on its new swarm.pem."""
    import selectors
    import signal
    import time

    sim = pytest.importorskip("swarmtui.sim")
    root = sim.create_checkout(tmp_path / "rl-swarm", "rgym", scenario="cuda-oom", speed=600, port=_free_port(),
                               login="present")
    env = dict(os.environ, PATH=f"{root / '.venv' / 'bin'}{os.pathsep}{os.environ['PATH']}")
    proc = subprocess.Popen(["bash", "run_rl_swarm.sh"], cwd=root, env=env, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    out = b""
    try:
        proc.stdin.write(b"N\n\n\n\n")
        proc.stdin.close()
        sel = selectors.DefaultSelector()
        sel.register(proc.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and b"wandb: Find logs at" not in out:
            if sel.select(0.2):
                chunk = os.read(proc.stdout.fileno(), 65536)
                if not chunk:
                    break
                out += chunk
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # the session we started, nothing else
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)
    capture = tmp_path / "capture.txt"
    capture.write_bytes(out)
    logs = sorted((root / "logs").glob("*.log"))
    res = swarmtui("diagnose", "--json", str(capture), *map(str, logs))
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    ids = [d["id"] for d in data["detections"]]
    assert "cuda-oom" in ids and "game-run-exception" in ids, out.decode(errors="replace")[-2000:]
    assert data["era"] == "rgym" and data["rounds"]["first"] is not None
    ident = json.loads(swarmtui("identity", "--json", str(root)).stdout)
    assert ident["pem_state"] == "ok"
    assert data["peer_id"] == ident["peer_id"] and data["animal_name"] == ident["animal_name"]
