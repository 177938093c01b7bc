"""The last rounds of a node, kept across runs: what the progress pane's trends are drawn from.

One record per completed round: when it ended, how long it took, the reward the trainer printed
during it (hivemind era; CodeZero/genrl print none) and the v0.6 Prediction Market's bets and
claims made during it. A round's duration is only known within one run (a restart cuts the round
in progress), so the trend of a node restarted every hour would be empty without the earlier runs:
the records live in the node's state dir (trends.json), bounded, rewritten whole at each round
(rounds are minutes apart). A damaged or foreign file is read as "no trend yet", never fatal.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from swarmtui import paths
from swarmtui.safefile import ensure_private_dir, read_regular, write_atomic

TRENDS_FILE = "trends.json"
MAX_ROUNDS = 200
# ~100 bytes a record: 200 records are ~20 KB; anything much bigger was not written by us.
MAX_FILE_BYTES = 1 << 20
VERSION = 1

# field: the JSON types it may hold (None is always allowed except for `round`).
_FIELDS: dict[str, tuple[type, ...]] = {
    "round": (int,), "end": (str,), "duration_s": (int, float), "reward": (int, float),
    "bets": (int,), "claims": (int,),
}


def clean_record(obj: Any) -> dict[str, Any] | None:
    """A record with well-typed fields only, or None when it is not one (no round number)."""
    if not isinstance(obj, dict):
        return None
    out: dict[str, Any] = {}
    for name, types in _FIELDS.items():
        value = obj.get(name)
        if isinstance(value, bool) or not isinstance(value, types):
            value = None
        elif isinstance(value, float) and not math.isfinite(value):
            value = None
        out[name] = value
    return out if out["round"] is not None else None


def reward_of(rewards: dict[str, float] | None) -> float | None:
    """The one number that stands for a trainer's reward print: `reward` (its total) when it has
    one, else its first `...reward...` value (the parts, rewards/<func>)."""
    if not rewards:
        return None
    value = rewards.get("reward", next(iter(rewards.values())))
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


class RoundTrends:
    """The records on disk plus the bookkeeping of the round in progress."""

    def __init__(self, state_dir: Path, *, keep: int = MAX_ROUNDS):
        self.dir = Path(state_dir)
        self.path = self.dir / TRENDS_FILE
        self.keep = keep
        self.rounds: list[dict[str, Any]] = []
        self.load_problem = ""          # why the file could not be read, for one notice
        self._bets_at: int | None = None
        self._claims_at: int | None = None
        self._rewards_used: dict[str, float] | None = None

    def load(self) -> list[dict[str, Any]]:
        try:
            raw = read_regular(self.path, MAX_FILE_BYTES, follow_symlinks=False)
            data = json.loads(raw.decode("utf-8"))
            items = data.get("rounds") if isinstance(data, dict) else None
            if not isinstance(items, list):
                raise ValueError("no list of rounds")
        except FileNotFoundError:
            items = []
        except (OSError, ValueError, UnicodeDecodeError) as exc:   # torn, hand-edited, too big
            self.load_problem = f"{self.path}: {exc}"
            items = []
        self.rounds = [r for r in (clean_record(x) for x in items) if r is not None][-self.keep:]
        return list(self.rounds)

    def round_done(self, round_no: int, end: str, duration_s: float | None, rewards: dict[str, float] | None,
                   market: dict[str, Any] | None) -> dict[str, Any]:
        """Record one completed round. `market` holds the run's running totals; the record keeps
        what changed since the previous round this keeper saw end."""
        bets = claims = None
        if market:
            total_bets, total_claims = int(market.get("bets") or 0), int(market.get("claims") or 0)
            bets = total_bets - (self._bets_at or 0)
            claims = total_claims - (self._claims_at or 0)
            self._bets_at, self._claims_at = total_bets, total_claims
        # The progress model keeps the last reward print until the next one: a round that printed
        # none would repeat its predecessor's reward.
        reward = None if rewards == self._rewards_used else reward_of(rewards)
        self._rewards_used = dict(rewards) if rewards else None
        record = clean_record({"round": round_no, "end": end, "duration_s": duration_s,
                               "reward": reward, "bets": bets, "claims": claims})
        assert record is not None
        self.rounds.append(record)
        del self.rounds[:-self.keep]
        return record

    def save(self) -> None:
        ensure_private_dir(self.dir, within=paths.state_dir())
        body = json.dumps({"v": VERSION, "rounds": self.rounds}, ensure_ascii=False, separators=(",", ":"))
        write_atomic(self.path, body.encode("utf-8"))
