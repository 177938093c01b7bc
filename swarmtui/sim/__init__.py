"""A simulated rl-swarm checkout, for `swarmtui demo` and for every engine and UI test.

`create_checkout` lays out a folder like a real checkout of one era; running its
run_rl_swarm.sh behaves like the real node (prompts, login wait, trainer, p2pd, logs), and the
scenario decides how it goes wrong. Importing this package stays cheap: the pieces load lazily.
"""

from __future__ import annotations

from pathlib import Path

from swarmtui.sim.scenarios import DEMO_SPEED, ERAS, LOGIN_MODES, SCENARIOS

__all__ = ["ERAS", "SCENARIOS", "LOGIN_MODES", "DEMO_SPEED", "create_checkout", "play_login"]


def create_checkout(dir: Path, era: str, scenario: str = "healthy", speed: float = 1.0, port: int = 3000,
                    login: str | None = None, force: bool = False, venv: str = ".venv") -> Path:
    from swarmtui.sim.checkout import create_checkout as _create

    return _create(dir, era, scenario=scenario, speed=speed, port=port, login=login, force=force, venv=venv)


def play_login(dir: Path) -> None:
    """Play the browser: write modal-login/temp-data/userData.json and userApiKey.json (activated)."""
    from swarmtui.errors import UserError
    from swarmtui.sim.config import is_sim_checkout
    from swarmtui.sim.login import play_login as _play

    root = Path(dir).expanduser()
    if not is_sim_checkout(root):
        raise UserError(f"{root} is not a simulated checkout (make one with 'swarmtui sim DIR --era ERA')")
    _play(root)
