"""The simulated checkout's own settings (`.swarmtui-sim.json`) and run counter.

The running pieces (login server, trainer, shims) read the file at start, then let the
environment override it: SWARMTUI_SIM_SCENARIO, SWARMTUI_SIM_SPEED, SWARMTUI_SIM_PORT.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from swarmtui.sim.scenarios import default_login, parse_spec, scenario_for_run

CONFIG_NAME = ".swarmtui-sim.json"
STATE_NAME = ".swarmtui-sim-state.json"
MARKER = "swarmtui-sim"


@dataclass(frozen=True)
class SimConfig:
    root: Path
    era: str
    scenario: str  # the spec: one name or a comma list
    speed: float
    port: int
    login: str

    def scenario_for(self, run: int) -> str:
        return scenario_for_run(self.scenario, run)


def is_sim_checkout(root: Path) -> bool:
    try:
        data = json.loads((Path(root) / CONFIG_NAME).read_text())
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and data.get("kind") == MARKER


def write_config(root: Path, era: str, scenario: str, speed: float, port: int, login: str) -> None:
    data = {"kind": MARKER, "era": era, "scenario": scenario, "speed": speed, "port": port, "login": login}
    _write_json(Path(root) / CONFIG_NAME, data)


def load_config(root: Path, env: dict | None = None) -> SimConfig:
    env = os.environ if env is None else env
    root = Path(root)
    data = json.loads((root / CONFIG_NAME).read_text())
    scenario = env.get("SWARMTUI_SIM_SCENARIO") or data["scenario"]
    try:
        parse_spec(scenario)
    except ValueError:
        scenario = data["scenario"]
    speed = _float(env.get("SWARMTUI_SIM_SPEED"), float(data.get("speed", 1.0)))
    port = _int(env.get("SWARMTUI_SIM_PORT"), int(data.get("port", 3000)))
    login = data.get("login") or default_login(scenario)
    return SimConfig(root, data["era"], scenario, speed, port, login)


def find_root(start: Path) -> Path | None:
    """The checkout that holds `start` (a file or folder inside it)."""
    here = Path(start).resolve()
    for folder in (here, *here.parents):
        if (folder / CONFIG_NAME).is_file():
            return folder
    return None


def state_path(root: Path) -> Path:
    """The run counter and the simulated chain's clock. A container of the Docker stand-in
    (sim/docker.py) is a copy of the checkout whose config names the checkout's own, so runs
    keep counting across containers."""
    try:
        data = json.loads((Path(root) / CONFIG_NAME).read_text())
        other = data.get("state_dir") if isinstance(data, dict) else None
    except (OSError, ValueError):
        other = None
    return Path(other if isinstance(other, str) and other else root) / STATE_NAME


def read_state(root: Path) -> dict:
    try:
        data = json.loads(state_path(root).read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def update_state(root: Path, **changes) -> dict:
    state = read_state(root)
    state.update(changes)
    _write_json(state_path(root), state)
    return state


def begin_run(root: Path) -> int:
    """Count one more start of the node (called once per run, by the login server's start)."""
    runs = int(read_state(root).get("runs", 0)) + 1
    update_state(root, runs=runs)
    return runs


def current_run(root: Path) -> int:
    return max(1, int(read_state(root).get("runs", 1)))


def _write_json(path: Path, data: dict) -> None:
    fd, tmp = tempfile.mkstemp(prefix=path.name, dir=path.parent)
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh, indent=2)
        fh.write("\n")
    os.replace(tmp, path)


def _float(text, default: float) -> float:
    try:
        value = float(text)
        return value if value > 0 else default
    except (TypeError, ValueError):
        return default


def _int(text, default: int) -> int:
    try:
        return int(text)
    except (TypeError, ValueError):
        return default
