"""Folds parsed events into "where is the node": round, stage, step, rewards, skipped rounds.

Time is passed in (`now`, a monotonic clock reading), so tests and `diagnose` can drive it.
Skipped rounds follow rl-swarm-facts.md §5.4: there is no log line for a skip; a skip is a
round number that jumps by more than one between two rounds the node worked on.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from swarmtui.node.logparse import Hello, MarketBet, MarketClaim, Milestone, Rewards, RoundEvent, StepProgress

_MAX_DURATIONS = 20
_MAX_SKIPPED = 200

# The snapshot's keys are exactly the fields of swarmtui.engine.events.ProgressUpdate.
SNAPSHOT_FIELDS = ("round", "stage", "step", "total", "era", "rate", "eta_s", "rounds_completed",
                   "rounds_skipped", "last_rewards", "since_progress_s", "round_durations", "market")


class ProgressModel:
    def __init__(self, era: str | None = None):
        self.era = era
        self.peer_id: str | None = None
        self.animal_name: str | None = None
        self.round: int | None = None
        self.stage: int | None = None
        self.step: int | None = None
        self.total: int | None = None
        self.rate: str | None = None
        self.eta_s: float | None = None
        self.rounds_completed = 0
        self.rounds_skipped: list[int] = []
        self.last_rewards: dict[str, float] | None = None
        self.last_progress_at: float | None = None
        self.first_round: int | None = None
        self.round_durations: deque[float] = deque(maxlen=_MAX_DURATIONS)
        self._round_started_at: float | None = None
        self._last_completed: int | None = None
        self._worked_on: int | None = None      # the last round we saw the node work on
        self.new_skips: list[int] = []          # skips found by the last feed() call
        # The last round completed and its duration (None when its start was not seen): what the
        # round trends record when rounds_completed goes up.
        self.last_done: tuple[int, float | None] | None = None
        # v0.6 AI Prediction Market. The same line arrives from the terminal and from the log
        # file, so a bet counts only when its (game, clue) is newer than the last one counted.
        self.market: dict[str, Any] | None = None

    # ------------------------------------------------------------ folding

    def feed(self, event: Any, now: float) -> bool:
        """Fold one parsed event in; True if anything visible changed."""
        self.new_skips = []
        if isinstance(event, RoundEvent):
            return self._round(event, now)
        if isinstance(event, StepProgress):
            changed = (event.step, event.total) != (self.step, self.total)
            self.rate, self.eta_s = event.rate, event.eta_s
            if changed:
                self.step, self.total = event.step, event.total
                self.last_progress_at = now
            return True
        if isinstance(event, Rewards):
            rewards = {k: v for k, v in event.metrics.items() if "reward" in k}
            if rewards and rewards != self.last_rewards:
                self.last_rewards = rewards
                return True
            return False
        if isinstance(event, (MarketBet, MarketClaim)):
            return self._market(event)
        if isinstance(event, Hello):
            changed = (event.peer_id, event.animal_name) != (self.peer_id, self.animal_name)
            self.peer_id, self.animal_name = event.peer_id, event.animal_name
            if event.style == "bee" and self.era != "codezero":
                self.era = "codezero"  # only CodeZero says `🐝 Hello [name] [peer]!`
                changed = True
            return changed
        if isinstance(event, Milestone) and event.name == "codezero-join" and self.era != "codezero":
            self.era = "codezero"
            return True
        return False

    def _market(self, event: MarketBet | MarketClaim) -> bool:
        m = self.market
        if m is None:
            m = self.market = {"game": None, "clue": None, "bets": 0, "staked": 0.0, "last_bet": None,
                               "last_choice": None, "claims": 0, "last_claimed": None}
        if isinstance(event, MarketClaim):
            if m["last_claimed"] is not None and event.game <= m["last_claimed"]:
                return False
            m["claims"] += 1
            m["last_claimed"] = event.game
            return True
        if m["game"] is not None and (event.game, event.clue) <= (m["game"], m["clue"]):
            return False
        m.update(game=event.game, clue=event.clue, last_bet=event.tokens, last_choice=event.choice,
                 bets=m["bets"] + 1, staked=round(m["staked"] + event.tokens, 2))
        return True

    def _complete(self, round_no: int, now: float) -> None:
        if self._last_completed is not None and round_no <= self._last_completed:
            return
        self._last_completed = round_no
        self.rounds_completed += 1
        took = None
        if self._round_started_at is not None:
            took = max(0.0, now - self._round_started_at)
            self.round_durations.append(took)
        self.last_done = (round_no, took)
        self._round_started_at = None

    def _round(self, ev: RoundEvent, now: float) -> bool:
        r = ev.round
        if self.era is None:
            if ev.stage is not None:
                self.era = "hivemind"
            elif ev.total is not None:
                self.era = "rgym"  # `Starting round: R/1000000.` is genrl's; CodeZero says so in its hello
        if ev.kind == "already-finished":
            # The node finished r and waits for the chain: r is done, nothing new started.
            changed = self.round != r
            if self._worked_on == r:
                self._complete(r, now)
            if self._worked_on is None or r > self._worked_on:
                self._worked_on = r
            if self.round is None or r > self.round:
                self.round = r
                if self.first_round is None:
                    self.first_round = r
            return changed
        changed = False
        previous = self._worked_on
        if previous is not None and r > previous:
            # A new round: the previous one is over (completed unless we never finished it).
            if self._last_completed is None or previous > self._last_completed:
                self._complete(previous, now)
            if r > previous + 1:
                # Only the last _MAX_SKIPPED are kept, so only those are made: a garbled round
                # number (`Joining round: 1234567890123`) must not build a list of billions.
                gap = list(range(max(previous + 1, r - _MAX_SKIPPED), r))
                self.new_skips = gap
                self.rounds_skipped.extend(gap)
                del self.rounds_skipped[:-_MAX_SKIPPED]
        if previous is None or r > previous:
            self._worked_on = r
            self._round_started_at = now
            changed = True
        if self.first_round is None:
            self.first_round = r
        if self.round != r:
            self.round = r
            self.step = self.total = None
            changed = True
        stage = ev.stage
        if stage != self.stage and (stage is not None or ev.kind in ("starting", "joining")):
            self.stage = stage
            self.step = self.total = None
            changed = True
        if ev.kind == "finished" and stage is not None and stage >= 2:
            # hivemind rounds have stages 0-2; the last one finishing completes the round.
            self._complete(r, now)
        if changed:
            self.last_progress_at = now
        return changed

    # ------------------------------------------------------------ reading

    def snapshot(self, now: float) -> dict[str, Any]:
        return {
            "round": self.round,
            "stage": self.stage,
            "step": self.step,
            "total": self.total,
            "era": self.era,
            "rate": self.rate,
            "eta_s": self.eta_s,
            "rounds_completed": self.rounds_completed,
            "rounds_skipped": list(self.rounds_skipped),
            "last_rewards": dict(self.last_rewards) if self.last_rewards else None,
            "since_progress_s": None if self.last_progress_at is None else max(0.0, now - self.last_progress_at),
            "round_durations": list(self.round_durations),
            "market": dict(self.market) if self.market else None,
        }




def _count(n: int, what: str) -> str:
    return f"{n} {what}" + ("" if n == 1 else "s")


def describe_market(market: dict[str, Any] | None) -> tuple[str, str]:
    """For a person, short enough for the progress pane: (where the node is in the Prediction
    Market and its last bet, what it has staked and claimed). Empty strings when it has not played."""
    if not market:
        return "", ""
    where = ""
    if market.get("game") is not None:
        where = f"game {market['game']} clue {market['clue']} · {market['last_bet']:.2f} on {market['last_choice']}"
    totals = []
    if market.get("bets"):
        totals += [_count(market["bets"], "bet"), f"{market['staked']:.2f} staked"]
    if market.get("claims"):
        totals.append(_count(market["claims"], "claim"))
    return where, " · ".join(totals)
