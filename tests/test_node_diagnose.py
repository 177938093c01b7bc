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


# ---------------------------------------------------------------- era and name from the lines alone

@pytest.mark.parametrize("name, era, animal", [
    ("capture_hivemind_killed.txt", "hivemind", None),          # the module in bash's Killed line
    ("capture_hivemind_tag.txt", "hivemind", "gentle tawny bat"),  # the trainer's logger tag
    ("capture_hivemind_prompts.txt", "hivemind", None),         # v0.2-v0.4 prompts and >> lines
    ("capture_genrl_swarm_script.txt", "genrl-swarm", None),    # v0.5.0-v0.5.1 clones genrl-swarm
    ("capture_rgym_hydra.txt", "rgym", None),                   # a traceback through rgym_exp/
    ("capture_rgym_prg.txt", "rgym", None),                     # the v0.6 Prediction Market prompt
    ("capture_codezero_ollama.txt", "codezero", None),          # v0.7's ollama steps, code-gen-swarm.yaml
    ("capture_hydra_only.txt", "rgym", None),                   # only Hydra's header: v0.5+, weakly
    ("hivemind_v044_console.txt", "hivemind", "gentle tawny bat"),
    ("hivemind_v044_swarm.log", "hivemind", "gentle tawny bat"),
])
def test_era_and_name_come_from_the_lines_themselves(name, era, animal):
    rep = diagnose_files(name)
    assert (rep.era, rep.animal_name) == (era, animal)
    assert summary(rep) == summary(reference(name))      # the line-by-line path agrees


def test_strong_era_evidence_wins_over_weak_and_the_last_wins():
    # A v0.5+ Hydra header says "rgym" only until a line names the era itself.
    rep = diagnose_files("capture_hydra_only.txt", "capture_codezero_ollama.txt", "capture_hydra_only.txt")
    assert rep.era == "codezero"
    # A capture that spans an upgrade ends in the newer era.
    assert diagnose_files("capture_hivemind_killed.txt", "capture_rgym_prg.txt").era == "rgym"


def test_a_genrl_swarm_checkouts_own_hivemind_exp_files_do_not_make_it_hivemind(tmp_path):
    # v0.5.0-v0.5.1 keep hivemind_exp/ (chain_utils, name_utils): a path into it names no era.
    log = tmp_path / "capture.txt"
    log.write_bytes((FIX / "capture_genrl_swarm_script.txt").read_bytes()
                    + b'  File "/home/u/rl-swarm/hivemind_exp/chain_utils.py", line 20, in <module>\r\n')
    d = Diagnoser()
    with open(log, "rb") as f:
        d.read(f, str(log))
    assert d.finish().era == "genrl-swarm"


def test_hello_beats_a_tag_and_a_training_log_names_its_animal_by_file_name(tmp_path):
    rep = diagnose_files("capture_hivemind_tag.txt", "hivemind_console.txt")
    assert rep.animal_name == "dormant toothy bat"          # the Hello line, not the tag seen first
    log = tmp_path / "training_keen_singing_cow.log"
    log.write_text("[keen_singing_cow] 2025-07-20 10:00:00,000 INFO: Starting round: 1234/1000000.\n")
    d = Diagnoser()
    with open(log, "rb") as f:
        d.read(f, str(log))
    assert d.finish().animal_name == "keen singing cow"


def test_hivemind_file_format_with_logger_tag_is_parsed():
    rep = diagnose_files("hivemind_swarm.log")
    # 🐝 Joining round: 40 … and 📈 Training round: 40 stage: 0 carry the tag before their line number.
    assert (rep.first_round, rep.last_round) == (40, 40)
    assert rep.last_progress["stage"] == 0


# ---------------------------------------------------------------- login waits that lasted

def test_a_login_wait_is_one_only_when_nothing_ends_it_soon():
    rep = diagnose_files("login_waits.txt")
    # Line 1 (found at once) and lines 4-5 (the key, activated on line 6) were no waits; the
    # second start's wait on line 10 never ended.
    assert [(d.id, d.line) for d in rep.detections] == [("login-waiting", 10)]
    assert summary(rep) == summary(reference("login_waits.txt"))


# ---------------------------------------------------------------- a checkout folder

def _transcript(root: Path, run: int, data: bytes) -> Path:
    from swarmtui import paths

    runs = paths.node_state_dir(root) / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    path = runs / f"run-{run:06d}.log"
    path.write_bytes(data)
    return path


def test_cli_checkout_reads_its_logs_and_swarmtuis_transcripts_in_time_order(tmp_path):
    from node_checkouts import make_checkout

    root = make_checkout(tmp_path / "n064", "hivemind")
    (root / "logs").mkdir()
    (root / "logs" / "swarm.log").write_bytes((FIX / "hivemind_v044_swarm.log").read_bytes())
    # Two runs as swarmtui's pty saw them: the OOM kill and the p2pd timeout exist only here.
    first = _transcript(root, 1, (FIX / "hivemind_v044_console.txt").read_bytes()
                        + (FIX / "capture_hivemind_killed.txt").read_bytes())
    second = _transcript(root, 2, b"\x1b[32m>> Good luck in the swarm!\x1b[0m\r\n"
                         + (FIX / "startup_failures.log").read_bytes().split(b"\n")[1] + b"\r\n")
    os.utime(first, (1_000_000, 1_000_000))
    os.utime(second, (2_000_000, 2_000_000))
    os.utime(root / "logs" / "swarm.log", (3_000_000, 3_000_000))
    env = dict(os.environ)
    res = subprocess.run([sys.executable, "-m", "swarmtui", "diagnose", "--json", str(root)], capture_output=True,
                         timeout=60, env=env, cwd=ROOT / "tests")
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    assert [f["file"] for f in data["files"]] == [str(first), str(second), str(root / "logs" / "swarm.log")]
    got = {d["id"]: (d["file"], d["line"]) for d in data["detections"]}
    assert got["oom-killed"][0] == str(first) and got["p2pd-startup-timeout"] == (str(second), 2)
    lines = first.read_bytes().split(b"\n")
    assert b"Killed" in lines[got["oom-killed"][1] - 1]
    assert data["era"] == "hivemind" and data["animal_name"] == "gentle tawny bat"
    human = swarmtui("diagnose", str(root), cwd=ROOT / "tests")
    assert f"{first}:{got['oom-killed'][1]}  oom-killed" in human.stdout.decode()


def test_cli_checkout_names_the_animal_of_the_peer_id_from_its_own_word_lists(tmp_path):
    from node_checkouts import make_checkout

    from swarmtui.node.identity import load_name_words
    from swarmtui.node.peerid import animal_name

    root = make_checkout(tmp_path / "n1", "rgym")
    (root / "logs").mkdir()
    (root / "logs" / "swarm_launcher.log").write_text(
        f"[2025-10-26 23:29:05,852][genrl.logging_utils.global_defs][INFO] - Peer ID [{PEER}] is already "
        "registered! Continuing.\n")
    data = json.loads(swarmtui("diagnose", "--json", str(root)).stdout)
    assert data["peer_id"] == PEER
    assert data["animal_name"] == animal_name(PEER, *load_name_words(root))


@pytest.mark.parametrize("make, message", [
    # `diagnose n064/logs`: the checkout, or the files in that folder; never n064/logs/logs/*.log
    (lambda d: (make_co(d / "n064"), d / "n064" / "logs")[1], "give the checkout ({d}/n064: its logs"),
    (lambda d: (d / "x").mkdir() or (d / "x" / "a.log").write_text("") or d / "x", "({d}/x/*.log)"),
    (lambda d: (d / "y").mkdir() or d / "y", "no rl-swarm checkout (no run_rl_swarm.sh) and no *.log files"),
    (lambda d: make_co(d / "empty"), "nothing to read yet"),
])
def test_cli_folders_say_what_to_give_instead(tmp_path, make, message):
    path = make(tmp_path)
    out = swarmtui("diagnose", str(path))
    assert out.returncode == 2
    err = out.stderr.decode().strip().splitlines()
    assert len(err) == 1 and message.format(d=tmp_path) in err[0], err
    assert "logs/logs" not in err[0]


def make_co(root: Path) -> Path:
    from node_checkouts import make_checkout

    make_checkout(root, "hivemind")
    (root / "logs").mkdir(exist_ok=True)
    return root


def test_repeated_already_finished_lines_are_skipped_without_changing_the_report(tmp_path, monkeypatch):
    # genrl repeats "Already finished round: R" while it waits for the chain (issue 16: diagnose
    # within 3x of grep); the fast path skips a repeat only when nothing else came in between.
    hdr = "[2025-10-26 23:30:27,852][genrl.logging_utils.global_defs][INFO] - "
    lines = []
    for r in (10, 11, 13):          # 12 is skipped: a detection the repeats must not hide or double
        lines += [hdr + f"Starting round: {r}/1000000."] + [hdr + f"Already finished round: {r}. Next check in {w}s."
                                                              for w in (5.0, 10.0, 20.0)]
        lines.append(hdr + "Exception occurred during game run.")
        lines += [hdr + f"Already finished round: {r}. Next check in 5.0s."] * 2
    path = tmp_path / "swarm_launcher.log"
    path.write_text("\n".join(lines) + "\n")
    reports, rounds = [], []
    for skip in (False, True):
        monkeypatch.setattr(Diagnoser, "skip_repeats", skip)
        d = Diagnoser()
        calls = []
        real = d._round
        monkeypatch.setattr(d, "_round", lambda ev, name, n: (calls.append(n), real(ev, name, n)))
        with open(path, "rb") as f:
            d.read(f, str(path))
        reports.append(everything(d.finish()))
        rounds.append(len(calls))
    assert reports[0] == reports[1] == everything(reference(path))
    assert rounds[1] < rounds[0]
    assert [d["id"] for d in reports[1]["detections"]].count("skipped-round") == 1


def test_era_evidence_searching_only_after_the_best_so_far_picks_what_a_full_search_picks():
    # _era_evidence looks for each token only after the best position found so far (issue 16:
    # speed); the era it picks must be the one a full search of every token picks.
    import random

    def full_search(d, block):
        best = weak = None
        for token, era, strong in dg.ERA_TOKENS:
            if not strong and d._era_strong is not None:
                continue
            pos = block.rfind(token)
            if pos < 0:
                continue
            if strong:
                if era == "hivemind" and (d._era_strong == "genrl-swarm" or (best and best[1] == "genrl-swarm")):
                    continue
                if best is None or pos > best[0]:
                    best = (pos, era)
            elif weak is None or pos > weak[0]:
                weak = (pos, era)
        return ("strong", best[1]) if best else ("weak", weak[1]) if weak else None

    rng = random.Random(16)
    tokens = [t for t, _, _ in dg.ERA_TOKENS] + [b"nothing here", b"genrl", b"hivemind"]
    for _ in range(400):
        block = b"\n".join(rng.choice(tokens) for _ in range(rng.randint(0, 6)))
        for prior in (None, "genrl-swarm", "rgym"):
            d = Diagnoser()
            d._era_strong = prior
            want = full_search(d, block)
            d._era_evidence(block, len(block))
            if want is None:
                assert d._era_strong == prior and d._era_weak is None
            elif want[0] == "strong":
                assert d._era_strong == want[1], (block, prior)
            else:
                assert d._era_weak == want[1] and d._era_strong is None, (block, prior)


def test_memmem_and_python_searches_mark_exactly_the_lines_holding_the_needle():
    """bytesearch: both searches against the plain definition (split into lines, `in`), on random
    blocks built to put hits at a block's start and end, several in a line, across the `size`
    cut and in a last line with no newline."""
    from swarmtui.node import bytesearch

    if sys.platform.startswith("linux"):
        assert bytesearch.MEMMEM is not None, "glibc's memmem not loaded: diagnose runs its slow scan"
    searches = [s for s in (bytesearch.MEMMEM, bytesearch.PYTHON) if s is not None]
    rng = random.Random(16)
    needles = [b"rror", b"round", b"No such process", b"ab", b"x" * 40]
    for _ in range(300):
        parts = [rng.choice([b"\n", b"a", b"b", b"rro", b"r", b"round", b"ror", b"No such process", b"No such proces",
                             b"xxxxxxxxxx", b"\r", b"\xf0\x9f\x90\x9d"]) for _ in range(rng.randint(0, 60))]
        block = b"".join(parts)
        size = rng.randint(0, len(block))
        for needle in needles:
            want: dict[int, int] = {}
            start = 0
            for line in block[:size].split(b"\n"):
                if needle in line:
                    want[start] = 4
                start += len(line) + 1
            for search in searches:
                got = {0: 1} if rng.random() < 0.3 else {}      # flags already there are or-ed into
                before = dict(got)
                search(block, size, needle, got, 4)
                expect = {k: before.get(k, 0) | want.get(k, 0) for k in set(before) | set(want)}
                assert got == expect, (search, block, size, needle)


def test_diagnose_reports_the_same_with_either_search(tmp_path):
    """The whole report of the generated mixed log (every era, failures, tracebacks) with the
    memmem search and with the bytes.find one, chunk edges included."""
    from swarmtui.node import bytesearch

    spec = importlib.util.spec_from_file_location("bench_diagnose", ROOT / "benchmarks" / "bench_diagnose.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    path = tmp_path / "mixed.log"
    bench.generate(path, 20_000, seed=11)
    reports = []
    for search in (bytesearch.MEMMEM, bytesearch.PYTHON):
        if search is None:
            continue
        d = Diagnoser()
        d._search = search
        with open(path, "rb") as f:
            d.read(f, str(path))
        reports.append(d.finish())
    assert reports[0].detections and reports[0].rounds_completed
    assert all(summary(r) == summary(reports[0]) and everything(r) == everything(reports[0]) for r in reports)
