"""`create_checkout`: lay out a folder like a real rl-swarm checkout of one era.

The folder gets the era's tracked files (stubs, except the real word lists in name_utils.py and
the entry module that hands over to swarmtui's trainer), a run_rl_swarm.sh in the real script's
manner, and a `.venv` that is a real virtual environment of the interpreter running swarmtui:
bash finds `python` there, so `ps` shows `python -m rgym_exp.runner.swarm_launcher ...` exactly
as on a real node. Shims in .venv/bin stand in for pip, yarn, node, curl and friends.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import site
import sys
import time
from pathlib import Path

from swarmtui.errors import UserError
from swarmtui.sim import config as simconfig
from swarmtui.sim.scenarios import ERA_ONLY, ERAS, LOGIN_MODES, default_login, parse_spec
from swarmtui.sim.script import render_script

ENTRY = {
    "hivemind": ("hivemind_exp/gsm8k/train_single_gpu.py", "hivemind_exp.gsm8k.train_single_gpu"),
    "rgym": ("rgym_exp/runner/swarm_launcher.py", "rgym_exp.runner.swarm_launcher"),
    "codezero": ("code_gen_exp/runner/swarm_launcher.py", "code_gen_exp.runner.swarm_launcher"),
}

# What the real entry module imports first that only the node's venv has: v0.5.2 ... main
# swarm_launcher.py starts `import os; import hydra`; v0.4's train_single_gpu imports grpo_runner
# (torch, then hivemind). The sim venv holds stubs of these; no other python has them.
FIRST_IMPORT = {"hivemind": "hivemind", "rgym": "hydra", "codezero": "hydra"}
VENV_NAMES = (".venv", "venv")

NAME_UTILS = {
    "hivemind": ("hivemind_exp/name_utils.py",),
    "rgym": ("hivemind_exp/name_utils.py", "rgym_exp/src/utils/name_utils.py"),
    "codezero": ("hivemind_exp/name_utils.py", "code_gen_exp/src/utils/name_utils.py"),
}

STUBS = {
    "hivemind": [
        "hivemind_exp/__init__.py", "hivemind_exp/chain_utils.py", "hivemind_exp/debug_utils.py",
        "hivemind_exp/dht_utils.py", "hivemind_exp/hivemind_utils.py", "hivemind_exp/gas_strategy.py",
        "hivemind_exp/gsm8k/__init__.py", "hivemind_exp/gsm8k/generate_prompts.py",
        "hivemind_exp/gsm8k/stage_utils.py", "hivemind_exp/gsm8k/stages.py",
        "hivemind_exp/dapo/__init__.py", "hivemind_exp/dapo/generate_prompts.py",
        "hivemind_exp/runner/__init__.py", "hivemind_exp/runner/grpo_runner.py",
        "hivemind_exp/runner/gensyn/testnet_grpo_runner.py",
        "hivemind_exp/trainer/__init__.py", "hivemind_exp/trainer/hivemind_grpo_trainer.py",
        "hivemind_exp/trainer/gensyn/testnet_grpo_trainer.py",
    ],
    "rgym": [
        "hivemind_exp/__init__.py", "hivemind_exp/chain_utils.py", "hivemind_exp/dht_utils.py",
        "hivemind_exp/hivemind_utils.py",
        "rgym_exp/__init__.py", "rgym_exp/runner/__init__.py", "rgym_exp/src/__init__.py",
        "rgym_exp/src/manager.py", "rgym_exp/src/trainer.py", "rgym_exp/src/data.py",
        "rgym_exp/src/coordinator.py", "rgym_exp/src/prg_module.py", "rgym_exp/src/rewards.py",
        "rgym_exp/src/utils/judge_client.py", "rgym_exp/src/utils/omega_gpu_resolver.py",
    ],
    "codezero": [
        "hivemind_exp/__init__.py", "hivemind_exp/chain_utils.py", "hivemind_exp/dht_utils.py",
        "hivemind_exp/hivemind_utils.py",
        "code_gen_exp/__init__.py", "code_gen_exp/runner/__init__.py", "code_gen_exp/src/__init__.py",
        "code_gen_exp/src/manager.py", "code_gen_exp/src/coordinator.py", "code_gen_exp/src/trainer.py",
        "code_gen_exp/src/proposer.py", "code_gen_exp/src/solver_data.py",
        "code_gen_exp/src/solver_rewards.py", "code_gen_exp/src/utils/judge_client.py",
        "code_gen_exp/src/utils/omega_gpu_resolver.py",
    ],
}

GITIGNORE = """.venv
**/__pycache__/
.DS_Store

.env
.next/
temp-data/
swarm.pem
logs/
runs/
model_output_samples/
grpo_trainer_lora_model/
unsloth_compiled_cache/

node_modules/
web/ui/dist/

user/

configs/
genrl-swarm/

.swarmtui-sim-state.json
"""

STUB_TEXT = '"""Simulated by swarmtui: this checkout only imitates rl-swarm; the real module is in gensyn-ai/rl-swarm."""\n'

ENTRY_TEXT = '''"""Simulated by swarmtui: prints what the real {module} prints, and runs a fake p2pd."""

import {first_import}  # noqa: F401  as rl-swarm's entry does first: a python outside the venv dies here
from pathlib import Path

from swarmtui.sim.trainer import main

if __name__ == "__main__":
    main("{era}", Path(__file__).resolve().parents[{depth}])
'''

NEXT_TEXT = '''# Simulated by swarmtui: `next start` for the modal-login app (a loopback stand-in).
from swarmtui.sim.loginserver import main

main()
'''

P2PD_TEXT = '''# Simulated by swarmtui: a stand-in for go-libp2p-daemon that only holds its control socket.
from swarmtui.sim.p2pd import main

main()
'''


def _words() -> dict:
    path = Path(__file__).with_name("data") / "name_words.json"
    return json.loads(path.read_text())


def name_utils_source() -> str:
    """rl-swarm's name_utils.py in its own shape: two word lists and the md5 lookup."""
    words = _words()

    def block(name: str, items: list[str]) -> str:
        rows = []
        for i in range(0, len(items), 8):
            rows.append("    " + " ".join(f'"{w}",' for w in items[i:i + 8]))
        rows[-1] = rows[-1].rstrip(",")
        return f"{name} = [\n" + "\n".join(rows) + "\n]\n"

    return (
        "import hashlib\nfrom functools import lru_cache\nfrom typing import Sequence\n\n"
        "# fmt: off\n" + block("ADJECTIVES", words["ADJECTIVES"]) + "\n" + block("ANIMALS", words["ANIMALS"])
        + "# fmt: on\n\n\n"
        "def hex_to_ints(s, k):\n"
        '    """Splits a hex string into k-digit chunks and reads each as an int."""\n'
        "    return tuple(int(s[i : i + k], 16) for i in range(0, len(s), k))\n\n\n"
        "@lru_cache\n"
        "def get_name_from_peer_id(peer_id: str, no_spaces=False):\n"
        "    # The first three bytes of md5(peer id) pick two adjectives and an animal.\n"
        "    ints = hex_to_ints(hashlib.md5(peer_id.encode()).hexdigest(), 2)\n"
        "    words = [ADJECTIVES[ints[2] % len(ADJECTIVES)], ADJECTIVES[ints[1] % len(ADJECTIVES)],\n"
        "             ANIMALS[ints[0] % len(ANIMALS)]]\n"
        '    return ("_" if no_spaces else " ").join(words)\n\n\n'
        "def search_peer_ids_for_name(peer_ids: Sequence[str], name):\n"
        "    return next((p for p in peer_ids if get_name_from_peer_id(p) == name), None)\n"
    )


def _write(path: Path, text: str, mode: int | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_symlink():
        path.unlink()
    path.write_text(text)
    if mode is not None:
        path.chmod(mode)


def _exe(path: Path, text: str) -> None:
    _write(path, text, 0o755)


def _site_dirs() -> list[str]:
    """Where this interpreter finds swarmtui and its dependencies, for the sim venv's .pth file."""
    dirs: list[str] = []
    try:
        dirs += site.getsitepackages()
    except AttributeError:
        pass
    if site.ENABLE_USER_SITE:
        dirs.append(site.getusersitepackages())
    import swarmtui

    dirs.append(str(Path(swarmtui.__file__).resolve().parent.parent))
    seen: list[str] = []
    for d in dirs:
        if d not in seen and os.path.isdir(d):
            seen.append(d)
    return seen


def _real(cmd: str, venv_bin: Path) -> str:
    """The system's own binary for a shim that has to pass through (never our shim)."""
    path = os.environ.get("PATH", "")
    parts = [p for p in path.split(os.pathsep) if p and Path(p).resolve() != venv_bin.resolve()]
    found = shutil.which(cmd, path=os.pathsep.join(parts + ["/bin", "/usr/bin"]))
    return found or f"/bin/{cmd}"


def _make_venv(root: Path, speed: float, name: str = ".venv") -> Path:
    venv = root / name
    bin_dir = venv / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    pyver = f"python{sys.version_info.major}.{sys.version_info.minor}"
    base = Path(getattr(sys, "_base_executable", sys.executable) or sys.executable)
    home = base.parent
    (venv / "pyvenv.cfg").write_text(
        f"home = {home}\ninclude-system-site-packages = false\n"
        f"version = {sys.version_info.major}.{sys.version_info.minor}.{sys.version_info.micro}\n"
        f"executable = {base}\ncommand = swarmtui sim (a simulated rl-swarm venv)\n"
    )
    for name in ("python", "python3", pyver):
        link = bin_dir / name
        if link.is_symlink() or link.exists():
            link.unlink()
    (bin_dir / "python").symlink_to(base)
    (bin_dir / "python3").symlink_to("python")
    (bin_dir / pyver).symlink_to("python")

    site_packages = venv / "lib" / pyver / "site-packages"
    site_packages.mkdir(parents=True, exist_ok=True)
    # The sim venv borrows swarmtui (and its dependencies) from the interpreter that made it.
    lines = "".join(f"import site; site.addsitedir({d!r})\n" for d in _site_dirs())
    (site_packages / "_swarmtui_sim.pth").write_text(lines)

    p2pd = site_packages / "hivemind" / "hivemind_cli" / "p2pd"
    py = bin_dir / "python"
    shebang = f"#!{py}\n" if len(str(py)) < 120 else "#!/usr/bin/env python\n"
    _exe(p2pd, shebang + P2PD_TEXT)
    _write(site_packages / "hivemind" / "__init__.py", STUB_TEXT)
    _write(site_packages / "hydra" / "__init__.py", STUB_TEXT)

    _exe(bin_dir / "activate", ACTIVATE.replace("@@VENV@@", str(venv)).replace("@@NAME@@", name))
    _exe(bin_dir / "sleep", SLEEP.replace("@@SPEED@@", repr(float(speed))).replace("@@SLEEP@@", _real("sleep", bin_dir)))
    for name, text in SHIMS.items():
        _exe(bin_dir / name, text.replace("@@SPEED@@", repr(float(speed))))
    return venv


ACTIVATE = """# This file must be used with "source @@NAME@@/bin/activate" *from bash*; you cannot run it directly.
# (swarmtui sim: a simulated rl-swarm venv.)

deactivate () {
    if [ -n "${_OLD_VIRTUAL_PATH:-}" ]; then
        PATH="${_OLD_VIRTUAL_PATH}"
        export PATH
        unset _OLD_VIRTUAL_PATH
    fi
    if [ -n "${_OLD_VIRTUAL_PS1:-}" ]; then
        PS1="${_OLD_VIRTUAL_PS1}"
        export PS1
        unset _OLD_VIRTUAL_PS1
    fi
    unset VIRTUAL_ENV VIRTUAL_ENV_PROMPT
    hash -r 2> /dev/null
    if [ ! "${1:-}" = "nondestructive" ]; then
        unset -f deactivate
    fi
}

deactivate nondestructive

VIRTUAL_ENV="@@VENV@@"
export VIRTUAL_ENV

_OLD_VIRTUAL_PATH="$PATH"
PATH="$VIRTUAL_ENV/bin:$PATH"
export PATH

if [ -z "${VIRTUAL_ENV_DISABLE_PROMPT:-}" ]; then
    _OLD_VIRTUAL_PS1="${PS1:-}"
    PS1="(@@NAME@@) ${PS1:-}"
    export PS1
    VIRTUAL_ENV_PROMPT="(@@NAME@@) "
    export VIRTUAL_ENV_PROMPT
fi
hash -r 2> /dev/null
"""

# Time in a simulated checkout runs SPEED times faster: the script's own `sleep 5` included.
SLEEP = """#!/bin/sh
# swarmtui sim: time runs SWARMTUI_SIM_SPEED (default @@SPEED@@) times faster in this checkout.
exec @@SLEEP@@ "$(awk -v s="${1:-0}" -v k="${SWARMTUI_SIM_SPEED:-@@SPEED@@}" 'BEGIN { if (k <= 0) k = 1; printf "%.3f", s / k }')"
"""

_PAUSE = """pause() { "$(dirname "$0")/sleep" "$1"; }
"""

SHIMS = {
    "pip": """#!/bin/bash
# swarmtui sim: stands in for pip; everything is already installed.
""" + _PAUSE + """site="$(cd "$(dirname "$0")/.." && pwd)/lib/python$("$(dirname "$0")/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')/site-packages"
say() { echo "Requirement already satisfied: $1 in $site ($2)"; pause 0.4; }
[ "${1:-}" = "install" ] || { echo "pip 25.1.1 from $site/pip (python 3)"; exit 0; }
shift
reqs=()
while [ $# -gt 0 ]; do
    case "$1" in
        -r) shift; while IFS= read -r line; do
                line="${line%%#*}"; line="${line// /}"
                [ -n "$line" ] && reqs+=("$line")
            done < "$1" ;;
        -*) ;;
        *) reqs+=("$1") ;;
    esac
    shift
done
for r in "${reqs[@]}"; do
    name="${r%%[=<>@]*}"
    case "$name" in
        pip) say pip 25.1.1 ;;
        gensyn-genrl) say gensyn-genrl "${r##*=}"; say torch 2.7.1; say transformers 4.53.2; say trl 0.19.1 ;;
        hivemind) say hivemind 1.2.0.dev0; say protobuf 5.29.5 ;;
        *) say "$name" 1.0.0 ;;
    esac
done
""",
    "yarn": """#!/bin/bash
# swarmtui sim: stands in for yarn in modal-login/.
""" + _PAUSE + """case "${1:-}" in
    install)
        echo "yarn install v1.22.22"
        echo "[1/4] Resolving packages..."
        pause 1
        echo "success Already up-to-date."
        echo "Done in 1.12s."
        ;;
    build)
        echo "yarn run v1.22.22"
        echo "$ next build"
        echo "  ▲ Next.js 14.2.35"
        echo "  - Environments: .env"
        echo ""
        echo "   Creating an optimized production build ..."
        pause 8
        echo " ✓ Compiled successfully"
        echo "   Linting and checking validity of types ..."
        pause 4
        echo "   Collecting page data ..."
        echo " ✓ Generating static pages (9/9)"
        echo "   Finalizing page optimization ..."
        mkdir -p .next && date +%s > .next/BUILD_ID
        echo ""
        echo "Route (app)                              Size     First Load JS"
        echo "┌ ○ /                                    161 kB          449 kB"
        echo "├ ƒ /api/get-api-key                     0 B                0 B"
        echo "├ ƒ /api/get-api-key-status              0 B                0 B"
        echo "├ ƒ /api/register-peer                   0 B                0 B"
        echo "├ ƒ /api/submit-reward                   0 B                0 B"
        echo "└ ƒ /api/submit-winner                   0 B                0 B"
        echo ""
        echo "○  (Static)   prerendered as static content"
        echo "ƒ  (Dynamic)  server-rendered on demand"
        echo ""
        echo "Done in 41.37s."
        ;;
    start)
        echo "yarn run v1.22.22"
        echo "$ next start"
        node "$PWD/node_modules/.bin/next" start
        rc=$?
        if [ $rc -ne 0 ]; then
            echo "error Command failed with exit code $rc."
            echo "info Visit https://yarnpkg.com/en/docs/cli/run for documentation about this command."
        fi
        exit $rc
        ;;
    *) echo "1.22.22" ;;
esac
""",
    "node": """#!/bin/bash
# swarmtui sim: `node -v`, and `node .../next start` runs the login-server stand-in under the name node.
case "${1:-}" in
    -v|--version) echo "v22.17.0"; exit 0 ;;
esac
here="$(cd "$(dirname "$0")" && pwd)"
PATH="$here:$PATH" exec -a node "$here/python" "$@"
""",
    "curl": """#!/bin/sh
# swarmtui sim: a small curl for the script's status polls (GET, -s), so a bare machine works.
exec "$(dirname "$0")/python" -m swarmtui.sim.curl "$@"
""",
    "open": """#!/bin/sh
# swarmtui sim: no browser here; the script then asks the person to open the URL by hand.
exit 1
""",
    "sudo": """#!/bin/sh
# swarmtui sim: the image's passwordless sudo. The Docker way chowns and chmods its volumes
# (run_rl_swarm.sh with DOCKER set); as a plain user that is nothing to do here.
case "${1:-}" in
    chown|chmod) exit 0 ;;
esac
exec "$@"
""",
    "hf": """#!/bin/sh
# swarmtui sim: huggingface_hub's CLI; only `hf auth logout` is used by the script.
echo "Not logged in!"
exit 0
""",
    "ollama": """#!/bin/sh
# swarmtui sim: the ollama CLI; the reward model is already pulled.
case "${1:-}" in
    list) printf '%-32s %-14s %-8s %s\\n' NAME ID SIZE MODIFIED 'qwen2.5-coder:1.5b-instruct' 6d3abb8d2d53 986MB '2 weeks ago' ;;
    serve) exec "$(dirname "$0")/sleep" 1000000000 ;;
    *) echo "ollama version is 0.12.9" ;;
esac
""",
}


def _era_files(root: Path, era: str) -> None:
    for rel in STUBS[era]:
        _write(root / rel, STUB_TEXT)
    for rel in NAME_UTILS[era]:
        _write(root / rel, name_utils_source())
    rel, module = ENTRY[era]
    depth = rel.count("/")
    _write(root / rel, ENTRY_TEXT.format(module=module, era=era, depth=depth, first_import=FIRST_IMPORT[era]))
    if era == "hivemind":
        _write(root / "requirements-cpu.txt", "colorlog\ndatasets\nhivemind@git+https://github.com/learning-at-home/hivemind@1.11.11\n"
               "peft\npytest\ntensorboard\ntransformers>=4.46.0\ntrl\nwandb\nweb3\n")
        _write(root / "requirements-gpu.txt", "-r requirements-cpu.txt\nbitsandbytes\nunsloth\nvllm\n")
        for folder in ("gpu", "mac"):
            for size in ("0.5b",) if folder == "mac" else ("0.5b", "1.5b", "7b"):
                _write(root / f"hivemind_exp/configs/{folder}/grpo-qwen-2.5-{size}-deepseek-r1.yaml", _hm_yaml(size))
    elif era == "rgym":
        _write(root / "rgym_exp/config/rg-swarm.yaml", RG_YAML)
        _write(root / "rgym_exp/src/datasets.yaml", "datasets:\n  arc_1d: {weight: 1}\n  basic_arithmetic: {weight: 1}\n")
    else:
        _write(root / "code_gen_exp/config/code-gen-swarm.yaml", CZ_YAML)
        _write(root / "code_gen_exp/requirements.txt",
               "gensyn-genrl==0.3.0\nollama\nhivemind@git+https://github.com/gensyn-ai/hivemind@639c964a8019de63135a2594663b5bec8e5356dd\n")


def _hm_yaml(size: str) -> str:
    return (f"# Model arguments\nmodel_revision: main\ntorch_dtype: float32\nbf16: false\ntf32: false\n\n"
            f"# Dataset arguments\ndataset_id_or_path: 'openai/gsm8k'\n\n# Training arguments\nmax_rounds: 10000\n"
            f"max_steps: 20\ngradient_accumulation_steps: 4\nlogging_steps: 2\nnum_generations: 2\n"
            f"output_dir: runs/gsm8k/multinode/Qwen2.5-{size.upper()}-Instruct-Gensyn-Swarm\n"
            f"model_name_or_path: Gensyn/Qwen2.5-{size.upper()}-Instruct\n")


RG_YAML = """log_dir: ${oc.env:ROOT,.}/logs

hydra:
  run:
    dir: ${log_dir}
  job_logging:
    handlers:
      console:
        level: INFO
    root:
      level: DEBUG

training:
  max_round: 1000000
  max_stage: 1
  num_generations: 2

communications:
  initial_peers:
    - '/ip4/38.101.215.12/tcp/30011/p2p/QmQ2gEXoPJg6iMBSUFWGzAabS2VhnzuS782Y637hGjfsRJ'
    - '/ip4/38.101.215.13/tcp/30012/p2p/QmWhiaLrx3HRZfgXc2i7KW5nMUNK7P9tRc71yFJdGEZKkC'
    - '/ip4/38.101.215.14/tcp/30013/p2p/QmQa1SCfYTxx7RvU7qJJRo79Zm1RAwPpkeLueDVJuBBmFp'

game_manager:
  _target_: rgym_exp.src.manager.SwarmGameManager
  communication:
    _target_: genrl.communication.hivemind.hivemind_backend.HivemindBackend
    identity_path: ${oc.env:IDENTITY_PATH,null}
    startup_timeout: 120
"""

CZ_YAML = RG_YAML.replace("rgym_exp.src.manager", "code_gen_exp.src.manager").replace(
    "training:\n", "reward_config:\n  ollama_model: qwen2.5-coder:1.5b-instruct\n\ntraining:\n")

MODAL_ENV = """NEXT_PUBLIC_ALCHEMY_API_KEY=simulated-by-swarmtui
NEXT_PUBLIC_PAYMASTER_POLICY_ID=00000000-0000-4000-8000-000000000000
SWARM_CONTRACT_ADDRESS=0x0000000000000000000000000000000000000000
PRG_CONTRACT_ADDRESS=0x0000000000000000000000000000000000000000
"""

PACKAGE_JSON = {
    "name": "ui-components-qs-nextjs", "version": "0.1.0", "private": True, "type": "module",
    "scripts": {"dev": "next dev", "build": "next build", "start": "next start", "lint": "next lint"},
    "dependencies": {"next": "14.2.35", "react": "^18", "react-dom": "^18", "viem": "^2.25.0", "zod": "^3.24.4"},
}


def compose_yaml(era: str) -> str:
    """docker-compose.yaml in the shape of rl-swarm's: since v0.5.0 the node services swarm-cpu
    and swarm-gpu with four bind mounts under ./user; v0.7 adds an ollama service and OLLAMA_HOST.
    (v0.2-v0.4 have only the dashboard services: `compose run swarm-cpu` fails there.)"""
    head = ("# Simulated by swarmtui: the shape of rl-swarm's docker-compose.yaml (see swarmtui/sim/docker.py).\n"
            "services:\n  fastapi:\n    build:\n      context: .\n      dockerfile: Dockerfile.webserver\n"
            "  otel-collector:\n    image: otel/opentelemetry-collector-contrib:0.120.0\n")
    if era == "hivemind":
        return head
    out = head
    for service, base in (("swarm-cpu", "ubuntu:24.04"), ("swarm-gpu", "nvidia/cuda:12.6.3-cudnn-devel-ubuntu24.04")):
        out += (f"\n  {service}:\n    profiles: [\"swarm\"]\n    build:\n      context: .\n"
                f"      dockerfile: containerfiles/swarm-node/swarm.containerfile\n      args:\n"
                f"        - BASE_IMAGE={base}\n")
        if era == "codezero":
            out += "    depends_on:\n      - ollama\n"
        out += ("    ports:\n      - 3000:3000\n    volumes:\n"
                "      - ./user/modal-login:/home/gensyn/rl_swarm/modal-login/temp-data\n"
                "      - ./user/keys:/home/gensyn/rl_swarm/keys\n"
                "      - ./user/configs:/home/gensyn/rl_swarm/configs\n"
                "      - ./user/logs:/home/gensyn/rl_swarm/logs\n"
                "    environment:\n      - HF_TOKEN=${HF_TOKEN}\n      - GENSYN_RESET_CONFIG=${GENSYN_RESET_CONFIG}\n")
        if era == "codezero":
            out += "      - OLLAMA_HOST=http://ollama:11434\n"
    if era == "codezero":
        out += "\n  ollama:\n    image: ollama/ollama:0.11.10\n    ports:\n      - \"11434:11434\"\n"
    return out


def _looks_like_real_checkout(root: Path) -> bool:
    return (root / "run_rl_swarm.sh").exists() and not simconfig.is_sim_checkout(root)


def create_checkout(dir: Path, era: str, scenario: str = "healthy", speed: float = 1.0, port: int = 3000,
                    login: str | None = None, force: bool = False, venv: str = ".venv") -> Path:
    """venv: the folder of the node's virtual environment: `.venv` (rl-swarm's README), `venv`
    (what many users make) or any other name; run_rl_swarm.sh activates none of them."""
    root = Path(dir).expanduser()
    if era not in ERAS:
        raise UserError(f"unknown era {era!r} (choose one of: {', '.join(ERAS)})")
    if not re.fullmatch(r"\.?[A-Za-z0-9_][A-Za-z0-9._-]{0,63}", venv or ""):
        raise UserError(f"not a venv folder name: {venv!r} (e.g. {' or '.join(VENV_NAMES)})")
    try:
        items = parse_spec(scenario)
    except ValueError as exc:
        raise UserError(f"{exc}; see 'swarmtui sim --list'") from None
    for item in items:
        if era not in ERA_ONLY.get(item, ERAS):
            raise UserError(f"scenario {item!r} exists only in the {' and '.join(ERA_ONLY[item])} eras")
    if login is None:
        login = default_login(scenario)
    if login not in LOGIN_MODES:
        raise UserError(f"unknown login mode {login!r} (choose one of: {', '.join(LOGIN_MODES)})")
    try:
        speed = float(speed)
        port = int(port)
    except (TypeError, ValueError):
        raise UserError("speed must be a number and port an integer") from None
    if speed <= 0:
        raise UserError(f"speed must be greater than 0: {speed}")
    if not 1 <= port <= 65535:
        raise UserError(f"port out of range: {port}")
    if root.exists() and not root.is_dir():
        raise UserError(f"{root} exists and is not a folder")
    if root.is_dir() and any(root.iterdir()) and not simconfig.is_sim_checkout(root):
        if _looks_like_real_checkout(root):
            raise UserError(f"{root} looks like a real rl-swarm checkout; refusing to write a simulator into it")
        if not force:
            raise UserError(f"{root} exists and is not a simulated checkout (use --force to write into it anyway)")
    root.mkdir(parents=True, exist_ok=True)
    root = root.resolve()

    _era_files(root, era)
    _write(root / ".gitignore", GITIGNORE)
    _write(root / "README.md", f"# rl-swarm (simulated)\n\nA simulated rl-swarm checkout made by `swarmtui sim` "
           f"(era {era}). Run it with:\n\n    source {venv}/bin/activate && ./run_rl_swarm.sh\n")
    _write(root / "docker-compose.yaml", compose_yaml(era))
    modal = root / "modal-login"
    (modal / "temp-data").mkdir(parents=True, exist_ok=True)
    (modal / "temp-data" / ".gitkeep").touch()
    _write(modal / ".env", MODAL_ENV)
    _write(modal / ".gitignore", "node_modules/\n.next/\n")
    _write(modal / "package.json", json.dumps(PACKAGE_JSON, indent=2) + "\n")
    _write(modal / "yarn.lock", "# yarn lockfile v1 (simulated)\n")
    _exe(modal / "node_modules" / ".bin" / "next", NEXT_TEXT)
    _make_venv(root, speed, venv)
    _exe(root / "run_rl_swarm.sh", render_script(era, port))

    simconfig.write_config(root, era, scenario, speed, port, login)
    # A fresh run counter (scenario lists start over) and the simulated chain's clock.
    state = root / simconfig.STATE_NAME
    if state.exists():
        state.unlink()
    simconfig.update_state(root, runs=0, epoch=time.time())
    if login == "present":
        from swarmtui.sim.login import play_login

        play_login(root)
    if "identity-taken" in parse_spec(scenario) and not (root / "swarm.pem").exists():
        # The check for a taken identity only runs when swarm.pem already exists.
        from swarmtui.sim.identity import write_new_identity

        write_new_identity(root / "swarm.pem")
    return root
