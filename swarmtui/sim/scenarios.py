"""What a simulated node can be made to do, and the defaults each scenario brings.

Every failure text a scenario prints is the verbatim text of rl-swarm-facts.md §4 (and the ids of
signatures.md), so the detection catalogue is tested against the real words.
"""

from __future__ import annotations

ERAS = ("hivemind", "rgym", "codezero")

ERA_LABELS = {
    "hivemind": "hivemind_exp (v0.4.4)",
    "rgym": "rgym_exp (v0.6.4)",
    "codezero": "CodeZero (v0.7.0)",
}

SCENARIOS: dict[str, str] = {
    "healthy": "logs in, trains; rounds advance, now and then one is skipped",
    "p2pd-timeout": "P2PDaemonError: Daemon failed to start in N seconds (python exits non-zero)",
    "bootstrap-failed": "P2PDaemonError: Daemon failed to start: ... failed to connect to bootstrap peers",
    "identity-taken": "P2PDaemonError: Identity from `swarm.pem` is already taken by another peer",
    "dht-errno11": "after a round, the DHT process dies: [Errno 11] Resource temporarily unavailable, "
                   "Process DHT-1:, EOFError: Ran out of input",
    "oom-killed": "after a round, the trainer is SIGKILLed (bash prints 'Killed'); its p2pd is left behind",
    "cuda-oom": "after a round, torch.OutOfMemoryError: CUDA out of memory",
    "game-run-exception": "after a round, 'Exception occurred during game run.' and python exits 0 "
                          "(hivemind era: 'Exception during training' + the current_batch UnboundLocalError)",
    "hang": "after a round, goes silent and keeps running",
    "stall": "keeps printing 'Already finished round' while the round never advances",
    "flood": "trains normally while printing thousands of warning lines per second",
    "login-wait": "nobody ever logs in: waits for userData.json forever",
    "port-in-use": "another program holds the login port: EADDRINUSE in logs/yarn.log, login never comes",
    "chain-submit-transient": "the benign v0.5.8 'Failed to submit to chain.' error once per round; keeps training",
    "trainer-exit-clean": "after a round, 'Training timed out!' and python exits 0 with no error line; "
                          "run_rl_swarm.sh sits silently in its final `wait` on the login server",
    "training-error-continuing": "genrl 0.1.11+ (rgym, codezero): from the second round on, every round ends in "
                                 "'Error occurred during training, continuing...'; the node never exits",
    "demo": "for 'swarmtui demo': logs in by itself, rounds of about a minute at speed 4; the first run "
            "dies of a believable error in its first round (about 20 s in), so a fault, the restart and the "
            "recovery all show within the first minute; later runs stay healthy",
}

# Scenarios that only exist in some eras (what the real code of other eras never prints).
ERA_ONLY = {"training-error-continuing": ("rgym", "codezero")}

# How the login happens unless create_checkout(login=...) says otherwise.
LOGIN_MODES = ("present", "auto", "delay", "never")
DEFAULT_LOGIN = {"login-wait": "never", "port-in-use": "never"}  # everything else: "auto"

# The speed at which the demo's rounds take about a minute of wall time.
DEMO_SPEED = 4.0
# Node seconds per swarm round: ~4 min, the genrl-era average derived in facts §5.1.
ROUND_SECONDS = 240.0


def default_login(scenario_spec: str) -> str:
    first = parse_spec(scenario_spec)[0]
    return DEFAULT_LOGIN.get(first, "auto")


def parse_spec(spec: str) -> list[str]:
    """'oom-killed,healthy' -> ['oom-killed', 'healthy']; raises ValueError naming a bad item."""
    items = [s.strip() for s in str(spec).split(",") if s.strip()]
    if not items:
        raise ValueError("no scenario given")
    for item in items:
        if item not in SCENARIOS:
            raise ValueError(f"unknown scenario {item!r} (known: {', '.join(SCENARIOS)})")
    return items


def scenario_for_run(spec: str, run: int) -> str:
    """Run 1 uses the first item, run N the Nth; the last item repeats."""
    items = parse_spec(spec)
    return items[min(max(run, 1), len(items)) - 1]
