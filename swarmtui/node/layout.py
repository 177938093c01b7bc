"""What an rl-swarm checkout is: its era, where its files live, which prompts it will ask.

Everything is read from the checkout itself (directories, and the user's own run_rl_swarm.sh),
so a fork that moves a file or adds a prompt is seen as it is. rl-swarm-facts.md §0, §1.4, §1.7.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping

from swarmtui.errors import UserError

ERAS = ("hivemind", "genrl-swarm", "rgym", "codezero")

ERA_LABELS = {
    "hivemind": "Hivemind (v0.2–v0.4)",
    "genrl-swarm": "genrl-swarm (v0.5.0–v0.5.1)",
    "rgym": "RGym (v0.5.2–v0.6)",
    "codezero": "CodeZero (v0.7+)",
}

ERA_ENTRY_MODULES = {
    "hivemind": "hivemind_exp.gsm8k.train_single_gpu",
    "genrl-swarm": "genrl_swarm.runner.swarm_launcher",
    "rgym": "rgym_exp.runner.swarm_launcher",
    "codezero": "code_gen_exp.runner.swarm_launcher",
}

# Where each era keeps its copy of name_utils.py (identical word lists in all of them).
NAME_UTILS_CANDIDATES = (
    "code_gen_exp/src/utils/name_utils.py",
    "rgym_exp/src/utils/name_utils.py",
    "hivemind_exp/name_utils.py",
)

SCRIPT_NAME = "run_rl_swarm.sh"
DEFAULT_LOGIN_PORT = 3000

# The Docker way (README since v0.5: `docker compose run --rm --build -Pit swarm-cpu|swarm-gpu`).
# docker-compose.yaml (v0.5.0 ... main) mounts these host folders into the container, whose
# image sets IDENTITY_PATH=/home/gensyn/rl_swarm/keys/swarm.pem (swarm.containerfile):
#   ./user/modal-login -> /home/gensyn/rl_swarm/modal-login/temp-data
#   ./user/keys        -> /home/gensyn/rl_swarm/keys
#   ./user/configs     -> /home/gensyn/rl_swarm/configs
#   ./user/logs        -> /home/gensyn/rl_swarm/logs
DOCKER_USER_DIR = "user"
DOCKER_KEYS = "user/keys"
DOCKER_LOGIN = "user/modal-login"
DOCKER_LOGS = "user/logs"


class NotACheckout(UserError):
    """The directory is not an rl-swarm checkout we understand; the message says what is missing."""

    def __init__(self, message: str):
        super().__init__(message, exit_code=2)


@dataclass(frozen=True)
class PromptSpec:
    key: str
    text: str
    default: str
    secret: bool


# The exact texts of rl-swarm-facts.md §1.4 (with their trailing space, as `read -p` prints them).
_KNOWN_PROMPTS: tuple[tuple[str, str, str, str, bool], ...] = (
    # key, a phrase that identifies it, the canonical text, default, secret
    ("testnet", "connect to the Testnet", ">> Would you like to connect to the Testnet? [Y/n] ", "Y", False),
    ("swarm", "Which swarm would you like to join",
     ">> Which swarm would you like to join (Math (A) or Math Hard (B))? [A/b] ", "A", False),
    ("parameters", "How many parameters", ">> How many parameters (in billions)? [0.5, 1.5, 7, 32, 72] ", "0.5", False),
    ("hf_push", "push models you train",
     ">> Would you like to push models you train in the RL swarm to the Hugging Face Hub? [y/N] ", "N", False),
    ("hf_token", "Hugging Face access token", "Enter your Hugging Face access token: ", "", True),
    ("model", "name of the model you want to use",
     ">> Enter the name of the model you want to use in huggingface repo/name format, or press [Enter] "
     "to use the default model. ", "", False),
    ("prediction_market", "AI Prediction Market",
     ">> Would you like your model to participate in the AI Prediction Market? [Y/n] ", "Y", False),
)
_BY_KEY = {k: PromptSpec(k, text, default, secret) for k, _, text, default, secret in _KNOWN_PROMPTS}

ERA_PROMPTS: dict[str, tuple[PromptSpec, ...]] = {
    "hivemind": tuple(_BY_KEY[k] for k in ("testnet", "swarm", "parameters", "hf_push", "hf_token")),
    "genrl-swarm": tuple(_BY_KEY[k] for k in ("hf_push", "hf_token", "model")),
    "rgym": tuple(_BY_KEY[k] for k in ("hf_push", "hf_token", "model", "prediction_market")),
    "codezero": tuple(_BY_KEY[k] for k in ("hf_push", "hf_token", "model")),
}

_SECRET_WORDS = re.compile(r"token|password|passphrase|secret|private key|api key", re.IGNORECASE)


def _identify_prompt(text: str, var: str) -> PromptSpec:
    for key, phrase, _canonical, default, secret in _KNOWN_PROMPTS:
        if phrase in text:
            return PromptSpec(key, text, default, secret)
    return PromptSpec(f"unknown-{var}", text, "", bool(_SECRET_WORDS.search(text)))


# `read [-r] [-s] -p "TEXT" VAR` or with single quotes; options may come in any order.
_READ_P = re.compile(
    r"""(?m)^[^#\n]*?\bread\b((?:\s+-[A-Za-z]+)*?)\s+-[A-Za-z]*p\s*(?:"((?:[^"\\]|\\.)*)"|'([^']*)')"""
    r"""((?:\s+-[A-Za-z]+(?:\s+\S+)?)*)\s+([A-Za-z_][A-Za-z0-9_]*)"""
)
_BASH_DQ_ESCAPE = re.compile(r"""\\([\\"$`])""")


def parse_prompts(script_text: str) -> tuple[PromptSpec, ...]:
    """The prompts a script asks, in file order, from its own `read -p` lines."""
    out: list[PromptSpec] = []
    seen: set[str] = set()
    for m in _READ_P.finditer(script_text):
        opts = (m.group(1) or "") + (m.group(4) or "")
        if m.group(2) is not None:
            text = _BASH_DQ_ESCAPE.sub(r"\1", m.group(2))
        else:
            text = m.group(3)
        spec = _identify_prompt(text, m.group(5))
        if "-s" in opts.split() and not spec.secret:
            spec = PromptSpec(spec.key, spec.text, spec.default, True)  # `read -s` hides input
        if spec.key in seen:
            continue  # the same prompt in two branches of the script (e.g. Docker and not)
        seen.add(spec.key)
        out.append(spec)
    return tuple(out)


def prompt_for(text: str, specs: Iterable[PromptSpec]) -> PromptSpec | None:
    """Which prompt a (partial) line is: the spec whose text the line contains, longest first.

    Whitespace at either end is ignored (a pty may show the prompt after colour codes were
    stripped, and the trailing space of `read -p` is easy to lose).
    """
    line = text.strip()
    if not line:
        return None
    best: PromptSpec | None = None
    for spec in specs:
        want = spec.text.strip()
        if want and want in line and (best is None or len(want) > len(best.text.strip())):
            best = spec
    return best


@dataclass(frozen=True)
class Layout:
    root: Path
    era: str
    era_label: str
    script: Path
    identity_path: Path
    temp_data_dir: Path
    user_data_path: Path
    api_key_path: Path
    logs_dir: Path
    log_files: tuple[Path, ...]
    prompts: tuple[PromptSpec, ...]
    entry_module: str | None
    venv_bin: Path | None
    login_port: int
    name_utils_path: Path | None
    # "script" (bash run_rl_swarm.sh on this machine) or "docker" (the compose service: identity,
    # login files and logs live under user/, the container's own Python is used).
    launch: str = "script"
    # Log files whose name is known only later, relative to the root (fnmatch patterns):
    # v0.5.2-v0.5.8 write logs/training_<animal_name>.log once the peer id is known.
    log_globs: tuple[str, ...] = ()


_LAUNCH_MODULE = re.compile(r"(?m)^[^#\n]*\bpython3?\s+-m\s+([A-Za-z_][\w.]*)")
_LAUNCH_GENRL_SWARM = "genrl-swarm/src/genrl_swarm"
_PORT_LITERAL = re.compile(r"localhost:(\d{2,5})\b")
_PORT_VAR = re.compile(r"localhost:\$\{([A-Za-z_]\w*):-(\d{2,5})\}")
_PORT_ANY = re.compile(r"localhost:(?:\$\{([A-Za-z_]\w*):-(\d{2,5})\}|(\d{2,5})\b)")


def detect_era(root: Path, script_text: str) -> str | None:
    """facts §0 'Era detection for the supervisor': directories first, then the launch line."""
    if (root / "code_gen_exp").is_dir():
        return "codezero"
    if (root / "rgym_exp").is_dir():
        return "rgym"
    if _LAUNCH_GENRL_SWARM in script_text:
        return "genrl-swarm"
    if (root / "hivemind_exp" / "gsm8k" / "train_single_gpu.py").is_file():
        return "hivemind"
    module = _launch_module(script_text)
    if module:
        for era, entry in ERA_ENTRY_MODULES.items():
            if module.split(".")[0] == entry.split(".")[0]:
                return era
    return None


def _launch_module(script_text: str) -> str | None:
    for m in _LAUNCH_MODULE.finditer(script_text):
        module = m.group(1)
        if module not in ("pip", "venv", "ensurepip"):
            return module
    return None


def login_port_variable(script_text: str) -> str | None:
    """The environment variable the script's login URL reads its port from
    (`localhost:${VAR:-3000}`), or None when the script hard-codes the port (rl-swarm's own
    run_rl_swarm.sh does: facts §PORT). Only such a variable can move a native node's port."""
    m = _PORT_ANY.search(script_text)
    return m.group(1) if m and m.group(1) else None


def _login_port(script_text: str, env: Mapping[str, str]) -> int:
    m = _PORT_ANY.search(script_text)
    if not m:
        return DEFAULT_LOGIN_PORT
    if m.group(1):
        value = env.get(m.group(1), "")
        if value.isdigit() and 0 < int(value) < 65536:
            return int(value)
        return int(m.group(2))
    return int(m.group(3))


# v0.4.3 made the logs folder (`mkdir -p "$ROOT/logs"`, `yarn build > "$ROOT/logs/yarn.log"`) and
# python's TeeHandler("logs/swarm.log"); v0.1-v0.4.2 scripts never name it.
_LOGS_DIR = re.compile(r"(?m)^[^#\n]*(?:/logs\b|\blogs/)")


def _log_files(logs: Path, era: str, script_text: str) -> tuple[Path, ...]:
    if era == "hivemind":
        if not _LOGS_DIR.search(script_text):
            return ()       # v0.1-v0.3: everything goes to the terminal only (facts §5.6)
        return (logs / "swarm.log", logs / "yarn.log")
    return (logs / "swarm_launcher.log", logs / "yarn.log")


# rgym_exp/src/manager.py of v0.5.2-v0.5.8 adds a FileHandler for
# os.path.join(log_dir, f"training_{self.animal_name}.log"); removed in v0.6.0 (353e519).
_TRAINING_LOG = re.compile(r"""["']training_\{[^}\n]*\}\.log["']""")


def _log_globs(root: Path, logs_rel: str, era: str) -> tuple[str, ...]:
    if era != "rgym":
        return ()
    try:
        text = (root / "rgym_exp" / "src" / "manager.py").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ()
    return (f"{logs_rel}/training_*.log",) if _TRAINING_LOG.search(text) else ()


def docker_layout_present(root: Path) -> bool:
    """A checkout run the Docker way: user/keys/swarm.pem is there and the script way's
    swarm.pem is not (docker creates the user/ folders at the first `compose run`)."""
    return (root / DOCKER_KEYS / "swarm.pem").exists() and not (root / "swarm.pem").exists()


def find_name_utils(root: Path) -> Path | None:
    for rel in NAME_UTILS_CANDIDATES:
        path = root / rel
        if path.is_file():
            return path
    return None


def inspect_checkout(path, env: Mapping[str, str] | None = None, *, docker: bool | None = None) -> Layout:
    """Describe the checkout at `path`, or raise NotACheckout naming what is missing.

    docker: True when the node is launched the Docker way ([launch] command is a docker
    compose command), False for run_rl_swarm.sh, None to tell from the files (the Docker way
    when user/keys/swarm.pem exists and ./swarm.pem does not)."""
    env = os.environ if env is None else env
    root = Path(path).expanduser()
    if not root.exists():
        raise NotACheckout(f"{root}: no such directory")
    if not root.is_dir():
        raise NotACheckout(f"{root}: not a directory (give the rl-swarm checkout folder)")
    root = root.resolve()
    script = root / SCRIPT_NAME
    if not script.is_file():
        raise NotACheckout(f"{root}: not an rl-swarm checkout ({SCRIPT_NAME} is missing)")
    try:
        script_text = script.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise NotACheckout(f"{script}: cannot be read ({exc.strerror or exc})") from None
    era = detect_era(root, script_text)
    if era is None:
        raise NotACheckout(
            f"{root}: {SCRIPT_NAME} is there but no known rl-swarm era matches "
            "(missing code_gen_exp/, rgym_exp/, genrl-swarm launch line and hivemind_exp/gsm8k/train_single_gpu.py)"
        )
    if docker is None:
        docker = not env.get("IDENTITY_PATH") and docker_layout_present(root)
    identity_env = env.get("IDENTITY_PATH", "")
    if docker:
        # The container gets its IDENTITY_PATH from the image, never from this environment.
        identity_path = root / DOCKER_KEYS / "swarm.pem"
        temp_data = root / DOCKER_LOGIN
        logs_rel = DOCKER_LOGS
    else:
        if identity_env:
            identity_path = Path(identity_env).expanduser()
            if not identity_path.is_absolute():
                identity_path = root / identity_path  # the script runs with cwd = the checkout
        else:
            identity_path = root / "swarm.pem"
        temp_data = root / "modal-login" / "temp-data"
        logs_rel = "logs"
    # A script whose `read -p` lines cannot be read gets the era's list; v0.1 asks nothing, and
    # texts that never appear are never answered.
    prompts = parse_prompts(script_text) or ERA_PROMPTS[era]
    venv_bin = root / ".venv" / "bin"
    return Layout(
        root=root,
        era=era,
        era_label=ERA_LABELS[era],
        script=script,
        identity_path=identity_path,
        temp_data_dir=temp_data,
        user_data_path=temp_data / "userData.json",
        api_key_path=temp_data / "userApiKey.json",
        logs_dir=root / logs_rel,
        log_files=_log_files(root / logs_rel, era, script_text),
        prompts=prompts,
        entry_module=_launch_module(script_text) or ERA_ENTRY_MODULES[era],
        venv_bin=None if docker else (venv_bin if venv_bin.is_dir() else None),
        login_port=_login_port(script_text, env),
        name_utils_path=find_name_utils(root),
        launch="docker" if docker else "script",
        log_globs=_log_globs(root, logs_rel, era),
    )
