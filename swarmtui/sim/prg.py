"""The v0.6 AI Prediction Market (PRG) as the node plays it (rgym_exp/src/prg_module.py, 0737c2e).

After every round the manager asks the judge for the current clue; a clue not answered yet is
logged, the model picks a choice and bets balance // rounds_remaining on it, and the bet goes to
the log and to logs/prg_record.txt. When a new game starts, the reward of the previous one is
claimed. The node keeps its place in logs/prg_state.json and says so at its next start. Only
the node's side is modelled; the clue schedule and the token balance are the sim's own.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Callable

CLUES_PER_GAME = 6
START_BALANCE = 1000 * 10**18      # wei-like units: the node prints bet / 1e18
GAMES = [
    ("Which planet has a day longer than its year?", ["Mercury", "Venus", "Mars", "Jupiter"]),
    ("Which element has the highest melting point?", ["Tungsten", "Carbon", "Osmium", "Rhenium"]),
    ("Which ocean is the deepest?", ["Atlantic", "Indian", "Pacific", "Arctic"]),
    ("Which language was released first?", ["Lisp", "COBOL", "Fortran", "ALGOL"]),
]


class PredictionMarket:
    def __init__(self, root: Path, peer: str, info: Callable[[str], None], debug: Callable[[str], None],
                 rng: random.Random, enabled: bool, org_id: str):
        self.logs = root / "logs"
        self.state_file = self.logs / "prg_state.json"
        self.record = self.logs / "prg_record.txt"
        self.peer = peer
        self.info = info
        self.rng = rng
        self.history: dict[int, int] = {}
        self.last_claimed: int | None = None
        self.last_played: int | None = None
        self.enabled = enabled and bool(org_id)
        if enabled and not org_id:
            debug("PRG game disabled due to missing configuration.")
        if self.enabled:
            self._load()

    def _load(self) -> None:
        try:
            state = json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return
        self.history = {int(k): v for k, v in state.get("prg_history_dict", {}).items()}
        self.last_claimed = state.get("prg_last_game_claimed")
        self.last_played = state.get("prg_last_game_played")
        self.info("Loaded PRG state from file:\n\t"
                  f"last game claimed - {self.last_claimed},\n\t"
                  f"last game played - {self.last_played}")

    def _save(self) -> None:
        self.state_file.write_text(json.dumps({"prg_history_dict": self.history,
                                               "prg_last_game_claimed": self.last_claimed,
                                               "prg_last_game_played": self.last_played}))

    def _note(self, line: str) -> None:
        with open(self.record, "a") as fh:
            fh.write(line)

    def after_round(self, swarm_round: int, balance: int) -> int:
        """Play the clue current at `swarm_round`; returns the token balance left."""
        if not self.enabled:
            return balance
        game, clue_id = divmod(swarm_round, CLUES_PER_GAME)
        if game in self.history and clue_id <= self.history[game]:
            return balance                                   # already answered this clue
        clue, choices = GAMES[game % len(GAMES)]
        rounds_remaining = CLUES_PER_GAME - clue_id
        judge_reply = {"game_id": game, "clue_id": clue_id, "rounds_remaining": rounds_remaining, "clue": clue,
                       "choices": choices}
        self.info(f"New clue received for PRG: {judge_reply}")
        choice = self.rng.choice(choices)
        bet = balance // max(1, rounds_remaining)
        balance -= bet
        self.history[game] = clue_id
        # The node's own line ends in a newline, so the logger prints an empty line after it.
        line = f"Game {game} Round {clue_id}: Peer {self.peer} placed bet of {bet / 1e18:.2f} tokens on choice - {choice}\n"
        self.info(line)
        self._note(line)
        if self.last_played is not None and game != self.last_played:
            self.info(f"successfully claimed reward for previous game {self.last_played}")
            self._note(f"successfully claimed reward for previous game {self.last_played}\n")
            self.last_claimed = self.last_played
            balance += START_BALANCE // 2
        self.last_played = game
        self._save()
        return balance
