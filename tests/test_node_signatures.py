"""node.signatures: every catalogue id, a positive and a near miss; multi-line conditions."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from swarmtui.node.signatures import Catalogue, Matcher

CAT = Catalogue.load()
DOC = Path(__file__).resolve().parents[1].parent / "shared" / "docs" / "signatures.md"
SIGNATURES_MD_IDS = [
    "exited", "script-error-trap", "p2pd-startup-timeout", "p2pd-bootstrap-failed", "identity-taken", "dht-ipc-error",
    "dht-coroutine-error", "p2pd-socket-lost", "batch-unbound", "oom-killed", "cuda-oom", "mps-oom",
    "game-run-exception", "training-error-continuing", "hydra-startup-failure", "testnet-unreachable",
    "register-peer-failed", "login-port-in-use", "login-waiting", "ollama-error", "new-identity-generated",
    "chain-submit-transient", "peer-already-registered", "python-traceback", "silence", "stalled", "skipped-round",
    "manual", "orphan",
]
GD = "[2025-10-26 23:30:27,852][genrl.logging_utils.global_defs]"

# id -> (lines that must produce it (the last line carries it), lines that must not)
SINGLE = {
    "oom-killed": (["./run_rl_swarm.sh: line 301: 48377 Killed                  python -m hivemind_exp.gsm8k.train_single_gpu",
                    "run_rl_swarm.sh: line 88: 1234 Killed: 9 python -m rgym_exp.runner.swarm_launcher"],
                   ["INFO: Killed 3 stale workers", "Terminated", "zsh: killed ./run_rl_swarm.sh"]),
    "disk-full": (["OSError: [Errno 28] No space left on device",
                   "OSError: [Errno 28] No space left on device: '/home/u/rl-swarm/logs/swarm_launcher.log'",
                   "ERROR: Could not install packages due to an OSError: [Errno 28] No space left on device",
                   "RuntimeError: [enforce fail at inline_container.cc:603] . PytorchStreamWriter failed writing file "
                   "data/3: file write failed",
                   "OSError: [Errno 122] Disk quota exceeded: '/home/u/rl-swarm/runs/checkpoint-40'",
                   "./run_rl_swarm.sh: line 190: echo: write error: No space left on device",
                   "Error: ENOSPC: no space left on device, write",
                   " 85%|████████▌ | 17/20 [13:46<03:05, 709.81s/it]OSError: [Errno 28] No space left on device"],
                  # inotify's ENOSPC is a watch limit, not a disk; and words about disks that are fine
                  ["OSError: [Errno 28] inotify watch limit reached",
                   "tail: inotify cannot be used, reverting to polling: No space left on device",
                   "Watchpack Error (watcher): Error: ENOSPC: System limit for number of file watchers reached, watch '/x'",
                   "OSError: [Errno 280] Something else", "Free space left on device: 12 GB",
                   "huggingface_hub: you have exceeded your monthly quota"]),
    "script-error-trap": ([">> An error was detected while running rl-swarm. See /home/u/rl-swarm/logs for full logs."],
                          [">> An error was detected in your model answer (eval)", "Using Model: org/ErrorAnalysis-7B"]),
    "p2pd-startup-timeout": (["hivemind.p2p.p2p_daemon_bindings.utils.P2PDaemonError: Daemon failed to start in 15.0 seconds",
                              "P2PDaemonError: Daemon failed to start in 30.0 seconds"],
                             ['    raise P2PDaemonError(f"Daemon failed to start in {startup_timeout:.1f} seconds")',
                              "Daemon started in 15.0 seconds"]),
    "p2pd-bootstrap-failed": (["hivemind.p2p.p2p_daemon_bindings.utils.P2PDaemonError: Daemon failed to start: 2025/06/22 16:22:31 failed to connect to bootstrap peers",
                               "RuntimeError: DHTNode bootstrap failed: none of the initial_peers responded to a ping. (set ensure_bootstrap_success=False to ignore)"],
                              ["Connected to 3 bootstrap peers", "bootnodes: []"]),
    "identity-taken": (["hivemind.p2p.p2p_daemon_bindings.utils.P2PDaemonError: Identity from `/home/u/rl-swarm/swarm.pem` is already taken by another peer"],
                       ["May 16 20:05:00.339 [INFO] Checking that identity from `/x/swarm.pem` is not used by other peers"]),
    "p2pd-failed": (["hivemind.p2p.p2p_daemon_bindings.utils.P2PDaemonError: Daemon failed to start: listen tcp4 0.0.0.0:38331: bind: address in use"],
                    ["P2PDaemonError: Handler for protocol x already registered"]),
    "dht-ipc-error": (["Apr 04 07:38:41.041 [ERROR] [hivemind.dht.dht._run:131] [Errno 11] Resource temporarily unavailable",
                       "WARN:hivemind_exp.trainer.hivemind_grpo_trainer:dormant toothy bat:DHT IPC error: [Errno 35] Resource temporarily unavailable. Restarting training...",
                       "EOFError: Ran out of input", "Process DHT-1:"],
                      ["[Errno 11] Resource temporarily unavailable", "Process DHT-1 started", "EOFError: something else"]),
    "dht-coroutine-error": (["Oct 26 23:33:49.827 [ERROR] [hivemind.dht.dht._run_coroutine:267] Caught an exception when running a coroutine:"],
                            ["Running a coroutine"]),
    "p2pd-socket-lost": (["Apr 06 13:19:21.850 [ERROR] [hivemind.p2p.p2p_daemon_bindings.control.open_connection:62] Failed to connect to UNIX socket at /tmp/hivemind-p2pd-i12aq_D1-4U.sock",
                          "ConnectionRefusedError: [Errno 111] Connect call failed ('/tmp/hivemind-p2pd-i12aq_D1-4U.sock') Connection refused"],
                         ["ConnectionRefusedError: [Errno 111] Connection refused",
                          "curl: (7) Failed to connect to localhost port 3000: Connection refused"]),
    "batch-unbound": (["UnboundLocalError: cannot access local variable 'current_batch' where it is not associated with a value",
                       "UnboundLocalError: local variable 'current_batch' referenced before assignment"],
                      ["UnboundLocalError: local variable 'batch' referenced before assignment",
                       "    current_batch = send_to_device(current_batch, self.device)"]),
    "cuda-oom": (["torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.32 GiB. GPU 0 has a total capacity of 11.58 GiB",
                  "torch.cuda.OutOfMemoryError: Allocation failed"],
                 ["Using Model: someone/cuda-memory-efficient-ErrorAnalysis", "CUDA available: True, memory 24 GiB"]),
    "mps-oom": (["RuntimeError: MPS backend out of memory (MPS allocated: 15.05 GB, other allocations: 11.91 GB, max allowed: 27.20 GB)."],
                ["MPS backend available"]),
    "game-run-exception": ([GD + "[ERROR] - Exception occurred during game run."], ["Game run finished"]),
    "training-error-continuing": ([GD + "[INFO] - Error occurred during training, continuing...",
                                   GD + "[INFO] - Error occurred during evaluation, continuing...",
                                   GD + "[INFO] - Error with swarm payloads, continuing with local state: KeyError('x')"],
                                  [GD + "[INFO] - Training, continuing...", "No error occurred during training"]),
    "hydra-startup-failure": (["[2025-07-20 10:00:00,000][__main__][ERROR] - Error executing job with overrides: []"],
                              ["Executing job with overrides: []"]),
    "testnet-unreachable": (["Exception: Failed to connect to Gensyn Testnet"],
                            ["INFO:hivemind_exp.chain_utils:✅ Connected to Gensyn Testnet"]),
    "register-peer-failed": (["requests.exceptions.HTTPError: 502 Server Error: Bad Gateway for url: http://localhost:3000/api/register-peer",
                              "INFO:hivemind_exp.chain_utils:Registering peer failed with: fInvalidSignature"],
                             ["INFO:x:Registering self with peer ID: QmYii94drSM2nDZ8BAbyzG2EHzC41ko5X1Xt1NcWvv3Xb6",
                              "POST /api/register-peer 200 in 812ms"]),
    "login-port-in-use": (["Error: listen EADDRINUSE: address already in use :::3000"],
                          ["OSError: [Errno 98] Address already in use", "listening on :::3000"]),
    "login-waiting": ([">> Waiting for modal userData.json to be created...", "Waiting for API key to become activated...",
                       "Waiting for API key to be activated..."],
                      ["API key is activated! Proceeding...", "Found userData.json. Proceeding..."]),
    "ollama-error": ([GD + "[ERROR] - Error pulling model from ollama: qwen2.5-coder:1.5b-instruct",
                      "ollama._types.ResponseError: (status code: 502)"],
                     [GD + "[INFO] - pulling ollama model qwen2.5-coder", ">> Starting ollama server..."]),
    "new-identity-generated": (["May 16 20:05:00.339 [INFO] Generating new identity to be saved in `/home/u/rl-swarm/swarm.pem`"],
                               ["Generating new round"]),
    "chain-submit-transient": ([GD + "[ERROR] - Failed to submit to chain. This is most likely transient and will recover."],
                               [GD + "[INFO] - Submitted to chain."]),
    "peer-already-registered": (["INFO:hivemind_exp.chain_utils:Peer ID [QmYii94drSM2nDZ8BAbyzG2EHzC41ko5X1Xt1NcWvv3Xb6] is already registered! Continuing."],
                                ["Peer ID QmYii94drSM2nDZ8BAbyzG2EHzC41ko5X1Xt1NcWvv3Xb6 registered"]),
    "round-fetch-failing": ([GD + "[DEBUG] - Could not fetch round and stage: 503 Server Error. Next check in 5.0s."],
                            [GD + "[INFO] - Starting round: 5/1000000."]),
    "hf-push-failed": ([GD + "[INFO] - Failed to push model to the Hugging Face Hub. When you conclude training please try manually pushing it yourself."],
                       [GD + "[INFO] - pushing model to huggingface"]),
    "prg-game-error": ([GD + "[INFO] - Error playing PRG game, continuing with the next round"],
                       [GD + "[INFO] - Game 3 Round 2: Peer Qm placed bet of 1.00 tokens on choice - A"]),
    "payload-decode-skipped": ([GD + "[WARNING] - SKIPPING: Failed to decode value"], ["SKIPPING round"]),
    "pip-yanked-version": (["WARNING: The candidate selected for download or install is a yanked version: 'protobuf' candidate"],
                           ["Requirement already satisfied: protobuf"]),
    "browser-open-failed": (["./run_rl_swarm.sh: line 140: open: command not found",
                             ">> Failed to open http://localhost:3000. Please open it manually."],
                            [">> Successfully opened http://localhost:3000 in your default browser."]),
    "group-kill-failed": (["./run_rl_swarm.sh: line 61: kill: (-3664) - No such process"],
                          ["kill -- -3664", "ProcessLookupError: [Errno 3] No such process"]),
    "training-timed-out": (["INFO:x:dormant toothy bat:Training timed out!"], ["Training finished"]),
}
ENGINE_RAISED = {"exited", "trainer-exited", "silence", "stalled", "manual", "orphan", "skipped-round", "hangup",
                 "signal", "keeper-lost"}
MULTI_LINE = {"python-traceback", "python-module-missing"}  # and dht-ipc-error / chain-submit-transient have multi-line forms too


def feed_all(lines, matcher=None):
    m = matcher or Matcher()
    out = []
    for i, line in enumerate(lines, 1):
        out.extend(m.feed(line, "test", i))
    return out


def test_catalogue_has_every_documented_id():
    missing = [i for i in SIGNATURES_MD_IDS if i not in CAT]
    assert not missing
    if DOC.exists():  # the shared docs sit beside the checkout in the workspace
        documented = set(re.findall(r"^\| `([a-z0-9-]+)` \|", DOC.read_text(), re.M))
        assert documented and documented <= set(CAT.ids())


def test_every_id_is_covered_by_a_test_here():
    assert set(CAT.ids()) == set(SINGLE) | ENGINE_RAISED | MULTI_LINE


def test_every_signature_has_class_action_hint():
    for sig in CAT.signatures:
        assert sig.cls and sig.action and len(sig.hint) > 20, sig.id
        if sig.raised_by != "matcher":
            assert not sig.patterns and not sig.starts, sig.id
    assert CAT.get("chain-submit-transient").action == "ignore"
    assert CAT.get("peer-already-registered").benign
    assert CAT.get("skipped-round").action == "ignore"
    with pytest.raises(KeyError):
        CAT.get("no-such-id")


def test_engine_ids_can_be_turned_into_matches():
    m = CAT.match("silence", "no output for 1200 s", "pty", 0)
    assert (m.id, m.cls, m.action) == ("silence", "hang", "restart") and m.hint


@pytest.mark.parametrize("sig_id", sorted(SINGLE))
def test_positive(sig_id):
    positives, _ = SINGLE[sig_id]
    for line in positives:
        got = Matcher().feed(line, "pty", 7)
        assert [m.id for m in got] == [sig_id], line
        m = got[0]
        sig = CAT.get(sig_id)
        assert (m.cls, m.action, m.hint, m.source, m.line) == (sig.cls, sig.action, sig.hint, "pty", 7)
        assert m.text


@pytest.mark.parametrize("sig_id", sorted(SINGLE))
def test_near_miss(sig_id):
    _, negatives = SINGLE[sig_id]
    for line in negatives:
        assert [m.id for m in Matcher().feed(line)] == [], line


def test_glued_to_a_tqdm_bar():
    line = " 85%|████████▌ | 17/20 [13:46<03:05, 709.81s/it]Apr 04 07:38:41.041 [ERROR] [hivemind.dht.dht._run:131] [Errno 11] Resource temporarily unavailable"
    assert [m.id for m in Matcher().feed(line)] == ["dht-ipc-error"]


def test_benign_words_never_match():
    for line in ["Using Model: acme/ErrorAnalysis-7B", "Loading ErrorAnalysis dataset: 100%", "Connection refused",
                 "INFO:root:errors: 0, exceptions: 0", GD + "[INFO] - Already finished round: 5. Next check in 5.0s.",
                 "Requirement already satisfied: traceback2 in ./.venv"]:
        assert Matcher().feed(line) == [], line


def test_chain_submit_over_lines_and_its_traceback_is_explained():
    lines = [GD + "[ERROR] - Failed to submit to chain.", "This is most likely transient and will recover.",
             "There is no need to kill the program.", "If you encounter this error, please report it to Gensyn by",
             "filing a github issue here: https://github.com/gensyn-ai/rl-swarm/issues/ ", "including the full stacktrace.",
             "Traceback (most recent call last):", '  File "/x/manager.py", line 140, in _try_submit_to_chain',
             "    self.coordinator.submit_reward(",
             "requests.exceptions.ConnectionError: ... [Errno 111] Connection refused"]
    got = feed_all(lines)
    assert [(m.id, m.action, m.line) for m in got] == [("chain-submit-transient", "ignore", 1)]
    assert "most likely transient" in got[0].text


def test_failed_submit_without_the_reassurance_is_not_benign():
    got = feed_all([GD + "[ERROR] - Failed to submit to chain.", "something else", "x", "y", "z"])
    assert got == []


def test_unexplained_traceback_is_python_traceback_once():
    lines = ["all good", "", "", "", "", "", "", "", "", "",
             "Traceback (most recent call last):", '  File "x.py", line 3, in <module>', "    f()",
             "    ^^^", "ValueError: invalid literal for int() with base 10: 'x'", "after"]
    got = feed_all(lines)
    assert [(m.id, m.line, m.text) for m in got] == [
        ("python-traceback", 15, "ValueError: invalid literal for int() with base 10: 'x'")]


def test_chained_traceback_reported_once():
    lines = ["Traceback (most recent call last):", '  File "x.py", line 1, in <module>', "KeyError: 'a'", "",
             "During handling of the above exception, another exception occurred:", "",
             "Traceback (most recent call last):", '  File "x.py", line 3, in <module>', "RuntimeError: boom"]
    assert [m.id for m in feed_all(lines)] == ["python-traceback"]


def test_traceback_ending_in_a_known_exception_is_that_exception():
    lines = ["Traceback (most recent call last):",
             '  File "/x/hivemind/dht/dht.py", line 88, in __init__',
             '    raise P2PDaemonError(f"Daemon failed to start in {startup_timeout:.1f} seconds")',
             "hivemind.p2p.p2p_daemon_bindings.utils.P2PDaemonError: Daemon failed to start in 15.0 seconds"]
    assert [(m.id, m.line) for m in feed_all(lines)] == [("p2pd-startup-timeout", 4)]


def test_disk_full_traceback_is_disk_full_not_a_generic_traceback():
    # What a real write into a full disk raises in python (the ERR trap's line follows it).
    lines = ["Traceback (most recent call last):",
             '  File "/x/genrl/trainer/grpo_trainer.py", line 301, in save',
             "    torch.save(self.model.state_dict(), path)",
             "OSError: [Errno 28] No space left on device",
             ">> An error was detected while running rl-swarm. See /home/u/rl-swarm/logs for full logs."]
    assert [(m.id, m.line, m.cls, m.action) for m in feed_all(lines)] == [
        ("disk-full", 4, "resource", "needs-user"), ("script-error-trap", 5, "fatal", "restart")]


def test_hydra_failure_explains_its_traceback_but_the_cause_is_still_named():
    lines = ["[2025-07-20 10:00:00,000][__main__][ERROR] - Error executing job with overrides: []",
             "Traceback (most recent call last):", '  File "/x/swarm_launcher.py", line 40, in main',
             "hivemind.p2p.p2p_daemon_bindings.utils.P2PDaemonError: Daemon failed to start in 30.0 seconds"]
    assert [m.id for m in feed_all(lines)] == ["hydra-startup-failure", "p2pd-startup-timeout"]
    lines[-1] = "huggingface_hub.errors.RepositoryNotFoundError: 404 Client Error."
    assert [m.id for m in feed_all(lines)] == ["hydra-startup-failure"]


def test_blocking_io_error_is_dht_only_with_hivemind_frames():
    dht = ["Traceback (most recent call last):",
           '  File "/x/site-packages/hivemind/dht/dht.py", line 131, in _run',
           "BlockingIOError: [Errno 11] Resource temporarily unavailable"]
    assert [m.id for m in feed_all(dht)] == ["dht-ipc-error"]
    other = ["Traceback (most recent call last):", '  File "/usr/lib/python3.10/asyncio/selector_events.py", line 1, in x',
             "BlockingIOError: [Errno 11] Resource temporarily unavailable"]
    assert [m.id for m in feed_all(other)] == ["python-traceback"]


def test_sources_are_kept_apart():
    m = Matcher()
    assert m.feed("Traceback (most recent call last):", "logs/swarm_launcher.log", 1) == []
    assert m.busy("logs/swarm_launcher.log") and not m.busy("pty")
    assert m.feed("Exception: Failed to connect to Gensyn Testnet", "pty", 1)[0].id == "testnet-unreachable"
    got = m.feed("KeyError: 'x'", "logs/swarm_launcher.log", 2)
    assert [x.id for x in got] == ["python-traceback"]
    m.reset()
    assert not m.busy("logs/swarm_launcher.log")


def test_a_megabyte_line_is_fast():
    import time

    line = "x" * 1_000_000 + " Daemon failed to start in 15.0 seconds"
    t = time.perf_counter()
    got = Matcher().feed(line)
    assert time.perf_counter() - t < 0.5
    assert got[0].id == "p2pd-startup-timeout" and len(got[0].text) < 1000
    t = time.perf_counter()
    Matcher().feed("Identity from " * 70_000 + "!")
    Matcher().feed("Daemon failed to start: " * 40_000)
    assert time.perf_counter() - t < 1.0


def test_every_pattern_contains_a_needle_of_its_signature():
    # The prefilter is sound only if a line that matches a pattern contains one of the needles.
    for sig_id, (positives, _) in SINGLE.items():
        sig = CAT.get(sig_id)
        for line in positives:
            assert any(n in line for n in sig.needles), (sig_id, line)


# ---------------------------------------------------------------- python-module-missing (issue 13)
# The tracebacks are the interpreter's own: a package shaped like rl-swarm's entry modules
# (v0.5.2 ... main swarm_launcher.py begins `import os` / `import hydra`; v0.5.0's launcher is run
# as a script), run by this python, which has no hydra.


def _real_traceback(tmp_path, mode: str) -> list[str]:
    import subprocess
    import sys

    pkg = tmp_path / "rgym_exp" / "runner"
    pkg.mkdir(parents=True)
    (tmp_path / "rgym_exp" / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    body = {
        "module": "import os\n\nimport hydra_missing_for_the_test\n",
        "caught": ("import logging\n\ndef load():\n    try:\n        import flash_attn_missing_for_the_test\n"
                   "    except ImportError:\n        logging.exception('optional module')\n\nload()\n"),
    }[mode if mode != "script" else "module"]
    (pkg / "swarm_launcher.py").write_text(body)
    argv = ([sys.executable, str(pkg / "swarm_launcher.py")] if mode == "script"
            else [sys.executable, "-m", "rgym_exp.runner.swarm_launcher"])
    out = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    return out.stderr.splitlines() + [">> An error was detected while running rl-swarm. See /x/logs for full logs."]


@pytest.mark.parametrize("mode", ["module", "script"])
def test_a_module_missing_at_start_up_is_its_own_detection(tmp_path, mode):
    lines = _real_traceback(tmp_path, mode)
    assert lines[-2] == "ModuleNotFoundError: No module named 'hydra_missing_for_the_test'"
    got = feed_all(lines)
    assert [m.id for m in got] == ["python-module-missing", "script-error-trap"]
    m = got[0]
    assert (m.cls, m.action) == ("dependency", "needs-user")
    assert m.text == lines[-2] and m.line == len(lines) - 1
    assert "[launch] venv" in m.hint and ".venv/" in m.hint


def test_a_caught_and_logged_module_error_is_no_start_up_failure(tmp_path):
    lines = _real_traceback(tmp_path, "caught")
    assert any(line.startswith("ModuleNotFoundError: No module named 'flash_attn_missing") for line in lines)
    got = feed_all(lines)
    assert "python-module-missing" not in [m.id for m in got]
    assert [m.id for m in got] == ["python-traceback", "script-error-trap"]


def test_rl_swarms_own_entry_modules_outside_their_venv():
    # tests/fixtures/node/python_module_missing.txt: python's output for `python -m <entry>` in a
    # checkout of v0.4.4 (torch, via grpo_runner), v0.5.8, v0.6.4 and main (hydra), no venv.
    text = (Path(__file__).parent / "fixtures" / "node" / "python_module_missing.txt").read_text()
    sections = re.split(r"(?m)^### (\S+)\n", text)[1:]
    want = {"v0.4.4": "torch", "v0.5.8": "hydra", "v0.6.4": "hydra", "HEAD": "hydra"}
    assert dict(zip(sections[::2], [None] * len(want))).keys() == want.keys()
    for tag, body in zip(sections[::2], sections[1::2]):
        got = feed_all(body.splitlines() + [">> An error was detected while running rl-swarm. See /x/logs for full logs."])
        assert [m.id for m in got] == ["python-module-missing", "script-error-trap"], tag
        assert got[0].text == f"ModuleNotFoundError: No module named '{want[tag]}'", tag
