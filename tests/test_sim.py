"""The simulated checkout: layout, CLI, prompts on a pty vs a pipe, the traps, identity, login."""

from __future__ import annotations

import ast
import hashlib
import json
import os
import re
import stat
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import psutil
import pytest

from swarmtui.sim import ERAS, SCENARIOS, create_checkout, play_login
from tests.procs import running
from test_sim_support import Node, free_port, kill_leftovers, node_env, ours, strip

WORDS = json.loads((Path(__file__).resolve().parent.parent / "swarmtui/sim/data/name_words.json").read_text())

PROMPTS = {
    "testnet": ">> Would you like to connect to the Testnet? [Y/n] ",
    "swarm": ">> Which swarm would you like to join (Math (A) or Math Hard (B))? [A/b] ",
    "parameters": ">> How many parameters (in billions)? [0.5, 1.5, 7, 32, 72] ",
    "hf_push": ">> Would you like to push models you train in the RL swarm to the Hugging Face Hub? [y/N] ",
    "model": ">> Enter the name of the model you want to use in huggingface repo/name format, or press [Enter] "
             "to use the default model. ",
    "prediction_market": ">> Would you like your model to participate in the AI Prediction Market? [Y/n] ",
}
ERA_PROMPTS = {
    "hivemind": ["testnet", "swarm", "parameters", "hf_push"],
    "rgym": ["hf_push", "model", "prediction_market"],
    "codezero": ["hf_push", "model"],
}
ENTRY = {"hivemind": "hivemind_exp.gsm8k.train_single_gpu", "rgym": "rgym_exp.runner.swarm_launcher",
         "codezero": "code_gen_exp.runner.swarm_launcher"}
RED_LINE = "\x1b[31m>> An error was detected while running rl-swarm. See {root}/logs for full logs.\x1b[0m"


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "swarmtui", *args], capture_output=True, text=True, timeout=60)


@pytest.fixture
def node_factory(tmp_path):
    nodes: list[Node] = []
    roots: list[Path] = []

    def make(era, scenario="healthy", speed=300.0, login="present", pty=True, stdin=None, argv=None, **env):
        root = tmp_path / f"node{len(roots)}"
        create_checkout(root, era, scenario=scenario, speed=speed, port=free_port(), login=login)
        roots.append(root)
        node = Node(root, pty=pty, stdin=stdin, argv=argv, **env)
        nodes.append(node)
        return node

    yield make
    for node in nodes:
        node.kill_all()
    for root in roots:
        kill_leftovers(root)
        assert not ours(root), "a process of this test survived its clean-up"


# --- layout ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("era", ERAS)
def test_checkout_looks_like_the_eras_real_one(tmp_path, era):
    port = free_port()
    root = create_checkout(tmp_path / "rl-swarm", era, port=port)
    expected = {
        "hivemind": ["hivemind_exp/gsm8k/train_single_gpu.py", "hivemind_exp/name_utils.py",
                     "hivemind_exp/runner/grpo_runner.py", "requirements-cpu.txt",
                     "hivemind_exp/configs/mac/grpo-qwen-2.5-0.5b-deepseek-r1.yaml"],
        "rgym": ["rgym_exp/runner/swarm_launcher.py", "rgym_exp/src/utils/name_utils.py", "hivemind_exp/name_utils.py",
                 "rgym_exp/config/rg-swarm.yaml"],
        "codezero": ["code_gen_exp/runner/swarm_launcher.py", "code_gen_exp/config/code-gen-swarm.yaml",
                     "code_gen_exp/src/utils/name_utils.py", "hivemind_exp/name_utils.py",
                     "code_gen_exp/requirements.txt"],
    }[era]
    for rel in expected + ["modal-login/temp-data/.gitkeep", "modal-login/package.json", ".gitignore"]:
        assert (root / rel).is_file(), rel
    assert not (root / "swarm.pem").exists()
    gitignore = (root / ".gitignore").read_text().split()
    for ignored in (".venv", "swarm.pem", "logs/", "temp-data/", "configs/", "node_modules/"):
        assert ignored in gitignore

    script = (root / "run_rl_swarm.sh").read_text()
    assert os.access(root / "run_rl_swarm.sh", os.X_OK)
    assert "set -euo pipefail" in script
    assert "trap cleanup EXIT" in script and "trap errnotify ERR" in script
    assert "kill -- -$$" in script and "rm -r $ROOT_DIR/modal-login/temp-data/*.json" in script
    assert f"http://localhost:${{SWARMTUI_SIM_PORT:-{port}}}/api/get-api-key-status?orgId=$ORG_ID" in script
    assert "localhost:3000" not in script
    read_prompts = [t for t in re.findall(r'read -p "([^"]*)"', script) if t.startswith(">>")]
    assert "Enter your Hugging Face access token: " in re.findall(r'read -p "([^"]*)"', script)
    assert read_prompts == [PROMPTS[k] for k in ERA_PROMPTS[era]]
    assert f"python -m {ENTRY[era]}" in script
    bash = subprocess.run(["bash", "-n", str(root / "run_rl_swarm.sh")], capture_output=True, text=True)
    assert bash.returncode == 0, bash.stderr

    # Every name_utils copy holds rl-swarm's real lists, as Python list literals.
    for path in root.rglob("name_utils.py"):
        tree = ast.parse(path.read_text())
        lists = {t.targets[0].id: ast.literal_eval(t.value) for t in tree.body
                 if isinstance(t, ast.Assign) and isinstance(t.targets[0], ast.Name)}
        assert lists["ADJECTIVES"] == WORDS["ADJECTIVES"] and lists["ANIMALS"] == WORDS["ANIMALS"]

    # .venv is a real venv of an interpreter that has swarmtui; p2pd sits where hivemind keeps it.
    py = root / ".venv" / "bin" / "python"
    out = subprocess.run([str(py), "-c", "import sys, swarmtui; print(sys.prefix)"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert Path(out.stdout.strip()) == root / ".venv"
    assert list(root.glob(".venv/lib/python3.*/site-packages/hivemind/hivemind_cli/p2pd"))
    for shim in ("activate", "pip", "yarn", "node", "curl", "sleep"):
        assert (root / ".venv" / "bin" / shim).is_file(), shim


def test_the_checkouts_own_name_utils_gives_rl_swarms_vectors(tmp_path):
    root = create_checkout(tmp_path / "n", "rgym", port=free_port())
    code = ("from rgym_exp.src.utils.name_utils import get_name_from_peer_id as g; "
            "print(g('QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N')); "
            "print(g('Qmb8wVVVMTRmG4U1tCdaCCqietuWwpGRSbL53PA5azBViP', True))")
    out = subprocess.run([str(root / ".venv/bin/python"), "-c", code], cwd=root, capture_output=True, text=True)
    assert out.stdout.split("\n")[:2] == ["thorny fishy meerkat", "toothy_carnivorous_bison"], out.stderr


# --- command line ----------------------------------------------------------------------------------


def test_sim_cli_success_and_list(tmp_path):
    target = tmp_path / "my node"
    out = cli("sim", str(target), "--era", "hivemind", "--speed", "5", "--port", "39123")
    assert out.returncode == 0, out.stderr
    assert f"cd '{target}' && source .venv/bin/activate && ./run_rl_swarm.sh" in out.stdout
    assert "localhost:${SWARMTUI_SIM_PORT:-39123}" in (target / "run_rl_swarm.sh").read_text()
    listed = cli("sim", "--list")
    assert listed.returncode == 0
    for name in list(SCENARIOS) + list(ERAS):
        assert name in listed.stdout
    # An existing sim checkout can be rewritten (the demo reuses its folder).
    again = cli("sim", str(target), "--era", "codezero")
    assert again.returncode == 0, again.stderr
    assert (target / "code_gen_exp").is_dir()


@pytest.mark.parametrize("args, needle", [
    (["sim", "{d}/x", "--era", "nope"], "unknown era"),
    (["sim", "{d}/x", "--era", "rgym", "--scenario", "healthy,bogus"], "unknown scenario 'bogus'"),
    (["sim", "{d}/full", "--era", "rgym"], "not a simulated checkout"),
    (["sim", "login", "{d}/full"], "not a simulated checkout"),
    (["sim", "login"], "usage: swarmtui sim login DIR"),
    (["sim", "{d}/real", "--era", "rgym", "--force"], "looks like a real rl-swarm checkout"),
])
def test_sim_cli_bad_input_is_one_line(tmp_path, args, needle):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "notes.txt").write_text("mine")
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "run_rl_swarm.sh").write_text("#!/bin/bash\n")
    out = cli(*[a.format(d=tmp_path) for a in args])
    assert out.returncode != 0
    assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr
    assert needle in out.stderr
    assert (tmp_path / "full" / "notes.txt").read_text() == "mine"
    assert (tmp_path / "real" / "run_rl_swarm.sh").read_text() == "#!/bin/bash\n"


def test_force_writes_into_a_foreign_folder_without_deleting(tmp_path):
    (tmp_path / "f").mkdir()
    (tmp_path / "f" / "keep.txt").write_text("x")
    out = cli("sim", str(tmp_path / "f"), "--era", "rgym", "--force")
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "f" / "keep.txt").read_text() == "x"
    assert (tmp_path / "f" / "run_rl_swarm.sh").exists()


# --- login files -----------------------------------------------------------------------------------


def test_sim_login_writes_the_real_shapes(tmp_path):
    root = create_checkout(tmp_path / "n", "codezero", port=free_port(), login="never")
    out = cli("sim", "login", str(root))
    assert out.returncode == 0, out.stderr
    temp = root / "modal-login" / "temp-data"
    user_text = (temp / "userData.json").read_text()
    users = json.loads(user_text)
    (org_id, user), = users.items()
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", org_id)
    assert user["orgId"] == org_id and re.fullmatch(r"0x[0-9a-f]{40}", user["address"]) and user["userId"]
    assert user_text.startswith('{\n  "') and '\n    "orgId": ' in user_text  # 2-space pretty print
    keys = json.loads((temp / "userApiKey.json").read_text())[org_id]
    latest = keys[-1]
    assert latest["activated"] is True
    assert re.fullmatch(r"0[23][0-9a-f]{64}", latest["publicKey"]) and re.fullmatch(r"[0-9a-f]{64}", latest["privateKey"])
    for field in ("deferredActionDigest", "accountAddress", "initCode"):
        assert latest[field].startswith("0x")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", latest["createdAt"])
    # The script's own awk finds the orgId in it.
    awk = subprocess.run(["awk", 'BEGIN { FS = "\\"" } !/^[ \\t]*[{}]/ { print $(NF - 1); exit }',
                          str(temp / "userData.json")], capture_output=True, text=True)
    assert awk.stdout.strip() == org_id


def test_login_server_answers_like_modal_login(tmp_path):
    port = free_port()
    root = create_checkout(tmp_path / "n", "rgym", port=port, login="never")
    env = node_env(root)
    proc = subprocess.Popen(["yarn", "start"], cwd=root / "modal-login", env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True, text=True)
    try:
        base = f"http://127.0.0.1:{port}/api/get-api-key-status"
        for _ in range(100):
            try:
                urllib.request.urlopen(base + "?orgId=x", timeout=1)
                break
            except OSError:
                import time

                time.sleep(0.05)
        assert urllib.request.urlopen(base + "?orgId=nobody").read() == b"pending"
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(base)
        assert err.value.code == 400
        play_login(root)
        org = next(iter(json.loads((root / "modal-login/temp-data/userData.json").read_text())))
        assert urllib.request.urlopen(f"{base}?orgId={org}").read() == b"activated"
        # It looks like `node .../next start` with its cwd inside the checkout.
        server = [p for p in psutil.Process(proc.pid).children(recursive=True) if p.name() == "node"]
        assert server and server[0].cmdline()[0] == "node"
        assert server[0].cmdline()[1:] == [str(root / "modal-login/node_modules/.bin/next"), "start"]
        assert server[0].cwd() == str(root / "modal-login")

        # A second server on the same port fails the way Next.js does, and exits non-zero.
        second = subprocess.run(["yarn", "start"], cwd=root / "modal-login", env=env, capture_output=True,
                                text=True, timeout=30)
        assert second.returncode != 0
        assert f"Error: listen EADDRINUSE: address already in use :::{port}" in second.stdout + second.stderr
        assert "error Command failed with exit code 1." in second.stdout
    finally:
        os.killpg(proc.pid, 9)
        proc.wait(5)
        kill_leftovers(root)
    banner = proc.stdout.read()
    assert "$ next start" in banner and "▲ Next.js 14.2.35" in banner and f"http://localhost:{port}" in banner


# --- prompts, pty vs pipe, the traps ---------------------------------------------------------------


@pytest.mark.parametrize("era", ERAS)
def test_prompts_show_on_a_pty_with_the_exact_texts(node_factory, era):
    node = node_factory(era, login="present")
    for key in ERA_PROMPTS[era]:
        node.wait_for(re.escape(PROMPTS[key].rstrip()), timeout=30)
        node.send("\r")
    # Every prompt came once, in order, in green, and the trainer started after them.
    text = node.text
    positions = [text.index(PROMPTS[k].rstrip()) for k in ERA_PROMPTS[era]]
    assert positions == sorted(positions)
    assert "\x1b[32m>> " in node.stdout
    hello = r"🐝 Hello \[[a-z]+ [a-z]+ [a-z]+\] \[Qm\w{44}\]!" if era == "codezero" else \
        r"🐱 Hello 🐈 \[[a-z]+ [a-z]+ [a-z]+\] 🦮 \[Qm\w{44}\]!"
    node.wait_for(hello, timeout=30)
    # The trainer runs under the era's real module name, with a p2pd carrying our -id=.
    trainer = [p for p in ours(node.root) if p.cmdline()[:3] == ["python", "-m", ENTRY[era]]]
    assert trainer, [p.cmdline() for p in ours(node.root)]
    p2pd = [p for p in ours(node.root) if any(a == f"-id={node.root / 'swarm.pem'}" for a in p.cmdline())]
    assert p2pd and p2pd[0].name() == "p2pd"
    listen = [a for a in p2pd[0].cmdline() if a.startswith("-listen=")][0]
    assert re.fullmatch(r"-listen=/unix/tmp/hivemind-p2pd-[A-Za-z0-9_-]{8,}\.sock", listen)
    assert os.path.exists(listen[len("-listen=/unix"):])


def test_no_prompts_on_a_pipe_and_a_missing_answer_aborts_through_the_err_trap(node_factory):
    # The script leads its own group here: cleanup removes the login files and kills the group.
    node = node_factory("codezero", pty=False, stdin=b"")
    code = node.wait_exit(30)
    out = node.stdout
    assert RED_LINE.format(root=node.root) in out
    assert ">> Shutting down trainer..." in strip(out)
    assert ">> Done!" in strip(out)
    for text in PROMPTS.values():
        assert text.strip() not in node.text
    assert "\x1b[32m" in out  # the stray colour codes of `echo -en $GREEN_TEXT` do show
    assert code == -15  # the script SIGTERMs its own group: exit status carries no information
    assert not list((node.root / "modal-login/temp-data").glob("*.json"))
    server = int(re.search(r"Started server process: (\d+)", out).group(1))
    assert not running(server)
    assert not ours(node.root)


def test_answers_on_a_pipe_run_the_hivemind_era_without_showing_prompts(node_factory):
    node = node_factory("hivemind", pty=False, stdin=b"Y\nA\n0.5\nN\n")
    node.wait_for(r"Starting training", timeout=30, where="stderr")
    for text in PROMPTS.values():
        assert text.strip() not in node.text


def test_cleanup_when_the_script_does_not_lead_its_group(node_factory):
    # `bash -c '...; true'` keeps the outer shell as the group leader, so `kill -- -$$` fails.
    node = node_factory("rgym", pty=False, stdin=b"", argv=["bash", "-c", "bash run_rl_swarm.sh; true"])
    node.wait_exit(30)
    out = strip(node.stdout + node.stderr)
    m = re.search(r"run_rl_swarm\.sh: line \d+: kill: \((-\d+)\) - No such process", out)
    assert m, out[-2000:]
    assert int(m.group(1)) != -node.pgid
    assert ">> Shutting down trainer..." in out
    assert not list((node.root / "modal-login/temp-data").glob("*.json"))
    # ...and the login server is left running, as on a real node.
    server = int(re.search(r"Started server process: (\d+)", out).group(1))
    left = [p for p in ours(node.root) if p.name() == "node"]
    assert left, "the login server should have survived the failed group kill"
    assert server in {p.pid for p in left} | {pp.pid for p in left for pp in p.parents()}


# --- identity -------------------------------------------------------------------------------------


def _b58(data: bytes) -> str:
    alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
    n = int.from_bytes(data, "big")
    out = ""
    while n:
        n, r = divmod(n, 58)
        out = alphabet[r] + out
    return "1" * (len(data) - len(data.lstrip(b"\0"))) + out


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return value, i


def test_swarm_pem_round_trips_to_the_logged_peer_id_and_name(node_factory):
    node = node_factory("rgym", pty=False, stdin=b"N\n\n\n")
    m = node.wait_for(r"🐱 Hello 🐈 \[([a-z ]+)\] 🦮 \[(Qm\w+)\]!", timeout=30, where="stdout")
    name, peer = m.group(1), m.group(2)
    pem = node.root / "swarm.pem"
    assert f"Generating new identity to be saved in `{pem}`" in node.stderr
    assert stat.S_IMODE(pem.stat().st_mode) == 0o400
    raw = pem.read_bytes()
    # protobuf PrivateKey{Type=RSA(0), Data=DER PKCS#1}, parsed by hand
    assert raw[:3] == b"\x08\x00\x12"
    length, start = _varint(raw, 3)
    der = raw[start:start + length]
    assert start + length == len(raw)
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = serialization.load_der_private_key(der, None)
    assert isinstance(key, rsa.RSAPrivateKey) and key.key_size == 2048
    assert der.startswith(b"\x30\x82") and b"\x02\x01\x00" in der[:8]  # PKCS#1 RSAPrivateKey, version 0
    spki = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    proto = b"\x08\x00\x12" + bytes([0x80 | (len(spki) & 0x7F), len(spki) >> 7]) + spki
    assert _b58(b"\x12\x20" + hashlib.sha256(proto).digest()) == peer
    digest = hashlib.md5(peer.encode()).digest()
    adj, ani = WORDS["ADJECTIVES"], WORDS["ANIMALS"]
    assert name == f"{adj[digest[2] % len(adj)]} {adj[digest[1] % len(adj)]} {ani[digest[0] % len(ani)]}"
