"""run_rl_swarm.sh for each era, written in the manner of the real script (facts §1).

The user-visible strings (banner, prompts, `>>` lines, trap messages) are rl-swarm's own; the
installs are stand-ins (shims in .venv/bin print believable lines), and the login URL carries
`${SWARMTUI_SIM_PORT:-PORT}` so tests can run several nodes side by side.
"""

from __future__ import annotations

BANNER = r"""
echo -e "\033[38;5;224m"
cat << "EOF"
    ██████  ██            ███████ ██     ██  █████  ██████  ███    ███
    ██   ██ ██            ██      ██     ██ ██   ██ ██   ██ ████  ████
    ██████  ██      █████ ███████ ██  █  ██ ███████ ██████  ██ ████ ██
    ██   ██ ██                 ██ ██ ███ ██ ██   ██ ██   ██ ██  ██  ██
    ██   ██ ███████       ███████  ███ ███  ██   ██ ██   ██ ██      ██

    From Gensyn

EOF
"""

COMMON_HEAD = r"""
GREEN_TEXT="\033[32m"
BLUE_TEXT="\033[34m"
RED_TEXT="\033[31m"
RESET_TEXT="\033[0m"

echo_green() { echo -e "$GREEN_TEXT$1$RESET_TEXT"; }
echo_blue() { echo -e "$BLUE_TEXT$1$RESET_TEXT"; }
echo_red() { echo -e "$RED_TEXT$1$RESET_TEXT"; }

ROOT_DIR="$(cd $(dirname ${BASH_SOURCE[0]}) && pwd)"

# On every exit: drop the login files and take the whole process group down with us.
# `kill -- -$$` only works when this shell leads its own process group (setsid / a terminal);
# otherwise bash prints "kill: (-PID) - No such process" and the children live on, as upstream.
cleanup() {
    echo_green ">> Shutting down trainer..."
    rm -r $ROOT_DIR/modal-login/temp-data/*.json 2> /dev/null || true
    kill -- -$$ || true
    exit 0
}

errnotify() {
    echo_red ">> An error was detected while running rl-swarm. See $ROOT/logs for full logs."
}

trap cleanup EXIT
trap errnotify ERR
"""

LOGIN_BLOCK = r"""
mkdir -p "$ROOT/logs"

if [ "$CONNECT_TO_TESTNET" = true ]; then
    # The modal-login Next.js app creates the server wallet and its API key.
    echo "Please login to create an Ethereum Server Wallet"
    cd modal-login

    if command -v node > /dev/null 2>&1; then
        echo "Node.js is already installed: $(node -v)"
    else
        echo "Node.js not found. Installing NVM and latest Node.js..."
        exit 1
    fi
    if ! command -v yarn > /dev/null 2>&1; then
        echo "Yarn not found. Installing Yarn globally with npm (no profile edits)…"
        exit 1
    fi

    ENV_FILE="$ROOT"/modal-login/.env
@@ENV_EDIT@@

@@YARN_STEPS@@
    SERVER_PID=$!
    echo "Started server process: $SERVER_PID"
    sleep 5

@@OPEN@@

    cd ..

    echo_green ">> Waiting for modal userData.json to be created..."
    until [ -f "modal-login/temp-data/userData.json" ]; do
        sleep 5
    done
    echo "Found userData.json. Proceeding..."

    # The first key of userData.json is the orgId.
    ORG_ID=$(awk 'BEGIN { FS = "\"" } !/^[ \t]*[{}]/ { print $(NF - 1); exit }' modal-login/temp-data/userData.json)
    echo "Your ORG_ID is set to: $ORG_ID"

    echo "Waiting for API key to become activated..."
    until [[ "$(curl -s "http://localhost:${SWARMTUI_SIM_PORT:-@@PORT@@}/api/get-api-key-status?orgId=$ORG_ID")" == "activated" ]]; do
        echo "Waiting for API key to be activated..."
        sleep 5
    done
    echo "API key is activated! Proceeding..."
fi
"""

OPEN_BROWSER = r"""    if open http://localhost:${SWARMTUI_SIM_PORT:-@@PORT@@} 2> /dev/null; then
        echo_green ">> Successfully opened http://localhost:${SWARMTUI_SIM_PORT:-@@PORT@@} in your default browser."
    else
        echo ">> Failed to open http://localhost:${SWARMTUI_SIM_PORT:-@@PORT@@}. Please open it manually."
    fi"""

# v0.5+ in the Docker image (DOCKER=t): no browser to open inside the container.
OPEN_BROWSER_GENRL = r"""    if [ -z "$DOCKER" ]; then
""" + "\n".join("    " + line for line in OPEN_BROWSER.splitlines()) + r"""
    else
        echo_green ">> Please open http://localhost:${SWARMTUI_SIM_PORT:-@@PORT@@} in your host browser."
    fi"""

# v0.5+ with DOCKER set: the non-root container's volumes (the stand-in's `sudo` shim makes it a no-op).
DOCKER_VOLUMES = r"""
# Bit of a workaround for the non-root docker container.
if [ -n "$DOCKER" ]; then
    volumes=(
        /home/gensyn/rl_swarm/modal-login/temp-data
        /home/gensyn/rl_swarm/keys
        /home/gensyn/rl_swarm/configs
        /home/gensyn/rl_swarm/logs
    )

    for volume in ${volumes[@]}; do
        sudo chown -R 1001:1001 $volume
    done
fi
"""

DOCKER_CONFIGS = r"""
if [ -n "$DOCKER" ]; then
    # Make it easier to edit the configs on Linux systems.
    sudo chmod -R 0777 /home/gensyn/rl_swarm/configs
fi
"""

YARN_V043 = r"""    yarn install --immutable
    echo "Building server"
    yarn build > "$ROOT/logs/yarn.log" 2>&1
    yarn start >> "$ROOT/logs/yarn.log" 2>&1 &"""

YARN_GENRL = r"""    if [ -z "$DOCKER" ]; then
        yarn install --immutable
        echo "Building server"
        yarn build > "$ROOT/logs/yarn.log" 2>&1
    fi
    yarn start >> "$ROOT/logs/yarn.log" 2>&1 &"""

HF_PROMPT = r"""
echo -en $GREEN_TEXT
read -p ">> Would you like to push models you train in the RL swarm to the Hugging Face Hub? [y/N] " yn
echo -en $RESET_TEXT
yn=${yn:-N}
case $yn in
    [Yy]*) read -p "Enter your Hugging Face access token: " HUGGINGFACE_ACCESS_TOKEN ;;
    [Nn]*) HUGGINGFACE_ACCESS_TOKEN="None" ;;
    *) echo ">>> No answer was given, so NO models will be pushed to Hugging Face Hub" && HUGGINGFACE_ACCESS_TOKEN="None" ;;
esac
"""

MODEL_PROMPT = r"""
echo -en $GREEN_TEXT
read -p ">> Enter the name of the model you want to use in huggingface repo/name format, or press [Enter] to use the default model. " MODEL_NAME
echo -en $RESET_TEXT

if [ -z "$MODEL_NAME" ]; then
    echo_green ">> Using default model from config"
else
    export MODEL_NAME
    echo_green ">> Using model: $MODEL_NAME"
fi
"""


def _config_copy(exp: str, name: str) -> str:
    return r"""
[ -d "$ROOT/configs" ] || mkdir "$ROOT/configs"
if [ ! -f "$ROOT/configs/@@NAME@@" ]; then
    cp "$ROOT/@@EXP@@/config/@@NAME@@" "$ROOT/configs/@@NAME@@"
elif ! cmp -s "$ROOT/@@EXP@@/config/@@NAME@@" "$ROOT/configs/@@NAME@@"; then
    if [ -n "$GENSYN_RESET_CONFIG" ]; then
        echo_green ">> Found differences in @@NAME@@. Backing up existing config."
        mv "$ROOT/configs/@@NAME@@" "$ROOT/configs/@@NAME@@.bak"
        cp "$ROOT/@@EXP@@/config/@@NAME@@" "$ROOT/configs/@@NAME@@"
    else
        echo_green ">> Found differences in @@NAME@@. If you would like to reset to the default, set GENSYN_RESET_CONFIG to a non-empty value."
    fi
fi
""".replace("@@NAME@@", name).replace("@@EXP@@", exp)


def _hivemind() -> str:
    head = r"""#!/bin/bash
# Simulated rl-swarm checkout (swarmtui sim, era hivemind = v0.4.4). Behaves like the real
# script; the installs are stand-ins and the trainer is swarmtui's simulator.

set -euo pipefail

ROOT=$PWD

export PUB_MULTI_ADDRS
export PEER_MULTI_ADDRS
export HOST_MULTI_ADDRS
export IDENTITY_PATH
export CONNECT_TO_TESTNET
export ORG_ID
export HF_HUB_DOWNLOAD_TIMEOUT=120

PUB_MULTI_ADDRS=${PUB_MULTI_ADDRS:-""}
PEER_MULTI_ADDRS=${PEER_MULTI_ADDRS:-"/ip4/38.101.215.13/tcp/30002/p2p/QmQ2gEXoPJg6iMBSUFWGzAabS2VhnzuS782Y637hGjfsRJ"}
HOST_MULTI_ADDRS=${HOST_MULTI_ADDRS:-"/ip4/0.0.0.0/tcp/38331"}

# An RSA key in libp2p's format; created on first start. Delete it for a new peer id.
IDENTITY_PATH=${IDENTITY_PATH:-"$ROOT"/swarm.pem}

SMALL_SWARM_CONTRACT="0x69C6e1D608ec64885E7b185d39b04B491a71768C"
BIG_SWARM_CONTRACT="0x6947c6E196a48B77eFa9331EC1E3e45f3Ee5Fd58"

CPU_ONLY=${CPU_ONLY:-""}
ORG_ID=${ORG_ID:-""}
"""
    prompts = r"""
while true; do
    echo -en $GREEN_TEXT
    read -p ">> Would you like to connect to the Testnet? [Y/n] " yn
    echo -en $RESET_TEXT
    case ${yn:-Y} in
        [Yy]*) CONNECT_TO_TESTNET=true && break ;;
        [Nn]*) CONNECT_TO_TESTNET=false && break ;;
        *) echo ">>> Please answer yes or no." ;;
    esac
done

while true; do
    echo -en $GREEN_TEXT
    read -p ">> Which swarm would you like to join (Math (A) or Math Hard (B))? [A/b] " ab
    echo -en $RESET_TEXT
    case ${ab:-A} in
        [Aa]*) USE_BIG_SWARM=false && break ;;
        [Bb]*) USE_BIG_SWARM=true && break ;;
        *) echo ">>> Please answer A or B." ;;
    esac
done
if [ "$USE_BIG_SWARM" = true ]; then
    SWARM_CONTRACT="$BIG_SWARM_CONTRACT"
else
    SWARM_CONTRACT="$SMALL_SWARM_CONTRACT"
fi

while true; do
    echo -en $GREEN_TEXT
    read -p ">> How many parameters (in billions)? [0.5, 1.5, 7, 32, 72] " pc
    echo -en $RESET_TEXT
    pc=${pc:-0.5}
    case $pc in
        0.5 | 1.5 | 7 | 32 | 72) PARAM_B=$pc && break ;;
        *) echo ">>> Please answer in [0.5, 1.5, 7, 32, 72]." ;;
    esac
done
"""
    env_edit = r"""    sed -i "3s/.*/SMART_CONTRACT_ADDRESS=$SWARM_CONTRACT/" "$ENV_FILE"
"""
    login = (LOGIN_BLOCK.replace("@@ENV_EDIT@@", env_edit.rstrip("\n")).replace("@@YARN_STEPS@@", YARN_V043)
             .replace("@@OPEN@@", OPEN_BROWSER))
    install = r"""
echo_green ">> Getting requirements..."

pip install --upgrade pip
if [ -n "$CPU_ONLY" ] || ! command -v nvidia-smi &> /dev/null; then
    pip install -r "$ROOT"/requirements-cpu.txt
    CONFIG_PATH="$ROOT/hivemind_exp/configs/mac/grpo-qwen-2.5-0.5b-deepseek-r1.yaml"
    GAME="gsm8k"
else
    pip install -r "$ROOT"/requirements-gpu.txt
    pip install flash-attn --no-build-isolation
    case "$PARAM_B" in
        32 | 72) CONFIG_PATH="$ROOT/hivemind_exp/configs/gpu/grpo-qwen-2.5-${PARAM_B}b-bnb-4bit-deepseek-r1.yaml" ;;
        *) CONFIG_PATH="$ROOT/hivemind_exp/configs/gpu/grpo-qwen-2.5-${PARAM_B}b-deepseek-r1.yaml" ;;
    esac
    if [ "$USE_BIG_SWARM" = true ]; then GAME="dapo"; else GAME="gsm8k"; fi
fi

echo_green ">> Done!"

HF_TOKEN=${HF_TOKEN:-""}
if [ -n "${HF_TOKEN}" ]; then
    HUGGINGFACE_ACCESS_TOKEN=${HF_TOKEN}
else"""
    hf = "\n".join("    " + line if line else line for line in HF_PROMPT.strip("\n").splitlines())
    launch = r"""
fi

echo_green ">> Good luck in the swarm!"
echo_blue ">> Post about rl-swarm on X/twitter! --> https://tinyurl.com/swarmtweet"
echo_blue ">> And remember to star the repo on GitHub! --> https://github.com/gensyn-ai/rl-swarm"

if [ -n "$ORG_ID" ]; then
    python -m hivemind_exp.gsm8k.train_single_gpu \
        --hf_token "$HUGGINGFACE_ACCESS_TOKEN" \
        --identity_path "$IDENTITY_PATH" \
        --modal_org_id "$ORG_ID" \
        --contract_address "$SWARM_CONTRACT" \
        --config "$CONFIG_PATH" \
        --game "$GAME"
else
    python -m hivemind_exp.gsm8k.train_single_gpu \
        --hf_token "$HUGGINGFACE_ACCESS_TOKEN" \
        --identity_path "$IDENTITY_PATH" \
        --public_maddr "$PUB_MULTI_ADDRS" \
        --initial_peers "$PEER_MULTI_ADDRS" \
        --host_maddr "$HOST_MULTI_ADDRS" \
        --config "$CONFIG_PATH" \
        --game "$GAME"
fi

wait  # until Ctrl+C
"""
    return head + COMMON_HEAD + BANNER + prompts + login + install + "\n" + hf + launch


def _genrl_head(era_note: str, contract: str, extra_exports: str) -> str:
    return (r"""#!/usr/bin/env bash
# Simulated rl-swarm checkout (swarmtui sim, era @@NOTE@@). Behaves like the real script;
# the installs are stand-ins and the trainer is swarmtui's simulator.

set -euo pipefail

ROOT=$PWD

export IDENTITY_PATH
export GENSYN_RESET_CONFIG
export CONNECT_TO_TESTNET=true
export ORG_ID
export HF_HUB_DOWNLOAD_TIMEOUT=120
export SWARM_CONTRACT="@@CONTRACT@@"
@@EXTRA@@export HUGGINGFACE_ACCESS_TOKEN="None"

# An RSA key in libp2p's format; created on first start. Delete it for a new peer id.
IDENTITY_PATH=${IDENTITY_PATH:-"$ROOT"/swarm.pem}

DOCKER=${DOCKER:-""}
GENSYN_RESET_CONFIG=${GENSYN_RESET_CONFIG:-""}
""" + DOCKER_VOLUMES + r"""
CPU_ONLY=${CPU_ONLY:-""}
ORG_ID=${ORG_ID:-""}
""").replace("@@NOTE@@", era_note).replace("@@CONTRACT@@", contract).replace("@@EXTRA@@", extra_exports)


def _rgym() -> str:
    head = _genrl_head("rgym = v0.6.4", "0xFaD7C5e93f28257429569B854151A1B8DCD404c2",
                       'export PRG_CONTRACT="0x51D4db531ae706a6eC732458825465058fA23a35"\n'
                       "export PRG_GAME=true\n")
    head = head.replace("ROOT=$PWD\n", 'ROOT=$PWD\n\nGENRL_TAG="0.1.11"\n', 1)
    env_edit = r"""    sed -i "3s/.*/SWARM_CONTRACT_ADDRESS=$SWARM_CONTRACT/" "$ENV_FILE"
    sed -i "4s/.*/PRG_CONTRACT_ADDRESS=$PRG_CONTRACT/" "$ENV_FILE"
"""
    login = (LOGIN_BLOCK.replace("@@ENV_EDIT@@", env_edit.rstrip("\n")).replace("@@YARN_STEPS@@", YARN_GENRL)
             .replace("@@OPEN@@", OPEN_BROWSER_GENRL))
    install = r"""
echo_green ">> Getting requirements..."
pip install --upgrade pip

echo_green ">> Installing GenRL..."
pip install gensyn-genrl==${GENRL_TAG}
pip install reasoning-gym>=0.1.20
pip install hivemind@git+https://github.com/gensyn-ai/hivemind@639c964a8019de63135a2594663b5bec8e5356dd
""" + _config_copy("rgym_exp", "rg-swarm.yaml") + DOCKER_CONFIGS + r"""
echo_green ">> Done!"
"""
    prg = r"""
echo -en $GREEN_TEXT
read -p ">> Would you like your model to participate in the AI Prediction Market? [Y/n] " yn
case $yn in
    n | N) PRG_GAME=false ;;
    *) PRG_GAME=true ;;
esac
echo_green ">> Playing PRG game: $PRG_GAME"
echo -en $RESET_TEXT
"""
    launch = r"""echo_green ">> Good luck in the swarm!"
echo_blue ">> And remember to star the repo on GitHub! --> https://github.com/gensyn-ai/rl-swarm"

python -m rgym_exp.runner.swarm_launcher \
    --config-path "$ROOT/rgym_exp/config" \
    --config-name "rg-swarm.yaml"

wait  # until Ctrl+C
"""
    return head + COMMON_HEAD + BANNER + login + install + HF_PROMPT + MODEL_PROMPT + prg + launch


def _codezero() -> str:
    head = _genrl_head("codezero = v0.7.0", "0x7745a8FE4b8D2D2c3BB103F8dCae822746F35Da0", "")
    env_edit = r"""    sed -i "3s/.*/SWARM_CONTRACT_ADDRESS=$SWARM_CONTRACT/" "$ENV_FILE"
"""
    login = (LOGIN_BLOCK.replace("@@ENV_EDIT@@", env_edit.rstrip("\n")).replace("@@YARN_STEPS@@", YARN_GENRL)
             .replace("@@OPEN@@", OPEN_BROWSER_GENRL))
    install = r"""
echo_green ">> Getting requirements..."
pip install --upgrade pip

echo_green ">> Installing GenRL..."

if [ -z "$DOCKER" ]; then
    echo_green ">> Installing Ollama requires 'sudo' privileges. As an alternative, please use the Docker installation path as described in README.md"
    if ! ollama list > /dev/null 2>&1; then
        echo ">> Starting ollama server..."
        nohup ollama serve > /tmp/ollama.log 2>&1 &
    fi
fi

pip install -r code_gen_exp/requirements.txt
""" + _config_copy("code_gen_exp", "code-gen-swarm.yaml") + DOCKER_CONFIGS + r"""
echo_green ">> Done!"
"""
    logout = r"""
# A stale Hugging Face login confuses the trainer: log out, and once more without the env tokens.
if ! hf auth logout > /dev/null 2>&1; then
    unset HF_TOKEN
    unset HUGGING_FACE_HUB_TOKEN
    hf auth logout > /dev/null 2>&1
fi

echo -en $RESET_TEXT
"""
    launch = r"""echo_green ">> Good luck in the swarm!"
echo_blue ">> And remember to star the repo on GitHub! --> https://github.com/gensyn-ai/rl-swarm"

python -m code_gen_exp.runner.swarm_launcher \
    --config-path "$ROOT/code_gen_exp/config" \
    --config-name "code-gen-swarm.yaml"

wait  # until Ctrl+C
"""
    return head + COMMON_HEAD + BANNER + login + install + HF_PROMPT + MODEL_PROMPT + logout + launch


def render_script(era: str, port: int) -> str:
    text = {"hivemind": _hivemind, "rgym": _rgym, "codezero": _codezero}[era]()
    return text.replace("@@PORT@@", str(int(port)))
