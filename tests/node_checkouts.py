"""Builds small rl-swarm checkouts of each era for node tests (not a test module).

The scripts carry the parts swarmtui reads: the prompts exactly as rl-swarm-facts.md §1.4
gives them (after `echo -en $GREEN_TEXT`), the login URL and the python launch line.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from swarmtui.node.peerid import encode_libp2p_key

HF_PUSH = '''echo -en $GREEN_TEXT
read -p ">> Would you like to push models you train in the RL swarm to the Hugging Face Hub? [y/N] " yn
echo -en $RESET_TEXT
case $yn in
    [Yy]*) read -p "Enter your Hugging Face access token: " HUGGINGFACE_ACCESS_TOKEN ;;
    *) HUGGINGFACE_ACCESS_TOKEN="None" ;;
esac
'''
MODEL = '''echo -en $GREEN_TEXT
read -p ">> Enter the name of the model you want to use in huggingface repo/name format, or press [Enter] to use the default model. " MODEL_NAME
echo -en $RESET_TEXT
'''
PRG = '''echo -en $GREEN_TEXT
read -p ">> Would you like your model to participate in the AI Prediction Market? [Y/n] " yn
echo -en $RESET_TEXT
'''
TESTNET = '''echo -en $GREEN_TEXT
read -p ">> Would you like to connect to the Testnet? [Y/n] " yn
echo -en $RESET_TEXT
'''
SWARM_AB = '''read -p ">> Which swarm would you like to join (Math (A) or Math Hard (B))? [A/b] " ab
read -p ">> How many parameters (in billions)? [0.5, 1.5, 7, 32, 72] " pc
'''
HEAD = '''#!/bin/bash
set -euo pipefail
ROOT=$PWD
DEFAULT_IDENTITY_PATH="$ROOT"/swarm.pem
IDENTITY_PATH=${IDENTITY_PATH:-$DEFAULT_IDENTITY_PATH}
if open http://localhost:3000 2> /dev/null; then echo ok; fi
'''

SCRIPTS = {
    "hivemind": HEAD + 'mkdir -p "$ROOT/logs"\n' + TESTNET + SWARM_AB + HF_PUSH
    + "python -m hivemind_exp.gsm8k.train_single_gpu --identity_path $IDENTITY_PATH\n",
    "genrl-swarm": HEAD + HF_PUSH + MODEL
    + 'python "$ROOT/genrl-swarm/src/genrl_swarm/runner/swarm_launcher.py" --config-path "$ROOT/configs"\n',
    "rgym": HEAD + HF_PUSH + MODEL + PRG + 'python -m rgym_exp.runner.swarm_launcher --config-path "$ROOT/rgym_exp/config"\n',
    "codezero": HEAD + HF_PUSH + MODEL + 'python -m code_gen_exp.runner.swarm_launcher --config-path "$ROOT/code_gen_exp/config"\n',
}

WORDS_SOURCE = '''import hashlib
# fmt: off
ADJECTIVES = [
    "agile", "alert", "dormant", "toothy", "thorny", "fishy", "singing", "keen",
]
ANIMALS = [
    "aardvark", "bat", "meerkat", "cow", "bison",
]
# fmt: on
'''


def make_checkout(root: Path, era: str, name_utils: str | None = WORDS_SOURCE) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "run_rl_swarm.sh").write_text(SCRIPTS[era])
    (root / "modal-login" / "temp-data").mkdir(parents=True)
    if era == "hivemind":
        (root / "hivemind_exp" / "gsm8k").mkdir(parents=True)
        (root / "hivemind_exp" / "gsm8k" / "train_single_gpu.py").write_text("")
        words_at = root / "hivemind_exp" / "name_utils.py"
    elif era == "rgym":
        (root / "rgym_exp" / "src" / "utils").mkdir(parents=True)
        words_at = root / "rgym_exp" / "src" / "utils" / "name_utils.py"
    elif era == "codezero":
        (root / "code_gen_exp" / "src" / "utils").mkdir(parents=True)
        words_at = root / "code_gen_exp" / "src" / "utils" / "name_utils.py"
    else:
        (root / "hivemind_exp").mkdir(parents=True)
        words_at = root / "hivemind_exp" / "name_utils.py"
    if name_utils is not None:
        words_at.write_text(name_utils)
    return root


def new_rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@functools.lru_cache(maxsize=None)
def _pooled_key(index: int):
    return new_rsa_key()  # RSA-2048 generation is slow: tests share a few keys by index


def libp2p_key_bytes(index: int = 0) -> bytes:
    """A swarm.pem exactly as hivemind writes it: PrivateKey{Type=RSA, Data=PKCS#1 DER}."""
    der = _pooled_key(index).private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.TraditionalOpenSSL,
                                           serialization.NoEncryption())
    return encode_libp2p_key(0, der)


def write_pem(path: Path, data: bytes, mode: int = 0o400) -> Path:
    path.write_bytes(data)
    path.chmod(mode)
    return path


def write_login(root: Path, *, org: str = "5f1c2b3a-0d9e-4c7b-8a6f-2e4d1c0b9a87",
                address: str = "0x1111111111111111111111111111111111111111", email: str | None = "a@example.org",
                keys: int = 2, activated: bool = True, user_data: bool = True, api_key: bool = True) -> None:
    temp = root / "modal-login" / "temp-data"
    if user_data:
        entry = {"userId": "u-1", "orgId": org, "address": address}
        if email:
            entry["email"] = email
        (temp / "userData.json").write_text(json.dumps({org: entry}, indent=2))
    if api_key:
        items = []
        for i in range(keys):
            items.append({"publicKey": f"02{i:064x}", "privateKey": f"SECRET-PRIVATE-KEY-{i}-{'ab' * 16}",
                          "createdAt": f"2025-07-0{i + 1}T10:00:00.000Z", "activated": activated if i == keys - 1 else True})
        (temp / "userApiKey.json").write_text(json.dumps({org: items}, indent=2))
