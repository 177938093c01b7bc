"""Restart decisions: pure bookkeeping driven by an injected clock, no I/O.

The supervisor tells the policy when a run starts and what went wrong; the policy answers with a
Decision. The rules, in order:
- `ignore` actions and benign/info classes never restart (a restart can cost up to 3 h of batched
  rewards, facts §1.4);
- `warn` restarts only for the `degraded` class when it repeats warn_repeat times in warn_window;
- `needs-user` actions stop and show the hint;
- every automatic restart is checked against the crash-loop rule (startup_failures identical
  failures in a row, each before the run became stable) and the budget (budget restarts per
  budget_window); either one turns the restart into `needs-user`;
- the first restart in a row waits first_delay (0: at once) and only after a clean stop (after_stop):
  the common failures (a p2pd start-up timeout, DHT pipe errors, an OOM after hours) clear on a
  fresh start, and every second offline is lost training. From the second failure in a row the
  cause is more likely the environment, so the delay is exponential (backoff_initial *
  backoff_factor**(n-1), capped at backoff_max); n starts over once a run has lasted stable_after.
After `needs-user`, a cause that can clear by itself (clears_by_itself) is tried again after
give_up_retry, doubling up to GIVE_UP_RETRY_MAX; a retry is one attempt (the crash-loop count and
the budget are not forgotten), so a cause that is still there gives up again at once.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, replace

from swarmtui.engine.clock import Clock, MonotonicClock
from swarmtui.engine.config import RestartConfig, format_duration

RESTART = "restart"
NEEDS_USER = "needs-user"
IGNORE = "ignore"
WARN = "warn"

_NEVER_CLASSES = frozenset({"benign", "info"})
_RESTART_ACTIONS = frozenset({"restart", "restart-after-cleanup"})
_AT_ONCE = "at once"

GIVE_UP_RETRY_MAX = 6 * 3600.0
# Gave up on these and a retry cannot help: the same python lacks the same module, another
# machine keeps using the identity, a question waits for an answer, the launch command is missing.
_PERSON_ONLY = frozenset({"identity-taken", "python-module-missing", "unknown-prompt", "launch-failed"})
# Causes of these kinds go away without a person often enough to look again later: memory or
# disk freed, the network or chain back, a stranger that held the login port gone, a p2pd
# start-up that timed out on a slow moment.
_CLEARING_CLASSES = frozenset({"resource", "network", "startup", "conflict", "fatal", "hang", "degraded"})


def clears_by_itself(reason: str, cls: str, action: str) -> bool:
    """Whether a `needs-user` for this cause (a detection id, its class and catalogue action)
    may clear without a person, so that a retry after give_up_retry makes sense."""
    if reason in _PERSON_ONLY:
        return False
    return cls in _CLEARING_CLASSES and action != IGNORE


@dataclass(frozen=True)
class Decision:
    action: str              # restart | needs-user | ignore | warn
    delay_s: float = 0.0     # for restart: wait this long before starting again
    attempt: int = 0         # for restart: 1 for the first restart in a row, 2 for the next, ...
    reason: str = ""         # the detection id (or "exited", "manual", ...)
    detail: str = ""         # one human line: why this decision
    hint: str = ""           # what the person can do (from the catalogue, or the policy's own)
    cleanup: bool = False    # kill our leftovers (orphans) before starting again


class RestartPolicy:
    def __init__(self, config: RestartConfig, clock: Clock | None = None):
        self.config = config
        self.clock = clock or MonotonicClock()
        self.run_started_at: float | None = None
        self._attempt = 0                          # restarts in a row since the last stable run
        self._restarts: deque[float] = deque()     # monotonic times of automatic restarts
        self._streak_id: str | None = None         # the start-up failure repeating in a row
        self._streak = 0
        self._warnings: dict[str, deque[float]] = {}
        self._give_ups = 0                         # retries after needs-user since the last stable run

    # ------------------------------------------------------------ inputs

    def run_started(self) -> None:
        """A run (one launch of the script) has begun now."""
        self.run_started_at = self.clock.monotonic()

    def uptime(self) -> float:
        if self.run_started_at is None:
            return 0.0
        return max(0.0, self.clock.monotonic() - self.run_started_at)

    def reset(self) -> None:
        """The person took over (started the node by hand): forget streaks, budget and backoff."""
        self._attempt = 0
        self._restarts.clear()
        self._streak_id, self._streak = None, 0
        self._warnings.clear()
        self._give_ups = 0

    def give_up_retry(self) -> float | None:
        """Gave up on a cause that can clear by itself: when to try again (seconds), or None
        when give_up_retry is 0. Each retry in a row waits twice as long, up to 6 h."""
        base = self.config.give_up_retry
        if base <= 0:
            return None
        if self.run_started_at is not None and self.uptime() >= self.config.stable_after:
            self._give_ups = 0
        try:
            delay = base * (2 ** self._give_ups)
        except OverflowError:
            delay = GIVE_UP_RETRY_MAX
        self._give_ups += 1
        return min(delay, max(base, GIVE_UP_RETRY_MAX))

    def on_detection(self, id: str, cls: str, action: str, hint: str = "") -> Decision:
        """A catalogue match (or a timer: silence, stalled) during the current run."""
        if action == IGNORE or cls in _NEVER_CLASSES:
            return Decision(IGNORE, reason=id, detail="harmless; never a reason to restart", hint=hint)
        if action == WARN:
            if cls != "degraded":
                return Decision(WARN, reason=id, detail="shown and recorded; no restart", hint=hint)
            return self._repeated_warning(id, hint)
        if action == NEEDS_USER:
            return Decision(NEEDS_USER, reason=id, detail="no restart: this needs you", hint=hint)
        if action in _RESTART_ACTIONS:
            return self._restart(id, hint, cleanup=action == "restart-after-cleanup")
        # An action the policy does not know (a newer catalogue): say so, do nothing drastic.
        return Decision(WARN, reason=id, detail=f"unknown action {action!r}; no restart", hint=hint)

    def on_exit(self, code: int | None, signal: int | None, hint: str = "") -> Decision:
        """The launcher exited without a detection explaining why (its exit code means little:
        the script kills its own group and usually ends 143, facts §1.6)."""
        how = f"signal {signal}" if signal else f"code {code}"
        d = self._restart("exited", hint, cleanup=True)
        if d.action == RESTART:
            return Decision(RESTART, d.delay_s, d.attempt, d.reason, f"the launcher exited ({how}); {d.detail}",
                            d.hint, d.cleanup)
        return d

    def on_manual(self) -> Decision:
        """The person asked for a restart: now, outside the budget and the backoff."""
        return Decision(RESTART, 0.0, 0, "manual", "asked for by you", cleanup=True)

    def after_stop(self, d: Decision, *, clean: bool, why: str = "") -> Decision:
        """The stop sequence is over: `clean` when it verified nothing of ours left and the login
        port free. A first restart below backoff_initial is for a clean stop only: leftovers or a
        held port make a fresh start fail the same way at once, so it waits like a second one."""
        cfg = self.config
        if d.action != RESTART or clean or d.attempt != 1 or d.delay_s >= cfg.backoff_initial:
            return d
        delay = min(cfg.backoff_initial, cfg.backoff_max)
        late = f"after {delay:g}s: the stop was not clean ({why or 'not verified'})"
        head, sep, tail = d.detail.rpartition(_AT_ONCE)
        return replace(d, delay_s=delay, detail=head + late + tail if sep else f"{d.detail}; {late}")

    # ------------------------------------------------------------ views

    def restarts_in_window(self) -> int:
        self._trim(self._restarts, self.config.budget_window)
        return len(self._restarts)

    def next_delay(self) -> float:
        """The delay the next automatic restart would get if the current run failed now."""
        attempt = 0 if self.uptime() >= self.config.stable_after else self._attempt
        return self._delay(attempt)

    # ------------------------------------------------------------ rules

    def _restart(self, id: str, hint: str, *, cleanup: bool) -> Decision:
        cfg = self.config
        now = self.clock.monotonic()
        stable = self.run_started_at is not None and self.uptime() >= cfg.stable_after
        if stable:
            self._attempt = 0
            self._streak_id, self._streak = None, 0
            self._give_ups = 0

        if not stable:
            if id == self._streak_id:
                self._streak += 1
            else:
                self._streak_id, self._streak = id, 1
            if self._streak >= cfg.startup_failures:
                return Decision(
                    NEEDS_USER, reason=id,
                    detail=f"{self._streak} identical failures in a row ({id}), each within "
                           f"{format_duration(cfg.stable_after)} of starting: restarting again would loop",
                    hint=hint or "look at the evidence in the history, fix the cause, then start the node")

        used = self.restarts_in_window()
        if used >= cfg.budget:
            return Decision(
                NEEDS_USER, reason=id,
                detail=f"restart budget used up: {used} restarts in the last {format_duration(cfg.budget_window)}",
                hint=hint or "the node keeps failing; look at the history, fix the cause, then start it")

        delay = self._delay(self._attempt)
        self._attempt += 1
        self._restarts.append(now)
        return Decision(RESTART, delay, self._attempt, id,
                        f"restart {self._attempt} in a row, " + (_AT_ONCE if delay <= 0 else f"after {delay:g}s"),
                        hint, cleanup)

    def _repeated_warning(self, id: str, hint: str) -> Decision:
        cfg = self.config
        seen = self._warnings.setdefault(id, deque())
        seen.append(self.clock.monotonic())
        self._trim(seen, cfg.warn_window)
        if len(seen) < cfg.warn_repeat:
            return Decision(WARN, reason=id, hint=hint,
                            detail=f"{len(seen)} of {cfg.warn_repeat} in {format_duration(cfg.warn_window)} "
                                   f"before a restart")
        seen.clear()
        d = self._restart(id, hint, cleanup=False)
        if d.action == RESTART:
            return Decision(RESTART, d.delay_s, d.attempt, id,
                            f"repeated {cfg.warn_repeat} times in {format_duration(cfg.warn_window)}; {d.detail}",
                            hint, False)
        return d

    def _delay(self, attempt: int) -> float:
        """The wait before the restart that follows `attempt` restarts in a row."""
        cfg = self.config
        if attempt <= 0:
            return min(cfg.first_delay, cfg.backoff_max)
        try:
            delay = cfg.backoff_initial * (cfg.backoff_factor ** (attempt - 1))
        except OverflowError:
            delay = cfg.backoff_max
        return min(delay, cfg.backoff_max)

    def _trim(self, times: deque[float], window: float) -> None:
        cutoff = self.clock.monotonic() - window
        while times and times[0] <= cutoff:
            times.popleft()
